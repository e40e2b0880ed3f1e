//! `Lock`: the runtime's own mutex, the analogue of Go's `runtime.mutex`.
//!
//! Why not `std::sync::Mutex`: parking a goroutine hands a lock to the scheduler, which releases
//! it only after the goroutine has switched off its stack (Go's `gopark(unlockf, lock)`). That
//! needs a lock that can be released through a raw pointer, without a guard object living on
//! the goroutine's stack. `Lock` is a three-state futex mutex (Drepper, "Futexes are tricky"):
//! 0 unlocked, 1 locked, 2 locked with (possible) sleepers.
//!
//! Rules: a `Lock` is held only for short, non-blocking sections; never across a goroutine
//! switch, a park, or a call into user code. It blocks the *thread*, so a goroutine holding one
//! must not be preempted: code holding a `Lock` contains no safepoint.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};

use super::futex;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// Spins this many times before sleeping: critical sections are a few dozen instructions.
const SPIN: u32 = 100;

#[derive(Default)]
pub(crate) struct Lock {
    state: AtomicU32,
}

impl Lock {
    pub(crate) const fn new() -> Self {
        Lock {
            state: AtomicU32::new(UNLOCKED),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        for _ in 0..SPIN {
            std::hint::spin_loop();
            if self.state.load(Ordering::Relaxed) == UNLOCKED
                && self
                    .state
                    .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        // Announce a sleeper (2) before sleeping, so the unlocker knows to wake someone.
        while self.state.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            futex::wait(&self.state, CONTENDED, None);
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller holds the lock (acquired by `lock`/`try_lock` on any thread, and not yet
    /// released). Ownership may move between threads: goroutines migrate.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            futex::wake(&self.state, 1);
        }
    }

    pub(crate) fn guard(&self) -> LockGuard<'_> {
        self.lock();
        LockGuard { lock: self }
    }
}

pub(crate) struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: a guard exists only while its lock is held (created by `guard`).
        unsafe { self.lock.unlock() }
    }
}

/// Data protected by a `Lock`. Access goes through `with` (scoped) or, for the park protocol,
/// through `raw_lock`/`get_unchecked` with the lock's state tracked by hand.
pub(crate) struct Locked<T> {
    lock: Lock,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `lock`; T moves between threads with it, so Send is
// required, exactly as for std's Mutex.
unsafe impl<T: Send> Sync for Locked<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Locked<T> {}

impl<T> Locked<T> {
    pub(crate) const fn new(v: T) -> Self {
        Locked {
            lock: Lock::new(),
            data: UnsafeCell::new(v),
        }
    }

    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let _g = self.lock.guard();
        // SAFETY: the lock is held for the whole of `f`, so this is the only reference.
        f(unsafe { &mut *self.data.get() })
    }

    pub(crate) fn raw_lock(&self) -> &Lock {
        &self.lock
    }

    /// # Safety
    /// The caller holds `raw_lock()` and keeps no other reference to the data alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get_unchecked(&self) -> &mut T {
        // SAFETY: the caller holds the lock (contract above).
        unsafe { &mut *self.data.get() }
    }
}
