//! The decoded event and the input every source yields.
//!
//! An [`Event`] is one probe hit, decoded through the probe catalog: `probe` is an index into
//! [`goro_probes::CATALOG`] and `args[i]` is the value of that probe's `i`-th argument
//! (`CATALOG[probe].args[i]`), truncated to the argument's width and sign-extended for signed
//! types. Whatever fed it (the live ring buffer, a trace file) an event looks the same.

use goro_probes::catalog::{self, ArgDef, ArgKind, ProbeDef};
use serde_json::{Map, Value};

/// The most arguments a probe has (the SDT limit; the catalog keeps to it).
pub const MAX_ARGS: usize = goro_ebpf::MAX_ARGS;

/// One probe hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// CLOCK_MONOTONIC nanoseconds (the kernel's `bpf_ktime_get_ns`). A trace file's header
    /// maps them to wall-clock time.
    pub ts_ns: u64,
    /// The process (the kernel's tgid).
    pub pid: u32,
    /// The thread that hit the probe.
    pub tid: u32,
    /// The CPU it ran on.
    pub cpu: u32,
    /// Index of the probe in [`goro_probes::CATALOG`]; always valid.
    pub probe: u16,
    /// Some argument could not be read; it is 0.
    pub read_error: bool,
    /// `args[..def().args.len()]` are the arguments in catalog order; the rest are 0.
    pub args: [u64; MAX_ARGS],
}

impl Event {
    /// The catalog's description of the probe.
    pub fn def(&self) -> &'static ProbeDef {
        &catalog::CATALOG[usize::from(self.probe)]
    }

    /// The probe's name (`p_status`, `stw_begin`...).
    pub fn name(&self) -> &'static str {
        self.def().name
    }

    /// The value of the argument named `name`, if the probe has one.
    pub fn arg(&self, name: &str) -> Option<u64> {
        arg_index(self.probe, name).map(|i| self.args[i])
    }

    /// The arguments with their catalog definitions, in order.
    pub fn args(&self) -> impl Iterator<Item = (&'static ArgDef, u64)> + '_ {
        self.def().args.iter().zip(self.args)
    }

    /// `name=value ...`, each value rendered through its kind (Go's names for P statuses).
    pub fn render_args(&self) -> String {
        let mut s = String::new();
        for (i, (def, v)) in self.args().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(def.name);
            s.push('=');
            s.push_str(&def.kind.render(v));
        }
        s
    }

    /// The arguments as a JSON object: codes by name, flags as booleans, "none" ids as null,
    /// other values as numbers (signed types as signed numbers).
    pub fn json_args(&self) -> Map<String, Value> {
        self.args()
            .map(|(def, v)| (def.name.to_owned(), json_value(def, v)))
            .collect()
    }
}

fn json_value(def: &ArgDef, v: u64) -> Value {
    match def.kind {
        ArgKind::Code(t) => match u8::try_from(v).ok().and_then(|c| t.name_of(c)) {
            Some(name) => Value::from(name),
            None => Value::from(v),
        },
        ArgKind::Flag if v <= 1 => Value::from(v == 1),
        ArgKind::P if v == u64::from(catalog::P_NONE) => Value::Null,
        ArgKind::M | ArgKind::G if v == 0 => Value::Null,
        _ if def.ty.signed() => Value::from(v.cast_signed()),
        _ => Value::from(v),
    }
}

/// Index in the catalog of the probe named `name`.
pub fn probe_index(name: &str) -> Option<u16> {
    catalog::CATALOG
        .iter()
        .position(|p| p.name == name)
        .and_then(|i| u16::try_from(i).ok())
}

/// Position of the argument `name` of catalog probe `probe`.
pub fn arg_index(probe: u16, name: &str) -> Option<usize> {
    catalog::CATALOG
        .get(usize::from(probe))?
        .args
        .iter()
        .position(|a| a.name == name)
}

