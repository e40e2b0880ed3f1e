//! P statuses and the one function that changes them.
//!
//! Go's numbering and names are kept (tools print Go's names):
//!
//! - `_Pidle` (0): the P is not running user code or the scheduler. It is on the idle P list,
//!   or it is held by whoever is changing it (handoffp, startm, procresize, a syscall fast
//!   exit) — that second case is the #38931 limbo: idle, owned by nobody on the idle list.
//! - `_Prunning` (1): owned by exactly one M (`p.m`), running user code or the scheduler.
//!   Only that M moves it out of `_Prunning`.
//! - `_Psyscall` (2): the M that owned it is in a blocking call (`goro::syscall`); `p.m` is
//!   cleared and the M keeps the P as its "old P". Either that M takes it back on return
//!   (fast exit), sysmon retakes it (`_Psyscall`→`_Pidle`, then handoffp), or a stop-the-world
//!   claims it (`_Psyscall`→`_Pgcstop`). All three race, so every exit from `_Psyscall` is a CAS.
//! - `_Pgcstop` (3): halted for a stop-the-world, owned by the M that stopped the world — which
//!   keeps using its own P while it is `_Pgcstop`. New Ps start here too.
//! - `_Pdead` (4): beyond the current P count (`set_procs` shrank it), or never used yet.
//!
//! Every status change goes through [`cas_status`]: it checks the transition is one the model
//! allows, counts it, and is the single place the `p_status` probe fires. The status lives in a
//! [`StatusCell`] whose value is private to this module, so no other code can write it.
//!
//! Each P also counts its status changes: the cell holds the status and that count together and
//! changes both in one compare-and-swap, so the `seq` the probe carries is the order in which
//! the transitions really happened, even when two threads race on one P (a `_Psyscall` P taken
//! by the stopper or sysmon while its M comes back) and their probes fire out of order.

use std::sync::atomic::{AtomicU64, Ordering};

use super::p::P;

/// The catalog's P statuses (`goro_probes::pstatus`): one table for the runtime, the probes and
/// the tools.
pub(crate) use goro_probes::PStatus;
/// Why a P changed status: the catalog's `reason` table. Each reason belongs to one transition
/// (`goro_probes::TRANSITIONS`), which [`cas_status`] enforces.
pub(crate) use goro_probes::Reason;

pub(crate) const NSTATUS: usize = PStatus::ALL.len();

/// A P's status and its sequence number: the number of status changes so far (the first change
/// is 1). Packed as `seq << 8 | status` so that both change in one CAS; 56 bits of sequence
/// outlast any process (2^56 changes at 10^9 a second is two years).
///
/// The inner value is private to this module: only [`cas_status`] and [`set_status`] write it.
pub(crate) struct StatusCell(AtomicU64);

const STATUS_BITS: u32 = 8;
const STATUS_MASK: u64 = (1 << STATUS_BITS) - 1;

impl StatusCell {
    /// A P that was never used: `_Pdead`, no change yet.
    pub(crate) const fn new() -> StatusCell {
        StatusCell(AtomicU64::new(PStatus::Dead as u64))
    }

    /// The current status (acquire: the caller sees what the changer did before the change).
    #[inline]
    pub(crate) fn load(&self) -> PStatus {
        let code = (self.0.load(Ordering::Acquire) & STATUS_MASK) as u8;
        PStatus::from_code(code).unwrap_or_else(|| super::fatal("corrupt P status"))
    }

    /// The sequence number of the last change (0: never changed).
    pub(crate) fn seq(&self) -> u64 {
        self.0.load(Ordering::Acquire) >> STATUS_BITS
    }

    /// Moves the cell from `from` to `to` if it is in `from`; returns the new sequence number.
    /// A CAS lost to a change that ended in `from` again (the sequence moved, the status did
    /// not) is retried: the P is still in `from`, so the transition is still the caller's.
    #[inline]
    fn transition(&self, from: PStatus, to: PStatus) -> Option<u64> {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if cur & STATUS_MASK != from as u64 {
                return None;
            }
            let seq = (cur >> STATUS_BITS) + 1;
            let new = seq << STATUS_BITS | to as u64;
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(seq),
                Err(now) => cur = now,
            }
        }
    }
}

