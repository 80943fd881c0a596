# SPDX-License-Identifier: MIT OR Apache-2.0
# tests/lib.sh: shared helpers for the integration tests. Each test is a
# bash script that sources this file, starts the real reverse-proxy binary
# against real upstreams on loopback, and drives it with real clients.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip (CI counts a skip
# as a failure), 99 hard error.
set -eu

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
PROXY="$top_builddir/bin/reverse-proxy"
UPSTREAM_BIN="$top_builddir/tests/upstream_server"
T=$(mktemp -d "${TMPDIR:-/tmp}/rp-test.XXXXXX")
PIDS=""
FAILS=0
# Test CAs are passed explicitly; never let the environment override them.
unset CURL_CA_BUNDLE SSL_CERT_FILE GIT_SSL_CAINFO SSL_CERT_DIR || true

cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	if [ "$FAILS" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "test files kept in $T"
		[ -f "$T/proxy.log" ] && { echo "--- proxy log (tail) ---"; tail -n 40 "$T/proxy.log"; }
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

log() { printf '# %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
ok() { printf 'ok: %s\n' "$*"; }
# check DESC COMMAND...: run COMMAND, record pass/fail.
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# expect_eq DESC GOT WANT
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi; }
finish() { if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi; exit 0; }
require_cmd() { local c; for c in "$@"; do command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $c not installed"; exit 77; }; done; }

# gen_cert NAME DNS... : self-signed ECDSA P-256 cert for the names (plus
# IP 127.0.0.1) into $T/NAME.pem and $T/NAME.key.
gen_cert() {
	local name=$1; shift
	local tmpl="$T/$name.tmpl" d
	{
		echo "cn = \"$1\""
		for d in "$@"; do echo "dns_name = \"$d\""; done
		echo "ip_address = \"127.0.0.1\""
		echo "expiration_days = 7"
		echo "tls_www_server"
		echo "signing_key"
	} >"$tmpl"
	certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
		--outfile "$T/$name.key" >/dev/null 2>&1
	certtool --generate-self-signed --load-privkey "$T/$name.key" \
		--template "$tmpl" --outfile "$T/$name.pem" >/dev/null 2>&1
}

# start_upstream [ARGS]: sets UP_PORT, UP_PID, UP_LOG (request log).
start_upstream() {
	local n=${UP_N:-0}
	UP_N=$((n + 1))
	UP_LOG="$T/upstream$n.log"
	: >"$UP_LOG"
	"$UPSTREAM_BIN" --listen 127.0.0.1 --port 0 --log "$UP_LOG" "$@" >"$T/upstream$n.out" 2>"$T/upstream$n.err" &
	UP_PID=$!
	PIDS="$PIDS $UP_PID"
	local i
	for i in $(seq 1 100); do
		# The background child may not have opened its output file yet.
		UP_PORT=$(awk '/^PORT /{print $2}' "$T/upstream$n.out" 2>/dev/null || true)
		[ -n "$UP_PORT" ] && return 0
		sleep 0.05
	done
	echo "upstream did not start"; exit 99
}

# start_proxy CONFIG: starts bin/reverse-proxy, waits for LISTENING, sets
# PX_PORT, PX_PID, PX_LOG.
# With VALGRIND=1 the proxy runs under valgrind memcheck (issue 7's
# memcheck run): every error is reported in the proxy log, or with
# VALGRIND_LOG_DIR set in DIR/vg.<test>.<pid>.log, kept after the test
# (scripts/valgrind-suite.sh sums them up).
start_proxy() {
	PX_LOG="$T/proxy.log"
	: >"$PX_LOG"
	if [ "${VALGRIND:-0}" = 1 ]; then
		local vglog=()
		[ -n "${VALGRIND_LOG_DIR:-}" ] &&
			vglog=("--log-file=$VALGRIND_LOG_DIR/vg.$(basename "$0" .sh).%p.log")
		"$top_builddir/libtool" --mode=execute valgrind --quiet \
			--leak-check=full --errors-for-leak-kinds=definite \
			--error-exitcode=99 "${vglog[@]}" "$PROXY" --config "$1" >>"$PX_LOG" 2>&1 &
	else
		"$PROXY" --config "$1" >>"$PX_LOG" 2>&1 &
	fi
	PX_PID=$!
	PIDS="$PIDS $PX_PID"
	local i
	for i in $(seq 1 $(( ${VALGRIND:-0} == 1 ? 1200 : 200 ))); do
		PX_PORT=$(sed -n 's/.* LISTENING proto=https addr=.*:\([0-9]*\)$/\1/p' "$PX_LOG" | head -n1)
		[ -n "$PX_PORT" ] && return 0
		kill -0 "$PX_PID" 2>/dev/null || { echo "proxy exited:"; cat "$PX_LOG"; exit 99; }
		sleep 0.05
	done
	echo "proxy did not start"; cat "$PX_LOG"; exit 99
}

# stop_proxy: SIGTERM and wait; sets PX_STATUS.
stop_proxy() {
	kill -TERM "$PX_PID" 2>/dev/null || true
	PX_STATUS=0
	wait "$PX_PID" || PX_STATUS=$?
}

# base_config FILE [EXTRA_SERVER_LINES]: [server]+[tls] manual with the
# certs in $CERTS ("name ..." pairs of $T/NAME.pem/key); sites appended
# by the caller.
base_config() {
	local f=$1 first=1 c
	{
		echo "[server]"
		echo "bind_addr = 127.0.0.1"
		echo "https_port = 0"
		echo "http_port = 0"
		echo "workers = 2"
		[ -n "${2:-}" ] && printf '%s\n' "$2"
		echo
		echo "[tls]"
		echo "mode = manual"
		[ -n "${TLS_EXTRA:-}" ] && printf '%s\n' "$TLS_EXTRA"
		for c in $CERTS; do
			if [ $first = 1 ]; then
				echo "cert_path = $T/$c.pem"
				echo "key_path = $T/$c.key"
				echo
				first=0
			else
				echo "[certificate $c]"
				echo "cert_path = $T/$c.pem"
				echo "key_path = $T/$c.key"
				echo
			fi
		done
		echo "[logging]"
		echo "level = ${LOG_LEVEL:-info}"
		# LOG_FILE=PATH adds the file sink (t_log_stall.sh).
		[ -n "${LOG_FILE:-}" ] && echo "file = $LOG_FILE"
		echo
		# Tests send many requests from 127.0.0.1; the limiter itself is
		# tested in t_ratelimit.sh, which sets TEST_RATE_LIMIT=0 and
		# writes its own [rate_limit] section.
		if [ "${TEST_RATE_LIMIT:-1}" = 1 ]; then
			echo "[rate_limit]"
			echo "requests_per_second = 100000"
			echo "burst = 100000"
			echo
		fi
	} >"$f"
}

# pcurl CERTNAME HOST PATH [CURL ARGS]: HTTPS through the proxy to HOST.
pcurl() {
	local c=$1 h=$2 p=$3; shift 3
	curl -sS --max-time "${CURL_MAX_TIME:-60}" --cacert "$T/$c.pem" \
		--resolve "$h:$PX_PORT:127.0.0.1" "$@" "https://$h:$PX_PORT$p"
}

# status_of CERTNAME HOST PATH [ARGS]: prints only the HTTP status.
status_of() {
	pcurl "$@" -o /dev/null -w '%{http_code}' 2>/dev/null || true
}

# cpu_ticks PID: utime+stime in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# rss_kb PID: resident set size in KiB.
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
# hwm_kb PID: peak resident set size in KiB.
hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

# raw_tls CERTNAME HOST: send stdin as raw bytes over TLS (gnutls-cli),
# print the response.
raw_tls() {
	timeout "${RAW_TIMEOUT:-5}" gnutls-cli --logfile=/dev/null --x509cafile "$T/$1.pem" \
		--sni-hostname "$2" -p "$PX_PORT" 127.0.0.1 2>/dev/null || true
}

# --- lifecycle helpers (t_reload, t_shutdown, t_notify, t_limits) ---
# log_count ERE: number of lines of $PX_LOG matching the extended regex.
log_count() { grep -cE -- "$1" "$PX_LOG" 2>/dev/null || true; }

# wait_log_count ERE N [SECS]: wait (default 10 s) until at least N lines of
# $PX_LOG match; returns 1 on timeout.
wait_log_count() {
	local i
	for i in $(seq 1 $((${3:-10} * 20))); do
		[ "$(log_count "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# reload_proxy: SIGHUP, then wait for the CONFIG_RELOAD line it causes; sets
# RELOAD_RESULT to success, failure or timeout and RELOAD_MS to the time
# from signal to log line.
reload_proxy() {
	local n t0
	n=$(log_count ' CONFIG_RELOAD ')
	t0=$(now_ms)
	kill -HUP "$PX_PID"
	if wait_log_count ' CONFIG_RELOAD ' $((n + 1)) 10; then
		RELOAD_RESULT=$(grep ' CONFIG_RELOAD ' "$PX_LOG" | tail -n1 |
			sed -n 's/.* status=\([a-z]*\).*/\1/p')
	else
		RELOAD_RESULT=timeout
	fi
	RELOAD_MS=$(($(now_ms) - t0))
}

# start_proxy_wrapped CONFIG WRAPPER...: start_proxy with the binary run
# through WRAPPER, which must exec it (e.g. prlimit --nofile=200:200 --) so
# that PX_PID is the proxy itself.
start_proxy_wrapped() {
	local cfg=$1 i
	shift
	PX_LOG="$T/proxy.log"
	: >"$PX_LOG"
	"$@" "$PROXY" --config "$cfg" >>"$PX_LOG" 2>&1 &
	PX_PID=$!
	PIDS="$PIDS $PX_PID"
	for i in $(seq 1 200); do
		PX_PORT=$(sed -n 's/.* LISTENING proto=https addr=.*:\([0-9]*\)$/\1/p' "$PX_LOG" | head -n1)
		[ -n "$PX_PORT" ] && return 0
		kill -0 "$PX_PID" 2>/dev/null || { echo "proxy exited:"; cat "$PX_LOG"; exit 99; }
		sleep 0.05
	done
	echo "proxy did not start"; cat "$PX_LOG"; exit 99
}

# stop_proxy_timed SIGNAL [LIMIT_SECS]: send SIGNAL and wait for the proxy
# to exit (SIGKILL after LIMIT_SECS, default 40, so a hang cannot block the
# test); sets PX_STATUS and STOP_MS (milliseconds from signal to exit).
stop_proxy_timed() {
	local sig=$1 lim=${2:-40} t0 wd
	t0=$(now_ms)
	kill -"$sig" "$PX_PID" 2>/dev/null || true
	(
		trap 'kill $s 2>/dev/null; exit 0' TERM
		sleep "$lim" &
		s=$!
		wait $s
		kill -KILL "$PX_PID" 2>/dev/null
	) &
	wd=$!
	PX_STATUS=0
	wait "$PX_PID" || PX_STATUS=$?
	STOP_MS=$(($(now_ms) - t0))
	kill "$wd" 2>/dev/null || true
	wait "$wd" 2>/dev/null || true
}

# served_fp HOST: SHA-256 of the certificate (DER) the proxy serves for SNI
# HOST on a new handshake; empty if the handshake fails.
served_fp() {
	python3 - "$PX_PORT" "$1" <<'PY' 2>/dev/null || true
import hashlib, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s = ctx.wrap_socket(s, server_hostname=sys.argv[2])
print(hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest())
s.close()
PY
}

# file_fp PEMFILE: SHA-256 of the certificate (DER) in PEMFILE.
file_fp() {
	python3 - "$1" <<'PY'
import hashlib, ssl, sys
print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())
PY
}
# --- end lifecycle helpers ---

# --- protocol helpers --- (t_methods, t_headers, t_smuggling, t_tls, t_errors)
# raw_status CERTNAME HOST: send stdin (raw bytes) over TLS with SNI HOST,
# print the response status line ("HTTP/1.1 400 Bad Request"), or "EOF" if
# the connection closed without a response, or "ERR <reason>". Waits at most
# RAW_TIMEOUT (default 5) seconds for the reply.
raw_status() {
	python3 -c "$RAW_STATUS_PY" "$PX_PORT" "$T/$1.pem" "$2" "${RAW_TIMEOUT:-5}" 2>/dev/null || echo "ERR python"
}
RAW_STATUS_PY='
import socket, ssl, sys
data = sys.stdin.buffer.read()
ctx = ssl.create_default_context(cafile=sys.argv[2])
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[4])), server_hostname=sys.argv[3])
    s.sendall(data)
    buf = b""
    while b"\r\n" not in buf and len(buf) < 4096:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    line = buf.split(b"\r\n")[0].decode("latin-1")
    print(line if line else "EOF")
