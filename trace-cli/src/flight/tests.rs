//! The ring's bounds (time, bytes) and the recorder's state: a recording of the last second
//! of a hang that began seconds before still gives the live engine's finding.

use super::*;
use crate::decode::synthetic;
use crate::engine::Cause;
use crate::event::{BpfCounters, arg_index, probe_index};
use crate::source::file::replay;
use crate::tracefile::{ClockBase, FORMAT_VERSION, TargetInfo};
use goro_probes::{Handoff, PStatus, Reason, StwReason};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn ev(ts: u64, tid: u32, probe: &str, args: &[(&str, u64)]) -> Event {
    let i = probe_index(probe).unwrap_or_else(|| panic!("no probe {probe}"));
    let mut e = synthetic(ts, 100, i, &[]);
    e.tid = tid;
    for (name, v) in args {
        let at = arg_index(i, name).unwrap_or_else(|| panic!("{probe} has no {name}"));
        e.args[at] = *v;
    }
    e
}

fn counters_at(ts: u64) -> Entry {
    Entry::Counters {
        ts_ns: ts,
        counters: BpfCounters::default(),
    }
}

#[test]
fn the_ring_keeps_the_window_and_evicts_the_rest_oldest_first() {
    let mut ring = Ring::new(2 * S, DEFAULT_MAX_BYTES);
    let mut out = Vec::new();
    for i in 0..10_000u64 {
        ring.push(counters_at(i * MS), &mut |e| out.push(e.ts_ns()));
    }
    let newest = 9_999 * MS;
    assert!(ring.iter().all(|e| e.ts_ns() >= newest - 2 * S));
    assert_eq!(
        ring.len() + out.len(),
        10_000,
        "nothing lost, nothing kept twice"
    );
    assert_eq!(ring.len(), 2_001, "exactly the last two seconds");
    assert!(out.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(out.last(), Some(&(newest - 2 * S - MS)));
    // Time passing with no record evicts too.
    ring.advance(newest + 3 * S, &mut |e| out.push(e.ts_ns()));
    assert!(ring.is_empty());
    assert_eq!(out.len(), 10_000);
}

#[test]
fn the_ring_never_holds_more_than_its_byte_cap() {
    for cap_records in [1usize, 100, 4096, 5000, 20_000] {
        let cap = (cap_records * ENTRY_BYTES) as u64 + 7;
        let mut ring = Ring::new(u64::MAX, cap);
        let mut evicted = 0u64;
        let mut last_evicted = None;
        for i in 0..50_000u64 {
            ring.push(counters_at(i), &mut |e| {
                evicted += 1;
                assert!(last_evicted.is_none_or(|l| e.ts_ns() > l));
                last_evicted = Some(e.ts_ns());
            });
            assert!(ring.bytes() <= cap, "{} > {cap}", ring.bytes());
        }
        assert!(ring.peak_bytes() <= cap);
        assert_eq!(ring.max_bytes(), (cap_records * ENTRY_BYTES) as u64);
        assert_eq!(ring.len(), cap_records.min(50_000), "full to the cap");
        assert_eq!(evicted + ring.len() as u64, 50_000);
        assert_eq!(
            ring.iter().next().map(Entry::ts_ns),
            Some(50_000 - cap_records as u64),
            "the newest kept"
        );
    }
}

fn header() -> Header {
    let (catalog, code_tables) = Header::current_catalog();
    Header {
        format_version: FORMAT_VERSION,
        catalog_version: goro_probes::CATALOG_VERSION,
        catalog,
        code_tables,
        target: TargetInfo {
            mode: "pid".into(),
            pid: Some(100),
            exe: "/bin/app".into(),
            build_id: None,
            binary_catalog_version: None,
            command: None,
        },
        clock: ClockBase {
            monotonic_ns: 0,
            realtime_ns: 1_700_000_000 * S,
        },
        ring_size: 1 << 22,
        sites: 45,
        writer: "test".into(),
    }
}

/// A status change by M `m`, on its thread (tid 10 + m).
fn ps(ts: u64, p: u64, old: PStatus, new: PStatus, m: u64, r: Reason, seq: u64) -> Event {
    ev(
        ts,
        10 + m as u32,
        "p_status",
        &[
            ("p", p),
            ("old", old.code().into()),
            ("new", new.code().into()),
            ("m", m),
            ("reason", r.code().into()),
            ("seq", seq),
        ],
    )
}

/// #38931 on two Ps at 100 ms, then only the stop's wait rounds, every 100 ms, until `until`.
fn hang(until: u64) -> Vec<Event> {
    use PStatus::*;
    let t = 100 * MS;
    let mut v = vec![
        ev(t, 11, "procresize", &[("old", 0), ("new", 2)]),
        ps(t + 1, 0, Dead, GcStop, 1, Reason::Init, 1),
        ps(t + 2, 1, Dead, GcStop, 1, Reason::Init, 1),
        ps(t + 3, 0, GcStop, Running, 1, Reason::ProcresizeRun, 2),
        ps(t + 4, 1, GcStop, Idle, 1, Reason::ProcresizeIdle, 2),
        // M2 sets the flag and is preempted before creating the thread.
        ev(t + 10, 12, "template_start", &[("m", 2)]),
        // M1 takes P1, locks, releases it; handoffp starts a new M for it: queued.
        ps(t + 20, 1, Idle, Running, 1, Reason::Acquire, 3),
        ev(
            t + 21,
            11,
            "lock_os_thread",
            &[("g", 3), ("m", 1), ("ext", 1), ("int", 0)],
        ),
        ps(t + 22, 1, Running, Idle, 1, Reason::Release, 4),
        ev(
            t + 23,
            11,
            "handoff_p",
            &[
                ("p", 1),
                ("m", 1),
                ("decision", Handoff::StartMForWork.code().into()),
            ],
        ),
        ev(t + 24, 11, "startm", &[("p", 1), ("m", 0), ("spinning", 0)]),
        ev(
            t + 25,
            11,
            "newm",
            &[
                ("m", 5),
                ("creator", 1),
                ("creator_locked", 1),
                ("queued", 1),
                ("p", 1),
                ("template", 0),
            ],
        ),
        ev(t + 26, 11, "newm_handoff", &[("m", 5), ("list_len", 1)]),
        ev(t + 27, 11, "m_park", &[("m", 1), ("tid", 11)]),
        // M3 stops the world: its own P0 stops; P1 never will.
        ps(t + 30, 0, Running, GcStop, 3, Reason::StwOwn, 3),
        ev(
            t + 31,
            13,
            "stw_begin",
            &[
                ("id", 1),
                ("reason", StwReason::ReadStats.code().into()),
                ("nprocs", 2),
                ("stopwait", 1),
            ],
        ),
    ];
    let mut w = t + 100 * MS;
    while w < until {
        v.push(ev(w, 13, "stw_wait", &[("id", 1), ("stopwait", 1)]));
        w += 100 * MS;
    }
    v
}

/// Feeds `events` to a live engine (through the ordering step, as watch does) and to a
/// flight recorder, with counters every 10 ms; at the first finding, writes the recording.
/// Returns the live finding and the recording's path.
fn watch_with_flight(
    events: &[Event],
    window_ns: u64,
    config: Config,
    dir: &Path,
) -> (Finding, String, FlightRecorder) {
    let mut fl = FlightRecorder::new(window_ns, DEFAULT_MAX_BYTES, dir.into(), header(), config);
    let mut live = Detector::new(config);
    let mut seq = crate::decode::Sequencer::new(
        crate::decode::PStatusLayout::from_catalog(),
        crate::source::live::ORDER_WINDOW_NS,
        false,
    );
    let mut found = Vec::new();
    let mut now = 0;
    let mut next = events.iter().peekable();
    while now < 10 * S {
        now += 10 * MS;
        while let Some(e) = next.next_if(|e| e.ts_ns <= now) {
            fl.event(e);
            seq.push(*e, &mut |i| live.input(i, &mut found));
        }
        seq.tick(now, &mut |i| live.input(i, &mut found));
        fl.counters(now, &BpfCounters::default());
        if let Some(mut f) = found.pop() {
            let path = fl.recording_for(&f).expect("written");
            f.flight_file = Some(path.clone());
            return (f, path, fl);
        }
    }
    panic!("no finding");
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flight-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `analyze` on a recording: its findings.
fn analyze(path: &str, config: Config) -> (Vec<Finding>, crate::source::file::FileEnd) {
    let mut d = Detector::new(config);
    let mut found = Vec::new();
    let end = replay(Path::new(path), |i| d.input(i, &mut found)).unwrap();
    found.extend(d.finish(end.end.as_ref().map(|e| e.ts_ns)));
    (found, end)
}

#[test]
fn a_recording_of_the_last_second_names_a_hang_that_began_seconds_before() {
    let dir = scratch("old-hang");
    let config = Config {
        stw_timeout_ns: 3 * S,
        ..Config::default()
    };
    let events = hang(10 * S);
    let (live, path, fl) = watch_with_flight(&events, S, config, &dir);
    assert_eq!(live.p, Some(1));
    assert_eq!(live.cause, Some(Cause::TemplateThreadRace));

    let (found, end) = analyze(&path, config);
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    // The same finding: P, status, cause, the M it was handed to, the template thread, the
    // story (its events are seconds older than the recording's first one).
    assert_eq!(f.p, live.p);
    assert_eq!(f.status, live.status);
    assert_eq!(f.cause, live.cause);
    assert_eq!(f.confidence, live.confidence);
    assert_eq!(f.handed_to, live.handed_to);
    assert_eq!(f.template, live.template);
    assert_eq!(f.last_change, live.last_change);
    assert_eq!(f.chain, live.chain);
    assert_eq!(f.explanation, live.explanation);
    assert_eq!(f.waiting_ms, live.waiting_ms);
    // The recording holds about the last second only; the state stands for the rest.
    let st = end.state.expect("a state record");
    assert!(st.events_before >= 16, "{st:?}");
    assert!(end.seq.events <= 12, "{} events", end.seq.events);
    assert!(end.seq.clean(), "{:?}", end.seq);
    assert_eq!(end.end.as_ref().unwrap().reason, "flight");
    let report = fl.report();
    assert_eq!(report.files.len(), 1);
    assert!(report.files[0].seconds <= 1.1, "{:?}", report.files[0]);
    assert_eq!(report.files[0].events_before, st.events_before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_recording_per_kind_shared_by_findings_of_the_same_moment() {
    let dir = scratch("per-kind");
    let config = Config {
        stw_timeout_ns: S,
        ..Config::default()
    };
    let (live, path, mut fl) = watch_with_flight(&hang(3 * S), 5 * S, config, &dir);
    let mut same = live.clone();
    same.p = Some(7);
    assert_eq!(fl.recording_for(&same), Some(path.clone()), "same moment");
    let mut later = live.clone();
    later.at_ns += 1;
    assert_eq!(fl.recording_for(&later), None, "its kind has one");
    let mut slow = live.clone();
    slow.kind = Kind::SlowStw;
    let other = fl
        .recording_for(&slow)
        .expect("another kind writes its own");
    assert_ne!(other, path);
    assert!(other.contains("slow_stw") && path.contains("stuck_p_in_stw"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    // Without the window cut, the recording is the whole run: no state needed.
    let (found, end) = analyze(&path, config);
    assert_eq!(found[0].cause, Some(Cause::TemplateThreadRace));
    assert_eq!(end.state.map(|s| s.events_before), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_recording_that_cannot_be_written_is_reported_not_fatal() {
    let dir = scratch("unwritable");
    let config = Config {
        stw_timeout_ns: S,
        ..Config::default()
    };
    let (live, _, _) = watch_with_flight(&hang(3 * S), S, config, &dir);
    let mut fl = FlightRecorder::new(
        S,
        DEFAULT_MAX_BYTES,
        dir.join("no/such/dir"),
        header(),
        config,
    );
    assert_eq!(fl.recording_for(&live), None);
    assert_eq!(fl.report().errors.len(), 1);
    assert!(
        fl.report().errors[0].contains("no such file"),
        "{:?}",
        fl.report()
    );
    assert!(FlightRecorder::check_dir(&dir.join("no/such/dir")).is_err());
    assert!(FlightRecorder::check_dir(&dir).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn utc_stamps() {
    assert_eq!(utc_stamp(0), "19700101T000000Z");
    assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    assert_eq!(utc_stamp(1_764_630_245), "20251201T230405Z");
}

#[test]
fn a_finding_the_tail_already_made_is_made_again_from_the_recording() {
    // The stop waited past the timeout long before the window: the tail's own engine found it
    // (and marked it reported); the recording must not carry that mark.
    let dir = scratch("reported");
    let config = Config {
        stw_timeout_ns: S,
        ..Config::default()
    };
    let (mut live, _, _) = watch_with_flight(&hang(3 * S), S, config, &dir);
    let mut fl = FlightRecorder::new(S, DEFAULT_MAX_BYTES, dir.clone(), header(), config);
    let events = hang(8 * S);
    let mut next = events.iter().peekable();
    for t in (0..8 * S).step_by((10 * MS) as usize) {
        while let Some(e) = next.next_if(|e| e.ts_ns <= t) {
            fl.event(e);
        }
        fl.counters(t, &BpfCounters::default());
    }
    let tail = fl.tail.detector.engine().summary();
    assert_eq!(tail.stuck_p_in_stw, 1, "the tail found it: {tail:?}");
    live.at_ns = 8 * S;
    let path = fl.recording_for(&live).unwrap();
    let (found, end) = analyze(&path, config);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].p, Some(1));
    assert_eq!(found[0].cause, Some(Cause::TemplateThreadRace));
    assert!(end.state.unwrap().events_before > 60);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn attached_to_a_process_already_hung_the_recording_starts_from_its_memory_snapshot() {
    use crate::engine::snapshot::{MSnap, PSnap, Snapshot, StwSnap, TemplateSnap};
    // What `watch --pid` reads from the state table of a process hung 1.6 s ago: P1 idle,
    // handed to M5, which is queued for a template thread that never came.
    let now = 20 * S;
    let p = |id, status, handed_to| PSnap {
        id,
        status,
        since_ns: Some(now - 1_500 * MS),
        owner: None,
        handed_to,
        on_idle_list: false,
        last_m: Some(1),
        last_reason: Some(Reason::Release),
        seq: Some(9),
    };
    let snap = Snapshot {
        now_ns: now,
        nprocs: 2,
        ps: vec![p(0, PStatus::GcStop, None), p(1, PStatus::Idle, Some(5))],
        ms: vec![MSnap {
            id: 5,
            next_p: Some(1),
            queued_for_template: true,
            ..MSnap::default()
        }],
        stw: Some(StwSnap {
            id: 1,
            reason: StwReason::ReadStats,
            start_ns: Some(now - 1_600 * MS),
            stopwait: 1,
        }),
        template: TemplateSnap {
            flag: true,
            flag_by: Some(2),
            handoff_len: 1,
            ..TemplateSnap::default()
        },
    };
    let dir = scratch("snapshot");
    let config = Config::default();
    let mut live = Detector::new(config);
    let mut found = Vec::new();
    live.snapshot(snap.clone(), &mut found);
    assert_eq!(found.len(), 1, "found at once from the snapshot");
    let mut fl = FlightRecorder::new(S, DEFAULT_MAX_BYTES, dir.clone(), header(), config);
    fl.snapshot(&snap);
    // Then only the stop's wait rounds, for longer than the window.
    for i in 1..300u64 {
        let t = now + i * 10 * MS;
        if i % 10 == 0 {
            fl.event(&ev(t, 13, "stw_wait", &[("id", 1), ("stopwait", 1)]));
        }
        fl.counters(t, &BpfCounters::default());
    }
    let path = fl.recording_for(&found[0]).unwrap();
    let (replayed, _) = analyze(&path, config);
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    let (a, b) = (&replayed[0], &found[0]);
    assert_eq!((a.p, a.status, a.cause), (b.p, b.status, b.cause));
    assert_eq!(a.cause, Some(Cause::TemplateThreadRace));
    assert_eq!(a.handed_to, b.handed_to);
    assert_eq!(a.template, b.template);
    std::fs::remove_dir_all(&dir).ok();
}
