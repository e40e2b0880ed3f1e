//! Stop-the-world and start-the-world (Go's stopTheWorldWithSema / startTheWorldWithSema),
//! and procresize.
//!
//! Stopping, under the scheduler lock: `stopwait` = P count, `gcwaiting` set; the stopper's own
//! P goes `_Pgcstop` (it keeps using it), every `_Psyscall` P and every P on the idle list goes
//! straight to `_Pgcstop`, each counted off `stopwait`; every running G is asked to yield.
//! Then the stopper sleeps in 100µs rounds, re-asking, until the running Ps have stopped
//! themselves (`gcstopm`) and `stopwait` is 0. A P that is `_Pidle` but on no list — handed to
//! an M that never runs — is counted by nobody: the stopper waits forever (golang/go#38931).
//!
//! While the world is stopped the stopper holds `worldsema` and preemption is disabled on its
//! M (acquirem), so its goroutine runs uninterrupted until start-the-world.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::note::Note;
use super::park::BinarySema;

use super::m::M;
use super::p::P;
use super::pstatus::{self, PStatus, Reason};
use super::{Sched, SchedInner, preempt, timers};

/// Why the world is stopped: the catalog's `stw_reason` table (the `reason` of `stw_begin`).
pub use goro_probes::StwReason;

/// The state of stopping and starting the world (Go's `sched.stw.gcwaiting`, `stopwait`,
/// `stopnote` and `worldsema`, plus what the diagnostics show of the current stop).
///
/// Rules:
/// - `worldsema` is held for the whole stop-the-world, from before `gcwaiting` is set until
///   after start-the-world; only its holder writes anything else here.
/// - `gcwaiting` is set and `stopwait` initialised under `Sched::inner`; after that
///   `stopwait` is only decremented, under `inner`, by whoever moves a P to `_Pgcstop` on the
///   stopper's behalf (a P stopping itself, handoffp, a syscall entry or exit), and the one
///   that takes it to 0 wakes `stopnote`. A P that nobody moves keeps it above 0 for ever.
/// - `current`/`reason`/`start` describe the stop in progress for snapshots (0 = none); they are
///   written by the stopper only and read without a lock, so a reader may see a mix of two
///   consecutive stops' values — good enough for a diagnosis, never used for a decision.
pub(crate) struct StwState {
    /// A stop-the-world is pending: every M stops its P at its next scheduling point.
    pub(crate) gcwaiting: AtomicBool,
    /// Ps the stopper still waits for; written under `Sched::inner`.
    pub(crate) stopwait: AtomicI32,
    /// The stopper sleeps on it between wait rounds; woken when `stopwait` reaches 0.
    pub(crate) stopnote: Note,
    /// Held by whoever stops the world (Go's worldsema); goroutines queue on it.
    pub(crate) worldsema: BinarySema,
    /// Stop-the-world ids: the last one handed out.
    pub(crate) seq: AtomicU64,
    /// The stop in progress: id (0 = none), reason, start time (runtime clock).
    pub(crate) current: AtomicU64,
    pub(crate) reason: AtomicU8,
    pub(crate) start: AtomicI64,
}

impl StwState {
    pub(crate) fn new() -> StwState {
        StwState {
            gcwaiting: AtomicBool::new(false),
            stopwait: AtomicI32::new(0),
            stopnote: Note::new(),
            worldsema: BinarySema::new(),
            seq: AtomicU64::new(0),
            current: AtomicU64::new(0),
            reason: AtomicU8::new(0),
            start: AtomicI64::new(0),
        }
    }
}

const WAIT_ROUND: Duration = Duration::from_micros(100);
/// How long the stopper polls `stopwait` before it starts sleeping in WAIT_ROUNDs.
const STW_SPIN: Duration = Duration::from_micros(20);
/// `stw_wait` fires on the first round without progress and then every this many (100ms).
const STW_WAIT_EVERY: u32 = 1000;

