//! Cooperative preemption: safepoints, preemption requests and acquirem/releasem.
//!
//! A request (from sysmon for a G running ≥10ms, or from a stop-the-world for every running G)
//! sets `G::preempt`. The G honours it at its next safepoint — `checkpoint()` and every runtime
//! call — by yielding to the global run queue, unless its M holds `locks` (acquirem), which
//! defers the request until the next safepoint after `releasem`. Rust code has no compiler-
//! inserted safepoints, so a loop that never reaches one cannot be preempted and delays a
//! stop-the-world: the tools report that as `nonpreemptible_g`.

use std::sync::atomic::Ordering;

use super::Sched;
use super::g::{G, Switch};
use super::m::{M, current_m_ptr};
use super::p::P;
use super::pstatus::PStatus;

/// A safepoint: yields if a preemption was requested. Costs a thread-local read and two loads
/// when nothing is pending, so it can sit in hot loops.
#[inline]
pub(crate) fn checkpoint() {
    let _ = safepoint();
}

/// A safepoint that also returns the M the goroutine runs on afterwards (it may have moved),
/// or None off a goroutine: runtime entry points use it so they look the M up only once.
#[inline]
pub(crate) fn safepoint() -> Option<&'static M> {
    safepoint_mg().map(|(m, _)| m)
}

/// `safepoint`, also returning the current G, for entry points that need both (LockOSThread):
/// the G was read on the way, so handing it over saves the callers a second dependent load.
/// The preemption is out of line, so the common case falls through every branch.
#[inline(always)]
pub(crate) fn safepoint_mg() -> Option<(&'static M, &'static G)> {
    let m = current_m_ptr();
    if m.is_null() {
        return None;
    }
    // SAFETY: the thread's M is alive while the thread runs it; 'static stands for "while
    // this goroutine runs on it", and callers do not hold it across a switch.
    let m: &'static M = unsafe { &*m };
    let g = m.curg.load(Ordering::Relaxed);
    if g.is_null() {
        return None;
    }
    // SAFETY: the current G is alive while it runs; 'static as for the M.
    let g: &'static G = unsafe { &*g };
    if g.preempt.load(Ordering::Relaxed) {
        return preempt_and_reload(m);
    }
    Some((m, g))
}

/// A preemption is pending: honour it (unless deferred), then look up the M and G again, as
/// the goroutine may resume on another thread.
#[cold]
#[inline(never)]
fn preempt_and_reload(m: &M) -> Option<(&'static M, &'static G)> {
    preempt_now(m);
    let m = super::m::current_m()?;
    // SAFETY: we run on a goroutine, so its M's current G is that goroutine, alive while it
    // runs.
    let g: &'static G = unsafe { m.curg.load(Ordering::Relaxed).as_ref()? };
    Some((m, g))
}

#[cold]
fn preempt_now(m: &M) {
    if m.locks.load(Ordering::Relaxed) != 0 {
        return; // deferred: honoured at the first safepoint after releasem
    }
    let g = m.curg().expect("preempt_now: a G is running");
    // The probe, then the flag: a request that comes in between is absorbed by this yield,
    // which honours it anyway, and fires no probe of its own.
    super::probe::preempted(
        g.id.load(Ordering::Relaxed),
        m.p().map_or(goro_probes::P_NONE, |p| p.id),
        m.id,
    );
    g.preempt.store(false, Ordering::Relaxed);
    // SAFETY: we are on the current G's stack.
    unsafe { g.mcall(Switch::Preempted) };
}

/// Disables preemption of the current goroutine (Go's acquirem). Nests.
pub(crate) fn acquirem() -> Option<&'static M> {
    let m = super::m::current_m()?;
    m.locks.fetch_add(1, Ordering::Relaxed);
    Some(m)
}

/// Re-enables preemption; honours a request that arrived meanwhile (Go's releasem).
pub(crate) fn releasem(m: &M) {
    if m.locks.fetch_sub(1, Ordering::Relaxed) == 1 {
        checkpoint();
    }
}

impl Sched {
    /// Asks the G running on `p` to yield at its next safepoint. Racy by design (the G may
    /// have moved on; a spurious preemption is harmless). Returns whether a G was asked.
    pub(crate) fn preemptone(&self, p: &P) -> bool {
        let m = p.m.load(Ordering::Acquire);
        if m.is_null() {
            return false;
        }
        // SAFETY: Ms and Gs live as long as the runtime.
        let g = unsafe { (*m).curg.load(Ordering::Acquire) };
        if g.is_null() {
            return false;
        }
        // A request still pending is not a new one: a stop-the-world re-asks every wait round
        // (~100µs), and reporting each round would flood the tools during exactly the stall
        // they diagnose. So the probe and the count fire once per request the G has not
        // honoured yet. Only the G itself clears the flag, when it yields (`preempted`), so
        // each `preempted` answers one request — unlike Go, a G that switched out with a
        // request pending still yields once when it runs again.
        // SAFETY: as above.
        if unsafe { (*g).preempt.swap(true, Ordering::AcqRel) } {
            return true;
        }
        // SAFETY: as above.
        let (gid, mid) = unsafe { ((*g).id.load(Ordering::Relaxed), (*m).id) };
        super::probe::preempt_request(gid, p.id, mid);
        self.stats.preempt_requests.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Asks every running G to yield (stop-the-world).
    pub(crate) fn preemptall(&self) {
        for p in self.allp() {
            if p.status() == PStatus::Running {
                self.preemptone(p);
            }
        }
    }
}
