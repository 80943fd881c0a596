#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Abusive clients (SPEC F3, F4, F13; issue 7): invalid chunk sizes and an
# oversized chunk-size line in a request body get 400 or a closed
# connection and never a complete request at the upstream; header bombs
# (1000 header lines, one 100 KiB line) get 431 and a 64 KiB URI 414;
# random bytes and a truncated ClientHello on the TLS port are dropped; a
# slow POST does not hold up other clients; and under a slowloris attack
# (up to 2000 TLS connections dribbling a request head one byte a second)
# a normal client's 50 sequential requests all succeed, with their p99
# latency logged (issue 7 asks for < 200 ms; asserted < 1000 ms because
# timing on a shared 2-core CI box is noisy) and when the proxy's own
# timeouts cut the dribbling connections reported. After each abuse the
# proxy still serves; the sanitizer log is clean at the end.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3

# Descriptors: the slowloris client needs one per connection, the proxy two
# per connection (max_connections is checked against RLIMIT_NOFILE).
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$hard" ]; then
	ulimit -Sn "$hard" 2>/dev/null || true
fi
nofile=$(ulimit -Sn)
[ "$nofile" = unlimited ] && nofile=1048576
MAXCONN=4096
[ $(((nofile - 64) / 2)) -lt $MAXCONN ] && MAXCONN=$(((nofile - 64) / 2))
SLOW_N=${SLOWLORIS_N:-2000}
SLOWLORIS_SKIPPED=0
[ $((MAXCONN - 100)) -lt "$SLOW_N" ] && SLOW_N=$((MAXCONN - 100))
[ $((nofile - 200)) -lt "$SLOW_N" ] && SLOW_N=$((nofile - 200))
log "RLIMIT_NOFILE soft $nofile (hard $hard): max_connections = $MAXCONN, slowloris connections = $SLOW_N"

gen_cert a a.test
start_upstream
HS_TIMEOUT=3
IDLE_TIMEOUT=5
HEAD_TIMEOUT=8
CERTS="a" base_config "$T/c.ini" "$(printf 'max_connections = %s\ntls_handshake_timeout_secs = %s\nidle_timeout_secs = %s\nheader_timeout_secs = %s' \
	"$MAXCONN" "$HS_TIMEOUT" "$IDLE_TIMEOUT" "$HEAD_TIMEOUT")"
# The slowloris connections all come from 127.0.0.1: the per-address cap
# (t_connlimit.sh) is off here so that the head deadline alone is tested.
cat >>"$T/c.ini" <<EOT
[limits]
max_connections_per_ip = 0

[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/c.ini"
expect_eq "warm-up request" "$(status_of a a.test /echo)" 200

# still_serving DESC: the proxy is alive and a normal request gets 200.
still_serving() {
	if ! kill -0 "$PX_PID" 2>/dev/null; then
		fail "$1: proxy process died"
		return
	fi
	expect_eq "$1: proxy still serves (normal request 200)" "$(CURL_MAX_TIME=10 status_of a a.test '/echo?after=1')" 200
}

# is_400_or_closed STATUS: a 400, or the connection closed or reset (not a
# timeout, not another status).
is_400_or_closed() {
	case $1 in
	*" 400 "* | EOF | "ERR ConnectionResetError" | "ERR BrokenPipeError" | "ERR SSL"*) return 0 ;;
	*) return 1 ;;
	esac
}

