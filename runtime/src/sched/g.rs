//! Goroutines (G): a stackful coroutine plus the scheduling state Go keeps in `g`.
//!
//! A G is a heap object addressed by raw pointer (`GRef`). Ownership follows its status, as in
//! Go: a runnable G belongs to the run queue holding it; a running G to its M; a waiting G to
//! whatever it waits on (a channel's waiter queue, a timer, a join), which hands it back with
//! `ready`; a dead G to a free list, with its stack, to be reused by the next `go`.

use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use corosensei::{Coroutine, Yielder};

use super::Sched;
use super::m::M;
use super::stack::GStack;

/// G statuses, Go's numbering (`_Gidle` 0 and the GC-only ones are not used).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum GStatus {
    /// On a run queue, not running.
    Runnable = 1,
    /// Running on an M that holds a P.
    Running = 2,
    /// In a blocking call (`goro::syscall`); its M has no P.
    Syscall = 3,
    /// Parked: on a wait queue, a timer, or a join, until `ready`.
    Waiting = 4,
    /// Finished; on a free list.
    Dead = 6,
}

/// Why a goroutine parked (Go's `waitReason`), for diagnostics and deadlock reports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum WaitReason {
    // 0 is "not waiting" in `G::waitreason`.
    ChanSend = 1,
    ChanRecv,
    Select,
    SelectNoCases,
    Sleep,
    Join,
    WaitGroup,
    Mutex,
    Semacquire,
}

/// What a goroutine asks its M to do when it switches to the scheduler (the argument of
/// Go's `mcall`): the M acts on it on its own stack, after the goroutine's stack is quiet.
pub(crate) enum Switch {
    /// `gosched`: back to the global run queue.
    Gosched,
    /// A preemption request honoured at a safepoint: back to the global run queue.
    Preempted,
    /// Park; the scheduler calls `unlock(arg)` afterwards and resumes the G at once if it
    /// returns false (Go's `gopark(unlockf, lock)`).
    Park {
        unlock: Option<(UnlockFn, *const ())>,
        reason: WaitReason,
    },
    /// Returning from a syscall found no P: queue the G and stop the M (exitsyscall0).
    ExitSyscall,
}

pub(crate) type UnlockFn = unsafe fn(*const ()) -> bool;

pub(crate) type Coro = Coroutine<(), Switch, (), GStack>;

pub(crate) struct G {
    pub(crate) id: AtomicU64,
    /// The runtime this G belongs to (for `ready` from threads outside it).
    pub(crate) sched: AtomicPtr<Sched>,
    pub(crate) status: AtomicU32,
    /// A preemption request (sysmon, stop-the-world) and the G id it is for; honoured at the
    /// next safepoint unless the M holds `locks`.
    pub(crate) preempt: super::preempt::PreemptFlag,
    /// The M running this G (null unless running or in a syscall).
    pub(crate) m: AtomicPtr<M>,
    /// The M this G is wired to by LockOSThread (null if none): it runs only there.
    pub(crate) lockedm: AtomicPtr<M>,
    /// A word a waker leaves for the wakee (e.g. which select case won).
    pub(crate) param: AtomicUsize,
    pub(crate) waitreason: AtomicU8,
    /// The coroutine, touched only by the M that runs the G, between switches.
    coro: UnsafeCell<Option<Coro>>,
    /// The coroutine's yielder, valid while the coroutine runs; read only on the G's stack.
    yielder: Cell<*const Yielder<(), Switch>>,
    /// The stack of a dead G, kept for the next goroutine.
    spare_stack: UnsafeCell<Option<GStack>>,
    /// Bottom guard region of the current stack, for the stack overflow report.
    pub(crate) guard_lo: AtomicUsize,
    pub(crate) guard_hi: AtomicUsize,
}

// SAFETY: the Cell/UnsafeCell fields are touched only by the one M that currently owns the G
// (runs it, or is creating/destroying it); ownership moves between threads through the run
// queues and the scheduler lock, which order those accesses.
unsafe impl Sync for G {}
// SAFETY: as above.
unsafe impl Send for G {}

impl G {
    pub(crate) fn new(stack: GStack) -> Box<G> {
        Box::new(G {
            id: AtomicU64::new(0),
            sched: AtomicPtr::new(std::ptr::null_mut()),
            status: AtomicU32::new(GStatus::Dead as u32),
            preempt: super::preempt::PreemptFlag::new(),
            m: AtomicPtr::new(std::ptr::null_mut()),
            lockedm: AtomicPtr::new(std::ptr::null_mut()),
            param: AtomicUsize::new(0),
            waitreason: AtomicU8::new(0),
            coro: UnsafeCell::new(None),
            yielder: Cell::new(std::ptr::null()),
            spare_stack: UnsafeCell::new(Some(stack)),
            guard_lo: AtomicUsize::new(0),
            guard_hi: AtomicUsize::new(0),
        })
    }

    #[inline]
    pub(crate) fn status(&self) -> GStatus {
        match self.status.load(Ordering::Acquire) {
            1 => GStatus::Runnable,
            2 => GStatus::Running,
            3 => GStatus::Syscall,
            4 => GStatus::Waiting,
            _ => GStatus::Dead,
        }
    }

