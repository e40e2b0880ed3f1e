//! Stop-the-world time-to-stop: the distribution of how long `stop_the_world` takes from
//! announcing the stop to the last P stopping (`WorldStopped::stopping_ns`, the `stw_stopped`
//! probe's value), with every other P idle, and with every other P busy in a `checkpoint()`
//! loop (the stop must wait for each to reach its next safepoint).
//!
//! `cargo bench -p goro --bench stw [-- --json]`. Go 1.19 exposes no time-to-stop metric
//! (runtime/metrics gained /sched/pauses/stopping in 1.22), so there is no Go column; the goal
//! from the issue is p99 < 50µs with idle Ps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SAMPLES: usize = 20_000;

fn percentile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn measure(busy: bool) -> Vec<u64> {
    let procs = std::thread::available_parallelism().map_or(2, |n| n.get());
    goro::Runtime::builder()
        .procs(procs)
        .build()
        .unwrap()
        .block_on(move || {
            let stop = Arc::new(AtomicBool::new(false));
            let spinners: Vec<_> = (0..if busy { procs - 1 } else { 0 })
                .map(|_| {
                    let stop = stop.clone();
                    goro::go(move || {
                        while !stop.load(Ordering::Relaxed) {
                            goro::checkpoint();
                        }
                    })
                })
                .collect();
            // Let the spinners get onto their Ps (and idle Ms park) before sampling.
            goro::sleep(Duration::from_millis(20));
            let mut ns = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let w = goro::stop_the_world(goro::StwReason::User);
                ns.push(w.stopping_ns());
                drop(w);
            }
            stop.store(true, Ordering::Relaxed);
            for s in spinners {
                s.join().unwrap();
            }
            ns.sort_unstable();
            ns
        })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    if smoke {
        // `cargo test --all-targets` runs benches without --bench: just check it works.
        let _ = measure(true);
        return;
    }
    for (name, busy) in [("StwTimeToStopIdle", false), ("StwTimeToStopBusy", true)] {
        let ns = measure(busy);
        let (p50, p99, max) = (
            percentile(&ns, 0.5),
            percentile(&ns, 0.99),
            *ns.last().unwrap(),
        );
        if json {
            println!(
                "{{\"name\":\"{name}\",\"p50_ns\":{p50},\"p99_ns\":{p99},\"max_ns\":{max},\"samples\":{}}}",
                ns.len()
            );
        } else {
            println!(
                "{name:<20} p50 {:>8.1} µs  p99 {:>8.1} µs  max {:>9.1} µs  ({} samples)",
                p50 as f64 / 1e3,
                p99 as f64 / 1e3,
                max as f64 / 1e3,
                ns.len()
            );
        }
    }
}
