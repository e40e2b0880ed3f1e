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
use std::sync::atomic::{AtomicI64, AtomicPtr, Ordering};
use std::time::Duration;

use super::g::{GRef, WaitReason};
use super::m::M;
use super::p::P;
use super::park::{current_g, park};

/// The one idle M that sleeps only until the earliest timer of any P, so timers fire while
/// every M is idle (see `Sched::become_timer_waiter`). `m` is claimed by CAS (null = nobody);
/// `until` is its deadline on the runtime clock, 0 while it is still computing it.
pub(crate) struct TimerWaiter {
    pub(crate) m: AtomicPtr<M>,
    pub(crate) until: AtomicI64,
}

impl TimerWaiter {
    pub(crate) fn new() -> TimerWaiter {
        TimerWaiter {
            m: AtomicPtr::new(std::ptr::null_mut()),
            until: AtomicI64::new(0),
        }
    }
}

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

/// Parks the current goroutine until the runtime clock reaches `when` (Go's timeSleep). The
/// timer is added by the park's unlock step, once the goroutine is off its stack.
pub(crate) fn sleep_until(when: i64) {
    let g = current_g().expect("sleep on a goroutine");
    struct Arg {
        g: GRef,
        when: i64,
    }
    let arg = Arg { g, when };
    /// # Safety
    /// `a` is the `Arg` on the parking goroutine's stack, valid until the goroutine resumes.
    unsafe fn add_timer(a: *const ()) -> bool {
        // SAFETY: caller contract; the G cannot resume before the timer is added below.
        let a = unsafe { &*(a as *const Arg) };
        let (g, when) = (a.g, a.when);
        let m = super::m::current_m().expect("unlock steps run on an M");
        let sched = m.sched();
        let p = m.p().expect("the parking M holds its P");
        add(p, when, g);
        sched.poke_timer_waiter(when);
        true
    }
    park(
        Some((add_timer, &arg as *const Arg as *const ())),
        WaitReason::Sleep,
    );
}

impl super::Sched {
    /// Becomes the timer waiter if there is none; returns how long to sleep (None: forever).
    ///
    /// Race with `timers::add` (a Dekker pair, all SeqCst): we publish ourselves, then read
    /// every P's earliest timer; an adder stores its timer, then reads the waiter. Either we see
    /// the new timer, or the adder sees us (deadline 0 = "still computing") and pokes us.
    pub(crate) fn become_timer_waiter(&self, m: &M) -> Option<Duration> {
        let me = m as *const M as *mut M;
        self.timer_waiter.until.store(0, Ordering::SeqCst);
        if self
            .timer_waiter
            .m
            .compare_exchange(std::ptr::null_mut(), me, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return None;
        }
        let next = self.earliest_timer();
        self.timer_waiter
            .until
            .store(if next == 0 { i64::MAX } else { next }, Ordering::SeqCst);
        if next == 0 {
            return None;
        }
        Some(Duration::from_nanos(
            next.saturating_sub(self.nanotime()).max(0) as u64,
        ))
    }

    pub(crate) fn leave_timer_waiter(&self, m: &M) {
        let me = m as *const M as *mut M;
        let _ = self.timer_waiter.m.compare_exchange(
            me,
            std::ptr::null_mut(),
            Ordering::SeqCst,
            Ordering::Relaxed,
        );
    }

    /// A timer due at `when` was added: wake the timer waiter if it sleeps past it.
    pub(crate) fn poke_timer_waiter(&self, when: i64) {
        let w = self.timer_waiter.m.load(Ordering::SeqCst);
        if w.is_null() {
            return;
        }
        let until = self.timer_waiter.until.load(Ordering::SeqCst);
        if until == 0 || when < until {
            // SAFETY: Ms live as long as the runtime.
            unsafe { (*w).park.wakeup() };
        }
    }
}
