//! Blocking calls: entersyscall/exitsyscall and their slow path (Go ≤1.25's `_Psyscall` model).
//!
//! Entering, the M keeps its P as "old P" and marks it `_Psyscall` with no M, so sysmon can
//! retake it (and hand it to another M) if the call lasts, and a stop-the-world can claim it
//! without waiting for the call. Leaving, the M tries, in order: its old P if still
//! `_Psyscall` (fast exit), any idle P, and else queues its G globally and parks (slow exit).

use std::sync::atomic::Ordering;

use super::g::{GRef, GStatus, Switch};
use super::m::M;
use super::pstatus::{self, PStatus, Reason};
use super::{Sched, probe};

/// How the M got a P back: the catalog's `syscall_exit_kind` table.
use goro_probes::SyscallExitKind as ExitKind;

/// Runs `f`, a call that may block the thread, without holding up other goroutines.
///
/// # Panics
/// With the world stopped by the calling goroutine (a `WorldStopped` guard held): its P is
/// `_Pgcstop`, and the goroutines that a blocking call could wait for are stopped.
pub(crate) fn syscall<R>(f: impl FnOnce() -> R) -> R {
    // The safepoint first, and the M it returns: a preemption there may move the goroutine to
    // another thread, and entersyscall must act on the M the call will block.
    let Some(m) = super::preempt::safepoint() else {
        return f();
    };
    let Some(p) = m.p() else {
        // Already in a syscall (a nested call): the P is released.
        return f();
    };
    if p.status() != PStatus::Running {
        // The only other status a running goroutine's P can have: the caller stopped the world.
        panic!(
            "goro::syscall called while the world is stopped (a WorldStopped guard is held): \
             release the guard before blocking"
        );
    }
    let sched = m.sched();
    sched.entersyscall(m);
    // `f` is arbitrary user code and may panic. Unwinding past exitsyscall would leave the
    // goroutine running on an M without a P (the next scheduling point then fails), so catch
    // the panic on this thread, leave the syscall, and resume it: exitsyscall may move the
    // goroutine to another thread, and a panic must not be in flight across that move
    // (std counts panics per thread).
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    // The thread is the same: a G does not move while in a syscall.
    sched.exitsyscall(m);
    match r {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

impl Sched {
    fn entersyscall(&self, m: &M) {
        let g = m.curg().expect("entersyscall on a goroutine");
        let p = m.p().expect("entersyscall with a P");
        p.counters.syscalls.fetch_add(1, Ordering::Relaxed);
        probe::syscall_enter(g.id.load(Ordering::Relaxed), p.id, m.id);
        g.cas_status(GStatus::Running, GStatus::Syscall);
        p.m.store(std::ptr::null_mut(), Ordering::Relaxed);
        m.oldp.store(p as *const _ as *mut _, Ordering::Relaxed);
        m.p.store(std::ptr::null_mut(), Ordering::Relaxed);
        pstatus::set_status(
            p,
            PStatus::Running,
            PStatus::Syscall,
            m.id,
            Reason::SyscallEnter,
        );
        if self.stw.gcwaiting.load(Ordering::SeqCst) {
            // A stop-the-world is waiting for us: count our P as stopped now rather than when
            // sysmon or the stopper notices (Go's entersyscall_gcwait).
            self.inner.with(|_| {
                if self.stw.stopwait.load(Ordering::SeqCst) > 0
                    && pstatus::cas_status(
                        p,
                        PStatus::Syscall,
                        PStatus::GcStop,
                        m.id,
                        Reason::SyscallGcwait,
                    )
                {
                    p.syscalltick.fetch_add(1, Ordering::Relaxed);
                    if self.stw.stopwait.fetch_sub(1, Ordering::SeqCst) == 1 {
                        self.stw.stopnote.wakeup();
                    }
                }
            });
        }
    }

    fn exitsyscall(&self, m: &M) {
        let g = m.curg().expect("exitsyscall on a goroutine");
        let oldp = m.oldp.swap(std::ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: Ps live as long as the runtime.
        let oldp = unsafe { oldp.as_ref() };
        // Fast: our P is still ours to take back.
        if let Some(p) = oldp
            && pstatus::cas_status(
                p,
                PStatus::Syscall,
                PStatus::Idle,
                m.id,
                Reason::SyscallExitFast,
            )
        {
            self.exitsyscall_with(m, g, p, ExitKind::Fast);
            return;
        }
        // Fast, second chance: any idle P.
        if self.idle.npidle.load(Ordering::SeqCst) > 0
            && !self.stw.gcwaiting.load(Ordering::SeqCst)
            && let Some(p) = self.inner.with(|s| self.pidleget(s))
        {
            self.exitsyscall_with(m, g, p, ExitKind::FastIdleP);
            return;
        }
        // Slow: switch to the scheduler, which queues the G and parks the M.
        // SAFETY: we are on g's own stack.
        unsafe { g.mcall(Switch::ExitSyscall) };
        // Resumed by some M with a P: the G is `_Grunning` again (execute did it).
    }

    /// A fast exit found `p` (an idle P it now owns): run on.
    fn exitsyscall_with(&self, m: &M, g: &super::g::G, p: &super::p::P, kind: ExitKind) {
        self.acquirep(m, p);
        p.syscalltick.fetch_add(1, Ordering::Relaxed);
        g.cas_status(GStatus::Syscall, GStatus::Running);
        probe::syscall_exit(g.id.load(Ordering::Relaxed), p.id, m.id, kind);
    }

    /// The slow exit, on the M's own stack (Go's exitsyscall0): if an idle P appeared, take it
    /// and return true (the caller runs the G at once); else queue the G globally and return
    /// false (the M parks in the scheduler loop — a locked M in stoplockedm, for its G).
    pub(crate) fn exitsyscall0(&self, m: &M, g: GRef) -> bool {
        g.get().cas_status(GStatus::Syscall, GStatus::Runnable);
        probe::syscall_exit(g.id(), goro_probes::P_NONE, m.id, ExitKind::Slow);
        let p = self.inner.with(|s| {
            let p = if self.stw.gcwaiting.load(Ordering::SeqCst) {
                None
            } else {
                self.pidleget(s)
            };
            if p.is_none() {
                s.runq.push_back(g);
                self.runqsize.fetch_add(1, Ordering::SeqCst);
            }
            p.map(|p| p as *const super::p::P)
        });
        match p {
            Some(p) => {
                // SAFETY: Ps live as long as the runtime.
                self.acquirep(m, unsafe { &*p });
                true
            }
            None => false,
        }
    }
}
