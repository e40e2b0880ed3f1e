//! Global deadlock detection (Go's checkdead): when no M is running, no goroutine is runnable,
//! no timer is pending and no syscall is in progress, nothing can ever wake the program:
//! report "all goroutines are asleep - deadlock!" and exit with status 2, as Go does.
//!
//! Counting: worker Ms that exist (`ms.live`, including ones whose thread has not started — a
//! queued M counts as running, it may yet run) minus idle Ms minus locked Ms parked for their
//! goroutine (and M0 parked for good). sysmon and the template thread are not counted, except
//! while sysmon holds a P it retook (it counts itself as running then, as a plain thread does
//! while it readies a goroutine). With no M running, a runnable goroutine is a lost P: fatal.
//! An M in a syscall is running: a goroutine waiting for the outside world must wait inside
//! `goro::syscall`. Goroutines woken only by plain threads outside the runtime are invisible
//! to this check; such programs turn it off with `Builder::deadlock_detection(false)`.

use std::sync::atomic::Ordering;

use super::{Sched, SchedInner};

impl Sched {
    /// Called with the scheduler lock held whenever an M goes idle or exits.
    pub(crate) fn checkdead(&self, s: &SchedInner) {
        if !self.config.deadlock_detection || self.is_shutdown() {
            return;
        }
        let run = self.ms.live.load(Ordering::SeqCst)
            - s.midle.len() as i64
            - self.idle.nmidlelocked.load(Ordering::SeqCst);
        if run > 0 {
            return;
        }
        if run < 0 {
            super::fatal(&format!(
                "checkdead: inconsistent M counts (live {}, idle {}, idle locked {})",
                self.ms.live.load(Ordering::SeqCst),
                s.midle.len(),
                self.idle.nmidlelocked.load(Ordering::SeqCst)
            ));
        }
        if self.gs.count.load(Ordering::SeqCst) <= 0 {
            return;
        }
        if !s.runq.is_empty() || self.allp().any(|p| !p.runq.is_empty()) {
            // Runnable work and no M to run it: nothing will ever start one (an M being started
            // is counted in `ms.live` from the moment startm decides on it, under this lock).
            // A runtime bug, such as a P lost in a hand-off: Go throws here too. Say where
            // every P is: that is what the diagnosis needs.
            eprintln!(
                "goro: checkdead: spinning {}, idle Ps {}, stopwait {}, gcwaiting {}",
                self.idle.nmspinning.load(Ordering::SeqCst),
                self.idle.npidle.load(Ordering::SeqCst),
                self.stw.stopwait.load(Ordering::SeqCst),
                self.stw.gcwaiting.load(Ordering::SeqCst)
            );
            // From the P fields alone: this lock is a leaf, the snapshot would take `allm`'s.
            for p in self.allp() {
                eprintln!(
                    "goro: checkdead: P {} {} on idle list {} run queue {} last {} by M {}",
                    p.id,
                    p.status().name(),
                    p.on_idle_list.load(Ordering::Relaxed),
                    p.runq.len(),
                    super::pstatus::Reason::from_code(p.last_reason.load(Ordering::Relaxed))
                        .map_or("?", |r| r.name()),
                    p.last_m.load(Ordering::Relaxed)
                );
            }
            super::fatal(&format!(
                "checkdead: runnable goroutines while every M is idle (live {}, idle {}, idle \
                 locked {}, global queue {})",
                self.ms.live.load(Ordering::SeqCst),
                s.midle.len(),
                self.idle.nmidlelocked.load(Ordering::SeqCst),
                s.runq.len()
            ));
        }
        if self.earliest_timer() != 0 {
            // A sleeping goroutine will wake: the timer waiter M sleeps until then.
            return;
        }
        if self.stw.gcwaiting.load(Ordering::SeqCst) {
            return;
        }
        eprintln!("fatal error: all goroutines are asleep - deadlock!");
        eprintln!();
        eprintln!(
            "goro: {} goroutine(s) parked, none runnable, no timers, no syscalls",
            self.gs.count.load(Ordering::SeqCst)
        );
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use std::ptr::NonNull;

    use super::super::g::G;
    use super::super::{Config, GRef, Sched, testutil};
    use super::*;

    /// The state a lost hand-off leaves: a runnable goroutine and no M that is not idle. A
    /// runtime cannot reach it without a bug, so the test builds it on a runtime that never
    /// started: one goroutine on the global queue, no M. Before the fix checkdead returned
    /// ("an M will be started for it") and the program hung; Go throws.
    #[test]
    fn runnable_goroutine_with_every_m_idle_child() {
        if !testutil::is_child() {
            return;
        }
        let sched = Sched::new(64 * 1024, Config::default());
        let g = Box::leak(G::new(sched.stacks.alloc()));
        sched.gs.count.store(1, Ordering::SeqCst);
        sched.inner.with(|s| {
            s.runq.push_back(GRef(NonNull::from(&*g)));
            sched.checkdead(s);
        });
        println!("CHECKDEAD RETURNED");
    }

    #[test]
    fn a_runnable_goroutine_with_every_m_idle_is_fatal() {
        let (code, stdout, stderr) = testutil::run_child(
            "sched::checkdead::tests::runnable_goroutine_with_every_m_idle_child",
        );
        assert!(
            code.is_none() && stderr.contains("fatal error: checkdead: runnable goroutines"),
            "exit {code:?}\n{stdout}\n{stderr}"
        );
        assert!(!stdout.contains("CHECKDEAD RETURNED"));
    }
}
