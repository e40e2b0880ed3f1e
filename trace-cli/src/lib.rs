//! `trace-cli`: finds why a goro stop-the-world never ends. The library behind the binary.
//!
//! Shaped by role, like a searcher → sink → printer pipeline:
//!
//! * [`source`]: where events come from (live BPF ring buffer, trace file); each yields the
//!   one [`event::Input`] stream.
//! * [`event`] and [`decode`]: raw records → [`event::Event`]s through the probe catalog,
//!   ordered, with every P's status sequence checked and gaps reported as losses.
//! * [`engine`]: the model of every P, M and stop-the-world, and the detectors; no I/O, fed
//!   the same way by every source.
//! * [`feed`]: a source's stream into the engine, the same way for every source.
//! * [`sink`]: findings and the summary, as text for a person or JSON lines.
//! * [`export`]: the engine's steps and findings drawn as a timeline (Perfetto, Chrome JSON).
//! * [`tracefile`]: the trace file's writer and reader.
//! * [`flight`]: `watch --flight`, the last seconds kept in memory and written as a trace
//!   file when a finding fires.
//! * [`snapshot`]: a process's scheduler state read from its memory or a core file
//!   (`inspect`).
//! * [`commands`]: one small module per subcommand, wiring a source to its output.
//!
//! Exit status: 0 success, 1 error (one line on stderr), 2 usage, 3 at least one finding.

pub mod caps;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod decode;
pub mod engine;
pub mod error;
pub mod event;
pub mod export;
pub mod feed;
pub mod flight;
pub mod logging;
pub mod report;
pub mod sink;
pub mod snapshot;
pub mod source;
pub mod status;
pub mod tracefile;
