#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# bench/run.sh: reverse-proxy side by side with nginx as a TLS reverse proxy,
# on loopback, same certificate, equivalent settings. Prints a table of
# ratios ours/nginx (issue 8; doc/performance.md explains every scenario).
#
#   bench/run.sh [--quick] [--only N[,N...]] [--rounds R] [--idle N]
#                [--duration S] [--size BYTES] [--proxy PATH]
#                [--upstream-server PATH] [--build-dir DIR] [--md FILE]
#                [--keep] [--max-time S]
#
# Scenarios: 1 keep-alive GET 1 KiB (and 1m: the same with [metrics] on
# vs off, ours against ours), 2 new TLS connection per request,
# 3 big download/upload, 4 idle keep-alive connections, 5 rate limiter,
# 6 syscalls per request (strace), 7 CPU per request and the client-side
# ceiling (libmicrohttpd alone, bench/mhd_static.c), 8 keep-alive load
# while 1,000 and 4,000 idle TLS connections stay open. Default: all.
#
# Everything listens on 127.0.0.1 only, runs in one temporary directory and
# is stopped by the EXIT trap; every step has a timeout and --max-time
# (default 3600 s) bounds the whole run.
set -eu -o pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DUR=10
IDLE=10000
SIZE=$((1024 * 1024 * 1024))
ROUNDS=2
ONLY="1,2,3,4,5,6,7,8"
IDLE8="1000 4000"
PROXY=""
UPSRV=""
BUILD_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/reverse-proxy-bench/build"
MD_OUT=""
KEEP=0
MAX_TIME=3600

usage() { sed -n '5,19p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) DUR=3; IDLE=1000; SIZE=$((256 * 1024 * 1024)) ;;
	--only) ONLY=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--idle) IDLE=$2; shift ;;
	--duration) DUR=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--proxy) PROXY=$2; shift ;;
	--upstream-server) UPSRV=$2; shift ;;
	--build-dir) BUILD_DIR=$2; shift ;;
	--md) MD_OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	--max-time) MAX_TIME=$2; shift ;;
	-h | --help) usage 0 ;;
	*) echo "unknown option $1" >&2; usage 2 ;;
	esac
	shift
done
want() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }
say() { printf '== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- setup ---
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
need_pkgs=""
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_pkgs="$need_pkgs nginx-light"
command -v wrk >/dev/null 2>&1 || need_pkgs="$need_pkgs wrk"
command -v certtool >/dev/null 2>&1 || need_pkgs="$need_pkgs gnutls-bin"
command -v curl >/dev/null 2>&1 || need_pkgs="$need_pkgs curl"
command -v python3 >/dev/null 2>&1 || need_pkgs="$need_pkgs python3"
if want 6; then command -v strace >/dev/null 2>&1 || need_pkgs="$need_pkgs strace"; fi
if want 7; then
	[ -f /usr/include/microhttpd.h ] || need_pkgs="$need_pkgs libmicrohttpd-dev"
	command -v "${CC:-cc}" >/dev/null 2>&1 || need_pkgs="$need_pkgs gcc"
	command -v pkg-config >/dev/null 2>&1 || need_pkgs="$need_pkgs pkg-config"
fi
if [ -n "$need_pkgs" ]; then
	say "installing:$need_pkgs"
	$SUDO env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends $need_pkgs >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAVE_PERF=0
if command -v perf >/dev/null 2>&1 && timeout 20 perf record -q -o /dev/null -- true >/dev/null 2>&1; then
	HAVE_PERF=1
fi

if [ -z "$PROXY" ]; then
	if [ -x "$SRC/bin/reverse-proxy" ] && [ -f "$SRC/config.status" ]; then
		BUILD_DIR=$SRC # configured in the source tree
	else
		mkdir -p "$BUILD_DIR"
		if [ ! -f "$BUILD_DIR/Makefile" ]; then
			[ -x "$SRC/configure" ] || (cd "$SRC" && timeout 600 autoreconf -fi >/dev/null)
			say "configuring in $BUILD_DIR"
			(cd "$BUILD_DIR" && timeout 600 "$SRC/configure" -q)
		fi
	fi
	say "building the proxy in $BUILD_DIR"
	timeout 1200 make -C "$BUILD_DIR" -j"$(nproc)" bin/reverse-proxy tests/upstream_server >"$BUILD_DIR/bench-make.log" 2>&1 ||
		{ tail -n 30 "$BUILD_DIR/bench-make.log"; exit 1; }
	PROXY=$BUILD_DIR/bin/reverse-proxy
fi
if [ -z "$UPSRV" ]; then
	UPSRV=$(cd "$(dirname "$PROXY")/.." && pwd)/tests/upstream_server
	if [ ! -x "$UPSRV" ]; then
		timeout 600 make -C "$(dirname "$UPSRV")/.." tests/upstream_server >/dev/null 2>&1 || true
	fi
fi
[ -x "$PROXY" ] || { echo "no proxy binary at $PROXY" >&2; exit 1; }
[ -x "$UPSRV" ] || { echo "no tests/upstream_server at $UPSRV (--upstream-server PATH)" >&2; exit 1; }

# File descriptors: scenario 4 needs N client connections in the proxy and
# in the client. reverse-proxy requires 2*max_connections+64 <= RLIMIT_NOFILE.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
MAXC=$((IDLE + 64))
[ "$MAXC" -lt 1024 ] && MAXC=1024
if [ $((2 * MAXC + 64)) -gt "$NOFILE" ]; then
	MAXC=$(((NOFILE - 64) / 2))
	if [ $((IDLE + 32)) -gt "$MAXC" ]; then
		say "RLIMIT_NOFILE is $NOFILE (hard limit): --idle $IDLE lowered to $((MAXC - 32))"
		IDLE=$((MAXC - 32))
	fi
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/rp-bench.XXXXXX")
PIDS=""
cleanup() {
	local p
	trap - EXIT INT TERM
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	if [ "$KEEP" = 1 ]; then say "files kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Watchdog: the whole run is bounded.
(
	trap 'kill $s 2>/dev/null; exit 0' TERM
	sleep "$MAX_TIME" &
	s=$!
	wait $s
	echo "bench: --max-time $MAX_TIME s reached" >&2
	kill -TERM $$
) 2>/dev/null &
WATCHDOG=$!
PIDS="$PIDS $WATCHDOG"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_rss() { local p s=0; for p in "$@"; do s=$((s + $(rss_kb "$p"))); done; echo $s; }
reset_hwm() { local p; for p in "$@"; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }
children() { ps -o pid= --ppid "$1" | tr -d ' ' | tr '\n' ' '; }

# -------------------------------------------------------------- material ---
say "temp dir $T"
mkdir -p "$T/www" "$T/ngx-up" "$T/ngx-px" "$T/ours"
head -c 1024 /dev/zero | tr '\0' 'x' >"$T/www/1k"
truncate -s "$SIZE" "$T/www/big" # sparse: read from page cache, no disk
cat >"$T/cert.tmpl" <<'EOF'
cn = "localhost"
dns_name = "localhost"
dns_name = "upload.localhost"
expiration_days = 7
tls_www_server
signing_key
EOF
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$T/cert.key" >/dev/null 2>&1
certtool --generate-self-signed --load-privkey "$T/cert.key" --template "$T/cert.tmpl" \
	--outfile "$T/cert.pem" >/dev/null 2>&1

UP_PORT=$(free_port)
NGX_PORT=$(free_port)
NGX_RL_PORT=$(free_port)
NGX_FULL_PORT=$(free_port) # scenario 2b: session tickets off
NGX_STATIC_PORT=$(free_port) # scenario 7: nginx serving the file itself
MHD_STATIC_PORT=$(free_port) # scenario 7: bench/mhd_static
OURS_FULL_PORT=$(free_port)
OURS_MET_PORT=$(free_port)
OURS_MET_SCRAPE=$(free_port)
OURS_PORT=$(free_port) # fixed: at level = warn the LISTENING line is not logged
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user root;"

# nginx common prologue: everything in its own directory.
ngx_prologue() { # DIR WORKER_CONNECTIONS
	cat <<EOF
$USER_LINE
worker_processes auto;
worker_rlimit_nofile $NOFILE;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $2; }
http {
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy_temp;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
EOF
}

# Upstream: nginx serving the static files (shared by both proxies).
{
	ngx_prologue "$T/ngx-up" 4096
	cat <<EOF
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$UP_PORT;
        location / { root $T/www; }
    }
}
EOF
} >"$T/ngx-up/nginx.conf"

