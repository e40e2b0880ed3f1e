//! The state table (`GORO_STATE`): the scheduler's state where a tool outside the process can
//! read it — `trace-cli inspect PID`, or the same from a core file — when the process is hung
//! and no probe fires any more. The in-process snapshot (`debug.rs`) reads it too: one source
//! of truth. Its layout, and the rules a reader relies on, are `goro_probes::state`'s.
//!
//! It is maintained at the points where the probes fire, with plain atomic stores (one
//! `fetch_max` per P status change), never a lock: a one-line call beside each probe.
//!
//! Ownership: the table describes the runtime started last (`claim`). Rows record the
//! address of the P or M that owns them, and the scheduler-wide fields the address of the
//! runtime; every write checks it, so the Ps and Ms of an earlier runtime that are still
//! winding down leave the new runtime's rows alone. (A runtime's own objects live as long as
//! it does, so an address is not reused while its owner can still write.)
//!
//! Finding it from outside: the symbol `GORO_STATE`, and — because production binaries are
//! stripped — the `.note.goro.state` note below, which records its address and survives
//! `strip`.

use std::sync::atomic::{Ordering, fence};

use goro_probes::state::{
    CLOCK_MONOTONIC, HEADER_SIZE, M_ROW_SIZE, MAX_MS, MAX_PS, MRow, P_ROW_SIZE, PRow, STATE_MAGIC,
    STATE_VERSION, StateTable, flag,
};
use goro_probes::{PStatus, Reason, StwReason};

use super::Sched;
use super::m::M;
use super::p::P;

/// The table. Exported by name for tools (and found through the note in stripped binaries);
/// all zero — in `.bss` — until the first runtime starts.
#[unsafe(no_mangle)]
pub static GORO_STATE: StateTable = StateTable::new();

// The table's address in a note that `strip` keeps: owner "goro", type NT_GORO_STATE (2), an
// 8-byte descriptor. The section is not allocated (no "a" flag), so the linker writes the
// static's link-time address into it and no dynamic relocation is involved — a reader adds
// the executable's load bias, as for the SDT notes' addresses.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
std::arch::global_asm!(
    ".pushsection .note.goro.state,\"\",\"note\"",
    ".balign 4",
    ".4byte 5, 8, 2",
    ".asciz \"goro\"",
    ".balign 4",
    ".8byte {table}",
    ".popsection",
    table = sym GORO_STATE,
);

const _: () = assert!(super::MAX_PROCS <= MAX_PS, "every P has a row");

#[inline]
fn table() -> &'static StateTable {
    &GORO_STATE
}

#[inline]
fn addr<T>(x: &T) -> u64 {
    x as *const T as u64
}

/// CLOCK_MONOTONIC in ns, precise: for rare events (a stop-the-world's start).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// The row of `p`, if `p` owns it.
#[inline]
fn p_row(p: &P) -> Option<&'static PRow> {
    let row = table().ps.get(p.id as usize)?;
    (row.owner.load(Ordering::Relaxed) == addr(p)).then_some(row)
}

/// The slot of `m`, if `m` owns it.
#[inline]
fn m_row(m: &M) -> Option<&'static MRow> {
    // SAFETY: non-null, it points at a slot of the static table (set by `m_created`).
    let row = unsafe { m.state_row.load(Ordering::Relaxed).as_ref() }?;
    (row.owner.load(Ordering::Relaxed) == addr(m)).then_some(row)
}

impl Sched {
    #[inline]
    fn owns_state(&self) -> bool {
        table().header.owner.load(Ordering::Relaxed) == addr(self)
    }

