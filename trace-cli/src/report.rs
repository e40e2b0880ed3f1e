//! The loss report every command ends with: loss is never silent.

use serde::Serialize;

use crate::decode::SeqStats;
use crate::event::BpfCounters;

/// Everything that was lost or damaged, from the BPF counters and the sequence checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LossReport {
    /// Events lost because the ring buffer was full.
    pub drops: u64,
    /// Probe hits lost because their site had no spec.
    pub spec_misses: u64,
    /// Events recorded with an argument that could not be read.
    pub read_errors: u64,
    /// Places where a P's sequence numbers skipped values...
    pub seq_gaps: u64,
    /// ...and the status changes missing there.
    pub missing_status_changes: u64,
    /// Status changes that did not start where the previous one ended, without a gap.
    pub discontinuities: u64,
    /// Status changes that came too late to be put in order.
    pub late: u64,
}

impl LossReport {
    pub fn new(c: &BpfCounters, s: &SeqStats) -> LossReport {
        LossReport {
            drops: c.drops,
            spec_misses: c.spec_misses,
            read_errors: c.read_errors,
            seq_gaps: s.seq_gaps,
            missing_status_changes: s.missing,
            discontinuities: s.discontinuities,
            late: s.late,
        }
    }

    pub fn is_clean(&self) -> bool {
        *self == LossReport::default()
    }

    /// One line for people.
    pub fn text(&self) -> String {
        let mut s = format!(
            "lost: {} dropped (ring buffer full), {} spec misses; {} read errors; {} sequence gaps ({} status changes missing), {} discontinuities, {} late",
            self.drops,
            self.spec_misses,
            self.read_errors,
            self.seq_gaps,
            self.missing_status_changes,
            self.discontinuities,
            self.late
        );
        if self.is_clean() {
            s.push_str(" — complete");
        }
        s
    }
}

/// 1536 → "1.5 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
