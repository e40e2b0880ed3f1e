//! `trace-cli watch (--pid PID | --binary PATH | -- CMD ARGS...)`: the live source → the
//! engine → a sink; each finding as it happens, a summary at the end. With `--record FILE`
//! the run's trace file too, as `record` writes it. On a terminal (without `--plain`, `--json`
//! or `--text`) the sink is the full-screen live view, redrawn on the source's ticks.
//!
//! Attached to a running process (`--pid`), it first reads the process's scheduler state
//! from its memory, as `inspect` does, and starts the engine from it: a process already hung
//! sends no event, so without it a stop-the-world found waiting could be timed but not
//! explained.

use crate::cli::WatchArgs;
use crate::engine::Finding;
use crate::error::{EXIT_FINDING, EXIT_OK, Error};
use crate::event::{BpfCounters, Event, Input};
use crate::feed::Detector;
use crate::flight::{DEFAULT_MAX_BYTES, FlightRecorder};
use crate::report::LossReport;
use crate::sink::live::{self, LiveView};
use crate::sink::{self, LiveTick, RunReport, Sink};
use crate::source::live::{EndReason, LiveHandler};
use crate::source::target::{self, TargetSpec};

use super::recording::{self, Recording};

struct Watcher<'a> {
    detector: Detector,
    sink: Box<dyn Sink>,
    recording: Option<Recording<'a>>,
    /// `--flight`: the last seconds, written when a finding fires.
    flight: Option<FlightRecorder>,
    found: Vec<Finding>,
    findings: u64,
    exit_on_finding: bool,
    /// The first error writing the output; the run stops at it.
    failed: Option<std::io::Error>,
}

impl Watcher<'_> {
    fn emit(&mut self) {
        for mut f in self.found.drain(..) {
            self.findings += 1;
            if let Some(fl) = &mut self.flight {
                f.flight_file = fl.recording_for(&f);
            }
            if self.failed.is_none()
                && let Err(e) = self.sink.finding(&f)
            {
                self.failed = Some(e);
            }
        }
    }
}

impl LiveHandler for Watcher<'_> {
    fn raw(&mut self, ev: &Event) -> Result<(), Error> {
        if let Some(fl) = &mut self.flight {
            fl.event(ev);
        }
        match &mut self.recording {
            Some(r) => r.event(ev),
            None => Ok(()),
        }
    }

    fn input(&mut self, input: Input) {
        self.detector.input(input, &mut self.found);
        if !self.found.is_empty() {
            self.emit();
        }
    }

    fn counters(&mut self, now_ns: u64, c: &BpfCounters) -> Result<(), Error> {
        if let Some(fl) = &mut self.flight {
            fl.counters(now_ns, c);
        }
        let tick = LiveTick {
            engine: self.detector.engine(),
            counters: c,
        };
        if self.failed.is_none()
            && let Err(e) = self.sink.tick(&tick)
        {
            self.failed = Some(e);
        }
        match &mut self.recording {
            Some(r) => r.counters(now_ns, c),
            None => Ok(()),
        }
    }

    fn ending(&mut self) {
        self.sink.closing();
    }

    fn done(&self) -> bool {
        self.failed.is_some()
            || (self.exit_on_finding && self.findings > 0)
            || self.sink.quit_requested()
    }
}