    /// Writes scheduler-wide fields inside the header's sequence counter (odd while writing).
    /// Callers are serialised by the runtime (see each caller), so this is no lock.
    #[inline]
    fn state_write(&self, f: impl FnOnce(&'static goro_probes::state::Header)) {
        if !self.owns_state() {
            return;
        }
        let h = &table().header;
        let s = h.seq.load(Ordering::Relaxed);
        h.seq.store(s | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        f(h);
        h.seq.store((s | 1) + 1, Ordering::Release);
    }
}

/// This runtime is starting: the table describes it from now on. Clears what an earlier
/// runtime left.
pub(crate) fn claim(sched: &Sched) {
    let t = table();
    let h = &t.header;
    let s = h.seq.load(Ordering::Relaxed);
    h.seq.store(s | 1, Ordering::Relaxed);
    fence(Ordering::Release);
    h.owner.store(addr(sched), Ordering::Relaxed);
    for row in &t.ps[..(h.ps_len.load(Ordering::Relaxed) as usize).min(MAX_PS)] {
        // Owned by nobody until this runtime creates the P: an earlier runtime's P still
        // winding down finds the row taken and writes nothing.
        row.reset(0);
    }
    for row in &t.ms[..(h.ms_len.load(Ordering::Relaxed) as usize).min(MAX_MS)] {
        clear_m_row(row);
    }
    let now = monotonic_ns();
    for (w, v) in [
        (&h.header_size, HEADER_SIZE as u32),
        (&h.p_row_size, P_ROW_SIZE as u32),
        (&h.m_row_size, M_ROW_SIZE as u32),
        (&h.max_ps, MAX_PS as u32),
        (&h.max_ms, MAX_MS as u32),
        (&h.clock, CLOCK_MONOTONIC),
        (&h.ps_len, 0),
        (&h.procs, 0),
        (&h.ms_len, 0),
        (&h.ms_dropped, 0),
        (&h.template_tid, 0),
        (&h.handoff_len, 0),
        (&h.version, STATE_VERSION),
    ] {
        w.store(v, Ordering::Relaxed);
    }
    for (w, v) in [
        (&h.start_ns, now),
        (&h.heartbeat_ns, now),
        (&h.stw_id, 0),
        (&h.stw_start_ns, 0),
        (&h.template_flag_by, 0),
        (&h.template_m, 0),
    ] {
        w.store(v, Ordering::Relaxed);
    }
    h.stopwait.store(0, Ordering::Relaxed);
    for b in [
        &h.stw_reason,
        &h.flags,
        &h.template_flag,
        &h.template_running,
    ] {
        b.store(0, Ordering::Relaxed);
    }
    h.runtime.fetch_add(1, Ordering::Relaxed);
    h.magic.store(STATE_MAGIC, Ordering::Relaxed);
    h.seq.store((s | 1) + 1, Ordering::Release);
}

fn clear_m_row(row: &MRow) {
    row.owner.store(0, Ordering::Relaxed);
    row.id.store(0, Ordering::Relaxed);
    row.locked_g.store(0, Ordering::Relaxed);
    row.tid.store(0, Ordering::Relaxed);
    row.next_p.store(goro_probes::P_NONE, Ordering::Relaxed);
    for b in [
        &row.started,
        &row.parked,
        &row.exited,
        &row.queued,
        &row.is_template,
        &row.is_m0,
    ] {
        b.store(0, Ordering::Relaxed);
    }
}

/// A P was created (procresize): it owns its row. Called with the scheduler lock held.
pub(crate) fn p_created(sched: &Sched, p: &P) {
    if !sched.owns_state() {
        return;
    }
    let Some(row) = table().ps.get(p.id as usize) else {
        return;
    };
    // Under the row's writer claim: a P of an earlier runtime still recording into this row
    // finishes first or finds it owned by `p` and writes nothing.
    row.reset(addr(p));
    table().header.ps_len.fetch_max(p.id + 1, Ordering::Relaxed);
}

/// P `p` changed status (beside the `p_status` probe): change number `seq`, by M `m`.
/// The row is written under its writer claim, between `begin` and `end` (see
/// `goro_probes::state`); a writer that finds a later change already written, or the row
/// given to another P meanwhile, leaves it alone.
#[inline]
pub(crate) fn p_status(p: &P, to: PStatus, m: u64, reason: Reason, seq: u64) {
    let Some(row) = p_row(p) else {
        return;
    };
    row.record_change(
        addr(p),
        seq,
        to,
        p.status_since.load(Ordering::Relaxed) as u64,
        m,
        reason,
    );
}

/// `p` was put on (true) or taken off the idle list (beside `pidle_put` / `pidle_get`).
#[inline]
pub(crate) fn p_idle_list(p: &P, on: bool) {
    if let Some(row) = p_row(p) {
        row.on_idle_list.store(u8::from(on), Ordering::Relaxed);
    }
}

/// `p` was handed to `m` (stored in its `nextp`: startm, newm, startlockedm).
#[inline]
pub(crate) fn handed(p: &P, m: &M) {
    if let Some(row) = p_row(p) {
        row.handed_to.store(m.id, Ordering::Relaxed);
    }
    if let Some(row) = m_row(m) {
        row.next_p.store(p.id, Ordering::Relaxed);
    }
}

/// `m` took the P it was handed (acquirep).
#[inline]
pub(crate) fn took(m: &M) {
    if let Some(row) = m_row(m) {
        row.next_p.store(goro_probes::P_NONE, Ordering::Relaxed);
    }
}

/// A new M: give it a slot — a free one, else one whose M exited (oldest slots first). With
/// none left, the M is counted in `ms_dropped` and has no row. Rare (thread creation) and
/// serialised by the caller's `ms.all` lock.
pub(crate) fn m_created(sched: &Sched, m: &M) {
    if !sched.owns_state() {
        return;
    }
    let t = table();
    let h = &t.header;
    let used = h.ms_len.load(Ordering::Relaxed) as usize;
    let slot = if used < MAX_MS {
        Some(used)
    } else {
        t.ms.iter().position(|r| {
            r.id.load(Ordering::Relaxed) == 0 || r.exited.load(Ordering::Relaxed) != 0
        })
    };
    let Some(slot) = slot else {
        h.ms_dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let row = &t.ms[slot];
    clear_m_row(row);
    row.id.store(m.id, Ordering::Relaxed);
    row.owner.store(addr(m), Ordering::Relaxed);
    m.state_row
        .store(row as *const MRow as *mut MRow, Ordering::Relaxed);
    if slot >= used {
        h.ms_len.store(slot as u32 + 1, Ordering::Release);
    }
}

/// `m`'s thread started (mstart, the template thread, M0).
pub(crate) fn m_started(m: &M) {
    if let Some(row) = m_row(m) {
        row.tid
            .store(m.tid.load(Ordering::Relaxed) as u32, Ordering::Relaxed);
        row.is_m0
            .store(u8::from(m.is_m0.load(Ordering::Relaxed)), Ordering::Relaxed);
        row.started.store(1, Ordering::Release);
    }
}

/// `m` parks (true) or wakes (beside `m_park` / `m_wake`).
#[inline]
pub(crate) fn m_parked(m: &M, parked: bool) {
    if let Some(row) = m_row(m) {
        row.parked.store(u8::from(parked), Ordering::Relaxed);
    }
}

/// `m`'s thread exits (beside `m_exit`). Its slot may be reused.
pub(crate) fn m_exited(m: &M) {
    if let Some(row) = m_row(m) {
        row.exited.store(1, Ordering::Release);
    }
}

/// `m` is wired to goroutine `g` (0: unwired), beside `lock_os_thread` / `unlock_os_thread`.
#[inline]
pub(crate) fn m_locked(m: &M, g: u64) {
    if let Some(row) = m_row(m) {
        row.locked_g.store(g, Ordering::Relaxed);
    }
}

impl Sched {
    /// `m` was queued for the template thread; the hand-off list now has `len` Ms.
    pub(crate) fn state_queued(&self, m: &M, len: u32) {
        if let Some(row) = m_row(m) {
            row.queued.store(1, Ordering::Relaxed);
        }
        self.state_write(|h| h.handoff_len.store(len, Ordering::Relaxed));
    }

    /// The template thread took every queued M.
    pub(crate) fn state_handoff_taken(&self) {
        self.state_write(|h| h.handoff_len.store(0, Ordering::Relaxed));
    }

    /// M `by` set `have_template_thread` (once per runtime).
    pub(crate) fn state_template_flag(&self, by: u64) {
        self.state_write(|h| {
            h.template_flag_by.store(by, Ordering::Relaxed);
            h.template_flag.store(1, Ordering::Relaxed);
        });
    }

    /// The template thread runs, as `m` (its thread once).
    pub(crate) fn state_template_running(&self, m: &M) {
        if let Some(row) = m_row(m) {
            row.is_template.store(1, Ordering::Relaxed);
        }
        m_started(m);
        self.state_write(|h| {
            h.template_m.store(m.id, Ordering::Relaxed);
            h.template_tid
                .store(m.tid.load(Ordering::Relaxed) as u32, Ordering::Relaxed);
            h.template_running.store(1, Ordering::Relaxed);
        });
    }

    /// A stop-the-world began (beside `stw_begin`; the stopper holds `worldsema`).
    pub(crate) fn state_stw_begin(&self, id: u64, reason: StwReason, stopwait: i32) {
        let now = monotonic_ns();
        self.state_write(|h| {
            h.stw_id.store(id, Ordering::Relaxed);
            h.stw_reason.store(reason.into(), Ordering::Relaxed);
            h.stw_start_ns.store(now, Ordering::Relaxed);
            h.stopwait.store(stopwait, Ordering::Relaxed);
            h.flags.store(flag::GCWAITING, Ordering::Relaxed);
        });
    }

    /// The stopper's count of Ps left, on each wait round (every 100 µs), with the heartbeat:
    /// sysmon parks while the world stops, so in a stop-the-world that never ends these
    /// rounds are what keeps "now" current for a reader of a core file.
    #[inline]
    pub(crate) fn state_stopwait(&self, left: i32) {
        if self.owns_state() {
            let h = &table().header;
            h.stopwait.store(left, Ordering::Relaxed);
            h.heartbeat_ns
                .store(super::coarse_now_ns() as u64, Ordering::Relaxed);
        }
    }

    /// The world restarts (beside `stw_end`; under the scheduler lock, `worldsema` held).
    pub(crate) fn state_stw_end(&self) {
        self.state_write(|h| {
            h.stw_id.store(0, Ordering::Relaxed);
            h.stw_start_ns.store(0, Ordering::Relaxed);
            h.stopwait.store(0, Ordering::Relaxed);
            h.flags.store(0, Ordering::Relaxed);
        });
    }

    /// The P count changed (procresize; world stopped).
    pub(crate) fn state_procs(&self, n: u32) {
        self.state_write(|h| h.procs.store(n, Ordering::Relaxed));
    }

    /// sysmon's round: "now", for a reader of a core file (the stopper's wait rounds take
    /// over while sysmon is parked for a stop-the-world).
    #[inline]
    pub(crate) fn state_heartbeat(&self) {
        if self.owns_state() {
            table()
                .header
                .heartbeat_ns
                .store(super::coarse_now_ns() as u64, Ordering::Relaxed);
        }
    }
}

/// The table, for the in-process snapshot.
pub(crate) fn current(sched: &Sched) -> Option<&'static StateTable> {
    sched.owns_state().then(table)
}
