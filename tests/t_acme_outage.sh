#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# ACME when the CA is unreachable (SPEC F6): with Pebble down at first
# start the proxy stays up, refuses TLS handshakes, keeps the port-80
# listener working and retries with exponential backoff (shortened through
# ALKPROXY_ACME_BACKOFF_BASE_MS / _MAX_MS); once Pebble is up it issues
# and serves. A corrupt cache is logged, set aside and recovered from.
# SIGTERM during a wait stops the ACME thread promptly. A cache directory
# of another user is refused at start; an interrupted write's temporary
# file is removed once 5 minutes old.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"

HTTP_PORT=$(free_port)
PB_PORT=$(free_port)
PB_MGMT=$(free_port)
pebble_tls
start_dns
start_upstream
mkdir -p "$T/cache"
printf '{"version":1,"directory":"https://127.0.0.1:%s/dir","key":"-----BEGIN PRI' "$PB_PORT" >"$T/cache/account.json"
printf 'not json at all' >"$T/cache/certificate.json"
# A cache directory another user owns is refused at start, with its
# reason (it could swap our key files).
# (as root one chown'ed to nobody, otherwise /, which is root's)
foreign=/
if [ "$(id -u)" = 0 ]; then
	foreign="$T/foreign"
	mkdir -p "$foreign"
	chown 65534:65534 "$foreign"
fi
acme_config "$T/cf.ini" "$HTTP_PORT" "$foreign" a.test
rc=0
timeout 20 "$PROXY" --config "$T/cf.ini" >"$T/foreign.out" 2>&1 || rc=$?
check "cache directory of another user: the proxy does not start" test "$rc" -ne 0 -a "$rc" -ne 124
check "cache directory of another user: the reason is named" \
	grep -q "acme_cache_dir $foreign: owned by another user" "$T/foreign.out"
# An interrupted write's temporary file (it may hold a key) is removed,
# once 5 minutes old; a younger one may be another instance's write in
# progress (a shared directory) and stays.
printf 'secret' >"$T/cache/.account.json.AbC123"
touch -d '10 minutes ago' "$T/cache/.account.json.AbC123"
printf 'secret' >"$T/cache/.state.json.XyZ789"
acme_config "$T/c.ini" "$HTTP_PORT" "$T/cache" a.test b.test
export ALKPROXY_ACME_BACKOFF_BASE_MS=400 ALKPROXY_ACME_BACKOFF_MAX_MS=1600
start_proxy "$T/c.ini"
check "stale temporary file removed at start" test ! -e "$T/cache/.account.json.AbC123"
check "its removal logged" grep -q 'ACME_CACHE status=stale_temp_removed file=.account.json.AbC123' "$PX_LOG"
check "a young one left alone" test -e "$T/cache/.state.json.XyZ789"
rm -f "$T/cache/.state.json.XyZ789"

wait_log "$PX_LOG" 'ERROR ACME_STORE_ERROR file=certificate.json' 10 && ok "corrupt certificate cache reported" || fail "corrupt certificate cache reported"
[ -f "$T/cache/certificate.json.corrupt" ] && ok "corrupt file set aside" || fail "corrupt file set aside"
wait_log "$PX_LOG" 'ACME_RETRY .*failures=3' 15 && ok "retries while the CA is down" || fail "retries while the CA is down"
grep -q 'ACME_ERROR step=directory' "$PX_LOG" && ok "ACME_ERROR names the failing step" || fail "ACME_ERROR step=directory"
# backoff doubles: 400, 800, 1600 ms, each within ±20 % jitter
delays=$(sed -n 's/.*ACME_RETRY in_ms=\([0-9]*\) failures=\([123]\) .*/\2:\1/p' "$PX_LOG" | head -n3 | tr '\n' ' ')
python3 - "$delays" <<'PY' && ok "exponential backoff ($delays)" || fail "exponential backoff ($delays)"
import sys
d = {int(k): int(v) for k, v in (x.split(":") for x in sys.argv[1].split())}
want = {1: 400, 2: 800, 3: 1600}
sys.exit(0 if all(0.79 * want[k] <= d.get(k, -1) <= 1.21 * want[k] for k in want) else 1)
PY
grep -q 'ACME_RETRY .*serving=nothing' "$PX_LOG" && ok "nothing served yet" || fail "ACME_RETRY serving=nothing"
kill -0 "$PX_PID" && ok "proxy stays up" || fail "proxy stays up"
if curl -sS --max-time 5 -k --resolve "a.test:$PX_PORT:127.0.0.1" "https://a.test:$PX_PORT/health" >/dev/null 2>&1; then
	fail "handshake refused without a certificate"
else
	ok "handshake refused without a certificate"
fi
expect_eq "port 80 redirects meanwhile" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: a.test' "http://127.0.0.1:$HTTP_PORT/x")" 301

start_pebble "$HTTP_PORT"
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 30 && ok "issued once Pebble is up" || fail "issued once Pebble is up"
grep -q 'ACME_STORE_ERROR file=account.json' "$PX_LOG" && ok "corrupt account file reported" || fail "corrupt account file reported"
grep -q 'ACME_ACCOUNT status=created' "$PX_LOG" && ok "new account after the corrupt one" || fail "new account created"
pebble_root || fail "Pebble root fetched"
expect_eq "a.test 200" "$(acurl a.test /echo)" 200
expect_eq "b.test 200" "$(acurl b.test /echo)" 200
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/cache/account.json" && ok "account.json rewritten valid" || fail "account.json rewritten valid"

t0=$(now_ms)
stop_proxy
t1=$(now_ms)
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
[ $((t1 - t0)) -lt 3000 ] && ok "stopped promptly ($((t1 - t0)) ms)" || fail "stopped promptly ($((t1 - t0)) ms)"
finish
