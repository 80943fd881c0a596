#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Several instances sharing one acme_cache_dir (issue 20, SPEC F20): two
# instances on one Pebble (30-second certificates) and one cache
# directory, started together. Exactly one order reaches Pebble; both
# serve the same certificate (one ordered it under the directory's
# issuance lock, the other found it there). Pebble validates http-01 on
# instance 1's port only, whichever instance ordered: the answer is
# shared through the directory. The renewal goes the same way: one more
# order, both serve the new certificate. The lock file is empty between
# orders. Then a SIGHUP makes an instance look at the directory at once.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"

H1=$(free_port)
H2=$(free_port)
start_dns
start_pebble "$H1" 30
start_upstream
# renewal when a third of the 30 s remains; the sync interval is 1 s
export ALKPROXY_ACME_CHECK_INTERVAL_MS=2000 ALKPROXY_ACME_BACKOFF_BASE_MS=1000 \
	ALKPROXY_ACME_BACKOFF_MAX_MS=2000 ALKPROXY_ACME_MIN_INTERVAL_MS=5000 \
	ALKPROXY_ACME_SYNC_INTERVAL_MS=1000
acme_config "$T/c1.ini" "$H1" "$T/cache" a.test
acme_config "$T/c2.ini" "$H2" "$T/cache" a.test
: >"$T/p1.log"
: >"$T/p2.log"
"$PROXY" --config "$T/c1.ini" >>"$T/p1.log" 2>&1 &
P1=$!
"$PROXY" --config "$T/c2.ini" >>"$T/p2.log" 2>&1 &
P2=$!
PIDS="$PIDS $P1 $P2"

got_cert() { grep -Eq 'ACME_CERT_(ISSUED|SYNCED|LOADED)' "$1"; }
for _ in $(seq 1 300); do
	got_cert "$T/p1.log" && got_cert "$T/p2.log" && break
	sleep 0.1
done
check "instance 1 serves a certificate" got_cert "$T/p1.log"
check "instance 2 serves a certificate" got_cert "$T/p2.log"
issued() { grep -c 'Issued certificate serial' "$PB_LOG" || true; }
sleep 2 # an instance that wrongly orders too would be seen by now
expect_eq "one order at Pebble" "$(issued)" 1
i1=$(grep -c ACME_CERT_ISSUED "$T/p1.log" || true)
i2=$(grep -c ACME_CERT_ISSUED "$T/p2.log" || true)
expect_eq "one instance ordered (instance 1: $i1, instance 2: $i2)" "$((i1 + i2))" 1
if [ "$i2" = 1 ]; then
	log "instance 2 ordered: Pebble validated on instance 1's port 80 with the shared answer"
	check "instance 1 answered from the shared directory" \
		grep -q 'REQUEST client_ip=127.0.0.1 host=a.test:[0-9]* method=GET path=/.well-known/acme-challenge/[A-Za-z0-9_-]* status=200' "$T/p1.log"
fi
grep -h 'ACME_LOCK' "$T/p1.log" "$T/p2.log" | head -n 2 | while read -r l; do log "$l"; done

pebble_root || fail "Pebble root fetched"
port_of() { sed -n 's/.* LISTENING proto=https addr=.*:\([0-9]*\)$/\1/p' "$1" | head -n1; }
serial_of() { PX_PORT=$(port_of "$1") served_serial a.test; }
s1=$(serial_of "$T/p1.log")
s2=$(serial_of "$T/p2.log")
[ -n "$s1" ] && ok "instance 1 serves serial $s1" || fail "instance 1 serves a certificate"
expect_eq "instance 2 serves the same certificate" "$s2" "$s1"
PX_PORT=$(port_of "$T/p2.log")
expect_eq "instance 2 answers with it (curl, Pebble's root)" "$(acurl a.test /echo)" 200

# The renewal (due 20 s after issuance): one more order, both swap.
for _ in $(seq 1 400); do
	[ "$(issued)" -ge 2 ] && break
	sleep 0.1
