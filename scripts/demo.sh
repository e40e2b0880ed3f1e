#!/usr/bin/env bash
# The main job: reproduce golang/go#38931 in goro on purpose and show the diagnosis.
# Builds the scenario, runs it once with the fix (it completes), then in legacy mode with the
# race window widened (it hangs in a stop-the-world), and lets the runtime's watchdog read the
# scheduler state of the hung process and name the stuck P, the M it was handed to and the
# template thread that never came — and then lets trace-cli inspect the hung process from outside.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Every binary and example: the scenario (an example of goro) and trace-cli (a binary).
cargo build --release --workspace --examples --bins
bin=target/release/examples/template_race

echo "== goro probes compiled into the scenario (trace-cli probes, first lines)"
target/release/trace-cli probes "$bin" | head -12
echo
echo "== fixed runtime: the scenario completes"
"$bin" --iterations 100 --watchdog 10
echo
echo "== legacy template-thread order, race window widened: the stop-the-world hangs"
set +e
"$bin" --legacy --widen --runtimes 3 --watchdog 2
rc=$?
set -e
case $rc in
    3) echo "== diagnosed: golang/go#38931 (exit 3)";;
    0) echo "== this run did not hang (the race is probabilistic); run the demo again";;
    *) echo "== unexpected exit $rc"; exit 1;;
esac

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
    target/release/trace-cli inspect "$pid"
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
