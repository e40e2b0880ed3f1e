//! The template thread and the new-M hand-off list (Go's templateThread / newmHandoff).
//!
//! A thread wired to a goroutine (LockOSThread) may carry tainted OS state, so no thread is
//! cloned from it: `newm` called there queues the new M on the hand-off list and wakes the
//! template thread, a clean thread with no P that never stops for a stop-the-world and creates
//! each queued M's thread. It is started lazily by the first `lock_os_thread`, which sets
//! `have_template_thread` (0→1) and then creates it.
//!
//! golang/go#38931: if the goroutine that set the flag is preempted before creating the thread
//! (a stop-the-world is pending, so its P stops), a second locked goroutine sees the flag, and
//! its hand-off queues an M — holding a `_Pidle` P in `nextp` — for a template thread that does
//! not exist. That P is on no list; the stop-the-world never counts it and waits forever. The
//! fix, goro's default: no preemption (acquirem) from before setting the flag until the thread
//! is created, so "flag set" implies "thread exists or is being created". The legacy mode
//! restores the old order on purpose, for the tools that diagnose it.

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::time::Instant;

use super::lock::Locked;
use super::note::Note;

use super::m::{self, M, current_m};
use super::p::P;
use super::{Sched, preempt, probe};

/// The template thread and the new-M hand-off list (Go's `haveTemplateThread` and
/// `newmHandoff`).
///
/// Rules:
/// - `have_thread` goes 0→1 once (a CAS by the first `lock_os_thread`) and never back. With
///   the fix, the setter cannot be preempted until the thread is being created, so 1 means
///   "the thread exists or is about to"; in legacy mode it can mean "promised, never created"
///   (golang/go#38931).
/// - `m` is set by the template thread itself once it runs; null until then.
/// - `newm_handoff` (a leaf lock) holds Ms created from locked threads, each owning the
///   `_Pidle` P in its `nextp`, until the template thread creates their threads; it wakes on
///   `note`. `newm_handoff_len` mirrors the list's length for lock-free readers (snapshots).
pub(crate) struct TemplateState {
    pub(crate) have_thread: AtomicU32,
    pub(crate) m: AtomicPtr<M>,
    pub(crate) note: Note,
    pub(crate) newm_handoff: Locked<Vec<*const M>>,
    pub(crate) newm_handoff_len: AtomicU32,
}

impl TemplateState {
    pub(crate) fn new() -> TemplateState {
        TemplateState {
            have_thread: AtomicU32::new(0),
            m: AtomicPtr::new(std::ptr::null_mut()),
            note: Note::new(),
            newm_handoff: Locked::new(Vec::new()),
            newm_handoff_len: AtomicU32::new(0),
        }
    }
}

/// What a new M's thread runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MKind {
    Worker,
    Template,
}

