//! `goro::sleep`: timers fire in deadline order, never early, and even when every P is busy.
//! No test asserts an upper bound on a sleep (that is a benchmark's business); "fires at all"
//! is checked by the watchdog, "not early" is a correctness property checked on every sleep.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::run;

/// Sleeps `d` and returns how long it really took; fails if it returned early.
fn sleep_checked(d: Duration) -> Duration {
    let t = Instant::now();
    goro::sleep(d);
    let took = t.elapsed();
    assert!(took >= d, "woke early: asked {d:?}, slept {took:?}");
    took
}

/// Goroutines sleeping different amounts (spawned in shuffled order) finish in deadline order.
/// Deadlines are 30ms apart, far more than wake-up jitter on an idle runtime.
#[test]
fn sleeps_finish_in_deadline_order() {
    let order = run(2, || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = [5u64, 1, 8, 3, 7, 2, 6, 4]
            .into_iter()
            .map(|k| {
                let order = order.clone();
                goro::go(move || {
                    sleep_checked(Duration::from_millis(30 * k));
                    order.lock().unwrap().push(k);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, vec![1, 2, 3, 4, 5, 6, 7, 8]);
}

/// Never early, over a spread of durations from zero to tens of milliseconds, many at once,
/// on one P and on several.
#[test]
fn no_early_wakeup() {
    for procs in [1, 2, 4] {
        run(procs, || {
            let ds: Vec<Duration> = [0u64, 1, 10, 100, 500, 1_000, 2_000, 5_000, 20_000]
                .into_iter()
                .map(Duration::from_micros)
                .collect();
            let hs: Vec<_> = (0..300)
                .map(|i| {
                    let d = ds[i % ds.len()];
                    goro::go(move || {
                        for _ in 0..3 {
                            sleep_checked(d);
                        }
                    })
                })
                .collect();
            // The main goroutine sleeps too.
            sleep_checked(Duration::from_millis(3));
            for h in hs {
                h.join().unwrap();
            }
        });
    }
}

/// `sleep(0)` returns (it still parks and is readied by the scheduler), many times in a row,
/// on one P with nothing else runnable.
#[test]
fn sleep_zero_returns() {
    run(1, || {
        for _ in 0..1000 {
            goro::sleep(Duration::ZERO);
        }
        let h = goro::go(|| {
            for _ in 0..1000 {
                goro::sleep(Duration::ZERO);
            }
            1
        });
        assert_eq!(h.join().unwrap(), 1);
    });
}

/// All goroutines asleep, every M idle: the one idle M that waits for the earliest timer
/// wakes for it (nobody else would).
#[test]
fn wakes_when_every_m_is_idle() {
    run(2, || {
        let hs: Vec<_> = (0..4)
            .map(|i| goro::go(move || sleep_checked(Duration::from_millis(20 + 10 * i))))
            .collect();
        sleep_checked(Duration::from_millis(50));
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// With one P held by a goroutine that never yields on its own (only `checkpoint`), a sleeper
/// still wakes: sysmon preempts the hog, the M runs the expired timer. The sleeper stops the
/// hog, so the test ends only if the sleeper ran.
#[test]
fn sleeper_wakes_while_a_hog_holds_the_only_p() {
    run(1, || {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let hog = goro::go(move || {
            let mut n = 0u64;
            while !s.load(Ordering::Acquire) {
                n += 1;
                goro::checkpoint();
            }
            n
        });
        let s = stop.clone();
        let sleeper = goro::go(move || {
            sleep_checked(Duration::from_millis(20));
            s.store(true, Ordering::Release);
        });
        sleeper.join().unwrap();
        assert!(hog.join().unwrap() > 0);
    });
}

/// Ten thousand goroutines sleep a few milliseconds each, at once: per-P timer heaps under
/// load, with timers fired by their own P's M, stolen by spinning Ms, and by the timer waiter.
#[test]
fn many_sleepers() {
    run(2, || {
        let hs: Vec<_> = (0..10_000u64)
            .map(|i| goro::go(move || sleep_checked(Duration::from_micros(100 * (i % 50)))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// A sleep on a plain thread just sleeps the thread.
#[test]
fn sleep_outside_a_goroutine() {
    let t = Instant::now();
    goro::sleep(Duration::from_millis(5));
    assert!(t.elapsed() >= Duration::from_millis(5));
}
