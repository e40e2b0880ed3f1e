//! The timeline from engine-driven synthetic streams: the golang/go#38931 hang, a busy healthy
//! run, two runtimes in one process, losses. Both writers run for real; the Chrome JSON is
//! read back with serde_json and the Perfetto packets with prost, and the two must carry the
//! same slices.

use std::collections::{BTreeMap, HashMap};

use prost::Message;
use serde_json::Value as Json;

use super::Format;
use super::chrome::Chrome;
use super::perfetto::{Perfetto, TracePacket};
use super::timeline::{Stats, Timeline};
use crate::engine::input::{Event, EventKind, PStatus};
use crate::engine::tests::{MS, race_38931};
use crate::engine::{Config, Engine, Finding, Input, synth};

const TICK: u64 = 10 * MS;

/// The inputs a replay gives the engine for `events`: each event, and a tick every 10 ms of
/// event time.
fn inputs(events: &[Event]) -> Vec<Input> {
    let mut v = Vec::new();
    let mut next_tick = events.first().map_or(0, |e| e.ts_ns) + TICK;
    for e in events {
        while e.ts_ns > next_tick {
            v.push(Input::Tick { now_ns: next_tick });
            next_tick += TICK;
        }
        v.push(Input::Event(*e));
    }
    v
}

/// Drives the engine over `inputs`, the timeline observing it; returns the engine's findings
/// and what was drawn.
fn draw<F: Format>(out: F, inputs: &[Input], end: u64, config: Config) -> (F, Stats, Vec<Finding>) {
    let mut engine = Engine::new(config);
    let mut tl = Timeline::new(out, "pid 1 (test)".to_owned());
    let mut found = Vec::new();
    for i in inputs {
        engine.feed_observed(i.clone(), &mut found, &mut tl);
    }
    found.extend(engine.finish_observed(Some(end), &mut tl));
    let (out, stats) = tl.finish(end, engine.model()).expect("writes to memory");
    (out, stats, found)
}

#[derive(Clone, Debug, PartialEq)]
struct Slice {
    /// `root/track`.
    track: String,
    name: String,
    start: u64,
    end: u64,
    args: BTreeMap<String, Json>,
}

#[derive(Clone, Debug, PartialEq)]
struct Instant {
    track: String,
    name: String,
    ts: u64,
    args: BTreeMap<String, Json>,
    flow_out: Option<u64>,
    flow_in: Option<u64>,
}

#[derive(Debug, Default)]
struct Drawn {
    tracks: Vec<String>,
    slices: Vec<Slice>,
    instants: Vec<Instant>,
}

impl Drawn {
    fn slices_on(&self, track: &str) -> Vec<&Slice> {
        self.slices.iter().filter(|s| s.track == track).collect()
    }

    fn instants_on(&self, track: &str) -> Vec<&Instant> {
        self.instants.iter().filter(|s| s.track == track).collect()
    }

    /// The slices without their arguments, sorted: what both formats must agree on.
    fn shape(&self) -> Vec<(String, String, u64, u64)> {
        let mut v: Vec<_> = self
            .slices
            .iter()
            .map(|s| (s.track.clone(), s.name.clone(), s.start, s.end))
            .collect();
        v.sort();
        v
    }
}