# Upload sink: the repository's test upstream; /echo reads the whole
# (chunked) body with a 256 KiB buffer, hashes it and answers its length.
"$UPSRV" --listen 127.0.0.1 --port 0 --keepalive-secs 300 >"$T/sink.out" 2>"$T/sink.err" &
SINK_PID=$!
PIDS="$PIDS $SINK_PID"

start_nginx() { # DIR -> NGX_PID
	local d=$1
	timeout 10 "$NGINX" -e "$d/error.log" -p "$d" -c "$d/nginx.conf" -t >/dev/null 2>"$d/check.log" ||
		{ cat "$d/check.log" >&2; exit 1; }
	"$NGINX" -e "$d/error.log" -p "$d" -c "$d/nginx.conf" >"$d/out.log" 2>&1 &
	NGX_PID=$!
	PIDS="$PIDS $NGX_PID"
	for _ in $(seq 1 100); do
		[ -s "$d/nginx.pid" ] && [ -n "$(children "$NGX_PID")" ] && return 0
		kill -0 "$NGX_PID" 2>/dev/null || { cat "$d/error.log" >&2; exit 1; }
		sleep 0.05
	done
	echo "nginx in $d did not start" >&2
	exit 1
}
# forget PID: a process that has exited and was waited for leaves PIDS, so
# that the EXIT trap never signals a reused process id.
forget() { PIDS=$(printf '%s\n' $PIDS | grep -vx "$1" | tr '\n' ' ' || true); }
stop_pid() { # PID (a child of this shell): TERM, wait at most 10 s, then KILL
	local _
	if kill -TERM "$1" 2>/dev/null; then
		for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
	forget "$1"
}

start_nginx "$T/ngx-up"
for _ in $(seq 1 100); do
	SINK_PORT=$(awk '/^PORT /{print $2}' "$T/sink.out" 2>/dev/null || true)
	[ -n "$SINK_PORT" ] && break
	sleep 0.05
done
[ -n "${SINK_PORT:-}" ] || { echo "upload sink did not start" >&2; exit 1; }

