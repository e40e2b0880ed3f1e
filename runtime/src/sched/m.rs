//! Threads (M): an OS thread running the scheduler loop on its own stack (Go's g0), and the
//! goroutines the scheduler picks on their coroutine stacks.
//!
//! Lock rules for M fields: `p` and `curg` are written only by the M itself; `nextp` and
//! `spinning` are written by whoever wakes the M (startm), before `park.wakeup()`, and read by
//! the M after its sleep returns — the note orders them (`Note::hand_over`, `take_handoff`).
//! `locks` is touched only by the M's own thread.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering,
};

use super::Sched;
use super::g::G;
use super::lock::Locked;
use super::note::Note;
use super::p::P;

/// Every M of a runtime (Go's `allm`, `sched.mnext` and the live count checkdead needs).
pub(crate) struct Ms {
    /// Every M ever created, boxed because Ms are addressed by raw pointer and must never
    /// move. Ms are never freed while the runtime lives (an exited M stays, marked `exited`).
    /// A leaf lock.
    #[allow(clippy::vec_box)]
    pub(crate) all: Locked<Vec<Box<M>>>,
    /// The next M id; ids start at 1 (0 means "no M" in probes and snapshots).
    pub(crate) next_id: AtomicU64,
    /// Worker Ms that exist (their thread may not have started yet) and have not exited, for
    /// checkdead. Changed under `Sched::inner`.
    pub(crate) live: AtomicI64,
}

impl Ms {
    pub(crate) fn new() -> Ms {
        Ms {
            all: Locked::new(Vec::new()),
            next_id: AtomicU64::new(1),
            live: AtomicI64::new(0),
        }
    }
}

/// The calling thread's M id for probes (0 = none: sysmon, plain threads).
pub(crate) fn current_mid() -> u64 {
    current_m().map_or(0, |m| m.id)
}

pub(crate) struct M {
    pub(crate) id: u64,
    pub(crate) sched: *const Sched,
    pub(crate) tid: AtomicI32,
    /// The P this M holds (null when idle or in a syscall).
    pub(crate) p: AtomicPtr<P>,
    /// The P a waker handed to this M before waking it; taken when it wakes (Go's nextp).
    pub(crate) nextp: AtomicPtr<P>,
    /// The P this M held when it entered a syscall (Go's oldp), to try to take it back.
    pub(crate) oldp: AtomicPtr<P>,
    pub(crate) curg: AtomicPtr<G>,
    /// acquirem depth: while non-zero the running G is not preempted (Go's m.locks).
    pub(crate) locks: AtomicU32,
    /// Looking for work without a G to run (Go's spinning Ms; at most half the busy Ps).
    pub(crate) spinning: AtomicBool,
    /// Parked in stopm.
    pub(crate) blocked: AtomicBool,
    pub(crate) park: Note,
    pub(crate) rand: AtomicU64,
    /// The goroutine wired to this thread by LockOSThread (null if none).
    pub(crate) lockedg: AtomicPtr<G>,
    /// LockOSThread nesting: user calls (external) and runtime calls (internal). The G and M
    /// are wired while either is non-zero. Only this M's thread changes them.
    pub(crate) locked_ext: AtomicU32,
    pub(crate) locked_int: AtomicU32,
    /// This M's thread is the one that called `block_on` (M0): never exits, parks instead.
    pub(crate) is_m0: AtomicBool,
    /// Created from a locked M, so queued for the template thread to start (see `template`).
    pub(crate) queued: AtomicBool,
    /// Its OS thread has started / has exited.
    pub(crate) started: AtomicBool,
    pub(crate) exited: AtomicBool,
    /// Its slot in the state table (`state.rs`); null: none.
    pub(crate) state_row: AtomicPtr<goro_probes::state::MRow>,
}

// SAFETY: every field is atomic or immutable; `sched` points at the runtime, which every M
// thread keeps alive (holds an Arc) for as long as it runs.
unsafe impl Sync for M {}
// SAFETY: as above.
unsafe impl Send for M {}