/// Reads the Chrome JSON back: slices are complete (`X`) events; checks that each thread's
/// instants come in time order.
fn read_chrome(bytes: &[u8]) -> Drawn {
    let v: Json = serde_json::from_slice(bytes).expect("valid JSON");
    let base = v["otherData"]["base_ns"].as_u64().unwrap();
    let ns = |e: &Json| (base as i128 + (e["ts"].as_f64().unwrap() * 1e3).round() as i128) as u64;
    let mut process: HashMap<u64, String> = HashMap::new();
    let mut thread: HashMap<(u64, u64), String> = HashMap::new();
    let mut last: HashMap<(u64, u64), u64> = HashMap::new();
    // (pid, tid, ts) → (flow started, flow ended) there.
    type Flows = HashMap<(u64, u64, u64), (Option<u64>, Option<u64>)>;
    let mut flows = Flows::new();
    let mut d = Drawn::default();
    let args = |e: &Json| -> BTreeMap<String, Json> {
        e["args"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    for e in v["traceEvents"].as_array().unwrap() {
        let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        let ph = e["ph"].as_str().unwrap();
        if ph == "M" {
            let name = e["args"]["name"].as_str().map(str::to_owned);
            match (e["name"].as_str().unwrap(), name) {
                ("process_name", Some(n)) => {
                    process.insert(key.0, n);
                }
                ("thread_name", Some(n)) => {
                    let t = format!("{}/{n}", process[&key.0]);
                    d.tracks.push(t.clone());
                    thread.insert(key, t);
                }
                _ => {}
            }
            continue;
        }
        let ts = ns(e);
        let track = thread[&key].clone();
        match ph {
            "X" => d.slices.push(Slice {
                track,
                name: e["name"].as_str().unwrap().to_owned(),
                start: ts,
                end: ts + (e["dur"].as_f64().unwrap() * 1e3).round() as u64,
                args: args(e),
            }),
            "i" => {
                let prev = last.insert(key, ts).unwrap_or(0);
                assert!(ts >= prev, "{e} before {prev} on its track");
                d.instants.push(Instant {
                    track,
                    name: e["name"].as_str().unwrap().to_owned(),
                    ts,
                    args: args(e),
                    flow_out: None,
                    flow_in: None,
                });
            }
            "s" | "f" => {
                let f = flows.entry((key.0, key.1, ts)).or_default();
                let id = e["id"].as_u64();
                if ph == "s" { f.0 = id } else { f.1 = id }
            }
            other => panic!("unexpected phase {other}"),
        }
    }
    // A flow event follows its instant on the same thread and time.
    for i in &mut d.instants {
        let key = thread
            .iter()
            .find(|(_, n)| **n == i.track)
            .map(|(k, _)| *k)
            .unwrap();
        if let Some(&(o, n)) = flows.get(&(key.0, key.1, i.ts)) {
            i.flow_out = o;
            i.flow_in = n;
        }
    }
    d
}

fn json_of(a: &super::perfetto::DebugAnnotation) -> Json {
    if let Some(v) = a.uint_value {
        Json::from(v)
    } else if let Some(v) = a.int_value {
        Json::from(v)
    } else if let Some(v) = a.double_value {
        Json::from(v)
    } else if let Some(v) = a.bool_value {
        Json::from(v)
    } else {
        Json::from(a.string_value.clone().unwrap_or_default())
    }
}

/// Reads the Perfetto packets back with prost (the schema check against Perfetto's own
/// generated code is the integration test's).
fn read_perfetto(mut bytes: &[u8]) -> Drawn {
    let mut names: HashMap<u64, (String, Option<u64>)> = HashMap::new();
    let mut open: HashMap<u64, Vec<Slice>> = HashMap::new();
    let mut d = Drawn::default();
    let mut first = true;
    let mut last_ts = 0;
    while !bytes.is_empty() {
        assert_eq!(bytes[0], 0x0a, "Trace.packet");
        bytes = &bytes[1..];
        let p = TracePacket::decode_length_delimited(&mut bytes).expect("a packet");
        assert_eq!(p.trusted_packet_sequence_id, Some(1));
        assert_eq!(p.sequence_flags, first.then_some(1));
        first = false;
        if let Some(t) = p.track_descriptor {
            let name = t.name.unwrap();
            let full = match t.parent_uuid {
                Some(parent) => {
                    let n = format!("{}/{name}", names[&parent].0);
                    d.tracks.push(n.clone());
                    n
                }
                None => name,
            };
            names.insert(t.uuid.unwrap(), (full, t.parent_uuid));
            continue;
        }
        let e = p.track_event.expect("a track event");
        let uuid = e.track_uuid.unwrap();
        let track = names[&uuid].0.clone();
        let args: BTreeMap<String, Json> = e
            .debug_annotations
            .iter()
            .map(|a| (a.name.clone().unwrap(), json_of(a)))
            .collect();
        let ts = p.timestamp.unwrap();
        assert!(ts >= last_ts, "packets in time order: {ts} after {last_ts}");
        last_ts = ts;
        match e.r#type.unwrap() {
            1 => open.entry(uuid).or_default().push(Slice {
                track,
                name: e.name.unwrap(),
                start: ts,
                end: 0,
                args,
            }),
            2 => {
                let mut s = open
                    .get_mut(&uuid)
                    .and_then(Vec::pop)
                    .expect("end after begin");
                s.end = ts;
                s.args.extend(args);
                d.slices.push(s);
            }
            3 => d.instants.push(Instant {
                track,
                name: e.name.unwrap(),
                ts,
                args,
                flow_out: e.flow_ids.first().copied(),
                flow_in: e.terminating_flow_ids.first().copied(),
            }),
            t => panic!("type {t}"),
        }
    }
    assert!(open.values().all(Vec::is_empty), "every slice ends");
    d
}

/// Both formats of one stream; asserts they carry the same slices and instants.
fn both(events: &[Event], end: u64, config: Config) -> (Drawn, Stats, Vec<Finding>) {
    both_inputs(&inputs(events), end, config)
}

fn both_inputs(inputs: &[Input], end: u64, config: Config) -> (Drawn, Stats, Vec<Finding>) {
    let base = inputs
        .iter()
        .find_map(|i| match i {
            Input::Event(e) => Some(e.ts_ns),
            _ => None,
        })
        .unwrap_or(0);
    let (c, stats, found) = draw(Chrome::new(Vec::new(), base), inputs, end, config);
    let chrome = read_chrome(&c.into_inner());
    let (p, pstats, pfound) = draw(Perfetto::new(Vec::new()), inputs, end, config);
    let perfetto = read_perfetto(&p.into_inner());
    assert_eq!((stats, found.len()), (pstats, pfound.len()));
    assert_eq!(chrome.tracks, perfetto.tracks);
    assert_eq!(chrome.shape(), perfetto.shape());
    let inst = |d: &Drawn| {
        let mut v: Vec<_> = d
            .instants
            .iter()
            .map(|i| (i.track.clone(), i.name.clone(), i.ts, i.flow_out, i.flow_in))
            .collect();
        v.sort();
        v
    };
    assert_eq!(inst(&chrome), inst(&perfetto));
    assert_eq!(stats.slices as usize, perfetto.slices.len());
    assert_eq!(stats.instants as usize, perfetto.instants.len());
    (perfetto, stats, found)
}

/// Every P's slices are exactly its `p_status` events: one per change, named by the new
/// status, from the change to the next one (the last to `end`).
fn assert_p_slices_follow_the_events(d: &Drawn, root: &str, events: &[Event], end: u64) {
    let mut changes: BTreeMap<u32, Vec<(PStatus, u64)>> = BTreeMap::new();
    for e in events {
        if let EventKind::PStatus { p, new, .. } = e.kind {
            changes.entry(p).or_default().push((new, e.ts_ns));
        }
    }
    assert!(!changes.is_empty());
    for (p, ch) in changes {
        let got: Vec<(String, u64, u64)> = d
            .slices_on(&format!("{root}/P{p}"))
            .iter()
            .map(|s| (s.name.clone(), s.start, s.end))
            .collect();
        let want: Vec<(String, u64, u64)> = ch
            .iter()
            .enumerate()
            .map(|(i, &(st, ts))| {
                let until = ch.get(i + 1).map_or(end, |n| n.1);
                (st.name().to_owned(), ts, until)
            })
            .collect();
        assert_eq!(got, want, "P{p}");
    }
}

const ROOT: &str = "goro · pid 1 (test)";

#[test]
fn the_38931_hang_is_drawn_with_its_open_stop_stuck_p_and_finding() {
    let t = race_38931();
    let end = t.now + 100 * MS;
    let (d, stats, found) = both(&t.events, end, Config::default());
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(stats.findings, 1);
    for track in [
        "P0",
        "P1",
        "P2",
        "P3",
        "M1",
        "M2",
        "M4",
        "M5",
        "stop-the-world",
        "template thread",
        "findings",
    ] {
        assert!(
            d.tracks.contains(&format!("{ROOT}/{track}")),
            "{track}: {:?}",
            d.tracks
        );
    }
    assert_p_slices_follow_the_events(&d, ROOT, &t.events, end);
    // The stop-the-world: begun, never ended, drawn to the end of the file.
    let begin = t
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::StwBegin { .. }))
        .unwrap()
        .ts_ns;
    let stw = d.slices_on(&format!("{ROOT}/stop-the-world"));
    assert_eq!(stw.len(), 1);
    assert_eq!(
        (stw[0].name.as_str(), stw[0].start, stw[0].end),
        ("STW read_stats", begin, end)
    );
    assert_eq!(stw[0].args["ended"], false);
    assert_eq!(stw[0].args["stopwait"], 1);
    assert_eq!(stw[0].args["not_stopped"], "P2");
    assert_eq!(stw[0].args["reason"], "read_stats");
    // The stuck P: `_Pidle` to the end; the M it was handed to never started.
    let p2 = d.slices_on(&format!("{ROOT}/P2"));
    assert_eq!(
        (p2.last().unwrap().name.as_str(), p2.last().unwrap().end),
        ("_Pidle", end)
    );
    let m5 = d.slices_on(&format!("{ROOT}/M5"));
    assert_eq!(m5.len(), 1);
    assert_eq!(m5[0].name, "not started · queued for the template thread");
    assert_eq!(m5[0].end, end);
    let tmpl = d.slices_on(&format!("{ROOT}/template thread"));
    assert_eq!(tmpl.len(), 1);
    assert_eq!(
        (tmpl[0].name.as_str(), tmpl[0].end),
        ("flag set · no thread", end)
    );
    assert_eq!(tmpl[0].args["flag_set_by_m"], 1);
    // M2 locked and parked after handing P2 off.
    let m2 = d.slices_on(&format!("{ROOT}/M2"));
    assert_eq!(m2.last().unwrap().name, "parked · locked");
    // The hand-off: a flow from M2 to P2.
    let out = d
        .instants_on(&format!("{ROOT}/M2"))
        .into_iter()
        .find(|i| i.name.starts_with("handoffp P2"))
        .expect("handoffp on M2");
    let into = d
        .instants_on(&format!("{ROOT}/P2"))
        .into_iter()
        .find(|i| i.flow_in.is_some() && i.flow_in == out.flow_out)
        .expect("its flow ends on P2");
    assert_eq!(into.name, "handed off by M2: start_m_for_work");
    assert!(
        d.instants_on(&format!("{ROOT}/P2"))
            .iter()
            .any(|i| i.name == "handed to new M5")
    );
    // The finding, where and when it fired, with its explanation.
    let ann = d.instants_on(&format!("{ROOT}/findings"));
    assert_eq!(ann.len(), 1);
    assert_eq!(
        ann[0].name,
        "stuck_p_in_stw: P2 _Pidle (template_thread_race)"
    );
    assert_eq!(ann[0].ts, f.at_ns);
    assert_eq!(ann[0].args["explanation"], f.explanation.as_str());
    assert_eq!(ann[0].args["cause"], "template_thread_race");
    let whole: Json = serde_json::from_str(ann[0].args["finding"].as_str().unwrap()).unwrap();
    assert_eq!(whole["p"], 2);
    let on_p = d
        .instants_on(&format!("{ROOT}/P2"))
        .into_iter()
        .find(|i| i.flow_in.is_some() && i.flow_in == ann[0].flow_out)
        .expect("the finding points at P2");
    assert_eq!(on_p.name, "stuck: template_thread_race");
}

