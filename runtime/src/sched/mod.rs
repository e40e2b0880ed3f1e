//! The scheduler: goroutines (G), threads (M) and processors (P), after Go's `proc.go`.
//!
//! File map (by concern):
//! - `pstatus` — P statuses and the single function that changes them
//! - `g`, `m`, `p` — the three objects; `stack` — goroutine stacks
//! - `runq` — the lock-free per-P run queue; `idle` — idle P/M lists, spinning, wakep
//! - `handoff` — passing Ps between Ms: startm, stopm, acquirep/releasep, handoffp
//! - `schedule` — the scheduler loop: find_runnable, execute, work stealing, global queue
//! - `park` — park/ready/gosched, the runtime semaphore; `newproc` — `go` and goroutine exit
//! - `preempt` — safepoints, preemption requests, acquirem/releasem
//! - `lockos` — LockOSThread: wiring a G to its M, stoplockedm/startlockedm, locked exit
//! - `template` — newm, the template thread and the new-M hand-off list (golang/go#38931
//!   lives here)
//! - `checkdead` — "all goroutines are asleep - deadlock!"
//! - `debug` — a lock-free snapshot of scheduler state, readable even from a hung process
//! - `syscall` — entersyscall/exitsyscall; `sysmon` — the monitor thread (retake, preempt)
//! - `timers` — per-P timer heaps, `sleep`, the timer-waiter M; `stw` — stop/start the world
//!   and procresize
//! - `signal` — stack overflow reports; `stats` — counters and snapshots
//! - `start` — M0 and the main goroutine: how `block_on` starts the scheduler
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
pub(crate) mod start;
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
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

pub(crate) use g::{GRef, WaitReason};
pub(crate) use park::{current_g, park, ready};
pub(crate) use preempt::checkpoint;

use lock::Locked;
use m::M;
use note::Note;
use p::P;
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

/// One runtime instance: everything Go keeps in `sched`, `allp` and `allm`, grouped by concern.
/// Each group is defined, with its invariants, in the file that owns it.
///
/// Lock order (outermost first): `worldsema` (a goroutine semaphore, held across a whole
/// stop-the-world), then `inner` (Go's `sched.lock`), then a P's timer lock. `ms.all`,
/// `gs.free` and `template.newm_handoff` are leaves: nothing else is taken while one is held.
pub(crate) struct Sched {
    me: Weak<Sched>,
    pub(crate) config: Config,
    /// Zero of the runtime clock (`nanotime`).
    pub(crate) epoch: Instant,
    pub(crate) stacks: StackPool,
    /// Every P ever created, indexed by id; slots past `gomaxprocs` hold `_Pdead` Ps or null.
    /// A P is never freed while the runtime lives, so a `&P` from here is valid for its life.
    allp: Box<[AtomicPtr<P>]>,
    /// The number of Ps in use (Go's gomaxprocs). Changed only by procresize, with the world
    /// stopped; read without a lock (Acquire pairs with procresize's Release).
    pub(crate) gomaxprocs: AtomicU32,
    /// Go's `sched.lock` and what it protects: the idle P and M lists, the global run queue,
    /// a pending P count. See `SchedInner`.
    pub(crate) inner: Locked<SchedInner>,
    /// Idle and spinning counts beside the idle lists (`idle.rs`).
    pub(crate) idle: idle::IdleCounts,
    /// Length of the global run queue (`inner.runq`), readable without the lock; written
    /// under it.
    pub(crate) runqsize: AtomicU32,
    /// Stop-the-world state: gcwaiting, stopwait, the stopper's note, worldsema (`stw.rs`).
    pub(crate) stw: stw::StwState,
    /// Every M, the M id counter and the live worker count (`m.rs`).
    pub(crate) ms: m::Ms,
    /// The G id counter, the goroutine count and the global G free list (`newproc.rs`).
    pub(crate) gs: newproc::Gs,
    /// The idle M that sleeps until the earliest timer (`timers.rs`).
    pub(crate) timer_waiter: timers::TimerWaiter,
    /// The template thread and the new-M hand-off list (`template.rs`).
    pub(crate) template: template::TemplateState,
    /// The main goroutine returned: every M leaves its loop at its next scheduling point.
    pub(crate) shutdown: AtomicBool,
    /// sysmon sleeps on it while it has nothing to watch; woken when Ps become busy again.
    pub(crate) sysmon_note: Note,
    /// sysmon is parked until start-the-world wakes it (Go's sysmonwait). Under `inner`.
    pub(crate) sysmonwait: AtomicBool,
    pub(crate) stats: stats::GlobalCounters,
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
            idle: idle::IdleCounts::default(),
            runqsize: AtomicU32::new(0),
            stw: stw::StwState::new(),
            ms: m::Ms::new(),
            gs: newproc::Gs::new(),
            timer_waiter: timers::TimerWaiter::new(),
            template: template::TemplateState::new(),
            shutdown: AtomicBool::new(false),
            sysmon_note: Note::new(),
            sysmonwait: AtomicBool::new(false),
            stats: stats::GlobalCounters::default(),
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
        let id = self.ms.next_id.fetch_add(1, Ordering::Relaxed);
        let m = Box::new(M::new(id, self as *const Sched));
        let ptr: *const M = &*m;
        self.ms.all.with(|all| all.push(m));
        // SAFETY: the Box now lives in `allm` until the runtime drops.
        unsafe { &*ptr }
    }

    /// The main goroutine returned: every M leaves its loop at its next scheduling point.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let idle: Vec<*const M> = self.inner.with(|s| {
            self.idle.nmidle.store(0, Ordering::Relaxed);
            std::mem::take(&mut s.midle)
        });
        for m in idle {
            // SAFETY: Ms live as long as the runtime.
            unsafe { (*m).park.wakeup() };
        }
        self.sysmon_note.wakeup();
        self.stw.stopnote.wakeup();
        self.template.note.wakeup();
        // Locked Ms parked for their goroutine (or for good, M0) leave too.
        self.ms.all.with(|all| {
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
