//! `trace-cli record` and `analyze --events` against the real runtime, in each attach mode,
//! cross-checked against the runtime's own transition counts; and every way it must fail.
//! Needs root: see `common::can_trace`.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;
use trace_cli::event::Input;

fn summary_json(out: &Output) -> serde_json::Value {
    let line = stdout(out)
        .lines()
        .rfind(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary: {}", stdout(out)))
        .to_owned();
    serde_json::from_str(&line).unwrap()
}

/// A run that ended well: exit status 0.
fn assert_ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

/// The JSON summary of a recording that ended well.
fn ok_summary(out: &Output) -> serde_json::Value {
    assert_ok(out);
    summary_json(out)
}

/// `trace-cli <args> <target> <more>` running in the background, its output piped.
fn start_recorder(args: &[&str], target: impl AsRef<OsStr>, more: &[&str]) -> Child {
    Command::new(TRACE_CLI)
        .args(args)
        .arg(target)
        .args(more)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every goro site of process `pid` holds `byte`: 0x90 (`nop`) with nothing attached,
/// 0xcc (`int3`) where a uprobe is.
fn assert_sites(pid: u32, exe: &Path, byte: u8, what: &str) {
    let bytes = site_bytes(pid, exe);
    assert!(bytes.iter().all(|&b| b == byte), "{what}: {bytes:x?}");
}

/// The trace holds process `pid`'s every status change from its first, exactly as many as
/// the runtime counted in its `--stats` output `target_out`.
fn assert_every_transition(trace: &Replayed, pid: u32, target_out: &str) {
    let stats = parse_stats(target_out);
    assert_exact(&trace.transitions(pid, true, &stats.seq), &stats);
}

fn assert_no_loss(summary: &serde_json::Value) {
    for k in [
        "drops",
        "spec_misses",
        "read_errors",
        "seq_gaps",
        "missing_status_changes",
        "discontinuities",
        "late",
    ] {
        assert_eq!(summary["loss"][k], 0, "{k} in {summary}");
    }
}

#[test]
fn spawn_mode_records_every_transition_from_the_first() {
    if !can_trace("spawn_mode_records_every_transition_from_the_first") {
        return;
    }
    let dir = scratch("spawn");
    let file = dir.join("run.trace");
    let race = template_race();
    let out = trace_cli(&[
        "record",
        "-o",
        file.to_str().unwrap(),
        "--json",
        "--",
        race.to_str().unwrap(),
        "--iterations",
        "100",
        "--stats",
    ]);
    let s = ok_summary(&out);
    assert_no_loss(&s);
    assert_eq!(s["end"], "target_exited");
    assert_eq!(s["target_exit"], 0);
    let pid = s["target"]["pid"].as_u64().unwrap() as u32;
    let stats = parse_stats(&stdout(&out));
    let trace = read_trace(&file);
    assert!(trace.end.end.is_some() && trace.end.damage.is_none());
    assert_eq!(trace.losses(), Vec::<&Input>::new());
    assert!(trace.end.seq.clean());
    assert_eq!(trace.end.seq.events, s["events"].as_u64().unwrap());
    assert_exact(&trace.transitions(pid, true, &stats.seq), &stats);
    // The first event is the runtime's very first: start-up was not missed.
    let first = trace.inputs.iter().find_map(|i| match i {
        Input::Event(e) => Some(e.name()),
        _ => None,
    });
    assert_eq!(first, Some("procresize"));

    // analyze --events prints exactly those events, and the loss line.
    let a = trace_cli(&["analyze", file.to_str().unwrap(), "--events"]);
    assert_ok(&a);
    let text = stdout(&a);
    let p_status_lines = text.lines().filter(|l| l.contains(" p_status ")).count() as u64;
    assert_eq!(p_status_lines, trace.end.seq.p_status);
    assert!(
        text.contains("old=_Pdead new=_Pgcstop"),
        "Go's status names"
    );
    assert!(
        text.contains("0 dropped") && text.contains("complete"),
        "{text}"
    );
    let j = trace_cli(&["analyze", file.to_str().unwrap(), "--events", "--json"]);
    let lines: Vec<serde_json::Value> = stdout(&j)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["kind"], "summary");
    assert_eq!(last["complete"], true);
    assert_no_loss(last);
    assert_eq!(lines.len() as u64 - 1, trace.end.seq.events);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pid_mode_records_a_process_attached_before_it_starts_and_detaches() {
    if !can_trace("pid_mode_records_a_process_attached_before_it_starts_and_detaches") {
        return;
    }
    let dir = scratch("pid");
    let file = dir.join("run.trace");
    let race = template_race();
    let mut held = Held::start(&["--iterations", "100", "--stats"]);
    assert_sites(held.pid, &race, 0x90, "nop before");
    let rec = start_recorder(
        &["record", "-o", file.to_str().unwrap(), "--json", "--pid"],
        held.pid.to_string(),
        &[],
    );
    wait_for_size(&file, 16, Duration::from_secs(60));
    // Attached: every site is a breakpoint now.
    assert_sites(held.pid, &race, 0xcc, "int3 while attached");
    held.go();
    let pid = held.pid;
    let target_out = held.finish();
    let out = rec.wait_with_output().unwrap();
    let s = ok_summary(&out);
    assert_no_loss(&s);
    assert_eq!(
        s["end"], "target_exited",
        "a target that exits ends the run"
    );
    let trace = read_trace(&file);
    assert_eq!(trace.losses(), Vec::<&Input>::new());
    assert_every_transition(&trace, pid, &target_out);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn binary_mode_records_processes_running_now_and_started_later() {
    if !can_trace("binary_mode_records_processes_running_now_and_started_later") {
        return;
    }
    let dir = scratch("binary");
    let file = dir.join("run.trace");
    // A copy of its own: binary mode attaches to every process running the file, and the
    // other tests run template_race at the same time.
    let race = dir.join("template_race");
    std::fs::copy(template_race(), &race).unwrap();
    let mut before = Held::start_exe(&race, &["--iterations", "60", "--stats"]);
    let rec = start_recorder(
        &["record", "-o", file.to_str().unwrap(), "--json", "--binary"],
        &race,
        &[],
    );
    wait_for_size(&file, 16, Duration::from_secs(60));
    assert_sites(before.pid, &race, 0xcc, "int3");
    before.go();
    let later = Command::new(&race)
        .args(["--iterations", "60", "--stats"])
        .output()
        .unwrap();
    assert!(later.status.success());
    let later_pid: u32 = stdout(&later)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let before_pid = before.pid;
    let before_out = before.finish();
    // Only a signal (or --duration) ends a binary-mode recording.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(rec.id() as i32, libc::SIGINT) };
    let out = rec.wait_with_output().unwrap();
    let s = ok_summary(&out);
    assert_no_loss(&s);
    assert_eq!(s["end"], "signal");
    let trace = read_trace(&file);
    assert!(trace.end.end.is_some());
    assert_eq!(trace.losses(), Vec::<&Input>::new());
    assert_every_transition(&trace, before_pid, &before_out);
    assert_every_transition(&trace, later_pid, &stdout(&later));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_target_exiting_mid_recording_ends_it_with_a_complete_file() {
    if !can_trace("a_target_exiting_mid_recording_ends_it_with_a_complete_file") {
        return;
    }
    let dir = scratch("exits");
    let file = dir.join("run.trace");
    // Already running when attached: the recording starts mid-stream. Long enough to outlast
    // attaching every probe on a loaded machine, short enough to end by itself.
    let mut held = Held::start(&["--iterations", "10000"]);
    held.go();
    std::thread::sleep(Duration::from_millis(50));
    let out = trace_cli(&[
        "record",
        "-o",
        file.to_str().unwrap(),
        "--pid",
        &held.pid.to_string(),
        "--duration",
        "5m",
    ]);
    held.finish();
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("target exited"), "{text}");
    assert!(text.contains("lost: 0 dropped"), "{text}");
    let trace = read_trace(&file);
    assert_eq!(trace.end.end.as_ref().unwrap().reason, "target_exited");
    assert!(trace.end.seq.events > 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_recording_killed_with_sigkill_still_reads_and_leaves_nothing_attached() {
    if !can_trace("a_recording_killed_with_sigkill_still_reads_and_leaves_nothing_attached") {
        return;
    }
    let dir = scratch("sigkill");
    let file = dir.join("run.trace");
    let race = template_race();
    let mut held = Held::start(&["--iterations", "1000000"]);
    let mut rec = Command::new(TRACE_CLI)
        .args(["record", "-o", file.to_str().unwrap(), "--pid"])
        .arg(held.pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_size(&file, 16, Duration::from_secs(60));
    let header = std::fs::metadata(&file).unwrap().len();
    held.go();
    // A chunk a second: wait for two.
    wait_for_size(&file, header + 2048, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1200));
    rec.kill().unwrap();
    rec.wait().unwrap();
    // The kernel detached everything when the recorder died.
    std::thread::sleep(Duration::from_millis(100));
    assert_sites(held.pid, &race, 0x90, "nop after");
    held.child.kill().unwrap();
    held.child.wait().unwrap();
    let trace = read_trace(&file);
    assert!(trace.end.end.is_none(), "no end record: it was killed");
    assert!(trace.end.chunks >= 2, "{} chunks", trace.end.chunks);
    assert!(trace.end.seq.events > 100);
    assert!(trace.end.seq.clean(), "{:?}", trace.end.seq);
    let a = trace_cli(&["analyze", file.to_str().unwrap()]);
    assert_ok(&a);
    assert!(stdout(&a).contains("cut off"), "{}", stdout(&a));

    // Cut the file anywhere: every complete chunk still reads, the rest is reported.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.trace");
    for len in [bytes.len() - 1, bytes.len() * 2 / 3, bytes.len() / 3] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let t = read_trace(&cut);
        assert!(t.end.seq.events <= trace.end.seq.events);
        let a = trace_cli(&["analyze", cut.to_str().unwrap(), "--events"]);
        assert_ok(&a);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_write_that_fails_midway_stops_cleanly_and_the_file_reads() {
    if !can_trace("a_write_that_fails_midway_stops_cleanly_and_the_file_reads") {
        return;
    }
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let dir = scratch("full");
    let file = dir.join("run.trace");
    let race = template_race();
    let mut cmd = Command::new(TRACE_CLI);
    cmd.args(["record", "-o", file.to_str().unwrap(), "--"])
        .arg(&race)
        .args(["--iterations", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A file size limit stands in for a full disk: writes past it fail (EFBIG) as they would
    // with ENOSPC, partway through a chunk.
    // SAFETY: only setrlimit and signal between fork and exec, on the child itself.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 300_000,
                rlim_max: 300_000,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut rec = cmd.spawn().unwrap();
    let mut lines = std::io::BufReader::new(rec.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let target: u32 = first.split_whitespace().nth(2).unwrap().parse().unwrap();
    let status = rec.wait().unwrap();
    // The target goes on, untraced: every site is a nop again.
    let bytes = site_bytes(target, &race);
    // SAFETY: kill(2) on the template_race the recorder started (it is still running). It
    // holds the pipes it inherited: they reach end of file only once it is gone.
    unsafe { libc::kill(target as i32, libc::SIGKILL) };
    assert!(bytes.iter().all(|&b| b == 0x90), "nop after");
    let mut stderr = Vec::new();
    std::io::Read::read_to_end(&mut rec.stderr.take().unwrap(), &mut stderr).unwrap();
    let out = std::process::Output {
        status,
        stdout: Vec::new(),
        stderr,
    };
    assert_error(
        &out,
        &format!(
            "writing {}: file size limit reached; every chunk written before is readable",
            file.display()
        ),
    );
    let trace = read_trace(&file);
    assert!(trace.end.end.is_none());
    assert!(
        trace.end.chunks >= 1 && trace.end.seq.events > 0,
        "{:?}",
        trace.end.seq
    );
    assert!(trace.end.seq.clean(), "{:?}", trace.end.seq);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn duration_ends_a_recording_and_v_says_what_was_attached() {
    if !can_trace("duration_ends_a_recording_and_v_says_what_was_attached") {
        return;
    }
    let dir = scratch("duration");
    let file = dir.join("run.trace");
    // A copy nobody runs: binary mode, nothing to record.
    let race = dir.join("template_race");
    std::fs::copy(template_race(), &race).unwrap();
    let out = trace_cli(&[
        "-v",
        "record",
        "-o",
        file.to_str().unwrap(),
        "--json",
        "--binary",
        race.to_str().unwrap(),
        "--duration",
        "300ms",
    ]);
    let s = ok_summary(&out);
    assert_eq!(
        (s["end"].as_str(), s["events"].as_u64()),
        (Some("duration"), Some(0))
    );
    assert_no_loss(&s);
    let err = stderr(&out);
    assert!(
        err.contains("attached") && err.contains("probe sites"),
        "{err}"
    );
    let trace = read_trace(&file);
    assert_eq!(trace.end.end.unwrap().reason, "duration");
    // Without -v, nothing but the summary.
    let out = trace_cli(&[
        "record",
        "-o",
        file.to_str().unwrap(),
        "--binary",
        race.to_str().unwrap(),
        "--duration",
        "100ms",
    ]);
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).contains("lost: 0 dropped"), "{}", stdout(&out));
    // SIGTERM ends it as cleanly as Ctrl-C, long before the duration.
    let _ = std::fs::remove_file(&file);
    let rec = start_recorder(
        &["record", "--json", "-o", file.to_str().unwrap(), "--binary"],
        &race,
        &["--duration", "10m"],
    );
    wait_for_size(&file, 16, Duration::from_secs(60));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(rec.id() as i32, libc::SIGTERM) };
    let out = rec.wait_with_output().unwrap();
    assert_eq!(ok_summary(&out)["end"], "signal");
    assert_eq!(read_trace(&file).end.end.unwrap().reason, "signal");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn loss_is_counted_and_every_missing_status_change_is_reported() {
    if !can_trace("loss_is_counted_and_every_missing_status_change_is_reported") {
        return;
    }
    let dir = scratch("loss");
    let file = dir.join("run.trace");
    let race = template_race();
    // A 4 KiB ring holds about 30 events: template_race's bursts overflow it.
    let out = trace_cli(&[
        "record",
        "--ring-size",
        "4K",
        "-o",
        file.to_str().unwrap(),
        "--json",
        "--",
        race.to_str().unwrap(),
        "--iterations",
        "200",
    ]);
    let s = ok_summary(&out);
    let loss = &s["loss"];
    let (events, hits, drops) = (
        s["events"].as_u64().unwrap(),
        s["hits"].as_u64().unwrap(),
        loss["drops"].as_u64().unwrap(),
    );
    assert_eq!(
        hits,
        events + drops,
        "every hit is an event or a counted drop"
    );
    assert!(drops > 0, "a 4 KiB ring overflowed: {s}");
    // Every status change missing from the trace is reported as a gap, with its size.
    let trace = read_trace(&file);
    let pid = s["target"]["pid"].as_u64().unwrap() as u32;
    let probe = trace_cli::event::probe_index("p_status").unwrap();
    let mut per_p: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    for i in &trace.inputs {
        if let Input::Event(e) = i
            && e.probe == probe
            && e.pid == pid
        {
            let p = per_p.entry(e.arg("p").unwrap()).or_default();
            p.0 += 1;
            p.1 = p.1.max(e.arg("seq").unwrap());
        }
    }
    let missing: u64 = per_p.values().map(|(n, max)| max - n).sum();
    assert_eq!(trace.end.seq.missing, missing);
    assert!(
        missing > 0 && missing <= drops,
        "{missing} missing, {drops} dropped"
    );
    // The replay delivers every recorded event, and finds what the live run found (unless
    // the live run had to give up on a change that came later than its window).
    assert_eq!(trace.end.seq.events, events);
    if loss["late"] == 0 {
        assert_eq!(loss["missing_status_changes"].as_u64().unwrap(), missing);
    }
    // analyze says it too, where it happened.
    let a = trace_cli(&["analyze", file.to_str().unwrap(), "--events"]);
    let text = stdout(&a);
    let gaps = text
        .lines()
        .filter(|l| l.contains("LOST") && l.contains("status changes of P"))
        .count() as u64;
    assert_eq!(gaps, loss["seq_gaps"].as_u64().unwrap());
    assert!(text.contains("events dropped: the ring buffer was full"));
    assert!(
        !text.contains("complete"),
        "a lossy recording is not called complete"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Failures: one line, exit 1, no file left, nothing attached.
#[test]
fn attaching_to_a_process_without_goro_probes_fails_cleanly() {
    if !can_trace("attaching_to_a_process_without_goro_probes_fails_cleanly") {
        return;
    }
    let dir = scratch("nongoro");
    let file = dir.join("x.trace");
    let mut sleep = Command::new("sleep").arg("30").spawn().unwrap();
    let out = trace_cli(&[
        "record",
        "-o",
        file.to_str().unwrap(),
        "--pid",
        &sleep.id().to_string(),
    ]);
    sleep.kill().unwrap();
    sleep.wait().unwrap();
    assert_error(&out, &format!("no goro probes in process {}", sleep.id()));
    assert!(!file.exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_pid_that_does_not_exist_fails_cleanly() {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    let out = trace_cli(&[
        "record",
        "-o",
        "/tmp/never.trace",
        "--pid",
        &pid.to_string(),
    ]);
    assert_error(&out, &format!("no process with pid {pid}"));
}

#[test]
fn a_binary_without_goro_probes_fails_cleanly() {
    for args in [&["--binary", "/bin/true"][..], &["--", "/bin/true"][..]] {
        let mut a = vec!["record", "-o", "/tmp/never.trace"];
        a.extend_from_slice(args);
        let out = trace_cli(&a);
        assert_error(&out, "no goro probes in /");
    }
    let out = trace_cli(&[
        "record",
        "-o",
        "/tmp/never.trace",
        "--",
        "no-such-command-xyz",
    ]);
    assert_error(&out, "command not found");
    assert!(!std::path::Path::new("/tmp/never.trace").exists());
}

#[test]
fn an_output_path_that_cannot_be_created_fails_before_attaching() {
    let race = template_race();
    let out = trace_cli(&[
        "record",
        "-o",
        "/nonexistent-dir/x.trace",
        "--binary",
        race.to_str().unwrap(),
    ]);
    assert_error(
        &out,
        "cannot create /nonexistent-dir/x.trace: no such file or directory",
    );
}

#[test]
fn without_the_capabilities_the_error_names_them() {
    if !can_trace("without_the_capabilities_the_error_names_them") {
        return;
    }
    use std::os::unix::process::CommandExt;
    let race = template_race();
    let mut cmd = Command::new(TRACE_CLI);
    cmd.args(["record", "-o", "/tmp/never-caps.trace", "--binary"])
        .arg(&race);
    // SAFETY: only prctl between fork and exec, on the child's own capability bounding set:
    // root then execs trace-cli without CAP_SYS_ADMIN, CAP_PERFMON and CAP_BPF.
    unsafe {
        cmd.pre_exec(|| {
            for cap in [21, 38, 39] {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_error(
        &out,
        "missing capability CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load BPF programs and attach uprobes: run as root",
    );
    assert!(!std::path::Path::new("/tmp/never-caps.trace").exists());
}

#[test]
fn analyze_rejects_what_is_not_a_trace_file() {
    let dir = scratch("notatrace");
    let f = dir.join("x");
    std::fs::write(&f, b"hello").unwrap();
    let out = trace_cli(&["analyze", f.to_str().unwrap(), "--events"]);
    assert_error(&out, "not a goro trace file");
    let out = trace_cli(&["analyze", dir.join("missing").to_str().unwrap()]);
    assert_error(&out, "no such file or directory");
    let _ = std::fs::remove_dir_all(dir);
}
