//! goro's BPF programs, written in C (`bpf/`), compiled by clang at build time and embedded
//! here for the loader in `trace-cli`.
//!
//! One generic USDT handler serves every probe site: the loader attaches it as a uprobe at
//! each site with the site's index as the attach cookie, and writes that site's argument specs
//! (read from its SDT note) into the `SPECS` array at the same index. The handler decodes the
//! arguments from `pt_regs` and writes one [`RawEvent`] per hit into the `EVENTS` ring buffer;
//! per-CPU counters ([`Counter`]) account for every hit that did not become an event.
//!
//! The types below mirror `bpf/goro_usdt.h` field for field; the C header and the tests here
//! assert the same sizes and offsets.

#![no_std]

/// The compiled BPF object (ELF), aligned for the ELF parser.
pub static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/goro_usdt.bpf.o"));

/// The handler that decodes and records every hit.
pub const PROGRAM: &str = "goro_usdt";
/// A handler that returns at once: the cost floor of a uprobe, for the benchmark.
pub const PROGRAM_FLOOR: &str = "goro_usdt_floor";
/// The ring buffer of [`RawEvent`]s.
pub const MAP_EVENTS: &str = "EVENTS";
/// The array of [`SiteSpec`]s, indexed by attach cookie.
pub const MAP_SPECS: &str = "SPECS";
/// The per-CPU `u64` counters, indexed by [`Counter`].
pub const MAP_COUNTERS: &str = "COUNTERS";
/// The global (`const volatile`) holding the adaptive wake-up threshold, in bytes.
pub const GLOBAL_WAKE_BYTES: &str = "WAKE_BYTES";

/// The most arguments a probe site may have (`GORO_MAX_ARGS`).
pub const MAX_ARGS: usize = 12;

/// Where an argument is: `enum goro_arg_loc`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgLoc {
    None = 0,
    Const = 1,
    Reg = 2,
    Mem = 3,
}

/// `struct goro_arg_spec`: one decoded SDT argument spec.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgSpec {
    /// The constant, or the displacement of a memory operand.
    pub val: i64,
    /// `offsetof(struct pt_regs, reg)` of the full register.
    pub reg_off: u16,
    /// An [`ArgLoc`] as `u8`.
    pub loc: u8,
    /// 1, 2, 4 or 8.
    pub size: u8,
    pub is_signed: u8,
    /// Bit offset inside the register (8 for `%ah`..`%dh`).
    pub shift: u8,
    pub _pad: [u8; 2],
}

/// `struct goro_site_spec`: everything the handler needs about one probe site.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SiteSpec {
    /// Index of the probe in the catalog (`goro_probes::CATALOG`).
    pub probe: u16,
    pub nargs: u8,
    pub _pad: [u8; 5],
    pub args: [ArgSpec; MAX_ARGS],
}

// SAFETY: `ArgSpec` and `SiteSpec` are `repr(C)`, made only of integers and arrays of them, with
// explicit padding fields, so every bit pattern is valid and there are no implicit padding
// bytes (the size assertions below prove it).
unsafe impl aya::Pod for SiteSpec {}

/// `GORO_EVENT_READ_ERROR`: some argument could not be read; its value is 0.
pub const EVENT_READ_ERROR: u8 = 1;

/// `struct goro_event`: one probe hit as it comes out of the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// The process id (the kernel's tgid).
    pub tgid: u32,
    /// The thread id.
    pub tid: u32,
    pub cpu: u32,
    /// Catalog index of the probe.
    pub probe: u16,
    pub nargs: u8,
    /// `EVENT_*` bits.
    pub flags: u8,
    /// Each truncated to its spec's size, then sign- or zero-extended.
    pub args: [u64; MAX_ARGS],
}

impl RawEvent {
    /// Reads one ring-buffer record. `None` if it is not exactly one event long (a loader
    /// and an object that disagree; never expected).
    pub fn from_bytes(bytes: &[u8]) -> Option<RawEvent> {
        if bytes.len() != size_of::<RawEvent>() {
            return None;
        }
        // SAFETY: the length is checked just above; every bit pattern is a valid `RawEvent`
        // (integers only); `read_unaligned` makes no alignment assumption about the record.
        Some(unsafe { bytes.as_ptr().cast::<RawEvent>().read_unaligned() })
    }
}

/// The per-CPU counters: `enum goro_counter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Handler runs.
    Hits = 0,
    /// Events lost because the ring buffer was full.
    Drops = 1,
    /// Hits of a site with no spec (a cookie the loader did not fill): lost.
    SpecMiss = 2,
    /// Events recorded with an argument that could not be read.
    ReadError = 3,
}

/// `GORO_NCOUNTERS`.
pub const NCOUNTERS: u32 = 4;

const _: () = {
    use core::mem::offset_of;
    assert!(size_of::<ArgSpec>() == 16);
    assert!(offset_of!(ArgSpec, reg_off) == 8);
    assert!(offset_of!(ArgSpec, loc) == 10);
    assert!(offset_of!(ArgSpec, size) == 11);
    assert!(offset_of!(ArgSpec, is_signed) == 12);
    assert!(offset_of!(ArgSpec, shift) == 13);
    assert!(size_of::<SiteSpec>() == 8 + 16 * MAX_ARGS);
    assert!(offset_of!(SiteSpec, nargs) == 2);
    assert!(offset_of!(SiteSpec, args) == 8);
    assert!(size_of::<RawEvent>() == 24 + 8 * MAX_ARGS);
    assert!(offset_of!(RawEvent, tgid) == 8);
    assert!(offset_of!(RawEvent, tid) == 12);
    assert!(offset_of!(RawEvent, cpu) == 16);
    assert!(offset_of!(RawEvent, probe) == 20);
    assert!(offset_of!(RawEvent, nargs) == 22);
    assert!(offset_of!(RawEvent, flags) == 23);
    assert!(offset_of!(RawEvent, args) == 24);
};