impl Sched {
    /// Starts the template thread unless it was already started (Go's startTemplateThread).
    pub(crate) fn start_template_thread(&self) {
        if self.config.legacy_template_thread {
            // Pre-fix order: nothing stops a preemption between the flag and the thread.
            if self
                .template
                .have_thread
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return;
            }
            probe::template_start(m::current_mid());
            self.widen_template_window();
            self.newm_template();
            return;
        }
        let mp = preempt::acquirem();
        if self
            .template
            .have_thread
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            probe::template_start(m::current_mid());
            self.widen_template_window();
            self.newm_template();
        }
        if let Some(mp) = mp {
            preempt::releasem(mp);
        }
    }

    /// Fault injection (GORODEBUG=templaterace=widen): keep the flag-set/thread-missing window
    /// open, passing safepoints all along. In legacy mode a pending stop-the-world preempts us
    /// here; in fixed mode acquirem holds, and the window only delays that stop.
    fn widen_template_window(&self) {
        let Some(d) = self.config.widen_template_race else {
            return;
        };
        let until = Instant::now() + d;
        while Instant::now() < until {
            super::checkpoint();
            std::hint::spin_loop();
        }
    }

    fn newm_template(&self) {
        let m = self.alloc_m();
        // A safepoint, as Go's allocm is (its prologue): where the legacy race is lost.
        super::checkpoint();
        let cur = current_m();
        probe::newm(
            m.id,
            cur.map_or(0, |c| c.id),
            // The creator's LockOSThread (the external lock), as the flag means for any newm.
            u8::from(cur.is_some_and(|c| c.locked_ext.load(Ordering::Relaxed) != 0)),
            0,
            goro_probes::P_NONE,
            1,
        );
        self.newm1(m, MKind::Template);
    }

    /// Creates an M that will start by acquiring `p` (Go's newm): directly, or through the
    /// template thread when the calling thread is locked. The caller has already counted it
    /// in `ms.live`, under the scheduler lock (see `startm`).
    pub(crate) fn newm(&self, p: Option<&P>, spinning: bool) -> &M {
        let m = self.alloc_m();
        m.spinning.store(spinning, Ordering::Relaxed);
        if let Some(p) = p {
            m.nextp.store(p as *const P as *mut P, Ordering::Release);
        }
        // A safepoint, as Go's allocm is. Callers holding a P in limbo run with acquirem.
        super::checkpoint();
        let cur = current_m();
        // Only a user's lock taints a thread (Go's newm checks lockedExt alone): the runtime's
        // own lock does not change OS state, and the template thread may not exist for it.
        let locked = cur.is_some_and(|cur| cur.locked_ext.load(Ordering::Relaxed) != 0);
        probe::newm(
            m.id,
            cur.map_or(0, |c| c.id),
            u8::from(locked),
            u8::from(locked),
            p.map_or(goro_probes::P_NONE, |p| p.id),
            0,
        );
        if locked {
            self.newm_queue(m);
            return m;
        }
        self.newm1(m, MKind::Worker);
        m
    }

    /// Queues `m` for the template thread.
    fn newm_queue(&self, m: &M) {
        m.queued.store(true, Ordering::Release);
        self.template.newm_handoff.with(|l| {
            l.push(m as *const M);
            self.template
                .newm_handoff_len
                .store(l.len() as u32, Ordering::Relaxed);
            probe::newm_handoff(m.id, l.len() as u32);
        });
        if self.template.have_thread.load(Ordering::SeqCst) == 0 {
            super::fatal(
                "newm: a locked thread needs the template thread, which was never started",
            );
        }
        self.template.note.wakeup();
    }

    /// Starts the OS thread of `m` (Go's newm1).
    pub(crate) fn newm1(&self, m: &M, kind: MKind) {
        self.stats.threads.fetch_add(1, Ordering::Relaxed);
        let sched = self.arc();
        let mp = m as *const M as usize;
        let name = match kind {
            MKind::Worker => format!("goro-m{}", m.id),
            MKind::Template => "goro-template".to_string(),
        };
        let r = std::thread::Builder::new().name(name).spawn(move || {
            // SAFETY: Ms live as long as the runtime, which `sched` keeps alive here.
            let m = unsafe { &*(mp as *const M) };
            match kind {
                MKind::Worker => sched.mstart(m),
                MKind::Template => sched.template_thread(m),
            }
            drop(sched);
        });
        if let Err(e) = r {
            super::fatal(&format!("newm: cannot create a thread: {e}"));
        }
    }

    /// The template thread's body: create every queued M, sleep until more are queued.
    fn template_thread(&self, m: &M) {
        m::set_current_m(m);
        m.tid.store(m::gettid(), Ordering::Relaxed);
        m.started.store(true, Ordering::Release);
        self.template
            .m
            .store(m as *const M as *mut M, Ordering::Release);
        probe::template_running(m.id, m.tid.load(Ordering::Relaxed) as u32);
        loop {
            self.template.note.clear();
            if self.is_shutdown() {
                break;
            }
            let queued = self.template.newm_handoff.with(|l| {
                self.template.newm_handoff_len.store(0, Ordering::Relaxed);
                std::mem::take(l)
            });
            for nm in queued {
                // SAFETY: queued Ms live as long as the runtime.
                let nm = unsafe { &*nm };
                probe::template_spawn(nm.id);
                self.newm1(nm, MKind::Worker);
            }
            if self.template.newm_handoff_len.load(Ordering::Relaxed) == 0 {
                self.template.note.sleep();
            }
        }
        m::set_current_m(std::ptr::null());
    }
}
