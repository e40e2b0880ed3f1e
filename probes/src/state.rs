//! The state table: the scheduler's state where a tool can read it from outside the process —
//! from `/proc/PID/mem` or a core file — when the process is already hung and emits no probe
//! events. This module is its layout, the one definition both sides use: the runtime writes a
//! [`StateTable`] (one exported static, `GORO_STATE`), and tools decode its bytes with
//! [`decode`] without linking the runtime.
//!
//! # Layout (version [`STATE_VERSION`])
//!
//! One `#[repr(C)]` static of [`STATE_TABLE_SIZE`] bytes, all zero until the first runtime of the
//! process starts (so it lives in `.bss` and costs nothing on disk): a [`Header`], then
//! [`MAX_PS`] [`PRow`]s indexed by P id, then [`MAX_MS`] [`MRow`]s. All fields are in the
//! target's byte order and are native-width atomics, written with plain atomic stores.
//!
//! * `MAX_PS` is goro's `MAX_PROCS` (1024): every P has its row. Only the first
//!   [`Header::ps_len`] rows were ever used by the current runtime.
//! * `MAX_MS` is a fixed number of slots, not M ids: a new M takes a free slot (never used, or
//!   one whose M exited), so a process that creates and ends threads all the time (locked
//!   goroutines that exit) keeps every live M. Only the first [`Header::ms_len`] slots were
//!   used. An M that finds no free slot (more than `MAX_MS` Ms alive) is counted in
//!   [`Header::ms_dropped`] and a reader says so.
//!
//! # Which runtime
//!
//! A process may run several runtimes, one after another or side by side. The table
//! describes the one started last: [`Header::runtime`] counts the runtimes started, and
//! starting one clears the rows. Each row records which object owns it (`owner`, the address
//! of the runtime's P or M), and a runtime's writes check it, so the Ps and Ms of an earlier
//! runtime that are still winding down do not write into the new one's rows.
//!
//! # Consistency
//!
//! Readers never take a lock, and writers only a per-row claim held for a few stores. A
//! reader copies the table while the process runs, so it must detect a copy taken in the
//! middle of an update and retry:
//!
//! * a P row is versioned by the P's own change number (`seq`, the `p_status` probe's): the
//!   writer stores `begin = seq`, then the fields, then `end = seq`; `status_seq` holds the
//!   latest change as `seq << 8 | status` and only grows. The row is consistent
//!   when `begin == end == status_seq >> 8`. `end` comes first in memory and `begin` last, so
//!   a front-to-back copy that sees both equal saw no write in between.
//! * two threads can change one P back to back (a returning M and sysmon on a `_Psyscall`
//!   P: each gets its change number from the status CAS, in order) and their row writes
//!   could overlap: one writer's `begin`, the other's whole write, then the first one's
//!   fields — a copy would pass the check with fields of both. So a writer first *claims*
//!   the row ([`PRow::claim`]: 0 → its change number, by CAS), and only the claim holder
//!   writes `begin`, the fields, `status_seq` and `end`. The claim is held for a handful of
//!   stores; a second writer spins, then yields, until it is free, and then leaves the row
//!   alone if a later change is already recorded, so a quiet row always holds the latest
//!   change, consistently (a hung process's rows are readable). `tests/loom_p_row.rs`
//!   checks both properties over every interleaving of two writers and a reader.
//!   The claim also carries the row's owner check ([`PRow::record_change`]'s `owner`), so
//!   a P of an earlier runtime that passed its check before a new runtime took the row
//!   cannot write into it afterwards; [`PRow::reset`] hands a row over under the claim.
//!   Readers never take the claim.
//! * the scheduler-wide fields (stop-the-world, template thread) have one sequence counter,
//!   [`Header::seq`], odd while written. Their writers are serialised by the runtime (the
//!   stopper holds `worldsema`; the template flag is set once), so plain stores suffice.
//!   A global counter is not used for P rows: every P's status change would then bump one
//!   shared word, a cache line all Ps fight over.
//! * M rows are single-word fields, each meaningful alone.
//!
//! A reader that wants a copy that cannot tear stops the process first (`trace-cli inspect
//! --freeze`); a hung process changes nothing anyway.
//!
//! # Time
//!
//! Every time is `CLOCK_MONOTONIC` in nanoseconds ([`Header::clock`] = [`CLOCK_MONOTONIC`]),
//! read with the coarse variant (a scheduler tick's resolution, a few ms) on hot paths.
//! [`Header::heartbeat_ns`] is stored by sysmon on every round (at most 10 ms apart) and, while
//! sysmon is parked for a stop-the-world, by the stopper on every wait round (100 µs): in a
//! core file it is "now", the moment the process was stopped — to within 10 ms while the
//! process runs, and exactly enough in a hung stop-the-world, which waits in rounds forever.
//!
//! # Finding it
//!
//! By symbol name ([`STATE_SYMBOL`]), or — in a stripped binary — through the
//! [`STATE_NOTE_SECTION`] note, which survives `strip`: owner `"goro"`, type
//! [`NT_GORO_STATE`], an 8-byte descriptor holding the table's link-time address. The note is
//! not allocated, so the linker resolves that address statically (there is no dynamic
//! relocation to apply); in a position-independent executable, add the load bias.

