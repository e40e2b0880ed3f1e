//! `trace-cli record -o FILE (--pid PID | --binary PATH | -- CMD ARGS...)`: the live source
//! into a trace file, with a live status line and a loss report at the end.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::cli::RecordArgs;
use crate::error::{EXIT_OK, Error};
use crate::event::{BpfCounters, Event, Input};
use crate::report::{LossReport, bytes};
use crate::source::live::{self, LiveHandler, Program};
use crate::source::target::{self, TargetSpec};
use crate::status::StatusLine;
use crate::tracefile::{End, FORMAT_VERSION, Header, Writer};

/// A chunk (with the counters before it) at least this often, so a recording killed at any
/// moment loses at most about this much.
const CHUNK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

struct Recorder<'a> {
    writer: Writer,
    path: &'a Path,
    status: StatusLine,
    last_chunk: Instant,
    drops: u64,
}

impl Recorder<'_> {
    fn write_err(&self, source: std::io::Error) -> Error {
        Error::Write {
            path: self.path.display().to_string(),
            source,
        }
    }
}

impl LiveHandler for Recorder<'_> {
    fn raw(&mut self, ev: &Event) -> Result<(), Error> {
        self.writer.event(ev).map_err(|e| self.write_err(e))
    }

    fn input(&mut self, _input: Input) {}

    fn counters(&mut self, now_ns: u64, c: &BpfCounters) -> Result<(), Error> {
        self.drops = c.drops;
        if self.last_chunk.elapsed() >= CHUNK_EVERY {
            self.last_chunk = Instant::now();
            self.writer
                .counters(now_ns, c)
                .and_then(|()| self.writer.flush())
                .map_err(|e| self.write_err(e))?;
        }
        self.status
            .update(self.writer.events(), c.drops, self.writer.bytes());
        Ok(())
    }
}

pub fn run(args: &RecordArgs) -> Result<u8, Error> {
    let spec = match (&args.target.pid, &args.target.binary) {
        (Some(pid), _) => TargetSpec::Pid(*pid),
        (None, Some(path)) => TargetSpec::Binary(path.clone()),
        (None, None) => TargetSpec::Spawn(args.target.command.clone()),
    };
    let resolved = target::resolve(spec)?;
    // Create the file before attaching, so a path that cannot be written is found before
    // anything is attached or started; remove it if setting up fails.
    let writer = Writer::create(&args.output).map_err(|source| Error::Create {
        path: args.output.display().to_string(),
        source,
    })?;
    let live = match live::attach(resolved, args.ring_size, Program::Full) {
        Ok(live) => live,
        Err(e) => {
            let _ = std::fs::remove_file(&args.output);
            return Err(e);
        }
    };
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
        writer: format!("trace-cli {}", env!("CARGO_PKG_VERSION")),
    };
    let mut rec = Recorder {
        writer,
        path: &args.output,
        status: StatusLine::new(),
        last_chunk: Instant::now(),
        drops: 0,
    };
    rec.writer.header(&header).map_err(|e| rec.write_err(e))?;
    let info = live.info.clone();
    let sites = live.sites;
    let end = live.run(args.duration, &mut rec);
    rec.status.clear();
    let end = end?;
    rec.writer
        .counters(end.end_ns, &end.counters)
        .and_then(|()| {
            rec.writer.finish(&End {
                ts_ns: end.end_ns,
                reason: end.reason.name().to_owned(),
                target_exit: end.target_exit,
                events: rec.writer.events(),
            })
        })
        .map_err(|e| rec.write_err(e))?;
    let loss = LossReport::new(&end.counters, &end.seq);
    let events = rec.writer.events();
    let size = rec.writer.bytes();
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
            (live::EndReason::Duration, _) => {}
        }
    }
    Ok(EXIT_OK)
}
