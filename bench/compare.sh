#!/usr/bin/env bash
# Run Go's and goro's scheduler benchmarks on this machine and print them side by side.
#
#   bench/compare.sh              # both suites, plain-text table
#   bench/compare.sh --markdown   # the same table as Markdown (for docs/PERFORMANCE.md)
#   bench/compare.sh --go-only    # skip goro (e.g. while the runtime does not build)
#   bench/compare.sh --goro-only
#   bench/compare.sh --probes-off # build goro with every probe site compiled out (their cost)
#
# Go: `go test -bench`, -count 3, median of the three. goro: `cargo bench -p goro --bench
# sched -- --json`, which already reports a median. A benchmark missing on one side prints
# "n/a"; one that crashed prints "failed". The exit status is non-zero only on errors: a suite
# that fails to build or run, or a benchmark that crashed (after the table is printed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

markdown=0
run_go=1
run_goro=1
cargo_flags=()
for arg in "$@"; do
    case "$arg" in
        --markdown) markdown=1 ;;
        --go-only) run_goro=0 ;;
        --goro-only) run_go=0 ;;
        # Command line only: in a dependency table cargo would unify it into every build.
        --probes-off) cargo_flags+=(--features goro-probes/disabled) ;;
        -h | --help)
            sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "compare.sh: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/go.txt"
: >"$tmp/goro.jsonl"
: >"$tmp/goro.failed"

# Record what the numbers were measured on: they mean little without it.
{
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%SZ')"
    echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) vCPUs"
    echo "kernel:  $(uname -r)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
    if ((run_go)); then echo "go:      $(go version)"; fi
    if ((run_goro)); then echo "rustc:   $(rustc --version)"; fi
    if ((${#cargo_flags[@]})); then echo "goro:    built with ${cargo_flags[*]}"; fi
    echo "commit:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$tmp/env.txt"

if ((run_go)); then
    echo "== Go: building and running bench/go" >&2
    (cd "$root/bench/go" && go test -c -o "$tmp/gobench.test" .)
    # 1s per benchmark is Go's default and enough for ops of up to a few µs; Spawn1M takes
    # about a second per op on its own, so it runs a fixed 2 ops instead.
    "$tmp/gobench.test" -test.run '^$' -test.count 3 -test.benchtime 1s \
        -test.bench '^Benchmark(CreateJoin|PingPong|Gosched|Sleep1us|LockOSThread|ReadMemStats)$' \
        | tee -a "$tmp/go.txt" >&2
    "$tmp/gobench.test" -test.run '^$' -test.count 3 -test.benchtime 2x \
        -test.bench '^BenchmarkSpawn1M$' \
        | tee -a "$tmp/go.txt" >&2
fi

if ((run_goro)); then
    echo "== goro: cargo bench -p goro --bench sched -- --json, one process per benchmark" >&2
    cd "$root"
    # --list builds the bench target; a build failure is an error of the whole run.
    if ! cargo bench -q -p goro ${cargo_flags[@]+"${cargo_flags[@]}"} --bench sched -- --list >"$tmp/list.txt" 2>"$tmp/build.err"; then
        cat "$tmp/build.err" >&2
        echo "compare.sh: cannot build goro's benchmarks" >&2
        exit 1
    fi
    names=$(sed -n 's/: bench$//p' "$tmp/list.txt")
    # A runtime bug that kills one benchmark (a fatal error, a hang caught by the timeout) must
    # cost that row, not the table: each benchmark runs in its own process.
    for name in $names; do
        if ! timeout 600 cargo bench -q -p goro ${cargo_flags[@]+"${cargo_flags[@]}"} --bench sched -- --json --exact "$name" \
            >"$tmp/one.jsonl" 2>"$tmp/one.err"; then
            echo "$name" >>"$tmp/goro.failed"
            echo "compare.sh: goro benchmark $name failed:" >&2
            # cargo's own noise (compiler warnings) hides the cause; keep the runtime's words.
            grep -E 'fatal|panicked|error|deadlock|^goro' "$tmp/one.err" | tail -n 5 | sed 's/^/    /' >&2 || true
        fi
        tee -a "$tmp/goro.jsonl" <"$tmp/one.jsonl" >&2
    done
    cd - >/dev/null
fi

python3 - "$tmp/env.txt" "$tmp/go.txt" "$tmp/goro.jsonl" "$tmp/goro.failed" "$markdown" <<'PY'
import json
import re
import statistics
import sys

env_path, go_path, goro_path, failed_path = sys.argv[1:5]
markdown = sys.argv[5] == "1"
ORDER = ["CreateJoin", "PingPong", "Gosched", "Sleep1us", "Spawn1M", "LockOSThread", "ReadMemStats"]

# "BenchmarkSpawn1M-2   2   1057033763 ns/op   1008 ns/goroutine": a per-goroutine metric,
# where reported, is the unit goro reports too, so it wins over ns/op.
go_runs = {}
line_re = re.compile(r"^Benchmark(\w+?)(?:-\d+)?\s+\d+\s+(.*)$")
with open(go_path) as f:
    for line in f:
        m = line_re.match(line.strip())
        if not m:
            continue
        name, rest = m.group(1), m.group(2)
        metrics = {unit: float(val) for val, unit in re.findall(r"([\d.]+) (\S+)", rest)}
        value = metrics.get("ns/goroutine", metrics.get("ns/op"))
        if value is not None:
            go_runs.setdefault(name, []).append(value)
go = {name: statistics.median(vals) for name, vals in go_runs.items()}

goro = {}
with open(goro_path) as f:
    for line in f:
        line = line.strip()
        if line.startswith("{"):
            obj = json.loads(line)
            goro[obj["name"]] = float(obj["ns_per_op"])

with open(failed_path) as f:
    failed = {line.strip() for line in f if line.strip()}

def fmt(ns, name=None):
    if ns is None:
        return "failed" if name in failed else "n/a"
    if ns < 100:
        return f"{ns:.2f}"
    if ns < 10_000:
        return f"{ns:.1f}"
    return f"{ns:,.0f}"

names = ORDER + sorted((set(go) | set(goro) | failed) - set(ORDER))
rows = []
for name in names:
    g, r = go.get(name), goro.get(name)
    ratio = f"{r / g:.2f}" if g and r is not None else "n/a"
    unit = "ns/goroutine" if name == "Spawn1M" else "ns/op"
    rows.append((name, fmt(g), fmt(r, name), ratio, unit))

with open(env_path) as f:
    env = f.read().rstrip("\n")
header = ("benchmark", "Go ns/op", "goro ns/op", "goro/Go", "unit")
if markdown:
    print("\n".join("    " + l for l in env.splitlines()))
    print()
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
else:
    print(env)
    print()
    widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(len(header))]
    def line(cells):
        return "  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print(line(tuple("-" * w for w in widths)))
    for row in rows:
        print(line(row))
    print()
    print("goro/Go <= 1.00 means goro is at least as fast as Go.")
if failed:
    print()
    print("failed (see stderr): " + ", ".join(sorted(failed)))
PY

# The table is printed either way; a benchmark that crashed is still an error of the run.
if [[ -s "$tmp/goro.failed" ]]; then
    exit 1
fi