use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64};

mod p_row;
pub use p_row::PRow;

/// The atomics the P row protocol is written with: `p_row` takes them from here, so a model
/// checker can compile it with its own.
mod atomics {
    pub(super) use std::sync::atomic::{AtomicU8, AtomicU64, Ordering, fence};
}

/// How a writer waits for the row's claim (see `p_row`); a model checker swaps them too.
mod wait {
    pub(super) use std::hint::spin_loop;
    pub(super) use std::thread::yield_now;
}

/// The first 8 bytes of a table a runtime has started, `"GOROSTAT"` in memory order.
pub const STATE_MAGIC: u64 = u64::from_le_bytes(*b"GOROSTAT");
/// Bumped on every incompatible change to the layout below.
pub const STATE_VERSION: u32 = 1;
/// P rows: goro's `MAX_PROCS`.
pub const MAX_PS: usize = 1024;
/// M slots.
pub const MAX_MS: usize = 1024;
/// [`Header::clock`]: the table's times are `CLOCK_MONOTONIC` nanoseconds (Linux's clock id 1).
pub const CLOCK_MONOTONIC: u32 = 1;

/// The exported symbol of the table.
pub const STATE_SYMBOL: &str = "GORO_STATE";
/// The note section recording the table's address; owner [`crate::catalog::VERSION_NOTE_OWNER`].
pub const STATE_NOTE_SECTION: &str = ".note.goro.state";
/// The note type of the table's address.
pub const NT_GORO_STATE: u32 = 2;

/// `Header::flags` bits.
pub mod flag {
    /// A stop-the-world is pending (`gcwaiting`).
    pub const GCWAITING: u8 = 1;
}

/// The table's header: what it is, and the scheduler-wide state. 256 bytes.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// [`STATE_MAGIC`] once a runtime has started; 0 before.
    pub magic: AtomicU64,
    /// [`STATE_VERSION`].
    pub version: AtomicU32,
    /// `size_of::<Header>()`, `size_of::<PRow>()`, `size_of::<MRow>()`, [`MAX_PS`], [`MAX_MS`]:
    /// a reader checks them against its own.
    pub header_size: AtomicU32,
    pub p_row_size: AtomicU32,
    pub m_row_size: AtomicU32,
    pub max_ps: AtomicU32,
    pub max_ms: AtomicU32,
    /// [`CLOCK_MONOTONIC`].
    pub clock: AtomicU32,
    /// Ps created by the current runtime (rows `0..ps_len` are used).
    pub ps_len: AtomicU32,
    /// The number of Ps in use (`gomaxprocs`); Ps from `procs` to `ps_len` are `_Pdead`.
    pub procs: AtomicU32,
    /// M slots used (rows `0..ms_len`).
    pub ms_len: AtomicU32,
    /// Ms that found no free slot.
    pub ms_dropped: AtomicU32,
    /// Odd while the scheduler-wide fields below are being written.
    pub seq: AtomicU64,
    /// Runtimes started in this process; the table describes the latest.
    pub runtime: AtomicU64,
    /// The address of the runtime that owns the table (its scheduler).
    pub owner: AtomicU64,
    /// When the runtime started, and the latest heartbeat (sysmon's round, or the stopper's
    /// wait round during a stop-the-world).
    pub start_ns: AtomicU64,
    pub heartbeat_ns: AtomicU64,
    /// The stop-the-world in progress: id (0 = none), reason code (`stw_reason`), start.
    pub stw_id: AtomicU64,
    pub stw_start_ns: AtomicU64,
    /// Ps the stop-the-world still waits for (Go's `sched.stopwait`).
    pub stopwait: AtomicI32,
    pub stw_reason: AtomicU8,
    /// [`flag`] bits.
    pub flags: AtomicU8,
    /// `have_template_thread`.
    pub template_flag: AtomicU8,
    /// The template thread is running.
    pub template_running: AtomicU8,
    /// The M that set the template flag, and the template thread's M and thread.
    pub template_flag_by: AtomicU64,
    pub template_m: AtomicU64,
    pub template_tid: AtomicU32,
    /// Ms queued on the new-M hand-off list.
    pub handoff_len: AtomicU32,
    pub _reserved: [AtomicU64; 14],
}

