//! The per-P local run queue: a bounded ring plus a `runnext` slot (Go's `runq`/`runnext`).
//!
//! Single producer, multiple consumers, lock-free. Only the M that owns the P pushes (writes
//! `tail` and the slots); the owner and thieves consume by CAS on `head`. A thief copies the
//! slots it wants *before* its CAS; if the CAS fails its copies are discarded, so a slot the
//! owner overwrote concurrently is never used. Slot stores are Relaxed and published by the
//! Release store of `tail`; a thief's Release CAS on `head` orders its slot reads before the
//! owner's next Acquire load of `head`, so the owner never overwrites a slot still being read.
//!
//! `runnext` holds the goroutine readied most recently by the running one (a channel partner,
//! a new goroutine); it runs next and inherits the time slice, which is what makes ping-pong
//! and spawn-then-wait patterns cheap. Thieves may take it too, last.
//!
//! Written generically over the item so a loom test can model-check the exact code.

use std::ptr::{self, NonNull};

use super::atomics::{AtomicPtr, AtomicU32, Ordering};

pub(crate) struct RunQueue<T, const N: usize> {
    head: AtomicU32,
    tail: AtomicU32,
    buf: [AtomicPtr<T>; N],
    runnext: AtomicPtr<T>,
}

// SAFETY: the queue only moves raw pointers; the items are owned by whoever pops them, and the
// scheduler guarantees every pushed item is a live object handed over by the pusher.
unsafe impl<T, const N: usize> Send for RunQueue<T, N> {}
// SAFETY: all shared state is atomics; see the module comment for the protocol.
unsafe impl<T, const N: usize> Sync for RunQueue<T, N> {}

impl<T, const N: usize> RunQueue<T, N> {
    const _POW2: () = assert!(N.is_power_of_two() && N >= 2 && N <= (1 << 30));

    pub(crate) fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let _ = Self::_POW2;
        RunQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            buf: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            runnext: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[inline]
    fn slot(&self, i: u32) -> &AtomicPtr<T> {
        &self.buf[i as usize & (N - 1)]
    }

    /// Whether the queue (ring and runnext) looked empty at some instant. Racy by nature:
    /// callers use it to decide whether to look closer, never as proof.
    pub(crate) fn is_empty(&self) -> bool {
        // Re-read until head/tail/runnext are seen without tail moving, as Go's runqempty:
        // otherwise a concurrent "runnext kicked into the ring" could look empty in both.
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Acquire);
            let next = self.runnext.load(Ordering::Acquire);
            if tail == self.tail.load(Ordering::Acquire) {
                return head == tail && next.is_null();
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        let ring = tail.wrapping_sub(head).min(N as u32) as usize;
        ring + usize::from(!self.runnext.load(Ordering::Acquire).is_null())
    }

