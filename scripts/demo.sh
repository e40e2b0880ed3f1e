#!/usr/bin/env bash
# The main job: reproduce golang/go#38931 in goro on purpose and let trace-cli find it.
# Builds everything, runs the scenario in legacy mode with the race window widened (it hangs in
# a stop-the-world) under `trace-cli watch`, which names the stuck P, why it is stuck and which
# thread should have taken it — from the probes alone, the runtime's own watchdog is off —
# and records the run; then `trace-cli analyze` finds the same thing in the recording; then
# `trace-cli inspect` reads another hung process's scheduler state from outside, untraced.
# Exits 0 when the tool found and explained the hang, non-zero otherwise. Needs root (BPF).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" != 0 ]; then
    echo "demo: trace-cli loads BPF programs and attaches uprobes: run it as root (sudo bash scripts/demo.sh)"
    exit 1
fi

# On a fresh machine: clang and libbpf-dev for the BPF programs (nothing if present).
bash scripts/deps.sh
# Every binary and example: the scenario (an example of goro) and trace-cli (a binary).
cargo build --release --workspace --examples --bins
bin=target/release/examples/template_race
cli=target/release/trace-cli
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo
echo "== goro probes compiled into the scenario (trace-cli probes, first lines)"
"$cli" probes "$bin" | head -6
echo
echo "== legacy template-thread order, race window widened, under trace-cli watch"
echo "   (the scenario's own watchdog is off: what follows is trace-cli's detection)"
echo "\$ trace-cli watch --exit-on-finding --record hang.trace -- $bin --legacy --widen --runtimes 3"
echo
# The race is lost on most runtimes (a fresh runtime is a fresh chance); three per run make a
# clean run unlikely, and the demo tries once more if it was.
found=0
for attempt in 1 2; do
    set +e
    "$cli" watch --text --exit-on-finding --record "$tmp/hang.trace" -- \
        "$bin" --legacy --widen --runtimes 3 | tee "$tmp/watch.txt"
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" = 3 ] && grep -q "cause: template_thread_race" "$tmp/watch.txt"; then
        found=1
        break
    fi
    if [ "$rc" = 0 ]; then
        echo "(attempt $attempt: every runtime won the race this time; trying again)"
        continue
    fi
    echo "== unexpected: watch exited $rc without the template-thread race"
    exit 1
done
if [ $found != 1 ]; then
    echo "== the scenario did not hang twice in a row (the race is probabilistic): run the demo again"
    exit 1
fi
echo "== watch exited 3: a finding (it killed the hung scenario on its way out)"
echo
echo "== the same finding from the recording"
echo "\$ trace-cli analyze hang.trace"
echo
set +e
"$cli" analyze --text "$tmp/hang.trace"
arc=$?
"$cli" analyze --json "$tmp/hang.trace" >"$tmp/analyze.json"
set -e
if [ "$arc" != 3 ]; then
    echo "== unexpected: analyze exited $arc"
    exit 1
fi
# watch and analyze must agree on the stuck P, its status and its cause.
live=$(grep -o '^stuck_p_in_stw: P[0-9]* [_a-zA-Z]*' "$tmp/watch.txt" | sort -u)
replay=$(python3 - "$tmp/analyze.json" <<'PY' | sort -u
import json, sys
for line in open(sys.argv[1]):
    v = json.loads(line)
    if v["kind"] == "stuck_p_in_stw" and v["cause"] == "template_thread_race":
        print("stuck_p_in_stw: P%s %s" % (v["p"], v["status"]))
PY
)
if [ -z "$replay" ] || [ "$live" != "$replay" ]; then
    echo "== watch found [$live], analyze found [$replay]: they differ"
    exit 1
fi
echo
echo "== diagnosed by trace-cli: golang/go#38931 on $(echo "$live" | cut -d' ' -f2), live (watch) and from the recording (analyze)"

echo
echo "== the same hang diagnosed from outside, with no tracing: trace-cli inspect PID"
# --stay: the watchdog prints its diagnosis and leaves the process hung, as in production.
log=$(mktemp)
"$bin" --legacy --widen --runtimes 5 --watchdog 1 --stay 2>"$log" >/dev/null &
pid=$!
for _ in $(seq 1 300); do
    grep -q '^HANG' "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if grep -q '^HANG golang/go#38931' "$log"; then
    sleep 1
    set +e
    "$cli" inspect "$pid"
    rc=$?
    set -e
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$log"
    [ "$rc" = 3 ] || { echo "== trace-cli inspect: unexpected exit $rc"; exit 1; }
    echo "== trace-cli inspect: finding reported (exit 3)"
else
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$log"
    echo "== this run did not hang (the race is probabilistic); run the demo again"
fi
