//! `select!`: wait on several channel operations and perform exactly one (Go's `selectgo`).
//!
//! 1. Poll the cases in a random order, so no ready case is favoured over another.
//! 2. Lock every channel involved, each once, in increasing address order — the one lock order
//!    of the runtime for holding several channel locks, so two selects never deadlock.
//! 3. Pass 1: the first case (in poll order) that can proceed now is performed. With none and
//!    a `default`, take the default.
//! 4. Pass 2: queue a sudog on every channel, all pointing to one `Waiter`, then park once; the
//!    scheduler releases all the locks after the goroutine is off its stack.
//! 5. The first waker to claim the `Waiter` (its `done` flag) performs its case; wakers of the
//!    other channels find it claimed and skip it. On wake, lock everything again and take the
//!    losing sudogs back out of their queues.

use std::cell::Cell;

use super::waitq::{Sudog, Waiter};
use super::{Receiver, RecvError, RecvPoll, SendError, SendPoll, Sender};
use crate::sched::lock::Lock;
use crate::sched::{self, GRef, WaitReason};
use crate::sync::park::not_a_goroutine;

/// One case of a select, whatever the channel's element type.
trait Selectable {
    /// The channel: its address orders the locks and identifies duplicates.
    fn chan_lock(&self) -> &Lock;

    /// Pass 1: performs the operation if it can proceed now. Returns the goroutine to ready
    /// once every lock is released (`Some(None)` when nobody needs waking), or `None` to wait.
    ///
    /// # Safety
    /// The channel lock is held.
    unsafe fn poll(&mut self) -> Option<Option<GRef>>;

    /// Pass 2: queues this case's sudog for `waiter`.
    ///
    /// # Safety
    /// The channel lock is held; `self` and `waiter` stay put until `unqueue` has run.
    unsafe fn enqueue(&mut self, waiter: &Waiter, case: usize);

    /// Takes the sudog back out of its queue if it is still there (a case that did not fire).
    ///
    /// # Safety
    /// The channel lock is held.
    unsafe fn unqueue(&mut self);

    /// Collects the result of the case that fired, from what its waker left in the sudog.
    fn complete(&mut self);
}

/// A receive case. Public only for `select!`.
pub struct RecvCase<'a, T> {
    rx: &'a Receiver<T>,
    sudog: Sudog<T>,
    result: Option<Result<T, RecvError>>,
}

/// A send case; holds the value until the case fires (it is dropped if another case fires).
/// Public only for `select!`.
pub struct SendCase<'a, T> {
    tx: &'a Sender<T>,
    /// The value to send lives in the sudog's slot from the start, so that a blocked send can
    /// be taken from there and a failed one given back from there.
    sudog: Sudog<T>,
    result: Option<Result<(), SendError<T>>>,
}

impl<'a, T> RecvCase<'a, T> {
    pub fn new(rx: &'a Receiver<T>) -> Self {
        RecvCase {
            rx,
            sudog: Sudog::new(None),
            result: None,
        }
    }

    pub fn case(&mut self) -> Case<'_> {
        Case(self)
    }

    /// The outcome, if this case fired.
    pub fn take_result(&mut self) -> Option<Result<T, RecvError>> {
        self.result.take()
    }
}

impl<'a, T> SendCase<'a, T> {
    pub fn new(tx: &'a Sender<T>, v: T) -> Self {
        SendCase {
            tx,
            sudog: Sudog::new(Some(v)),
            result: None,
        }
    }

    pub fn case(&mut self) -> Case<'_> {
        Case(self)
    }

    /// The outcome, if this case fired.
    pub fn take_result(&mut self) -> Option<Result<(), SendError<T>>> {
        self.result.take()
    }
}

