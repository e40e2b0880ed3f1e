//! Where findings go: one [`Sink`] per output form, chosen once by the command; the commands
//! only wire a source to the engine and the engine to a sink.
//!
//! * [`text`]: for a person at a terminal: each finding with its explanation and the
//!   interleaving, one column per thread; a summary at the end.
//! * [`json`]: one JSON object per line: each finding (`"kind":"stuck_p_in_stw"` or
//!   `"slow_stw"`), then the summary (`"kind":"summary"`).

pub mod json;
pub mod text;

use std::io::{self, IsTerminal};

use serde::Serialize;

use crate::engine::{Finding, Summary};
use crate::report::LossReport;
use crate::tracefile::TargetInfo;

/// Receives a run's findings as they come, then its report.
pub trait Sink {
    fn finding(&mut self, f: &Finding) -> io::Result<()>;
    fn report(&mut self, r: &RunReport) -> io::Result<()>;
}

/// The end of a run: the engine's summary and what the source knows.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// `watch` or `analyze`.
    pub command: &'static str,
    #[serde(flatten)]
    pub summary: Summary,
    pub loss: LossReport,
    /// Events not fed to the engine (unreadable arguments, refused by its decoder).
    pub not_fed: u64,
    pub target: Option<TargetInfo>,
    /// Why the run ended: `target_exited`, `signal`, `duration`, `exit_on_finding`; for a
    /// file, how its recording ended (`null`: cut off).
    pub end: Option<String>,
    /// The target's exit status, when known (spawn mode).
    pub target_exit: Option<i32>,
    /// A started command `watch` killed at the end (it was still running: hung, or
    /// `--exit-on-finding` / `--duration` / a signal ended the watch first).
    pub target_killed: bool,
    pub seconds: Option<f64>,
    /// The trace file read (`analyze`) or written (`watch --record`).
    pub file: Option<String>,
    /// `analyze`: what was wrong with the file (cut off, damaged), if anything.
    pub file_note: Option<String>,
    /// `watch --flight`: the ring's window, cap and peak memory, and the recordings written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flight: Option<crate::flight::FlightReport>,
}

/// JSON when asked, or when stdout is not a terminal (a pipe, a file, a test) unless text is
/// asked for.
pub fn for_stdout(json: bool, text: bool) -> Box<dyn Sink> {
    let out = io::stdout();
    if json || (!text && !out.is_terminal()) {
        Box::new(json::Json::new(out))
    } else {
        Box::new(text::Text::new(out))
    }
}
