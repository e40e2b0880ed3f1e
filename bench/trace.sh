#!/usr/bin/env bash
# What watching costs, in one run (results in docs/PERFORMANCE.md, "Tracing"):
#   1. the tracing benchmark: a probe hit untraced, with the bare uprobe floor and with the
#      full handler; the sustained rate without loss; trace-cli record's CPU per event and RSS;
#   2. the scheduler benchmarks (runtime/benches/sched.rs) untraced, then while
#      `trace-cli record --binary` traces them, then under `trace-cli watch --binary`, side by
#      side, with the recorder's loss report.
#
#   bench/trace.sh               # plain text
#   bench/trace.sh --markdown    # the Markdown tables used in docs/PERFORMANCE.md
#
# Needs root (BPF) and python3. Close other CPU-heavy work first: the machine has two vCPUs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
markdown=0
[ "${1:-}" = "--markdown" ] && markdown=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo "== tracing benchmark (cargo bench -p trace-cli --bench tracing)" >&2
cargo bench -q -p trace-cli --bench tracing -- --json >"$tmp/tracing.json"

echo "== scheduler benchmarks, untraced then traced" >&2
cargo build -q --release -p trace-cli
exe=$(cargo bench -q -p goro --bench sched --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sched" and m.get("executable"):
        print(m["executable"])' | tail -1)
"$exe" --bench --json >"$tmp/untraced.json"
target/release/trace-cli record --json -o "$tmp/sched.trace" --binary "$exe" >"$tmp/record.json" &
rec=$!
for _ in $(seq 600); do
    [ -s "$tmp/sched.trace" ] && break
    sleep 0.1
done
"$exe" --bench --json >"$tmp/traced.json"
kill -INT "$rec"
wait "$rec"
# The same under `watch` (the same handler, the detection engine instead of the file); its
# -v line "attached N probe sites" says when the probes are in.
target/release/trace-cli -v watch --json --binary "$exe" >"$tmp/watch.json" 2>"$tmp/watch.err" &
wat=$!
for _ in $(seq 600); do
    grep -q "probe sites" "$tmp/watch.err" && break
    sleep 0.1
done
"$exe" --bench --json >"$tmp/watched.json"
kill -INT "$wat"
wait "$wat" || true

python3 - "$tmp" "$markdown" <<'PY'
import json, sys
tmp, md = sys.argv[1], sys.argv[2] == "1"
def lines(name):
    return [json.loads(l) for l in open(f"{tmp}/{name}") if l.strip().startswith("{")]
rows = lines("tracing.json")
un = {r["name"]: r["ns_per_op"] for r in lines("untraced.json")}
tr = {r["name"]: r["ns_per_op"] for r in lines("traced.json")}
wa = {r["name"]: r["ns_per_op"] for r in lines("watched.json")}
rec = lines("record.json")[-1]
def fmt(v):
    return f"{v:,.0f}" if v >= 1000 else f"{v:.2f}"
if md:
    print("| measure | value | unit |\n|---|---:|---|")
    for r in rows:
        print(f"| {r['name']} | {fmt(r['value'])} | {r['unit']} |")
    print()
    print("| benchmark | untraced ns/op | recorded ns/op | watched ns/op | recorded / untraced | watched / untraced |\n|---|---:|---:|---:|---:|---:|")
    for n in un:
        t, w = tr.get(n), wa.get(n)
        print(f"| `{n}` | {fmt(un[n])} | {fmt(t) if t else 'n/a'} | {fmt(w) if w else 'n/a'} | "
              f"{f'{t / un[n]:.1f}×' if t else ''} | {f'{w / un[n]:.1f}×' if w else ''} |")
else:
    for r in rows:
        print(f"{r['name']:<55} {fmt(r['value']):>14} {r['unit']}")
    print()
    print(f"{'benchmark':<16} {'untraced ns/op':>15} {'recorded ns/op':>15} {'watched ns/op':>15} {'rec':>6} {'watch':>6}")
    for n in un:
        t, w = tr.get(n), wa.get(n)
        print(f"{n:<16} {fmt(un[n]):>15} {fmt(t) if t else 'n/a':>15} {fmt(w) if w else 'n/a':>15} "
              f"{t / un[n] if t else 0:>5.1f}x {w / un[n] if w else 0:>5.1f}x")
print()
loss = rec["loss"]
print(f"recorder while the scheduler benchmarks ran: {rec['events']:,} events in {rec['seconds']:.1f} s, "
      f"{loss['drops']} dropped, {loss['seq_gaps']} sequence gaps, {loss['read_errors']} read errors")
PY