except Exception as e:
    print("ERR " + type(e).__name__)
'

# up_req_count LOGFILE ERE: number of "REQ ..." lines in an upstream log
# matching ERE.
up_req_count() { grep -cE -- "^REQ $2" "$1" 2>/dev/null || true; }

# check_sanitizer_clean: fail if the proxy log holds an ASan/UBSan report.
check_sanitizer_clean() {
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$PX_LOG" 2>/dev/null; then
		fail "sanitizer report in proxy log"
		grep -E -A 20 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$PX_LOG" | head -n 40
	else
		ok "no sanitizer report in proxy log"
	fi
}
# --- end protocol helpers ---

# --- streaming helpers (t_bigfile, t_slow, t_abort, t_git) ---
# stream_proxy UPSTREAM_PORT [SITE_LINES] [LIMITS_LINES] [SERVER_LINES]:
# certificate "a" for a.test, one site a.test -> 127.0.0.1:UPSTREAM_PORT
# with the extra site lines, an optional [limits] section; starts the proxy.
stream_proxy() {
	[ -f "$T/a.pem" ] || gen_cert a a.test
	CERTS="a" base_config "$T/c.ini" "${4:-}"
	{
		if [ -n "${3:-}" ]; then
			echo "[limits]"
			printf '%s\n\n' "$3"
		fi
		echo "[site a.test]"
		echo "upstream = 127.0.0.1:$1"
		[ -n "${2:-}" ] && printf '%s\n' "$2"
		echo
	} >>"$T/c.ini"
	start_proxy "$T/c.ini"
}

