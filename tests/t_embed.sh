#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The embedding example (examples/embed.c, public API only) serves a request
# through the library, receives events through the log callback, and shuts
# down cleanly on SIGTERM.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool

gen_cert a a.test
start_upstream
CERTS="a" base_config "$T/c.ini"
printf '[site a.test]\nupstream = 127.0.0.1:%s\n' "$UP_PORT" >>"$T/c.ini"
"$top_builddir/examples/embed" "$T/c.ini" >"$T/embed.out" 2>&1 &
EPID=$!
PIDS="$PIDS $EPID"
for _ in $(seq 1 100); do
	PX_PORT=$(sed -n 's/^embed: serving on port //p' "$T/embed.out" 2>/dev/null || true)
	[ -n "$PX_PORT" ] && break
	sleep 0.05
done
expect_eq "embed reports its port" "${PX_PORT:+yes}" yes
expect_eq "request through the embedded proxy" "$(status_of a a.test /echo)" 200
sleep 0.2
grep -q '^\[embed\] 2 REQUEST client_ip=127.0.0.1 host=a.test method=GET path=/echo status=200' "$T/embed.out" \
	&& ok "REQUEST event delivered to the log callback" || fail "REQUEST event delivered to the log callback"
grep -q '^\[embed\] 2 LISTENING ' "$T/embed.out" && ok "LISTENING event" || fail "LISTENING event"
kill -TERM "$EPID"
st=0; wait "$EPID" || st=$?
expect_eq "embed exits 0 after SIGTERM" "$st" 0
grep -q 'SHUTDOWN status=stopped' "$T/embed.out" && ok "SHUTDOWN event" || fail "SHUTDOWN event"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T/embed.out"; then
	fail "sanitizer report"; cat "$T/embed.out"
fi
finish
