#![no_main]
//! Fuzzes `goro_probes::fuzzing::sdt_notes`; the invariants it checks are documented there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| goro_probes::fuzzing::sdt_notes(data));
