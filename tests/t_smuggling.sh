#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Request framing checks (SPEC F3): ambiguous or malformed framing that
# could desynchronise the proxy and the upstream (request smuggling) is
# answered 400 by the proxy and never reaches the upstream: CL+TE, TE other
# than chunked, repeated Content-Length or Host, non-token header names,
# control characters in header values. A valid chunked request still passes.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3

gen_cert a a.test
start_upstream
CERTS="a" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/c.ini"

# smug ID DESC HEADERS [BODY]: raw request "POST /echo?s=ID" with the given
# header lines (printf %b escapes, each ending in \r\n) must get 400 and
# must not reach the upstream.
N_CASES=0
smug() {
	local id=$1 desc=$2 hdrs=$3 body=${4:-} got
	N_CASES=$((N_CASES + 1))
	got=$(printf '%b' "POST /echo?s=$id HTTP/1.1\r\nHost: a.test\r\n${hdrs}Connection: close\r\n\r\n$body" | raw_status a a.test)
	expect_eq "$desc: 400" "${got#* }" "400 Bad Request"
	sleep 0.1
	expect_eq "$desc: did not reach the upstream" "$(up_req_count "$UP_LOG" "[^ ]+ /echo\\?s=$id\$")" 0
}

smug clte "Content-Length with Transfer-Encoding: chunked" \
	'Content-Length: 46\r\nTransfer-Encoding: chunked\r\n' \
	'0\r\n\r\nGET /echo?smuggled=1 HTTP/1.1\r\nHost: a.test\r\n\r\n'
smug tecl "Transfer-Encoding before Content-Length" \
	'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n' '0\r\n\r\n'
smug gzipchunked "Transfer-Encoding: gzip, chunked" 'Transfer-Encoding: gzip, chunked\r\n' '0\r\n\r\n'
smug chunkedchunked "Transfer-Encoding: chunked, chunked" 'Transfer-Encoding: chunked, chunked\r\n' '0\r\n\r\n'
smug identity "Transfer-Encoding: identity" 'Transfer-Encoding: identity\r\n' ''
smug identitycl "Transfer-Encoding: identity with Content-Length" \
	'Transfer-Encoding: identity\r\nContent-Length: 3\r\n' 'abc'
smug twote "two Transfer-Encoding: chunked lines" \
	'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n' '0\r\n\r\n'
smug xchunked "Transfer-Encoding: xchunked" 'Transfer-Encoding: xchunked\r\n' '0\r\n\r\n'
smug clsame "two Content-Length, same value" 'Content-Length: 3\r\nContent-Length: 3\r\n' 'abc'
smug cldiff "two Content-Length, different values" 'Content-Length: 3\r\nContent-Length: 4\r\n' 'abcd'
smug cllist "Content-Length: 3, 3" 'Content-Length: 3, 3\r\n' 'abc'
smug clplus "Content-Length: +3" 'Content-Length: +3\r\n' 'abc'
smug clhex "Content-Length: 0x3" 'Content-Length: 0x3\r\n' 'abc'
smug clneg "Content-Length: -1" 'Content-Length: -1\r\n' ''
smug twohost "two Host headers" 'Host: b.test\r\nContent-Length: 0\r\n'
smug tespace "space before colon (Transfer-Encoding : chunked)" \
	'Transfer-Encoding : chunked\r\n' '0\r\n\r\n'
smug clspace "space before colon (Content-Length : 3)" 'Content-Length : 3\r\n' 'abc'
smug brackets "non-token header name X[y]" 'X[y]: 1\r\nContent-Length: 0\r\n'
smug spacename "non-token header name 'X y'" 'X y: 1\r\nContent-Length: 0\r\n'
smug slashname "non-token header name X/y" 'X/y: 1\r\nContent-Length: 0\r\n'
smug emptyname "empty header name" ': 1\r\nContent-Length: 0\r\n'
smug emptynamesmuggle "empty header name followed by a request line" \
	'Content-Length: 0\r\n: 1\r\nGET /echo?smuggled=2 HTTP/1.1\r\nHost: a.test\r\n'
smug barecr "bare CR inside a header value" 'X-A: a\rb\r\nContent-Length: 0\r\n'
smug nul "NUL byte in a header value" 'X-A: a\x00b\r\nContent-Length: 0\r\n'
smug ctl01 "control character 0x01 in a header value" 'X-A: a\x01b\r\nContent-Length: 0\r\n'
smug del "DEL (0x7f) in a header value" 'X-A: a\x7fb\r\nContent-Length: 0\r\n'
smug crte "bare CR in Transfer-Encoding value" 'Transfer-Encoding: chunked\rx\r\n' '0\r\n\r\n'

# The body of the CL+TE request must never have been parsed as a request.
sleep 0.3
expect_eq "smuggled request never reached the upstream" "$(up_req_count "$UP_LOG" '.*smuggled')" 0
expect_eq "no rejected request reached the upstream" "$(grep -c '^REQ' "$UP_LOG" || true)" 0
n400=$(grep -c ' REQUEST .* status=400 ' "$PX_LOG" || true)
check "each rejection logged as REQUEST status=400 ($n400 lines, $N_CASES cases)" test "$n400" -ge "$N_CASES"

# Valid framing passes: chunked upload, Content-Length upload, plain GET.
got=$(printf 'POST /echo?s=okchunked HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n' | raw_status a a.test)
expect_eq "valid chunked request: 200" "${got#* }" "200 OK"
out=$(pcurl a a.test '/echo?s=okchunked2' -X POST -H 'Transfer-Encoding: chunked' --data-binary 'hello world' || true)
expect_eq "valid chunked body forwarded intact" "$(printf '%s\n' "$out" | sed -n 's/^body-sha256: //p')" \
	"$(printf 'hello world' | sha256sum | cut -d' ' -f1)"
expect_eq "upstream request framed once (one Content-Length or Transfer-Encoding)" \
	"$(printf '%s\n' "$out" | grep -ciE '^header: (Transfer-Encoding|Content-Length):' || true)" 1
got=$(printf 'POST /echo?s=okcl HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc' | raw_status a a.test)
expect_eq "valid Content-Length request: 200" "${got#* }" "200 OK"
got=$(printf 'GET /echo?s=okget HTTP/1.1\r\nHost: a.test\r\nX-Tab: a\tb\r\nConnection: close\r\n\r\n' | raw_status a a.test)
expect_eq "valid GET with a TAB in a header value: 200" "${got#* }" "200 OK"
got=$(printf 'POST /echo?s=okte HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n0\r\n\r\n' | raw_status a a.test)
expect_eq "Transfer-Encoding: Chunked (case-insensitive): 200" "${got#* }" "200 OK"
sleep 0.2
expect_eq "valid requests reached the upstream" "$(up_req_count "$UP_LOG" 'POST /echo\?s=ok(chunked|cl|te)$')" 3

stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
