//! Creating goroutines (Go's newproc) and ending them (goexit0), with the G free lists.
//!
//! A dead G keeps its stack; new goroutines take one from the P's free list first (no lock),
//! then from the global list in batches, and only then map a new stack. Gs are never freed
//! while the runtime lives, so a stale GRef can at worst name a reused G, never freed memory.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::Sched;
use super::g::{G, GRef};
use super::lock::Locked;
use super::m::M;
use super::p::P;

/// Local free list bounds: above HIGH, move BATCH to the global list; when empty, take BATCH.
const GFREE_HIGH: usize = 64;
const GFREE_BATCH: usize = 32;

/// Goroutine bookkeeping shared by every P (Go's `sched.goidgen`, `sched.gFree`, and the
/// goroutine count).
pub(crate) struct Gs {
    /// The last G id handed out; ids start at 1 (0 means "no G" in probes and snapshots).
    pub(crate) idgen: AtomicU64,
    /// Goroutines alive (created and not yet exited), for checkdead and the stats.
    pub(crate) count: AtomicI64,
    /// Dead Gs (with their stacks) beyond what the Ps' local free lists keep. A leaf lock.
    #[allow(clippy::vec_box)]
    pub(crate) free: Locked<Vec<Box<G>>>,
}

impl Gs {
    pub(crate) fn new() -> Gs {
        Gs {
            idgen: AtomicU64::new(1),
            count: AtomicI64::new(0),
            free: Locked::new(Vec::new()),
        }
    }
}

impl Sched {
    /// Creates a goroutine running `f` and queues it on `p` as runnext (Go: the new goroutine
    /// runs soon, on this P, unless stolen). `m` owns `p`.
    pub(crate) fn newproc<F: FnOnce() + Send + 'static>(&self, m: &M, p: &P, f: F) -> GRef {
        let g = self.gfget(p);
        let id = self.gs.idgen.fetch_add(1, Ordering::Relaxed);
        // SAFETY: gfget returned a dead G that nobody else references.
        unsafe { g.start(self, id, f) };
        let g = GRef(NonNull::from(Box::leak(g)));
        self.gs.count.fetch_add(1, Ordering::Relaxed);
        p.counters.created.fetch_add(1, Ordering::Relaxed);
        debug_assert!(std::ptr::eq(m.p().expect("newproc: M holds P"), p));
        self.runqput(p, g, true);
        self.wakep();
        g
    }

    fn gfget(&self, p: &P) -> Box<G> {
        // SAFETY: the calling M owns `p` (newproc's contract).
        let local = unsafe { p.gfree() };
        if local.is_empty() {
            self.gs.free.with(|global| {
                let take = global.len().min(GFREE_BATCH);
                let at = global.len() - take;
                local.extend(global.drain(at..));
            });
        }
        match local.pop() {
            Some(g) => g,
            None => G::new(self.stacks.alloc()),
        }
    }

    /// The goroutine `g` returned: recycle it. `m` owns a P (the G ran there). Returns whether
    /// the thread must end (the G exited while locked: see `lockos`).
    pub(crate) fn gexit(&self, m: &M, g: &G) -> bool {
        let locked = std::ptr::eq(g.lockedm.load(Ordering::Relaxed), m);
        if locked {
            g.lockedm.store(std::ptr::null_mut(), Ordering::Relaxed);
            m.lockedg.store(std::ptr::null_mut(), Ordering::Relaxed);
            if m.locked_int.load(Ordering::Relaxed) != 0 {
                super::fatal("a goroutine exited holding the runtime's internal thread lock");
            }
        }
        self.gfput(m, g);
        locked && self.mexit(m)
    }

    fn gfput(&self, m: &M, g: &G) {
        // SAFETY: `m` ran `g` to completion and owns it.
        unsafe { g.finish() };
        self.gs.count.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: every running G was leaked from a Box by newproc; it is dead and ours now.
        let g = unsafe { Box::from_raw(g as *const G as *mut G) };
        let Some(p) = m.p() else {
            self.gs.free.with(|global| global.push(g));
            return;
        };
        // SAFETY: `m` owns `p`.
        let local = unsafe { p.gfree() };
        local.push(g);
        if local.len() > GFREE_HIGH {
            let at = local.len() - GFREE_BATCH;
            self.gs.free.with(|global| global.extend(local.drain(at..)));
        }
    }
}
