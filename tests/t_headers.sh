#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Header handling at the edge (SPEC F3): X-Forwarded-For / X-Real-IP are
# replaced by the TCP peer (never appended), X-Forwarded-Proto/-Host are
# set, Host is kept as sent, hop-by-hop headers are removed in both
# directions, ordinary (and repeated) headers pass in order, and the proxy
# never adds Server or Via, not even on its own error responses.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool

gen_cert a a.test
start_upstream
CERTS="a" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/c.ini"

hdr() { printf '%s\n' "$out" | sed -n "s/^header: $1: //Ip"; }
hcount() { printf '%s\n' "$out" | grep -ciE "^header: $1:" || true; }

out=$(pcurl a a.test /echo \
	-H 'X-Forwarded-For: 6.6.6.6' -H 'X-Forwarded-For: 7.7.7.7, 8.8.8.8' \
	-H 'X-Real-IP: 6.6.6.6' -H 'X-Forwarded-Proto: http' \
	-H 'X-Forwarded-Host: evil.test' -H "Host: A.test:$PX_PORT" 2>&1 || true)
expect_eq "exactly one X-Forwarded-For" "$(hcount X-Forwarded-For)" 1
expect_eq "X-Forwarded-For replaced by the peer" "$(hdr X-Forwarded-For)" 127.0.0.1
expect_eq "exactly one X-Real-IP" "$(hcount X-Real-IP)" 1
expect_eq "X-Real-IP replaced by the peer" "$(hdr X-Real-IP)" 127.0.0.1
expect_eq "exactly one X-Forwarded-Proto" "$(hcount X-Forwarded-Proto)" 1
expect_eq "X-Forwarded-Proto https" "$(hdr X-Forwarded-Proto)" https
expect_eq "exactly one X-Forwarded-Host" "$(hcount X-Forwarded-Host)" 1
xfh=$(hdr X-Forwarded-Host | tr 'A-Z' 'a-z')
case $xfh in
"a.test" | "a.test:$PX_PORT") ok "X-Forwarded-Host is the original host ($xfh)" ;;
*) fail "X-Forwarded-Host is the original host: got '$xfh'" ;;
esac
expect_eq "exactly one Host" "$(hcount Host)" 1
expect_eq "Host kept as sent" "$(hdr Host)" "A.test:$PX_PORT"

# Without any client-sent forwarding headers they are still set.
out=$(pcurl a a.test /echo 2>&1 || true)
expect_eq "X-Forwarded-For set" "$(hdr X-Forwarded-For)" 127.0.0.1
expect_eq "X-Real-IP set" "$(hdr X-Real-IP)" 127.0.0.1

# Hop-by-hop request headers are removed; ordinary ones pass, repeated
# ones in order.
out=$(pcurl a a.test /echo \
	-H 'Connection: close, X-Custom' -H 'X-Custom: secret' \
	-H 'Keep-Alive: timeout=5' -H 'TE: trailers' -H 'Trailer: X-T' \
	-H 'Upgrade: foo/1' -H 'Proxy-Authorization: Basic Zm9vOmJhcg==' \
	-H 'Proxy-Connection: keep-alive' \
	-H 'X-Dup: one' -H 'X-Ordinary: kept' -H 'X-Dup: two' -H 'Authorization: Bearer t' 2>&1 || true)
for h in Connection X-Custom Keep-Alive TE Trailer Upgrade Proxy-Authorization Proxy-Connection Transfer-Encoding; do
	expect_eq "request hop-by-hop $h removed" "$(hcount "$h")" 0
done
expect_eq "X-Ordinary passes" "$(hdr X-Ordinary)" kept
expect_eq "Authorization passes" "$(hdr Authorization)" "Bearer t"
expect_eq "repeated X-Dup passes in order" "$(hdr X-Dup | tr '\n' ' ')" "one two "
# Connection naming several headers, in two Connection lines.
out=$(pcurl a a.test /echo -H 'Connection: X-A' -H 'Connection: x-b , keep-alive' \
	-H 'X-A: 1' -H 'X-B: 2' -H 'X-C: 3' 2>&1 || true)
