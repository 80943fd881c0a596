#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The libmicrohttpd examples of issue 18, built against the installed
# library with `pkg-config --cflags --libs alkproxy` and run:
# - examples/handler.c: a handler site (the program's own libmicrohttpd
#   access handler) and a proxied site behind one front door: TLS with SNI,
#   200s from both, the access callback (401, the user it vouches for, a
#   forged header refused), the body limit (413, also chunked), REQUEST
#   lines with handler=app, the rate limit (429 for the handler site too),
#   a handler label nobody registered refused with file:line, nothing on
#   stderr, a clean SIGTERM.
# - examples/mhd_certs.c: a plain libmicrohttpd daemon of the example's own
#   gets its certificate from Pebble through the certificate manager (the
#   HTTP-01 token served by the example's port-80 handler) and serves it;
#   the library writes nothing to the program's stdout.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/acme_lib.sh"
require_cmd curl certtool pkg-config make cc pebble pebble-challtestsrv

inst="$T/inst"
make -s -C "$top_builddir" install DESTDIR="$inst" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "make install"; finish; }
pc=$(find "$inst" -name alkproxy.pc | head -n1)
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$inst"
flags=$(pkg-config --cflags --libs alkproxy)
log "pkg-config: $flags"
for ex in handler mhd_certs; do
	# shellcheck disable=SC2086
	if cc ${SAN_CFLAGS:-} -o "$T/$ex" "$top_srcdir/examples/$ex.c" $flags -pthread 2>"$T/cc-$ex.log"; then
		ok "examples/$ex.c compiles against the installed library"
	else
		cat "$T/cc-$ex.log"; fail "examples/$ex.c compiles"; finish
	fi
done
libdir=$(dirname "$(find "$inst" -name 'libalkproxy.so' | head -n1)")
export LD_LIBRARY_PATH="$libdir"

sanitizer_clean() { # FILE...
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$@"; then
		fail "sanitizer report"; cat "$@"
	fi
}

# ---- examples/handler.c ----
gen_cert a a.test
gen_cert app app.test
start_upstream
TEST_RATE_LIMIT=0 CERTS="a app" base_config "$T/h.ini"
cat >>"$T/h.ini" <<EOF
[rate_limit]
requests_per_second = 1
burst = 40

[limits]
body_limit_bytes = 1000

[site a.test]
upstream = 127.0.0.1:$UP_PORT

[site app.test]
handler = app
EOF
"$T/handler" "$T/h.ini" >"$T/handler.out" 2>"$T/handler.err" &
HPID=$!
PIDS="$PIDS $HPID"
for _ in $(seq 1 200); do
	PX_PORT=$(sed -n 's/^handler: serving on port //p' "$T/handler.out" 2>/dev/null || true)
	[ -n "$PX_PORT" ] && break
	kill -0 "$HPID" 2>/dev/null || break
	sleep 0.05
done
expect_eq "handler example serves" "${PX_PORT:+yes}" yes
[ -n "$PX_PORT" ] || { cat "$T/handler.out" "$T/handler.err"; finish; }

expect_eq "handler site: the program's handler answers (SNI app.test, its own certificate)" \
	"$(pcurl app app.test /hello)" "app: GET /hello body=0 user=-"
expect_eq "proxied site beside it: the upstream answers" "$(status_of a a.test /echo)" 200
grep -q "^REQ GET /echo" "$UP_LOG" && ok "the upstream got the proxied request" || fail "the upstream got the proxied request"
expect_eq "the handler site's name is not in a.test's certificate" \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/a.pem" --resolve "app.test:$PX_PORT:127.0.0.1" "https://app.test:$PX_PORT/")" 000
expect_eq "a request body reaches the handler" \
	"$(head -c 600 /dev/zero | pcurl app app.test /upload --data-binary @-)" "app: POST /upload body=600 user=-"
expect_eq "Content-Length over body_limit_bytes: 413 before the handler" \
	"$(head -c 2000 /dev/zero | status_of app app.test /upload --data-binary @-)" 413
expect_eq "chunked body over body_limit_bytes: 413" \
	"$(head -c 2000 /dev/zero | status_of app app.test /upload -H 'Transfer-Encoding: chunked' --data-binary @-)" 413
expect_eq "access callback refuses /private without the token" "$(status_of app app.test /private/x)" 401
expect_eq "access callback's header reaches the handler" \
	"$(pcurl app app.test /private/x -H 'Authorization: Bearer letmein')" "app: GET /private/x body=0 user=alice"
expect_eq "a percent-encoded path is checked as the handler gets it (/%70rivate)" \
	"$(status_of app app.test /%70rivate/x)" 401
expect_eq "an absolute-form target to a handler site: 400" \
	"$(status_of app app.test /x --request-target "https://app.test/private/x" -H 'Host: evil.test')" 400
expect_eq "a client's own X-User is refused, never shown to the handler" \
	"$(status_of app app.test /private/x -H 'Authorization: Bearer letmein' -H 'X-User: mallory')" 400
h=$(pcurl app app.test /health -w ' %{http_code}' 2>/dev/null || true)
case "$h" in app:*|"") fail "/health on the handler site is the proxy's: $h" ;; *" 200") ok "/health on the handler site is the proxy's" ;; *) fail "/health: $h" ;; esac
sleep 0.3
grep -q 'REQUEST client_ip=127.0.0.1 host=app.test method=GET path=/hello status=200 upstream=- duration_ms=[0-9]* handler=app$' "$T/handler.out" \
	&& ok "REQUEST line for the handler site names the handler" || { fail "REQUEST line for the handler site"; grep REQUEST "$T/handler.out" | head -3; }