/// Moves `p` from `from` to `to`, atomically, if it is in `from`; returns whether it did.
/// `m` is the M making the change (0 = none, e.g. sysmon) and `reason` why, both for the probe.
/// A failed CAS is normal where the status is contended (`_Psyscall`); an illegal transition
/// is not and is fatal.
#[inline]
pub(crate) fn cas_status(p: &P, from: PStatus, to: PStatus, m: u64, reason: Reason) -> bool {
    if !goro_probes::is_legal_transition(from, to, reason) {
        illegal(p, from, to, reason);
    }
    let Some(seq) = p.status.transition(from, to) else {
        return false;
    };
    p.note_transition(from, to, m, reason);
    super::probe::p_status(p.id, from, to, m, reason, seq);
    super::state::p_status(p, to, m, reason, seq);
    true
}

/// Like [`cas_status`] for a transition that cannot race: the caller owns the P. A P found in
/// any other status than `from` is a broken ownership invariant, so it is fatal.
#[inline]
pub(crate) fn set_status(p: &P, from: PStatus, to: PStatus, m: u64, reason: Reason) {
    if !cas_status(p, from, to, m, reason) {
        let now = p.status.load();
        super::fatal(&format!(
            "P {} is {}, expected {} for {:?} -> {}",
            p.id,
            now.name(),
            from.name(),
            reason,
            to.name()
        ));
    }
}

#[cold]
fn illegal(p: &P, from: PStatus, to: PStatus, reason: Reason) -> ! {
    super::fatal(&format!(
        "illegal P status transition on P {}: {} -> {} ({:?})",
        p.id,
        from.name(),
        to.name(),
        reason
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads race on one cell the way a syscall exit, sysmon and a stopper race on a
    /// `_Psyscall` P. Each transition's sequence number, sorted, must chain with no gap: that is
    /// what lets a consumer order `p_status` events that fire out of order.
    #[test]
    fn racing_transitions_get_a_gapless_chain_of_sequence_numbers() {
        use PStatus::*;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
        use std::sync::{Arc, Mutex};
        let cell = Arc::new(StatusCell::new());
        assert_eq!(cell.transition(Dead, GcStop), Some(1));
        assert_eq!(cell.transition(GcStop, Idle), Some(2));
        assert_eq!(
            cell.transition(GcStop, Idle),
            None,
            "not in _Pgcstop any more"
        );
        let log = Arc::new(Mutex::new(vec![(2, GcStop, Idle)]));
        // Each thread owns one cycle of moves; a thread only moves the P out of a status its
        // cycle leaves, so all of them contend on every step. They run until enough moves have
        // landed *and* every cycle has won at least once, not for a fixed number of tries: on a
        // busy or one-core machine a thread preempted while it holds `_Pgcstop` can make the
        // others burn a fixed budget on failures, and a run that never raced proves nothing.
        // Progress is certain: only the first cycle leaves `_Pidle`, and it never stops first.
        let cycles: [&[(PStatus, PStatus)]; 3] = [
            &[(Idle, Running), (Running, Syscall), (Syscall, Idle)],
            &[(Syscall, GcStop), (GcStop, Idle)],
            &[(Running, Idle)],
        ];
        const ENOUGH: usize = 30_000;
        let landed = Arc::new(AtomicUsize::new(0));
        let winners = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let threads: Vec<_> = cycles
            .into_iter()
            .enumerate()
            .map(|(i, moves)| {
                let (cell, log) = (cell.clone(), log.clone());
                let (landed, winners, done) = (landed.clone(), winners.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    while !done.load(Relaxed) {
                        for &(from, to) in moves {
                            if let Some(seq) = cell.transition(from, to) {
                                if mine.is_empty() {
                                    winners.fetch_or(1 << i, Relaxed);
                                }
                                mine.push((seq, from, to));
                                landed.fetch_add(1, Relaxed);
                            }
                        }
                        if i == 0
                            && ((landed.load(Relaxed) >= ENOUGH && winners.load(Relaxed) == 0b111)
                                || std::time::Instant::now() > deadline)
                        {
                            done.store(true, Relaxed);
                        }
                    }
                    log.lock().unwrap().extend(mine);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            winners.load(Relaxed),
            0b111,
            "in two minutes some cycle never won a move: the threads never raced"
        );
        let mut log = Arc::try_unwrap(log).unwrap().into_inner().unwrap();
        log.sort_by_key(|e| e.0);
        for w in log.windows(2) {
            assert_eq!(w[1].0, w[0].0 + 1, "gap or duplicate after {:?}", w[0]);
            assert_eq!(w[1].1, w[0].2, "{:?} does not follow {:?}", w[1], w[0]);
        }
        let last = log.last().unwrap();
        assert_eq!((cell.seq(), cell.load()), (last.0, last.2));
    }
}
