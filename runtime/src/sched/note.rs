//! `Note`: a one-shot sleep/wake-up event for one thread, Go's `note`.
//!
//! `sleep` returns once `wakeup` has been called — before or after the sleep began; `clear`
//! re-arms it. Exactly one thread sleeps on a note; any thread may wake it. This is how an M
//! parks (stopm), how the stop-the-world stopper waits, and how the template thread sleeps.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::futex;

pub(crate) struct Note {
    key: AtomicU32,
}

impl Note {
    pub(crate) const fn new() -> Self {
        Note {
            key: AtomicU32::new(0),
        }
    }

    /// Re-arms the note. Only the sleeper calls it, when no wake-up can be in flight for the
    /// previous use (the protocol that uses the note guarantees that).
    pub(crate) fn clear(&self) {
        self.key.store(0, Ordering::Relaxed);
    }

    pub(crate) fn wakeup(&self) {
        if self.key.swap(1, Ordering::Release) == 0 {
            futex::wake(&self.key, 1);
        }
    }

    pub(crate) fn sleep(&self) {
        while self.key.load(Ordering::Acquire) == 0 {
            futex::wait(&self.key, 0, None);
        }
    }

    /// Sleeps until woken or `timeout` passes; returns whether it was woken.
    pub(crate) fn sleep_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.key.load(Ordering::Acquire) != 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            futex::wait(&self.key, 0, Some(deadline - now));
        }
    }
}
