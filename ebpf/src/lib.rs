//! goro's BPF programs, written in C and compiled by clang at build time, embedded for the
//! loader in `trace-cli`. The programs arrive with the tracing issue; this crate holds their build.
