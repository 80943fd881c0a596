#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Aborts propagate both ways (SPEC F2): (a) a client that disconnects in the
# middle of a download makes the proxy drop the upstream transfer within
# 2 s, also while backpressure has paused the upstream transfer, and in
# the middle of a chunked upload; (b) a client that disconnects while the
# proxy waits on a stalled upstream (read_timeout_secs = 30) makes the proxy
# close the upstream connection within 5 s, not at the read timeout; (c) an
# upstream that dies mid-body gives the client a truncated transfer (curl 18 or 56, never a
# clean end) and the proxy keeps serving.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool pgrep

start_upstream
stream_proxy "$UP_PORT" "read_timeout_secs = 30"
expect_eq "warm-up request" "$(status_of a a.test '/bytes?n=1000')" 200

# pcurl_bg PATH OUT: curl through the proxy in the background (curl itself is
# $!, so it can be killed).
pcurl_bg() {
	local p=$1 o=$2
	shift 2
	curl -sS --max-time 60 --cacert "$T/a.pem" --resolve "a.test:$PX_PORT:127.0.0.1" \
		-o "$o" "$@" "https://a.test:$PX_PORT$p" 2>/dev/null &
}

# (a) client disconnect mid-download
DRIP="/drip?n=100000000&interval_ms=10&chunk=65536"
pcurl_bg "$DRIP" "$T/drip.bin"
cpid=$!
PIDS="$PIDS $cpid"
wait_file_match "$UP_LOG" "^REQ GET /drip" 5 || fail "drip request reached the upstream"
sleep 1
got=$(stat -c %s "$T/drip.bin" 2>/dev/null || echo 0)
check "drip: client was receiving ($got bytes after 1 s)" test "$got" -gt 0
tk=$(now_ms)
kill -KILL "$cpid" 2>/dev/null || true
{ wait "$cpid"; } 2>/dev/null || true
if wait_file_match "$UP_LOG" "^ABORT /drip" 5; then
	ta=$(first_t "$UP_LOG" "^ABORT /drip")
	log "client killed -> upstream ABORT after $((ta - tk)) ms"
	check "drip: upstream transfer aborted within 2 s of the client kill ($((ta - tk)) ms)" test $((ta - tk)) -le 2000
else
	fail "drip: upstream transfer not aborted within 5 s of the client kill"
fi
grep -q "^DONE /drip" "$UP_LOG" && fail "drip: upstream completed the transfer" || ok "drip: upstream did not complete"

# (a2) the same with a slow client, so the proxy has paused the upstream
# transfer (backpressure) when the client goes away
BIG="/bytes?n=1000000000&seed=3"
pcurl_bg "$BIG" "$T/big.bin" --limit-rate 500K
cpid=$!
PIDS="$PIDS $cpid"
wait_file_match "$UP_LOG" "^REQ GET /bytes\\?n=1000000000" 5 || fail "slow-client request reached the upstream"
sleep 1.5
tk=$(now_ms)
kill -KILL "$cpid" 2>/dev/null || true
{ wait "$cpid"; } 2>/dev/null || true
if wait_file_match "$UP_LOG" "^ABORT /bytes\\?n=1000000000" 5; then
	ta=$(first_t "$UP_LOG" "^ABORT /bytes\\?n=1000000000")
	log "paused transfer: client killed -> upstream ABORT after $((ta - tk)) ms"
	check "paused transfer: upstream aborted within 2 s of the client kill ($((ta - tk)) ms)" test $((ta - tk)) -le 2000
else
	fail "paused transfer: upstream transfer not aborted within 5 s of the client kill"
fi

# (a3) client disconnect in the middle of a chunked upload: the upstream,
# reading the body, sees the request end (ABORT) promptly
pipe_pid=""
( { ucurl "/bytes?n=1000000000&seed=4" 2>/dev/null || true; } | exec curl -sS --max-time 60 --cacert "$T/a.pem" \
	--resolve "a.test:$PX_PORT:127.0.0.1" -T - -H 'Transfer-Encoding: chunked' \
	--limit-rate 2M -o /dev/null "https://a.test:$PX_PORT/echo" 2>/dev/null ) &
