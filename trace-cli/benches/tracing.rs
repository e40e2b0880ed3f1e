//! What tracing costs, measured in one run so the numbers sit side by side:
//!
//! * per probe hit: the probe site untraced, with the bare uprobe floor (a BPF program that
//!   returns at once), and with the full handler (decode + ring buffer) read by trace-cli;
//! * the sustained event rate, one and two firing threads, and whether anything dropped;
//! * the recorder (`trace-cli record --pid`, writing a trace file): CPU per event and peak RSS,
//!   for a short and a 4× longer run (RSS must not grow with the run).
//!
//! ```text
//! cargo bench -p trace-cli --bench tracing                 # table
//! cargo bench -p trace-cli --bench tracing -- --json       # one JSON object per line
//! cargo bench -p trace-cli --bench tracing -- --hits 4000000 --rounds 5
//! ```
//! The firing process is this binary itself (`--fire`): a loop calling `probe::p_status`.
//! Needs root (BPF); without it, or without `--bench` (under `cargo test`), it says so and
//! exits 0.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use goro_probes::catalog::{pstatus::PStatus, reason::Reason};
use trace_cli::event::Input;
use trace_cli::source::live::{self, LiveHandler, Program};
use trace_cli::source::target::{self, TargetSpec};

/// Fires `hits` probes from each of `threads` threads; prints `ns_per_hit total_hits elapsed_ns`.
fn fire(hits: u64, threads: u64) {
    // Held until the tracer has attached (a line on stdin), when asked to.
    if std::env::var_os("BENCH_WAIT").is_some() {
        let mut l = String::new();
        let _ = std::io::stdin().read_line(&mut l);
    }
    let t = Instant::now();
    std::thread::scope(|s| {
        for th in 0..threads {
            s.spawn(move || {
                // A legal P life, so the decoder's checks pass: acquire, release, ...
                for i in 0..hits {
                    let (old, new, why) = if i % 2 == 0 {
                        (PStatus::Idle, PStatus::Running, Reason::Acquire)
                    } else {
                        (PStatus::Running, PStatus::Idle, Reason::Release)
                    };
                    goro_probes::probe::p_status(
                        th as u32,
                        std::hint::black_box(old),
                        new,
                        std::hint::black_box(i),
                        why,
                        i + 1,
                    );
                }
            });
        }
    });
    let ns = t.elapsed().as_nanos() as u64;
    // Per thread, per hit: threads run in parallel on their own CPUs.
    println!("{} {} {ns}", ns as f64 / hits as f64, hits * threads);
}

struct Fired {
    ns_per_hit: f64,
    hits: u64,
    elapsed_ns: u64,
}

fn parse_fired(line: &str) -> Fired {
    let f: Vec<&str> = line.split_whitespace().collect();
    Fired {
        ns_per_hit: f[0].parse().unwrap(),
        hits: f[1].parse().unwrap(),
        elapsed_ns: f[2].parse().unwrap(),
    }
}

fn fire_cmd(hits: u64, threads: u64) -> Vec<OsString> {
    vec![
        std::env::current_exe().unwrap().into(),
        "--fire".into(),
        hits.to_string().into(),
        threads.to_string().into(),
    ]
}

/// The firing child alone.
fn untraced(hits: u64) -> Fired {
    let c = fire_cmd(hits, 1);
    let out = Command::new(&c[0]).args(&c[1..]).output().unwrap();
    parse_fired(std::str::from_utf8(&out.stdout).unwrap())
}

#[derive(Default)]
struct Count {
    events: u64,
    lost: u64,
}

impl LiveHandler for Count {
    fn input(&mut self, i: Input) {
        match i {
            Input::Event(_) => self.events += 1,
            Input::Lost { count, .. } => self.lost += count.max(1),
            Input::Tick(_) | Input::State(_) => {}
        }
    }
}

