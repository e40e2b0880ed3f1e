//! `JoinHandle`: the result of a goroutine, like `std::thread::JoinHandle`.
//!
//! The goroutine stores its result (or its panic) and wakes the joiner, which is a parked
//! goroutine or a plain thread. A panic in a goroutine is caught at its top and travels to the
//! joiner as `Err(payload)`; it never unwinds into the scheduler.

use std::sync::Arc;
use std::thread::{self, Thread};

use crate::sched::lock::{Lock, Locked};
use crate::sched::{self, GRef, WaitReason};

enum Waiter {
    G(GRef),
    Thread(Thread),
}

struct State<T> {
    result: Option<thread::Result<T>>,
    done: bool,
    waiter: Option<Waiter>,
}

pub(crate) struct Packet<T> {
    state: Locked<State<T>>,
}

/// An owned permission to join a goroutine (wait for it to finish and take its result).
/// Dropping it detaches the goroutine.
pub struct JoinHandle<T> {
    packet: Arc<Packet<T>>,
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

pub(crate) fn packet<T>() -> (JoinHandle<T>, Arc<Packet<T>>) {
    let packet = Arc::new(Packet {
        state: Locked::new(State {
            result: None,
            done: false,
            waiter: None,
        }),
    });
    (
        JoinHandle {
            packet: packet.clone(),
        },
        packet,
    )
}

impl<T> Packet<T> {
    /// Called once, by the goroutine, as its last act.
    pub(crate) fn complete(&self, r: thread::Result<T>) {
        let waiter = self.state.with(|s| {
            s.result = Some(r);
            s.done = true;
            s.waiter.take()
        });
        match waiter {
            Some(Waiter::G(g)) => sched::ready(g),
            Some(Waiter::Thread(t)) => t.unpark(),
            None => {}
        }
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the goroutine to finish: parks the calling goroutine, or blocks the calling
    /// thread when called outside the runtime. `Err` carries the goroutine's panic payload.
    pub fn join(self) -> thread::Result<T> {
        sched::checkpoint();
        let st = &self.packet.state;
        let lock: &Lock = st.raw_lock();
        lock.lock();
        // SAFETY: `lock` is held; the reference is dropped before it is released.
        let s = unsafe { st.get_unchecked() };
        if s.done {
            let r = s.result.take().expect("result stored once");
            // SAFETY: held above.
            unsafe { lock.unlock() };
            return r;
        }
        match sched::current_g() {
            Some(g) => {
                s.waiter = Some(Waiter::G(g));
                sched::park(
                    Some((sched::park::unlock_lock, lock as *const Lock as *const ())),
                    WaitReason::Join,
                );
            }
            None => {
                s.waiter = Some(Waiter::Thread(thread::current()));
                // SAFETY: held above.
                unsafe { lock.unlock() };
                while !st.with(|s| s.done) {
                    thread::park();
                }
            }
        }
        st.with(|s| s.result.take())
            .expect("result stored before the wake-up")
    }

    /// Whether the goroutine has finished (`join` would not wait).
    pub fn is_finished(&self) -> bool {
        self.packet.state.with(|s| s.done)
    }
}
