#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Build and test reverse-proxy on Debian 13 ("trixie": libmicrohttpd 1.0.x,
# libcurl 8.x, gcc 14) from a Debian 12 machine, in a chroot made with
# debootstrap from the same Debian archive the host uses. scripts/test.sh
# runs this as its "debian13" build (CI does, see .ci/run); it can also be
# run by hand:
#
#   scripts/test-debian13.sh OUTDIR
#
# Steps, each with a time limit:
#   1. the tree: reused when AP_DEBIAN13_ROOT holds a finished one, else
#      `debootstrap --variant=minbase trixie` into ROOT.new, renamed to ROOT
#      only when complete (an interrupted run never leaves a half tree that
#      a later run would trust);
#   2. /proc mounted in the tree (unmounted at exit, with any process still
#      running in the tree killed first);
#   3. the source (git's tracked and untracked-not-ignored files, or the
#      directory without build/ and .git when it is not a git checkout)
#      copied to ROOT/src;
#   4. inside the tree, as a Debian 13 user would: scripts/install-deps.sh
#      --test, autoreconf -fi, ../../configure --enable-werror, make -j2,
#      make -j1 check in ROOT/src/build/werror;
#   5. the test results (test-suite.log, every *.trs and its *.log) copied
#      to OUTDIR, where scripts/test.sh counts them like any other build.
#
# Output: progress and tool output on stdout/stderr. Exit status 0 when make
# check ran (its results are in OUTDIR/test-suite.log, whatever they are),
# 1 when a step before it failed (the reason is the last line printed).
#
# Needs root (debootstrap, chroot, mount) and the debootstrap package.
# Environment:
#   AP_DEBIAN13_ROOT     the tree, default /var/cache/reverse-proxy/debian13
#   AP_DEBIAN13_MIRROR   default: the host's first Debian archive in its apt
#                        sources, else http://deb.debian.org/debian
#   AP_TEST_TIMEOUT      seconds for `make check`, default 1800 (0 = none)
set -u

die()
{
	echo "test-debian13: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
case "$1" in
-h|--help)
	sed -n '3,/^set -u$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
	exit 0 ;;
