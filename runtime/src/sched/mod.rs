//! The scheduler: goroutines (G), threads (M) and processors (P), after Go's `proc.go`.
//!
//! File map (by concern):
//! - `pstatus` — P statuses and the single function that changes them
//! - `g`, `m`, `p` — the three objects; `stack` — goroutine stacks
//! - `runq` — the lock-free per-P run queue; `idle` — idle P/M lists, spinning, wakep
//! - `handoff` — M life cycle: newm, startm, stopm, acquirep/releasep, handoffp
//! - `schedule` — the scheduler loop: find_runnable, execute, work stealing, global queue
//! - `park` — park/ready/gosched, the runtime semaphore; `newproc` — `go` and goroutine exit
//! - `preempt` — safepoints, preemption requests, acquirem/releasem
//! - `lockos` — LockOSThread: wiring a G to its M, stoplockedm/startlockedm, locked exit
//! - `template` — the template thread and the new-M hand-off list (golang/go#38931 lives here)
//! - `checkdead` — "all goroutines are asleep - deadlock!"
//! - `debug` — a lock-free snapshot of scheduler state, readable even from a hung process
//! - `syscall` — entersyscall/exitsyscall; `sysmon` — the monitor thread (retake, preempt)
//! - `timers` — per-P timer heaps; `stw` — stop/start the world and procresize
//! - `signal` — stack overflow reports; `stats` — counters and snapshots
//! - `lock`, `note`, `futex` — the runtime's own locking and sleeping primitives
//!
//! The global lock (`Sched::inner`, Go's `sched.lock`) protects the idle P and M lists, the
//! global run queue and `stopwait`. It is a leaf for everything but the timer locks and the P
//! status word: never call into user code, park, or create a thread while holding it.

pub(crate) mod atomics;
pub(crate) mod checkdead;
pub(crate) mod debug;
pub(crate) mod futex;
pub(crate) mod g;
pub(crate) mod handoff;
pub(crate) mod idle;
pub(crate) mod lock;
pub(crate) mod lockos;
pub(crate) mod m;
pub(crate) mod newproc;
pub(crate) mod note;
pub(crate) mod p;
pub(crate) mod park;
pub(crate) mod preempt;
pub(crate) mod pstatus;
pub(crate) mod runq;
pub(crate) mod schedule;
pub(crate) mod signal;
pub(crate) mod stack;
pub(crate) mod stats;
pub(crate) mod stw;
pub(crate) mod syscall;
pub(crate) mod sysmon;
pub(crate) mod template;
#[cfg(test)]
pub(crate) mod testutil;
pub(crate) mod timers;

/// The probe functions, one per catalog entry (see `goro-probes`).
pub(crate) use goro_probes::probe;

use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering,
};
use std::sync::{Arc, Weak};
use std::time::Instant;

pub(crate) use g::{GRef, WaitReason};
pub(crate) use park::{current_g, park, ready};
pub(crate) use preempt::checkpoint;

use g::G;
use lock::Locked;
use m::M;
use note::Note;
use p::P;
use park::Sema;
use stack::StackPool;

/// The most Ps a runtime can have (Go allows more; the state table is sized by this).
pub const MAX_PROCS: usize = 1024;

/// Under `Sched::inner` (Go's sched.lock).
#[derive(Default)]
pub(crate) struct SchedInner {
    pub(crate) midle: Vec<*const M>,
    pub(crate) pidle: Vec<*const P>,
    pub(crate) runq: VecDeque<GRef>,
    /// P count requested by a pending `set_procs`, applied by start-the-world.
    pub(crate) newprocs: u32,
}

// SAFETY: the raw pointers name Ms and Ps owned by the runtime, which outlive the lists.
unsafe impl Send for SchedInner {}

/// Runtime options that are fixed when it is built.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Start the template thread in the pre-fix order of golang/go#38931: preemptible between
    /// setting `have_template_thread` and creating the thread. A diagnostics aid: it makes the
    /// stop-the-world hang reproducible. Off by default.
    pub(crate) legacy_template_thread: bool,
    /// Fault injection: hold the window between setting the flag and creating the template
    /// thread open this long (in legacy mode it is preemptible; fixed, it is not).
    pub(crate) widen_template_race: Option<std::time::Duration>,
    /// Report "all goroutines are asleep - deadlock!" and exit (Go's checkdead).
    pub(crate) deadlock_detection: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            legacy_template_thread: false,
            widen_template_race: None,
            deadlock_detection: true,
        }
    }
}

