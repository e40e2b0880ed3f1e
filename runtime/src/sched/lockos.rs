//! LockOSThread: wiring a goroutine to its thread (Go's LockOSThread/UnlockOSThread,
//! stoplockedm, startlockedm, and the locked goroutine's exit).
//!
//! Two counts on the M: external (user calls, nesting) and internal (runtime use). The G and M
//! are wired (`m.lockedg`, `g.lockedm`) while either is non-zero. A locked G never migrates:
//! when it parks, yields or is preempted, its M gives its P away (handoffp) and sleeps until
//! the G is runnable again; the M that then picks the G hands *its own* P to the locked M and
//! wakes it (startlockedm). The P moves to the G's thread, never the G to another thread.
//!
//! A goroutine that exits while locked takes its thread with it: the thread may carry OS state
//! the goroutine changed (unshare, namespaces, cwd), so it is never reused. Before exiting it
//! hands its P off with the lock count still set, so the replacement M is created by the
//! template thread, not cloned from this thread (golang/go#28979). M0 (the `block_on` caller)
//! is never ended: it parks until shutdown.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::Sched;
use super::g::G;
use super::m::{M, current_m, current_m_ptr};

/// The current M and its running G, if the caller is a goroutine: no safepoint, for the fast
/// paths below, which take the slow path (a safepoint) when a preemption is pending.
#[inline(always)]
fn running() -> Option<(&'static M, &'static G)> {
    // SAFETY: the thread's M is alive while the thread runs it; 'static stands for "while
    // this goroutine runs on it", and the callers do not hold it across a switch.
    let m: &'static M = unsafe { current_m_ptr().as_ref()? };
    // SAFETY: the M's current G is alive while it runs; 'static as for the M.
    let g: &'static G = unsafe { m.curg.load(Ordering::Relaxed).as_ref()? };
    Some((m, g))
}

/// Reads a field of the current M that only the M's own thread writes (the lock counts,
/// `template_seen`) as a plain load, which the compiler may fold into a compare (it never
/// folds atomic loads). Sound: this thread wrote every value the field ever held, or saw it
/// written before the M was handed to it, so there is no concurrent write to race with; other
/// threads only read it (snapshots), and reads do not race with reads.
#[inline(always)]
fn own_u32(a: &AtomicU32) -> u32 {
    // SAFETY: see above: no other thread writes `a`.
    unsafe { *a.as_ptr() }
}

#[inline(always)]
fn own(a: &AtomicBool) -> bool {
    // SAFETY: as in `own_u32`.
    unsafe { *a.as_ptr() }
}

/// Wires the calling goroutine to its current thread (external count +1).
///
/// The common case — on a goroutine, no preemption pending, the template thread seen by this
/// M, no overflow — is inlined into the caller (through `goro::lock_os_thread`, as Go's
/// compiler inlines `UnlockOSThread`): one TLS load, a few loads and tests that all fall
/// through, the stores, the probe. A pending preemption or a first lock on this M takes
/// `lock_os_thread_slow`, which does the whole job from a safepoint, so every lock is still a
/// safepoint.
#[inline]
pub(crate) fn lock_os_thread() {
    let Some((m, g)) = running() else {
        not_on_goroutine();
    };
    if super::preempt::pending_folded(g) || !own(&m.template_seen) {
        // Marked cold so the call is laid out after the caller's code, off its straight line.
        std::hint::cold_path();
        return lock_os_thread_slow();
    }
    let ext = own_u32(&m.locked_ext);
    if ext == u32::MAX {
        nesting_overflow();
    }
    m.locked_ext.store(ext + 1, Ordering::Relaxed);
    dolock(m, g, ext + 1, own_u32(&m.locked_int));
}

/// `lock_os_thread` from a safepoint: honours a pending preemption, starts the template thread
/// if nobody has (the first lock of the process does), notes on the M that it exists, and
/// locks. Out of line, so the runtime always carries the probe site even when every caller
/// inlined the fast path.
#[cold]
#[inline(never)]
fn lock_os_thread_slow() {
    let Some((mut m, mut g)) = super::preempt::safepoint_mg() else {
        not_on_goroutine();
    };
    if !m.template_seen.load(Ordering::Relaxed) {
        let sched = m.sched();
        if sched.template.have_thread.load(Ordering::SeqCst) == 0 {
            // A locked thread must not clone threads, so make sure the template thread exists
            // while this thread is still clean.
            sched.start_template_thread();
            // That contains safepoints: we may be on another thread now.
            (m, g) = running().expect("still on a goroutine");
        }
        // The flag never goes back to 0: later locks on this M need not look at it again.
        m.template_seen.store(true, Ordering::Relaxed);
    }
    let ext = m.locked_ext.load(Ordering::Relaxed);
    if ext == u32::MAX {
        nesting_overflow();
    }
    m.locked_ext.store(ext + 1, Ordering::Relaxed);
    dolock(m, g, ext + 1, m.locked_int.load(Ordering::Relaxed));
}