pub fn run(args: &WatchArgs) -> Result<u8, Error> {
    let mut resolved = recording::resolve(&args.target)?;
    // Create the file before attaching, so a path that cannot be written is found before
    // anything is attached or started.
    let mut recording = args.record.as_deref().map(Recording::create).transpose()?;
    let flight_dir = args.flight.flight_dir.clone().unwrap_or_else(|| ".".into());
    if args.flight.flight.is_some() {
        FlightRecorder::check_dir(&flight_dir)?;
    }
    let mut view = live_view(args, &mut resolved)?;
    let live = recording::attach(resolved, args.ring_size, args.record.as_deref())?;
    // A note for the user is printed at once, or, under the live view (which has the
    // screen), after the view has given the terminal back.
    let mut note = None;
    let start = recording::start_state(&live).unwrap_or_else(|n| {
        if view.is_some() {
            note = Some(n);
        } else {
            eprintln!("{n}");
        }
        None
    });
    if let Some(r) = &mut recording {
        r.header(
            &live,
            format!("trace-cli {} (watch)", env!("CARGO_PKG_VERSION")),
            start.as_ref(),
        )?;
    }
    let info = live.info.clone();
    let flight = args.flight.flight.map(|window| {
        FlightRecorder::new(
            u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            args.flight.flight_max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
            flight_dir,
            recording::header(
                &live,
                format!("trace-cli {} (watch --flight)", env!("CARGO_PKG_VERSION")),
            ),
            args.detect.engine_config(),
        )
    });
    let sink = match view.take() {
        Some(mut v) => {
            v.attached(&info);
            Box::new(v) as Box<dyn Sink>
        }
        None => sink::for_stdout(args.json, args.text),
    };
    let mut w = Watcher {
        detector: Detector::new(args.detect.engine_config()),
        sink,
        recording,
        flight,
        found: Vec::new(),
        findings: 0,
        exit_on_finding: args.exit_on_finding,
        failed: None,
    };
    if let Some(snap) = start {
        // The flight recorder's state starts from it too, so a recording of a process that
        // was already hung explains it as the live engine does.
        if let Some(fl) = &mut w.flight {
            fl.snapshot(&snap);
        }
        w.detector.snapshot(snap, &mut w.found);
        w.emit();
    }
    let end = live.run(args.duration, &mut w)?;
    // A started command still running is ours to end: hung (the usual reason to stop at a
    // finding), or left behind by a signal or `--duration`. Killed, never left orphaned.
    let target_killed = match end.child {
        Some(pid) if end.reason != EndReason::TargetExited => target::kill(pid),
        _ => false,
    };
    let reason = match end.reason {
        EndReason::Done if w.sink.quit_requested() => "quit",
        EndReason::Done => "exit_on_finding",
        r => r.name(),
    };
    // What is still buffered, judged at the end, unless the run already stopped at a finding.
    if !(args.exit_on_finding && w.findings > 0) {
        w.found = w.detector.finish(Some(end.end_ns));
        w.emit();
    }
    if let Some(r) = &mut w.recording {
        r.finish(&end, reason)?;
    }
    if let Some(e) = w.failed.take() {
        return Err(Error::Output(e));
    }
    let report = RunReport {
        command: "watch",
        summary: w.detector.engine().summary(),
        loss: LossReport::new(&end.counters, &end.seq),
        not_fed: w.detector.read_errors + w.detector.undecodable,
        target: Some(info),
        end: Some(reason.to_owned()),
        target_exit: end.target_exit,
        target_killed,
        seconds: Some(end.elapsed.as_secs_f64()),
        file: args.record.as_ref().map(|p| p.display().to_string()),
        file_note: None,
        flight: w.flight.as_ref().map(FlightRecorder::report),
    };
    w.sink.report(&report)?;
    if let Some(n) = note {
        eprintln!("{n}");
    }
    Ok(if w.findings > 0 {
        EXIT_FINDING
    } else {
        EXIT_OK
    })
}

/// The live view, when stdout is a terminal and no line form was asked for; it takes the
/// terminal at once (showing that it attaches). A command it starts writes to a pipe the view
/// keeps, not to the terminal the view draws on.
fn live_view(args: &WatchArgs, resolved: &mut target::Resolved) -> Result<Option<LiveView>, Error> {
    use std::io::IsTerminal;
    if args.plain || args.json || args.text || !std::io::stdout().is_terminal() {
        return Ok(None);
    }
    let output = match resolved.spec {
        TargetSpec::Spawn(_) => {
            let (r, w) = live::output_pipe().map_err(Error::Output)?;
            resolved.child_output = Some(w);
            Some(r)
        }
        _ => None,
    };
    match LiveView::start(&resolved.exe, output) {
        Ok(view) => Ok(Some(view)),
        // A terminal that cannot be driven (no raw mode, no controlling tty): the line
        // output, as without a terminal.
        Err(e) => {
            tracing::info!("no live view ({e}): line output");
            resolved.child_output = None;
            Ok(None)
        }
    }
}
