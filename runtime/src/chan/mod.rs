//! Go channels for goroutines: multi-producer, multi-consumer, buffered or unbuffered, with
//! close, and `select!` over any mix of sends and receives.
//!
//! The algorithm is Go's `chan.go`: one lock per channel, a ring buffer, and two FIFO queues of
//! blocked operations. A send first hands its value straight to the longest-waiting receiver,
//! else buffers it, else parks; a receive first takes from the longest-waiting sender (through
//! the buffer when there is one, so order is kept), else from the buffer, else parks. Blocked
//! goroutines are parked, never their threads.
//!
//! Differences from Go, all because Rust values have owners: a send on a closed channel
//! returns the value in `Err` instead of panicking; closing twice returns `false` instead of
//! panicking; the channel closes when its last `Sender` is dropped, and sends fail (and buffered
//! values are dropped) once its last `Receiver` is dropped, since nobody could ever take them.
//!
//! Blocking operations (`send`, `recv`, `select!` without `default`) must run on a goroutine
//! when they have to wait; on a plain thread they panic instead of blocking it. The `try_`
//! operations never block and work anywhere, and so does a `select!` with `default`.
//!
//! ```
//! goro::Runtime::builder().procs(2).build().unwrap().block_on(|| {
//!     let (tx, rx) = goro::chan::bounded::<u64>(16);
//!     let producers: Vec<_> = (0..4)
//!         .map(|p| {
//!             let tx = tx.clone();
//!             goro::go(move || (0..100).for_each(|i| tx.send(p * 100 + i).unwrap()))
//!         })
//!         .collect();
//!     drop(tx); // The channel closes when the producers' clones are gone too.
//!     let total: u64 = rx.iter().sum(); // Receives until closed and drained.
//!     assert_eq!(total, (0..400).sum());
//!     producers.into_iter().for_each(|h| h.join().unwrap());
//! });
//! ```

mod error;
mod select;
mod waitq;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use error::{RecvError, SendError, TryRecvError, TrySendError};
#[doc(hidden)]
pub use select::__private;

use crate::sched::lock::Lock;
use crate::sched::{self, GRef, WaitReason};
use crate::sync::park::{not_a_goroutine, park_unlocking};
use waitq::{Sudog, WaitQ, Waiter};

/// Capacity of an unbounded channel: a buffer that never fills.
const UNBOUNDED: usize = usize::MAX;

/// Creates a channel holding up to `cap` values; `cap == 0` makes an unbuffered channel, on
/// which a send completes only once a receiver has taken the value (a rendezvous).
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    Chan::new_pair(cap)
}

/// Creates a channel whose sends never block.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    Chan::new_pair(UNBOUNDED)
}

/// The shared channel (Go's `hchan`).
///
/// Lock rules:
/// - `lock` protects all of `state`, and every `Sudog` while it is linked into `recvq` or
///   `sendq` (its slot, success flag and links).
/// - It is held only for the few steps of one operation: never across a park (parking hands it
///   to the scheduler, which releases it once the goroutine is off its stack), never while
///   calling `ready` (wakers collect goroutines under the lock and ready them after releasing
///   it), never while running user code — no value is dropped under it.
/// - A goroutine holds several channel locks only in `select`, which takes them in increasing
///   address order, each channel once; no other code nests them.
/// - No safepoint (checkpoint) runs while it is held: it blocks the thread, not the goroutine.
pub(crate) struct Chan<T> {
    lock: Lock,
    state: std::cell::UnsafeCell<State<T>>,
    cap: usize,
    /// Live `Sender` / `Receiver` handles; the last one of a kind disconnects that side.
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

struct State<T> {
    /// The ring buffer; never longer than `cap`.
    buf: VecDeque<T>,
    /// Set once by `close` or by the last `Sender` going away. When set, `sendq` is empty.
    closed: bool,
    /// Set once by the last `Receiver` going away. When set, `sendq` and `buf` are empty.
    no_receivers: bool,
    /// Blocked receivers; non-empty only while `buf` is empty.
    recvq: WaitQ<T>,
    /// Blocked senders; non-empty only while `buf` is full and the channel is open.
    sendq: WaitQ<T>,
}

// SAFETY: the state (including the raw pointers to waiters' sudogs) is only touched with `lock`
// held, so the channel is a mutex around values of T that move between threads: T: Send.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<T> {}

/// Outcome of a send attempt made with the lock held.
pub(crate) enum SendPoll<T> {
    /// Sent; the receiver to ready once the lock is released, if the value went to one.
    Done(Option<GRef>),
    Closed(T),
    WouldBlock(T),
}

/// Outcome of a receive attempt made with the lock held.
pub(crate) enum RecvPoll<T> {
    /// Received; the sender to ready once the lock is released, if one was unblocked.
    Done(T, Option<GRef>),
    Closed,
    WouldBlock,
}

impl<T> Chan<T> {
    fn new_pair(cap: usize) -> (Sender<T>, Receiver<T>) {
        let chan = Arc::new(Chan {
            lock: Lock::new(),
            state: std::cell::UnsafeCell::new(State {
                // An unbounded or very large channel grows its buffer on demand.
                buf: VecDeque::with_capacity(cap.min(1024)),
                closed: false,
                no_receivers: false,
                recvq: WaitQ::new(),
                sendq: WaitQ::new(),
            }),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        });
        (Sender { chan: chan.clone() }, Receiver { chan })
    }

