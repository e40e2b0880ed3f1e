//! `trace-cli record -o FILE (--pid PID | --binary PATH | -- CMD ARGS...)`: the live source
//! into a trace file, with a live status line and a loss report at the end.

use std::io::Write;

use crate::cli::RecordArgs;
use crate::error::{EXIT_OK, Error};
use crate::event::{BpfCounters, Event, Input};
use crate::report::{LossReport, bytes};
use crate::source::live::{self, LiveHandler};
use crate::status::StatusLine;

use super::recording::{self, Recording};

struct Recorder<'a> {
    file: Recording<'a>,
    status: StatusLine,
    drops: u64,
}

impl LiveHandler for Recorder<'_> {
    fn raw(&mut self, ev: &Event) -> Result<(), Error> {
        self.file.event(ev)
    }

    fn input(&mut self, _input: Input) {}

    fn counters(&mut self, now_ns: u64, c: &BpfCounters) -> Result<(), Error> {
        self.drops = c.drops;
        self.file.counters(now_ns, c)?;
        let w = &self.file.writer;
        self.status.update(w.events(), c.drops, w.bytes());
        Ok(())
    }
}

pub fn run(args: &RecordArgs) -> Result<u8, Error> {
    let resolved = recording::resolve(&args.target)?;
    // Create the file before attaching, so a path that cannot be written is found before
    // anything is attached or started.
    let file = Recording::create(&args.output)?;
    let live = recording::attach(resolved, args.ring_size, Some(&args.output))?;
    let mut rec = Recorder {
        file,
        status: StatusLine::new(),
        drops: 0,
    };
    let start = recording::start_state(&live).unwrap_or_else(|note| {
        eprintln!("{note}");
        None
    });
    rec.file.header(
        &live,
        format!("trace-cli {}", env!("CARGO_PKG_VERSION")),
        start.as_ref(),
    )?;
    let info = live.info.clone();
    let sites = live.sites;
    let end = live.run(args.duration, &mut rec);
    rec.status.clear();
    let end = end?;
    rec.file.finish(&end, end.reason.name())?;
    let loss = LossReport::new(&end.counters, &end.seq);
    let events = rec.file.writer.events();
    let size = rec.file.writer.bytes();
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "kind": "summary",
            "command": "record",
            "file": args.output.display().to_string(),
            "bytes": size,
            "events": events,
            "hits": end.counters.hits,
            "sites": sites,
            "seconds": end.elapsed.as_secs_f64(),
            "end": end.reason.name(),
            "target": info,
            "target_exit": end.target_exit,
            "loss": loss,
        });
        writeln!(out, "{v}")?;
    } else {
        let who = match info.pid {
            Some(pid) => format!("pid {pid} ({})", info.exe),
            None => format!("every process running {}", info.exe),
        };
        writeln!(
            out,
            "recorded {events} events from {who}, {sites} probe sites, in {:.2} s to {} ({})",
            end.elapsed.as_secs_f64(),
            args.output.display(),
            bytes(size)
        )?;
        writeln!(out, "{}", loss.text())?;
        match (end.reason, end.target_exit) {
            (live::EndReason::TargetExited, Some(code)) => {
                writeln!(out, "target exited with status {code}")?
            }
            (live::EndReason::TargetExited, None) => writeln!(out, "target exited")?,
            (live::EndReason::Signal, _) => writeln!(out, "stopped by a signal")?,
            (live::EndReason::Duration | live::EndReason::Done, _) => {}
        }
    }
    Ok(EXIT_OK)
}