# ---- invalid chunked request bodies ----
# badchunk ID DESC BODY: a chunked POST /echo?s=ID with BODY (printf %b)
# gets 400 (413 for a chunk size beyond any body limit) or a closed
# connection (never 2xx, never a hang), an error reply is in the F4 form,
# and the upstream never sees the request complete (no DONE line; a REQ
# line is allowed, since the head may be streamed on before the body is
# read).
badchunk() {
	local id=$1 desc=$2 reply st
	reply=$( { printf '%b' "POST /echo?s=$id HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"; printf '%b' "$3"; } |
		RAW_TIMEOUT=8 raw_reply a a.test)
	st=$(printf '%s\n' "$reply" | sed -n 1p)
	if is_400_or_closed "$st"; then
		ok "$desc: 400 or closed ($st)"
	elif [ "$id" = ovf ] && [ "${st#HTTP/1.1 413 }" != "$st" ]; then
		ok "$desc: 413 ($st)"
	elif [ "$id" = zeros ] || [ "$id" = ext ] && [ "${st#HTTP/1.1 500 }" != "$st" ]; then
		# libmicrohttpd 0.9.75 answers a chunk-size line that does not
		# fit its read buffer with 500 and closes (connection.c,
		# MHD_CONNECTION_CONTINUE_SENT); no hook lets us change it.
		ok "$desc: refused by libmicrohttpd ($st; documented deviation: 400 wanted)"
	elif [ "$id" = zeros ] || [ "$id" = ext ] && [ "${st#HTTP/1.1 413 }" != "$st" ]; then
		# libmicrohttpd 1.0.1 (Debian 13) answers the same with 413
		# Content Too Large and closes; a refusal all the same.
		ok "$desc: refused by libmicrohttpd 1.0 ($st; documented deviation: 400 wanted)"
	else
		fail "$desc: got '$st', want 400 or a closed connection"
	fi
	check_error_format_mhd "$desc" "$reply"
	sleep 0.2
	expect_eq "$desc: never a complete request at the upstream" "$(grep -cE "^DONE /echo\\?s=$id " "$UP_LOG" || true)" 0
	log "$desc: upstream saw the head: $(up_req_count "$UP_LOG" "POST /echo\\?s=$id\$")"
}
badchunk zz "chunk size 'zz'" 'zz\r\nhello\r\n0\r\n\r\n'
badchunk neg "chunk size '-5'" '-5\r\nhello\r\n0\r\n\r\n'
badchunk hex0x "chunk size '0x5'" '0x5\r\nhello\r\n0\r\n\r\n'
badchunk ovf "chunk size overflowing 64 bits (20 f)" 'ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n'
badchunk long "chunk data longer than its size" '3\r\nhello\r\n0\r\n\r\n'
badchunk afterok "bad size after a valid chunk" '5\r\nhello\r\nzz\r\nx\r\n0\r\n\r\n'
zeros=$(head -c 102400 /dev/zero | tr '\0' 0)
badchunk zeros "100 KiB chunk-size line (leading zeros)" "${zeros}5\\r\\nhello\\r\\n0\\r\\n\\r\\n"
ext=$(head -c 102400 /dev/zero | tr '\0' e)
badchunk ext "100 KiB chunk-size line (chunk extension)" "5;${ext}\\r\\nhello\\r\\n0\\r\\n\\r\\n"
still_serving "after the invalid chunked bodies"

