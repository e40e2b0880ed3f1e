//! Replays a trace file as the live source would have delivered it.

use std::path::Path;

use crate::decode::{PStatusLayout, SeqStats, Sequencer};
use crate::error::Error;
use crate::event::{BpfCounters, Input, LossKind};
use crate::tracefile::{Damage, End, Header, Reader, Record};

/// What a replay found besides the events.
#[derive(Clone, Debug)]
pub struct FileEnd {
    pub header: Header,
    /// How the recording ended; `None` if it was cut off.
    pub end: Option<End>,
    /// Where reading stopped early, if it did.
    pub damage: Option<Damage>,
    /// The last BPF counters recorded.
    pub counters: BpfCounters,
    pub seq: SeqStats,
    /// Events of probes this trace-cli's catalog does not know.
    pub unknown_probes: u64,
    pub chunks: u64,
    /// A flight recording's state record, if the file starts with one.
    pub state: Option<StateInfo>,
}

/// A trace file's records turned into the stream the live source would have delivered: one
/// record at a time, so the flight recorder can replay what leaves its ring as `analyze`
/// replays a file.
#[derive(Clone)]
pub struct Replay {
    pub seq: Sequencer,
    /// The last BPF counters (cumulative).
    pub last: BpfCounters,
    pub end: Option<End>,
    /// The file started from a state record (a flight recording).
    pub state: Option<StateInfo>,
}

/// What a flight recording's state record said, besides the state itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateInfo {
    pub ts_ns: u64,
    pub events_before: u64,
}

impl Replay {
    /// `from_start`: the process was traced from its start (spawn mode).
    pub fn new(from_start: bool) -> Replay {
        Replay {
            seq: Sequencer::new(
                PStatusLayout::from_catalog(),
                super::live::ORDER_WINDOW_NS,
                from_start,
            ),
            last: BpfCounters::default(),
            end: None,
            state: None,
        }
    }

    /// One record. Losses the BPF counters recorded are reported where the recording noted
    /// them; each counters record is also a tick.
    pub fn record(&mut self, rec: Record, out: &mut impl FnMut(Input)) {
        match rec {
            Record::Event(e) => self.seq.push(e, out),
            Record::Counters { ts_ns, counters } => {
                let last = self.last;
                if counters.drops > last.drops {
                    self.seq
                        .lost(counters.drops - last.drops, LossKind::RingFull, out);
                }
                if counters.spec_misses > last.spec_misses {
                    self.seq.lost(
                        counters.spec_misses - last.spec_misses,
                        LossKind::SpecMiss,
                        out,
                    );
                }
                self.last = counters;
                self.seq.tick(ts_ns, out);
            }
            Record::End(e) => self.end = Some(e),
            Record::State(s) => {
                // The counters and sequence checks go on from where the state stood: losses
                // before it are in the model already, and each P's next change follows on
                // from its last.
                self.seq.seed(&s.sequence);
                self.last = s.counters;
                self.state = Some(StateInfo {
                    ts_ns: s.ts_ns,
                    events_before: s.events_before,
                });
                out(Input::State(s));
            }
        }
    }
}

/// Reads `path`, feeding `out` the ordered, checked stream (see [`Replay::record`]).
pub fn replay(path: &Path, mut out: impl FnMut(Input)) -> Result<FileEnd, Error> {
    let mut reader = Reader::open(path)?;
    let from_start = reader.header().target.mode == "spawn";
    let mut r = Replay::new(from_start);
    for rec in reader.by_ref() {
        r.record(rec, &mut out);
    }
    r.seq.finish(&mut out);
    Ok(FileEnd {
        header: reader.header().clone(),
        end: r.end,
        damage: reader.damage().cloned(),
        counters: r.last,
        seq: r.seq.stats(),
        unknown_probes: reader.unknown_probes(),
        chunks: reader.chunks(),
        state: r.state,
    })
}
