//! `goro::syscall`: a goroutine blocked in a call does not hold up the others. Its P goes
//! `_Psyscall` and sysmon retakes it and hands it to another M. Every test proves progress by
//! ordering (the blocked call waits for work that can only run elsewhere), never by timing.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{P_IDLE, P_SYSCALL, run};

/// Longer than any hand-off needs, shorter than the watchdog: a missing hand-off makes the
/// blocked call give up and the test fail with a message instead of a hang.
const GIVE_UP: Duration = Duration::from_secs(20);

/// With one P: goroutine S blocks in a call that returns only once goroutine W has done its
/// work, and W can only run once S's P is handed off. S returns W's result; the P was retaken
/// by sysmon (the only one who can: S's M is blocked, and there is no other P).
#[test]
fn blocked_call_hands_its_p_off() {
    let st = run(1, || {
        let in_call = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<u64>();
        let flag = in_call.clone();
        let s = goro::go(move || {
            goro::syscall(move || {
                flag.store(true, Ordering::Release);
                rx.recv_timeout(GIVE_UP)
            })
        });
        let flag = in_call.clone();
        let w = goro::go(move || {
            while !flag.load(Ordering::Acquire) {
                goro::gosched();
            }
            let sum: u64 = (0..1000u64).inspect(|_| goro::checkpoint()).sum();
            tx.send(sum).unwrap();
            sum
        });
        assert_eq!(w.join().unwrap(), 499_500);
        let r = s.join().unwrap();
        assert_eq!(
            r,
            Ok(499_500),
            "the worker did not run while the call blocked"
        );
        // After the call the goroutine is an ordinary one again: it can yield, sleep, spawn.
        let after = goro::go(|| {
            goro::syscall(|| std::thread::sleep(Duration::from_millis(1)));
            goro::gosched();
            goro::sleep(Duration::from_millis(1));
            goro::go(|| 5).join().unwrap()
        });
        assert_eq!(after.join().unwrap(), 5);
        goro::stats()
    });
    assert!(st.syscalls >= 2, "syscalls counted: {}", st.syscalls);
    assert!(st.syscall_retakes >= 1, "no retake counted: {st:?}");
    assert!(
        st.per_p[0].transitions[P_SYSCALL][P_IDLE] >= 1,
        "no _Psyscall -> _Pidle transition on P 0: {:?}",
        st.per_p[0].transitions
    );
}

/// The brief's shape: one goroutine sleeps 300ms in a call, on one P; another completes a
/// chain of work meanwhile — shown by order: the sleeper records whether the worker had
/// finished when its call returned.
#[test]
fn work_completes_during_a_sleeping_call() {
    run(1, || {
        let worker_done = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (d, s) = (worker_done.clone(), started.clone());
        let sleeper = goro::go(move || {
            goro::syscall(|| {
                s.store(true, Ordering::Release);
                std::thread::sleep(Duration::from_millis(300));
                // Still inside the call: the worker's progress so far.
                d.load(Ordering::Acquire)
            })
        });
        let (d, s) = (worker_done.clone(), started.clone());
        let worker = goro::go(move || {
            while !s.load(Ordering::Acquire) {
                goro::gosched();
            }
            // A little work that needs the scheduler (spawns and joins), not just the CPU.
            let n: u64 = (0..100u64)
                .map(|i| goro::go(move || i).join().unwrap())
                .sum();
            d.store(true, Ordering::Release);
            n
        });
        assert_eq!(worker.join().unwrap(), 4950);
        assert!(
            sleeper.join().unwrap(),
            "the worker had not finished when the 300ms call returned"
        );
    });
}

/// Eight goroutines each block in a call until all eight are blocked at once — on one P. That
/// takes eight threads: each call's P must be handed on for the next goroutine to start its
/// call. A missing hand-off leaves the barrier short, and every call gives up.
#[test]
fn many_blocked_calls_on_one_p() {
    const N: u64 = 8;
    let st = run(1, || {
        let gate = Arc::new((Mutex::new(0u64), Condvar::new()));
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let gate = gate.clone();
                goro::go(move || {
                    goro::syscall(move || {
                        let (m, cv) = &*gate;
                        let mut n = m.lock().unwrap();
                        *n += 1;
                        cv.notify_all();
                        let (n, _) = cv.wait_timeout_while(n, GIVE_UP, |n| *n < N).unwrap();
                        *n
                    })
                })
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), N, "not all calls were blocked at once");
        }
        goro::stats()
    });
    assert!(
        st.syscall_retakes >= N - 1,
        "retakes: {}",
        st.syscall_retakes
    );
    assert!(
        st.threads_created >= N - 1,
        "threads: {}",
        st.threads_created
    );
}

/// Go's PreemptionAfterSyscall: a goroutine that made blocking calls and then spins (with
/// safepoints) on the only P is still preempted, so the main goroutine gets to run and stop it.
#[test]
fn preemption_after_syscall() {
    for d in [10u64, 100, 1000] {
        run(1, move || {
            let spinning = Arc::new(AtomicBool::new(false));
            let stop = Arc::new(AtomicBool::new(false));
            let (sp, st) = (spinning.clone(), stop.clone());
            let g = goro::go(move || {
                for _ in 0..5 {
                    goro::syscall(|| std::thread::sleep(Duration::from_micros(d)));
                }
                sp.store(true, Ordering::Release);
                let mut n = 0u64;
                while !st.load(Ordering::Acquire) {
                    n += 1;
                    goro::checkpoint();
                }
                n
            });
            while !spinning.load(Ordering::Acquire) {
                goro::gosched();
            }
            // We run only because the spinner was preempted.
            stop.store(true, Ordering::Release);
            assert!(g.join().unwrap() > 0);
        });
    }
}

/// A panic inside the call unwinds out of `syscall` like out of any function: the goroutine
/// can catch it and go on using the runtime (yield, spawn, sleep, more calls), and an uncaught
/// one reaches `join`. The runtime must leave the syscall state even when the call unwinds.
#[test]
fn panic_inside_a_call() {
    common::quiet_expected_panics();
    run(1, || {
        let g = goro::go(|| {
            for _ in 0..10 {
                let r = std::panic::catch_unwind(|| {
                    goro::syscall(|| panic!("{}: in a call", common::EXPECTED))
                });
                assert!(r.is_err());
                goro::gosched();
                assert_eq!(goro::go(|| 2).join().unwrap(), 2);
                goro::sleep(Duration::from_micros(100));
                assert_eq!(goro::syscall(|| 3), 3);
            }
            goro::syscall(|| panic!("{}: uncaught in a call", common::EXPECTED));
        });
        let err = g.join().expect_err("the panic reaches join");
        assert_eq!(
            common::panic_message(&*err),
            Some(format!("{}: uncaught in a call", common::EXPECTED).as_str())
        );
        // The scheduler still works.
        let n: u64 = (0..100u64)
            .map(|i| goro::go(move || i).join().unwrap())
            .sum();
        assert_eq!(n, 4950);
    });
}

/// Calls on many goroutines at once, on two Ps, with results: every call returns its own.
#[test]
fn concurrent_calls_return_their_results() {
    run(2, || {
        let total = Arc::new(AtomicU64::new(0));
        let hs: Vec<_> = (0..200u64)
            .map(|i| {
                let total = total.clone();
                goro::go(move || {
                    let v = goro::syscall(|| {
                        std::thread::sleep(Duration::from_micros(50 * (i % 7)));
                        i * 2
                    });
                    total.fetch_add(v, Ordering::Relaxed);
                    v
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), 2 * i as u64);
        }
        assert_eq!(total.load(Ordering::Relaxed), 2 * 19_900);
    });
}