    /// Owner only. Puts `item` at the tail, or in `runnext` when `next` (kicking the previous
    /// runnext to the tail). If the ring is full, half of it plus the item go to `overflow`
    /// (the global queue) in FIFO order.
    pub(crate) fn push(
        &self,
        item: NonNull<T>,
        next: bool,
        overflow: impl FnOnce(Vec<NonNull<T>>),
    ) {
        let mut item = item;
        if next {
            let old = self.runnext.swap(item.as_ptr(), Ordering::AcqRel);
            match NonNull::new(old) {
                None => return,
                Some(old) => item = old,
            }
        }
        let mut overflow = Some(overflow);
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Relaxed);
            if tail.wrapping_sub(head) < N as u32 {
                self.slot(tail).store(item.as_ptr(), Ordering::Relaxed);
                self.tail.store(tail.wrapping_add(1), Ordering::Release);
                return;
            }
            if let Some(batch) = self.grab_half_for_overflow(item, head, tail) {
                (overflow.take().expect("overflow runs once"))(batch);
                return;
            }
            // A thief moved head meanwhile: there is room now, retry.
        }
    }

    fn grab_half_for_overflow(
        &self,
        item: NonNull<T>,
        head: u32,
        tail: u32,
    ) -> Option<Vec<NonNull<T>>> {
        let n = tail.wrapping_sub(head) / 2;
        debug_assert_eq!(tail.wrapping_sub(head), N as u32);
        let mut batch = Vec::with_capacity(n as usize + 1);
        for i in 0..n {
            let p = self.slot(head.wrapping_add(i)).load(Ordering::Relaxed);
            batch.push(NonNull::new(p).expect("queued item is non-null"));
        }
        if self
            .head
            .compare_exchange(
                head,
                head.wrapping_add(n),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return None;
        }
        batch.push(item);
        Some(batch)
    }

    /// Owner only. Takes runnext if set (returns `true`: the item inherits the time slice),
    /// else the head of the ring.
    pub(crate) fn pop(&self) -> Option<(NonNull<T>, bool)> {
        let next = self.runnext.load(Ordering::Relaxed);
        if !next.is_null()
            && self
                .runnext
                .compare_exchange(next, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return NonNull::new(next).map(|n| (n, true));
        }
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Relaxed);
            if head == tail {
                return None;
            }
            let p = self.slot(head).load(Ordering::Relaxed);
            if self
                .head
                .compare_exchange(
                    head,
                    head.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return Some((NonNull::new(p).expect("queued item is non-null"), false));
            }
        }
    }

    /// Owner of `self` only (the thief's own queue, normally empty). Steals about half of
    /// `victim` into `self` and returns one of the stolen items to run now.
    pub(crate) fn steal_from(&self, victim: &Self, steal_runnext: bool) -> Option<NonNull<T>> {
        let tail = self.tail.load(Ordering::Relaxed);
        let mut n = victim.grab(self, tail, steal_runnext);
        if n == 0 {
            return None;
        }
        n -= 1;
        let item = self.slot(tail.wrapping_add(n)).load(Ordering::Relaxed);
        if n > 0 {
            let head = self.head.load(Ordering::Acquire);
            debug_assert!(tail.wrapping_sub(head).wrapping_add(n) < N as u32);
            self.tail.store(tail.wrapping_add(n), Ordering::Release);
        }
        NonNull::new(item)
    }

    /// Copies half of this queue's ring into `dst` starting at `dst_tail` (dst's slots beyond
    /// its tail are private to its owner, the caller) and claims them; returns how many.
    fn grab(&self, dst: &Self, dst_tail: u32, steal_runnext: bool) -> u32 {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Acquire);
            let avail = tail.wrapping_sub(head);
            let n = avail - avail / 2;
            if n == 0 {
                if steal_runnext {
                    let next = self.runnext.load(Ordering::Acquire);
                    if !next.is_null()
                        && self
                            .runnext
                            .compare_exchange(
                                next,
                                ptr::null_mut(),
                                Ordering::AcqRel,
                                Ordering::Relaxed,
                            )
                            .is_ok()
                    {
                        dst.slot(dst_tail).store(next, Ordering::Relaxed);
                        return 1;
                    }
                }
                return 0;
            }
            if n > N as u32 / 2 {
                // head and tail were read at different moments: inconsistent, retry.
                continue;
            }
            for i in 0..n {
                let p = self.slot(head.wrapping_add(i)).load(Ordering::Relaxed);
                dst.slot(dst_tail.wrapping_add(i))
                    .store(p, Ordering::Relaxed);
            }
            if self
                .head
                .compare_exchange(
                    head,
                    head.wrapping_add(n),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return n;
            }
        }
    }

    /// Owner only, with the world stopped or the P being retired: empties the queue.
    pub(crate) fn drain(&self) -> Vec<NonNull<T>> {
        let mut out = Vec::new();
        while let Some((g, _)) = self.pop() {
            out.push(g);
        }
        out
    }
}
