//! `trace-cli`: finds why a goro stop-the-world never ends. The library behind the binary.
//!
//! Shaped by role, like a searcher → sink → printer pipeline:
//!
//! * [`source`]: where events come from (live BPF ring buffer, trace file); each yields the
//!   one [`event::Input`] stream.
//! * [`event`] and [`decode`]: raw records → [`event::Event`]s through the probe catalog,
//!   ordered, with every P's status sequence checked and gaps reported as losses.
//! * [`tracefile`]: the trace file's writer and reader.
//! * [`commands`]: one small module per subcommand, wiring a source to its output.
//!
//! Exit status: 0 success, 1 error (one line on stderr), 2 usage, 3 at least one finding.

pub mod caps;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod decode;
pub mod error;
pub mod event;
pub mod logging;
pub mod report;
pub mod source;
pub mod status;
pub mod tracefile;
