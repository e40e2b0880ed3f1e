//! A mixed-workload stress run of the runtime (see `workload.rs` for what it does and checks).
//!
//! ```text
//! stress [--seed N] [--duration SECS] [--procs N] [--stall SECS]
//! ```
//!
//! Exit status: 0 and a `stress OK ...` line when every invariant held; 1 when one broke
//! (`stress FAILED: ...`); 3 when the watchdog saw no progress for `--stall` seconds (default
//! 10), 4 when the run went on far past its duration — both after printing the scheduler
//! state; 2 for bad arguments (or the runtime's deadlock report); 101/134 for a panic/abort.
//! `scripts/stress.sh N` runs it N times with mixed P counts and seeds.

#[path = "workload.rs"]
mod workload;

fn main() {
    let o = match workload::Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("stress: {e}");
            eprintln!("usage: stress [--seed N] [--duration SECS] [--procs N] [--stall SECS]");
            std::process::exit(2);
        }
    };
    let rt = match goro::Runtime::builder().procs(o.procs).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stress: {e}");
            std::process::exit(2);
        }
    };
    match workload::run(&o, rt) {
        Ok(r) => println!(
            "stress OK seed={} procs={} duration={:?}: {r:?}",
            o.seed, o.procs, o.duration
        ),
        Err(e) => {
            println!(
                "stress FAILED seed={} procs={} duration={:?}: {e}",
                o.seed, o.procs, o.duration
            );
            std::process::exit(workload::EXIT_INVARIANT);
        }
    }
}
