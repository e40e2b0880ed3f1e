//! Synthetic event streams, for the engine's tests and its throughput benchmark: a builder
//! that keeps each P's status and `seq` consistent, and a seeded simulation of a busy, healthy
//! runtime (stop-the-worlds of both reasons, P count changes, syscalls claimed by a stop,
//! `lock_os_thread` churn through the template thread, locked Ms parking and being handed Ps).
//! Every stream follows the catalog's transitions; nothing in one should ever be a finding.

use std::collections::HashMap;

use super::input::{Event, EventKind, Handoff, PStatus, Reason, StwReason, SyscallExitKind};

/// Builds a stream, one event at a time, at a clock the caller moves.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub events: Vec<Event>,
    /// The time the next event is stamped with.
    pub now: u64,
    status: HashMap<u32, PStatus>,
    seq: HashMap<u32, u64>,
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Moves the clock forward.
    pub fn adv(&mut self, ns: u64) -> &mut Trace {
        self.now += ns;
        self
    }

    /// Sets the clock (never backwards).
    pub fn at(&mut self, ts: u64) -> &mut Trace {
        self.now = self.now.max(ts);
        self
    }

    /// One event on thread `tid`, one nanosecond after the previous one (so every event has
    /// its own timestamp).
    pub fn ev(&mut self, tid: u32, kind: EventKind) -> &mut Trace {
        self.now += 1;
        self.events.push(Event {
            ts_ns: self.now,
            tid,
            kind,
        });
        self
    }

    /// P `p` changes to `new`, from the status the builder last gave it (`_Pdead` at first),
    /// with the next `seq`.
    pub fn ps(&mut self, tid: u32, p: u32, new: PStatus, m: u64, reason: Reason) -> &mut Trace {
        let old = self.status.insert(p, new).unwrap_or(PStatus::Dead);
        let seq = self.seq.entry(p).or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.ev(
            tid,
            EventKind::PStatus {
                p,
                old,
                new,
                m: (m != 0).then_some(m),
                reason,
                seq: Some(seq),
            },
        )
    }

    /// The status the builder last gave `p`.
    pub fn status(&self, p: u32) -> Option<PStatus> {
        self.status.get(&p).copied()
    }
}

/// A small deterministic generator (xorshift64*), so streams are reproducible from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const US: u64 = 1_000;

struct M {
    tid: u32,
    g: u64,
}

/// The simulated runtime's state, enough to emit only legal sequences.
struct Sim {
    t: Trace,
    rng: Rng,
    nprocs: u32,
    /// Per P: the M running it (`_Prunning`) or in a syscall on it (`_Psyscall`).
    owner: Vec<Option<u64>>,
    idle_list: Vec<u32>,
    ms: HashMap<u64, M>,
    parked: Vec<u64>,
    /// Locked Ms parked until their G is runnable again: (locked M, its G).
    locked_parked: Vec<(u64, u64)>,
    /// Ms in a syscall: (m, g, p).
    in_syscall: Vec<(u64, u64, u32)>,
    next_m: u64,
    next_g: u64,
    stw_id: u64,
    template_m: Option<u64>,
    stws: u64,
}

impl Sim {
    fn new(seed: u64, nprocs: u32) -> Sim {
        let mut s = Sim {
            t: Trace::new(),
            rng: Rng::new(seed),
            nprocs,
            owner: vec![None; 8],
            idle_list: Vec::new(),
            ms: HashMap::new(),
            parked: Vec::new(),
            locked_parked: Vec::new(),
            in_syscall: Vec::new(),
            next_m: 1,
            next_g: 1,
            stw_id: 0,
            template_m: None,
            stws: 0,
        };
        s.t.at(1_000_000);
        let m0 = s.new_m_id();
        let tid0 = s.ms[&m0].tid;
        s.t.ev(tid0, EventKind::MStart { m: m0, tid: tid0 });
        s.t.ev(
            tid0,
            EventKind::ProcResize {
                old: 0,
                new: nprocs,
            },
        );
        for p in 0..nprocs {
            s.t.ps(tid0, p, PStatus::GcStop, m0, Reason::Init);
        }
        s.t.ps(tid0, 0, PStatus::Running, m0, Reason::ProcresizeRun);
        s.owner[0] = Some(m0);
        for p in 1..nprocs {
            s.t.ps(tid0, p, PStatus::Idle, m0, Reason::ProcresizeIdle);
            s.pidle_put(tid0, p, m0);
        }
        for _ in 1..nprocs {
            s.wake_or_start(tid0, m0);
        }
        s
    }

