#!/usr/bin/env bash
# What `trace-cli watch` costs and how fast it finds, in one run (docs/PERFORMANCE.md, "watch"):
#   1. detection latency: the legacy hang under watch --stw-timeout 200ms, five times: the
#      finding's waiting_ms (from the stuck stop's stw_begin to the finding) minus the timeout;
#   2. engine throughput: analyze on a recorded busy trace (the stress workload), events/s;
#   3. watch's own CPU and peak RSS, attached by pid to the stress workload for 20 s;
#   4. the cost of being watched: server_mix's requests and the stress workload's messages
#      in 5 s, untraced vs under watch, three alternating pairs each.
# Needs root (BPF) and python3. The machine has two vCPUs: close other CPU-heavy work first.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build -q --release -p trace-cli -p goro --examples --bins
cli=target/release/trace-cli
tr=target/release/examples/template_race
st=target/release/examples/stress
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. detection latency (ms past a 200 ms --stw-timeout)"
for _ in 1 2 3 4 5; do
    "$cli" watch --json --stw-timeout 200ms --exit-on-finding -- "$tr" --legacy --widen --runtimes 3 2>/dev/null |
        python3 -c '
import json, sys
for l in sys.stdin:
    if l.startswith("{"):
        v = json.loads(l)
        if v["kind"] == "stuck_p_in_stw":
            print("  %.1f ms  (P%s %s)" % (v["waiting_ms"] - 200, v["p"], v["cause"]))
            break
' || true
done

echo "== 2. engine throughput: analyze on a recorded stress run"
"$cli" record -o "$tmp/busy.trace" -- "$st" --duration 5 --seed 1 >/dev/null
s=$(date +%s.%N)
"$cli" analyze --json "$tmp/busy.trace" | tail -1 >"$tmp/a.json" || true
e=$(date +%s.%N)
python3 - "$tmp/a.json" "$s" "$e" <<'PY'
import json, sys
v = json.load(open(sys.argv[1])); t = float(sys.argv[3]) - float(sys.argv[2])
print(f"  {v['events']} events in {t:.2f} s: {v['events'] / t / 1e6:.2f} M events/s "
      f"(file read, decompressed, ordered and judged); {v['findings']} findings")
PY

echo "== 3. watch's CPU and peak RSS, attached to 20 s of the stress workload"
"$st" --duration 20 --seed 2 >"$tmp/st.out" &
spid=$!
sleep 0.5
/usr/bin/time -f "%U %S %M %e" -o "$tmp/time" "$cli" watch --json --pid "$spid" >"$tmp/w.json" || true
wait "$spid" || true
python3 - "$tmp/time" "$tmp/w.json" <<'PY'
import json, sys
u, s, rss, wall = open(sys.argv[1]).read().split()[-4:]
v = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")][-1]
ev = v["events"]; secs = v["seconds"]
print(f"  {ev} events in {secs:.1f} s ({ev / secs / 1e3:.0f} K events/s); watch CPU {float(u):.2f} s user + "
      f"{float(s):.2f} s sys (detaching included) = {(float(u) + float(s)) / secs * 100:.0f}% of a core; "
      f"peak RSS {int(rss) / 1024:.1f} MiB; drops {v['loss']['drops']}; findings {v['findings']}")
PY

echo "== 4. the cost of being watched: throughput untraced vs under watch, alternating pairs"
# Two workloads: server_mix (server-like: RPC over channels, timer waits, blocking calls) and
# stress (every feature at once, deliberately probe-dense). watch exits 3 when it reports a
# finding (a slow stop-the-world under load can be one), so its status is not checked here.
sm=target/release/examples/server_mix
for i in 1 2 3; do
    un=$("$sm" --duration 5 | grep -o 'requests: [0-9]*' | cut -d' ' -f2)
    "$cli" watch --json -- "$sm" --duration 5 >"$tmp/sm.out" 2>/dev/null || true
    wa=$(grep -o 'requests: [0-9]*' "$tmp/sm.out" | cut -d' ' -f2)
    ev=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]["events"])' "$tmp/sm.out")
    python3 -c "print(f'  server_mix run $i: untraced {$un:,} watched {$wa:,} requests: {($un - $wa) / $un * 100:+.1f}% fewer under watch ({$ev / 5e3:.0f} K probe hits/s, {$ev / $wa:.2f} per request)')"
done
for i in 1 2 3; do
    un=$("$st" --duration 5 --seed 1 | grep -o 'messages: [0-9]*' | cut -d' ' -f2)
    "$cli" watch --json -- "$st" --duration 5 --seed 1 >"$tmp/st.out" 2>/dev/null || true
    wa=$(grep -o 'messages: [0-9]*' "$tmp/st.out" | cut -d' ' -f2)
    python3 -c "print(f'  stress run $i: untraced {$un:,} watched {$wa:,} messages: {($un - $wa) / $un * 100:+.1f}% fewer under watch')"
done
