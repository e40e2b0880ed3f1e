//! golang/go#38931 on goro (see `scenario.rs`). Prints `OK` and exits 0 when every iteration
//! completes. `--legacy --widen` hangs in a stop-the-world, on purpose: the process the
//! tracing tools diagnose.
//!
//! ```text
//! template_race [--procs N] [--iterations N] [--lockers N] [--runtimes R] [--legacy] [--widen] [--watchdog SECS] [--stats] [--wait-stdin]
//! ```
//! `--runtimes R`: run the scenario on R fresh runtimes, one after another. The race can only
//! be lost once per runtime (the template-thread flag is set once), right after start-up
//! while no idle M exists yet, so each fresh runtime is a fresh chance (~90% on a quiet
//! machine with `--legacy --widen`, less under load).
//! `--stats`: at the end of each runtime, print the runtime's own count of every P status
//! transition (`goro::read_stats`), one `stats P<id> <from> <to> <count>` line each, for
//! cross-checking a trace.
//! `--wait-stdin`: after printing the pid, wait for a line on stdin before starting, so a
//! tracer can attach by pid before the first event.
//! `--watchdog SECS`: if no iteration completes for SECS, print the scheduler state and the
//! diagnosis, exit 3 (#38931 shape) or 4 (another hang).

mod scenario;

use std::time::Duration;

fn usage(msg: &str) -> ! {
    eprintln!("template_race: {msg}");
    eprintln!(
        "usage: template_race [--procs N] [--iterations N] [--lockers N] [--runtimes R] [--legacy] [--widen] [--watchdog SECS] [--stats] [--wait-stdin]"
    );
    std::process::exit(2);
}

fn main() {
    let mut opts = scenario::Opts::default();
    let mut watchdog = None;
    let mut runtimes = 1;
    let mut wait_stdin = false;
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
            "--procs" => opts.procs = num("--procs") as usize,
            "--iterations" => opts.iterations = num("--iterations") as usize,
            "--lockers" => opts.lockers = num("--lockers") as usize,
            "--runtimes" => runtimes = num("--runtimes") as usize,
            "--watchdog" => watchdog = Some(Duration::from_secs(num("--watchdog"))),
            "--legacy" => opts.legacy = true,
            "--widen" => opts.widen = true,
            "--stats" => opts.stats = true,
            "--wait-stdin" => wait_stdin = true,
            "-h" | "--help" => usage("reproduces golang/go#38931 (hangs with --legacy --widen)"),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if opts.procs == 0 {
        usage("--procs must be at least 1");
    }
    println!(
        "template_race: pid {} procs {} iterations {}{}{}",
        std::process::id(),
        opts.procs,
        opts.iterations,
        if opts.legacy { " legacy" } else { "" },
        if opts.widen { " widen" } else { "" }
    );
    if wait_stdin {
        // A tracer attaching by pid gets every event, start-up included, if it attaches now.
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    for _ in 0..runtimes {
        scenario::run(&opts, watchdog);
    }
    println!("OK");
}
