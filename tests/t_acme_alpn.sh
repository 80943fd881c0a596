#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# ACME with tls-alpn-01 (RFC 8737; issue 17) against the real Pebble: no
# port-80 listener at all (http_port = 0); Pebble's validator connects to
# the HTTPS listener with ALPN acme-tls/1 and gets the validation
# certificate, ordinary clients never do; the issued certificate serves.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"
require_cmd gnutls-cli

HTTPS_PORT=$(free_port)
PB_TLS_PORT=$HTTPS_PORT # where Pebble validates tls-alpn-01
start_dns
start_pebble "$(free_port)"
start_upstream
acme_config "$T/c.ini" 0 "$T/cache" a.test b.test
sed -i "s/^https_port = 0$/https_port = $HTTPS_PORT/" "$T/c.ini"
sed -i '/^acme_ca_file/a acme_challenge = tls-alpn-01' "$T/c.ini"
out=$("$PROXY" --validate --config "$T/c.ini" 2>&1) && ok "http_port = 0 validates with tls-alpn-01" || fail "validate: $out"
echo "$out" | grep -q 'tls-alpn-01 is validated on port 443' && ok "validate warns: port 443" || fail "validate warns about the port"
# the same with http-01 is an error naming the way out
sed 's/^acme_challenge = tls-alpn-01$/acme_challenge = http-01/' "$T/c.ini" >"$T/h.ini"
out=$("$PROXY" --validate --config "$T/h.ini" 2>&1) && fail "http-01 with http_port = 0 refused" ||
	{ echo "$out" | grep -q 'unless acme_challenge = tls-alpn-01' && ok "http-01 with http_port = 0 refused, way out named" || fail "http-01 refusal: $out"; }

start_proxy "$T/c.ini"
check "no port-80 listener" test "$(grep -c 'LISTENING proto=http ' "$PX_LOG")" -eq 0
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 30 && ok "issued through tls-alpn-01" || fail "issued through tls-alpn-01"
grep -q 'ACME_CHALLENGE name=a.test type=tls-alpn-01 status=published' "$PX_LOG" && ok "challenge published for a.test" || fail "challenge published"
grep -q 'ACME_CHALLENGE client_ip=127.0.0.1 name=a.test type=tls-alpn-01 status=served' "$PX_LOG" && ok "validation certificate served to the validator" || fail "validation certificate served"
grep -q 'ACME_AUTHZ name=b.test status=valid type=tls-alpn-01' "$PX_LOG" && ok "b.test valid by tls-alpn-01" || fail "b.test authz"
check "Pebble: authorizations valid by completed challenge" test "$(grep -c 'set VALID by completed challenge' "$PB_LOG")" -ge 2
pebble_root || fail "Pebble root fetched"
expect_eq "HTTPS with the issued certificate" "$(acurl a.test /echo)" 200
# After the validation, acme-tls/1 is not negotiated (it is offered only
# while a validation is under way) and the certificate is the issued one,
# without the acmeIdentifier extension. (During the validation an
# ordinary client offers http/1.1, not acme-tls/1, and gets the issued
# one too: the validation certificate lives apart from the served ones.)
timeout 5 gnutls-cli --insecure --alpn=acme-tls/1 --sni-hostname a.test -p "$PX_PORT" --print-cert 127.0.0.1 </dev/null >"$T/alpn.out" 2>&1 || true
certtool -i <"$T/alpn.out" >"$T/alpn.cert" 2>/dev/null || true
check "acme-tls/1 after the validation: a certificate was sent" grep -q 'Serial Number' "$T/alpn.cert"
check "acme-tls/1 after the validation: not the validation certificate" \
	test "$(grep -c '1.3.6.1.5.5.7.1.31' "$T/alpn.cert")" -eq 0
check "acme-tls/1 after the validation: ALPN not negotiated" \
	test "$(grep -c 'ALPN.*acme-tls' "$T/alpn.out")" -eq 0
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
finish
