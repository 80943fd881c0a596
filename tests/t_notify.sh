#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# sd_notify over NOTIFY_SOCKET (SPEC F11, issue 5), received on a test
# datagram socket. Proves the messages arrive in order: READY=1 (only once
# the https port is bound: the LISTENING line is logged and a TCP connect
# succeeds when it arrives, with MAINPID = the proxy), then per SIGHUP
# RELOADING=1 with a MONOTONIC_USEC that is CLOCK_MONOTONIC now followed by
# READY=1 (STATUS=reloaded, or a failure status for an invalid file, sent
# after the CONFIG_RELOAD line), then STOPPING=1 on SIGTERM; every message
# has a STATUS= line. An abstract socket name (@name) works too.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd certtool python3

gen_cert a a.test
start_upstream
CERTS=a base_config "$T/c.ini"
printf '[site a.test]\nupstream = 127.0.0.1:%s\n' "$UP_PORT" >>"$T/c.ini"

# recv.py ADDR OUT LOG READYFILE: bind ADDR (a path, or @name = abstract),
# create READYFILE, then write one JSON line per datagram: the message, the
# CLOCK_MONOTONIC time of receipt in us, whether LISTENING was in LOG, the
# number of CONFIG_RELOAD lines in LOG, and whether a connect to the
# logged port worked. Exits 1 s after STOPPING=1, or after 40 s.
cat >"$T/recv.py" <<'PY'
import json, os, re, socket, sys, time
addr, out, logf, ready = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
s.settimeout(0.1)
open(ready, "w").close()
t_end = time.monotonic() + 40
with open(out, "w") as f:
    while time.monotonic() < t_end:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        mono = time.monotonic_ns() // 1000
        text = open(logf).read() if os.path.exists(logf) else ""
        m = re.search(r" LISTENING proto=https addr=.*:(\d+)$", text, re.M)
        conn = False
        if m:
            try:
                socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=2).close()
                conn = True
            except OSError:
                pass
        f.write(json.dumps({"msg": msg, "mono_us": mono, "listening": bool(m),
                            "reloads": text.count(" CONFIG_RELOAD "), "connect": conn}) + "\n")
        f.flush()
        if msg.startswith("STOPPING=1"):
            t_end = min(t_end, time.monotonic() + 1)
PY

