#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# SIGHUP reload under continuous load (SPEC F11, issue 5). Proves:
# - two client loops (one keep-alive connection; one new connection per
#   request) against an unchanged site see zero failed requests across
#   every reload, and the keep-alive one keeps its single connection;
# - a reload that adds a site serves it (200), one that removes a site makes
#   it 404, one that changes a site's upstream sends new requests to the new
#   upstream (seen in the upstreams' own logs), while requests already in
#   flight on the changed/removed site finish on their old snapshot;
# - an invalid file (syntax error) keeps the old config and logs
#   CONFIG_RELOAD status=failure error="FILE:LINE: ...";
# - a static change (workers) over two reloads warns exactly once;
# - manual certificates are re-read: new handshakes see the replaced
#   certificate, a keep-alive connection opened before the swap still works.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
require_cmd curl certtool python3

gen_cert all keep.test chg.test gone.test new.test
gen_cert m m.test
start_upstream
U1_PORT=$UP_PORT U1_LOG=$UP_LOG
start_upstream
U2_PORT=$UP_PORT U2_LOG=$UP_LOG

# write_config VERSION [SED]: sites per version, written atomically.
write_config() {
	local v=$1 f="$T/c.ini.new" chg=$U1_PORT
	CERTS="all m" base_config "$f"
	[ "$v" -ge 3 ] && chg=$U2_PORT
	{
		echo "[site keep.test]"
		echo "upstream = 127.0.0.1:$U1_PORT"
		echo
		echo "[site chg.test]"
		echo "upstream = 127.0.0.1:$chg"
		echo
		echo "[site m.test]"
		echo "upstream = 127.0.0.1:$U1_PORT"
		echo
		if [ "$v" -lt 4 ]; then
			echo "[site gone.test]"
			echo "upstream = 127.0.0.1:$U1_PORT"
			echo
		fi
		if [ "$v" -ge 2 ]; then
			echo "[site new.test]"
			echo "upstream = 127.0.0.1:$U1_PORT"
			echo
		fi
	} >>"$f"
	[ -n "${2:-}" ] && sed -i "$2" "$f"
	mv "$f" "$T/c.ini"
}

# The client loop: python3 loop.py PORT HOST CAFILE MODE OUT STOPFILE.
# Bounded by the stop file, 45 s and 20000 requests; every response must
# be 200 and echo its own target.
cat >"$T/loop.py" <<'PY'
import http.client, json, os, socket, ssl, sys, time
# Connect by the site name (for SNI and the certificate check) but to
# loopback: resolve every *.test name to 127.0.0.1.
_gai = socket.getaddrinfo
socket.getaddrinfo = lambda h, *a, **k: _gai("127.0.0.1" if h.endswith(".test") else h, *a, **k)
port, host, ca, mode, out, stop = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
t_end = time.monotonic() + 45
n = fails = 0
errors, ports, max_ms = [], set(), 0.0
conn = None
while n < 20000 and time.monotonic() < t_end and not os.path.exists(stop):
    n += 1
    t0 = time.monotonic()
    try:
        if conn is None:
            conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
            conn.connect()
        ports.add(conn.sock.getsockname()[1])
        conn.request("GET", "/echo?i=%d" % n, headers={"Host": host})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200 or ("target: /echo?i=%d\n" % n).encode() not in body:
            raise RuntimeError("status %d" % r.status)
    except Exception as e:
        fails += 1
        if len(errors) < 10:
            errors.append("%.3f %s: %r" % (time.time(), type(e).__name__, e))
        try:
            conn.close()
        except Exception:
            pass
        conn = None
    max_ms = max(max_ms, (time.monotonic() - t0) * 1000)
    if mode == "new" and conn is not None:
        conn.close()
        conn = None
    time.sleep(0.004)
json.dump({"n": n, "fails": fails, "conns": len(ports), "max_ms": round(max_ms, 1),
           "errors": errors}, open(out, "w"))
PY
# reload NAME: reload_proxy, logging how long it took.
reload() { reload_proxy; log "reload ($1): $RELOAD_RESULT, logged after $RELOAD_MS ms"; }

write_config 1
start_proxy "$T/c.ini"
log "proxy on port $PX_PORT, upstreams $U1_PORT (U1) and $U2_PORT (U2)"

