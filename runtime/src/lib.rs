//! goro: an M:N runtime for Rust built on Go's scheduler model.
//!
//! Goroutines (G) are stackful coroutines multiplexed onto OS threads (M) through a fixed set
//! of processors (P), with Go's run queues, work stealing, spinning threads, blocking-call
//! hand-off (`syscall`), sysmon, cooperative preemption and stop-the-world. The repository's
//! `docs/ARCHITECTURE.md` describes the model.
//!
//! ```
//! let sum = goro::Runtime::builder().procs(2).build().unwrap().block_on(|| {
//!     let hs: Vec<_> = (0..10u64).map(|i| goro::go(move || i * i)).collect();
//!     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(sum, 285);
//! ```
//!
//! # Goroutines migrate between threads
//! A goroutine may resume on another OS thread after any safepoint (a runtime call or
//! [`checkpoint`]). Thread-local state read before a safepoint may not be this thread's after
//! it, and a `!Send` value held across a safepoint crosses threads. This is inherent to every
//! stackful M:N runtime; goroutine code should keep thread-affine state out of goroutines.
//!
//! # Preemption is cooperative
//! A goroutine is preempted only at safepoints. A loop that never reaches one keeps its P and
//! delays stop-the-world; call [`checkpoint`] in long loops.

pub mod chan;
mod join;
mod runtime;
mod sched;
pub mod sync;

use std::time::Duration;

pub use join::JoinHandle;
pub use runtime::{Builder, DEFAULT_STACK_SIZE, Error, Inspector, Runtime};

/// Scheduler state snapshots for diagnostics, readable from any thread even when the runtime
/// is hung (see [`Runtime::inspector`]).
pub mod debug {
    pub use crate::sched::debug::{
        MSnapshot, PSnapshot, SchedSnapshot, StwSnapshot, TemplateSnapshot,
    };
}
pub use sched::MAX_PROCS;
pub use sched::stats::{PStats, Stats};
pub use sched::stw::{StwReason, WorldStopped, stop_the_world};

/// Starts a goroutine running `f`. It is queued on the current P to run next.
///
/// # Panics
/// Outside a goroutine (use [`Runtime::block_on`] to start the main one).
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let m = sched::preempt::safepoint().expect("goro::go called outside a goroutine");
    let p = m.p().expect("a running goroutine's M holds a P");
    let (handle, packet) = join::packet();
    m.sched().newproc(m, p, move || {
        packet.complete(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    handle
}

/// Yields the processor so other goroutines run; this one is queued again (Go's Gosched).
pub fn gosched() {
    sched::park::gosched();
}

/// A preemption safepoint: yields if the scheduler asked this goroutine to (sysmon after 10ms
/// on the CPU, or a pending stop-the-world). Nearly free otherwise; put it in long loops.
#[inline]
pub fn checkpoint() {
    sched::checkpoint();
}

/// Parks the current goroutine for at least `d`. Outside a goroutine it sleeps the thread.
pub fn sleep(d: Duration) {
    let Some(m) = sched::preempt::safepoint() else {
        std::thread::sleep(d);
        return;
    };
    let sched = m.sched();
    let when = sched
        .nanotime()
        .saturating_add(d.as_nanos().min(i64::MAX as u128) as i64);
    sched::timers::sleep_until(when);
}

/// Runs `f`, which may block the OS thread (a blocking system call, a C library call), without
/// holding up other goroutines: the P is released for the duration (`_Psyscall`) and sysmon
/// hands it to another thread if the call lasts (Go's entersyscall/exitsyscall).
///
/// `f` runs without a P: it must not call goro operations that park the goroutine (channel
/// operations that wait, `sleep`, `join`, ...). A `syscall` nested in `f` just runs its call.
///
/// # Panics
/// If the calling goroutine holds a [`WorldStopped`] guard: the goroutines a blocking call
/// could wait for are stopped. Release the guard first.
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    sched::syscall::syscall(f)
}

/// Sets the number of Ps (GOMAXPROCS) and returns the previous number. Ps beyond the new
/// count become `_Pdead`; their goroutines move to the others. Stops the world.
///
/// # Panics
/// Outside a goroutine, or if `n` is 0 or above [`MAX_PROCS`].
pub fn set_procs(n: usize) -> usize {
    assert!(
        (1..=MAX_PROCS).contains(&n),
        "goro::set_procs({n}): must be 1..={MAX_PROCS}"
    );
    let w = stop_the_world(StwReason::SetProcs);
    let m = sched::m::current_m().expect("on a goroutine");
    let sched = m.sched();
    let old = sched.procs();
    sched.inner.with(|s| s.newprocs = n as u32);
    drop(w);
    old
}

/// The current number of Ps (GOMAXPROCS), or 0 outside a goroutine.
pub fn procs() -> usize {
    sched::m::current_m().map_or(0, |m| m.sched().procs())
}

/// A consistent snapshot of the scheduler's counters, taken with the world stopped (the
/// analogue of Go's `runtime.ReadMemStats`).
///
/// # Panics
/// Outside a goroutine.
pub fn read_stats() -> Stats {
    let w = stop_the_world(StwReason::ReadStats);
    let m = sched::m::current_m().expect("on a goroutine");
    let s = m.sched().snapshot();
    drop(w);
    s
}

/// Same as [`read_stats`].
pub fn stats() -> Stats {
    read_stats()
}

/// Wires the calling goroutine to its OS thread (Go's LockOSThread): until a matching
/// [`unlock_os_thread`], it runs only on this thread and no other goroutine runs there. Calls
/// nest. A goroutine that exits while locked ends its thread, so a thread whose OS state was
/// changed (`unshare`, namespaces, cwd, ...) is never reused; threads the runtime creates while
/// a thread is locked come from a clean template thread, never cloned from the locked one.
///
/// # Panics
/// Outside a goroutine, or when the nesting count would overflow.
#[inline]
pub fn lock_os_thread() {
    sched::lockos::lock_os_thread();
}

/// Undoes one [`lock_os_thread`]; does nothing if the goroutine is not locked.
#[inline]
pub fn unlock_os_thread() {
    sched::lockos::unlock_os_thread();
}

/// The calling goroutine's thread lock counts: (external — `lock_os_thread` calls, internal —
/// the runtime's own). (0, 0) outside a goroutine.
pub fn lock_counts() -> (u32, u32) {
    sched::lockos::lock_counts()
}

/// The README's examples compile and run as doctests, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
