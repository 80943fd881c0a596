#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# ACME as the current CAs want it (issue 17), against the real Pebble
# (2.6 or later: scripts/install-deps.sh --test installs it):
# - external account binding: a Pebble that requires it refuses an account
#   without (the proxy says what to configure) and creates one with
#   acme_eab_kid + acme_eab_hmac_key_file;
# - ARI (RFC 9773): the proxy asks renewalInfo when to renew and the
#   renewal order names the certificate it replaces; Pebble logs it as a
#   replacement of the first order.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"

HTTP_PORT=$(free_port)
# The MAC key as a CA hands it out (base64url, 48 bytes).
MAC=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
PB_EAB=true PB_EAB_KEYS="\"kid-1\": \"$MAC\""
start_dns
start_pebble "$HTTP_PORT" 30
start_upstream
curl -s --cacert "$T/pebble-ca.pem" "https://127.0.0.1:$PB_PORT/dir" >"$T/dir.json"
check "Pebble offers ARI (renewalInfo; Pebble >= 2.6: $(dpkg-query -W -f='${Version}' pebble 2>/dev/null))" \
	grep -q '"renewalInfo"' "$T/dir.json"

# 1. No binding configured: the CA's requirement is named, nothing ordered.
export ALKPROXY_ACME_BACKOFF_BASE_MS=60000 ALKPROXY_ACME_MIN_INTERVAL_MS=5000
acme_config "$T/none.ini" "$HTTP_PORT" "$T/cache-none" a.test
start_proxy "$T/none.ini"
wait_log "$PX_LOG" 'ACME_RETRY' 15 || true
stop_proxy
grep -q 'ACME_ERROR step=newAccount error="the CA requires an external account binding: set acme_eab_kid and acme_eab_hmac_key_file"' "$PX_LOG" &&
	ok "EAB required and missing: the error says what to set" || fail "EAB required and missing"

# 2. A wrong MAC key: the CA refuses, the proxy backs off.
printf '%s\n' "${MAC%????}AAAA" >"$T/wrong.key"
acme_config "$T/wrong.ini" "$HTTP_PORT" "$T/cache-wrong" a.test
printf 'acme_eab_kid = kid-1\nacme_eab_hmac_key_file = %s\n' "$T/wrong.key" >"$T/eab-wrong.txt"
sed -i "/^acme_ca_file/r $T/eab-wrong.txt" "$T/wrong.ini"
start_proxy "$T/wrong.ini"
wait_log "$PX_LOG" 'ACME_RETRY' 15 || true
stop_proxy
grep -q 'ACME_ERROR step=newAccount status=403 type=urn:ietf:params:acme:error:unauthorized' "$PX_LOG" &&
	ok "EAB with a wrong MAC key: refused by the CA (403 unauthorized)" || fail "EAB wrong key refused"

# 3. The right key: account bound, certificate issued; then renewed when
# renewalInfo says, with "replaces".
printf '%s\n' "$MAC" >"$T/mac.key"
chmod 600 "$T/mac.key"
acme_config "$T/c.ini" "$HTTP_PORT" "$T/cache" a.test b.test
printf 'acme_eab_kid = kid-1\nacme_eab_hmac_key_file = %s\n' "$T/mac.key" >"$T/eab.txt"
sed -i "/^acme_ca_file/r $T/eab.txt" "$T/c.ini"
check "config with EAB validates" "$PROXY" --validate --config "$T/c.ini"
start_proxy "$T/c.ini"
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 30 && ok "issued with an EAB-bound account" || fail "issued with EAB"
grep -q 'ACME_ACCOUNT status=created url=.* eab_kid=kid-1' "$PX_LOG" && ok "account created with eab_kid=kid-1" || fail "ACME_ACCOUNT eab_kid"
grep -q 'Successful newAccount Binding with CA using kid "kid-1"' "$PB_LOG" &&
	ok "Pebble: account bound to kid-1" || fail "Pebble log: newAccount Binding"
wait_log "$PX_LOG" 'ACME_ARI cert_id=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+ window_start=' 15 &&
	ok "renewalInfo asked: window logged" || fail "ACME_ARI window"
cert_id=$(sed -n 's/.*ACME_ARI cert_id=\([^ ]*\) .*/\1/p' "$PX_LOG" | head -n1)
# Pebble's window for a 30 s certificate opened a day before it was
# issued; the time chosen in it is now (after the 5 s minimum interval)
# or, at the latest, with a sixth of the lifetime left.
wait_log "$PX_LOG" 'ACME_RENEW' 40 && ok "renewal started" || fail "renewal started"
grep -q "ACME_RENEW reason=\"ari window\"" "$PX_LOG" && ok "renewal reason: ari window" || fail "ACME_RENEW reason=ari window"
for i in $(seq 1 150); do
	[ "$(grep -c 'ACME_CERT_ISSUED' "$PX_LOG")" -ge 2 ] && break
	sleep 0.1
done
expect_eq "renewed" "$(grep -c 'ACME_CERT_ISSUED' "$PX_LOG")" 2
first_order=$(sed -n 's/.*Issued certificate serial [0-9a-f]* for order \([^ ]*\)$/\1/p' "$PB_LOG" | head -n1)
if grep -Eq "ACME_ORDER status=[a-z]+ .* replaces=$cert_id" "$PX_LOG"; then
	ok "renewal order names the first certificate (replaces=$cert_id)"
	grep -q "ARI: order \"[^\"]*\" is a replacement of \"$first_order\"" "$PB_LOG" &&
		ok "Pebble: the renewal is a replacement of order $first_order" || fail "Pebble ARI replacement line"
	grep "ARI: order" "$PB_LOG" | head -n1 | sed 's/^/  pebble: /'
else
	# Pebble looks a serial up without its leading zero byte (1 in 256
	# of its certificates): it refuses "replaces" and the proxy orders
	# without. Only then is this branch a pass.
	serial1=$(sed -n 's/.*ACME_CERT_ISSUED serial=\([0-9a-f]*\) .*/\1/p' "$PX_LOG" | head -n1)
	case "$serial1" in
	00*) grep -q 'ACME_ORDER status="replaces refused"' "$PX_LOG" &&
		ok "renewal: replaces refused by Pebble (serial $serial1 has a leading zero byte), ordered without" ||
		fail "renewal order names the first certificate" ;;
	*) fail "renewal order names the first certificate (serial $serial1)" ;;
	esac
fi
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
finish
