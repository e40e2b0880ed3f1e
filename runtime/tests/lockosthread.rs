//! LockOSThread: Go's behaviour cases (LockOSThreadNesting, YieldLocked, BlockLocked,
//! LockOSThreadExit, LockOSThreadAvoidsStatePropagation, LockedDeadlock), translated.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

fn rt(procs: usize) -> goro::Runtime {
    goro::Runtime::builder().procs(procs).build().unwrap()
}

fn tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Runs `f` on a thread and fails the test if it has not finished within `secs`.
fn with_watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("no result within {secs}s: hung"))
}

#[test]
fn lock_counts_nest_and_unlock_at_zero_is_a_no_op() {
    let counts = with_watchdog(30, || {
        rt(2).block_on(|| {
            goro::go(|| {
                let mut seen = vec![goro::lock_counts()];
                goro::lock_os_thread();
                goro::lock_os_thread();
                goro::unlock_os_thread();
                seen.push(goro::lock_counts());
                goro::unlock_os_thread();
                seen.push(goro::lock_counts());
                goro::unlock_os_thread(); // at zero: nothing happens
                seen.push(goro::lock_counts());
                seen
            })
            .join()
            .unwrap()
        })
    });
    assert_eq!(counts, vec![(0, 0), (1, 0), (0, 0), (0, 0)]);
    assert_eq!(goro::lock_counts(), (0, 0), "outside a goroutine");
}

#[test]
fn a_locked_goroutine_stays_on_its_thread_through_yields_sleeps_and_blocking_sends() {
    let tids = with_watchdog(60, || {
        rt(4).block_on(|| {
            let (tx, rx) = goro::chan::bounded::<u32>(0);
            let receiver = goro::go(move || (0..10).map(|_| rx.recv().unwrap()).sum::<u32>());
            let locked = goro::go(move || {
                goro::lock_os_thread();
                let mut tids = vec![tid()];
                for i in 0..10 {
                    goro::gosched();
                    tids.push(tid());
                    goro::sleep(Duration::from_millis(1));
                    tids.push(tid());
                    // Unbuffered: blocks until the receiver takes it (Go's BlockLocked).
                    tx.send(i).unwrap();
                    tids.push(tid());
                }
                tids
            });
            let tids = locked.join().unwrap();
            assert_eq!(receiver.join().unwrap(), 45);
            tids
        })
    });
    assert!(
        tids.iter().all(|&t| t == tids[0]),
        "the locked goroutine moved: {tids:?}"
    );
}

#[test]
fn a_goroutine_exiting_locked_ends_its_thread_while_others_go_on() {
    let ended = with_watchdog(60, move || {
        // This thread calls block_on: it becomes M0, which a locked exit never ends.
        let main_tid = tid();
        rt(2).block_on(move || {
            for _ in 0..20 {
                let others: Vec<_> = (0..50u64)
                    .map(|i| {
                        goro::go(move || {
                            goro::gosched();
                            i
                        })
                    })
                    .collect();
                let t = goro::go(|| {
                    goro::lock_os_thread();
                    tid()
                })
                .join()
                .unwrap();
                assert_eq!(
                    others.into_iter().map(|h| h.join().unwrap()).sum::<u64>(),
                    1225
                );
                if t == main_tid {
                    // It ran on M0, which is never killed (it parks): try again.
                    continue;
                }
                let task = format!("/proc/self/task/{t}");
                for _ in 0..1000 {
                    if !std::path::Path::new(&task).exists() {
                        return true;
                    }
                    goro::sleep(Duration::from_millis(10));
                }
                panic!("thread {t} still exists 10s after its locked goroutine exited");
            }
            false
        })
    });
    assert!(ended, "every locked goroutine ran on M0");
}

#[test]
fn the_main_goroutine_exiting_locked_on_m0_still_returns_from_block_on() {
    let v = with_watchdog(30, || {
        rt(2).block_on(|| {
            goro::lock_os_thread();
            7
        })
    });
    assert_eq!(v, 7);
}

/// Child mode for tests that change or kill their process.
const CHILD: &str = "GORO_LOCKOSTHREAD_CHILD";

#[test]
fn child() {
    match std::env::var(CHILD).as_deref() {
        Ok("state_propagation") => state_propagation_child(),
        Ok("locked_deadlock") => {
            rt(2).block_on(|| {
                goro::lock_os_thread();
                let (_tx, rx) = goro::chan::bounded::<()>(0);
                let _ = rx.recv(); // nobody will ever send
            });
            println!("UNREACHABLE: block_on returned");
        }
        Ok("deadlock") => {
            rt(2).block_on(|| {
                let (tx, rx) = goro::chan::bounded::<()>(0);
                let h = goro::go(move || rx.recv());
                let _keep = tx;
                let _ = h.join();
            });
            println!("UNREACHABLE: block_on returned");
        }
        Ok("locked_waits_for_timer") => {
            rt(2).block_on(|| {
                goro::lock_os_thread();
                let (tx, rx) = goro::chan::bounded::<u32>(0);
                goro::go(move || {
                    goro::sleep(Duration::from_millis(50));
                    tx.send(5).unwrap();
                });
                assert_eq!(rx.recv().unwrap(), 5);
            });
            println!("CHILD OK");
        }
        _ => {}
    }
}

