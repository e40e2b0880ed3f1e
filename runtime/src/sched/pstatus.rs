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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum PStatus {
    Idle = 0,
    Running = 1,
    Syscall = 2,
    GcStop = 3,
    Dead = 4,
}

pub(crate) const NSTATUS: usize = 5;

impl PStatus {
    pub(crate) fn from_u32(v: u32) -> PStatus {
        match v {
            0 => PStatus::Idle,
            1 => PStatus::Running,
            2 => PStatus::Syscall,
            3 => PStatus::GcStop,
            4 => PStatus::Dead,
            _ => super::fatal("corrupt P status"),
        }
    }

    /// Go's name, as `schedtrace` and Go's execution tracer print it.
    pub fn name(self) -> &'static str {
        match self {
            PStatus::Idle => "_Pidle",
            PStatus::Running => "_Prunning",
            PStatus::Syscall => "_Psyscall",
            PStatus::GcStop => "_Pgcstop",
            PStatus::Dead => "_Pdead",
        }
    }
}

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
        PStatus::from_u32((self.0.load(Ordering::Acquire) & STATUS_MASK) as u32)
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

/// Why a P changed status; the `reason` argument of the `p_status` probe. The numbering is
/// the probe catalog's: tools decode it by that table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Reason {
    /// A new P comes into existence (`_Pdead`→`_Pgcstop`).
    Init = 0,
    /// An M takes an idle P to run (`_Pidle`→`_Prunning`).
    Acquire = 1,
    /// The owning M gives its P up (`_Prunning`→`_Pidle`).
    Release = 2,
    /// The owning M enters a blocking call (`_Prunning`→`_Psyscall`).
    SyscallEnter = 3,
    /// The M returns from its call and its P is still there (`_Psyscall`→`_Pidle`, then acquire).
    SyscallExitFast = 4,
    /// sysmon takes the P of an M blocked too long (`_Psyscall`→`_Pidle`, then handoffp).
    Retake = 5,
    /// The stopper halts its own P (`_Prunning`→`_Pgcstop`).
    StwOwn = 6,
    /// The stopper claims a P whose M is in a syscall (`_Psyscall`→`_Pgcstop`).
    StwSyscall = 7,
    /// The stopper claims a P from the idle list (`_Pidle`→`_Pgcstop`).
    StwIdle = 8,
    /// A running P stops itself at a scheduling point (`_Prunning`→`_Pgcstop`).
    StwSelf = 9,
    /// handoffp finds a stop-the-world pending (`_Pidle`→`_Pgcstop`).
    HandoffGcstop = 10,
    /// A syscall entered while a stop-the-world is pending (`_Psyscall`→`_Pgcstop`).
    SyscallGcwait = 11,
    /// procresize leaves a P idle (`_Pgcstop`→`_Pidle`).
    ProcresizeIdle = 12,
    /// procresize gives the caller's M its P back (`_Pgcstop`→`_Prunning`).
    ProcresizeRun = 13,
    /// procresize retires a P beyond the new count (`_Pgcstop`→`_Pdead`).
    ProcresizeDead = 14,
}

impl Reason {
    /// The probe catalog's name for this reason.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Init => "init",
            Reason::Acquire => "acquire",
            Reason::Release => "release",
            Reason::SyscallEnter => "syscall_enter",
            Reason::SyscallExitFast => "syscall_exit_fast",
            Reason::Retake => "retake",
            Reason::StwOwn => "stw_own",
            Reason::StwSyscall => "stw_syscall",
            Reason::StwIdle => "stw_idle",
            Reason::StwSelf => "stw_self",
            Reason::HandoffGcstop => "handoff_gcstop",
            Reason::SyscallGcwait => "syscall_gcwait",
            Reason::ProcresizeIdle => "procresize_idle",
            Reason::ProcresizeRun => "procresize_run",
            Reason::ProcresizeDead => "procresize_dead",
        }
    }

    pub(crate) fn from_u32(v: u32) -> Option<Reason> {
        use Reason::*;
        const ALL: [Reason; 15] = [
            Init,
            Acquire,
            Release,
            SyscallEnter,
            SyscallExitFast,
            Retake,
            StwOwn,
            StwSyscall,
            StwIdle,
            StwSelf,
            HandoffGcstop,
            SyscallGcwait,
            ProcresizeIdle,
            ProcresizeRun,
            ProcresizeDead,
        ];
        ALL.get(v as usize).copied()
    }
}

