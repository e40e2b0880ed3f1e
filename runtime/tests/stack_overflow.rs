//! A goroutine that overflows its stack kills the process with Go's message ("fatal error:
//! stack overflow") instead of a bare SIGSEGV — and it must be a clean abort, not memory
//! corruption of a neighbouring stack. That can only be watched from outside: each test
//! re-runs this test binary as a child, with an environment variable that makes the child's
//! copy of the same test overflow, and checks how the child died.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

/// Set in the child: which overflow to run.
const CHILD: &str = "GORO_TEST_STACK_OVERFLOW";

/// Recurses `n` deep with 1 KiB frames; `black_box` keeps the frames and the recursion real.
#[inline(never)]
fn recurse(n: u64) -> u64 {
    let mut buf = [0u8; 1024];
    std::hint::black_box(&mut buf);
    if n == 0 {
        return u64::from(buf[0]);
    }
    recurse(n - 1).wrapping_add(u64::from(std::hint::black_box(buf[1])))
}

/// In the child: runs `body`, which must not return (the overflow aborts the process).
fn child_body(body: impl FnOnce() + Send + 'static) {
    common::watchdog(common::HANG, body);
    println!("child survived the overflow");
    std::process::exit(0);
}

/// In the parent: re-runs `test` (this binary's test of that name) with `CHILD=mode`, and
/// checks that the child aborted reporting a goroutine stack overflow.
fn expect_child_overflow(test: &str, mode: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = common::watchdog(common::HANG, {
        let (test, mode) = (test.to_owned(), mode.to_owned());
        move || {
            Command::new(exe)
                .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD, mode)
                .env("RUST_BACKTRACE", "0")
                .output()
                .expect("run the child")
        }
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && !stdout.contains("child survived"),
        "the child did not die: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("fatal error: stack overflow") && stderr.contains("goroutine"),
        "no goroutine stack overflow report ({:?})\nstderr:\n{stderr}",
        out.status
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child should abort, it ended {:?}\nstderr:\n{stderr}",
        out.status
    );
}

/// Overflow in a goroutine spawned from main, after it has yielded and slept, so it may be on
/// a thread the runtime created.
#[test]
fn overflow_in_spawned_goroutine() {
    if std::env::var(CHILD).as_deref() == Ok("spawned") {
        child_body(|| {
            goro::Runtime::builder()
                .procs(2)
                .build()
                .unwrap()
                .block_on(|| {
                    let h = goro::go(|| {
                        goro::gosched();
                        goro::sleep(Duration::from_millis(1));
                        recurse(u64::MAX)
                    });
                    let _ = h.join();
                })
        });
        return;
    }
    expect_child_overflow("overflow_in_spawned_goroutine", "spawned");
}

/// Overflow in the main goroutine (running on the `block_on` thread).
#[test]
fn overflow_in_main_goroutine() {
    if std::env::var(CHILD).as_deref() == Ok("main") {
        child_body(|| {
            goro::Runtime::builder()
                .procs(1)
                .build()
                .unwrap()
                .block_on(|| {
                    recurse(u64::MAX);
                })
        });
        return;
    }
    expect_child_overflow("overflow_in_main_goroutine", "main");
}

/// A small configured stack overflows where the default would not: 64 KiB against 128 frames
/// of 1 KiB.
#[test]
fn overflow_of_a_small_configured_stack() {
    if std::env::var(CHILD).as_deref() == Ok("small") {
        child_body(|| {
            let rt = goro::Runtime::builder()
                .procs(1)
                .stack_size(64 * 1024)
                .build()
                .unwrap();
            rt.block_on(|| {
                goro::go(|| recurse(128)).join().unwrap();
            })
        });
        return;
    }
    expect_child_overflow("overflow_of_a_small_configured_stack", "small");
    // The same recursion fits the default stack (no child needed: it must not crash).
    let v = common::run(1, || goro::go(|| recurse(128)).join().unwrap());
    assert_eq!(v, 0);
}

/// A configured large stack is really usable: 2 MiB of frames in a 4 MiB stack, in-process
/// (the default 256 KiB would overflow and abort the test binary).
#[test]
fn large_configured_stack_is_usable() {
    let v = common::watchdog(common::HANG, || {
        let rt = goro::Runtime::builder()
            .procs(2)
            .stack_size(4 << 20)
            .build()
            .unwrap();
        rt.block_on(|| goro::go(|| recurse(2048)).join().unwrap() + recurse(2048))
    });
    assert_eq!(v, 0);
}
