//! A goroutine semaphore (the analogue of Go's `runtime_Semacquire`/`Semrelease`), the
//! sleeping half of `Mutex` and `WaitGroup`.
//!
//! A release with waiters queued hands its permit straight to the first of them rather than
//! counting it, so a newcomer can never take a permit a sleeper was woken for (Go's `handoff`,
//! always on): permits are granted in queue order.

use std::cell::Cell;
use std::ptr;

use super::park::{not_a_goroutine, park_unlocking};
use crate::sched::lock::Locked;
use crate::sched::{self, GRef, WaitReason};

pub(crate) struct Sema {
    /// Lock rules: held for a few steps only, never across park (the scheduler releases it
    /// once the waiter is off its stack) nor `ready` (called after release).
    state: Locked<State>,
}

struct State {
    /// Permits not yet taken; non-zero only while nobody waits.
    count: u32,
    head: *const SemaWaiter,
    tail: *const SemaWaiter,
}

// SAFETY: the raw pointers are to waiter records only touched under the lock (see SemaWaiter).
unsafe impl Send for State {}

/// A parked acquirer, on its own stack: alive until it is granted a permit and readied, and it
/// is only ever readied by the release that dequeued it.
struct SemaWaiter {
    g: GRef,
    next: Cell<*const SemaWaiter>,
    granted: Cell<bool>,
}

impl Sema {
    pub(crate) const fn new() -> Self {
        Sema {
            state: Locked::new(State {
                count: 0,
                head: ptr::null(),
                tail: ptr::null(),
            }),
        }
    }

    /// Takes a permit, parking until one is granted. `lifo` queues at the front: a waiter that
    /// already waited its turn and lost the race for the mutex goes first next time.
    ///
    /// # Panics
    /// If it has to wait and the caller is not a goroutine.
    pub(crate) fn acquire(&self, lifo: bool, reason: WaitReason, op: &str) {
        let g = sched::current_g();
        let lock = self.state.raw_lock();
        lock.lock();
        // SAFETY: lock held; this is the only reference to the state.
        let st = unsafe { self.state.get_unchecked() };
        if st.count > 0 {
            st.count -= 1;
            // SAFETY: we hold the lock.
            unsafe { lock.unlock() };
            return;
        }
        let Some(g) = g else {
            // SAFETY: we hold the lock.
            unsafe { lock.unlock() };
            not_a_goroutine(op);
        };
        let w = SemaWaiter {
            g,
            next: Cell::new(ptr::null()),
            granted: Cell::new(false),
        };
        if lifo {
            w.next.set(st.head);
            st.head = &w;
            if st.tail.is_null() {
                st.tail = &w;
            }
        } else {
            if st.tail.is_null() {
                st.head = &w;
            } else {
                // SAFETY: queued waiters are alive and only touched under the lock.
                unsafe { (*st.tail).next.set(&w) };
            }
            st.tail = &w;
        }
        // SAFETY: we hold only this lock; `w` stays in this frame until a release dequeues it
        // and readies us.
        unsafe { park_unlocking(lock, reason) };
        debug_assert!(
            w.granted.get(),
            "goro: semaphore waiter woken without a permit"
        );
    }

    /// Releases one permit, to the first waiter if there is one. Returns whether a goroutine
    /// was woken.
    pub(crate) fn release(&self) -> bool {
        let lock = self.state.raw_lock();
        lock.lock();
        // SAFETY: lock held; this is the only reference to the state.
        let st = unsafe { self.state.get_unchecked() };
        if st.head.is_null() {
            st.count += 1;
            // SAFETY: we hold the lock.
            unsafe { lock.unlock() };
            return false;
        }
        // SAFETY: a queued waiter is alive until readied, and only we can ready it now.
        let w = unsafe { &*st.head };
        st.head = w.next.get();
        if st.head.is_null() {
            st.tail = ptr::null();
        }
        w.granted.set(true);
        let g = w.g;
        // SAFETY: we hold the lock.
        unsafe { lock.unlock() };
        sched::ready(g);
        true
    }
}
