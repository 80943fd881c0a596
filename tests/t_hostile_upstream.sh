#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Hostile upstream (SPEC F2, F4; issue 7): an upstream that sends a garbage
# status line, huge or endless headers, a folded header, invalid chunking,
# a huge chunk-size line, a Content-Length it does not honour (too few
# bytes, or too many with a second response smuggled behind), or closes
# mid-body. The proxy answers 502 when the response head is malformed or
# too large (nothing reached the client yet) and truncates the client
# transfer when the body breaks after the head went out (curl exit 18/56,
# never a clean complete transfer); it never crashes or hangs, the extra
# bytes never reach a later request, it keeps serving (a normal request
# afterwards gets 200), and it leaks no descriptors. A response delimited
# only by the close (HTTP/1.1 without Content-Length or chunking) is valid
# and forwarded intact. Runs against a plain and a TLS upstream.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3 sha256sum

gen_cert a a.test tls.test smug.test smugtls.test
# The excess-bytes (smuggling) cases get upstreams of their own, so that a
# poisoned pooled connection cannot spill into the other checks.
start_upstream --tls "$T/a.pem" "$T/a.key"
TLS_PORT=$UP_PORT
start_upstream --tls "$T/a.pem" "$T/a.key"
SMUGTLS_PORT=$UP_PORT
start_upstream
SMUG_PORT=$UP_PORT
start_upstream
PLAIN_PORT=$UP_PORT

CERTS="a" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[site a.test]
upstream = 127.0.0.1:$PLAIN_PORT
read_timeout_secs = 5

[site tls.test]
upstream = 127.0.0.1:$TLS_PORT
upstream_scheme = https
upstream_ca_file = $T/a.pem
read_timeout_secs = 5

[site smug.test]
upstream = 127.0.0.1:$SMUG_PORT
read_timeout_secs = 5

[site smugtls.test]
upstream = 127.0.0.1:$SMUGTLS_PORT
upstream_scheme = https
upstream_ca_file = $T/a.pem
read_timeout_secs = 5
EOT
asan_small_quarantine
start_proxy "$T/c.ini"

fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
expect_eq "warm-up request" "$(status_of a a.test /echo)" 200
expect_eq "warm-up request (TLS upstream)" "$(status_of a tls.test /echo)" 200
FD0=$(fd_count "$PX_PID")