python3 "$T/loop.py" "$PX_PORT" keep.test "$T/all.pem" keepalive "$T/loop-ka.json" "$T/stop" &
LOOP1=$!
python3 "$T/loop.py" "$PX_PORT" keep.test "$T/all.pem" new "$T/loop-new.json" "$T/stop" &
LOOP2=$!
PIDS="$PIDS $LOOP1 $LOOP2"
sleep 1

expect_eq "before: chg.test served" "$(status_of all chg.test '/echo?who=chg-before')" 200
grep -q 'REQ GET /echo?who=chg-before' "$U1_LOG" && ok "before: chg.test goes to U1" || fail "before: chg.test goes to U1"
expect_eq "before: gone.test served" "$(status_of all gone.test /echo)" 200
expect_eq "before: new.test unknown (404)" "$(status_of all new.test /echo)" 404
M_OLD_FP=$(file_fp "$T/m.pem")
expect_eq "before: m.test serves its certificate" "$(served_fp m.test)" "$M_OLD_FP"

# A keep-alive connection to m.test opened now and used again after the
# certificate swap (go file), must keep working on the same socket.
python3 - "$PX_PORT" "$T/m.pem" "$T/go" "$T/held.out" <<'PY' &
import os, socket, ssl, sys, time
port, ca, go, out = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), timeout=10), server_hostname="m.test")
def req(i):
    s.sendall(b"GET /echo?held=%d HTTP/1.1\r\nHost: m.test\r\n\r\n" % i)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return "eof"
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    cl = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    while cl and len(body) < cl[0]:
        d = s.recv(4096)
        if not d:
            return "eof"
        body += d
    return head.split(b"\r\n")[0].decode()
r1 = req(1)
t_end = time.monotonic() + 40
while not os.path.exists(go) and time.monotonic() < t_end:
    time.sleep(0.05)
try:
    r2 = req(2)
except Exception as e:
    r2 = "error %r" % e
open(out, "w").write("%s|%s\n" % (r1, r2))
PY
HELD=$!
PIDS="$PIDS $HELD"

# 1: add new.test; a slow request on chg.test and gone.test started before
# the reloads that change/remove them must finish on the old snapshot.
write_config 2
reload "add new.test"
expect_eq "reload 1 (add site) succeeds" "$RELOAD_RESULT" success
grep -q 'CONFIG_RELOAD status=success sites=5' "$PX_LOG" && ok "reload 1 logs sites=5" || fail "reload 1 logs sites=5"
expect_eq "added site new.test served" "$(status_of all new.test /echo)" 200

pcurl all chg.test '/slowhead?ms=1500' -o "$T/slow-chg.out" -w '%{http_code}' >"$T/slow-chg.code" 2>/dev/null &
SLOW1=$!
pcurl all gone.test '/slowhead?ms=2500' -o "$T/slow-gone.out" -w '%{http_code}' >"$T/slow-gone.code" 2>/dev/null &
SLOW2=$!
sleep 0.5

# 2: chg.test moves to U2
write_config 3
reload "chg.test to U2"
expect_eq "reload 2 (change upstream) succeeds" "$RELOAD_RESULT" success
expect_eq "changed site chg.test served" "$(status_of all chg.test '/echo?who=chg-after')" 200
grep -q 'REQ GET /echo?who=chg-after' "$U2_LOG" && ok "changed site goes to its new upstream U2" || fail "changed site goes to its new upstream U2"
grep -q 'REQ GET /echo?who=chg-after' "$U1_LOG" && fail "changed site still reached old upstream U1" || ok "changed site no longer reaches U1"

# 3: gone.test removed
write_config 4
reload "remove gone.test"
expect_eq "reload 3 (remove site) succeeds" "$RELOAD_RESULT" success
expect_eq "removed site gone.test 404" "$(status_of all gone.test /echo)" 404

wait "$SLOW1" || true
wait "$SLOW2" || true
expect_eq "in-flight request on the changed site finishes (old snapshot)" "$(cat "$T/slow-chg.code")/$(cat "$T/slow-chg.out")" "200/ok"
expect_eq "in-flight request on the removed site finishes (old snapshot)" "$(cat "$T/slow-gone.code")/$(cat "$T/slow-gone.out")" "200/ok"
grep -q 'REQ GET /slowhead?ms=1500' "$U1_LOG" && ok "in-flight chg.test request went to U1" || fail "in-flight chg.test request went to U1"

