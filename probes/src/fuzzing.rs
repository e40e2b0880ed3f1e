//! Entry points of the fuzz targets in `probes/fuzz/`, here so that a stable unit test can run
//! them over the seed corpus and CI exercises them without nightly. Each one panics only when
//! an invariant of the parsers is broken.

use crate::sdt::{parse_note_section, read_elf};
use crate::spec::{Arch, parse_arg, parse_args};

/// Argument-spec parser: never panics, and every spec it accepts prints back to a spec that
/// parses to the same value.
pub fn arg_specs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let whole = parse_args(&text, arch);
        let mut all_ok = true;
        for word in text.split_ascii_whitespace() {
            match parse_arg(word, arch) {
                Ok(spec) => {
                    let printed = spec.to_string();
                    let again = parse_arg(&printed, arch)
                        .unwrap_or_else(|e| panic!("{word:?} printed as {printed:?}: {e}"));
                    assert_eq!(again, spec, "{word:?} printed as {printed:?}");
                    assert!(matches!(spec.size, 1 | 2 | 4 | 8));
                }
                Err(_) => all_ok = false,
            }
        }
        assert_eq!(whole.is_ok(), all_ok, "whole string and words disagree");
    }
}

/// Note-section parser, in every byte order and address size: never panics, and every note
/// it returns has strings without NULs.
pub fn sdt_notes(data: &[u8]) {
    for big_endian in [false, true] {
        for address_size in [4, 8] {
            if let Ok(notes) = parse_note_section(data, big_endian, address_size) {
                for n in notes {
                    assert!(!n.provider.contains('\0') && !n.name.contains('\0'));
                    assert!(!n.args.contains('\0'));
                    if address_size == 4 {
                        assert!(n.pc <= u32::MAX.into() && n.base <= u32::MAX.into());
                    }
                }
            }
        }
    }
}

/// Whole-file reader: never panics; a file offset it reports is consistent with the address
/// it reports for the same probe whenever both come from the same file.
pub fn elf(data: &[u8]) {
    if let Ok(file) = read_elf(data) {
        for probe in &file.probes {
            let _ = probe.specs();
            if probe.semaphore == 0 {
                assert_eq!(probe.semaphore_offset, None);
            }
        }
    }
}
