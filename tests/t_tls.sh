#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# TLS termination policy (SPEC F5), checked with real clients (gnutls-cli,
# curl): TLS 1.3 and 1.2 with ECDHE + AES-GCM / ChaCha20-Poly1305 work for
# ECDSA and RSA certificates; TLS 1.0/1.1, CBC suites, SHA-1 MACs, static
# RSA key exchange and FFDHE-only clients are refused; groups X25519, P-256,
# P-384 work; a wildcard certificate serves exactly one label under it.
# Sessions resume from tickets (TLS 1.3 and 1.2) unless session_tickets =
# false, and a resumed handshake is refused for a name we have no
# certificate for, like a full one.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool gnutls-cli python3 openssl

gen_cert a a.test
gen_cert w '*.wild.test'
# An RSA certificate for r.test.
printf 'cn = "r.test"\ndns_name = "r.test"\nexpiration_days = 7\ntls_www_server\nsigning_key\nencryption_key\n' >"$T/r.tmpl"
certtool --generate-privkey --key-type rsa --bits 2048 --outfile "$T/r.key" >/dev/null 2>&1
certtool --generate-self-signed --load-privkey "$T/r.key" --template "$T/r.tmpl" --outfile "$T/r.pem" >/dev/null 2>&1
start_upstream
HTTP_UP_PORT=$UP_PORT
CERTS="a w r" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[site a.test]
upstream = 127.0.0.1:$UP_PORT

[site x.wild.test]
upstream = 127.0.0.1:$UP_PORT

[site a.b.wild.test]
upstream = 127.0.0.1:$UP_PORT

[site wild.test]
upstream = 127.0.0.1:$UP_PORT

