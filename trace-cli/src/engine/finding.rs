//! What the engine reports. One `Finding` serializes to one JSON line; its text form (with
//! the interleaving) is in the `interleaving` module.

use serde::Serialize;

use super::input::{PStatus, Reason};

/// Codes serialize as the catalog's names (Go's, for P statuses).
fn status_name<S: serde::Serializer>(v: &Option<PStatus>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.name()),
        None => s.serialize_none(),
    }
}

fn reason_name<S: serde::Serializer>(v: &Option<Reason>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.name()),
        None => s.serialize_none(),
    }
}

/// Which detector found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A stop-the-world has waited past the timeout for this P.
    StuckPInStw,
    /// A stop-the-world finished, but took longer than the slow threshold to stop.
    SlowStw,
}

/// Why a P blocks a stop-the-world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Handed to a new M queued for a template thread that is not running: the flag was set,
    /// the thread never came (golang/go#38931).
    TemplateThreadRace,
    /// Handed to an M whose thread never started, for another reason.
    UnstartedM,
    /// Handed to an M that had started and still sleeps: woken, never ran.
    LostWakeup,
    /// `_Prunning`, and its G has not reached a safepoint since the stop-the-world began.
    NonpreemptibleG,
    /// None of the above can be shown; the explanation says what is known.
    Unknown,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::TemplateThreadRace => "template_thread_race",
            Cause::UnstartedM => "unstarted_m",
            Cause::LostWakeup => "lost_wakeup",
            Cause::NonpreemptibleG => "nonpreemptible_g",
            Cause::Unknown => "unknown",
        }
    }
}

/// How much of the story the engine saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Every event the cause rests on was seen, with no loss that could hide a later change.
    High,
    /// Events were lost (or the P's history has a gap, or its status was inferred): the
    /// finding is what the evidence supports, not a certainty.
    Low,
}

/// The last change of the P's status.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastChange {
    /// The M that made it.
    pub m: Option<u64>,
    #[serde(serialize_with = "reason_name")]
    pub reason: Option<Reason>,
    #[serde(serialize_with = "status_name")]
    pub from: Option<PStatus>,
    pub seq: Option<u64>,
    /// How long before the finding.
    pub ago_ms: Option<f64>,
}

/// The M the P was handed to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HandedTo {
    pub m: u64,
    pub tid: Option<u32>,
    /// `false`: created, its thread never started.
    pub started: Option<bool>,
    pub parked: Option<bool>,
    pub queued_for_template: bool,
    pub exited: bool,
    /// How long ago it was handed the P.
    pub ago_ms: Option<f64>,
}

/// The template thread, as far as known.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemplateInfo {
    /// `have_template_thread` was set.
    pub flag: Option<bool>,
    /// The M that set it.
    pub flag_set_by: Option<u64>,
    pub running: Option<bool>,
    pub tid: Option<u32>,
    /// Ms queued for it, not yet created.
    pub handoff_len: Option<u32>,
}

/// One event of the chain that led to the finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChainEvent {
    pub ts_ns: u64,
    /// Time relative to the stop-the-world's begin (negative: before it), when known.
    pub t_ms: Option<f64>,
    /// The thread's column: `M3`, or `tid 1234` when its M is unknown.
    pub thread: String,
    pub probe: &'static str,
    /// What happened, in words.
    pub what: String,
}

/// What a thread of the chain did in the story.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThreadRole {
    /// As in [`ChainEvent::thread`].
    pub thread: String,
    pub role: String,
}

/// See the module documentation. The JSON has at least `kind`, `p`, `status`, `cause`,
/// `stw_reason`, `waiting_ms`, and the chain of events.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    /// The stuck P (`null` for `slow_stw`).
    pub p: Option<u32>,
    /// Its status, Go's name (`null` when unknown or for `slow_stw`).
    #[serde(serialize_with = "status_name")]
    pub status: Option<PStatus>,
    /// Why (`null` for `slow_stw`).
    pub cause: Option<Cause>,
    pub confidence: Confidence,
    pub stw_id: u64,
    /// Why the world was being stopped (`null` if its begin was not seen).
    pub stw_reason: Option<&'static str>,
    /// `stuck_p_in_stw`: how long the stop-the-world had waited when found (a lower bound if
    /// its begin was not seen). `slow_stw`: its time to stop.
    pub waiting_ms: f64,
    /// How long the P had been in its status.
    pub status_for_ms: Option<f64>,
    pub last_change: Option<LastChange>,
    pub handed_to: Option<HandedTo>,
    /// The M holding the P (`_Prunning`).
    pub owner_m: Option<u64>,
    /// The G running on it (`nonpreemptible_g`).
    pub g: Option<u64>,
    pub template: Option<TemplateInfo>,
    /// Ps the stop-the-world had seen stop.
    pub stopped_ps: Vec<u32>,
    pub nprocs: Option<u32>,
    /// One paragraph, for a person.
    pub explanation: String,
    /// The events that led to it, in time order.
    pub chain: Vec<ChainEvent>,
    /// The part each thread of the chain played.
    pub threads: Vec<ThreadRole>,
    /// When it was found (engine clock).
    pub at_ns: u64,
    /// `watch --flight`: the flight recording written for it (the last seconds before it,
    /// as a trace file `analyze` reads); `null` otherwise (see the flight recorder's rule:
    /// one file per kind of finding and run).
    pub flight_file: Option<String>,
}

impl Finding {
    /// The JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a finding always serializes")
    }
}
