#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Host routing with SNI certificates (SPEC F1, F5): two sites, each with its
# own certificate; unknown host 404; missing/invalid Host 400; /health 200
# on any host; unknown and missing SNI refused.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3

gen_cert a a.test
gen_cert b b.test
start_upstream
CERTS="a b" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[site a.test]
upstream = 127.0.0.1:$UP_PORT

[site B.Test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/c.ini"

expect_eq "a.test routed" "$(pcurl a a.test /echo | sed -n 's/^header: Host: //p')" "a.test:$PX_PORT"
expect_eq "b.test routed with its own certificate" "$(status_of b b.test /echo)" 200
# b.test's certificate is not valid for a.test: verification against b's cert must fail
expect_eq "a.test is not served b.test's certificate" "$(status_of b a.test /echo)" 000
expect_eq "host match is case-insensitive, port and trailing dot ignored" \
	"$(status_of a a.test /echo -H "Host: A.TEST.:$PX_PORT")" 200
expect_eq "unknown host 404" "$(status_of a a.test /echo -H 'Host: other.test')" 404
expect_eq "404 body is the reason phrase" "$(pcurl a a.test /x -H 'Host: other.test')" "Not Found"
expect_eq "invalid host 400" "$(status_of a a.test /echo -H 'Host: bad_host@x')" 400
expect_eq "empty host 400" "$(status_of a a.test /echo -H 'Host:;')" 400
expect_eq "/health on a.test" "$(status_of a a.test /health)" 200
expect_eq "/health on unknown host" "$(status_of a a.test /health -H 'Host: nowhere.test')" 200
expect_eq "HEAD /health" "$(status_of a a.test /health -I)" 200
expect_eq "/health body empty" "$(pcurl a a.test /health | wc -c)" 0

# Missing Host: HTTP/1.0 request without Host over raw TLS (python3 is
# required above: this check used to be skipped silently without it)
got=$(python3 - "$PX_PORT" "$T/a.pem" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="a.test")
s.sendall(b"GET /echo HTTP/1.0\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
PY
)
expect_eq "missing Host 400" "${got#* }" "400 Bad Request"

# SNI: unknown name and no SNI are refused
if out=$(curl -sS --max-time 5 -k --resolve "c.test:$PX_PORT:127.0.0.1" "https://c.test:$PX_PORT/health" 2>&1); then
	fail "unknown SNI refused (got: $out)"
else
	ok "unknown SNI refused"
fi
if out=$(curl -sS --max-time 5 -k "https://127.0.0.1:$PX_PORT/health" 2>&1); then
	fail "missing SNI refused (got: $out)"
else
	ok "missing SNI refused"
fi
grep -q 'WARN TLS_ERROR client_ip=127.0.0.1 sni=c.test' "$PX_LOG" && ok "TLS_ERROR logged for unknown SNI" || fail "TLS_ERROR logged for unknown SNI"
grep -q 'REQUEST client_ip=127.0.0.1 host=a.test method=GET path=/echo status=200 upstream=127.0.0.1:' "$PX_LOG" && ok "REQUEST log line" || fail "REQUEST log line"
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
finish
