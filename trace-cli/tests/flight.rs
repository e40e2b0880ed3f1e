//! `trace-cli watch --flight`: the flight recorder on real processes. The legacy hang writes
//! a recording that `analyze` turns into the same finding, also when the hang began long
//! before the window; a busy healthy run keeps the ring under its cap and writes nothing.
//! Needs root (BPF): outside CI it skips loudly; under CI=true a missing capability fails.
//!
//! Each watch costs about 5 s on top of its target (detaching the uprobes).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{TRACE_CLI, assert_error, can_trace, scratch, stderr, stdout, template_race};
use serde_json::Value;

fn watch(args: &[&str]) -> Output {
    Command::new(TRACE_CLI)
        .arg("watch")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run trace-cli watch")
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn of_kind<'a>(v: &'a [Value], k: &str) -> Vec<&'a Value> {
    v.iter().filter(|f| f["kind"] == k).collect()
}

fn summary(v: &[Value]) -> &Value {
    of_kind(v, "summary").pop().expect("a summary line")
}

/// What must be the same live and from a recording: the stuck P, its status, the cause, the
/// M it was handed to, who set the template flag, whether the template thread runs.
fn key(f: &Value) -> String {
    format!(
        "{} P{} {} {} handed_to=M{} flag_by=M{} template_running={}",
        f["kind"],
        f["p"],
        f["status"],
        f["cause"],
        f["handed_to"]["m"],
        f["template"]["flag_set_by"],
        f["template"]["running"]
    )
}

fn analyze(file: &Path, stw_timeout: &str) -> Vec<Value> {
    let a = Command::new(TRACE_CLI)
        .args(["analyze", "--json", "--stw-timeout", stw_timeout])
        .arg(file)
        .output()
        .unwrap();
    assert_eq!(a.status.code(), Some(3), "{}{}", stdout(&a), stderr(&a));
    lines(&stdout(&a))
}

/// Runs the legacy scenario under `watch --exit-on-finding` with `extra` until one run hangs
/// (the race is probabilistic; three fresh runtimes per run make a clean run rare).
fn legacy_hang(extra: &[&str]) -> Output {
    let bin = template_race();
    for _ in 0..3 {
        let mut args = vec!["--exit-on-finding"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "--",
            bin.to_str().unwrap(),
            "--legacy",
            "--widen",
            "--runtimes",
            "3",
        ]);
        let out = watch(&args);
        if out.status.code() == Some(0) {
            eprintln!("every runtime won the race; again");
            continue;
        }
        return out;
    }
    panic!("the legacy scenario did not hang in three runs of three runtimes");
}

/// The stuck findings of a run, each with its recording; checks they name one file, in `dir`.
fn stuck_with_file(v: &[Value], dir: &Path) -> (Vec<Value>, PathBuf) {
    let stuck: Vec<Value> = of_kind(v, "stuck_p_in_stw").into_iter().cloned().collect();
    assert!(!stuck.is_empty(), "{v:?}");
    let file = PathBuf::from(stuck[0]["flight_file"].as_str().expect("a flight_file"));
    for f in &stuck {
        assert_eq!(f["cause"], "template_thread_race", "{f}");
        assert_eq!(
            f["flight_file"], stuck[0]["flight_file"],
            "one file for the stop"
        );
    }
    assert_eq!(file.parent(), Some(dir));
    let name = file.file_name().unwrap().to_str().unwrap();
    let pid = summary(v)["target"]["pid"].as_u64().unwrap();
    assert!(
        name.starts_with(&format!("flight-{pid}-")) && name.ends_with("-stuck_p_in_stw.trace"),
        "{name}"
    );
    let files: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert_eq!(files.len(), 1, "one recording per kind: {files:?}");
    (stuck, file)
}

