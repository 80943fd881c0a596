#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Trickling clients cannot take the upstream's threads (issue 16, finding
# 7). The upstream is python's http.server with one thread per connection
# and at most 6 of them (a busy server answers 503 at once, as a
# thread-pool server refuses work; the proxy's idle pooled connections
# hold threads too, one or two per worker). Five clients trickle: three send small
# bodies a byte per second, one sends 80 KiB quickly and then a byte per
# second, one reads a 16 MiB response 16 bytes per second (and a sixth
# trickles its upload to an upstream that answers 4 MiB first). Meanwhile normal
# requests must all be served: small bodies are buffered before the
# upstream is contacted, and a client that holds an upstream transfer up
# below client_min_rate (500 B/s over 10 s) is cut (CLIENT_TOO_SLOW).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3

UPSTREAM_PY='
import http.server, socket, sys, threading
busy = threading.Semaphore(6)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        sys.stderr.write("%s %s\n" % (self.command, self.path)); sys.stderr.flush()
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        got = 0
        while got < n:
            d = self.rfile.read(min(65536, n - got))
            if not d:
                return
            got += len(d)
        self.reply(200, b"got %d\n" % got)
    def do_GET(self):
        if self.path == "/big":
            n = 16 << 20
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            block = b"b" * 65536
            for i in range(n // 65536):
                self.wfile.write(block)
        else:
            self.reply(200, b"ok\n")
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def process_request(self, request, client_address):
        if not busy.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n")
            except OSError:
                pass
            self.shutdown_request(request)
            sys.stderr.write("REFUSED\n"); sys.stderr.flush()
            return
        def run():
            try:
                self.finish_request(request, client_address)
            except Exception:
                pass
            finally:
                self.shutdown_request(request)
                busy.release()
        threading.Thread(target=run, daemon=True).start()
s = S(("127.0.0.1", 0), H)
print("PORT %d" % s.server_address[1], flush=True)
s.serve_forever()
'
# trickler KIND: one slow client against the proxy (runs until cut or 32 s)
TRICKLE_PY='
import socket, ssl, sys, time
port, ca, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=45), server_hostname="a.test")
t0 = time.time()
try:
    if kind == "small-post":
        s.sendall(b"POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n")
        for i in range(100):
            s.sendall(b"x")
            time.sleep(1)
            if time.time() - t0 > 32:
                break
    elif kind == "early-post":
        s.sendall(b"POST /early-bytes?n=4194304 HTTP/1.1\r\nHost: b.test\r\nContent-Length: 1048576\r\n\r\n" + b"y" * 81920)
        while time.time() - t0 < 32:
            s.sendall(b"y")
            time.sleep(1)
    elif kind == "big-post":
        s.sendall(b"POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1048576\r\n\r\n" + b"y" * 81920)
        while time.time() - t0 < 32:
            s.sendall(b"y")
            time.sleep(1)
    else:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n")
        while time.time() - t0 < 32:
            if not s.recv(16):
                break
            time.sleep(1)
    print("%s: ran %.0f s, not cut" % (kind, time.time() - t0))
except OSError as e:
    print("%s: cut after %.0f s (%s)" % (kind, time.time() - t0, type(e).__name__))
'

gen_cert a a.test b.test
# b.test: the C test upstream, whose /early-bytes answers 4 MiB before it
# reads the body (the download pauses while the client still uploads)
start_upstream
python3 -c "$UPSTREAM_PY" >"$T/py.out" 2>"$T/py.log" &
PY_PID=$!
PIDS="$PIDS $PY_PID"
for i in $(seq 1 100); do
	PY_PORT=$(sed -n 's/^PORT //p' "$T/py.out")
	[ -n "$PY_PORT" ] && break
	sleep 0.05
done
[ -n "$PY_PORT" ] || { echo "python upstream did not start"; exit 99; }

CERTS="a" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[limits]
client_min_rate = 500

[site a.test]
upstream = 127.0.0.1:$PY_PORT
read_timeout_secs = 60

[site b.test]
upstream = 127.0.0.1:$UP_PORT
read_timeout_secs = 60
EOT
start_proxy "$T/c.ini"
expect_eq "normal request before" "$(status_of a a.test /n0)" 200

t0=$(now_ms)
for k in small-post small-post small-post big-post slow-read early-post; do
	python3 -c "$TRICKLE_PY" "$PX_PORT" "$T/a.pem" "$k" >>"$T/trickle.out" 2>&1 &
	PIDS="$PIDS $!"
	TPIDS="${TPIDS:-} $!"
done
sleep 3
# Normal requests all through the trickling (about 30 s): every one 200.
bad=0
n=0
while [ $(($(now_ms) - t0)) -lt 30000 ]; do
	n=$((n + 1))
	code=$(status_of a a.test "/n$n")
	[ "$code" = 200 ] || { bad=$((bad + 1)); log "normal request $n at $(($(now_ms) - t0)) ms: $code"; }
	pcode=$(pcurl a a.test /p -d 'hello' -o /dev/null -w '%{http_code}' 2>/dev/null || true)
	[ "$pcode" = 200 ] || { bad=$((bad + 1)); log "normal POST $n at $(($(now_ms) - t0)) ms: $pcode"; }
	sleep 1
done
log "normal requests: $((2 * n)), not 200: $bad"
expect_eq "edge7: no normal request refused while five clients trickle" "$bad" 0
check "edge7: the upstream never refused" test "$(grep -c REFUSED "$T/py.log")" -eq 0
for p in $TPIDS; do wait "$p" 2>/dev/null; done
cat "$T/trickle.out" | sed 's/^/# /'
# (the slow reader itself goes on reading what the kernel's buffers hold)
check "edge7: the slow reader's request ended cut" \
	grep -q 'REQUEST .*path=/big status=200 .*error=' "$PX_LOG"
check "edge7: the slow large upload was cut" grep -q '^big-post: cut' "$T/trickle.out"
check "edge7: CLIENT_TOO_SLOW logged for the upload" \
	grep -q 'WARN CLIENT_TOO_SLOW .*direction=upload' "$PX_LOG"
check "edge7: CLIENT_TOO_SLOW logged for the download" \
	grep -q 'WARN CLIENT_TOO_SLOW .*direction=download' "$PX_LOG"
check "edge7: a trickling upload under an early answer was cut too" \
	grep -q 'WARN CLIENT_TOO_SLOW .*host=b.test .*direction=upload' "$PX_LOG"
# The small bodies were buffered: at most the ones that completed reached
# the upstream (a 100-byte body a byte per second takes 100 s; none did).
n_small=$(grep -c '^POST /p' "$T/py.log" || true)
log "POSTs at the upstream: $n_small (normal ones: $n)"
check "edge7: no trickling small body reached the upstream" test "$n_small" -le $((n + 1))
expect_eq "normal request after" "$(status_of a a.test /n-after)" 200
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