    fn new_m_id(&mut self) -> u64 {
        let m = self.next_m;
        self.next_m += 1;
        let g = self.new_g();
        self.ms.insert(
            m,
            M {
                tid: 1000 + m as u32,
                g,
            },
        );
        m
    }

    fn new_g(&mut self) -> u64 {
        self.next_g += 1;
        self.next_g
    }

    fn tid(&self, m: u64) -> u32 {
        self.ms[&m].tid
    }

    fn step(&mut self) {
        let d = 1 + self.rng.below(200 * US);
        self.t.adv(d);
    }

    fn pidle_put(&mut self, tid: u32, p: u32, m: u64) {
        self.idle_list.push(p);
        let n = self.idle_list.len() as u32;
        self.t.ev(
            tid,
            EventKind::PidlePut {
                p,
                m: Some(m),
                npidle: n,
            },
        );
    }

    fn running(&self) -> Vec<u32> {
        (0..self.nprocs)
            .filter(|&p| self.t.status(p) == Some(PStatus::Running))
            .collect()
    }

    /// An idle-list P to a parked M, or to a new one (created directly).
    fn wake_or_start(&mut self, tid: u32, by: u64) {
        let Some(p) = self.idle_list.pop() else {
            return;
        };
        let n = self.idle_list.len() as u32;
        self.t.ev(
            tid,
            EventKind::PidleGet {
                p,
                m: Some(by),
                npidle: n,
            },
        );
        if let Some(m) = self.parked.pop() {
            self.t.ev(
                tid,
                EventKind::StartM {
                    p: Some(p),
                    m: Some(m),
                    spinning: false,
                },
            );
            self.step();
            let mt = self.tid(m);
            self.t.ev(
                mt,
                EventKind::MWake {
                    m,
                    tid: mt,
                    p: Some(p),
                },
            );
            self.t.ps(mt, p, PStatus::Running, m, Reason::Acquire);
            self.owner[p as usize] = Some(m);
        } else {
            self.t.ev(
                tid,
                EventKind::StartM {
                    p: Some(p),
                    m: None,
                    spinning: false,
                },
            );
            let m = self.new_m_id();
            self.t.ev(
                tid,
                EventKind::NewM {
                    m,
                    creator: Some(by),
                    creator_locked: false,
                    queued: false,
                    p: Some(p),
                    template: false,
                },
            );
            self.step();
            let mt = self.tid(m);
            self.t.ev(mt, EventKind::MStart { m, tid: mt });
            self.t.ps(mt, p, PStatus::Running, m, Reason::Acquire);
            self.owner[p as usize] = Some(m);
        }
    }

    fn pick_running(&mut self) -> Option<(u32, u64)> {
        let r = self.running();
        if r.is_empty() {
            return None;
        }
        let p = r[self.rng.below(r.len() as u64) as usize];
        Some((p, self.owner[p as usize].expect("running P has an owner")))
    }

    fn syscall_enter(&mut self) {
        let Some((p, m)) = self.pick_running() else {
            return;
        };
        let (tid, g) = (self.tid(m), self.ms[&m].g);
        self.t.ev(
            tid,
            EventKind::SyscallEnter {
                g: Some(g),
                p: Some(p),
                m: Some(m),
            },
        );
        self.t.ps(tid, p, PStatus::Syscall, m, Reason::SyscallEnter);
        self.in_syscall.push((m, g, p));
    }

