//! What the engine is fed: typed events (one variant per catalog probe), clock ticks, counts of
//! lost events, and whole-state snapshots.
//!
//! Sources decode their raw records into [`Event`] with [`decode`] or [`decode_positional`],
//! both checked against the probe catalog: an unknown probe, a missing argument, a value wider
//! than the argument's type or an unknown code is a [`DecodeError`], never a panic.
//!
//! Every time (`ts_ns`, `now_ns`, `since_ns`...) is on one clock: the one the probes' records
//! are stamped with (the kernel's monotonic clock for BPF). Ticks must use that clock too.

use goro_probes::catalog::{self, ArgType, ProbeDef};
pub use goro_probes::{Handoff, PStatus, Reason, StwReason, SyscallExitKind};

use serde::{Deserialize, Serialize};

use super::codes;
use super::snapshot::Snapshot;

/// One input to the engine.
#[derive(Clone, Debug)]
pub enum Input {
    /// A probe fired.
    Event(Event),
    /// Time passed: the source has delivered every event stamped before `now_ns` (a live
    /// source feeds one after draining its buffer; a file source at its end). A hung process
    /// emits nothing, so this is how a stop-the-world that is not progressing is found.
    Tick { now_ns: u64 },
    /// The source dropped `count` events (ring buffer full, a truncated file).
    Lost { count: u64 },
    /// The whole scheduler state, read from memory (a process that is already hung emits no
    /// events). Replaces the model; detectors run on it at once, at the snapshot's `now_ns`.
    Snapshot(Box<Snapshot>),
    /// The model as it stood at `now_ns` (a flight recording's state record): replaces the
    /// model, like a snapshot, but whole, histories and all, so findings read the same as
    /// where it was saved. No detector runs on it until time passes.
    Restore {
        model: Box<super::model::Model>,
        now_ns: u64,
    },
}

/// A probe hit: when, on which thread, and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub ts_ns: u64,
    /// The kernel thread that fired the probe.
    pub tid: u32,
    pub kind: EventKind,
}

/// One variant per probe of the catalog, with typed fields. `None` stands for the catalog's
/// "none" values (`P_NONE`, `M_NONE`, `G_NONE`), and for an argument this catalog version does
/// not have (documented on the field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    PStatus {
        p: u32,
        #[serde(with = "codes::code")]
        old: PStatus,
        #[serde(with = "codes::code")]
        new: PStatus,
        m: Option<u64>,
        #[serde(with = "codes::code")]
        reason: Reason,
        /// Per-P change number (1, 2, ...); `None` with a catalog that has no `seq`.
        seq: Option<u64>,
    },
    StwBegin {
        id: u64,
        #[serde(with = "codes::code")]
        reason: StwReason,
        nprocs: u32,
        stopwait: u32,
    },
    StwWait {
        id: u64,
        stopwait: u32,
    },
    StwStopped {
        id: u64,
        ns: u64,
    },
    StwEnd {
        id: u64,
    },
    HandoffP {
        p: u32,
        m: Option<u64>,
        #[serde(with = "codes::code")]
        decision: Handoff,
    },
    StartM {
        p: Option<u32>,
        /// The idle M woken; `None`: a new M is created with `p` as its next P.
        m: Option<u64>,
        spinning: bool,
    },
    /// A P given to a locked M (its `nextp`), whose G is runnable again.
    StartLockedM {
        p: u32,
        /// The M giving it.
        m: Option<u64>,
        lockedm: u64,
        g: Option<u64>,
    },
    PidlePut {
        p: u32,
        m: Option<u64>,
        npidle: u32,
    },
    PidleGet {
        p: u32,
        m: Option<u64>,
        npidle: u32,
    },
    NewM {
        m: u64,
        creator: Option<u64>,
        creator_locked: bool,
        queued: bool,
        /// The P the new M starts with. With a catalog that does not carry it, the engine
        /// takes it from the `startm` that the same thread fired just before.
        p: Option<u32>,
        /// The template thread's own M.
        template: bool,
    },
    NewMHandoff {
        m: u64,
        list_len: u32,
    },
    TemplateStart {
        m: Option<u64>,
    },
    TemplateRunning {
        tid: u32,
        /// The template thread's M, when the catalog carries it.
        m: Option<u64>,
    },
    TemplateSpawn {
        m: u64,
    },
    MStart {
        m: u64,
        tid: u32,
    },
    MPark {
        m: u64,
        tid: u32,
    },
    MWake {
        m: u64,
        tid: u32,
        p: Option<u32>,
    },
    MExit {
        m: u64,
        tid: u32,
    },
    LockOsThread {
        g: Option<u64>,
        m: u64,
        ext: u32,
        int: u32,
    },
    UnlockOsThread {
        g: Option<u64>,
        m: u64,
        ext: u32,
        int: u32,
    },
    PreemptRequest {
        g: Option<u64>,
        p: Option<u32>,
        m: Option<u64>,
    },
    Preempted {
        g: Option<u64>,
        p: Option<u32>,
        m: Option<u64>,
    },
    SyscallEnter {
        g: Option<u64>,
        p: Option<u32>,
        m: Option<u64>,
    },
    SyscallExit {
        g: Option<u64>,
        p: Option<u32>,
        m: Option<u64>,
        #[serde(with = "codes::code")]
        kind: SyscallExitKind,
    },
    ProcResize {
        old: u32,
        new: u32,
    },
}

