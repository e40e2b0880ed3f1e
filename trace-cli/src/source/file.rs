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
}

/// Reads `path`, feeding `out` the ordered, checked stream. Losses the BPF counters recorded
/// are reported where the recording noted them; each counters record is also a tick.
pub fn replay(path: &Path, mut out: impl FnMut(Input)) -> Result<FileEnd, Error> {
    let mut reader = Reader::open(path)?;
    let from_start = reader.header().target.mode == "spawn";
    let mut seq = Sequencer::new(
        PStatusLayout::from_catalog(),
        super::live::ORDER_WINDOW_NS,
        from_start,
    );
    let mut last = BpfCounters::default();
    let mut end = None;
    for rec in reader.by_ref() {
        match rec {
            Record::Event(e) => seq.push(e, &mut out),
            Record::Counters { ts_ns, counters } => {
                if counters.drops > last.drops {
                    seq.lost(counters.drops - last.drops, LossKind::RingFull, &mut out);
                }
                if counters.spec_misses > last.spec_misses {
                    seq.lost(
                        counters.spec_misses - last.spec_misses,
                        LossKind::SpecMiss,
                        &mut out,
                    );
                }
                last = counters;
                seq.tick(ts_ns, &mut out);
            }
            Record::End(e) => end = Some(e),
        }
    }
    seq.finish(&mut out);
    Ok(FileEnd {
        header: reader.header().clone(),
        end,
        damage: reader.damage().cloned(),
        counters: last,
        seq: seq.stats(),
        unknown_probes: reader.unknown_probes(),
        chunks: reader.chunks(),
    })
}
