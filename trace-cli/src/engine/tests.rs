//! The engine from synthetic event sequences: each cause, the healthy cases that must stay
//! silent, reordering, losses, attaching mid-run and snapshots.

use super::input::{EventKind, Handoff, PStatus, Reason, StwReason};
use super::snapshot::{MSnap, PSnap, Snapshot, StwSnap, TemplateSnap};
use super::synth::{self, Trace};
use super::*;

pub(crate) const MS: u64 = 1_000_000;

// Threads of the scenarios: M1 (G1), M2 (G2), M3, M4 (the stopper), by tid.
const T1: u32 = 101;
const T2: u32 = 102;
const T3: u32 = 103;
const T4: u32 = 104;

pub(crate) fn config() -> Config {
    Config::default()
}

/// For the healthy streams: a timeout just above their slowest stop (about 2 ms), so a stop
/// the model failed to close, or a P it failed to see stop, would be a finding.
fn tight() -> Config {
    Config {
        stw_timeout_ns: 5 * MS,
        ..config()
    }
}

/// Four Ps: P0 runs on M4, P1 on M1, P2 on M2, P3 idle on the idle list.
fn world() -> Trace {
    let mut t = Trace::new();
    t.at(5 * MS);
    // As the runtime does: M0 (M4 here) creates the Ps first; the other Ms start after.
    t.ev(T4, EventKind::ProcResize { old: 0, new: 4 });
    for (m, tid) in [(1, T1), (2, T2), (4, T4)] {
        t.ev(tid, EventKind::MStart { m, tid });
    }
    for p in 0..4 {
        t.ps(T4, p, PStatus::GcStop, 4, Reason::Init);
    }
    t.ps(T4, 0, PStatus::Running, 4, Reason::ProcresizeRun);
    for p in 1..4 {
        t.ps(T4, p, PStatus::Idle, 4, Reason::ProcresizeIdle);
        t.ev(
            T4,
            EventKind::PidlePut {
                p,
                m: Some(4),
                npidle: p,
            },
        );
    }
    for (p, m, tid) in [(1, 1, T1), (2, 2, T2)] {
        t.ev(
            tid,
            EventKind::PidleGet {
                p,
                m: Some(m),
                npidle: 1,
            },
        );
        t.ps(tid, p, PStatus::Running, m, Reason::Acquire);
    }
    t
}

/// The stopper (M4 on P0) begins stop-the-world `id`: stops its own P and the idle P3, asks
/// the Gs of `running` to yield, fires `stw_begin`.
fn stw_begin(t: &mut Trace, id: u64, running: &[(u32, u64, u64)]) {
    t.ps(T4, 0, PStatus::GcStop, 4, Reason::StwOwn);
    if t.status(3) == Some(PStatus::Idle) {
        t.ev(
            T4,
            EventKind::PidleGet {
                p: 3,
                m: Some(4),
                npidle: 0,
            },
        );
        t.ps(T4, 3, PStatus::GcStop, 4, Reason::StwIdle);
    }
    for &(p, m, g) in running {
        t.ev(
            T4,
            EventKind::PreemptRequest {
                g: Some(g),
                p: Some(p),
                m: Some(m),
            },
        );
    }
    t.ev(
        T4,
        EventKind::StwBegin {
            id,
            reason: StwReason::ReadStats,
            nprocs: 4,
            stopwait: running.len() as u32,
        },
    );
}

/// M1 (G1) sets the template flag and is preempted inside thread creation: P1 stops.
fn g1_sets_flag_and_stops(t: &mut Trace) {
    t.ev(
        T1,
        EventKind::LockOsThread {
            g: Some(1),
            m: 1,
            ext: 1,
            int: 0,
        },
    );
    t.ev(T1, EventKind::TemplateStart { m: Some(1) });
}

fn g1_preempted(t: &mut Trace) {
    t.adv(20_000);
    t.ev(
        T1,
        EventKind::Preempted {
            g: Some(1),
            p: Some(1),
            m: Some(1),
        },
    );
    t.ps(T1, 1, PStatus::GcStop, 1, Reason::StwSelf);
    t.ev(T1, EventKind::MPark { m: 1, tid: T1 });
}

/// M2 (G2) locks (flag already set), yields: P2 released, handed off with work to new M5,
/// queued for the template thread.
fn g2_locks_and_yields(t: &mut Trace) {
    t.adv(30_000);
    t.ev(
        T2,
        EventKind::LockOsThread {
            g: Some(2),
            m: 2,
            ext: 1,
            int: 0,
        },
    );
    t.adv(10_000);
    t.ps(T2, 2, PStatus::Idle, 2, Reason::Release);
    t.ev(
        T2,
        EventKind::HandoffP {
            p: 2,
            m: Some(2),
            decision: Handoff::StartMForWork,
        },
    );
    t.ev(
        T2,
        EventKind::StartM {
            p: Some(2),
            m: None,
            spinning: false,
        },
    );
    t.ev(
        T2,
        EventKind::NewM {
            m: 5,
            creator: Some(2),
            creator_locked: true,
            queued: true,
            p: Some(2),
            template: false,
        },
    );
    t.ev(T2, EventKind::NewMHandoff { m: 5, list_len: 1 });
    t.ev(T2, EventKind::MPark { m: 2, tid: T2 });
}

/// The stopper's wait rounds: a `stw_wait` every 100 ms until `until`.
fn waits(t: &mut Trace, id: u64, left: u32, until: u64) {
    t.adv(100_000);
    while t.now < until {
        t.ev(T4, EventKind::StwWait { id, stopwait: left });
        t.adv(100 * MS);
    }
}

/// golang/go#38931, exactly: G1 sets the flag and is preempted before creating the template
/// thread; G2 locks, yields, and its P is handed to an M queued for that thread.
pub(crate) fn race_38931() -> Trace {
    let mut t = world();
    t.adv(MS);
    g1_sets_flag_and_stops(&mut t);
    t.adv(5_000);
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    g1_preempted(&mut t);
    g2_locks_and_yields(&mut t);
    let until = t.now + 1_500 * MS;
    waits(&mut t, 1, 1, until);
    t
}

