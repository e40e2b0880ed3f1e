#!/usr/bin/env bash
# Runs the mixed-workload stress program (runtime/examples/stress) N times, cycling the P count
# through 1 2 3 4 8 and the seed through SEED0+i, each run 0.5-1 s long (from the seed).
#
#   scripts/stress.sh N [SEED0]
#
# STRESS_DURATION=SECS fixes the duration of every run; STRESS_BIN=PATH runs that binary
# instead of building the example (e.g. a copy, so that rebuilding meanwhile does not matter).
#
# The program has its own watchdog (no progress for 10 s: it prints the scheduler state and
# exits 3). This script adds an outer one: a run still alive 60 s past its duration gets its
# threads' stacks dumped with gdb, then is killed. The output of every failed run is kept in
# target/stress-failures/. Ends with the summary line "N passed, M failed"; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

n=${1:?usage: scripts/stress.sh N [SEED0]}
seed0=${2:-$(date +%s)}
case $n$seed0 in *[!0-9]*) echo "stress.sh: N and SEED0 must be numbers" >&2; exit 2;; esac

if [ -n "${STRESS_BIN:-}" ]; then
    bin=$STRESS_BIN
else
    cargo build --release -q -p goro --example stress || exit 2
    bin=target/release/examples/stress
fi
faildir=target/stress-failures
mkdir -p "$faildir"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

procs_cycle=(1 2 3 4 8)
passed=0
failed=0
for ((i = 0; i < n; i++)); do
    seed=$((seed0 + i))
    procs=${procs_cycle[i % 5]}
    dur=${STRESS_DURATION:-0.$((5 + seed % 5))}
    "$bin" --seed "$seed" --procs "$procs" --duration "$dur" >"$out" 2>&1 &
    pid=$!
    limit=$(( ${dur%.*} + 60 ))
    start=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        if (( SECONDS - start > limit )); then
            echo "== outer watchdog: still running after ${limit}s; thread stacks:" >>"$out"
            gdb -p "$pid" -batch -ex "thread apply all bt" >>"$out" 2>&1 || true
            kill -9 "$pid" 2>/dev/null
            break
        fi
        sleep 0.05
    done
    wait "$pid"
    rc=$?
    if (( rc == 0 )) && grep -q '^stress OK' "$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        keep="$faildir/seed$seed-procs$procs-rc$rc.log"
        cp "$out" "$keep"
        echo "FAILED: seed $seed procs $procs duration $dur exit $rc (output in $keep)"
        tail -5 "$out" | sed 's/^/    /'
    fi
    if (( (i + 1) % 100 == 0 )); then
        echo "... $((i + 1)) runs: $passed passed, $failed failed"
    fi
done
echo "$passed passed, $failed failed"
(( failed == 0 ))
