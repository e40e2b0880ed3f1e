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
//!   4 state     length u32 · JSON (see State)                            (format 2)
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
//!
//! A flight recording (`watch --flight`) holds only the last seconds of a run, so it starts
//! with a state record: the engine's model and the ordering checks' baselines as they stood
//! just before its first event, which replaying the events alone could not rebuild. Format 2
//! added that record: flight recordings are format 2, every other file stays format 1 (the
//! header's `format_version` says which; the writer puts it in the preamble too). This reader
//! reads both.

mod reader;
mod writer;

pub use reader::{Damage, Reader, Record};
pub use writer::Writer;

use goro_probes::catalog;
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"GOROTRC\n";
pub const CHUNK_MAGIC: &[u8; 4] = b"GCHK";
/// Bumped on every incompatible change of the layout above: the newest this reader reads.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format this reader still reads. Format 2 only added the state record, so a
/// file without one is written as format 1 (`PLAIN_FORMAT_VERSION`), and a trace-cli that
/// predates the flight recorder still reads every other recording.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// The format of a file without a state record.
pub const PLAIN_FORMAT_VERSION: u32 = 1;
/// Bytes before the header JSON.
pub const PREAMBLE_LEN: usize = 8 + 4 + 4 + 4;
/// Bytes of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 4 + 4 + 4 + 4 + 4;
/// A chunk larger than this (raw or stored) is damage, not data: the writer never makes one.
pub const MAX_CHUNK_LEN: u32 = 64 << 20;

pub const TAG_EVENT: u8 = 1;
pub const TAG_COUNTERS: u8 = 2;
pub const TAG_END: u8 = 3;
pub const TAG_STATE: u8 = 4;

