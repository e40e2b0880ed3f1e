//! The engine on real event streams: the runtime's `template_race` example traced with
//! bpftrace (every goro probe, every argument), each line decoded through the catalog with
//! `engine::decode` and fed to the engine. The legacy hang must be found on the very P and M
//! the runtime's own watchdog names; fixed-mode runs must give no finding.
//!
//! Independent of trace-cli's own collector on purpose: this checks the engine's model against
//! the runtime's real orderings. Needs root, bpftrace and the example (`cargo build --release
//! --examples`, as CI does first): outside CI a missing one skips loudly; under CI=true it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use goro_probes::catalog;
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
    let have = Command::new("sh")
        .args(["-c", "command -v bpftrace"])
        .output()
        .is_ok_and(|o| o.status.success());
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    });
    if !have && skip("bpftrace is not installed") || !root && skip("uprobes need root") {
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

/// A bpftrace script printing every catalog probe that has a traceable site in `bin`:
/// `@E ns tid name args...` (a probe whose every site the linker dropped cannot be attached).
fn script(bin: &Path) -> String {
    let data = std::fs::read(bin).unwrap();
    let sites: BTreeSet<String> = goro_probes::sdt::read_elf(&data)
        .unwrap()
        .probes
        .into_iter()
        .filter(|p| p.provider == catalog::PROVIDER && p.file_offset.is_some())
        .map(|p| p.name)
        .collect();
    let mut s = String::new();
    for def in catalog::CATALOG.iter().filter(|d| sites.contains(d.name)) {
        let fmt: String = def.args.iter().map(|_| " %llu").collect();
        let args: String = (0..def.args.len()).map(|i| format!(", arg{i}")).collect();
        s.push_str(&format!(
            "usdt:{bin}:goro:{name} {{ printf(\"@E %llu %d {name}{fmt}\\n\", nsecs, tid{args}); }}\n",
            bin = bin.display(),
            name = def.name
        ));
    }
    s
}

/// Runs `bin args` under bpftrace; the decoded events in time order, and all other output.
fn trace(bin: &Path, args: &str) -> (Vec<Event>, String) {
    let out = Command::new("bpftrace")
        .args([
            "-e",
            &script(bin),
            "-c",
            &format!("{} {args}", bin.display()),
        ])
        .env("BPFTRACE_PERF_RB_PAGES", "1024")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stdout.contains("Lost ") && !stderr.contains("Lost "),
        "bpftrace lost events:\n{stderr}"
    );
    let mut events = Vec::new();
    let mut other = stderr;
    for line in stdout.lines() {
        let Some(i) = line.find("@E ") else {
            other.push_str(line);
            other.push('\n');
            continue;
        };
        let mut w = line[i + 3..].split_whitespace();
        let ns: u64 = w.next().unwrap().parse().unwrap();
        let tid: u32 = w.next().unwrap().parse().unwrap();
        let name = w.next().unwrap();
        let def = catalog::find(name).unwrap();
        let vals: Vec<u64> = w.map(|v| v.parse().unwrap()).collect();
        assert_eq!(vals.len(), def.args.len(), "{line}");
        let ev = decode(ns, tid, name, |a| {
            def.args.iter().position(|d| d.name == a).map(|i| vals[i])
        })
        .unwrap_or_else(|e| panic!("{line}: {e}"));
        events.push(ev);
    }
    // bpftrace prints each CPU's buffer in turn; a live source delivers nearly in order.
    events.sort_by_key(|e| e.ts_ns);
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