#[test]
fn the_legacy_hang_writes_a_recording_that_analyze_explains_the_same() {
    if !can_trace("the_legacy_hang_writes_a_recording_that_analyze_explains_the_same") {
        return;
    }
    let dir = scratch("flight-legacy");
    let flights = dir.join("flights");
    std::fs::create_dir(&flights).unwrap();
    let record = dir.join("whole.trace");
    let out = legacy_hang(&[
        "--json",
        "--stw-timeout",
        "500ms",
        "--flight",
        "5",
        "--flight-dir",
        flights.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v = lines(&stdout(&out));
    let (stuck, file) = stuck_with_file(&v, &flights);
    let s = summary(&v);
    let fl = &s["flight"];
    assert_eq!(fl["window_s"], 5.0);
    assert_eq!(
        fl["max_bytes"].as_u64().unwrap() >> 20,
        63,
        "64 MiB by default"
    );
    assert_eq!(fl["files"].as_array().unwrap().len(), 1);
    assert_eq!(fl["files"][0]["path"], file.to_str().unwrap());
    assert_eq!(fl["errors"], serde_json::json!([]));

    let mut live: Vec<String> = stuck.iter().map(key).collect();
    live.sort();
    // The recording and the whole run's file (--record works alongside) give the same.
    for f in [&file, &record] {
        let a = analyze(f, "500ms");
        let mut replayed: Vec<String> =
            of_kind(&a, "stuck_p_in_stw").into_iter().map(key).collect();
        replayed.sort();
        assert_eq!(live, replayed, "{}", f.display());
        for r in of_kind(&a, "stuck_p_in_stw") {
            assert_eq!(r["confidence"], "high", "{r}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_one_second_recording_still_names_a_hang_that_began_seconds_before() {
    if !can_trace("a_one_second_recording_still_names_a_hang_that_began_seconds_before") {
        return;
    }
    let dir = scratch("flight-old-hang");
    // Found 3 s into the stop; the ring keeps 1 s: the release, the hand-off, the queued M and
    // the template flag have all left it long before.
    let out = legacy_hang(&[
        "--stw-timeout",
        "3s",
        "--flight",
        "1",
        "--flight-dir",
        dir.to_str().unwrap(),
        "--text",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    let path = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("flight recording: "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("the finding names its recording: {text}"));
    let file = PathBuf::from(path);
    assert!(file.exists(), "{path}");
    assert!(text.contains("flight recorder: last 1 s"), "{text}");
    // Each live finding as (P, status, cause), from lines like
    // `stuck_p_in_stw: P0 _Pidle blocks stop-the-world #5 ... — cause: template_thread_race (...)`.
    let mut live: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("stuck_p_in_stw: "))
        .map(|l| {
            let mut w = l.split_whitespace();
            let (p, status) = (w.next().unwrap(), w.next().unwrap());
            let cause = l.split("cause: ").nth(1).unwrap().split_whitespace().next();
            format!("{p} {status} {}", cause.unwrap())
        })
        .collect();
    live.sort();
    let race = live
        .iter()
        .find(|k| k.ends_with("template_thread_race"))
        .unwrap_or_else(|| panic!("a template thread race live: {text}"));
    let live_p = race.split_whitespace().next().unwrap().to_owned();

    let a = analyze(&file, "3s");
    let stuck = of_kind(&a, "stuck_p_in_stw");
    let mut replayed: Vec<String> = stuck
        .iter()
        .map(|f| {
            format!(
                "P{} {} {}",
                f["p"],
                f["status"].as_str().unwrap(),
                f["cause"].as_str().unwrap()
            )
        })
        .collect();
    replayed.sort();
    assert_eq!(live, replayed, "the same findings from the recording");
    let f = stuck
        .iter()
        .find(|f| format!("P{}", f["p"]) == live_p)
        .unwrap_or_else(|| panic!("{live_p} from the recording: {a:?}"));
    assert_eq!(f["status"], "_Pidle");
    assert_eq!(f["cause"], "template_thread_race");
    assert_eq!(f["confidence"], "high");
    assert_eq!(f["handed_to"]["queued_for_template"], true);
    assert_eq!(f["handed_to"]["started"], false);
    assert_eq!(f["template"]["running"], false);
    assert!(f["template"]["flag_set_by"].is_u64(), "{f}");
    assert!(f["waiting_ms"].as_f64().unwrap() >= 3000.0, "{f}");
    // The story is told in full, from the state: the newm that queued the M is seconds
    // older than anything the recording holds.
    let m = f["handed_to"]["m"].as_u64().unwrap();
    let newm = format!("newm M{m} ({live_p})");
    let chain = f["chain"].as_array().unwrap();
    assert!(
        chain
            .iter()
            .any(|e| e["what"].as_str().unwrap().starts_with(&newm)),
        "{newm} in {f}"
    );
    let s = summary(&a);
    let note = s["file_note"].as_str().unwrap();
    assert!(note.starts_with("a flight recording"), "{note}");
    // What the recording holds: the state, then about the last second of events.
    let ev = Command::new(TRACE_CLI)
        .args(["analyze", "--events", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let ev = lines(&stdout(&ev));
    assert_eq!(ev[0]["kind"], "state", "{:?}", ev[0]);
    assert!(ev[0]["events_before"].as_u64().unwrap() > 0);
    let first = ev
        .iter()
        .find(|e| e["kind"] == "event")
        .and_then(|e| e["ts_ns"].as_u64())
        .expect("events after the state");
    let found_at = f["at_ns"].as_u64().unwrap();
    assert!(
        found_at - first <= 1_200_000_000,
        "{} s held",
        (found_at - first) as f64 / 1e9
    );
    assert!(
        chain[0]["ts_ns"].as_u64().unwrap() + 1_500_000_000 < first,
        "the chain starts seconds before the recording"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_busy_healthy_run_stays_under_the_cap_and_writes_nothing() {
    if !can_trace("a_busy_healthy_run_stays_under_the_cap_and_writes_nothing") {
        return;
    }
    let dir = scratch("flight-busy");
    let bin = common::template_race().parent().unwrap().join("stress");
    if !bin.exists() {
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-p", "goro", "--example", "stress"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    // A slow stop on a loaded machine would be a finding (and then rightly a recording): the
    // threshold is out of reach, so this run has none.
    let out = watch(&[
        "--json",
        "--slow-stw",
        "30s",
        "--flight",
        "5",
        "--flight-max-bytes",
        "8M",
        "--flight-dir",
        dir.to_str().unwrap(),
        "--",
        bin.to_str().unwrap(),
        "--duration",
        "20",
        "--seed",
        "7",
    ]);
    let text = stdout(&out);
    assert!(text.contains("stress OK"), "{text}\n{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}");
    let v = lines(&text);
    let s = summary(&v);
    assert_eq!(s["findings"], 0);
    let fl = &s["flight"];
    let (peak, cap) = (
        fl["peak_bytes"].as_u64().unwrap(),
        fl["max_bytes"].as_u64().unwrap(),
    );
    assert!(cap <= 8 << 20 && cap > (8 << 20) - 200, "{fl}");
    assert!(peak > 0 && peak <= cap, "{fl}");
    // A busy run: far more events than the ring holds went through it.
    let events = s["events"].as_u64().unwrap();
    assert!(
        fl["evicted_events"].as_u64().unwrap() > events / 2,
        "{fl} of {events}"
    );
    assert_eq!(fl["files"], serde_json::json!([]));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no file without a finding"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_flight_arguments_are_refused_before_anything_runs() {
    let bin = template_race();
    let bin = bin.to_str().unwrap();
    let out = watch(&["--flight", "0", "--", bin]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("longer than 0"), "{}", stderr(&out));
    let out = watch(&["--flight-dir", "/tmp", "--", bin]);
    assert_eq!(out.status.code(), Some(2), "--flight-dir needs --flight");
    let out = watch(&["--flight", "5", "--flight-max-bytes", "1K", "--", bin]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    if !can_trace("bad_flight_arguments_are_refused_before_anything_runs") {
        return;
    }
    let out = watch(&[
        "--flight",
        "5",
        "--flight-dir",
        "/nonexistent/flights",
        "--",
        bin,
    ]);
    assert_error(
        &out,
        "cannot create /nonexistent/flights: no such file or directory",
    );
}

#[test]
fn attached_to_a_process_already_hung_the_recording_explains_it_too() {
    if !can_trace("attached_to_a_process_already_hung_the_recording_explains_it_too") {
        return;
    }
    use std::io::{BufRead, BufReader};
    let bin = template_race();
    let dir = scratch("flight-pid");
    for _ in 0..3 {
        let mut child = Command::new(&bin)
            .args(["--legacy", "--widen", "--runtimes", "3"])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let pid: u32 = first.split_whitespace().nth(2).unwrap().parse().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        if child.try_wait().unwrap().is_some() {
            eprintln!("every runtime won the race; again");
            continue;
        }
        // Hung before watch attached: the live engine starts from the process's state table,
        // and so must the recording, which holds nothing but wait rounds.
        let out = watch(&[
            "--json",
            "--pid",
            &pid.to_string(),
            "--stw-timeout",
            "200ms",
            "--exit-on-finding",
            "--flight",
            "1",
            "--flight-dir",
            dir.to_str().unwrap(),
        ]);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let v = lines(&stdout(&out));
        let (stuck, file) = stuck_with_file(&v, &dir);
        let a = analyze(&file, "200ms");
        let mut live: Vec<String> = stuck.iter().map(key).collect();
        let mut replayed: Vec<String> =
            of_kind(&a, "stuck_p_in_stw").into_iter().map(key).collect();
        live.sort();
        replayed.sort();
        assert_eq!(live, replayed);
        assert!(stuck[0]["p"].is_u64(), "{}", stuck[0]);
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    panic!("the legacy scenario did not hang in three runs");
}
