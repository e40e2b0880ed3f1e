//! CI's bounded form of the stress program (`examples/stress`): a few runs of two seconds,
//! with 1, 3 and 8 Ps, each in a child process (this binary re-executed) so that an abort or
//! a hang — the way scheduler bugs show up — fails the test with the child's output, including
//! the scheduler state its watchdog prints. `scripts/stress.sh N` is the long form.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../examples/stress/workload.rs"]
mod workload;

const CHILD: &str = "GORO_STRESS_CHILD";

/// Child mode: `GORO_STRESS_CHILD="--seed N --procs N ..."` runs the workload and exits with
/// the stress program's status.
#[test]
fn child() {
    let Ok(args) = std::env::var(CHILD) else {
        return;
    };
    let o = workload::Opts::parse(args.split_whitespace().map(String::from)).unwrap();
    let rt = goro::Runtime::builder().procs(o.procs).build().unwrap();
    match workload::run(&o, rt) {
        Ok(r) => println!("stress OK {r:?}"),
        Err(e) => {
            println!("stress FAILED: {e}");
            std::process::exit(workload::EXIT_INVARIANT);
        }
    }
}

#[test]
fn mixed_workload_holds_its_invariants() {
    for (seed, procs) in [(1, 1), (2, 3), (3, 8)] {
        let args = format!("--seed {seed} --procs {procs} --duration 2 --stall 20");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(CHILD, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Beyond the child's own watchdog (20 s without progress): a last resort.
        let deadline = Instant::now() + Duration::from_secs(120);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("stress OK"),
            "stress {args}: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