/// Feeds events in arrival order with a tick every `tick_ns` of event time, then ticks to
/// `end`; returns every finding.
pub(crate) fn run(engine: &mut Engine, events: &[Event], tick_ns: u64, end: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut next_tick = events.first().map_or(0, |e| e.ts_ns) + tick_ns;
    for e in events {
        while e.ts_ns > next_tick {
            out.extend(engine.tick(next_tick));
            next_tick += tick_ns;
        }
        out.extend(engine.feed(Input::Event(*e)));
    }
    while next_tick <= end {
        out.extend(engine.tick(next_tick));
        next_tick += tick_ns;
    }
    out
}

fn stuck(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.kind == Kind::StuckPInStw)
        .collect()
}

#[test]
fn the_38931_interleaving_is_a_template_thread_race_on_the_idle_p() {
    let t = race_38931();
    let mut e = Engine::new(config());
    let end = t.now + 100 * MS;
    let found = run(&mut e, &t.events, 10 * MS, end);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.kind, Kind::StuckPInStw);
    assert_eq!(f.p, Some(2));
    assert_eq!(f.status, Some(PStatus::Idle));
    assert_eq!(f.cause, Some(Cause::TemplateThreadRace));
    assert_eq!(f.confidence, Confidence::High);
    assert_eq!(f.stw_id, 1);
    assert_eq!(f.stw_reason, Some("read_stats"));
    assert!(
        f.waiting_ms > 1000.0 && f.waiting_ms < 1100.0,
        "{}",
        f.waiting_ms
    );
    let h = f.handed_to.as_ref().expect("handed to M5");
    assert_eq!(
        (h.m, h.started, h.queued_for_template),
        (5, Some(false), true)
    );
    let tpl = f.template.as_ref().expect("template state");
    assert_eq!(
        (tpl.flag, tpl.flag_set_by, tpl.running, tpl.handoff_len),
        (Some(true), Some(1), Some(false), Some(1))
    );
    let lc = f.last_change.as_ref().expect("last change");
    assert_eq!((lc.m, lc.reason), (Some(2), Some(Reason::Release)));
    assert_eq!(f.stopped_ps, vec![0, 1, 3]);
    // The chain is the story, and only it.
    let probes: Vec<(&str, &str)> = f
        .chain
        .iter()
        .map(|c| (c.thread.as_str(), c.probe))
        .collect();
    for want in [
        ("M1", "lock_os_thread"),
        ("M1", "template_start"),
        ("M1", "preempted"),
        ("M4", "stw_begin"),
        ("M2", "lock_os_thread"),
        ("M2", "p_status"),
        ("M2", "handoff_p"),
        ("M2", "newm"),
        ("M2", "newm_handoff"),
    ] {
        assert!(probes.contains(&want), "{want:?} missing from {probes:?}");
    }
    assert!(
        !probes.iter().any(|(t, _)| *t == "M3"),
        "M3 has nothing to do with it"
    );
    assert_eq!(
        probes.iter().filter(|(_, p)| *p == "stw_wait").count(),
        1,
        "one wait round says it waits; the others are noise"
    );
    let ts: Vec<u64> = f.chain.iter().map(|c| c.ts_ns).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "in time order");
    // The JSON has the contracted fields.
    let v: serde_json::Value = serde_json::from_str(&f.to_json()).unwrap();
    assert_eq!(v["kind"], "stuck_p_in_stw");
    assert_eq!(v["p"], 2);
    assert_eq!(v["status"], "_Pidle");
    assert_eq!(v["cause"], "template_thread_race");
    assert_eq!(v["stw_reason"], "read_stats");
    assert_eq!(v["stw_id"], 1);
    assert!(v["waiting_ms"].as_f64().unwrap() > 1000.0);
    assert_eq!(v["handed_to"]["m"], 5);
    assert_eq!(v["last_change"]["reason"], "release");
    assert!(v["chain"].as_array().unwrap().len() >= 9);
    // The text shows one column per thread.
    let text = interleaving::render_text(f);
    let header = text
        .lines()
        .find(|l| l.contains("M1") && l.contains("M2") && l.contains("M4"))
        .expect("a header with the threads");
    assert!(header.find("M1") < header.find("M4"), "{text}");
    assert!(text.contains("have_template_thread 0→1"), "{text}");
    assert!(text.contains("template_thread_race"), "{text}");
    let roles: Vec<(&str, &str)> = f
        .threads
        .iter()
        .map(|r| (r.thread.as_str(), r.role.as_str()))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("M2", "changed P2 last"),
            ("M1", "set the template flag"),
            ("M4", "stops the world")
        ]
    );
    assert!(text.contains("(set the template flag)"), "{text}");
    let summary = e.summary();
    assert_eq!(
        (summary.stws, summary.stuck_p_in_stw, summary.lost),
        (1, 1, 0)
    );
    assert!(summary.stw_in_progress.is_some());
}

#[test]
fn the_finding_comes_once_and_only_after_the_timeout() {
    let t = race_38931();
    let begin = t
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::StwBegin { .. }))
        .unwrap()
        .ts_ns;
    let mut e = Engine::new(config());
    let mut first = None;
    let mut count = 0;
    let mut next = begin;
    let mut evs = t.events.iter().peekable();
    while next < begin + 3_000 * MS {
        while let Some(ev) = evs.next_if(|ev| ev.ts_ns <= next) {
            count += e.feed(Input::Event(*ev)).len();
        }
        let f = e.tick(next);
        if !f.is_empty() && first.is_none() {
            first = Some(next);
        }
        count += f.len();
        next += MS;
    }
    assert_eq!(count, 1);
    let at = first.expect("found by a tick");
    // Ticks see time up to the reorder window behind them.
    let lag = at - begin - config().stw_timeout_ns;
    assert!(
        lag <= config().reorder_window_ns + 2 * MS,
        "found {lag} ns after the timeout"
    );
}

