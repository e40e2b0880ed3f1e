//! `trace-cli inspect` on real processes: the runtime's `template_race` example hung on
//! purpose (`--legacy --widen`) — live, frozen, as a non-root user, from a `gcore` core and a
//! kernel-written core, always through a *stripped* copy of the binary — a healthy run
//! inspected over and over (with a `set_procs` shrink), and bad input.
//!
//! The hung process's own watchdog (`--watchdog 1 --stay`) names the P it waits for, from the
//! runtime's in-process snapshot; `inspect` must name the same one from outside.
//!
//! Needs root (to create a user), gdb (`gcore`), `strip`, and the example built
//! (`cargo build --release --examples`, as CI does first): outside CI a missing one skips
//! loudly; under CI=true it fails.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USER: &str = "goro-inspect";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip(why: &str) {
    assert!(!in_ci(), "CI=true but {why}");
    eprintln!("SKIPPED (not in CI): {why}; trace-cli inspect was not checked on real processes");
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

/// target/<profile>/examples/template_race, next to this test's directory.
fn template_race() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("examples/template_race");
    p.exists().then_some(p)
}

/// A scratch directory every user can read, with stripped copies of the example and of
/// trace-cli in it, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("goro-inspect-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o1777);
        Scratch { dir }
    }

    fn stripped_example(&self) -> PathBuf {
        let out = self.dir.join("template_race.stripped");
        let src = template_race().expect("checked by setup");
        let st = Command::new("strip")
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status()
            .unwrap();
        assert!(st.success(), "strip failed");
        // Nothing left to find the table by but the note.
        let syms = Command::new("nm").arg(&out).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&syms.stdout).contains("GORO_STATE"),
            "strip left the symbol table"
        );
        chmod(&out, 0o755);
        out
    }

    fn trace_cli(&self) -> PathBuf {
        let out = self.dir.join("trace-cli");
        std::fs::copy(env!("CARGO_BIN_EXE_trace-cli"), &out).unwrap();
        chmod(&out, 0o755);
        out
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The test user's uid and gid, created if missing.
fn test_user() -> (u32, u32) {
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, USER]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let st = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ])
            .status()
            .expect("useradd");
        assert!(st.success() || id("-u").is_some(), "useradd {USER} failed");
    }
    (id("-u").unwrap(), id("-g").unwrap())
}

