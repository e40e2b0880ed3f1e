//! The scheduler loop (Go's schedule/findRunnable/execute), the global run queue and work
//! stealing.
//!
//! Every M runs `schedule` on its own stack. Each round it finds a runnable G — its P's timers,
//! (every 61st tick) the global queue for fairness, its local queue, the global queue, then
//! stealing from other Ps as a spinning M — and resumes it. When a G switches back (`Switch`),
//! the M acts on the switch on its own stack, where the G's stack is quiet. With nothing to
//! do, the M gives its P back to the idle list and parks (`stopm`); the stop-the-world check
//! comes first in every round, so a running P stops at its next scheduling point.

use std::sync::atomic::Ordering;

use super::g::{G, GRef, GStatus, Switch};
use super::m::M;
use super::p::{P, RUNQ_SIZE};
use super::pstatus::{self, PStatus, Reason};
use super::{Sched, SchedInner, timers};

/// What the scheduler loop does after a goroutine switched out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Next {
    Schedule,
    /// A locked goroutine exited: its thread ends.
    ExitThread,
}

/// Rounds of stealing over all Ps before giving up (Go's stealTries).
const STEAL_TRIES: usize = 4;

impl Sched {
    /// The M's scheduler loop; returns only at shutdown. A panic here is a runtime bug (user
    /// code's panics are caught on the goroutine's stack): unwinding would silently end this
    /// M and wedge everyone waiting for it, so it is fatal, as a `throw` is in Go.
    pub(crate) fn schedule(&self, m: &M) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.schedule_loop(m))).is_err()
        {
            super::fatal("the scheduler panicked (see the message above)");
        }
    }

    fn schedule_loop(&self, m: &M) {
        loop {
            if self.is_shutdown() {
                return;
            }
            // A locked M runs only its goroutine: wait for it, then run it.
            if let Some(lg) = m.lockedg() {
                if !self.stoplockedm(m) {
                    return;
                }
                if self.execute(m, GRef(std::ptr::NonNull::from(lg)), false) == Next::ExitThread {
                    return;
                }
                continue;
            }
            let Some((g, inherit)) = self.find_runnable(m) else {
                return;
            };
            if m.spinning.load(Ordering::Relaxed) {
                self.reset_spinning(m);
            }
            let lm = g.get().lockedm.load(Ordering::Relaxed);
            if !lm.is_null() && !std::ptr::eq(lm, m) {
                // Wired to another thread: send our P there instead.
                self.startlockedm(m, g.get());
                continue;
            }
            if self.execute(m, g, inherit) == Next::ExitThread {
                return;
            }
        }
    }

    /// A spinning M found work: stop spinning, and if it was the last spinner, start another so
    /// that work readied meanwhile is not stranded (Go's resetspinning).
    fn reset_spinning(&self, m: &M) {
        m.spinning.store(false, Ordering::Relaxed);
        let left = self.idle.nmspinning.fetch_sub(1, Ordering::SeqCst) - 1;
        if left == 0 {
            self.wakep();
        }
    }

    /// Runs `g` on `m` until the G switches back, then acts on the switch. Loops while the
    /// same G continues (a park whose unlock step declined).
    fn execute(&self, m: &M, g: GRef, mut inherit: bool) -> Next {
        let g = g.get();
        loop {
            let p = m.p().unwrap_or_else(|| super::fatal("execute: M has no P"));
            g.cas_status(GStatus::Runnable, GStatus::Running);
            g.m.store(m as *const M as *mut M, Ordering::Relaxed);
            m.curg.store(g as *const G as *mut G, Ordering::Relaxed);
            if !inherit {
                p.schedtick.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: this M owns `g` (it was taken from a run queue or handed over), and we are
            // on the M's own stack.
            let sw = unsafe { g.resume() };
            m.curg.store(std::ptr::null_mut(), Ordering::Relaxed);
            let Some(sw) = sw else {
                return if self.gexit(m, g) {
                    Next::ExitThread
                } else {
                    Next::Schedule
                };
            };
            if std::ptr::eq(g.lockedm.load(Ordering::Relaxed), m) {
                // We will sleep in stoplockedm until whoever runs into our G wakes us: arm the
                // note now, before the G becomes visible to them.
                m.park.clear();
            }
            g.m.store(std::ptr::null_mut(), Ordering::Relaxed);
            match sw {
                Switch::Gosched | Switch::Preempted => {
                    let p = m.p().expect("a yielding G's M holds a P");
                    let c = &p.counters;
                    if matches!(sw, Switch::Gosched) {
                        &c.goscheds
                    } else {
                        &c.preemptions
                    }
                    .fetch_add(1, Ordering::Relaxed);
                    g.cas_status(GStatus::Running, GStatus::Runnable);
                    self.globrunqput(GRef(std::ptr::NonNull::from(g)));
                    return Next::Schedule;
                }
                Switch::Park { unlock, reason } => {
                    let p = m.p().expect("a parking G's M holds a P");
                    p.counters.parks.fetch_add(1, Ordering::Relaxed);
                    g.waitreason.store(reason as u8, Ordering::Relaxed);
                    g.cas_status(GStatus::Running, GStatus::Waiting);
                    if let Some((f, arg)) = unlock {
                        // SAFETY: the parker passed a matching function and argument, and its
                        // stack (where `arg` may live) stays valid until it is readied.
                        if !unsafe { f(arg) } {
                            g.cas_status(GStatus::Waiting, GStatus::Runnable);
                            inherit = true;
                            continue;
                        }
                    }
                    return Next::Schedule;
                }
                Switch::ExitSyscall => {
                    if self.exitsyscall0(m, GRef(std::ptr::NonNull::from(g))) {
                        inherit = false;
                        continue;
                    }
                    return Next::Schedule;
                }
            }
        }
    }

    /// Finds a goroutine to run, parking the M while there is none. `None` at shutdown.
    /// The bool says whether the G inherits the current time slice (it came from runnext).
    pub(crate) fn find_runnable(&self, m: &M) -> Option<(GRef, bool)> {
        loop {
            if self.is_shutdown() {
                return None;
            }
            let Some(p) = m.p() else {
                if !self.idle_wait(m) {
                    return None;
                }
                continue;
            };
            if self.stw.gcwaiting.load(Ordering::SeqCst) {
                self.gcstopm(m);
                continue;
            }
            // The clock costs a vDSO call: read it only when this P has timers (as Go does).
            if p.timer0.load(Ordering::Relaxed) != 0 {
                timers::run_expired(p, self.nanotime(), |g| self.ready_on(p, g));
            }

            // Fairness: now and then look at the global queue first.
            if p.schedtick.load(Ordering::Relaxed) % 61 == 0
                && self.runqsize.load(Ordering::Relaxed) > 0
                && let Some(g) = self.inner.with(|s| self.globrunqget(s, p, 1))
            {
                return Some((g, false));
            }
            if let Some((g, inherit)) = p.runq.pop() {
                return Some((GRef(g), inherit));
            }
            if self.runqsize.load(Ordering::SeqCst) > 0
                && let Some(g) = self.inner.with(|s| self.globrunqget(s, p, 0))
            {
                return Some((g, false));
            }

            // Steal, as a spinning M — if not too many are spinning already.
            let procs = self.procs() as u32;
            let busy = procs.saturating_sub(self.idle.npidle.load(Ordering::SeqCst));
            if m.spinning.load(Ordering::Relaxed)
                || 2 * self.idle.nmspinning.load(Ordering::SeqCst) < busy
            {
                if !m.spinning.load(Ordering::Relaxed) {
                    m.spinning.store(true, Ordering::Relaxed);
                    self.idle.nmspinning.fetch_add(1, Ordering::SeqCst);
                }
                if let Some(g) = self.steal_work(m, p) {
                    return Some((g, false));
                }
                if let Some((g, inherit)) = p.runq.pop() {
                    // A timer fired by steal_work readied it onto our queue.
                    return Some((GRef(g), inherit));
                }
            }

            // Nothing: give the P back. Re-check under the lock what others could have added.
            let guard = self.inner.raw_lock().guard();
            // SAFETY: `guard` holds the scheduler lock while `s` is used.
            let s = unsafe { self.inner.get_unchecked() };
            if self.stw.gcwaiting.load(Ordering::SeqCst) || self.is_shutdown() {
                drop(guard);
                continue;
            }
            if self.runqsize.load(Ordering::SeqCst) > 0 {
                let g = self.globrunqget(s, p, 0);
                drop(guard);
                if let Some(g) = g {
                    return Some((g, false));
                }
                continue;
            }
            if !p.runq.is_empty() {
                // A timer or a racing ready put work here after we looked.
                drop(guard);
                continue;
            }
            let p = self.releasep(m);
            self.pidleput(s, p);
            drop(guard);

            // We were spinning: a G readied onto some P while we were the spinner relied on us
            // (wakep saw nmspinning > 0). Stop spinning first, then look once more (Go's
            // "delicate dance"), so either we see the work or its readier sees no spinner.
            if m.spinning.load(Ordering::Relaxed) {
                m.spinning.store(false, Ordering::Relaxed);
                self.idle.nmspinning.fetch_sub(1, Ordering::SeqCst);
                if (self.allp().any(|p2| !p2.runq.is_empty())
                    || self.runqsize.load(Ordering::SeqCst) > 0)
                    && let Some(p2) = self.inner.with(|s| self.pidleget(s))
                {
                    self.acquirep(m, p2);
                    m.spinning.store(true, Ordering::Relaxed);
                    self.idle.nmspinning.fetch_add(1, Ordering::SeqCst);
                }
            }
            // Loop: without a P the top of the loop parks the M.
        }
    }

    /// An M without a P waits for one. One idle M at a time (the timer waiter) sleeps only
    /// until the earliest timer and then takes an idle P to run it. Returns false at shutdown.
    fn idle_wait(&self, m: &M) -> bool {
        let timeout = self.become_timer_waiter(m);
        let got = self.stopm(m, timeout);
        self.leave_timer_waiter(m);
        if self.is_shutdown() {
            return false;
        }
        if !got {
            let next = self.earliest_timer();
            if next != 0
                && next <= self.nanotime()
                && let Some(p) = self.inner.with(|s| self.pidleget(s))
            {
                self.acquirep(m, p);
                m.spinning.store(true, Ordering::Relaxed);
                self.idle.nmspinning.fetch_add(1, Ordering::SeqCst);
            }
        }
        true
    }

    /// Steals a G from another P, or runs other Ps' expired timers (last round).
    fn steal_work(&self, m: &M, p: &P) -> Option<GRef> {
        let n = self.procs();
        if n <= 1 {
            return None;
        }
        let mut now = 0;
        for round in 0..STEAL_TRIES {
            let last = round == STEAL_TRIES - 1;
            let start = m.fastrand() as usize % n;
            for k in 0..n {
                if self.stw.gcwaiting.load(Ordering::Relaxed) {
                    // Let the stop-the-world proceed; the caller checks gcwaiting again.
                    return None;
                }
                let Some(p2) = self.p((start + k) % n) else {
                    continue;
                };
                if std::ptr::eq(p2, p) {
                    continue;
                }
                if last && p2.timer0.load(Ordering::Relaxed) != 0 {
                    if now == 0 {
                        now = self.nanotime();
                    }
                    timers::run_expired(p2, now, |g| self.ready_on(p, g));
                    if let Some((g, _)) = p.runq.pop() {
                        return Some(GRef(g));
                    }
                }
                if p2.runq.is_empty() {
                    continue;
                }
                if let Some(g) = p.runq.steal_from(&p2.runq, last) {
                    p.counters.steals.fetch_add(1, Ordering::Relaxed);
                    return Some(GRef(g));
                }
            }
        }
        None
    }

    /// Puts `g` on `p`'s local queue (owner only), spilling to the global queue when full.
    #[inline]
    pub(crate) fn runqput(&self, p: &P, g: GRef, next: bool) {
        p.runq.push(g.0, next, |batch| {
            self.inner.with(|s| {
                let n = batch.len() as u32;
                s.runq.extend(batch.into_iter().map(GRef));
                self.runqsize.fetch_add(n, Ordering::SeqCst);
            });
        });
    }

    pub(crate) fn globrunqput(&self, g: GRef) {
        self.inner.with(|s| {
            s.runq.push_back(g);
            self.runqsize.fetch_add(1, Ordering::SeqCst);
        });
    }

    /// Takes a batch from the global queue (lock held): one to return, the rest onto `p`.
    pub(crate) fn globrunqget(&self, s: &mut SchedInner, p: &P, max: usize) -> Option<GRef> {
        let size = s.runq.len();
        if size == 0 {
            return None;
        }
        let procs = self.procs().max(1);
        let mut n = (size / procs + 1).min(size).min(RUNQ_SIZE / 2);
        if max > 0 {
            n = n.min(max);
        }
        let first = s.runq.pop_front();
        for _ in 1..n {
            let g = s.runq.pop_front().expect("counted");
            // Cannot overflow: at most half the ring is added, and only the owner adds.
            p.runq.push(g.0, false, |batch| {
                s.runq.extend(batch.into_iter().map(GRef))
            });
        }
        self.runqsize.store(s.runq.len() as u32, Ordering::SeqCst);
        first
    }

    /// Readies a G on behalf of `p`'s M (timers run from the scheduler loop).
    fn ready_on(&self, p: &P, g: GRef) {
        g.get().cas_status(GStatus::Waiting, GStatus::Runnable);
        self.runqput(p, g, true);
        self.wakep();
    }

    /// A stop-the-world is pending: stop this M's P (`_Prunning`→`_Pgcstop`), count it, and
    /// park until start-the-world hands a P back (Go's gcstopm).
    fn gcstopm(&self, m: &M) {
        if m.spinning.swap(false, Ordering::Relaxed) {
            self.idle.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        let p = m.p().expect("gcstopm: M has a P");
        pstatus::set_status(p, PStatus::Running, PStatus::GcStop, m.id, Reason::StwSelf);
        p.m.store(std::ptr::null_mut(), Ordering::Relaxed);
        m.p.store(std::ptr::null_mut(), Ordering::Relaxed);
        let left = self
            .inner
            .with(|_| self.stw.stopwait.fetch_sub(1, Ordering::SeqCst) - 1);
        if left == 0 {
            self.stw.stopnote.wakeup();
        }
        self.stopm(m, None);
    }
}
