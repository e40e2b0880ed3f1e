//! Parking and readying goroutines (Go's gopark/goready), `gosched`, and the runtime's
//! goroutine semaphore.
//!
//! The park protocol: a goroutine registers itself where its waker will find it (under some
//! lock), then parks with an unlock step. The scheduler runs that step on the M's own stack
//! *after* the goroutine has left its stack, so a waker that takes the lock and readies the G
//! can never resume it while it is still switching out. Exactly one `ready` per park.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use super::g::{GRef, GStatus, Switch, UnlockFn, WaitReason};
use super::lock::{Lock, Locked};
use super::m::current_m;

/// The goroutine running on this thread, if any.
#[inline]
pub(crate) fn current_g() -> Option<GRef> {
    let m = current_m()?;
    NonNull::new(m.curg.load(Ordering::Relaxed)).map(GRef)
}

/// Parks the current goroutine (see the module comment). After it has left its stack the
/// scheduler calls `unlock(arg)`; if that returns false the goroutine resumes at once.
///
/// Panics if called outside a goroutine. Fatal if preemption is disabled (`acquirem` held):
/// the M would carry the disabled state to the next goroutine.
pub(crate) fn park(unlock: Option<(UnlockFn, *const ())>, reason: WaitReason) {
    let m = current_m().expect("goro: a blocking operation was called outside a goroutine");
    let g = m
        .curg()
        .expect("goro: a blocking operation was called outside a goroutine");
    if m.locks.load(Ordering::Relaxed) != 0 {
        super::fatal("park with preemption disabled (acquirem held)");
    }
    // SAFETY: we are on g's own stack (it is the current goroutine of this thread).
    unsafe { g.mcall(Switch::Park { unlock, reason }) };
}

/// The unlock step for parking under a runtime `Lock`: `arg` is the `&Lock`.
///
/// # Safety
/// `arg` points at a `Lock` held by the parking goroutine.
pub(crate) unsafe fn unlock_lock(arg: *const ()) -> bool {
    // SAFETY: caller contract.
    unsafe { (*(arg as *const Lock)).unlock() };
    true
}

/// Makes a parked goroutine runnable (Go's goready): onto this M's P as `runnext`, so a woken
/// partner runs next, or onto the global queue when called without a P (plain threads,
/// syscalls) or for another runtime's goroutine.
pub(crate) fn ready(g: GRef) {
    let gg = g.get();
    // SAFETY: a G's runtime outlives the G (it holds Gs in its pools).
    let sched = unsafe { &*gg.sched.load(Ordering::Relaxed) };
    gg.cas_status(GStatus::Waiting, GStatus::Runnable);
    if let Some(m) = current_m()
        && std::ptr::eq(m.sched, sched)
        && let Some(p) = m.p()
        && p.status() == super::pstatus::PStatus::Running
    {
        sched.runqput(p, g, true);
        sched.wakep();
        return;
    }
    // Off the runtime's Ms (a plain thread): count one more M running until wakep has given
    // the goroutine an M, so that an M going idle meanwhile does not find a runnable goroutine
    // and every M idle, and report a deadlock that is not one (as sysmon does in retake).
    let foreign = current_m().is_none_or(|m| !std::ptr::eq(m.sched, sched));
    if foreign {
        sched
            .inner
            .with(|_| sched.idle.nmidlelocked.fetch_sub(1, Ordering::SeqCst));
    }
    sched.globrunqput(g);
    sched.wakep();
    if foreign {
        sched.inner.with(|s| {
            sched.idle.nmidlelocked.fetch_add(1, Ordering::SeqCst);
            sched.checkdead(s);
        });
    }
}

/// Yields the processor: the goroutine goes to the global run queue (Go's Gosched).
pub(crate) fn gosched() {
    let Some(m) = current_m() else { return };
    let Some(g) = m.curg() else { return };
    if m.locks.load(Ordering::Relaxed) != 0 {
        return;
    }
    // SAFETY: we are on g's own stack.
    unsafe { g.mcall(Switch::Gosched) };
}

/// A binary semaphore whose waiters park (Go's semacquire/semrelease on worldsema). Release
/// hands ownership straight to the first waiter, so no one can barge ahead of a queued waiter.
pub(crate) struct BinarySema {
    state: Locked<SemaState>,
}

struct SemaState {
    held: bool,
    waiters: VecDeque<GRef>,
}

impl BinarySema {
    pub(crate) const fn new() -> BinarySema {
        BinarySema {
            state: Locked::new(SemaState {
                held: false,
                waiters: VecDeque::new(),
            }),
        }
    }

    pub(crate) fn acquire(&self) {
        let lock = self.state.raw_lock();
        lock.lock();
        // SAFETY: `lock` is held.
        let s = unsafe { self.state.get_unchecked() };
        if !s.held {
            s.held = true;
            // SAFETY: we hold it.
            unsafe { lock.unlock() };
            return;
        }
        let g = current_g().expect("goro: stop-the-world requested outside a goroutine");
        s.waiters.push_back(g);
        // The releaser hands `held` over to us before readying us.
        park(
            Some((unlock_lock, lock as *const Lock as *const ())),
            WaitReason::Semacquire,
        );
    }

    pub(crate) fn release(&self) {
        let next = self.state.with(|s| {
            let next = s.waiters.pop_front();
            if next.is_none() {
                s.held = false;
            }
            next
        });
        if let Some(g) = next {
            ready(g);
        }
    }
}