impl EventKind {
    /// The catalog name of the probe this event comes from.
    pub fn probe(&self) -> &'static str {
        match self {
            EventKind::PStatus { .. } => "p_status",
            EventKind::StwBegin { .. } => "stw_begin",
            EventKind::StwWait { .. } => "stw_wait",
            EventKind::StwStopped { .. } => "stw_stopped",
            EventKind::StwEnd { .. } => "stw_end",
            EventKind::HandoffP { .. } => "handoff_p",
            EventKind::StartM { .. } => "startm",
            EventKind::StartLockedM { .. } => "startlockedm",
            EventKind::PidlePut { .. } => "pidle_put",
            EventKind::PidleGet { .. } => "pidle_get",
            EventKind::NewM { .. } => "newm",
            EventKind::NewMHandoff { .. } => "newm_handoff",
            EventKind::TemplateStart { .. } => "template_start",
            EventKind::TemplateRunning { .. } => "template_running",
            EventKind::TemplateSpawn { .. } => "template_spawn",
            EventKind::MStart { .. } => "m_start",
            EventKind::MPark { .. } => "m_park",
            EventKind::MWake { .. } => "m_wake",
            EventKind::MExit { .. } => "m_exit",
            EventKind::LockOsThread { .. } => "lock_os_thread",
            EventKind::UnlockOsThread { .. } => "unlock_os_thread",
            EventKind::PreemptRequest { .. } => "preempt_request",
            EventKind::Preempted { .. } => "preempted",
            EventKind::SyscallEnter { .. } => "syscall_enter",
            EventKind::SyscallExit { .. } => "syscall_exit",
            EventKind::ProcResize { .. } => "procresize",
        }
    }
}

/// The decisions of handoffp that give the P to an M (a `startm` follows).
pub fn starts_m(h: Handoff) -> bool {
    matches!(
        h,
        Handoff::StartMForWork | Handoff::StartMOtherWork | Handoff::StartMSpinning
    )
}

/// P ids the engine accepts: the model keeps a slot per P id, so a corrupt record naming
/// P 4000000000 must not allocate one per id below it. Far above any runtime's P count
/// (goro's maximum is 1024, Go's 2^31 is theoretical).
pub const MAX_P_ID: u32 = 1 << 16;

/// A raw record the engine cannot take. Sources count these and go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown probe `{0}`")]
    UnknownProbe(String),
    #[error("probe index {0} is not in the catalog")]
    UnknownProbeIndex(usize),
    #[error("{probe}: missing argument `{arg}`")]
    MissingArg {
        probe: &'static str,
        arg: &'static str,
    },
    #[error("{probe}: argument `{arg}` = {value} does not fit its type {ty}")]
    OutOfRange {
        probe: &'static str,
        arg: &'static str,
        value: u64,
        ty: ArgType,
    },
    #[error("{probe}: argument `{arg}` = {value} is not a known {table} code")]
    UnknownCode {
        probe: &'static str,
        arg: &'static str,
        value: u64,
        table: &'static str,
    },
    #[error("{probe}: argument `{arg}` = {value} is not a flag (0 or 1)")]
    NotAFlag {
        probe: &'static str,
        arg: &'static str,
        value: u64,
    },
    #[error("{probe}: argument `{arg}` = {value} is not a plausible P id (at most {MAX_P_ID})")]
    BadP {
        probe: &'static str,
        arg: &'static str,
        value: u32,
    },
    #[error("{probe}: {got} arguments, the catalog has {want}")]
    ArgCount {
        probe: &'static str,
        got: usize,
        want: usize,
    },
}

