//! A snapshot of the scheduler's state, read without locks and without stopping anything —
//! so it works on a runtime that is hung in a stop-the-world, from any thread (a watchdog).
//!
//! Fields are read one by one with atomic loads; a snapshot of a busy runtime can mix moments.
//! For a hung runtime — the case it exists for — nothing moves, and it is exact.

use std::sync::atomic::Ordering;

use super::Sched;
use super::m::M;
use super::pstatus::{PStatus, Reason};
use super::stw::StwReason;

/// One P.
#[derive(Clone, Debug)]
pub struct PSnapshot {
    pub id: u32,
    /// Go's name: `_Pidle`, `_Prunning`, `_Psyscall`, `_Pgcstop`, `_Pdead`.
    pub status: &'static str,
    /// How long the P has been in this status, in nanoseconds (coarse clock: a few ms resolution).
    pub status_for_ns: i64,
    /// The M holding it (`_Prunning`).
    pub m: Option<u64>,
    /// An M whose `nextp` is this P: the P was handed to that M, which has not taken it yet.
    pub handed_to: Option<u64>,
    pub on_idle_list: bool,
    /// Who last changed its status, and why (the probe catalog's reason name).
    pub last_m: u64,
    pub last_reason: &'static str,
    /// The sequence number of its last status change (the `seq` of its last `p_status` probe).
    pub seq: u64,
    pub runq_len: usize,
}

/// One M.
#[derive(Clone, Debug)]
pub struct MSnapshot {
    pub id: u64,
    /// OS thread id (0 if its thread never started).
    pub tid: i32,
    pub p: Option<u32>,
    pub nextp: Option<u32>,
    /// Id of the goroutine running on it / wired to it.
    pub curg: Option<u64>,
    pub lockedg: Option<u64>,
    pub locked_ext: u32,
    pub locked_int: u32,
    pub spinning: bool,
    /// Parked on the idle M list.
    pub idle: bool,
    /// Created from a locked thread and queued for the template thread.
    pub queued_for_template: bool,
    pub started: bool,
    pub exited: bool,
    pub is_m0: bool,
    pub is_template: bool,
}

/// The stop-the-world in progress.
#[derive(Clone, Debug)]
pub struct StwSnapshot {
    pub id: u64,
    pub reason: StwReason,
    /// How long it has been stopping (or stopped), in nanoseconds.
    pub for_ns: i64,
}

/// The template thread and its hand-off list.
#[derive(Clone, Debug)]
pub struct TemplateSnapshot {
    /// `have_template_thread`: someone set it (the thread exists or should).
    pub flag: bool,
    /// Its thread is running.
    pub running: bool,
    pub tid: Option<i32>,
    /// New Ms queued for it.
    pub handoff_len: u32,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct SchedSnapshot {
    pub procs: usize,
    pub gcwaiting: bool,
    pub stopwait: i32,
    pub stw: Option<StwSnapshot>,
    pub ps: Vec<PSnapshot>,
    pub ms: Vec<MSnapshot>,
    pub template: TemplateSnapshot,
    pub goroutines: i64,
}

impl SchedSnapshot {
    /// The Ps a stop-the-world in progress is still waiting for: those in use (`id < procs`)
    /// that are not `_Pgcstop`. Ps past the count are `_Pdead` and nobody waits for them.
    pub fn unstopped_ps(&self) -> Vec<&PSnapshot> {
        if self.stw.is_none() {
            return Vec::new();
        }
        self.ps
            .iter()
            .filter(|p| (p.id as usize) < self.procs && p.status != PStatus::GcStop.name())
            .collect()
    }

