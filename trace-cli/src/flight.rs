//! The flight recorder (`watch --flight SECONDS`): the last seconds of a run kept in memory,
//! written as a trace file when a finding fires, so `analyze` and `export` can show what led
//! to it. The hung process writes nothing; trace-cli, outside it, still can.
//!
//! Two parts:
//!
//! - a [`Ring`] of raw records (events as they came off the BPF ring buffer, and the BPF
//!   counters), bounded by time (records older than the window leave) and by bytes (when the
//!   cap is reached the oldest leave first: the window is then shorter than asked, never the
//!   memory larger);
//! - a *tail*: what leaves the ring is replayed at once, exactly as `analyze` replays a file
//!   (ordering checks, then the engine), so the tail's engine always holds the model as of
//!   the ring's oldest record.
//!
//! A recording is the tail's state (a trace file state record: the model with its
//! histories, each P's last status change for the ordering checks, the counters so far),
//! the events the tail's ordering step still held, then the ring. Replaying it rebuilds the
//! model the live engine had, however old the cause: a hang that began minutes before the
//! window still names its P, the M it was handed to and the template thread, because the
//! events that set them up live on in the state even after they left the ring.
//!
//! Rule: the first finding of each kind writes a recording; findings of that kind found at
//! the same moment (the other Ps of one stop-the-world) name the same file; later ones of that
//! kind name none, so a storm of `slow_stw` writes one file, not a thousand.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::engine::{Config, Finding, Kind};
use crate::error::Error;
use crate::event::{BpfCounters, Event, Input};
use crate::feed::Detector;
use crate::source::file::Replay;
use crate::tracefile::{End, Header, Record, State, Writer};

/// The default byte cap of the ring.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// The least the cap may be: a few thousand records.
pub const MIN_MAX_BYTES: u64 = 1 << 20;
/// A counters record is kept at least this often (and whenever a loss shows in them): each
/// is a tick on replay.
const COUNTERS_EVERY_NS: u64 = 100_000_000;
/// The ring's first allocation, in records; it doubles up to the cap.
const FIRST_CAPACITY: usize = 4096;

/// One raw record of the ring: what a trace file stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    Event(Event),
    Counters { ts_ns: u64, counters: BpfCounters },
}

impl Entry {
    fn ts_ns(&self) -> u64 {
        match self {
            Entry::Event(e) => e.ts_ns,
            Entry::Counters { ts_ns, .. } => *ts_ns,
        }
    }

    fn record(self) -> Record {
        match self {
            Entry::Event(e) => Record::Event(e),
            Entry::Counters { ts_ns, counters } => Record::Counters { ts_ns, counters },
        }
    }
}

/// What one record costs in the ring: records are stored inline, nothing else is allocated.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

/// Raw records in arrival order, bounded by time and by bytes. See the module documentation.
#[derive(Debug)]
pub struct Ring {
    window_ns: u64,
    max_entries: usize,
    entries: VecDeque<Entry>,
    newest_ns: u64,
    peak_bytes: u64,
}

impl Ring {
    /// Keeps records at most `window_ns` older than the newest, in at most `max_bytes`.
    pub fn new(window_ns: u64, max_bytes: u64) -> Ring {
        let max_entries = usize::try_from(max_bytes / ENTRY_BYTES as u64)
            .unwrap_or(usize::MAX)
            .max(1);
        Ring {
            window_ns,
            max_entries,
            entries: VecDeque::new(),
            newest_ns: 0,
            peak_bytes: 0,
        }
    }

    /// Adds `e`; what leaves (by time or by bytes) goes to `evicted`, oldest first.
    pub fn push(&mut self, e: Entry, evicted: &mut impl FnMut(Entry)) {
        self.advance(e.ts_ns(), evicted);
        if self.entries.len() == self.entries.capacity() {
            // Grow by hand, never past the cap: `VecDeque` alone would double past it.
            let cap = self.entries.capacity();
            if cap < self.max_entries {
                let want = (cap * 2).clamp(FIRST_CAPACITY.min(self.max_entries), self.max_entries);
                self.entries.reserve_exact(want - self.entries.len());
            } else if let Some(old) = self.entries.pop_front() {
                evicted(old);
            }
        }
        self.entries.push_back(e);
        self.peak_bytes = self.peak_bytes.max(self.bytes());
    }

    /// Time has reached `now_ns`: records older than the window leave.
    pub fn advance(&mut self, now_ns: u64, evicted: &mut impl FnMut(Entry)) {
        self.newest_ns = self.newest_ns.max(now_ns);
        let cutoff = self.newest_ns.saturating_sub(self.window_ns);
        while self.entries.front().is_some_and(|e| e.ts_ns() < cutoff) {
            evicted(self.entries.pop_front().expect("checked"));
        }
    }

    /// Memory held by the ring (its allocation), bytes.
    pub fn bytes(&self) -> u64 {
        (self.entries.capacity() * ENTRY_BYTES) as u64
    }