# ucurl PATH [CURL ARGS]: plain HTTP straight to the test upstream.
ucurl() {
	local p=$1; shift
	curl -sS --max-time "${CURL_MAX_TIME:-60}" "$@" "http://127.0.0.1:$UP_PORT$p"
}

# wait_file_match FILE ERE SECS: wait until a line of FILE matches ERE (polls
# every 50 ms, at most SECS seconds); returns 1 on timeout.
wait_file_match() {
	local i
	for i in $(seq 1 $(($3 * 20))); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# first_t FILE ERE: the t=<ms> value of the first line of FILE matching ERE
# (empty if none).
first_t() {
	grep -E -- "$2" "$1" 2>/dev/null | head -n1 | sed -n 's/.* t=\([0-9]*\).*/\1/p'
}

# timed_ms VAR COMMAND...: run COMMAND, store its wall time (ms) in VAR and
# return its exit status.
timed_ms() {
	local __v=$1 __t0 __rc=0
	shift
	__t0=$(now_ms)
	"$@" || __rc=$?
	printf -v "$__v" '%s' $(($(now_ms) - __t0))
	return $__rc
}

# proxy_is_asan: true if bin/reverse-proxy (or the real binary behind a
# libtool wrapper) is built with AddressSanitizer.
proxy_is_asan() {
	local d
	d=$(dirname "$PROXY")
	grep -qa __asan_init "$PROXY" "$d/.libs/reverse-proxy" "$d/.libs/lt-reverse-proxy" 2>/dev/null
}
# asan_small_quarantine: under ASan, shrink the free-memory quarantine (256
# MiB by default) for the proxy started next, so that RSS measurements mean
# something; RSS_SLACK_KB is set to the extra RSS to allow (0 without ASan).
asan_small_quarantine() {
	RSS_SLACK_KB=0
	if proxy_is_asan; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8:thread_local_quarantine_size_kb=256"
		RSS_SLACK_KB=65536
		log "AddressSanitizer build: quarantine 8 MiB, RSS slack $RSS_SLACK_KB KiB"
	fi
}
# --- end streaming helpers ---

# --- adversarial helpers --- (t_client_abuse, t_hostile_upstream)
# tcp_end_after PYTHON_BYTES_EXPR [SECS]: connect to the proxy's TLS port
# over plain TCP, send the bytes the Python expression evaluates to (it may
# use the modules random and os), then read until the proxy ends the
# connection; prints "closed <secs>" (EOF or reset), "open" (still open
# after SECS, default 10) or "ERR <reason>".
tcp_end_after() {
	python3 - "$PX_PORT" "$1" "${2:-10}" <<'PY' 2>/dev/null || echo "ERR python"
import os, random, socket, sys, time
port, expr, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
data = eval(expr, {"random": random, "os": os})
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    try:
        s.sendall(data)
    except OSError:
        print("closed %.2f" % (time.monotonic() - t0)); sys.exit(0)
    s.settimeout(secs)
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            print("open"); break
        except OSError:
            print("closed %.2f" % (time.monotonic() - t0)); break
        if not d:
            print("closed %.2f" % (time.monotonic() - t0)); break
except Exception as e:
    print("ERR " + type(e).__name__)
PY
}
# raw_reply CERTNAME HOST: send stdin (raw bytes) over TLS with SNI HOST
# in 16 KiB pieces, stopping early if the proxy answers (so that a reply
# sent before the whole request was read is still seen), then read the
# reply until EOF or RAW_TIMEOUT (default 5) seconds. Prints three lines:
# the status line (or "EOF" / "ERR <reason>"), "ct: <Content-Type>" and
# "body: <body, first 200 bytes, non-printables as \xNN>".
raw_reply() {
	python3 -c "$RAW_REPLY_PY" "$PX_PORT" "$T/$1.pem" "$2" "${RAW_TIMEOUT:-5}" 2>/dev/null || printf 'ERR python\nct: \nbody: \n'
}
RAW_REPLY_PY='
import select, socket, ssl, sys
data = sys.stdin.buffer.read()
ctx = ssl.create_default_context(cafile=sys.argv[2])
buf, err = b"", ""
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[4])), server_hostname=sys.argv[3])
    try:
        # Stop sending once the server answers. Readable is not enough: a
        # TLS 1.3 server sends session tickets after the handshake, which
        # make the socket readable without any reply (issue 15).
        for i in range(0, len(data), 16384):
            s.sendall(data[i:i + 16384])
            if s.pending() or select.select([s], [], [], 0)[0]:
                s.setblocking(False)
                try:
                    buf += s.recv(65536)
                except ssl.SSLWantReadError:
                    pass
                s.settimeout(float(sys.argv[4]))
                if buf:
                    break
    except OSError:
        pass
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
except Exception as e:
    err = "ERR " + type(e).__name__