impl Sched {
    /// Stops every P but the caller's. The caller is a goroutine holding a P, with `worldsema`
    /// held and preemption disabled.
    /// Returns the stop's id and how long stopping took (ns).
    pub(crate) fn stop_the_world_with_sema(&self, m: &M, reason: StwReason) -> (u64, u64) {
        let id = self.stw.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let start = Instant::now();
        let own = m
            .p()
            .unwrap_or_else(|| super::fatal("stop the world without a P"));
        let wait = self.inner.with(|s| {
            self.stw
                .stopwait
                .store(self.procs() as i32, Ordering::SeqCst);
            self.stw.gcwaiting.store(true, Ordering::SeqCst);
            self.stw.reason.store(reason.into(), Ordering::Relaxed);
            self.stw.start.store(self.nanotime(), Ordering::Relaxed);
            self.stw.current.store(id, Ordering::Release);
            // Our own P: stopped, but still ours to use.
            pstatus::set_status(own, PStatus::Running, PStatus::GcStop, m.id, Reason::StwOwn);
            self.stw.stopwait.fetch_sub(1, Ordering::SeqCst);
            self.preemptall();
            // Ps whose M is in a syscall: claim them now; the M will find its P gone.
            for p in self.allp() {
                if p.status() == PStatus::Syscall
                    && pstatus::cas_status(
                        p,
                        PStatus::Syscall,
                        PStatus::GcStop,
                        m.id,
                        Reason::StwSyscall,
                    )
                {
                    p.syscalltick.fetch_add(1, Ordering::Relaxed);
                    self.stw.stopwait.fetch_sub(1, Ordering::SeqCst);
                }
            }
            // Ps on the idle list.
            while let Some(p) = self.pidleget(s) {
                pstatus::set_status(p, PStatus::Idle, PStatus::GcStop, m.id, Reason::StwIdle);
                self.stw.stopwait.fetch_sub(1, Ordering::SeqCst);
            }
            // Fired here, with the count the wait starts from: every other P is counted off
            // under this lock, so after this probe.
            let left = self.stw.stopwait.load(Ordering::SeqCst);
            super::probe::stw_begin(id, reason, self.procs() as u32, left.max(0) as u32);
            left > 0
        });
        if wait {
            // A running P usually stops within a microsecond of the request, far sooner than a
            // futex wake-up reaches a sleeping stopper: poll briefly first. Bounded, so a
            // stopper on an overcommitted machine does not steal the CPU it is waiting for.
            let spin_until = Instant::now() + STW_SPIN;
            while self.stw.stopwait.load(Ordering::SeqCst) > 0 && Instant::now() < spin_until {
                std::hint::spin_loop();
            }
            let mut last = i32::MIN;
            let mut quiet_rounds = 0u32;
            loop {
                let now = self.stw.stopwait.load(Ordering::SeqCst);
                if now <= 0 || self.is_shutdown() {
                    break;
                }
                if self.stw.stopnote.sleep_timeout(WAIT_ROUND) {
                    // A P stopped (or a stale wake-up from an earlier stop): re-check.
                    self.stw.stopnote.clear();
                    continue;
                }
                self.preemptall();
                // Rounds that made no progress, at most one probe per STW_WAIT_EVERY rounds:
                // a hung stop-the-world keeps saying so without flooding the ring buffer.
                if now == last {
                    quiet_rounds += 1;
                    if quiet_rounds % STW_WAIT_EVERY == 1 {
                        super::probe::stw_wait(id, now.max(0) as u32);
                    }
                } else {
                    last = now;
                    quiet_rounds = 0;
                }
            }
        }
        if !self.is_shutdown() {
            for p in self.allp() {
                if p.status() != PStatus::GcStop {
                    super::fatal(&format!(
                        "stop the world: P {} is {} after stopwait reached 0",
                        p.id,
                        p.status().name()
                    ));
                }
            }
        }
        let ns = start.elapsed().as_nanos() as u64;
        self.stats.stws.fetch_add(1, Ordering::Relaxed);
        self.stats.stw_stop_ns.fetch_add(ns, Ordering::Relaxed);
        super::probe::stw_stopped(id, ns);
        (id, ns)
    }

    /// Restarts the world: applies a pending P count, gives the caller its P back, and starts
    /// Ms for Ps that have work.
    pub(crate) fn start_the_world_with_sema(&self, m: &M) {
        let (with_work, wake_sysmon) = self.inner.with(|s| {
            let procs = if s.newprocs != 0 {
                std::mem::take(&mut s.newprocs)
            } else {
                self.procs() as u32
            };
            let with_work = self.procresize(s, m, procs);
            self.stw.gcwaiting.store(false, Ordering::SeqCst);
            let id = self.stw.current.swap(0, Ordering::AcqRel);
            super::probe::stw_end(id);
            (with_work, self.sysmonwait.swap(false, Ordering::SeqCst))
        });
        if wake_sysmon {
            self.sysmon_note.wakeup();
        }
        for p in with_work {
            self.startm(Some(p), false);
        }
        // Go wakes a spinning M here in case runnable goroutines pile up. With nothing
        // runnable that M only takes an idle P, finds nothing and parks again — and the next
        // stop-the-world has to wait for it to notice: look first.
        if self.runqsize.load(Ordering::SeqCst) > 0 || self.allp().any(|p| !p.runq.is_empty()) {
            self.wakep();
        }
    }

