//! A goroutine mutex after Go's `sync.Mutex`: a contended `lock` parks the goroutine, not its
//! thread, and a waiter that waited over 1 ms switches the mutex into starvation mode.
//!
//! Normal mode: waiters queue FIFO, but a woken waiter competes with goroutines that are just
//! arriving (and are running already, so usually win) — good throughput. A waiter that loses
//! is requeued at the front. Starvation mode, entered once a waiter has waited longer than
//! `STARVATION_THRESHOLD`: unlock hands ownership straight to the first waiter; newcomers
//! neither take the mutex nor spin, they queue at the back. It ends when the waiter that gets
//! the mutex is the last one, or has waited less than the threshold.
//!
//! There is no poisoning (as in Go): a goroutine that panics with the guard held unlocks it.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::sema::Sema;
use crate::sched::{self, WaitReason};

const LOCKED: i32 = 1;
/// A waiter is awake (spinning or just woken) and will try for the lock: unlock need not wake
/// another.
const WOKEN: i32 = 2;
const STARVING: i32 = 4;
/// The rest of the state word counts the goroutines parked (or about to park) on the sema.
const WAITER_SHIFT: u32 = 3;
const ONE_WAITER: i32 = 1 << WAITER_SHIFT;

const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);
/// Spinning pays only while the owner runs on another CPU and is about to unlock.
const SPIN_ROUNDS: u32 = 4;
const SPIN_PAUSES: u32 = 30;

pub struct Mutex<T: ?Sized> {
    state: AtomicI32,
    sema: Sema,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to T to one goroutine at a time, on whatever thread it
// runs: T must be Send, as for std's Mutex.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Proof of holding the lock; unlocks when dropped.
#[must_use = "the mutex unlocks when the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// SAFETY: a shared guard gives &T; `Sync for T` is what makes that safe across threads.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    pub const fn new(v: T) -> Self {
        Mutex {
            state: AtomicI32::new(0),
            sema: Sema::new(),
            data: UnsafeCell::new(v),
        }
    }

    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the goroutine while another holds it.
    ///
    /// # Panics
    /// If it has to wait and the caller is not a goroutine.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        sched::checkpoint();
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        MutexGuard { mutex: self }
    }

    /// Locks the mutex if that needs no waiting; works anywhere.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Taken, or promised to a starving waiter.
            if old & (LOCKED | STARVING) != 0 {
                return None;
            }
            match self.state.compare_exchange_weak(
                old,
                old | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(MutexGuard { mutex: self }),
                Err(s) => old = s,
            }
        }
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[cold]
    fn lock_slow(&self) {
        let mut wait_start: Option<Instant> = None;
        let mut starving = false;
        let mut awoke = false;
        let mut spins = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin while it is held in normal mode: in starvation mode ownership goes to a
            // waiter, so spinning could not get it.
            if old & (LOCKED | STARVING) == LOCKED && can_spin(spins) {
                // Tell unlock not to wake a sleeper while we are awake to take the lock.
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(old, old | WOKEN, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    awoke = true;
                }
                for _ in 0..SPIN_PAUSES {
                    std::hint::spin_loop();
                }
                spins += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Newcomers do not take a starving mutex: it belongs to the first waiter.
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new = new.wrapping_add(ONE_WAITER);
            }
            // Switch to starvation mode only while it is locked: if the unlock already
            // happened, a starving flag with no owner-to-be would stall every newcomer.
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                assert!(new & WOKEN != 0, "goro: sync::Mutex state is inconsistent");
                new &= !WOKEN;
            }
            match self
                .state
                .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Err(s) => old = s,
                Ok(_) => {
                    if old & (LOCKED | STARVING) == 0 {
                        return; // Took it.
                    }
                    // A waiter that already waited goes back to the front of the queue.
                    let requeue = wait_start.is_some();
                    let start = *wait_start.get_or_insert_with(Instant::now);
                    self.sema
                        .acquire(requeue, WaitReason::Mutex, "sync::Mutex::lock");
                    starving = starving || start.elapsed() > STARVATION_THRESHOLD;
                    old = self.state.load(Ordering::Relaxed);
                    if old & STARVING != 0 {
                        // Ownership was handed to us; the state still says unlocked with us
                        // counted as a waiter. Fix both, and leave starvation mode if we were
                        // the last waiter or did not wait long: staying in it would force
                        // hand-offs with nobody starving, which is slow.
                        assert!(
                            old & (LOCKED | WOKEN) == 0 && old >> WAITER_SHIFT != 0,
                            "goro: sync::Mutex state is inconsistent"
                        );
                        let mut delta = LOCKED - ONE_WAITER;
                        if !starving || old >> WAITER_SHIFT == 1 {
                            delta -= STARVING;
                        }
                        self.state.fetch_add(delta, Ordering::Acquire);
                        return;
                    }
                    awoke = true;
                    spins = 0;
                }
            }
        }
    }

    /// # Safety
    /// The mutex is locked by the caller's guard, which is being dropped.
    unsafe fn unlock(&self) {
        let new = self.state.fetch_sub(LOCKED, Ordering::Release) - LOCKED;
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    #[cold]
    fn unlock_slow(&self, new: i32) {
        assert!(
            new.wrapping_add(LOCKED) & LOCKED != 0,
            "goro: unlock of an unlocked sync::Mutex"
        );
        if new & STARVING != 0 {
            // Hand ownership to the first waiter. LOCKED stays clear, but STARVING keeps
            // newcomers out until the waiter sets it.
            self.sema.release();
            return;
        }
        let mut old = new;
        loop {
            // Nobody to wake, or someone is already awake, or the lock was taken again.
            if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                return;
            }
            let new = old.wrapping_sub(ONE_WAITER) | WOKEN;
            match self
                .state
                .compare_exchange(old, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.sema.release();
                    return;
                }
                Err(s) => old = s,
            }
        }
    }
}

/// Spinning only helps on a machine with another CPU to run the owner.
fn can_spin(spins: u32) -> bool {
    static NCPU: AtomicUsize = AtomicUsize::new(0);
    if spins >= SPIN_ROUNDS {
        return false;
    }
    let mut n = NCPU.load(Ordering::Relaxed);
    if n == 0 {
        n = std::thread::available_parallelism().map_or(1, |n| n.get());
        NCPU.store(n, Ordering::Relaxed);
    }
    n > 1
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so no `&mut T` exists elsewhere.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and `&mut self` makes this the only
        // reference through it.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the lock and is going away.
        unsafe { self.mutex.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