# wait_msgs FILE N: wait (10 s) until FILE has N messages.
wait_msgs() {
	local i
	for i in $(seq 1 200); do
		[ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
# field FILE N EXPR: python expression over message N (1-based) as m.
field() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
m = json.loads(lines[n - 1]) if len(lines) >= n else {"msg": "", "mono_us": 0, "listening": False, "reloads": 0, "connect": False}
kv = dict(l.split("=", 1) for l in m["msg"].split("\n") if "=" in l)
print(eval(sys.argv[3]))
PY
}

# ---- a socket path ----
N="$T/notify.sock"
python3 "$T/recv.py" "$N" "$T/msgs" "$T/proxy.log" "$T/recv.ready" &
RECV=$!
PIDS="$PIDS $RECV"
for i in $(seq 1 100); do [ -e "$T/recv.ready" ] && break; sleep 0.05; done
T0=$(now_ms)
NOTIFY_SOCKET=$N start_proxy "$T/c.ini"
wait_msgs "$T/msgs" 1 || fail "READY=1 received"
log "READY=1 received $(($(now_ms) - T0)) ms after the proxy was started"
expect_eq "1st message is READY=1" "$(field "$T/msgs" 1 'm["msg"].split("\n")[0]')" "READY=1"
expect_eq "READY=1 arrives after the LISTENING line" "$(field "$T/msgs" 1 'm["listening"]')" True
expect_eq "when READY=1 arrives the https port accepts connections" "$(field "$T/msgs" 1 'm["connect"]')" True
expect_eq "READY=1 carries MAINPID of the proxy" "$(field "$T/msgs" 1 'kv.get("MAINPID")')" "$PX_PID"
expect_eq "READY=1 carries a STATUS= line" "$(field "$T/msgs" 1 '"STATUS" in kv')" True

reload_proxy
expect_eq "valid reload" "$RELOAD_RESULT" success
wait_msgs "$T/msgs" 3 || fail "reload messages received"
expect_eq "2nd message is RELOADING=1" "$(field "$T/msgs" 2 'm["msg"].split("\n")[0]')" "RELOADING=1"
d=$(field "$T/msgs" 2 'int(kv.get("MONOTONIC_USEC", "0")) - m["mono_us"]')
log "MONOTONIC_USEC minus receiver's CLOCK_MONOTONIC at receipt: $d us"
[ "$d" -le 100000 ] && [ "$d" -ge -5000000 ] && ok "MONOTONIC_USEC is CLOCK_MONOTONIC (within 5 s)" ||
	fail "MONOTONIC_USEC is CLOCK_MONOTONIC: off by $d us"
expect_eq "RELOADING=1 carries a STATUS= line" "$(field "$T/msgs" 2 '"STATUS" in kv')" True
expect_eq "3rd message is READY=1" "$(field "$T/msgs" 3 'm["msg"].split("\n")[0]')" "READY=1"
expect_eq "READY=1 after the reload is sent after CONFIG_RELOAD" "$(field "$T/msgs" 3 'm["reloads"]')" 1
expect_eq "READY=1 after the reload says STATUS=reloaded" "$(field "$T/msgs" 3 'kv.get("STATUS")')" reloaded
log "reload: RELOADING=1 to READY=1 took $(field "$T/msgs" 3 '(m["mono_us"] - int(json.loads(lines[1])["mono_us"])) // 1000') ms"

cp "$T/c.ini" "$T/c.ini.good"
echo "[broken" >>"$T/c.ini"
reload_proxy
expect_eq "invalid reload fails" "$RELOAD_RESULT" failure
wait_msgs "$T/msgs" 5 || fail "messages of the failed reload received"
expect_eq "4th message is RELOADING=1" "$(field "$T/msgs" 4 'm["msg"].split("\n")[0]')" "RELOADING=1"
expect_eq "5th message is READY=1 (still serving)" "$(field "$T/msgs" 5 'm["msg"].split("\n")[0]')" "READY=1"
expect_eq "READY=1 after a failed reload says it failed" "$(field "$T/msgs" 5 '"fail" in kv.get("STATUS", "")')" True
cp "$T/c.ini.good" "$T/c.ini"

stop_proxy_timed TERM 30
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
wait "$RECV" || true
expect_eq "6th message is STOPPING=1" "$(field "$T/msgs" 6 'm["msg"].split("\n")[0]')" "STOPPING=1"
expect_eq "STOPPING=1 carries a STATUS= line" "$(field "$T/msgs" 6 '"STATUS" in kv')" True
expect_eq "exactly six messages" "$(wc -l <"$T/msgs")" 6
expect_eq "message order" "$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["msg"].split("\n")[0] for l in open(sys.argv[1])))' "$T/msgs")" \
	"READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1"
mv "$PX_LOG" "$T/proxy-path.log"

# ---- an abstract socket name ----
A="@rp-test-notify-$$-$RANDOM"
python3 "$T/recv.py" "$A" "$T/msgs2" "$T/proxy.log" "$T/recv2.ready" &
RECV=$!
PIDS="$PIDS $RECV"
for i in $(seq 1 100); do [ -e "$T/recv2.ready" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$A start_proxy "$T/c.ini"
wait_msgs "$T/msgs2" 1 || fail "abstract: READY=1 received"
expect_eq "abstract socket: READY=1" "$(field "$T/msgs2" 1 'm["msg"].split("\n")[0]')" "READY=1"
reload_proxy
wait_msgs "$T/msgs2" 3 || fail "abstract: reload messages received"
stop_proxy_timed TERM 30
expect_eq "abstract socket: SIGTERM exits 0" "$PX_STATUS" 0
wait "$RECV" || true
expect_eq "abstract socket: message order" "$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["msg"].split("\n")[0] for l in open(sys.argv[1])))' "$T/msgs2")" \
	"READY=1 RELOADING=1 READY=1 STOPPING=1"
finish
