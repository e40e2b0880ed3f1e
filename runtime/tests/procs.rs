//! `set_procs` (GOMAXPROCS): changing the P count while goroutines run, spawn, sleep and
//! yield. Every goroutine survives, Ps beyond the count end `_Pdead`, and Go's
//! StopTheWorldDeadlock stress (stop-the-worlds and resizes racing a spawn chain) completes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{P_DEAD, P_GCSTOP, run};

/// A worker: busy loops with safepoints, spawning and joining, sleeping and yielding.
fn worker(w: u64, iters: u64) -> u64 {
    let mut done = 0;
    for i in 0..iters {
        let mut x = 0u64;
        for k in 0..2_000u64 {
            x = x.wrapping_add(k ^ w);
            goro::checkpoint();
        }
        std::hint::black_box(x);
        if i % 8 == 0 {
            assert_eq!(goro::go(move || i * w).join().unwrap(), i * w);
        }
        if i % 16 == 0 {
            goro::sleep(Duration::from_micros(200));
        }
        if i % 5 == 0 {
            goro::gosched();
        }
        let n = goro::procs();
        assert!((1..=4).contains(&n), "procs() = {n} mid-resize");
        done += 1;
    }
    done
}

/// The P count goes 2 → 1 → 4 → 2 → 3 → … at least 200 times, and for as long as the workers
/// run. Each `set_procs` returns the previous count; at the end `procs()` and the snapshot
/// show the last count, and exactly the Ps past it are `_Pdead`.
#[test]
fn set_procs_up_and_down_under_load() {
    const WORKERS: u64 = 6;
    const ITERS: u64 = 300;
    let (last, st) = run(2, || {
        let finished = Arc::new(AtomicU64::new(0));
        let hs: Vec<_> = (0..WORKERS)
            .map(|w| {
                let finished = finished.clone();
                goro::go(move || {
                    let n = worker(w + 1, ITERS);
                    finished.fetch_add(1, Ordering::AcqRel);
                    n
                })
            })
            .collect();
        let f = finished.clone();
        let resizer = goro::go(move || {
            let seq = [1usize, 4, 2, 3, 1, 3, 4, 2];
            let mut cur = 2;
            let mut changes = 0;
            while changes < 200 || f.load(Ordering::Acquire) < WORKERS {
                let n = seq[changes % seq.len()];
                assert_eq!(goro::set_procs(n), cur, "set_procs returns the old count");
                assert_eq!(goro::procs(), n);
                cur = n;
                changes += 1;
                goro::gosched();
            }
            // End on 3 of at most 4: one dead P to look at.
            assert_eq!(goro::set_procs(3), cur);
            3
        });
        for h in hs {
            assert_eq!(h.join().unwrap(), ITERS);
        }
        let last = resizer.join().unwrap();
        assert_eq!(goro::procs(), last);
        (last, goro::stats())
    });
    assert_eq!(st.procs, last);
    assert_eq!(st.per_p.len(), 4, "Ps ever created: {:?}", st.per_p);
    for p in &st.per_p {
        if (p.id as usize) < last {
            assert_ne!(p.status, "_Pdead", "P {} is within the count", p.id);
        } else {
            assert_eq!(p.status, "_Pdead", "P {} is beyond the count", p.id);
            assert!(p.transitions[P_GCSTOP][P_DEAD] >= 1);
            assert_eq!(p.runq_len, 0, "a dead P keeps no goroutines");
            assert_eq!(p.timers, 0, "a dead P keeps no timers");
        }
    }
}

/// Shrinking to one P moves the goroutines queued on the dropped Ps and their sleepers'
/// timers to the survivor: all of them finish.
#[test]
fn shrink_moves_queued_goroutines_and_timers() {
    run(4, || {
        let hs: Vec<_> = (0..400u64)
            .map(|i| {
                goro::go(move || {
                    goro::sleep(Duration::from_millis(1 + i % 20));
                    goro::gosched();
                    i
                })
            })
            .collect();
        assert_eq!(goro::set_procs(1), 4);
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 399 * 400 / 2);
        let st = goro::stats();
        assert_eq!(st.procs, 1);
        assert!(st.per_p[1..].iter().all(|p| p.status == "_Pdead"));
    });
}

/// Go's StopTheWorldDeadlock: 1000 stop-the-worlds and 1000 `set_procs(3)` from two
/// goroutines, concurrently with a chain of goroutines each spawning the next.
#[test]
fn stop_the_world_deadlock() {
    let st = run(3, || {
        let stop = Arc::new(AtomicBool::new(false));
        fn perpetuum_mobile(stop: Arc<AtomicBool>) {
            if !stop.load(Ordering::Acquire) {
                drop(goro::go(move || perpetuum_mobile(stop)));
            }
        }
        let s = stop.clone();
        drop(goro::go(move || perpetuum_mobile(s)));
        let stws = goro::go(|| {
            for _ in 0..1000 {
                drop(goro::stop_the_world(goro::StwReason::User));
            }
        });
        let resizes = goro::go(|| {
            for _ in 0..1000 {
                assert_eq!(goro::set_procs(3), 3);
            }
        });
        stws.join().unwrap();
        resizes.join().unwrap();
        stop.store(true, Ordering::Release);
        goro::stats()
    });
    assert!(st.stws >= 2001, "stws: {}", st.stws);
    assert_eq!(st.procs, 3);
}