# nginx as the TLS reverse proxy.
{
	ngx_prologue "$T/ngx-px" $((MAXC + 1024))
	cat <<EOF
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $T/cert.pem;
    ssl_certificate_key $T/cert.key;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Real-IP \$remote_addr;
    proxy_set_header X-Forwarded-For \$remote_addr;
    proxy_set_header X-Forwarded-Proto https;
    proxy_set_header X-Forwarded-Host \$host;
    proxy_read_timeout 60s;
    proxy_connect_timeout 5s;
    upstream files { server 127.0.0.1:$UP_PORT; keepalive 64; keepalive_requests 1000000; }
    upstream sink { server 127.0.0.1:$SINK_PORT; keepalive 64; keepalive_requests 1000000; }
    limit_req_zone \$binary_remote_addr zone=rl:1m rate=1000000r/s;
    server {
        listen 127.0.0.1:$NGX_PORT ssl;
        server_name localhost;
        location / { proxy_pass http://files; }
    }
    server {
        listen 127.0.0.1:$NGX_PORT ssl;
        server_name upload.localhost;
        location / { proxy_pass http://sink; }
    }
    server {
        listen 127.0.0.1:$NGX_RL_PORT ssl;
        server_name localhost;
        location / { limit_req zone=rl burst=1000000 nodelay; proxy_pass http://files; }
    }
    server {
        listen 127.0.0.1:$NGX_FULL_PORT ssl;
        server_name localhost;
        ssl_session_tickets off;
        location / { proxy_pass http://files; }
    }
    server {
        listen 127.0.0.1:$NGX_STATIC_PORT ssl;
        server_name localhost;
        location / { root $T/www; }
    }
}
EOF
} >"$T/ngx-px/nginx.conf"

# reverse-proxy, equivalent settings.
cat >"$T/ours/config.ini" <<EOF
; SPDX-License-Identifier: MIT OR Apache-2.0
[server]
bind_addr = 127.0.0.1
https_port = $OURS_PORT
http_port = 0
workers = 0
max_connections = $MAXC
idle_timeout_secs = 300

[tls]
mode = manual
cert_path = $T/cert.pem
key_path = $T/cert.key

[logging]
level = warn

[rate_limit]
; the limiter cannot be switched off: the largest values, never refusing
requests_per_second = 1000000
burst = 1000000

[limits]
body_limit_bytes = 1099511627776
; every bench client is 127.0.0.1: no per-address cap (nginx has no
; limit_conn here either)
max_connections_per_ip = 0

[site localhost]
upstream = 127.0.0.1:$UP_PORT
read_timeout_secs = 60

[site upload.localhost]
upstream = 127.0.0.1:$SINK_PORT
read_timeout_secs = 60
EOF

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_ours() { # -> OURS_PID
	local log="$T/ours/proxy.log"
	: >"$log"
	"$PROXY" --config "$T/ours/config.ini" >>"$log" 2>&1 &
	OURS_PID=$!
	PIDS="$PIDS $OURS_PID"
	for _ in $(seq 1 200); do
		port_open "$OURS_PORT" && return 0
		kill -0 "$OURS_PID" 2>/dev/null || { echo "reverse-proxy exited:" >&2; cat "$log" >&2; exit 1; }
		sleep 0.05
	done
	echo "reverse-proxy did not start" >&2
	cat "$log" >&2
	exit 1
}
start_ngx_proxy() { start_nginx "$T/ngx-px"; NPX_PID=$NGX_PID; }
restart_both() {
	[ -n "${NPX_PID:-}" ] && stop_pid "$NPX_PID"
	[ -n "${OURS_PID:-}" ] && stop_pid "$OURS_PID"
	start_ngx_proxy
	start_ours
}
restart_both
say "upstream nginx :$UP_PORT, sink :$SINK_PORT, nginx proxy :$NGX_PORT (limit_req :$NGX_RL_PORT), reverse-proxy :$OURS_PORT"

port_of() { case $1 in nginx) echo "$NGX_PORT" ;; nginx-rl) echo "$NGX_RL_PORT" ;;
	nginx-full) echo "$NGX_FULL_PORT" ;; ours-full) echo "$OURS_FULL_PORT" ;;
	ours-metrics) echo "$OURS_MET_PORT" ;;
	nginx-static) echo "$NGX_STATIC_PORT" ;; mhd-static) echo "$MHD_STATIC_PORT" ;; *) echo "$OURS_PORT" ;; esac; }
pids_of() { case $1 in nginx*) children "$NPX_PID" ;; ours-full) echo "${OURS_FULL_PID:-}" ;;
	ours-metrics) echo "${OURS_MET_PID:-}" ;;
	mhd-static) echo "${MHDS_PID:-}" ;; *) echo "$OURS_PID" ;; esac; }

# Sanity: both proxies serve the 1 KiB file and the sink.
for who in nginx ours; do
	got=$(curl -sS --max-time 10 --cacert "$T/cert.pem" --resolve "localhost:$(port_of $who):127.0.0.1" \
		-o /dev/null -w '%{http_code} %{size_download}' "https://localhost:$(port_of $who)/1k" || true)
	[ "$got" = "200 1024" ] || { echo "$who: GET /1k gave '$got'" >&2; exit 1; }
done

# ------------------------------------------------------------- results ---
RES="$T/results.tsv" # scenario, metric, nginx, ours, ratio, target, met
: >"$RES"
median() { # values... -> median
	printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) m = v[(NR+1)/2]; else m = (v[NR/2] + v[NR/2+1]) / 2
		printf "%.6g\n", m }'
}
# row SCEN METRIC NGINX OURS OP TARGET: ratio ours/nginx, met if ratio OP TARGET
row() {
	local ratio met
	ratio=$(awk -v a="$3" -v b="$4" 'BEGIN { if (a + 0 == 0) print "-"; else printf "%.2f", b / a }')
	met="-"
	if [ "$5" != "-" ] && [ "$ratio" != "-" ]; then
		met=$(awk -v r="$ratio" -v t="$6" -v op="$5" 'BEGIN {
			ok = (op == ">=") ? (r >= t) : (r <= t); print ok ? "yes" : "NO" }')
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$ratio" \
		"$([ "$5" = - ] && echo - || echo "$5 $6x")" "$met" >>"$RES"
}
# rowraw SCEN METRIC NGINX OURS RATIO TARGET MET (already computed)
rowraw() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RES"; }

