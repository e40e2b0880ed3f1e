//! Goroutines run in parallel on all Ps, and a P is shared fairly: Go's GoroutineParallelism,
//! YieldProgress and PingPongHog, translated.

mod common;

use std::hint::spin_loop;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::run;

/// Runs `n` goroutines that each finish only after seeing every other one run *while it was
/// running itself*, and joins them.
///
/// Seeing another goroutine's counter move proves simultaneity only if this goroutine could
/// not have been descheduled meanwhile: so the observation window has no safepoint in it (no
/// `checkpoint`, no runtime call). Between windows each goroutine calls `checkpoint()`, so a
/// preemption request (sysmon) is honoured — but a goroutine descheduled there learns
/// nothing. With fewer than `n` Ps running at once, this never finishes (the watchdog fails
/// it); time-sharing one P through preemption is not enough.
fn all_run_at_once(n: usize) {
    let beats: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    // How many goroutines have seen all the others; each keeps its heart beating until all
    // have, so that the last to look still has someone to see.
    let complete = Arc::new(AtomicU64::new(0));
    let hs: Vec<_> = (0..n)
        .map(|me| {
            let (beats, complete) = (beats.clone(), complete.clone());
            goro::go(move || {
                let mut seen = vec![false; n];
                seen[me] = true;
                let mut counted = false;
                while complete.load(Ordering::Acquire) < n as u64 {
                    // Window: no safepoint from the snapshot to the last comparison.
                    let snap: Vec<u64> = beats.iter().map(|b| b.load(Ordering::Acquire)).collect();
                    for _ in 0..200_000 {
                        beats[me].fetch_add(1, Ordering::Release);
                        for (j, b) in beats.iter().enumerate() {
                            if !seen[j] && b.load(Ordering::Acquire) != snap[j] {
                                seen[j] = true;
                            }
                        }
                        if !counted && seen.iter().all(|&s| s) {
                            counted = true;
                            complete.fetch_add(1, Ordering::AcqRel);
                        }
                        if complete.load(Ordering::Acquire) == n as u64 {
                            break;
                        }
                        spin_loop();
                    }
                    goro::checkpoint();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

/// Go's GoroutineParallelism: as many goroutines as Ps (2: the machines running this have two
/// cores) really run at the same time. Several rounds, each with fresh goroutines.
#[test]
fn goroutine_parallelism() {
    run(2, || {
        for _ in 0..5 {
            all_run_at_once(2);
        }
    });
}

/// Go's test uses 4 Ps whatever the core count; with more Ps than cores the OS time-shares the
/// threads, and the goroutines still run at once, pairwise, often enough.
#[test]
fn goroutine_parallelism_more_procs_than_cores() {
    run(4, || all_run_at_once(4));
}

/// Go's YieldProgress: with one P, a goroutine spinning on `gosched()` lets the main goroutine
/// make progress — including waking from a sleep, which needs the timer to be run by an M
/// that only ever sees the spinner yield.
#[test]
fn yield_progress_spinner_lets_sleeper_wake() {
    run(1, || {
        let stop = Arc::new(AtomicBool::new(false));
        let ack = Arc::new(AtomicBool::new(false));
        let (s, a) = (stop.clone(), ack.clone());
        let spinner = goro::go(move || {
            let mut yields = 0u64;
            while !s.load(Ordering::Acquire) {
                goro::gosched();
                yields += 1;
            }
            a.store(true, Ordering::Release);
            yields
        });
        goro::sleep(Duration::from_millis(10));
        stop.store(true, Ordering::Release);
        let yields = spinner.join().unwrap();
        assert!(ack.load(Ordering::Acquire));
        assert!(
            yields > 0,
            "the spinner must have been running while main slept"
        );
    });
}

/// The other direction: the main goroutine spins on `gosched()` while a goroutine that never
/// yields on its own (only `checkpoint`, never asked to) does its work.
#[test]
fn yield_progress_spinner_lets_worker_finish() {
    run(1, || {
        let done = Arc::new(AtomicU64::new(0));
        let d = done.clone();
        let worker = goro::go(move || {
            let mut x = 0u64;
            for i in 0..1_000_000u64 {
                x = x.wrapping_add(i);
                goro::checkpoint();
            }
            d.store(x, Ordering::Release);
        });
        while done.load(Ordering::Acquire) == 0 {
            goro::gosched();
        }
        worker.join().unwrap();
        assert_eq!(done.load(Ordering::Acquire), 499_999_500_000);
    });
}

/// Go's PingPongHog: on one P, a pair of goroutines handing a token back and forth with tiny
/// bursts of work, and a pair doing big bursts, get comparable shares of the P.
///
/// Go's pairs hand off through channels; a hand-off puts the partner in `runnext`, where it
/// inherits the time slice, so a ping-ponging pair is preempted like a single goroutine after
/// 10ms. Channels are not in the runtime yet; `JoinHandle::join` is the same park/ready
/// hand-off (the finishing goroutine readies its joiner into `runnext`), so each "pair" here is
/// a chain: a goroutine does a burst, spawns its partner, which does a burst and finishes,
/// waking the first. (A token passed through an atomic and `gosched` would not do: `gosched`
/// goes to the back of the global queue, so the light side would get one 1e3 burst per round
/// against the hog's 1e6 whatever the scheduler does.) If hand-offs reset the time slice, the
/// light chain would never be preempted and the hog would starve; if the hog were not
/// preempted, the light chain would.
#[test]
fn ping_pong_hog_fairness() {
    fn burst(limit: u64) -> u64 {
        let mut n = 0u64;
        for _ in 0..limit {
            n += 1;
            goro::checkpoint();
        }
        n
    }
    fn chain(limit: u64, count: Arc<AtomicU64>, done: Arc<AtomicBool>) {
        while !done.load(Ordering::Acquire) {
            count.fetch_add(burst(limit), Ordering::Relaxed);
            let c = count.clone();
            let partner = goro::go(move || {
                c.fetch_add(burst(limit), Ordering::Relaxed);
            });
            partner.join().unwrap();
        }
    }
    let (hog, light) = run(1, || {
        let done = Arc::new(AtomicBool::new(false));
        let hog = Arc::new(AtomicU64::new(0));
        let light = Arc::new(AtomicU64::new(0));
        let h = {
            let (c, d) = (hog.clone(), done.clone());
            goro::go(move || chain(1_000_000, c, d))
        };
        let l = {
            let (c, d) = (light.clone(), done.clone());
            goro::go(move || chain(1_000, c, d))
        };
        // Several 10ms preemption rounds.
        goro::sleep(Duration::from_millis(200));
        done.store(true, Ordering::Release);
        h.join().unwrap();
        l.join().unwrap();
        (hog.load(Ordering::Relaxed), light.load(Ordering::Relaxed))
    });
    const FACTOR: u64 = 20;
    assert!(
        hog / FACTOR <= light && light / FACTOR <= hog,
        "unfair: hog {hog} vs light {light} (ratio {:.2}); want within {FACTOR}x",
        hog as f64 / light.max(1) as f64
    );
}