esac
outdir=$(mkdir -p "$1" && cd "$1" && pwd) || die "cannot create $1"
srcdir=$(cd "$(dirname "$0")/.." && pwd) || die "no source directory"
root="${AP_DEBIAN13_ROOT:-/var/cache/reverse-proxy/debian13}"
check_timeout="${AP_TEST_TIMEOUT:-1800}"
case "$check_timeout" in ''|*[!0-9]*) check_timeout=1800 ;; esac
case "$root" in
/*) ;;
*) die "AP_DEBIAN13_ROOT must be an absolute path: $root" ;;
esac
[ "$root" != / ] || die "AP_DEBIAN13_ROOT must not be /"

[ "$(id -u)" -eq 0 ] ||
	die "needs root (debootstrap, chroot, mount); run as root, or leave" \
		"debian13 out of AP_TEST_BUILDS"
command -v debootstrap >/dev/null 2>&1 ||
	die "debootstrap is not installed (scripts/install-deps.sh --test" \
		"installs it)"
command -v timeout >/dev/null 2>&1 || die "timeout(1) is missing"

# host_mirror: the host's Debian archive (shared with the other script)
. "$(dirname "$0")/host-mirror.sh"
mirror="${AP_DEBIAN13_MIRROR:-$(host_mirror)}"

t0=$(date +%s)
step()
{
	printf '[debian13 %5ds] %s\n' "$(($(date +%s) - t0))" "$*"
}

# Kill what still runs inside the tree (a test's daemon left behind by a
# timeout), then unmount what we mounted.
mounted_proc=0
cleanup()
{
	local p r n=0
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		case "$r" in
		"$root"|"$root"/*)
			kill -9 "${p#/proc/}" 2>/dev/null && n=$((n + 1)) ;;
		esac
	done
	[ "$n" -gt 0 ] && step "killed $n process(es) left in the tree"
	if [ "$mounted_proc" -eq 1 ]; then
		umount "$root/proc" 2>/dev/null || umount -l "$root/proc" 2>/dev/null
	fi
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. the tree ------------------------------------------------------------
stamp="$root/.reverse-proxy-debian13"
if [ -f "$stamp" ]; then
	step "reusing the Debian 13 tree $root ($(cat "$stamp"))"
else
	[ -e "$root" ] && die "$root exists but is not a finished tree" \
		"(no $stamp); remove it"
	mkdir -p "$(dirname "$root")" || die "cannot create $(dirname "$root")"
	rm -rf "$root.new"
	step "debootstrap --variant=minbase trixie $root from $mirror"
	if ! timeout -k 30 1800 debootstrap --variant=minbase trixie \
		"$root.new" "$mirror"; then
		rm -rf "$root.new"
		die "debootstrap failed (or ran past 1800 s)"
	fi
	date -u '+made %Y-%m-%d %H:%M UTC' >"$root.new/.reverse-proxy-debian13"
	mv "$root.new" "$root" || die "cannot rename $root.new to $root"
	step "tree ready"
fi
grep -q '^VERSION_ID="13"' "$root/etc/os-release" 2>/dev/null ||
	die "$root is not a Debian 13 tree (see its etc/os-release)"

# ---- 2. mounts --------------------------------------------------------------
if ! mountpoint -q "$root/proc"; then
	mount -t proc proc "$root/proc" || die "cannot mount proc in $root"
	mounted_proc=1
fi
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

# ---- 3. the source ----------------------------------------------------------
step "copying the source to $root/src"
rm -rf "$root/src" && mkdir -p "$root/src" || die "cannot prepare $root/src"
if git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$srcdir" && git ls-files -z -c -o --exclude-standard |
		tar --null -T - -cf -) | tar -C "$root/src" -xf - ||
		die "cannot copy the source (git ls-files | tar)"
else
	tar -C "$srcdir" --exclude=./build --exclude=./.git -cf - . |
		tar -C "$root/src" -xf - || die "cannot copy the source (tar)"
fi

# ---- 4. inside the tree ----------------------------------------------------
# A command run in the tree with a clean environment (no host CA-bundle or
# locale variables). An array, not a function: timeout(1) runs it.
in_tree=(chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin
	HOME=/root LANG=C.UTF-8 TERM=dumb CI="${CI:-}")

step "install-deps.sh --test (Debian 13 packages)"
timeout -k 30 1800 \
	"${in_tree[@]}" bash /src/scripts/install-deps.sh --test ||
	die "scripts/install-deps.sh --test failed in the Debian 13 tree"
"${in_tree[@]}" sh -c 'echo "test-debian13: libmicrohttpd \
$(pkg-config --modversion libmicrohttpd), libcurl $(pkg-config --modversion \
libcurl), gnutls $(pkg-config --modversion gnutls), $(gcc --version | head -n1)"'

step "autoreconf -fi"
timeout -k 30 600 "${in_tree[@]}" sh -c 'cd /src && autoreconf -fi' ||
	die "autoreconf -fi failed in the Debian 13 tree"
step "configure --enable-werror"
timeout -k 30 600 "${in_tree[@]}" sh -c \
	'mkdir -p /src/build/werror && cd /src/build/werror &&
	 ../../configure --enable-werror' ||
	die "configure --enable-werror failed in the Debian 13 tree"
step "make -j2"
timeout -k 30 1800 "${in_tree[@]}" make -C /src/build/werror -j2 ||
	die "make failed in the Debian 13 tree"
step "make -j1 check"
if [ "$check_timeout" -gt 0 ]; then
	timeout -k 30 "$check_timeout" "${in_tree[@]}" make -C /src/build/werror -j1 check
else
	"${in_tree[@]}" make -C /src/build/werror -j1 check
fi
rc=$?
[ "$rc" -eq 124 ] && step "make check TIMED OUT after ${check_timeout}s"
step "make check exited $rc"

# ---- 5. results -------------------------------------------------------------
bdir="$root/src/build/werror"
[ -f "$bdir/test-suite.log" ] ||
	die "make check wrote no test-suite.log (exit $rc)"
(cd "$bdir" && find . \( -name '*.trs' -o -name '*.log' \) \
	! -name config.log -type f | tar -T - -cf -) |
	tar -C "$outdir" -xf - || die "cannot copy the results to $outdir"
# The exit status of make check, for the caller's "failed with no failing
# test" rule.
echo "$rc" >"$outdir/check.rc"
exit 0
