//! Where events come from. Every source yields the same [`Input`](crate::event::Input)
//! stream — ordered, checked events, losses where they were detected, and clock ticks — so a
//! consumer never knows which one fed it.
//!
//! * [`live`]: the BPF handler attached to a running process, a binary or a started command.
//! * [`file`]: a trace file written by `trace-cli record`.
//! * [`target`]: resolving what to trace to its executable and probe sites.

pub mod file;
pub mod live;
pub mod target;