    /// The most [`Ring::bytes`] has been.
    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }

    /// The cap, in bytes (whole records).
    pub fn max_bytes(&self) -> u64 {
        (self.max_entries * ENTRY_BYTES) as u64
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

/// What has left the ring, replayed as `analyze` would: the state a recording starts from.
#[derive(Clone)]
struct Tail {
    replay: Replay,
    detector: Detector,
    /// The tail's own findings: not reported (the live engine reports), dropped.
    scratch: Vec<Finding>,
    /// The latest event time delivered to the engine.
    ts_ns: u64,
    events: u64,
}

impl Tail {
    fn take(&mut self, e: Entry) {
        if let Entry::Event(_) = e {
            self.events += 1;
        }
        let Tail {
            replay,
            detector,
            scratch,
            ts_ns,
            ..
        } = self;
        replay.record(e.record(), &mut |i: Input| {
            if let Input::Event(ev) = &i {
                *ts_ns = (*ts_ns).max(ev.ts_ns);
            }
            detector.input(i, scratch);
            scratch.clear();
        });
    }

    /// The state record for a recording that continues with `held`, the events the ordering
    /// step still holds (they are written as events after the state).
    fn state(&self) -> (State, Vec<Event>) {
        let held = self.replay.seq.held();
        let model = self.detector.engine().clone().saved_model();
        let state = State {
            ts_ns: self.ts_ns,
            counters: self.replay.last,
            sequence: self.replay.seq.baselines(),
            model,
            events_before: self.events - held.len() as u64,
        };
        (state, held)
    }
}

/// One recording written.
#[derive(Clone, Debug, Serialize)]
pub struct FlightFile {
    /// The kind of finding that wrote it.
    pub kind: Kind,
    pub path: String,
    /// Events in it (the state's are not counted).
    pub events: u64,
    /// Events before them that its state stands for.
    pub events_before: u64,
    /// How many seconds of events it holds (its first event to the finding).
    pub seconds: f64,
    pub bytes: u64,
    /// How long writing it held up the event loop.
    pub write_ms: f64,
    #[serde(skip)]
    at_ns: u64,
}

/// The flight recorder's part of a run's summary.
#[derive(Clone, Debug, Serialize)]
pub struct FlightReport {
    /// The window asked for, seconds.
    pub window_s: f64,
    /// The ring's byte cap.
    pub max_bytes: u64,
    /// The most memory the ring held (its allocation; never above the cap).
    pub peak_bytes: u64,
    /// Records in the ring at the end.
    pub records: usize,
    /// Events that left the ring for its state.
    pub evicted_events: u64,
    pub files: Vec<FlightFile>,
    /// Recordings that could not be written (the finding was still reported).
    pub errors: Vec<String>,
}

/// See the module documentation.
pub struct FlightRecorder {
    ring: Ring,
    tail: Tail,
    header: Header,
    dir: PathBuf,
    /// Names the files: the target's pid (our own when tracing a binary's processes).
    pid: u32,
    window_ns: u64,
    counters: BpfCounters,
    counters_kept_ns: u64,
    files: Vec<FlightFile>,
    errors: Vec<String>,
}

impl FlightRecorder {
    /// `header`: the recordings' header (the run's target, catalog, clock; its format is
    /// raised to the one with state records). The target counts as traced from its start
    /// (spawn mode) as the recording's replay will assume.
    pub fn new(
        window_ns: u64,
        max_bytes: u64,
        dir: PathBuf,
        mut header: Header,
        config: Config,
    ) -> FlightRecorder {
        header.format_version = crate::tracefile::FORMAT_VERSION;
        let from_start = header.target.mode == "spawn";
        FlightRecorder {
            ring: Ring::new(window_ns, max_bytes),
            tail: Tail {
                replay: Replay::new(from_start),
                detector: Detector::new(config),
                scratch: Vec::new(),
                ts_ns: 0,
                events: 0,
            },
            pid: header.target.pid.unwrap_or_else(std::process::id),
            header,
            dir,
            window_ns,
            counters: BpfCounters::default(),
            counters_kept_ns: 0,
            files: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Checks that recordings can be created in `dir` (before anything is attached).
    pub fn check_dir(dir: &Path) -> Result<(), Error> {
        let probe = dir.join(format!(".trace-cli-flight-{}", std::process::id()));
        std::fs::File::create(&probe).map_err(|source| Error::Create {
            path: dir.display().to_string(),
            source,
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }

    /// The process's scheduler state read from its memory when the run starts (`watch
    /// --pid`): the tail starts from it, as the live engine does, before any event.
    pub fn snapshot(&mut self, s: &crate::engine::Snapshot) {
        let t = &mut self.tail;
        t.ts_ns = t.ts_ns.max(s.now_ns);
        t.detector.snapshot(s.clone(), &mut t.scratch);
        t.scratch.clear();
    }

    fn push(&mut self, e: Entry) {
        let tail = &mut self.tail;
        self.ring.push(e, &mut |old| tail.take(old));
    }

    /// An event as it came off the ring buffer.
    pub fn event(&mut self, ev: &Event) {
        self.push(Entry::Event(*ev));
    }

    /// The BPF counters at `now_ns` (every drain): kept when they show a loss, else every
    /// `COUNTERS_EVERY_NS`; time passing evicts old records even when no event comes.
    pub fn counters(&mut self, now_ns: u64, c: &BpfCounters) {
        let loss = c.drops != self.counters.drops || c.spec_misses != self.counters.spec_misses;
        self.counters = *c;
        if loss || now_ns >= self.counters_kept_ns + COUNTERS_EVERY_NS {
            self.counters_kept_ns = now_ns;
            self.push(Entry::Counters {
                ts_ns: now_ns,
                counters: *c,
            });
        } else {
            let tail = &mut self.tail;
            self.ring.advance(now_ns, &mut |old| tail.take(old));
        }
    }

    /// The recording for finding `f`, by the rule in the module documentation: written now
    /// if it is the first of its kind; `None` if its kind already has one from an earlier
    /// moment, or writing failed (the error is kept for the summary and logged).
    pub fn recording_for(&mut self, f: &Finding) -> Option<String> {
        if let Some(done) = self.files.iter().find(|x| x.kind == f.kind) {
            return (done.at_ns == f.at_ns).then(|| done.path.clone());
        }
        if self.errors.iter().any(|e| e.starts_with(kind_name(f.kind))) {
            return None;
        }
        match self.write(f.kind, f.at_ns) {
            Ok(file) => {
                let path = file.path.clone();
                self.files.push(file);
                Some(path)
            }
            Err(e) => {
                tracing::warn!("flight recording not written: {e}");
                eprintln!("trace-cli: flight recording not written: {e}");
                self.errors.push(format!("{}: {e}", kind_name(f.kind)));
                None
            }
        }
    }

    /// Writes the state, the held events and the ring as a trace file judged at `at_ns`, now,
    /// whatever the rule ([`FlightRecorder::recording_for`] applies it; benchmarks call this).
    pub fn write(&mut self, kind: Kind, at_ns: u64) -> Result<FlightFile, Error> {
        let t0 = Instant::now();
        let path = self.path_for(kind);
        let shown = path.display().to_string();
        let werr = |source| Error::Write {
            path: shown.clone(),
            source,
        };
        let mut w = Writer::create(&path).map_err(|source| Error::Create {
            path: shown.clone(),
            source,
        })?;
        let (state, held) = self.tail.state();
        let events_before = state.events_before;
        let mut first_ns = None;
        let mut body = || -> std::io::Result<()> {
            w.header(&self.header)?;
            w.state(&state)?;
            for e in &held {
                first_ns = Some(first_ns.unwrap_or(e.ts_ns).min(e.ts_ns));
                w.event(e)?;
            }
            for e in self.ring.iter() {
                match e {
                    Entry::Event(ev) => {
                        first_ns = Some(first_ns.unwrap_or(ev.ts_ns).min(ev.ts_ns));
                        w.event(ev)?;
                    }
                    Entry::Counters { ts_ns, counters } => w.counters(*ts_ns, counters)?,
                }
            }
            let end_ns = at_ns.max(self.counters_kept_ns);
            w.counters(end_ns, &self.counters)?;
            w.finish(&End {
                ts_ns: at_ns,
                reason: "flight".to_owned(),
                target_exit: None,
                events: w.events(),
            })
        };
        body().map_err(werr)?;
        Ok(FlightFile {
            kind,
            path: shown,
            events: w.events(),
            events_before,
            seconds: first_ns.map_or(0.0, |f| at_ns.saturating_sub(f) as f64 / 1e9),
            bytes: w.bytes(),
            write_ms: t0.elapsed().as_secs_f64() * 1e3,
            at_ns,
        })
    }

    /// `DIR/flight-PID-YYYYMMDDTHHMMSSZ-KIND.trace`, with `-N` before `.trace` if taken.
    fn path_for(&self, kind: Kind) -> PathBuf {
        let stamp = utc_stamp(crate::clock::realtime_ns() / 1_000_000_000);
        let base = format!("flight-{}-{stamp}-{}", self.pid, kind_name(kind));
        let mut path = self.dir.join(format!("{base}.trace"));
        let mut n = 2;
        while path.exists() {
            path = self.dir.join(format!("{base}-{n}.trace"));
            n += 1;
        }
        path
    }

    pub fn report(&self) -> FlightReport {
        FlightReport {
            window_s: self.window_ns as f64 / 1e9,
            max_bytes: self.ring.max_bytes(),
            peak_bytes: self.ring.peak_bytes(),
            records: self.ring.len(),
            evicted_events: self.tail.events,
            files: self.files.clone(),
            errors: self.errors.clone(),
        }
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::StuckPInStw => "stuck_p_in_stw",
        Kind::SlowStw => "slow_stw",
    }
}

/// `YYYYMMDDTHHMMSSZ` for Unix time `secs` (UTC; days to a civil date as in Howard Hinnant's
/// `civil_from_days`).
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