#[test]
fn a_hung_process_is_found_from_ticks_alone() {
    // The last event is the hand-off; nothing arrives after it, not even a wait round.
    let mut t = world();
    t.adv(MS);
    g1_sets_flag_and_stops(&mut t);
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    g1_preempted(&mut t);
    g2_locks_and_yields(&mut t);
    let mut e = Engine::new(config());
    let mut found = Vec::new();
    for ev in &t.events {
        found.extend(e.feed(Input::Event(*ev)));
    }
    assert!(found.is_empty());
    found.extend(e.tick(t.now + 500 * MS));
    assert!(found.is_empty(), "not before the timeout");
    found.extend(e.tick(t.now + 1_200 * MS));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].cause, Some(Cause::TemplateThreadRace));
}

#[test]
fn a_p_handed_to_a_new_m_that_never_starts_is_unstarted_m() {
    let mut t = world();
    t.adv(MS);
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    g1_preempted(&mut t);
    // M2 blocks; handoffp starts a new M directly (not locked, not queued); it never runs.
    t.ps(T2, 2, PStatus::Idle, 2, Reason::Release);
    t.ev(
        T2,
        EventKind::HandoffP {
            p: 2,
            m: Some(2),
            decision: Handoff::StartMForWork,
        },
    );
    t.ev(
        T2,
        EventKind::StartM {
            p: Some(2),
            m: None,
            spinning: false,
        },
    );
    t.ev(
        T2,
        EventKind::NewM {
            m: 6,
            creator: Some(2),
            creator_locked: false,
            queued: false,
            p: Some(2),
            template: false,
        },
    );
    let until = t.now + 1_300 * MS;
    waits(&mut t, 1, 1, until);
    let mut e = Engine::new(config());
    let found = run(&mut e, &t.events, 10 * MS, t.now);
    let s = stuck(&found);
    assert_eq!(s.len(), 1, "{found:#?}");
    assert_eq!(
        (s[0].p, s[0].cause, s[0].status),
        (Some(2), Some(Cause::UnstartedM), Some(PStatus::Idle))
    );
    assert_eq!(s[0].handed_to.as_ref().unwrap().m, 6);
}

#[test]
fn a_p_handed_to_a_parked_m_that_never_wakes_is_a_lost_wakeup() {
    let mut t = world();
    // M3 started earlier and parked on the idle M list.
    t.ev(T3, EventKind::MStart { m: 3, tid: T3 });
    t.adv(MS);
    t.ev(T3, EventKind::MPark { m: 3, tid: T3 });
    t.adv(MS);
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    g1_preempted(&mut t);
    // M2 blocks with work on P2: startm wakes idle M3 with it — and the wake-up is lost.
    t.ps(T2, 2, PStatus::Idle, 2, Reason::Release);
    t.ev(
        T2,
        EventKind::HandoffP {
            p: 2,
            m: Some(2),
            decision: Handoff::StartMForWork,
        },
    );
    t.ev(
        T2,
        EventKind::StartM {
            p: Some(2),
            m: Some(3),
            spinning: false,
        },
    );
    let until = t.now + 1_300 * MS;
    waits(&mut t, 1, 1, until);
    let mut e = Engine::new(config());
    let found = run(&mut e, &t.events, 10 * MS, t.now);
    let s = stuck(&found);
    assert_eq!(s.len(), 1, "{found:#?}");
    assert_eq!((s[0].p, s[0].cause), (Some(2), Some(Cause::LostWakeup)));
    let h = s[0].handed_to.as_ref().unwrap();
    assert_eq!((h.m, h.started, h.parked), (3, Some(true), Some(true)));
    assert!(
        s[0].chain
            .iter()
            .any(|c| c.probe == "m_park" && c.thread == "M3")
    );
}

#[test]
fn a_p_given_to_a_locked_m_that_never_wakes_is_a_lost_wakeup() {
    let mut t = world();
    // M3 runs a locked G3 that blocked: stoplockedm parked it.
    t.ev(T3, EventKind::MStart { m: 3, tid: T3 });
    t.ev(
        T3,
        EventKind::LockOsThread {
            g: Some(3),
            m: 3,
            ext: 1,
            int: 0,
        },
    );
    t.ev(T3, EventKind::MPark { m: 3, tid: T3 });
    t.adv(MS);
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    g1_preempted(&mut t);
    // M2's scheduler finds G3 runnable: gives P2 to M3 (startlockedm); M3 never wakes.
    t.ps(T2, 2, PStatus::Idle, 2, Reason::Release);
    t.ev(
        T2,
        EventKind::StartLockedM {
            p: 2,
            m: Some(2),
            lockedm: 3,
            g: Some(3),
        },
    );
    t.ev(T2, EventKind::MPark { m: 2, tid: T2 });
    let until = t.now + 1_300 * MS;
    waits(&mut t, 1, 1, until);
    let mut e = Engine::new(config());
    let s = run(&mut e, &t.events, 10 * MS, t.now);
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!((s[0].p, s[0].cause), (Some(2), Some(Cause::LostWakeup)));
}

