//! golang/go#38931's TemplateThreadRace, on goro: shared by the `template_race` example and
//! the tests that run it in child processes.
//!
//! A goroutine stops the world in a loop (`read_stats`). Each iteration starts two goroutines
//! that each spawn an empty goroutine (so their P has local work), `lock_os_thread()` and
//! `gosched()`, then exit while locked (ending their threads). The first `lock_os_thread` of
//! the run starts the template thread. With the legacy order, if that goroutine is preempted
//! between setting the flag and creating the thread, the other goroutine's P is handed to an M
//! queued for a template thread that does not exist, and the stop-the-world waits forever.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Opts {
    pub procs: usize,
    pub iterations: usize,
    pub legacy: bool,
    pub widen: bool,
    /// Goroutines per iteration that lock their thread and yield (Go's test uses 2). More
    /// give the race more chances per run: every one of them hands a P off.
    pub lockers: usize,
    /// The watchdog prints its diagnosis and leaves the process hung instead of exiting, for
    /// tools that inspect it from outside (`trace-cli inspect`).
    pub stay: bool,
    /// Halfway through, change the P count to this (`set_procs`, a stop-the-world): Ps
    /// beyond it become `_Pdead` while the scenario runs on.
    pub procs_after: Option<usize>,
    /// Print the runtime's own count of every P status transition (`goro::read_stats`) at the
    /// end, for tools to cross-check a trace against.
    pub stats: bool,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            procs: 4,
            iterations: 100,
            legacy: false,
            widen: false,
            lockers: 2,
            stay: false,
            procs_after: None,
            stats: false,
        }
    }
}

/// How long the widened window stays open (fault injection).
pub const WIDEN: Duration = Duration::from_millis(20);

/// Runs the scenario once on a fresh runtime. With `watchdog`, a plain thread watches for
/// progress; if none comes for that long it reads the runtime's state, prints a diagnosis on
/// stderr and exits the process with status 3 (the shape was #38931) or 4 (another hang).
pub fn run(opts: &Opts, watchdog: Option<Duration>) {
    let mut b = goro::Runtime::builder()
        .procs(opts.procs)
        .legacy_template_thread(opts.legacy);
    if opts.widen {
        b = b.widen_template_race(WIDEN);
    }
    let rt = b.build().unwrap_or_else(|e| {
        eprintln!("template_race: {e}");
        std::process::exit(1);
    });
    let progress = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let stay = opts.stay;
    if let Some(limit) = watchdog {
        let insp = rt.inspector();
        let progress = progress.clone();
        let finished = finished.clone();
        std::thread::spawn(move || {
            let mut last = progress.load(Ordering::SeqCst);
            let mut since = Instant::now();
            while !finished.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
                let now = progress.load(Ordering::SeqCst);
                if now != last {
                    last = now;
                    since = Instant::now();
                } else if since.elapsed() >= limit {
                    let verdict = diagnose();
                    eprintln!("template_race: no progress for {limit:?} at iteration {now}");
                    eprint!("{}", describe(&insp.snapshot()));
                    let code = match &verdict {
                        Verdict::Race(line) => {
                            eprintln!("{line}");
                            3
                        }
                        Verdict::Other(what) => {
                            eprintln!("HANG: not the golang/go#38931 shape: {what}");
                            4
                        }
                    };
                    if stay {
                        // Stay hung for an inspector; the process is killed from outside.
                        loop {
                            std::thread::park();
                        }
                    }
                    std::process::exit(code);
                }
            }
        });
    }
    let iterations = opts.iterations;
    let lockers = opts.lockers;
    let procs_after = opts.procs_after;
    let stats = opts.stats;
    let prog = progress.clone();
    rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let stw = goro::go(move || {
            while !s2.load(Ordering::Relaxed) {
                goro::read_stats();
            }
        });
        for i in 0..iterations {
            if i == iterations / 2
                && let Some(n) = procs_after
            {
                goro::set_procs(n);
            }
            let hs: Vec<_> = (0..lockers)
                .map(|_| {
                    goro::go(|| {
                        // Local work on this P, so handoffp starts an M for it.
                        let _ = goro::go(|| {});
                        goro::lock_os_thread();
                        goro::gosched();
                        // Exits locked: its thread ends.
                    })
                })
                .collect();
            for h in hs {
                h.join().expect("scenario goroutine");
            }
            prog.fetch_add(1, Ordering::SeqCst);
        }
        stop.store(true, Ordering::Relaxed);
        stw.join().expect("stw loop");
        if stats {
            print!("{}", transition_counts(&goro::read_stats()));
        }
    });
    finished.store(true, Ordering::SeqCst);
}

/// The P transition counts of a stats snapshot, one line per P and transition that happened:
/// `stats P<id> <from> <to> <count>` with Go's status names, and `stats P<id> seq <n>`, the
/// sequence number of the P's last change counted. The snapshot is taken with the world
/// stopped, so it counts every change up to that stop; the restart after it is not in it.
pub fn transition_counts(st: &goro::Stats) -> String {
    const NAMES: [&str; 5] = ["_Pidle", "_Prunning", "_Psyscall", "_Pgcstop", "_Pdead"];
    let mut out = format!("stats procs {} stws {}\n", st.procs, st.stws);
    for p in &st.per_p {
        out += &format!("stats P{} seq {}\n", p.id, p.seq);
        for (from, row) in p.transitions.iter().enumerate() {
            for (to, &n) in row.iter().enumerate() {
                if n > 0 {
                    out += &format!("stats P{} {} {} {n}\n", p.id, NAMES[from], NAMES[to]);
                }
            }
        }
    }
    out
}

