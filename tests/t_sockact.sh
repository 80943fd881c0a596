#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# systemd socket activation (issue 20, SPEC F20): systemd-socket-activate
# (Debian's systemd package) hands the HTTPS and port-80 listening sockets
# to the daemon (LISTEN_FDS, LISTEN_FDNAMES=https:http); a restart — SIGTERM,
# then the daemon started again on the same sockets, which a parent shell
# keeps open as the service manager would — refuses no connection: a client
# making a new TLS connection every 20 ms across it sees every request
# answered.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd systemd-socket-activate curl certtool python3 pgrep

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gen_cert a a.test
start_upstream
HP=$(port)
HTTP=$(port)
CERTS="a" base_config "$T/c.ini"
sed -i "s/^https_port = 0\$/https_port = $HP/; s/^http_port = 0\$/http_port = $HTTP/" "$T/c.ini"
printf '[site a.test]\nupstream = 127.0.0.1:%s\n' "$UP_PORT" >>"$T/c.ini"
PX_LOG="$T/proxy.log"
: >"$PX_LOG"
envs=(-E PATH)
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do [ -n "${!v:-}" ] && envs+=(-E "$v"); done
# The shell keeps the sockets (as systemd would) and starts the daemon
# twice; each run gets LISTEN_PID = its own PID (exec keeps the
# subshell's), as a service manager sets it.
systemd-socket-activate -l "127.0.0.1:$HP" -l "127.0.0.1:$HTTP" --fdname=https:http "${envs[@]}" -- \
	/bin/bash -c 'for i in 1 2; do ( export LISTEN_PID=$BASHPID; exec "$0" --config "$1" ) >>"$2" 2>&1; done' \
	"$PROXY" "$T/c.ini" "$PX_LOG" >"$T/ssa.log" 2>&1 &
SSA_PID=$!
PIDS="$PIDS $SSA_PID"
for _ in $(seq 1 100); do grep -q "Listening on 127.0.0.1:$HTTP" "$T/ssa.log" && break; sleep 0.05; done
# the first connection starts the daemon
PX_PORT=$HP
first_st=$(CURL_MAX_TIME=20 pcurl a a.test /echo -o /dev/null -w '%{http_code}' 2>"$T/first.err" || true)
expect_eq "first request (activates the daemon)" "$first_st" 200
[ "$first_st" = 200 ] || { cat "$T/first.err" "$T/ssa.log" "$PX_LOG"; }
grep -q 'SOCKET_ACTIVATION status=inherited listener=https fd=3' "$PX_LOG" && ok "HTTPS socket inherited (fd 3)" || { fail "HTTPS socket inherited"; cat "$PX_LOG"; }
grep -q 'SOCKET_ACTIVATION status=inherited listener=http fd=4' "$PX_LOG" && ok "port-80 socket inherited (fd 4)" || fail "port-80 socket inherited"
expect_eq "port 80 served on the inherited socket" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/health")" 200

# a client loop across a restart
cat >"$T/loop.py" <<'PY'
import socket, ssl, sys, time
port, ca, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
ok = refused = other = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        t = ctx.wrap_socket(s, server_hostname="a.test")
        t.sendall(b"GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = t.recv(65536)
            if not b:
                break
            data += b
        t.close()
        if data.startswith(b"HTTP/1.1 200"):
            ok += 1
        else:
            other += 1
            print("failure: answer", data[:60], file=sys.stderr)
    except ConnectionRefusedError:
        refused += 1
    except Exception as e:
        other += 1
        print("failure:", repr(e), file=sys.stderr)
    time.sleep(0.02)
print(ok, refused, other)
PY
python3 "$T/loop.py" "$HP" "$T/a.pem" 4 >"$T/loop.out" 2>"$T/loop.err" &
LOOP_PID=$!
sleep 1
first=$(pgrep -f -- "--config $T/c.ini" | head -n1)
kill -TERM "$first"
wait_log_count 'SOCKET_ACTIVATION status=inherited listener=https' 2 15 && ok "restarted on the same sockets" || { fail "restarted"; cat "$PX_LOG"; }
wait "$LOOP_PID" || true
read -r n_ok n_refused n_other <"$T/loop.out" || true
log "client loop across the restart: $n_ok answered, $n_refused refused, $n_other other failures"
sed 's/^/# /' "$T/loop.err"
expect_eq "no connection refused across the restart" "$n_refused" 0
expect_eq "no other failure" "$n_other" 0
[ "${n_ok:-0}" -ge 20 ] && ok "the loop ran ($n_ok requests)" || fail "the loop ran: ${n_ok:-0}"
grep -q 'SHUTDOWN status=stopped' "$PX_LOG" && ok "the first run shut down cleanly" || fail "the first run shut down cleanly"
second=$(pgrep -f -- "--config $T/c.ini" | head -n1)
[ -n "$second" ] && [ "$second" != "$first" ] && ok "a second process serves" || fail "a second process serves"
kill -TERM "$second"
st=0; wait "$SSA_PID" || st=$?
expect_eq "the holder ends after the second run" "$st" 0
check_sanitizer_clean
cp "$PX_LOG" "$T/proxy-activated.log"
# without LISTEN_FDS the daemon binds itself (the ordinary start)
start_proxy "$T/c.ini"
grep -q 'SOCKET_ACTIVATION' "$PX_LOG" && fail "no SOCKET_ACTIVATION without LISTEN_FDS" || ok "no SOCKET_ACTIVATION without LISTEN_FDS"
expect_eq "served after binding itself" "$(status_of a a.test /echo)" 200
check_sanitizer_clean
stop_proxy
finish