impl<T> Selectable for RecvCase<'_, T> {
    fn chan_lock(&self) -> &Lock {
        self.rx.chan().lock()
    }

    unsafe fn poll(&mut self) -> Option<Option<GRef>> {
        // SAFETY: the channel lock is held (contract).
        match unsafe { self.rx.chan().poll_recv() } {
            RecvPoll::Done(v, wake) => {
                self.result = Some(Ok(v));
                Some(wake)
            }
            RecvPoll::Closed => {
                self.result = Some(Err(RecvError));
                Some(None)
            }
            RecvPoll::WouldBlock => None,
        }
    }

    unsafe fn enqueue(&mut self, waiter: &Waiter, case: usize) {
        self.sudog.arm(waiter, case);
        // SAFETY: lock held; the sudog stays put (contract).
        unsafe { self.rx.chan().enqueue_recv(&self.sudog) }
    }

    unsafe fn unqueue(&mut self) {
        // SAFETY: lock held; this sudog is only ever queued on this channel's receive queue.
        unsafe { self.rx.chan().remove_recv(&self.sudog) }
    }

    fn complete(&mut self) {
        // SAFETY: the case fired: its waker is done with the sudog and readied us.
        let v = unsafe { self.sudog.slot().take() };
        self.result = Some(v.ok_or(RecvError));
    }
}

impl<T> Selectable for SendCase<'_, T> {
    fn chan_lock(&self) -> &Lock {
        self.tx.chan().lock()
    }

    unsafe fn poll(&mut self) -> Option<Option<GRef>> {
        // SAFETY: the sudog is not queued: only we touch its slot.
        let slot = unsafe { self.sudog.slot() };
        let v = slot
            .take()
            .expect("goro: select send case polled without its value");
        // SAFETY: the channel lock is held (contract).
        match unsafe { self.tx.chan().poll_send(v) } {
            SendPoll::Done(wake) => {
                self.result = Some(Ok(()));
                Some(wake)
            }
            SendPoll::Closed(v) => {
                self.result = Some(Err(SendError(v)));
                Some(None)
            }
            SendPoll::WouldBlock(v) => {
                *slot = Some(v);
                None
            }
        }
    }

    unsafe fn enqueue(&mut self, waiter: &Waiter, case: usize) {
        self.sudog.arm(waiter, case);
        // SAFETY: lock held; the sudog stays put (contract).
        unsafe { self.tx.chan().enqueue_send(&self.sudog) }
    }

    unsafe fn unqueue(&mut self) {
        // SAFETY: lock held; this sudog is only ever queued on this channel's send queue.
        unsafe { self.tx.chan().remove_send(&self.sudog) }
    }

    fn complete(&mut self) {
        self.result = Some(if self.sudog.success() {
            Ok(())
        } else {
            // SAFETY: the case fired: its waker is done with the sudog and readied us.
            let v = unsafe { self.sudog.slot().take() };
            Err(SendError(
                v.expect("goro: failed select send lost its value"),
            ))
        });
    }
}

/// A type-erased select case. Public only for `select!`.
pub struct Case<'a>(&'a mut dyn Selectable);

/// Cases up to this many select without allocating.
const INLINE_CASES: usize = 16;

