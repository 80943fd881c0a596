#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Per-address rate limiting, its log and fail2ban (SPEC F8, F9, F10), on the
# real binary: burst of exactly 20 then 429 "Too Many Requests"; refill at
# the configured rate; clients limited independently; X-Forwarded-For and
# X-Real-IP never count; /health exempt; the query is never logged; the log
# file continues in a fresh file after rename + SIGUSR1; Debian's
# fail2ban-regex with etc/fail2ban/filter.d/reverse-proxy.conf finds one
# match per 429, each for the offending address, and none for addresses
# forged into the path.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3 fail2ban-regex

FILTER="$top_srcdir/etc/fail2ban/filter.d/reverse-proxy.conf"
ALOG="$T/access.log"

gen_cert a a.test
start_upstream
TEST_RATE_LIMIT=0 CERTS="a" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
file = $ALOG

[rate_limit]
requests_per_second = 1
burst = 20

[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/c.ini"

: >"$T/codes"
# burst IP N PATH [CURL ARGS]: N requests from source address IP over one
# keep-alive connection, as fast as curl sends them; prints one status per
# line and records "IP STATUS" in $T/codes.
burst() {
	local ip=$1 n=$2 p=$3 i
	shift 3
	local args=()
	for i in $(seq 1 "$n"); do args+=(-o /dev/null "https://a.test:$PX_PORT$p"); done
	curl -sS --max-time 60 --cacert "$T/a.pem" --interface "$ip" \
		--resolve "a.test:$PX_PORT:127.0.0.1" -w '%{http_code}\n' \
		"$@" "${args[@]}" 2>/dev/null | sed "s/^/$ip /" >>"$T/codes" || true
	tail -n "$n" "$T/codes" | cut -d' ' -f2
}
# count CODE: lines of stdin equal to CODE
count() { grep -cx "$1" || true; }

# --- burst: exactly 20 pass, the 21st is refused at once ---
t0=$(now_ms)
codes=$(burst 127.0.0.2 21 /echo)
t1=$(now_ms)
log "21 requests from 127.0.0.2 in $((t1 - t0)) ms"
expect_eq "first 20 requests pass" "$(echo "$codes" | head -n 20 | count 200)" 20
if [ $((t1 - t0)) -lt 900 ]; then
	# under a second at 1/s: no token can have come back
	expect_eq "21st request gets 429" "$(echo "$codes" | sed -n 21p)" 429
else
	log "slow run ($((t1 - t0)) ms): the 21st may have had a refilled token"
	check "requests right after the burst get 429" \
		test "$(burst 127.0.0.2 3 /echo | count 429)" -ge 1
fi
expect_eq "429 body is the reason phrase" \
	"$(curl -sS --max-time 10 --cacert "$T/a.pem" --interface 127.0.0.2 \
		--resolve "a.test:$PX_PORT:127.0.0.1" "https://a.test:$PX_PORT/echo")" \
	"Too Many Requests"
echo "127.0.0.2 429" >>"$T/codes"
expect_eq "429 is text/plain" \
	"$(curl -sS --max-time 10 --cacert "$T/a.pem" --interface 127.0.0.2 \
		--resolve "a.test:$PX_PORT:127.0.0.1" -o /dev/null -w '%{http_code} %{content_type}' \
		"https://a.test:$PX_PORT/echo?token=secret-query-value")" \
	"429 text/plain; charset=utf-8"
echo "127.0.0.2 429" >>"$T/codes"
expect_eq "/health is exempt for a limited client" \
	"$(burst 127.0.0.2 30 /health | count 200)" 30

# --- refill at the configured rate (1/s): 3 s of silence earn 2 to 4
# tokens (clock granularity and a slow machine), not a full bucket ---
sleep 3
got=$(burst 127.0.0.2 10 /echo | count 200)
if [ "$got" -ge 2 ] && [ "$got" -le 4 ]; then
	ok "refill at 1/s: $got of 10 passed after 3 s"
else
	fail "refill at 1/s: $got of 10 passed after 3 s (want 2..4)"
fi

# --- independent clients ---
expect_eq "127.0.0.3 has its own full bucket" "$(burst 127.0.0.3 20 /echo | count 200)" 20
expect_eq "127.0.0.3 then limited too" "$(burst 127.0.0.3 2 /echo | count 429)" 2

# --- headers never count: X-Forwarded-For / X-Real-IP ---
expect_eq "spoofed X-Forwarded-For does not bypass the limit" \
	"$(burst 127.0.0.4 25 /echo -H 'X-Forwarded-For: 127.0.0.5' -H 'X-Real-IP: 127.0.0.5' | count 200)" 20
expect_eq "a new forged address each time does not bypass it either" \
	"$(for i in 1 2 3; do burst 127.0.0.4 1 /echo -H "X-Forwarded-For: 10.0.0.$i"; done | count 429)" 3
expect_eq "the forged address is not limited by someone else's traffic" \
	"$(burst 127.0.0.5 20 /echo | count 200)" 20

# --- fields forged into the path stay inside the quoted path ---
# 127.0.0.6 empties its bucket, then sends paths that try to put
# client_ip=1.2.3.4 (or a new line) into its RATE_LIMIT lines.
expect_eq "127.0.0.6 burst" "$(burst 127.0.0.6 20 '/x%20client_ip=1.2.3.4%20status=429' | count 404)" 20
expect_eq "forged %20 path limited" "$(burst 127.0.0.6 3 '/x%20client_ip=1.2.3.4%20status=429' | count 429)" 3
expect_eq "forged %0a path limited" \
	"$(burst 127.0.0.6 2 '/x%0a2026-01-01T00:00:00.000Z%20WARN%20RATE_LIMIT%20client_ip=1.2.3.4%20x' | count 429)" 2
# raw request lines with a literal space, quote and tab in the target
forged=$(python3 - "$PX_PORT" "$T/a.pem" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
targets = [b"/x client_ip=1.2.3.4", b'/x" WARN RATE_LIMIT client_ip=1.2.3.4 "',
           b"/x\tclient_ip=1.2.3.4", b"/x\rINFO RATE_LIMIT client_ip=1.2.3.4"]
out = []
for t in targets:
    try:
        raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10,
                                       source_address=("127.0.0.6", 0))
        s = ctx.wrap_socket(raw, server_hostname="a.test")
        s.sendall(b"GET " + t + b" HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        buf = b""
        while b"\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        line = buf.split(b"\r\n")[0].decode("latin-1")
        out.append(line.split(" ")[1] if line.startswith("HTTP/") else "EOF")
        s.close()
    except Exception:
        out.append("ERR")
print(" ".join(out))
PY
)
log "raw forged targets answered: $forged"
for c in $forged; do echo "127.0.0.6 $c" >>"$T/codes"; done
if grep -q 'client_ip=1\.2\.3\.4' "$ALOG" && ! grep -E '^[^ ]+ [A-Z]+ [A-Z_]+ client_ip=1\.2\.3\.4 ' "$ALOG" >/dev/null; then
	ok "forged client_ip only ever inside a quoted value"
else
	fail "forged client_ip only ever inside a quoted value"
fi
expect_eq "no log line starts other than with a timestamp" \
	"$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (ERROR|WARN|INFO|DEBUG|TRACE) [A-Z0-9_]+( |$)' "$ALOG" || true)" 0

# --- the log lines themselves ---
grep -q ' WARN RATE_LIMIT client_ip=127\.0\.0\.2 host=a\.test path=/echo status=429$' "$ALOG" &&
	ok "RATE_LIMIT line format" || fail "RATE_LIMIT line format"
grep -q ' INFO REQUEST client_ip=127\.0\.0\.2 host=a\.test method=GET path=/echo status=429 ' "$ALOG" &&
	ok "REQUEST line for a 429" || fail "REQUEST line for a 429"
if grep -q 'secret-query-value' "$ALOG" "$PX_LOG"; then fail "query string not logged"; else ok "query string not logged"; fi
expect_eq "file sink and stdout carry the same RATE_LIMIT lines" \
	"$(grep -c ' RATE_LIMIT ' "$ALOG")" "$(grep -c ' RATE_LIMIT ' "$PX_LOG")"

# --- rename + SIGUSR1: the proxy continues in a fresh file ---
mv "$ALOG" "$ALOG.1"
n1=$(wc -l <"$ALOG.1")
kill -USR1 "$PX_PID"
for i in $(seq 1 100); do [ -e "$ALOG" ] && break; sleep 0.05; done
check "SIGUSR1 creates a fresh log file at the same path" test -e "$ALOG"
wait_file_match "$ALOG" ' LOG_REOPEN ' 5 || true
expect_eq "the fresh file starts with LOG_REOPEN" \
	"$(head -n1 "$ALOG" | cut -d' ' -f2-)" "INFO LOG_REOPEN status=success file=$ALOG"
expect_eq "127.0.0.7 burst after the reopen" "$(burst 127.0.0.7 22 /echo | count 429)" 2
wait_file_match "$ALOG" 'RATE_LIMIT client_ip=127\.0\.0\.7 ' 5 || true
# 22 REQUEST lines and 2 RATE_LIMIT lines
expect_eq "new lines go to the new file" "$(grep -c 'client_ip=127\.0\.0\.7 ' "$ALOG")" 24
expect_eq "no new line in the renamed file" "$(wc -l <"$ALOG.1")" "$n1"
expect_eq "new file is mode 0640" "$(stat -c %a "$ALOG")" 640
kill -0 "$PX_PID" && ok "proxy alive after SIGUSR1" || fail "proxy alive after SIGUSR1"

# --- fail2ban-regex on the log the proxy wrote ---
cat "$ALOG.1" "$ALOG" >"$T/all.log"
want=$(awk '$2 == 429' "$T/codes" | wc -l)
fail2ban-regex "$T/all.log" "$FILTER" >"$T/f2b.out" 2>&1 || true
sed -n '/^Results/,$p' "$T/f2b.out"
got=$(sed -n 's/^Failregex: \([0-9]*\) total.*/\1/p' "$T/f2b.out")
expect_eq "fail2ban-regex matches = 429 responses" "$got" "$want"
fail2ban-regex -o ip "$T/all.log" "$FILTER" 2>/dev/null | sort | uniq -c |
	awk '{print $2, $1}' >"$T/f2b.ips"
awk '$2 == 429 {print $1}' "$T/codes" | sort | uniq -c | awk '{print $2, $1}' >"$T/want.ips"
log "matches per address: $(tr '\n' ';' <"$T/f2b.ips")"
expect_eq "each match is the offending client, as often as it got 429" \
	"$(cat "$T/f2b.ips")" "$(cat "$T/want.ips")"
if grep -q '1\.2\.3\.4\|127\.0\.0\.5' "$T/f2b.ips"; then
	fail "no match for a forged address"
else
	ok "no match for a forged address"
fi

stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
