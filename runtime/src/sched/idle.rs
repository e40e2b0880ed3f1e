//! Idle P and M lists, spinning Ms and `wakep` (Go's pidleput/pidleget, mput/mget, wakep).
//!
//! All list operations require the scheduler lock (`Sched::inner`); the counters beside the
//! lists (`npidle`, `nmidle`) are atomics so hot paths can peek without it.
//!
//! Spinning: an M without work looking for some. At most half the busy Ps may have a spinning M
//! (`2*nmspinning < gomaxprocs - npidle`), and `wakep` starts one only if none is spinning: a
//! spinning M that finds work starts the next one (see `schedule::reset_spinning`). That keeps
//! wake-ups cheap without leaving work stranded.

use std::sync::atomic::Ordering;

use super::m::M;
use super::p::P;
use super::pstatus::PStatus;
use super::{Sched, SchedInner};

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
        self.npidle.fetch_add(1, Ordering::SeqCst);
        super::probe::pidle_put(p.id, super::handoff::cur_mid(), s.pidle.len() as u32);
    }

    pub(crate) fn pidleget(&self, s: &mut SchedInner) -> Option<&P> {
        let p = s.pidle.pop()?;
        // SAFETY: Ps live as long as the runtime.
        let p = unsafe { &*p };
        p.on_idle_list.store(false, Ordering::Relaxed);
        self.npidle.fetch_sub(1, Ordering::SeqCst);
        super::probe::pidle_get(p.id, super::handoff::cur_mid(), s.pidle.len() as u32);
        Some(p)
    }

    pub(crate) fn mput(&self, s: &mut SchedInner, m: &M) {
        s.midle.push(m as *const M);
        self.nmidle.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn mget(&self, s: &mut SchedInner) -> Option<&M> {
        let m = s.midle.pop()?;
        self.nmidle.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: Ms live as long as the runtime.
        Some(unsafe { &*m })
    }

    /// Removes `m` from the idle list if it is still there.
    pub(crate) fn mremove(&self, s: &mut SchedInner, m: &M) -> bool {
        match s.midle.iter().position(|&x| std::ptr::eq(x, m)) {
            Some(i) => {
                s.midle.swap_remove(i);
                self.nmidle.fetch_sub(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Tries to get one more M running to pick up new work: an idle P exists and nobody is
    /// spinning. Called after making a goroutine runnable.
    #[inline]
    pub(crate) fn wakep(&self) {
        if self.npidle.load(Ordering::SeqCst) == 0 || self.nmspinning.load(Ordering::SeqCst) != 0 {
            return;
        }
        if self
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.startm(None, true);
    }
}
