//! Helpers shared by the runtime's integration tests.
//!
//! Every test that could hang (a scheduler bug usually shows up as a hang, not a wrong value)
//! runs its body under a watchdog: the body runs on its own thread and the test fails once a
//! generous bound passes, instead of blocking the whole test run forever.

#![allow(dead_code)] // each test binary uses a different subset

use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// How long a test body may take before it is declared hung. Far above what any test needs
/// (seconds at most), so that only a real hang trips it, never a slow machine.
pub const HANG: Duration = Duration::from_secs(60);

/// Runs `body` on a fresh thread and returns its result; resumes its panic; fails the test if
/// it has not finished after `limit`. The hung thread is left behind (nothing can stop it).
pub fn watchdog<T, F>(limit: Duration, body: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let name = thread::current().name().unwrap_or("test").to_owned();
    let h = thread::Builder::new()
        .name(format!("{name}-body"))
        .spawn(move || {
            let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(body)));
        })
        .expect("spawn the test body thread");
    match rx.recv_timeout(limit) {
        Ok(r) => {
            let _ = h.join();
            match r {
                Ok(v) => v,
                Err(payload) => panic::resume_unwind(payload),
            }
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("hang: the test body did not finish within {limit:?}")
        }
        Err(RecvTimeoutError::Disconnected) => {
            unreachable!("the body thread catches panics and always sends")
        }
    }
}

/// Builds a runtime with `procs` Ps and runs `main` as its main goroutine, under the watchdog.
pub fn run<T, F>(procs: usize, main: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    watchdog(HANG, move || {
        goro::Runtime::builder()
            .procs(procs)
            .build()
            .expect("build a runtime")
            .block_on(main)
    })
}

/// Prefix of every panic message a test provokes on purpose.
pub const EXPECTED: &str = "expected panic";

/// Keeps panics the tests provoke on purpose (message starting with [`EXPECTED`]) out of the
/// output; every other panic is reported as usual. Process-wide and idempotent.
pub fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info
                .payload_as_str()
                .is_some_and(|m| m.starts_with(EXPECTED))
            {
                return;
            }
            previous(info);
        }));
    });
}

/// The message of a panic payload, if it is a string.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> Option<&str> {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
}

/// Index of `_Pidle` … `_Pdead` in `PStats::transitions`, Go's numbering.
pub const P_IDLE: usize = 0;
pub const P_RUNNING: usize = 1;
pub const P_SYSCALL: usize = 2;
pub const P_GCSTOP: usize = 3;
pub const P_DEAD: usize = 4;
