//! The live view of `trace-cli watch` as a person sees it: watch runs in a real terminal (a
//! detached tmux pane of a fixed size), the screen is read back with `capture-pane`, keys are
//! sent with `send-keys`. Needs root (BPF) and tmux: outside CI it skips loudly; under CI=true
//! either missing fails.
//!
//! Each run watches the legacy scenario until it hangs (the race is probabilistic: three
//! fresh runtimes per run make a clean run rare) and costs a few seconds of detaching.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Held, TRACE_CLI, can_trace, template_race};

/// Kills a process when dropped: a failed assertion must not leave a hung target behind.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.0.to_string()])
            .output();
    }
}

/// Whether tmux is here; prints why not, and fails under CI.
fn have_tmux(test: &str) -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI must have tmux (.ci/run installs it)");
    }
    eprintln!("SKIPPED {test}: needs tmux");
    false
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A tmux server of our own (its own socket) with one detached pane running `cmd`, then a
/// line `EXIT=<status>` and the terminal's `icanon` setting (raw mode clears it), then
/// waiting, so the screen stays readable after watch exits.
struct Pane {
    /// The server's socket, a file of our own, removed at the end.
    socket: std::path::PathBuf,
}

impl Pane {
    fn start(width: u16, height: u16, cmd: &str) -> Pane {
        let socket = std::env::temp_dir().join(format!(
            "trace-cli-tmux-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let script = format!(
            "{cmd}; echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon'; sleep 600"
        );
        let p = Pane { socket };
        let out = p.tmux(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "tmux: {}", common::stderr(&out));
        p
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    /// The screen; with `escapes`, its attributes and colours as escape sequences.
    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p"];
        if escapes {
            args.push("-e");
        }
        common::stdout(&self.tmux(&args))
    }

    /// The main screen's whole history, wrapped lines joined: what the person can scroll back
    /// to after the view closed.
    fn history(&self) -> String {
        common::stdout(&self.tmux(&["capture-pane", "-p", "-J", "-S", "-"]))
    }

    /// Polls the screen until `done` holds; the screen then.
    fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            let screen = self.capture(false);
            if done(&screen) {
                return screen;
            }
            assert!(
                t.elapsed() < limit,
                "no {what} on the screen after {limit:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &str) {
        assert!(self.tmux(&["send-keys", keys]).status.success());
    }

    /// Whether the pane shows the alternate screen (a full-screen program still owns it).
    fn alternate(&self) -> bool {
        let out = self.tmux(&["display-message", "-p", "#{alternate_on}"]);
        common::stdout(&out).trim() == "1"
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The P the view marks as blocking the stop-the-world (its row starts `!!P<n>`).
fn stuck_p(screen: &str) -> Option<u32> {
    screen.lines().find_map(|l| {
        l.strip_prefix("!!P")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Every SGR parameter of the screen's escape sequences that sets a colour (30–37, 38, 40–47,
/// 48, 90–97, 100–107; 39 and 49, the defaults, are not colours).
fn colours(screen: &str) -> Vec<String> {
    let mut found = Vec::new();
    for seq in screen.split("\x1b[").skip(1) {
        let Some(end) = seq.find(|c: char| !(c.is_ascii_digit() || c == ';' || c == ':')) else {
            continue;
        };
        if !seq[end..].starts_with('m') {
            continue;
        }
        for p in seq[..end].split([';', ':']) {
            if let Ok(n) = p.parse::<u32>()
                && matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107)
            {
                found.push(seq[..=end].to_owned());
            }
        }
    }
    found
}

/// The attributes (SGR parameters) in force where `marker` is drawn in `escaped`: tmux's
/// capture sets each only when it changes, so they are followed from the screen's start.
fn attributes_of(escaped: &str, marker: &str) -> Vec<u32> {
    let at = escaped
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {escaped:?}"));
    let mut on: Vec<u32> = Vec::new();
    for seq in escaped[..at].split("\x1b[").skip(1) {
        let Some((params, _)) = seq.split_once('m') else {
            continue;
        };
        let params: Vec<u32> = params
            .split([';', ':'])
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        let mut i = 0;
        while i < params.len() {
            match params[i] {
                0 => on.clear(),
                22 => on.retain(|&a| a != 1 && a != 2),
                27 => on.retain(|&a| a != 7),
                39 => on.retain(|&a| !matches!(a, 30..=38 | 90..=97)),
                49 => on.retain(|&a| !matches!(a, 40..=48 | 100..=107)),
                a @ (38 | 48) => {
                    on.push(a);
                    // 38;5;N or 38;2;R;G;B: the rest is the colour, not attributes.
                    i += if params.get(i + 1) == Some(&2) { 4 } else { 2 };
                }
                a => on.push(a),
            }
            i += 1;
        }
    }
    on
}

/// The screen with the hang, as the view draws it: the P table, the waiting stop-the-world
/// and the finding, all naming the same stuck P. `None`: watch ended first (every runtime won
/// the race).
fn hung_view(pane: &Pane) -> Option<(String, u32)> {
    let screen = pane.wait_for("finding (or end of watch)", Duration::from_secs(60), |s| {
        s.contains("EXIT=") || (s.contains("!! stuck_p_in_stw") && stuck_p(s).is_some())
    });
    if screen.contains("EXIT=") {
        eprintln!("every runtime won the race; again");
        return None;
    }
    let p = stuck_p(&screen).unwrap();
    // The P table, the stop-the-world waiting for that P, and the finding naming it.
    assert!(screen.contains("status"), "the P table's header: {screen}");
    let row = screen
        .lines()
        .find(|l| l.starts_with(&format!("!!P{p}")))
        .unwrap();
    assert!(row.contains("_Pidle"), "{row}");
    let joined = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains("(read_stats) waiting") && joined.contains(&format!("waits for P{p}")),
        "the stop-the-world waits for P{p}: {screen}"
    );
    assert!(
        joined.contains(&format!("!! stuck_p_in_stw: P{p} _Pidle"))
            && joined.contains("template_thread_race"),
        "the finding names P{p}: {screen}"
    );
    assert!(
        joined.contains("hand-off list: M"),
        "the template thread's hand-off list is not empty: {screen}"
    );
    Some((screen, p))
}

/// Pauses the display (`p`) and returns the frozen screen with its escapes, after checking it
/// stays frozen: the elapsed time in the header no longer moves.
fn paused(pane: &Pane) -> String {
    pane.keys("p");
    pane.wait_for("PAUSED mark", Duration::from_secs(10), |s| {
        s.contains("PAUSED")
    });
    // A refresh is due every quarter second: three of them would have moved the clock.
    std::thread::sleep(Duration::from_millis(300));
    let before = pane.capture(true);
    std::thread::sleep(Duration::from_millis(800));
    let after = pane.capture(true);
    assert_eq!(before, after, "the paused display does not change");
    after
}

/// After quitting: the terminal is back (main screen, canonical mode), and the findings and
/// the summary are printed as the line output prints them.
fn assert_restored(pane: &Pane, p: u32) -> String {
    pane.wait_for("exit status", Duration::from_secs(60), |s| {
        s.contains("EXIT=") && s.lines().any(|l| l.ends_with("icanon"))
    });
    let screen = pane.history();
    assert!(!pane.alternate(), "the alternate screen is left: {screen}");
    assert!(
        screen.lines().any(|l| l == "icanon"),
        "raw mode is off: {screen}"
    );
    assert!(screen.contains("EXIT=3"), "a finding: exit 3: {screen}");
    assert!(
        screen.contains(&format!("stuck_p_in_stw: P{p} _Pidle")),
        "the finding is printed: {screen}"
    );
    assert!(screen.contains("summary (watch"), "{screen}");
    screen
}

#[test]
fn the_hang_in_a_120_column_terminal_then_ctrl_c() {
    let test = "the_hang_in_a_120_column_terminal_then_ctrl_c";
    if !can_trace(test) || !have_tmux(test) {
        return;
    }
    let bin = template_race();
    for _ in 0..3 {
        let pane = Pane::start(
            120,
            40,
            &format!(
                "env -u NO_COLOR {TRACE_CLI} watch --stw-timeout 200ms -- {} --legacy --widen --runtimes 3",
                bin.display()
            ),
        );
        let Some((screen, p)) = hung_view(&pane) else {
            continue;
        };
        // The wide table has the G and note columns.
        assert!(
            screen
                .lines()
                .any(|l| l.starts_with("P ") && l.contains(" G ") && l.ends_with("note")),
            "{screen}"
        );
        let coloured = paused(&pane);
        assert!(
            {
                let a = attributes_of(&coloured, &format!("!!P{p}"));
                a.contains(&1) && a.contains(&7) && (a.contains(&31) || a.contains(&38))
            },
            "a finding is in colour when colour is allowed: {coloured:?}"
        );
        pane.keys("C-c");
        let end = assert_restored(&pane, p);
        // The started command was ended, and what it printed while the view was up is kept.
        assert!(
            end.contains("target: still running at the end: killed"),
            "{end}"
        );
        assert!(end.contains("template_race: pid"), "its output: {end}");
        return;
    }
    panic!("the legacy scenario did not hang in three runs of three runtimes");
}

#[test]
fn the_hang_in_a_60_column_terminal_without_colour_then_q_leaves_the_target_running() {
    let test = "the_hang_in_a_60_column_terminal_without_colour_then_q_leaves_the_target_running";
    if !can_trace(test) || !have_tmux(test) {
        return;
    }
    for _ in 0..3 {
        // Held before its runtime starts, so the view sees every event from the first.
        let mut target = Held::start(&["--legacy", "--widen", "--runtimes", "3"]);
        let _kill = KillOnDrop(target.pid);
        let pane = Pane::start(
            60,
            30,
            &format!(
                "NO_COLOR=1 {TRACE_CLI} watch --stw-timeout 200ms --pid {}",
                target.pid
            ),
        );
        // The view's body appears once every probe is attached.
        pane.wait_for("live view", Duration::from_secs(60), |s| {
            s.contains("stop-the-world") || s.contains("EXIT=")
        });
        target.go();
        let Some((screen, p)) = hung_view(&pane) else {
            continue;
        };
        // Narrow: no G or note column, nothing wider than the pane, the explanation wrapped.
        assert!(
            screen
                .lines()
                .any(|l| l.starts_with("P ") && l.ends_with("handed to") && !l.contains(" G ")),
            "{screen}"
        );
        assert!(screen.lines().all(|l| l.chars().count() <= 60), "{screen}");
        assert!(screen.contains("golang/go#38931"), "{screen}");
        let escaped = paused(&pane);
        assert_eq!(
            colours(&escaped),
            Vec::<String>::new(),
            "no colour under NO_COLOR"
        );
        assert!(
            {
                let a = attributes_of(&escaped, &format!("!!P{p}"));
                a.contains(&1) && a.contains(&7)
            },
            "the stuck P still marked (bold, reverse): {escaped:?}"
        );
        pane.keys("q");
        let end = assert_restored(&pane, p);
        assert!(
            end.contains("target: still running (watch quit and detached its probes)"),
            "{end}"
        );
        // Detached, the hung target is still there: not killed, not exited.
        assert!(
            target.child.try_wait().unwrap().is_none(),
            "the --pid target still runs after q"
        );
        assert!(Path::new(&format!("/proc/{}", target.pid)).exists());
        return;
    }
    panic!("the legacy scenario did not hang in three runs of three runtimes");
}
