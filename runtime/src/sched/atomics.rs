//! The atomics the lock-free run queue is written against. In the crate they are std's;
//! the loom model test (`tests/loom_runq.rs`) compiles the same queue against loom's.
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
