//! `trace-cli export` on a real recording of the legacy hang (`template_race --legacy
//! --widen` under `watch --record`): the Perfetto file parsed with Perfetto's own schema (the
//! `perfetto` Python package's `perfetto_trace_pb2`) and the Chrome JSON with Python's `json`
//! (`export_read.py`), checked against the recorded events and `analyze`'s findings. Then
//! bad input. Needs root (BPF) and the `perfetto` package: outside CI each is skipped loudly;
//! under CI=true a missing one fails.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{
    TRACE_CLI, assert_error, can_trace, legacy_hang, read_trace, scratch, stderr, stdout, trace_cli,
};
use goro_probes::catalog::pstatus::PStatus;
use serde_json::Value;
use trace_cli::event::{Input, probe_index};

const READER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/export_read.py");

/// Whether Python's `perfetto` package is importable; prints why not, and fails under CI.
fn have_perfetto(test: &str) -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import perfetto.protos.perfetto.trace.perfetto_trace_pb2",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: CI must have the perfetto Python package (.ci/run installs it)");
        }
        eprintln!("SKIPPED {test}: needs `python3 -m pip install perfetto`");
    }
    ok
}

/// The timeline as `export_read.py` read it.
fn read(kind: &str, path: &Path) -> Value {
    let out = Command::new("python3")
        .arg(READER)
        .arg(kind)
        .arg(path)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{kind}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn export(file: &Path, args: &[&str]) -> std::process::Output {
    Command::new(TRACE_CLI)
        .arg("export")
        .arg(file)
        .args(args)
        .output()
        .expect("run trace-cli export")
}

type Slice = (String, String, u64, u64);

fn slices(v: &Value) -> Vec<Slice> {
    let mut s: Vec<Slice> = v["slices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["track"].as_str().unwrap().to_owned(),
                s["name"].as_str().unwrap().to_owned(),
                s["start"].as_u64().unwrap(),
                s["end"].as_u64().unwrap(),
            )
        })
        .collect();
    s.sort();
    s
}

fn on<'a>(v: &'a Value, what: &str, track: &str) -> Vec<&'a Value> {
    v[what]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["track"] == track)
        .collect()
}

/// One runtime of the recording: its p_status changes per P, in order.
#[derive(Default)]
struct Runtime {
    changes: BTreeMap<u32, Vec<(u8, u64)>>,
    /// Ps with a change delivered after later events (stamped before something already
    /// delivered): the engine applies it late and the timeline draws it when it was applied,
    /// not at its stamp, so these Ps are checked for presence, not to the nanosecond.
    late: std::collections::BTreeSet<u32>,
    running: Vec<(u64, u32, u64)>,
    stw_begins: Vec<u64>,
    /// When the next runtime replaced it (`None`: the last one).
    until: Option<u64>,
}

