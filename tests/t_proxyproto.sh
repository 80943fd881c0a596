#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# PROXY protocol behind a real L4 balancer (issue 20, SPEC F20): Debian's
# haproxy in TCP mode in front of two instances — HTTPS with send-proxy-v2,
# port 80 with send-proxy (v1), health checks on /health/ready with
# check-send-proxy (a v2 LOCAL header). Requests made from 127.0.0.2 and
# 127.0.0.3 through it are logged, rate-limited, fail2ban-matched and
# X-Forwarded-For-ed as those addresses, never as the balancer's
# 127.0.0.1. Then, straight at an instance: a PROXY header from an address
# not in proxy_protocol_from is refused; a trusted connection without one
# is refused; malformed, over-long and late headers are refused with a log
# line and no harm; the per-address connection cap counts the carried
# client, not the balancer; a v2 header carrying an IPv6 client on the
# IPv4 listener.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd haproxy curl certtool python3 fail2ban-regex

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FILTER="$top_srcdir/etc/fail2ban/filter.d/reverse-proxy.conf"
gen_cert a a.test
start_upstream

# Two instances, each trusting the balancer's address only.
start_inst() { # N: config $T/cN.ini, log $T/pN.log; sets PIDn
	local n=$1 i
	: >"$T/p$n.log"
	"$PROXY" --config "$T/c$n.ini" >>"$T/p$n.log" 2>&1 &
	eval "PID$n=$!"
	PIDS="$PIDS $!"
	for i in $(seq 1 200); do
		grep -q 'LISTENING proto=http ' "$T/p$n.log" && return 0
		sleep 0.05
	done
	echo "instance $n did not start"; cat "$T/p$n.log"; exit 99
}
for n in 1 2; do
	eval "HP$n=$(port) H80$n=$(port)"
	TEST_RATE_LIMIT=0 CERTS="a" base_config "$T/c$n.ini" \
		"proxy_protocol_from = 127.0.0.1, ::1
header_timeout_secs = 2"
	hp=HP$n h80=H80$n
	sed -i "s/^https_port = 0\$/https_port = ${!hp}/; s/^http_port = 0\$/http_port = ${!h80}/" "$T/c$n.ini"
	cat >>"$T/c$n.ini" <<EOF
[rate_limit]
requests_per_second = 1
burst = 4

[limits]
max_connections_per_ip = 2

