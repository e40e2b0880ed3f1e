//! goro's side of the scheduler benchmarks; Go's side is `bench/go/sched_test.go`.
//!
//! Each benchmark has the same name and does the same work per op as its Go counterpart, so
//! `bench/compare.sh` can put the two side by side. A small harness of our own instead of
//! criterion: the numbers must be produced the way `go test -bench` produces them (ns/op over
//! an adaptive iteration count), and the output must be trivially machine-readable.
//!
//! ```text
//! cargo bench -p goro --bench sched                 # human-readable table
//! cargo bench -p goro --bench sched -- --json       # one JSON object per line
//! cargo bench -p goro --bench sched -- PingPong     # only names containing "PingPong"
//! cargo bench -p goro --bench sched -- --exact Gosched --json
//! cargo bench -p goro --bench sched -- --list       # the names, libtest's format
//! ```
//!
//! Without `--bench` on the command line (that is, under `cargo test --all-targets`) every
//! benchmark runs once with a single iteration and nothing is timed: a smoke test that keeps
//! the benchmarks compiling and working without spending minutes in the test suite.
//!
//! The number of Ps is `GOMAXPROCS` from the environment if set (so one variable steers both
//! suites), else goro's own default (`GOROMAXPROCS`, else the number of CPUs, as Go does).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A sample should be long enough that `Instant` overhead and one-off hiccups vanish in it.
const SAMPLE_TARGET: Duration = Duration::from_millis(100);
/// Soft wall-clock budget per benchmark, so a slow op gets fewer samples rather than minutes.
const BENCH_BUDGET: Duration = Duration::from_secs(2);
const MAX_SAMPLES: usize = 11;
const MIN_SAMPLES: usize = 3;
const MAX_ITERS: u64 = 1_000_000_000;

/// Goroutines per op of `Spawn1M`, the same constant as Go's `spawnCount`.
const SPAWN_COUNT: u64 = 1 << 20;

/// Set in smoke-test mode: a debug build under `cargo test` need not spawn a million.
static SMOKE: AtomicBool = AtomicBool::new(false);

struct Bench {
    name: &'static str,
    /// Runs `iters` ops and returns the time they took (setup excluded where it matters).
    run: fn(u64) -> Duration,
    /// Units reported per op: ns/op is divided by this (Spawn1M reports ns per goroutine).
    per_op: u64,
}

impl Bench {
    const fn new(name: &'static str, run: fn(u64) -> Duration, per_op: u64) -> Self {
        Bench { name, run, per_op }
    }
}

const BENCHES: &[Bench] = &[
    Bench::new("CreateJoin", create_join, 1),
    Bench::new("PingPong", ping_pong, 1),
    Bench::new("Gosched", gosched, 1),
    Bench::new("Sleep1us", sleep_1us, 1),
    Bench::new("LockOSThread", lock_os_thread, 1),
    Bench::new("ReadMemStats", read_mem_stats, 1),
    // Last: it is the one most likely to hit a resource limit (1M live goroutines).
    Bench::new("Spawn1M", spawn_1m, SPAWN_COUNT),
];

/// One op: start a goroutine and wait for it with `JoinHandle::join` (Go: a channel close).
fn create_join(iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        let h = goro::go(move || black_box(i));
        black_box(h.join().expect("goroutine panicked"));
    }
    start.elapsed()
}

/// One op: a round trip over two unbuffered channels between two goroutines.
fn ping_pong(iters: u64) -> Duration {
    let (ping_tx, ping_rx) = goro::chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = goro::chan::bounded::<u64>(0);
    let echo = goro::go(move || {
        while let Ok(v) = ping_rx.recv() {
            if pong_tx.send(v).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).expect("echo goroutine gone");
        black_box(pong_rx.recv().expect("echo goroutine gone"));
    }
    let elapsed = start.elapsed();
    // Closing the ping side ends the echo loop; joining keeps goroutines from piling up
    // across samples.
    drop(ping_tx);
    echo.join().expect("echo goroutine panicked");
    elapsed
}

/// One op: `gosched` with nothing else runnable, a trip through the scheduler and back.
fn gosched(iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        goro::gosched();
    }
    start.elapsed()
}

/// One op: `sleep(1µs)`, the timer's latency floor: park, timer fires, wake, run.
fn sleep_1us(iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        goro::sleep(Duration::from_micros(1));
    }
    start.elapsed()
}

/// One op: a `lock_os_thread` + `unlock_os_thread` pair.
fn lock_os_thread(iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        goro::lock_os_thread();
        goro::unlock_os_thread();
    }
    start.elapsed()
}

/// One op: `read_stats`, which stops the world and starts it again (Go: `ReadMemStats`).
fn read_mem_stats(iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(goro::read_stats());
    }
    start.elapsed()
}

