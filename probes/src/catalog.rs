//! The probe catalog: the contract between the runtime's probe sites and the tools.
//!
//! Everything about a probe is written once, in the `probes!` table below: its name, the
//! order, names, types and meanings of its arguments, and how a decoder prints each argument.
//! Adding a probe is adding one entry; the runtime then gets `probe::<name>()` and decoders see
//! it in [`CATALOG`]. Removing, renaming or reordering anything is an incompatible change:
//! bump [`CATALOG_VERSION`].
//!
//! Id conventions, as in every probe and in the state table: P ids are `u32` and
//! `P_NONE` (`u32::MAX`) means "no P"; M and G ids are `u64`, start at 1, and 0 means
//! "no M" / "no G". Thread ids (`tid`) are the kernel's.

use std::fmt;

/// Version of this contract. Bumped on every incompatible change to a probe or a code.
pub const CATALOG_VERSION: u32 = 2;

/// The ELF section a binary built with goro's probes carries its catalog version in, so a tool
/// can tell which catalog the binary's probe sites follow (the SDT notes themselves have no
/// version field). One note: owner [`VERSION_NOTE_OWNER`], type [`NT_GORO_CATALOG`], a 4-byte
/// descriptor holding the version in the file's byte order.
pub const VERSION_NOTE_SECTION: &str = ".note.goro";
pub const VERSION_NOTE_OWNER: &str = "goro";
pub const NT_GORO_CATALOG: u32 = 1;

/// The bytes of that note, laid out as the ELF note format wants (4-byte fields, the owner
/// padded to 4). The runtime places one in [`VERSION_NOTE_SECTION`] (a `#[used]` static).
#[repr(C, align(4))]
#[derive(Debug)]
pub struct VersionNote {
    namesz: u32,
    descsz: u32,
    ntype: u32,
    name: [u8; 8],
    version: u32,
}

impl VersionNote {
    pub const CURRENT: VersionNote = VersionNote {
        namesz: 5,
        descsz: 4,
        ntype: NT_GORO_CATALOG,
        name: *b"goro\0\0\0\0",
        version: CATALOG_VERSION,
    };
}

/// The SDT provider of every goro probe.
pub const PROVIDER: &str = "goro";

/// "No P" in a P-id argument.
pub const P_NONE: u32 = u32::MAX;
/// "No M" in an M-id argument (M ids start at 1).
pub const M_NONE: u64 = 0;
/// "No G" in a G-id argument (G ids start at 1).
pub const G_NONE: u64 = 0;

/// The type of a probe argument, as the Rust function takes it and as the site's spec says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgType {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
}

impl ArgType {
    /// Size in bytes: the `N` of an `N@...` spec.
    pub const fn size(self) -> u8 {
        match self {
            ArgType::U8 | ArgType::I8 => 1,
            ArgType::U16 | ArgType::I16 => 2,
            ArgType::U32 | ArgType::I32 => 4,
            ArgType::U64 | ArgType::I64 => 8,
        }
    }

    /// Signed types have a negative size in the spec (`-4@%eax`).
    pub const fn signed(self) -> bool {
        matches!(
            self,
            ArgType::I8 | ArgType::I16 | ArgType::I32 | ArgType::I64
        )
    }

    /// The Rust name of the type.
    pub const fn name(self) -> &'static str {
        match self {
            ArgType::U8 => "u8",
            ArgType::U16 => "u16",
            ArgType::U32 => "u32",
            ArgType::U64 => "u64",
            ArgType::I8 => "i8",
            ArgType::I16 => "i16",
            ArgType::I32 => "i32",
            ArgType::I64 => "i64",
        }
    }

    /// The type a spec of this size and signedness carries, if it is one of ours.
    pub const fn from_spec(size: u8, signed: bool) -> Option<ArgType> {
        Some(match (size, signed) {
            (1, false) => ArgType::U8,
            (2, false) => ArgType::U16,
            (4, false) => ArgType::U32,
            (8, false) => ArgType::U64,
            (1, true) => ArgType::I8,
            (2, true) => ArgType::I16,
            (4, true) => ArgType::I32,
            (8, true) => ArgType::I64,
            _ => return None,
        })
    }
}

