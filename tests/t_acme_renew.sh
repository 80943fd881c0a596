#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# ACME renewal (SPEC F6): Pebble issues 60-second certificates; the proxy
# renews when a third of the lifetime remains and swaps the new one in
# without a restart while a client keeps making requests — no failed
# handshake or request. The CA is down when the renewal falls due: the
# failure backs off while the old certificate keeps serving, and the
# renewal succeeds once the CA is back (a new Pebble that has forgotten
# the account: the proxy registers again).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"

HTTP_PORT=$(free_port)
start_dns
start_pebble "$HTTP_PORT" 60
start_upstream
acme_config "$T/c.ini" "$HTTP_PORT" "$T/cache" a.test b.test
export ALKPROXY_ACME_CHECK_INTERVAL_MS=2000 ALKPROXY_ACME_BACKOFF_BASE_MS=1000 ALKPROXY_ACME_BACKOFF_MAX_MS=2000 ALKPROXY_ACME_MIN_INTERVAL_MS=10000
start_proxy "$T/c.ini"
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 30 && ok "first certificate issued" || fail "first certificate issued"
pebble_root || fail "Pebble root fetched"
cp "$T/root.pem" "$T/roots.pem"
serial1=$(served_serial a.test)
[ -n "$serial1" ] && ok "served serial $serial1" || fail "served serial"

# A client loop that trusts the roots in roots.pem, for at most 75 s.
: >"$T/client.log"
(
	end=$(( $(date +%s) + 75 ))
	while [ ! -f "$T/client.stop" ] && [ "$(date +%s)" -lt "$end" ]; do
		code=$(curl -sS --max-time 5 --cacert "$T/roots.pem" --resolve "a.test:$PX_PORT:127.0.0.1" \
			-o /dev/null -w '%{http_code}' "https://a.test:$PX_PORT/echo" 2>>"$T/client.err" || true)
		echo "$code" >>"$T/client.log"
		sleep 0.2
	done
) &
CL_PID=$!
PIDS="$PIDS $CL_PID"

# The CA goes away before the renewal is due (40 s after issuance).
stop_pebble
wait_log "$PX_LOG" 'ACME_RETRY .*serving="previous certificate"' 55 && ok "renewal failure backs off, old certificate serving" || fail "renewal failure backs off"
grep -Eq 'ACME_RENEW reason=(due|"ari window")' "$PX_LOG" && ok "renewal started when due" || fail "ACME_RENEW reason=due"
expect_eq "still served the old certificate" "$(served_serial a.test)" "$serial1"

# The CA returns (new root, no memory of the account).
start_pebble "$HTTP_PORT" 60
pebble_root || fail "new Pebble root fetched"
cat "$T/root.pem" >>"$T/roots.pem"
for i in $(seq 1 200); do
	[ "$(grep -c 'ACME_CERT_ISSUED' "$PX_LOG")" -ge 2 ] && break
	sleep 0.1
done
expect_eq "renewed without restart" "$(grep -c 'ACME_CERT_ISSUED' "$PX_LOG")" 2
grep -q 'ACME_ACCOUNT status="unknown to the CA"' "$PX_LOG" && ok "re-registered with the new CA" || fail "re-registered with the new CA"
sleep 2
serial2=$(served_serial a.test)
[ -n "$serial2" ] && [ "$serial2" != "$serial1" ] && ok "served serial changed ($serial1 -> $serial2)" || fail "served serial changed ($serial1 -> $serial2)"
expect_eq "same process" "$(kill -0 "$PX_PID" && echo alive)" alive
touch "$T/client.stop"
wait "$CL_PID" 2>/dev/null || true
total=$(wc -l <"$T/client.log")
bad=$(grep -vc '^200$' "$T/client.log" || true)
[ "$total" -ge 50 ] && ok "client made $total requests across the swap" || fail "client made only $total requests"
expect_eq "no failed handshake or request" "$bad" 0
[ -s "$T/client.err" ] && { log "client errors:"; head -5 "$T/client.err"; }
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
finish
