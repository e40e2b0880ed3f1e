//! Model-checks the lock-free per-P run queue (`src/sched/runq.rs`, compiled here as-is) with
//! loom: every interleaving (up to a preemption bound) of an owner pushing and popping while
//! thieves steal, including wrap-around of the ring, the overflow batch to the global queue and
//! the `runnext` slot. The property everywhere: every pushed item is consumed exactly once —
//! no loss, no duplicate (a duplicate is a goroutine run twice at once in the real runtime).
//!
//! The ring is tiny (4 slots) so that full, half and wrapped states are reached in a few steps.
//! `LOOM_MAX_PREEMPTIONS` overrides the default bound (3).

use std::ptr::NonNull;

use loom::sync::Arc;
use loom::thread;

/// `runq.rs` takes its atomics from `super::atomics`; here `super` is this crate's root.
mod atomics {
    pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
}

#[allow(dead_code)] // the scheduler uses more of the queue than these models do
#[rustfmt::skip] // formatted with the runtime sources, not with this test
#[path = "../src/sched/runq.rs"]
mod runq;

type Q = runq::RunQueue<u64, 4>;

/// The items: addresses of these statics (the queue stores pointers; the runtime's are Gs).
static ITEMS: [u64; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn item(i: usize) -> NonNull<u64> {
    NonNull::from(&ITEMS[i])
}

fn index(p: NonNull<u64>) -> usize {
    // SAFETY: every pointer in the queues comes from `item`, i.e. points into ITEMS.
    unsafe { *p.as_ref() as usize }
}

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

fn no_overflow(_: Vec<NonNull<u64>>) {
    panic!("the ring overflowed where it has room");
}

/// Asserts that `got` holds each of `0..n` exactly once.
fn assert_exactly_once(mut got: Vec<usize>, n: usize) {
    got.sort_unstable();
    assert_eq!(
        got,
        (0..n).collect::<Vec<_>>(),
        "items lost or consumed twice"
    );
}

/// A thief's whole steal: take a batch from `victim` into its own (empty) queue, then run
/// everything it took.
fn steal_all(victim: &Q, steal_runnext: bool) -> Vec<usize> {
    let mine = Q::new();
    let mut got = Vec::new();
    if let Some(g) = mine.steal_from(victim, steal_runnext) {
        got.push(index(g));
        while let Some((g, _)) = mine.pop() {
            got.push(index(g));
        }
    }
    assert!(mine.is_empty());
    got
}

/// The owner pushes and pops while a thief steals; the ring wraps around (head starts at 3 of
/// 4 slots).
#[test]
fn owner_push_pop_vs_thief() {
    model(|| {
        let q = Arc::new(Q::new());
        // Move head/tail to 3 first, so the items below land in slots 3, 0, 1.
        for i in 0..3 {
            q.push(item(i), false, no_overflow);
            assert_eq!(q.pop().map(|(g, _)| index(g)), Some(i));
        }
        q.push(item(3), false, no_overflow);
        q.push(item(4), false, no_overflow);

        let victim = q.clone();
        // Two steals, so the thief can also take items pushed while it runs.
        let thief = thread::spawn(move || {
            let mut got = steal_all(&victim, false);
            got.extend(steal_all(&victim, false));
            got
        });

        let mut got = vec![0, 1, 2];
        q.push(item(5), false, no_overflow);
        if let Some((g, inherit)) = q.pop() {
            assert!(!inherit, "a ring item does not inherit the time slice");
            got.push(index(g));
        }
        q.push(item(6), false, no_overflow);
        while let Some((g, _)) = q.pop() {
            got.push(index(g));
        }
        got.extend(thief.join().unwrap());
        assert_exactly_once(got, 7);
        assert!(q.is_empty());
    });
}

/// The ring is full, so the owner's next push moves half of it plus the new item to the
/// global queue — while a thief is stealing from the same ring. Either the overflow CAS wins
/// (a batch in FIFO order ending with the new item) or the thief's does (room appears and the
/// push retries into the ring).
#[test]
fn overflow_while_thief_steals() {
    model(|| {
        let q = Arc::new(Q::new());
        // head/tail at 2: the full ring wraps.
        for i in 0..2 {
            q.push(item(i), false, no_overflow);
            q.pop();
        }
        for i in 2..6 {
            q.push(item(i), false, no_overflow);
        }
        assert_eq!(q.len(), 4);

        let victim = q.clone();
        let thief = thread::spawn(move || steal_all(&victim, false));

        let mut got = vec![0, 1];
        let mut batch = None;
        q.push(item(6), false, |b| batch = Some(b));
        if let Some(b) = batch {
            let b: Vec<usize> = b.into_iter().map(index).collect();
            assert_eq!(
                b.last(),
                Some(&6),
                "the pushed item ends the overflow batch"
            );
            assert!(
                b.windows(2).all(|w| w[0] < w[1]),
                "overflow batch out of FIFO order: {b:?}"
            );
            got.extend(b);
        }
        while let Some((g, _)) = q.pop() {
            got.push(index(g));
        }
        got.extend(thief.join().unwrap());
        assert_exactly_once(got, 7);
    });
}

/// `runnext` is contended: the owner kicks it into the ring with a new `runnext` push and then
/// pops, while a thief may steal `runnext` itself (the ring being empty at first).
#[test]
fn runnext_steal_race() {
    model(|| {
        let q = Arc::new(Q::new());
        q.push(item(0), true, no_overflow);
        assert_eq!(q.len(), 1);

        let victim = q.clone();
        let thief = thread::spawn(move || steal_all(&victim, true));

        let mut got = Vec::new();
        q.push(item(1), true, no_overflow);
        while let Some((g, inherit)) = q.pop() {
            // Only what comes out of runnext inherits the time slice, and item 1 went
            // there last; item 0 can only be in the ring by now (or stolen).
            if index(g) == 0 {
                assert!(
                    !inherit,
                    "item 0 was kicked out of runnext, it cannot inherit"
                );
            }
            got.push(index(g));
        }
        got.extend(thief.join().unwrap());
        assert_exactly_once(got, 2);
    });
}

/// Two thieves steal from one victim while its owner pops: the CASes on `head` between three
/// consumers hand each item out once.
#[test]
fn two_thieves_and_owner() {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        // Three threads: keep the bound lower so the run stays short.
        b.preemption_bound = Some(2);
    }
    b.check(|| {
        let q = Arc::new(Q::new());
        for i in 0..4 {
            q.push(item(i), false, no_overflow);
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let victim = q.clone();
                thread::spawn(move || steal_all(&victim, true))
            })
            .collect();
        let mut got = Vec::new();
        if let Some((g, _)) = q.pop() {
            got.push(index(g));
        }
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        while let Some((g, _)) = q.pop() {
            got.push(index(g));
        }
        assert_exactly_once(got, 4);
    });
}