/// What a flight recording starts from (see the module documentation): enough for a replay
/// to continue exactly where the recorder's own engine stood when the first recorded event
/// came.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The time the state stands at: the last event it holds (the engine's clock).
    pub ts_ns: u64,
    /// The BPF counters as of then (cumulative): the baseline for the counters records
    /// after it, so losses before it are not counted again.
    pub counters: crate::event::BpfCounters,
    /// Each P's last status change, for the ordering checks.
    pub sequence: Vec<crate::decode::SeqBase>,
    /// The engine's model: every P, M, the stop-the-world, the template thread, histories.
    pub model: crate::engine::model::Model,
    /// Events that the state covers and the recording does not hold (evicted from the
    /// flight ring before the recorded window).
    pub events_before: u64,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::synthetic;
    use crate::event::{BpfCounters, Event, probe_index};
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("tracefile-{name}-{}", std::process::id()))
    }

    fn header() -> Header {
        let (catalog, code_tables) = Header::current_catalog();
        Header {
            format_version: FORMAT_VERSION,
            catalog_version: catalog::CATALOG_VERSION,
            catalog,
            code_tables,
            target: TargetInfo {
                mode: "pid".into(),
                pid: Some(42),
                exe: "/bin/app".into(),
                build_id: Some("abcd".into()),
                binary_catalog_version: Some(catalog::CATALOG_VERSION),
                command: None,
            },
            clock: ClockBase {
                monotonic_ns: 1_000,
                realtime_ns: 1_700_000_000_000_000_000,
            },
            ring_size: 1 << 20,
            sites: 3,
            writer: "test".into(),
        }
    }

    fn events(n: u64) -> Vec<Event> {
        let p = probe_index("stw_end").unwrap();
        let s = probe_index("stw_begin").unwrap();
        (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    synthetic(1_000 + i, 7, p, &[i])
                } else {
                    let mut e = synthetic(1_000 + i, 7, s, &[i, 1, 4, 3]);
                    e.read_error = i % 3 == 0;
                    e.cpu = 1;
                    e
                }
            })
            .collect()
    }

    /// A file of `chunks` chunks of 1000 events each, with counters, and an end record.
    fn write_file(path: &std::path::Path, chunks: u64) -> Vec<Event> {
        let mut w = Writer::create(path).unwrap();
        w.header(&header()).unwrap();
        let evs = events(chunks * 1000);
        for (i, e) in evs.iter().enumerate() {
            w.event(e).unwrap();
            if (i + 1) % 1000 == 0 {
                let c = BpfCounters {
                    hits: i as u64 + 1,
                    ..Default::default()
                };
                w.counters(e.ts_ns, &c).unwrap();
                w.flush().unwrap();
            }
        }
        w.finish(&End {
            ts_ns: 99_999,
            reason: "duration".into(),
            target_exit: None,
            events: evs.len() as u64,
        })
        .unwrap();
        evs
    }

    fn read_all(path: &std::path::Path) -> (Vec<Record>, Option<Damage>, u64) {
        let mut r = Reader::open(path).unwrap();
        let recs: Vec<Record> = r.by_ref().collect();
        (recs, r.damage().cloned(), r.chunks())
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let path = scratch("roundtrip");
        let evs = write_file(&path, 3);
        let r = Reader::open(&path).unwrap();
        assert_eq!(r.header(), &header());
        let (recs, damage, chunks) = read_all(&path);
        assert_eq!(damage, None);
        assert_eq!(
            chunks, 4,
            "three chunks and the last one with the end record"
        );
        let got: Vec<Event> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Event(e) => Some(*e),
                _ => None,
            })
            .collect();
        assert_eq!(got, evs);
        assert!(matches!(recs.last(), Some(Record::End(e)) if e.events == 3000));
        let counters: Vec<u64> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Counters { counters, .. } => Some(counters.hits),
                _ => None,
            })
            .collect();
        assert_eq!(counters, vec![1000, 2000, 3000]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_file_cut_anywhere_reads_its_complete_chunks_and_says_so() {
        let path = scratch("cut");
        let evs = write_file(&path, 3);
        let bytes = std::fs::read(&path).unwrap();
        let cut = scratch("cut-part");
        // Every cut point in the chunks' region (headers and payloads), a stride to keep it quick.
        let first_chunk =
            PREAMBLE_LEN + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let mut boundaries = vec![first_chunk];
        while *boundaries.last().unwrap() < bytes.len() {
            let at = *boundaries.last().unwrap();
            let stored = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            boundaries.push(at + CHUNK_HEADER_LEN + stored);
        }
        let mut last_events = 0;
        let mut cuts: Vec<usize> = (first_chunk..bytes.len())
            .step_by(7)
            .chain(boundaries.iter().copied())
            .filter(|&l| l < bytes.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        for len in cuts {
            std::fs::write(&cut, &bytes[..len]).unwrap();
            let (recs, damage, chunks) = read_all(&cut);
            let n = recs
                .iter()
                .filter(|r| matches!(r, Record::Event(_)))
                .count();
            assert_eq!(
                n as u64,
                chunks.min(3) * 1000,
                "whole chunks only (cut at {len})"
            );
            assert!(n >= last_events, "a longer file never reads fewer events");
            last_events = n;
            // Cut between chunks, the file is whole but has no end record; cut inside one,
            // the reader says where.
            assert_eq!(
                damage.is_none(),
                boundaries.contains(&len),
                "cut at {len}: {damage:?}"
            );
            assert!(recs.iter().all(|r| !matches!(r, Record::End(_))));
        }
        assert_eq!(last_events, evs.len());
        // Cut inside the header: an error, not a panic.
        for len in [0, 5, 12, first_chunk - 1] {
            std::fs::write(&cut, &bytes[..len]).unwrap();
            assert!(Reader::open(&cut).is_err(), "cut at {len}");
        }
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(cut);
    }

    #[test]
    fn a_state_record_reads_back_the_same_and_format_1_files_still_read() {
        let path = scratch("state");
        let mut model = crate::engine::model::Model::default();
        let mut e = crate::engine::Engine::new(crate::engine::Config::default());
        for ev in crate::engine::synth::healthy(7, 2_000).0 {
            e.feed(crate::engine::Input::Event(ev));
        }
        model.clone_from(&e.clone().saved_model());
        assert!(!model.ps.is_empty() && !model.ms.is_empty());
        let state = State {
            ts_ns: 77,
            counters: BpfCounters {
                hits: 9,
                drops: 2,
                ..Default::default()
            },
            sequence: vec![crate::decode::SeqBase {
                pid: 1,
                p: 0,
                seq: 41,
                status: 1,
            }],
            model,
            events_before: 2_000,
        };
        let mut w = Writer::create(&path).unwrap();
        w.header(&header()).unwrap();
        w.state(&state).unwrap();
        for ev in events(10) {
            w.event(&ev).unwrap();
        }
        w.finish(&End::default()).unwrap();
        let (recs, damage, _) = read_all(&path);
        assert_eq!(damage, None);
        let state_again = state.clone();
        assert_eq!(recs[0], Record::State(Box::new(state)));
        assert_eq!(recs.len(), 12);
        // The same bytes labelled format 1 (no state record in them then) read too; an
        // unknown later format is refused with its number.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert!(Reader::open(&path).is_ok());
        bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = Reader::open(&path).err().unwrap().to_string();
        assert!(err.contains("version 3"), "{err}");
        // A plain recording stays format 1, readable by a trace-cli without the flight
        // recorder, and cannot take a state record.
        let mut w = Writer::create(&path).unwrap();
        w.header(&Header {
            format_version: PLAIN_FORMAT_VERSION,
            ..header()
        })
        .unwrap();
        assert!(w.state(&state_again).is_err());
        w.finish(&End::default()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[8..12], 1u32.to_le_bytes());
        assert_eq!(Reader::open(&path).unwrap().header().format_version, 1);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_checksum() {
        let path = scratch("flip");
        write_file(&path, 3);
        let mut bytes = std::fs::read(&path).unwrap();
        let first_chunk =
            PREAMBLE_LEN + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        // A byte in the second chunk's payload.
        let second = first_chunk
            + CHUNK_HEADER_LEN
            + u32::from_le_bytes(bytes[first_chunk + 8..first_chunk + 12].try_into().unwrap())
                as usize;
        bytes[second + CHUNK_HEADER_LEN + 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (recs, damage, chunks) = read_all(&path);
        assert_eq!(chunks, 1);
        assert_eq!(
            recs.iter()
                .filter(|r| matches!(r, Record::Event(_)))
                .count(),
            1000
        );
        let d = damage.unwrap();
        assert!(d.why.contains("checksum"), "{d:?}");
        assert_eq!(d.offset, second as u64);
        // In the header: refused.
        let mut h = std::fs::read(&path).unwrap();
        h[PREAMBLE_LEN + 2] ^= 1;
        std::fs::write(&path, &h).unwrap();
        assert!(Reader::open(&path).is_err());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_file_of_another_catalog_is_read_by_names() {
        // The file's catalog has stw_begin's arguments in another order, an extra probe we do
        // not know first, and lacks stw_end's argument.
        let (mut cat, _) = Header::current_catalog();
        let begin = cat.iter().position(|p| p.name == "stw_begin").unwrap();
        cat[begin].args.reverse();
        let end = cat.iter().position(|p| p.name == "stw_end").unwrap();
        cat[end].args.clear();
        cat.insert(
            0,
            ProbeSchema {
                name: "from_the_future".into(),
                args: vec![],
            },
        );
        let map = CatalogMap::new(&cat);
        assert!(!map.identity());
        let file_begin = (begin + 1) as u16;
        // File order: stopwait, nprocs, reason, id.
        let (probe, args) = map.map(file_begin, &[3, 4, 1, 9]).unwrap();
        assert_eq!(probe, probe_index("stw_begin").unwrap());
        assert_eq!(&args[..4], &[9, 1, 4, 3]);
        let (probe, args) = map.map((end + 1) as u16, &[]).unwrap();
        assert_eq!((probe, args[0]), (probe_index("stw_end").unwrap(), 0));
        assert!(map.map(0, &[]).is_none(), "an unknown probe");
        assert!(CatalogMap::new(&Header::current_catalog().0).identity());
    }

    #[test]
    fn the_clock_base_maps_to_wall_time() {
        let c = ClockBase {
            monotonic_ns: 5_000,
            realtime_ns: 1_000_000,
        };
        assert_eq!(c.wall_ns(6_000), 1_001_000);
        assert_eq!(c.wall_ns(4_000), 999_000);
        let now = ClockBase::now();
        assert!(now.monotonic_ns > 0 && now.realtime_ns > 1_600_000_000_000_000_000);
    }
}