#[test]
fn a_g_that_never_reaches_a_safepoint_is_nonpreemptible_and_dead_ps_are_not_findings() {
    let mut t = world();
    // Shrink to 3 Ps first (P3 dead) with a quick set_procs stop-the-world.
    t.adv(MS);
    t.ps(T4, 0, PStatus::GcStop, 4, Reason::StwOwn);
    t.ev(
        T4,
        EventKind::PidleGet {
            p: 3,
            m: Some(4),
            npidle: 0,
        },
    );
    t.ps(T4, 3, PStatus::GcStop, 4, Reason::StwIdle);
    t.ev(
        T4,
        EventKind::StwBegin {
            id: 1,
            reason: StwReason::SetProcs,
            nprocs: 4,
            stopwait: 2,
        },
    );
    for (p, m, tid) in [(1, 1, T1), (2, 2, T2)] {
        t.ps(tid, p, PStatus::GcStop, m, Reason::StwSelf);
    }
    t.ev(T4, EventKind::StwStopped { id: 1, ns: 50_000 });
    t.ev(T4, EventKind::ProcResize { old: 4, new: 3 });
    t.ps(T4, 3, PStatus::Dead, 4, Reason::ProcresizeDead);
    t.ps(T4, 0, PStatus::Running, 4, Reason::ProcresizeRun);
    for p in [1, 2] {
        t.ps(T4, p, PStatus::Idle, 4, Reason::ProcresizeIdle);
    }
    t.ev(T4, EventKind::StwEnd { id: 1 });
    for (p, m, tid) in [(1, 1, T1), (2, 2, T2)] {
        t.ps(tid, p, PStatus::Running, m, Reason::Acquire);
    }
    // G7 on P1 spins without a checkpoint through the next stop.
    t.adv(MS);
    t.ps(T4, 0, PStatus::GcStop, 4, Reason::StwOwn);
    for (p, m, g) in [(1, 1, 7), (2, 2, 2)] {
        t.ev(
            T4,
            EventKind::PreemptRequest {
                g: Some(g),
                p: Some(p),
                m: Some(m),
            },
        );
    }
    t.ev(
        T4,
        EventKind::StwBegin {
            id: 2,
            reason: StwReason::ReadStats,
            nprocs: 3,
            stopwait: 2,
        },
    );
    t.adv(10_000);
    t.ev(
        T2,
        EventKind::Preempted {
            g: Some(2),
            p: Some(2),
            m: Some(2),
        },
    );
    t.ps(T2, 2, PStatus::GcStop, 2, Reason::StwSelf);
    let until = t.now + 1_300 * MS;
    waits(&mut t, 2, 1, until);
    let mut e = Engine::new(config());
    let found = run(&mut e, &t.events, 10 * MS, t.now);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(
        (f.p, f.status, f.cause, f.g, f.owner_m),
        (
            Some(1),
            Some(PStatus::Running),
            Some(Cause::NonpreemptibleG),
            Some(7),
            Some(1)
        )
    );
    assert_eq!(f.nprocs, Some(3));
    assert!(f.explanation.contains("safepoint"), "{}", f.explanation);
}

#[test]
fn one_hang_can_block_on_several_ps_and_each_is_reported() {
    let mut t = world();
    // P3 too is running (M3), and gets handed to a queued M like P2.
    t.ev(T3, EventKind::MStart { m: 3, tid: T3 });
    t.ev(
        T3,
        EventKind::PidleGet {
            p: 3,
            m: Some(3),
            npidle: 0,
        },
    );
    t.ps(T3, 3, PStatus::Running, 3, Reason::Acquire);
    t.adv(MS);
    g1_sets_flag_and_stops(&mut t);
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2), (3, 3, 3)]);
    g1_preempted(&mut t);
    g2_locks_and_yields(&mut t);
    t.ev(
        T3,
        EventKind::LockOsThread {
            g: Some(3),
            m: 3,
            ext: 1,
            int: 0,
        },
    );
    t.ps(T3, 3, PStatus::Idle, 3, Reason::Release);
    t.ev(
        T3,
        EventKind::HandoffP {
            p: 3,
            m: Some(3),
            decision: Handoff::StartMForWork,
        },
    );
    t.ev(
        T3,
        EventKind::StartM {
            p: Some(3),
            m: None,
            spinning: false,
        },
    );
    t.ev(
        T3,
        EventKind::NewM {
            m: 8,
            creator: Some(3),
            creator_locked: true,
            queued: true,
            p: Some(3),
            template: false,
        },
    );
    t.ev(T3, EventKind::NewMHandoff { m: 8, list_len: 2 });
    let until = t.now + 1_300 * MS;
    waits(&mut t, 1, 2, until);
    let mut e = Engine::new(config());
    let found = run(&mut e, &t.events, 10 * MS, t.now + 2_000 * MS);
    let mut got: Vec<_> = found
        .iter()
        .map(|f| (f.p, f.cause, f.handed_to.as_ref().map(|h| h.m)))
        .collect();
    got.sort_by_key(|g| g.0);
    assert_eq!(
        got,
        vec![
            (Some(2), Some(Cause::TemplateThreadRace), Some(5)),
            (Some(3), Some(Cause::TemplateThreadRace), Some(8))
        ]
    );
}

#[test]
fn a_slow_stop_that_finishes_is_slow_stw_never_stuck() {
    // 400 ms to stop, with a 250 ms timeout: stuck while it waits past 250 ms (it does wait
    // past the timeout), then slow; after it finishes, never stuck again.
    let mut t = world();
    t.adv(MS);
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    let begin = t.now;
    g1_preempted(&mut t);
    t.at(begin + 400 * MS);
    t.ps(T2, 2, PStatus::GcStop, 2, Reason::StwSelf);
    t.ev(
        T4,
        EventKind::StwStopped {
            id: 1,
            ns: 400 * MS,
        },
    );
    t.ev(T4, EventKind::StwEnd { id: 1 });
    // Below the timeout: only slow_stw.
    let mut e = Engine::new(Config {
        stw_timeout_ns: 1_000 * MS,
        ..config()
    });
    let found = run(&mut e, &t.events, 5 * MS, t.now + 3_000 * MS);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, Kind::SlowStw);
    assert_eq!(found[0].stw_id, 1);
    assert!((found[0].waiting_ms - 400.0).abs() < 1e-9);
    assert_eq!(e.summary().time_to_stop.count, 1);
    assert_eq!(e.summary().stw_in_progress, None);
    // The same run fed with no ticks at all, then finished: the same.
    let mut e = Engine::new(config());
    let mut found = Vec::new();
    for ev in &t.events {
        found.extend(e.feed(Input::Event(*ev)));
    }
    found.extend(e.finish(Some(t.now + 3_000 * MS)));
    assert_eq!(
        found.iter().map(|f| f.kind).collect::<Vec<_>>(),
        vec![Kind::SlowStw]
    );
}

