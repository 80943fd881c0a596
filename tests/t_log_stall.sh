#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Logging never blocks a worker on a stalled stdout (issue 13).
# The proxy's stdout and stderr are a FIFO shrunk to one page (4 KiB) whose
# reader does not read for STALL_SECS (5) seconds, with [logging] file set.
# Proves: while stdout is stalled, 300 sequential requests all get 200,
# none slower than 2 s (a liveness bound: with blocking writes the first
# request after the pipe fills hangs for good); once the reader drains,
# the next line is preceded by `WARN LOG_DROPPED n=…`; the file keeps
# every line, so its event lines (LOG_DROPPED aside) are exactly those on
# stdout plus the sum of the n= values; and stdout holds whole lines only.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3 mkfifo

STALL_SECS=5
REQUESTS=300

gen_cert a a.test
start_upstream
LOG_FILE="$T/file.log" CERTS=a base_config "$T/c.ini"
printf '[site a.test]\nupstream = 127.0.0.1:%s\n' "$UP_PORT" >>"$T/c.ini"

# The reader: opens the FIFO without waiting for a writer, shrinks the
# pipe, says ready, reads nothing for STALL_SECS, writes the time it
# starts reading (epoch ms) to drain_t, copies everything to stdout.log,
# says drained once the pipe is empty, and ends at EOF (or after 50 s).
mkfifo "$T/out.fifo"
python3 - "$T" "$STALL_SECS" <<'PY' &
import fcntl, os, select, sys, time
t, stall = sys.argv[1], float(sys.argv[2])
t_end = time.monotonic() + 50
fd = os.open(t + "/out.fifo", os.O_RDONLY | os.O_NONBLOCK)
fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
open(t + "/reader.ready", "w").close()
time.sleep(stall)
with open(t + "/drain_t", "w") as f:
    f.write("%d\n" % int(time.time() * 1000))
drained = False
with open(t + "/stdout.log", "wb") as out:
    while time.monotonic() < t_end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            if not drained:
                open(t + "/reader.drained", "w").close()
                drained = True
            continue
        d = os.read(fd, 65536)
        if not d:
            break  # every writer closed: the proxy exited
        out.write(d)
        out.flush()
