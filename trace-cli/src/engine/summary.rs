//! What a run looked like, for the summary every command prints: stop-the-worlds seen, the
//! time-to-stop distribution, events, losses and findings.

use serde::Serialize;

/// Sub-buckets per power of two: values are kept within 1/16 (6%) of their true value.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB as usize;

/// A log-linear histogram of nanosecond durations: fixed size whatever the run's length,
/// exact for the maximum, within 6% for quantiles.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    count: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            sum: 0,
            max: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let sub = (v >> (exp - SUB_BITS)) & (SUB - 1);
    ((exp - SUB_BITS + 1) as usize) * SUB as usize + sub as usize
}

/// The largest value that falls in bucket `i`.
fn bucket_high(i: usize) -> u64 {
    let sub = SUB as usize;
    if i < sub {
        return i as u64;
    }
    let exp = (i / sub) as u32 + SUB_BITS - 1;
    let low = (1u64 << exp) | (((i % sub) as u64) << (exp - SUB_BITS));
    low + ((1u64 << (exp - SUB_BITS)) - 1)
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), as an upper bound within 6%, never above the max.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }

    pub fn stats(&self) -> TimeToStop {
        let ms = |ns: u64| ns as f64 / 1e6;
        TimeToStop {
            count: self.count,
            p50_ms: ms(self.quantile(0.5)),
            p99_ms: ms(self.quantile(0.99)),
            max_ms: ms(self.max),
            mean_ms: if self.count == 0 {
                0.0
            } else {
                (self.sum / u128::from(self.count)) as f64 / 1e6
            },
        }
    }
}

/// The time-to-stop distribution, in milliseconds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimeToStop {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// See the module documentation. Serialized as the summary line of `--json`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// Always `"summary"`, so JSON lines can be told apart from findings.
    pub kind: &'static str,
    /// Stop-the-worlds begun (`stw_begin` seen).
    pub stws: u64,
    /// Stop-the-worlds whose time to stop is known.
    pub time_to_stop: TimeToStop,
    /// Events fed to the engine.
    pub events: u64,
    /// Events the source reported lost.
    pub lost: u64,
    /// `p_status` events found missing by a gap in a P's `seq`.
    pub seq_gaps: u64,
    /// Events that arrived after later ones had been processed (beyond the reorder window).
    pub late: u64,
    /// `p_status` events older than one already applied for their P, ignored.
    pub stale: u64,
    /// Events fired by threads of an earlier runtime of the process after a new one started
    /// (an M winding down), ignored: their ids name the new runtime's Ps and Ms.
    pub earlier_runtime: u64,
    pub findings: u64,
    pub stuck_p_in_stw: u64,
    pub slow_stw: u64,
    /// The stop-the-world still waiting at the end, if any: (id, ms waited so far).
    pub stw_in_progress: Option<(u64, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for v in (0..20_000u64).chain([1 << 40, u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            last = b;
            assert!(b < BUCKETS);
            assert!(bucket_high(b) >= v, "{v}: high {}", bucket_high(b));
            assert!(
                bucket_high(b) - v <= v / 16 + 1,
                "{v}: high {}",
                bucket_high(b)
            );
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5);
        assert!((500_000..=532_000).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((990_000..=1_000_000).contains(&p99), "{p99}");
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }
}