[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOF
	[ "$n" = 1 ] && printf '\n[metrics]\nlisten = 127.0.0.1:0\n' >>"$T/c$n.ini"
	start_inst $n
done

# The balancer.
FE=$(port)
FE80=$(port)
cat >"$T/haproxy.cfg" <<EOF
global
	stats socket $T/haproxy.sock mode 600 level admin
	pidfile $T/haproxy.pid
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
frontend https_in
	bind 127.0.0.1:$FE
	default_backend proxies
backend proxies
	balance roundrobin
	option httpchk
	http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host a.test
	default-server inter 300ms fall 2 rise 1
	server p1 127.0.0.1:$HP1 send-proxy-v2 check port $H801 check-send-proxy
	server p2 127.0.0.1:$HP2 send-proxy-v2 check port $H802 check-send-proxy
frontend http_in
	bind 127.0.0.1:$FE80
	default_backend proxies80
backend proxies80
	balance roundrobin
	server p1 127.0.0.1:$H801 send-proxy
	server p2 127.0.0.1:$H802 send-proxy
EOF
haproxy -c -f "$T/haproxy.cfg" >"$T/haproxy.check" 2>&1 || { fail "haproxy -c"; cat "$T/haproxy.check"; }
# its own session: haproxy signals its process group when it stops
setsid haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
HAP_PID=$!
PIDS="$PIDS $HAP_PID"

hap_cmd() { python3 - "$T/haproxy.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
PY
}
# both servers UP: haproxy's health checks (PROXY v2 LOCAL, then
# GET /health/ready) pass on both instances
up=0
for _ in $(seq 1 100); do
	up=$(hap_cmd "show stat" 2>/dev/null | awk -F, '$1=="proxies" && ($2=="p1" || $2=="p2") && $18=="UP"' | wc -l)
	[ "$up" = 2 ] && break
	sleep 0.1
done
expect_eq "haproxy health checks (check-send-proxy, /health/ready) see both instances UP" "$up" 2
[ "$up" = 2 ] || { hap_cmd "show stat" | cut -d, -f1,2,18,37 ; cat "$T/haproxy.log" "$T/p1.log"; }
expect_eq "a health check's LOCAL header is no error" "$(cat "$T/p1.log" "$T/p2.log" | grep -c PROXY_PROTOCOL)" 0

# hcurl SRC PATH [ARGS]: HTTPS through the balancer, from address SRC
hcurl() {
	local src=$1 p=$2; shift 2
	curl -sS --max-time 20 --interface "$src" --cacert "$T/a.pem" \
		--resolve "a.test:$FE:127.0.0.1" "$@" "https://a.test:$FE$p"
}
for src in 127.0.0.2 127.0.0.3; do
	out=$(hcurl $src /echo 2>&1)
	printf '%s\n' "$out" | grep -qx "header: X-Forwarded-For: $src" &&
		ok "via haproxy from $src: X-Forwarded-For: $src" ||
		fail "via haproxy from $src: X-Forwarded-For: $src (got: $(printf '%s' "$out" | grep -i forwarded))"
	out=$(hcurl $src /echo 2>&1)
done
for n in 1 2; do
	expect_eq "instance $n logged requests of 127.0.0.2 and 127.0.0.3" \
		"$(grep -c 'REQUEST client_ip=127.0.0.2 host=a.test' "$T/p$n.log") $(grep -c 'REQUEST client_ip=127.0.0.3 host=a.test' "$T/p$n.log")" "1 1"
done
# (the balancer's own health checks are: their LOCAL header carries no
# client)
check "health checks logged as the balancer's" grep -q 'REQUEST client_ip=127.0.0.1 host=a.test method=GET path=/health/ready status=200 proto=http' "$T/p1.log"
expect_eq "no other request logged as the balancer's address" "$(cat "$T/p1.log" "$T/p2.log" | grep 'REQUEST client_ip=127.0.0.1 ' | grep -vc 'path=/health/ready ')" 0

# a TLS refusal (a name no certificate covers) names the client too
curl -s --max-time 10 --interface 127.0.0.3 --cacert "$T/a.pem" --resolve "other.test:$FE:127.0.0.1" -o /dev/null "https://other.test:$FE/" 2>/dev/null || true
sleep 0.3
check "TLS_ERROR via haproxy names 127.0.0.3" grep -hq 'WARN TLS_ERROR client_ip=127.0.0.3 sni=other.test' "$T/p1.log" "$T/p2.log"

# port 80 through the balancer with PROXY v1
st=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.3 -H 'Host: a.test' "http://127.0.0.1:$FE80/some/page")
expect_eq "port 80 via haproxy (send-proxy v1): redirect" "$st" 301
grep -hq 'client_ip=127.0.0.3 host=a.test method=GET path=/some/page' "$T/p1.log" "$T/p2.log" &&
	ok "port-80 request logged as 127.0.0.3" || { fail "port-80 request logged as 127.0.0.3"; grep -h 'some/page' "$T/p1.log" "$T/p2.log"; }

# Rate limit (1/s, burst 4 per instance) applies to 127.0.0.2, not to
# everyone behind the balancer.
codes=""
for _ in $(seq 1 20); do
	codes="$codes $(hcurl 127.0.0.2 /echo -o /dev/null -w '%{http_code}' 2>/dev/null)"
done
n429=$(printf '%s\n' $codes | grep -c '^429$' || true)
log "from 127.0.0.2, 20 rapid requests: $codes"
check "127.0.0.2 is rate-limited through the balancer ($n429 of 20 got 429)" [ "$n429" -ge 3 ]
expect_eq "127.0.0.3 is not (its own bucket)" "$(hcurl 127.0.0.3 /echo -o /dev/null -w '%{http_code}' 2>/dev/null)" 200
cat "$T/p1.log" "$T/p2.log" >"$T/both.log"
check "RATE_LIMIT lines name 127.0.0.2" grep -q 'WARN RATE_LIMIT client_ip=127.0.0.2 ' "$T/both.log"
expect_eq "no RATE_LIMIT line names the balancer" "$(grep -c 'RATE_LIMIT client_ip=127.0.0.1 ' "$T/both.log")" 0
expect_eq "fail2ban-regex with the shipped filter finds 127.0.0.2 only" \
	"$(fail2ban-regex -o ip "$T/both.log" "$FILTER" 2>/dev/null | sort -u | tr '\n' ' ')" "127.0.0.2 "