/// The transitions the model allows, `LEGAL[from][to]`. Anything else is a runtime bug and
/// stops the process (Go's `throw`): a P in a state nobody owns is exactly what hangs a STW.
const LEGAL: [[bool; NSTATUS]; NSTATUS] = {
    use PStatus::*;
    let mut t = [[false; NSTATUS]; NSTATUS];
    t[Idle as usize][Running as usize] = true; // acquirep
    t[Idle as usize][GcStop as usize] = true; // STW claims an idle P; handoffp under gcwaiting
    t[Idle as usize][Dead as usize] = true; // (unused by procresize, which goes via _Pgcstop)
    t[Running as usize][Idle as usize] = true; // releasep
    t[Running as usize][Syscall as usize] = true; // entersyscall
    t[Running as usize][GcStop as usize] = true; // stopper's own P; a P stopping itself
    t[Syscall as usize][Idle as usize] = true; // fast exit, sysmon retake
    t[Syscall as usize][GcStop as usize] = true; // STW claims it; entersyscall under gcwaiting
    t[GcStop as usize][Idle as usize] = true; // start the world
    t[GcStop as usize][Running as usize] = true; // start the world: the stopper's P
    t[GcStop as usize][Dead as usize] = true; // procresize shrinks
    t[Dead as usize][GcStop as usize] = true; // procresize grows (P init)
    t
};

/// Moves `p` from `from` to `to`, atomically, if it is in `from`; returns whether it did.
/// `m` is the M making the change (0 = none, e.g. sysmon) and `reason` why, both for the probe.
/// A failed CAS is normal where the status is contended (`_Psyscall`); an illegal transition
/// is not and is fatal.
#[inline]
pub(crate) fn cas_status(p: &P, from: PStatus, to: PStatus, m: u64, reason: Reason) -> bool {
    if !LEGAL[from as usize][to as usize] {
        illegal(p, from, to, reason);
    }
    let Some(seq) = p.status.transition(from, to) else {
        return false;
    };
    p.note_transition(from, to, m, reason);
    super::probe::p_status(p.id, from as u8, to as u8, m, reason as u8, seq);
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

    #[test]
    fn codes_and_names_are_the_probe_catalogs() {
        use goro_probes::{pstatus, reason};
        for (s, code) in [
            (PStatus::Idle, pstatus::IDLE),
            (PStatus::Running, pstatus::RUNNING),
            (PStatus::Syscall, pstatus::SYSCALL),
            (PStatus::GcStop, pstatus::GCSTOP),
            (PStatus::Dead, pstatus::DEAD),
        ] {
            assert_eq!(s as u8, code);
            assert_eq!(Some(s.name()), pstatus::name(code));
        }
        for v in 0.. {
            let Some(r) = Reason::from_u32(v) else { break };
            assert_eq!(r as u8 as u32, v);
            assert_eq!(Some(r.name()), reason::name(r as u8), "reason {v}");
        }
    }

    /// Threads race on one cell the way a syscall exit, sysmon and a stopper race on a
    /// `_Psyscall` P. Each transition's sequence number, sorted, must chain with no gap: that is
    /// what lets a consumer order `p_status` events that fire out of order.
    #[test]
    fn racing_transitions_get_a_gapless_chain_of_sequence_numbers() {
        use PStatus::*;
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
        // cycle leaves, so all of them contend on every step.
        let cycles: [&[(PStatus, PStatus)]; 3] = [
            &[(Idle, Running), (Running, Syscall), (Syscall, Idle)],
            &[(Syscall, GcStop), (GcStop, Idle)],
            &[(Running, Idle)],
        ];
        let threads: Vec<_> = cycles
            .into_iter()
            .map(|moves| {
                let (cell, log) = (cell.clone(), log.clone());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for _ in 0..20_000 {
                        for &(from, to) in moves {
                            if let Some(seq) = cell.transition(from, to) {
                                mine.push((seq, from, to));
                            }
                        }
                    }
                    log.lock().unwrap().extend(mine);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut log = Arc::try_unwrap(log).unwrap().into_inner().unwrap();
        log.sort_by_key(|e| e.0);
        for w in log.windows(2) {
            assert_eq!(w[1].0, w[0].0 + 1, "gap or duplicate after {:?}", w[0]);
            assert_eq!(w[1].1, w[0].2, "{:?} does not follow {:?}", w[1], w[0]);
        }
        let last = log.last().unwrap();
        assert_eq!((cell.seq(), cell.load()), (last.0, last.2));
        assert!(log.len() > 1000, "the threads hardly raced: {}", log.len());
    }

    #[test]
    fn every_status_can_be_left_and_reached() {
        for s in 0..NSTATUS {
            assert!(LEGAL[s].iter().any(|&b| b), "no way out of {s}");
            assert!(LEGAL.iter().any(|row| row[s]), "no way into {s}");
        }
        // The two transitions that would let a P vanish from a stop-the-world's count.
        assert!(!LEGAL[PStatus::Dead as usize][PStatus::Running as usize]);
        assert!(!LEGAL[PStatus::GcStop as usize][PStatus::Syscall as usize]);
    }
}
