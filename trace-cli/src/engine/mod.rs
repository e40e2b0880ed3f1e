//! The detection engine: fed typed events, clock ticks, loss counts and snapshots; keeps a
//! model of every P, M, stop-the-world and the template thread; runs the detectors; returns
//! findings. It does no I/O and knows no source: a live ring buffer, a trace file and a memory
//! snapshot all reach it as [`Input`], and the same inputs give the same findings.
//!
//! ```
//! use trace_cli::engine::{Config, Engine, Input};
//!
//! let mut engine = Engine::new(Config::default());
//! let findings = engine.feed(Input::Tick { now_ns: 1_000 });
//! assert!(findings.is_empty());
//! assert_eq!(engine.summary().stws, 0);
//! ```
//!
//! Time: every timestamp is on the probes' clock. An event counts once the engine has seen
//! time pass the reorder window beyond it (a later event, or a tick), so a tick should follow
//! each drain of a live source, and [`Engine::finish`] ends a recording.

mod codes;
pub mod detect;
pub mod finding;
pub mod input;
pub mod interleaving;
pub mod model;
mod reorder;
pub mod snapshot;
pub mod summary;
#[doc(hidden)]
pub mod synth;

pub use finding::{Cause, Confidence, Finding, Kind};
pub use input::{DecodeError, Event, EventKind, Input, decode, decode_positional};
pub use snapshot::Snapshot;
pub use summary::Summary;

use model::{Applied, Model};
use reorder::{Item, Reorder};
use summary::Histogram;

/// Thresholds and windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// A stop-the-world waiting longer than this with a P not stopped is `stuck_p_in_stw`.
    pub stw_timeout_ns: u64,
    /// A finished stop-the-world whose time to stop exceeded this is `slow_stw`.
    pub slow_stw_ns: u64,
    /// How far out of timestamp order events may arrive (across CPUs) and still be put back
    /// in order. Findings wait this long too.
    pub reorder_window_ns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stw_timeout_ns: 1_000_000_000,
            slow_stw_ns: 100_000_000,
            reorder_window_ns: 10_000_000,
        }
    }
}

/// Sees the model change, one step at a time, in the order the engine makes the steps: for
/// views that draw the model's history (a timeline) rather than only its state now. Every
/// method has an empty default; the engine's plain `feed` uses an observer that does nothing,
/// which compiles away.
pub trait Observer {
    /// `applied.event` was just applied; `model` is the state after it. A stale event
    /// (`applied.stale`) changed nothing.
    fn applied(&mut self, applied: &Applied, model: &Model) {
        let _ = (applied, model);
    }

    /// The model was replaced whole at `now_ns`: a flight recording's saved state, or a
    /// memory snapshot. What it holds is known as of then, not seen happening.
    fn replaced(&mut self, model: &Model, now_ns: u64) {
        let _ = (model, now_ns);
    }

    /// `count` events were lost at this point of the stream.
    fn lost(&mut self, count: u64, model: &Model) {
        let _ = (count, model);
    }

    /// A finding, at the moment it fired (`finding.at_ns`), before the event that let time
    /// reach that moment is applied.
    fn finding(&mut self, finding: &Finding, model: &Model) {
        let _ = (finding, model);
    }
}

/// The observer of [`Engine::feed`]: sees nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unobserved;

impl Observer for Unobserved {}