# wrk output -> "rps p50_ms p99_ms errors"
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
	else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
	printf "%.3f\n", v }'; }
wrk_run() { # OUTFILE URL [wrk args...]
	local out=$1 url=$2
	shift 2
	timeout $((DUR + 60)) wrk -t2 -c64 -d"${DUR}s" --latency "$@" "$url" >"$out" 2>&1 || true
}
wrk_parse() { # FILE
	local rps p50 p99 err
	rps=$(awk '/^Requests\/sec:/{print $2}' "$1")
	p50=$(awk '$1 == "50%" {print $2}' "$1" | to_ms)
	p99=$(awk '$1 == "99%" {print $2}' "$1" | to_ms)
	err=$(awk '/Non-2xx/{n += $NF} /Socket errors/{gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$1")
	echo "${rps:-0} ${p50:-0} ${p99:-0} $err"
}

# wrk scenario: SCEN LABEL NGINX_WHO OURS_WHO [wrk args] -> W_RPS_n W_RPS_o ...
wrk_pair() {
	local scen=$1 nw=$2 ow=$3 r who f
	shift 3
	local rn="" ro="" p50n="" p50o="" p99n="" p99o=""
	for r in $(seq 1 "$ROUNDS"); do
		for who in "$nw" "$ow"; do
			f="$T/wrk-s$scen-$who-$r.txt"
			wrk_run "$f" "https://localhost:$(port_of "$who")/1k" "$@"
			read -r rps p50 p99 err < <(wrk_parse "$f")
			say "scenario $scen round $r $who: $rps req/s p50 $p50 ms p99 $p99 ms errors $err"
			[ "$err" -gt 0 ] && say "  WARNING: $err errors/non-2xx in $f"
			if [ "${who%%-*}" = nginx ]; then rn="$rn $rps"; p50n="$p50n $p50"; p99n="$p99n $p99"
			else ro="$ro $rps"; p50o="$p50o $p50"; p99o="$p99o $p99"; fi
		done
	done
	# shellcheck disable=SC2086
	{ W_RPS_N=$(median $rn); W_RPS_O=$(median $ro); W_P50_N=$(median $p50n)
	  W_P50_O=$(median $p50o); W_P99_N=$(median $p99n); W_P99_O=$(median $p99o); }
}

# resumed_of WHO: of 5 reconnections after a first GET (Python's ssl,
# i.e. OpenSSL like wrk, offering the previous connection's session), how
# many resumed it.
resumed_of() {
	timeout 30 python3 - "$(port_of "$1")" <<'PY' || echo "?"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
sess, n = None, 0
for i in range(6):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10),
                        server_hostname="localhost", session=sess)
    s.sendall(b"GET /1k HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    while s.recv(65536):
        pass
    n += i > 0 and s.session_reused
    sess = s.session
    s.close()
print(n)
PY
}

write_idle_py() {
	cat >"$T/idle.py" <<'PY'
# Opens N keep-alive TLS connections (SNI localhost), one GET on each, keeps
# them open; prints "OPEN ok failed" once done, then holds them until killed
# (at most HOLD seconds).
import asyncio, ssl, sys
port, n, cafile, hold = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
ctx = ssl.create_default_context(cafile=cafile)
conns, failed = [], 0
REQ = b"GET /1k HTTP/1.1\r\nHost: localhost\r\n\r\n"
async def one(sem):
    global failed
    async with sem:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="localhost"), 20)
            w.write(REQ)
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
            cl = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    cl = int(line.split(b":")[1])
            await asyncio.wait_for(r.readexactly(cl), 20)
            conns.append((r, w))
        except Exception:
            failed += 1
async def main():
    sem = asyncio.Semaphore(128)
    await asyncio.gather(*(one(sem) for _ in range(n)))
    print("OPEN %d %d" % (len(conns), failed), flush=True)
    await asyncio.sleep(hold)
asyncio.run(main())
PY
}

# ------------------------------------------------------------ scenarios ---
say "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
say "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

if want 1; then
	say "scenario 1: keep-alive GET 1 KiB, 64 connections, ${DUR}s x $ROUNDS rounds each"
	wrk_pair 1 nginx ours
	S1_RPS_O=$W_RPS_O
	row "1 keep-alive GET 1KiB" "requests/s" "$W_RPS_N" "$W_RPS_O" ">=" 1.0
	row "1 keep-alive GET 1KiB" "p50 latency ms" "$W_P50_N" "$W_P50_O" - -
	row "1 keep-alive GET 1KiB" "p99 latency ms" "$W_P99_N" "$W_P99_O" "<=" 1.2
	# 1m: the cost of [metrics] (issue 19): the same load on a second
	# instance of ours with the metrics listener on (scraped every second
	# during the runs, as Prometheus would), against ours without; rounds
	# alternate. The ratio is on/off (the "nginx" column is ours, off).
	sed -e "s/^https_port = .*/https_port = $OURS_MET_PORT/" \
		"$T/ours/config.ini" >"$T/ours/config-metrics.ini"
	printf '\n[metrics]\nlisten = 127.0.0.1:%s\n' "$OURS_MET_SCRAPE" >>"$T/ours/config-metrics.ini"
	"$PROXY" --config "$T/ours/config-metrics.ini" >"$T/ours/proxy-metrics.log" 2>&1 &
	OURS_MET_PID=$!
	PIDS="$PIDS $OURS_MET_PID"
	for _ in $(seq 1 200); do port_open "$OURS_MET_PORT" && break; sleep 0.05; done
	port_open "$OURS_MET_PORT" ||
		{ echo "reverse-proxy with [metrics] did not start:" >&2; cat "$T/ours/proxy-metrics.log" >&2; exit 1; }
	say "scenario 1m: keep-alive GET 1 KiB, ours with [metrics] (scraped every 1 s) vs without"
	( while kill -0 "$OURS_MET_PID" 2>/dev/null; do
		curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$OURS_MET_SCRAPE/metrics"; sleep 1
	  done ) &
	SCRAPER_PID=$!
	PIDS="$PIDS $SCRAPER_PID"
	roff="" ron=""
	for r in $(seq 1 "$ROUNDS"); do
		for who in ours ours-metrics; do
			f="$T/wrk-s1m-$who-$r.txt"
			wrk_run "$f" "https://localhost:$(port_of "$who")/1k"
			read -r rps p50 p99 err < <(wrk_parse "$f")
			say "scenario 1m round $r $who: $rps req/s p50 $p50 ms p99 $p99 ms errors $err"
			if [ "$who" = ours ]; then roff="$roff $rps"; else ron="$ron $rps"; fi
		done
	done
	# shellcheck disable=SC2086
	row "1m [metrics] on / off (ours)" "requests/s" "$(median $roff)" "$(median $ron)" ">=" 0.98
	stop_pid "$OURS_MET_PID"
	kill "$SCRAPER_PID" 2>/dev/null || true
