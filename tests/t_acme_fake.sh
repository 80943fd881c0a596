#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# ACME against a CA that misbehaves (tests/fake_ca.py; issue 17): the
# client never orders in a loop. A certificate for other names than asked
# is not installed and is a failure retried with backoff — at most one
# order per backoff step — and the backoff survives a restart (state.json);
# a certificate already due for renewal when it arrives serves, but the
# next order waits for the minimum interval; a certificate for another key
# is refused before it is served or cached; a CA's Retry-After is honoured;
# acme_profile goes into the order when the CA announces it, and an
# unknown one is an error naming what the CA offers.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"

pebble_tls
FK="$T/fake"
mkdir -p "$FK"
cp "$T/pebble.pem" "$FK/srv.pem"
cp "$T/pebble.key" "$FK/srv.key"
cp "$T/pebble-ca.pem" "$FK/ca.pem"
cp "$T/pebble-ca.key" "$FK/ca.key"
PB_PORT=$(free_port) # acme_config's directory URL points here
echo ok >"$FK/mode"
python3 "$top_srcdir/tests/fake_ca.py" "$PB_PORT" "$FK" 2>"$T/fake.log" &
PIDS="$PIDS $!"
for i in $(seq 1 100); do
	curl -s --max-time 2 --cacert "$T/pebble-ca.pem" -o /dev/null "https://127.0.0.1:$PB_PORT/dir" && break
	sleep 0.1
done
start_upstream
export ALKPROXY_ACME_BACKOFF_BASE_MS=1000 ALKPROXY_ACME_BACKOFF_MAX_MS=4000 ALKPROXY_ACME_CHECK_INTERVAL_MS=500
cp "$T/pebble-ca.pem" "$T/root.pem"

orders() { local n; n=$(grep -c '^ORDER' "$FK/orders.log" 2>/dev/null) || true; echo "${n:-0}"; }
# run_case NAME MODE: a proxy with its own cache dir cache-NAME.
run_case() {
	echo "$2" >"$FK/mode"
	: >"$FK/orders.log"
	acme_config "$T/$1.ini" "$(free_port)" "$T/cache-$1" a.test b.test
	start_proxy "$T/$1.ini"
}

# 1. The fake CA itself works: a good certificate is issued and served.
run_case ok ok
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 20 && ok "ok: issued" || fail "ok: issued"
expect_eq "ok: served" "$(acurl a.test /echo)" 200
stop_proxy

# 2. Names differ (the CA adds one): never installed, one order per
# backoff step (1, 2, 4 s, ±20%), not six in a second.
run_case extra extra_name
t0=$(date +%s.%N)
wait_log "$PX_LOG" 'ACME_RETRY in_ms=[0-9]+ failures=3 ' 20 || true
stop_proxy
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
cp "$PX_LOG" "$T/extra.log"
n=$(orders)
retries=$(grep -c 'ACME_RETRY' "$T/extra.log")
grep -q 'ACME_ERROR step=certificate error="names differ from acme_domains" action="not installed"' "$T/extra.log" &&
	ok "extra name: refused" || fail "extra name: refused"
check "extra name: never installed" test "$(grep -c 'ACME_CERT_ISSUED' "$T/extra.log")" -eq 0
expect_eq "extra name: orders until the third retry (${secs} s)" "$n" 3
check "extra name: one order per backoff step ($n orders, $retries retries)" test "$n" -le "$retries"
gaps_ok=$(awk '/^ORDER/ { if (prev && $2 - prev < 0.75) bad = 1; prev = $2 } END { print bad ? "no" : "yes" }' "$FK/orders.log")
expect_eq "extra name: orders at least 0.75 s apart" "$gaps_ok" yes
check "extra name: backoff saved in state.json" grep -q '"failures": 3' "$T/cache-extra/state.json"
# A restart keeps the backoff: no order before the saved next attempt.
: >"$FK/orders.log"
start_proxy "$T/extra.ini"
wait_log "$PX_LOG" 'ACME_CACHE status=backoff' 5 && ok "restart: backoff read from state.json" || fail "restart: backoff read"
sleep 1
expect_eq "restart: no order within 1 s (the backoff step is >= 3.2 s)" "$(orders)" 0
stop_proxy

# 3. Issued already due for renewal (20 s left of a 60 s lifetime): it
# serves, and the minimum interval (1 h) keeps the client from ordering
# again, though the backoff steps are 1-4 s.
run_case short short
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 20 && ok "short: issued and served" || fail "short: issued"
expect_eq "short: served" "$(acurl a.test /echo)" 200
sleep 6
grep -q 'ACME_ERROR step=certificate error="already due for renewal when issued' "$PX_LOG" &&
	ok "short: logged as due at issuance" || fail "short: logged as due at issuance"
expect_eq "short: one order in 6 s" "$(orders)" 1
stop_proxy

# 4. A certificate for another key: refused before it is served or cached.
run_case wrongkey wrong_key
wait_log "$PX_LOG" 'ACME_RETRY' 20 || true
stop_proxy
grep -q 'ACME_ERROR step=ACME_CERT_ISSUED error="certificate or key unusable" reason="key does not match the certificate"' "$PX_LOG" &&
	ok "wrong key: refused, reason named" || fail "wrong key: refused"
check "wrong key: not cached" test ! -e "$T/cache-wrongkey/certificate.json"
check "wrong key: not served" test "$(grep -c 'ACME_CERT_ISSUED serial' "$PX_LOG")" -eq 0

# 5. The CA's Retry-After (4 s) wins over the 1 s backoff step.
run_case limited rate_limited
wait_log "$PX_LOG" 'ACME_RETRY' 10 || true
for i in $(seq 1 100); do
	[ "$(orders)" -ge 2 ] && break
	sleep 0.1
done
stop_proxy
grep -q 'ACME_RETRY in_ms=4000 failures=1 retry_after_ms=4000' "$PX_LOG" &&
	ok "rate limited: waits the CA's Retry-After" || fail "rate limited: waits the CA's Retry-After"
gap=$(awk '/^ORDER/ { t[n++] = $2 } END { if (n >= 2) printf "%d", (t[1] - t[0]) * 1000; else print 0 }' "$FK/orders.log")
check "rate limited: second order ${gap} ms after the first (>= 3900)" test "$gap" -ge 3900

# 6. acme_profile: sent when announced; an unknown one is not ordered.
run_profile() {
	: >"$FK/orders.log"
	echo ok >"$FK/mode"
	acme_config "$T/$1.ini" "$(free_port)" "$T/cache-$1" a.test b.test
	sed -i "/^acme_ca_file/a acme_profile = $2" "$T/$1.ini"
	start_proxy "$T/$1.ini"
}
run_profile prof shortlived
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 20 && ok "profile: issued" || fail "profile: issued"
stop_proxy
check "profile: the order asked for shortlived" grep -q 'profile=shortlived' "$FK/orders.log"
grep -q 'ACME_ORDER status=ready .* profile=shortlived' "$PX_LOG" && ok "profile: logged" || fail "profile: logged"
run_profile noprof tlsserver
wait_log "$PX_LOG" 'ACME_RETRY' 20 || true
stop_proxy
grep -q 'ACME_ERROR step=newOrder error="acme_profile is not offered by the CA" profile=tlsserver offered=classic,shortlived' "$PX_LOG" &&
	ok "unknown profile: error names what the CA offers" || fail "unknown profile: error"
expect_eq "unknown profile: nothing ordered" "$(orders)" 0
finish
