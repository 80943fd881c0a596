#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Metrics and readiness (issue 19, SPEC F18):
# - the example alert rules pass `promtool check rules` and fire as their
#   unit test (tests/prometheus/alerts_test.yml) expects;
# - [metrics] listen serves GET /metrics only (404 elsewhere, 405 for POST);
#   `promtool check metrics` accepts the exposition without a lint warning;
# - after a scripted mix (200s, 404s, a 502, a 504, 429s) every status
#   class's counter equals the REQUEST lines of the log, the upstream
#   errors are counted by kind, the rate limiter's refusals too;
# - a real prometheus server scrapes the listener (up == 1) and its
#   request counter equals the number of requests served;
# - reverse_proxy_certificate_not_after_timestamp_seconds is the loaded
#   certificate's notAfter; reloads are counted by result;
# - /health/ready: 200 in manual mode (HTTPS and port 80); in acme mode 503
#   "certificate" before the first issuance (Pebble down), 200 after it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"
require_cmd curl certtool promtool prometheus python3 pebble pebble-challtestsrv

metric() { # NAME_AND_LABELS_REGEX: sum of the matching samples
	curl -s --max-time 5 "http://127.0.0.1:$M_PORT/metrics" |
		awk -v re="^$1( |\\{)" '$0 ~ re {s += $NF} END {printf "%d\n", s}'
}
metric_sel() { # METRIC LABEL_SUBSTRING: sum of samples containing it
	curl -s --max-time 5 "http://127.0.0.1:$M_PORT/metrics" |
		awk -v m="$1" -v l="$2" 'index($0, m "{") == 1 && index($0, l) {s += $NF} END {printf "%d\n", s}'
}

# ---- the example alert rules (etc/prometheus) ----
out=$(promtool check rules "$top_srcdir/etc/prometheus/reverse-proxy-alerts.yml" 2>&1) &&
	ok "promtool check rules etc/prometheus/reverse-proxy-alerts.yml" || { fail "promtool check rules"; echo "$out"; }
out=$(cd "$top_srcdir/tests/prometheus" && promtool test rules alerts_test.yml 2>&1) &&
	ok "promtool test rules: the alerts fire when they should" || { fail "promtool test rules"; echo "$out"; }

# ---- manual mode: the mix ----
gen_cert a a.test b.test c.test x.test
start_upstream
M_PORT=$(free_port)
HTTP_PORT=$(free_port)
TEST_RATE_LIMIT=0 CERTS="a" base_config "$T/c.ini"
sed -i "s/^http_port = 0\$/http_port = $HTTP_PORT/" "$T/c.ini"
cat >>"$T/c.ini" <<EOF
[rate_limit]
requests_per_second = 1
burst = 20

[metrics]
listen = 127.0.0.1:$M_PORT

[site a.test]
upstream = 127.0.0.1:$UP_PORT

[site b.test]
upstream = 127.0.0.1:1

[site c.test]
upstream = 127.0.0.1:$UP_PORT
read_timeout_secs = 1
EOF
start_proxy "$T/c.ini"
grep -q "LISTENING proto=metrics addr=127.0.0.1:$M_PORT" "$PX_LOG" && ok "metrics listener logged" || fail "metrics listener logged"

for _ in 1 2 3 4 5; do status_of a a.test /echo >/dev/null; done
status_of a a.test /echo -X POST -d 'hello' >/dev/null
status_of a a.test /echo -H 'Host: nosuch.test' >/dev/null
status_of a x.test /echo >/dev/null
expect_eq "502 from a dead upstream" "$(status_of a b.test /)" 502
expect_eq "504 from a slow upstream" "$(status_of a c.test '/slowhead?ms=2500')" 504
expect_eq "/health/ready on HTTPS (manual mode)" "$(status_of a a.test /health/ready)" 200
expect_eq "/health/ready on port 80" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health/ready")" 200
n429=0
for _ in $(seq 1 30); do [ "$(status_of a a.test /echo)" = 429 ] && n429=$((n429 + 1)); done
[ "$n429" -gt 0 ] && ok "rate limit reached ($n429 429s)" || fail "rate limit reached"
sleep 0.5