#[test]
fn the_fixed_runtime_s_template_start_transient_is_not_a_finding() {
    // Fixed mode: the first lock_os_thread sets the flag and creates the template thread
    // without being preempted; a stop-the-world meanwhile waits ~30 ms for a P handed to a
    // queued M, until the template thread runs and creates it. Healthy.
    let mut t = world();
    t.adv(MS);
    g1_sets_flag_and_stops(&mut t);
    t.ev(
        T1,
        EventKind::NewM {
            m: 9,
            creator: Some(1),
            creator_locked: false,
            queued: false,
            p: None,
            template: true,
        },
    );
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    g2_locks_and_yields(&mut t);
    // Looks like the race for now.
    t.adv(30 * MS);
    t.ev(
        109,
        EventKind::TemplateRunning {
            tid: 109,
            m: Some(9),
        },
    );
    t.ev(109, EventKind::TemplateSpawn { m: 5 });
    t.adv(100_000);
    t.ev(105, EventKind::MStart { m: 5, tid: 105 });
    t.ps(105, 2, PStatus::Running, 5, Reason::Acquire);
    t.ps(105, 2, PStatus::GcStop, 5, Reason::StwSelf);
    g1_preempted(&mut t);
    t.ev(T4, EventKind::StwStopped { id: 1, ns: 31 * MS });
    t.ev(T4, EventKind::StwEnd { id: 1 });
    let mut e = Engine::new(config());
    let found = run(&mut e, &t.events, MS, t.now + 2_000 * MS);
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(e.summary().time_to_stop.count, 1);
}

#[test]
fn a_busy_healthy_run_has_no_finding() {
    let (events, stws) = synth::healthy(1, 200_000);
    let mut e = Engine::new(tight());
    let end = events.last().unwrap().ts_ns + 5_000 * MS;
    let found = run(&mut e, &events, MS, end);
    assert!(found.is_empty(), "{:#?}", &found[..found.len().min(3)]);
    let s = e.summary();
    assert_eq!(s.stws, stws);
    assert_eq!(s.time_to_stop.count, stws);
    assert!(stws > 300, "{stws} stop-the-worlds");
    assert_eq!((s.seq_gaps, s.stale, s.lost, s.late), (0, 0, 0, 0));
    assert_eq!(s.events, events.len() as u64);
}

#[test]
fn a_long_healthy_stream_replayed_keeps_memory_bounded_and_finds_nothing() {
    // Several seeds, a million events in all.
    let mut total = 0;
    for seed in 10..15 {
        let (events, _) = synth::healthy(seed, 200_000);
        total += events.len();
        let mut e = Engine::new(tight());
        let mut peak = 0;
        for ev in &events {
            assert!(e.feed(Input::Event(*ev)).is_empty());
            peak = peak.max(e.buffered());
        }
        assert!(e.finish(None).is_empty());
        // The reorder buffer holds one window's worth of events, not the run.
        assert!(peak < 5_000, "{peak} buffered");
        assert!(e.model().ms.len() < 5_000);
    }
    assert!(total >= 1_000_000);
}

#[test]
fn out_of_order_delivery_gives_the_same_result_as_in_order() {
    // Healthy: scrambled within 2 ms across CPUs, with some same-P changes stamped backwards.
    let (events, stws) = synth::healthy(2, 100_000);
    let scrambled = synth::scramble(&events, 2 * MS, 7);
    assert_ne!(scrambled, events);
    // Some changes of one P are stamped before the change they follow.
    let mut last: std::collections::HashMap<u32, (u64, u64)> = Default::default();
    let mut backwards = 0;
    let mut by_seq: Vec<(u32, u64, u64)> = scrambled
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::PStatus {
                p, seq: Some(s), ..
            } => Some((p, s, e.ts_ns)),
            _ => None,
        })
        .collect();
    by_seq.sort();
    for (p, s, ts) in by_seq {
        if let Some((ls, lts)) = last.insert(p, (s, ts))
            && ls + 1 == s
            && lts > ts
        {
            backwards += 1;
        }
    }
    assert!(backwards > 100, "{backwards} stamped backwards");
    let mut e = Engine::new(tight());
    let found = run(
        &mut e,
        &scrambled,
        MS,
        scrambled.last().unwrap().ts_ns + 3_000 * MS,
    );
    assert!(found.is_empty(), "{:#?}", &found[..found.len().min(3)]);
    let s = e.summary();
    assert_eq!(s.stws, stws);
    assert_eq!(
        (s.seq_gaps, s.stale),
        (0, 0),
        "seq put every P back in order"
    );
    // The hang, scrambled: the same finding.
    let t = race_38931();
    let mut e = Engine::new(config());
    let in_order = run(&mut e, &t.events, 10 * MS, t.now + 100 * MS);
    for seed in 0..20 {
        let mut e = Engine::new(config());
        let scrambled = synth::scramble(&t.events, 3 * MS, seed);
        let found = run(&mut e, &scrambled, 10 * MS, t.now + 100 * MS);
        assert_eq!(found.len(), 1, "seed {seed}");
        let (a, b) = (&found[0], &in_order[0]);
        assert_eq!(
            (
                a.p,
                a.status,
                a.cause,
                a.confidence,
                &a.handed_to,
                &a.chain.len()
            ),
            (
                b.p,
                b.status,
                b.cause,
                b.confidence,
                &b.handed_to,
                &b.chain.len()
            ),
            "seed {seed}"
        );
    }
}

#[test]
fn lost_events_are_counted_and_never_invent_a_finding() {
    // A healthy run with events dropped here and there, each drop reported.
    let (events, _) = synth::healthy(3, 100_000);
    let mut rng = synth::Rng::new(5);
    let mut e = Engine::new(tight());
    let mut found = Vec::new();
    let mut dropped = 0;
    for ev in &events {
        if rng.below(500) == 0 {
            dropped += 1;
            found.extend(e.feed(Input::Lost { count: 1 }));
            continue;
        }
        found.extend(e.feed(Input::Event(*ev)));
    }
    found.extend(e.finish(Some(events.last().unwrap().ts_ns + 5_000 * MS)));
    let stuck = stuck(&found);
    assert!(stuck.is_empty(), "{stuck:#?}");
    let s = e.summary();
    assert_eq!(s.lost, dropped);
    assert!(s.lost > 0);
}

#[test]
fn a_stop_whose_end_was_lost_is_not_stuck() {
    let mut t = world();
    t.adv(MS);
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    g1_preempted(&mut t);
    let mut e = Engine::new(config());
    let mut found = Vec::new();
    for ev in &t.events {
        found.extend(e.feed(Input::Event(*ev)));
    }
    // P2's stop, stw_stopped and stw_end are lost; then silence.
    found.extend(e.feed(Input::Lost { count: 3 }));
    for i in 1..=30 {
        found.extend(e.tick(t.now + i * 100 * MS));
    }
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(e.summary().lost, 3);
}