/// One runtime instance: everything Go keeps in `sched`, `allp` and `allm`.
pub(crate) struct Sched {
    me: Weak<Sched>,
    pub(crate) config: Config,
    pub(crate) epoch: Instant,
    pub(crate) stacks: StackPool,
    allp: Box<[AtomicPtr<P>]>,
    pub(crate) gomaxprocs: AtomicU32,
    pub(crate) inner: Locked<SchedInner>,
    pub(crate) npidle: AtomicU32,
    pub(crate) nmidle: AtomicU32,
    pub(crate) nmspinning: AtomicU32,
    pub(crate) runqsize: AtomicU32,
    /// A stop-the-world is in progress: every M stops at its next scheduling point.
    pub(crate) gcwaiting: AtomicBool,
    /// Ps the stopper still waits for; written under `inner`.
    pub(crate) stopwait: AtomicI32,
    pub(crate) stopnote: Note,
    /// Held by whoever stops the world (Go's worldsema); goroutines queue on it.
    pub(crate) worldsema: Sema,
    pub(crate) stw_seq: AtomicU64,
    // Boxed: Ms are addressed by raw pointer and must never move.
    #[allow(clippy::vec_box)]
    pub(crate) allm: Locked<Vec<Box<M>>>,
    pub(crate) mnext: AtomicU64,
    pub(crate) goidgen: AtomicU64,
    pub(crate) ngoroutines: AtomicI64,
    #[allow(clippy::vec_box)]
    pub(crate) gfree: Locked<Vec<Box<G>>>,
    /// The idle M sleeping until the earliest timer, and that deadline (0 = computing it).
    pub(crate) timer_waiter: AtomicPtr<M>,
    pub(crate) timer_waiter_until: AtomicI64,
    pub(crate) shutdown: AtomicBool,
    pub(crate) sysmon_note: Note,
    /// sysmon is parked until start-the-world wakes it (Go's sysmonwait). Under `inner`.
    pub(crate) sysmonwait: AtomicBool,
    pub(crate) stats: stats::GlobalCounters,
    /// Set (0→1) by the first LockOSThread, before the template thread is created.
    pub(crate) have_template_thread: AtomicU32,
    /// The template thread's M, once its thread runs.
    pub(crate) template_m: AtomicPtr<M>,
    pub(crate) template_note: Note,
    /// New Ms created from locked threads, waiting for the template thread to start them.
    pub(crate) newm_handoff: Locked<Vec<*const M>>,
    pub(crate) newm_handoff_len: AtomicU32,
    /// Worker Ms that exist (their thread may not have started yet), for checkdead. Under `inner`.
    pub(crate) mlive: AtomicI64,
    /// Locked Ms parked waiting for their goroutine, and M0 parked for good; minus one while a
    /// thread that is no M holds a P or readies a goroutine (sysmon's retake, a plain thread's
    /// ready), so that checkdead counts it as running. Under `inner`.
    pub(crate) nmidlelocked: AtomicI64,
    /// The current stop-the-world: id (0 = none), reason, start time (runtime clock).
    pub(crate) stw_current: AtomicU64,
    pub(crate) stw_reason: AtomicU8,
    pub(crate) stw_start: AtomicI64,
}

// SAFETY: all shared state is atomic or behind a Lock; raw pointers name runtime-owned objects.
unsafe impl Sync for Sched {}
// SAFETY: as above.
unsafe impl Send for Sched {}

impl Sched {
    pub(crate) fn new(stack_size: usize, config: Config) -> Arc<Sched> {
        Arc::new_cyclic(|me| Sched {
            me: me.clone(),
            config,
            epoch: Instant::now(),
            stacks: StackPool::new(stack_size),
            allp: (0..MAX_PROCS)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            gomaxprocs: AtomicU32::new(0),
            inner: Locked::new(SchedInner::default()),
            npidle: AtomicU32::new(0),
            nmidle: AtomicU32::new(0),
            nmspinning: AtomicU32::new(0),
            runqsize: AtomicU32::new(0),
            gcwaiting: AtomicBool::new(false),
            stopwait: AtomicI32::new(0),
            stopnote: Note::new(),
            worldsema: Sema::new(),
            stw_seq: AtomicU64::new(0),
            allm: Locked::new(Vec::new()),
            mnext: AtomicU64::new(1),
            goidgen: AtomicU64::new(1),
            ngoroutines: AtomicI64::new(0),
            gfree: Locked::new(Vec::new()),
            timer_waiter: AtomicPtr::new(ptr::null_mut()),
            timer_waiter_until: AtomicI64::new(0),
            shutdown: AtomicBool::new(false),
            sysmon_note: Note::new(),
            sysmonwait: AtomicBool::new(false),
            stats: stats::GlobalCounters::default(),
            have_template_thread: AtomicU32::new(0),
            template_m: AtomicPtr::new(ptr::null_mut()),
            template_note: Note::new(),
            newm_handoff: Locked::new(Vec::new()),
            newm_handoff_len: AtomicU32::new(0),
            mlive: AtomicI64::new(0),
            nmidlelocked: AtomicI64::new(0),
            stw_current: AtomicU64::new(0),
            stw_reason: AtomicU8::new(0),
            stw_start: AtomicI64::new(0),
        })
    }

