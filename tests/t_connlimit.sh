#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Connection-level limits (SPEC F15, issue 13), with real clients:
# (a) one address (127.0.0.2) opens 2,000 idle TCP connections to the
#     HTTPS port and 500 to port 80 (max_connections raised to 3,000):
#     it keeps exactly max_connections_per_ip (128) on 443 and the port-80
#     ceiling (32) there, the rest are closed at once; another address
#     still gets 200 on 443 and the port-80 listener's answers (a challenge
#     path, a redirect) within 1 s each; one CONN_LIMIT line per listener,
#     and after 10 s one more carrying the refusals in between in
#     suppressed=; fail2ban-regex with the shipped filter matches exactly
#     the flooder, once per per_ip line;
# (b) port 80 is rate-limited from the same buckets as HTTPS: 200 requests
#     from one address get at most burst (+ what refills) redirects and
#     429 for the rest, each with a RATE_LIMIT proto=http line; a challenge
#     path is still answered, and the address's HTTPS requests find the
#     bucket empty too;
# (c) IPv6, in a network namespace the test makes (unshare -n) with a /64
#     on its loopback: the cap counts the /64 (a second address of it gets
#     nothing), CONN_LIMIT carries client_net= and the net6 filter matches
#     that subnet; a reload raising max_connections_per_ip lets it open
#     more.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3 fail2ban-regex unshare ip
FILTER="$top_srcdir/etc/fail2ban/filter.d/reverse-proxy.conf"
FILTER6="$top_srcdir/etc/fail2ban/filter.d/reverse-proxy-net6.conf"

# The flooder holds ~2,500 sockets, the proxy 2 per HTTPS connection.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$hard" ]; then
	ulimit -Sn "$hard" 2>/dev/null || true
fi
nofile=$(ulimit -Sn)
[ "$nofile" = unlimited ] && nofile=1048576
if [ "$nofile" -lt 8000 ]; then
	echo "SKIP: RLIMIT_NOFILE $nofile (hard $hard) < 8000"
	exit 77
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# flood SRC HOST PORT N TAG: open N TCP connections from SRC, wait 1.5 s,
# write "alive refused" to $T/TAG.out, then hold the live ones until
# $T/TAG.stop exists (60 s at most).
flood() {
	python3 - "$@" "$T" <<'PY' &
import errno, os, socket, sys, time
src, host, port, n, tag, tdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
socks = []
for _ in range(n):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((src, 0))
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        continue
    socks.append(s)
time.sleep(1.5)
alive = 0
for s in socks:
    try:
        alive += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
with open(os.path.join(tdir, tag + ".tmp"), "w") as f:
    f.write("%d %d\n" % (alive, n - alive))
os.rename(os.path.join(tdir, tag + ".tmp"), os.path.join(tdir, tag + ".out"))
deadline = time.time() + 60
while time.time() < deadline and not os.path.exists(os.path.join(tdir, tag + ".stop")):
    time.sleep(0.1)
PY
	PIDS="$PIDS $!"
}

# flood_result TAG: waits for and prints "alive refused".
flood_result() {
	local i
	for i in $(seq 1 300); do
		[ -f "$T/$1.out" ] && { cat "$T/$1.out"; return 0; }
		sleep 0.1
	done
	echo "none none"
}

# timed STATUS-URL...: prints "CODE SECONDS" of one curl request.
timed() {
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 5 "$@" || true
}
within_1s() { awk -v t="$1" 'BEGIN { exit !(t + 0 <= 1.0) }'; }

# (c), run by the parent in a new network namespace: fd00:a:b:c::1 (the
# proxy), ::2 and ::3 (two clients of one /64) on its loopback.
if [ "${1:-}" = --v6-child ]; then
	ip link set lo up
	for i in 1 2 3; do ip -6 addr add "fd00:a:b:c::$i/64" dev lo nodad; done
	gen_cert a a.test
	CERTS="a" base_config "$T/c.ini"
	sed -i 's/^bind_addr = 127.0.0.1/bind_addr = fd00:a:b:c::1/' "$T/c.ini"
	cat >>"$T/c.ini" <<EOT
[limits]
max_connections_per_ip = 4