[site r.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/c.ini"

# hs CERT SNI PRIORITY [PORT]: TLS handshake with gnutls-cli, output in
# $T/hs.out; returns gnutls-cli's status (0 = handshake and verification ok).
hs() {
	timeout 10 gnutls-cli --x509cafile "$T/$1.pem" --sni-hostname "$2" \
		--verify-hostname "$2" --priority "$3" -p "${4:-$PX_PORT}" 127.0.0.1 \
		</dev/null >"$T/hs.out" 2>&1
}
# accepts DESC CERT SNI PRIORITY [EXPECTED-SUBSTRING...]
accepts() {
	local d=$1 c=$2 s=$3 p=$4 e
	shift 4
	if ! hs "$c" "$s" "$p"; then
		fail "$d accepted: $(grep -iE 'error|fail' "$T/hs.out" | head -n2 | tr '\n' ' ')"
		return
	fi
	for e in "$@"; do
		grep -qF -- "$e" "$T/hs.out" || { fail "$d: '$e' not in handshake info: $(grep -E '^- (Version|Cipher|Key Exchange|Description)' "$T/hs.out" | tr '\n' ' ')"; return; }
	done
	ok "$d accepted"
}
# refuses DESC PRIORITY: the handshake for a.test must fail.
refuses() {
	if hs a a.test "$2"; then
		fail "$1 refused (negotiated: $(grep -E '^- Description' "$T/hs.out" | tr '\n' ' '))"
	else
		ok "$1 refused"
	fi
}

# Control: the test upstream (GnuTLS "NORMAL") does accept the legacy
# options, so a refusal below is the proxy's policy, not the client's.
UP_N=9 start_upstream --tls "$T/a.pem" "$T/a.key"
TLSUP_PORT=$UP_PORT
TLSUP_LOG=$UP_LOG
for p in 'NORMAL:-VERS-ALL:+VERS-TLS1.1' 'NORMAL:-VERS-TLS1.3:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC' \
	'NORMAL:-VERS-TLS1.3:-KX-ALL:+RSA'; do
	if hs a a.test "$p" "$TLSUP_PORT"; then ctl=yes; else ctl=no; fi
	log "control (GnuTLS NORMAL server) accepts $p: $ctl"
done

accepts "TLS 1.3" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.3' '(TLS1.3-'
accepts "TLS 1.3 AES-256-GCM" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM' 'AES-256-GCM'
accepts "TLS 1.3 CHACHA20-POLY1305" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305' 'CHACHA20-POLY1305'
accepts "TLS 1.2 ECDHE-ECDSA AES-128-GCM" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM' '(TLS1.2-' '(ECDSA-' 'AES-128-GCM'
accepts "TLS 1.2 ECDHE-ECDSA AES-256-GCM" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM' '(TLS1.2-' 'AES-256-GCM'
accepts "TLS 1.2 ECDHE-ECDSA CHACHA20-POLY1305" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305' '(TLS1.2-' 'CHACHA20-POLY1305'
accepts "TLS 1.2 ECDHE-RSA AES-128-GCM (RSA certificate)" r r.test 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM' '(TLS1.2-' '(RSA-' 'AES-128-GCM'
accepts "TLS 1.2 ECDHE-RSA CHACHA20-POLY1305 (RSA certificate)" r r.test 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305' '(RSA-' 'CHACHA20-POLY1305'
accepts "TLS 1.3 with the RSA certificate" r r.test 'NORMAL:-VERS-ALL:+VERS-TLS1.3' '(TLS1.3-'

refuses "TLS 1.0" 'NORMAL:-VERS-ALL:+VERS-TLS1.0'
refuses "TLS 1.1" 'NORMAL:-VERS-ALL:+VERS-TLS1.1'
refuses "TLS 1.0 + 1.1 only" 'NORMAL:-VERS-ALL:+VERS-TLS1.0:+VERS-TLS1.1'
refuses "CBC suites" 'NORMAL:-VERS-TLS1.3:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC'
refuses "SHA-1 MAC" 'NORMAL:-VERS-TLS1.3:-MAC-ALL:+SHA1'
refuses "static RSA key exchange" 'NORMAL:-VERS-TLS1.3:-KX-ALL:+RSA'
if hs r r.test 'NORMAL:-VERS-TLS1.3:-KX-ALL:+RSA'; then fail "static RSA key exchange refused with the RSA certificate"; else ok "static RSA key exchange refused with the RSA certificate"; fi
if hs r r.test 'NORMAL:-VERS-TLS1.3:-KX-ALL:+DHE-RSA'; then fail "finite-field DHE-RSA (TLS 1.2) refused"; else ok "finite-field DHE-RSA (TLS 1.2) refused"; fi

accepts "group X25519 (TLS 1.3)" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519' 'ECDHE-X25519'
accepts "group P-256 (TLS 1.3)" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-SECP256R1' 'ECDHE-SECP256R1'
accepts "group P-384 (TLS 1.3)" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-SECP384R1' 'ECDHE-SECP384R1'
accepts "group X25519 (TLS 1.2)" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-GROUP-ALL:+GROUP-X25519' 'ECDHE-X25519'
accepts "group P-384 (TLS 1.2)" a a.test 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-GROUP-ALL:+GROUP-SECP384R1' 'ECDHE-SECP384R1'
refuses "FFDHE-only client (TLS 1.3)" 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-FFDHE2048:+GROUP-FFDHE3072'
refuses "FFDHE-only client (TLS 1.2)" 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-GROUP-ALL:+GROUP-FFDHE2048:+GROUP-FFDHE3072'
refuses "group P-521 only (not in X25519, P-256, P-384)" 'NORMAL:-GROUP-ALL:+GROUP-SECP521R1'

# Issue 16, finding 11 (Mozilla's intermediate profile). A TLS 1.3 client
# whose first key share is P-256 or P-384 gets no HelloRetryRequest (one
# ClientHello); the client chooses among our suites; a handshake with
# nothing in common gets its alert (protocol_version, handshake_failure)
# and a TLS_ERROR line.
osc() { # openssl s_client to a.test with extra options
	timeout 10 openssl s_client -connect "127.0.0.1:$PX_PORT" -servername a.test \
		-CAfile "$T/a.pem" "$@" </dev/null 2>&1
}
for g in P-256:X25519 P-384:X25519 X25519:P-256; do
	expect_eq "edge11: key share $g first: one ClientHello (no HelloRetryRequest)" \
		"$(osc -tls1_3 -groups "$g" -msg | grep -c '>>> .*ClientHello')" 1
done
check "edge11: TLS 1.3 client preferring ChaCha20 gets it" \
	grep -q 'Cipher is TLS_CHACHA20_POLY1305_SHA256' <<<"$(osc -tls1_3 \
	-ciphersuites TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256)"
check "edge11: TLS 1.3 client preferring AES-256 gets it" \
	grep -q 'Cipher is TLS_AES_256_GCM_SHA384' <<<"$(osc -tls1_3 \
	-ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256)"
check "edge11: TLS 1.2 client preferring ChaCha20 gets it" \
	grep -q 'Cipher is ECDHE-ECDSA-CHACHA20-POLY1305' <<<"$(osc -tls1_2 \
	-cipher ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256)"
alert_for() { # DESC PRIORITY ALERT-NUMBER LOG-ERROR
	local out
	out=$(timeout 5 gnutls-cli --x509cafile "$T/a.pem" --sni-hostname a.test \
		--priority "$2" -p "$PX_PORT" 127.0.0.1 </dev/null 2>&1 || true)
	check "edge11: $1: alert $3 received" grep -q "Received alert \[$3\]" <<<"$out"
	check "edge11: $1: TLS_ERROR error=\"$4\"" \
		grep -q "TLS_ERROR client_ip=127.0.0.1 sni=a.test error=\"$4\"" "$PX_LOG"
}
alert_for "TLS 1.1 only" 'NORMAL:-VERS-ALL:+VERS-TLS1.1' 70 "no common protocol version"
alert_for "CBC suites only" 'NORMAL:-VERS-TLS1.3:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC' 40 "no common cipher suite"
alert_for "FFDHE groups only" 'NORMAL:-GROUP-ALL:+GROUP-FFDHE2048' 40 "no common group"

# Wildcard certificate: *.wild.test covers x.wild.test only.
expect_eq "wildcard cert serves x.wild.test" "$(status_of w x.wild.test /echo)" 200
accepts "wildcard cert handshake for x.wild.test" w x.wild.test NORMAL
for n in a.b.wild.test wild.test; do
	if out=$(curl -sS --max-time 5 -k --resolve "$n:$PX_PORT:127.0.0.1" "https://$n:$PX_PORT/health" 2>&1); then
		fail "$n refused (no certificate covers it) (got: $out)"
	else
		ok "$n refused (no certificate covers it)"
	fi
	check "TLS_ERROR logged for $n" grep -q "TLS_ERROR .*sni=$n" "$PX_LOG"
done
# The refusal carries an unrecognized_name alert (RFC 6066), for an
# unknown name and for no SNI at all, with TLS 1.3 and 1.2.
python3 - "$PX_PORT" >"$T/alerts" <<'PY'
import socket, ssl, sys
for sni, ver in (("nope.test", None), ("nope.test", ssl.TLSVersion.TLSv1_2), (None, None), (None, ssl.TLSVersion.TLSv1_2)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ver:
        ctx.maximum_version = ver
    try:
        ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5), server_hostname=sni)
        print("accepted")
    except ssl.SSLError as e:
        print(e.reason)
    except Exception as e:
        print(type(e).__name__)
PY
expect_eq "unrecognized_name alert: unknown SNI (TLS 1.3), unknown SNI (TLS 1.2), no SNI (1.3), no SNI (1.2)" \
	"$(tr '\n' ' ' <"$T/alerts")" "TLSV1_UNRECOGNIZED_NAME TLSV1_UNRECOGNIZED_NAME TLSV1_UNRECOGNIZED_NAME TLSV1_UNRECOGNIZED_NAME "

# curl, TLS 1.2 only and TLS 1.3 only.
expect_eq "curl --tlsv1.2 --tls-max 1.2" "$(status_of a a.test /echo --tlsv1.2 --tls-max 1.2)" 200
expect_eq "curl --tlsv1.3" "$(status_of a a.test /echo --tlsv1.3)" 200
v=$(pcurl a a.test /health --tlsv1.2 --tls-max 1.2 -v 2>&1 | grep -o 'TLSv1\.[0-9]' | head -n1 || true)
expect_eq "curl with --tls-max 1.2 negotiated TLS 1.2" "$v" TLSv1.2
expect_eq "curl over the RSA certificate" "$(status_of r r.test /echo)" 200


# Session resumption: a ticket from one handshake resumes the next
# (TLS 1.3 PSK and TLS 1.2 RFC 5077 tickets), the request on the resumed
# connection is served; a ticket offered with a name no certificate covers
# is refused like a full handshake (the proxy's ClientHello check: GnuTLS
# 3.7 compares no names for TLS 1.3); a ticket offered with a name served
# by another certificate gives a full handshake (each certificate has its
# own ticket key), one offered with another name of the same certificate
# resumes with TLS 1.3 (GnuTLS itself allows TLS 1.2 tickets only under
# the exact same name).
# resume PORT: one line per TLS version: "new"/"reused" + HTTP status, or
# the error, per case: first, again, unknown name, other certificate's
# name, same wildcard certificate's other name.
resume() {
	python3 - "$1" "$T/a.pem" <<'PY'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
def get(ctx, sni, session=None):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                        server_hostname=sni, session=session)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "none"
    r = ("reused " if s.session_reused else "new ") + status
    sess = s.session
    s.close()
    return r, sess
for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.minimum_version = ctx.maximum_version = ver
    first, sess = get(ctx, "a.test")
    second, _ = get(ctx, "a.test", sess)
    ctx2 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx2.check_hostname = False
    ctx2.verify_mode = ssl.CERT_NONE
    ctx2.minimum_version = ctx2.maximum_version = ver
    _, sess2 = get(ctx2, "a.test")
    try:
        third, _ = get(ctx2, "nope.test", sess2)
    except ssl.SSLError as e:
        third = e.reason
    _, sess3 = get(ctx2, "a.test")
    fourth, _ = get(ctx2, "x.wild.test", sess3)
    _, sess4 = get(ctx2, "x.wild.test")
    fifth, _ = get(ctx2, "y.wild.test", sess4)
    print(first, "|", second, "|", third, "|", fourth, "|", fifth)
PY
}
before=$(grep -c 'TLS_ERROR.*sni=nope.test' "$PX_LOG" || true)
resume "$PX_PORT" >"$T/resume" 2>&1
expect_eq "session resumption, TLS 1.3 then TLS 1.2: first, resumed, unknown name, other certificate, same certificate" \
	"$(tr '\n' ' ' <"$T/resume")" \
	"new 200 | reused 200 | TLSV1_UNRECOGNIZED_NAME | new 200 | reused 200 new 200 | reused 200 | TLSV1_UNRECOGNIZED_NAME | new 200 | new 200 "
n=$(grep -c 'TLS_ERROR.*sni=nope.test' "$PX_LOG" || true)
expect_eq "each refused resumption logged once as TLS_ERROR" "$((n - before))" 2

stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean

# session_tickets = false: no ticket, every handshake is a full one.
TLS_EXTRA="session_tickets = false" CERTS="a w" base_config "$T/c2.ini"
printf '[site a.test]\nupstream = 127.0.0.1:%s\n' "$HTTP_UP_PORT" >>"$T/c2.ini"
start_proxy "$T/c2.ini"
resume "$PX_PORT" >"$T/resume2" 2>&1
expect_eq "session_tickets = false: nothing resumes" \
	"$(tr '\n' ' ' <"$T/resume2")" \
	"new 200 | new 200 | TLSV1_UNRECOGNIZED_NAME | new 200 | new 200 new 200 | new 200 | TLSV1_UNRECOGNIZED_NAME | new 200 | new 200 "
stop_proxy
expect_eq "SIGTERM exits 0 (session_tickets = false)" "$PX_STATUS" 0
check_sanitizer_clean
finish
