//! Processors (P): the right to run goroutines. A fixed set (`set_procs`); an M must hold one
//! to run Go code. Each P has its local run queue, its timers and its goroutine free list.
//!
//! Lock rules: `status` changes only through `pstatus::cas_status` (its type lets nothing else
//! write it). `m` is written by the M
//! acquiring or releasing the P. The run queue is lock-free (see `runq`). `timers` has its own
//! lock: any M may run another P's expired timers. `gfree` is touched only by the owner M.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering,
};

use super::g::G;
use super::lock::Locked;
use super::m::M;
use super::pstatus::{NSTATUS, PStatus, Reason, StatusCell};
use super::runq::RunQueue;
use super::timers::TimerHeap;

pub(crate) const RUNQ_SIZE: usize = 256;

/// sysmon's private memory of what it last saw of a P (Go's sysmontick).
#[derive(Default)]
pub(crate) struct SysmonTick {
    pub(crate) schedtick: AtomicU32,
    pub(crate) schedwhen: AtomicI64,
    pub(crate) syscalltick: AtomicU32,
    pub(crate) syscallwhen: AtomicI64,
}

/// Counters kept per P so the hot path never shares a cache line between Ps.
#[derive(Default)]
pub(crate) struct PCounters {
    pub(crate) transitions: [[AtomicU64; NSTATUS]; NSTATUS],
    pub(crate) created: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) goscheds: AtomicU64,
    pub(crate) preemptions: AtomicU64,
    pub(crate) syscalls: AtomicU64,
}

pub(crate) struct P {
    pub(crate) id: u32,
    /// Written only by `pstatus` (the cell's value is private to it).
    pub(crate) status: StatusCell,
    /// The M holding this P while `_Prunning` (null otherwise).
    pub(crate) m: AtomicPtr<M>,
    /// The last M to change this P's status, for diagnostics.
    pub(crate) last_m: AtomicU64,
    pub(crate) last_reason: AtomicU8,
    /// When the status last changed, on the coarse monotonic clock (`coarse_now_ns`): it only
    /// has to say how long a P has been stuck, and a precise clock read on every transition
    /// would cost more than the transition.
    pub(crate) status_since: AtomicI64,
    pub(crate) on_idle_list: AtomicBool,
    pub(crate) runq: RunQueue<G, RUNQ_SIZE>,
    /// Incremented on every scheduling decision / syscall (sysmon watches them move).
    pub(crate) schedtick: AtomicU32,
    pub(crate) syscalltick: AtomicU32,
    pub(crate) sysmontick: SysmonTick,
    pub(crate) timers: Locked<TimerHeap>,
    /// Earliest timer deadline (0 = none), readable without the timer lock.
    pub(crate) timer0: AtomicI64,
    // Boxed: a G is addressed by raw pointer (GRef) and must never move.
    #[allow(clippy::vec_box)]
    gfree: UnsafeCell<Vec<Box<G>>>,
    pub(crate) counters: PCounters,
}

// SAFETY: `gfree` is touched only by the M owning the P (it holds it `_Prunning`, or the world
// is stopped); everything else is atomic or behind a Lock.
unsafe impl Sync for P {}
// SAFETY: as above.
unsafe impl Send for P {}

impl P {
    pub(crate) fn new(id: u32) -> P {
        P {
            id,
            status: StatusCell::new(),
            m: AtomicPtr::new(ptr::null_mut()),
            last_m: AtomicU64::new(0),
            last_reason: AtomicU8::new(0),
            status_since: AtomicI64::new(0),
            on_idle_list: AtomicBool::new(false),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            syscalltick: AtomicU32::new(0),
            sysmontick: SysmonTick::default(),
            timers: Locked::new(TimerHeap::default()),
            timer0: AtomicI64::new(0),
            gfree: UnsafeCell::new(Vec::new()),
            counters: PCounters::default(),
        }
    }

    #[inline]
    pub(crate) fn status(&self) -> PStatus {
        self.status.load()
    }

    /// Bookkeeping after a status change (called only by `pstatus::cas_status`).
    #[inline]
    pub(crate) fn note_transition(&self, from: PStatus, to: PStatus, m: u64, reason: Reason) {
        self.counters.transitions[from as usize][to as usize].fetch_add(1, Ordering::Relaxed);
        self.last_m.store(m, Ordering::Relaxed);
        self.last_reason.store(reason.into(), Ordering::Relaxed);
        self.status_since
            .store(super::coarse_now_ns(), Ordering::Relaxed);
    }

    /// The owner's goroutine free list.
    ///
    /// # Safety
    /// The caller is the M owning this P (or the world is stopped), and holds no other
    /// reference into the list.
    #[allow(clippy::mut_from_ref)]
    #[allow(clippy::vec_box)]
    pub(crate) unsafe fn gfree(&self) -> &mut Vec<Box<G>> {
        // SAFETY: exclusive access per the caller contract.
        unsafe { &mut *self.gfree.get() }
    }
}