#[cold]
#[inline(never)]
fn not_on_goroutine() -> ! {
    panic!("goro::lock_os_thread called outside a goroutine");
}

#[cold]
#[inline(never)]
fn nesting_overflow() -> ! {
    panic!("goro::lock_os_thread nesting overflow");
}

/// Undoes one `lock_os_thread`; a no-op if the external count is already 0. Inlined fast path
/// and out-of-line safepoint path, as `lock_os_thread`.
#[inline]
pub(crate) fn unlock_os_thread() {
    let Some((m, g)) = running() else {
        std::hint::cold_path();
        return unlock_os_thread_slow();
    };
    let ext = own_u32(&m.locked_ext);
    if super::preempt::pending_folded(g) || ext == 0 {
        std::hint::cold_path();
        return unlock_os_thread_slow();
    }
    m.locked_ext.store(ext - 1, Ordering::Relaxed);
    dounlock(m, g, ext - 1, own_u32(&m.locked_int));
}

/// `unlock_os_thread` from a safepoint; also the no-op cases (not on a goroutine, not locked).
#[cold]
#[inline(never)]
fn unlock_os_thread_slow() {
    let Some((m, g)) = super::preempt::safepoint_mg() else {
        return;
    };
    let ext = m.locked_ext.load(Ordering::Relaxed);
    if ext == 0 {
        return;
    }
    m.locked_ext.store(ext - 1, Ordering::Relaxed);
    dounlock(m, g, ext - 1, m.locked_int.load(Ordering::Relaxed));
}

/// The runtime's own lock (internal count), for runtime code that needs the thread (Go uses it
/// during init and around cgo callbacks; goro has no caller yet, so only tests use it).
#[allow(dead_code)]
pub(crate) fn lock_os_thread_internal() {
    let m = current_m().expect("on a goroutine");
    let g = m.curg().expect("on a goroutine");
    let int = m.locked_int.fetch_add(1, Ordering::Relaxed) + 1;
    dolock(m, g, m.locked_ext.load(Ordering::Relaxed), int);
}

#[allow(dead_code)]
pub(crate) fn unlock_os_thread_internal() {
    let m = current_m().expect("on a goroutine");
    let g = m.curg().expect("on a goroutine");
    if m.locked_int.load(Ordering::Relaxed) == 0 {
        super::fatal("unlock_os_thread_internal: internal lock count is 0");
    }
    let int = m.locked_int.fetch_sub(1, Ordering::Relaxed) - 1;
    dounlock(m, g, m.locked_ext.load(Ordering::Relaxed), int);
}

/// (external, internal) lock counts of the calling goroutine's thread; (0, 0) outside one.
pub(crate) fn lock_counts() -> (u32, u32) {
    current_m()
        .filter(|m| m.curg().is_some())
        .map_or((0, 0), |m| {
            (
                m.locked_ext.load(Ordering::Relaxed),
                m.locked_int.load(Ordering::Relaxed),
            )
        })
}

/// Wires `g`, the current G, to `m`; `ext`/`int` are the counts after the call (for the probe,
/// passed in rather than re-read: this is a hot path).
#[inline(always)]
fn dolock(m: &M, g: &G, ext: u32, int: u32) {
    super::probe::lock_os_thread(g.id.load(Ordering::Relaxed), m.id, ext, int);
    super::state::m_locked(m, g.id.load(Ordering::Relaxed));
    m.lockedg.store(g as *const G as *mut G, Ordering::Relaxed);
    g.lockedm.store(m as *const M as *mut M, Ordering::Relaxed);
}

#[inline(always)]
fn dounlock(m: &M, g: &G, ext: u32, int: u32) {
    super::probe::unlock_os_thread(g.id.load(Ordering::Relaxed), m.id, ext, int);
    if ext != 0 || int != 0 {
        // Still locked (nested): the less common case, kept off the straight line.
        std::hint::cold_path();
        return;
    }
    super::state::m_locked(m, 0);
    m.lockedg.store(std::ptr::null_mut(), Ordering::Relaxed);
    g.lockedm.store(std::ptr::null_mut(), Ordering::Relaxed);
}

impl Sched {
    /// The locked M's goroutine is not runnable: give the P away and sleep until someone
    /// hands a P back along with the goroutine (Go's stoplockedm). False at shutdown.
    ///
    /// `m.park` was cleared when the goroutine switched out (in `execute`), before the
    /// goroutine became visible to the M that will wake us.
    pub(crate) fn stoplockedm(&self, m: &M) -> bool {
        if m.p().is_some() {
            let p = self.releasep(m);
            self.handoffp(p);
        }
        self.inner.with(|s| {
            self.idle.nmidlelocked.fetch_add(1, Ordering::SeqCst);
            self.checkdead(s);
        });
        let tid = m.tid.load(Ordering::Relaxed) as u32;
        super::probe::m_park(m.id, tid);
        super::state::m_parked(m, true);
        m.park.sleep();
        if self.is_shutdown() {
            super::probe::m_wake(m.id, tid, goro_probes::P_NONE);
            super::state::m_parked(m, false);
            return false;
        }
        // Only startlockedm hands us a P; any other wake-up (a stale one, shutdown) is spurious.
        let Some(p) = m.park.take_handoff(&m.nextp, || self.is_shutdown()) else {
            super::probe::m_wake(m.id, tid, goro_probes::P_NONE);
            super::state::m_parked(m, false);
            return false;
        };
        m.park.clear();
        // No nmidlelocked decrement here: startlockedm, the only waker that hands a P to a
        // locked M, already took us off the count (Go's stoplockedm does not decrement either).
        // SAFETY: a P handed over in nextp is alive and owned by the hand-off.
        let p = unsafe { &*p };
        super::probe::m_wake(m.id, tid, p.id);
        super::state::m_parked(m, false);
        self.acquirep(m, p);
        true
    }

