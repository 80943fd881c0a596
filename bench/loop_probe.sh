#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# bench/loop_probe.sh: measures bench/loop_probe.c (the release-2 worker
# loop, issue 14 step 1) under its guards, with nginx as a TLS proxy in the
# same run for the ratio:
#
#   bench/loop_probe.sh [--duration S] [--guards "none backoff park"]
#                       [--upstream-server PATH] [--idle N]
#
# For each guard: keep-alive 1 KiB requests/s and p99 (wrk, 64
# connections), then the same load and the probe's idle CPU while hostile
# or idle clients are held open: 20 clients stalled after 11 bytes of
# ClientHello, 200 stalled after the server's flight from one address and
# from 50 addresses, N idle keep-alive TLS connections; and a new TLS
# connection per request (the cost of parking a normal handshake). Every
# server listens on 127.0.0.1; everything stops on exit.
set -eu -o pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DUR=5
GUARDS="none backoff park"
UPSRV=""
IDLE=4000
while [ $# -gt 0 ]; do
	case $1 in
	--duration) DUR=$2; shift ;;
	--guards) GUARDS=$2; shift ;;
	--upstream-server) UPSRV=$2; shift ;;
	--idle) IDLE=$2; shift ;;
	-h | --help) sed -n '5,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
say() { printf '== %s\n' "$*" >&2; }
for c in wrk nginx certtool python3 pkg-config; do
	command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] ||
		{ echo "$c is needed (scripts/install-deps.sh --test)" >&2; exit 1; }
done
if [ -z "$UPSRV" ]; then
	for d in "$SRC" "$SRC/build/werror" "$SRC/build/demo"; do
		[ -x "$d/tests/upstream_server" ] && { UPSRV="$d/tests/upstream_server"; break; }
	done
