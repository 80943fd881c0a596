#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# The project's test command. Installs the dependencies, regenerates the
# build system, then configures, builds and runs `make check` in separate
# out-of-tree builds under build/:
#
#   build/werror    ../../configure --enable-werror
#   build/sanitize  ../../configure --enable-werror --enable-sanitizers
#   build/debian13  (when selected, as .ci/run does) --enable-werror in a
#                   Debian 13 chroot: scripts/test-debian13.sh, needs root;
#                   the results come back to build/debian13
#
# Each build's output goes to build/NAME/build.log; the terminal gets one
# progress line per phase and, at the end, the failed (and skipped) tests with
# the tail of their logs. The last line printed is always
#
#   N passed, N failed
#
# and the exit status is 0 exactly when nothing failed.
#
# Options:
#   --no-skip   a skipped test counts as failed (implied when CI=true)
#   --help
# Environment:
#   AP_TEST_BUILDS   builds to run, default "werror sanitize"
#                    (also known: "plain", configured without options, and
#                    "debian13"; .ci/run runs "werror sanitize debian13")
#   AP_TEST_TIMEOUT  seconds allowed for each `make check`, default 1800,
#                    0 = no limit
#   AP_TEST_TAIL     log lines shown per failed test, default 30
#   AP_SKIP_DEPS=1   do not run scripts/install-deps.sh
set -u

no_skip=0
[ "${CI:-}" = true ] && no_skip=1
for arg in "$@"; do
	case "$arg" in
	--no-skip) no_skip=1 ;;
	-h|--help)
		sed -n '3,/^set -u$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0 ;;
	*)
		echo "usage: $0 [--no-skip]" >&2
		echo "0 passed, 1 failed"
		exit 2 ;;
	esac
done

builds="${AP_TEST_BUILDS:-werror sanitize}"
check_timeout="${AP_TEST_TIMEOUT:-1800}"
tail_lines="${AP_TEST_TAIL:-30}"
case "$check_timeout" in ''|*[!0-9]*) check_timeout=1800 ;; esac
case "$tail_lines" in ''|*[!0-9]*) tail_lines=30 ;; esac

srcdir=$(cd "$(dirname "$0")/.." && pwd) || {
	echo "0 passed, 1 failed"
	exit 1
}
cd "$srcdir" || exit 1
mkdir -p build

t0=$(date +%s)
phase()
{
	printf '[%5ds] %s\n' "$(($(date +%s) - t0))" "$*"
}

total_pass=0
total_fail=0
# Human-readable report of everything that did not pass, printed at the end.
report=""
add_report()
{
	report="${report}$1"$'\n'
}

# Append the last lines of a file to the report, indented.
add_tail()
{
	local f="$1" n="${2:-$tail_lines}"
	if [ -f "$f" ]; then
		add_report "    --- last $n lines of $f ---"
		add_report "$(tail -n "$n" "$f" | sed 's/^/    | /')"
	else
		add_report "    (no log file $f)"
	fi
}

# Read "# KEY: N" from a test-suite.log header; 0 when absent.
header_count()
{
	local n
	n=$(sed -n "s/^# $1: *\([0-9][0-9]*\).*/\1/p" "$2" | head -n 1)
	echo "${n:-0}"
}

# ---- dependencies ----------------------------------------------------------
if [ "${AP_SKIP_DEPS:-0}" != 1 ]; then
	phase "install dependencies (log: build/install-deps.log)"
	if ! bash "$srcdir/scripts/install-deps.sh" --test \
		>build/install-deps.log 2>&1; then
		phase "install dependencies FAILED; continuing, builds may fail"
		tail -n 5 build/install-deps.log | sed 's/^/    | /'
	fi
fi

# ---- build system ----------------------------------------------------------
phase "autoreconf -fi (log: build/autoreconf.log)"
autoreconf_ok=1
if ! autoreconf -fi >build/autoreconf.log 2>&1; then
	autoreconf_ok=0
	phase "autoreconf FAILED"
	add_report "FAILED: autoreconf -fi"
	add_tail build/autoreconf.log
fi
if [ -f "$srcdir/config.status" ]; then
	# Automake refuses out-of-tree builds of an in-tree-configured source.
	autoreconf_ok=0
	phase "source tree is configured in place; run 'make distclean' there"
	add_report "FAILED: $srcdir is configured in-tree (config.status" \
		"exists); run 'make distclean' in it first"
fi

# ---- one build -------------------------------------------------------------
run_build()
{
	local name="$1" dir="build/$1" log flags rc
	local -a cfg
	log="$dir/build.log"
	case "$name" in
	werror) cfg=(--enable-werror) ;;
	sanitize) cfg=(--enable-werror --enable-sanitizers) ;;
	plain) cfg=() ;;
	debian13) cfg=(--enable-werror) ;;
	*)
		phase "$name: unknown build (known: werror sanitize plain debian13)"
		add_report "FAILED: build '$name' is unknown"
		total_fail=$((total_fail + 1))
		return ;;
	esac
	flags="${cfg[*]}"

	if [ "$autoreconf_ok" -ne 1 ]; then
		total_fail=$((total_fail + 1))
		return
	fi

	mkdir -p "$dir"
	# A stale summary from an earlier run must never be counted.
	rm -f "$dir/test-suite.log"
	: >"$log"

	if [ "$name" = debian13 ]; then
		# Everything happens in a Debian 13 chroot; the results come back
		# to $dir and are counted below like any other build's.
		find "$dir" \( -name '*.trs' -o -name '*.log' -o -name check.rc \) \
			! -name build.log -type f -delete 2>/dev/null
		phase "$name: Debian 13 tree, configure ${flags}, make, make check" \
			"(log: $log)"
		if ! AP_TEST_TIMEOUT="$check_timeout" \
			bash "$srcdir/scripts/test-debian13.sh" "$dir" >>"$log" 2>&1
		then
			phase "$name: FAILED before make check: $(tail -n 1 "$log")"
			add_report "FAILED: $name: the Debian 13 build did not reach make check"
			add_tail "$log" 25
			total_fail=$((total_fail + 1))
			return
		fi
		rc=$(cat "$dir/check.rc" 2>/dev/null || echo 1)
	else
		run_native_build || return
	fi
	count_results
}