/// What the detection engine made of a hung runtime.
pub enum Verdict {
    /// golang/go#38931: the `HANG golang/go#38931: ...` line to print.
    Race(String),
    /// Another finding, or none: what is known.
    Other(String),
}

/// How long a stop-the-world must have waited, in the snapshot, to be a finding. The watchdog
/// already saw no progress for its whole limit; this only keeps a stop that began a moment
/// before the snapshot from counting.
const STW_TIMEOUT: Duration = Duration::from_millis(100);

/// Reads this process's own scheduler state table (`GORO_STATE`), as `trace-cli inspect`
/// reads another's, and runs trace-cli's detection engine on it: the engine is the only
/// detector, so the watchdog and every trace-cli source agree by construction. A stop that
/// began just before the read is not yet past the timeout, so the read is repeated for a while
/// before a hang is called one without a finding.
pub fn diagnose() -> Verdict {
    use trace_cli::engine::{Cause, Config, Engine, Input, Kind};
    use trace_cli::snapshot::goro as table;
    use trace_cli::snapshot::process::Process;

    let deadline = Instant::now() + Duration::from_secs(2);
    let mut last = String::from("no finding");
    loop {
        let found = Process::open(std::process::id()).and_then(|mut me| {
            let addr = me.table_addr();
            let read = table::read_table(&mut me, addr)?;
            let now = table::monotonic_now();
            let mut engine = Engine::new(Config {
                stw_timeout_ns: STW_TIMEOUT.as_nanos() as u64,
                ..Config::default()
            });
            let mut f = engine.feed(Input::Snapshot(Box::new(table::to_snapshot(&read, now))));
            f.extend(engine.tick(now));
            Ok(f)
        });
        match found {
            Err(e) => return Verdict::Other(format!("the state table could not be read: {e}")),
            Ok(found) => {
                // The fields are the engine's; the head keeps the shape consumers parse
                // ("stop-the-world #N (...) waits for PX ..., handed to MY ...").
                if let Some(f) = found.iter().find(|f| {
                    f.kind == Kind::StuckPInStw && f.cause == Some(Cause::TemplateThreadRace)
                }) {
                    return Verdict::Race(format!(
                        "HANG golang/go#38931: stop-the-world #{} ({}) waits for P{} ({}, \
                         waiting {:.1} ms), handed to M{} queued for the template thread, \
                         which was never started: {}",
                        f.stw_id,
                        f.stw_reason.unwrap_or("?"),
                        f.p.map_or("?".to_owned(), |p| p.to_string()),
                        f.status.map_or("?", |s| s.name()),
                        f.waiting_ms,
                        f.handed_to
                            .as_ref()
                            .map_or("?".to_owned(), |h| h.m.to_string()),
                        f.explanation
                    ));
                }
                if !found.is_empty() {
                    last = found
                        .iter()
                        .map(|f| f.explanation.as_str())
                        .collect::<Vec<_>>()
                        .join(" | ");
                }
            }
        }
        if Instant::now() >= deadline {
            return Verdict::Other(last);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A schedtrace-like dump of the snapshot.
pub fn describe(s: &goro::debug::SchedSnapshot) -> String {
    let mut out = String::new();
    out += &format!(
        "SCHED procs={} gcwaiting={} stopwait={} goroutines={} stw={}\n",
        s.procs,
        u8::from(s.gcwaiting),
        s.stopwait,
        s.goroutines,
        s.stw.as_ref().map_or("none".to_string(), |w| format!(
            "#{}({}, {:.1}s)",
            w.id,
            w.reason.name(),
            w.for_ns as f64 / 1e9
        ))
    );
    for p in s.ps.iter().take(s.procs) {
        out += &format!(
            "  P{}: status={} for={:.3}s m={} handed_to={} idle_list={} last=M{}/{} runq={}\n",
            p.id,
            p.status,
            p.status_for_ns as f64 / 1e9,
            p.m.map_or("nil".into(), |m| format!("M{m}")),
            p.handed_to.map_or("nil".into(), |m| format!("M{m}")),
            u8::from(p.on_idle_list),
            p.last_m,
            p.last_reason,
            p.runq_len
        );
    }
    for m in s.ms.iter().filter(|m| !m.exited) {
        out += &format!(
            "  M{}: tid={} p={} nextp={} curg={} lockedg={} locks={}/{} idle={} queued={} started={}{}{}\n",
            m.id,
            m.tid,
            m.p.map_or("nil".into(), |p| format!("P{p}")),
            m.nextp.map_or("nil".into(), |p| format!("P{p}")),
            m.curg.map_or("nil".into(), |g| format!("G{g}")),
            m.lockedg.map_or("nil".into(), |g| format!("G{g}")),
            m.locked_ext,
            m.locked_int,
            u8::from(m.idle),
            u8::from(m.queued_for_template),
            u8::from(m.started),
            if m.is_m0 { " m0" } else { "" },
            if m.is_template { " template" } else { "" },
        );
    }
    out += &format!(
        "  template: flag={} running={} handoff_len={}\n",
        u8::from(s.template.flag),
        u8::from(s.template.running),
        s.template.handoff_len
    );
    out
}