fi
[ -x "$UPSRV" ] || { echo "no tests/upstream_server (--upstream-server PATH)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

T=$(mktemp -d /tmp/loop-probe.XXXXXX)
PIDS=""
cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The probe carries a copy of lib/tls.c's priority string.
prio_of() { sed -n '/priorities\[\] =/,/;$/p' "$1" | grep -o '"[^"]*"' | tr -d '"\n'; }
[ "$(prio_of "$SRC/lib/tls.c")" = "$(prio_of "$SRC/bench/loop_probe.c")" ] ||
	{ echo "bench/loop_probe.c: its priority string differs from lib/tls.c's" >&2; exit 1; }
# shellcheck disable=SC2046
${CC:-cc} -O2 -pthread -o "$T/loop_probe" "$SRC/bench/loop_probe.c" \
	$(pkg-config --cflags --libs libmicrohttpd libcurl gnutls)

certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$T/key.pem" >/dev/null 2>&1
printf 'cn = localhost\ndns_name = localhost\nexpiration_days = 30\ntls_www_server\nsigning_key\n' >"$T/tmpl"
certtool --generate-self-signed --load-privkey "$T/key.pem" --template "$T/tmpl" \
	--outfile "$T/cert.pem" >/dev/null 2>&1

"$UPSRV" --listen 127.0.0.1 --port 0 >"$T/up.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 100); do UP=$(awk '/^PORT/{print $2}' "$T/up.out"); [ -n "$UP" ] && break; sleep 0.05; done

NGX_PORT=$(free_port)
mkdir -p "$T/ngx"
cat >"$T/ngx/nginx.conf" <<EOF
worker_processes 2;
pid $T/ngx/nginx.pid;
error_log $T/ngx/error.log;
events { worker_connections 20000; }
worker_rlimit_nofile 40000;
http {
	access_log off;
	upstream up { server 127.0.0.1:$UP; keepalive 64; }
	server {
		listen 127.0.0.1:$NGX_PORT ssl;
		ssl_certificate $T/cert.pem;
		ssl_certificate_key $T/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		keepalive_timeout 300;
		keepalive_requests 1000000;
		location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
	}
}
EOF
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -c "$T/ngx/nginx.conf" -g 'daemon off;' &
PIDS="$PIDS $!"
sleep 0.5

URL_PATH="/bytes?n=1024"
# load PORT [extra wrk args]: "rps p99_ms"
load() {
	local port=$1; shift
	wrk -t1 -c64 -d"$DUR" --latency "$@" "https://localhost:$port$URL_PATH" >"$T/wrk.out" 2>&1 || true
	awk '/Requests\/sec/ {r = $2} /^ +99%/ {p = $2; if (p ~ /us$/) {sub(/us/, "", p); p /= 1000} else if (p ~ /ms$/) {sub(/ms/, "", p)} else if (p ~ /s$/) {sub(/s/, "", p); p *= 1000}} END {printf "%.0f %.2f\n", r, p}' "$T/wrk.out"
}
# hold PORT MODE N [SRCS]: start stall_clients.py, wait for HELD; sets HOLD_PID.
hold() {
	python3 "$SRC/bench/stall_clients.py" "$1" "$2" "$3" 600 "${4:-}" "$T/cert.pem" >"$T/hold.out" 2>&1 &
	HOLD_PID=$!
	for _ in $(seq 1 1200); do grep -q HELD "$T/hold.out" && break; sleep 0.05; done
	HELD=$(awk '/HELD/ {print $2}' "$T/hold.out")
}
unhold() { kill "$HOLD_PID" 2>/dev/null || true; wait "$HOLD_PID" 2>/dev/null || true; sleep 0.5; }
# idle_ticks PID: CPU ticks (1/100 s) over 4 s.
idle_ticks() { local a; a=$(ticks "$1"); sleep 4; echo $(($(ticks "$1") - a)); }

SRCS50=$(python3 -c 'print(",".join("127.0.1.%d" % i for i in range(1, 51)))')
printf '%-8s %-36s %10s %9s %12s\n' guard scenario "req/s" "p99 ms" "idle ticks/4s"
ngx=$(load "$NGX_PORT")
printf '%-8s %-36s %10s %9s %12s\n' nginx "keep-alive 1 KiB" $ngx -
hold "$NGX_PORT" idle "$IDLE"
ngx_idle=$(load "$NGX_PORT")
printf '%-8s %-36s %10s %9s %12s\n' nginx "... with $HELD idle TLS conns" $ngx_idle -
unhold
ngx_new=$(load "$NGX_PORT" -H "Connection: close")
printf '%-8s %-36s %10s %9s %12s\n' nginx "new TLS connection per request" $ngx_new -

for g in $GUARDS; do
	PORT=$(free_port)
	"$T/loop_probe" --port "$PORT" --upstream-port "$UP" --cert "$T/cert.pem" \
		--key "$T/key.pem" --guard "$g" --workers 2 --hs-timeout 60 >"$T/probe.out" 2>"$T/probe-$g.err" &
	PP=$!
	for _ in $(seq 1 100); do grep -q LISTENING "$T/probe.out" && break; sleep 0.05; done
	row() { printf '%-8s %-36s %10s %9s %12s\n' "$g" "$1" $2 "$3"; }
	row "keep-alive 1 KiB" "$(load "$PORT")" "$(idle_ticks "$PP")"
	hold "$PORT" partial 20
	it=$(idle_ticks "$PP")
	row "... 20 stalled after 11 bytes ($HELD)" "$(load "$PORT")" "$it"
	unhold
	if [ "$g" = none ]; then
		kill -INT "$PP"; wait "$PP" || true
		continue # it spins; the rest says nothing new
	fi
	hold "$PORT" flight 200
	it=$(idle_ticks "$PP")
	row "... 200 stalled after flight, 1 addr" "$(load "$PORT")" "$it"
	unhold
	hold "$PORT" flight 200 "$SRCS50"
	it=$(idle_ticks "$PP")
	row "... 200 after flight, 50 addrs ($HELD)" "$(load "$PORT")" "$it"
	unhold
	hold "$PORT" idle "$IDLE"
	it=$(idle_ticks "$PP")
	row "... $HELD idle keep-alive TLS conns" "$(load "$PORT")" "$it"
	unhold
	row "new TLS connection per request" "$(load "$PORT" -H "Connection: close")" -
	kill -INT "$PP"
	wait "$PP" || true
	sed 's/^/    /' "$T/probe-$g.err"
done
