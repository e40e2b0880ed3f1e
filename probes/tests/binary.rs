//! The note reader on a real binary: `goro-probe-test`, built by cargo from this package,
//! which calls every catalog probe.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use goro_probes::catalog::{self, ArgType};
use goro_probes::sdt::{ElfProbes, Probe, read_elf};
use goro_probes::spec::{Arch, ArgLoc};

const BIN: &str = env!("CARGO_BIN_EXE_goro-probe-test");

fn probes_of(path: &str) -> ElfProbes {
    let data = std::fs::read(path).unwrap();
    read_elf(&data).unwrap()
}

fn goro_probes(file: &ElfProbes) -> Vec<&Probe> {
    file.probes
        .iter()
        .filter(|p| p.provider == catalog::PROVIDER)
        .collect()
}

#[test]
fn every_catalog_probe_is_present_with_the_catalog_types() {
    let file = probes_of(BIN);
    let found = goro_probes(&file);
    if !goro_probes::SITES_ENABLED {
        assert!(
            found.is_empty(),
            "sites are disabled but the binary has {found:?}"
        );
        return;
    }
    assert_eq!(file.arch, Arch::host());
    for def in catalog::CATALOG {
        assert!(
            found.iter().any(|p| p.name == def.name),
            "probe {} not found in {BIN}",
            def.name
        );
    }
    for probe in &found {
        let def = catalog::find(&probe.name)
            .unwrap_or_else(|| panic!("site {} is not in the catalog", probe.name));
        let specs = probe.specs().unwrap();
        assert_eq!(
            specs.len(),
            def.args.len(),
            "{}: {:?}",
            probe.name,
            probe.args
        );
        for (spec, arg) in specs.iter().zip(def.args) {
            assert_eq!(
                ArgType::from_spec(spec.size, spec.signed),
                Some(arg.ty),
                "{}.{}: spec {spec} does not carry a {}",
                probe.name,
                arg.name,
                arg.ty
            );
            // The probe functions pass every argument in a register, so a tracer never has to
            // read memory of the traced process.
            assert!(
                matches!(spec.loc, ArgLoc::Reg(_)),
                "{}.{}: {spec}",
                probe.name,
                arg.name
            );
        }
        assert_eq!(
            probe.semaphore, 0,
            "{}: goro probes have no semaphore",
            probe.name
        );
        assert_eq!(probe.semaphore_offset, None);
    }
}

#[test]
fn every_file_offset_points_at_a_nop() {
    let data = std::fs::read(BIN).unwrap();
    let file = read_elf(&data).unwrap();
    let found = goro_probes(&file);
    assert_eq!(found.is_empty(), !goro_probes::SITES_ENABLED);
    for probe in found {
        let off = probe.file_offset.expect("site in a loaded segment") as usize;
        match file.arch {
            // The 1-byte nop, not a 5-byte one: see EBPF_FACTS.md.
            Some(Arch::X86_64) => assert_eq!(data[off], 0x90, "{} at {off:#x}", probe.name),
            Some(Arch::Aarch64) => {
                assert_eq!(
                    data[off..off + 4],
                    0xd503_201f_u32.to_le_bytes(),
                    "{}",
                    probe.name
                )
            }
            None => panic!("test binary for an unknown architecture"),
        }
    }
}

/// Simulates prelinking: move `.stapsdt.base` by `delta` in the section table, as prelink does
/// when it relocates a library, and check every site moves with it.
#[test]
fn sites_follow_a_moved_stapsdt_base() {
    use object::read::elf::{FileHeader, SectionHeader};
    let mut data = std::fs::read(BIN).unwrap();
    let before = read_elf(&data).unwrap();
    if !goro_probes::SITES_ENABLED {
        assert!(before.probes.is_empty());
        return;
    }
    let delta = 0x1000u64;
    let header = object::elf::FileHeader64::<object::Endianness>::parse(&*data).unwrap();
    let endian = header.endian().unwrap();
    let sections = header.sections(endian, &*data).unwrap();
    let (index, base) = sections
        .iter()
        .enumerate()
        .find(|(_, s)| sections.section_name(endian, *s).unwrap() == b".stapsdt.base")
        .map(|(i, s)| (i, s.sh_addr(endian)))
        .expect(".stapsdt.base");
    // sh_addr is at byte 16 of an Elf64_Shdr.
    let at = header.e_shoff(endian) as usize + index * usize::from(header.e_shentsize(endian)) + 16;
    let moved = (base + delta).to_le_bytes();
    data[at..at + 8].copy_from_slice(&moved);
    let after = read_elf(&data).unwrap();
    assert_eq!(after.probes.len(), before.probes.len());
    for (a, b) in after.probes.iter().zip(&before.probes) {
        assert_eq!(a.note_address, b.note_address);
        assert_eq!(a.address, b.address + delta, "{}", a.name);
        assert_ne!(
            a.file_offset, b.file_offset,
            "{}: offset must follow the address",
            a.name
        );
    }
}

#[test]
fn the_test_binary_runs_through_its_sites() {
    let out = Command::new(BIN).arg("5").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("fired every probe: n=5 "));
}

/// One probe as `readelf -n` prints it: provider, name, location, arguments.
type Listed = (String, String, u64, String);

fn readelf_probes(path: &Path) -> Option<Vec<Listed>> {
    let out = match Command::new("readelf")
        .args(["-n", "--wide"])
        .arg(path)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("running readelf: {e}"),
    };
    assert!(out.status.success(), "readelf failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut listed = Vec::new();
    let mut current: Option<(String, String, u64)> = None;
    for line in text.lines() {
        if let Some((_, provider)) = line.split_once("Provider: ") {
            current = Some((provider.trim().to_owned(), String::new(), 0));
        } else if let (Some(c), Some(name)) = (current.as_mut(), line.trim().strip_prefix("Name: "))
        {
            c.1 = name.to_owned();
        } else if let (Some(c), Some(loc)) =
            (current.as_mut(), line.trim().strip_prefix("Location: "))
        {
            let hex = loc
                .split(',')
                .next()
                .unwrap()
                .trim()
                .trim_start_matches("0x");
            c.2 = u64::from_str_radix(hex, 16).unwrap();
        } else if let Some(args) = line.trim().strip_prefix("Arguments:") {
            let (p, n, l) = current.take().expect("Arguments after a Provider");
            listed.push((p, n, l, args.trim().to_owned()));
        }
    }
    Some(listed)
}

#[test]
fn readelf_lists_the_same_probes_and_arguments() {
    let Some(theirs) = readelf_probes(Path::new(BIN)) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "readelf is missing on CI"
        );
        eprintln!("SKIPPED: readelf not installed (install binutils); cross-check not run");
        return;
    };
    let file = probes_of(BIN);
    let ours: BTreeSet<Listed> = file
        .probes
        .iter()
        .map(|p| {
            (
                p.provider.clone(),
                p.name.clone(),
                p.note_address,
                p.args.clone(),
            )
        })
        .collect();
    let theirs: BTreeSet<Listed> = theirs.into_iter().collect();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), file.probes.len(), "each site is listed once");
}
