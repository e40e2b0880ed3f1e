//! Parking a goroutine on a runtime `Lock`: the one place chan and sync call into the scheduler.

use crate::sched::lock::Lock;
use crate::sched::{self, WaitReason};

/// `park`'s unlock callback for a single `Lock`.
///
/// # Safety
/// `lock` points to a `Lock` held by the goroutine that is parking.
unsafe fn unlock_one(lock: *const ()) -> bool {
    // SAFETY: the parking goroutine passed its held lock (contract above); the scheduler calls
    // this once, after the goroutine is off its stack, so the lock is still held and live (the
    // goroutine keeps a reference to the structure that owns it).
    unsafe { (*lock.cast::<Lock>()).unlock() };
    true
}

/// Parks the current goroutine and releases `lock` once it is off its stack, so that a waker
/// (which must take `lock` to find the waiter record) cannot ready it before it has parked.
///
/// # Safety
/// `lock` is held by the caller and is the only `Lock` it holds; a waiter record that lets
/// someone `ready` this goroutine is published under it.
pub(crate) unsafe fn park_unlocking(lock: &Lock, reason: WaitReason) {
    sched::park(Some((unlock_one, (lock as *const Lock).cast())), reason);
}

/// Refuses an operation that must park when the caller is not a goroutine: there is nothing to
/// park, and blocking the thread instead would silently stall a whole M. Call it with no `Lock`
/// held.
#[cold]
#[track_caller]
pub(crate) fn not_a_goroutine(op: &str) -> ! {
    panic!(
        "goro: {op} would block, but the caller is not a goroutine; \
         use the try_ variant or call it from a goroutine"
    )
}
