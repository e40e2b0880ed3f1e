//! What the readers need from an executable: where goro's state table is (the
//! `.note.goro.state` note, which survives `strip`, else the `GORO_STATE` symbol), and its
//! entry point, from which the load bias follows (`AT_ENTRY` of the process minus `e_entry`).

use std::path::Path;

use goro_probes::catalog::VERSION_NOTE_OWNER;
use goro_probes::state::{NT_GORO_STATE, STATE_NOTE_SECTION, STATE_SYMBOL};
use object::{Object, ObjectSection, ObjectSymbol};

use super::Error;

/// How the table's address was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// The `.note.goro.state` note.
    Note,
    /// The symbol table.
    Symbol,
}

/// An executable built with goro.
#[derive(Clone, Debug)]
pub struct Exe {
    /// The table's link-time address.
    pub table: u64,
    pub found_by: FoundBy,
    /// `e_entry`.
    pub entry: u64,
}

/// Reads `path` (shown to the user as `shown`).
pub fn read_exe(path: &Path, shown: &str) -> Result<Exe, Error> {
    let data = std::fs::read(path).map_err(|e| Error::new(format!("{shown}: {}", io_msg(&e))))?;
    let file = object::File::parse(&*data)
        .map_err(|_| Error::new(format!("{shown}: not an ELF executable")))?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(Error::new(format!("{shown}: not an ELF executable")));
    }
    let little = file.is_little_endian();
    let from_note = file
        .section_by_name(STATE_NOTE_SECTION)
        .and_then(|s| s.data().ok())
        .and_then(|d| note_address(d, little));
    let (table, found_by) = match from_note {
        Some(a) => (a, FoundBy::Note),
        None => {
            let sym = file
                .symbols()
                .chain(file.dynamic_symbols())
                .find(|s| s.name() == Ok(STATE_SYMBOL))
                .map(|s| s.address());
            match sym {
                Some(a) => (a, FoundBy::Symbol),
                None => {
                    return Err(Error::new(format!(
                        "{shown} is not a goro program: it has no {STATE_NOTE_SECTION} note and no \
                         {STATE_SYMBOL} symbol"
                    )));
                }
            }
        }
    };
    Ok(Exe {
        table,
        found_by,
        entry: file.entry(),
    })
}

/// The address in a `.note.goro.state` section: owner "goro", type `NT_GORO_STATE`, 8 bytes.
fn note_address(d: &[u8], little: bool) -> Option<u64> {
    let u32_at = |o: usize| -> Option<u32> {
        let b: [u8; 4] = d.get(o..o + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut off = 0;
    while off + 12 <= d.len() {
        let namesz = u32_at(off)? as usize;
        let descsz = u32_at(off + 4)? as usize;
        let ty = u32_at(off + 8)?;
        let name_off = off + 12;
        let desc_off = name_off + namesz.div_ceil(4) * 4;
        let name = d.get(name_off..name_off + namesz)?;
        let desc = d.get(desc_off..desc_off + descsz)?;
        if name.strip_suffix(b"\0") == Some(VERSION_NOTE_OWNER.as_bytes())
            && ty == NT_GORO_STATE
            && descsz == 8
        {
            let b: [u8; 8] = desc.try_into().ok()?;
            return Some(if little {
                u64::from_le_bytes(b)
            } else {
                u64::from_be_bytes(b)
            });
        }
        off = desc_off + descsz.div_ceil(4) * 4;
    }
    None
}

/// `AT_ENTRY` from an auxiliary vector (native 64-bit pairs).
pub fn auxv_entry(auxv: &[u8]) -> Option<u64> {
    const AT_ENTRY: u64 = 9;
    auxv.chunks_exact(16).find_map(|kv| {
        let k = u64::from_ne_bytes(kv[..8].try_into().ok()?);
        let v = u64::from_ne_bytes(kv[8..].try_into().ok()?);
        (k == AT_ENTRY).then_some(v)
    })
}

/// The OS message without "(os error N)".
pub fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(owner: &[u8], ty: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend((owner.len() as u32 + 1).to_le_bytes());
        n.extend((desc.len() as u32).to_le_bytes());
        n.extend(ty.to_le_bytes());
        n.extend(owner);
        n.push(0);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n.extend(desc);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n
    }

    #[test]
    fn finds_the_table_note_among_others_and_refuses_lookalikes() {
        let addr = 0x8_6440u64.to_le_bytes();
        let mut d = note(b"GNU", NT_GORO_STATE, &addr);
        d.extend(note(b"goro", 1, &[2, 0, 0, 0]));
        d.extend(note(b"goro", NT_GORO_STATE, &addr[..4]));
        assert_eq!(note_address(&d, true), None);
        d.extend(note(b"goro", NT_GORO_STATE, &addr));
        assert_eq!(note_address(&d, true), Some(0x8_6440));
        // Cut in the middle: no panic, nothing found past the cut.
        assert_eq!(note_address(&d[..d.len() - 3], true), None);
    }

    #[test]
    fn reads_at_entry_from_an_auxiliary_vector() {
        let mut a = Vec::new();
        for (k, v) in [(6u64, 4096u64), (9, 0x5555_0000_1234), (0, 0)] {
            a.extend(k.to_ne_bytes());
            a.extend(v.to_ne_bytes());
        }
        assert_eq!(auxv_entry(&a), Some(0x5555_0000_1234));
        assert_eq!(auxv_entry(&a[..16]), None);
    }
}
