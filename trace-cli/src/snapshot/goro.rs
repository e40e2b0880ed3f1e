//! goro's state table, read from an address space ([`read_table`]) and turned into the
//! engine's snapshot ([`to_snapshot`]). The layout and the consistency rules are
//! `goro_probes::state`'s.

use std::time::Duration;

use goro_probes::P_NONE;
use goro_probes::state::{self, DecodeError, HEADER_SIZE, TableView, decode, decode_header};

use super::{Error, Memory};
use crate::engine::input::{PStatus, Reason, StwReason};
use crate::engine::snapshot::{MSnap, PSnap, Snapshot, StwSnap, TemplateSnap};

/// Reads of a live process before giving up on a copy with no write in it.
const ATTEMPTS: u32 = 50;

/// A table as read.
#[derive(Clone, Debug)]
pub struct Read {
    pub view: TableView,
    /// Copies taken (1 when nothing was being written).
    pub attempts: u32,
    /// P rows still being written in the last copy (their status is the latest; who changed
    /// it and when may belong to the change before).
    pub torn: Vec<u32>,
}

fn decode_err(e: DecodeError) -> Error {
    Error::new(match e {
        DecodeError::NotStarted => {
            "the goro state table is empty: no goro runtime has started in this process yet"
                .to_owned()
        }
        other => other.to_string(),
    })
}

/// Reads the table at `addr`; from a live process, retried until a copy has no write in it
/// (or `ATTEMPTS` copies were taken: the last one is returned, its torn rows named).
pub fn read_table(mem: &mut dyn Memory, addr: u64) -> Result<Read, Error> {
    let mut last = None;
    for attempt in 1..=ATTEMPTS {
        let mut hb = vec![0u8; HEADER_SIZE];
        mem.read(addr, &mut hb)?;
        let h = decode_header(&hb).map_err(decode_err)?;
        if mem.live() && h.seq & 1 == 1 && attempt < ATTEMPTS {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let mut b = vec![0u8; state::bytes_needed(&h)];
        mem.read(addr, &mut b)?;
        let view = match decode(&b) {
            // An M was added between the header and the rows: read again.
            Err(DecodeError::Short { .. }) if mem.live() && attempt < ATTEMPTS => continue,
            r => r.map_err(decode_err)?,
        };
        let torn: Vec<u32> = view
            .ps
            .iter()
            .filter(|p| !p.consistent() && p.seq != 0)
            .map(|p| p.id)
            .collect();
        let moved = view.header.seq != h.seq || view.header.seq & 1 == 1;
        let done = !mem.live() || (torn.is_empty() && !moved);
        last = Some(Read {
            view,
            attempts: attempt,
            torn,
        });
        if done {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(last.expect("at least one attempt completes or returns"))
}

fn nz(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

/// The engine's snapshot of a table, at `now_ns` (the table's clock).
pub fn to_snapshot(r: &Read, now_ns: u64) -> Snapshot {
    let h = &r.view.header;
    let ps = r
        .view
        .ps
        .iter()
        // A row never written (a P created but not yet changed) has no status to report.
        .filter(|p| p.seq != 0)
        .filter_map(|p| {
            let status = PStatus::try_from(p.status).ok()?;
            let torn = r.torn.contains(&p.id);
            Some(PSnap {
                id: p.id,
                status,
                since_ns: nz(p.since_ns).filter(|_| !torn),
                owner: nz(p.owner_m),
                handed_to: nz(p.handed_to),
                on_idle_list: p.on_idle_list,
                last_m: nz(p.last_m).filter(|_| !torn),
                last_reason: Reason::try_from(p.last_reason).ok().filter(|_| !torn),
                seq: Some(p.seq),
            })
        })
        .collect();
    let ms = r
        .view
        .ms
        .iter()
        .map(|m| MSnap {
            id: m.id,
            tid: (m.tid != 0).then_some(m.tid),
            locked_g: nz(m.locked_g),
            curg: None,
            parked: m.parked,
            started: m.started,
            exited: m.exited,
            next_p: (m.next_p != P_NONE).then_some(m.next_p),
            queued_for_template: m.queued,
            is_template: m.is_template,
        })
        .collect();
    let stw = (h.stw_id != 0).then(|| StwSnap {
        id: h.stw_id,
        reason: StwReason::try_from(h.stw_reason).unwrap_or(StwReason::ReadStats),
        start_ns: nz(h.stw_start_ns),
        stopwait: h.stopwait.max(0) as u32,
    });
    Snapshot {
        now_ns,
        nprocs: h.procs,
        ps,
        ms,
        stw,
        template: TemplateSnap {
            flag: h.template_flag,
            flag_by: nz(h.template_flag_by),
            running: h.template_running,
            m: nz(h.template_m),
            tid: (h.template_tid != 0).then_some(h.template_tid),
            handoff_len: h.handoff_len,
        },
    }
}

/// "Now" for a table from a core file: the last heartbeat (sysmon's rounds, at most 10 ms
/// apart, or the stopper's 100 µs wait rounds while the world stops), or the latest time the
/// table holds if that is later.
pub fn core_now(v: &TableView) -> u64 {
    let h = &v.header;
    let latest =
        v.ps.iter()
            .map(|p| p.since_ns)
            .chain([h.start_ns, h.stw_start_ns, h.heartbeat_ns])
            .max()
            .unwrap_or(0);
    h.heartbeat_ns.max(latest)
}

/// CLOCK_MONOTONIC now, in ns: the table's clock.
pub fn monotonic_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