    pub(crate) fn arc(&self) -> Arc<Sched> {
        self.me
            .upgrade()
            .expect("the runtime is alive while its code runs")
    }

    /// Runtime clock: nanoseconds since the runtime started (monotonic).
    #[inline]
    pub(crate) fn nanotime(&self) -> i64 {
        self.epoch.elapsed().as_nanos() as i64
    }

    #[inline]
    pub(crate) fn procs(&self) -> usize {
        self.gomaxprocs.load(Ordering::Acquire) as usize
    }

    /// P number `i`, if it was ever created. Ps are never freed while the runtime lives.
    #[inline]
    pub(crate) fn p(&self, i: usize) -> Option<&P> {
        // SAFETY: a non-null slot points at a P leaked from a Box by `p_or_create`, freed only
        // by Sched's Drop.
        unsafe { self.allp[i].load(Ordering::Acquire).as_ref() }
    }

    /// The Ps in use (`0..gomaxprocs`).
    pub(crate) fn allp(&self) -> impl Iterator<Item = &P> {
        (0..self.procs()).filter_map(|i| self.p(i))
    }

    pub(crate) fn p_or_create(&self, i: usize) -> &P {
        if let Some(p) = self.p(i) {
            return p;
        }
        let p = Box::into_raw(Box::new(P::new(i as u32)));
        self.allp[i].store(p, Ordering::Release);
        self.p(i).expect("just stored")
    }

    /// Earliest timer over every P (0 = none).
    pub(crate) fn earliest_timer(&self) -> i64 {
        self.allp()
            .map(|p| p.timer0.load(Ordering::SeqCst))
            .filter(|&w| w != 0)
            .min()
            .unwrap_or(0)
    }

    /// Creates the record of a new M (its thread is started by the caller).
    pub(crate) fn alloc_m(&self) -> &M {
        let id = self.mnext.fetch_add(1, Ordering::Relaxed);
        let m = Box::new(M::new(id, self as *const Sched));
        let ptr: *const M = &*m;
        self.allm.with(|all| all.push(m));
        // SAFETY: the Box now lives in `allm` until the runtime drops.
        unsafe { &*ptr }
    }

    /// The main goroutine returned: every M leaves its loop at its next scheduling point.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let idle: Vec<*const M> = self.inner.with(|s| {
            self.nmidle.store(0, Ordering::Relaxed);
            std::mem::take(&mut s.midle)
        });
        for m in idle {
            // SAFETY: Ms live as long as the runtime.
            unsafe { (*m).park.wakeup() };
        }
        self.sysmon_note.wakeup();
        self.stopnote.wakeup();
        self.template_note.wakeup();
        // Locked Ms parked for their goroutine (or for good, M0) leave too.
        self.allm.with(|all| {
            for m in all.iter() {
                m.park.wakeup();
            }
        });
    }

    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        for slot in self.allp.iter() {
            let p = slot.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: every P was leaked from a Box by p_or_create; no thread uses the
                // runtime any more (this is the last reference).
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// CLOCK_MONOTONIC_COARSE in nanoseconds: a few ns to read (the precise clock costs ~20),
/// resolution of a scheduler tick (1-4ms). For "how long has this been so" bookkeeping.
#[inline]
pub(crate) fn coarse_now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// A broken runtime invariant (Go's `throw`): report and abort, never unwind through the
/// scheduler.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    eprintln!("fatal error: {msg}");
    eprintln!("goro: runtime invariant broken; aborting");
    std::process::abort()
}

/// Parks the current goroutine until the runtime clock reaches `when` (Go's timeSleep). The
/// timer is added by the park's unlock step, once the goroutine is off its stack.
pub(crate) fn sleep_until(when: i64) {
    let g = current_g().expect("sleep on a goroutine");
    struct Arg {
        g: GRef,
        when: i64,
    }
    let arg = Arg { g, when };
    /// # Safety
    /// `a` is the `Arg` on the parking goroutine's stack, valid until the goroutine resumes.
    unsafe fn add_timer(a: *const ()) -> bool {
        // SAFETY: caller contract; the G cannot resume before the timer is added below.
        let a = unsafe { &*(a as *const Arg) };
        let (g, when) = (a.g, a.when);
        let m = m::current_m().expect("unlock steps run on an M");
        let sched = m.sched();
        let p = m.p().expect("the parking M holds its P");
        timers::add(p, when, g);
        sched.poke_timer_waiter(when);
        true
    }
    park(
        Some((add_timer, &arg as *const Arg as *const ())),
        WaitReason::Sleep,
    );
}
