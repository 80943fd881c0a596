#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Upstream errors, timeouts and body limits (SPEC F2, F4, F9): refused
# upstream -> 502 "Bad Gateway" + UPSTREAM_ERROR; blackholed upstream -> 504
# after connect_timeout_secs; silent upstream -> 504 after read_timeout_secs
# + UPSTREAM_TIMEOUT; a slow transfer that keeps moving is not cut; body
# over body_limit_bytes -> 413 without reaching the upstream; an https
# upstream is verified (upstream_ca_file trusted, system store otherwise).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3 sha256sum

gen_cert a refused.test blackhole.test slow.test up.test tls.test tlsnoca.test
start_upstream
PLAIN_PORT=$UP_PORT
PLAIN_LOG=$UP_LOG
start_upstream --tls "$T/a.pem" "$T/a.key"
TLS_PORT=$UP_PORT

# A port with nothing listening: bind, note the port, close.
REFUSED_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

# A blackholed port: listen(0) and fill the accept queue with connections
# that are never accepted, so further SYNs are dropped.
python3 - >"$T/bh.out" 2>&1 <<'PY' &
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
port = s.getsockname()[1]
held = []
for i in range(4):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    held.append(c)
time.sleep(0.3)
print(port, flush=True)
time.sleep(90)
PY
BH_PID=$!
PIDS="$PIDS $BH_PID"
for i in $(seq 1 50); do BH_PORT=$(head -n1 "$T/bh.out" 2>/dev/null || true); [ -n "$BH_PORT" ] && break; sleep 0.1; done
if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)' "$BH_PORT" 2>/dev/null; then
	log "NOTE: the full-backlog trick did not blackhole port $BH_PORT on this kernel"
	BH_WORKS=0
else
	BH_WORKS=1
fi

CERTS="a" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[limits]
body_limit_bytes = 1000000

[site refused.test]
upstream = 127.0.0.1:$REFUSED_PORT

[site blackhole.test]
upstream = 127.0.0.1:$BH_PORT
connect_timeout_secs = 2
read_timeout_secs = 30

[site slow.test]
upstream = 127.0.0.1:$PLAIN_PORT
read_timeout_secs = 2

[site up.test]
upstream = 127.0.0.1:$PLAIN_PORT

[site tls.test]
upstream = 127.0.0.1:$TLS_PORT
upstream_scheme = https
upstream_ca_file = $T/a.pem

[site tlsnoca.test]
upstream = 127.0.0.1:$TLS_PORT
upstream_scheme = https
EOT
if "$PROXY" --validate --config "$T/c.ini" >"$T/validate.out" 2>&1; then
	ok "config with upstream_ca_file validates"
else
	fail "config with upstream_ca_file validates: $(cat "$T/validate.out")"
	# Keep going without the key so the other checks still run.
	sed -i '/^upstream_ca_file/d' "$T/c.ini"
fi
start_proxy "$T/c.ini"

# in_range MS LO HI
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# 502 on connection refused.
t0=$(now_ms)
st=$(pcurl a refused.test /echo -o "$T/r.b" -D "$T/r.h" -w '%{http_code}' 2>/dev/null || true)
expect_eq "refused upstream: 502" "$st" 502
expect_eq "502 body" "$(cat "$T/r.b")" "Bad Gateway"
check "502 is text/plain; charset=utf-8" grep -qix 'Content-Type: text/plain; charset=utf-8.' "$T/r.h"
check "refused upstream answered fast" in_range $(($(now_ms) - t0)) 0 3000
check "UPSTREAM_ERROR logged" grep -qE "WARN UPSTREAM_ERROR .*host=refused.test .*upstream=127.0.0.1:$REFUSED_PORT" "$PX_LOG"
check "REQUEST status=502 logged" grep -qE 'REQUEST .*host=refused.test .*status=502' "$PX_LOG"

# 504 on connect timeout (blackholed upstream).
t0=$(now_ms)
st=$(status_of a blackhole.test /echo)
dt=$(($(now_ms) - t0))
log "blackholed upstream: status $st after $dt ms (blackhole works: $BH_WORKS)"
expect_eq "blackholed upstream: 504" "$st" 504
check "504 after about connect_timeout_secs=2 (1500..6000 ms, got $dt)" in_range "$dt" 1500 6000
check "UPSTREAM_TIMEOUT or UPSTREAM_ERROR logged for the connect timeout" \
	grep -qE "WARN UPSTREAM_(TIMEOUT|ERROR) .*host=blackhole.test" "$PX_LOG"

# 504 on a silent upstream after read_timeout_secs.
t0=$(now_ms)
st=$(pcurl a slow.test /stall -o "$T/s.b" -w '%{http_code}' 2>/dev/null || true)
dt=$(($(now_ms) - t0))
expect_eq "silent upstream: 504" "$st" 504
expect_eq "504 body" "$(cat "$T/s.b")" "Gateway Timeout"
check "504 after about read_timeout_secs=2 (1500..6000 ms, got $dt)" in_range "$dt" 1500 6000
check "UPSTREAM_TIMEOUT logged" grep -qE "WARN UPSTREAM_TIMEOUT .*host=slow.test" "$PX_LOG"

