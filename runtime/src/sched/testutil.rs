//! Helpers for the scheduler's unit tests.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the environment of a child started by `run_child`.
const CHILD: &str = "GORO_UNIT_TEST_CHILD";

/// Whether this process is a child started by `run_child` (tests that run only there return
/// at once otherwise).
pub(crate) fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the unit test `name` (its full path) of this test binary in a child process, for a
/// test that aborts or exits the process; kills it (a hang) after a minute. Returns the exit
/// code (None: killed by a signal), stdout and stderr.
pub(crate) fn run_child(name: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