/// Decodes a generic record — a probe name and its arguments by name — into a typed event.
/// `arg(name)` returns the raw value of the record's argument `name` (zero-extended).
pub fn decode(
    ts_ns: u64,
    tid: u32,
    probe: &str,
    arg: impl Fn(&str) -> Option<u64>,
) -> Result<Event, DecodeError> {
    let def = catalog::find(probe).ok_or_else(|| DecodeError::UnknownProbe(probe.to_owned()))?;
    decode_def(ts_ns, tid, def, &|name| arg(name))
}

/// Decodes a record given as the index of its probe in [`catalog::CATALOG`] and its
/// arguments in catalog order (the shape of a BPF record).
pub fn decode_positional(
    ts_ns: u64,
    tid: u32,
    probe_index: usize,
    args: &[u64],
) -> Result<Event, DecodeError> {
    let def = catalog::CATALOG
        .get(probe_index)
        .ok_or(DecodeError::UnknownProbeIndex(probe_index))?;
    if args.len() < def.args.len() {
        return Err(DecodeError::ArgCount {
            probe: def.name,
            got: args.len(),
            want: def.args.len(),
        });
    }
    decode_def(ts_ns, tid, def, &|name| {
        def.args
            .iter()
            .position(|a| a.name == name)
            .map(|i| args[i])
    })
}

/// Reads the arguments of one record, each checked against its catalog definition.
struct Args<'a> {
    def: &'static ProbeDef,
    get: &'a dyn Fn(&str) -> Option<u64>,
}

impl Args<'_> {
    /// The argument's value, if this catalog version has the argument; an error if it has it
    /// but the record does not, or the value does not fit.
    fn opt(&self, name: &'static str) -> Result<Option<u64>, DecodeError> {
        let Some(a) = self.def.args.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        let value = (self.get)(name).ok_or(DecodeError::MissingArg {
            probe: self.def.name,
            arg: a.name,
        })?;
        let fits = match a.ty.size() {
            8 => true,
            bytes => value >> (u32::from(bytes) * 8) == 0,
        };
        if !fits {
            return Err(DecodeError::OutOfRange {
                probe: self.def.name,
                arg: a.name,
                value,
                ty: a.ty,
            });
        }
        Ok(Some(value))
    }

    fn req(&self, name: &'static str) -> Result<u64, DecodeError> {
        self.opt(name)?.ok_or(DecodeError::MissingArg {
            probe: self.def.name,
            arg: name,
        })
    }

    fn u32(&self, name: &'static str) -> Result<u32, DecodeError> {
        // `opt` checked the width against the catalog type; a wider catalog type is narrowed
        // with the same check.
        let v = self.req(name)?;
        u32::try_from(v).map_err(|_| DecodeError::OutOfRange {
            probe: self.def.name,
            arg: name,
            value: v,
            ty: ArgType::U32,
        })
    }

    /// A P id that must be present.
    fn pid(&self, name: &'static str) -> Result<u32, DecodeError> {
        let p = self.u32(name)?;
        if p > MAX_P_ID {
            return Err(DecodeError::BadP {
                probe: self.def.name,
                arg: name,
                value: p,
            });
        }
        Ok(p)
    }

    /// A P id or `P_NONE`.
    fn p(&self, name: &'static str) -> Result<Option<u32>, DecodeError> {
        if self.u32(name)? == catalog::P_NONE {
            return Ok(None);
        }
        self.pid(name).map(Some)
    }

    fn opt_p(&self, name: &'static str) -> Result<Option<u32>, DecodeError> {
        match self.opt(name)? {
            None => Ok(None),
            Some(_) => self.p(name),
        }
    }

    fn id(&self, name: &'static str) -> Result<Option<u64>, DecodeError> {
        let v = self.req(name)?;
        Ok((v != 0).then_some(v))
    }

    fn flag(&self, name: &'static str) -> Result<bool, DecodeError> {
        match self.req(name)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::NotAFlag {
                probe: self.def.name,
                arg: name,
                value,
            }),
        }
    }

    fn code<T: catalog::CodeEnum>(&self, name: &'static str) -> Result<T, DecodeError> {
        let v = self.req(name)?;
        u8::try_from(v)
            .ok()
            .and_then(|c| T::try_from(c).ok())
            .ok_or(DecodeError::UnknownCode {
                probe: self.def.name,
                arg: name,
                value: v,
                table: T::TABLE.name,
            })
    }

    fn opt_flag(&self, name: &'static str) -> Result<bool, DecodeError> {
        match self.opt(name)? {
            None => Ok(false),
            Some(_) => self.flag(name),
        }
    }
}