# A slow transfer that keeps moving is not cut: 12 bytes over ~6 s.
t0=$(now_ms)
st=$(pcurl a slow.test '/drip?n=12&interval_ms=500' -o "$T/d.b" -w '%{http_code}' 2>/dev/null || true)
dt=$(($(now_ms) - t0))
expect_eq "drip longer than read_timeout: 200" "$st" 200
expect_eq "drip: all 12 bytes" "$(wc -c <"$T/d.b")" 12
check "drip really took longer than the read timeout (got $dt ms)" in_range "$dt" 5000 20000
expect_eq "slowhead shorter than read_timeout: 200" "$(status_of a slow.test '/slowhead?ms=1200')" 200
expect_eq "slowhead longer than read_timeout: 504" "$(status_of a slow.test '/slowhead?ms=4000')" 504

# 413: declared Content-Length over the limit never reaches the upstream.
head -c 2000000 /dev/urandom >"$T/big"
st=$(pcurl a up.test '/echo?big=cl' -X POST --data-binary @"$T/big" -o "$T/b.b" -w '%{http_code}' 2>/dev/null || true)
expect_eq "declared body over limit: 413" "$st" 413
expect_eq "413 body" "$(cat "$T/b.b" 2>/dev/null)" "Payload Too Large"
sleep 0.2
expect_eq "413 (declared) did not reach the upstream" "$(up_req_count "$PLAIN_LOG" '[A-Z]+ /echo\?big=cl$')" 0
# Expect: 100-continue with a too-large declared body: 413 without the body.
st=$(pcurl a up.test '/echo?big=expect' -X POST -H 'Expect: 100-continue' --data-binary @"$T/big" -o /dev/null -w '%{http_code}' 2>/dev/null || true)
expect_eq "declared body over limit with Expect: 100-continue: 413" "$st" 413
# Exactly at the limit passes.
head -c 1000000 "$T/big" >"$T/atlimit"
out=$(pcurl a up.test '/echo?at=limit' -X POST --data-binary @"$T/atlimit" 2>/dev/null || true)
expect_eq "body of exactly body_limit_bytes passes intact" "$(printf '%s\n' "$out" | sed -n 's/^body-sha256: //p')" \
	"$(sha256sum <"$T/atlimit" | cut -d' ' -f1)"

# Chunked upload over the limit: 413 or the connection cut; never a complete
# forwarded body.
st=$(pcurl a up.test '/echo?big=chunked' -X POST -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" -o /dev/null -w '%{http_code}' 2>/dev/null || true)
log "chunked upload over the limit: status '$st'"
case $st in
413) ok "chunked body over limit: 413" ;;
000) ok "chunked body over limit: connection cut (no response)" ;;
*) fail "chunked body over limit: got '$st', want 413 or a cut connection" ;;
esac
sleep 0.3
check "chunked body over limit never completed upstream" bash -c "! grep -q '^DONE /echo?big=chunked 200' '$PLAIN_LOG'"
# Chunked upload under the limit passes intact.
head -c 600000 "$T/big" >"$T/small"
out=$(pcurl a up.test '/echo?small=chunked' -X POST -H 'Transfer-Encoding: chunked' --data-binary @"$T/small" 2>/dev/null || true)
expect_eq "chunked body under limit: sha256" "$(printf '%s\n' "$out" | sed -n 's/^body-sha256: //p')" \
	"$(sha256sum <"$T/small" | cut -d' ' -f1)"
expect_eq "proxy still serves after the 413s" "$(status_of a up.test /echo)" 200

# https upstream: verified against upstream_ca_file; the system store does
# not know the test CA -> 502.
expect_eq "https upstream with upstream_ca_file: 200" "$(status_of a tls.test /echo)" 200
out=$(pcurl a tls.test '/echo?x=1' 2>/dev/null || true)
expect_eq "https upstream: target forwarded" "$(printf '%s\n' "$out" | sed -n 's/^target: //p')" '/echo?x=1'
expect_eq "https upstream without CA (system store): 502" "$(status_of a tlsnoca.test /echo)" 502
check "UPSTREAM_ERROR logged for the certificate failure" grep -qE "WARN UPSTREAM_ERROR .*host=tlsnoca.test" "$PX_LOG"
if grep -E 'UPSTREAM_ERROR .*host=tlsnoca.test' "$PX_LOG" | grep -qiE 'certif|ssl|tls|verif'; then
	ok "UPSTREAM_ERROR names the TLS/certificate failure"
else
	fail "UPSTREAM_ERROR names the TLS/certificate failure: $(grep 'host=tlsnoca.test' "$PX_LOG" | head -n1)"
fi
# Error bodies carry no upstream detail.
check "502 body has no upstream detail" bash -c "[ \"\$(curl -sS --max-time 10 --cacert '$T/a.pem' --resolve tlsnoca.test:$PX_PORT:127.0.0.1 https://tlsnoca.test:$PX_PORT/echo)\" = 'Bad Gateway' ]"

stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
