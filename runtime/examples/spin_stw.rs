//! A goroutine that never reaches a safepoint while another stops the world: the stop waits
//! for the spinner's P (`_Prunning`) until the spinner gives up after `--seconds`. The tools
//! must name that P with cause `nonpreemptible_g`; then the stop finishes (a `slow_stw`) and
//! the program exits 0 by itself.
//!
//! ```text
//! spin_stw [--seconds S] [--procs N]
//! ```
//! Prints `spin_stw: pid PID`, then `spin_stw: spinner on P<id> (M<m>, tid T)` as the runtime's
//! own state says once the stop is pending, then `OK`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

fn usage(msg: &str) -> ! {
    eprintln!("spin_stw: {msg}");
    eprintln!("usage: spin_stw [--seconds S] [--procs N]");
    std::process::exit(2);
}

fn main() {
    let mut seconds = 3u64;
    let mut procs = 2usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            let v = args
                .next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")));
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{name}: not a number: {v:?}")))
        };
        match a.as_str() {
            "--seconds" => seconds = num("--seconds"),
            "--procs" => procs = num("--procs") as usize,
            "-h" | "--help" => {
                usage("a goroutine spins without a safepoint during a stop-the-world")
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if procs < 2 {
        usage("--procs must be at least 2 (one P spins, another stops the world)");
    }
    println!("spin_stw: pid {}", std::process::id());
    let rt = goro::Runtime::builder()
        .procs(procs)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("spin_stw: {e}");
            std::process::exit(1);
        });
    let insp = rt.inspector();
    let spinning = Arc::new(AtomicBool::new(false));
    let tid = Arc::new(AtomicI32::new(0));
    let spin_for = Duration::from_secs(seconds);
    rt.block_on(move || {
        let (s, t) = (spinning.clone(), tid.clone());
        let spinner = goro::go(move || {
            // SAFETY: SYS_gettid takes no arguments, touches no memory and cannot fail.
            let me = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
            t.store(me, Ordering::SeqCst);
            s.store(true, Ordering::SeqCst);
            let start = Instant::now();
            let mut n = 0u64;
            // No runtime call, no checkpoint(): this loop cannot be preempted.
            while start.elapsed() < spin_for {
                n = std::hint::black_box(n.wrapping_add(1));
            }
            n
        });
        while !spinning.load(Ordering::SeqCst) {
            goro::sleep(Duration::from_millis(1));
        }
        // Name the spinner's P from the runtime's own state, once the stop is pending (a plain
        // thread: every goroutine but the spinner is about to stop).
        let tid = tid.load(Ordering::SeqCst);
        let reporter = std::thread::spawn(move || {
            for _ in 0..500 {
                let snap = insp.snapshot();
                if snap.stw.is_some()
                    && let Some(m) = snap.ms.iter().find(|m| m.tid == tid)
                {
                    match m.p {
                        Some(p) => println!("spin_stw: spinner on P{p} (M{}, tid {tid})", m.id),
                        None => println!("spin_stw: spinner on no P (M{}, tid {tid})", m.id),
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            println!("spin_stw: the stop-the-world never began");
        });
        goro::read_stats();
        spinner.join().expect("spinner");
        reporter.join().expect("reporter");
    });
    println!("OK");
}