#[test]
fn a_busy_healthy_run_draws_every_stop_ended_and_no_finding() {
    let (events, stws) = synth::healthy(7, 30_000);
    let end = events.last().unwrap().ts_ns + 100 * MS;
    let (d, stats, found) = both(&events, end, Config::default());
    assert!(found.is_empty());
    assert_eq!(stats.findings, 0);
    assert!(d.instants.iter().all(|i| !i.track.ends_with("/findings")));
    assert_p_slices_follow_the_events(&d, ROOT, &events, end);
    let stw = d.slices_on(&format!("{ROOT}/stop-the-world"));
    assert_eq!(stw.len() as u64, stws);
    for s in &stw {
        assert_eq!(s.args["ended"], true, "{s:?}");
        assert!(s.args["time_to_stop_ms"].as_f64().unwrap() >= 0.0, "{s:?}");
        assert!(s.name.starts_with("STW "), "{s:?}");
    }
    // Slices on one track follow each other: none overlaps the next.
    let mut by_track: BTreeMap<&str, Vec<&Slice>> = BTreeMap::new();
    for s in &d.slices {
        by_track.entry(&s.track).or_default().push(s);
    }
    for (t, mut v) in by_track {
        v.sort_by_key(|s| (s.start, s.end));
        for w in v.windows(2) {
            assert!(
                w[0].end <= w[1].start,
                "{t}: {:?} overlaps {:?}",
                w[0],
                w[1]
            );
        }
    }
    // Every M track is one of the model's states.
    for s in d.slices.iter().filter(|s| s.track.contains("/M")) {
        let base = s.name.trim_end_matches(" · locked");
        assert!(
            ["parked", "no P", "not started", "template thread"].contains(&base)
                || base.starts_with("running P")
                || base.starts_with("syscall P")
                || base.starts_with("handed P")
                || base.starts_with("not started"),
            "{s:?}"
        );
    }
}

