#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Handler sites and the certificate manager through the public API only
# (issue 18, items 2 and 4; tests/handlers.c): a handler that suspends and
# is resumed from a program thread, its completion callback and con_cls,
# the request record and stats of handler requests, registration errors,
# reloads with and without the handler; a plain libmicrohttpd daemon of the
# program served by a manual-mode certificate manager. Nothing on stderr.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd certtool

gen_cert hm h.test m.test s.test
CERTS="hm" base_config "$T/c.ini"
printf '[site h.test]\nhandler = slow\n[site s.test]\nhandler = stuck\n' >>"$T/c.ini"
rc=0
"$top_builddir/tests/handlers" "$T/c.ini" "$T/hm.pem" "$T/hm.pem" "$T/hm.key" >"$T/out" 2>"$T/err" || rc=$?
cat "$T/out"
FAILS=$((FAILS + $(grep -c '^FAIL' "$T/out" || true)))
expect_eq "handlers exits 0" "$rc" 0
check "handlers ran its checks" grep -q '^ok: certs: stop again is ESTATE' "$T/out"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T/err"; then
	fail "sanitizer report"; cat "$T/err"
elif [ -s "$T/err" ]; then
	fail "nothing on stderr"; head -5 "$T/err"
else
	ok "nothing on stderr"
fi
finish
