//! Reads the SystemTap SDT probes (`.note.stapsdt`) of an ELF executable or shared library.
//!
//! Each note (type 3, owner `stapsdt`) describes one site: its address, the link-time address
//! of `_.stapsdt.base`, the semaphore address (0 = none) — three address-sized words — then
//! provider, name and argument string, each NUL-terminated.
//!
//! A uprobe is attached by *file offset*, not by address. Two steps get there:
//! 1. if the file was prelinked, `.stapsdt.base` moved but the notes (not loaded, so not
//!    relocated) still hold the old addresses: shift by `sh_addr(.stapsdt.base) - note.base`;
//! 2. translate through the `PT_LOAD` segment that contains the address:
//!    `offset = addr - p_vaddr + p_offset`. With LLD the two differ, so skipping this attaches
//!    the uprobe to the wrong instruction.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, FileKind};

use crate::spec::{Arch, ArgSpec, SpecError, parse_args};

/// The SDT note type for version 3 notes (the only one in use).
const NT_STAPSDT: u32 = 3;
const STAPSDT_OWNER: &[u8] = b"stapsdt";

/// One probe site found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub provider: String,
    pub name: String,
    /// The raw argument string; decode it with [`Probe::specs`].
    pub args: String,
    /// The site's virtual address, after the `.stapsdt.base` adjustment.
    pub address: u64,
    /// Where a uprobe attaches: the file offset of the site. `None` if the address lies in no
    /// file-backed part of an *executable* `PT_LOAD` segment: then the site cannot be traced.
    /// That is the normal fate of a site in a function the linker discarded (`--gc-sections`
    /// keeps the note but relocates its address against nothing, often into the ELF header);
    /// attaching a uprobe there would patch data, not code.
    pub file_offset: Option<u64>,
    /// The semaphore's virtual address after adjustment, 0 if the site has none.
    pub semaphore: u64,
    /// The semaphore's file offset (the kernel's `ref_ctr_offset`), if it has one.
    pub semaphore_offset: Option<u64>,
    /// The site address as written in the note (what `readelf -n` prints as "Location").
    pub note_address: u64,
    /// `_.stapsdt.base` as written in the note.
    pub note_base: u64,
    /// The instruction set the specs are written for; `None` for a machine we do not decode.
    pub arch: Option<Arch>,
}

impl Probe {
    /// Decodes the argument string.
    pub fn specs(&self) -> Result<Vec<ArgSpec>, SpecError> {
        match self.arch {
            Some(arch) => parse_args(&self.args, arch),
            None => Err(SpecError::Unsupported {
                spec: self.args.clone(),
                why: "argument specs of this machine are not decoded",
            }),
        }
    }
}

/// The probes of one ELF file.
#[derive(Clone, Debug)]
pub struct ElfProbes {
    /// `e_machine` of the file.
    pub machine: u16,
    pub arch: Option<Arch>,
    /// In note order, which is link order.
    pub probes: Vec<Probe>,
    /// The catalog version the file's goro probes follow (its `.note.goro`), if it has one.
    pub catalog_version: Option<u32>,
}

/// A note's fields, before any address translation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawNote {
    pub pc: u64,
    pub base: u64,
    pub semaphore: u64,
    pub provider: String,
    pub name: String,
    pub args: String,
}

/// Why a file's probes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not an ELF file")]
    NotElf,
    #[error("malformed ELF file: {0}")]
    Elf(#[from] object::read::Error),
    #[error("malformed .note.stapsdt: {0}")]
    Note(#[from] NoteError),
}

/// Why a `.note.stapsdt` section could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note at offset {offset:#x} runs past the end of the section")]
    Truncated { offset: usize },
    #[error("stapsdt note at offset {offset:#x} is too short for its addresses")]
    ShortDesc { offset: usize },
    #[error("stapsdt note at offset {offset:#x} lacks a NUL-terminated {field}")]
    MissingString { offset: usize, field: &'static str },
}

/// Reads every SDT probe of an ELF file (32- or 64-bit, either endianness). A valid ELF
/// file without SDT notes has no probes; that is not an error.
pub fn read_elf(data: &[u8]) -> Result<ElfProbes, ReadError> {
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => read_elf_as::<elf::FileHeader64<Endianness>>(data),
        Ok(FileKind::Elf32) => read_elf_as::<elf::FileHeader32<Endianness>>(data),
        _ => Err(ReadError::NotElf),
    }
}

