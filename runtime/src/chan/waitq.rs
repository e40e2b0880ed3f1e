//! Waiter records for blocked channel operations: Go's `sudog` and `waitq`.
//!
//! A blocked goroutine owns one `Waiter` and one `Sudog` per channel operation it waits on (one
//! for a plain send or receive, one per case for a select). Both live on the blocked
//! goroutine's stack: goroutine stacks never move, and the frame stays alive while it is parked
//! because the goroutine cannot return before it is made runnable and has taken its records
//! back out of every queue.
//!
//! Ownership while queued: a `Sudog` linked into a channel's queue belongs to whoever holds that
//! channel's lock. A waker takes it out with `WaitQ::dequeue`, which also *claims* the waiter
//! (for a select, the first claim wins — Go's `selectDone`); it then fills in the sudog and
//! calls `ready` on the owner only after releasing the channel lock, and touches neither record
//! after that `ready`.

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sched::GRef;

/// The blocked goroutine, shared by all its sudogs (several for a select).
pub(crate) struct Waiter {
    pub(crate) g: GRef,
    /// Only a select can be claimed by several channels at once; plain operations skip the CAS.
    is_select: bool,
    /// Set by the one waker that wins this waiter: wakers of different channels hold different
    /// locks, so this flag, not a lock, decides which case of a select fires.
    done: AtomicBool,
}

impl Waiter {
    pub(crate) fn new(g: GRef, is_select: bool) -> Self {
        Waiter {
            g,
            is_select,
            done: AtomicBool::new(false),
        }
    }

    /// Tries to become the one waker of this waiter.
    fn claim(&self, case: usize) -> bool {
        if self.is_select
            && self
                .done
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        // The goroutine's param word (Go's `gp.param`): which case woke it.
        self.g.set_param(case);
        true
    }

    /// The case that woke the owner; only meaningful after the owner was readied.
    pub(crate) fn fired(&self) -> usize {
        self.g.param()
    }
}

/// One blocked operation on one channel.
pub(crate) struct Sudog<T> {
    waiter: Cell<*const Waiter>,
    /// Which select case this is (0 for a plain operation).
    case: Cell<usize>,
    /// A sender's value waiting to be taken, or the place a receiver's value is delivered.
    slot: UnsafeCell<Option<T>>,
    /// Set by the waker: true if a value moved, false if the channel closed (Go's
    /// `sudog.success`).
    success: Cell<bool>,
    queued: Cell<bool>,
    prev: Cell<*const Sudog<T>>,
    next: Cell<*const Sudog<T>>,
}

impl<T> Sudog<T> {
    pub(crate) fn new(slot: Option<T>) -> Self {
        Sudog {
            waiter: Cell::new(ptr::null()),
            case: Cell::new(0),
            slot: UnsafeCell::new(slot),
            success: Cell::new(false),
            queued: Cell::new(false),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
        }
    }

    /// Binds the sudog to its waiter before it is queued.
    pub(crate) fn arm(&self, waiter: &Waiter, case: usize) {
        self.waiter.set(waiter);
        self.case.set(case);
        self.success.set(false);
    }

    pub(crate) fn success(&self) -> bool {
        self.success.get()
    }

    pub(crate) fn set_success(&self, ok: bool) {
        self.success.set(ok);
    }

    /// # Safety
    /// Nobody else accesses the slot: either the sudog is not queued and its owner is the
    /// caller, or it was dequeued (claimed) by the caller under the channel lock and its owner
    /// is still parked.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slot(&self) -> &mut Option<T> {
        // SAFETY: exclusive access is the caller's contract above.
        unsafe { &mut *self.slot.get() }
    }

    /// The owner of a dequeued sudog.
    ///
    /// # Safety
    /// The sudog was claimed by the caller and its owner has not been readied yet, so the
    /// waiter it points to is alive.
    pub(crate) unsafe fn waiter_g(&self) -> GRef {
        // SAFETY: the waiter outlives its queued sudogs (module docs), and the owner stays
        // parked until the caller readies it.
        unsafe { (*self.waiter.get()).g }
    }

    /// Reuses the `next` link of a dequeued sudog to chain sudogs to wake after unlocking.
    pub(crate) fn set_next_woken(&self, next: *const Sudog<T>) {
        self.next.set(next);
    }

    pub(crate) fn next_woken(&self) -> *const Sudog<T> {
        self.next.get()
    }
}

/// A FIFO queue of blocked operations (Go's `waitq`): an intrusive doubly linked list, so that
/// a select can take its sudog out of the middle.
pub(crate) struct WaitQ<T> {
    first: *const Sudog<T>,
    last: *const Sudog<T>,
}

impl<T> WaitQ<T> {
    pub(crate) const fn new() -> Self {
        WaitQ {
            first: ptr::null(),
            last: ptr::null(),
        }
    }

    /// # Safety
    /// The channel lock is held, `sg` is armed, not queued, and stays at its address until it is
    /// dequeued.
    pub(crate) unsafe fn enqueue(&mut self, sg: &Sudog<T>) {
        sg.next.set(ptr::null());
        sg.prev.set(self.last);
        sg.queued.set(true);
        if self.last.is_null() {
            self.first = sg;
        } else {
            // SAFETY: `last` is queued, hence alive (module docs); the lock is held.
            unsafe { (*self.last).next.set(sg) };
        }
        self.last = sg;
    }

    /// Takes the first waiter that can still be woken and claims it for the caller; sudogs of
    /// a select that another channel already won are dropped from the queue on the way (their
    /// owner's clean-up pass finds them unqueued).
    ///
    /// # Safety
    /// The channel lock is held.
    pub(crate) unsafe fn dequeue(&mut self) -> Option<&Sudog<T>> {
        while !self.first.is_null() {
            // SAFETY: a queued sudog is alive while the lock is held (module docs). The
            // returned reference is used by the caller under the same lock, and until it
            // readies the owner.
            let sg = unsafe { &*self.first };
            // SAFETY: lock held, `sg` is queued.
            unsafe { self.unlink(sg) };
            // SAFETY: the waiter outlives every sudog still queued.
            let waiter = unsafe { &*sg.waiter.get() };
            if waiter.claim(sg.case.get()) {
                return Some(sg);
            }
        }
        None
    }

    /// Removes `sg` if it is still queued (a select cleaning up its losing cases).
    ///
    /// # Safety
    /// The channel lock is held and `sg` was only ever queued on this queue.
    pub(crate) unsafe fn remove(&mut self, sg: &Sudog<T>) {
        if sg.queued.get() {
            // SAFETY: forwarded contract; it is queued here.
            unsafe { self.unlink(sg) };
        }
    }

    /// # Safety
    /// The lock is held and `sg` is queued on this queue.
    unsafe fn unlink(&mut self, sg: &Sudog<T>) {
        let prev = sg.prev.get();
        let next = sg.next.get();
        if prev.is_null() {
            self.first = next;
        } else {
            // SAFETY: neighbours of a queued sudog are queued, hence alive.
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.last = prev;
        } else {
            // SAFETY: as above.
            unsafe { (*next).prev.set(prev) };
        }
        sg.prev.set(ptr::null());
        sg.next.set(ptr::null());
        sg.queued.set(false);
    }
}
