#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# ACME against the real Pebble (SPEC F6, F7): one certificate for two
# names issued through the proxy's own port-80 listener; a client that
# trusts only Pebble's root gets 200 from both sites via SNI; the cache is
# 0600 and a restart reuses it (no new order at Pebble); a change of
# acme_domains orders a new certificate while the old one keeps serving;
# PEBBLE_WFE_NONCEREJECT=50 still issues (badNonce retry).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"

HTTP_PORT=$(free_port)
start_dns
start_pebble "$HTTP_PORT"
start_upstream
acme_config "$T/c.ini" "$HTTP_PORT" "$T/cache" a.test b.test
start_proxy "$T/c.ini"

if wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 60; then ok "certificate issued"; else fail "certificate issued"; fi
pebble_root || fail "Pebble root fetched"
expect_eq "a.test 200 verified against Pebble's root" "$(acurl a.test /echo)" 200
expect_eq "b.test 200 verified against Pebble's root" "$(acurl b.test /echo)" 200
expect_eq "cached certificate SANs are exactly the names" "$(cached_sans "$T/cache")" "a.test,b.test"
expect_eq "account.json mode" "$(stat -c %a "$T/cache/account.json")" 600
expect_eq "certificate.json mode" "$(stat -c %a "$T/cache/certificate.json")" 600
expect_eq "cache dir mode" "$(stat -c %a "$T/cache")" 700
expect_eq "no temp files left in the cache" "$(find "$T/cache" -name '.*' -type f | wc -l)" 0
expect_eq "one new order" "$(grep -c 'ACME_ORDER status=pending' "$PX_LOG")" 1
grep -q 'ACME_ACCOUNT status=created' "$PX_LOG" && ok "account created" || fail "account created"
# every authorization was completed (or reused) for both names
for n in a.test b.test; do
	grep -q "ACME_AUTHZ name=$n status=valid" "$PX_LOG" && ok "authz $n valid" || fail "authz $n valid"
done
grep -q 'ACME_CHALLENGE name=.* type=http-01 status=published' "$PX_LOG" || \
	grep -q 'reused=yes' "$PX_LOG" && ok "challenge published or authz reused" || fail "challenge published"
# Pebble really fetched a token from our listener (unless it reused both authzs)
if grep -q 'ACME_CHALLENGE' "$PX_LOG"; then
	grep -q 'path=/.well-known/acme-challenge/.* status=200 proto=http' "$PX_LOG" && ok "Pebble fetched the key authorization from port $HTTP_PORT" || fail "Pebble fetched the key authorization"
fi
expect_eq "no token is live after issuance" \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$(sed -n 's|.*path=/.well-known/acme-challenge/\([^ ]*\) status=200.*|\1|p' "$PX_LOG" | head -n1)")" 404
expect_eq "unknown token 404" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: a.test' "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/nope")" 404
expect_eq "SNI not in the certificate still refused" "$(acurl c.test /echo -k)" 000

log "ACME log sequence:"
grep -E ' (ACME_[A-Z_]+) ' "$PX_LOG" | sed 's/^/#   /'

# Restart: the cached certificate serves at once, no new order.
orders_before=$(grep -c 'POST /order-plz' "$PB_LOG")
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
start_proxy "$T/c.ini"
wait_log "$PX_LOG" 'ACME_CERT_LOADED' 10 && ok "cached certificate loaded" || fail "cached certificate loaded"
expect_eq "a.test 200 after restart" "$(acurl a.test /echo)" 200
expect_eq "b.test 200 after restart" "$(acurl b.test /echo)" 200
sleep 1
expect_eq "no ACME_ORDER after restart" "$(grep -c 'ACME_ORDER' "$PX_LOG")" 0
expect_eq "Pebble saw no new order" "$(grep -c 'POST /order-plz' "$PB_LOG")" "$orders_before"
expect_eq "account reused: no new account" "$(grep -c 'ACME_ACCOUNT' "$PX_LOG")" 0
old_serial=$(served_serial a.test)

# A changed acme_domains orders a new certificate; the old one serves
# meanwhile for the names it covers.
stop_proxy
acme_config "$T/c2.ini" "$HTTP_PORT" "$T/cache" a.test b.test c.test
start_proxy "$T/c2.ini"
wait_log "$PX_LOG" 'ACME_CACHE status="names changed"' 10 && ok "names change detected" || fail "names change detected"
wait_log "$PX_LOG" 'ACME_CERT_ISSUED .*names_match=yes' 60 && ok "new certificate for the new names" || fail "new certificate for the new names"
expect_eq "c.test 200 with the new certificate" "$(acurl c.test /echo)" 200
expect_eq "a.test still 200" "$(acurl a.test /echo)" 200
expect_eq "new cached SANs" "$(cached_sans "$T/cache")" "a.test,b.test,c.test"
[ "$(served_serial a.test)" != "$old_serial" ] && ok "a.test now served the new certificate" || fail "a.test served the new certificate"
stop_proxy

# Pebble rejecting half of all good nonces: badNonce retries carry it.
stop_pebble
PEBBLE_ENV="PEBBLE_WFE_NONCEREJECT=50" start_pebble "$HTTP_PORT"
grep -q 'reject 50% of good nonces' "$PB_LOG" && ok "Pebble rejects 50% of nonces" || fail "Pebble nonce rejection configured"
LOG_LEVEL=debug acme_config "$T/c3.ini" "$HTTP_PORT" "$T/cache3" a.test b.test
start_proxy "$T/c3.ini"
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 60 && ok "issued despite rejected nonces" || fail "issued despite rejected nonces"
n=$(grep -c 'ACME_NONCE_RETRY' "$PX_LOG" || true)
[ "$n" -ge 1 ] && ok "badNonce retried ($n times)" || fail "badNonce retried (got $n)"
pebble_root || fail "Pebble root fetched"
expect_eq "a.test 200 after nonce-reject issuance" "$(acurl a.test /echo)" 200
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
finish