fn run_child(mode: &str) -> std::process::Output {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode);
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    panic!(
        "child {mode} hung; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Go's LockOSThreadAvoidsStatePropagation: a locked goroutine makes its thread's cwd private
/// (unshare CLONE_FS) and changes it. Goroutines started while it is locked run on threads
/// created by the template thread, not cloned from it: they see the original cwd.
fn state_propagation_child() {
    let original = std::env::current_dir().unwrap();
    let dir = std::env::temp_dir().join(format!("goro-lockos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d2 = dir.clone();
    let (a_cwd, a_tid, b_cwd, b_tid) = rt(1).block_on(move || {
        // Keep the main goroutine on M0 so the tainted goroutine runs on another thread.
        goro::lock_os_thread();
        goro::go(move || {
            goro::lock_os_thread();
            // SAFETY: unshare(CLONE_FS) only detaches this thread's filesystem attributes.
            let r = unsafe { libc::unshare(libc::CLONE_FS) };
            assert_eq!(r, 0, "unshare(CLONE_FS)");
            let c = std::ffi::CString::new(d2.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::chdir(c.as_ptr()) }, 0, "chdir");
            let a = (std::env::current_dir().unwrap(), tid());
            // While we are locked, B needs a thread: it must come from the template thread.
            let b = goro::go(|| {
                goro::lock_os_thread();
                (std::env::current_dir().unwrap(), tid())
            })
            .join()
            .unwrap();
            (a.0, a.1, b.0, b.1)
            // Exits locked: the tainted thread ends.
        })
        .join()
        .unwrap()
    });
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(a_cwd, dir, "the locked goroutine's own cwd changed");
    assert_ne!(a_tid, b_tid);
    assert_eq!(
        b_cwd, original,
        "the tainted cwd propagated to a new thread"
    );
    println!("CHILD OK");
}

#[test]
fn locked_thread_state_does_not_propagate_to_new_threads() {
    let out = run_child("state_propagation");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_locked_goroutine_blocked_forever_is_reported_as_a_deadlock() {
    for mode in ["locked_deadlock", "deadlock"] {
        let out = run_child(mode);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{mode}: {stderr}");
        assert!(
            stderr.contains("all goroutines are asleep - deadlock!"),
            "{mode}: {stderr}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("UNREACHABLE"));
    }
}

#[test]
fn a_locked_goroutine_waiting_on_a_sleeper_is_not_a_deadlock() {
    let out = run_child("locked_waits_for_timer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("CHILD OK"));
}

/// Lock/unlock churn under preemption and stop-the-world. The spinners' loops contain no
/// safepoint but `lock_os_thread`/`unlock_os_thread` themselves, so every stop-the-world
/// (`read_stats`, `set_procs`) finishes only if those calls honour a pending preemption, on
/// their inlined fast path as well as their slow one; a lock that skipped it hangs the stop
/// forever (the watchdog fails the test). Meanwhile: a locked goroutine never changes thread,
/// the counts nest and end at zero, and locks taken on Ms created along the way (each with its
/// first-lock slow path) keep working.
#[test]
fn lock_unlock_churn_honours_preemption_and_every_stop_the_world_finishes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    for procs in [1, 2, 4] {
        let (stws, preemptions, pairs) = with_watchdog(120, move || {
            rt(procs).block_on(move || {
                let stop = Arc::new(AtomicBool::new(false));
                let pairs = Arc::new(AtomicU64::new(0));
                let before = goro::read_stats();
                let spinners: Vec<_> = (0..3)
                    .map(|k| {
                        let stop = stop.clone();
                        let pairs = pairs.clone();
                        goro::go(move || {
                            let mut n = 0u64;
                            while !stop.load(Ordering::Relaxed) {
                                goro::lock_os_thread();
                                if n.is_multiple_of(1024) {
                                    // Nested, and held across a check that the thread stays.
                                    let t = tid();
                                    goro::lock_os_thread();
                                    assert_eq!(goro::lock_counts(), (2, 0));
                                    for _ in 0..64 {
                                        goro::unlock_os_thread();
                                        goro::lock_os_thread();
                                    }
                                    assert_eq!(tid(), t, "a locked goroutine changed thread");
                                    goro::unlock_os_thread();
                                }
                                goro::unlock_os_thread();
                                n += 1;
                            }
                            assert_eq!(goro::lock_counts(), (0, 0));
                            if k == 0 {
                                // Exits locked: its thread ends, a fresh M replaces it.
                                goro::lock_os_thread();
                            }
                            pairs.fetch_add(n, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for round in 0..300u32 {
                    goro::read_stats();
                    if round.is_multiple_of(30) {
                        goro::set_procs(if round.is_multiple_of(60) {
                            procs + 1
                        } else {
                            procs
                        });
                    }
                    if round.is_multiple_of(50) {
                        goro::sleep(Duration::from_millis(1));
                    }
                }
                stop.store(true, Ordering::Relaxed);
                for s in spinners {
                    s.join().unwrap();
                }
                let after = goro::read_stats();
                (
                    after.stws - before.stws,
                    after.preemptions - before.preemptions,
                    pairs.load(Ordering::Relaxed),
                )
            })
        });
        assert!(stws >= 300, "{procs} P: {stws} stop-the-worlds");
        assert!(
            preemptions > 0,
            "{procs} P: the spinners were never preempted"
        );
        assert!(pairs > 0, "{procs} P: no lock/unlock pair ran");
    }
}

/// Outside a goroutine, `lock_os_thread` panics and `unlock_os_thread` does nothing: both on a
/// thread that is no runtime's and on the fast path's first test (no current M).
#[test]
fn lock_outside_a_goroutine_panics_and_unlock_is_a_no_op() {
    let r = std::thread::spawn(goro::lock_os_thread).join();
    let msg = r
        .expect_err("lock_os_thread outside a goroutine must panic")
        .downcast::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("outside a goroutine"),
        "panic message: {msg:?}"
    );
    std::thread::spawn(|| {
        goro::unlock_os_thread();
        assert_eq!(goro::lock_counts(), (0, 0));
    })
    .join()
    .unwrap();
}
