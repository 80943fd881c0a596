#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The library as installed: `make install DESTDIR=…`, then a program built
# with `pkg-config --cflags --libs alkproxy` against the installed header and
# library starts the proxy, serves a request, reloads, and shuts down cleanly.
# Also: the library exports exactly the alkproxy_* API, and the man pages
# render without warnings.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool pkg-config make groff nm cc

inst="$T/inst"
make -s -C "$top_builddir" install DESTDIR="$inst" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "make install"; finish; }
pc=$(find "$inst" -name alkproxy.pc | head -n1)
expect_eq "alkproxy.pc installed" "${pc:+yes}" yes
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$inst"
flags=$(pkg-config --cflags --libs alkproxy)
log "pkg-config: $flags"
case "$flags" in *-lalkproxy*) ok "pkg-config --libs names the library" ;; *) fail "pkg-config --libs" ;; esac
# shellcheck disable=SC2086
if cc ${SAN_CFLAGS:-} -o "$T/embed" "$top_srcdir/examples/embed.c" $flags -pthread 2>"$T/cc.log"; then
	ok "program compiles against the installed library"
else
	cat "$T/cc.log"; fail "program compiles against the installed library"; finish
fi
libdir=$(dirname "$(find "$inst" -name 'libalkproxy.so' | head -n1)")

# exported symbols: exactly the public API
syms=$(nm -D --defined-only "$libdir/libalkproxy.so" | awk '{print $3}' | sort)
other=$(printf '%s\n' "$syms" | grep -v '^alkproxy_' || true)
expect_eq "only alkproxy_* symbols exported" "$other" ""
hdr=$(grep -o 'alkproxy_[a-z_0-9]*(' "$(find "$inst" -name alkproxy.h | head -n1)" | tr -d '(' | sort -u)
expect_eq "every exported symbol is declared in alkproxy.h and vice versa" "$syms" "$hdr"

# the installed program serves, reloads and shuts down
gen_cert a a.test
start_upstream
CERTS="a" base_config "$T/c.ini"
printf '[site a.test]\nupstream = 127.0.0.1:%s\n' "$UP_PORT" >>"$T/c.ini"
LD_LIBRARY_PATH="$libdir" "$T/embed" "$T/c.ini" >"$T/embed.out" 2>&1 &
EPID=$!
PIDS="$PIDS $EPID"
for _ in $(seq 1 100); do
	PX_PORT=$(sed -n 's/^embed: serving on port //p' "$T/embed.out" 2>/dev/null || true)
	[ -n "$PX_PORT" ] && break
	sleep 0.05
done
expect_eq "installed program serves" "$(status_of a a.test /echo)" 200
printf '[site b.test]\nupstream = 127.0.0.1:%s\n' "$UP_PORT" >>"$T/c.ini"
kill -HUP "$EPID"
for _ in $(seq 1 100); do grep -q 'CONFIG_RELOAD status=success sites=2' "$T/embed.out" && break; sleep 0.05; done
grep -q 'CONFIG_RELOAD status=success sites=2' "$T/embed.out" && ok "reload through the API" || fail "reload through the API"
expect_eq "reloaded site routed" "$(status_of a a.test /echo -H 'Host: b.test')" 200
kill -TERM "$EPID"
st=0; wait "$EPID" || st=$?
expect_eq "clean shutdown" "$st" 0
grep -q 'SHUTDOWN status=stopped' "$T/embed.out" && ok "SHUTDOWN event" || fail "SHUTDOWN event"

# man pages render without warnings
for m in $(find "$inst" -path '*/man/man*' -type f); do
	w=$(LC_ALL=C.UTF-8 groff -man -ww -z "$m" 2>&1)
	expect_eq "$(basename "$m") renders without warnings" "$w" ""
done
finish