struct Segment {
    vaddr: u64,
    offset: u64,
    filesz: u64,
    exec: bool,
}

/// Only the file-backed part of a segment has a file offset a uprobe can use; a probe site
/// must moreover be code (`need_exec`), a semaphore need not.
fn file_offset(segments: &[Segment], addr: u64, need_exec: bool) -> Option<u64> {
    segments
        .iter()
        .filter(|s| s.exec || !need_exec)
        .find_map(|s| {
            let rel = addr.checked_sub(s.vaddr)?;
            (rel < s.filesz)
                .then(|| s.offset.checked_add(rel))
                .flatten()
        })
}

fn read_elf_as<H: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<ElfProbes, ReadError> {
    let header = H::parse(data)?;
    let endian = header.endian()?;
    let machine = header.e_machine(endian);
    let arch = if machine == elf::EM_X86_64 {
        Some(Arch::X86_64)
    } else if machine == elf::EM_AARCH64 {
        Some(Arch::Aarch64)
    } else {
        None
    };
    let segments: Vec<Segment> = header
        .program_headers(endian, data)?
        .iter()
        .filter(|p| p.p_type(endian) == elf::PT_LOAD)
        .map(|p| Segment {
            vaddr: p.p_vaddr(endian).into(),
            offset: p.p_offset(endian).into(),
            filesz: p.p_filesz(endian).into(),
            exec: p.p_flags(endian).0 & elf::PF_X.0 != 0,
        })
        .collect();
    let sections = header.sections(endian, data)?;
    let mut actual_base = None;
    let mut catalog_version = None;
    let mut notes = Vec::new();
    let address_size = if header.is_class_64() { 8 } else { 4 };
    for section in sections.iter() {
        match sections.section_name(endian, section)? {
            b".stapsdt.base" => actual_base = Some(section.sh_addr(endian).into()),
            name if name == crate::catalog::VERSION_NOTE_SECTION.as_bytes() => {
                if let Some(mut it) = section.notes(endian, data)? {
                    while let Some(note) = it.next()? {
                        let desc = note.desc();
                        if note.name() == crate::catalog::VERSION_NOTE_OWNER.as_bytes()
                            && note.n_type(endian).0 == crate::catalog::NT_GORO_CATALOG
                            && desc.len() == 4
                        {
                            let b = [desc[0], desc[1], desc[2], desc[3]];
                            catalog_version = Some(if header.is_big_endian() {
                                u32::from_be_bytes(b)
                            } else {
                                u32::from_le_bytes(b)
                            });
                        }
                    }
                }
            }
            b".note.stapsdt" if section.sh_type(endian) == elf::SHT_NOTE => {
                let bytes = section.data(endian, data)?;
                notes.extend(parse_note_section(
                    bytes,
                    header.is_big_endian(),
                    address_size,
                )?);
            }
            _ => {}
        }
    }
    let probes = notes
        .into_iter()
        .map(|n| {
            // Without `.stapsdt.base` (some hand-written notes) there is nothing to adjust by.
            let delta = actual_base.map_or(0, |b: u64| b.wrapping_sub(n.base));
            let address = n.pc.wrapping_add(delta);
            let semaphore = if n.semaphore == 0 {
                0
            } else {
                n.semaphore.wrapping_add(delta)
            };
            Probe {
                file_offset: file_offset(&segments, address, true),
                semaphore_offset: (semaphore != 0)
                    .then(|| file_offset(&segments, semaphore, false))
                    .flatten(),
                provider: n.provider,
                name: n.name,
                args: n.args,
                address,
                semaphore,
                note_address: n.pc,
                note_base: n.base,
                arch,
            }
        })
        .collect();
    Ok(ElfProbes {
        machine: machine.0,
        arch,
        probes,
        catalog_version,
    })
}

