//! Timers: a min-heap per P (Go 1.14+), used by `sleep`.
//!
//! A sleeping goroutine parks; the park's unlock step (which runs after it left its stack)
//! adds its timer to the P it was running on, so the timer can never fire while the G is still
//! switching out. Expired timers are run by the M holding the P in `find_runnable`, by a
//! spinning M checking other Ps, and — when every M is idle — by the one idle M that sleeps
//! until the earliest deadline (the "timer waiter", our stand-in for Go's netpoller sleep).
//! sysmon is the backstop if all Ms are busy for a long time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use super::g::GRef;
use super::p::P;

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    when: i64,
    seq: u64,
    g: usize,
}

#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl TimerHeap {
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    fn earliest(&self) -> i64 {
        self.heap.peek().map_or(0, |Reverse(e)| e.when)
    }
}

/// Adds a timer readying `g` at `when` (runtime-clock ns) on `p`.
pub(crate) fn add(p: &P, when: i64, g: GRef) {
    let when = when.max(1);
    p.timers.with(|t| {
        t.seq += 1;
        let seq = t.seq;
        t.heap.push(Reverse(Entry {
            when,
            seq,
            g: g.as_ptr() as usize,
        }));
        p.timer0.store(t.earliest(), Ordering::SeqCst);
    });
}

/// Pops every timer of `p` due at `now`, handing each G to `fire`; returns the next deadline
/// (0 = none). Cheap when nothing is due: one atomic load.
pub(crate) fn run_expired(p: &P, now: i64, mut fire: impl FnMut(GRef)) -> i64 {
    let next = p.timer0.load(Ordering::SeqCst);
    if next == 0 || next > now {
        return next;
    }
    let mut due = Vec::new();
    let next = p.timers.with(|t| {
        while let Some(Reverse(e)) = t.heap.peek() {
            if e.when > now {
                break;
            }
            let Reverse(e) = t.heap.pop().expect("peeked");
            due.push(e.g);
        }
        let next = t.earliest();
        p.timer0.store(next, Ordering::SeqCst);
        next
    });
    for g in due {
        fire(GRef(
            std::ptr::NonNull::new(g as *mut _).expect("timer G is non-null"),
        ));
    }
    next
}

/// Moves every timer of a retiring P to `to` (procresize, world stopped).
pub(crate) fn move_all(from: &P, to: &P) {
    let entries: Vec<_> = from.timers.with(|t| {
        from.timer0.store(0, Ordering::SeqCst);
        std::mem::take(&mut t.heap).into_vec()
    });
    for Reverse(e) in entries {
        add(
            to,
            e.when,
            GRef(std::ptr::NonNull::new(e.g as *mut _).expect("timer G is non-null")),
        );
    }
}