head, _, body = buf.partition(b"\r\n\r\n")
lines = head.split(b"\r\n")
status = lines[0].decode("latin-1") if buf else (err or "EOF")
ct = ""
for l in lines[1:]:
    if l.lower().startswith(b"content-type:"):
        ct = l.split(b":", 1)[1].strip().decode("latin-1")
print(status)
print("ct: " + ct)
print("body: " + "".join(chr(c) if 32 <= c < 127 else "\\x%02x" % c for c in body[:200]))
'
# check_error_format DESC REPLY: if REPLY (raw_reply output) holds a status
# line, the error is in the SPEC F4 form: text/plain; charset=utf-8 and the
# reason phrase alone as the body.
check_error_format() {
	local st ct body reason
	st=$(printf '%s\n' "$2" | sed -n 1p)
	case $st in HTTP/1.?\ [45]??\ *) ;; *) return 0 ;; esac
	reason=${st#HTTP/1.? ??? }
	ct=$(printf '%s\n' "$2" | sed -n 's/^ct: //p')
	body=$(printf '%s\n' "$2" | sed -n 's/^body: //p')
	if [ "$ct" = "text/plain; charset=utf-8" ] && [ "$body" = "$reason" ]; then
		ok "$1: error body in the SPEC F4 form"
	else
		fail "$1: error not in the SPEC F4 form (text/plain; charset=utf-8, reason phrase only): '$st', Content-Type '$ct', body '$(printf '%s' "$body" | head -c 80)'"
	fi
}
# check_error_format_mhd DESC REPLY: like check_error_format, but also
# accepts libmicrohttpd 0.9.75's own error body (HTML, no Content-Type) for
# the errors it answers before the proxy sees the request (malformed
# chunked framing, a head larger than the connection memory): a documented
# deviation from F4 (doc/operator-guide.md, "Errors libmicrohttpd answers
# itself"). The body must be one of its fixed pages, nothing else.
check_error_format_mhd() {
	local st ct body
	st=$(printf '%s\n' "$2" | sed -n 1p)
	ct=$(printf '%s\n' "$2" | sed -n 's/^ct: //p')
	body=$(printf '%s\n' "$2" | sed -n 's/^body: //p')
	case $st in HTTP/1.?\ [45]??\ *) ;; *) return 0 ;; esac
	case "$ct|$body" in
	"|<html><head><title>Request too big</title>"* | \
		"|<html><head><title>Request malformed</title>"* | \
		"|<html><head><title>Request content too large</title>"* | \
		"|<html><head><title>Internal server error</title>"*)
		ok "$1: libmicrohttpd's own error page ($st; documented deviation from F4)" ;;
	*) check_error_format "$1" "$2" ;;
	esac
}
# --- end adversarial helpers ---
