//! What `record` and `watch --record` share: opening the live source on the target the user
//! named, and writing the run's trace file as it goes.

use std::path::Path;
use std::time::Instant;

use crate::cli::TargetArgs;
use crate::error::Error;
use crate::event::{BpfCounters, Event};
use crate::source::live::{self, Live, Program, RunEnd};
use crate::source::target::{self, Resolved, TargetSpec};
use crate::tracefile::{End, Header, PLAIN_FORMAT_VERSION, Writer};

/// A chunk (with the counters before it) at least this often, so a run killed at any moment
/// loses at most about this much of its file.
const CHUNK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The target of `--pid`, `--binary` or the command, found but not attached to yet.
pub fn resolve(args: &TargetArgs) -> Result<Resolved, Error> {
    target::resolve(match (&args.pid, &args.binary) {
        (Some(pid), _) => TargetSpec::Pid(*pid),
        (None, Some(path)) => TargetSpec::Binary(path.clone()),
        (None, None) => TargetSpec::Spawn(args.command.clone()),
    })
}

/// Attaches to `target`. `file` is the trace file already created (before attaching, so a
/// path that cannot be written is found before anything is attached or started): it is
/// removed if attaching fails.
pub fn attach(target: Resolved, ring_size: u32, file: Option<&Path>) -> Result<Live, Error> {
    live::attach(target, ring_size, Program::Full).inspect_err(|_| {
        if let Some(path) = file {
            let _ = std::fs::remove_file(path);
        }
    })
}

/// A trace file's header for a run attached by `live`; `writer` names what wrote it. Format
/// 1: a flight recording raises it.
pub fn header(live: &Live, writer: String) -> Header {
    let (catalog, code_tables) = Header::current_catalog();
    Header {
        format_version: PLAIN_FORMAT_VERSION,
        catalog_version: goro_probes::CATALOG_VERSION,
        catalog,
        code_tables,
        target: live.info.clone(),
        clock: live.clock,
        ring_size: live.ring_size,
        sites: live.sites,
        writer,
    }
}

/// A run's trace file, written as the events come.
pub struct Recording<'a> {
    pub writer: Writer,
    path: &'a Path,
    last_chunk: Instant,
}

impl<'a> Recording<'a> {
    pub fn create(path: &'a Path) -> Result<Recording<'a>, Error> {
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

    /// The header: what was attached to, and `writer` naming what wrote the file.
    pub fn header(&mut self, live: &Live, writer: String) -> Result<(), Error> {
        let header = header(live, writer);
        self.writer.header(&header).map_err(|e| self.err(e))
    }

    pub fn event(&mut self, ev: &Event) -> Result<(), Error> {
        self.writer.event(ev).map_err(|e| self.err(e))
    }

    /// Ends the chunk with the counters `c` if it is `CHUNK_EVERY` old.
    pub fn counters(&mut self, now_ns: u64, c: &BpfCounters) -> Result<(), Error> {
        if self.last_chunk.elapsed() >= CHUNK_EVERY {
            self.last_chunk = Instant::now();
            self.writer
                .counters(now_ns, c)
                .and_then(|()| self.writer.flush())
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The last counters and the end record, which says why the run ended.
    pub fn finish(&mut self, end: &RunEnd, reason: &str) -> Result<(), Error> {
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
