//! Global deadlock detection (Go's checkdead): when no M is running, no goroutine is runnable,
//! no timer is pending and no syscall is in progress, nothing can ever wake the program:
//! report "all goroutines are asleep - deadlock!" and exit with status 2, as Go does.
//!
//! Counting: worker Ms that exist (`mlive`, including ones whose thread has not started — a
//! queued M counts as running, it may yet run) minus idle Ms minus locked Ms parked for their
//! goroutine (and M0 parked for good). sysmon and the template thread are not counted.
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
            // Runnable work with no M: an M will be started for it (a hand-off in flight).
            return;
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
