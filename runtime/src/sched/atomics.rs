//! The atomics the lock-free run queue and the note are written against. In the crate they are
//! std's; the loom model tests (`tests/loom_runq.rs`, `tests/loom_note.rs`) compile the same
//! files against loom's.
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
