#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# scripts/check-layering.sh [DIR]: fails when the C files of DIR (default:
# lib/ next to this script) depend on each other in a cycle (issue 14).
# A file and its header are one module (x.c + x.h = x). Module A depends
# on module B when A's .c or .h includes "B.h", or when A's .c names a
# function that B.h declares (a call, or a function pointer taken). Prints
# every cycle with the includes and names that tie it, and exits 1; prints
# the modules in dependency order (leaves first) and exits 0 when there is
# none. Run by make check (tests/t_layering.sh).
set -eu
dir=${1:-$(dirname "$0")/../lib}
[ -d "$dir" ] || { echo "check-layering: no directory $dir" >&2; exit 2; }
exec python3 - "$dir" <<'PY'
import os, re, sys

d = sys.argv[1]
files = sorted(f for f in os.listdir(d) if f.endswith((".c", ".h")))
mods = sorted({f[:-2] for f in files})

def code(path):
    """The file without comments and string or character literals."""
    t = open(path, encoding="utf-8", errors="replace").read()
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
                  lambda m: " " if m.group(0).startswith("/") else '""',
                  t, flags=re.S)

def includes(path):
    t = open(path, encoding="utf-8", errors="replace").read()
    return re.findall(r'^\s*#\s*include\s+"([^"]+)\.h"', t, flags=re.M)

# Functions a header declares: a top-level line that starts with a type
# and reaches "name(" (declarations are not indented in this tree).
decl = re.compile(r'^(?!typedef|#|static\b)[A-Za-z_][\w \t\*]*?\b([A-Za-z_]\w*)\s*\(', re.M)
declared = {}
for m in mods:
    h = os.path.join(d, m + ".h")
    if os.path.exists(h):
        for name in decl.findall(code(h)):
            declared.setdefault(name, m)

edges = {m: {} for m in mods}  # edges[a][b] = reasons
def tie(a, b, why):
    if a != b and b in edges:
        edges[a].setdefault(b, []).append(why)

for f in files:
    a = f[:-2]
    for inc in includes(os.path.join(d, f)):
        tie(a, os.path.basename(inc), '#include "%s.h" in %s' % (os.path.basename(inc), f))
    if f.endswith(".c"):
        seen = set()
        for name in re.findall(r'\b([A-Za-z_]\w*)\b', code(os.path.join(d, f))):
            b = declared.get(name)
            if b is not None and b != a and name not in seen:
                seen.add(name)
                tie(a, b, "%s names %s" % (f, name))

# Tarjan's strongly connected components.
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1
    stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v:
                break
        sccs.append(c)
sys.setrecursionlimit(10000)
for v in mods:
    if v not in index:
        visit(v)

cycles = [sorted(c) for c in sccs if len(c) > 1]
if cycles:
    for c in cycles:
        print("check-layering: cycle among %s:" % ", ".join(m + ".c" for m in c))
        for a in c:
            for b in c:
                if b in edges[a]:
                    print("  %s -> %s: %s" % (a, b, "; ".join(edges[a][b][:4])))
    sys.exit(1)
# Tarjan emits components leaves first.
print("check-layering: %d modules, no cycle: %s" % (len(mods), " ".join(c[0] for c in sccs)))
PY