#[test]
fn the_legacy_hang_exports_to_perfetto_and_chrome_as_recorded() {
    let name = "the_legacy_hang_exports_to_perfetto_and_chrome_as_recorded";
    if !can_trace(name) || !have_perfetto(name) {
        return;
    }
    let dir = scratch("export-legacy");
    let file = dir.join("hang.trace");
    let out = legacy_hang(&file);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    // What was recorded, split into runtimes as the timeline splits them: a `procresize` from
    // 0 Ps after Ps were seen starts a new one.
    let trace = read_trace(&file);
    let end_ns = trace
        .end
        .end
        .as_ref()
        .expect("watch ended the recording")
        .ts_ns;
    let (p_status, procresize, stw_begin) = (
        probe_index("p_status").unwrap(),
        probe_index("procresize").unwrap(),
        probe_index("stw_begin").unwrap(),
    );
    let mut rts: Vec<Runtime> = vec![Runtime::default()];
    let mut pid = 0;
    // The last seq applied per P: the engine drops a change older than one it applied
    // (stale), and the timeline draws what the engine applied.
    let mut applied: BTreeMap<u32, u64> = BTreeMap::new();
    let mut delivered = 0;
    for i in &trace.inputs {
        let Input::Event(e) = i else { continue };
        if e.read_error {
            continue;
        }
        let late = e.ts_ns < delivered;
        delivered = delivered.max(e.ts_ns);
        pid = e.pid;
        let rt = rts.last_mut().unwrap();
        if e.probe == procresize && e.arg("old") == Some(0) && !rt.changes.is_empty() {
            rt.until = Some(e.ts_ns);
            rts.push(Runtime::default());
            applied.clear();
        }
        let rt = rts.last_mut().unwrap();
        if e.probe == p_status {
            let (p, new, m) = (
                e.arg("p").unwrap() as u32,
                e.arg("new").unwrap() as u8,
                e.arg("m").unwrap(),
            );
            let seq = e.arg("seq").unwrap();
            if applied.get(&p).is_some_and(|&last| seq <= last) {
                continue;
            }
            applied.insert(p, seq);
            if late {
                eprintln!("P{p} seq {seq} was delivered late: its slices are checked for presence");
                rt.late.insert(p);
            }
            rt.changes.entry(p).or_default().push((new, e.ts_ns));
            if new == PStatus::Running.code() {
                rt.running.push((m, p, e.ts_ns));
            }
        } else if e.probe == stw_begin {
            rt.stw_begins.push(e.ts_ns);
        }
    }
    let root = |k: usize| match k {
        0 => format!("goro · pid {pid} (template_race)"),
        k => format!("goro runtime {} · pid {pid} (template_race)", k + 1),
    };
    if !trace.losses().is_empty() {
        // Status changes the file does not have (the recording stopped with some still in
        // the ring): the timeline draws what was recorded, and so does this check.
        eprintln!("the recording misses events: {:?}", trace.losses());
    }

    // The findings analyze gives for the same file and timeout.
    let a = trace_cli(&[
        "analyze",
        "--json",
        "--stw-timeout",
        "200ms",
        file.to_str().unwrap(),
    ]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    let findings: Vec<Value> = stdout(&a)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "stuck_p_in_stw" && v["cause"] == "template_thread_race")
        .collect();
    assert!(!findings.is_empty(), "{}", stdout(&a));

    let pf = dir.join("hang.pftrace");
    let o = export(
        &file,
        &["--stw-timeout", "200ms", "-o", pf.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("perfetto"), "{}", stdout(&o));
    let cj = dir.join("hang.json");
    let o = export(
        &file,
        &[
            "--format",
            "chrome",
            "--stw-timeout",
            "200ms",
            "-o",
            cj.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let perfetto = read("perfetto", &pf);
    let chrome = read("chrome", &cj);

    // A track per P and per M; every P's slices are exactly its recorded status changes.
    let tracks: Vec<&str> = perfetto["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let last = rts.len() - 1;
    for (k, rt) in rts.iter().enumerate() {
        let until = rt.until.unwrap_or(end_ns);
        for (p, ch) in &rt.changes {
            let track = format!("{}/P{p}", root(k));
            assert!(tracks.contains(&track.as_str()), "{track}: {tracks:?}");
            if rt.late.contains(p) {
                continue;
            }
            let got: Vec<(String, u64, u64)> = on(&perfetto, "slices", &track)
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap().to_owned(),
                        s["start"].as_u64().unwrap(),
                        s["end"].as_u64().unwrap(),
                    )
                })
                .collect();
            let want: Vec<(String, u64, u64)> = ch
                .iter()
                .enumerate()
                .map(|(i, &(st, ts))| {
                    let name = PStatus::from_code(st).unwrap().name().to_owned();
                    (name, ts, ch.get(i + 1).map_or(until, |n| n.1))
                })
                .collect();
            assert_eq!(got, want, "{track}");
        }
        for &(m, p, ts) in &rt.running {
            let track = format!("{}/M{m}", root(k));
            assert!(
                on(&perfetto, "slices", &track).iter().any(|s| {
                    s["start"] == ts
                        && s["name"]
                            .as_str()
                            .unwrap()
                            .starts_with(&format!("running P{p}"))
                }),
                "{track} runs P{p} from {ts}"
            );
        }
    }

    // The hung stop-the-world: the last runtime's last begin, open to the file's end.
    let stw = on(
        &perfetto,
        "slices",
        &format!("{}/stop-the-world", root(last)),
    );
    let hung = stw
        .iter()
        .find(|s| s["args"]["ended"] == false)
        .expect("a stop not ended");
    assert_eq!(hung["name"], "STW read_stats");
    assert_eq!(hung["start"].as_u64(), rts[last].stw_begins.last().copied());
    assert_eq!(hung["end"].as_u64(), Some(end_ns));
    assert!(
        stw.iter()
            .filter(|s| s["args"]["ended"] == true)
            .all(|s| s["args"]["time_to_stop_ms"].is_f64())
    );

    // Each finding: an annotation where and when it fired, pointing at its P, whose last
    // status runs to the end; and a hand-off flow into that P from an M.
    for f in &findings {
        let p = f["p"].as_u64().unwrap();
        let ann = on(&perfetto, "instants", &format!("{}/findings", root(last)));
        let a = ann
            .iter()
            .find(|i| i["args"]["p"] == p && i["ts"] == f["at_ns"])
            .unwrap_or_else(|| panic!("no annotation for {f} in {ann:?}"));
        assert_eq!(a["args"]["cause"], f["cause"]);
        assert_eq!(a["args"]["explanation"], f["explanation"]);
        assert_eq!(
            a["name"],
            format!("stuck_p_in_stw: P{p} _Pidle (template_thread_race)")
        );
        let ptrack = format!("{}/P{p}", root(last));
        let pslices = on(&perfetto, "slices", &ptrack);
        if !rts[last].late.contains(&(p as u32)) {
            let lastp = pslices.iter().max_by_key(|s| s["start"].as_u64()).unwrap();
            assert_eq!(
                (lastp["name"].as_str(), lastp["end"].as_u64()),
                (f["status"].as_str(), Some(end_ns))
            );
        }
        let into: Vec<&Value> = on(&perfetto, "instants", &ptrack)
            .into_iter()
            .flat_map(|i| i["flow_in"].as_array().unwrap())
            .collect();
        let from_m = perfetto["instants"].as_array().unwrap().iter().any(|i| {
            i["track"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/M", root(last)))
                && i["name"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("handoffp P{p}"))
                && i["flow_out"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|id| into.contains(&id))
        });
        assert!(from_m, "a hand-off flow from an M into P{p}");
    }
    // The M the P was handed to never started, queued for the template thread.
    let m = findings[0]["handed_to"]["m"].as_u64().unwrap();
    let ms = on(&perfetto, "slices", &format!("{}/M{m}", root(last)));
    assert!(
        ms.iter().any(
            |s| s["name"] == "not started · queued for the template thread"
                && s["end"].as_u64() == Some(end_ns)
        ),
        "{ms:?}"
    );

    // The Chrome JSON has the same tracks, slices and instants.
    assert_eq!(chrome["tracks"], perfetto["tracks"]);
    assert_eq!(slices(&chrome), slices(&perfetto));
    let inst = |v: &Value| {
        let mut i: Vec<(String, String, u64)> = v["instants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["track"].as_str().unwrap().to_owned(),
                    i["name"].as_str().unwrap().to_owned(),
                    i["ts"].as_u64().unwrap(),
                )
            })
            .collect();
        i.sort();
        i
    };
    assert_eq!(inst(&chrome), inst(&perfetto));

    // Cut off inside its last chunk: the chunks before it are exported, with a note.
    let cut = dir.join("cut.trace");
    let bytes = std::fs::read(&file).unwrap();
    let last_chunk = bytes.windows(4).rposition(|w| w == b"GCHK").unwrap();
    std::fs::write(&cut, &bytes[..last_chunk + 10]).unwrap();
    let cpf = dir.join("cut.pftrace");
    let o = export(&cut, &["-o", cpf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("trace-cli: note: ") && (err.contains("cut off")),
        "{err}"
    );
    let cutv = read("perfetto", &cpf);
    if trace.end.chunks >= 2 {
        assert!(!cutv["slices"].as_array().unwrap().is_empty());
    }

    // An output that cannot be created: one line, nothing half-written.
    let o = export(
        &file,
        &["-o", dir.join("no/such/dir/x.pftrace").to_str().unwrap()],
    );
    assert_error(&o, "cannot create");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_one_line_and_leaves_no_output() {
    let dir = scratch("export-bad");
    let out = dir.join("out.pftrace");
    let o = export(&dir.join("missing.trace"), &["-o", out.to_str().unwrap()]);
    assert_error(&o, "no such file or directory");
    assert!(!out.exists());
    let junk = dir.join("junk.trace");
    std::fs::write(&junk, b"this is not a trace file at all, not even close\n").unwrap();
    let o = export(&junk, &["-o", out.to_str().unwrap()]);
    assert_error(&o, "junk.trace");
    assert!(!out.exists(), "no output for a file that is not a trace");
    // An unknown format is a usage error (status 2) that names the formats there are.
    let o = export(&junk, &["--format", "svg", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("svg") && err.contains("perfetto") && err.contains("chrome"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Never over the input, whatever it is.
    let o = export(&junk, &["-o", junk.to_str().unwrap()]);
    assert_error(&o, "would overwrite the trace file");
    assert!(std::fs::read(&junk).unwrap().starts_with(b"this is not"));
    // -o is required.
    let o = export(&junk, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}