expect_eq "/metrics elsewhere: 404" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M_PORT/")" 404
expect_eq "POST /metrics: 405" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$M_PORT/metrics")" 405
curl -s "http://127.0.0.1:$M_PORT/metrics" >"$T/scrape.txt"
expect_eq "content type" "$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$M_PORT/metrics")" "text/plain; version=0.0.4; charset=utf-8"
lint=$(promtool check metrics <"$T/scrape.txt" 2>&1); rc=$?
expect_eq "promtool check metrics: no problem, no lint warning" "$rc:$lint" "0:"

# the counters against the log (HTTPS REQUEST lines only)
for st in 200 404 429 502 504; do
	logged=$(grep "REQUEST " "$PX_LOG" | grep -v 'proto=http' | grep -c "status=$st ")
	expect_eq "requests with code $st: metric = log" "$(metric_sel reverse_proxy_requests_total "code=\"$st\"")" "$logged"
done
total=$(grep "REQUEST " "$PX_LOG" | grep -vc 'proto=http')
expect_eq "all requests: metric = log" "$(metric reverse_proxy_requests_total)" "$total"
expect_eq "POST counted by method" "$(metric_sel reverse_proxy_requests_total 'site="a.test",code="200",method="POST"')" 1
expect_eq "404s without a route counted under site=\"-\"" "$(metric_sel reverse_proxy_requests_total 'site="-",code="404"')" 2
expect_eq "429s counted for the site their host names" "$(metric_sel reverse_proxy_requests_total 'site="a.test",code="429"')" "$n429"
expect_eq "upstream error counted (b.test, error)" "$(metric_sel reverse_proxy_upstream_errors_total 'site="b.test",kind="error"')" 1
expect_eq "upstream timeout counted (c.test, timeout)" "$(metric_sel reverse_proxy_upstream_errors_total 'site="c.test",kind="timeout"')" 1
expect_eq "rate-limit refusals = RATE_LIMIT lines" "$(metric reverse_proxy_rate_limited_total)" "$(grep -c ' RATE_LIMIT ' "$PX_LOG")"
expect_eq "request body bytes of a.test" "$(metric_sel reverse_proxy_request_body_bytes_total 'site="a.test"')" 5
expect_eq "duration histogram count = a.test's requests" \
	"$(metric_sel reverse_proxy_request_duration_seconds_count 'site="a.test"')" \
	"$(grep "REQUEST " "$PX_LOG" | grep -v 'proto=http' | grep -c 'host=a.test ')"
na=$(date -d "$(openssl x509 -in "$T/a.pem" -noout -enddate | cut -d= -f2)" +%s)
expect_eq "certificate not_after = the certificate's" "$(metric_sel reverse_proxy_certificate_not_after_timestamp_seconds 'certificate="a.test"')" "$na"
expect_eq "ready gauge" "$(metric reverse_proxy_ready)" 1
expect_eq "handshakes counted" "$([ "$(metric reverse_proxy_tls_handshakes_total)" -gt 0 ] && echo yes)" yes
raw_tls_status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/a.pem" --resolve "z.test:$PX_PORT:127.0.0.1" "https://z.test:$PX_PORT/" || true)
expect_eq "unknown SNI refused" "$raw_tls_status" 000
expect_eq "handshake failure counted by reason" "$(metric_sel reverse_proxy_tls_handshake_failures_total 'reason="unknown_name"')" 1

# reloads by result
reload_proxy
printf '[site bad\n' >>"$T/c.ini"
kill -HUP "$PX_PID"
wait_log_count 'CONFIG_RELOAD status=failure' 1 >/dev/null 2>&1 || true
sleep 0.3
expect_eq "reloads counted: success" "$(metric_sel reverse_proxy_config_reloads_total 'result="success"')" 1
expect_eq "reloads counted: failure" "$(metric_sel reverse_proxy_config_reloads_total 'result="failure"')" 1