fi

if want 2; then
	say "scenario 2: new TLS connection per request, 64 connections"
	wrk_pair 2 nginx ours -H "Connection: close"
	row "2 TLS conn per request" "requests/s" "$W_RPS_N" "$W_RPS_O" ">=" 0.9
	# wrk keeps each connection's SSL session across reconnects, so both
	# proxies see resumed handshakes (session tickets, on by default in
	# both); show that, then the same with tickets off on both (2b).
	rowraw "2 TLS conn per request" "sessions resumed of 5" \
		"$(resumed_of nginx)/5" "$(resumed_of ours)/5" - - -
	sed -e "s/^https_port = .*/https_port = $OURS_FULL_PORT/" \
		-e "s/^mode = manual/mode = manual\nsession_tickets = false/" \
		"$T/ours/config.ini" >"$T/ours/config-full.ini"
	"$PROXY" --config "$T/ours/config-full.ini" >"$T/ours/proxy-full.log" 2>&1 &
	OURS_FULL_PID=$!
	PIDS="$PIDS $OURS_FULL_PID"
	for _ in $(seq 1 200); do port_open "$OURS_FULL_PORT" && break; sleep 0.05; done
	port_open "$OURS_FULL_PORT" ||
		{ echo "second reverse-proxy (tickets off) did not start:" >&2; cat "$T/ours/proxy-full.log" >&2; exit 1; }
	say "scenario 2b: the same with session tickets off on both (full handshakes)"
	rowraw "2b full handshake per request" "sessions resumed of 5" \
		"$(resumed_of nginx-full)/5" "$(resumed_of ours-full)/5" - - -
	wrk_pair 2b nginx-full ours-full -H "Connection: close"
	row "2b full handshake per request" "requests/s" "$W_RPS_N" "$W_RPS_O" - -
	stop_pid "$OURS_FULL_PID"
fi

if want 3; then
	say "scenario 3: $((SIZE / 1048576)) MiB download and upload"
	dn="" do_="" un="" uo="" hdn="" hdo="" hun="" huo=""
	for r in $(seq 1 "$ROUNDS"); do
		for who in nginx ours; do
			port=$(port_of $who)
			pids=$(pids_of $who)
			# shellcheck disable=SC2086
			{ reset_hwm $pids; r0=$(sum_rss $pids); }
			out=$(curl -sS --max-time 600 --cacert "$T/cert.pem" --resolve "localhost:$port:127.0.0.1" \
				-o /dev/null -w '%{http_code} %{size_download} %{time_total}' "https://localhost:$port/big" || echo "000 0 1")
			# shellcheck disable=SC2086
			grow=$(for p in $pids; do echo "$(hwm_kb "$p") $(rss_kb "$p")"; done | awk -v r0="$r0" '{h += $1} END {print h - r0}')
			read -r code size secs <<<"$out"
			[ "$code" = 200 ] && [ "$size" = "$SIZE" ] || say "  WARNING: $who download: $out"
			mbs=$(awk -v s="$size" -v t="$secs" 'BEGIN { printf "%.1f", s / t / 1e6 }')
			say "scenario 3 round $r $who download: $mbs MB/s, peak RSS growth $grow KiB"
			# Upload: chunked from a generator into the sink, which checks the length.
			# shellcheck disable=SC2086
			{ reset_hwm $pids; r0=$(sum_rss $pids); }
			out=$(head -c "$SIZE" /dev/zero | curl -sS --max-time 600 --cacert "$T/cert.pem" \
				--resolve "upload.localhost:$port:127.0.0.1" -H 'Expect:' -T - -o "$T/up-$who-$r.txt" \
				-w '%{http_code} %{size_upload} %{time_total}' "https://upload.localhost:$port/echo" || echo "000 0 1")
			# shellcheck disable=SC2086
			ugrow=$(for p in $pids; do echo "$(hwm_kb "$p")"; done | awk -v r0="$r0" '{h += $1} END {print h - r0}')
			read -r code size secs <<<"$out"
			blen=$(awk '/^body-length:/{print $2}' "$T/up-$who-$r.txt" 2>/dev/null || true)
			[ "$code" = 200 ] && [ "$blen" = "$SIZE" ] || say "  WARNING: $who upload: $out, sink saw ${blen:-nothing}"
			umbs=$(awk -v s="$size" -v t="$secs" 'BEGIN { printf "%.1f", s / t / 1e6 }')
			say "scenario 3 round $r $who upload: $umbs MB/s, peak RSS growth $ugrow KiB"
			if [ $who = nginx ]; then dn="$dn $mbs"; un="$un $umbs"; hdn="$hdn $grow"; hun="$hun $ugrow"
			else do_="$do_ $mbs"; uo="$uo $umbs"; hdo="$hdo $grow"; huo="$huo $ugrow"; fi
		done
	done
	mib=$((SIZE / 1048576))
	# shellcheck disable=SC2086
	{
	row "3 ${mib}MiB download" "MB/s" "$(median $dn)" "$(median $do_)" ">=" 0.9
	a=$(median $hdn); b=$(median $hdo)
	rowraw "3 ${mib}MiB download" "peak RSS growth MiB" "$(awk -v k="$a" 'BEGIN{printf "%.1f", k/1024}')" \
		"$(awk -v k="$b" 'BEGIN{printf "%.1f", k/1024}')" "-" "ours <= 32 MiB" "$(awk -v k="$b" 'BEGIN{print (k <= 32768) ? "yes" : "NO"}')"
	row "3 ${mib}MiB upload" "MB/s" "$(median $un)" "$(median $uo)" ">=" 0.9
	a=$(median $hun); b=$(median $huo)
	rowraw "3 ${mib}MiB upload" "peak RSS growth MiB" "$(awk -v k="$a" 'BEGIN{printf "%.1f", k/1024}')" \
		"$(awk -v k="$b" 'BEGIN{printf "%.1f", k/1024}')" "-" "ours <= 32 MiB" "$(awk -v k="$b" 'BEGIN{print (k <= 32768) ? "yes" : "NO"}')"
	}
