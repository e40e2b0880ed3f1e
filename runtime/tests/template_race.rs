//! golang/go#38931 in goro: fixed by default, reproducible on purpose.
//!
//! Every run happens in a child process (this test binary re-executed in child mode) under two
//! watchdogs: the scenario's own, a thread that reads the runtime's state when no iteration
//! completes for a while and exits 3 if the hang has #38931's shape (4 for any other hang), and
//! the parent's, which kills a child that outlives a generous bound.

#[path = "../examples/template_race/scenario.rs"]
mod scenario;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "GORO_TEMPLATE_RACE_CHILD";

/// The tests here measure a race; one at a time, so they do not starve each other's children
/// of the machine's two CPUs.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Child mode: `GORO_TEMPLATE_RACE_CHILD=legacy,widen,runs,watchdog_secs`.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let f: Vec<&str> = spec.split(',').collect();
    let opts = scenario::Opts {
        legacy: f[0] == "1",
        widen: f[1] == "1",
        ..scenario::Opts::default()
    };
    let runs: usize = f[2].parse().unwrap();
    let watchdog = Duration::from_secs(f[3].parse().unwrap());
    for _ in 0..runs {
        scenario::run(&opts, Some(watchdog));
    }
    println!("CHILD OK");
}

struct Outcome {
    code: Option<i32>,
    stderr: String,
    killed: bool,
}

fn spawn(legacy: bool, widen: bool, runs: usize, watchdog_secs: u64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(
            CHILD_ENV,
            format!(
                "{},{},{runs},{watchdog_secs}",
                u8::from(legacy),
                u8::from(widen)
            ),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for every child, killing any still alive after `limit`.
fn wait_all(children: Vec<std::process::Child>, limit: Duration) -> Vec<Outcome> {
    let start = Instant::now();
    let mut out = Vec::new();
    for mut c in children {
        let mut killed = false;
        loop {
            if c.try_wait().unwrap().is_some() {
                break;
            }
            if start.elapsed() > limit {
                c.kill().unwrap();
                killed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = c.wait_with_output().unwrap();
        out.push(Outcome {
            code: o.status.code(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            killed,
        });
    }
    out
}

/// Runs `n` children, `parallel` at a time.
fn run_children(
    n: usize,
    parallel: usize,
    legacy: bool,
    widen: bool,
    runs: usize,
    wd: u64,
    limit: Duration,
) -> Vec<Outcome> {
    let mut all = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(parallel);
        let kids = (0..k).map(|_| spawn(legacy, widen, runs, wd)).collect();
        all.extend(wait_all(kids, limit));
        left -= k;
    }
    all
}

#[test]
fn fixed_runtime_never_hangs_in_200_runtimes() {
    let _g = serial();
    // 20 processes x 10 fresh runtimes, each 100 iterations of the race.
    let outs = run_children(20, 2, false, false, 10, 20, Duration::from_secs(300));
    for (i, o) in outs.iter().enumerate() {
        assert!(
            !o.killed && o.code == Some(0),
            "child {i} failed (code {:?}, killed {}):\n{}",
            o.code,
            o.killed,
            o.stderr
        );
    }
}

#[test]
fn fixed_runtime_survives_the_widened_window() {
    let _g = serial();
    // The window is held open 20ms per runtime, but preemption is disabled across it: it only
    // delays a stop-the-world.
    let outs = run_children(4, 2, false, true, 5, 20, Duration::from_secs(300));
    for (i, o) in outs.iter().enumerate() {
        assert!(
            !o.killed && o.code == Some(0),
            "child {i} failed ({:?}):\n{}",
            o.code,
            o.stderr
        );
    }
}

#[test]
fn legacy_widened_hangs_with_the_38931_shape() {
    let _g = serial();
    // Each run tries up to 3 fresh runtimes: the race can be lost only once per runtime, in
    // its first moments (see the example's --runtimes).
    let outs = run_children(10, 1, true, true, 3, 2, Duration::from_secs(120));
    let mut shaped = 0;
    for (i, o) in outs.iter().enumerate() {
        match o.code {
            Some(3) => {
                assert!(
                    o.stderr.contains("HANG golang/go#38931"),
                    "child {i}:\n{}",
                    o.stderr
                );
                assert!(o.stderr.contains("gcwaiting=1"), "child {i}:\n{}", o.stderr);
                shaped += 1;
            }
            Some(0) => eprintln!("child {i}: the race was not lost this run"),
            _ => panic!(
                "child {i}: a hang of another shape or a crash ({:?}, killed {}):\n{}",
                o.code, o.killed, o.stderr
            ),
        }
    }
    eprintln!("legacy+widen: {shaped}/10 runs hung with the #38931 shape");
    assert!(shaped >= 9, "only {shaped}/10 legacy+widen runs hung");
}

#[test]
fn legacy_without_widening_hangs_only_in_the_38931_shape() {
    let _g = serial();
    let outs = run_children(10, 1, true, false, 1, 2, Duration::from_secs(120));
    let hung = outs.iter().filter(|o| o.code == Some(3)).count();
    for (i, o) in outs.iter().enumerate() {
        assert!(
            matches!(o.code, Some(0) | Some(3)),
            "child {i}: {:?}\n{}",
            o.code,
            o.stderr
        );
    }
    eprintln!("legacy without widening: {hung}/10 runs hung (Go's rate is about 1/50)");
}