grep -q 'REQUEST .*host=a.test method=GET path=/echo status=200 upstream=127.0.0.1:' "$T/handler.out" \
	&& ok "REQUEST line for the proxied site" || fail "REQUEST line for the proxied site"
grep -q 'ACCESS_REFUSED .*host=app.test .*status=401' "$T/handler.out" && ok "ACCESS_REFUSED logged" || fail "ACCESS_REFUSED logged"
grep -q 'BAD_REQUEST .*host=app.test .*header=X-User' "$T/handler.out" && ok "forged header logged" || fail "forged header logged"
grep -q 'REQUEST .*path=/upload status=413' "$T/handler.out" && ok "413 logged" || fail "413 logged"

# the rate limit (burst 40, 1/s) holds for the handler site too
n429=0
for _ in $(seq 1 60); do
	[ "$(status_of app app.test /hello)" = 429 ] && n429=$((n429 + 1))
done
[ "$n429" -ge 10 ] && ok "rate limit: $n429 of 60 rapid requests to the handler site got 429" || fail "rate limit on the handler site: $n429 429s"
sleep 0.3
grep -q 'RATE_LIMIT .*host=app.test' "$T/handler.out" && ok "RATE_LIMIT line for the handler site" || fail "RATE_LIMIT line for the handler site"

kill -TERM "$HPID"
st=0; wait "$HPID" || st=$?
expect_eq "handler exits 0 after SIGTERM" "$st" 0
sanitizer_clean "$T/handler.err" "$T/handler.out"
expect_eq "nothing on stderr" "$(cat "$T/handler.err")" ""

# a handler site without a registered handler: refused at start, file:line
cp "$T/h.ini" "$T/h2.ini"
printf '\n[site other.test]\nhandler = other\n' >>"$T/h2.ini"
line=$(grep -n '^\[site other.test\]' "$T/h2.ini" | cut -d: -f1)
st=0; "$T/handler" "$T/h2.ini" >"$T/h2.out" 2>"$T/h2.err" || st=$?
expect_eq "unregistered handler label: start fails" "$st" 1
grep -q "h2.ini:$line: \[site other.test\]: no handler 'other' is registered" "$T/h2.err" \
	&& ok "…with file:line in the diagnostics" || { fail "unregistered handler diagnostics"; cat "$T/h2.err"; }
grep -q "handler: invalid configuration" "$T/h2.err" && ok "…and ECONFIG" || fail "ECONFIG for an unregistered handler"

# ---- examples/mhd_certs.c ----
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
start_dns
start_pebble "$HTTP_PORT"
cat >"$T/certs.ini" <<EOF
[tls]
mode = acme
acme_domains = app.test
acme_contact = mailto:admin@app.test
acme_directory = https://127.0.0.1:$PB_PORT/dir
acme_cache_dir = $T/certs-cache
acme_ca_file = $T/pebble-ca.pem

[logging]
file = $T/certs.log
EOF
"$T/mhd_certs" "$T/certs.ini" "$HTTPS_PORT" "$HTTP_PORT" >"$T/mhd.out" 2>"$T/mhd.err" &
MPID=$!
PIDS="$PIDS $MPID"
if wait_log "$T/certs.log" 'ACME_CERT_ISSUED' 60; then ok "certificate issued to the example's daemon"; else fail "certificate issued"; cat "$T/certs.log" "$T/mhd.err"; fi
pebble_root || fail "Pebble root fetched"
expect_eq "the example's own libmicrohttpd daemon serves the issued certificate" \
	"$(curl -sS --max-time 10 --cacert "$T/root.pem" --resolve "app.test:$HTTPS_PORT:127.0.0.1" "https://app.test:$HTTPS_PORT/" 2>&1)" "hello from mhd_certs"
if grep -q 'ACME_CHALLENGE .*type=http-01 status=published' "$T/certs.log" &&
	grep -q 'ACME_AUTHZ name=app.test status=valid type=http-01' "$T/certs.log"; then
	ok "HTTP-01 validated through the example's port-80 handler"
else
	fail "HTTP-01 validated through the example's port-80 handler"
fi
expect_eq "one order at Pebble" "$(grep -c 'Issued certificate serial' "$PB_LOG")" 1
expect_eq "a name outside the certificate is refused" \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/root.pem" --resolve "x.test:$HTTPS_PORT:127.0.0.1" "https://x.test:$HTTPS_PORT/")" 000
expect_eq "port 80: not a token → the program's own 404" \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/nope")" 404
kill -TERM "$MPID"
st=0; wait "$MPID" || st=$?
expect_eq "mhd_certs exits 0 after SIGTERM" "$st" 0
expect_eq "the library wrote nothing to the program's stdout" "$(cat "$T/mhd.out")" "mhd_certs: serving on ports $HTTPS_PORT and $HTTP_PORT"
sanitizer_clean "$T/mhd.err"
expect_eq "nothing on stderr" "$(cat "$T/mhd.err")" ""
log "the certificate manager's ACME log:"
grep -E ' ACME_[A-Z_]+ ' "$T/certs.log" | sed 's/^/#   /'
finish