    pub(crate) fn lock(&self) -> &Lock {
        &self.lock
    }

    /// # Safety
    /// `lock` is held and no other reference to the state is alive.
    #[allow(clippy::mut_from_ref)]
    unsafe fn state(&self) -> &mut State<T> {
        // SAFETY: the caller holds the lock (contract above).
        unsafe { &mut *self.state.get() }
    }

    /// Go's `chansend` fast steps: hand off to a waiting receiver, else buffer.
    ///
    /// # Safety
    /// `lock` is held.
    pub(crate) unsafe fn poll_send(&self, v: T) -> SendPoll<T> {
        // SAFETY: lock held (contract).
        let st = unsafe { self.state() };
        if st.closed || st.no_receivers {
            return SendPoll::Closed(v);
        }
        // SAFETY: lock held.
        if let Some(sg) = unsafe { st.recvq.dequeue() } {
            // SAFETY: we claimed `sg` under the lock and its owner is parked until we ready it.
            unsafe {
                *sg.slot() = Some(v);
                sg.set_success(true);
                return SendPoll::Done(Some(sg.waiter_g()));
            }
        }
        if st.buf.len() < self.cap {
            st.buf.push_back(v);
            return SendPoll::Done(None);
        }
        SendPoll::WouldBlock(v)
    }

    /// Go's `chanrecv` fast steps: take from a waiting sender (through the buffer when it is
    /// full, to keep FIFO order), else from the buffer; a closed channel is drained first.
    ///
    /// # Safety
    /// `lock` is held.
    pub(crate) unsafe fn poll_recv(&self) -> RecvPoll<T> {
        // SAFETY: lock held (contract).
        let st = unsafe { self.state() };
        // SAFETY: lock held.
        if let Some(sg) = unsafe { st.sendq.dequeue() } {
            // SAFETY: we claimed `sg` under the lock and its owner is parked until we ready it.
            let sent = unsafe { sg.slot().take() }.expect("goro: blocked sender without a value");
            sg.set_success(true);
            // A sender waits only when the buffer is full (or absent): its value goes behind
            // the buffered ones, and we take the oldest.
            let v = match st.buf.pop_front() {
                Some(head) => {
                    st.buf.push_back(sent);
                    head
                }
                None => sent,
            };
            // SAFETY: as above; `sg` is not readied yet.
            return RecvPoll::Done(v, Some(unsafe { sg.waiter_g() }));
        }
        if let Some(v) = st.buf.pop_front() {
            return RecvPoll::Done(v, None);
        }
        if st.closed {
            RecvPoll::Closed
        } else {
            RecvPoll::WouldBlock
        }
    }

    /// # Safety
    /// `lock` is held; `sg` is armed and stays put until dequeued.
    pub(crate) unsafe fn enqueue_send(&self, sg: &Sudog<T>) {
        // SAFETY: forwarded.
        unsafe { self.state().sendq.enqueue(sg) }
    }

    /// # Safety
    /// As `enqueue_send`.
    pub(crate) unsafe fn enqueue_recv(&self, sg: &Sudog<T>) {
        // SAFETY: forwarded.
        unsafe { self.state().recvq.enqueue(sg) }
    }

    /// # Safety
    /// `lock` is held; `sg` was queued only on this channel's send queue.
    pub(crate) unsafe fn remove_send(&self, sg: &Sudog<T>) {
        // SAFETY: forwarded.
        unsafe { self.state().sendq.remove(sg) }
    }

    /// # Safety
    /// `lock` is held; `sg` was queued only on this channel's receive queue.
    pub(crate) unsafe fn remove_recv(&self, sg: &Sudog<T>) {
        // SAFETY: forwarded.
        unsafe { self.state().recvq.remove(sg) }
    }