/// One M slot. 64 bytes, aligned to a cache line (Ms park and wake on their own threads).
/// Boolean fields are bytes, 0 or 1.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct MRow {
    /// The M's id; 0 = a free slot.
    pub id: AtomicU64,
    /// The goroutine wired to it by LockOSThread (0 = none).
    pub locked_g: AtomicU64,
    /// Which object owns the slot (the runtime's M), so an earlier runtime's M does not
    /// write into it.
    pub owner: AtomicU64,
    /// Its thread (0 until it starts).
    pub tid: AtomicU32,
    /// The P it will start with / was handed (`P_NONE` = none).
    pub next_p: AtomicU32,
    pub started: AtomicU8,
    /// Asleep: on the idle M list, or a locked M waiting for its goroutine.
    pub parked: AtomicU8,
    pub exited: AtomicU8,
    /// Created from a locked thread and queued for the template thread.
    pub queued: AtomicU8,
    pub is_template: AtomicU8,
    /// M0: the thread that called `block_on`.
    pub is_m0: AtomicU8,
    pub _pad: [u8; 2],
    pub _reserved: [u64; 3],
}

/// The whole table.
#[repr(C)]
#[derive(Debug)]
pub struct StateTable {
    pub header: Header,
    pub ps: [PRow; MAX_PS],
    pub ms: [MRow; MAX_MS],
}

/// Offsets of the three parts, and the total size.
pub const HEADER_SIZE: usize = size_of::<Header>();
pub const P_ROW_SIZE: usize = size_of::<PRow>();
pub const M_ROW_SIZE: usize = size_of::<MRow>();
pub const PS_OFFSET: usize = offset_of!(StateTable, ps);
pub const MS_OFFSET: usize = offset_of!(StateTable, ms);
pub const STATE_TABLE_SIZE: usize = size_of::<StateTable>();

impl StateTable {
    /// All zero: what the static starts as (in `.bss`).
    pub const fn new() -> StateTable {
        // SAFETY: every field is an atomic integer or a byte array; all-zero is a valid value
        // of each.
        unsafe { std::mem::zeroed() }
    }
}

impl Default for StateTable {
    fn default() -> Self {
        StateTable::new()
    }
}

/// The P status byte and change number packed in [`PRow::status_seq`].
pub const fn pack_status(seq: u64, status: u8) -> u64 {
    seq << 8 | status as u64
}

/// The note's bytes as the assembler emits them: namesz, descsz, type, "goro\0" padded to 8,
/// then the 8-byte address. A reader checks owner, type and size.
pub const STATE_NOTE_DESC_SIZE: usize = 8;

// ---------------------------------------------------------------------------------------
// Reading: plain values decoded from bytes copied out of a process or a core file.

/// The header, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderView {
    pub magic: u64,
    pub version: u32,
    pub header_size: u32,
    pub p_row_size: u32,
    pub m_row_size: u32,
    pub max_ps: u32,
    pub max_ms: u32,
    pub clock: u32,
    pub ps_len: u32,
    pub procs: u32,
    pub ms_len: u32,
    pub ms_dropped: u32,
    pub seq: u64,
    pub runtime: u64,
    pub start_ns: u64,
    pub heartbeat_ns: u64,
    pub stw_id: u64,
    pub stw_start_ns: u64,
    pub stopwait: i32,
    pub stw_reason: u8,
    pub gcwaiting: bool,
    pub template_flag: bool,
    pub template_running: bool,
    pub template_flag_by: u64,
    pub template_m: u64,
    pub template_tid: u32,
    pub handoff_len: u32,
}

