//! `trace-cli watch (--pid PID | --binary PATH | -- CMD ARGS...)`: the live source → the
//! engine → a sink; each finding as it happens, a summary at the end. With `--record FILE`
//! the run's trace file too, as `record` writes it.

use std::path::Path;
use std::time::Instant;

use crate::cli::WatchArgs;
use crate::engine::Finding;
use crate::error::{EXIT_FINDING, EXIT_OK, Error};
use crate::event::{BpfCounters, Event, Input};
use crate::feed::Detector;
use crate::report::LossReport;
use crate::sink::{self, RunReport, Sink};
use crate::source::live::{self, EndReason, Live, LiveHandler, Program, RunEnd};
use crate::source::target::{self, TargetSpec};
use crate::tracefile::{End, FORMAT_VERSION, Header, Writer};

/// A chunk at least this often, as `record` does: a killed watch loses at most this much.
const CHUNK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// `--record`: the trace file, written as `record` writes it.
struct Recording<'a> {
    writer: Writer,
    path: &'a Path,
    last_chunk: Instant,
}

impl<'a> Recording<'a> {
    fn create(path: &'a Path) -> Result<Recording<'a>, Error> {
        let writer = Writer::create(path).map_err(|source| Error::Create {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Recording {
            writer,
            path,
            last_chunk: Instant::now(),
        })
    }

    fn err(&self, source: std::io::Error) -> Error {
        Error::Write {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn header(&mut self, live: &Live) -> Result<(), Error> {
        let (catalog, code_tables) = Header::current_catalog();
        let header = Header {
            format_version: FORMAT_VERSION,
            catalog_version: goro_probes::CATALOG_VERSION,
            catalog,
            code_tables,
            target: live.info.clone(),
            clock: live.clock,
            ring_size: live.ring_size,
            sites: live.sites,
            writer: format!("trace-cli {} (watch)", env!("CARGO_PKG_VERSION")),
        };
        self.writer.header(&header).map_err(|e| self.err(e))
    }

    fn counters(&mut self, now_ns: u64, c: &BpfCounters) -> Result<(), Error> {
        if self.last_chunk.elapsed() >= CHUNK_EVERY {
            self.last_chunk = Instant::now();
            self.writer
                .counters(now_ns, c)
                .and_then(|()| self.writer.flush())
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd, reason: &str) -> Result<(), Error> {
        self.writer
            .counters(end.end_ns, &end.counters)
            .and_then(|()| {
                self.writer.finish(&End {
                    ts_ns: end.end_ns,
                    reason: reason.to_owned(),
                    target_exit: end.target_exit,
                    events: self.writer.events(),
                })
            })
            .map_err(|e| self.err(e))
    }
}

struct Watcher<'a> {
    detector: Detector,
    sink: Box<dyn Sink>,
    recording: Option<Recording<'a>>,
    found: Vec<Finding>,
    findings: u64,
    exit_on_finding: bool,
    /// The first error writing the output; the run stops at it.
    failed: Option<std::io::Error>,
}

impl Watcher<'_> {
    fn emit(&mut self) {
        for f in self.found.drain(..) {
            self.findings += 1;
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
        match &mut self.recording {
            Some(r) => r.writer.event(ev).map_err(|e| r.err(e)),
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
        match &mut self.recording {
            Some(r) => r.counters(now_ns, c),
            None => Ok(()),
        }
    }

    fn done(&self) -> bool {
        self.failed.is_some() || (self.exit_on_finding && self.findings > 0)
    }
}

pub fn run(args: &WatchArgs) -> Result<u8, Error> {
    let spec = match (&args.target.pid, &args.target.binary) {
        (Some(pid), _) => TargetSpec::Pid(*pid),
        (None, Some(path)) => TargetSpec::Binary(path.clone()),
        (None, None) => TargetSpec::Spawn(args.target.command.clone()),
    };
    let resolved = target::resolve(spec)?;
    // Create the file before attaching, so a path that cannot be written is found before
    // anything is attached or started; remove it if setting up fails.
    let mut recording = args.record.as_deref().map(Recording::create).transpose()?;
    let live = match live::attach(resolved, args.ring_size, Program::Full) {
        Ok(live) => live,
        Err(e) => {
            if let Some(path) = &args.record {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
    };
    if let Some(r) = &mut recording {
        r.header(&live)?;
    }
    let info = live.info.clone();
    let mut w = Watcher {
        detector: Detector::new(args.detect.engine_config()),
        sink: sink::for_stdout(args.json, args.text),
        recording,
        found: Vec::new(),
        findings: 0,
        exit_on_finding: args.exit_on_finding,
        failed: None,
    };
    let end = live.run(args.duration, &mut w)?;
    // A started command still running is ours to end: hung (the usual reason to stop at a
    // finding), or left behind by a signal or `--duration`. Killed, never left orphaned.
    let target_killed = match end.child {
        Some(pid) if end.reason != EndReason::TargetExited => target::kill(pid),
        _ => false,
    };
    let reason = match end.reason {
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
    };
    w.sink.report(&report)?;
    Ok(if w.findings > 0 {
        EXIT_FINDING
    } else {
        EXIT_OK
    })
}
