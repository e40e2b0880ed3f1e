//! The trace file: a recording that describes itself and survives being cut off.
//!
//! ```text
//! file   = magic "GOROTRC\n" · format version u32 · header length u32 · header CRC-32 u32
//!          · header (JSON, see Header) · chunk*
//! chunk  = "GCHK" · raw length u32 · stored length u32 · CRC-32 of the stored bytes u32
//!          · record count u32 · stored bytes (zstd of the raw records)
//! record = tag u8 · body           (little-endian throughout)
//!   1 event     ts_ns u64 · pid u32 · tid u32 · cpu u32 · probe u16 · flags u8 · nargs u8 · args u64×nargs
//!   2 counters  ts_ns u64 · hits u64 · drops u64 · spec misses u64 · read errors u64   (cumulative)
//!   3 end       length u32 · JSON (see End)
//! ```
//!
//! The header carries the probe catalog the events follow (names, argument names, types and
//! kinds, code tables), so a file is read correctly by a trace-cli built against a later
//! catalog: probes and arguments are matched by name. It also maps the events' monotonic
//! clock to wall-clock time.
//!
//! The writer appends one whole chunk per `write` call, each about a second of events or less,
//! after a counters record. A recording killed at any point (SIGKILL, a full disk) leaves a
//! file whose complete chunks all read back; the reader stops at the first incomplete or
//! damaged chunk and says so. A file without an end record was cut off.

mod reader;
mod writer;

pub use reader::{Damage, Reader, Record};
pub use writer::Writer;

use goro_probes::catalog;
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"GOROTRC\n";
pub const CHUNK_MAGIC: &[u8; 4] = b"GCHK";
/// Bumped on every incompatible change of the layout above.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the header JSON.
pub const PREAMBLE_LEN: usize = 8 + 4 + 4 + 4;
/// Bytes of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 4 + 4 + 4 + 4 + 4;
/// A chunk larger than this (raw or stored) is damage, not data: the writer never makes one.
pub const MAX_CHUNK_LEN: u32 = 64 << 20;

pub const TAG_EVENT: u8 = 1;
pub const TAG_COUNTERS: u8 = 2;
pub const TAG_END: u8 = 3;

/// The file's header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    /// The catalog version the events follow.
    pub catalog_version: u32,
    /// That catalog: event probe ids are indexes into it.
    pub catalog: Vec<ProbeSchema>,
    pub code_tables: Vec<CodeTableSchema>,
    pub target: TargetInfo,
    pub clock: ClockBase,
    /// Ring buffer size, bytes.
    pub ring_size: u32,
    /// Probe sites attached.
    pub sites: usize,
    /// The trace-cli that wrote it.
    pub writer: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeSchema {
    pub name: String,
    pub args: Vec<ArgSchema>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArgSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeTableSchema {
    pub name: String,
    pub codes: Vec<(u8, String)>,
}

/// What was traced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `pid`, `binary` or `spawn`.
    pub mode: String,
    /// The process (pid and spawn modes).
    pub pid: Option<u32>,
    /// The executable whose probe sites were attached.
    pub exe: String,
    /// Its GNU build id (hex), if it has one.
    pub build_id: Option<String>,
    /// The catalog version the executable says it was built for.
    pub binary_catalog_version: Option<u32>,
    /// The command line (spawn mode).
    pub command: Option<Vec<String>>,
}

/// One instant read on both clocks: `wall = realtime_ns + (ts_ns - monotonic_ns)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockBase {
    pub monotonic_ns: u64,
    pub realtime_ns: u64,
}

impl ClockBase {
    /// Reads both clocks now (the realtime read between two monotonic reads, their middle
    /// taken as its instant).
    pub fn now() -> ClockBase {
        let m1 = crate::clock::monotonic_ns();
        let r = crate::clock::realtime_ns();
        let m2 = crate::clock::monotonic_ns();
        ClockBase {
            monotonic_ns: m1 + (m2 - m1) / 2,
            realtime_ns: r,
        }
    }

    /// Wall-clock nanoseconds since the Unix epoch of a monotonic timestamp.
    pub fn wall_ns(&self, ts_ns: u64) -> i128 {
        i128::from(self.realtime_ns) + i128::from(ts_ns) - i128::from(self.monotonic_ns)
    }
}

/// How the recording ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct End {
    pub ts_ns: u64,
    /// `duration`, `signal`, `target_exited`, `error`.
    pub reason: String,
    /// The target's exit status (spawn mode: its code, or 128 + signal).
    pub target_exit: Option<i32>,
    pub events: u64,
}

impl Header {
    /// The catalog this trace-cli was built with, described for the file.
    pub fn current_catalog() -> (Vec<ProbeSchema>, Vec<CodeTableSchema>) {
        let probes = catalog::CATALOG
            .iter()
            .map(|p| ProbeSchema {
                name: p.name.to_owned(),
                args: p
                    .args
                    .iter()
                    .map(|a| ArgSchema {
                        name: a.name.to_owned(),
                        ty: a.ty.name().to_owned(),
                        kind: a.kind.name().to_owned(),
                    })
                    .collect(),
            })
            .collect();
        let tables = catalog::CODE_TABLES
            .iter()
            .map(|t| CodeTableSchema {
                name: t.name.to_owned(),
                codes: t
                    .codes
                    .iter()
                    .map(|c| (c.value, c.name.to_owned()))
                    .collect(),
            })
            .collect();
        (probes, tables)
    }
}

/// How to turn the file's probe ids and argument positions into this catalog's.
#[derive(Clone, Debug)]
pub struct CatalogMap {
    /// Per file probe: our probe index and, per our argument, the file's argument position.
    probes: Vec<Option<(u16, Vec<Option<usize>>)>>,
}

impl CatalogMap {
    pub fn new(file: &[ProbeSchema]) -> CatalogMap {
        let probes = file
            .iter()
            .map(|fp| {
                let ours = crate::event::probe_index(&fp.name)?;
                let def = &catalog::CATALOG[usize::from(ours)];
                let args = def
                    .args
                    .iter()
                    .map(|a| {
                        fp.args
                            .iter()
                            .position(|f| f.name == a.name && f.ty == a.ty.name())
                    })
                    .collect();
                Some((ours, args))
            })
            .collect();
        CatalogMap { probes }
    }

    /// Our probe index and arguments for a file event, or `None` if this catalog has no
    /// such probe. Arguments the file lacks are 0.
    pub fn map(&self, probe: u16, args: &[u64]) -> Option<(u16, [u64; crate::event::MAX_ARGS])> {
        let (ours, map) = self.probes.get(usize::from(probe))?.as_ref()?;
        let mut out = [0; crate::event::MAX_ARGS];
        for (o, from) in out.iter_mut().zip(map) {
            if let Some(&v) = from.and_then(|i| args.get(i)) {
                *o = v;
            }
        }
        Some((*ours, out))
    }

    /// Whether the file's catalog is exactly this one.
    pub fn identity(&self) -> bool {
        self.probes.len() == catalog::CATALOG.len()
            && self.probes.iter().enumerate().all(|(i, p)| {
                p.as_ref().is_some_and(|(o, a)| {
                    usize::from(*o) == i
                        && a.iter().enumerate().all(|(j, f)| *f == Some(j))
                        && a.len() == catalog::CATALOG[i].args.len()
                })
            })
    }
}