#[test]
fn a_gap_in_a_p_s_history_is_not_called_a_template_race() {
    // The hang, but P2's release was lost (seen as a gap in its seq when P2 changes again);
    // its later history is real but where it came from is not known.
    let t = race_38931();
    let mut events = t.events.clone();
    let release = events
        .iter()
        .position(|e| {
            matches!(
                e.kind,
                EventKind::PStatus {
                    p: 2,
                    reason: Reason::Release,
                    ..
                }
            )
        })
        .unwrap();
    // Replace the lost release by a later change that carries the gap: the P was stopped
    // and restarted in events we never saw, and is idle again now.
    let EventKind::PStatus { seq, .. } = events[release].kind else {
        unreachable!()
    };
    events[release].kind = EventKind::PStatus {
        p: 2,
        old: PStatus::Running,
        new: PStatus::Idle,
        m: Some(2),
        reason: Reason::Release,
        seq: seq.map(|s| s + 2),
    };
    let mut e = Engine::new(config());
    let found = run(&mut e, &events, 10 * MS, t.now + 100 * MS);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].p, Some(2));
    assert_eq!(found[0].cause, Some(Cause::Unknown));
    assert_eq!(found[0].confidence, Confidence::Low);
    assert_eq!(e.summary().seq_gaps, 2);
    // And a loss reported after the hand-off: the status may be stale — not a race either.
    let mut e = Engine::new(config());
    let mut found = Vec::new();
    let cut = t
        .events
        .iter()
        .position(|e| matches!(e.kind, EventKind::StwWait { .. }))
        .unwrap();
    for ev in &t.events[..cut] {
        found.extend(e.feed(Input::Event(*ev)));
    }
    found.extend(e.feed(Input::Lost { count: 4 }));
    found.extend(run(&mut e, &t.events[cut..], 10 * MS, t.now + 100 * MS));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].p, found[0].cause, found[0].confidence),
        (Some(2), Some(Cause::Unknown), Confidence::Low)
    );
    assert!(
        found[0].explanation.contains("template thread"),
        "what was last seen is still said: {}",
        found[0].explanation
    );
}

#[test]
fn attached_mid_run_a_hang_is_reported_without_naming_what_was_not_seen() {
    // Attached to a process already hung: only wait rounds arrive. No P is known, so none is
    // named; but the stop's own count says one has not stopped for longer than the timeout:
    // that is reported, once, as what it is (no P, cause unknown, low confidence, a lower
    // bound on the wait).
    let mut t = Trace::new();
    t.at(10_000 * MS);
    let first_wait = t.now + 100_000;
    let until = t.now + 3_000 * MS;
    waits(&mut t, 41, 1, until);
    let mut e = Engine::new(config());
    let found = run(&mut e, &t.events, 10 * MS, t.now + 1_000 * MS);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(
        (
            f.kind,
            f.p,
            f.status,
            f.cause,
            f.confidence,
            f.stw_id,
            f.stw_reason
        ),
        (
            Kind::StuckPInStw,
            None,
            None,
            Some(Cause::Unknown),
            Confidence::Low,
            41,
            None
        )
    );
    // Found once the wait known to the engine passed the timeout, from the first wait seen.
    assert!(f.at_ns > first_wait + config().stw_timeout_ns, "{f:#?}");
    assert!(
        f.waiting_ms
            <= (config().stw_timeout_ns + 2 * config().reorder_window_ns + 10 * MS) as f64 / 1e6,
        "{}",
        f.waiting_ms
    );
    assert!(f.explanation.contains("at least"), "{}", f.explanation);
    assert_eq!(e.summary().stw_in_progress.map(|s| s.0), Some(41));
    // Learning part of the state: Ps seen stopping are known; the rest stay unknown, and the
    // count of Ps left (1) does not single one out of the two unknown: still no P is named.
    let mut t2 = Trace::new();
    t2.at(t.now + MS);
    t2.ev(T4, EventKind::ProcResize { old: 4, new: 4 });
    let mut e2 = Engine::new(config());
    let mut found = run(&mut e2, &t.events, 10 * MS, t.now);
    found.extend(run(&mut e2, &t2.events, 10 * MS, t2.now + 2_000 * MS));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].p, None);
}

fn hung_snapshot(now: u64) -> Snapshot {
    let p = |id, status, handed_to, last_m, last_reason| PSnap {
        id,
        status,
        since_ns: Some(now - 1_500 * MS),
        owner: None,
        handed_to,
        on_idle_list: false,
        last_m,
        last_reason,
        seq: Some(9),
    };
    Snapshot {
        now_ns: now,
        nprocs: 4,
        ps: vec![
            p(0, PStatus::GcStop, None, Some(4), Some(Reason::StwOwn)),
            p(1, PStatus::GcStop, None, Some(1), Some(Reason::StwSelf)),
            p(2, PStatus::Idle, Some(5), Some(2), Some(Reason::Release)),
            p(3, PStatus::GcStop, None, Some(4), Some(Reason::StwIdle)),
        ],
        ms: vec![
            MSnap {
                id: 1,
                tid: Some(T1),
                locked_g: Some(1),
                parked: true,
                started: true,
                ..MSnap::default()
            },
            MSnap {
                id: 2,
                tid: Some(T2),
                locked_g: Some(2),
                parked: true,
                started: true,
                ..MSnap::default()
            },
            MSnap {
                id: 4,
                tid: Some(T4),
                started: true,
                ..MSnap::default()
            },
            MSnap {
                id: 5,
                next_p: Some(2),
                queued_for_template: true,
                ..MSnap::default()
            },
        ],
        stw: Some(StwSnap {
            id: 1,
            reason: StwReason::ReadStats,
            start_ns: Some(now - 1_600 * MS),
            stopwait: 1,
        }),
        template: TemplateSnap {
            flag: true,
            flag_by: Some(1),
            running: false,
            m: None,
            tid: None,
            handoff_len: 1,
        },
    }
}

