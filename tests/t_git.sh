#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Real git over smart HTTP through the proxy (SPEC F2): git http-backend
# behind lighttpd is the upstream; a commit with a 100 MiB incompressible
# file is pushed through the proxy (chunked, streamed request body) and
# cloned back through it into another directory: the file's SHA-256 matches,
# git fsck passes on both sides, and the proxy's memory stays flat.
# AP_GIT_BYTES overrides the file size (default 100 MiB).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool git lighttpd python3 sha256sum
BACKEND=/usr/lib/git-core/git-http-backend
[ -x "$BACKEND" ] || { echo "SKIP: $BACKEND missing"; exit 77; }

GB=${AP_GIT_BYTES:-104857600}
export HOME="$T" GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t \
	GIT_AUTHOR_EMAIL=t@a.test GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@a.test
unset GIT_SSL_CAINFO GIT_DIR GIT_WORK_TREE || true

# Upstream: lighttpd + git-http-backend on a free loopback port.
LPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/www" "$T/srv" "$T/ltmp"
git init -q --bare -b main "$T/srv/repo.git"
git init -q --bare -b main "$T/srv/direct.git"
git -C "$T/srv/repo.git" config http.receivepack true
git -C "$T/srv/direct.git" config http.receivepack true
cat >"$T/lighttpd.conf" <<EOT
server.modules = ("mod_cgi", "mod_alias", "mod_setenv")
server.document-root = "$T/www"
server.port = $LPORT
server.bind = "127.0.0.1"
server.errorlog = "$T/lighttpd.err"
server.upload-dirs = ("$T/ltmp")
server.stream-response-body = 2
alias.url = ("/git" => "$BACKEND")
\$HTTP["url"] =~ "^/git" {
	cgi.assign = ("" => "")
	setenv.add-environment = ("GIT_PROJECT_ROOT" => "$T/srv", "GIT_HTTP_EXPORT_ALL" => "1")
}
EOT
lighttpd -D -f "$T/lighttpd.conf" >"$T/lighttpd.out" 2>&1 &
LPID=$!
PIDS="$PIDS $LPID"
for _ in $(seq 1 100); do
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$LPORT/" && break
	kill -0 "$LPID" 2>/dev/null || { cat "$T/lighttpd.out" "$T/lighttpd.err" 2>/dev/null; echo "lighttpd exited"; exit 99; }
	sleep 0.05
done
expect_eq "git-http-backend direct" \
	"$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$LPORT/git/repo.git/info/refs?service=git-upload-pack")" 200

asan_small_quarantine
stream_proxy "$LPORT" "read_timeout_secs = 60" "body_limit_bytes = $((GB * 2 + 10485760))"
expect_eq "through the proxy" "$(status_of a a.test '/git/repo.git/info/refs?service=git-upload-pack')" 200
rss0=$(rss_kb "$PX_PID")
MAX_GROWTH_KB=$((32768 + RSS_SLACK_KB))
URL="https://a.test:$PX_PORT/git/repo.git"
# quiet COMMAND...: run COMMAND with its output in $T/quiet.out (shown on failure).
quiet() { "$@" >"$T/quiet.out" 2>&1 || { tail -n 20 "$T/quiet.out"; return 1; }; }
pgit() { timeout 300 git -c http.sslCAInfo="$T/a.pem" -c http.curloptResolve="a.test:$PX_PORT:127.0.0.1" "$@"; }

# A work tree with one big incompressible file.
git init -q -b main "$T/work"
head -c "$GB" /dev/urandom >"$T/work/big.bin"
echo hello >"$T/work/README"
want=$(sha256sum <"$T/work/big.bin" | cut -d' ' -f1)
git -C "$T/work" add big.bin README
git -C "$T/work" commit -q -m "big file"
rc=0
timed_ms tpush pgit -C "$T/work" push -q "$URL" main >"$T/push.out" 2>&1 || rc=$?
log "push of $GB bytes through the proxy: ${tpush} ms"
expect_eq "git push through the proxy" "$rc" 0
[ "$rc" = 0 ] || tail -n 20 "$T/push.out"
check "bare repository fsck" quiet git -C "$T/srv/repo.git" fsck --no-progress
expect_eq "pushed ref" "$(git -C "$T/srv/repo.git" rev-parse -q --verify refs/heads/main || echo none)" \
	"$(git -C "$T/work" rev-parse main)"
hwm=$(hwm_kb "$PX_PID")
log "push: proxy RSS growth $((hwm - rss0)) KiB"
check "push: proxy RSS growth $((hwm - rss0)) KiB < $MAX_GROWTH_KB KiB" test $((hwm - rss0)) -lt $MAX_GROWTH_KB

rc=0
timed_ms tclone pgit clone -q "$URL" "$T/clone" >"$T/clone.out" 2>&1 || rc=$?
log "clone through the proxy: ${tclone} ms"
expect_eq "git clone through the proxy" "$rc" 0
[ "$rc" = 0 ] || tail -n 20 "$T/clone.out"
got=$(sha256sum <"$T/clone/big.bin" 2>/dev/null | cut -d' ' -f1 || true)
expect_eq "cloned file sha256" "$got" "$want"
check "clone fsck" quiet git -C "$T/clone" fsck --no-progress
hwm=$(hwm_kb "$PX_PID")
log "push+clone: proxy RSS growth $((hwm - rss0)) KiB"
check "clone: proxy RSS growth $((hwm - rss0)) KiB < $MAX_GROWTH_KB KiB" test $((hwm - rss0)) -lt $MAX_GROWTH_KB

# The same push and clone straight to lighttpd, for comparison.
rc=0
timed_ms tpushd timeout 300 git -C "$T/work" push -q "http://127.0.0.1:$LPORT/git/direct.git" main >/dev/null 2>&1 || rc=$?
expect_eq "direct push sanity" "$rc" 0
log "push wall time: proxy ${tpush} ms, direct ${tpushd} ms"
rc=0
timed_ms tdirect timeout 300 git clone -q "http://127.0.0.1:$LPORT/git/repo.git" "$T/clone2" >/dev/null 2>&1 || rc=$?
expect_eq "direct clone sanity" "$rc" 0
log "clone wall time: proxy ${tclone} ms, direct ${tdirect} ms"

grep -q 'REQUEST .*method=POST path=/git/repo.git/git-receive-pack status=200' "$PX_LOG" &&
	ok "receive-pack REQUEST logged" || fail "receive-pack REQUEST logged"
expect_eq "proxy still serves" "$(status_of a a.test /health)" 200
stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
check_sanitizer_clean
finish
