#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The plain HTTP listener (SPEC F7), in manual TLS mode (it redirects in
# both modes): 301 to https with the port kept (https_port != 443), the
# raw target and query preserved; 400 for missing, invalid or injected
# Host values; unknown ACME tokens 404; LISTENING names the bound port.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3

HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
gen_cert a a.test
start_upstream
CERTS="a" base_config "$T/c.ini"
sed -i "s/^http_port = 0/http_port = $HTTP_PORT/" "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/c.ini"
# start_proxy returns at the HTTPS listener's line; port 80 comes next
for _ in $(seq 1 100); do
	grep -q "LISTENING proto=http addr=" "$PX_LOG" && break
	sleep 0.05
done
grep -q "LISTENING proto=http addr=127.0.0.1:$HTTP_PORT\$" "$PX_LOG" && ok "LISTENING proto=http with the bound port" || fail "LISTENING proto=http"

# raw HTTP/1.1 exchange: prints the status line and the Location header
raw80() {
	python3 - "$HTTP_PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
data = b""
try:
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
head = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
out = [head[0].split(" ", 2)[1] if head and " " in head[0] else "none"]
out += [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("location:")]
print(" ".join(out))
PY
}

P=$PX_PORT
expect_eq "redirect keeps port, target and query" \
	"$(raw80 'GET /a/b?x=1&y=%20z HTTP/1.1\r\nHost: a.test\r\n\r\n')" "301 https://a.test:$P/a/b?x=1&y=%20z"
expect_eq "Host port stripped, case folded" \
	"$(raw80 'GET / HTTP/1.1\r\nHost: A.Test:80\r\n\r\n')" "301 https://a.test:$P/"
expect_eq "percent-encoded target passed raw" \
	"$(raw80 'GET /%2e%2e/%0d%0aX:%20y HTTP/1.1\r\nHost: a.test\r\n\r\n')" "301 https://a.test:$P/%2e%2e/%0d%0aX:%20y"
expect_eq "unknown host redirects too (validated name)" \
	"$(raw80 'GET /p HTTP/1.1\r\nHost: other.test\r\n\r\n')" "301 https://other.test:$P/p"
expect_eq "absolute-form target names the host" \
	"$(raw80 'GET http://a.test/abs?q HTTP/1.1\r\nHost: ignored.test\r\n\r\n')" "301 https://a.test:$P/abs?q"
expect_eq "HTTP/1.0 without Host: 400" "$(raw80 'GET / HTTP/1.0\r\n\r\n')" "400"
expect_eq "empty Host: 400" "$(raw80 'GET / HTTP/1.1\r\nHost:\r\n\r\n')" "400"
expect_eq "Host with a path: 400" "$(raw80 'GET / HTTP/1.1\r\nHost: a.test/evil\r\n\r\n')" "400"
expect_eq "Host with userinfo: 400" "$(raw80 'GET / HTTP/1.1\r\nHost: evil.test@a.test\r\n\r\n')" "400"
expect_eq "Host with a bare CR: refused" \
	"$(raw80 'GET / HTTP/1.1\r\nHost: a.test\rLocation: https://evil.test\r\n\r\n' | cut -c1-3)" "400"
expect_eq "two Host headers: 400" \
	"$(raw80 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: evil.test\r\n\r\n')" "400"
expect_eq "Host with spaces inside: 400" "$(raw80 'GET / HTTP/1.1\r\nHost: a test\r\n\r\n')" "400"
expect_eq "asterisk-form: 400" "$(raw80 'OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n')" "400"
expect_eq "unknown ACME token 404" \
	"$(raw80 'GET /.well-known/acme-challenge/unknownToken HTTP/1.1\r\nHost: a.test\r\n\r\n')" "404"
expect_eq "ACME prefix without token 404" \
	"$(raw80 'GET /.well-known/acme-challenge/ HTTP/1.1\r\nHost: a.test\r\n\r\n')" "404"
long=$(printf 'a%.0s' $(seq 1 5000))
expect_eq "overlong target refused" "$(raw80 "GET /$long HTTP/1.1\\r\\nHost: a.test\\r\\n\\r\\n" | cut -c1-1)" "4"
# curl follows the redirect to the HTTPS site
expect_eq "curl follows to https" \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/a.pem" --resolve "a.test:$HTTP_PORT:127.0.0.1" \
		--resolve "a.test:$P:127.0.0.1" -L "http://a.test:$HTTP_PORT/echo")" 200
expect_eq "body of a redirect" "$(curl -s "http://127.0.0.1:$HTTP_PORT/x" -H 'Host: a.test')" "Moved Permanently"
grep -q 'REQUEST client_ip=127.0.0.1 host=a.test method=GET path=/a/b status=301 proto=http' "$PX_LOG" && \
	ok "REQUEST logged without the query" || fail "REQUEST logged without the query"
grep -q 'y=%20z' "$PX_LOG" && fail "query string leaked into the log" || ok "query string not logged"
kill -0 "$PX_PID" && ok "proxy alive" || fail "proxy alive"
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
finish
