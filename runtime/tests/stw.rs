//! Stop-the-world: it completes while goroutines spin (they stop at a safepoint, Go's
//! PreemptionGC), while goroutines sleep or block in calls, and while other goroutines stop
//! the world too; nothing else runs while the world is stopped; the count of STWs is exact.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::run;

/// Starts `n` goroutines that count up while spinning with safepoints until `stop`.
fn spinners(n: usize, stop: &Arc<AtomicBool>) -> (Arc<Vec<AtomicU64>>, Vec<goro::JoinHandle<()>>) {
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let hs = (0..n)
        .map(|i| {
            let (counts, stop) = (counts.clone(), stop.clone());
            goro::go(move || {
                while !stop.load(Ordering::Acquire) {
                    counts[i].fetch_add(1, Ordering::Relaxed);
                    goro::checkpoint();
                }
            })
        })
        .collect();
    (counts, hs)
}

fn snapshot(c: &[AtomicU64]) -> Vec<u64> {
    c.iter().map(|c| c.load(Ordering::Relaxed)).collect()
}

/// Waits (yielding) until every spinner has counted past `since`.
fn wait_all_moved(c: &[AtomicU64], since: &[u64]) {
    while c
        .iter()
        .zip(since)
        .any(|(c, &s)| c.load(Ordering::Relaxed) <= s)
    {
        goro::gosched();
    }
}

/// More spinners than Ps, all inside checkpoint loops: the stop completes, none of them runs
/// while the world is stopped, all of them run again afterwards. `stws` counts exactly.
#[test]
fn stw_stops_spinning_goroutines() {
    run(2, || {
        let stop = Arc::new(AtomicBool::new(false));
        let (counts, hs) = spinners(5, &stop);
        wait_all_moved(&counts, &[0; 5]);
        let before = goro::stats();
        for _ in 0..20 {
            let w = goro::stop_the_world(goro::StwReason::User);
            assert_eq!(w.reason(), goro::StwReason::User);
            let frozen = snapshot(&counts);
            // Give a running goroutine (if the stop were broken) time to show itself. Blocking
            // the thread is fine: the world is stopped, this M has nothing else to do.
            std::thread::sleep(Duration::from_millis(2));
            assert_eq!(
                snapshot(&counts),
                frozen,
                "a goroutine ran while the world was stopped"
            );
            drop(w);
            wait_all_moved(&counts, &frozen);
        }
        let after = goro::stats();
        // Each snapshot is a stop-the-world and counts itself: 20 ours + the second snapshot.
        assert_eq!(after.stws - before.stws, 21);
        stop.store(true, Ordering::Release);
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// Stop ids increase, and every stop, whoever asks, is counted: four goroutines stop the
/// world 200 times each, concurrently (they queue on the world semaphore), while spinners run.
#[test]
fn concurrent_stoppers_are_serialised_and_counted() {
    run(2, || {
        let stop = Arc::new(AtomicBool::new(false));
        let (_counts, spin) = spinners(2, &stop);
        let before = goro::stats().stws;
        let inside = Arc::new(AtomicU64::new(0));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let inside = inside.clone();
                goro::go(move || {
                    let mut last = 0;
                    for _ in 0..200 {
                        let w = goro::stop_the_world(goro::StwReason::User);
                        assert_eq!(
                            inside.fetch_add(1, Ordering::AcqRel),
                            0,
                            "two worlds stopped at once"
                        );
                        assert!(w.id() > last, "stop ids must increase");
                        last = w.id();
                        inside.fetch_sub(1, Ordering::AcqRel);
                        drop(w);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(goro::stats().stws - before, 801);
        stop.store(true, Ordering::Release);
        for h in spin {
            h.join().unwrap();
        }
    });
}

/// A goroutine blocked in a call does not hold up a stop-the-world (its `_Psyscall` P is
/// claimed), and when its call returns with the world stopped, it does not run until the world
/// restarts.
#[test]
fn stw_claims_syscall_ps_and_holds_returning_calls() {
    run(2, || {
        let in_call = Arc::new(AtomicBool::new(false));
        let ran_after = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<()>();
        let (ic, ra) = (in_call.clone(), ran_after.clone());
        let g = goro::go(move || {
            let r = goro::syscall(move || {
                ic.store(true, Ordering::Release);
                rx.recv_timeout(Duration::from_secs(20))
            });
            ra.store(true, Ordering::Release);
            r
        });
        while !in_call.load(Ordering::Acquire) {
            goro::gosched();
        }
        let w = goro::stop_the_world(goro::StwReason::User);
        // The world stopped while the call is still blocked; now let it return.
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !ran_after.load(Ordering::Acquire),
            "a goroutine ran while the world was stopped"
        );
        drop(w);
        assert_eq!(g.join().unwrap(), Ok(()), "the stop waited for the call");
        assert!(ran_after.load(Ordering::Acquire));
    });
}

/// Stopping the world with every other goroutine asleep (idle Ps, taken straight off the
/// idle list) or with one P (nobody to wait for). The snapshot, itself taken with the world
/// stopped, shows every P in use as `_Pgcstop`.
#[test]
fn stw_with_idle_ps_and_with_one_p() {
    for procs in [1, 4] {
        run(procs, move || {
            let before = goro::stats().stws;
            let hs: Vec<_> = (0..8)
                .map(|i| goro::go(move || goro::sleep(Duration::from_millis(5 + i))))
                .collect();
            for _ in 0..50 {
                drop(goro::stop_the_world(goro::StwReason::User));
            }
            for h in hs {
                h.join().unwrap();
            }
            let st = goro::stats();
            assert_eq!(st.stws - before, 51);
            assert_eq!(st.per_p.len(), procs);
            for p in &st.per_p {
                assert_eq!(p.status, "_Pgcstop", "P {} in a stopped world", p.id);
            }
        });
    }
}