fi

if want 4; then
	write_idle_py
	say "scenario 4: $IDLE idle keep-alive TLS connections"
	mn="" mo="" okn="" oko=""
	for r in $(seq 1 "$ROUNDS"); do
		for who in nginx ours; do
			restart_both # fresh processes: earlier scenarios' heap does not hide the growth
			port=$(port_of $who)
			timeout 30 wrk -t1 -c8 -d1s "https://localhost:$port/1k" >/dev/null 2>&1 || true # warm-up
			sleep 1
			pids=$(pids_of $who)
			# shellcheck disable=SC2086
			before=$(sum_rss $pids)
			f="$T/idle-$who-$r.out"
			: >"$f"
			timeout $((IDLE / 20 + 120)) python3 "$T/idle.py" "$port" "$IDLE" "$T/cert.pem" $((IDLE / 20 + 100)) >"$f" 2>"$f.err" &
			cp=$!
			PIDS="$PIDS $cp"
			line=""
			for _ in $(seq 1 $((IDLE / 5 + 600))); do # 0.1 s steps
				line=$(grep '^OPEN' "$f" 2>/dev/null || true)
				[ -n "$line" ] && break
				kill -0 "$cp" 2>/dev/null || break
				sleep 0.1
			done
			sleep 1
			# shellcheck disable=SC2086
			after=$(sum_rss $pids)
			stop_pid "$cp"
			read -r _ nok nfail <<<"${line:-OPEN 0 $IDLE}"
			per=$(awk -v a="$after" -v b="$before" -v n="$nok" 'BEGIN { if (n == 0) print 0; else printf "%.2f", (a - b) / n }')
			say "scenario 4 round $r $who: $nok open ($nfail failed), RSS $before -> $after KiB, $per KiB/connection"
			[ "$nfail" -gt 0 ] && say "  WARNING: $nfail connections failed"
			if [ $who = nginx ]; then mn="$mn $per"; okn=$nok; else mo="$mo $per"; oko=$nok; fi
		done
	done
	# shellcheck disable=SC2086
	row "4 $IDLE idle TLS conns" "KiB per connection" "$(median $mn)" "$(median $mo)" "<=" 1.0
	[ "$okn" = "$IDLE" ] && [ "$oko" = "$IDLE" ] || say "WARNING: not every idle connection opened (nginx $okn, ours $oko)"
	restart_both
fi

# Scenario 8 (issue 14): the keep-alive load of a small client (8
# connections) while N idle keep-alive TLS connections stay open, as
# browsers keep them for a minute. Release 1's poll-mode workers scanned
# every connection on every wakeup.
if want 8; then
	write_idle_py
	for n in $IDLE8; do
		say "scenario 8: keep-alive GET 1 KiB, 8 connections, while $n idle TLS connections stay open"
		rn="" ro="" p99n="" p99o=""
		for r in $(seq 1 "$ROUNDS"); do
			for who in nginx ours; do
				restart_both
				port=$(port_of $who)
				f="$T/idle8-$who-$n-$r.out"
				: >"$f"
				timeout $((n / 20 + 200)) python3 "$T/idle.py" "$port" "$n" "$T/cert.pem" $((n / 20 + 100 + DUR)) >"$f" 2>"$f.err" &
				cp=$!
				PIDS="$PIDS $cp"
				for _ in $(seq 1 $((n / 5 + 600))); do
					grep -q '^OPEN' "$f" 2>/dev/null && break
					kill -0 "$cp" 2>/dev/null || break
					sleep 0.1
				done
				w="$T/wrk-s8-$who-$n-$r.txt"
				timeout $((DUR + 60)) wrk -t2 -c8 -d"${DUR}s" --latency "https://localhost:$port/1k" >"$w" 2>&1 || true
				read -r rps _ p99 err < <(wrk_parse "$w")
				say "scenario 8 n=$n round $r $who: $(grep '^OPEN' "$f" || echo 'OPEN ? ?') held; $rps req/s p99 $p99 ms errors $err"
				stop_pid "$cp"
				if [ $who = nginx ]; then rn="$rn $rps"; p99n="$p99n $p99"; else ro="$ro $rps"; p99o="$p99o $p99"; fi
			done
		done
		# shellcheck disable=SC2086
		{ row "8 keep-alive, $n idle open" "requests/s" "$(median $rn)" "$(median $ro)" ">=" 1.0
		  row "8 keep-alive, $n idle open" "p99 latency ms" "$(median $p99n)" "$(median $p99o)" "<=" 1.0; }
	done
	restart_both
