#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The memcheck run of issue 7: every integration test of `make check`, with
# the proxy under valgrind memcheck (tests/lib.sh VALGRIND=1), one log per
# proxy process in a directory that outlives the tests; then a summary of
# the errors. Tests may fail on timing under valgrind's slowdown (they are
# listed); the verdict is the memcheck error count.
#   scripts/valgrind-suite.sh BUILDDIR [TEST...]
# BUILDDIR: a configured and built tree WITHOUT --enable-sanitizers.
set -u
b=$(cd "${1:?usage: valgrind-suite.sh BUILDDIR [TEST...]}" && pwd)
shift
src=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 2; }
if grep -q "^SAN_CFLAGS = .*-fsanitize" "$b/Makefile"; then
	echo "$b is a sanitizer build: valgrind needs a plain one"; exit 2
fi
out=$(mktemp -d /tmp/rp-valgrind.XXXXXX)
if [ $# -eq 0 ]; then
	make -s -C "$b" >/dev/null || exit 2
	set -- $(make -s -C "$b" print-integration-tests | tr ' ' '\n' | grep '^tests/t_.*\.sh$')
fi
failed=()
for t in "$@"; do
	t0=$(date +%s)
	if VALGRIND=1 VALGRIND_LOG_DIR="$out" top_builddir="$b" top_srcdir="$src" \
		timeout 1800 bash "$src/$t" >"$out/$(basename "$t" .sh).out" 2>&1; then
		r=PASS
	else
		r=FAIL
		failed+=("$t")
	fi
	echo "$r $t ($(( $(date +%s) - t0 )) s)"
done
procs=$(ls "$out"/vg.*.log 2>/dev/null | wc -l)
errs=0
for f in "$out"/vg.*.log; do
	[ -e "$f" ] || continue
	n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -n1)
	# --quiet prints nothing for a clean process; any report counts
	if [ -z "$n" ]; then
		n=$(grep -c '^==[0-9]*== [A-Z][a-z]' "$f" || true)
	fi
	if [ "${n:-0}" -gt 0 ]; then
		echo "memcheck errors in $f:"
		head -n 40 "$f"
	fi
	errs=$((errs + ${n:-0}))
done
echo "valgrind: $procs proxy processes, $errs memcheck errors; tests failing under valgrind: ${failed[*]:-none}; logs in $out"
[ "$errs" -eq 0 ]
