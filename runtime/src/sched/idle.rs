//! Idle P and M lists, spinning Ms and `wakep` (Go's pidleput/pidleget, mput/mget, wakep).
//!
//! All list operations require the scheduler lock (`Sched::inner`); the counters beside the
//! lists (`npidle`, `nmidle`) are atomics so hot paths can peek without it.
//!
//! Spinning: an M without work looking for some. At most half the busy Ps may have a spinning M
//! (`2*nmspinning < gomaxprocs - npidle`), and `wakep` starts one only if none is spinning: a
//! spinning M that finds work starts the next one (see `schedule::reset_spinning`). That keeps
//! wake-ups cheap without leaving work stranded.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use super::m::M;
use super::p::P;
use super::pstatus::PStatus;
use super::{Sched, SchedInner};

/// Counts beside the idle lists, atomics so hot paths can peek without the scheduler lock.
/// Each is written only under `Sched::inner` together with the list it counts (except
/// `nmspinning`, which an M changes on its own when it starts or stops spinning).
#[derive(Default)]
pub(crate) struct IdleCounts {
    /// Ps on the idle list (`inner.pidle`).
    pub(crate) npidle: AtomicU32,
    /// Ms on the idle list (`inner.midle`).
    pub(crate) nmidle: AtomicU32,
    /// Ms spinning: holding a P (or about to), looking for work.
    pub(crate) nmspinning: AtomicU32,
    /// Locked Ms parked waiting for their goroutine, and M0 parked for good. checkdead counts
    /// them as idle. `stoplockedm` adds one, `startlockedm` (the waker) takes it off: exactly
    /// once each, as Go does. Minus one while a thread that is no M holds a P or readies a
    /// goroutine (sysmon's retake, a plain thread's ready), so that checkdead counts it as a
    /// running M meanwhile (Go's incidlelocked(-1) in retake).
    pub(crate) nmidlelocked: AtomicI64,
}

impl Sched {
    /// Puts an idle P on the idle list. It must be `_Pidle` with an empty run queue.
    pub(crate) fn pidleput(&self, s: &mut SchedInner, p: &P) {
        if p.status() != PStatus::Idle {
            super::fatal(&format!("pidleput: P {} is {}", p.id, p.status().name()));
        }
        if !p.runq.is_empty() {
            super::fatal(&format!("pidleput: P {} has a non-empty run queue", p.id));
        }
        p.on_idle_list.store(true, Ordering::Relaxed);
        s.pidle.push(p as *const P);
        self.idle.npidle.fetch_add(1, Ordering::SeqCst);
        super::probe::pidle_put(p.id, super::m::current_mid(), s.pidle.len() as u32);
    }

    pub(crate) fn pidleget(&self, s: &mut SchedInner) -> Option<&P> {
        let p = s.pidle.pop()?;
        // SAFETY: Ps live as long as the runtime.
        let p = unsafe { &*p };
        p.on_idle_list.store(false, Ordering::Relaxed);
        self.idle.npidle.fetch_sub(1, Ordering::SeqCst);
        super::probe::pidle_get(p.id, super::m::current_mid(), s.pidle.len() as u32);
        Some(p)
    }

    pub(crate) fn mput(&self, s: &mut SchedInner, m: &M) {
        s.midle.push(m as *const M);
        self.idle.nmidle.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn mget(&self, s: &mut SchedInner) -> Option<&M> {
        let m = s.midle.pop()?;
        self.idle.nmidle.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: Ms live as long as the runtime.
        Some(unsafe { &*m })
    }

    /// Removes `m` from the idle list if it is still there.
    pub(crate) fn mremove(&self, s: &mut SchedInner, m: &M) -> bool {
        match s.midle.iter().position(|&x| std::ptr::eq(x, m)) {
            Some(i) => {
                s.midle.swap_remove(i);
                self.idle.nmidle.fetch_sub(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Tries to get one more M running to pick up new work: an idle P exists and nobody is
    /// spinning. Called after making a goroutine runnable.
    #[inline]
    pub(crate) fn wakep(&self) {
        if self.idle.npidle.load(Ordering::SeqCst) == 0
            || self.idle.nmspinning.load(Ordering::SeqCst) != 0
        {
            return;
        }
        if self
            .idle
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.startm(None, true);
    }
}