fi

# perf_share PIDS SECS REGEX NAME -> percent of CPU samples (with callees,
# frame-pointer call graphs) in the functions whose name matches REGEX (an
# anchored ERE; the functions must not call each other).
perf_share() {
	local pids=$1 secs=$2 re=$3 data="$T/perf-$4.data"
	timeout $((secs + 30)) perf record -q -g -F 2999 -p "$pids" -o "$data" -- sleep "$secs" >/dev/null 2>&1 || true
	timeout 300 perf report -i "$data" --children --stdio --sort sym -g none 2>/dev/null >"$data.txt" || true
	awk -v re="$re" '/^ *[0-9.]+%/ { p = $1; sub(/%/, "", p); if ($NF ~ re) s += p }
		END { printf "%.2f", s + 0 }' "$data.txt"
}

if want 5; then
	say "scenario 5: rate limiter under 64 connections from one address"
	# The limiter cannot be switched off in reverse-proxy (requests_per_second
	# is 1..1000000), so every run of ours has it on; nginx runs with an
	# equivalent limit_req (1000000 r/s, burst 1000000 nodelay) on its own port.
	wrk_pair 5 nginx-rl ours
	row "5 limiter on, 1 address" "requests/s" "$W_RPS_N" "$W_RPS_O" ">=" 1.0
	if [ -n "${S1_RPS_O:-}" ]; then
		rowraw "5 limiter on, 1 address" "ours rps vs scenario 1" "-" "$W_RPS_O" \
			"$(awk -v a="$S1_RPS_O" -v b="$W_RPS_O" 'BEGIN{printf "%.2f", b/a}')" "(same config)" "-"
	fi
	if [ "$HAVE_PERF" = 1 ]; then
		# The limiter's share of each proxy's CPU samples while loaded.
		pd=$((DUR < 6 ? DUR - 1 : 5))
		[ "$pd" -lt 1 ] && pd=1
		( timeout $((DUR + 60)) wrk -t2 -c64 -d"${DUR}s" "https://localhost:$NGX_RL_PORT/1k" >/dev/null 2>&1 || true ) &
		wp=$!
		sleep 0.5
		shn=$(perf_share "$(pids_of nginx | tr ' ' ',' | sed 's/,$//')" "$pd" '^ngx_http_limit_req_handler$' nginx)
		wait $wp || true
		( timeout $((DUR + 60)) wrk -t2 -c64 -d"${DUR}s" "https://localhost:$OURS_PORT/1k" >/dev/null 2>&1 || true ) &
		wp=$!
		sleep 0.5
		sho=$(perf_share "$OURS_PID" "$pd" '^ratelimit_(allow|now_ms)$' ours)
		wait $wp || true
		say "limiter share of CPU samples: nginx $shn %, ours $sho %"
		rowraw "5 limiter on, 1 address" "limiter % of proxy CPU (perf)" "$shn" "$sho" "-" "ours <= 5%" \
			"$(awk -v s="$sho" 'BEGIN{print (s <= 5) ? "yes" : "NO"}')"
		rowraw "5 limiter on, 1 address" "ours with/without limiter (est. 1-share)" "-" "-" \
			"$(awk -v s="$sho" 'BEGIN{printf "%.3f", 1 - s/100}')" ">= 0.95x" \
			"$(awk -v s="$sho" 'BEGIN{print (1 - s/100 >= 0.95) ? "yes" : "NO"}')"
	fi
fi

SYSC="$T/syscalls.txt"
if want 6 && command -v strace >/dev/null 2>&1; then
	say "scenario 6: syscalls per request (strace -c -f, wrk 8 connections, 3 s)"
	: >"$SYSC"
	for who in nginx ours; do
		pids=$(pids_of $who)
		args=""
		for p in $pids; do args="$args -p $p"; done
		# shellcheck disable=SC2086
		timeout -s INT 60 strace -c -f -o "$T/strace-$who.txt" $args 2>/dev/null &
		sp=$!
		sleep 1
		timeout 60 wrk -t1 -c8 -d3s "https://localhost:$(port_of $who)/1k" >"$T/wrk-s6-$who.txt" 2>&1 || true
		kill -INT "$sp" 2>/dev/null || true
		wait "$sp" 2>/dev/null || true
		reqs=$(awk '/requests in/{print $1}' "$T/wrk-s6-$who.txt")
		total=$(awk '$NF == "total" {print $4}' "$T/strace-$who.txt")
		per=$(awk -v c="${total:-0}" -v r="${reqs:-0}" 'BEGIN { if (r == 0) print 0; else printf "%.2f", c / r }')
		say "scenario 6 $who: $total syscalls / $reqs requests = $per per request"
		if [ $who = nginx ]; then SC_N=$per; else SC_O=$per; fi
		{
			echo "$who: $per syscalls per request ($total / $reqs)"
			awk -v r="${reqs:-1}" '$NF != "total" && $4 ~ /^[0-9]+$/ { printf "  %-16s %7.2f\n", $NF, $4 / r }' \
				"$T/strace-$who.txt" | sort -k2 -g -r | head -n 10
		} >>"$SYSC"
	done
	row "6 syscalls (strace, 8 conns)" "syscalls per request" "$SC_N" "$SC_O" - -