/// Runs a select over `cases`; returns the index of the case that fired, or `None` if none was
/// ready and `has_default`. Public only for `select!`.
///
/// # Panics
/// If it has to wait and the caller is not a goroutine.
pub fn select(cases: &mut [Case<'_>], has_default: bool) -> Option<usize> {
    let n = cases.len();
    if n == 0 {
        if has_default {
            return None;
        }
        block_forever();
    }
    // A safepoint even with a default: a loop of selects that never block must still let a
    // stop-the-world or sysmon preempt it (Go's selectnbsend/selectnbrecv are calls, and every
    // call's prologue is a preemption point).
    sched::checkpoint();
    let g = sched::current_g();

    let mut inline = [0usize; 2 * INLINE_CASES];
    let mut heap = Vec::new();
    let scratch: &mut [usize] = if n <= INLINE_CASES {
        &mut inline[..2 * n]
    } else {
        heap.resize(2 * n, 0);
        &mut heap
    };
    let (poll_order, lock_order) = scratch.split_at_mut(n);

    // A uniformly random permutation (Fisher–Yates, inside-out).
    for i in 0..n {
        let j = rand_below(i + 1);
        poll_order[i] = poll_order[j];
        poll_order[j] = i;
    }
    // Stable sort of a random permutation: cases on the same channel keep a random order.
    lock_order.copy_from_slice(poll_order);
    lock_order.sort_by_key(|&i| lock_addr(&cases[i]));

    lock_all(cases, lock_order);

    // Pass 1.
    for &i in poll_order.iter() {
        // SAFETY: every channel is locked.
        if let Some(wake) = unsafe { cases[i].0.poll() } {
            // SAFETY: we hold exactly these locks.
            unsafe { unlock_all(cases, lock_order) };
            if let Some(w) = wake {
                sched::ready(w);
            }
            return Some(i);
        }
    }
    if has_default {
        // SAFETY: we hold exactly these locks.
        unsafe { unlock_all(cases, lock_order) };
        return None;
    }
    let Some(g) = g else {
        // SAFETY: we hold exactly these locks.
        unsafe { unlock_all(cases, lock_order) };
        not_a_goroutine("select!");
    };

    // Pass 2. The list of distinct locks, in lock order, for the scheduler to release.
    let waiter = Waiter::new(g, true);
    let mut inline_locks = [std::ptr::null::<Lock>(); INLINE_CASES];
    let mut heap_locks = Vec::new();
    let locks: &mut [*const Lock] = if n <= INLINE_CASES {
        &mut inline_locks[..n]
    } else {
        heap_locks.resize(n, std::ptr::null());
        &mut heap_locks
    };
    let mut nlocks = 0;
    for &i in lock_order.iter() {
        let l: *const Lock = cases[i].0.chan_lock();
        if nlocks == 0 || locks[nlocks - 1] != l {
            locks[nlocks] = l;
            nlocks += 1;
        }
        // SAFETY: every channel is locked; `cases` and `waiter` stay in this frame, untouched,
        // until pass 3 has unqueued every sudog.
        unsafe { cases[i].0.enqueue(&waiter, i) };
    }
    let list = LockList {
        locks: locks.as_ptr(),
        len: nlocks,
    };
    sched::park(
        Some((unlock_list, (&list as *const LockList).cast())),
        WaitReason::Select,
    );

    // Pass 3: exactly one waker claimed us and filled in its case.
    lock_all(cases, lock_order);
    let fired = waiter.fired();
    for &i in lock_order.iter() {
        if i != fired {
            // SAFETY: every channel is locked.
            unsafe { cases[i].0.unqueue() };
        }
    }
    // SAFETY: we hold exactly these locks.
    unsafe { unlock_all(cases, lock_order) };
    assert!(fired < n, "goro: select woken without any case firing");
    cases[fired].0.complete();
    Some(fired)
}

/// A select with no cases (and no default) never proceeds (Go's `select {}`).
fn block_forever() -> ! {
    if sched::current_g().is_none() {
        not_a_goroutine("select! with no cases");
    }
    loop {
        sched::park(None, WaitReason::SelectNoCases);
    }
}

fn lock_addr(c: &Case<'_>) -> usize {
    c.0.chan_lock() as *const Lock as usize
}

fn lock_all(cases: &[Case<'_>], lock_order: &[usize]) {
    let mut last = std::ptr::null();
    for &i in lock_order {
        let l = cases[i].0.chan_lock();
        if !std::ptr::eq(l, last) {
            l.lock();
            last = l;
        }
    }
}

/// # Safety
/// The caller holds every lock `lock_all` took for the same arguments.
unsafe fn unlock_all(cases: &[Case<'_>], lock_order: &[usize]) {
    let mut last = std::ptr::null();
    for &i in lock_order {
        let l = cases[i].0.chan_lock();
        if !std::ptr::eq(l, last) {
            // SAFETY: held (contract); each distinct lock is visited once (sorted order).
            unsafe { l.unlock() };
            last = l;
        }
    }
}

/// The locks a parked select holds, for `unlock_list`. Lives on the selecting goroutine's stack.
struct LockList {
    locks: *const *const Lock,
    len: usize,
}

/// `park`'s unlock callback for a select (Go's `selparkcommit`).
///
/// # Safety
/// `list` points to a `LockList` of distinct locks held by the parked goroutine.
unsafe fn unlock_list(list: *const ()) -> bool {
    // Once a lock is released the goroutine may be readied and resume, but it cannot leave
    // `select` (freeing the list) before it takes every lock again, so the list stays valid
    // until the last unlock — after which it must not be read.
    // SAFETY: contract above; read before any unlock.
    let (locks, len) = unsafe {
        (
            (*list.cast::<LockList>()).locks,
            (*list.cast::<LockList>()).len,
        )
    };
    for i in 0..len {
        // SAFETY: entry i is read while lock len-1 is still held, so the array is alive.
        let l = unsafe { *locks.add(i) };
        // SAFETY: the goroutine holds it and handed it to us; each distinct lock appears once.
        unsafe { (*l).unlock() };
    }
    true
}

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        use std::hash::{BuildHasher, RandomState};
        // A per-thread random seed; odd so the generator below never sticks.
        RandomState::new().hash_one(std::thread::current().id()) | 1
    });
}