#[test]
fn a_snapshot_of_the_38931_shape_gives_the_same_finding_as_its_events() {
    let t = race_38931();
    let mut e = Engine::new(config());
    let from_events = run(&mut e, &t.events, 10 * MS, t.now + 100 * MS);
    let mut e = Engine::new(config());
    let now = 50_000 * MS;
    let from_snapshot = e.feed(Input::Snapshot(Box::new(hung_snapshot(now))));
    assert_eq!(from_snapshot.len(), 1, "{from_snapshot:#?}");
    let (a, b) = (&from_snapshot[0], &from_events[0]);
    assert_eq!(
        (
            a.kind,
            a.p,
            a.status,
            a.cause,
            a.confidence,
            a.stw_id,
            a.stw_reason
        ),
        (
            b.kind,
            b.p,
            b.status,
            b.cause,
            b.confidence,
            b.stw_id,
            b.stw_reason
        )
    );
    assert_eq!(
        a.handed_to
            .as_ref()
            .map(|h| (h.m, h.started, h.queued_for_template)),
        b.handed_to
            .as_ref()
            .map(|h| (h.m, h.started, h.queued_for_template))
    );
    assert!((a.waiting_ms - 1600.0).abs() < 1e-6);
    // A second snapshot of the same hang reports nothing new.
    assert!(
        e.feed(Input::Snapshot(Box::new(hung_snapshot(now + 500 * MS))))
            .is_empty()
    );
    assert!(e.tick(now + 1_000 * MS).is_empty());
    // A snapshot of a hang younger than the timeout: nothing yet, then from ticks.
    let mut e = Engine::new(config());
    let mut young = hung_snapshot(now);
    young.stw.as_mut().unwrap().start_ns = Some(now - 200 * MS);
    assert!(e.feed(Input::Snapshot(Box::new(young))).is_empty());
    let later = e.tick(now + 900 * MS);
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].cause, Some(Cause::TemplateThreadRace));
}

#[test]
fn decoded_generic_records_drive_the_engine() {
    // The glue a source uses: probe name + arguments by name, through the catalog.
    let t = race_38931();
    let mut e = Engine::new(config());
    let mut found = Vec::new();
    for ev in &t.events {
        let (name, args) = to_generic(ev);
        let decoded = decode(ev.ts_ns, ev.tid, name, |a| {
            args.iter().find(|(n, _)| *n == a).map(|(_, v)| *v)
        })
        .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(decoded, *ev);
        found.extend(e.feed(Input::Event(decoded)));
    }
    found.extend(e.finish(Some(t.now + 100 * MS)));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].cause, Some(Cause::TemplateThreadRace));
}

/// An event as a generic record (what the BPF decoder yields).
fn to_generic(ev: &Event) -> (&'static str, Vec<(&'static str, u64)>) {
    use goro_probes::P_NONE;
    let p = |p: Option<u32>| u64::from(p.unwrap_or(P_NONE));
    let id = |v: Option<u64>| v.unwrap_or(0);
    let name = ev.kind.probe();
    let args = match ev.kind {
        EventKind::PStatus {
            p,
            old,
            new,
            m,
            reason,
            seq,
        } => vec![
            ("p", u64::from(p)),
            ("old", u64::from(old.code())),
            ("new", u64::from(new.code())),
            ("m", id(m)),
            ("reason", u64::from(reason.code())),
            ("seq", seq.unwrap_or(0)),
        ],
        EventKind::StwBegin {
            id,
            reason,
            nprocs,
            stopwait,
        } => vec![
            ("id", id),
            ("reason", u64::from(reason.code())),
            ("nprocs", u64::from(nprocs)),
            ("stopwait", u64::from(stopwait)),
        ],
        EventKind::StwWait { id, stopwait } => {
            vec![("id", id), ("stopwait", u64::from(stopwait))]
        }
        EventKind::HandoffP { p, m, decision } => vec![
            ("p", u64::from(p)),
            ("m", id(m)),
            ("decision", u64::from(decision.code())),
        ],
        EventKind::StartM { p: pp, m, spinning } => {
            vec![
                ("p", p(pp)),
                ("m", id(m)),
                ("spinning", u64::from(spinning)),
            ]
        }
        EventKind::NewM {
            m,
            creator,
            creator_locked,
            queued,
            p: pp,
            template,
        } => vec![
            ("m", m),
            ("creator", id(creator)),
            ("creator_locked", u64::from(creator_locked)),
            ("queued", u64::from(queued)),
            ("p", p(pp)),
            ("template", u64::from(template)),
        ],
        EventKind::NewMHandoff { m, list_len } => {
            vec![("m", m), ("list_len", u64::from(list_len))]
        }
        EventKind::TemplateStart { m } => vec![("m", id(m))],
        EventKind::MStart { m, tid } | EventKind::MPark { m, tid } => {
            vec![("m", m), ("tid", u64::from(tid))]
        }
        EventKind::LockOsThread { g, m, ext, int } => vec![
            ("g", id(g)),
            ("m", m),
            ("ext", u64::from(ext)),
            ("int", u64::from(int)),
        ],
        EventKind::PreemptRequest { g, p: pp, m } | EventKind::Preempted { g, p: pp, m } => {
            vec![("g", id(g)), ("p", p(pp)), ("m", id(m))]
        }
        EventKind::PidlePut { p, m, npidle } | EventKind::PidleGet { p, m, npidle } => vec![
            ("p", u64::from(p)),
            ("m", id(m)),
            ("npidle", u64::from(npidle)),
        ],
        EventKind::ProcResize { old, new } => {
            vec![("old", u64::from(old)), ("new", u64::from(new))]
        }
        other => panic!("not in the scenario: {other:?}"),
    };
    (name, args)
}

