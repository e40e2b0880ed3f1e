//! `Note`: a one-shot sleep/wake-up event for one thread, Go's `note`; and the hand-off of a
//! value to a sleeping thread through a slot and a note (how a P reaches a parked M's `nextp`).
//!
//! `sleep` returns once `wakeup` has been called — before or after the sleep began; `clear`
//! re-arms it. Exactly one thread sleeps on a note; any thread may wake it. This is how an M
//! parks (stopm), how the stop-the-world stopper waits, and how the template thread sleeps.
//!
//! The hand-off (`hand_over` / `take_handoff`): the waker stores the value in the slot, then
//! wakes the note; the sleeper, woken with an empty slot (a poke, a timeout), re-arms the note
//! and looks at the slot again before sleeping. Re-arming is a read-modify-write, not a store:
//! a plain store of 0 could be ordered after the waker's wake-up (a store→load reorder on the
//! sleeper's side — x86-TSO allows it, and so does Rust's model), so the sleeper both missed
//! the value and erased the wake-up, and slept forever on a P nobody else could find. As an
//! RMW, `clear` either comes before the wake-up in the note's modification order (the wake-up
//! then sees 0 and wakes the futex) or after it, reading the waker's 1 with Acquire, which
//! makes the value stored before the wake-up visible to the sleeper's re-check. The loom model
//! `tests/loom_note.rs` checks this file as it is.

use std::time::{Duration, Instant};

use super::atomics::{AtomicPtr, AtomicU32, Ordering};
use super::futex;

pub(crate) struct Note {
    key: AtomicU32,
}

impl Note {
    pub(crate) fn new() -> Self {
        Note {
            key: AtomicU32::new(0),
        }
    }

    /// Re-arms the note. Only the sleeper calls it. A read-modify-write with Acquire (see the
    /// module comment): if a wake-up landed first, whatever its waker wrote before it is visible
    /// after this returns.
    pub(crate) fn clear(&self) {
        self.key.swap(0, Ordering::Acquire);
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

    /// The waker's half of a hand-off: puts `value` in `slot`, then wakes the sleeper. The
    /// caller owns the right to hand over (e.g. it took the sleeper off the idle list), so the
    /// slot is empty: a swap, so that a second hand-off to the same sleeper (a P lost in
    /// between) is a fatal error here rather than a hang later.
    pub(crate) fn hand_over<T>(&self, slot: &AtomicPtr<T>, value: *mut T) {
        let old = slot.swap(value, Ordering::AcqRel);
        if !old.is_null() {
            // The first value would be lost (a P on no list): a broken invariant, not an error
            // to unwind from — the waker may be sysmon, whose death nobody would notice.
            super::fatal("hand-off to a sleeper that already holds one");
        }
        self.wakeup();
    }

    /// The sleeper's half, after its first sleep returned: takes the value from `slot`, or
    /// returns None once `give_up()` says no hand-off is coming (asked each time the sleeper
    /// wakes with an empty slot). Between the two it re-arms the note and re-checks the slot
    /// before sleeping again, so a hand-off racing with a spurious wake-up is never lost. The
    /// note is left armed or set; callers clear it before their next sleep.
    pub(crate) fn take_handoff<T>(
        &self,
        slot: &AtomicPtr<T>,
        mut give_up: impl FnMut() -> bool,
    ) -> Option<*mut T> {
        loop {
            let v = slot.swap(std::ptr::null_mut(), Ordering::Acquire);
            if !v.is_null() {
                return Some(v);
            }
            if give_up() {
                return None;
            }
            self.clear();
            if slot.load(Ordering::Acquire).is_null() {
                self.sleep();
            }
        }
    }
}
