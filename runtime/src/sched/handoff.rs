//! The passing of Ps between Ms: mstart, startm, stopm, acquirep/releasep and handoffp (Go's
//! proc.go functions of the same names). Creating an M (newm) lives in `template.rs`, beside
//! the template thread that creates Ms for locked threads.
//!
//! Handing a P to an M is two steps: store it in the M's `nextp`, then wake the M's note. The
//! P is `_Pidle` and on no list in between — owned by the hand-off. If the M never runs (it is
//! a new thread that never starts), the P stays in that limbo: that is how a stop-the-world
//! can wait forever for a P (golang/go#38931), so every hand-off fires probes naming both.

use std::ptr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use goro_probes::Handoff;

use super::m::{self, M};
use super::p::P;
use super::pstatus::{self, PStatus, Reason};
use super::{Sched, probe};

impl Sched {
    /// Wires `p` to `m` (Go's acquirep): `_Pidle`→`_Prunning`. The P must be unowned.
    pub(crate) fn acquirep(&self, m: &M, p: &P) {
        if !p.m.load(Ordering::Relaxed).is_null() {
            super::fatal(&format!("acquirep: P {} already has an M", p.id));
        }
        pstatus::set_status(p, PStatus::Idle, PStatus::Running, m.id, Reason::Acquire);
        p.m.store(m as *const M as *mut M, Ordering::Relaxed);
        m.p.store(p as *const P as *mut P, Ordering::Relaxed);
    }