fn decode_def(
    ts_ns: u64,
    tid: u32,
    def: &'static ProbeDef,
    get: &dyn Fn(&str) -> Option<u64>,
) -> Result<Event, DecodeError> {
    let a = Args { def, get };
    let kind = match def.name {
        "p_status" => EventKind::PStatus {
            p: a.pid("p")?,
            old: a.code("old")?,
            new: a.code("new")?,
            m: a.id("m")?,
            reason: a.code("reason")?,
            seq: a.opt("seq")?,
        },
        "stw_begin" => EventKind::StwBegin {
            id: a.req("id")?,
            reason: a.code("reason")?,
            nprocs: a.u32("nprocs")?,
            stopwait: a.u32("stopwait")?,
        },
        "stw_wait" => EventKind::StwWait {
            id: a.req("id")?,
            stopwait: a.u32("stopwait")?,
        },
        "stw_stopped" => EventKind::StwStopped {
            id: a.req("id")?,
            ns: a.req("ns")?,
        },
        "stw_end" => EventKind::StwEnd { id: a.req("id")? },
        "handoff_p" => EventKind::HandoffP {
            p: a.pid("p")?,
            m: a.id("m")?,
            decision: a.code("decision")?,
        },
        "startm" => EventKind::StartM {
            p: a.p("p")?,
            m: a.id("m")?,
            spinning: a.flag("spinning")?,
        },
        "newm" => EventKind::NewM {
            m: a.req("m")?,
            creator: a.id("creator")?,
            creator_locked: a.flag("creator_locked")?,
            queued: a.flag("queued")?,
            p: a.opt_p("p")?,
            template: a.opt_flag("template")?,
        },
        "startlockedm" => EventKind::StartLockedM {
            p: a.pid("p")?,
            m: a.id("m")?,
            lockedm: a.req("lockedm")?,
            g: a.id("g")?,
        },
        "pidle_put" => EventKind::PidlePut {
            p: a.pid("p")?,
            m: a.id("m")?,
            npidle: a.u32("npidle")?,
        },
        "pidle_get" => EventKind::PidleGet {
            p: a.pid("p")?,
            m: a.id("m")?,
            npidle: a.u32("npidle")?,
        },
        "newm_handoff" => EventKind::NewMHandoff {
            m: a.req("m")?,
            list_len: a.u32("list_len")?,
        },
        "template_start" => EventKind::TemplateStart { m: a.id("m")? },
        "template_running" => EventKind::TemplateRunning {
            tid: a.u32("tid")?,
            m: match a.opt("m")? {
                Some(_) => a.id("m")?,
                None => None,
            },
        },
        "template_spawn" => EventKind::TemplateSpawn { m: a.req("m")? },
        "m_start" => EventKind::MStart {
            m: a.req("m")?,
            tid: a.u32("tid")?,
        },
        "m_park" => EventKind::MPark {
            m: a.req("m")?,
            tid: a.u32("tid")?,
        },
        "m_wake" => EventKind::MWake {
            m: a.req("m")?,
            tid: a.u32("tid")?,
            p: a.p("p")?,
        },
        "m_exit" => EventKind::MExit {
            m: a.req("m")?,
            tid: a.u32("tid")?,
        },
        "lock_os_thread" => EventKind::LockOsThread {
            g: a.id("g")?,
            m: a.req("m")?,
            ext: a.u32("ext")?,
            int: a.u32("int")?,
        },
        "unlock_os_thread" => EventKind::UnlockOsThread {
            g: a.id("g")?,
            m: a.req("m")?,
            ext: a.u32("ext")?,
            int: a.u32("int")?,
        },
        "preempt_request" => EventKind::PreemptRequest {
            g: a.id("g")?,
            p: a.p("p")?,
            m: a.id("m")?,
        },
        "preempted" => EventKind::Preempted {
            g: a.id("g")?,
            p: a.p("p")?,
            m: a.id("m")?,
        },
        "syscall_enter" => EventKind::SyscallEnter {
            g: a.id("g")?,
            p: a.p("p")?,
            m: a.id("m")?,
        },
        "syscall_exit" => EventKind::SyscallExit {
            g: a.id("g")?,
            p: a.p("p")?,
            m: a.id("m")?,
            kind: a.code("kind")?,
        },
        "procresize" => EventKind::ProcResize {
            old: a.u32("old")?,
            new: a.u32("new")?,
        },
        // A probe the catalog has and this engine does not know yet: the engine is older
        // than the catalog. An error, so the source counts it instead of guessing.
        other => return Err(DecodeError::UnknownProbe(other.to_owned())),
    };
    Ok(Event { ts_ns, tid, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_probe_decodes_from_zeroed_arguments_or_says_why() {
        for (i, def) in catalog::CATALOG.iter().enumerate() {
            // Zero is a valid value for every argument kind (codes start at 0), except that
            // required M ids decode to 0 too: decoding must succeed for every probe.
            let args = vec![0u64; def.args.len()];
            let ev =
                decode_positional(5, 7, i, &args).unwrap_or_else(|e| panic!("{}: {e}", def.name));
            assert_eq!(ev.kind.probe(), def.name);
            assert_eq!((ev.ts_ns, ev.tid), (5, 7));
        }
    }

    #[test]
    fn decode_by_name_takes_arguments_by_name() {
        let ev = decode(10, 3, "p_status", |n| {
            Some(match n {
                "p" => 2,
                "old" => 1,
                "new" => 0,
                "m" => 9,
                "reason" => 2,
                "seq" => 4,
                _ => return None,
            })
        })
        .unwrap();
        match ev.kind {
            EventKind::PStatus {
                p,
                old,
                new,
                m,
                reason,
                seq,
            } => {
                assert_eq!(
                    (p, old, new, m, reason),
                    (2, PStatus::Running, PStatus::Idle, Some(9), Reason::Release)
                );
                let has_seq = catalog::find("p_status")
                    .unwrap()
                    .args
                    .iter()
                    .any(|a| a.name == "seq");
                assert_eq!(seq, has_seq.then_some(4));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        assert!(matches!(
            decode(0, 0, "no_such_probe", |_| Some(0)),
            Err(DecodeError::UnknownProbe(_))
        ));
        assert!(matches!(
            decode(0, 0, "stw_end", |_| None),
            Err(DecodeError::MissingArg { arg: "id", .. })
        ));
        let idx = catalog::CATALOG
            .iter()
            .position(|d| d.name == "p_status")
            .unwrap();
        let n = catalog::CATALOG[idx].args.len();
        let mut args = vec![0u64; n];
        args[1] = 9; // not a P status
        assert!(matches!(
            decode_positional(0, 0, idx, &args),
            Err(DecodeError::UnknownCode { arg: "old", .. })
        ));
        args[1] = 0;
        args[0] = 1 << 40; // p is a u32
        assert!(matches!(
            decode_positional(0, 0, idx, &args),
            Err(DecodeError::OutOfRange { arg: "p", .. })
        ));
        args[0] = u64::from(MAX_P_ID) + 1;
        assert!(matches!(
            decode_positional(0, 0, idx, &args),
            Err(DecodeError::BadP { arg: "p", .. })
        ));
        assert!(matches!(
            decode_positional(0, 0, idx, &args[..1]),
            Err(DecodeError::ArgCount { .. })
        ));
        assert!(matches!(
            decode_positional(0, 0, 10_000, &[]),
            Err(DecodeError::UnknownProbeIndex(10_000))
        ));
        let startm = catalog::CATALOG
            .iter()
            .position(|d| d.name == "startm")
            .unwrap();
        assert!(matches!(
            decode_positional(0, 0, startm, &[0, 0, 2]),
            Err(DecodeError::NotAFlag { .. })
        ));
    }
}