impl M {
    pub(crate) fn new(id: u64, sched: *const Sched) -> M {
        M {
            id,
            sched,
            tid: AtomicI32::new(0),
            p: AtomicPtr::new(ptr::null_mut()),
            nextp: AtomicPtr::new(ptr::null_mut()),
            oldp: AtomicPtr::new(ptr::null_mut()),
            curg: AtomicPtr::new(ptr::null_mut()),
            locks: AtomicU32::new(0),
            spinning: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            park: Note::new(),
            rand: AtomicU64::new(0x9E37_79B9_7F4A_7C15 ^ id.wrapping_mul(0xBF58_476D_1CE4_E5B9)),
            lockedg: AtomicPtr::new(ptr::null_mut()),
            locked_ext: AtomicU32::new(0),
            locked_int: AtomicU32::new(0),
            is_m0: AtomicBool::new(false),
            queued: AtomicBool::new(false),
            started: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            state_row: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[inline]
    pub(crate) fn sched(&self) -> &Sched {
        // SAFETY: the runtime outlives its Ms' threads (they hold an Arc), see the Sync comment.
        unsafe { &*self.sched }
    }

    #[inline]
    pub(crate) fn p(&self) -> Option<&P> {
        // SAFETY: Ps live as long as the runtime (never freed before it).
        unsafe { self.p.load(Ordering::Relaxed).as_ref() }
    }

    #[inline]
    pub(crate) fn lockedg(&self) -> Option<&G> {
        // SAFETY: Gs live as long as the runtime.
        unsafe { self.lockedg.load(Ordering::Relaxed).as_ref() }
    }

    #[inline]
    pub(crate) fn curg(&self) -> Option<&G> {
        // SAFETY: the running G is owned by this M and alive while it runs.
        unsafe { self.curg.load(Ordering::Relaxed).as_ref() }
    }

    /// xorshift64*: cheap randomness for steal order (Go's fastrand).
    pub(crate) fn fastrand(&self) -> u32 {
        let mut x = self.rand.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rand.store(x, Ordering::Relaxed);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }
}

thread_local! {
    /// The M this thread is, or null on threads that are not part of a goro runtime.
    static CURRENT_M: Cell<*const M> = const { Cell::new(ptr::null()) };
}

/// The current thread's M.
///
/// Code on a goroutine stack may resume on another thread after any switch, so a thread-local
/// *address* computed before a switch must never be reused after it — and compilers do treat
/// that address as constant within a function. Two ways to read the slot safely:
///
/// - the fast path (x86_64): static TLS sits at the same offset from the thread pointer in
///   every thread, so once that offset is known (and checked on every thread that becomes an M,
///   see `set_current_m`) the slot is read with a volatile `mov %fs:off`: the asm re-executes
///   at every call site and reads whichever thread it runs on;
/// - the slow path: a never-inlined function, whose body computes the address afresh.
///
/// If any thread disagrees about the offset (the runtime inside a `dlopen`ed library with
/// dynamic TLS), the fast path turns itself off for good.
#[inline(always)]
pub(crate) fn current_m_ptr() -> *const M {
    #[cfg(target_arch = "x86_64")]
    {
        let off = tls::OFFSET.load(Ordering::Relaxed);
        if off != tls::UNKNOWN && off != tls::DISABLED {
            let v: usize;
            // SAFETY: `off` was measured as (slot address - thread pointer) and is the same in
            // every thread (checked in set_current_m), so fs:[off] is this thread's slot, an
            // initialised, aligned pointer-sized Cell. Not `pure`: re-read at every call site.
            unsafe {
                std::arch::asm!(
                    "mov {v}, qword ptr fs:[{off}]",
                    v = out(reg) v,
                    off = in(reg) off,
                    options(nostack, readonly, preserves_flags),
                );
            }
            return v as *const M;
        }
    }
    current_m_ptr_slow()
}

#[inline(never)]
fn current_m_ptr_slow() -> *const M {
    CURRENT_M.with(|c| c.get())
}

#[cfg(target_arch = "x86_64")]
mod tls {
    use std::sync::atomic::{AtomicIsize, Ordering};

    pub(super) const UNKNOWN: isize = 0;
    pub(super) const DISABLED: isize = isize::MIN;
    /// Offset of CURRENT_M's slot from the thread pointer, UNKNOWN, or DISABLED.
    pub(super) static OFFSET: AtomicIsize = AtomicIsize::new(UNKNOWN);

    fn thread_pointer() -> isize {
        let tp: isize;
        // SAFETY: on x86_64 Linux, %fs:0 holds the thread control block's own address (the
        // thread pointer), per the TLS ABI; reading it has no side effects.
        unsafe {
            std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags));
        }
        tp
    }

    /// Measures this thread's offset and reconciles it with the global one.
    pub(super) fn calibrate() {
        let slot = super::CURRENT_M.with(|c| c as *const _ as isize);
        let off = slot.wrapping_sub(thread_pointer());
        // Static TLS (the executable's, and initial-exec libraries') lies just below the
        // thread pointer at the same offset in every thread — including plain threads that
        // never pass here, which may take the fast path too. Dynamic TLS (a dlopen'ed library)
        // is allocated elsewhere per thread: anything but a small negative offset disables it.
        if !(-(1 << 20)..0).contains(&off) {
            OFFSET.store(DISABLED, Ordering::Relaxed);
            return;
        }
        match OFFSET.compare_exchange(UNKNOWN, off, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => {}
            Err(known) if known == off || known == DISABLED => {}
            Err(_) => OFFSET.store(DISABLED, Ordering::Relaxed),
        }
    }
}

#[inline]
pub(crate) fn current_m() -> Option<&'static M> {
    // SAFETY: an M registered on this thread lives until the thread stops being that M (it
    // clears the slot first); 'static stands for "as long as this thread is the M".
    unsafe { current_m_ptr().as_ref() }
}

pub(crate) fn set_current_m(m: *const M) {
    // Every thread that becomes an M checks the fast path's offset first (see current_m_ptr).
    #[cfg(target_arch = "x86_64")]
    tls::calibrate();
    CURRENT_M.with(|c| c.set(m));
}

/// Sets this thread's timer slack (ns) and returns the previous value. An idle M's timed sleep
/// waits for the next timer; Linux's default 50µs slack would add up to 50µs to every short
/// `goro::sleep`, so M threads run with 1ns.
pub(crate) fn set_timer_slack(ns: u64) -> u64 {
    // SAFETY: PR_GET/SET_TIMERSLACK take integers and affect only the calling thread.
    unsafe {
        let prev = libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
        prev.max(1) as u64
    }
}

pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}
