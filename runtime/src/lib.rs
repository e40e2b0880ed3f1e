//! goro: an M:N runtime for Rust built on Go's scheduler model.
//!
//! Goroutines (G) are stackful coroutines multiplexed onto OS threads (M) through a fixed set
//! of processors (P). See `DESIGN.md` for the model and its Go references.

mod sched;

pub use sched::api::*;