# fetch HOST PATH: one request through the proxy (at most 20 s); sets
# F_CODE (HTTP status, 000 if none), F_SIZE (body bytes received), F_RC
# (curl exit status), F_MS (wall time) and leaves the body in $T/f.body.
fetch() {
	local out t0
	t0=$(now_ms)
	F_RC=0
	out=$(CURL_MAX_TIME=20 pcurl a "$1" "$2" -o "$T/f.body" -w '%{http_code} %{size_download}' 2>"$T/f.err") || F_RC=$?
	F_MS=$(($(now_ms) - t0))
	F_CODE=${out% *}
	F_SIZE=${out#* }
	[ -n "$F_CODE" ] || F_CODE=000
}

# still_serving DESC HOST: the proxy process is alive and a normal request
# through it gets 200.
still_serving() {
	if ! kill -0 "$PX_PID" 2>/dev/null; then
		fail "$1: proxy process died"
		return
	fi
	expect_eq "$1: proxy still serves (normal request 200)" "$(CURL_MAX_TIME=10 status_of a "$2" '/echo?after=1')" 200
}

# want_502 DESC HOST PATH: a malformed or oversized head -> 502 "Bad
# Gateway", promptly.
want_502() {
	fetch "$2" "$3"
	log "$1: status $F_CODE, $F_SIZE body bytes, curl exit $F_RC, $F_MS ms"
	expect_eq "$1: 502" "$F_CODE" 502
	expect_eq "$1: body 'Bad Gateway'" "$(head -c 100 "$T/f.body" 2>/dev/null)" "Bad Gateway"
	check "$1: answered in < 10 s ($F_MS ms)" test "$F_MS" -lt 10000
	still_serving "$1" "$2"
}

# want_broken DESC HOST PATH: 502 before the head went out, or a truncated
# transfer (curl exit 18 or 56) after; never a clean complete transfer.
want_broken() {
	fetch "$2" "$3"
	log "$1: status $F_CODE, $F_SIZE body bytes, curl exit $F_RC, $F_MS ms"
	if [ "$F_CODE" = 502 ] && [ "$F_RC" = 0 ]; then
		ok "$1: 502 (failed before the head went out)"
	elif [ "$F_RC" = 18 ] || [ "$F_RC" = 56 ]; then
		ok "$1: status $F_CODE, transfer truncated (curl exit $F_RC)"
	else
		fail "$1: got status $F_CODE with curl exit $F_RC ($(head -c 200 "$T/f.err")), want 502 or a truncated transfer"
	fi
	check "$1: answered in < 10 s ($F_MS ms)" test "$F_MS" -lt 10000
	still_serving "$1" "$2"
}

for host in a.test tls.test; do
	up="plain upstream"
	[ "$host" = tls.test ] && up="TLS upstream"

	# ---- malformed status line ----
	want_502 "$up: status line 'HTTP/1.1 abc OK'" $host /bad-status
	want_502 "$up: status line 'FOO' (no HTTP version)" $host '/bad-status?form=1'
	want_502 "$up: status line 'HTTP/1.1 2000 OK'" $host '/bad-status?form=2'
	want_502 "$up: status line 'HTTP/9.9 200 OK'" $host '/bad-status?form=3'
	want_502 "$up: status line 'HTTP/1.1 -200 OK'" $host '/bad-status?form=4'

	# ---- oversized and endless heads ----
	want_502 "$up: one 200 KiB response header" $host '/huge-headers?n=204800'
	want_502 "$up: 5000 response headers (500 KiB)" $host '/huge-headers?n=90&count=5000'
	want_502 "$up: endless header lines, fast" $host '/endless-headers?secs=4'
	want_502 "$up: folded response header (obs-fold)" $host /obs-fold
done

# A large head well inside the limits still passes.
fetch a.test '/huge-headers?n=4000&count=4'
expect_eq "4 response headers of 4000 bytes: 200" "$F_CODE" 200
# An endless head that dribbles (a line every 100 ms, so never silent for
# read_timeout_secs) ends when the upstream gives up after 4 s: 502, not a
# hang.
want_502 "endless header lines, one per 100 ms for 4 s" a.test '/endless-headers?secs=4&interval_ms=100'

for host in a.test tls.test; do
	up="plain upstream"
	[ "$host" = tls.test ] && up="TLS upstream"

	# ---- broken bodies ----
	want_broken "$up: invalid chunk size 'zz' after a 1000-byte chunk" $host /bad-chunk
	want_broken "$up: invalid chunk size 'zz' after a 60 KiB chunk" $host '/bad-chunk?n=61440'
	want_broken "$up: 100 KiB chunk-size line (leading zeros)" $host /huge-chunk-line
	want_broken "$up: Content-Length 200000, 100000 bytes sent, then close" $host '/cl-mismatch?n=200000'
	want_broken "$up: Content-Length 4 MiB, 2 MiB sent, then close" $host '/cl-mismatch?n=4194304'
	want_broken "$up: Content-Length 20, 10 bytes sent, then close" $host '/cl-mismatch?n=20'
	want_broken "$up: close mid-body (/close-mid)" $host '/close-mid?n=300000'

	# A 100 KiB chunk extension is syntactically valid: whatever the proxy
	# does with it (forward the 1-byte chunk, or refuse), it must not crash
	# or hang.
	fetch $host '/huge-chunk-line?form=1'
	log "$up: 100 KiB chunk extension: status $F_CODE, $F_SIZE bytes, curl exit $F_RC, $F_MS ms"
	if { [ "$F_CODE" = 200 ] && [ "$F_RC" = 0 ] && [ "$(cat "$T/f.body")" = x ]; } ||
		[ "$F_CODE" = 502 ] || [ "$F_RC" = 18 ] || [ "$F_RC" = 56 ]; then
		ok "$up: 100 KiB chunk extension: forwarded as the 1-byte body, 502 or truncated"
	else
		fail "$up: 100 KiB chunk extension: status $F_CODE, curl exit $F_RC"
	fi
	still_serving "$up: 100 KiB chunk extension" $host

	# ---- more bytes than Content-Length, a second response behind ----
	want=$(ucurl '/sha?n=100000')
	smug=smug.test
	[ "$host" = tls.test ] && smug=smugtls.test
	fetch $smug '/cl-mismatch?n=100000&more=1'
	log "$up: Content-Length 100000 + smuggled response: status $F_CODE, $F_SIZE bytes, curl exit $F_RC"
	if [ "$F_CODE" = 200 ] && [ "$F_RC" = 0 ]; then
		expect_eq "$up: excess bytes: exactly the declared 100000 bytes forwarded" \
			"$(sha256sum <"$T/f.body" | cut -d' ' -f1)" "$want"
	elif [ "$F_CODE" = 502 ] || [ "$F_RC" = 18 ] || [ "$F_RC" = 56 ]; then
		ok "$up: excess bytes: 502 or truncated"
	else
		fail "$up: excess bytes: status $F_CODE, curl exit $F_RC"
	fi
	check "$up: excess bytes: SMUGGLED not forwarded" bash -c "! grep -q SMUGGLED '$T/f.body'"
	# The next requests (the upstream connection may be reused from the
	# pool) must get their own responses, never the smuggled one.
	bad=0
	for i in 1 2 3 4 5; do
		out=$(CURL_MAX_TIME=10 pcurl a $smug "/echo?after-smuggle=$i" 2>/dev/null || true)
		case $out in
		*"target: /echo?after-smuggle=$i"*) ;;
		*) bad=$((bad + 1)); log "$up: request $i after the smuggle got: $(printf '%s' "$out" | head -c 100)" ;;
		esac
	done
	expect_eq "$up: the 5 requests after the excess bytes got their own responses" "$bad" 0

	# ---- valid: a body delimited by the close ----
	want=$(ucurl '/sha?n=300000')
	fetch $host '/no-length-close?n=300000'
	expect_eq "$up: no Content-Length, body until close: status" "$F_CODE" 200
	expect_eq "$up: no Content-Length, body until close: curl exit 0" "$F_RC" 0
	expect_eq "$up: no Content-Length, body until close: body intact" \
		"$(sha256sum <"$T/f.body" | cut -d' ' -f1)" "$want"