# 4: syntax error: old config kept, failure logged with file:line
write_config 4
echo "this line is not ini" >>"$T/c.ini"
BAD_LINE=$(wc -l <"$T/c.ini")
reload "syntax error"
expect_eq "invalid file: reload fails" "$RELOAD_RESULT" failure
grep 'CONFIG_RELOAD status=failure' "$PX_LOG" | grep -qF "error=\"$T/c.ini:$BAD_LINE:" &&
	ok "failure logged with file:line ($T/c.ini:$BAD_LINE)" ||
	fail "failure logged with file:line: $(grep 'CONFIG_RELOAD status=failure' "$PX_LOG" | tail -n1)"
expect_eq "after invalid reload: new.test still served" "$(status_of all new.test /echo)" 200
expect_eq "after invalid reload: chg.test still on U2" "$(status_of all chg.test '/echo?who=chg-bad')" 200
grep -q 'REQ GET /echo?who=chg-bad' "$U2_LOG" && ok "after invalid reload: chg.test still goes to U2" || fail "after invalid reload: chg.test still goes to U2"
expect_eq "after invalid reload: gone.test still 404" "$(status_of all gone.test /echo)" 404
expect_eq "after invalid reload: m.test still served" "$(status_of m m.test /echo)" 200

# 5: a static change (workers) over two reloads warns once
write_config 4 's/^workers = 2$/workers = 3/'
reload "workers=3 #1"
expect_eq "static change: reload 1 succeeds" "$RELOAD_RESULT" success
write_config 4 's/^workers = 2$/workers = 3/'
reload "workers=3 #2"
expect_eq "static change: reload 2 succeeds" "$RELOAD_RESULT" success
expect_eq "CONFIG_STATIC_CHANGED logged exactly once over two reloads" "$(log_count 'WARN CONFIG_STATIC_CHANGED keys=workers')" 1
expect_eq "static change warning names only workers" "$(log_count 'CONFIG_STATIC_CHANGED')" 1

# 6: manual certificate swap (back to workers = 2)
gen_cert m2 m.test
M_NEW_FP=$(file_fp "$T/m2.pem")
cp "$T/m2.pem" "$T/m.pem"
cp "$T/m2.key" "$T/m.key"
write_config 4
reload "certificate swap"
expect_eq "certificate swap: reload succeeds" "$RELOAD_RESULT" success
got=$(served_fp m.test)
expect_eq "new handshakes see the new certificate" "$got" "$M_NEW_FP"
[ "$got" != "$M_OLD_FP" ] && ok "old certificate no longer served" || fail "old certificate still served"
expect_eq "m.test verifies against the new certificate" "$(status_of m m.test /echo)" 200
touch "$T/go"
wait "$HELD" || true
expect_eq "keep-alive connection opened before the swap still served after it" "$(cat "$T/held.out" 2>/dev/null)" "HTTP/1.1 200 OK|HTTP/1.1 200 OK"

# Let the loops run a moment past the last reload, then stop them.
sleep 1
touch "$T/stop"
wait "$LOOP1" || true
wait "$LOOP2" || true
for m in ka new; do
	r=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["n"], d["fails"], d["conns"], d["max_ms"]); [print("  ", e) for e in d["errors"]]' "$T/loop-$m.json" 2>&1 || echo "x x x x")
	log "loop $m: requests/failures/connections/max_ms: $r"
	set -- $r
	expect_eq "loop $m: zero failed requests on the unchanged site" "$2" 0
	[ "$1" != x ] && [ "$1" -ge 100 ] && ok "loop $m ran ($1 requests)" || fail "loop $m ran too few requests ($1)"
	[ "$m" = ka ] && expect_eq "keep-alive loop kept one connection through every reload" "$3" 1
done
expect_eq "reloads logged" "$(log_count ' CONFIG_RELOAD status=success')" 6

stop_proxy
expect_eq "SIGTERM exits 0" "$PX_STATUS" 0
finish