#[test]
fn a_stop_is_judged_on_the_state_before_the_event_that_ends_the_wait() {
    // Fixed mode on a loaded machine: the template thread runs and creates M5, whose thread
    // starts only 1.2 s later. With no tick in between (a replay), the engine must judge the
    // moment the timeout passed — M5 created, not started — not the state after M5 starts.
    let mut t = world();
    t.adv(MS);
    g1_sets_flag_and_stops(&mut t);
    t.ev(
        T1,
        EventKind::NewM {
            m: 9,
            creator: Some(1),
            creator_locked: false,
            queued: false,
            p: None,
            template: true,
        },
    );
    t.ev(
        109,
        EventKind::TemplateRunning {
            tid: 109,
            m: Some(9),
        },
    );
    stw_begin(&mut t, 1, &[(1, 1, 1), (2, 2, 2)]);
    g1_preempted(&mut t);
    g2_locks_and_yields(&mut t);
    t.ev(109, EventKind::TemplateSpawn { m: 5 });
    t.adv(1_200 * MS);
    t.ev(105, EventKind::MStart { m: 5, tid: 105 });
    t.ps(105, 2, PStatus::Running, 5, Reason::Acquire);
    t.ps(105, 2, PStatus::GcStop, 5, Reason::StwSelf);
    t.ev(
        T4,
        EventKind::StwStopped {
            id: 1,
            ns: 1_200 * MS,
        },
    );
    t.ev(T4, EventKind::StwEnd { id: 1 });
    let mut e = Engine::new(config());
    let mut found = Vec::new();
    for ev in &t.events {
        found.extend(e.feed(Input::Event(*ev)));
    }
    found.extend(e.finish(None));
    let kinds: Vec<_> = found.iter().map(|f| (f.kind, f.cause)).collect();
    assert_eq!(
        kinds,
        vec![
            (Kind::StuckPInStw, Some(Cause::UnstartedM)),
            (Kind::SlowStw, None)
        ],
        "{found:#?}"
    );
    let h = found[0].handed_to.as_ref().unwrap();
    assert_eq!((h.m, h.started), (5, Some(false)));
    assert!(found[0].explanation.contains("has not started"));
}

#[test]
fn a_fresh_runtime_in_the_same_process_starts_a_fresh_model() {
    // A healthy runtime, then a second one in the same process (`template_race --runtimes`):
    // P, M and stop ids and every P's `seq` start over. The second one's race must be found on
    // its own P, and the first one's state must not leak into it as stale or stuck Ps.
    let (healthy, stws) = synth::healthy(3, 20_000);
    let shift = healthy.last().unwrap().ts_ns + 100 * MS;
    let race: Vec<Event> = race_38931()
        .events
        .into_iter()
        .map(|mut e| {
            e.ts_ns += shift;
            e
        })
        .collect();
    let mut e = Engine::new(config());
    let mut events = healthy.clone();
    events.extend(&race);
    let end = race.last().unwrap().ts_ns + 100 * MS;
    let found = run(&mut e, &events, 10 * MS, end);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].p, found[0].status, found[0].cause),
        (
            Some(2),
            Some(PStatus::Idle),
            Some(Cause::TemplateThreadRace)
        )
    );
    let s = e.summary();
    assert_eq!((s.stale, s.seq_gaps, s.stws), (0, 0, stws + 1));
    // Two healthy runtimes one after another: nothing.
    let mut e = Engine::new(tight());
    let mut events = healthy.clone();
    events.extend(healthy.iter().map(|ev| Event {
        ts_ns: ev.ts_ns + shift,
        ..*ev
    }));
    let found = run(&mut e, &events, MS, shift * 2 + 5_000 * MS);
    assert!(found.is_empty(), "{:#?}", &found[..found.len().min(3)]);
    assert_eq!(e.summary().stale, 0);
}

/// A process that runs one runtime after another (each `block_on` a fresh runtime, ids and
/// `seq` restarting): a thread of the earlier runtime that is still winding down — an M back
/// from a call after its runtime shut down — fires a `p_status` after the next runtime has
/// started. Its P id is one of the new runtime's; applied, it would move the new runtime's
/// stuck P. The finding must be the one the new runtime alone gives.
#[test]
fn a_late_event_of_an_earlier_runtime_does_not_move_the_new_one() {
    const OLD_M: u32 = 201;
    let mut old = Trace::new();
    old.at(MS);
    old.ev(OLD_M, EventKind::MStart { m: 7, tid: OLD_M });
    old.ev(T4, EventKind::ProcResize { old: 0, new: 4 });
    for p in 0..4 {
        old.ps(T4, p, PStatus::GcStop, 4, Reason::Init);
        old.ps(T4, p, PStatus::Idle, 4, Reason::ProcresizeIdle);
    }
    old.ps(OLD_M, 2, PStatus::Running, 7, Reason::Acquire);
    old.ps(OLD_M, 2, PStatus::Syscall, 7, Reason::SyscallEnter);
    let new = race_38931();
    assert!(old.now < new.events[0].ts_ns);
    let alone = {
        let mut e = Engine::new(config());
        run(&mut e, &new.events, 10 * MS, new.now + 100 * MS)
    };
    assert_eq!(stuck(&alone).len(), 1);
    // The old M returns from its call long after: P2 of *its* runtime, seq far beyond the
    // new runtime's, stamped while the new runtime's stop waits for its own P2.
    let mut events = old.events.clone();
    events.extend(new.events.iter().copied());
    let late_at = new.now - 500 * MS;
    let late = Event {
        ts_ns: late_at,
        tid: OLD_M,
        kind: EventKind::PStatus {
            p: 2,
            old: PStatus::Syscall,
            new: PStatus::Running,
            m: Some(7),
            reason: Reason::SyscallExitFast,
            seq: Some(4000),
        },
    };
    let i = events.iter().position(|e| e.ts_ns > late_at).unwrap();
    events.insert(i, late);
    let mut e = Engine::new(config());
    let found = run(&mut e, &events, 10 * MS, new.now + 100 * MS);
    let key = |f: &Finding| {
        (
            f.p,
            f.status,
            f.cause,
            f.confidence,
            f.stw_id,
            f.chain.len(),
        )
    };
    assert_eq!(
        stuck(&found).into_iter().map(key).collect::<Vec<_>>(),
        stuck(&alone).into_iter().map(key).collect::<Vec<_>>(),
        "{found:#?}"
    );
    let s = e.summary();
    assert_eq!(s.earlier_runtime, 1, "counted, not applied: {s:?}");
    assert_eq!(s.seq_gaps, 0, "{s:?}");
}
