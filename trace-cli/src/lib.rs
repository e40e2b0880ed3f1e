//! trace-cli as a library: the parts tests and benchmarks drive without BPF or root.

pub mod engine;
pub mod snapshot;
