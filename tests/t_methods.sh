#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Methods and request-targets (SPEC F2): every method, including unknown
# tokens, reaches the upstream unchanged; POST/PUT bodies arrive intact
# (SHA-256); the raw request-target is forwarded byte-exact, never decoded,
# normalised or re-encoded.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool sha256sum

gen_cert a a.test
start_upstream
CERTS="a" base_config "$T/c.ini"
cat >>"$T/c.ini" <<EOT
[site a.test]
upstream = 127.0.0.1:$UP_PORT
EOT
start_proxy "$T/c.ini"

# Every method reaches the upstream with that method.
for m in GET POST PUT DELETE PATCH OPTIONS PROPFIND FROBNICATE; do
	out=$(pcurl a a.test "/echo?m=$m" -X "$m" 2>&1 || true)
	expect_eq "$m: upstream saw method $m" "$(printf '%s\n' "$out" | sed -n 's/^method: //p')" "$m"
	check "$m: upstream log has REQ $m" grep -qFx "REQ $m /echo?m=$m" "$UP_LOG"
done
st=$(status_of a a.test "/echo?m=HEAD" -I)
expect_eq "HEAD: 200" "$st" 200
check "HEAD: upstream log has REQ HEAD" grep -qFx "REQ HEAD /echo?m=HEAD" "$UP_LOG"

# Bodies arrive intact.
head -c 300000 /dev/urandom >"$T/body"
want=$(sha256sum <"$T/body" | cut -d' ' -f1)
for m in POST PUT; do
	out=$(pcurl a a.test /echo -X "$m" --data-binary @"$T/body" -H 'Content-Type: application/octet-stream' 2>&1 || true)
	expect_eq "$m body length" "$(printf '%s\n' "$out" | sed -n 's/^body-length: //p')" 300000
	expect_eq "$m body sha256" "$(printf '%s\n' "$out" | sed -n 's/^body-sha256: //p')" "$want"
done
# Binary body with NULs and CRLFs, chunked upload of unknown length.
out=$(head -c 70000 "$T/body" | pcurl a a.test /echo -X POST -H 'Transfer-Encoding: chunked' --data-binary @- 2>&1 || true)
expect_eq "chunked POST body sha256" "$(printf '%s\n' "$out" | sed -n 's/^body-sha256: //p')" \
	"$(head -c 70000 "$T/body" | sha256sum | cut -d' ' -f1)"
out=$(pcurl a a.test /echo -X POST --data-binary '' 2>&1 || true)
expect_eq "empty POST body length 0" "$(printf '%s\n' "$out" | sed -n 's/^body-length: //p')" 0

# The raw request-target is forwarded byte-exact.
long_q="/echo?k=$(head -c 1500 /dev/zero | tr '\0' 'a')&x=%41%2f%2F+%7E~"
for tgt in '/echo/a%2Fb' '/echo/%00x' '/echo/../x' '/echo/./y' '/echo?q=1&r=%20&s=a+b' \
	'/echo//double//slash' '/echo?a=%2e%2E&b=%25' '/echo?' '/echo%3Fnot-a-query' \
	'/echo;p=1?q' "$long_q"; do
	before=$(wc -l <"$UP_LOG")
	# --request-target: the client sends the target exactly (curl 8.14's
	# URL parser drops an empty "?"; issue 15)
	st=$(status_of a a.test / --request-target "$tgt")
	got=$(tail -n +"$((before + 1))" "$UP_LOG" | sed -n 's/^REQ GET //p' | head -n1)
	expect_eq "target forwarded byte-exact: ${tgt:0:60}" "$got" "$tgt"
	case $tgt in
	'/echo?'*) # served by /echo: its target line must match too
		out=$(pcurl a a.test / --request-target "$tgt" 2>&1 || true)
		expect_eq "echo target line: ${tgt:0:60}" "$(printf '%s\n' "$out" | sed -n 's/^target: //p')" "$tgt"
		expect_eq "status for ${tgt:0:40}" "$st" 200 ;;
	*) # not an upstream mode: the upstream's own 404 comes back
		expect_eq "upstream status passed back for ${tgt:0:40}" "$st" 404 ;;
	esac
done

# An unknown method with a body.
out=$(pcurl a a.test /echo -X FROBNICATE --data-binary 'hello' 2>&1 || true)
expect_eq "FROBNICATE with body: method" "$(printf '%s\n' "$out" | sed -n 's/^method: //p')" FROBNICATE
expect_eq "FROBNICATE with body: length" "$(printf '%s\n' "$out" | sed -n 's/^body-length: //p')" 5

# The REQUEST log line must not carry the query string (F9). Positive
# control: the request with a secret in its query is logged (one more
# GET /echo line), only without the query.
n_before=$(log_count ' REQUEST .* method=GET path=/echo status=200 ')
st=$(status_of a a.test / --request-target '/echo?token=s3cr3t-q')
expect_eq "query request served" "$st" 200
wait_log_count ' REQUEST .* method=GET path=/echo status=200 ' $((n_before + 1)) 5 || true
expect_eq "the query request was logged" \
	"$(log_count ' REQUEST .* method=GET path=/echo status=200 ')" $((n_before + 1))
check "its query was not" bash -c "! grep -q 's3cr3t' '$PX_LOG'"
if grep ' REQUEST ' "$PX_LOG" | grep -q 'q=1'; then
	fail "query string not logged"
else
	ok "query string not logged"
fi
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
