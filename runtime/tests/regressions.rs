//! Regression tests for scheduler bugs found by review against Go's `proc.go` and by the stress
//! program (`examples/stress`). Each reproduced its bug before the fix; the bugs showed up as
//! crashes, aborts or hangs, so most run their workload in a child process (this binary
//! re-executed in child mode) under a watchdog: a hang fails the test instead of hanging CI,
//! and an abort is a failed exit status instead of a dead test runner.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Child mode, selected by this environment variable (see `child`).
const CHILD: &str = "GORO_REGRESSIONS_CHILD";

fn rt(procs: usize) -> goro::Runtime {
    goro::Runtime::builder().procs(procs).build().unwrap()
}

/// A child's outcome: exit code (None if killed by a signal) and its output.
struct ChildOut {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl ChildOut {
    fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs this binary's `child` test in mode `mode`; fails the test if it is still running after
/// `limit` (a hang), killing it.
fn run_child(mode: &str, limit: Duration) -> ChildOut {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "child {mode} hung (killed after {limit:?})\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    ChildOut {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    match mode.as_str() {
        "syscall_mix" => syscall_mix_child(),
        "locked_yield_deadlock_1" => locked_yield_deadlock_child(1),
        "locked_yield_deadlock_3" => locked_yield_deadlock_child(3),
        "sysmon_during_stw" => sysmon_during_stw_child(),
        "syscall_in_stw" => syscall_in_stw_child(),
        "select_default_loop" => nonblocking_loop_child(false),
        "try_ops_loop" => nonblocking_loop_child(true),
        other => panic!("unknown child mode {other}"),
    }
}

// --- Bug 0: goro::syscall acted on a stale M -------------------------------------------------

/// 4 Ps; goroutines loop on `goro::syscall(sleep 1–20 ms)` while the main goroutine calls
/// `read_stats` every millisecond and flips the P count. Before the fix, `syscall` read the
/// current M, then passed a safepoint (which may move the goroutine to another thread), then
/// entered the syscall on the old M: panics ("entersyscall on a goroutine"), aborts ("a
/// parking G's M holds a P") or hangs, about one run in three.
fn syscall_mix_child() {
    let done = rt(4).block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let hs: Vec<_> = (0..8u64)
            .map(|i| {
                let (stop, calls) = (stop.clone(), calls.clone());
                goro::go(move || {
                    let mut k = i;
                    while !stop.load(Ordering::Relaxed) {
                        k = k
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let ms = 1 + (k >> 33) % 20;
                        goro::syscall(|| std::thread::sleep(Duration::from_millis(ms)));
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(3) {
            goro::sleep(Duration::from_millis(1));
            let _ = goro::read_stats();
            n += 1;
            if n.is_multiple_of(50) {
                goro::set_procs(if (n / 50).is_multiple_of(2) { 4 } else { 2 });
            }
        }
        stop.store(true, Ordering::Relaxed);
        for h in hs {
            h.join().unwrap();
        }
        calls.load(Ordering::Relaxed)
    });
    println!("CHILD OK {done} calls");
}

#[test]
fn syscalls_mixed_with_stws_and_set_procs_do_not_crash_or_hang() {
    for round in 0..3 {
        let out = run_child("syscall_mix", Duration::from_secs(60));
        assert!(
            out.code == Some(0) && out.stdout.contains("CHILD OK"),
            "round {round}: {}",
            out.describe()
        );
    }
}

// --- Bug 1: deadlock detection after a locked goroutine yields ---------------------------------

/// A locked goroutine yields `yields` times, then blocks forever. Before the fix, each wake-up
/// of the locked M took it off the idle-locked count twice (startlockedm and stoplockedm), the
/// count went negative and checkdead never fired: the process hung.
fn locked_yield_deadlock_child(yields: usize) {
    rt(2).block_on(move || {
        goro::lock_os_thread();
        for _ in 0..yields {
            goro::gosched();
        }
        let (_tx, rx) = goro::chan::bounded::<()>(0);
        let _ = rx.recv(); // nobody will ever send
    });
    println!("UNREACHABLE: block_on returned");
}

#[test]
fn a_locked_goroutine_that_yielded_and_blocks_forever_is_a_deadlock() {
    for mode in ["locked_yield_deadlock_1", "locked_yield_deadlock_3"] {
        let out = run_child(mode, Duration::from_secs(30));
        assert_eq!(out.code, Some(2), "{mode}: {}", out.describe());
        assert!(
            out.stderr
                .contains("fatal error: all goroutines are asleep - deadlock!"),
            "{mode}: {}",
            out.describe()
        );
        assert!(!out.stdout.contains("UNREACHABLE"), "{mode}");
    }
}

// --- Bug 4: the snapshot listed _Pdead Ps as blocking a stop-the-world -------------------------

#[test]
fn a_stopped_world_after_shrinking_waits_for_no_dead_p() {
    let r = rt(4);
    let insp = r.inspector();
    let (procs, unstopped, statuses) = common::watchdog(common::HANG, move || {
        r.block_on(move || {
            goro::set_procs(2);
            let w = goro::stop_the_world(goro::StwReason::User);
            let snap = insp.snapshot();
            drop(w);
            let unstopped: Vec<u32> = snap.unstopped_ps().iter().map(|p| p.id).collect();
            let statuses: Vec<&str> = snap.ps.iter().map(|p| p.status).collect();
            (snap.procs, unstopped, statuses)
        })
    });
    assert_eq!(procs, 2);
    assert_eq!(&statuses[2..], ["_Pdead", "_Pdead"], "{statuses:?}");
    assert_eq!(unstopped, Vec::<u32>::new(), "{statuses:?}");
}

// --- Bug 5: sysmon, syscall under a stopped world ------------------------------------------------

/// Voluntary context switches of this process's thread named `name` (from /proc).
fn thread_ctxt_switches(name: &str) -> Option<u64> {
    for e in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = e.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok());
    }
    None
}

/// While the world is stopped sysmon has nothing to do (every P is `_Pgcstop`) and parks until
/// start-the-world, as Go's does (`sysmonwait`). Before the fix it kept ticking every 20µs and,
/// with a timer overdue, woke the timer-waiter M each tick (an M that could only stop again).
/// The count of sysmon's sleeps during a long stop tells the two apart by orders of magnitude:
/// parked, it wakes a couple of times at most (the stop begins mid-tick); ticking, thousands.
fn sysmon_during_stw_child() {
    let wakes = rt(2).block_on(|| {
        // A goroutine whose timer falls due while the world is stopped.
        let sleeper = goro::go(|| goro::sleep(Duration::from_millis(5)));
        let w = goro::stop_the_world(goro::StwReason::User);
        // Let sysmon notice the stop, then count its sleeps over a long hold.
        std::thread::sleep(Duration::from_millis(30));
        let before = thread_ctxt_switches("goro-sysmon").expect("sysmon thread");
        std::thread::sleep(Duration::from_millis(300));
        let after = thread_ctxt_switches("goro-sysmon").expect("sysmon thread");
        drop(w);
        sleeper.join().unwrap();
        after - before
    });
    println!("SYSMON WAKES {wakes}");
}

#[test]
fn sysmon_parks_while_the_world_is_stopped() {
    let out = run_child("sysmon_during_stw", Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let wakes: u64 = out
        .stdout
        .split("SYSMON WAKES ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count: {}", out.describe()));
    // Ticking at sysmon's fastest (20µs) or backed off (10ms), 300ms is ≥30 sleeps; parked it
    // is woken only by start-the-world (after the count) or, as a safety net, every 100ms.
    assert!(
        wakes <= 5,
        "sysmon woke {wakes} times while the world was stopped"
    );
}

/// `goro::syscall` with the world stopped by the caller: before the fix, entersyscall found
/// the caller's P `_Pgcstop` and the process aborted on a status assertion.
fn syscall_in_stw_child() {
    let msg = rt(2).block_on(|| {
        let h = goro::go(|| {
            let _w = goro::stop_the_world(goro::StwReason::User);
            goro::syscall(|| ())
        });
        let e = h
            .join()
            .expect_err("syscall under a stopped world must panic");
        // The world was restarted by the guard's drop during unwinding: this runs.
        let _ = goro::read_stats();
        common::panic_message(&*e).unwrap_or("").to_owned()
    });
    println!("PANIC MESSAGE: {msg}");
}

#[test]
fn syscall_while_the_world_is_stopped_is_a_clear_panic() {
    let out = run_child("syscall_in_stw", Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stdout
            .contains("PANIC MESSAGE: goro::syscall called while the world is stopped"),
        "{}",
        out.describe()
    );
}

// --- Found by the stress program: non-blocking channel operations were not safepoints ---------

/// A goroutine loops on channel operations that never block — a `select!` with `default`
/// (`try_ops` false) or `try_send`/`try_recv` (true) on a channel with room — while the main
/// goroutine stops the world 20 times. Every runtime call is a safepoint (Go's function
/// prologues are); these were not, so the first stop-the-world waited forever for the loop's
/// P and the child hung.
fn nonblocking_loop_child(try_ops: bool) {
    let rounds = rt(2).block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let h = goro::go(move || {
            let (tx, rx) = goro::chan::bounded::<u64>(1);
            let mut rounds = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                if try_ops {
                    if tx.try_send(rounds).is_err() {
                        rx.try_recv().unwrap();
                    }
                } else {
                    goro::select! {
                        send(tx, rounds) -> r => r.unwrap(),
                        recv(rx) -> r => { r.unwrap(); },
                        default => unreachable!("one case is always ready"),
                    }
                }
                rounds += 1;
            }
            rounds
        });
        for _ in 0..20 {
            let _ = goro::read_stats();
        }
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap()
    });
    println!("CHILD OK {rounds}");
}

#[test]
fn a_loop_of_non_blocking_channel_operations_lets_the_world_stop() {
    for mode in ["select_default_loop", "try_ops_loop"] {
        let out = run_child(mode, Duration::from_secs(30));
        assert!(
            out.code == Some(0) && out.stdout.contains("CHILD OK"),
            "{mode}: {}",
            out.describe()
        );
    }
}