fn cpu_ns() -> u64 {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Traced {
    fired: Fired,
    events: u64,
    drops: u64,
    lost: u64,
    loader_cpu_ns: u64,
}

/// The firing child, traced by this process through the library (held before exec, so every
/// hit is traced). Its stdout goes to a file: the library's child inherits ours.
fn traced(hits: u64, threads: u64, program: Program, ring: u32) -> Traced {
    let out_path = std::env::temp_dir().join(format!("tracing-bench-{}.out", std::process::id()));
    let out = std::fs::File::create(&out_path).unwrap();
    // The child inherits fd 1: point ours at the file while it is started.
    let saved = redirect_stdout(&out);
    let resolved = target::resolve(TargetSpec::Spawn(fire_cmd(hits, threads))).unwrap();
    let live = live::attach(resolved, ring, program);
    restore_stdout(saved);
    let live = live.unwrap_or_else(|e| panic!("attach: {e}"));
    let mut count = Count::default();
    let cpu0 = cpu_ns();
    let end = live.run(None, &mut count).unwrap();
    let loader_cpu_ns = cpu_ns() - cpu0;
    let text = std::fs::read_to_string(&out_path).unwrap();
    let _ = std::fs::remove_file(&out_path);
    Traced {
        fired: parse_fired(text.trim()),
        events: count.events,
        drops: end.counters.drops,
        lost: count.lost,
        loader_cpu_ns,
    }
}

fn redirect_stdout(to: &std::fs::File) -> i32 {
    use std::os::fd::AsRawFd;
    std::io::stdout().flush().unwrap();
    // SAFETY: dup/dup2 on fd 1 and an open file's fd; the saved copy is restored below.
    unsafe {
        let saved = libc::dup(1);
        libc::dup2(to.as_raw_fd(), 1);
        saved
    }
}

fn restore_stdout(saved: i32) {
    // SAFETY: `saved` is the dup of fd 1 made by `redirect_stdout`.
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
}

struct Recorded {
    events: u64,
    drops: u64,
    cpu_ns: u64,
    max_rss_kib: u64,
    bytes: u64,
    rate: f64,
}

/// `trace-cli record --pid` on a held firing child: the recorder's own CPU and peak RSS (it
/// does not reap the target, so none of the target's usage is counted in its own). The
/// recorder is reaped by `wait4`, for its resource usage.
#[allow(clippy::zombie_processes)]
fn record_cli(hits: u64) -> Recorded {
    let c = fire_cmd(hits, 1);
    let mut child = Command::new(&c[0])
        .args(&c[1..])
        .env("BENCH_WAIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let file = std::env::temp_dir().join(format!("tracing-bench-{}.trace", std::process::id()));
    let rec = Command::new(env!("CARGO_BIN_EXE_trace-cli"))
        .args(["record", "--json", "-o"])
        .arg(&file)
        .arg("--pid")
        .arg(child.id().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::fs::metadata(&file).map_or(0, |m| m.len()) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "trace-cli did not attach"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.wait().unwrap();
    let fired = parse_fired(&line);
    let mut status = 0;
    // SAFETY: wait4 on our own child with valid out-pointers.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::wait4(rec.id() as i32, &mut status, 0, &mut ru);
        ru
    };
    let mut summary = String::new();
    use std::io::Read;
    rec.stdout.unwrap().read_to_string(&mut summary).unwrap();
    let v: serde_json::Value = serde_json::from_str(summary.trim()).unwrap();
    let _ = std::fs::remove_file(&file);
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    Recorded {
        events: v["events"].as_u64().unwrap(),
        drops: v["loss"]["drops"].as_u64().unwrap(),
        cpu_ns: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss as u64,
        bytes: v["bytes"].as_u64().unwrap(),
        rate: fired.hits as f64 / (fired.elapsed_ns as f64 / 1e9),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--fire") {
        fire(args[i + 1].parse().unwrap(), args[i + 2].parse().unwrap());
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let opt = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .map_or(default, |i| args[i + 1].parse().expect(name))
    };
    if !args.iter().any(|a| a == "--bench") {
        println!("tracing: not run (benchmarks run under `cargo bench`)");
        return;
    }
    if let Some(missing) = trace_cli::caps::missing_for_tracing() {
        println!("tracing: skipped: needs {missing} (run as root)");
        return;
    }
    let hits = opt("--hits", 2_000_000);
    let rounds = opt("--rounds", 3) as usize;
    let ring = 4 << 20;
    let mut rows: Vec<(String, f64, String)> = Vec::new();
    let mut emit = |name: &str, value: f64, unit: &str| {
        if json {
            println!(
                "{}",
                serde_json::json!({"name": name, "value": value, "unit": unit})
            );
        }
        rows.push((name.to_owned(), value, unit.to_owned()));
    };

    let mut un = Vec::new();
    let mut floor = Vec::new();
    let mut full = Vec::new();
    let mut loader = Vec::new();
    let mut rate1 = Vec::new();
    let mut lost1 = 0;
    for _ in 0..rounds {
        un.push(untraced(hits).ns_per_hit);
        floor.push(traced(hits, 1, Program::Floor, ring).fired.ns_per_hit);
        let t = traced(hits, 1, Program::Full, ring);
        assert_eq!(
            t.events + t.drops,
            t.fired.hits,
            "every hit an event or a drop"
        );
        lost1 += t.drops + t.lost;
        full.push(t.fired.ns_per_hit);
        loader.push(t.loader_cpu_ns as f64 / t.events.max(1) as f64);
        rate1.push(t.fired.hits as f64 / (t.fired.elapsed_ns as f64 / 1e9));
    }
    let (fl, fu) = (median(floor), median(full));
    emit("probe site untraced, per hit", median(un), "ns");
    emit("bare uprobe floor, per hit", fl, "ns");
    emit("full handler + ring buffer, per hit", fu, "ns");
    emit("full / floor", fu / fl, "x");
    emit(
        "reader CPU per event (library, no file)",
        median(loader),
        "ns",
    );
    emit("sustained rate, 1 thread", median(rate1), "events/s");
    emit(
        "lost at that rate, 1 thread (all rounds)",
        lost1 as f64,
        "events",
    );

    let mut rate2 = Vec::new();
    let mut lost2 = 0;
    for _ in 0..rounds {
        let t = traced(hits, 2, Program::Full, ring);
        lost2 += t.drops + t.lost;
        rate2.push(t.fired.hits as f64 / (t.fired.elapsed_ns as f64 / 1e9));
    }
    emit("sustained rate, 2 threads", median(rate2), "events/s");
    emit(
        "lost at that rate, 2 threads (all rounds)",
        lost2 as f64,
        "events",
    );

    let short = record_cli(hits);
    let long = record_cli(hits * 4);
    for (name, r) in [("short", &short), ("4x longer", &long)] {
        emit(
            &format!("trace-cli record, {name} run: events"),
            r.events as f64,
            "events",
        );
        emit(
            &format!("trace-cli record, {name} run: rate"),
            r.rate,
            "events/s",
        );
        emit(
            &format!("trace-cli record, {name} run: CPU per event"),
            r.cpu_ns as f64 / r.events.max(1) as f64,
            "ns",
        );
        emit(
            &format!("trace-cli record, {name} run: peak RSS"),
            r.max_rss_kib as f64 / 1024.0,
            "MiB",
        );
        emit(
            &format!("trace-cli record, {name} run: file bytes per event"),
            r.bytes as f64 / r.events.max(1) as f64,
            "B",
        );
        emit(
            &format!("trace-cli record, {name} run: dropped"),
            r.drops as f64,
            "events",
        );
    }
    if !json {
        println!("| measure | value | unit |\n|---|---:|---|");
        for (n, v, u) in &rows {
            let v = if *v >= 1000.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            };
            println!("| {n} | {v} | {u} |");
        }
    }
}