# a real prometheus scrapes it
P_PORT=$(free_port)
cat >"$T/prom.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: reverse-proxy
    static_configs:
      - targets: ['127.0.0.1:$M_PORT']
EOF
promtool check config "$T/prom.yml" >/dev/null 2>&1 && ok "scrape config valid" || fail "scrape config valid"
prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/prom-data" \
	--web.listen-address="127.0.0.1:$P_PORT" >"$T/prom.log" 2>&1 &
PIDS="$PIDS $!"
pq() { # PROMQL: the first result's value, or empty
	curl -s --max-time 3 "http://127.0.0.1:$P_PORT/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "")
except Exception:
    print("")'
}
want=$(metric reverse_proxy_requests_total)
up="" got=""
for _ in $(seq 1 150); do
	up=$(pq 'up{job="reverse-proxy"}')
	got=$(pq 'sum(reverse_proxy_requests_total)')
	[ "$up" = 1 ] && [ "$got" = "$want" ] && break
	sleep 0.2
done
expect_eq "prometheus: up == 1" "$up" 1
expect_eq "prometheus: sum(reverse_proxy_requests_total) = requests served ($want)" "$got" "$want"
log "prometheus scrape: up=$up requests=$got"
check_sanitizer_clean
stop_proxy
expect_eq "proxy exits 0" "$PX_STATUS" 0

# ---- acme mode: not ready before the first issuance, ready after ----
HTTP_PORT=$(free_port)
M_PORT=$(free_port)
pebble_tls
PB_PORT=$(free_port)
PB_MGMT=$(free_port)
acme_config "$T/a.ini" "$HTTP_PORT" "$T/cache" a.test
printf '\n[metrics]\nlisten = 127.0.0.1:%s\n' "$M_PORT" >>"$T/a.ini"
export ALKPROXY_ACME_BACKOFF_BASE_MS=300 ALKPROXY_ACME_BACKOFF_MAX_MS=600
start_proxy "$T/a.ini"
wait_log "$PX_LOG" 'ACME_RETRY' 20 && ok "first order fails (no CA yet)" || fail "first order fails"
expect_eq "/health/ready before the first issuance: 503" \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health/ready")" 503
expect_eq "…with the reason" "$(curl -s "http://127.0.0.1:$HTTP_PORT/health/ready")" certificate
expect_eq "/health (liveness) is 200 meanwhile" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health")" 200
expect_eq "ready gauge 0" "$(metric reverse_proxy_ready)" 0
expect_eq "failed orders counted" "$([ "$(metric_sel reverse_proxy_acme_orders_total 'result="failed"')" -ge 1 ] && echo yes)" yes
start_dns
start_pebble "$HTTP_PORT"
wait_log "$PX_LOG" 'ACME_CERT_ISSUED' 60 && ok "issued once Pebble is up" || fail "issued once Pebble is up"
expect_eq "/health/ready after the issuance: 200" \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health/ready")" 200
pebble_root || fail "Pebble root fetched"
expect_eq "/health/ready on HTTPS too" "$(acurl a.test /health/ready)" 200
expect_eq "ready gauge 1" "$(metric reverse_proxy_ready)" 1
expect_eq "issued orders counted" "$(metric_sel reverse_proxy_acme_orders_total 'result="issued"')" 1
next=$(metric reverse_proxy_acme_next_renewal_timestamp_seconds)
[ "$next" -gt "$(date +%s)" ] && ok "next renewal planned in the future ($next)" || fail "next renewal: $next"
lint=$(curl -s "http://127.0.0.1:$M_PORT/metrics" | promtool check metrics 2>&1); rc=$?
expect_eq "promtool (acme mode)" "$rc:$lint" "0:"
stop_proxy
expect_eq "proxy exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
