//! `trace-cli watch` and `analyze` on real processes: the legacy hang found live and from its
//! recording, the spinning goroutine, a process already hung when attached (named from its
//! state read at attach), and healthy runs
//! that must give no `stuck_p_in_stw`. Needs root (BPF): outside CI it skips loudly; under
//! CI=true a missing capability fails.
//!
//! Each watch costs about 5 s on top of its target: detaching the uprobes takes the kernel a
//! grace period per probe. The tests keep the number of watches small.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{TRACE_CLI, can_trace, legacy_hang, scratch, stderr, stdout, template_race, watch};
use serde_json::Value;

const TIMEOUT_MS: f64 = 200.0;

fn example(name: &str) -> PathBuf {
    let bin = template_race().parent().unwrap().join(name);
    if !bin.exists() {
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-p", "goro", "--example", name])
            .status()
            .expect("run cargo");
        assert!(st.success(), "building {name}");
    }
    bin
}

/// The JSON lines of a run (a target's own output lines are skipped).
fn lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn kind<'a>(v: &'a [Value], k: &str) -> Vec<&'a Value> {
    v.iter().filter(|f| f["kind"] == k).collect()
}

fn key(f: &Value) -> (Value, Value, Value, Value) {
    (
        f["kind"].clone(),
        f["p"].clone(),
        f["status"].clone(),
        f["cause"].clone(),
    )
}

fn summary(v: &[Value]) -> &Value {
    kind(v, "summary").pop().expect("a summary line")
}