#[test]
fn a_second_runtime_in_the_process_gets_its_own_tracks() {
    let (healthy, _) = synth::healthy(3, 5_000);
    let switch = healthy.last().unwrap().ts_ns + 100 * MS;
    let race: Vec<Event> = race_38931()
        .events
        .into_iter()
        .map(|mut e| {
            e.ts_ns += switch;
            e
        })
        .collect();
    let mut events = healthy.clone();
    events.extend(&race);
    let end = race.last().unwrap().ts_ns + 100 * MS;
    let (d, stats, found) = both(&events, end, Config::default());
    assert_eq!(found.len(), 1);
    assert_eq!(stats.runtimes, 2);
    let second = "goro runtime 2 · pid 1 (test)";
    let first_restart = race
        .iter()
        .find(|e| matches!(e.kind, EventKind::ProcResize { old: 0, .. }))
        .unwrap()
        .ts_ns;
    // The first runtime's slices all end when the second starts.
    for s in d.slices.iter().filter(|s| s.track.starts_with(ROOT)) {
        assert!(s.end <= first_restart, "{s:?}");
    }
    assert_p_slices_follow_the_events(&d, second, &race, end);
    let ann = d.instants_on(&format!("{second}/findings"));
    assert_eq!(ann.len(), 1);
    assert_eq!(ann[0].args["p"], 2);
}

