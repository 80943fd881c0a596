#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# Install the Debian packages needed to build reverse-proxy (and, with
# --test, to run its whole test suite) on Debian 12 or 13: the package names
# are the same in both. Idempotent: when everything is already installed it
# changes nothing and touches no network.
#
# Usage: scripts/install-deps.sh [--test] [--help]
#
# Installing nginx, lighttpd or fail2ban must not leave a system service
# running or enabled: the tests start their own private instances on
# 127.0.0.1, and a stray daemon on :80 would get in their way. We therefore
# install under a policy-rc.d that forbids service starts, and on a systemd
# host we disable the units of the service packages this run installed.
set -u

BUILD_PKGS="build-essential autoconf automake libtool pkg-config
libmicrohttpd-dev libgnutls28-dev gnutls-bin libcurl4-gnutls-dev curl
libinih-dev libjansson-dev git lighttpd python3 procps iproute2
ca-certificates"
# "a|b" means: satisfied when either is installed, install a otherwise.
# nginx-light only adds a module to the nginx binary the tests need.
# debootstrap makes the Debian 13 tree of scripts/test-debian13.sh.
TEST_PKGS="pebble fail2ban nginx-light|nginx wrk groff-base debootstrap openssl
prometheus systemd haproxy"
# Packages that ship a system service we must keep stopped and disabled.
SERVICE_PKGS="lighttpd nginx nginx-light fail2ban prometheus haproxy"

want_test=0
for arg in "$@"; do
	case "$arg" in
	--test) want_test=1 ;;
	-h|--help)
		echo "usage: $0 [--test]"
		echo "  installs the build dependencies (and with --test the"
		echo "  test-suite dependencies) on Debian 12 or 13"
		exit 0 ;;
	*)
		echo "$0: unknown option: $arg" >&2
		echo "usage: $0 [--test]" >&2
		exit 2 ;;
	esac
done

specs="$BUILD_PKGS"
[ "$want_test" -eq 1 ] && specs="$specs $TEST_PKGS"

is_installed()
{
	local st
	st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
	[ "$st" = "install ok installed" ]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "$0: this script supports Debian 12 and 13 (dpkg/apt) only;" >&2
	echo "install the packages named in it by other means" >&2
	exit 1
fi

missing=""
for spec in $specs; do
	ok=0
	IFS='|' read -r -a alts <<<"$spec"
	for p in "${alts[@]}"; do
		if is_installed "$p"; then
			ok=1
			break
		fi
	done
	[ "$ok" -eq 1 ] || missing="$missing ${alts[0]}"
done
missing="${missing# }"

# The ACME tests need Pebble 2.6 or later (ARI, RFC 9773, came in 2.6).
# Debian 13 ships it; on Debian 12 that one package comes from Debian 13's
# archive, with Debian 13 pinned at priority 100 so nothing else is ever
# installed or upgraded from it (pebble depends only on libc6 >= 2.34).
pebble_new=0
if [ "$want_test" -eq 1 ]; then
	v=$(dpkg-query -W -f='${Version}' pebble 2>/dev/null || true)
	if [ -z "$v" ] || ! dpkg --compare-versions "$v" ge 2.6; then
		. /etc/os-release 2>/dev/null || true
		if [ "${VERSION_CODENAME:-}" = bookworm ]; then
			pebble_new=1
			missing=$(echo " $missing " | sed 's/ pebble / /; s/^ *//; s/ *$//')
		fi
	fi
fi

# host_mirror: the host's Debian archive (shared with the other script)
. "$(dirname "$0")/host-mirror.sh"

if [ -z "$missing" ] && [ "$pebble_new" -eq 0 ]; then
	echo "install-deps: all dependencies present"
	exit 0
fi

install_cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing"
pebble_note=""
if [ "$pebble_new" -eq 1 ]; then
	install_cmd="$install_cmd; (Debian 13's pebble, see $0)"
	pebble_note="${missing:+ }pebble (>= 2.6, from Debian 13)"
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: $missing$pebble_note" >&2
	echo "install-deps: run as root:" >&2
	echo "  apt-get update && $install_cmd" >&2
	exit 1
fi

echo "install-deps: installing: $missing$pebble_note"

# Refresh the package lists only when they are absent or older than a day.
need_update=1
newest=$(find /var/lib/apt/lists -maxdepth 1 -type f \
	\( -name '*_Packages*' -o -name '*InRelease' -o -name '*_Release' \) \
	-mtime -1 2>/dev/null | head -n 1)
[ -n "$newest" ] && need_update=0
if [ "$need_update" -eq 1 ]; then
	echo "install-deps: apt-get update"
	if ! apt-get update; then
		echo "install-deps: apt-get update failed" >&2
		exit 1
	fi
fi

# Forbid service starts during the install, unless a policy already exists
# (a container image usually ships one that does exactly this).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# reverse-proxy install-deps: no service starts\nexit 101\n' \
		>"$policy" && chmod 0755 "$policy" && own_policy=1
fi
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup()
{
	[ "$own_policy" -eq 1 ] && rm -f "$policy"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086 # word splitting of the package list is intended
if [ -n "$missing" ] && ! DEBIAN_FRONTEND=noninteractive apt-get install -y \
	--no-install-recommends $missing; then
	echo "install-deps: apt-get install failed" >&2
	exit 1
fi

if [ "$pebble_new" -eq 1 ]; then
	src=/etc/apt/sources.list.d/reverse-proxy-trixie.sources
	pin=/etc/apt/preferences.d/reverse-proxy-trixie
	printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >"$pin"
	printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$(host_mirror)" >"$src"
	echo "install-deps: pebble from Debian 13 ($src, pinned by $pin)"
	if ! apt-get update ||
		! DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends pebble/trixie; then
		echo "install-deps: installing pebble from Debian 13 failed" >&2
		exit 1
	fi
fi

# Services of packages this run installed: stop any that started anyway and,
# under systemd, disable them so they do not come up at the next boot.
# Services that were installed before are the operator's and left alone.
pid1=$(ps -p 1 -o comm= 2>/dev/null | tr -d ' ')
for p in $missing; do
	case " $SERVICE_PKGS " in
	*" $p "*) ;;
	*) continue ;;
	esac
	svc="$p"
	[ "$p" = nginx-light ] && svc=nginx
	if [ "$pid1" = systemd ]; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$svc" ]; then
		"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
		update-rc.d "$svc" disable >/dev/null 2>&1 || true
	fi
	echo "install-deps: $svc service left stopped and disabled"
done

echo "install-deps: done"
exit 0