/// Parses the contents of a `.note.stapsdt` section. Notes of other owners or types are
/// skipped, as readers of note sections must.
pub fn parse_note_section(
    data: &[u8],
    big_endian: bool,
    address_size: usize,
) -> Result<Vec<RawNote>, NoteError> {
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut notes = Vec::new();
    let mut at = 0;
    // Trailing padding shorter than a note header is not a note.
    while data.len() - at >= 12 {
        let truncated = NoteError::Truncated { offset: at };
        let (Some(namesz), Some(descsz), Some(kind)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8))
        else {
            return Err(truncated);
        };
        let name_start = at + 12;
        let desc_start = align4(namesz as usize)
            .and_then(|n| name_start.checked_add(n))
            .ok_or(truncated.clone())?;
        let next = align4(descsz as usize)
            .and_then(|n| desc_start.checked_add(n))
            .ok_or(truncated.clone())?;
        let owner = data
            .get(name_start..name_start + namesz as usize)
            .ok_or(truncated.clone())?;
        // The last note's descriptor may lack its padding.
        let desc = data
            .get(desc_start..desc_start + descsz as usize)
            .ok_or(truncated)?;
        let owner = owner.strip_suffix(b"\0").unwrap_or(owner);
        if kind == NT_STAPSDT && owner == STAPSDT_OWNER {
            notes.push(parse_stapsdt_desc(desc, big_endian, address_size, at)?);
        }
        if next >= data.len() {
            break;
        }
        at = next;
    }
    Ok(notes)
}