[site a.test]
upstream = 127.0.0.1:9
EOT
	start_proxy "$T/c.ini"
	flood fd00:a:b:c::2 fd00:a:b:c::1 "$PX_PORT" 10 v6a
	read -r alive _ < <(flood_result v6a)
	expect_eq "(c) fd00:a:b:c::2 keeps max_connections_per_ip (4)" "$alive" 4
	flood fd00:a:b:c::3 fd00:a:b:c::1 "$PX_PORT" 5 v6b
	read -r alive _ < <(flood_result v6b)
	expect_eq "(c) another address of the same /64 gets none" "$alive" 0
	wait_log_count 'CONN_LIMIT client_ip=' 1 5 || true
	expect_eq "(c) one CONN_LIMIT line for the /64, naming it" \
		"$(log_count 'WARN CONN_LIMIT client_ip=fd00:a:b:c::2 client_net=fd00:a:b:c::/64 limit=per_ip proto=https max=4 suppressed=0$')/$(log_count CONN_LIMIT)" 1/1
	expect_eq "(c) the net6 filter matches the subnet" \
		"$(fail2ban-regex -o ip "$PX_LOG" "$FILTER6" 2>/dev/null | sort -u)" "fd00:a:b:c::/64"
	expect_eq "(c) the address filter matches the address" \
		"$(fail2ban-regex -o ip "$PX_LOG" "$FILTER" 2>/dev/null | sort -u)" "fd00:a:b:c::2"
	sed -i 's/^max_connections_per_ip = 4/max_connections_per_ip = 6/' "$T/c.ini"
	kill -HUP "$PX_PID"
	wait_log_count 'CONFIG_RELOAD status=success' 1 10 || true
	flood fd00:a:b:c::3 fd00:a:b:c::1 "$PX_PORT" 10 v6c
	read -r alive _ < <(flood_result v6c)
	expect_eq "(c) after a reload to 6, 2 more are held" "$alive" 2
	touch "$T/v6a.stop" "$T/v6b.stop" "$T/v6c.stop"
	stop_proxy
	expect_eq "(c) SIGTERM exits 0" "$PX_STATUS" 0
	check_sanitizer_clean
	finish
fi

gen_cert a a.test
start_upstream

