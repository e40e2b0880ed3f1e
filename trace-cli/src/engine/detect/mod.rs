//! The detectors. Each reads the model (never a source) and returns findings.

pub mod slow_stw;
pub mod stuck_p;
