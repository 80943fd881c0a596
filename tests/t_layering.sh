#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Layering (issue 14): no include or call cycle among the lib/ modules
# (scripts/check-layering.sh). Proves the check passes on lib/, and that it
# fails, naming the ties, on a copy of lib/ given a cycle (a call back from
# the state machine into the proxy, the kind the old design had).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd python3

CHECK="$top_srcdir/scripts/check-layering.sh"
if out=$(sh "$CHECK" "$top_srcdir/lib" 2>&1); then
	ok "lib/ has no include or call cycle"
else
	fail "lib/ has no include or call cycle"
fi
log "$out"

# The same tree with one forbidden call: xfer.c -> proxy.c (proxy.c
# already depends on xfer.c).
mkdir -p "$T/lib"
cp "$top_srcdir"/lib/*.c "$top_srcdir"/lib/*.h "$T/lib/"
printf '\nvoid xfer_bad(void *cls) { proxy_completed(cls, 0, 0, 0); }\n' >>"$T/lib/xfer.c"
if out=$(sh "$CHECK" "$T/lib" 2>&1); then
	fail "a call cycle is found (the check passed: $out)"
else
	printf '%s\n' "$out" | grep -q 'cycle among .*proxy\.c.*xfer\.c' &&
		printf '%s\n' "$out" | grep -q 'xfer -> proxy: xfer.c names proxy_completed' &&
		ok "a call cycle is found and its tie named" ||
		fail "a call cycle is found and its tie named: $out"
fi
# And an include cycle: router.h including server.h.
cp "$top_srcdir/lib/xfer.c" "$T/lib/xfer.c"
printf '#include "server.h"\n' >>"$T/lib/router.h"
if out=$(sh "$CHECK" "$T/lib" 2>&1); then
	fail "an include cycle is found (the check passed)"
else
	printf '%s\n' "$out" | grep -q 'router -> server: #include "server.h" in router.h' &&
		ok "an include cycle is found and its tie named" ||
		fail "an include cycle is found and its tie named: $out"
fi
finish