/// See the module documentation. `Clone`: the flight recorder saves a copy's model without
/// disturbing the original (see [`Engine::saved_model`]).
#[derive(Clone, Debug)]
pub struct Engine {
    config: Config,
    model: Model,
    reorder: Reorder,
    time_to_stop: Histogram,
    stws: u64,
    events: u64,
    lost: u64,
    seq_gaps: u64,
    stale: u64,
    earlier_runtime: u64,
    stuck: u64,
    slow: u64,
    /// The latest time the detectors ran at.
    now: u64,
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        Engine {
            config,
            model: Model::default(),
            reorder: Reorder::new(config.reorder_window_ns),
            time_to_stop: Histogram::default(),
            stws: 0,
            events: 0,
            lost: 0,
            seq_gaps: 0,
            stale: 0,
            earlier_runtime: 0,
            stuck: 0,
            slow: 0,
            now: 0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The model as it stands (for live views).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Events held back for reordering (bounded by the window's worth of events).
    pub fn buffered(&self) -> usize {
        self.reorder.len()
    }

    /// Feeds one input; returns the findings it produced.
    pub fn feed(&mut self, input: Input) -> Vec<Finding> {
        let mut out = Vec::new();
        self.feed_into(input, &mut out);
        out
    }

    /// Like [`Engine::feed`], appending to `out` (no allocation when nothing is found).
    pub fn feed_into(&mut self, input: Input, out: &mut Vec<Finding>) {
        self.feed_observed(input, out, &mut Unobserved);
    }

    /// Like [`Engine::feed_into`], showing `obs` every step of the model and every finding
    /// as it happens.
    pub fn feed_observed<O: Observer + ?Sized>(
        &mut self,
        input: Input,
        out: &mut Vec<Finding>,
        obs: &mut O,
    ) {
        match input {
            Input::Event(ev) => {
                self.events += 1;
                self.reorder.push(Item::Event(ev));
                self.drain(false, out, obs);
            }
            Input::Tick { now_ns } => {
                self.reorder.advance(now_ns);
                self.drain(false, out, obs);
                self.detect(self.reorder.horizon(), out, obs);
            }
            Input::Lost { count } => {
                self.lost += count;
                self.reorder.push(Item::Lost(count));
                self.drain(false, out, obs);
            }
            Input::Restore { model, now_ns } => {
                // A flight recording's start: the model as it stood when its first event was
                // recorded. Anything buffered before it is older still and already in it.
                self.drain(true, out, obs);
                self.model = *model;
                self.reorder.advance(now_ns);
                self.now = self.now.max(now_ns);
                obs.replaced(&self.model, now_ns);
            }
            Input::Snapshot(s) => {
                // Whatever was buffered happened before the snapshot was read.
                self.drain(true, out, obs);
                self.model.set_snapshot(&s);
                obs.replaced(&self.model, s.now_ns);
                self.reorder.advance(s.now_ns);
                self.detect(s.now_ns, out, obs);
            }
        }
    }

    /// Time passed to `now_ns` (same as feeding [`Input::Tick`]).
    pub fn tick(&mut self, now_ns: u64) -> Vec<Finding> {
        self.feed(Input::Tick { now_ns })
    }

    /// The end of the input: applies everything still buffered, then runs the detectors at
    /// `end_ns` (a recording's end time) or at the latest time seen.
    pub fn finish(&mut self, end_ns: Option<u64>) -> Vec<Finding> {
        self.finish_observed(end_ns, &mut Unobserved)
    }

    /// Like [`Engine::finish`], showing `obs` the last steps and findings.
    pub fn finish_observed<O: Observer + ?Sized>(
        &mut self,
        end_ns: Option<u64>,
        obs: &mut O,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(end) = end_ns {
            self.reorder.advance(end);
        }
        self.drain(true, &mut out, obs);
        let end = end_ns.unwrap_or(self.now).max(self.now);
        self.detect(end, &mut out, obs);
        out
    }

    /// The latest time the engine has judged at.
    pub fn now(&self) -> u64 {
        self.now
    }

    fn drain<O: Observer + ?Sized>(&mut self, flush: bool, out: &mut Vec<Finding>, obs: &mut O) {
        while let Some(item) = self.reorder.pop(flush) {
            match item {
                Item::Lost(count) => {
                    self.model.lost();
                    obs.lost(count, &self.model);
                }
                Item::Event(ev) => {
                    // Time has reached this event with the state before it: judge that state
                    // first, so a stop that waited past the timeout before this event is
                    // judged on what blocked it then, not on what this event changes.
                    self.detect(ev.ts_ns, out, obs);
                    let a = self.model.apply(&ev);
                    obs.applied(&a, &self.model);
                    self.seq_gaps += a.seq_gap;
                    self.stale += u64::from(a.stale);
                    self.earlier_runtime += u64::from(a.earlier_runtime);
                    self.stws += u64::from(a.stw_begun);
                    if let Some((id, reason, ns)) = a.stopped {
                        self.time_to_stop.record(ns);
                        if let Some(f) = detect::slow_stw::check(
                            id,
                            reason,
                            ns,
                            self.config.slow_stw_ns,
                            ev.ts_ns,
                        ) {
                            self.slow += 1;
                            obs.finding(&f, &self.model);
                            out.push(f);
                        }
                    }
                }
            }
        }
    }

    fn detect<O: Observer + ?Sized>(&mut self, now: u64, out: &mut Vec<Finding>, obs: &mut O) {
        self.now = self.now.max(now);
        let before = out.len();
        detect::stuck_p::check(&mut self.model, self.now, self.config.stw_timeout_ns, out);
        self.stuck += (out.len() - before) as u64;
        for f in &out[before..] {
            obs.finding(f, &self.model);
        }
    }

    /// The model once every buffered event is applied, ready to start a flight recording:
    /// what replaying everything fed so far would build. Findings already reported are
    /// forgotten, so replaying the recording reports them again. Leaves `self` as it was
    /// only if called on a clone; the flight recorder does.
    pub fn saved_model(&mut self) -> Model {
        while let Some(item) = self.reorder.pop(true) {
            match item {
                Item::Lost(_) => self.model.lost(),
                Item::Event(ev) => {
                    self.model.apply(&ev);
                }
            }
        }
        let mut m = self.model.clone();
        if let Some(stw) = &mut m.stw {
            stw.reported.clear();
            stw.reported_unnamed = false;
        }
        m
    }

    /// The run so far.
    pub fn summary(&self) -> Summary {
        Summary {
            kind: "summary",
            stws: self.stws,
            time_to_stop: self.time_to_stop.stats(),
            events: self.events,
            lost: self.lost,
            seq_gaps: self.seq_gaps,
            late: self.reorder.late,
            stale: self.stale,
            earlier_runtime: self.earlier_runtime,
            findings: self.stuck + self.slow,
            stuck_p_in_stw: self.stuck,
            slow_stw: self.slow,
            stw_in_progress: self
                .model
                .stw
                .as_ref()
                .map(|s| (s.id, s.waited_ns(self.now) as f64 / 1e6)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