/// Why events were lost, or why the stream cannot be trusted to be complete at a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// The BPF ring buffer was full: the handler could not reserve space.
    RingFull,
    /// A probe hit whose site had no argument spec (never expected; a loader bug).
    SpecMiss,
    /// A P's `seq` skipped values: `count` status changes of `p` in process `pid` are missing
    /// after sequence number `after`.
    SeqGap { pid: u32, p: u32, after: u64 },
    /// A P's status change does not start where the previous one ended (`old` is not the
    /// previous `new`) and the sequence numbers do not explain it: at least one change is
    /// missing (`count` is 0: unknown).
    Discontinuity {
        pid: u32,
        p: u32,
        expected_old: u8,
        got_old: u8,
    },
    /// A status change arrived after a later one of the same P had been delivered, later than
    /// the reorder window allows; it was reported as a gap and is not delivered.
    Late { pid: u32, p: u32, seq: u64 },
}

impl LossKind {
    /// A short name for summaries and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            LossKind::RingFull => "ring_full",
            LossKind::SpecMiss => "spec_miss",
            LossKind::SeqGap { .. } => "seq_gap",
            LossKind::Discontinuity { .. } => "discontinuity",
            LossKind::Late { .. } => "late",
        }
    }
}

/// What a source yields: events, in time order (per P, in status-change order), reports of
/// loss where they are detected, and clock ticks so a consumer can judge time passing while a
/// process is silent (a hung process emits nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Event(Event),
    Lost {
        count: u64,
        why: LossKind,
    },
    /// Time has passed: every event stamped up to this time (CLOCK_MONOTONIC ns) that has
    /// arrived has been delivered. Live: now, or now minus the ordering window while events
    /// are held; replay: likewise for the time the recording reached.
    Tick(u64),
    /// A flight recording's start: the state the events after it continue from (a trace
    /// file's state record). Comes first, before any event.
    State(Box<crate::tracefile::State>),
}

/// The BPF side's cumulative counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BpfCounters {
    /// Handler runs (probe hits seen by BPF).
    pub hits: u64,
    /// Lost: ring buffer full.
    pub drops: u64,
    /// Lost: no spec for the site.
    pub spec_misses: u64,
    /// Delivered with an argument that could not be read.
    pub read_errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use goro_probes::catalog::{pstatus::PStatus, reason::Reason};

    fn p_status(args: &[u64]) -> Event {
        let mut a = [0; MAX_ARGS];
        a[..args.len()].copy_from_slice(args);
        Event {
            ts_ns: 1,
            pid: 10,
            tid: 11,
            cpu: 0,
            probe: probe_index("p_status").unwrap(),
            read_error: false,
            args: a,
        }
    }

    #[test]
    fn arguments_by_name_and_rendered_through_the_catalog() {
        let e = p_status(&[
            2,
            u64::from(PStatus::Idle.code()),
            u64::from(PStatus::Running.code()),
            7,
            u64::from(Reason::Acquire.code()),
        ]);
        assert_eq!(e.name(), "p_status");
        assert_eq!(e.arg("p"), Some(2));
        assert_eq!(e.arg("new"), Some(u64::from(PStatus::Running.code())));
        assert_eq!(e.arg("nonesuch"), None);
        let text = e.render_args();
        assert!(
            text.starts_with("p=2 old=_Pidle new=_Prunning m=7 reason=acquire"),
            "{text}"
        );
        let j = e.json_args();
        assert_eq!(j["old"], "_Pidle");
        assert_eq!(j["m"], 7);
        let none = p_status(&[u64::from(catalog::P_NONE), 0, 1, 0, 99]);
        let j = none.json_args();
        assert_eq!(j["p"], Value::Null);
        assert_eq!(j["m"], Value::Null);
        assert_eq!(j["reason"], 99, "an unknown code stays a number");
    }

    #[test]
    fn every_catalog_probe_has_an_index_and_fits() {
        for (i, p) in catalog::CATALOG.iter().enumerate() {
            assert_eq!(probe_index(p.name), Some(i as u16));
            assert!(p.args.len() <= MAX_ARGS);
        }
        assert_eq!(probe_index("nonesuch"), None);
    }
}