#[test]
fn lost_events_are_marked_where_they_were_lost() {
    let t = race_38931();
    let end = t.now + 100 * MS;
    let mut engine = Engine::new(Config::default());
    let mut tl = Timeline::new(Chrome::new(Vec::new(), 0), "pid 1 (test)".to_owned());
    let mut found = Vec::new();
    let half = t.events.len() / 2;
    for e in &t.events[..half] {
        engine.feed_observed(Input::Event(*e), &mut found, &mut tl);
    }
    engine.feed_observed(Input::Lost { count: 7 }, &mut found, &mut tl);
    for e in &t.events[half..] {
        engine.feed_observed(Input::Event(*e), &mut found, &mut tl);
    }
    engine.finish_observed(Some(end), &mut tl);
    let (c, _) = tl.finish(end, engine.model()).unwrap();
    let d = read_chrome(&c.into_inner());
    let lost = d.instants_on(&format!("{ROOT}/recording"));
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].name, "events lost");
    assert_eq!(lost[0].args["count"], 7);
    // Where: after the last event before the loss, before the first after it.
    assert!(lost[0].ts >= t.events[half - 1].ts_ns && lost[0].ts <= t.events[half].ts_ns);
}

#[test]
fn an_empty_stream_is_a_valid_empty_timeline() {
    let (c, stats, _) = draw(Chrome::new(Vec::new(), 0), &[], 0, Config::default());
    let d = read_chrome(&c.into_inner());
    assert_eq!(stats, Stats::default());
    assert!(d.tracks.is_empty() && d.slices.is_empty());
    let (p, _, _) = draw(Perfetto::new(Vec::new()), &[], 0, Config::default());
    assert!(p.into_inner().is_empty());
}

