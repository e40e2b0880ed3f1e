//! Runs the fuzz targets' entry functions over their seed corpus (`probes/fuzz/corpus/`), so
//! that stable CI exercises them, and checks the reader on the crafted ELF seed.

use std::path::PathBuf;

use goro_probes::fuzzing;
use goro_probes::sdt::read_elf;
use goro_probes::spec::{ArgLoc, SpecError};

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

/// Also feeds every prefix of each seed, which is how most parser bugs show up.
fn run(target: &str, entry: fn(&[u8])) {
    for (path, data) in seeds(target) {
        eprintln!("{target}: {}", path.display());
        for end in 0..=data.len() {
            entry(&data[..end]);
        }
    }
}

#[test]
fn arg_specs_seeds() {
    run("arg_specs", fuzzing::arg_specs);
}

#[test]
fn sdt_notes_seeds() {
    run("sdt_notes", fuzzing::sdt_notes);
}

#[test]
fn elf_seeds() {
    run("elf", fuzzing::elf);
}

#[test]
fn the_crafted_elf_reads_as_designed() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/elf/crafted-x86_64");
    let file = read_elf(&std::fs::read(path).unwrap()).unwrap();
    let p = &file.probes;
    assert_eq!(p.len(), 4);
    // The notes say .stapsdt.base is at 0x400004; the section is at 0x400104: all move by 0x100.
    assert_eq!(
        (p[0].provider.as_str(), p[0].name.as_str()),
        ("goro", "stw_end")
    );
    assert_eq!(
        (p[0].note_address, p[0].address, p[0].file_offset),
        (0x400001, 0x400101, Some(0x101))
    );
    assert_eq!(
        (p[1].semaphore, p[1].semaphore_offset),
        (0x400103, Some(0x103))
    );
    let specs = p[1].specs().unwrap();
    assert_eq!(specs[0].loc, ArgLoc::Const(-7));
    assert!(matches!(specs[1].loc, ArgLoc::Reg(r) if r.full == "rax" && r.shift == 8));
    assert!(matches!(specs[2].loc, ArgLoc::Mem { base, disp: -8 } if base.full == "rbp"));
    assert!(matches!(p[2].specs(), Err(SpecError::Unsupported { .. })));
    assert_eq!(
        (p[3].name.as_str(), p[3].file_offset),
        ("not_in_catalog", Some(0x100))
    );
}