# ---- header bombs and an oversized URI ----
# bomb DESC WANT [mhd]: stdin is a raw request; its status must be WANT, in
# the SPEC F4 form (with "mhd": or libmicrohttpd's own page, for heads
# larger than the connection memory, which it refuses before we see them).
# It reads a file, not a pipe: at the end of a pipe it ran in a subshell
# and its failures were lost (issue 15).
bomb() {
	local reply st
	reply=$(RAW_TIMEOUT=8 raw_reply a a.test)
	st=$(printf '%s\n' "$reply" | sed -n 1p)
	case $st in HTTP/*) st=${st#* } ;; esac
	expect_eq "$1" "$st" "$2"
	if [ "${3:-}" = mhd ]; then
		check_error_format_mhd "$1" "$reply"
	else
		check_error_format "$1" "$reply"
	fi
}
{
	printf 'GET /echo?s=bomb200 HTTP/1.1\r\nHost: a.test\r\n'
	for i in $(seq 1 200); do printf 'X-Bomb-%d: v\r\n' "$i"; done
	printf 'Connection: close\r\n\r\n'
} >"$T/bomb.req"
bomb "200 header lines: 431" "431 Request Header Fields Too Large" <"$T/bomb.req"
{
	printf 'GET /echo?s=bomb9k HTTP/1.1\r\nHost: a.test\r\nX-Big: '
	head -c 9000 /dev/zero | tr '\0' b
	printf '\r\nConnection: close\r\n\r\n'
} >"$T/bomb.req"
bomb "one 9000-byte header line: 431" "431 Request Header Fields Too Large" <"$T/bomb.req"
{
	printf 'GET /echo?s=uri9k&x='
	head -c 9000 /dev/zero | tr '\0' u
	printf ' HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'
} >"$T/bomb.req"
bomb "9000-byte URI: 414" "414 URI Too Long" <"$T/bomb.req"
{
	printf 'GET /echo?s=okbig&x='
	head -c 8000 /dev/zero | tr '\0' u
	printf ' HTTP/1.1\r\nHost: a.test\r\nX-Big: '
	head -c 8000 /dev/zero | tr '\0' b
	printf '\r\nConnection: close\r\n\r\n'
} >"$T/bomb.req"
bomb "8000-byte URI and header line: served" "200 OK" <"$T/bomb.req"
{
	printf 'GET /echo?s=bomb1000 HTTP/1.1\r\nHost: a.test\r\n'
	for i in $(seq 1 1000); do printf 'X-Bomb-%d: v\r\n' "$i"; done
	printf 'Connection: close\r\n\r\n'
} >"$T/bomb.req"
bomb "1000 header lines: 431" "431 Request Header Fields Too Large" mhd <"$T/bomb.req"
{
	printf 'GET /echo?s=bomb100k HTTP/1.1\r\nHost: a.test\r\nX-Big: '
	head -c 102400 /dev/zero | tr '\0' b
	printf '\r\nConnection: close\r\n\r\n'
} >"$T/bomb.req"
bomb "one 100 KiB header line: 431" "431 Request Header Fields Too Large" mhd <"$T/bomb.req"
{
	printf 'GET /echo?s=uri64k&x='
	head -c 65536 /dev/zero | tr '\0' u
	printf ' HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'
} >"$T/bomb.req"
bomb "64 KiB URI: 414" "414 URI Too Long" mhd <"$T/bomb.req"
sleep 0.2
expect_eq "no header bomb reached the upstream" "$(up_req_count "$UP_LOG" '[A-Z]+ /echo\?s=(bomb|uri)')" 0
expect_eq "the 8000-byte URI reached the upstream once" "$(up_req_count "$UP_LOG" 'GET /echo\?s=okbig&x=u+$')" 1
still_serving "after the header bombs"

# ---- garbage on the TLS port ----
got=$(tcp_end_after 'random.Random(7).randbytes(4096)' 10)
log "4 KiB of random bytes (seed 7): $got"
case $got in closed*) ok "4 KiB of random bytes: connection closed ($got)" ;; *) fail "4 KiB of random bytes: $got" ;; esac
got=$(tcp_end_after 'b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"' 10)
case $got in closed*) ok "plain HTTP on the TLS port: connection closed ($got)" ;; *) fail "plain HTTP on the TLS port: $got" ;; esac
got=$(tcp_end_after 'b"\x16\x03\x01\x40\x00" + random.Random(8).randbytes(16384)' 10)
case $got in closed*) ok "TLS record header + 16 KiB random handshake: closed ($got)" ;; *) fail "TLS record header + random handshake: $got" ;; esac
# A real ClientHello, cut in half, then the client closes; and cut in half
# then stalled (closed by tls_handshake_timeout_secs = $HS_TIMEOUT).
CH=$(python3 -c '
import ssl
ctx = ssl.create_default_context()
i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
s = ctx.wrap_bio(i, o, server_hostname="a.test")
try:
    s.do_handshake()
except ssl.SSLWantReadError:
    pass
print(o.read().hex())')
log "ClientHello: $((${#CH} / 2)) bytes"
python3 - "$PX_PORT" "$CH" <<'PY'
import socket, sys
ch = bytes.fromhex(sys.argv[2])
for cut in (3, 5, 9, len(ch) // 2, len(ch) - 1):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(ch[:cut])
    s.close()
PY
still_serving "after truncated ClientHellos closed by the client"
got=$(tcp_end_after "bytes.fromhex('$CH')[:$((${#CH} / 4))]" 12)
log "half a ClientHello, then silence: $got (tls_handshake_timeout_secs = $HS_TIMEOUT)"
case $got in closed*) ok "half a ClientHello then silence: closed by the handshake timeout ($got)" ;; *) fail "half a ClientHello then silence: $got" ;; esac
# Garbage after a good handshake: 4 KiB of random bytes as the request.
got=$(python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(9).randbytes(4096))' | raw_status a a.test)
if is_400_or_closed "$got"; then
	ok "4 KiB of random bytes inside TLS: $got"
else
	fail "4 KiB of random bytes inside TLS: got '$got', want 400 or a closed connection"
fi
still_serving "after garbage on the TLS port"

# ---- slow POST: 15 body bytes at one per 200 ms, while others are served ----
python3 - "$PX_PORT" "$T/a.pem" >"$T/slowpost.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
t0 = time.monotonic()
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10), server_hostname="a.test")
    s.sendall(b"POST /echo?s=slowpost HTTP/1.1\r\nHost: a.test\r\nContent-Length: 15\r\nConnection: close\r\n\r\n")
    for b in b"slow-post-body!":
        time.sleep(0.2)
        s.sendall(bytes([b]))
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    line = buf.split(b"\r\n")[0].decode("latin-1")
    print("%s|%s|%.2f" % (line or "EOF", "body-length: 15" in buf.decode("latin-1"), time.monotonic() - t0))
except Exception as e:
    print("cut (%s)|False|%.2f" % (type(e).__name__, time.monotonic() - t0))
PY
sp_pid=$!
worst=0
nok=0
for i in $(seq 1 10); do
	timed_ms ms status_of a a.test "/echo?during-slowpost=$i" >"$T/sp.code" || true
	[ "$(cat "$T/sp.code")" = 200 ] && nok=$((nok + 1))
	[ "$ms" -gt "$worst" ] && worst=$ms
	sleep 0.2
done
wait "$sp_pid" || true
IFS='|' read -r sp_line sp_full sp_secs <"$T/slowpost.out" || true
log "slow POST: '$sp_line', complete body at the upstream: $sp_full, $sp_secs s; 10 other requests meanwhile: $nok x 200, slowest $worst ms"
expect_eq "slow POST: other clients served meanwhile (10 x 200)" "$nok" 10
check "slow POST: other clients not held up (slowest $worst ms < 2000)" test "$worst" -lt 2000
case $sp_line in
*" 200 "*) expect_eq "slow POST completed: whole body reached the upstream" "$sp_full" True ;;
*) ok "slow POST cut by a timeout ($sp_line)"
	expect_eq "slow POST cut: never a complete request at the upstream" "$(grep -c '^DONE /echo?s=slowpost ' "$UP_LOG" || true)" 0 ;;
esac

# ---- slowloris ----
if [ "$SLOW_N" -lt 100 ]; then
	# Not a pass: the claim is not proven (a skip counts as a failure in
	# CI). The checks above still count.
	log "SKIPPED slowloris: only $SLOW_N connections possible with RLIMIT_NOFILE $nofile"
	SLOWLORIS_SKIPPED=1
else
	HOLD=16
	python3 - "$PX_PORT" "$T/a.pem" "$SLOW_N" "$HOLD" "$T/sl.go" >"$T/sl.out" 2>"$T/sl.err" <<'PY' &
import asyncio, os, random, ssl, sys, time
port, ca, n, hold, gofile = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
HEAD = b"GET /echo?s=slowloris HTTP/1.1\r\nHost: a.test\r\n" + b"".join(b"X-Slow-%d: v\r\n" % i for i in range(100))
opened, failed, cut = 0, 0, []
t_ready = None
sem = asyncio.Semaphore(64)
async def one(i, stop):
    global opened, failed
    try:
        async with sem:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="a.test"), 15)
    except Exception:
        failed += 1
        return
    opened += 1
    t_open = time.monotonic()
    rnd = random.Random(i)
    await asyncio.sleep(rnd.random())
    k = 0
    while not stop.is_set() and k < len(HEAD):
        try:
            w.write(HEAD[k:k + 1])
            await w.drain()
            k += 1
            d = await asyncio.wait_for(r.read(4096), 0.9 + rnd.random() * 0.2)
            if not d:
                cut.append(time.monotonic() - t_open)
                w.close()
                return
        except asyncio.TimeoutError:
            continue
        except Exception:
            cut.append(time.monotonic() - t_open)
            return
    w.close()
async def main():
    global t_ready
    stop = asyncio.Event()
    t0 = time.monotonic()
    tasks = [asyncio.create_task(one(i, stop)) for i in range(n)]
    while opened + failed < n and time.monotonic() - t0 < 20:
        await asyncio.sleep(0.1)
    t_ready = time.monotonic()
    print("READY opened=%d failed=%d ramp=%.1fs" % (opened, failed, t_ready - t0), flush=True)
    open(gofile, "w").close()
    while time.monotonic() - t_ready < hold:
        await asyncio.sleep(0.2)
    still = opened - len(cut)
    stop.set()
    await asyncio.wait(tasks, timeout=5)
    cut.sort()
    q = lambda p: ("%.1f" % cut[min(len(cut) - 1, int(p * len(cut)))]) if cut else "-"
    print("END opened=%d failed=%d cut=%d still_open=%d cut_after_s(min/median/max)=%s/%s/%s" %
          (opened, failed, len(cut), still, q(0), q(0.5), q(1.0)), flush=True)
asyncio.run(main())
PY
	sl_pid=$!
	PIDS="$PIDS $sl_pid"
	for _ in $(seq 1 300); do [ -e "$T/sl.go" ] && break; kill -0 "$sl_pid" 2>/dev/null || break; sleep 0.1; done
	log "slowloris: $(head -n1 "$T/sl.out" 2>/dev/null)"
	opened=$(sed -n 's/^READY opened=\([0-9]*\).*/\1/p' "$T/sl.out")
	check "slowloris: at least 90% of $SLOW_N connections open (${opened:-0})" test "${opened:-0}" -ge $((SLOW_N * 9 / 10))
	log "slowloris: proxy holds $(ls "/proc/$PX_PID/fd" | wc -l) descriptors"
	# A normal client: 50 sequential requests, each on a new TLS connection.
	python3 - "$PX_PORT" "$T/a.pem" >"$T/normal.out" 2>&1 <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
lat, okn = [], 0
for i in range(50):
    t0 = time.monotonic()
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10), server_hostname="a.test")
        s.sendall(b"GET /echo?s=normal HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.close()
        if buf.startswith(b"HTTP/1.1 200 ") and b"body-sha256:" in buf:
            okn += 1
    except Exception:
        pass
    lat.append((time.monotonic() - t0) * 1000)
    time.sleep(0.05)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("%d %d %d %d" % (okn, p(0.5), p(0.99), lat[-1]))
PY
	read -r n_ok p50 p99 pmax <"$T/normal.out" || true
	log "slowloris: normal client $n_ok/50 x 200, latency p50 ${p50:-?} ms, p99 ${p99:-?} ms, max ${pmax:-?} ms (issue 7 target: p99 < 200 ms)"
	expect_eq "slowloris: all 50 normal requests succeed" "${n_ok:-0}" 50
	check "slowloris: normal client p99 ${p99:-?} ms < 1000 ms (target 200)" test "${p99:-99999}" -lt 1000
	wait "$sl_pid" || true
	end=$(grep '^END' "$T/sl.out" || true)
	log "slowloris: $end (tls_handshake_timeout_secs $HS_TIMEOUT, idle_timeout_secs $IDLE_TIMEOUT, held $HOLD s)"
	cutn=$(printf '%s\n' "$end" | sed -n 's/.* cut=\([0-9]*\).*/\1/p')
	# The connections dribble a byte about every second, below every
	# inactivity timeout; only a deadline on the whole request head cuts
	# them. Within HOLD s all of them should have been cut.
	check "slowloris: the proxy's timeouts cut the dribbling connections within $HOLD s (${cutn:-0} of ${opened:-0} cut)" \
		test "${cutn:-0}" -ge "${opened:-1}"
	nhead=$(grep -c 'HEAD_TIMEOUT client_ip=127.0.0.1 ' "$PX_LOG" || true)
	check "slowloris: every cut connection logged as HEAD_TIMEOUT ($nhead lines for ${cutn:-0} cut)" test "$nhead" -ge "${cutn:-1}"
	still_serving "after the slowloris"
fi

sleep 0.2
expect_eq "slowloris heads never reached the upstream" "$(up_req_count "$UP_LOG" '[A-Z]+ /echo\?s=slowloris')" 0
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
if [ "${SLOWLORIS_SKIPPED:-0}" = 1 ] && [ "$FAILS" -eq 0 ]; then
	echo "SKIP: the slowloris part did not run (RLIMIT_NOFILE $nofile)"
	exit 77
fi
finish