done

# ---- all at once: 40 hostile requests in parallel ----
paths="/bad-status /bad-status?form=1 /huge-headers?n=204800 /endless-headers?secs=2 /obs-fold
/bad-chunk /huge-chunk-line /cl-mismatch?n=300000 /close-mid?n=200000 /no-length-close?n=200000"
i=0
cpids=""
t0=$(now_ms)
for host in a.test tls.test; do
	for rep in 1 2; do
		for p in $paths; do
			i=$((i + 1))
			CURL_MAX_TIME=20 pcurl a $host "$p" -o /dev/null 2>/dev/null &
			cpids="$cpids $!"
		done
	done
done
for j in $cpids; do wait "$j" 2>/dev/null || true; done
dt=$(($(now_ms) - t0))
log "$i hostile requests in parallel finished in $dt ms"
check "$i parallel hostile requests finished in < 25 s ($dt ms)" test "$dt" -lt 25000
still_serving "after $i parallel hostile requests" a.test
still_serving "after $i parallel hostile requests" tls.test

# The standoff: the upstream answers 128 MiB before it reads a 128 MiB
# request body. The download ring fills and curl pauses receiving, the
# upstream stops reading, the upload ring fills, and the client waits to
# send; libmicrohttpd cannot answer before the request is read and curl's
# silence timeout does not run while it is paused. The proxy ends it as a
# read timeout after read_timeout_secs (5): the client sees an error or a
# cut, long before its own 60 s limit. Memory stays flat meanwhile:
# libcurl 8 reads a paused download on every upload pass and keeps what
# it read, so the proxy pauses the upload too (xfer.c); without that the
# proxy held the whole answer (Debian 13: +270 MiB for 256 MiB).
rss_s0=$(rss_kb "$PX_PID")
(
	m=0
	while kill -0 "$PX_PID" 2>/dev/null && [ ! -e "$T/standoff.out" ]; do
		r=$(rss_kb "$PX_PID")
		[ "${r:-0}" -gt "$m" ] && m=$r && echo "$m" >"$T/standoff.rss"
		sleep 0.1
	done
) &
rss_pid=$!
t0=$(now_ms)
src=0
head -c 134217728 /dev/zero | curl -sS --max-time 60 --cacert "$T/a.pem" \
	--resolve "a.test:$PX_PORT:127.0.0.1" -T - -o /dev/null -w '%{http_code}' \
	"https://a.test:$PX_PORT/early-bytes?n=134217728" >"$T/standoff.tmp" 2>/dev/null || src=$?
dt=$(($(now_ms) - t0))
mv "$T/standoff.tmp" "$T/standoff.out"
wait "$rss_pid"
rss_s1=$(cat "$T/standoff.rss" 2>/dev/null || echo "$rss_s0")
log "standoff: proxy VmRSS $rss_s0 KiB before, at most $rss_s1 KiB during"
check "standoff: proxy RSS growth $((rss_s1 - rss_s0)) KiB < $((32768 + RSS_SLACK_KB)) KiB" \
	test $((rss_s1 - rss_s0)) -lt $((32768 + RSS_SLACK_KB))
scode=$(cat "$T/standoff.out" 2>/dev/null || echo none)
log "standoff: client done after $dt ms, curl exit $src, status $scode"
check "standoff: ended within 20 s, not at the client's 60 s limit ($dt ms)" test "$dt" -lt 20000
case $src/$scode in
0/5??|[1-9]*/*) ok "standoff: an error or a cut, not a complete body ($src/$scode)" ;;
*) fail "standoff: an error or a cut, not a complete body ($src/$scode)" ;;
esac
check "standoff: UPSTREAM_TIMEOUT logged" grep -q 'UPSTREAM_TIMEOUT .*response buffer full' "$PX_LOG"
still_serving "after the standoff" a.test

# No descriptor leak: pooled upstream connections may stay open, but the
# count must come back near the start.
sleep 1
FD1=$(fd_count "$PX_PID")
log "proxy descriptors: $FD0 after warm-up, $FD1 at the end"
check "no descriptor leak ($FD0 -> $FD1, slack 16)" test "$FD1" -le $((FD0 + 16))
n502=$(log_count ' REQUEST .* status=502 ')
check "502s logged as REQUEST status=502 ($n502)" test "$n502" -ge 20
check "UPSTREAM_ERROR logged for malformed heads" grep -qE 'WARN UPSTREAM_ERROR .*host=a.test' "$PX_LOG"

stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
