#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# CERT_EXPIRY (issue 17): the served certificates are checked at start,
# after a reload and then periodically (shortened here through
# ALKPROXY_CERT_CHECK_INTERVAL_MS): a warning when 14, 7 and 3 days are
# left (thresholds under a third of the lifetime), a sixth of the lifetime
# for short certificates, an error when expired; one line per step.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

# gen_dated NAME HOST START_OFFSET_SECS END_OFFSET_SECS: a self-signed
# certificate for HOST valid from now+START to now+END.
gen_dated() {
	local name=$1 host=$2 fmt='%Y-%m-%d %H:%M:%S'
	{
		echo "cn = \"$host\""
		echo "dns_name = \"$host\""
		echo "activation_date = \"$(date -u -d "@$(($(date +%s) + $3))" "+$fmt")\""
		echo "expiration_date = \"$(date -u -d "@$(($(date +%s) + $4))" "+$fmt")\""
		echo "tls_www_server"
		echo "signing_key"
	} >"$T/$name.tmpl"
	certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
		--outfile "$T/$name.key" >/dev/null 2>&1
	TZ=UTC certtool --generate-self-signed --load-privkey "$T/$name.key" \
		--template "$T/$name.tmpl" --outfile "$T/$name.pem" >/dev/null 2>&1
}
day=86400
gen_dated five five.test $((-360 * day)) $((5 * day))       # 5 days left of a year
gen_dated gone gone.test $((-30 * day)) $((-1 * day))       # expired yesterday
gen_dated short short.test $((-5 * day)) $((day / 2))       # 6-day cert, half a day left
gen_dated fresh fresh.test -60 $((90 * day))                # 90 days left
gen_dated soon soon.test $((-360 * day)) $((7 * day + 12))  # crosses 7 days in 12 s
start_upstream
CERTS="five soon gone short fresh" base_config "$T/c.ini"
for h in five soon gone short fresh; do
	printf '[site %s.test]\nupstream = 127.0.0.1:%s\n\n' "$h" "$UP_PORT" >>"$T/c.ini"
done
export ALKPROXY_CERT_CHECK_INTERVAL_MS=500
start_proxy "$T/c.ini"
wait_log() {
	local i
	for i in $(seq 1 $(($2 * 10))); do grep -Eq -- "$1" "$PX_LOG" && return 0; sleep 0.1; done
	return 1
}
wait_log 'CERT_EXPIRY .*names=soon.test' 5 || true
grep -Eq 'WARN CERT_EXPIRY status=expiring names=five.test not_after=[0-9TZ:-]+ days_left=5.0 threshold_days=7' "$PX_LOG" &&
	ok "5 days left of a year: warned at the 7-day step" || fail "five.test warning"
grep -Eq 'ERROR CERT_EXPIRY status=expired names=gone.test' "$PX_LOG" && ok "expired: error" || fail "gone.test expired"
grep -Eq 'WARN CERT_EXPIRY status=expiring names=short.test .* threshold_days="sixth of lifetime"' "$PX_LOG" &&
	ok "6-day certificate: warned at a sixth of its lifetime" || fail "short.test warning"
grep -Eq 'WARN CERT_EXPIRY status=expiring names=soon.test .* threshold_days=14' "$PX_LOG" &&
	ok "7 days + 12 s left: warned at the 14-day step" || fail "soon.test 14-day warning"
check "90 days left: nothing" test "$(grep -c 'CERT_EXPIRY.*fresh.test' "$PX_LOG")" -eq 0
# The periodic check sees soon.test cross 7 days; nothing repeats.
wait_log 'CERT_EXPIRY status=expiring names=soon.test .* threshold_days=7' 25 &&
	ok "periodic check: soon.test crossed the 7-day step" || fail "soon.test 7-day warning"
sleep 1
expect_eq "one line per step (five.test)" "$(grep -c 'CERT_EXPIRY.*names=five.test' "$PX_LOG")" 1
expect_eq "one line per step (gone.test)" "$(grep -c 'CERT_EXPIRY.*names=gone.test' "$PX_LOG")" 1
expect_eq "one line per step (soon.test: 14, then 7)" "$(grep -c 'CERT_EXPIRY.*names=soon.test' "$PX_LOG")" 2
# A reload loads the certificates anew and reports them once more.
reload_proxy
expect_eq "reload succeeded" "$RELOAD_RESULT" success
wait_log_count 'CERT_EXPIRY.*names=five.test' 2 5 || true
expect_eq "after a reload: reported again, once" "$(grep -c 'CERT_EXPIRY.*names=five.test' "$PX_LOG")" 2
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
finish
