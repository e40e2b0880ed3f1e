#!/usr/bin/env bash
# What the probe sites cost when nobody traces: goro's scheduler benchmarks built with every
# probe compiled in (the default) and compiled out (goro-probes/disabled), run alternately in
# one run (on, off, on, off, ... per benchmark) so machine drift hits both alike. Prints the
# median of each side and off/on... as "probes in / probes out" ratio (1.00 = no cost).
#   bench/probes.sh [ROUNDS]     (default 3 rounds of each)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-3}

bench_exe() {
    cargo bench -q --no-run -p goro --bench sched "$@" --message-format=json 2>/dev/null |
        python3 -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sched" and m.get("executable"):
        print(m["executable"])'
}
on=$(bench_exe)
off=$(bench_exe --features goro-probes/disabled)
[ -n "$on" ] && [ -n "$off" ] || { echo "probes.sh: could not build the benchmarks" >&2; exit 1; }
[ "$on" != "$off" ] || { echo "probes.sh: both builds are the same binary" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  rounds: $rounds  commit: $(git rev-parse --short HEAD)"
for name in $("$on" --list | sed -n "s/: bench$//p"); do
    for ((r = 0; r < rounds; r++)); do
        "$on" --bench --json --exact "$name" >>"$tmp/on.json"
        "$off" --bench --json --exact "$name" >>"$tmp/off.json"
    done
done
python3 - "$tmp/on.json" "$tmp/off.json" <<'PY'
import json, statistics, sys
def load(path):
    d = {}
    for line in open(path):
        o = json.loads(line)
        d.setdefault(o["name"], []).append(o["ns_per_op"])
    return d
on, off = load(sys.argv[1]), load(sys.argv[2])
print(f"| benchmark | probes in (ns/op) | probes out (ns/op) | in/out |")
print(f"|---|---:|---:|---:|")
for name in on:
    a, b = statistics.median(on[name]), statistics.median(off[name])
    print(f"| {name} | {a:,.2f} | {b:,.2f} | {a / b:.3f} |")
PY
