# SPDX-License-Identifier: MIT OR Apache-2.0
# tests/acme_lib.sh: helpers for the ACME integration tests, sourced after
# lib.sh. Runs Debian's real Pebble (the ACME test CA) and
# pebble-challtestsrv (its DNS, answering every name with 127.0.0.1 and no
# AAAA) on free loopback ports, and writes acme-mode proxy configs.
require_cmd pebble pebble-challtestsrv certtool curl python3

# free_port: print a TCP port that was free on 127.0.0.1 a moment ago,
# chosen below the kernel's ephemeral range (ip_local_port_range): a port
# picked now and bound later (a config written before the start) cannot
# then be taken as the local port of some outgoing connection, which
# tests running in parallel make by the thousand.
free_port() {
	python3 -c '
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
top = max(lo, 12000)
for _ in range(200):
    p = random.randrange(10000, top)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
'
}

# wait_log FILE PATTERN [SECONDS]: wait until grep -E finds PATTERN.
wait_log() {
	local f=$1 pat=$2 secs=${3:-30} i
	for i in $(seq 1 $((secs * 10))); do
		grep -Eq -- "$pat" "$f" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# pebble_tls: a CA and a server certificate for Pebble's own HTTPS
# ($T/pebble-ca.pem is what the proxy trusts through acme_ca_file).
pebble_tls() {
	[ -f "$T/pebble-ca.pem" ] && return 0
	cat >"$T/pebble-ca.tmpl" <<EOT
cn = "pebble test CA"
ca
cert_signing_key
expiration_days = 7
EOT
	cat >"$T/pebble-srv.tmpl" <<EOT
cn = "127.0.0.1"
dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_server
signing_key
encryption_key
expiration_days = 7
EOT
	certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$T/pebble-ca.key" >/dev/null 2>&1
	certtool --generate-self-signed --load-privkey "$T/pebble-ca.key" --template "$T/pebble-ca.tmpl" --outfile "$T/pebble-ca.pem" >/dev/null 2>&1
	certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$T/pebble.key" >/dev/null 2>&1
	certtool --generate-certificate --load-privkey "$T/pebble.key" --load-ca-certificate "$T/pebble-ca.pem" \
		--load-ca-privkey "$T/pebble-ca.key" --template "$T/pebble-srv.tmpl" --outfile "$T/pebble.pem" >/dev/null 2>&1
}

# start_dns: pebble-challtestsrv as Pebble's DNS; sets DNS_PORT.
start_dns() {
	DNS_PORT=$(free_port)
	# (-doh "": Pebble 2.6's challtestsrv would try a DoH server on :8443)
	local doh=()
	pebble-challtestsrv -h 2>&1 | grep -q -- '-doh ' && doh=(-doh "")
	pebble-challtestsrv -defaultIPv6 "" -defaultIPv4 127.0.0.1 \
		-dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
		"${doh[@]}" \
		-management "127.0.0.1:$(free_port)" >"$T/challtestsrv.log" 2>&1 &
	DNS_PID=$!
	PIDS="$PIDS $DNS_PID"
}

# start_pebble HTTP_PORT [VALIDITY_SECS]: Pebble validating HTTP-01 on
# HTTP_PORT. Keeps PB_PORT/PB_MGMT across restarts (so the directory URL
# in the proxy config stays right). Extra environment: PEBBLE_ENV;
# PB_TLS_PORT (where tls-alpn-01 is validated), PB_EAB=true and
# PB_EAB_KEYS='"kid": "base64url key"' (external account binding).
start_pebble() {
	local http=$1 validity=${2:-} n=${PB_N:-0}
	PB_N=$((n + 1))
	pebble_tls
	: "${PB_PORT:=$(free_port)}"
	: "${PB_MGMT:=$(free_port)}"
	{
		echo '{"pebble": {'
		echo "\"listenAddress\": \"127.0.0.1:$PB_PORT\","
		echo "\"managementListenAddress\": \"127.0.0.1:$PB_MGMT\","
		echo "\"certificate\": \"$T/pebble.pem\", \"privateKey\": \"$T/pebble.key\","
		[ -n "$validity" ] && echo "\"certificateValidityPeriod\": $validity,"
		echo "\"httpPort\": $http, \"tlsPort\": ${PB_TLS_PORT:-$(free_port)},"
		[ -n "${PB_EAB_KEYS:-}" ] && echo "\"externalAccountMACKeys\": {$PB_EAB_KEYS},"
		echo "\"ocspResponderURL\": \"\", \"externalAccountBindingRequired\": ${PB_EAB:-false}}}"
	} >"$T/pebble$n.json"
	PB_LOG="$T/pebble$n.log"
	env PEBBLE_VA_NOSLEEP=1 ${PEBBLE_ENV:-} pebble -config "$T/pebble$n.json" \
		-dnsserver "127.0.0.1:$DNS_PORT" >"$PB_LOG" 2>&1 &
	PB_PID=$!
	PIDS="$PIDS $PB_PID"
	local i
	for i in $(seq 1 100); do
		curl -s --max-time 2 --cacert "$T/pebble-ca.pem" -o /dev/null "https://127.0.0.1:$PB_PORT/dir" && return 0
		kill -0 "$PB_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "pebble did not start"; cat "$PB_LOG"; exit 99
}

stop_pebble() {
	kill "$PB_PID" 2>/dev/null || true
	wait "$PB_PID" 2>/dev/null || true
}

# pebble_root: Pebble's current root (it makes a new one at every start).
pebble_root() {
	curl -sS --max-time 5 --cacert "$T/pebble-ca.pem" "https://127.0.0.1:$PB_MGMT/roots/0" >"$T/root.pem"
	grep -q 'BEGIN CERTIFICATE' "$T/root.pem"
}

# acme_config FILE HTTP_PORT CACHE_DIR NAME...: acme-mode config with a
# site per name (upstream $UP_PORT) and Pebble as the directory.
acme_config() {
	local f=$1 http=$2 cache=$3 d list=""; shift 3
	for d in "$@"; do list="${list:+$list, }$d"; done
	{
		echo "[server]"
		echo "bind_addr = 127.0.0.1"
		echo "https_port = 0"
		echo "http_port = $http"
		echo "workers = 2"
		echo
		echo "[tls]"
		echo "mode = acme"
		echo "acme_domains = $list"
		echo "acme_contact = mailto:admin@a.test"
		echo "acme_directory = https://127.0.0.1:$PB_PORT/dir"
		echo "acme_cache_dir = $cache"
		echo "acme_ca_file = $T/pebble-ca.pem"
		echo
		echo "[logging]"
		echo "level = ${LOG_LEVEL:-info}"
		echo
		for d in "$@"; do
			echo "[site $d]"
			echo "upstream = 127.0.0.1:$UP_PORT"
			echo
		done
	} >"$f"
}

# acurl HOST PATH [ARGS]: HTTPS through the proxy, verified against
# Pebble's root; prints the status code.
acurl() {
	local h=$1 p=$2; shift 2
	curl -sS --max-time 10 --cacert "$T/root.pem" --resolve "$h:$PX_PORT:127.0.0.1" \
		-o /dev/null -w '%{http_code}' "$@" "https://$h:$PX_PORT$p" 2>/dev/null || true
}

# served_serial HOST: serial of the certificate the proxy presents for HOST.
served_serial() {
	timeout 5 gnutls-cli --insecure --print-cert --sni-hostname "$1" \
		-p "$PX_PORT" 127.0.0.1 </dev/null 2>/dev/null |
		certtool -i 2>/dev/null | sed -n 's/^[[:space:]]*Serial Number (hex): //p' | head -n1
}

# cached_sans DIR: the DNS names of the cached leaf, sorted, comma-joined.
cached_sans() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain"], end="")' "$1/certificate.json" |
		certtool -i 2>/dev/null | sed -n 's/^[[:space:]]*DNSname: //p' | sort | paste -sd, -
}