# ---- (a) one address floods both listeners ----
HTTP_PORT=$(free_port)
CERTS="a" base_config "$T/a.ini" "$(printf 'max_connections = 3000\ntls_handshake_timeout_secs = 30\nheader_timeout_secs = 30')"
sed -i "s/^http_port = 0/http_port = $HTTP_PORT/" "$T/a.ini"
cat >>"$T/a.ini" <<EOT
[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/a.ini"
flood 127.0.0.2 127.0.0.1 "$PX_PORT" 2000 https1
flood 127.0.0.2 127.0.0.1 "$HTTP_PORT" 500 http1
read -r alive refused < <(flood_result https1)
log "(a) 2000 connections from 127.0.0.2 to 443: $alive held, $refused closed by the proxy"
expect_eq "(a) the flooder keeps max_connections_per_ip (128) on 443" "$alive" 128
read -r alive80 refused80 < <(flood_result http1)
log "(a) 500 connections from 127.0.0.2 to port 80: $alive80 held, $refused80 closed"
expect_eq "(a) the flooder keeps the port-80 ceiling (32) there" "$alive80" 32

read -r code secs < <(timed --cacert "$T/a.pem" --resolve "a.test:$PX_PORT:127.0.0.1" "https://a.test:$PX_PORT/echo")
log "(a) 127.0.0.1 during the flood: HTTPS $code in $secs s"
expect_eq "(a) another address gets 200 on 443" "$code" 200
check "(a) ... within 1 s" within_1s "$secs"
read -r code secs < <(timed "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/no-such-token")
log "(a) 127.0.0.1 during the flood: port-80 challenge path $code in $secs s"
expect_eq "(a) port 80 answers a challenge path (unknown token: 404)" "$code" 404
check "(a) ... within 1 s" within_1s "$secs"
read -r code secs < <(timed -H 'Host: a.test' "http://127.0.0.1:$HTTP_PORT/x")
expect_eq "(a) port 80 still redirects" "$code" 301
check "(a) ... within 1 s" within_1s "$secs"

wait_log_count 'CONN_LIMIT client_ip=127\.0\.0\.2 limit=per_ip proto=http max=32 ' 1 5 || true
expect_eq "(a) one CONN_LIMIT per_ip line for 443" \
	"$(log_count 'WARN CONN_LIMIT client_ip=127\.0\.0\.2 limit=per_ip proto=https max=128 suppressed=0$')" 1
expect_eq "(a) one CONN_LIMIT per_ip line for port 80" \
	"$(log_count 'WARN CONN_LIMIT client_ip=127\.0\.0\.2 limit=per_ip proto=http max=32 suppressed=0$')" 1
expect_eq "(a) no CONN_LIMIT line for anybody else" "$(log_count 'CONN_LIMIT' )" 2
# 10 s after the first line, the next refusal is logged with the count of
# those that were not.
sleep 10.2
flood 127.0.0.2 127.0.0.1 "$PX_PORT" 5 https2
read -r alive2 _ < <(flood_result https2)
expect_eq "(a) 5 more from the flooder: none held" "$alive2" 0
want_sup=$((refused - 1))
wait_log_count 'CONN_LIMIT client_ip=127\.0\.0\.2 limit=per_ip proto=https' 2 5 || true
expect_eq "(a) after 10 s one more line, suppressed = the $want_sup refusals in between" \
	"$(log_count "WARN CONN_LIMIT client_ip=127\\.0\\.0\\.2 limit=per_ip proto=https max=128 suppressed=$want_sup\$")" 1
expect_eq "(a) and only one" "$(log_count 'CONN_LIMIT client_ip=127\.0\.0\.2 limit=per_ip proto=https')" 2

fail2ban-regex -o ip "$PX_LOG" "$FILTER" 2>/dev/null | sort | uniq -c | awk '{print $2, $1}' >"$T/f2b.ips"
log "(a) fail2ban-regex matches per address: $(tr '\n' ';' <"$T/f2b.ips")"
expect_eq "(a) fail2ban-regex matches exactly the flooder, once per per_ip line" "$(cat "$T/f2b.ips")" "127.0.0.2 3"
fail2ban-regex -o ip "$PX_LOG" "$FILTER[mode=conn]" 2>/dev/null | sort | uniq -c | awk '{print $2, $1}' >"$T/f2b.conn"
expect_eq "(a) ... also with mode=conn (the conn jail)" "$(cat "$T/f2b.conn")" "127.0.0.2 3"
touch "$T/https1.stop" "$T/http1.stop" "$T/https2.stop"
# The held connections go away with the flooder; the slots come back.
sleep 1
flood 127.0.0.2 127.0.0.1 "$PX_PORT" 10 https3
read -r alive3 _ < <(flood_result https3)
expect_eq "(a) after the flooder left, its slots are free again" "$alive3" 10
touch "$T/https3.stop"
stop_proxy
expect_eq "(a) SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
cp "$PX_LOG" "$T/a.log"

# ---- (b) port 80 rate limit, shared with HTTPS ----
HTTP_PORT=$(free_port)
TEST_RATE_LIMIT=0 CERTS="a" base_config "$T/b.ini"
sed -i "s/^http_port = 0/http_port = $HTTP_PORT/" "$T/b.ini"
cat >>"$T/b.ini" <<EOT
[rate_limit]
requests_per_second = 1
burst = 20

[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/b.ini"
python3 - "$HTTP_PORT" >"$T/b.codes" <<'PY'
import http.client, sys
port = int(sys.argv[1])
c = None
for i in range(200):
    if c is None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=("127.0.0.4", 0))
    c.request("GET", "/p%d?q=1" % i, headers={"Host": "a.test"})
    r = c.getresponse()
    r.read()
    print(r.status)
    if r.getheader("Connection", "").lower() == "close":
        c.close()
        c = None
PY
n301=$(grep -c '^301$' "$T/b.codes" || true)
n429=$(grep -c '^429$' "$T/b.codes" || true)
log "(b) 200 port-80 requests from 127.0.0.4: $n301 redirected, $n429 refused with 429"
check "(b) at most burst (20) + refill redirected, at least burst" test "$n301" -ge 20 -a "$n301" -le 22
expect_eq "(b) the rest get 429" "$((n301 + n429))" 200
wait_log_count 'RATE_LIMIT client_ip=127\.0\.0\.4 .*proto=http$' "$n429" 5 || true
expect_eq "(b) one RATE_LIMIT proto=http line per 429" \
	"$(log_count 'WARN RATE_LIMIT client_ip=127\.0\.0\.4 host=a\.test path=/p[0-9]+ status=429 proto=http$')" "$n429"
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.4 "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/tok" || true)
expect_eq "(b) a challenge path is exempt (answered, 404 for an unknown token)" "$code" 404
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.4 --cacert "$T/a.pem" --resolve "a.test:$PX_PORT:127.0.0.1" "https://a.test:$PX_PORT/echo" || true)
expect_eq "(b) the same bucket: HTTPS from 127.0.0.4 is refused too" "$code" 429
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.5 -H 'Host: a.test' "http://127.0.0.1:$HTTP_PORT/x" || true)
expect_eq "(b) another address is redirected" "$code" 301
stop_proxy
check_sanitizer_clean
cp "$PX_LOG" "$T/b.log"

# ---- (c) IPv6, in a network namespace of our own ----
if [ "${1:-}" != --v6-child ]; then
	if ! unshare -n true 2>/dev/null; then
		echo "SKIP: cannot make a network namespace (unshare -n) for the IPv6 part"
		exit 77
	fi
	log "(c) runs in a new network namespace (unshare -n):"
	if unshare -n bash "$0" --v6-child >"$T/v6.out" 2>&1; then
		sed 's/^/  /' "$T/v6.out"
		ok "(c) IPv6 part"
	else
		sed 's/^/  /' "$T/v6.out"
		fail "(c) IPv6 part"
	fi
	finish
fi
check_sanitizer_clean
finish