    /// Sets the P count to `n` (world stopped or not yet started; scheduler lock held). The
    /// caller's M ends up holding a `_Prunning` P; the other Ps are `_Pidle`, on the idle list
    /// if they have no work, else returned so the caller starts Ms for them. Go's procresize.
    pub(crate) fn procresize<'a>(&'a self, s: &mut SchedInner, m: &M, n: u32) -> Vec<&'a P> {
        let old = self.procs() as u32;
        let n = n.clamp(1, super::MAX_PROCS as u32);
        super::probe::procresize(old, n);
        // New Ps come into existence stopped.
        for i in 0..n as usize {
            let p = self.p_or_create(i);
            if p.status() == PStatus::Dead {
                pstatus::set_status(p, PStatus::Dead, PStatus::GcStop, m.id, Reason::Init);
            }
        }
        // The caller keeps its P if it survives, else takes P 0.
        let cur = m.p();
        let keep = match cur {
            Some(p) if p.id < n => p,
            other => {
                if let Some(p) = other {
                    p.m.store(std::ptr::null_mut(), Ordering::Relaxed);
                }
                let p0 = self.p(0).expect("P 0 exists");
                m.p.store(p0 as *const P as *mut P, Ordering::Relaxed);
                p0
            }
        };
        // Retire Ps past the new count: their goroutines and timers move to survivors.
        for i in n as usize..old as usize {
            let Some(p) = self.p(i) else { continue };
            for g in p.runq.drain() {
                s.runq.push_back(super::GRef(g));
            }
            timers::move_all(p, keep);
            // SAFETY: the world is stopped; nobody else touches retiring Ps' free lists.
            let free = std::mem::take(unsafe { p.gfree() });
            self.gs.free.with(|global| global.extend(free));
            p.m.store(std::ptr::null_mut(), Ordering::Relaxed);
            pstatus::set_status(
                p,
                PStatus::GcStop,
                PStatus::Dead,
                m.id,
                Reason::ProcresizeDead,
            );
        }
        self.runqsize.store(s.runq.len() as u32, Ordering::SeqCst);
        self.gomaxprocs.store(n, Ordering::Release);
        pstatus::set_status(
            keep,
            PStatus::GcStop,
            PStatus::Running,
            m.id,
            Reason::ProcresizeRun,
        );
        keep.m.store(m as *const M as *mut M, Ordering::Relaxed);
        let mut with_work = Vec::new();
        for i in (0..n as usize).rev() {
            let p = self.p(i).expect("created above");
            if std::ptr::eq(p, keep) {
                continue;
            }
            pstatus::set_status(
                p,
                PStatus::GcStop,
                PStatus::Idle,
                m.id,
                Reason::ProcresizeIdle,
            );
            if p.runq.is_empty() {
                self.pidleput(s, p);
            } else {
                with_work.push(p);
            }
        }
        with_work
    }
}

/// The world, stopped: every other P is `_Pgcstop` and no other goroutine runs until this
/// guard drops. Hold it briefly and do not block while holding it (no channel operations, no
/// sleeping): the goroutines you would wait for are stopped.
///
/// The guard belongs to the goroutine that stopped the world (its M runs with preemption
/// disabled until the guard drops), so it is not `Send`:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// goro::Runtime::builder().build().unwrap().block_on(|| {
///     send(goro::stop_the_world(goro::StwReason::User));
/// });
/// ```
pub struct WorldStopped {
    m: &'static M,
    id: u64,
    reason: StwReason,
    stopping_ns: u64,
    /// Not `Send`: dropped elsewhere, it would restart the world from another M.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl WorldStopped {
    /// This stop's sequence number (the `stw_begin` probe's id).
    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn reason(&self) -> StwReason {
        self.reason
    }
    /// Time-to-stop: from announcing the stop to the last P stopping, in nanoseconds (the
    /// `stw_stopped` probe's value). Waiting for another stopper is not included.
    pub fn stopping_ns(&self) -> u64 {
        self.stopping_ns
    }
}

impl std::fmt::Debug for WorldStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorldStopped")
            .field("id", &self.id)
            .field("reason", &self.reason)
            .finish()
    }
}

/// Stops the world (see the module comment); it restarts when the guard drops.
///
/// # Panics
/// Outside a goroutine.
pub fn stop_the_world(reason: StwReason) -> WorldStopped {
    let m = super::m::current_m().filter(|m| m.curg().is_some());
    let m = m.expect("goro::stop_the_world called outside a goroutine");
    super::checkpoint();
    m.sched().stw.worldsema.acquire();
    // The goroutine may have moved while it waited for the semaphore.
    let m = preempt::acquirem().expect("still on a goroutine");
    let (id, stopping_ns) = m.sched().stop_the_world_with_sema(m, reason);
    WorldStopped {
        m,
        id,
        reason,
        stopping_ns,
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for WorldStopped {
    fn drop(&mut self) {
        let sched = self.m.sched();
        sched.start_the_world_with_sema(self.m);
        sched.stw.worldsema.release();
        preempt::releasem(self.m);
    }
}
