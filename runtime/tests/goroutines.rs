//! Goroutine life cycle: creating many, joining from goroutines and plain threads, detaching,
//! the main goroutine's end, and the API's behaviour outside a runtime.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use common::run;

/// Go's CreateGoroutines at scale: 100k goroutines created at once (most are alive at the same
/// time: the main goroutine spawns without yielding), all joined, every result seen.
#[test]
fn hundred_thousand_goroutines() {
    const N: u64 = 100_000;
    let (sum, st) = run(2, || {
        let hs: Vec<_> = (0..N).map(|i| goro::go(move || i * 3)).collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        (sum, goro::stats())
    });
    assert_eq!(sum, 3 * N * (N - 1) / 2);
    assert!(
        st.goroutines_created >= N,
        "stats count {} goroutines, {N} were created",
        st.goroutines_created
    );
}

/// Goroutines spawning goroutines (a binary tree, 2^14 leaves): spawning from every P and
/// joining across Ps, with stealing doing the spreading.
#[test]
fn spawn_tree() {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let l = goro::go(move || tree(depth - 1));
        let r = goro::go(move || tree(depth - 1));
        l.join().unwrap() + r.join().unwrap()
    }
    assert_eq!(run(2, || tree(14)), 1 << 14);
}

/// Results of any `Send` type travel through `join`, and a goroutine can be joined by one
/// that did not create it.
#[test]
fn join_from_another_goroutine() {
    let v = run(2, || {
        let h = goro::go(|| (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
        let joiner = goro::go(move || h.join().unwrap().join(","));
        joiner.join().unwrap()
    });
    let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(v, want.join(","));
}

/// A plain thread (no M) joins a goroutine: it blocks the thread, and the goroutine's exit
/// wakes it. The main goroutine waits for the thread inside `syscall`, which is how goroutine
/// code blocks a thread without holding a P (with one P, it must not hold it).
#[test]
fn join_from_plain_thread() {
    let got = run(1, || {
        let go_on = Arc::new(AtomicBool::new(false));
        let flag = go_on.clone();
        let h = goro::go(move || {
            while !flag.load(Ordering::Acquire) {
                goro::gosched();
            }
            "done"
        });
        assert!(!h.is_finished());
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || tx.send(h.join().unwrap()).unwrap());
        go_on.store(true, Ordering::Release);
        let r = goro::syscall(|| rx.recv().unwrap());
        goro::syscall(|| t.join().unwrap());
        r
    });
    assert_eq!(got, "done");
}

/// Dropping a JoinHandle detaches the goroutine; it still runs. `is_finished` turns true once
/// it has.
#[test]
fn detached_goroutine_runs() {
    run(2, || {
        let ran = Arc::new(AtomicU64::new(0));
        for _ in 0..100 {
            let ran = ran.clone();
            drop(goro::go(move || ran.fetch_add(1, Ordering::AcqRel)));
        }
        while ran.load(Ordering::Acquire) < 100 {
            goro::gosched();
        }
        let h = goro::go(|| 1);
        while !h.is_finished() {
            goro::gosched();
        }
        assert_eq!(h.join().unwrap(), 1);
    });
}

/// When the main goroutine returns, `block_on` returns its value even though other goroutines
/// are still alive (yielding forever, sleeping forever): they are abandoned, as in Go.
#[test]
fn main_return_abandons_goroutines() {
    let v = run(2, || {
        let started = Arc::new(AtomicU64::new(0));
        for _ in 0..4 {
            let s = started.clone();
            drop(goro::go(move || {
                s.fetch_add(1, Ordering::AcqRel);
                loop {
                    goro::gosched();
                }
            }));
            let s = started.clone();
            drop(goro::go(move || {
                s.fetch_add(1, Ordering::AcqRel);
                loop {
                    goro::sleep(std::time::Duration::from_secs(3600));
                }
            }));
        }
        while started.load(Ordering::Acquire) < 8 {
            goro::gosched();
        }
        7
    });
    assert_eq!(v, 7);
}

/// Two runtimes at once on different threads are independent.
#[test]
fn two_runtimes_side_by_side() {
    let a = std::thread::spawn(|| {
        run(2, || {
            (0..1000u64)
                .map(|i| goro::go(move || i))
                .map(|h| h.join().unwrap())
                .sum::<u64>()
        })
    });
    let b = std::thread::spawn(|| {
        run(1, || {
            (0..1000u64)
                .map(|i| goro::go(move || 2 * i))
                .map(|h| h.join().unwrap())
                .sum::<u64>()
        })
    });
    assert_eq!(a.join().unwrap(), 499_500);
    assert_eq!(b.join().unwrap(), 999_000);
}

/// A thread can run one runtime after another (block_on leaves the thread clean).
#[test]
fn runtimes_one_after_another_on_one_thread() {
    common::watchdog(common::HANG, || {
        for n in 1..=20u64 {
            let rt = goro::Runtime::builder()
                .procs(1 + (n as usize % 3))
                .build()
                .unwrap();
            assert_eq!(
                rt.block_on(move || goro::go(move || n * n).join().unwrap()),
                n * n
            );
        }
    });
}

#[test]
fn procs_inside_and_outside() {
    assert_eq!(goro::procs(), 0, "no runtime on this thread");
    assert_eq!(run(3, goro::procs), 3);
}

/// The safepoint and yield are no-ops outside a goroutine, and `syscall` just calls.
#[test]
fn runtime_calls_outside_a_goroutine() {
    goro::checkpoint();
    goro::gosched();
    assert_eq!(goro::syscall(|| 5), 5);
    let t = std::time::Instant::now();
    goro::sleep(std::time::Duration::from_millis(2));
    assert!(t.elapsed() >= std::time::Duration::from_millis(2));
}

#[test]
#[should_panic(expected = "outside a goroutine")]
fn go_outside_a_goroutine_panics() {
    let _ = goro::go(|| ());
}

#[test]
fn builder_rejects_bad_proc_counts() {
    assert!(matches!(
        goro::Runtime::builder().procs(0).build(),
        Err(goro::Error::InvalidProcs(0))
    ));
    let too_many = goro::MAX_PROCS + 1;
    assert!(matches!(
        goro::Runtime::builder().procs(too_many).build(),
        Err(goro::Error::InvalidProcs(n)) if n == too_many
    ));
    assert!(
        goro::Runtime::builder()
            .procs(goro::MAX_PROCS)
            .build()
            .is_ok()
    );
}

/// `block_on` inside a runtime is refused (the thread is already an M).
#[test]
fn nested_block_on_is_refused() {
    common::quiet_expected_panics();
    let r = common::watchdog(common::HANG, || {
        std::panic::catch_unwind(|| {
            goro::Runtime::builder()
                .procs(1)
                .build()
                .unwrap()
                .block_on(|| {
                    goro::Runtime::builder()
                        .procs(1)
                        .build()
                        .unwrap()
                        .block_on(|| ())
                })
        })
    });
    let err = r.expect_err("nested block_on must panic");
    let msg = common::panic_message(&*err).unwrap_or_default();
    assert!(
        msg.contains("inside a goro runtime"),
        "unexpected panic: {msg:?}"
    );
}
