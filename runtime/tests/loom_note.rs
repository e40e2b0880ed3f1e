//! Model-checks the hand-off of a P to a parked M (`src/sched/note.rs`, compiled here as-is):
//! the waker stores the P in the M's `nextp` and wakes its note (`hand_over`); the M, woken by
//! a poke or a timeout with nothing in `nextp`, re-arms the note and looks again before it
//! sleeps (`take_handoff`). With loom, every interleaving and every value a load may read under
//! the memory model: a lost wake-up shows up as the M blocked forever (loom reports a deadlock).
//!
//! Before the fix, `Note::clear` was a plain store: the M's re-arm could land after the
//! waker's wake-up while its re-check of `nextp` still read null, and it slept forever on a P
//! that was on no list (the hang seen in 2 of ~216 fixed-mode runs). loom found that
//! interleaving in every model below.
//!
//! The futex is modelled by a mutex and a condition variable: a waiter re-reads the word under
//! the mutex before waiting, a waker notifies under it — the kernel's guarantee (a wake after
//! the word changed either finds the waiter queued or the waiter sees the new word). A timed
//! wait may return at any moment, so the models take "timed out" as "did not sleep".

use loom::sync::{Arc, Mutex};
use loom::thread;

/// `note.rs` takes its atomics from `super::atomics`; here `super` is this crate's root.
mod atomics {
    pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
}

mod futex {
    use super::atomics::{AtomicU32, Ordering};
    use std::time::Duration;

    loom::lazy_static! {
        static ref FUTEX: (loom::sync::Mutex<()>, loom::sync::Condvar) =
            (loom::sync::Mutex::new(()), loom::sync::Condvar::new());
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        if timeout.is_some() {
            return;
        }
        let g = FUTEX.0.lock().unwrap();
        if word.load(Ordering::SeqCst) == expected {
            drop(FUTEX.1.wait(g).unwrap());
        }
    }

    pub(crate) fn wake(_word: &AtomicU32, _n: i32) {
        let _g = FUTEX.0.lock().unwrap();
        FUTEX.1.notify_all();
    }
}

/// The runtime's `fatal` aborts; in a model, a panic fails the execution just as well.
fn fatal(msg: &str) -> ! {
    panic!("fatal: {msg}")
}

#[allow(dead_code)] // the models use the hand-off, not the timed sleep
#[rustfmt::skip] // formatted with the runtime sources, not with this test
#[path = "../src/sched/note.rs"]
mod note;

use atomics::AtomicPtr;
use note::Note;

/// The P being handed over (any non-null address).
static P: u64 = 7;

fn p() -> *mut u64 {
    &P as *const u64 as *mut u64
}

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// An M and what a waker can see of it: its note, its `nextp`, and whether it is on the idle
/// M list (under the scheduler lock, a mutex here).
struct Parked {
    park: Note,
    nextp: AtomicPtr<u64>,
    on_idle_list: Mutex<bool>,
}

impl Parked {
    fn new() -> Arc<Parked> {
        Arc::new(Parked {
            park: Note::new(),
            nextp: AtomicPtr::new(std::ptr::null_mut()),
            on_idle_list: Mutex::new(false),
        })
    }

    /// startm: take the M off the idle list if it is there; if so, hand it the P.
    fn startm(&self) -> bool {
        let took = std::mem::replace(&mut *self.on_idle_list.lock().unwrap(), false);
        if took {
            self.park.hand_over(&self.nextp, p());
        }
        took
    }

    /// stopm after its first sleep returned: the P, or None once it took itself off the list.
    fn stopm_after_wake(&self) -> Option<*mut u64> {
        self.park.take_handoff(&self.nextp, || {
            std::mem::replace(&mut *self.on_idle_list.lock().unwrap(), false)
        })
    }
}

/// stopm with a timeout (the timer-waiter M): it parks on the idle list and its sleep times
/// out while a startm takes it off the list and hands it a P. Whoever wins, the M ends up with
/// the P exactly when startm handed it one — never asleep with the P in `nextp`.
#[test]
fn timed_out_stopm_vs_startm() {
    model(|| {
        let m = Parked::new();
        let m2 = m.clone();
        let sleeper = thread::spawn(move || {
            m2.park.clear();
            *m2.on_idle_list.lock().unwrap() = true;
            // park.sleep_timeout(t): timed out before any wake-up.
            m2.stopm_after_wake()
        });
        let handed = m.startm();
        let got = sleeper.join().unwrap();
        assert_eq!(
            got.is_some(),
            handed,
            "P handed over: {handed}, taken: {got:?}"
        );
        if let Some(v) = got {
            assert_eq!(v, p());
        }
    });
}

/// stopm woken by a poke (a timer poke, a stale wake-up) while a startm hands it a P. The M
/// is already parked on the idle list (its note armed) when the others start.
#[test]
fn poked_stopm_vs_startm() {
    model(|| {
        let m = Parked::new();
        m.park.clear();
        *m.on_idle_list.lock().unwrap() = true;
        let (m2, m3) = (m.clone(), m.clone());
        let sleeper = thread::spawn(move || {
            m2.park.sleep();
            m2.stopm_after_wake()
        });
        let poker = thread::spawn(move || m3.park.wakeup());
        let handed = m.startm();
        poker.join().unwrap();
        let got = sleeper.join().unwrap();
        assert_eq!(
            got.is_some(),
            handed,
            "P handed over: {handed}, taken: {got:?}"
        );
    });
}

/// stoplockedm: the locked M sleeps (its note was armed before its goroutine became visible),
/// is woken spuriously, and startlockedm hands it a P. It must take the P, not sleep on it.
#[test]
fn poked_stoplockedm_vs_startlockedm() {
    model(|| {
        let m = Parked::new();
        let (m2, m3) = (m.clone(), m.clone());
        let sleeper = thread::spawn(move || {
            m2.park.sleep();
            m2.park.take_handoff(&m2.nextp, || false)
        });
        let poker = thread::spawn(move || m3.park.wakeup());
        m.park.hand_over(&m.nextp, p());
        poker.join().unwrap();
        assert_eq!(sleeper.join().unwrap(), Some(p()));
    });
}
