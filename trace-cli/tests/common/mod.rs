//! Helpers for the tests that run trace-cli against real processes. They need root (BPF and
//! uprobes): outside CI they skip loudly; under CI=true a missing capability fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro_probes::catalog::pstatus::PStatus;
use trace_cli::event::Input;
use trace_cli::source::file::{FileEnd, replay};

pub const TRACE_CLI: &str = env!("CARGO_BIN_EXE_trace-cli");

/// Whether BPF tests can run here; prints why not, and fails under CI.
pub fn can_trace(test: &str) -> bool {
    match trace_cli::caps::missing_for_tracing() {
        None => true,
        Some(missing) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: CI must run as root with BPF, but {missing} is missing");
            }
            eprintln!("SKIPPED {test}: needs {missing} (run as root; CI does)");
            false
        }
    }
}

/// The template_race example, built if it is not there yet.
pub fn template_race() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/record-xxxx → target/<profile>/examples/template_race
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples/template_race");
    if !bin.exists() {
        let release = profile_dir.ends_with("release");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-p", "goro", "--example", "template_race"]);
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo");
        assert!(st.success(), "building template_race");
    }
    bin
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory for one test's files.
pub fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "trace-cli-{test}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn trace_cli(args: &[&str]) -> Output {
    Command::new(TRACE_CLI)
        .args(args)
        .output()
        .expect("run trace-cli")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An error is one clear line on stderr and exit status 1: no panic, no backtrace.
