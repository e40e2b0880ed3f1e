//! From the sources' stream to the engine: every source yields [`event::Input`] (decoded
//! events, losses, ticks); the engine takes its own typed [`engine::Input`]. `watch` and
//! `analyze` both go through [`Detector`], so the same events give the same findings.

use crate::engine::{self, Config, Engine, Finding, Observer};
use crate::event::{self, LossKind};

/// The engine, fed from a source. See the module documentation.
#[derive(Clone, Debug)]
pub struct Detector {
    engine: Engine,
    /// Events delivered with an argument the BPF side could not read: not fed (their
    /// arguments are partly zeros, which would mislead the model), counted as lost.
    pub read_errors: u64,
    /// Events the engine's decoder refused (a value out of its type's range, an unknown
    /// code): counted as lost too.
    pub undecodable: u64,
}

impl Detector {
    pub fn new(config: Config) -> Detector {
        Detector {
            engine: Engine::new(config),
            read_errors: 0,
            undecodable: 0,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Feeds one input; appends what it found to `out`.
    ///
    /// Only real drops (ring full, a site without its spec) go to the engine as losses: the
    /// decoder's sequence reports (gaps, discontinuities, late changes) are what the engine
    /// finds for itself from each P's `seq`, and passing them too would count them twice.
    pub fn input(&mut self, input: event::Input, out: &mut Vec<Finding>) {
        self.input_observed(input, out, &mut engine::Unobserved);
    }

    /// Like [`Detector::input`], showing `obs` every step of the engine's model.
    pub fn input_observed<O: Observer + ?Sized>(
        &mut self,
        input: event::Input,
        out: &mut Vec<Finding>,
        obs: &mut O,
    ) {
        let fed = match input {
            event::Input::Event(e) if e.read_error => {
                self.read_errors += 1;
                engine::Input::Lost { count: 1 }
            }
            event::Input::Event(e) => {
                match engine::decode_positional(e.ts_ns, e.tid, usize::from(e.probe), &e.args) {
                    Ok(ev) => engine::Input::Event(ev),
                    Err(err) => {
                        tracing::debug!("event not fed to the engine: {err}");
                        self.undecodable += 1;
                        engine::Input::Lost { count: 1 }
                    }
                }
            }
            event::Input::Lost { count, why } => match why {
                LossKind::RingFull | LossKind::SpecMiss => engine::Input::Lost { count },
                LossKind::SeqGap { .. }
                | LossKind::Discontinuity { .. }
                | LossKind::Late { .. } => {
                    return;
                }
            },
            event::Input::Tick(now_ns) => engine::Input::Tick { now_ns },
            event::Input::State(s) => engine::Input::Restore {
                now_ns: s.ts_ns,
                model: Box::new(s.model),
            },
        };
        self.engine.feed_observed(fed, out, obs);
    }

    /// The process's whole scheduler state, read from its memory (see [`engine::Snapshot`]):
    /// replaces the model; the events that follow apply on top of it.
    pub fn snapshot(&mut self, s: engine::Snapshot, out: &mut Vec<Finding>) {
        self.engine
            .feed_into(engine::Input::Snapshot(Box::new(s)), out);
    }

    /// The end of the stream: applies what is buffered and judges at `end_ns` (a recording's
    /// end, or when a live run stopped).
    pub fn finish(&mut self, end_ns: Option<u64>) -> Vec<Finding> {
        self.engine.finish(end_ns)
    }

    /// Like [`Detector::finish`], showing `obs` the last steps.
    pub fn finish_observed<O: Observer + ?Sized>(
        &mut self,
        end_ns: Option<u64>,
        obs: &mut O,
    ) -> Vec<Finding> {
        self.engine.finish_observed(end_ns, obs)
    }
}