pipe_pid=$!
PIDS="$PIDS $pipe_pid"
if wait_file_match "$UP_LOG" "^REQ PUT /echo" 5; then
	sleep 1
	upc=$(pgrep -P "$pipe_pid" -x curl | head -n1 || true)
	tk=$(now_ms)
	[ -n "$upc" ] && kill -KILL $upc 2>/dev/null || true
	if wait_file_match "$UP_LOG" "^ABORT /echo" 5; then
		ta=$(first_t "$UP_LOG" "^ABORT /echo")
		log "upload: client killed -> upstream ABORT after $((ta - tk)) ms"
		check "upload: upstream request aborted within 2 s of the client kill ($((ta - tk)) ms)" test $((ta - tk)) -le 2000
	else
		fail "upload: upstream request not aborted within 5 s of the client kill"
	fi
	grep -q "^DONE /echo" "$UP_LOG" && fail "upload: truncated upload completed at the upstream" ||
		ok "upload: truncated upload not completed at the upstream"
else
	fail "upload request reached the upstream"
fi
{ wait "$pipe_pid"; } 2>/dev/null || true

# (b) client disconnect while the upstream is stalled
ncl=$(grep -c '^CLOSED' "$UP_LOG" || true)
pcurl_bg /stall "$T/stall.bin"
cpid=$!
PIDS="$PIDS $cpid"
wait_file_match "$UP_LOG" "^REQ GET /stall" 5 || fail "stall request reached the upstream"
sleep 0.5
tk=$(now_ms)
kill -KILL "$cpid" 2>/dev/null || true
{ wait "$cpid"; } 2>/dev/null || true
if wait_file_match "$UP_LOG" "^ABORT /stall" 5; then
	ta=$(first_t "$UP_LOG" "^ABORT /stall")
	log "client killed during /stall -> upstream connection closed after $((ta - tk)) ms"
	check "stall: upstream connection closed within 5 s of the client kill ($((ta - tk)) ms)" test $((ta - tk)) -le 5000
else
	fail "stall: upstream connection not closed within 5 s of the client kill (read_timeout_secs = 30)"
	if wait_file_match "$UP_LOG" "^ABORT /stall" 30; then
		log "stall: upstream connection closed after $(($(first_t "$UP_LOG" "^ABORT /stall") - tk)) ms"
	else
		log "stall: upstream connection still open 35 s after the client kill"
	fi
fi
expect_eq "stall: no request left in flight" "$(status_of a a.test /health)" 200

# (c) upstream dies mid-body: truncated for the client, proxy keeps serving
rc=0
out=$(pcurl a a.test "/close-mid?n=1000000" -o "$T/cm.bin" -w '%{http_code} %{size_download}' 2>"$T/cm.err") || rc=$?
log "close-mid: curl exit $rc, status/size '$out', $(head -c 200 "$T/cm.err")"
case $rc in
18 | 56) ok "close-mid: client sees a truncated transfer (curl $rc)" ;;
*) fail "close-mid: curl exit $rc (want 18 or 56), got '$out'" ;;
esac
sz=$(stat -c %s "$T/cm.bin" 2>/dev/null || echo 0)
check "close-mid: short body ($sz bytes < 2000000)" test "$sz" -lt 2000000
expect_eq "close-mid: next request served" "$(status_of a a.test '/bytes?n=100000')" 200
# and again on a kept-alive client connection: a truncated response must not
# poison the next request on a new connection either
rc2=0
pcurl a a.test "/close-mid?n=70000" -o /dev/null 2>/dev/null || rc2=$?
check "close-mid small: truncated too (curl $rc2)" test "$rc2" -ne 0
expect_eq "proxy still serves" "$(status_of a a.test /health)" 200
check "proxy alive" kill -0 "$PX_PID"
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
