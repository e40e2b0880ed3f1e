//! Cooperative preemption: safepoints, preemption requests and acquirem/releasem.
//!
//! A request (from sysmon for a G running ≥10ms, or from a stop-the-world for every running G)
//! sets `G::preempt`. The G honours it at its next safepoint — `checkpoint()` and every runtime
//! call — by yielding to the global run queue, unless its M holds `locks` (acquirem), which
//! defers the request until the next safepoint after `releasem`. Rust code has no compiler-
//! inserted safepoints, so a loop that never reaches one cannot be preempted and delays a
//! stop-the-world: the tools report that as `nonpreemptible_g`.

use std::sync::atomic::{AtomicU64, Ordering};

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
    if g.preempt.pending() {
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
    let id = g.id.load(Ordering::Relaxed);
    // The probe, then the flag: a request that comes in between is absorbed by this yield,
    // which honours it anyway, and fires no probe of its own.
    if !g.preempt.is_for(id) {
        // A request aimed at an earlier life of this G's memory (the requester read the G
        // just before it exited and was reused): nobody asked *this* goroutine to yield.
        g.preempt.clear_stale(id);
        return;
    }
    super::probe::preempted(id, m.p().map_or(goro_probes::P_NONE, |p| p.id), m.id);
    g.preempt.clear();
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
        // honoured yet (see `PreemptFlag`).
        // SAFETY: as above. The id is read with Acquire: it is published after the flag was
        // reset for this life of the G (`G::start`), so our request cannot be wiped by it.
        let gid = unsafe { (*g).id.load(Ordering::Acquire) };
        // SAFETY: as above.
        if !unsafe { (*g).preempt.request(gid) } {
            return true;
        }
        // SAFETY: as above.
        let mid = unsafe { (*m).id };
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

/// A G's preemption request: the id of the goroutine it is for, 0 when none is pending.
///
/// Why an id and not a flag: a requester reads a P's current G without stopping it, so the G
/// may exit, and its memory be reused by a new goroutine, before the request lands. A bare flag
/// would then either make the new goroutine yield for a request that named another G, or — if
/// `G::start` cleared it — swallow a request the tools already saw fired. With the id, each
/// request answers for exactly one goroutine:
/// - `request(id)` sets it only if nothing is pending (CAS 0→id), so a request is reported
///   once however often a stop-the-world re-asks;
/// - only the goroutine clears a request meant for it, when it yields (`clear`), so each
///   `preempted` answers one `preempt_request`; a G that switched out with a request pending
///   yields once when it runs again (unlike Go, which drops it);
/// - a request for another id is stale: the goroutine drops it without yielding
///   (`clear_stale`, a CAS so that a fresh request arriving meanwhile survives);
/// - `reset` (in `G::start`) runs before the new id is published (Release), and requesters
///   read the id with Acquire before their CAS, so no request for the new id is ever reset.
pub(crate) struct PreemptFlag(AtomicU64);

impl PreemptFlag {
    pub(crate) const fn new() -> PreemptFlag {
        PreemptFlag(AtomicU64::new(0))
    }

    /// Asks goroutine `id` to yield. True if this is a new request, false if one is pending.
    pub(crate) fn request(&self, id: u64) -> bool {
        self.0
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether any request is pending: the hot check at every safepoint.
    #[inline(always)]
    pub(crate) fn pending(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// Whether the pending request is for goroutine `id`.
    pub(crate) fn is_for(&self, id: u64) -> bool {
        self.0.load(Ordering::Acquire) == id
    }

    /// The goroutine honoured its request.
    pub(crate) fn clear(&self) {
        self.0.store(0, Ordering::Release);
    }

    /// Drops a pending request that is not for `id`, leaving one for `id` in place.
    pub(crate) fn clear_stale(&self, id: u64) {
        let cur = self.0.load(Ordering::Acquire);
        if cur != 0 && cur != id {
            let _ = self
                .0
                .compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// A new life of the G's memory begins; called before its new id is published.
    pub(crate) fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// `g.preempt.pending()` for the inlined LockOSThread fast paths, read and tested in one
/// instruction (`cmpq $0, off(%g); jne`), where an atomic load takes two (the compiler never
/// folds one into a compare). An aligned 8-byte load is atomic on x86_64, and the asm is a
/// fresh, volatile read at every call, so this is the `Relaxed` load of `pending` it replaces.
#[inline(always)]
pub(crate) fn pending_folded(g: &G) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `g` is a live G, so `g + off` is its request word, an aligned AtomicU64; the
        // asm only reads it and jumps.
        unsafe {
            std::arch::asm!(
                "cmp qword ptr [{g} + {off}], 0",
                "jne {yes}",
                g = in(reg) g,
                off = const std::mem::offset_of!(G, preempt) + std::mem::offset_of!(PreemptFlag, 0),
                yes = label { return true; },
                options(nostack, readonly),
            );
        }
        false
    }
    #[cfg(not(target_arch = "x86_64"))]
    g.preempt.pending()
}

#[cfg(test)]
mod tests {
    use super::PreemptFlag;

    /// The folded check reads the whole request word: an id whose low byte is 0 is a request.
    #[test]
    fn the_folded_check_sees_every_request() {
        let pool = crate::sched::stack::StackPool::new(16 * 1024);
        let g = crate::sched::g::G::new(pool.alloc());
        assert!(!super::pending_folded(&g));
        for id in [1, 255, 256, 1 << 32, u64::MAX] {
            assert!(g.preempt.request(id));
            assert!(super::pending_folded(&g), "request for G {id}");
            g.preempt.clear();
            assert!(!super::pending_folded(&g));
        }
    }

    #[test]
    fn a_pending_request_is_reported_once() {
        let f = PreemptFlag::new();
        assert!(f.request(7));
        assert!(!f.request(7), "re-asked while pending: not a new request");
        assert!(f.pending() && f.is_for(7));
        f.clear();
        assert!(!f.pending());
        assert!(f.request(7), "after it was honoured, a new request is new");
    }

    #[test]
    fn a_request_for_an_earlier_life_is_dropped_without_yielding() {
        let f = PreemptFlag::new();
        // The requester read G 7, which exited; its memory now runs G 9.
        assert!(f.request(7));
        assert!(f.pending());
        assert!(
            !f.is_for(9),
            "G 9 must not yield for a request that named G 7"
        );
        f.clear_stale(9);
        assert!(!f.pending());
        // A request for G 9 that landed first survives G 9's stale check.
        assert!(f.request(9));
        f.clear_stale(9);
        assert!(f.is_for(9));
    }

    #[test]
    fn a_reused_g_starts_with_no_request() {
        let f = PreemptFlag::new();
        assert!(f.request(3));
        f.reset();
        assert!(!f.pending());
        assert!(f.request(4));
    }
}
