#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Big bodies stream through with flat memory (SPEC F2): a 1 GiB download
# (Content-Length) and a 1 GiB chunked upload of unknown length pass through
# the proxy byte-exact (SHA-256 checked by the upstream), the proxy's peak
# RSS grows by less than 32 MiB, and the wall times are reported next to the
# same transfers made straight to the upstream. AP_BIG_BYTES overrides the
# size (default 1 GiB) for slow builds (e.g. sanitizers).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool awk

N=${AP_BIG_BYTES:-1073741824}
CURL_MAX_TIME=${AP_BIG_MAX_TIME:-150}
start_upstream
asan_small_quarantine
MAX_GROWTH_KB=$((32768 + RSS_SLACK_KB))
stream_proxy "$UP_PORT" "read_timeout_secs = 30" "body_limit_bytes = $((N * 2))"

# Baseline after startup and a first small proxied request.
expect_eq "small request" "$(status_of a a.test '/bytes?n=1000')" 200
rss0=$(rss_kb "$PX_PID")
log "size $N bytes; proxy VmRSS after first request: $rss0 KiB"

want=$(ucurl "/sha?n=$N")
expect_eq "upstream /sha works" "${#want}" 64

# field FILE NAME: value of "NAME: value" in an /echo reply.
field() { sed -n "s/^$2: //p" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

# --- download: proxy -> client, the client streams it into the upstream's
# /echo which hashes it (sha256sum would dominate the wall time).
set +e
pcurl a a.test "/bytes?n=$N" -w '%{stderr}RESULT %{http_code} %{size_download} %{time_total}\n' 2>"$T/dl.err" |
	ucurl /echo -T - -H 'Transfer-Encoding: chunked' >"$T/dl.echo"
rc=("${PIPESTATUS[@]}")
set -e
read -r _ code size tp <<<"$(grep '^RESULT' "$T/dl.err" || echo "RESULT none none 0")"
expect_eq "download: curl exit status" "${rc[0]}" 0
expect_eq "download: status" "$code" 200
expect_eq "download: size" "$size" "$N"
expect_eq "download: sha256 equals upstream /sha" "$(field "$T/dl.echo" body-sha256)" "$want"
hwm=$(hwm_kb "$PX_PID")
log "download: proxy VmHWM $hwm KiB, growth $((hwm - rss0)) KiB"
check "download: proxy RSS growth $((hwm - rss0)) KiB < $MAX_GROWTH_KB KiB" test $((hwm - rss0)) -lt $MAX_GROWTH_KB

set +e
ucurl "/bytes?n=$N" -w '%{stderr}RESULT %{http_code} %{size_download} %{time_total}\n' 2>"$T/dd.err" |
	ucurl /echo -T - -H 'Transfer-Encoding: chunked' >"$T/dd.echo"
set -e
read -r _ dcode dsize td <<<"$(grep '^RESULT' "$T/dd.err" || echo "RESULT none none 0")"
expect_eq "direct download sanity" "$dcode $dsize $(field "$T/dd.echo" body-sha256)" "200 $N $want"
log "download wall time: proxy ${tp}s, direct ${td}s, ratio $(ratio "$tp" "$td")"

# --- upload: 1 GiB chunked (unknown length) from a deterministic generator
# (the upstream's /bytes with another seed, expected hash from /sha).
uwant=$(ucurl "/sha?n=$N&seed=7")
set +e
ucurl "/bytes?n=$N&seed=7" |
	pcurl a a.test /echo -T - -H 'Transfer-Encoding: chunked' \
		-w '%{stderr}RESULT %{http_code} %{size_upload} %{time_total}\n' 2>"$T/ul.err" >"$T/ul.echo"
rc=("${PIPESTATUS[@]}")
set -e
read -r _ ucode usize tpu <<<"$(grep '^RESULT' "$T/ul.err" || echo "RESULT none none 0")"
expect_eq "upload: curl exit status" "${rc[1]}" 0
expect_eq "upload: status" "$ucode" 200
expect_eq "upload: upstream saw chunked framing" \
	"$(grep -ci '^header: Transfer-Encoding: chunked' "$T/ul.echo" || true)" 1
expect_eq "upload: body-length at upstream" "$(field "$T/ul.echo" body-length)" "$N"
expect_eq "upload: body-sha256 at upstream" "$(field "$T/ul.echo" body-sha256)" "$uwant"
hwm2=$(hwm_kb "$PX_PID")
log "upload: proxy VmHWM $hwm2 KiB, growth $((hwm2 - rss0)) KiB"
check "upload: proxy RSS growth $((hwm2 - rss0)) KiB < $MAX_GROWTH_KB KiB" test $((hwm2 - rss0)) -lt $MAX_GROWTH_KB

set +e
ucurl "/bytes?n=$N&seed=7" |
	ucurl /echo -T - -H 'Transfer-Encoding: chunked' \
		-w '%{stderr}RESULT %{http_code} %{size_upload} %{time_total}\n' 2>"$T/ud.err" >"$T/ud.echo"
set -e
read -r _ ducode _ tdu <<<"$(grep '^RESULT' "$T/ud.err" || echo "RESULT none none 0")"
expect_eq "direct upload sanity" "$ducode $(field "$T/ud.echo" body-sha256)" "200 $uwant"
log "upload wall time: proxy ${tpu}s, direct ${tdu}s, ratio $(ratio "$tpu" "$tdu")"
log "proxy CPU ticks total: $(cpu_ticks "$PX_PID")"

grep -q "REQUEST .*method=PUT path=/echo status=200" "$PX_LOG" && ok "upload REQUEST logged" || fail "upload REQUEST logged"
expect_eq "proxy still serves" "$(status_of a a.test /health)" 200
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