    /// Unwires the M's P (Go's releasep): `_Prunning`→`_Pidle`. The caller decides where the
    /// P goes next (idle list, handoffp, another M).
    pub(crate) fn releasep(&self, m: &M) -> &P {
        let p = m
            .p()
            .unwrap_or_else(|| super::fatal("releasep: M has no P"));
        pstatus::set_status(p, PStatus::Running, PStatus::Idle, m.id, Reason::Release);
        p.m.store(ptr::null_mut(), Ordering::Relaxed);
        m.p.store(ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: Ps live as long as the runtime; detach the borrow from `m`.
        unsafe { &*(p as *const P) }
    }

    /// Runs `p` on some M: an idle one if any, else a new thread (Go's startm). Without a P,
    /// takes an idle P, or does nothing if there is none. `spinning`: the M starts out looking
    /// for work, and the caller has already counted it in `nmspinning`.
    pub(crate) fn startm(&self, p: Option<&P>, spinning: bool) {
        // No preemption while we hold a P that is on no list (golang/go#42237).
        let mp = super::preempt::acquirem();
        self.startm_nopreempt(p, spinning);
        if let Some(mp) = mp {
            super::preempt::releasem(mp);
        }
    }

    /// startm's body, run with preemption disabled; takes the scheduler lock itself.
    fn startm_nopreempt(&self, p: Option<&P>, spinning: bool) {
        let s = self.inner.raw_lock().guard();
        // SAFETY: the guard holds the scheduler lock for as long as `inner` is used.
        let inner = unsafe { self.inner.get_unchecked() };
        let p = match p {
            Some(p) => p,
            None => match self.pidleget(inner) {
                Some(p) => p,
                None => {
                    drop(s);
                    if spinning {
                        // The caller counted a spinning M that will not exist.
                        self.idle.nmspinning.fetch_sub(1, Ordering::SeqCst);
                    }
                    return;
                }
            },
        };
        let nm = self.mget(inner);
        if nm.is_none() {
            // The M we are about to create counts as running from now, under the lock (Go's
            // mReserveID): else checkdead, run by an M going idle before newm counts it, would
            // see every M idle beside a P with work on its way to that M.
            self.ms.live.fetch_add(1, Ordering::SeqCst);
        }
        drop(s);
        probe::startm(p.id, nm.map_or(0, |m| m.id), u8::from(spinning));
        match nm {
            Some(nm) => {
                nm.spinning.store(spinning, Ordering::Relaxed);
                nm.park.hand_over(&nm.nextp, p as *const P as *mut P);
            }
            None => {
                self.newm(Some(p), spinning);
            }
        }
    }

    /// An M's thread body: register, take the P it was created for, run the scheduler.
    pub(crate) fn mstart(&self, m: &M) {
        m::set_current_m(m);
        m.started.store(true, Ordering::Release);
        m.tid.store(m::gettid(), Ordering::Relaxed);
        m::set_timer_slack(1);
        probe::m_start(m.id, m.tid.load(Ordering::Relaxed) as u32);
        super::signal::ensure_altstack();
        let p = m.nextp.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: a P handed over in nextp is alive and owned by this hand-off.
        if let Some(p) = unsafe { p.as_ref() } {
            self.acquirep(m, p);
        }
        self.schedule(m);
        m::set_current_m(ptr::null());
    }

    /// Parks `m` on the idle M list until startm hands it a P (returns true, P acquired), or
    /// until `timeout` passes / it is poked / shutdown (returns false, no P). Go's stopm.
    pub(crate) fn stopm(&self, m: &M, timeout: Option<Duration>) -> bool {
        debug_assert!(m.p.load(Ordering::Relaxed).is_null());
        // Drop stale pokes: nobody can hand us a P before we are on the idle list.
        m.park.clear();
        // Shutdown wakes the Ms on the idle list once; an M that parks after that would sleep
        // forever (a block_on that never returns). begin_shutdown sets the flag before it
        // takes the lock, so checking it under the lock catches every late M.
        let parked = self.inner.with(|s| {
            if self.is_shutdown() {
                return false;
            }
            self.mput(s, m);
            self.checkdead(s);
            true
        });
        if !parked {
            return false;
        }
        m.blocked.store(true, Ordering::Relaxed);
        probe::m_park(m.id, m.tid.load(Ordering::Relaxed) as u32);
        match timeout {
            None => m.park.sleep(),
            Some(t) => {
                m.park.sleep_timeout(t);
            }
        }
        m.blocked.store(false, Ordering::Relaxed);
        // Woken by a hand-off, a timeout, a poke or shutdown. Without a P, give up only if we
        // are still on the idle list (or shutting down): else a startm took us off it and is
        // about to store nextp and wake us, so wait for that (see `Note::take_handoff`).
        let p = m.park.take_handoff(&m.nextp, || {
            self.inner.with(|s| self.mremove(s, m)) || self.is_shutdown()
        });
        // SAFETY: a P handed over in nextp is alive and owned by this hand-off.
        match p.and_then(|p| unsafe { p.as_ref() }) {
            Some(p) => {
                m.park.clear();
                probe::m_wake(m.id, m.tid.load(Ordering::Relaxed) as u32, p.id);
                self.acquirep(m, p);
                true
            }
            None => {
                probe::m_wake(
                    m.id,
                    m.tid.load(Ordering::Relaxed) as u32,
                    goro_probes::P_NONE,
                );
                false
            }
        }
    }

    /// Gives away `p`, whose M is about to block or stop (Go's handoffp). `p` is `_Pidle` and
    /// unowned. The order of the cases is Go's, and it matters: the first three start an M for
    /// the P *before* looking at gcwaiting, so under a pending stop-the-world a P can be handed
    /// to an M instead of being stopped — fine if that M runs, the #38931 hang if it never does.
    pub(crate) fn handoffp(&self, p: &P) {
        // 1. Local or global work: start an M to run it.
        if !p.runq.is_empty() || self.runqsize.load(Ordering::SeqCst) != 0 {
            probe::handoff_p(p.id, m::current_mid(), Handoff::StartMForWork);
            self.startm(Some(p), false);
            return;
        }
        // 2. Other pending work (GC mark work in Go): goro has none.
        // 3. Nobody spinning and no idle P: this P's M should look for work.
        if self.idle.nmspinning.load(Ordering::SeqCst) + self.idle.npidle.load(Ordering::SeqCst)
            == 0
            && self
                .idle
                .nmspinning
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            probe::handoff_p(p.id, m::current_mid(), Handoff::StartMSpinning);
            self.startm(Some(p), true);
            return;
        }
        let g = self.inner.raw_lock().guard();
        // SAFETY: the guard holds the scheduler lock while `s` is used.
        let s = unsafe { self.inner.get_unchecked() };
        // 4. A stop-the-world is waiting: this P counts as stopped.
        if self.stw.gcwaiting.load(Ordering::SeqCst) {
            probe::handoff_p(p.id, m::current_mid(), Handoff::GcStop);
            pstatus::set_status(
                p,
                PStatus::Idle,
                PStatus::GcStop,
                m::current_mid(),
                Reason::HandoffGcstop,
            );
            let left = self.stw.stopwait.fetch_sub(1, Ordering::SeqCst) - 1;
            drop(g);
            if left == 0 {
                self.stw.stopnote.wakeup();
            }
            return;
        }
        // 5. Work arrived on the global queue meanwhile.
        if self.runqsize.load(Ordering::SeqCst) != 0 {
            drop(g);
            probe::handoff_p(p.id, m::current_mid(), Handoff::StartMForWork);
            self.startm(Some(p), false);
            return;
        }
        probe::handoff_p(p.id, m::current_mid(), Handoff::IdleList);
        self.pidleput(s, p);
        drop(g);
    }
}