#[test]
fn an_event_applied_late_is_drawn_when_it_was_applied() {
    // Delivered after time passed its stamp by more than the ordering window: the engine
    // applies it after later events. Here M1 is seen waking 50 ms before the last event.
    let t = race_38931();
    let last = t.events.last().unwrap().ts_ns;
    let late_ts = last - 50 * MS;
    let mut inp = inputs(&t.events);
    inp.push(Input::Tick {
        now_ns: last + 20 * MS,
    });
    inp.push(Input::Event(Event {
        ts_ns: late_ts,
        tid: 101,
        kind: EventKind::MWake {
            m: 1,
            tid: 101,
            p: None,
        },
    }));
    let end = last + 100 * MS;
    // `both` checks that every track's events, and every packet, stay in time order.
    let (d, _, found) = both_inputs(&inp, end, Config::default());
    assert_eq!(found.len(), 1);
    for s in &d.slices {
        assert!(s.start <= s.end, "{s:?}");
    }
    let m1 = d.slices_on(&format!("{ROOT}/M1"));
    let woken = m1.iter().max_by_key(|s| s.start).unwrap();
    assert_eq!(woken.name, "no P · locked");
    assert!(
        woken.start >= last,
        "drawn when applied, not at its stamp: {woken:?}"
    );
}

#[test]
fn a_flight_recording_s_saved_state_is_drawn_from_when_it_began() {
    // A flight recording starts with the model as it stood (Input::Restore), then the events
    // of its window: here the 38931 race cut after the hand-off, so the stop and the stuck P
    // began before the window.
    let t = race_38931();
    let cut = t
        .events
        .iter()
        .position(|e| matches!(e.kind, EventKind::StwWait { .. }))
        .unwrap();
    let mut before = Engine::new(Config::default());
    for i in inputs(&t.events[..cut]) {
        before.feed(i);
    }
    let saved = before.clone().saved_model();
    let at = t.events[cut].ts_ns - 1;
    let mut inp = vec![Input::Restore {
        model: Box::new(saved.clone()),
        now_ns: at,
    }];
    inp.extend(inputs(&t.events[cut..]));
    let end = t.now + 100 * MS;
    let (d, _, found) = both_inputs(&inp, end, Config::default());
    assert_eq!(found.len(), 1, "{found:#?}");
    // P2: `_Pidle` since its release, before the window, to the end.
    let p2 = d.slices_on(&format!("{ROOT}/P2"));
    assert_eq!(p2.len(), 1, "{p2:?}");
    assert_eq!(
        (p2[0].name.as_str(), p2[0].start, p2[0].end),
        ("_Pidle", saved.p(2).unwrap().since_ns.unwrap(), end)
    );
    assert_eq!(p2[0].args["restored"], true);
    assert_eq!(p2[0].args["handed_to_m"], 5);
    // The stop: open from its begin, before the window, never ended.
    let stw = d.slices_on(&format!("{ROOT}/stop-the-world"));
    assert_eq!(stw.len(), 1);
    assert_eq!(stw[0].start, saved.stw.as_ref().unwrap().start_ns.unwrap());
    assert_eq!(
        (stw[0].name.as_str(), &stw[0].args["ended"]),
        ("STW read_stats", &Json::from(false))
    );
    let m5 = d.slices_on(&format!("{ROOT}/M5"));
    assert_eq!(m5[0].name, "not started · queued for the template thread");
    assert_eq!(d.instants_on(&format!("{ROOT}/findings")).len(), 1);
}
