//! **slow_stw**: a stop-the-world finished, but its time to stop exceeded a threshold.
//!
//! Only a finished stop is judged here; one still waiting is the stuck-P detector's. So a stop
//! that is slow and then finishes is a `slow_stw`, never a `stuck_p_in_stw` after it finished.

use crate::engine::finding::{Confidence, Finding, Kind};
use crate::engine::input::StwReason;

/// The finding for a stop that took `ns` to stop, if that is over `threshold_ns`.
pub fn check(
    id: u64,
    reason: Option<StwReason>,
    ns: u64,
    threshold_ns: u64,
    at_ns: u64,
) -> Option<Finding> {
    if ns <= threshold_ns {
        return None;
    }
    let ms = ns as f64 / 1e6;
    let what = reason.map_or("stop-the-world".to_owned(), |r| {
        format!("stop-the-world ({})", r.name())
    });
    Some(Finding {
        kind: Kind::SlowStw,
        p: None,
        status: None,
        cause: None,
        confidence: Confidence::High,
        stw_id: id,
        stw_reason: reason.map(StwReason::name),
        waiting_ms: ms,
        status_for_ms: None,
        last_change: None,
        handed_to: None,
        owner_m: None,
        g: None,
        template: None,
        stopped_ps: Vec::new(),
        nprocs: None,
        explanation: format!(
            "{what} #{id} took {ms:.3} ms to stop every P (threshold {:.3} ms), then finished.",
            threshold_ns as f64 / 1e6
        ),
        chain: Vec::new(),
        threads: Vec::new(),
        at_ns,
        flight_file: None,
    })
}
