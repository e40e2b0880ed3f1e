//! sysmon: the monitor thread. It runs without a P, never stops for a stop-the-world, and:
//! - retakes Ps whose M has been in a syscall for a sysmon tick (≥20µs) when there is work
//!   or no spare capacity, and always after 10ms, handing them to another M;
//! - asks a G running ≥10ms without a scheduling point to yield;
//! - wakes an M for timers that are overdue because every M is busy.
//!
//! It sleeps 20µs, doubling up to 10ms once nothing has needed doing for 1ms (Go's sysmon).
//! While the world is stopped it parks (Go's `sysmonwait`): every P is stopped or on its way,
//! so there is nothing to retake, and a P it handed off would only wake an M that stops again.
//! Start-the-world wakes it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Sched;
use super::pstatus::{self, PStatus, Reason};

const FORCE_PREEMPT_NS: i64 = 10_000_000;
const MIN_DELAY_US: u64 = 20;
const MAX_DELAY_US: u64 = 10_000;
/// The longest sysmon stays parked during a stop-the-world without being woken: a safety net,
/// start-the-world always wakes it.
const STW_PARK_MAX: Duration = Duration::from_secs(1);

impl Sched {
    pub(crate) fn start_sysmon(&self) {
        let sched = self.arc();
        let r = std::thread::Builder::new()
            .name("goro-sysmon".into())
            .spawn(move || sched.sysmon());
        if let Err(e) = r {
            super::fatal(&format!("cannot start sysmon: {e}"));
        }
    }

    fn sysmon(&self) {
        let mut idle = 0u32;
        let mut delay = MIN_DELAY_US;
        loop {
            if idle == 0 {
                delay = MIN_DELAY_US;
            } else if idle > 50 {
                delay = (delay * 2).min(MAX_DELAY_US);
            }
            if self.sysmon_note.sleep_timeout(Duration::from_micros(delay)) || self.is_shutdown() {
                if self.is_shutdown() {
                    return;
                }
                self.sysmon_note.clear();
            }
            if self.stw.gcwaiting.load(Ordering::SeqCst) && self.sysmon_park_for_stw() {
                idle = 0;
                continue;
            }
            let now = self.nanotime();
            let mut acted = self.retake(now) > 0;
            let next = self.earliest_timer();
            if next != 0 && now - next > 1_000_000 {
                // Timers overdue by >1ms: every M is busy or nobody waits for them.
                self.poke_timer_waiter(next);
                self.wakep();
                acted = true;
            }
            idle = if acted { 0 } else { idle + 1 };
        }
    }

    /// Parks sysmon until start-the-world (see the module comment); false if the world
    /// restarted before it could park.
    fn sysmon_park_for_stw(&self) -> bool {
        // Decided under the lock that start-the-world clears gcwaiting under: either we see
        // the world restarted, or it sees `sysmonwait` and wakes us.
        let parked = self.inner.with(|_| {
            let stopped = self.stw.gcwaiting.load(Ordering::SeqCst);
            if stopped {
                self.sysmonwait.store(true, Ordering::SeqCst);
            }
            stopped
        });
        if !parked {
            return false;
        }
        self.sysmon_note.sleep_timeout(STW_PARK_MAX);
        self.inner
            .with(|_| self.sysmonwait.store(false, Ordering::SeqCst));
        self.sysmon_note.clear();
        true
    }

    /// Go's retake: returns how many Ps were taken from syscalls.
    fn retake(&self, now: i64) -> u32 {
        let mut n = 0;
        for p in self.allp() {
            let s = p.status();
            let pd = &p.sysmontick;
            if s == PStatus::Running || s == PStatus::Syscall {
                let t = p.schedtick.load(Ordering::Relaxed);
                if pd.schedtick.load(Ordering::Relaxed) != t {
                    pd.schedtick.store(t, Ordering::Relaxed);
                    pd.schedwhen.store(now, Ordering::Relaxed);
                } else if pd.schedwhen.load(Ordering::Relaxed) + FORCE_PREEMPT_NS <= now {
                    self.preemptone(p);
                }
            }
            if s != PStatus::Syscall {
                continue;
            }
            // Give the call one sysmon tick to finish on its own.
            let t = p.syscalltick.load(Ordering::Relaxed);
            if pd.syscalltick.load(Ordering::Relaxed) != t {
                pd.syscalltick.store(t, Ordering::Relaxed);
                pd.syscallwhen.store(now, Ordering::Relaxed);
                continue;
            }
            // No work waiting and spare capacity exists: leave it unless the call is long.
            if p.runq.is_empty()
                && self.idle.nmspinning.load(Ordering::SeqCst)
                    + self.idle.npidle.load(Ordering::SeqCst)
                    > 0
                && pd.syscallwhen.load(Ordering::Relaxed) + FORCE_PREEMPT_NS > now
            {
                continue;
            }
            // sysmon is no M: while it holds the P (from the CAS until handoffp gives it to an
            // M or a list), count one more M running. Otherwise the M whose P we take can leave
            // its call, find no P, go idle and — every M idle, a P with work in no one's hands
            // — report a deadlock (Go's retake does the same with incidlelocked).
            self.inner
                .with(|_| self.idle.nmidlelocked.fetch_sub(1, Ordering::SeqCst));
            if pstatus::cas_status(p, PStatus::Syscall, PStatus::Idle, 0, Reason::Retake) {
                p.syscalltick.fetch_add(1, Ordering::Relaxed);
                self.stats.retakes.fetch_add(1, Ordering::Relaxed);
                n += 1;
                self.handoffp(p);
            }
            self.inner.with(|s| {
                self.idle.nmidlelocked.fetch_add(1, Ordering::SeqCst);
                self.checkdead(s);
            });
        }
        n
    }
}