    pub fn m(&self, id: u64) -> Option<&MSnapshot> {
        self.ms.iter().find(|m| m.id == id)
    }
}

impl Sched {
    pub(crate) fn debug_snapshot(&self) -> SchedSnapshot {
        let now = self.nanotime();
        let ms: Vec<&M> = self.ms.all.with(|all| {
            // SAFETY: Ms are boxed in `allm` for the runtime's life; the references outlive
            // the lock because nothing removes them.
            all.iter()
                .map(|m| unsafe { &*(&**m as *const M) })
                .collect()
        });
        let template = self.template.m.load(Ordering::Acquire);
        let pid = |p: *mut super::p::P| {
            // SAFETY: Ps live as long as the runtime.
            unsafe { p.as_ref() }.map(|p| p.id)
        };
        let gid = |g: *mut super::g::G| {
            // SAFETY: Gs live as long as the runtime.
            unsafe { g.as_ref() }.map(|g| g.id.load(Ordering::Relaxed))
        };
        let mid = |m: *mut M| {
            // SAFETY: Ms live as long as the runtime.
            unsafe { m.as_ref() }.map(|m| m.id)
        };
        let idle: Vec<*const M> = if self.inner.raw_lock().try_lock() {
            {
                // SAFETY: try_lock succeeded; released right below.
                let v = unsafe { self.inner.get_unchecked() }.midle.clone();
                // SAFETY: held.
                unsafe { self.inner.raw_lock().unlock() };
                v
            }
        } else {
            Default::default()
        };
        let msnap: Vec<MSnapshot> = ms
            .iter()
            .map(|m| MSnapshot {
                id: m.id,
                tid: m.tid.load(Ordering::Relaxed),
                p: pid(m.p.load(Ordering::Relaxed)),
                nextp: pid(m.nextp.load(Ordering::Relaxed)),
                curg: gid(m.curg.load(Ordering::Relaxed)),
                lockedg: gid(m.lockedg.load(Ordering::Relaxed)),
                locked_ext: m.locked_ext.load(Ordering::Relaxed),
                locked_int: m.locked_int.load(Ordering::Relaxed),
                spinning: m.spinning.load(Ordering::Relaxed),
                idle: m.blocked.load(Ordering::Relaxed)
                    || idle.iter().any(|&x| std::ptr::eq(x, *m)),
                queued_for_template: m.queued.load(Ordering::Relaxed),
                started: m.started.load(Ordering::Relaxed),
                exited: m.exited.load(Ordering::Relaxed),
                is_m0: m.is_m0.load(Ordering::Relaxed),
                is_template: std::ptr::eq(template, *m),
            })
            .collect();
        let mut ps = Vec::new();
        for i in 0..super::MAX_PROCS {
            let Some(p) = self.p(i) else { break };
            let status = p.status();
            let handed_to = ms
                .iter()
                .find(|m| std::ptr::eq(m.nextp.load(Ordering::Relaxed), p))
                .map(|m| m.id);
            ps.push(PSnapshot {
                id: p.id,
                status: status.name(),
                status_for_ns: super::coarse_now_ns() - p.status_since.load(Ordering::Relaxed),
                m: mid(p.m.load(Ordering::Relaxed)),
                handed_to,
                on_idle_list: p.on_idle_list.load(Ordering::Relaxed),
                last_m: p.last_m.load(Ordering::Relaxed),
                // Written only by `note_transition`, from a `Reason`: never unknown, but a
                // snapshot of a broken runtime says so rather than aborting the watchdog.
                last_reason: Reason::from_code(p.last_reason.load(Ordering::Relaxed))
                    .map_or("unknown", Reason::name),
                seq: p.status.seq(),
                runq_len: p.runq.len(),
            });
        }
        let stw_id = self.stw.current.load(Ordering::Acquire);
        let tm = msnap.iter().find(|m| m.is_template);
        SchedSnapshot {
            procs: self.procs(),
            gcwaiting: self.stw.gcwaiting.load(Ordering::SeqCst),
            stopwait: self.stw.stopwait.load(Ordering::SeqCst),
            stw: (stw_id != 0).then(|| StwSnapshot {
                id: stw_id,
                reason: StwReason::from_code(self.stw.reason.load(Ordering::Relaxed))
                    .unwrap_or_else(|| super::fatal("corrupt stop-the-world reason")),
                for_ns: now - self.stw.start.load(Ordering::Relaxed),
            }),
            template: TemplateSnapshot {
                flag: self.template.have_thread.load(Ordering::SeqCst) != 0,
                running: tm.is_some_and(|m| m.started && !m.exited),
                tid: tm.map(|m| m.tid),
                handoff_len: self.template.newm_handoff_len.load(Ordering::Relaxed),
            },
            goroutines: self.gs.count.load(Ordering::Relaxed),
            ps,
            ms: msnap,
        }
    }
}