    /// `g` is runnable but wired to another M: give that M our P and wake it, then stop
    /// (Go's startlockedm).
    pub(crate) fn startlockedm(&self, m: &M, g: &G) {
        // SAFETY: Ms live as long as the runtime.
        let lm = unsafe { &*g.lockedm.load(Ordering::Relaxed) };
        // The waker, not the woken, takes the locked M off the idle count, under the lock,
        // before handing the P over: otherwise an M going idle in between would see no M
        // running and report a deadlock that is not one (Go's incidlelocked(-1) here).
        self.inner
            .with(|_| self.idle.nmidlelocked.fetch_sub(1, Ordering::SeqCst));
        let p = self.releasep(m);
        super::probe::startlockedm(p.id, m.id, lm.id, g.id.load(Ordering::Relaxed));
        super::state::handed(p, lm);
        lm.park.hand_over(&lm.nextp, p as *const _ as *mut _);
        self.stopm(m, None);
    }

    /// A goroutine exited while wired to `m`: end the thread (see the module comment).
    /// Returns whether the caller's thread should exit now.
    pub(crate) fn mexit(&self, m: &M) -> bool {
        // The lock counts stay set: a replacement M for our P comes from the template thread.
        if m.p().is_some() {
            let p = self.releasep(m);
            self.handoffp(p);
        }
        if m.is_m0.load(Ordering::Relaxed) {
            self.inner.with(|s| {
                self.idle.nmidlelocked.fetch_add(1, Ordering::SeqCst);
                self.checkdead(s);
            });
            while !self.is_shutdown() {
                m.park.sleep();
                m.park.clear();
            }
            return false;
        }
        m.exited.store(true, Ordering::Release);
        super::probe::m_exit(m.id, m.tid.load(Ordering::Relaxed) as u32);
        super::state::m_exited(m);
        self.inner.with(|s| {
            self.ms.live.fetch_sub(1, Ordering::SeqCst);
            self.checkdead(s);
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With only the runtime's internal lock held, creating an M clones it from this thread as
    /// Go does (`newm` looks at the external lock alone). Before the fix the internal lock
    /// counted, the M was queued for a template thread nobody had started, and the process
    /// aborted ("newm: a locked thread needs the template thread, which was never started").
    #[test]
    fn internal_lock_child() {
        if !crate::sched::testutil::is_child() {
            return;
        }
        let r = crate::Runtime::builder()
            .procs(4)
            .build()
            .unwrap()
            .block_on(|| {
                lock_os_thread_internal();
                // Each go() readies a goroutine with idle Ps and no idle M: wakep creates an M
                // from this (internally locked) thread.
                let hs: Vec<_> = (0..8u64).map(|i| crate::go(move || i * 2)).collect();
                let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
                unlock_os_thread_internal();
                sum
            });
        println!("CHILD OK {r}");
    }

    #[test]
    fn an_internally_locked_thread_creates_ms_directly() {
        let (code, stdout, stderr) =
            crate::sched::testutil::run_child("sched::lockos::tests::internal_lock_child");
        assert!(
            code == Some(0) && stdout.contains("CHILD OK 56"),
            "exit {code:?}\n{stdout}\n{stderr}"
        );
    }

    fn wired() -> bool {
        let m = current_m().expect("on a goroutine");
        !m.lockedg.load(Ordering::Relaxed).is_null()
    }

    /// The G stays wired while either count is non-zero, and only then.
    #[test]
    fn internal_and_external_counts_wire_independently() {
        let seen = crate::Runtime::builder()
            .procs(2)
            .build()
            .unwrap()
            .block_on(|| {
                crate::go(|| {
                    let mut seen = Vec::new();
                    lock_os_thread_internal();
                    seen.push((lock_counts(), wired()));
                    lock_os_thread();
                    seen.push((lock_counts(), wired()));
                    unlock_os_thread();
                    seen.push((lock_counts(), wired()));
                    unlock_os_thread_internal();
                    seen.push((lock_counts(), wired()));
                    seen
                })
                .join()
                .unwrap()
            });
        assert_eq!(
            seen,
            [
                ((0, 1), true),
                ((1, 1), true),
                ((0, 1), true),
                ((0, 0), false)
            ]
        );
    }
}