#[test]
fn the_legacy_hang_is_found_live_and_the_same_from_its_recording() {
    if !can_trace("the_legacy_hang_is_found_live_and_the_same_from_its_recording") {
        return;
    }
    let dir = scratch("watch-legacy");
    let file = dir.join("hang.trace");
    let out = legacy_hang(&file);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v = lines(&out);
    let stuck = kind(&v, "stuck_p_in_stw");
    let race: Vec<_> = stuck
        .iter()
        .filter(|f| f["cause"] == "template_thread_race")
        .collect();
    assert!(!race.is_empty(), "{}", stdout(&out));
    for f in &race {
        assert_eq!(f["status"], "_Pidle");
        assert_eq!(f["confidence"], "high");
        assert_eq!(f["stw_reason"], "read_stats");
        // The runtime's own account, from its probes: the P was handed to a new M that was
        // queued for the template thread, and that M never started.
        let p = f["p"].as_u64().unwrap();
        let m = f["handed_to"]["m"].as_u64().unwrap();
        assert_eq!(f["handed_to"]["queued_for_template"], true);
        assert_eq!(f["handed_to"]["started"], false);
        assert_eq!(f["template"]["running"], false);
        let newm = format!("newm M{m} (P{p})");
        assert!(
            f["chain"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["what"].as_str().unwrap().starts_with(&newm)),
            "the interleaving shows {newm}: {f}"
        );
        // Found within the timeout plus a second of the stop's begin (the engine's clock).
        let waited = f["waiting_ms"].as_f64().unwrap();
        assert!(
            waited > TIMEOUT_MS && waited <= TIMEOUT_MS + 1000.0,
            "{waited}"
        );
    }
    let s = summary(&v);
    assert_eq!(
        s["target_killed"], true,
        "the hung target is not left behind"
    );
    assert_eq!(s["end"], "exit_on_finding");
    let pid = s["target"]["pid"].as_u64().unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "target {pid} is gone"
    );

    // analyze on the recording: the same findings (kind, P, status, cause).
    let a = Command::new(TRACE_CLI)
        .args(["analyze", "--json", "--stw-timeout", "200ms"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    let av = lines(&a);
    let mut live: Vec<_> = stuck.iter().map(|f| key(f)).collect();
    let mut replay: Vec<_> = kind(&av, "stuck_p_in_stw").iter().map(|f| key(f)).collect();
    live.sort_by_key(|k| format!("{k:?}"));
    replay.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(live, replay);
    // The readable form names the P and the cause.
    let t = Command::new(TRACE_CLI)
        .args(["analyze", "--text", "--stw-timeout", "200ms"])
        .arg(&file)
        .output()
        .unwrap();
    let text = stdout(&t);
    let p = race[0]["p"].as_u64().unwrap();
    assert!(
        text.contains(&format!("stuck_p_in_stw: P{p} _Pidle"))
            && text.contains("cause: template_thread_race"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_goroutine_spinning_through_a_stop_is_nonpreemptible_on_its_p() {
    if !can_trace("a_goroutine_spinning_through_a_stop_is_nonpreemptible_on_its_p") {
        return;
    }
    let bin = example("spin_stw");
    let out = watch(&["--json", "--", bin.to_str().unwrap(), "--seconds", "2"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    // The runtime's own state names the spinner's P.
    let p: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("spin_stw: spinner on P"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the example names its P: {text}"));
    let v = lines(&out);
    let stuck = kind(&v, "stuck_p_in_stw");
    assert_eq!(stuck.len(), 1, "{text}");
    assert_eq!(stuck[0]["p"], p);
    assert_eq!(stuck[0]["status"], "_Prunning");
    assert_eq!(stuck[0]["cause"], "nonpreemptible_g");
    // Then the stop finished: slow, and never stuck after it finished.
    let slow = kind(&v, "slow_stw");
    assert_eq!(slow.len(), 1, "{text}");
    let s = summary(&v);
    assert_eq!(s["end"], "target_exited");
    assert_eq!(s["target_exit"], 0);
    assert_eq!(s["stw_in_progress"], Value::Null);
}

/// Attached to a process whose stop-the-world is already stuck: no event will ever come, so
/// the finding must come from the state read at attach — the same P, the same M it was
/// handed to and the same cause `inspect` names — and not wait for an event. Its recording
/// starts from that state too, and `analyze` gives the same finding.
#[test]
fn attached_to_a_process_already_hung_the_stuck_p_is_named() {
    if !can_trace("attached_to_a_process_already_hung_the_stuck_p_is_named") {
        return;
    }
    let bin = template_race();
    for _ in 0..3 {
        let mut child = Command::new(&bin)
            .args(["--legacy", "--widen", "--runtimes", "3"])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
        let pid: u32 = first.split_whitespace().nth(2).unwrap().parse().unwrap();
        // Long enough for every runtime to run or hang (each takes well under a second).
        std::thread::sleep(Duration::from_millis(1500));
        if child.try_wait().unwrap().is_some() {
            eprintln!("every runtime won the race; again");
            continue;
        }
        let inspected = Command::new(TRACE_CLI)
            .args([
                "inspect",
                "--json",
                "--stw-timeout",
                "200ms",
                &pid.to_string(),
            ])
            .output()
            .unwrap();
        let dir = scratch("attached-hung");
        let file = dir.join("hung.trace");
        let out = watch(&[
            "--json",
            "--pid",
            &pid.to_string(),
            "--stw-timeout",
            "200ms",
            "--exit-on-finding",
            "--record",
            file.to_str().unwrap(),
        ]);
        let alive = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        // One stuck P or several (each handed to its own M queued for the template thread):
        // watch must name the same ones, with the same M and cause, as inspect.
        let named = |v: &[&Value]| {
            let mut k: Vec<String> = v
                .iter()
                .map(|f| {
                    format!(
                        "P{} {} {} M{} stw{} {}",
                        f["p"],
                        f["status"],
                        f["cause"],
                        f["handed_to"]["m"],
                        f["stw_id"],
                        f["stw_reason"]
                    )
                })
                .collect();
            k.sort();
            k
        };
        let truth = lines(&inspected);
        let truth = kind(&truth, "stuck_p_in_stw");
        assert!(!truth.is_empty(), "inspect: {}", stdout(&inspected));
        let v = lines(&out);
        let stuck = kind(&v, "stuck_p_in_stw");
        assert_eq!(named(&stuck), named(&truth), "watch: {}", stdout(&out));
        for f in &stuck {
            assert!(f["p"].is_u64(), "the P is named: {f}");
            assert_eq!(f["cause"], "template_thread_race", "{f}");
            assert_eq!(f["status"], "_Pidle", "{f}");
            assert!(f["handed_to"]["m"].is_u64(), "{f}");
            // The stop began before the attach; its start comes from the state, not from
            // the first event seen.
            let waited = f["waiting_ms"].as_f64().unwrap();
            assert!(waited >= 1000.0, "{waited}");
        }
        assert!(alive, "attaching left the target running");
        assert_eq!(summary(&v)["target_killed"], false, "not ours to kill");
        // The recording starts from the same state, so it explains the hang the same way.
        let replay = Command::new(TRACE_CLI)
            .args(["analyze", "--json", "--stw-timeout", "200ms"])
            .arg(&file)
            .output()
            .unwrap();
        let r = lines(&replay);
        assert_eq!(
            named(&kind(&r, "stuck_p_in_stw")),
            named(&stuck),
            "analyze: {}",
            stdout(&replay)
        );
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    panic!("the legacy scenario did not hang in three runs");
}

#[test]
fn healthy_runs_give_no_stuck_p() {
    if !can_trace("healthy_runs_give_no_stuck_p") {
        return;
    }
    // 50 fresh runtimes of the fixed scenario, one after another in one process: each is a
    // fresh chance for the template-thread start transient to look like the race.
    let bin = template_race();
    let out = watch(&[
        "--json",
        "--",
        bin.to_str().unwrap(),
        "--runtimes",
        "50",
        "--iterations",
        "20",
    ]);
    let v = lines(&out);
    assert!(kind(&v, "stuck_p_in_stw").is_empty(), "{}", stdout(&out));
    let s = summary(&v);
    assert_eq!(s["target_exit"], 0, "{}", stderr(&out));
    assert!(s["stws"].as_u64().unwrap() > 50, "{s}");
    assert_eq!(s["stw_in_progress"], Value::Null);
    // A slow stop on a loaded machine is allowed (and then exit 3); a stuck one never.
    let code = out.status.code();
    assert!(
        code == Some(0) || (code == Some(3) && kind(&v, "slow_stw").len() == v.len() - 1),
        "{code:?}"
    );
}

#[test]
fn a_busy_mixed_workload_gives_no_stuck_p() {
    if !can_trace("a_busy_mixed_workload_gives_no_stuck_p") {
        return;
    }
    // Stop-the-worlds from read_stats and set_procs (and the user's), Ps in long blocking
    // calls, lock_os_thread churn, timers, channels: a stop may be slow on a loaded machine,
    // and then it finishes — a slow_stw, never a stuck P.
    let bin = example("stress");
    let out = watch(&[
        "--json",
        "--",
        bin.to_str().unwrap(),
        "--duration",
        "3",
        "--seed",
        "7",
    ]);
    let text = stdout(&out);
    assert!(text.contains("stress OK"), "{text}\n{}", stderr(&out));
    let v = lines(&out);
    assert!(kind(&v, "stuck_p_in_stw").is_empty(), "{text}");
    let s = summary(&v);
    assert_eq!(s["target_exit"], 0);
    assert!(s["stws"].as_u64().unwrap() > 100, "{s}");
    assert_eq!(s["stw_in_progress"], Value::Null);
    assert_eq!(kind(&v, "slow_stw").len() + 1, v.len(), "{text}");
}