expect_eq "header nominated by first Connection line removed" "$(hcount X-A)" 0
expect_eq "header nominated (case-insensitively) by second Connection line removed" "$(hcount X-B)" 0
expect_eq "header not nominated passes" "$(hdr X-C)" 3
# Upstream framing is fresh: the client's Content-Length goes with the body.
out=$(pcurl a a.test /echo -X POST --data-binary 'abc' 2>&1 || true)
expect_eq "exactly one Content-Length upstream" "$(hcount Content-Length)" 1

# Hop-by-hop response headers are removed; Server is removed.
pcurl a a.test /hop -D "$T/hop.h" -o "$T/hop.b" || true
check "/hop body passed" grep -qx hop "$T/hop.b"
for h in Connection X-Hop-Custom Keep-Alive Proxy-Authenticate Trailer Upgrade Server Via; do
	if grep -qi "^$h:" "$T/hop.h"; then
		fail "response header $h removed: $(grep -i "^$h:" "$T/hop.h" | tr -d '\r')"
	else
		ok "response header $h removed"
	fi
done
check "X-Kept: yes passed" grep -qix 'X-Kept: yes.' "$T/hop.h"
# A header nominated by a later Connection line, after N bytes of
# Connection values, is removed too (a 1024-byte join buffer once let
# X-Secret through at N = 1020).
for n in 500 1020 1100 4000; do
	pcurl a a.test "/hop-long?n=$n" -D "$T/hopl.h" -o "$T/hopl.b" || true
	check "/hop-long n=$n: body passed" grep -qx hop "$T/hopl.b"
	if grep -qi '^X-Secret:' "$T/hopl.h"; then
		fail "X-Secret nominated after $n bytes of Connection values reached the client"
	else
		ok "X-Secret nominated after $n bytes of Connection values removed"
	fi
	check "/hop-long n=$n: X-Kept passed" grep -qix 'X-Kept: yes.' "$T/hopl.h"
done

# No Server or Via on any response, including the proxy's own.
for spec in "200 /echo" "200 /health" "404 /status?code=404" "503 /status?code=503"; do
	want=${spec%% *}
	p=${spec#* }
	st=$(pcurl a a.test "$p" -D "$T/r.h" -o /dev/null -w '%{http_code}' 2>/dev/null || true)
	expect_eq "status $want for $p" "$st" "$want"
	check "no Server/Via on $p" bash -c "! grep -qiE '^(Server|Via):' '$T/r.h'"
done
st=$(pcurl a a.test /x -H 'Host: other.test' -D "$T/r.h" -o /dev/null -w '%{http_code}' 2>/dev/null || true)
expect_eq "proxy 404 for unknown host" "$st" 404
check "no Server/Via on proxy 404" bash -c "! grep -qiE '^(Server|Via):' '$T/r.h'"
check "proxy 404 is text/plain; charset=utf-8" grep -qix 'Content-Type: text/plain; charset=utf-8.' "$T/r.h"
st=$(pcurl a a.test /x -H 'Host: bad_host@x' -D "$T/r.h" -o /dev/null -w '%{http_code}' 2>/dev/null || true)
expect_eq "proxy 400 for bad host" "$st" 400
check "no Server/Via on proxy 400" bash -c "! grep -qiE '^(Server|Via):' '$T/r.h'"
# A 400 from the framing checks (raw request).
resp=$(printf 'GET /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab' |
	timeout 5 python3 -c "$RAW_STATUS_PY" "$PX_PORT" "$T/a.pem" a.test 5 2>/dev/null || true)
expect_eq "framing 400" "${resp#* }" "400 Bad Request"
printf 'GET /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab' |
	timeout 10 python3 -c '
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5), server_hostname="a.test")
s.sendall(sys.stdin.buffer.read())
b = b""
while b"\r\n\r\n" not in b:
    d = s.recv(4096)
    if not d:
        break
    b += d
sys.stdout.buffer.write(b.split(b"\r\n\r\n")[0].replace(b"\r", b""))
' "$T/a.pem" "$PX_PORT" >"$T/raw400.h" 2>/dev/null || true
check "raw framing 400 received" grep -q '^HTTP/1.1 400' "$T/raw400.h"
check "no Server/Via on the framing 400" bash -c "! grep -qiE '^(Server|Via):' '$T/raw400.h'"
check "framing 400 is text/plain; charset=utf-8" grep -qix 'Content-Type: text/plain; charset=utf-8' "$T/raw400.h"

stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
