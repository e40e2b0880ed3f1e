//! Threads (M): an OS thread running the scheduler loop on its own stack (Go's g0), and the
//! goroutines the scheduler picks on their coroutine stacks.
//!
//! Lock rules for M fields: `p` and `curg` are written only by the M itself; `nextp` and
//! `spinning` are written by whoever wakes the M (startm), before `park.wakeup()`, and read by
//! the M after its sleep returns — the note orders them (`Note::hand_over`, `take_handoff`).
//! `locks` is touched only by the M's own thread.

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
    /// This M has seen `Sched::template.have_thread` set. That flag never goes back to 0, so
    /// once seen it needs no second look: `lock_os_thread` tests this bit on its own M instead
    /// of the runtime-wide flag (one load instead of two dependent ones). Only this M's thread
    /// touches it.
    pub(crate) template_seen: AtomicBool,
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
            template_seen: AtomicBool::new(false),
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

/// The current thread's M, or null on threads that are not part of a goro runtime.
///
/// Code on a goroutine stack may resume on another thread after any switch, so a thread-local
/// *address* computed before a switch must never be reused after it — and compilers treat
/// that address as constant within a function (Rust's `thread_local!` included). So the slot
/// is read in a way the compiler cannot cache:
///
/// - x86_64 Linux: the slot is 8 bytes of `.tbss` defined in assembly (stable Rust cannot name
///   a thread-local's TLS offset), read by an inline, non-`pure` asm block with an
///   initial-exec access: `mov off(%rip), %r; mov %fs:(%r), %r`, re-executed at every call
///   site, so it reads whichever thread it runs on. In an executable the linker rewrites the
///   first instruction to `mov $off, %r` (initial-exec to local-exec), so a read is one load
///   and no branch. This is the runtime's stand-in for Go's `getg()` register, on every
///   runtime entry (safepoints, LockOSThread). In a shared library the offset comes from the
///   GOT, filled in at load time; a library loaded with `dlopen` takes the 8 bytes from
///   glibc's static TLS reserve, which exists for such initial-exec variables.
/// - elsewhere: a `thread_local!` read through a never-inlined function, whose body computes
///   the address afresh.
#[inline(always)]
pub(crate) fn current_m_ptr() -> *const M {
    tls::get()
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tls {
    use super::M;

    /// The slot's symbol. Global, so that readers inlined into other crates link to it; the
    /// name carries the crate's version, so two semver-incompatible copies of the runtime in
    /// one program keep two slots, as they keep two of everything else.
    macro_rules! slot {
        () => {
            concat!(
                "goro_current_m_v",
                env!("CARGO_PKG_VERSION_MAJOR"),
                "_",
                env!("CARGO_PKG_VERSION_MINOR")
            )
        };
    }

    std::arch::global_asm!(
        ".pushsection .tbss.goro_current_m,\"awT\",@nobits",
        ".p2align 3",
        concat!(".globl ", slot!()),
        concat!(".type ", slot!(), ", @tls_object"),
        concat!(".size ", slot!(), ", 8"),
        concat!(slot!(), ":"),
        ".zero 8",
        ".popsection",
    );

    #[inline(always)]
    pub(super) fn get() -> *const M {
        let v: usize;
        // SAFETY: the initial-exec sequence yields the calling thread's address of the 8-byte,
        // 8-aligned, zero-initialised slot defined above, which only `set` writes (with a
        // pointer or null). Not `pure`: re-executed at every call site, on whichever thread.
        unsafe {
            std::arch::asm!(
                concat!("mov {v}, qword ptr [rip + ", slot!(), "@GOTTPOFF]"),
                "mov {v}, qword ptr fs:[{v}]",
                v = out(reg) v,
                options(nostack, readonly, preserves_flags),
            );
        }
        v as *const M
    }

    pub(super) fn set(m: *const M) {
        // SAFETY: as in `get`: this thread's slot, written with a pointer-sized value; only
        // this thread reads it (its signal handler included, which sees either value).
        unsafe {
            std::arch::asm!(
                concat!("mov {t}, qword ptr [rip + ", slot!(), "@GOTTPOFF]"),
                "mov qword ptr fs:[{t}], {m}",
                t = out(reg) _,
                m = in(reg) m as usize,
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod tls {
    use std::ptr;

    use super::M;

    thread_local! {
        static CURRENT_M: Cell<*const M> = const { Cell::new(ptr::null()) };
    }

    #[inline(never)]
    pub(super) fn get() -> *const M {
        CURRENT_M.with(|c| c.get())
    }

    pub(super) fn set(m: *const M) {
        CURRENT_M.with(|c| c.set(m));
    }
}

#[inline]
pub(crate) fn current_m() -> Option<&'static M> {
    // SAFETY: an M registered on this thread lives until the thread stops being that M (it
    // clears the slot first); 'static stands for "as long as this thread is the M".
    unsafe { current_m_ptr().as_ref() }
}

pub(crate) fn set_current_m(m: *const M) {
    tls::set(m);
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
