//! The engine on real event streams: the runtime's `template_race` example traced with
//! bpftrace (every goro probe, every argument), each line decoded through the catalog with
//! `engine::decode` and fed to the engine. The legacy hang must be found on the very P and M
//! the runtime's own watchdog names; fixed-mode runs must give no finding.
//!
//! Independent of trace-cli's own collector on purpose: this checks the engine's model against
//! the runtime's real orderings. Needs root, bpftrace and the example (`cargo build --release
//! --examples`, as CI does first): outside CI a missing one skips loudly; under CI=true it fails.

use std::path::{Path, PathBuf};

use goro_probes::bpftrace;
use trace_cli::engine::{Cause, Config, Engine, Event, Finding, Input, Kind, decode};

const MS: u64 = 1_000_000;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip(why: &str) -> bool {
    assert!(!in_ci(), "CI=true but {why}");
    eprintln!("SKIPPED (not in CI): {why}; the engine was not checked on real events");
    true
}

/// target/<profile>/examples/template_race, next to this test's directory.
fn template_race() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("examples/template_race");
    p.exists().then_some(p)
}

/// The example, if everything the test needs is here.
fn setup() -> Option<PathBuf> {
    if let Some(why) = bpftrace::missing() {
        skip(why);
        return None;
    }
    match template_race() {
        Some(p) => Some(p),
        None => {
            skip("target/<profile>/examples/template_race is not built");
            None
        }
    }
}

/// Runs `bin args` under bpftrace; the decoded events in time order, and all other output.
fn trace(bin: &Path, args: &str) -> (Vec<Event>, String) {
    let run = bpftrace::run(bin, &format!("{} {args}", bin.display()), &[]);
    let events = run
        .hits
        .iter()
        .map(|h| {
            decode(h.ns, h.tid, h.def.name, |a| {
                h.def
                    .args
                    .iter()
                    .position(|d| d.name == a)
                    .map(|i| h.args[i])
            })
            .unwrap_or_else(|e| panic!("{h:?}: {e}"))
        })
        .collect();
    let mut other = run.stderr;
    for line in run.other {
        other.push_str(&line);
        other.push('\n');
    }
    (events, other)
}

/// Feeds the events with a tick every 10 ms of event time, then runs 2 s past the last one.
fn replay(events: &[Event], config: Config) -> (Vec<Finding>, Engine) {
    let mut e = Engine::new(config);
    let mut found = Vec::new();
    let mut next = events.first().map_or(0, |e| e.ts_ns) + 10 * MS;
    for ev in events {
        while ev.ts_ns > next {
            found.extend(e.tick(next));
            next += 10 * MS;
        }
        found.extend(e.feed(Input::Event(*ev)));
    }
    let end = events.last().map_or(0, |e| e.ts_ns) + 2_000 * MS;
    while next <= end {
        found.extend(e.tick(next));
        next += 10 * MS;
    }
    (found, e)
}

#[test]
fn the_legacy_hang_is_found_on_the_p_and_m_the_runtime_names() {
    let Some(bin) = setup() else { return };
    // The race is lost on most runs; try a few. The watchdog prints the runtime's own view of
    // the hang ("stop-the-world #N (...) waits for PX (...), handed to MY ...") and exits.
    for attempt in 0..8 {
        let (events, out) = trace(&bin, "--legacy --widen --watchdog 1");
        let Some(hang) = out.lines().find(|l| l.starts_with("HANG golang/go#38931")) else {
            eprintln!("attempt {attempt}: the race was not lost; again");
            continue;
        };
        let field = |after: &str, end: char| -> u64 {
            let i = hang.find(after).unwrap() + after.len();
            hang[i..].split(end).next().unwrap().parse().unwrap()
        };
        let (stw, p, m) = (
            field("stop-the-world #", ' '),
            field("waits for P", ' ') as u32,
            field("handed to M", ' '),
        );
        let (found, engine) = replay(
            &events,
            Config {
                stw_timeout_ns: 200 * MS,
                ..Config::default()
            },
        );
        // On a loaded machine an earlier stop can legitimately wait past 200 ms and then
        // finish (then it is also a slow_stw); the hung stop must be found, once.
        let finished = |id: u64| {
            found
                .iter()
                .any(|f| f.kind == Kind::SlowStw && f.stw_id == id)
        };
        let stuck: Vec<&Finding> = found
            .iter()
            .filter(|f| f.kind == Kind::StuckPInStw && !finished(f.stw_id))
            .collect();
        assert_eq!(stuck.len(), 1, "{found:#?}\n{hang}");
        let f = stuck[0];
        assert_eq!(
            (
                f.stw_id,
                f.p,
                f.handed_to.as_ref().map(|h| h.m),
                f.cause,
                f.status.map(|s| s.name())
            ),
            (
                stw,
                Some(p),
                Some(m),
                Some(Cause::TemplateThreadRace),
                Some("_Pidle")
            ),
            "{hang}\n{}",
            trace_cli::engine::interleaving::render_text(f)
        );
        let s = engine.summary();
        assert_eq!((s.lost, s.seq_gaps, s.stale), (0, 0, 0), "{s:?}");
        return;
    }
    panic!("the legacy race was never lost in 8 attempts");
}

#[test]
fn fixed_mode_runs_give_no_finding() {
    let Some(bin) = setup() else { return };
    for _ in 0..2 {
        let (events, out) = trace(&bin, "--watchdog 10");
        assert!(!out.contains("HANG"), "{out}");
        assert!(events.len() > 1_000, "{} events", events.len());
        let (found, engine) = replay(&events, Config::default());
        let stuck: Vec<&Finding> = found
            .iter()
            .filter(|f| f.kind == Kind::StuckPInStw)
            .collect();
        assert!(stuck.is_empty(), "{stuck:#?}");
        let s = engine.summary();
        assert!(s.stws > 10, "{s:?}");
        assert_eq!(
            s.time_to_stop.count, s.stws,
            "every stop was seen to finish"
        );
    }
}