    fn send(&self, v: T) -> Result<(), SendError<T>> {
        sched::checkpoint();
        let g = sched::current_g();
        self.lock.lock();
        // SAFETY: lock held.
        let v = match unsafe { self.poll_send(v) } {
            SendPoll::Done(wake) => {
                // SAFETY: we hold the lock.
                unsafe { self.lock.unlock() };
                if let Some(r) = wake {
                    sched::ready(r);
                }
                return Ok(());
            }
            SendPoll::Closed(v) => {
                // SAFETY: we hold the lock.
                unsafe { self.lock.unlock() };
                return Err(SendError(v));
            }
            SendPoll::WouldBlock(v) => v,
        };
        let Some(g) = g else {
            // SAFETY: we hold the lock.
            unsafe { self.lock.unlock() };
            drop(v);
            not_a_goroutine("Sender::send");
        };
        let waiter = Waiter::new(g, false);
        let sg = Sudog::new(Some(v));
        sg.arm(&waiter, 0);
        // SAFETY: lock held; `sg` lives in this frame, which stays put until we are woken, and
        // we are woken only after someone dequeued it.
        unsafe {
            self.enqueue_send(&sg);
            park_unlocking(&self.lock, WaitReason::ChanSend);
        }
        // Woken: a receiver took the value, or the channel closed and it is still ours.
        if sg.success() {
            Ok(())
        } else {
            // SAFETY: dequeued and readied: nobody else touches `sg` any more.
            let v = unsafe { sg.slot().take() }.expect("goro: failed send lost its value");
            Err(SendError(v))
        }
    }

    fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        // Never blocks, but is a safepoint like every runtime call: a polling loop must let a
        // stop-the-world or sysmon preempt it.
        sched::checkpoint();
        self.lock.lock();
        // SAFETY: lock held.
        let r = unsafe { self.poll_send(v) };
        // SAFETY: we hold the lock.
        unsafe { self.lock.unlock() };
        match r {
            SendPoll::Done(wake) => {
                if let Some(g) = wake {
                    sched::ready(g);
                }
                Ok(())
            }
            SendPoll::Closed(v) => Err(TrySendError::Closed(v)),
            SendPoll::WouldBlock(v) => Err(TrySendError::Full(v)),
        }
    }

    fn recv(&self) -> Result<T, RecvError> {
        sched::checkpoint();
        let g = sched::current_g();
        self.lock.lock();
        // SAFETY: lock held.
        match unsafe { self.poll_recv() } {
            RecvPoll::Done(v, wake) => {
                // SAFETY: we hold the lock.
                unsafe { self.lock.unlock() };
                if let Some(s) = wake {
                    sched::ready(s);
                }
                return Ok(v);
            }
            RecvPoll::Closed => {
                // SAFETY: we hold the lock.
                unsafe { self.lock.unlock() };
                return Err(RecvError);
            }
            RecvPoll::WouldBlock => {}
        }
        let Some(g) = g else {
            // SAFETY: we hold the lock.
            unsafe { self.lock.unlock() };
            not_a_goroutine("Receiver::recv");
        };
        let waiter = Waiter::new(g, false);
        let sg = Sudog::new(None);
        sg.arm(&waiter, 0);
        // SAFETY: as in `send`.
        unsafe {
            self.enqueue_recv(&sg);
            park_unlocking(&self.lock, WaitReason::ChanRecv);
        }
        // SAFETY: dequeued and readied: nobody else touches `sg` any more.
        match unsafe { sg.slot().take() } {
            Some(v) => Ok(v),
            None => Err(RecvError),
        }
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        // A safepoint, as try_send is.
        sched::checkpoint();
        self.lock.lock();
        // SAFETY: lock held.
        let r = unsafe { self.poll_recv() };
        // SAFETY: we hold the lock.
        unsafe { self.lock.unlock() };
        match r {
            RecvPoll::Done(v, wake) => {
                if let Some(g) = wake {
                    sched::ready(g);
                }
                Ok(v)
            }
            RecvPoll::Closed => Err(TryRecvError::Closed),
            RecvPoll::WouldBlock => Err(TryRecvError::Empty),
        }
    }