    fn syscall_exit(&mut self) {
        if self.in_syscall.is_empty() {
            return;
        }
        let i = self.rng.below(self.in_syscall.len() as u64) as usize;
        let (m, g, p) = self.in_syscall.swap_remove(i);
        let tid = self.tid(m);
        if self.t.status(p) == Some(PStatus::Syscall) && self.owner[p as usize] == Some(m) {
            self.t.ps(tid, p, PStatus::Idle, m, Reason::SyscallExitFast);
            self.t.ps(tid, p, PStatus::Running, m, Reason::Acquire);
            self.t.ev(
                tid,
                EventKind::SyscallExit {
                    g: Some(g),
                    p: Some(p),
                    m: Some(m),
                    kind: SyscallExitKind::Fast,
                },
            );
        } else {
            // A stop-the-world took its P meanwhile: the G is queued, the M parks.
            self.t.ev(
                tid,
                EventKind::SyscallExit {
                    g: Some(g),
                    p: None,
                    m: Some(m),
                    kind: SyscallExitKind::Slow,
                },
            );
            self.t.ev(tid, EventKind::MPark { m, tid });
            self.parked.push(m);
        }
    }

    fn release(&mut self) {
        if self.running().len() < 2 {
            return;
        }
        let Some((p, m)) = self.pick_running() else {
            return;
        };
        let tid = self.tid(m);
        self.t.ps(tid, p, PStatus::Idle, m, Reason::Release);
        self.owner[p as usize] = None;
        self.t.ev(
            tid,
            EventKind::HandoffP {
                p,
                m: Some(m),
                decision: Handoff::IdleList,
            },
        );
        self.pidle_put(tid, p, m);
        self.t.ev(tid, EventKind::MPark { m, tid });
        self.parked.push(m);
    }

    fn wake(&mut self) {
        let Some((_, by)) = self.pick_running() else {
            return;
        };
        let tid = self.tid(by);
        self.wake_or_start(tid, by);
    }

    /// A G locks its thread (starting the template thread the first time, fixed mode), then
    /// yields: its M hands its P, through a new M queued for the template thread, and parks.
    fn lock_and_yield(&mut self) {
        let Some((p, m)) = self.pick_running() else {
            return;
        };
        let tid = self.tid(m);
        let g = self.ms[&m].g;
        self.t.ev(
            tid,
            EventKind::LockOsThread {
                g: Some(g),
                m,
                ext: 1,
                int: 0,
            },
        );
        if self.template_m.is_none() {
            self.t.ev(tid, EventKind::TemplateStart { m: Some(m) });
            let tm = self.new_m_id();
            self.t.ev(
                tid,
                EventKind::NewM {
                    m: tm,
                    creator: Some(m),
                    creator_locked: false,
                    queued: false,
                    p: None,
                    template: true,
                },
            );
            self.step();
            let tt = self.tid(tm);
            self.t.ev(
                tt,
                EventKind::TemplateRunning {
                    tid: tt,
                    m: Some(tm),
                },
            );
            self.template_m = Some(tm);
        }
        self.step();
        // stoplockedm: release, hand off with work, a new M through the template thread.
        self.t.ps(tid, p, PStatus::Idle, m, Reason::Release);
        self.owner[p as usize] = None;
        self.t.ev(
            tid,
            EventKind::HandoffP {
                p,
                m: Some(m),
                decision: Handoff::StartMForWork,
            },
        );
        // startm: an idle M if there is one; else a new one, which a locked thread must not
        // clone: queued for the template thread.
        if let Some(im) = self.parked.pop() {
            self.t.ev(
                tid,
                EventKind::StartM {
                    p: Some(p),
                    m: Some(im),
                    spinning: false,
                },
            );
            let it = self.tid(im);
            self.t.ev(
                it,
                EventKind::MWake {
                    m: im,
                    tid: it,
                    p: Some(p),
                },
            );
            self.t.ps(it, p, PStatus::Running, im, Reason::Acquire);
            self.owner[p as usize] = Some(im);
            self.t.ev(tid, EventKind::MPark { m, tid });
            self.locked_parked.push((m, g));
            return;
        }
        self.t.ev(
            tid,
            EventKind::StartM {
                p: Some(p),
                m: None,
                spinning: false,
            },
        );
        let nm = self.new_m_id();
        self.t.ev(
            tid,
            EventKind::NewM {
                m: nm,
                creator: Some(m),
                creator_locked: true,
                queued: true,
                p: Some(p),
                template: false,
            },
        );
        self.t
            .ev(tid, EventKind::NewMHandoff { m: nm, list_len: 1 });
        self.t.ev(tid, EventKind::MPark { m, tid });
        self.locked_parked.push((m, g));
        self.step();
        let tt = self.tid(self.template_m.expect("started"));
        self.t.ev(tt, EventKind::TemplateSpawn { m: nm });
        self.step();
        let nt = self.tid(nm);
        self.t.ev(nt, EventKind::MStart { m: nm, tid: nt });
        self.t.ps(nt, p, PStatus::Running, nm, Reason::Acquire);
        self.owner[p as usize] = Some(nm);
    }

