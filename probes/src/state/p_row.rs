//! One P's row of the state table and its write protocol: the writer claim, the
//! `begin`/`end` versioning and the reader's retry (see the parent module's Consistency).
//!
//! The atomics and the waits come from the parent (`super::atomics`, `super::wait`) so that
//! `tests/loom_p_row.rs` can compile this file as-is with loom's and check every
//! interleaving of two writers and a reader.

use super::atomics::{AtomicU8, AtomicU64, Ordering, fence};
use super::wait::{spin_loop, yield_now};
use super::{PRowView, pack_status};
use crate::{PStatus, Reason};

/// One P, at index P id. 128 bytes, aligned to a cache line: Ps are changed by different
/// threads, and rows sharing a line would make them contend.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct PRow {
    /// The change number whose write completed last (see the module's Consistency).
    pub end: AtomicU64,
    /// `seq << 8 | status` of the latest change; only grows.
    pub status_seq: AtomicU64,
    /// When the status last changed.
    pub since_ns: AtomicU64,
    /// Who changed it last (M id, 0 = none: sysmon) and why (`reason` code).
    pub last_m: AtomicU64,
    /// The M holding it: for `_Prunning` and `_Psyscall` (the M in the call), else 0.
    pub owner_m: AtomicU64,
    /// The M it was handed to (that M's next P), not yet taken; 0 = none.
    pub handed_to: AtomicU64,
    /// Which object owns the row (the address of the current runtime's P), so an earlier
    /// runtime's P does not write into it.
    pub owner: AtomicU64,
    pub last_reason: AtomicU8,
    pub on_idle_list: AtomicU8,
    pub _pad: [u8; 6],
    /// The change number whose write began last.
    pub begin: AtomicU64,
    /// The writer claim (see the module's Consistency): 0 = free, else the change number of
    /// the writer holding it. Writers only; a reader ignores it.
    pub claim: AtomicU64,
    pub _reserved: [u64; 6],
}

impl PRow {
    /// An empty row owned by nobody, on its own. (The table's rows start zeroed in place.)
    pub fn empty() -> PRow {
        PRow {
            end: AtomicU64::new(0),
            status_seq: AtomicU64::new(0),
            since_ns: AtomicU64::new(0),
            last_m: AtomicU64::new(0),
            owner_m: AtomicU64::new(0),
            handed_to: AtomicU64::new(0),
            owner: AtomicU64::new(0),
            last_reason: AtomicU8::new(0),
            on_idle_list: AtomicU8::new(0),
            _pad: [0; 6],
            begin: AtomicU64::new(0),
            claim: AtomicU64::new(0),
            _reserved: [0; 6],
        }
    }

    /// Takes the writer claim as `tag` (non-zero). Spins briefly, then yields: the holder
    /// keeps it for a few stores, unless the OS preempted it in between.
    #[inline]
    fn lock(&self, tag: u64) {
        let mut spins = 0u32;
        while self
            .claim
            .compare_exchange_weak(0, tag, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 64 {
                spin_loop();
            } else {
                yield_now();
            }
        }
    }

    #[inline]
    fn unlock(&self) {
        self.claim.store(0, Ordering::Release);
    }

    /// Records change `seq` of the P owned by `owner` (the writer's half of the module's
    /// Consistency rules): its new status, since when, by which M and why. The M holding a
    /// `_Prunning` or `_Psyscall` P is `m`; a P going `_Prunning` has been taken by whoever
    /// it was handed to. A writer that finds a later change already recorded, or the row
    /// owned by another P, leaves the row alone.
    #[inline]
    pub fn record_change(
        &self,
        owner: u64,
        seq: u64,
        to: PStatus,
        since_ns: u64,
        m: u64,
        reason: Reason,
    ) {
        if seq == 0 {
            // Change numbers start at 1; 0 would read as a free claim.
            return;
        }
        self.lock(seq);
        if self.owner.load(Ordering::Relaxed) != owner
            || self.status_seq.load(Ordering::Relaxed) >> 8 > seq
        {
            self.unlock();
            return;
        }
        self.begin.store(seq, Ordering::Relaxed);
        fence(Ordering::Release);
        self.since_ns.store(since_ns, Ordering::Relaxed);
        self.last_m.store(m, Ordering::Relaxed);
        self.last_reason.store(reason.into(), Ordering::Relaxed);
        let holder = matches!(to, PStatus::Running | PStatus::Syscall);
        self.owner_m
            .store(if holder { m } else { 0 }, Ordering::Relaxed);
        if to == PStatus::Running {
            self.handed_to.store(0, Ordering::Relaxed);
        }
        self.status_seq
            .store(pack_status(seq, to.into()), Ordering::Relaxed);
        self.end.store(seq, Ordering::Release);
        self.unlock();
    }

    /// Gives the row to a new owner (a P being created) with every field cleared, under the
    /// claim, so a writer of the row's previous owner still in `record_change` either
    /// finishes before it or finds the owner changed and writes nothing.
    pub fn reset(&self, owner: u64) {
        self.lock(u64::MAX);
        for w in [
            &self.begin,
            &self.since_ns,
            &self.last_m,
            &self.owner_m,
            &self.handed_to,
            &self.status_seq,
            &self.end,
        ] {
            w.store(0, Ordering::Relaxed);
        }
        self.last_reason.store(0, Ordering::Relaxed);
        self.on_idle_list.store(0, Ordering::Relaxed);
        self.owner.store(owner, Ordering::Relaxed);
        self.unlock();
    }

    /// Reads the row in the same process (the reader's half): up to `tries` copies, until one
    /// is consistent. `None` if none was.
    pub fn read(&self, tries: u32) -> Option<PRowView> {
        for _ in 0..tries {
            let end = self.end.load(Ordering::Acquire);
            let ss = self.status_seq.load(Ordering::Relaxed);
            let mut v = PRowView {
                id: 0,
                end,
                status: (ss & 0xff) as u8,
                seq: ss >> 8,
                since_ns: self.since_ns.load(Ordering::Relaxed),
                last_m: self.last_m.load(Ordering::Relaxed),
                last_reason: self.last_reason.load(Ordering::Relaxed),
                owner_m: self.owner_m.load(Ordering::Relaxed),
                handed_to: self.handed_to.load(Ordering::Relaxed),
                on_idle_list: self.on_idle_list.load(Ordering::Relaxed) != 0,
                begin: 0,
            };
            fence(Ordering::Acquire);
            v.begin = self.begin.load(Ordering::Relaxed);
            if v.consistent() {
                return Some(v);
            }
            spin_loop();
        }
        None
    }
}