/// One op: spawn `SPAWN_COUNT` goroutines from one spawner per P and wait for all of them.
fn spawn_1m(iters: u64) -> Duration {
    let spawners = goro::procs() as u64;
    let count = if SMOKE.load(Ordering::Relaxed) {
        1024
    } else {
        SPAWN_COUNT
    };
    let start = Instant::now();
    for _ in 0..iters {
        let wg = goro::sync::WaitGroup::new();
        wg.add(count as _);
        let sp = goro::sync::WaitGroup::new();
        sp.add(spawners as _);
        for s in 0..spawners {
            let n = count / spawners + if s == 0 { count % spawners } else { 0 };
            let wg = wg.clone();
            let sp = sp.clone();
            // Detached, as in Go: completion is observed through the wait groups.
            drop(goro::go(move || {
                for _ in 0..n {
                    let wg = wg.clone();
                    drop(goro::go(move || wg.done()));
                }
                sp.done();
            }));
        }
        wg.wait();
        sp.wait();
    }
    start.elapsed()
}

/// Go's `GOMAXPROCS`, if set: compare.sh then needs one variable for both suites.
fn gomaxprocs_env() -> Option<usize> {
    std::env::var("GOMAXPROCS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
}

struct Opts {
    json: bool,
    /// Set by `cargo bench`; absent under `cargo test`, where we only smoke-test.
    bench_mode: bool,
    /// Print the benchmark names (libtest's `--list` format) and exit.
    list: bool,
    /// The filter must equal the name rather than be part of it.
    exact: bool,
    filter: Option<String>,
}

fn parse_args() -> Opts {
    let mut opts = Opts {
        json: false,
        bench_mode: false,
        list: false,
        exact: false,
        filter: None,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => opts.json = true,
            "--bench" => opts.bench_mode = true,
            "--list" => opts.list = true,
            "--exact" => opts.exact = true,
            // cargo and libtest pass flags of their own; none of them concern us.
            a if a.starts_with('-') => {}
            a => opts.filter = Some(a.to_owned()),
        }
    }
    opts
}

struct Measurement {
    name: &'static str,
    unit: &'static str,
    median_ns: f64,
    min_ns: f64,
    max_ns: f64,
    samples: usize,
    iters: u64,
}

fn ns_per_unit(elapsed: Duration, iters: u64, per_op: u64) -> f64 {
    elapsed.as_nanos() as f64 / (iters * per_op) as f64
}

/// Go's own approach: grow the iteration count until one sample is long enough, then take
/// several samples of that size and report the median (robust to a noisy neighbour).
fn measure(b: &Bench) -> Measurement {
    let mut iters = 1u64;
    let mut elapsed = (b.run)(iters);
    // The cap only matters if an op compiled to nothing, which must not loop forever.
    while elapsed < SAMPLE_TARGET && iters < MAX_ITERS {
        let per_iter = elapsed.as_nanos().max(1) as f64 / iters as f64;
        // Aim 20% past the target, at most 100x growth per step, like testing.B.
        let want = (SAMPLE_TARGET.as_nanos() as f64 * 1.2 / per_iter) as u64;
        iters = want.clamp(iters + 1, iters.saturating_mul(100).min(MAX_ITERS));
        elapsed = (b.run)(iters);
    }
    // The calibration runs were the warm-up; one more full-size run settles caches and the
    // runtime's free lists at the size the samples will use.
    black_box((b.run)(iters));

    let samples = (BENCH_BUDGET.as_nanos() / elapsed.as_nanos().max(1)) as usize;
    let samples = samples.clamp(MIN_SAMPLES, MAX_SAMPLES);
    let mut ns: Vec<f64> = (0..samples)
        .map(|_| ns_per_unit((b.run)(iters), iters, b.per_op))
        .collect();
    ns.sort_by(f64::total_cmp);
    Measurement {
        name: b.name,
        unit: if b.per_op == 1 {
            "ns/op"
        } else {
            "ns/goroutine"
        },
        median_ns: ns[ns.len() / 2],
        min_ns: ns[0],
        max_ns: ns[ns.len() - 1],
        samples,
        iters,
    }
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn report(r: &Measurement, json: bool) {
    if json {
        println!(
            "{{\"name\":\"{}\",\"ns_per_op\":{:.3},\"samples\":{}}}",
            json_escape(r.name),
            r.median_ns,
            r.samples
        );
    } else {
        println!(
            "{:<14} {:>14.1} {:<12} ({} samples x {} iters, min {:.1}, max {:.1})",
            r.name, r.median_ns, r.unit, r.samples, r.iters, r.min_ns, r.max_ns
        );
    }
}

fn main() {
    let opts = parse_args();
    let selected: Vec<&'static Bench> = BENCHES
        .iter()
        .filter(|b| match opts.filter.as_deref() {
            None => true,
            Some(f) if opts.exact => b.name == f,
            Some(f) => b.name.contains(f),
        })
        .collect();
    if opts.list {
        for b in &selected {
            println!("{}: bench", b.name);
        }
        return;
    }

    let mut builder = goro::Runtime::builder();
    if let Some(n) = gomaxprocs_env() {
        builder = builder.procs(n);
    }
    let rt = builder.build().expect("cannot build the goro runtime");
    rt.block_on(move || {
        if !opts.bench_mode {
            SMOKE.store(true, Ordering::Relaxed);
            for b in &selected {
                (b.run)(1);
                println!("{}: ok (smoke test; run `cargo bench` to measure)", b.name);
            }
            return;
        }
        if !opts.json {
            println!("goro scheduler benchmarks, procs = {}", goro::procs());
        }
        for b in &selected {
            report(&measure(b), opts.json);
        }
    });
}