PY
PIDS="$PIDS $!"
READER_PID=$!
wait_file() { # FILE SECS
	local i
	for i in $(seq 1 $(($2 * 20))); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_file "$T/reader.ready" 10 || { echo "FIFO reader did not start"; exit 99; }

# Our own start: the port is read from the file sink, as stdout is stalled.
PX_LOG="$T/stdout.log"
"$PROXY" --config "$T/c.ini" >"$T/out.fifo" 2>&1 &
PX_PID=$!
PIDS="$PIDS $PX_PID"
PX_PORT=
for i in $(seq 1 200); do
	PX_PORT=$(sed -n 's/.* LISTENING proto=https addr=.*:\([0-9]*\)$/\1/p' "$T/file.log" 2>/dev/null | head -n1)
	[ -n "$PX_PORT" ] && break
	kill -0 "$PX_PID" 2>/dev/null || { echo "proxy exited"; cat "$T/file.log"; exit 99; }
	sleep 0.05
done
[ -n "$PX_PORT" ] || { echo "proxy did not start"; cat "$T/file.log"; exit 99; }

# The client: REQUESTS sequential keep-alive requests (a new connection if
# one is closed); stops at the first error, one slower than 2 s, or when
# STALL_SECS have passed (the stall is over by then). Prints
# "ok COUNT", "max_ms N", "end_t EPOCH_MS" (and "error ..." on a failure).
python3 - "$PX_PORT" "$T/a.pem" "$REQUESTS" "$STALL_SECS" >"$T/client.out" <<'PY' || true
import http.client, socket, ssl, sys, time
port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + float(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
class Conn(http.client.HTTPSConnection):
    # a.test on 127.0.0.1, with SNI a.test
    def connect(self):
        s = socket.create_connection(("127.0.0.1", port), self.timeout)
        self.sock = ctx.wrap_socket(s, server_hostname="a.test")
conn, ok, worst = None, 0, 0.0
for i in range(n):
    t0 = time.monotonic()
    try:
        if conn is None:
            conn = Conn("a.test", port, context=ctx, timeout=2)
        conn.request("GET", "/echo?n=%d" % i)
        r = conn.getresponse()
        r.read()
        st = r.status
        if r.will_close:
            conn.close()
            conn = None
    except Exception as e:
        print("error request %d: %s %s" % (i, type(e).__name__, e))
        break
    dt = time.monotonic() - t0
    worst = max(worst, dt)
    if st != 200:
        print("error request %d: status %d" % (i, st))
        break
    if dt > 2:
        print("error request %d: %.2f s" % (i, dt))
        break
    ok += 1
    if ok < n and time.monotonic() > deadline:
        print("error: %d requests in the %s s of the stall" % (ok, sys.argv[4]))
        break
print("ok %d" % ok)
print("max_ms %d" % int(worst * 1000))
print("end_t %d" % int(time.time() * 1000))
PY
got_ok=$(sed -n 's/^ok //p' "$T/client.out")
max_ms=$(sed -n 's/^max_ms //p' "$T/client.out")
end_t=$(sed -n 's/^end_t //p' "$T/client.out")
grep '^error' "$T/client.out" || true
log "requests during the stall: ${got_ok:-0} of $REQUESTS, slowest ${max_ms:-?} ms"
expect_eq "every request answered 200 within 2 s while stdout is stalled" "${got_ok:-0}" "$REQUESTS"

wait_file "$T/reader.drained" 10 || fail "FIFO reader did not drain"
drain_t=$(cat "$T/drain_t" 2>/dev/null || echo 0)
log "client done $((drain_t - ${end_t:-0})) ms before the reader started reading"
check "all requests within the stall window" test "${end_t:-$drain_t}" -lt "$drain_t"

# One more request after the drain: LOG_DROPPED comes before its line.
expect_eq "a request after the drain" "$(CURL_MAX_TIME=5 status_of a a.test /echo)" 200
stop_proxy_timed TERM 10
expect_eq "proxy exit status" "$PX_STATUS" 0
# The reader ends at EOF once the proxy is gone.
wait "$READER_PID" 2>/dev/null || true

ev='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z [A-Z]+ [A-Z0-9_]+( |$)'
file_lines=$(grep -E "$ev" "$T/file.log" | grep -vc ' LOG_DROPPED ' || true)
out_lines=$(grep -E "$ev" "$T/stdout.log" | grep -vc ' LOG_DROPPED ' || true)
reports=$(grep -c ' WARN LOG_DROPPED n=' "$T/stdout.log" || true)
dropped=$(sed -n 's/.* WARN LOG_DROPPED n=\([0-9]*\)$/\1/p' "$T/stdout.log" | awk '{s += $1} END {print s + 0}')
torn=$(grep -vcE "$ev" "$T/stdout.log" || true)
log "event lines: file $file_lines, stdout $out_lines, dropped $dropped in $reports LOG_DROPPED line(s)"
check "stdout has a LOG_DROPPED line" test "$reports" -ge 1
check "most REQUEST lines dropped (the pipe holds about 30): $dropped >= 250" test "$dropped" -ge 250
expect_eq "file lines = stdout lines + dropped" "$file_lines" "$((out_lines + dropped))"
expect_eq "lines on stdout that are not whole events" "$torn" 0
expect_eq "REQUEST lines in the file" "$(grep -c ' INFO REQUEST ' "$T/file.log")" "$((REQUESTS + 1))"
check "the file has the LOG_DROPPED lines too" test "$(grep -c ' WARN LOG_DROPPED n=' "$T/file.log")" -eq "$reports"
check_sanitizer_clean
finish