impl fmt::Display for ArgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an argument's value means, so a decoder can print it the way an engineer reads it.
#[derive(Clone, Copy, Debug)]
pub enum ArgKind {
    /// A count, a duration or another plain number.
    Number,
    /// A P id; `P_NONE` is "none".
    P,
    /// An M id; `M_NONE` is "none".
    M,
    /// A G id; `G_NONE` is "none".
    G,
    /// A kernel thread id.
    Tid,
    /// A stop-the-world id (a counter, starting at 1).
    Stw,
    /// A boolean flag: 0 or 1.
    Flag,
    /// A code of the given table; decoders print its name.
    Code(&'static CodeTable),
}

impl ArgKind {
    /// A short word for the kind, for listings and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            ArgKind::Number => "number",
            ArgKind::P => "p",
            ArgKind::M => "m",
            ArgKind::G => "g",
            ArgKind::Tid => "tid",
            ArgKind::Stw => "stw",
            ArgKind::Flag => "flag",
            ArgKind::Code(t) => t.name,
        }
    }

    /// Renders a raw argument value (already truncated to the argument's width).
    pub fn render(&self, value: u64) -> String {
        match self {
            ArgKind::P if value == u64::from(P_NONE) => "none".to_owned(),
            ArgKind::M | ArgKind::G if value == 0 => "none".to_owned(),
            ArgKind::Flag => match value {
                0 => "false".to_owned(),
                1 => "true".to_owned(),
                v => format!("invalid({v})"),
            },
            ArgKind::Code(t) => match u8::try_from(value).ok().and_then(|v| t.name_of(v)) {
                Some(name) => name.to_owned(),
                None => format!("unknown({value})"),
            },
            _ => value.to_string(),
        }
    }
}

/// One argument of a probe.
#[derive(Debug)]
pub struct ArgDef {
    pub name: &'static str,
    pub ty: ArgType,
    pub kind: ArgKind,
    /// Its meaning, as written in the catalog (one or more lines).
    pub doc: &'static str,
}

/// One probe of the catalog.
#[derive(Debug)]
pub struct ProbeDef {
    pub name: &'static str,
    /// Its meaning, as written in the catalog.
    pub doc: &'static str,
    pub args: &'static [ArgDef],
}

/// One named code of a [`CodeTable`].
#[derive(Debug)]
pub struct Code {
    pub value: u8,
    /// What decoders print (Go's name for P statuses).
    pub name: &'static str,
    /// The Rust enum variant, e.g. `Idle` for `pstatus::PStatus::Idle`.
    pub variant: &'static str,
    pub doc: &'static str,
}

/// A table of named codes (P statuses, reasons, decisions...).
#[derive(Debug)]
pub struct CodeTable {
    pub name: &'static str,
    pub doc: &'static str,
    pub codes: &'static [Code],
}

impl CodeTable {
    /// The name of `value`, if the table has it.
    pub fn name_of(&self, value: u8) -> Option<&'static str> {
        self.codes.iter().find(|c| c.value == value).map(|c| c.name)
    }

    /// The value named `name`, if the table has it.
    pub fn value_of(&self, name: &str) -> Option<u8> {
        self.codes.iter().find(|c| c.name == name).map(|c| c.value)
    }
}

/// The enum generated for a code table: its discriminants are the table's codes.
pub trait CodeEnum: Copy + Into<u8> + TryFrom<u8, Error = UnknownCode> + 'static {
    /// The table the enum was generated from.
    const TABLE: &'static CodeTable;
}

/// A `u8` that is not a code of the table it was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCode {
    /// The table's name.
    pub table: &'static str,
    pub code: u8,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a {} code", self.code, self.table)
    }
}

impl std::error::Error for UnknownCode {}

/// Every code table, for tools that list or validate them.
pub static CODE_TABLES: &[&CodeTable] = &[
    &pstatus::TABLE,
    &reason::TABLE,
    &stw_reason::TABLE,
    &handoff::TABLE,
    &syscall_exit_kind::TABLE,
];

/// The probe named `name`, if the catalog has it.
pub fn find(name: &str) -> Option<&'static ProbeDef> {
    CATALOG.iter().find(|p| p.name == name)
}