fi

if want 7; then
	# The client side of the prescribed design alone: libmicrohttpd +
	# GnuTLS configured like the proxy, answering 1 KiB from memory,
	# against nginx serving the same file itself over TLS; and the CPU
	# each spends per request, next to the two proxies' (scenario 1's
	# load). ours - mhd_static is what the upstream half costs us (curl
	# threads, hand-offs, our request code); nginx proxy - nginx static
	# is what proxying costs nginx.
	say "scenario 7: CPU per request, and libmicrohttpd alone (bench/mhd_static)"
	MHDS="$T/mhd_static"
	# mhd_static.c carries a copy of lib/tls.c's priority string (it builds
	# on its own): refuse to measure if the two have drifted apart.
	prio_of() { awk '/priorities\[\] =/ { f = 1 } f { print } f && /;/ { exit }' "$1" |
		grep -o '"[^"]*"' | tr -d '"\n'; }
	[ "$(prio_of "$SRC/lib/tls.c")" = "$(prio_of "$SRC/bench/mhd_static.c")" ] ||
		{ echo "bench/mhd_static.c: its priority string differs from lib/tls.c's" >&2; exit 1; }
	# shellcheck disable=SC2046
	timeout 120 ${CC:-cc} -O2 -pthread -o "$MHDS" "$SRC/bench/mhd_static.c" \
		$(pkg-config --cflags --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd) >"$T/mhd_static.cc.log" 2>&1 ||
		{ cat "$T/mhd_static.cc.log" >&2; exit 1; }
	"$MHDS" "$MHD_STATIC_PORT" "$T/cert.pem" "$T/cert.key" "$(nproc)" >"$T/mhd_static.out" 2>&1 &
	MHDS_PID=$!
	PIDS="$PIDS $MHDS_PID"
	for _ in $(seq 1 100); do grep -q READY "$T/mhd_static.out" 2>/dev/null && break; sleep 0.05; done
	grep -q READY "$T/mhd_static.out" 2>/dev/null ||
		{ echo "mhd_static did not start:" >&2; cat "$T/mhd_static.out" >&2; exit 1; }
	cpu_ticks() { local p s=0 a; for p in "$@"; do
		a=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0); s=$((s + a)); done; echo $s; }
	HZ=$(getconf CLK_TCK)
	declare -A C7 R7
	for r in $(seq 1 "$ROUNDS"); do
		for who in nginx ours nginx-static mhd-static; do
			case $who in
			nginx | nginx-static) pids=$(children "$NPX_PID") ;;
			ours) pids=$OURS_PID ;;
			mhd-static) pids=$MHDS_PID ;;
			esac
			f="$T/wrk-s7-$who-$r.txt"
			# shellcheck disable=SC2086
			b=$(cpu_ticks $pids)
			wrk_run "$f" "https://localhost:$(port_of "$who")/1k"
			# shellcheck disable=SC2086
			a=$(cpu_ticks $pids)
			n=$(awk '/requests in/{print $1}' "$f")
			read -r rps _ _ err < <(wrk_parse "$f")
			ms=$(awk -v t=$((a - b)) -v n="${n:-0}" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.4f", t * 1000 / hz / n; else print 0 }')
			say "scenario 7 round $r $who: $rps req/s, $ms ms CPU per request, errors $err"
			C7[$who]="${C7[$who]:-} $ms"
			R7[$who]="${R7[$who]:-} $rps"
		done
	done
	stop_pid "$MHDS_PID"
	# shellcheck disable=SC2086
	{ cn=$(median ${C7[nginx]}); co=$(median ${C7[ours]}); cns=$(median ${C7[nginx-static]})
	  cms=$(median ${C7[mhd-static]}); rns=$(median ${R7[nginx-static]}); rms=$(median ${R7[mhd-static]}); }
	row "7 proxy, keep-alive 1KiB" "CPU ms per request" "$cn" "$co" - -
	row "7 TLS server alone (nginx / libmicrohttpd)" "requests/s" "$rns" "$rms" - -
	row "7 TLS server alone (nginx / libmicrohttpd)" "CPU ms per request" "$cns" "$cms" - -
	row "7 proxying part (proxy - server alone)" "CPU ms per request" \
		"$(awk -v a="$cn" -v b="$cns" 'BEGIN { printf "%.4f", a - b }')" \
		"$(awk -v a="$co" -v b="$cms" 'BEGIN { printf "%.4f", a - b }')" - -
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
say "load after: $LOAD_AFTER"

# ----------------------------------------------------------------- table ---
echo
echo "reverse-proxy vs nginx $(nginx -v 2>&1 | sed 's/.*\///'): $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ), rounds $ROUNDS, ${DUR}s wrk runs, load $LOAD_BEFORE -> $LOAD_AFTER"
{
	printf 'scenario\tmetric\tnginx\treverse-proxy\tours/nginx\ttarget\tmet?\n'
	cat "$RES"
} | awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; nf = NF }
	END { for (r = 1; r <= n; r++) { line = ""; for (i = 1; i <= nf; i++) line = line sprintf("%-" w[i] + 2 "s", c[r, i]); print line } }'
if [ -s "$SYSC" ]; then echo; echo "syscalls per request (top 10):"; cat "$SYSC"; fi
if [ -n "$MD_OUT" ]; then
	{
		echo "| scenario | metric | nginx | reverse-proxy | ours/nginx | target | met? |"
		echo "|---|---|---|---|---|---|---|"
		awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$RES"
		if [ -s "$SYSC" ]; then echo; echo '```'; cat "$SYSC"; echo '```'; fi
	} >"$MD_OUT"
	say "markdown table written to $MD_OUT"
fi