# configure, make and make check of build $name in $dir (run_build's locals);
# returns 1 when it counted a failure before make check.
run_native_build()
{
	phase "$name: configure ${flags:-(defaults)} (log: $log)"
	if ! (cd "$dir" && ../../configure "${cfg[@]}") >>"$log" 2>&1; then
		phase "$name: configure FAILED"
		add_report "FAILED: $name: configure ${flags}"
		add_tail "$log"
		[ -f "$dir/config.log" ] && add_report "    (see also $dir/config.log)"
		total_fail=$((total_fail + 1))
		return 1
	fi

	phase "$name: make -j2"
	if ! make -C "$dir" -j2 >>"$log" 2>&1; then
		phase "$name: make FAILED"
		add_report "FAILED: $name: make"
		local errs
		errs=$(grep -E '(error|warning):|\*\*\* ' "$log" | head -n 20)
		[ -n "$errs" ] && add_report "$(printf '%s\n' "$errs" |
			sed 's/^/    | /')"
		add_tail "$log" 15
		total_fail=$((total_fail + 1))
		return 1
	fi

	phase "$name: make -j1 check"
	if [ "$check_timeout" -gt 0 ] && command -v timeout >/dev/null 2>&1; then
		timeout -k 30 "$check_timeout" make -C "$dir" -j1 check \
			>>"$log" 2>&1
	else
		make -C "$dir" -j1 check >>"$log" 2>&1
	fi
	rc=$?
	[ "$rc" -eq 124 ] && phase "$name: make check TIMED OUT after ${check_timeout}s"
	return 0
}

# Count build $name's results from $dir/test-suite.log and its .trs files;
# $rc is make check's exit status (run_build's locals).
count_results()
{
	local suite="$dir/test-suite.log"
	if [ ! -f "$suite" ]; then
		phase "$name: make check produced no test-suite.log (rc=$rc)"
		add_report "FAILED: $name: make check did not run the tests (rc=$rc)"
		add_tail "$log" 25
		total_fail=$((total_fail + 1))
		return
	fi

	local pass fail skip xfail xpass error failed
	pass=$(header_count PASS "$suite")
	fail=$(header_count FAIL "$suite")
	skip=$(header_count SKIP "$suite")
	xfail=$(header_count XFAIL "$suite")
	xpass=$(header_count XPASS "$suite")
	error=$(header_count ERROR "$suite")
	failed=$((fail + xpass + error))
	[ "$no_skip" -eq 1 ] && failed=$((failed + skip))
	# A failing `make check` whose summary shows no failure still failed.
	if [ "$rc" -ne 0 ] && [ $((fail + xpass + error)) -eq 0 ]; then
		add_report "FAILED: $name: make check exited $rc with no failing test"
		add_tail "$log" 15
		failed=$((failed + 1))
	fi
	total_pass=$((total_pass + pass + xfail))
	total_fail=$((total_fail + failed))
	phase "$name: pass=$pass fail=$fail skip=$skip xfail=$xfail xpass=$xpass error=$error"

	# Name each test that did not pass from its .trs file.
	local trs res tname
	while IFS= read -r trs; do
		while IFS= read -r res; do
			case "$res" in
			FAIL|XPASS|ERROR) ;;
			SKIP) ;;
			*) continue ;;
			esac
			tname="${trs#"$dir"/}"
			tname="${tname%.trs}"
			if [ "$res" = SKIP ] && [ "$no_skip" -eq 0 ]; then
				add_report "skipped: $name: $tname"
				add_tail "${trs%.trs}.log" 5
			else
				add_report "FAILED ($res): $name: $tname"
				add_tail "${trs%.trs}.log"
			fi
		done < <(sed -n 's/^:test-result: *\([A-Z]*\).*/\1/p' "$trs" | sort -u)
	done < <(find "$dir" -name '*.trs' -type f 2>/dev/null | sort)
}

nbuilds=0
for b in $builds; do
	run_build "$b"
	nbuilds=$((nbuilds + 1))
done
if [ "$nbuilds" -eq 0 ]; then
	add_report "FAILED: AP_TEST_BUILDS selects no build"
	total_fail=$((total_fail + 1))
fi

# `make distcheck` from the werror build: the tarball builds, installs,
# uninstalls cleanly and passes the unit tests, fuzz replays and a few
# integration tests out of a read-only source tree (the full suite ran
# above). It counts as one test. AP_DISTCHECK=0 skips it.
if [ "${AP_DISTCHECK:-1}" = 1 ] && [ -f build/werror/Makefile ]; then
	dlog=build/werror/distcheck.log
	phase "distcheck (log: $dlog)"
	dtests=$(make -s -C build/werror print-unit-tests 2>/dev/null | tail -n1)
	if make -C build/werror distcheck \
		TESTS="$dtests tests/t_routing.sh tests/t_install.sh" \
		>"$dlog" 2>&1; then
		total_pass=$((total_pass + 1))
		phase "distcheck: pass"
	else
		total_fail=$((total_fail + 1))
		phase "distcheck FAILED"
		add_report "FAILED: make distcheck"
		add_tail "$dlog" 25
	fi
fi

phase "done"
if [ -n "$report" ]; then
	echo
	printf '%s' "$report"
	echo
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