# ---- straight at instance 1 ----
# raw SRC PORT BYTES(python literal) [WAIT]: connect from SRC, send, print
# the first reply bytes (or EOF/RESET) within WAIT seconds.
cat >"$T/raw.py" <<'PY'
import socket, sys, time
src, port, data, wait = sys.argv[1], int(sys.argv[2]), eval(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in src else socket.AF_INET)
s.bind((src, 0))
s.connect(("127.0.0.1", port))
if data:
    s.sendall(data)
s.settimeout(wait)
try:
    b = s.recv(100)
    print("CLOSED" if not b else "DATA " + repr(b[:30]))
except socket.timeout:
    print("OPEN")
except ConnectionResetError:  # closed with our bytes unread
    print("CLOSED")
PY
raw() { python3 "$T/raw.py" "$@" 2>&1; }
v1req='b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\nGET /health HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"'
r=$(raw 127.0.0.1 "$H801" "$v1req" 5)
case "$r" in "DATA b'HTTP/1.1 200"*) ok "trusted v1 header then a request: served";; *) fail "trusted v1 header then a request: $r";; esac
r=$(raw 127.0.0.2 "$H801" "$v1req" 5)
expect_eq "PROXY header from an untrusted address: closed" "$r" CLOSED
PX_LOG="$T/p1.log"
wait_log_count 'PROXY_PROTOCOL peer_ip=127.0.0.2 proto=http error=untrusted' 1 5 || true
check "... and logged (error=untrusted)" grep -q 'WARN PROXY_PROTOCOL peer_ip=127.0.0.2 proto=http error=untrusted suppressed=0' "$T/p1.log"
# (from 127.0.0.4: 127.0.0.2's bucket may still be empty from above)
expect_eq "untrusted address without a header: served as itself" \
	"$(curl -s --interface 127.0.0.4 --cacert "$T/a.pem" --resolve "a.test:$HP1:127.0.0.1" -o /dev/null -w '%{http_code}' "https://a.test:$HP1/echo")" 200
check "... logged as 127.0.0.4" grep -q "REQUEST client_ip=127.0.0.4 host=a.test method=GET path=/echo status=200" "$T/p1.log"
st=$(curl -s --cacert "$T/a.pem" --resolve "a.test:$HP1:127.0.0.1" -o /dev/null -w '%{http_code}' "https://a.test:$HP1/echo" 2>/dev/null || true)
expect_eq "trusted address without a header: refused" "$st" 000
sleep 1.1 # one line per error kind per second
check "... and logged (error=missing)" grep -q 'WARN PROXY_PROTOCOL peer_ip=127.0.0.1 proto=https error=missing' "$T/p1.log"
r=$(raw 127.0.0.1 "$HP1" 'b"PROXY TCP4 198.51.100.9 nonsense 1 2\r\n"' 5)
expect_eq "malformed v1: closed" "$r" CLOSED
r=$(raw 127.0.0.1 "$HP1" 'b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x10" + bytes([198,51,100,9, 127,0,0,1, 0,1, 0,2]) + b"\x04\x00\x09\x00"' 5)
expect_eq "v2 with a TLV running past the header: closed" "$r" CLOSED
r=$(raw 127.0.0.1 "$HP1" 'b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x20\x00" + bytes(64)' 5)
expect_eq "v2 longer than 4096 bytes: closed at once" "$r" CLOSED
t0=$(now_ms)
r=$(raw 127.0.0.1 "$HP1" 'b"PROXY TCP4 198.51"' 6)
t1=$(now_ms)
expect_eq "a header left unfinished: closed" "$r" CLOSED
check "... after header_timeout_secs (2 s; took $((t1 - t0)) ms)" [ $((t1 - t0)) -ge 1500 ] && [ $((t1 - t0)) -lt 5000 ]
# a header cut short by the sender's shutdown: closed at once, malformed
sleep 1.1 # one line per error kind per second
t0=$(now_ms)
r=$(python3 - "$HP1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PROXY TCP4 198.51")
s.shutdown(socket.SHUT_WR)
s.settimeout(5)
try:
    print("CLOSED" if not s.recv(10) else "DATA")
except socket.timeout:
    print("OPEN")
