#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# libalkproxy's lifecycle as an embedding program sees it (issue 18, item
# 1; tests/lifecycle.c): restart after stop serves, ESTATE for calls out of
# state, ELISTEN with the reason in diag, signals blocked in every library
# thread, versions agree — and not one byte on stderr (workers = 1 and the
# port-80 listener on, which is where libmicrohttpd used to print).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd certtool

gen_cert a a.test
start_upstream
CERTS="a" base_config "$T/c.ini"
# the port-80 listener on: libmicrohttpd runs it on a thread of its own
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s/^workers = 2\$/workers = 1/; s/^http_port = 0\$/http_port = $HTTP_PORT/" "$T/c.ini"
printf '[site a.test]\nupstream = 127.0.0.1:%s\n' "$UP_PORT" >>"$T/c.ini"
rc=0
"$top_builddir/tests/lifecycle" "$T/c.ini" "$T/a.pem" >"$T/out" 2>"$T/err" || rc=$?
cat "$T/out"
FAILS=$((FAILS + $(grep -c '^FAIL' "$T/out" || true)))
expect_eq "lifecycle exits 0" "$rc" 0
check "lifecycle ran its checks" grep -q '^ok: shutdown again: ESTATE' "$T/out"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T/err"; then
	fail "sanitizer report"; cat "$T/err"
elif [ -s "$T/err" ]; then
	fail "nothing on stderr"; head -5 "$T/err"
else
	ok "nothing on stderr"
fi
finish
