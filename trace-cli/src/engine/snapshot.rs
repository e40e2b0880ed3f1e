//! A whole-state snapshot of the scheduler: what a memory reader sees in a process that is
//! already hung, where no event will ever arrive. Feeding one replaces the engine's model.
//!
//! Times are on the engine's clock (see the `input` module); a reader that gets durations
//! ("in this status for N ns") converts them with its own `now_ns`.

use super::input::{PStatus, Reason, StwReason};

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// When it was read.
    pub now_ns: u64,
    /// The current number of Ps.
    pub nprocs: u32,
    pub ps: Vec<PSnap>,
    pub ms: Vec<MSnap>,
    /// The stop-the-world in progress (stopping, not yet stopped), if any.
    pub stw: Option<StwSnap>,
    pub template: TemplateSnap,
}

/// One P.
#[derive(Clone, Debug)]
pub struct PSnap {
    pub id: u32,
    pub status: PStatus,
    /// Since when it has had this status.
    pub since_ns: Option<u64>,
    /// The M holding it (`_Prunning`; the "old P" M in `_Psyscall`).
    pub owner: Option<u64>,
    /// An M whose next P this is: handed over, not taken yet.
    pub handed_to: Option<u64>,
    pub on_idle_list: bool,
    /// Who changed its status last, and why.
    pub last_m: Option<u64>,
    pub last_reason: Option<Reason>,
    /// Its last `p_status` sequence number, if the runtime keeps one.
    pub seq: Option<u64>,
}

/// One M.
#[derive(Clone, Debug, Default)]
pub struct MSnap {
    pub id: u64,
    /// Its thread, once started.
    pub tid: Option<u32>,
    /// The G wired to it by LockOSThread.
    pub locked_g: Option<u64>,
    /// The G it runs.
    pub curg: Option<u64>,
    /// Asleep (idle M list, or a locked M waiting for its G).
    pub parked: bool,
    /// Its thread has started.
    pub started: bool,
    pub exited: bool,
    /// The P it will start with / was handed.
    pub next_p: Option<u32>,
    /// Created from a locked thread and queued for the template thread.
    pub queued_for_template: bool,
    pub is_template: bool,
}

/// The stop-the-world in progress.
#[derive(Clone, Debug)]
pub struct StwSnap {
    pub id: u64,
    pub reason: StwReason,
    pub start_ns: Option<u64>,
    /// Ps still to stop.
    pub stopwait: u32,
}

/// The template thread and the new-M hand-off list.
#[derive(Clone, Debug, Default)]
pub struct TemplateSnap {
    /// `have_template_thread`.
    pub flag: bool,
    /// The M that set the flag, if known.
    pub flag_by: Option<u64>,
    pub running: bool,
    pub m: Option<u64>,
    pub tid: Option<u32>,
    /// Ms queued for it.
    pub handoff_len: u32,
}