except ConnectionResetError:
    print("CLOSED")
PY
)
t1=$(now_ms)
expect_eq "a header cut short by a shutdown: closed" "$r" CLOSED
check "... at once, not at the deadline (took $((t1 - t0)) ms)" [ $((t1 - t0)) -lt 1500 ]
wait_log_count 'PROXY_PROTOCOL peer_ip=127.0.0.1 proto=https error=malformed' 2 3 || true
expect_eq "... logged as malformed" "$(log_count 'PROXY_PROTOCOL peer_ip=127.0.0.1 proto=https error=malformed')" 2
for e in malformed too_long timeout; do
	check "PROXY_PROTOCOL error=$e logged" grep -q "WARN PROXY_PROTOCOL peer_ip=127.0.0.1 proto=https error=$e" "$T/p1.log"
done

# the per-address cap (2) counts the carried client, not the balancer:
# three idle connections carrying 198.51.100.7, two carrying .8
cat >"$T/cap.py" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def conn(ip):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("PROXY TCP4 %s 127.0.0.1 4000 443\r\n" % ip).encode())
    return s
socks = [conn("198.51.100.7") for _ in range(3)] + [conn("198.51.100.8") for _ in range(2)]
time.sleep(0.5)
res = []
for s in socks:
    s.settimeout(0.3)
    try:
        b = s.recv(1)
        res.append("closed" if not b else "data")
    except socket.timeout:
        res.append("open")
    except ConnectionResetError:
        res.append("closed")
print(" ".join(res))
PY
expect_eq "per-address cap on carried clients (.7 .7 .7 .8 .8)" "$(python3 "$T/cap.py" "$HP1")" "open open closed open open"
check "CONN_LIMIT names the carried client" grep -q 'WARN CONN_LIMIT client_ip=198.51.100.7 limit=per_ip proto=https max=2' "$T/p1.log"

# a v2 header carrying an IPv6 client, on the IPv4 listener
cat >"$T/v6.py" <<'PY'
import socket, ssl, struct, sys
port, ca = int(sys.argv[1]), sys.argv[2]
a = socket.inet_pton(socket.AF_INET6, "2001:db8::7") + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + struct.pack(">HH", 4321, 443)
hdr = b"\r\n\r\n\x00\r\nQUIT\n\x21\x21" + struct.pack(">H", len(a)) + a
s = socket.create_connection(("127.0.0.1", port))
s.sendall(hdr)
t = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="a.test")
t.sendall(b"GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
out = b""
while True:
    b = t.recv(65536)
    if not b:
        break
    out += b
print([l for l in out.decode().split("\n") if "Forwarded-For" in l][0])
PY
expect_eq "v2 TCP6 client on the IPv4 listener: X-Forwarded-For" "$(python3 "$T/v6.py" "$HP1" "$T/a.pem" 2>&1)" "header: X-Forwarded-For: 2001:db8::7"
check "... logged as 2001:db8::7" grep -q 'REQUEST client_ip=2001:db8::7 host=a.test' "$T/p1.log"

# every refusal counted in connections_refused_total: on instance 1's
# HTTPS listener missing, malformed (v1, v2 TLV, cut short), too_long,
# timeout and the per-address cap; on its port 80 the untrusted header
MP=$(sed -n 's/.* LISTENING proto=metrics addr=.*:\([0-9]*\)$/\1/p' "$T/p1.log" | head -n1)
scrape=$(curl -s "http://127.0.0.1:$MP/metrics")
expect_eq "connections_refused_total (https, http)" \
	"$(printf '%s\n' "$scrape" | awk '/^reverse_proxy_connections_refused_total\{listener="https"\}/{h=$2} /^reverse_proxy_connections_refused_total\{listener="http"\}/{p=$2} END{print h, p}')" "7 1"

for n in 1 2; do
	pid=PID$n
	kill -0 "${!pid}" 2>/dev/null && ok "instance $n alive after all of it" || fail "instance $n alive"
	kill -TERM "${!pid}"
	st=0; wait "${!pid}" || st=$?
	expect_eq "instance $n exits 0 on SIGTERM" "$st" 0
done
kill "$HAP_PID" 2>/dev/null || true
wait "$HAP_PID" 2>/dev/null || true
for PX_LOG in "$T/p1.log" "$T/p2.log"; do check_sanitizer_clean; done
finish
