//! What `record` and `watch --record` share: opening the live source on the target the user
//! named, and writing the run's trace file as it goes.

use std::path::Path;
use std::time::Instant;

use crate::cli::TargetArgs;
use crate::decode::SeqBase;
use crate::engine::{Config, Engine, Input, Snapshot};
use crate::error::Error;
use crate::event::{BpfCounters, Event};
use crate::snapshot::{Memory, goro, process::Process};
use crate::source::live::{self, Live, Program, RunEnd};
use crate::source::target::{self, Resolved, TargetSpec};
use crate::tracefile::{End, FORMAT_VERSION, Header, PLAIN_FORMAT_VERSION, State, Writer};

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

    /// The header: what was attached to, and `writer` naming what wrote the file. With the
    /// state read at attach (`--pid`, see [`start_state`]), a state record follows it (format
    /// 2), so `analyze` starts from what the live run started from: a process already hung
    /// is explained from its recording as it was live.
    pub fn header(
        &mut self,
        live: &Live,
        writer: String,
        start: Option<&Snapshot>,
    ) -> Result<(), Error> {
        let mut header = header(live, writer);
        let state = start.map(|s| state_record(s, live.info.pid.unwrap_or(0)));
        if state.is_some() {
            header.format_version = FORMAT_VERSION;
        }
        self.writer.header(&header).map_err(|e| self.err(e))?;
        match state {
            Some(state) => self.writer.state(&state).map_err(|e| self.err(e)),
            None => Ok(()),
        }
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

/// The scheduler state of a process attached by `--pid`, read from its goro state table
/// right after the probes are attached (a change the read misses then arrives as an event,
/// and the P changes it already holds are older by `seq`). `None` for a spawned command or a
/// binary (nothing ran before the probes); `Err` with a note for the user when the table
/// cannot be read: the run goes on from events alone.
pub fn start_state(live: &Live) -> Result<Option<Snapshot>, String> {
    let Some(pid) = live.info.pid.filter(|_| live.info.mode == "pid") else {
        return Ok(None);
    };
    let read = Process::open(pid).and_then(|mut proc| {
        let addr = proc.table_addr();
        goro::read_table(&mut proc as &mut dyn Memory, addr)
    });
    match read {
        Ok(read) => Ok(Some(goro::to_snapshot(&read, goro::monotonic_now()))),
        Err(e) => Err(format!(
            "trace-cli: note: the process's scheduler state could not be read ({e}); what was \
             true before the probes were attached is unknown"
        )),
    }
}

/// A state record standing for `snap`: the model an engine builds from it, and each P's
/// last change as the baseline of the ordering checks.
fn state_record(snap: &Snapshot, pid: u32) -> State {
    let mut engine = Engine::new(Config::default());
    engine.feed(Input::Snapshot(Box::new(snap.clone())));
    State {
        ts_ns: snap.now_ns,
        counters: BpfCounters::default(),
        sequence: snap
            .ps
            .iter()
            .filter_map(|p| {
                Some(SeqBase {
                    pid,
                    p: p.id,
                    seq: p.seq?,
                    status: p.status.into(),
                })
            })
            .collect(),
        model: engine.saved_model(),
        events_before: 0,
    }
}