    /// A parked locked G is runnable again: some running M gives it its P (startlockedm)
    /// and parks; the locked M wakes, runs, unlocks.
    fn resume_locked(&mut self) {
        if self.locked_parked.is_empty() {
            return;
        }
        let Some((p, by)) = self.pick_running() else {
            return;
        };
        let i = self.rng.below(self.locked_parked.len() as u64) as usize;
        let (lm, g) = self.locked_parked.swap_remove(i);
        let tid = self.tid(by);
        self.t.ps(tid, p, PStatus::Idle, by, Reason::Release);
        self.owner[p as usize] = None;
        self.t.ev(
            tid,
            EventKind::StartLockedM {
                p,
                m: Some(by),
                lockedm: lm,
                g: Some(g),
            },
        );
        self.t.ev(tid, EventKind::MPark { m: by, tid });
        self.parked.push(by);
        self.step();
        let lt = self.tid(lm);
        self.t.ev(
            lt,
            EventKind::MWake {
                m: lm,
                tid: lt,
                p: Some(p),
            },
        );
        self.t.ps(lt, p, PStatus::Running, lm, Reason::Acquire);
        self.owner[p as usize] = Some(lm);
        self.t.ev(
            lt,
            EventKind::UnlockOsThread {
                g: Some(g),
                m: lm,
                ext: 0,
                int: 0,
            },
        );
    }