/// A uniform-enough integer in `0..n` (wyrand); quality for fairness, not for secrets.
fn rand_below(n: usize) -> usize {
    RNG.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        let r = ((t >> 64) as u64) ^ (t as u64);
        ((u128::from(r) * n as u128) >> 64) as usize
    })
}

#[doc(hidden)]
pub mod __private {
    pub use super::{Case, RecvCase, SendCase, select};
}

/// Waits on several channel operations and performs exactly one of them, like Go's `select`.
///
/// ```
/// use goro::chan::bounded;
///
/// goro::Runtime::builder().procs(2).build().unwrap().block_on(|| {
///     let (work_tx, work_rx) = bounded::<u32>(0);
///     let (quit_tx, quit_rx) = bounded::<()>(0);
///     let worker = goro::go(move || {
///         let mut sum = 0;
///         loop {
///             goro::select! {
///                 recv(work_rx) -> job => sum += job.unwrap(),
///                 recv(quit_rx) -> _ => return sum,
///             }
///         }
///     });
///     for job in 1..=3 {
///         work_tx.send(job).unwrap();
///     }
///     quit_tx.close();
///     assert_eq!(worker.join().unwrap(), 6);
///
///     // With `default`, a select never waits.
///     let (tx, rx) = bounded::<u32>(1);
///     let sent = goro::select! {
///         send(tx, 1) -> res => res.is_ok(),
///         default => false,
///     };
///     assert!(sent, "there was room");
///     let sent = goro::select! {
///         send(tx, 2) -> res => res.is_ok(),
///         default => false,
///     };
///     assert!(!sent, "the buffer is full");
///     assert_eq!(rx.recv(), Ok(1));
/// });
/// ```
///
/// Cases: `recv(rx) -> pattern => body` binds a `Result<T, RecvError>` (`Err` once the channel
/// is closed and drained); `send(tx, value) -> pattern => body` binds a
/// `Result<(), SendError<T>>` (`Err` gives the value back if the channel is closed); at most one
/// `default => body`, taken when no other case is ready, makes the select non-blocking. When
/// several cases are ready one is chosen at random. Every send value is evaluated up front; a
/// value whose case does not fire is dropped. With no cases and no default the goroutine parks
/// forever. Bodies run after the select, so they may use `break`, `continue`, `return` and `?`.
///
/// # Panics
/// If it has to wait and the caller is not a goroutine.
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select_internal!(@parse [] () $($tokens)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_internal {
    // Parsing: each case becomes `(recv (rx) pat => body)` or `(send (tx) (v) pat => body)`.
    (@parse [$($cases:tt)*] $default:tt) => {
        $crate::__select_internal!(@bind [$($cases)*] [] $default)
    };
    (@parse [$($cases:tt)*] $default:tt
        recv($rx:expr $(,)?) -> $res:pat => $body:block , $($rest:tt)*) => {
        $crate::__select_internal!(@parse [$($cases)* (recv ($rx) $res => $body)] $default $($rest)*)
    };
    (@parse [$($cases:tt)*] $default:tt
        recv($rx:expr $(,)?) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__select_internal!(@parse [$($cases)* (recv ($rx) $res => $body)] $default $($rest)*)
    };
    (@parse [$($cases:tt)*] $default:tt
        recv($rx:expr $(,)?) -> $res:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_internal!(@parse [$($cases)* (recv ($rx) $res => { $body })] $default $($($rest)*)?)
    };
    (@parse [$($cases:tt)*] $default:tt
        send($tx:expr, $v:expr $(,)?) -> $res:pat => $body:block , $($rest:tt)*) => {
        $crate::__select_internal!(@parse [$($cases)* (send ($tx) ($v) $res => $body)] $default $($rest)*)
    };
    (@parse [$($cases:tt)*] $default:tt
        send($tx:expr, $v:expr $(,)?) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__select_internal!(@parse [$($cases)* (send ($tx) ($v) $res => $body)] $default $($rest)*)
    };
    (@parse [$($cases:tt)*] $default:tt
        send($tx:expr, $v:expr $(,)?) -> $res:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_internal!(@parse [$($cases)* (send ($tx) ($v) $res => { $body })] $default $($($rest)*)?)
    };
    (@parse [$($cases:tt)*] () default => $body:block , $($rest:tt)*) => {
        $crate::__select_internal!(@parse [$($cases)*] ($body) $($rest)*)
    };
    (@parse [$($cases:tt)*] () default => $body:block $($rest:tt)*) => {
        $crate::__select_internal!(@parse [$($cases)*] ($body) $($rest)*)
    };
    (@parse [$($cases:tt)*] () default => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_internal!(@parse [$($cases)*] ({ $body }) $($($rest)*)?)
    };
    (@parse [$($cases:tt)*] ($($default:tt)+) default $($rest:tt)*) => {
        ::core::compile_error!("select!: more than one `default` case")
    };
    (@parse [$($cases:tt)*] $default:tt $($rest:tt)+) => {
        ::core::compile_error!(
            "select!: expected `recv(rx) -> res => body`, `send(tx, value) -> res => body` or `default => body`"
        )
    };

    // Binding: each case object gets its own hygienic `__case` in a nested block; the list of
    // those names travels along so the last step can name them all.
    (@bind [(recv ($rx:expr) $res:pat => $body:block) $($rest:tt)*] [$($done:tt)*] $default:tt) => {{
        let __rx: &$crate::chan::Receiver<_> = &$rx;
        let mut __case = $crate::chan::__private::RecvCase::new(__rx);
        $crate::__select_internal!(@bind [$($rest)*] [$($done)* (__case $res => $body)] $default)
    }};
    (@bind [(send ($tx:expr) ($v:expr) $res:pat => $body:block) $($rest:tt)*] [$($done:tt)*] $default:tt) => {{
        let __tx: &$crate::chan::Sender<_> = &$tx;
        let mut __case = $crate::chan::__private::SendCase::new(__tx, $v);
        $crate::__select_internal!(@bind [$($rest)*] [$($done)* (__case $res => $body)] $default)
    }};
    (@bind [] [$(($case:ident $res:pat => $body:block))*] ()) => {{
        let _ = $crate::chan::__private::select(&mut [$($case.case()),*], false);
        $(
            if let ::core::option::Option::Some(__result) = $case.take_result() {
                let $res = __result;
                $body
            } else
        )* {
            ::core::unreachable!("select!: returned without firing a case")
        }
    }};
    (@bind [] [$(($case:ident $res:pat => $body:block))*] ($default:block)) => {{
        let _ = $crate::chan::__private::select(&mut [$($case.case()),*], true);
        $(
            if let ::core::option::Option::Some(__result) = $case.take_result() {
                let $res = __result;
                $body
            } else
        )* $default
    }};
}