done
expect_eq "renewal: a second order at Pebble" "$(issued)" 2
for _ in $(seq 1 60); do
	n1=$(serial_of "$T/p1.log")
	n2=$(serial_of "$T/p2.log")
	[ -n "$n1" ] && [ "$n1" != "$s1" ] && [ "$n2" = "$n1" ] && break
	sleep 0.2
done
check "both serve the renewed certificate ($s1 -> $n1 / $n2)" [ -n "$n1" ] && [ "$n1" != "$s1" ] && [ "$n2" = "$n1" ]
sleep 1.5
expect_eq "still two orders in all" "$(issued)" 2
r1=$(grep -c ACME_CERT_ISSUED "$T/p1.log" || true)
r2=$(grep -c ACME_CERT_ISSUED "$T/p2.log" || true)
s1c=$(grep -c ACME_CERT_SYNCED "$T/p1.log" || true)
s2c=$(grep -c ACME_CERT_SYNCED "$T/p2.log" || true)
log "issued by instance 1: $r1, by instance 2: $r2; picked up from the directory: $s1c, $s2c"
expect_eq "each certificate issued once and picked up once" "$((r1 + r2)) $((s1c + s2c))" "2 2"

expect_eq "no lock held between orders (issue.lock empty)" "$(wc -c <"$T/cache/issue.lock")" 0

# SIGHUP: look at the directory now. Instance 2 again, with sync and
# check intervals of 10 minutes (and no renewal of its own for 10 minutes
# after the last one: Pebble's ARI window is already open): it loads the renewed
# certificate at start and would not look again by itself. Another instance (a copy of the
# directory, then its certificate.json moved into the shared one, as a
# writer on shared storage would) puts a newer certificate there.
kill -TERM "$P2"
st=0; wait "$P2" || st=$?
expect_eq "instance 2 exits 0 on SIGTERM" "$st" 0
kill -TERM "$P1"
st=0; wait "$P1" || st=$?
expect_eq "instance 1 exits 0 on SIGTERM" "$st" 0
cp "$T/p2.log" "$T/p2a.log"
: >"$T/p2.log"
ALKPROXY_ACME_SYNC_INTERVAL_MS=600000 ALKPROXY_ACME_MIN_INTERVAL_MS=600000 \
	ALKPROXY_ACME_CHECK_INTERVAL_MS=600000 "$PROXY" --config "$T/c2.ini" >>"$T/p2.log" 2>&1 &
P2=$!
PIDS="$PIDS $P2"
wait_log "$T/p2.log" 'ACME_CERT_LOADED' 10 && ok "instance 2 restarted with the renewed certificate" || fail "instance 2 restarted with the cached certificate"
cp -a "$T/cache" "$T/cache3"
rm -f "$T/cache3/certificate.json" "$T/cache3/state.json"
acme_config "$T/c3.ini" "$H1" "$T/cache3" a.test
"$PROXY" --config "$T/c3.ini" >"$T/p3.log" 2>&1 &
P3=$!
PIDS="$PIDS $P3"
wait_log "$T/p3.log" 'ACME_CERT_ISSUED' 30 && ok "a third certificate ordered elsewhere" || fail "a third certificate ordered elsewhere"
kill -TERM "$P3"
wait "$P3" || true
cp "$T/cache3/certificate.json" "$T/cache/.incoming" && mv "$T/cache/.incoming" "$T/cache/certificate.json"
sleep 1.5
expect_eq "without SIGHUP instance 2 keeps its certificate" "$(serial_of "$T/p2.log")" "$n1"
kill -HUP "$P2"
wait_log "$T/p2.log" 'ACME_CERT_SYNCED' 5 && ok "SIGHUP: the new certificate picked up" || fail "SIGHUP: the new certificate picked up"
n3=$(serial_of "$T/p2.log")
check "instance 2 serves it ($n1 -> $n3)" [ -n "$n3" ] && [ "$n3" != "$n1" ]
expect_eq "orders at Pebble in all (two shared + the third)" "$(issued)" 3
kill -TERM "$P2"
st=0; wait "$P2" || st=$?
expect_eq "SIGTERM exits 0" "$st" 0
for PX_LOG in "$T/p1.log" "$T/p2a.log" "$T/p2.log" "$T/p3.log"; do check_sanitizer_clean; done
finish