/// Runs `c` as `uid`/`gid` with no supplementary groups (after any `pre_exec` already set).
fn as_user(c: &mut Command, (uid, gid): (u32, u32)) {
    // SAFETY: setgroups, setgid and setuid are async-signal-safe; they change only the child.
    unsafe {
        c.pre_exec(move || {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// What one `trace-cli` run gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn inspect(cli: &Path, args: &[&str], user: Option<(u32, u32)>) -> Run {
    let mut c = Command::new(cli);
    c.arg("inspect").args(args);
    if let Some(user) = user {
        as_user(&mut c, user);
    }
    let o = c.output().unwrap();
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
        "trace-cli panicked: {}",
        r.stderr
    );
    r
}

/// A bad-input run: exit 1 and one clear line on stderr containing `want`.
fn expect_error(r: &Run, want: &str) {
    assert_eq!(r.code, 1, "stdout {} stderr {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {}", r.stderr);
    assert!(lines[0].starts_with("trace-cli: "), "{}", lines[0]);
    assert!(
        lines[0].contains(want),
        "expected {want:?} in: {}",
        lines[0]
    );
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The hung example: its pid, the P and stop-the-world its watchdog named.
struct Hung {
    child: Child,
    p: u64,
    stw: u64,
}

impl Drop for Hung {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the example until a run hangs in the #38931 shape (each fresh runtime is a fresh
/// chance; a run that completes is started again).
fn hang(exe: &Path, user: Option<(u32, u32)>, cwd: &Path, core_limit: bool) -> Hung {
    for attempt in 1..=8 {
        let mut c = Command::new(exe);
        c.args([
            "--legacy",
            "--widen",
            "--runtimes",
            "3",
            "--watchdog",
            "1",
            "--stay",
        ])
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if core_limit {
            // SAFETY: setrlimit is async-signal-safe and only affects the child.
            unsafe {
                c.pre_exec(|| {
                    let lim = libc::rlimit {
                        rlim_cur: libc::RLIM_INFINITY,
                        rlim_max: libc::RLIM_INFINITY,
                    };
                    if libc::setrlimit(libc::RLIMIT_CORE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if let Some(user) = user {
            as_user(&mut c, user);
        }
        let mut child = c.spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("HANG golang/go#38931: stop-the-world #")
                    {
                        let stw: u64 = rest.split(' ').next().unwrap().parse().unwrap();
                        let p: u64 = rest
                            .split("waits for P")
                            .nth(1)
                            .and_then(|s| s.split(' ').next())
                            .unwrap()
                            .parse()
                            .unwrap();
                        return Hung { child, p, stw };
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("attempt {attempt}: no #38931 hang ({seen:?}); again");
    }
    panic!("template_race --legacy --widen never hung in 8 attempts");
}

/// The one finding of a hung process's `--json` output, checked against its watchdog.
fn check_finding(r: &Run, h: &Hung, what: &str) -> serde_json::Value {
    assert_eq!(r.code, 3, "{what}: stdout {} stderr {}", r.stdout, r.stderr);
    let lines = json_lines(&r.stdout);
    assert_eq!(lines[0]["kind"], "snapshot", "{what}");
    let findings: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["kind"] == "stuck_p_in_stw")
        .collect();
    assert_eq!(findings.len(), 1, "{what}: {}", r.stdout);
    let f = findings[0];
    assert_eq!(f["cause"], "template_thread_race", "{what}: {f}");
    assert_eq!(f["status"], "_Pidle", "{what}: {f}");
    assert_eq!(
        f["p"].as_u64(),
        Some(h.p),
        "{what}: the watchdog named P{}",
        h.p
    );
    assert_eq!(f["stw_id"].as_u64(), Some(h.stw), "{what}: {f}");
    assert!(f["waiting_ms"].as_f64().unwrap() >= 1000.0, "{what}: {f}");
    f.clone()
}

/// Offset of the table's header in a core file (its magic, then version 1 and header size).
fn table_offset_in(core: &Path) -> u64 {
    let mut want = Vec::from(*b"GOROSTAT");
    want.extend(goro_probes::state::STATE_VERSION.to_ne_bytes());
    want.extend((goro_probes::state::HEADER_SIZE as u32).to_ne_bytes());
    let data = std::fs::read(core).unwrap();
    data.windows(want.len())
        .position(|w| w == want.as_slice())
        .expect("the table is in the core") as u64
}

fn setup() -> bool {
    if !is_root() {
        skip("creating a test user and reading other users' processes need root");
        return false;
    }
    for tool in ["gcore", "strip", "nm", "useradd"] {
        if !have(tool) {
            skip(&format!("{tool} is not installed"));
            return false;
        }
    }
    if template_race().is_none() {
        skip("target/<profile>/examples/template_race is not built");
        return false;
    }
    true
}

/// The hung process as a non-root user: that user inspects it live (plain and frozen), root
/// takes a `gcore` core and the user inspects that; truncated and future-version copies of
/// the core are refused; finally SIGABRT makes the kernel write a core, inspected too.
#[test]
fn hung_process_live_and_from_cores() {
    if !setup() {
        return;
    }
    let scratch = Scratch::new("hung");
    let exe = scratch.stripped_example();
    let cli = scratch.trace_cli();
    let user = test_user();
    let h = hang(&exe, Some(user), &scratch.dir, true);
    let pid = h.child.id().to_string();
    // The watchdog fired after 1 s without progress; give the stop 1 s more.
    std::thread::sleep(Duration::from_secs(1));

    // Live, as the process's own (non-root) user: found through the note of a stripped binary.
    let live = inspect(&cli, &[&pid, "--json"], Some(user));
    let f_live = check_finding(&live, &h, "live, as the user");
    let snap = &json_lines(&live.stdout)[0];
    assert_eq!(snap["source"]["found_by"], "note");
    let p = &snap["ps"][h.p as usize];
    assert_eq!(p["status"], "_Pidle");
    assert_eq!(p["on_idle_list"], false);
    let handed = p["handed_to"].as_u64().expect("handed to an M");
    assert_eq!(f_live["handed_to"]["m"].as_u64(), Some(handed));
    // The text form says the same.
    let text = inspect(&cli, &[&pid], Some(user));
    assert_eq!(text.code, 3, "{}", text.stderr);
    assert!(text.stdout.contains(&format!(
        "FINDING stuck_p_in_stw P{} _Pidle cause=template_thread_race",
        h.p
    )));
    // Frozen for the read, and resumed after it.
    let frozen = inspect(&cli, &[&pid, "--json", "--freeze"], Some(user));
    check_finding(&frozen, &h, "frozen");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap();
    assert_ne!(state, 'T', "--freeze left the process stopped");
    // A user cannot read root's processes: the error names the rule.
    let denied = inspect(&cli, &["1"], Some(user));
    expect_error(&denied, "permission denied");
    assert!(
        denied.stderr.contains("CAP_SYS_PTRACE"),
        "{}",
        denied.stderr
    );

    // gcore (as root), inspected by the user with the stripped binary.
    let core_base = scratch.dir.join("gcore");
    let st = Command::new("gcore")
        .arg("-o")
        .arg(&core_base)
        .arg(&pid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "gcore failed");
    let core = scratch.dir.join(format!("gcore.{pid}"));
    chmod(&core, 0o644);
    let core_s = core.to_str().unwrap();
    let exe_s = exe.to_str().unwrap();
    let from_core = inspect(
        &cli,
        &["--core", core_s, "--exe", exe_s, "--json"],
        Some(user),
    );
    let f_core = check_finding(&from_core, &h, "gcore");
    assert_eq!(f_core["handed_to"]["m"], f_live["handed_to"]["m"]);
    assert_eq!(f_core["last_change"]["m"], f_live["last_change"]["m"]);
    let text = inspect(&cli, &["--core", core_s, "--exe", exe_s], None);
    assert!(
        text.stdout
            .contains("times are relative to the moment the core was taken"),
        "{}",
        text.stdout
    );

    // A core whose table has a version from the future; a core cut off inside the table.
    let off = table_offset_in(&core);
    let future = scratch.dir.join("future.core");
    std::fs::copy(&core, &future).unwrap();
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&future)
            .unwrap();
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(off + 8)).unwrap();
        f.write_all(&(goro_probes::state::STATE_VERSION + 1).to_ne_bytes())
            .unwrap();
    }
    expect_error(
        &inspect(
            &cli,
            &["--core", future.to_str().unwrap(), "--exe", exe_s],
            None,
        ),
        "newer than this tool understands",
    );
    std::fs::remove_file(&future).unwrap();
    let cut = scratch.dir.join("cut.core");
    std::fs::copy(&core, &cut).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(off + 100)
        .unwrap();
    expect_error(
        &inspect(
            &cli,
            &["--core", cut.to_str().unwrap(), "--exe", exe_s],
            None,
        ),
        "truncated",
    );
    std::fs::remove_file(&cut).unwrap();
    std::fs::remove_file(&core).unwrap();

    // The kernel's own core, on SIGABRT (RLIMIT_CORE was raised for the child).
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let pattern = pattern.trim();
    if pattern.starts_with('|') || pattern.contains('/') {
        eprintln!(
            "NOTE: core_pattern is {pattern:?} (piped or elsewhere): the kernel-written core \
             was not checked; gcore was"
        );
        return;
    }
    let mut h = h;
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(h.child.id() as i32, libc::SIGABRT) };
    let status = h.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(status.core_dumped(), "no core dumped: {status:?}");
    let kcore = std::fs::read_dir(&scratch.dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("core"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no core file in {} (pattern {pattern:?})",
                scratch.dir.display()
            )
        });
    let r = inspect(
        &cli,
        &["--core", kcore.to_str().unwrap(), "--exe", exe_s, "--json"],
        None,
    );
    check_finding(&r, &h, "kernel core");
}

/// A healthy run (the fixed runtime), inspected again and again while it runs, with a
/// `set_procs` shrink halfway: never a finding, and Ps beyond the count are `_Pdead`.
#[test]
fn healthy_process_has_no_finding() {
    if !setup() {
        return;
    }
    let scratch = Scratch::new("healthy");
    let exe = scratch.stripped_example();
    let cli = scratch.trace_cli();
    let mut child = Command::new(&exe)
        .args(["--iterations", "3000", "--procs", "4", "--procs-after", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (mut reads, mut shrunk) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = inspect(&cli, &[&pid, "--json", "--stw-timeout", "500ms"], None);
        if child.try_wait().unwrap().is_some() {
            break;
        }
        match r.code {
            0 => {
                reads += 1;
                let snap = &json_lines(&r.stdout)[0];
                if snap["procs"] == 2 {
                    shrunk += 1;
                    for p in snap["ps"].as_array().unwrap() {
                        if p["p"].as_u64().unwrap() >= 2 {
                            assert_eq!(p["status"], "_Pdead", "{p}");
                            assert_eq!(p["beyond_procs"], true);
                        }
                    }
                }
            }
            // Before the runtime has started its table is empty.
            1 if r.stderr.contains("no goro runtime has started") => {}
            _ => panic!(
                "a healthy run gave exit {}: {}{}",
                r.code, r.stdout, r.stderr
            ),
        }
        assert!(Instant::now() < deadline, "the healthy run did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    assert!(reads >= 5, "only {reads} reads while it ran");
    assert!(
        shrunk >= 1,
        "no read after the set_procs shrink ({reads} reads)"
    );
}

/// Bad input: each a one-line error and exit 1.
#[test]
fn bad_input_is_a_clear_error() {
    let cli = PathBuf::from(env!("CARGO_BIN_EXE_trace-cli"));
    // Not a goro program: this test.
    let me = std::process::id().to_string();
    expect_error(&inspect(&cli, &[&me], None), "is not a goro program");
    // Gone.
    let mut c = Command::new("true").spawn().unwrap();
    let gone = c.id().to_string();
    c.wait().unwrap();
    expect_error(&inspect(&cli, &[&gone], None), "no process with pid");
    // A core that is not a core, and files that are not there.
    let exe = std::env::current_exe().unwrap();
    let exe_s = exe.to_str().unwrap();
    expect_error(
        &inspect(&cli, &["--core", exe_s, "--exe", exe_s], None),
        "not a core file",
    );
    expect_error(
        &inspect(&cli, &["--core", "/nonexistent.core", "--exe", exe_s], None),
        "no such file",
    );
    // Usage: a core without its executable.
    assert_eq!(inspect(&cli, &["--core", exe_s], None).code, 2);
    // The core of another program (needs gdb).
    if !have("gcore") {
        skip("gcore is not installed");
        return;
    }
    let Some(goro_exe) = template_race() else {
        skip("target/<profile>/examples/template_race is not built");
        return;
    };
    let scratch = Scratch::new("bad");
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let base = scratch.dir.join("sleep");
    let st = Command::new("gcore")
        .arg("-o")
        .arg(&base)
        .arg(sleeper.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let core = scratch.dir.join(format!("sleep.{}", sleeper.id()));
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    if !st.success() {
        skip("gcore could not dump a child process (ptrace not allowed?)");
        return;
    }
    let r = inspect(
        &cli,
        &[
            "--core",
            core.to_str().unwrap(),
            "--exe",
            goro_exe.to_str().unwrap(),
        ],
        None,
    );
    expect_error(&r, "a core of");
}