    /// Go's `closechan`: fails every blocked operation; buffered values stay to be drained.
    fn close(&self) -> bool {
        self.lock.lock();
        // SAFETY: lock held.
        let st = unsafe { self.state() };
        if st.closed {
            // SAFETY: we hold the lock.
            unsafe { self.lock.unlock() };
            return false;
        }
        st.closed = true;
        // SAFETY: lock held for both.
        let (receivers, senders) = unsafe { (fail_all(&mut st.recvq), fail_all(&mut st.sendq)) };
        // SAFETY: we hold the lock.
        unsafe { self.lock.unlock() };
        // SAFETY: the chains were claimed by us and their owners are still parked.
        unsafe {
            ready_all(receivers);
            ready_all(senders);
        }
        true
    }

    /// The last `Receiver` is gone: nothing will ever take a value again.
    fn disconnect_receivers(&self) {
        self.lock.lock();
        // SAFETY: lock held.
        let st = unsafe { self.state() };
        st.no_receivers = true;
        let dropped = std::mem::take(&mut st.buf);
        // SAFETY: lock held.
        let senders = unsafe { fail_all(&mut st.sendq) };
        // SAFETY: we hold the lock.
        unsafe { self.lock.unlock() };
        // Values run user code when dropped: not under the lock.
        drop(dropped);
        // SAFETY: claimed by us, owners still parked.
        unsafe { ready_all(senders) };
    }

    fn len(&self) -> usize {
        self.lock.lock();
        // SAFETY: lock held.
        let n = unsafe { self.state() }.buf.len();
        // SAFETY: we hold the lock.
        unsafe { self.lock.unlock() };
        n
    }

    fn is_closed(&self) -> bool {
        self.lock.lock();
        // SAFETY: lock held.
        let st = unsafe { self.state() };
        let closed = st.closed || st.no_receivers;
        // SAFETY: we hold the lock.
        unsafe { self.lock.unlock() };
        closed
    }
}

/// Dequeues (claims) every waiter of `q` with `success = false`, chained through their links.
///
/// # Safety
/// The channel lock is held.
unsafe fn fail_all<T>(q: &mut WaitQ<T>) -> *const Sudog<T> {
    let mut head: *const Sudog<T> = std::ptr::null();
    let mut tail: *const Sudog<T> = std::ptr::null();
    // SAFETY: lock held (contract).
    while let Some(sg) = unsafe { q.dequeue() } {
        sg.set_success(false);
        sg.set_next_woken(std::ptr::null());
        if tail.is_null() {
            head = sg;
        } else {
            // SAFETY: `tail` was claimed by us and its owner is still parked.
            unsafe { (*tail).set_next_woken(sg) };
        }
        tail = sg;
    }
    head
}

/// Readies every owner of a chain built by `fail_all`.
///
/// # Safety
/// Every sudog of the chain was claimed by the caller, and none of their owners is readied yet.
unsafe fn ready_all<T>(mut sg: *const Sudog<T>) {
    while !sg.is_null() {
        // SAFETY: the owner is still parked, so its sudog and waiter are alive; read all we
        // need before `ready`, after which the owner may return and free them.
        let (next, g) = unsafe { ((*sg).next_woken(), (*sg).waiter_g()) };
        sched::ready(g);
        sg = next;
    }
}

/// The sending half of a channel. Clone it for more producers; the channel closes when the
/// last clone is dropped.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. Clone it for more consumers; each value goes to exactly one.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `v`, parking the goroutine until a receiver takes it (unbuffered) or there is room
    /// in the buffer. Fails, giving `v` back, if the channel is or becomes closed first.
    ///
    /// # Panics
    /// If it has to wait and the caller is not a goroutine.
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        self.chan.send(v)
    }

    /// Sends `v` only if that needs no waiting: a receiver is waiting or the buffer has room.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(v)
    }

    /// Closes the channel (Go's `close`): blocked and later sends fail, receivers drain the
    /// buffered values and then fail. Returns false if the channel was already closed.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether sends fail: the channel is closed or has no receivers left.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of buffered values.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer size; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        capacity(self.chan.cap)
    }

    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }
}

impl<T> Receiver<T> {
    /// Receives a value, parking the goroutine until one is available. Once the channel is
    /// closed, returns the buffered values and then `Err(RecvError)` at once.
    ///
    /// # Panics
    /// If it has to wait and the caller is not a goroutine.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv()
    }

    /// Receives a value only if one is ready now.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Receives until the channel is closed and drained (Go's `for v := range ch`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Whether the channel is closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of buffered values.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer size; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        capacity(self.chan.cap)
    }

    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }
}

fn capacity(cap: usize) -> Option<usize> {
    (cap != UNBOUNDED).then_some(cap)
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // Relaxed, as for Arc: the new handle is made from a live one, so the count is not 0.
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        // Relaxed: see Sender::clone.
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_receivers();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

/// Iterator of `Receiver::iter`.
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
