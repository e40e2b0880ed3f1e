//! `WaitGroup`: wait for a collection of goroutines to finish, after Go's `sync.WaitGroup`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sema::Sema;
use crate::sched::{self, WaitReason};

/// A counter of outstanding tasks; `wait` parks until it reaches zero.
///
/// Cloning makes another handle to the same group, to move into a goroutine. As in Go, calls
/// to `add` with a positive delta that start from zero must happen before `wait`, and a group
/// may be reused only after every `wait` of the previous round has returned.
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    /// High 32 bits: the counter (signed); low 32 bits: goroutines in `wait`. One word, so that
    /// "counter reached zero with waiters" is seen by exactly one `add`.
    state: AtomicU64,
    sema: Sema,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            state: AtomicU64::new(0),
            sema: Sema::new(),
        }
    }
}

impl WaitGroup {
    pub fn new() -> Self {
        WaitGroup::default()
    }

    /// Adds `delta` (which may be negative) to the counter; at zero, every `wait` returns.
    ///
    /// # Panics
    /// If the counter goes negative, or `delta` does not fit the 32-bit counter, or on the
    /// misuses Go detects (`add` racing with `wait` at zero, reuse before `wait` returned).
    pub fn add(&self, delta: i64) {
        let d = i32::try_from(delta).expect("sync: WaitGroup delta out of range");
        let inc = (i64::from(d) as u64) << 32;
        let state = self
            .inner
            .state
            .fetch_add(inc, Ordering::AcqRel)
            .wrapping_add(inc);
        let count = (state >> 32) as i32;
        let waiters = state as u32;
        if count < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if waiters != 0 && d > 0 && count == d {
            panic!("sync: WaitGroup misuse: add called concurrently with wait");
        }
        if count > 0 || waiters == 0 {
            return;
        }
        // Count is zero with waiters: nobody else can change the state now (an add racing
        // with this would be the misuse above), so reset it and release every waiter.
        if self.inner.state.load(Ordering::Relaxed) != state {
            panic!("sync: WaitGroup misuse: add called concurrently with wait");
        }
        self.inner.state.store(0, Ordering::Relaxed);
        for _ in 0..waiters {
            self.inner.sema.release();
        }
    }

    /// Decrements the counter by one.
    pub fn done(&self) {
        self.add(-1);
    }

    /// Parks the goroutine until the counter is zero.
    ///
    /// # Panics
    /// If it has to wait and the caller is not a goroutine.
    pub fn wait(&self) {
        sched::checkpoint();
        let mut state = self.inner.state.load(Ordering::Acquire);
        loop {
            if state >> 32 == 0 {
                return;
            }
            match self.inner.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.inner
                        .sema
                        .acquire(false, WaitReason::WaitGroup, "sync::WaitGroup::wait");
                    if self.inner.state.load(Ordering::Acquire) != 0 {
                        panic!("sync: WaitGroup is reused before previous wait has returned");
                    }
                    return;
                }
                Err(s) => state = s,
            }
        }
    }

    /// The current counter (racy by nature: for diagnostics).
    pub fn count(&self) -> i64 {
        i64::from((self.inner.state.load(Ordering::Relaxed) >> 32) as i32)
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}
