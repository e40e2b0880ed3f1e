//! An ELF core file as an address space: its `PT_LOAD` segments, and from its notes the
//! auxiliary vector (`NT_AUXV`: `AT_ENTRY` gives the executable's load bias, whatever the
//! file was called or wherever it was copied) and the mapped files (`NT_FILE`: which
//! executable the core names, for the user).
//!
//! Works on a core from `gcore` as on one the kernel wrote. 64-bit little-endian cores (the
//! platforms goro runs on); the file is read where needed, not loaded whole.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::elf::{auxv_entry, io_msg};
use super::{Error, Memory};

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const ET_CORE: u16 = 4;
const NT_PRSTATUS: u32 = 1;
const NT_AUXV: u32 = 6;
const NT_FILE: u32 = 0x4649_4c45;

struct Segment {
    vaddr: u64,
    offset: u64,
    filesz: u64,
    memsz: u64,
}

/// See the module documentation.
pub struct Core {
    shown: String,
    file: File,
    len: u64,
    segments: Vec<Segment>,
    /// `AT_ENTRY` of the dumped process.
    pub entry: Option<u64>,
    /// Files mapped at offset 0, in note order (the executable first, usually).
    pub mapped: Vec<String>,
    /// The pid of the dumped process (first `NT_PRSTATUS`).
    pub pid: Option<u32>,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().expect("2 bytes"))
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

impl Core {
    pub fn open(path: &Path) -> Result<Core, Error> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::new(format!("{shown}: {}", io_msg(&e))))?;
        let len = file
            .metadata()
            .map_err(|e| Error::new(format!("{shown}: {}", io_msg(&e))))?
            .len();
        let bad = |why: &str| Error::new(format!("{shown}: {why}"));
        let mut eh = [0u8; 64];
        file.read_exact_at(&mut eh, 0)
            .map_err(|_| bad("not an ELF core file (too short)"))?;
        if &eh[..4] != b"\x7fELF" {
            return Err(bad("not an ELF file"));
        }
        if eh[4] != 2 || eh[5] != 1 {
            return Err(bad("not a 64-bit little-endian ELF core (unsupported)"));
        }
        if u16_at(&eh, 16) != ET_CORE {
            return Err(bad(
                "not a core file (an executable or library?): pass the core with --core and the \
                 program with --exe",
            ));
        }
        let phoff = u64_at(&eh, 32);
        let phentsize = u16_at(&eh, 54) as u64;
        let phnum = u16_at(&eh, 56) as u64;
        if phentsize < 56 || phnum == 0 {
            return Err(bad("corrupt core: no program headers"));
        }
        let table_len = phentsize * phnum;
        if phoff.saturating_add(table_len) > len {
            return Err(bad("core file truncated (program headers cut off)"));
        }
        let mut ph = vec![0u8; table_len as usize];
        file.read_exact_at(&mut ph, phoff)
            .map_err(|e| bad(&io_msg(&e)))?;
        let mut core = Core {
            shown: shown.clone(),
            file,
            len,
            segments: Vec::new(),
            entry: None,
            mapped: Vec::new(),
            pid: None,
        };
        let mut notes = Vec::new();
        for i in 0..phnum as usize {
            let p = &ph[i * phentsize as usize..];
            let ty = u32_at(p, 0);
            let seg = Segment {
                offset: u64_at(p, 8),
                vaddr: u64_at(p, 16),
                filesz: u64_at(p, 32),
                memsz: u64_at(p, 40),
            };
            match ty {
                PT_LOAD => core.segments.push(seg),
                PT_NOTE => notes.push(seg),
                _ => {}
            }
        }
        for n in notes {
            if n.offset.saturating_add(n.filesz) > len {
                return Err(bad("core file truncated (notes cut off)"));
            }
            if n.filesz > 64 << 20 {
                return Err(bad("corrupt core: a note segment over 64 MiB"));
            }
            let mut d = vec![0u8; n.filesz as usize];
            core.file
                .read_exact_at(&mut d, n.offset)
                .map_err(|e| bad(&io_msg(&e)))?;
            core.parse_notes(&d);
        }
        Ok(core)
    }

    fn parse_notes(&mut self, d: &[u8]) {
        let mut off = 0;
        while off + 12 <= d.len() {
            let namesz = u32_at(d, off) as usize;
            let descsz = u32_at(d, off + 4) as usize;
            let ty = u32_at(d, off + 8);
            let desc_off = off + 12 + namesz.div_ceil(4) * 4;
            let Some(desc) = d.get(desc_off..desc_off.saturating_add(descsz)) else {
                return;
            };
            match ty {
                NT_AUXV if self.entry.is_none() => self.entry = auxv_entry(desc),
                // pr_pid follows siginfo (12 bytes), cursig (2, padded to 4), sigpend and
                // sighold (8 each): offset 32 in the x86_64 and aarch64 layouts.
                NT_PRSTATUS if self.pid.is_none() && desc.len() >= 36 => {
                    self.pid = Some(u32_at(desc, 32));
                }
                NT_FILE => self.mapped = file_note(desc),
                _ => {}
            }
            off = desc_off + descsz.div_ceil(4) * 4;
        }
    }
}

/// NT_FILE: count, page size, then (start, end, page offset) per mapping, then the names.
fn file_note(d: &[u8]) -> Vec<String> {
    if d.len() < 16 {
        return Vec::new();
    }
    let count = u64_at(d, 0) as usize;
    let names_at = 16usize.saturating_add(count.saturating_mul(24));
    let Some(names) = d.get(names_at..) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, name) in names.split(|&b| b == 0).take(count).enumerate() {
        let off = u64_at(d, 16 + i * 24 + 16);
        let name = String::from_utf8_lossy(name).into_owned();
        if off == 0 && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

impl Memory for Core {
    /// A range may span several segments: the table in `.bss` starts in the last page of the
    /// executable's data mapping and goes on in the anonymous mapping after it, one `PT_LOAD`
    /// each.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = addr + done as u64;
            let Some(seg) = self
                .segments
                .iter()
                .find(|s| s.vaddr <= at && at < s.vaddr.saturating_add(s.memsz))
            else {
                return Err(Error::new(format!(
                    "{}: address {at:#x} is in no segment of the core",
                    self.shown
                )));
            };
            let rel = at - seg.vaddr;
            let n = ((seg.memsz - rel) as usize).min(buf.len() - done);
            if rel.saturating_add(n as u64) > seg.filesz {
                return Err(Error::new(format!(
                    "{}: the memory at {at:#x} was not dumped into the core",
                    self.shown
                )));
            }
            let off = seg.offset + rel;
            if off.saturating_add(n as u64) > self.len {
                return Err(Error::new(format!(
                    "{}: core file truncated ({} bytes; the memory at {at:#x} is at offset {off})",
                    self.shown, self.len
                )));
            }
            self.file
                .read_exact_at(&mut buf[done..done + n], off)
                .map_err(|e| Error::new(format!("{}: {}", self.shown, io_msg(&e))))?;
            done += n;
        }
        Ok(())
    }

    fn live(&self) -> bool {
        false
    }
}
