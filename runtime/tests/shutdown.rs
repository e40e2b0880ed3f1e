//! A runtime that has returned from `block_on` leaves nothing running: its Ms, sysmon and the
//! template thread all end. Checked in a child process (this binary re-executed), where no other
//! test's runtime shares the thread count.

use std::process::Command;
use std::time::{Duration, Instant};

const CHILD: &str = "GORO_SHUTDOWN_CHILD";

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn child() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    let before = threads();
    for _ in 0..20 {
        let sum = goro::Runtime::builder()
            .procs(4)
            .build()
            .unwrap()
            .block_on(|| {
                let hs: Vec<_> = (0..100)
                    .map(|i| {
                        goro::go(move || {
                            // Locked exits end threads and bring in the template thread.
                            goro::lock_os_thread();
                            goro::gosched();
                            goro::sleep(Duration::from_micros(50));
                            i
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
            });
        assert_eq!(sum, 4950);
    }
    // Threads leave asynchronously after block_on returns; give them a generous moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("THREADS before={before} after={}", threads());
}

#[test]
fn finished_runtimes_leave_no_threads_behind() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("THREADS ").map(|i| &l[i..]))
        .expect("result line");
    let count = |key: &str| -> usize {
        let v = line.split(key).nth(1).unwrap();
        v.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert_eq!(count("after="), count("before="), "{line}");
}