fn parse_stapsdt_desc(
    desc: &[u8],
    big_endian: bool,
    address_size: usize,
    offset: usize,
) -> Result<RawNote, NoteError> {
    let word = |i: usize| -> Option<u64> {
        let b = desc.get(i * address_size..(i + 1) * address_size)?;
        Some(match (address_size, big_endian) {
            (8, false) => u64::from_le_bytes(b.try_into().ok()?),
            (8, true) => u64::from_be_bytes(b.try_into().ok()?),
            (4, false) => u32::from_le_bytes(b.try_into().ok()?).into(),
            (4, true) => u32::from_be_bytes(b.try_into().ok()?).into(),
            _ => return None,
        })
    };
    let (Some(pc), Some(base), Some(semaphore)) = (word(0), word(1), word(2)) else {
        return Err(NoteError::ShortDesc { offset });
    };
    let mut rest = &desc[3 * address_size..];
    let mut string = |field: &'static str| -> Result<String, NoteError> {
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(NoteError::MissingString { offset, field })?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 1..];
        Ok(s)
    };
    let provider = string("provider")?;
    let name = string("name")?;
    let args = string("argument string")?;
    Ok(RawNote {
        pc,
        base,
        semaphore,
        provider,
        name,
        args,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a note the way `sys/sdt.h` lays it out.
    pub(crate) fn note(owner: &[u8], kind: u32, desc: &[u8], big_endian: bool) -> Vec<u8> {
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend(w32(owner.len() as u32));
        out.extend(w32(desc.len() as u32));
        out.extend(w32(kind));
        out.extend(owner);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend(desc);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    pub(crate) fn stapsdt_desc(
        words: [u64; 3],
        strings: [&str; 3],
        big_endian: bool,
        address_size: usize,
    ) -> Vec<u8> {
        let mut d = Vec::new();
        for w in words {
            match (address_size, big_endian) {
                (8, false) => d.extend(w.to_le_bytes()),
                (8, true) => d.extend(w.to_be_bytes()),
                (4, false) => d.extend((w as u32).to_le_bytes()),
                _ => d.extend((w as u32).to_be_bytes()),
            }
        }
        for s in strings {
            d.extend(s.as_bytes());
            d.push(0);
        }
        d
    }

    #[test]
    fn parses_notes_and_skips_foreign_ones() {
        let mut sec = note(
            b"stapsdt\0",
            3,
            &stapsdt_desc(
                [0x1234, 0x2000, 0],
                ["goro", "p_status", "4@%ecx 1@%dl"],
                false,
                8,
            ),
            false,
        );
        sec.extend(note(b"GNU\0", 3, &[1, 2, 3, 4], false));
        sec.extend(note(b"stapsdt\0", 1, &[0; 8], false));
        sec.extend(note(
            b"stapsdt\0",
            3,
            &stapsdt_desc([0x1300, 0x2000, 0x3000], ["libc", "setjmp", ""], false, 8),
            false,
        ));
        let notes = parse_note_section(&sec, false, 8).unwrap();
        assert_eq!(notes.len(), 2);
        assert_eq!(
            notes[0],
            RawNote {
                pc: 0x1234,
                base: 0x2000,
                semaphore: 0,
                provider: "goro".into(),
                name: "p_status".into(),
                args: "4@%ecx 1@%dl".into()
            }
        );
        assert_eq!(
            (
                notes[1].name.as_str(),
                notes[1].semaphore,
                notes[1].args.as_str()
            ),
            ("setjmp", 0x3000, "")
        );
    }

    #[test]
    fn big_endian_and_32_bit_notes() {
        let sec = note(
            b"stapsdt\0",
            3,
            &stapsdt_desc([0x8040_1000, 0x8040_2000, 0], ["p", "n", "-4@$1"], true, 4),
            true,
        );
        let notes = parse_note_section(&sec, true, 4).unwrap();
        assert_eq!((notes[0].pc, notes[0].base), (0x8040_1000, 0x8040_2000));
        assert_eq!(notes[0].args, "-4@$1");
    }

    #[test]
    fn damaged_notes_are_errors_not_panics() {
        let good = note(
            b"stapsdt\0",
            3,
            &stapsdt_desc([1, 2, 0], ["a", "b", "c"], false, 8),
            false,
        );
        // Cut anywhere inside the note.
        for cut in 12..good.len() - 4 {
            assert!(
                parse_note_section(&good[..cut], false, 8).is_err(),
                "cut at {cut}"
            );
        }
        // Descriptor too short for three addresses.
        let short = note(b"stapsdt\0", 3, &[0; 20], false);
        assert_eq!(
            parse_note_section(&short, false, 8),
            Err(NoteError::ShortDesc { offset: 0 })
        );
        // Strings without their NUL.
        let mut desc = stapsdt_desc([1, 2, 0], ["a", "b", "c"], false, 8);
        desc.pop();
        let nonul = note(b"stapsdt\0", 3, &desc, false);
        assert_eq!(
            parse_note_section(&nonul, false, 8),
            Err(NoteError::MissingString {
                offset: 0,
                field: "argument string"
            })
        );
        // Sizes that overflow.
        let mut huge = vec![0xff; 12];
        huge.extend([0; 16]);
        assert!(parse_note_section(&huge, false, 8).is_err());
        // Short trailing padding is fine.
        let mut padded = good.clone();
        padded.extend([0; 8]);
        assert_eq!(parse_note_section(&padded, false, 8).unwrap().len(), 1);
    }

    #[test]
    fn not_elf() {
        assert!(matches!(
            read_elf(b"#!/bin/sh\necho hi\n"),
            Err(ReadError::NotElf)
        ));
        assert!(matches!(read_elf(b""), Err(ReadError::NotElf)));
        assert!(read_elf(b"\x7fELF\x02\x01\x01").is_err());
    }

    #[test]
    fn file_offsets_come_from_the_containing_segment() {
        let segs = [
            // The headers and read-only data: where a discarded site's note points.
            Segment {
                vaddr: 0,
                offset: 0,
                filesz: 0x1000,
                exec: false,
            },
            Segment {
                vaddr: 0x1c800,
                offset: 0x1b800,
                filesz: 0x500,
                exec: true,
            },
        ];
        assert_eq!(
            file_offset(&segs, 0x10, false),
            Some(0x10),
            "a semaphore may be data"
        );
        assert_eq!(file_offset(&segs, 0x10, true), None, "a site must be code");
        assert_eq!(file_offset(&segs, 0x1c900, true), Some(0x1b900));
        assert_eq!(file_offset(&segs, 0x1cd00, true), None, "past filesz");
        assert_eq!(file_offset(&segs, 0x5000, true), None);
        assert_eq!(file_offset(&segs, u64::MAX, true), None);
    }
}