/// One P row, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PRowView {
    pub id: u32,
    pub begin: u64,
    pub end: u64,
    /// The status code (`pstatus` table) and change number.
    pub status: u8,
    pub seq: u64,
    pub since_ns: u64,
    pub last_m: u64,
    pub last_reason: u8,
    pub owner_m: u64,
    pub handed_to: u64,
    pub on_idle_list: bool,
}

impl PRowView {
    /// The row was not being written while copied, and its fields are the latest change's.
    pub fn consistent(&self) -> bool {
        self.begin == self.end && self.end == self.seq
    }
}

/// One M slot, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MRowView {
    pub id: u64,
    pub locked_g: u64,
    pub tid: u32,
    pub next_p: u32,
    pub started: bool,
    pub parked: bool,
    pub exited: bool,
    pub queued: bool,
    pub is_template: bool,
    pub is_m0: bool,
}

/// The whole table, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableView {
    pub header: HeaderView,
    /// Rows `0..ps_len`.
    pub ps: Vec<PRowView>,
    /// Used slots of `0..ms_len` (free slots left out).
    pub ms: Vec<MRowView>,
}

/// Why bytes are not a table this reader understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Magic 0: no goro runtime has started in the process yet.
    NotStarted,
    /// Neither 0 nor [`STATE_MAGIC`]: the address is not a goro state table.
    BadMagic(u64),
    /// A layout version this reader does not know.
    Version(u32),
    /// The version is known but a size or limit disagrees (a corrupt table).
    Layout(&'static str, u64, u64),
    /// Fewer bytes than the header says the table has.
    Short { need: usize, have: usize },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NotStarted => write!(f, "no goro runtime has started yet (table empty)"),
            DecodeError::BadMagic(m) => write!(f, "not a goro state table (magic {m:#018x})"),
            DecodeError::Version(v) if *v > STATE_VERSION => write!(
                f,
                "state table version {v} is newer than this tool understands (version \
                 {STATE_VERSION}): use a newer trace-cli"
            ),
            DecodeError::Version(v) => write!(
                f,
                "state table version {v} is not the version this tool reads ({STATE_VERSION})"
            ),
            DecodeError::Layout(what, got, want) => {
                write!(f, "corrupt state table: {what} is {got}, expected {want}")
            }
            DecodeError::Short { need, have } => {
                write!(f, "state table truncated: {have} of {need} bytes")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}
fn i32_at(b: &[u8], off: usize) -> i32 {
    i32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

macro_rules! field {
    ($b:expr, $base:expr, $ty:ident . $f:ident, u64) => {
        u64_at($b, $base + offset_of!($ty, $f))
    };
    ($b:expr, $base:expr, $ty:ident . $f:ident, u32) => {
        u32_at($b, $base + offset_of!($ty, $f))
    };
    ($b:expr, $base:expr, $ty:ident . $f:ident, i32) => {
        i32_at($b, $base + offset_of!($ty, $f))
    };
    ($b:expr, $base:expr, $ty:ident . $f:ident, u8) => {
        $b[$base + offset_of!($ty, $f)]
    };
    ($b:expr, $base:expr, $ty:ident . $f:ident, bool) => {
        $b[$base + offset_of!($ty, $f)] != 0
    };
}

/// Decodes and checks a header (the first [`HEADER_SIZE`] bytes of the table).
pub fn decode_header(b: &[u8]) -> Result<HeaderView, DecodeError> {
    if b.len() < HEADER_SIZE {
        return Err(DecodeError::Short {
            need: HEADER_SIZE,
            have: b.len(),
        });
    }
    let h = HeaderView {
        magic: field!(b, 0, Header.magic, u64),
        version: field!(b, 0, Header.version, u32),
        header_size: field!(b, 0, Header.header_size, u32),
        p_row_size: field!(b, 0, Header.p_row_size, u32),
        m_row_size: field!(b, 0, Header.m_row_size, u32),
        max_ps: field!(b, 0, Header.max_ps, u32),
        max_ms: field!(b, 0, Header.max_ms, u32),
        clock: field!(b, 0, Header.clock, u32),
        ps_len: field!(b, 0, Header.ps_len, u32),
        procs: field!(b, 0, Header.procs, u32),
        ms_len: field!(b, 0, Header.ms_len, u32),
        ms_dropped: field!(b, 0, Header.ms_dropped, u32),
        seq: field!(b, 0, Header.seq, u64),
        runtime: field!(b, 0, Header.runtime, u64),
        start_ns: field!(b, 0, Header.start_ns, u64),
        heartbeat_ns: field!(b, 0, Header.heartbeat_ns, u64),
        stw_id: field!(b, 0, Header.stw_id, u64),
        stw_start_ns: field!(b, 0, Header.stw_start_ns, u64),
        stopwait: field!(b, 0, Header.stopwait, i32),
        stw_reason: field!(b, 0, Header.stw_reason, u8),
        gcwaiting: field!(b, 0, Header.flags, u8) & flag::GCWAITING != 0,
        template_flag: field!(b, 0, Header.template_flag, bool),
        template_running: field!(b, 0, Header.template_running, bool),
        template_flag_by: field!(b, 0, Header.template_flag_by, u64),
        template_m: field!(b, 0, Header.template_m, u64),
        template_tid: field!(b, 0, Header.template_tid, u32),
        handoff_len: field!(b, 0, Header.handoff_len, u32),
    };
    if h.magic == 0 {
        return Err(DecodeError::NotStarted);
    }
    if h.magic != STATE_MAGIC {
        return Err(DecodeError::BadMagic(h.magic));
    }
    if h.version != STATE_VERSION {
        return Err(DecodeError::Version(h.version));
    }
    let checks: [(&'static str, u64, u64); 7] = [
        ("header size", h.header_size.into(), HEADER_SIZE as u64),
        ("P row size", h.p_row_size.into(), P_ROW_SIZE as u64),
        ("M row size", h.m_row_size.into(), M_ROW_SIZE as u64),
        ("P row count", h.max_ps.into(), MAX_PS as u64),
        ("M slot count", h.max_ms.into(), MAX_MS as u64),
        ("clock", h.clock.into(), CLOCK_MONOTONIC.into()),
        (
            "Ps used",
            u64::from(h.ps_len.min(MAX_PS as u32)),
            h.ps_len.into(),
        ),
    ];
    for (what, got, want) in checks {
        if got != want {
            return Err(DecodeError::Layout(what, got, want));
        }
    }
    if h.ms_len as usize > MAX_MS {
        return Err(DecodeError::Layout(
            "M slots used",
            h.ms_len.into(),
            MAX_MS as u64,
        ));
    }
    Ok(h)
}

/// How many bytes from the table's start a reader needs for `h`'s rows.
pub fn bytes_needed(h: &HeaderView) -> usize {
    if h.ms_len > 0 {
        MS_OFFSET + h.ms_len as usize * M_ROW_SIZE
    } else {
        PS_OFFSET + h.ps_len as usize * P_ROW_SIZE
    }
}

/// Decodes the table from a copy of its first [`bytes_needed`] bytes (or more).
pub fn decode(b: &[u8]) -> Result<TableView, DecodeError> {
    let header = decode_header(b)?;
    let need = bytes_needed(&header);
    if b.len() < need {
        return Err(DecodeError::Short {
            need,
            have: b.len(),
        });
    }
    let ps = (0..header.ps_len as usize)
        .map(|i| {
            let base = PS_OFFSET + i * P_ROW_SIZE;
            let ss = field!(b, base, PRow.status_seq, u64);
            PRowView {
                id: i as u32,
                begin: field!(b, base, PRow.begin, u64),
                end: field!(b, base, PRow.end, u64),
                status: (ss & 0xff) as u8,
                seq: ss >> 8,
                since_ns: field!(b, base, PRow.since_ns, u64),
                last_m: field!(b, base, PRow.last_m, u64),
                last_reason: field!(b, base, PRow.last_reason, u8),
                owner_m: field!(b, base, PRow.owner_m, u64),
                handed_to: field!(b, base, PRow.handed_to, u64),
                on_idle_list: field!(b, base, PRow.on_idle_list, bool),
            }
        })
        .collect();
    let ms = (0..header.ms_len as usize)
        .map(|i| {
            let base = MS_OFFSET + i * M_ROW_SIZE;
            MRowView {
                id: field!(b, base, MRow.id, u64),
                locked_g: field!(b, base, MRow.locked_g, u64),
                tid: field!(b, base, MRow.tid, u32),
                next_p: field!(b, base, MRow.next_p, u32),
                started: field!(b, base, MRow.started, bool),
                parked: field!(b, base, MRow.parked, bool),
                exited: field!(b, base, MRow.exited, bool),
                queued: field!(b, base, MRow.queued, bool),
                is_template: field!(b, base, MRow.is_template, bool),
                is_m0: field!(b, base, MRow.is_m0, bool),
            }
        })
        .filter(|m| m.id != 0)
        .collect();
    Ok(TableView { header, ps, ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PStatus, Reason};

    /// The layout is a contract with binaries already built: these numbers change only with
    /// [`STATE_VERSION`].
    #[test]
    fn layout_is_pinned() {
        assert_eq!(HEADER_SIZE, 256);
        assert_eq!(P_ROW_SIZE, 128);
        assert_eq!(M_ROW_SIZE, 64);
        assert_eq!(PS_OFFSET, 256);
        assert_eq!(MS_OFFSET, 256 + 128 * 1024);
        assert_eq!(STATE_TABLE_SIZE, 256 + 128 * 1024 + 64 * 1024);
        let h: [(usize, usize); 30] = [
            (offset_of!(Header, magic), 0),
            (offset_of!(Header, version), 8),
            (offset_of!(Header, header_size), 12),
            (offset_of!(Header, p_row_size), 16),
            (offset_of!(Header, m_row_size), 20),
            (offset_of!(Header, max_ps), 24),
            (offset_of!(Header, max_ms), 28),
            (offset_of!(Header, clock), 32),
            (offset_of!(Header, ps_len), 36),
            (offset_of!(Header, procs), 40),
            (offset_of!(Header, ms_len), 44),
            (offset_of!(Header, ms_dropped), 48),
            (offset_of!(Header, seq), 56),
            (offset_of!(Header, runtime), 64),
            (offset_of!(Header, owner), 72),
            (offset_of!(Header, start_ns), 80),
            (offset_of!(Header, heartbeat_ns), 88),
            (offset_of!(Header, stw_id), 96),
            (offset_of!(Header, stw_start_ns), 104),
            (offset_of!(Header, stopwait), 112),
            (offset_of!(Header, stw_reason), 116),
            (offset_of!(Header, flags), 117),
            (offset_of!(Header, template_flag), 118),
            (offset_of!(Header, template_running), 119),
            (offset_of!(Header, template_flag_by), 120),
            (offset_of!(Header, template_m), 128),
            (offset_of!(Header, template_tid), 136),
            (offset_of!(Header, handoff_len), 140),
            (offset_of!(Header, _reserved), 144),
            (size_of::<Header>(), 256),
        ];
        for (i, (got, want)) in h.iter().enumerate() {
            assert_eq!(got, want, "header field #{i}");
        }
        let p: [(usize, usize); 12] = [
            (offset_of!(PRow, end), 0),
            (offset_of!(PRow, status_seq), 8),
            (offset_of!(PRow, since_ns), 16),
            (offset_of!(PRow, last_m), 24),
            (offset_of!(PRow, owner_m), 32),
            (offset_of!(PRow, handed_to), 40),
            (offset_of!(PRow, owner), 48),
            (offset_of!(PRow, last_reason), 56),
            (offset_of!(PRow, on_idle_list), 57),
            (offset_of!(PRow, begin), 64),
            (offset_of!(PRow, claim), 72),
            (size_of::<PRow>(), 128),
        ];
        for (i, (got, want)) in p.iter().enumerate() {
            assert_eq!(got, want, "P row field #{i}");
        }
        let m: [(usize, usize); 12] = [
            (offset_of!(MRow, id), 0),
            (offset_of!(MRow, locked_g), 8),
            (offset_of!(MRow, owner), 16),
            (offset_of!(MRow, tid), 24),
            (offset_of!(MRow, next_p), 28),
            (offset_of!(MRow, started), 32),
            (offset_of!(MRow, parked), 33),
            (offset_of!(MRow, exited), 34),
            (offset_of!(MRow, queued), 35),
            (offset_of!(MRow, is_template), 36),
            (offset_of!(MRow, is_m0), 37),
            (size_of::<MRow>(), 64),
        ];
        for (i, (got, want)) in m.iter().enumerate() {
            assert_eq!(got, want, "M row field #{i}");
        }
    }

    fn bytes_of(t: &StateTable) -> Vec<u8> {
        // SAFETY: StateTable is repr(C) plain integers; reading its bytes is what a tool does
        // from outside the process.
        unsafe { std::slice::from_raw_parts(t as *const StateTable as *const u8, STATE_TABLE_SIZE) }
            .to_vec()
    }

    fn started() -> Box<StateTable> {
        use std::sync::atomic::Ordering::Relaxed;
        let t = Box::new(StateTable::new());
        let h = &t.header;
        h.magic.store(STATE_MAGIC, Relaxed);
        h.version.store(STATE_VERSION, Relaxed);
        h.header_size.store(HEADER_SIZE as u32, Relaxed);
        h.p_row_size.store(P_ROW_SIZE as u32, Relaxed);
        h.m_row_size.store(M_ROW_SIZE as u32, Relaxed);
        h.max_ps.store(MAX_PS as u32, Relaxed);
        h.max_ms.store(MAX_MS as u32, Relaxed);
        h.clock.store(CLOCK_MONOTONIC, Relaxed);
        t
    }

    /// The row protocol under contention: two writers record interleaved changes of one P (as
    /// a returning M and sysmon race on a `_Psyscall` P: each change number is taken by one
    /// of them, in order, as the status CAS hands them out, and their row writes overlap)
    /// while a reader copies the row over and over. Every copy the reader accepts holds the
    /// fields of exactly one change, and the row ends at the last change's.
    ///
    /// Without the writer claim this fails within a few thousand changes: a copy passes the
    /// check with one change's `since_ns` and the other's `last_m`.
    #[test]
    fn a_consistent_copy_of_a_p_row_is_never_a_mix_of_two_changes() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        const CHANGES: u64 = 200_000;
        const OWNER: u64 = 0x1000;
        let reasons = [Reason::Acquire, Reason::Release, Reason::SyscallEnter];
        let status_of = |seq: u64| PStatus::ALL[(seq % 5) as usize];
        let row = Arc::new(PRow::empty());
        row.reset(OWNER);
        let next = Arc::new(AtomicU64::new(1));
        let done = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let (row, next, go) = (row.clone(), next.clone(), go.clone());
                std::thread::spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    loop {
                        let seq = next.fetch_add(1, Ordering::AcqRel);
                        if seq > CHANGES {
                            break;
                        }
                        row.record_change(
                            OWNER,
                            seq,
                            status_of(seq),
                            seq * 3,
                            seq * 7,
                            reasons[(seq % 3) as usize],
                        );
                    }
                })
            })
            .collect();
        // The reader runs before any writer starts, so it reads while they write whatever the
        // scheduler does with three threads on few cores.
        let started = Arc::new(AtomicBool::new(false));
        let reader = {
            let (row, done, started) = (row.clone(), done.clone(), started.clone());
            std::thread::spawn(move || {
                let (mut good, mut torn) = (0u64, 0u64);
                started.store(true, Ordering::Release);
                while !done.load(Ordering::Acquire) {
                    match row.read(1) {
                        Some(v) if v.seq == 0 => {}
                        Some(v) => {
                            good += 1;
                            assert_eq!(v.since_ns, v.seq * 3, "{v:?}");
                            assert_eq!(v.last_m, v.seq * 7, "{v:?}");
                            assert_eq!(v.status, status_of(v.seq) as u8, "{v:?}");
                            assert_eq!(v.last_reason, u8::from(reasons[(v.seq % 3) as usize]));
                        }
                        None => torn += 1,
                    }
                }
                (good, torn)
            })
        };
        while !started.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        go.store(true, Ordering::Release);
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        let (good, torn) = reader.join().unwrap();
        // How many copies were consistent depends on the scheduler; that none was mixed is the
        // point, and a quiet row must read consistently, so the test is never vacuous.
        eprintln!("{good} consistent copies, {torn} torn, while the writers ran");
        let v = row.read(1).expect("a row nobody writes reads consistently");
        // The latest change wins even when its writer finished first.
        assert_eq!(
            (v.seq, v.since_ns, v.last_m, v.status),
            (CHANGES, CHANGES * 3, CHANGES * 7, status_of(CHANGES) as u8)
        );
        assert_eq!(row.claim.load(Ordering::Relaxed), 0, "the claim is free");
    }

    /// A row handed to a new owner is empty, and a writer for the old owner cannot write
    /// into it any more.
    #[test]
    fn a_reset_row_refuses_its_previous_owner() {
        let row = &PRow::empty();
        row.reset(1);
        row.record_change(1, 5, PStatus::Idle, 10, 3, Reason::Release);
        assert_eq!(row.read(1).map(|v| v.seq), Some(5));
        row.reset(2);
        row.record_change(1, 6, PStatus::Running, 11, 4, Reason::Acquire);
        let v = row.read(1).unwrap();
        assert_eq!((v.seq, v.since_ns, v.last_m), (0, 0, 0));
        row.record_change(2, 1, PStatus::Idle, 12, 5, Reason::Release);
        let v = row.read(1).unwrap();
        assert_eq!((v.seq, v.since_ns, v.last_m), (1, 12, 5));
    }

    #[test]
    fn decodes_what_was_stored_and_refuses_what_it_does_not_know() {
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(
            decode(&bytes_of(&StateTable::new())),
            Err(DecodeError::NotStarted)
        );
        let t = started();
        t.header.ps_len.store(2, Relaxed);
        t.header.procs.store(2, Relaxed);
        t.header.ms_len.store(2, Relaxed);
        t.header.stw_id.store(7, Relaxed);
        t.header.flags.store(flag::GCWAITING, Relaxed);
        let p = &t.ps[1];
        p.begin.store(4, Relaxed);
        p.status_seq.store(pack_status(4, 0), Relaxed);
        p.handed_to.store(5, Relaxed);
        p.end.store(4, Relaxed);
        t.ms[1].id.store(5, Relaxed);
        t.ms[1].queued.store(1, Relaxed);
        t.ms[1].next_p.store(1, Relaxed);
        let v = decode(&bytes_of(&t)).unwrap();
        assert_eq!((v.header.stw_id, v.header.gcwaiting), (7, true));
        assert_eq!(v.ps.len(), 2);
        assert!(v.ps[1].consistent() && v.ps[1].handed_to == 5 && v.ps[1].seq == 4);
        // Slot 0 is free: left out.
        assert_eq!(v.ms.len(), 1);
        assert!(v.ms[0].queued && v.ms[0].next_p == 1);
        // A row written half-way is not consistent.
        p.begin.store(5, Relaxed);
        assert!(!decode(&bytes_of(&t)).unwrap().ps[1].consistent());
        // Truncated, a future version, another magic.
        let b = bytes_of(&t);
        assert!(matches!(
            decode(&b[..PS_OFFSET + 10]),
            Err(DecodeError::Short { .. })
        ));
        t.header.version.store(STATE_VERSION + 1, Relaxed);
        let e = decode(&bytes_of(&t)).unwrap_err();
        assert_eq!(e, DecodeError::Version(STATE_VERSION + 1));
        assert!(e.to_string().contains("newer"), "{e}");
        t.header.version.store(STATE_VERSION, Relaxed);
        t.header.magic.store(0x1234, Relaxed);
        assert_eq!(decode(&bytes_of(&t)), Err(DecodeError::BadMagic(0x1234)));
        // A corrupt count cannot make the reader index past the rows.
        t.header.magic.store(STATE_MAGIC, Relaxed);
        t.header.ps_len.store(MAX_PS as u32 + 1, Relaxed);
        assert!(matches!(
            decode(&bytes_of(&t)),
            Err(DecodeError::Layout(..))
        ));
    }
}
