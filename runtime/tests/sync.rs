//! `goro::sync`: WaitGroup and Mutex semantics (Go's sync package), on a real runtime.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use goro::sync::{Mutex, WaitGroup};

mod common;
use common::run;

fn panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn waitgroup_waits_for_1000_goroutines() {
    run(4, || {
        let wg = WaitGroup::new();
        let finished = Arc::new(AtomicUsize::new(0));
        wg.add(1000);
        for _ in 0..1000 {
            let (wg, finished) = (wg.clone(), finished.clone());
            goro::go(move || {
                goro::gosched();
                finished.fetch_add(1, Ordering::Relaxed);
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(finished.load(Ordering::Relaxed), 1000);
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn waitgroup_releases_every_waiter_and_is_reusable() {
    run(2, || {
        let wg = WaitGroup::new();
        for round in 0..3 {
            wg.add(1);
            let waiters: Vec<_> = (0..10)
                .map(|_| {
                    let wg = wg.clone();
                    goro::go(move || wg.wait())
                })
                .collect();
            goro::sleep(Duration::from_millis(10));
            wg.done();
            for w in waiters {
                w.join()
                    .unwrap_or_else(|_| panic!("waiter failed in round {round}"));
            }
        }
        wg.wait(); // Zero: returns at once.
    });
}

#[test]
fn waitgroup_negative_counter_panics() {
    run(1, || {
        let wg = WaitGroup::new();
        wg.add(2);
        wg.done();
        wg.done();
        let e = catch_unwind(AssertUnwindSafe(|| wg.done())).unwrap_err();
        assert!(panic_message(e).contains("negative WaitGroup counter"));
    });
}

#[test]
fn mutex_protects_counter_under_contention() {
    const GOROUTINES: usize = 8;
    const ITERS: usize = 20_000;
    run(4, || {
        let m = Arc::new(Mutex::new(0usize));
        let wg = WaitGroup::new();
        wg.add(GOROUTINES as i64);
        for _ in 0..GOROUTINES {
            let (m, wg) = (m.clone(), wg.clone());
            goro::go(move || {
                for i in 0..ITERS {
                    let mut g = m.lock();
                    let v = *g;
                    // Yield now and then with the lock held, so others park on it.
                    if i % 128 == 0 {
                        goro::gosched();
                    }
                    *g = v + 1;
                }
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(*m.lock(), GOROUTINES * ITERS);
    });
}

#[test]
fn mutex_waiter_is_not_starved() {
    // A hog relocks at once after every unlock and yields only while holding the mutex: on one
    // P a woken waiter always finds it locked again, but after waiting 1 ms it is handed the
    // mutex directly (starvation mode).
    run(1, || {
        let m = Arc::new(Mutex::new(()));
        let waiter_done = Arc::new(AtomicBool::new(false));
        let hog_running = Arc::new(AtomicBool::new(false));
        let hog = goro::go({
            let (m, waiter_done, hog_running) =
                (m.clone(), waiter_done.clone(), hog_running.clone());
            move || {
                let mut rounds = 0u64;
                while !waiter_done.load(Ordering::Relaxed) {
                    let g = m.lock();
                    hog_running.store(true, Ordering::Relaxed);
                    // Let the waiter run while the mutex is held, so it finds it locked.
                    goro::gosched();
                    drop(g);
                    rounds += 1;
                    // Hundreds of starvation thresholds of lock traffic: the waiter starved.
                    assert!(rounds < 10_000_000, "waiter never got the mutex");
                }
            }
        });
        while !hog_running.load(Ordering::Relaxed) {
            goro::gosched();
        }
        let waiter = goro::go({
            let (m, waiter_done) = (m.clone(), waiter_done.clone());
            move || {
                let _g = m.lock();
                waiter_done.store(true, Ordering::Relaxed);
            }
        });
        waiter.join().unwrap();
        hog.join().unwrap();
    });
}

#[test]
fn mutex_guard_held_across_park() {
    run(2, || {
        let m = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = goro::chan::bounded::<u32>(0);
        let (locked_tx, locked_rx) = goro::chan::bounded::<()>(0);
        let holder = goro::go({
            let m = m.clone();
            move || {
                let mut g = m.lock();
                locked_tx.send(()).unwrap();
                g.push(rx.recv().unwrap()); // parks holding the mutex
            }
        });
        locked_rx.recv().unwrap();
        let contender = goro::go({
            let m = m.clone();
            move || m.lock().push(2)
        });
        goro::sleep(Duration::from_millis(10));
        tx.send(1).unwrap();
        holder.join().unwrap();
        contender.join().unwrap();
        let v = m.lock().clone();
        assert!(v == [1, 2], "holder's value must come first: {v:?}");
    });
}

#[test]
fn mutex_try_lock_from_plain_thread() {
    let m = Arc::new(Mutex::new(5));
    let m1 = m.clone();
    run(2, move || {
        let m = m1;
        let g = m.lock();
        let m2 = m.clone();
        let seen = std::thread::spawn(move || m2.try_lock().map(|g| *g))
            .join()
            .unwrap();
        assert_eq!(seen, None, "locked by a goroutine");
        drop(g);
    });
    let m2 = m.clone();
    std::thread::spawn(move || {
        *m2.try_lock().expect("unlocked") += 1;
        // Uncontended lock needs no waiting, so it works off a goroutine too.
        *m2.lock() += 1;
    })
    .join()
    .unwrap();
    assert_eq!(*m.try_lock().unwrap(), 7);
}

#[test]
fn waiting_off_goroutine_panics_and_leaves_state_intact() {
    let m = Arc::new(Mutex::new(0));
    let wg = WaitGroup::new();
    let (m1, wg1) = (m.clone(), wg.clone());
    run(2, move || {
        let (m, wg) = (m1, wg1);
        let g = m.lock();
        wg.add(1);
        let (m2, wg2) = (m.clone(), wg.clone());
        let errs = std::thread::spawn(move || {
            let lock = catch_unwind(AssertUnwindSafe(|| drop(m2.lock()))).unwrap_err();
            let wait = catch_unwind(AssertUnwindSafe(|| wg2.wait())).unwrap_err();
            (panic_message(lock), panic_message(wait))
        })
        .join()
        .unwrap();
        assert!(errs.0.contains("not a goroutine"), "{}", errs.0);
        assert!(errs.1.contains("not a goroutine"), "{}", errs.1);
        drop(g);
        wg.done();
        // Neither failed call left a phantom waiter: the next round still waits for its add.
        let (wg3, m3) = (wg.clone(), m.clone());
        wg.add(1);
        let h = goro::go(move || {
            *m3.lock() += 1;
            wg3.done();
        });
        wg.wait();
        assert_eq!(*m.lock(), 1);
        h.join().unwrap();
    });
}