    fn stop_the_world(&mut self) {
        let Some((own, sm)) = self.pick_running() else {
            return;
        };
        let st = self.tid(sm);
        self.stw_id += 1;
        self.stws += 1;
        let id = self.stw_id;
        let reason = if self.rng.below(4) == 0 {
            StwReason::SetProcs
        } else {
            StwReason::ReadStats
        };
        let begin = self.t.now;
        self.t.ps(st, own, PStatus::GcStop, sm, Reason::StwOwn);
        self.owner[own as usize] = None;
        for p in 0..self.nprocs {
            if self.t.status(p) == Some(PStatus::Syscall) {
                self.t.ps(st, p, PStatus::GcStop, sm, Reason::StwSyscall);
                self.owner[p as usize] = None;
            }
        }
        while let Some(p) = self.idle_list.pop() {
            let n = self.idle_list.len() as u32;
            self.t.ev(
                st,
                EventKind::PidleGet {
                    p,
                    m: Some(sm),
                    npidle: n,
                },
            );
            self.t.ps(st, p, PStatus::GcStop, sm, Reason::StwIdle);
        }
        let running = self.running();
        for &p in &running {
            let m = self.owner[p as usize].expect("running");
            self.t.ev(
                st,
                EventKind::PreemptRequest {
                    g: Some(self.ms[&m].g),
                    p: Some(p),
                    m: Some(m),
                },
            );
        }
        self.t.ev(
            st,
            EventKind::StwBegin {
                id,
                reason,
                nprocs: self.nprocs,
                stopwait: running.len() as u32,
            },
        );
        for (i, &p) in running.iter().enumerate() {
            // Most stop within microseconds; now and then one takes a few hundred.
            let d = if self.rng.below(50) == 0 {
                200 * US + self.rng.below(2_000 * US)
            } else {
                1 + self.rng.below(30 * US)
            };
            self.t.adv(d);
            if d > 150 * US && i == 0 {
                self.t.ev(
                    st,
                    EventKind::StwWait {
                        id,
                        stopwait: (running.len() - i) as u32,
                    },
                );
            }
            let m = self.owner[p as usize].take().expect("running");
            let tid = self.tid(m);
            self.t.ev(
                tid,
                EventKind::Preempted {
                    g: Some(self.ms[&m].g),
                    p: Some(p),
                    m: Some(m),
                },
            );
            self.t.ps(tid, p, PStatus::GcStop, m, Reason::StwSelf);
            self.t.ev(tid, EventKind::MPark { m, tid });
            self.parked.push(m);
        }
        let ns = self.t.now - begin + 1;
        self.t.ev(st, EventKind::StwStopped { id, ns });
        // Start the world, maybe with another P count.
        let new = if reason == StwReason::SetProcs {
            2 + self.rng.below(4) as u32
        } else {
            self.nprocs
        };
        self.t.ev(
            st,
            EventKind::ProcResize {
                old: self.nprocs,
                new,
            },
        );
        for p in self.nprocs..new {
            if self.t.status(p) != Some(PStatus::GcStop) {
                self.t.ps(st, p, PStatus::GcStop, sm, Reason::Init);
            }
        }
        for p in new..self.nprocs {
            self.t.ps(st, p, PStatus::Dead, sm, Reason::ProcresizeDead);
        }
        self.nprocs = new;
        let keep = if own < new { own } else { 0 };
        self.t
            .ps(st, keep, PStatus::Running, sm, Reason::ProcresizeRun);
        self.owner[keep as usize] = Some(sm);
        for p in (0..new).rev() {
            if p != keep {
                self.t.ps(st, p, PStatus::Idle, sm, Reason::ProcresizeIdle);
                self.pidle_put(st, p, sm);
            }
        }
        self.t.ev(st, EventKind::StwEnd { id });
        // Ms for the Ps that have work.
        for _ in 0..self.rng.below(u64::from(new)) {
            self.wake_or_start(st, sm);
        }
    }

    fn run(&mut self, events: usize) {
        while self.t.events.len() < events {
            self.step();
            // A stop-the-world about every 10 ms, so one left open is soon past a timeout.
            match self.rng.below(100) {
                0..=21 => self.syscall_enter(),
                22..=43 => self.syscall_exit(),
                44..=59 => self.release(),
                60..=75 => self.wake(),
                76..=87 => self.lock_and_yield(),
                88..=98 => self.resume_locked(),
                _ => self.stop_the_world(),
            }
        }
    }
}

/// A healthy busy run of at least `events` events, reproducible from `seed`: the stream, and
/// how many stop-the-worlds it has.
pub fn healthy(seed: u64, events: usize) -> (Vec<Event>, u64) {
    let mut s = Sim::new(seed, 4);
    s.run(events);
    (s.t.events, s.stws)
}

/// Delivers `events` as a multi-CPU source would: each shifted by up to `jitter_ns` in
/// arrival order (timestamps unchanged), and, now and then, two consecutive changes of one P
/// made by different threads within 200 µs stamped in the wrong order (the probe fires after
/// the change, so the second thread's probe can fire first).
pub fn scramble(events: &[Event], jitter_ns: u64, seed: u64) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut evs = events.to_vec();
    // Swap the stamps of some consecutive same-P changes by different threads.
    let mut last: HashMap<u32, usize> = HashMap::new();
    for i in 0..evs.len() {
        if let EventKind::PStatus { p, .. } = evs[i].kind {
            if let Some(&j) = last.get(&p)
                && evs[j].tid != evs[i].tid
                && evs[i].ts_ns - evs[j].ts_ns <= 200 * US
                && rng.below(2) == 0
            {
                let (a, b) = (evs[j].ts_ns, evs[i].ts_ns);
                evs[j].ts_ns = b;
                evs[i].ts_ns = a;
            }
            last.insert(p, i);
        }
    }
    let mut keyed: Vec<(u64, Event)> = evs
        .into_iter()
        .map(|e| (e.ts_ns + rng.below(jitter_ns + 1), e))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, e)| e).collect()
}