pub fn assert_error(out: &Output, expect: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.starts_with("trace-cli: ") && err.contains(expect),
        "{err:?} lacks {expect:?}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

/// Waits until `path` holds at least `len` bytes: the recorder writes its header only once
/// every probe is attached.
pub fn wait_for_size(path: &Path, len: u64, limit: Duration) {
    let t = Instant::now();
    while std::fs::metadata(path).map_or(0, |m| m.len()) < len {
        assert!(
            t.elapsed() < limit,
            "{} did not reach {len} bytes",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A template_race held before its runtime starts (`--wait-stdin`), and its pid.
pub struct Held {
    pub child: Child,
    pub pid: u32,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Held {
    pub fn start(args: &[&str]) -> Held {
        Held::start_exe(&template_race(), args)
    }

    pub fn start_exe(exe: &Path, args: &[&str]) -> Held {
        let mut child = Command::new(exe)
            .args(args)
            .arg("--wait-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start template_race");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let pid = first
            .split_whitespace()
            .nth(2)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {first:?}"));
        assert_eq!(pid, child.id());
        Held { child, pid, lines }
    }

    /// Lets it run.
    pub fn go(&mut self) {
        use std::io::Write;
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }

    /// Waits for it; its remaining stdout.
    pub fn finish(mut self) -> String {
        let mut out = String::new();
        for l in self.lines.by_ref() {
            out += &l.unwrap();
            out.push('\n');
        }
        let st = self.child.wait().unwrap();
        assert!(st.success(), "template_race failed: {st:?}\n{out}");
        out
    }
}

/// Transition counts per (P, from, to).
pub type Counts = BTreeMap<(u32, u8, u8), u64>;

/// What template_race --stats printed: the runtime's own transition counts, and each P's
/// last sequence number counted.
pub struct RtStats {
    pub counts: Counts,
    pub seq: BTreeMap<u32, u64>,
}

fn status_code(name: &str) -> u8 {
    goro_probes::catalog::pstatus::TABLE
        .value_of(name)
        .unwrap_or_else(|| panic!("status {name}"))
}

/// Parses `stats P<id> <from> <to> <count>` and `stats P<id> seq <n>` lines.
pub fn parse_stats(out: &str) -> RtStats {
    let mut st = RtStats {
        counts: Counts::new(),
        seq: BTreeMap::new(),
    };
    for l in out.lines().filter(|l| l.starts_with("stats P")) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let p: u32 = f[1][1..].parse().unwrap();
        if f[2] == "seq" {
            st.seq.insert(p, f[3].parse().unwrap());
        } else {
            st.counts.insert(
                (p, status_code(f[2]), status_code(f[3])),
                f[4].parse().unwrap(),
            );
        }
    }
    assert!(!st.counts.is_empty(), "no stats lines in {out:?}");
    st
}

/// Everything a replay delivered.
pub struct Replayed {
    pub inputs: Vec<Input>,
    pub end: FileEnd,
}

pub fn read_trace(path: &Path) -> Replayed {
    let mut inputs = Vec::new();
    let end = replay(path, |i| inputs.push(i)).expect("the trace reads");
    Replayed { inputs, end }
}

impl Replayed {
    pub fn losses(&self) -> Vec<&Input> {
        self.inputs
            .iter()
            .filter(|i| matches!(i, Input::Lost { .. }))
            .collect()
    }

    /// The status changes of process `pid` per P, numbered up to `upto[p]`, checking on the
    /// way that each P's changes are continuous (`old` = previous `new`, `seq` = previous + 1)
    /// and, if `from_start`, start at `_Pdead` with seq 1.
    pub fn transitions(&self, pid: u32, from_start: bool, upto: &BTreeMap<u32, u64>) -> Counts {
        let probe = trace_cli::event::probe_index("p_status").unwrap();
        let mut last: BTreeMap<u32, (u8, u64)> = BTreeMap::new();
        let mut c = Counts::new();
        for i in &self.inputs {
            let Input::Event(e) = i else { continue };
            if e.probe != probe || e.pid != pid {
                continue;
            }
            let (p, old, new, seq) = (
                e.arg("p").unwrap() as u32,
                e.arg("old").unwrap() as u8,
                e.arg("new").unwrap() as u8,
                e.arg("seq").unwrap(),
            );
            match last.get(&p) {
                Some(&(prev, pseq)) => {
                    assert_eq!(old, prev, "P{p}: {old} after {prev} (pid {pid})");
                    assert_eq!(seq, pseq + 1, "P{p}: seq {seq} after {pseq} (pid {pid})");
                }
                None if from_start => {
                    assert_eq!(old, PStatus::Dead.code(), "P{p} starts at _Pdead");
                    assert_eq!(seq, 1, "P{p} starts at seq 1");
                }
                None => {}
            }
            last.insert(p, (new, seq));
            if upto.get(&p).is_some_and(|&u| seq <= u) {
                *c.entry((p, old, new)).or_default() += 1;
            }
        }
        for (p, u) in upto {
            let (_, got) = last.get(p).copied().unwrap_or_default();
            assert!(
                got >= *u,
                "P{p}: trace ends at seq {got}, the runtime counted to {u}"
            );
        }
        c
    }
}

/// The trace's changes up to the snapshot are exactly the ones the runtime counted.
pub fn assert_exact(trace: &Counts, stats: &RtStats) {
    assert_eq!(
        trace, &stats.counts,
        "trace (left) vs the runtime's counts (right)"
    );
}

/// Reads `len` bytes of process `pid`'s memory at the file offset `off` of its executable,
/// through its memory map.
pub fn read_exe_bytes(pid: u32, exe: &Path, off: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let exe = std::fs::canonicalize(exe).unwrap();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let addr = maps
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 || Path::new(f[5]) != exe {
                return None;
            }
            let (lo, hi) = f[0].split_once('-')?;
            let (lo, hi) = (
                u64::from_str_radix(lo, 16).ok()?,
                u64::from_str_radix(hi, 16).ok()?,
            );
            let moff = u64::from_str_radix(f[2], 16).ok()?;
            (off >= moff && off < moff + (hi - lo)).then(|| lo + off - moff)
        })
        .expect("offset mapped");
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    mem.seek(SeekFrom::Start(addr)).unwrap();
    let mut b = vec![0; len];
    mem.read_exact(&mut b).unwrap();
    b
}

/// The file offsets of every goro probe site of `exe`.
pub fn goro_sites(exe: &Path) -> Vec<u64> {
    let data = std::fs::read(exe).unwrap();
    goro_probes::sdt::read_elf(&data)
        .unwrap()
        .probes
        .iter()
        .filter(|p| p.provider == "goro")
        .filter_map(|p| p.file_offset)
        .collect()
}

/// The first byte of every goro site in the running process: `nop` (0x90) when nothing is
/// attached, `int3` (0xcc) where a uprobe is.
pub fn site_bytes(pid: u32, exe: &Path) -> Vec<u8> {
    goro_sites(exe)
        .iter()
        .map(|&off| read_exe_bytes(pid, exe, off, 1)[0])
        .collect()
}

/// `trace-cli watch ARGS` with no standard input.
pub fn watch(args: &[&str]) -> Output {
    Command::new(TRACE_CLI)
        .arg("watch")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run trace-cli watch")
}

/// Runs the legacy scenario under watch until one run hangs (the race is probabilistic; three
/// fresh runtimes per run make a clean run rare). Returns watch's output.
pub fn legacy_hang(record: &Path) -> Output {
    let bin = template_race();
    for _ in 0..3 {
        let out = watch(&[
            "--json",
            "--stw-timeout",
            "200ms",
            "--exit-on-finding",
            "--record",
            record.to_str().unwrap(),
            "--",
            bin.to_str().unwrap(),
            "--legacy",
            "--widen",
            "--runtimes",
            "3",
        ]);
        if out.status.code() == Some(0) {
            eprintln!("every runtime won the race; again");
            continue;
        }
        return out;
    }
    panic!("the legacy scenario did not hang in three runs of three runtimes");
}