/// Joins a doc string's lines (as `///` comments produce them) into one paragraph.
pub fn one_line(doc: &str) -> String {
    doc.lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns a seed into an argument value; only for [`testing`]. Truncation is the point: each
/// argument gets the low bits of the seed.
#[doc(hidden)]
pub trait FromSeed {
    fn from_seed(seed: u64) -> Self;
}

macro_rules! from_seed {
    ($($t:ty),*) => {$(
        impl FromSeed for $t {
            #[inline(always)]
            fn from_seed(seed: u64) -> Self {
                let bytes = seed.to_le_bytes();
                let mut out = [0u8; size_of::<$t>()];
                out.copy_from_slice(&bytes[..size_of::<$t>()]);
                <$t>::from_le_bytes(out)
            }
        }
    )*};
}
from_seed!(u8, u16, u32, u64, i8, i16, i32, i64);

code_tables! {
    /// P statuses, with Go's numbering and names (`runtime2.go`).
    pub mod pstatus("pstatus") enum PStatus {
        /// The P runs no user code and no scheduler. It is on the idle list (between a
        /// `pidle_put` and a `pidle_get` naming it), or it is held by one M or by sysmon on its
        /// way somewhere else: the `p_status` that made it idle names the holder, and the next
        /// probe naming the P says where it went (see [`reason::Reason::Release`]). Its run
        /// queue is empty — except in the golang/go#38931 hang, where an idle P with work is
        /// handed to an M that never comes.
        Idle = 0 => "_Pidle",
        /// An M owns the P and uses it to run user code or the scheduler. Only that M may move
        /// the P out of `_Prunning`: to `_Pidle` (no more work), `_Psyscall` (entering a
        /// syscall) or `_Pgcstop` (stopping for a stop-the-world). It may also hand the P
        /// directly to another M, e.g. to run a locked G.
        Running = 1 => "_Prunning",
        /// The P runs no user code. It keeps affinity to an M that is in a syscall, but that M
        /// does not own it: sysmon may retake it and a stop-the-world may stop it. The M tries
        /// to take it back on syscall exit and must expect that someone else used it meanwhile.
        Syscall = 2 => "_Psyscall",
        /// The P is halted for a stop-the-world and owned by the M that stopped the world
        /// (which keeps using its own P even in `_Pgcstop`). The P keeps its run queue;
        /// start-the-world restarts the scheduler on Ps with work.
        GcStop = 3 => "_Pgcstop",
        /// The P is no longer used: the number of Ps shrank. A dead P is reused if it grows.
        Dead = 4 => "_Pdead",
    }

    /// Why a P changed status: the `reason` of [`probe::p_status`]. Each reason belongs to
    /// exactly one transition (see [`TRANSITIONS`]).
    pub mod reason("reason") enum Reason {
        /// The P was created by a procresize (`_Pdead` → `_Pgcstop`).
        Init = 0 => "init",
        /// An M took an idle P it holds to run Gs (`_Pidle` → `_Prunning`): from the idle
        /// list, from its `nextp` (after `m_wake`/`m_start`), or its own P back after a fast
        /// syscall exit.
        Acquire = 1 => "acquire",
        /// The owning M gave its P up (`_Prunning` → `_Pidle`) and holds it until the next
        /// probe naming the P from that M says where it goes: `pidle_put` (the idle list),
        /// `handoff_p` (handoffp's decision) or `startlockedm` (a locked M's `nextp`).
        Release = 2 => "release",
        /// The owning M entered a blocking syscall (`_Prunning` → `_Psyscall`).
        SyscallEnter = 3 => "syscall_enter",
        /// The M came back from a syscall and took its old P back (`_Psyscall` → `_Pidle`); the
        /// same M's `acquire` follows.
        SyscallExitFast = 4 => "syscall_exit_fast",
        /// Sysmon retook a P stuck in a syscall (`_Psyscall` → `_Pidle`, `m` is `M_NONE`); its
        /// `handoff_p` follows.
        Retake = 5 => "retake",
        /// The M stopping the world stopped its own P (`_Prunning` → `_Pgcstop`).
        StwOwn = 6 => "stw_own",
        /// The stopper stopped a P whose M is in a syscall (`_Psyscall` → `_Pgcstop`).
        StwSyscall = 7 => "stw_syscall",
        /// The stopper stopped a P it took from the idle list (`_Pidle` → `_Pgcstop`).
        StwIdle = 8 => "stw_idle",
        /// A running P stopped itself at a safepoint because a stop-the-world is pending
        /// (`_Prunning` → `_Pgcstop`).
        StwSelf = 9 => "stw_self",
        /// handoffp found a stop-the-world pending and stopped the P instead of idling it
        /// (`_Pidle` → `_Pgcstop`).
        HandoffGcstop = 10 => "handoff_gcstop",
        /// An M entering a syscall found a stop-the-world pending and stopped the P it had just
        /// put in `_Psyscall` (`_Psyscall` → `_Pgcstop`).
        SyscallGcwait = 11 => "syscall_gcwait",
        /// Start-the-world (procresize) made the P idle (`_Pgcstop` → `_Pidle`); the stopper
        /// holds it until its `pidle_put` (no work) or `startm` (work).
        ProcresizeIdle = 12 => "procresize_idle",
        /// Start-the-world (procresize) gave the stopper's M its P back (`_Pgcstop` →
        /// `_Prunning`).
        ProcresizeRun = 13 => "procresize_run",
        /// The number of Ps shrank and this P is beyond it (`_Pgcstop` → `_Pdead`).
        ProcresizeDead = 14 => "procresize_dead",
    }

    /// Why the world was stopped: the `reason` of [`probe::stw_begin`].
    pub mod stw_reason("stw_reason") enum StwReason {
        /// Asked for by user code (`goro::stop_the_world`).
        User = 0 => "user",
        /// Reading runtime statistics that need a consistent view (Go's ReadMemStats).
        ReadStats = 1 => "read_stats",
        /// Changing the number of Ps (Go's GOMAXPROCS).
        SetProcs = 2 => "set_procs",
    }

    /// What handoffp did with a P whose M is about to block, in the order it checks: the
    /// `decision` of [`probe::handoff_p`]. The first three come before
    /// the stop-the-world check; that ordering is part of golang/go#38931.
    pub mod handoff("handoff") enum Handoff {
        /// The P's local run queue or the global queue has work: start an M for the P
        /// (`startm` follows).
        StartMForWork = 0 => "start_m_for_work",
        /// There is other pending work (e.g. timers, a stop-the-world safe-point function):
        /// start an M for the P (`startm` follows).
        StartMOtherWork = 1 => "start_m_other_work",
        /// No M is spinning and no P is idle: start a spinning M so work is not missed
        /// (`startm` follows).
        StartMSpinning = 2 => "start_m_spinning",
        /// A stop-the-world is pending: stop the P (`_Pgcstop`, reason `handoff_gcstop`) and
        /// count it.
        GcStop = 3 => "gcstop",
        /// Nothing to do: put the P on the idle list (`pidle_put` follows).
        IdleList = 4 => "idle_list",
    }

    /// How a syscall ended: the `kind` of [`probe::syscall_exit`].
    pub mod syscall_exit_kind("syscall_exit_kind") enum SyscallExitKind {
        /// The M took its old P back, still in `_Psyscall`.
        Fast = 0 => "fast",
        /// The old P was lost; the M took another, idle P.
        FastIdleP = 1 => "fast_idle_p",
        /// No P available: the G was queued and the M parks.
        Slow = 2 => "slow",
    }
}

/// Every legal P status change: `(old, new, reason)`. A `p_status` event not in this table is a
/// runtime bug (the runtime treats it as fatal before it happens).
pub const TRANSITIONS: &[(pstatus::PStatus, pstatus::PStatus, reason::Reason)] = {
    use pstatus::PStatus::*;
    use reason::Reason::*;
    &[
        (Dead, GcStop, Init),
        (Idle, Running, Acquire),
        (Running, Idle, Release),
        (Running, Syscall, SyscallEnter),
        (Syscall, Idle, SyscallExitFast),
        (Syscall, Idle, Retake),
        (Running, GcStop, StwOwn),
        (Syscall, GcStop, StwSyscall),
        (Idle, GcStop, StwIdle),
        (Running, GcStop, StwSelf),
        (Idle, GcStop, HandoffGcstop),
        (Syscall, GcStop, SyscallGcwait),
        (GcStop, Idle, ProcresizeIdle),
        (GcStop, Running, ProcresizeRun),
        (GcStop, Dead, ProcresizeDead),
    ]
};

/// Whether `old → new` for `reason` is in [`TRANSITIONS`]. Constant time: for hot paths.
#[inline]
pub const fn is_legal_transition(
    old: pstatus::PStatus,
    new: pstatus::PStatus,
    reason: reason::Reason,
) -> bool {
    LEGAL[old as usize][new as usize] & (1 << reason as u32) != 0
}

const NSTATUS: usize = pstatus::PStatus::ALL.len();

/// [`TRANSITIONS`] as a bit set of reasons per `(old, new)`.
const LEGAL: [[u32; NSTATUS]; NSTATUS] = {
    let mut t = [[0u32; NSTATUS]; NSTATUS];
    let mut i = 0;
    while i < TRANSITIONS.len() {
        let (o, n, r) = TRANSITIONS[i];
        t[o as usize][n as usize] |= 1 << r as u32;
        i += 1;
    }
    t
};

probes! {
    /// A P changed status. The only place a P's status is written fires this, after checking
    /// the transition is legal (one of [`TRANSITIONS`]); `m` is the M making the change. The
    /// probe fires after the change, so two threads changing one P can emit their events out
    /// of order: sort a P's events by `seq`. Sorted, they chain: each `old` is the previous
    /// `new` and `seq` grows by exactly 1; a gap is a lost event.
    fn p_status(
        /// The P.
        p: u32 => ArgKind::P,
        /// Its status before.
        old: u8 as pstatus::PStatus,
        /// Its status after.
        new: u8 as pstatus::PStatus,
        /// The M that made the change (`M_NONE` for sysmon, which has no M).
        m: u64 => ArgKind::M,
        /// Why.
        reason: u8 as reason::Reason,
        /// This P's sequence number for the change: 1 for its first change, +1 for each one
        /// after, assigned atomically with the change itself.
        seq: u64 => ArgKind::Number,
    );

    /// A stop-the-world starts waiting. Fired by the stopper under the scheduler lock once it
    /// has set `gcwaiting`, stopped its own P, claimed the syscall and idle Ps (their
    /// `p_status` events, reasons `stw_own`, `stw_syscall`, `stw_idle`, come just before) and
    /// asked the running Gs to yield. Every other P is counted off `stopwait` after this (a
    /// running P that stops itself may fire its `stw_self` `p_status` just before, but is
    /// counted after).
    fn stw_begin(
        /// The stop-the-world's id (1, 2, ...), carried by its other probes.
        id: u64 => ArgKind::Stw,
        /// Why the world is stopped.
        reason: u8 as stw_reason::StwReason,
        /// The number of Ps.
        nprocs: u32 => ArgKind::Number,
        /// Ps still to stop when the wait starts (0: the world is already stopped).
        stopwait: u32 => ArgKind::Number,
    );

    /// A wait round of a stop-the-world made no progress (rate-limited): the Ps left are
    /// running Gs that have not reached a safepoint, or Ps nobody will ever stop.
    fn stw_wait(
        /// The stop-the-world.
        id: u64 => ArgKind::Stw,
        /// Ps still to stop.
        stopwait: u32 => ArgKind::Number,
    );

    /// Every P is stopped: the world is stopped.
    fn stw_stopped(
        /// The stop-the-world.
        id: u64 => ArgKind::Stw,
        /// Nanoseconds from the start of the stop to now: the time to stop.
        ns: u64 => ArgKind::Number,
    );

    /// The world was started again.
    fn stw_end(
        /// The stop-the-world.
        id: u64 => ArgKind::Stw,
    );

    /// handoffp decided what to do with an idle P whose M is about to block (or that sysmon
    /// retook). `m` held the P until now; the decision says where it goes.
    fn handoff_p(
        /// The P handed off.
        p: u32 => ArgKind::P,
        /// The M giving it away (`M_NONE`: sysmon, after a retake).
        m: u64 => ArgKind::M,
        /// What was decided.
        decision: u8 as handoff::Handoff,
    );

    /// startm gives an idle P to an M: an idle one (stored in its `nextp`; its `m_wake`
    /// follows), or a new one (its `newm` follows, carrying the P).
    fn startm(
        /// The P given.
        p: u32 => ArgKind::P,
        /// The idle M woken, or `M_NONE`: a new M will be created with `p` as its next P.
        m: u64 => ArgKind::M,
        /// Whether the M starts spinning (looking for work).
        spinning: u8 => ArgKind::Flag,
    );

    /// startlockedm: the running M gives its P (just released, `_Pidle`) to the M a runnable
    /// locked G is wired to, through that M's `nextp`, and wakes it (its `m_wake` follows).
    fn startlockedm(
        /// The P handed over.
        p: u32 => ArgKind::P,
        /// The M giving it.
        m: u64 => ArgKind::M,
        /// The locked M receiving it.
        lockedm: u64 => ArgKind::M,
        /// The locked G it will run.
        g: u64 => ArgKind::G,
    );

    /// An idle P was put on the idle list. It stays there, owned by nobody, until its
    /// `pidle_get`.
    fn pidle_put(
        /// The P.
        p: u32 => ArgKind::P,
        /// The M putting it there (`M_NONE`: sysmon).
        m: u64 => ArgKind::M,
        /// Number of Ps on the idle list after.
        npidle: u32 => ArgKind::Number,
    );

    /// An idle P was taken off the idle list; `m` holds it now (its `acquire`, a `startm` or a
    /// stopper's `stw_idle` follows).
    fn pidle_get(
        /// The P.
        p: u32 => ArgKind::P,
        /// The M taking it (`M_NONE`: sysmon).
        m: u64 => ArgKind::M,
        /// Number of Ps on the idle list after.
        npidle: u32 => ArgKind::Number,
    );

    /// A new M is being created (its thread starts later: `m_start`, or `template_running`
    /// for the template thread's own M).
    fn newm(
        /// The new M's id.
        m: u64 => ArgKind::M,
        /// The M creating it (`M_NONE`: not created from an M).
        creator: u64 => ArgKind::M,
        /// Whether the creator is locked to a G (LockOSThread), so must not clone the thread.
        creator_locked: u8 => ArgKind::Flag,
        /// Whether the creation was queued to the template thread instead.
        queued: u8 => ArgKind::Flag,
        /// The idle P the new M starts with (in its `nextp`), or `P_NONE`.
        p: u32 => ArgKind::P,
        /// Whether this is the template thread's own M.
        template: u8 => ArgKind::Flag,
    );

    /// A new M was put on the new-M hand-off list, for the template thread to create.
    fn newm_handoff(
        /// The queued M.
        m: u64 => ArgKind::M,
        /// Length of the hand-off list after queuing.
        list_len: u32 => ArgKind::Number,
    );

    /// The first LockOSThread set `have_template_thread` and is about to create the template
    /// thread. From here until `template_running`, queued Ms depend on that thread.
    fn template_start(
        /// The M that set the flag.
        m: u64 => ArgKind::M,
    );

    /// The template thread is running and serves the hand-off list.
    fn template_running(
        /// Its M (the one its `newm` named).
        m: u64 => ArgKind::M,
        /// Its thread id.
        tid: u32 => ArgKind::Tid,
    );

    /// The template thread created a queued M.
    fn template_spawn(
        /// The M created.
        m: u64 => ArgKind::M,
    );

    /// An M's thread started running.
    fn m_start(
        /// The M.
        m: u64 => ArgKind::M,
        /// Its thread id.
        tid: u32 => ArgKind::Tid,
    );

    /// An M parks: it has no P and sleeps until woken (on the idle M list, or — a locked M —
    /// until its G is runnable again).
    fn m_park(
        /// The M.
        m: u64 => ArgKind::M,
        /// Its thread id.
        tid: u32 => ArgKind::Tid,
    );

    /// A parked M woke up.
    fn m_wake(
        /// The M.
        m: u64 => ArgKind::M,
        /// Its thread id.
        tid: u32 => ArgKind::Tid,
        /// The P it was given (`P_NONE` if none); its `acquire` follows.
        p: u32 => ArgKind::P,
    );

    /// An M's thread exits (e.g. its locked G exited while locked).
    fn m_exit(
        /// The M.
        m: u64 => ArgKind::M,
        /// Its thread id.
        tid: u32 => ArgKind::Tid,
    );

    /// A G called LockOSThread (external) or the runtime locked it (internal).
    fn lock_os_thread(
        /// The G.
        g: u64 => ArgKind::G,
        /// The M it is locked to.
        m: u64 => ArgKind::M,
        /// The M's external lock count after the call (nests).
        ext: u32 => ArgKind::Number,
        /// The M's internal (runtime) lock count after the call.
        int: u32 => ArgKind::Number,
    );

    /// A G called UnlockOSThread (external) or the runtime unlocked it (internal).
    fn unlock_os_thread(
        /// The G.
        g: u64 => ArgKind::G,
        /// The M.
        m: u64 => ArgKind::M,
        /// The external lock count after the call; the G is unlocked when both are 0.
        ext: u32 => ArgKind::Number,
        /// The internal lock count after the call.
        int: u32 => ArgKind::Number,
    );

    /// A G was asked to yield at its next safepoint (by a stop-the-world or by sysmon). Fired
    /// only when the G has no request pending: a request stays pending until the G yields
    /// (`preempted`), so a stop-the-world that re-asks every wait round fires it once per G.
    /// Each `preempted` answers one `preempt_request` and a G has at most one unanswered; the
    /// requester fires after setting the request, so its probe may land just after the
    /// `preempted` that answers it.
    fn preempt_request(
        /// The G.
        g: u64 => ArgKind::G,
        /// The P it runs on.
        p: u32 => ArgKind::P,
        /// The M it runs on.
        m: u64 => ArgKind::M,
    );

    /// A G reached a safepoint and yielded after a preemption request.
    fn preempted(
        /// The G.
        g: u64 => ArgKind::G,
        /// The P it ran on.
        p: u32 => ArgKind::P,
        /// The M it ran on.
        m: u64 => ArgKind::M,
    );

    /// A G enters a blocking syscall; its P goes to `_Psyscall`.
    fn syscall_enter(
        /// The G.
        g: u64 => ArgKind::G,
        /// Its P, now the M's "old P".
        p: u32 => ArgKind::P,
        /// The M.
        m: u64 => ArgKind::M,
    );

    /// A G returned from a blocking syscall.
    fn syscall_exit(
        /// The G.
        g: u64 => ArgKind::G,
        /// The P it continues on (`P_NONE` for a slow exit).
        p: u32 => ArgKind::P,
        /// The M.
        m: u64 => ArgKind::M,
        /// How it got a P back.
        kind: u8 as syscall_exit_kind::SyscallExitKind,
    );

    /// The number of Ps changes (during a stop-the-world, or at start-up from 0).
    fn procresize(
        /// The number of Ps before.
        old: u32 => ArgKind::Number,
        /// The number after.
        new: u32 => ArgKind::Number,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn probe_and_argument_names_are_unique_and_documented() {
        let mut names = HashSet::new();
        for p in CATALOG {
            assert!(names.insert(p.name), "probe {} twice", p.name);
            assert!(!one_line(p.doc).is_empty(), "probe {} undocumented", p.name);
            let mut args = HashSet::new();
            for a in p.args {
                assert!(args.insert(a.name), "{}: argument {} twice", p.name, a.name);
                assert!(
                    !one_line(a.doc).is_empty(),
                    "{}.{} undocumented",
                    p.name,
                    a.name
                );
            }
            // The SDT convention (and our BPF decoder) handle at most 12 arguments.
            assert!(p.args.len() <= 12, "{}", p.name);
        }
    }

    #[test]
    fn the_catalog_has_the_contracted_probes_in_the_contracted_shape() {
        use ArgType::*;
        // (probe, [(argument, type, kind)])
        type Shape = (
            &'static str,
            &'static [(&'static str, ArgType, &'static str)],
        );
        let expect: &[Shape] = &[
            (
                "p_status",
                &[
                    ("p", U32, "p"),
                    ("old", U8, "pstatus"),
                    ("new", U8, "pstatus"),
                    ("m", U64, "m"),
                    ("reason", U8, "reason"),
                    ("seq", U64, "number"),
                ],
            ),
            (
                "stw_begin",
                &[
                    ("id", U64, "stw"),
                    ("reason", U8, "stw_reason"),
                    ("nprocs", U32, "number"),
                    ("stopwait", U32, "number"),
                ],
            ),
            (
                "stw_wait",
                &[("id", U64, "stw"), ("stopwait", U32, "number")],
            ),
            ("stw_stopped", &[("id", U64, "stw"), ("ns", U64, "number")]),
            ("stw_end", &[("id", U64, "stw")]),
            (
                "handoff_p",
                &[
                    ("p", U32, "p"),
                    ("m", U64, "m"),
                    ("decision", U8, "handoff"),
                ],
            ),
            (
                "startm",
                &[("p", U32, "p"), ("m", U64, "m"), ("spinning", U8, "flag")],
            ),
            (
                "startlockedm",
                &[
                    ("p", U32, "p"),
                    ("m", U64, "m"),
                    ("lockedm", U64, "m"),
                    ("g", U64, "g"),
                ],
            ),
            (
                "pidle_put",
                &[("p", U32, "p"), ("m", U64, "m"), ("npidle", U32, "number")],
            ),
            (
                "pidle_get",
                &[("p", U32, "p"), ("m", U64, "m"), ("npidle", U32, "number")],
            ),
            (
                "newm",
                &[
                    ("m", U64, "m"),
                    ("creator", U64, "m"),
                    ("creator_locked", U8, "flag"),
                    ("queued", U8, "flag"),
                    ("p", U32, "p"),
                    ("template", U8, "flag"),
                ],
            ),
            (
                "newm_handoff",
                &[("m", U64, "m"), ("list_len", U32, "number")],
            ),
            ("template_start", &[("m", U64, "m")]),
            ("template_running", &[("m", U64, "m"), ("tid", U32, "tid")]),
            ("template_spawn", &[("m", U64, "m")]),
            ("m_start", &[("m", U64, "m"), ("tid", U32, "tid")]),
            ("m_park", &[("m", U64, "m"), ("tid", U32, "tid")]),
            (
                "m_wake",
                &[("m", U64, "m"), ("tid", U32, "tid"), ("p", U32, "p")],
            ),
            ("m_exit", &[("m", U64, "m"), ("tid", U32, "tid")]),
            (
                "lock_os_thread",
                &[
                    ("g", U64, "g"),
                    ("m", U64, "m"),
                    ("ext", U32, "number"),
                    ("int", U32, "number"),
                ],
            ),
            (
                "unlock_os_thread",
                &[
                    ("g", U64, "g"),
                    ("m", U64, "m"),
                    ("ext", U32, "number"),
                    ("int", U32, "number"),
                ],
            ),
            (
                "preempt_request",
                &[("g", U64, "g"), ("p", U32, "p"), ("m", U64, "m")],
            ),
            (
                "preempted",
                &[("g", U64, "g"), ("p", U32, "p"), ("m", U64, "m")],
            ),
            (
                "syscall_enter",
                &[("g", U64, "g"), ("p", U32, "p"), ("m", U64, "m")],
            ),
            (
                "syscall_exit",
                &[
                    ("g", U64, "g"),
                    ("p", U32, "p"),
                    ("m", U64, "m"),
                    ("kind", U8, "syscall_exit_kind"),
                ],
            ),
            (
                "procresize",
                &[("old", U32, "number"), ("new", U32, "number")],
            ),
        ];
        assert_eq!(CATALOG.len(), expect.len());
        for (def, (name, args)) in CATALOG.iter().zip(expect) {
            assert_eq!(def.name, *name);
            let got: Vec<_> = def
                .args
                .iter()
                .map(|a| (a.name, a.ty, a.kind.name()))
                .collect();
            assert_eq!(&got, args, "{name}");
        }
    }

    #[test]
    fn code_tables_are_dense_unique_and_match_their_enums() {
        for t in CODE_TABLES {
            let mut names = HashSet::new();
            for (i, c) in t.codes.iter().enumerate() {
                assert_eq!(
                    usize::from(c.value),
                    i,
                    "{}: codes are numbered in order",
                    t.name
                );
                assert!(names.insert(c.name), "{}: {} twice", t.name, c.name);
                assert_eq!(t.name_of(c.value), Some(c.name));
                assert_eq!(t.value_of(c.name), Some(c.value));
                assert!(
                    !one_line(c.doc).is_empty(),
                    "{}.{} undocumented",
                    t.name,
                    c.name
                );
            }
            assert_eq!(t.name_of(t.codes.len() as u8), None);
        }
        fn check<E: CodeEnum + fmt::Debug + PartialEq>(
            all: &[E],
            name: impl Fn(E) -> &'static str,
        ) {
            let t = E::TABLE;
            assert_eq!(all.len(), t.codes.len(), "{}", t.name);
            for (&e, c) in all.iter().zip(t.codes) {
                let code: u8 = e.into();
                assert_eq!(code, c.value);
                assert_eq!(name(e), c.name);
                assert_eq!(format!("{e:?}"), c.variant);
                assert_eq!(E::try_from(code), Ok(e));
            }
            for code in all.len() as u8..=u8::MAX {
                assert_eq!(
                    E::try_from(code),
                    Err(UnknownCode {
                        table: t.name,
                        code
                    })
                );
            }
        }
        check(pstatus::PStatus::ALL, pstatus::PStatus::name);
        check(reason::Reason::ALL, reason::Reason::name);
        check(stw_reason::StwReason::ALL, stw_reason::StwReason::name);
        check(handoff::Handoff::ALL, handoff::Handoff::name);
        check(
            syscall_exit_kind::SyscallExitKind::ALL,
            syscall_exit_kind::SyscallExitKind::name,
        );
        assert_eq!(
            UnknownCode {
                table: "pstatus",
                code: 7
            }
            .to_string(),
            "7 is not a pstatus code"
        );
    }

    #[test]
    fn codes_have_the_contracted_values() {
        use pstatus::PStatus;
        assert_eq!(
            PStatus::ALL
                .iter()
                .map(|s| (s.code(), s.name()))
                .collect::<Vec<_>>(),
            [
                (0, "_Pidle"),
                (1, "_Prunning"),
                (2, "_Psyscall"),
                (3, "_Pgcstop"),
                (4, "_Pdead")
            ]
        );
        let reasons = [
            "init",
            "acquire",
            "release",
            "syscall_enter",
            "syscall_exit_fast",
            "retake",
            "stw_own",
            "stw_syscall",
            "stw_idle",
            "stw_self",
            "handoff_gcstop",
            "syscall_gcwait",
            "procresize_idle",
            "procresize_run",
            "procresize_dead",
        ];
        assert_eq!(
            reason::Reason::ALL
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>(),
            reasons
        );
        assert_eq!(
            stw_reason::StwReason::ALL
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>(),
            ["user", "read_stats", "set_procs"]
        );
        assert_eq!(
            handoff::Handoff::ALL
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>(),
            [
                "start_m_for_work",
                "start_m_other_work",
                "start_m_spinning",
                "gcstop",
                "idle_list"
            ]
        );
        assert_eq!(
            syscall_exit_kind::SyscallExitKind::ALL
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>(),
            ["fast", "fast_idle_p", "slow"]
        );
    }

    #[test]
    fn every_reason_has_one_transition_and_every_status_is_reachable_and_leavable() {
        use pstatus::PStatus;
        for r in reason::Reason::ALL {
            let n = TRANSITIONS.iter().filter(|t| t.2 == *r).count();
            assert_eq!(n, 1, "{r}: in {n} transitions");
        }
        for s in PStatus::ALL {
            assert!(TRANSITIONS.iter().any(|t| t.0 == *s), "no way out of {s}");
            assert!(TRANSITIONS.iter().any(|t| t.1 == *s), "no way into {s}");
        }
        for o in PStatus::ALL {
            for n in PStatus::ALL {
                for r in reason::Reason::ALL {
                    assert_eq!(
                        is_legal_transition(*o, *n, *r),
                        TRANSITIONS.contains(&(*o, *n, *r)),
                        "{o} -> {n} ({r})"
                    );
                }
            }
        }
        // The two transitions that would let a P vanish from a stop-the-world's count.
        assert!(
            !TRANSITIONS
                .iter()
                .any(|t| (t.0, t.1) == (PStatus::Dead, PStatus::Running))
        );
        assert!(
            !TRANSITIONS
                .iter()
                .any(|t| (t.0, t.1) == (PStatus::GcStop, PStatus::Syscall))
        );
    }

    #[test]
    fn arg_kinds_render_names_and_none() {
        assert_eq!(ArgKind::P.render(u64::from(P_NONE)), "none");
        assert_eq!(ArgKind::P.render(3), "3");
        assert_eq!(ArgKind::M.render(0), "none");
        assert_eq!(ArgKind::G.render(9), "9");
        assert_eq!(ArgKind::Flag.render(1), "true");
        assert_eq!(ArgKind::Flag.render(2), "invalid(2)");
        assert_eq!(ArgKind::Code(&pstatus::TABLE).render(0), "_Pidle");
        assert_eq!(ArgKind::Code(&reason::TABLE).render(9), "stw_self");
        assert_eq!(ArgKind::Code(&reason::TABLE).render(15), "unknown(15)");
        assert_eq!(ArgKind::Code(&handoff::TABLE).render(300), "unknown(300)");
    }

    #[test]
    fn arg_types_round_trip_through_spec_sizes() {
        for t in [
            ArgType::U8,
            ArgType::U16,
            ArgType::U32,
            ArgType::U64,
            ArgType::I8,
            ArgType::I16,
            ArgType::I32,
            ArgType::I64,
        ] {
            assert_eq!(ArgType::from_spec(t.size(), t.signed()), Some(t));
        }
        assert_eq!(ArgType::from_spec(3, false), None);
    }

    #[test]
    fn seeds_truncate_to_the_low_bits() {
        assert_eq!(u8::from_seed(0x1234), 0x34);
        assert_eq!(u32::from_seed(0x1_0000_0002), 2);
        assert_eq!(i8::from_seed(0xff), -1);
        assert_eq!(u64::from_seed(u64::MAX), u64::MAX);
    }
}