    #[inline]
    pub(crate) fn set_status(&self, s: GStatus) {
        self.status.store(s as u32, Ordering::Release);
    }

    /// Moves `from` → `to`; fatal if the G is not in `from` (Go's casgstatus throw).
    #[inline]
    pub(crate) fn cas_status(&self, from: GStatus, to: GStatus) {
        if self
            .status
            .compare_exchange(from as u32, to as u32, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            super::fatal(&format!(
                "goroutine {} is {:?}, expected {:?} (to {:?})",
                self.id.load(Ordering::Relaxed),
                self.status(),
                from,
                to
            ));
        }
    }

    /// Prepares a dead G to run `f` as goroutine `id` on its spare stack.
    ///
    /// # Safety
    /// The caller owns this dead G exclusively.
    pub(crate) unsafe fn start<F: FnOnce() + Send + 'static>(&self, sched: &Sched, id: u64, f: F) {
        self.sched
            .store(sched as *const Sched as *mut Sched, Ordering::Relaxed);
        // SAFETY: exclusive ownership of a dead G (caller contract).
        let stack = unsafe { (*self.spare_stack.get()).take() }.expect("dead G keeps its stack");
        let (lo, hi) = stack.guard_range();
        self.guard_lo.store(lo, Ordering::Relaxed);
        self.guard_hi.store(hi, Ordering::Relaxed);
        // The flag first, then the id with Release: a requester that reads the new id (Acquire)
        // cannot have its request wiped by this reset (see `PreemptFlag`).
        self.preempt.reset();
        self.id.store(id, Ordering::Release);
        self.param.store(0, Ordering::Relaxed);
        let me = GRef(NonNull::from(self));
        let coro = Coroutine::with_stack(stack, move |y: &Yielder<(), Switch>, ()| {
            // SAFETY: this runs on the G's own stack, by the M that owns it.
            me.get().yielder.set(y as *const _);
            f();
        });
        // SAFETY: exclusive ownership (caller contract); no coroutine is installed.
        unsafe { *self.coro.get() = Some(coro) };
        self.set_status(GStatus::Runnable);
    }

    /// Runs the G until it switches to the scheduler or finishes (`None`).
    ///
    /// # Safety
    /// Called only by the M that owns the G, on that M's own stack (g0), never re-entrantly.
    pub(crate) unsafe fn resume(&self) -> Option<Switch> {
        // SAFETY: the owning M is the only accessor of `coro` (caller contract).
        let coro = unsafe { (*self.coro.get()).as_mut() }.expect("runnable G has a coroutine");
        match coro.resume(()) {
            corosensei::CoroutineResult::Yield(sw) => Some(sw),
            corosensei::CoroutineResult::Return(()) => None,
        }
    }

    /// After the coroutine returned: keep its stack for reuse and mark the G dead.
    ///
    /// # Safety
    /// Called by the M that owns the G, after `resume` returned `None`.
    pub(crate) unsafe fn finish(&self) {
        // SAFETY: the owning M is the only accessor (caller contract).
        let coro = unsafe { (*self.coro.get()).take() }.expect("finished G has a coroutine");
        let stack = coro.into_stack();
        // SAFETY: as above.
        unsafe { *self.spare_stack.get() = Some(stack) };
        self.yielder.set(std::ptr::null());
        self.m.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.set_status(GStatus::Dead);
    }

    /// Switches from this G's stack to its M's scheduler, which acts on `sw`; returns when
    /// the G is resumed — possibly on another thread.
    ///
    /// # Safety
    /// Must run on this G's own stack.
    #[inline]
    pub(crate) unsafe fn mcall(&self, sw: Switch) {
        let y = self.yielder.get();
        debug_assert!(!y.is_null());
        // SAFETY: the yielder was set by this G's coroutine entry and stays valid while the
        // coroutine runs, which it does since we are on its stack (caller contract).
        unsafe { (*y).suspend(sw) }
    }
}

/// A goroutine's identity: a pointer to its G. Copy, Send, Sync; valid while the G is not
/// dead, which the park/ready protocol guarantees for every holder.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub(crate) struct GRef(pub(crate) NonNull<G>);

// SAFETY: a GRef is only an address; the G it names is Sync (see above).
unsafe impl Send for GRef {}
// SAFETY: as above.
unsafe impl Sync for GRef {}

impl GRef {
    #[inline]
    pub(crate) fn get(&self) -> &G {
        // SAFETY: Gs are never freed while the runtime lives (dead ones are pooled), and holders
        // of a GRef hold it only while the G is alive (the park/ready protocol).
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn id(self) -> u64 {
        self.get().id.load(Ordering::Relaxed)
    }

    pub(crate) fn set_param(self, v: usize) {
        self.get().param.store(v, Ordering::Release);
    }

    pub(crate) fn param(self) -> usize {
        self.get().param.load(Ordering::Acquire)
    }

    pub(crate) fn as_ptr(self) -> *mut G {
        self.0.as_ptr()
    }
}
