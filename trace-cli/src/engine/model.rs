//! The engine's model of the scheduler: every P, every M, the stop-the-world in progress, the
//! template thread and its hand-off list — learnt from events (or set whole by a snapshot).
//!
//! The model starts knowing nothing (`None` everywhere): attached to a process mid-run, it
//! learns each P's status from that P's next change, and never treats what it has not seen as
//! known. Lost events make what they could have changed *uncertain*: a P remembers the loss
//! epoch of its last change, a seq gap in its history, and a stop-the-world remembers a loss
//! until a `stw_wait` proves it is still waiting.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::codes;
use super::input::{Event, EventKind, Handoff, PStatus, Reason, StwReason, starts_m};
use super::snapshot::Snapshot;

/// Events kept per P and per M, for the chain of a finding. Enough for the hand-off story of
/// one P (release, handoff, startm, newm, queue, start, park, wake), bounded so a long run's
/// memory stays flat.
pub const HISTORY: usize = 24;
/// Exited Ms kept (for chains that name them) before the oldest are forgotten.
const EXITED_KEPT: usize = 256;

/// A hasher for small integer ids (M ids, thread ids): one multiply, as FxHash does. The
/// keys come from the traced runtime's counters, not from an adversary, and the default
/// SipHash was a tenth of the engine's time.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A map keyed by ids.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// An event as the model applied it: with its arrival number (a total order for ties) and
/// the M that performed it, when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub seq: u64,
    pub ts_ns: u64,
    pub tid: u32,
    /// The M whose thread fired the probe, if known.
    pub actor: Option<u64>,
    pub kind: EventKind,
}

/// A bounded history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ring(VecDeque<Recorded>);

impl Ring {
    fn push(&mut self, r: Recorded) {
        if self.0.len() == HISTORY {
            self.0.pop_front();
        }
        self.0.push_back(r);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Recorded> {
        self.0.iter()
    }
}

/// A P's last status change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub ts_ns: Option<u64>,
    pub m: Option<u64>,
    #[serde(with = "codes::opt")]
    pub reason: Option<Reason>,
    #[serde(with = "codes::opt")]
    pub old: Option<PStatus>,
    pub seq: Option<u64>,
}

/// One P.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PState {
    pub id: u32,
    /// `None`: not seen change since the engine attached.
    #[serde(with = "codes::opt")]
    pub status: Option<PStatus>,
    pub since_ns: Option<u64>,
    /// The M holding it (`_Prunning`; the syscall M in `_Psyscall`).
    pub owner: Option<u64>,
    /// The M it was handed to (startm/newm), which has not taken it yet.
    pub handed_to: Option<u64>,
    pub handed_at_ns: Option<u64>,
    /// The M that handed it off (handoffp), and what it decided.
    #[serde(with = "codes::m_handoff")]
    pub handoff: Option<(Option<u64>, Handoff)>,
    pub on_idle_list: Option<bool>,
    pub last: Option<Change>,
    /// The `seq` the next change should carry.
    pub next_seq: Option<u64>,
    /// The last change came after a gap in `seq` (or its `old` did not match): what happened
    /// in between is unknown.
    pub history_gap: bool,
    /// The model's loss epoch when the last change was applied: a loss after it may hide a
    /// later change.
    pub status_epoch: u64,
    /// The G last seen running on it.
    pub curg: Option<u64>,
    /// A preemption request not yet followed by a safepoint (first request's time).
    pub preempt_requested_ns: Option<u64>,
    pub last_safepoint_ns: Option<u64>,
    pub history: Ring,
}

impl PState {
    /// A loss happened after this P's last change was seen.
    pub fn loss_since_change(&self, model: &Model) -> bool {
        self.status_epoch < model.loss_epoch
    }
}

/// One M.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MState {
    pub id: u64,
    pub tid: Option<u32>,
    pub locked_g: Option<u64>,
    /// Asleep (`m_park` without a later `m_wake`/start).
    pub parked: Option<bool>,
    pub parked_ns: Option<u64>,
    /// Its thread has started; `Some(false)`: created (newm) and not started yet.
    pub started: Option<bool>,
    pub created_ns: Option<u64>,
    pub creator: Option<u64>,
    /// The P it was handed / will start with.
    pub next_p: Option<u32>,
    /// Queued on the new-M hand-off list for the template thread.
    pub queued_for_template: bool,
    /// The template thread took it off the list and created its thread.
    pub spawned_by_template: bool,
    /// When someone handed it a P to wake up for (startm with an idle M).
    pub woken_ns: Option<u64>,
    pub exited: bool,
    pub is_template: bool,
    pub history: Ring,
}

/// The stop-the-world being waited for (between `stw_begin` and `stw_stopped`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stw {
    pub id: u64,
    #[serde(with = "codes::opt")]
    pub reason: Option<StwReason>,
    /// `None`: it began before the engine attached.
    pub start_ns: Option<u64>,
    /// When the engine first knew of it (its begin, or the first `stw_wait` seen).
    pub first_seen_ns: u64,
    pub nprocs: Option<u32>,
    pub stopwait_at_start: Option<u32>,
    /// Ps still to stop, from the last `stw_wait` (after the last loss).
    pub wait_stopwait: Option<u32>,
    /// Ps seen stopping for it.
    pub stopped: BTreeSet<u32>,
    pub stopper: Option<u64>,
    /// Events were lost since the last proof that it is still waiting.
    pub uncertain: bool,
    /// Ps already reported for it (once per stop-the-world and P).
    pub reported: BTreeSet<u32>,
    /// Ps not stopped that cannot be named (attached late) were reported for it.
    pub reported_unnamed: bool,
    pub begin_event: Option<Recorded>,
    pub first_wait_event: Option<Recorded>,
    pub from_snapshot: bool,
}

impl Stw {
    /// How long it has waited at `now`: exact if its begin was seen, a lower bound otherwise.
    pub fn waited_ns(&self, now: u64) -> u64 {
        now.saturating_sub(self.start_ns.unwrap_or(self.first_seen_ns))
    }
}

/// The template thread and the hand-off list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// `have_template_thread`.
    pub flag: Option<bool>,
    pub flag_by: Option<u64>,
    pub flag_ns: Option<u64>,
    pub flag_event: Option<Recorded>,
    pub running: Option<bool>,
    pub m: Option<u64>,
    pub tid: Option<u32>,
    pub running_event: Option<Recorded>,
    /// Ms queued and not yet spawned, in order.
    pub handoff: Vec<u64>,
    pub handoff_len: Option<u32>,
}

/// What the model learnt from one event that the engine's summary and detectors need.
#[derive(Clone, Copy, Debug, Default)]
pub struct Applied {
    /// Missing `p_status` events found by a gap in `seq`.
    pub seq_gap: u64,
    /// A `p_status` older than one already applied for its P (arrived too late).
    pub stale: bool,
    /// Fired by a thread of an earlier runtime of the process: not applied.
    pub earlier_runtime: bool,
    /// A stop-the-world finished waiting: its id, reason and time to stop.
    pub stopped: Option<(u64, Option<StwReason>, u64)>,
    pub stw_begun: bool,
    /// The event as applied (its arrival number and actor M resolved), for observers.
    pub event: Option<Recorded>,
}

/// See the module documentation. Serializable whole: a flight recording starts with the
/// model as it stood at the recording's first event (see `flight`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    pub ps: Vec<PState>,
    pub ms: IdMap<u64, MState>,
    pub tid_to_m: IdMap<u32, u64>,
    /// The current number of Ps.
    pub nprocs: Option<u32>,
    pub stw: Option<Stw>,
    pub last_stw_id: Option<u64>,
    pub template: Template,
    /// A `startm` with no M, per thread: the next `newm` on that thread starts with this P.
    pending_startm: IdMap<u32, u32>,
    exited: VecDeque<u64>,
    /// Bumped by every loss.
    pub loss_epoch: u64,
    next_seq: u64,
    /// Threads that fired events since this runtime started (removed when their M exits).
    #[serde(default)]
    tids: IdMap<u32, ()>,
    /// Threads of earlier runtimes of the process (see [`Model::apply`]): their events are
    /// not this runtime's.
    #[serde(default)]
    earlier_tids: IdMap<u32, ()>,
}

impl Model {
    pub fn p(&self, id: u32) -> Option<&PState> {
        self.ps.get(id as usize)
    }

    pub fn m(&self, id: u64) -> Option<&MState> {
        self.ms.get(&id)
    }

    fn p_mut(&mut self, id: u32) -> &mut PState {
        let i = id as usize;
        if self.ps.len() <= i {
            // P ids are dense and small (bounded by the runtime's maximum P count); a wild id
            // from a corrupt record would still only cost memory proportional to it once.
            let start = self.ps.len();
            self.ps.extend((start..=i).map(|j| PState {
                id: j as u32,
                status_epoch: self.loss_epoch,
                ..PState::default()
            }));
        }
        &mut self.ps[i]
    }

    fn m_mut(&mut self, id: u64) -> &mut MState {
        self.ms.entry(id).or_insert_with(|| MState {
            id,
            ..MState::default()
        })
    }

    /// Events were lost: everything they could have changed becomes uncertain.
    pub fn lost(&mut self) {
        self.loss_epoch += 1;
        if let Some(stw) = &mut self.stw {
            stw.uncertain = true;
            stw.wait_stopwait = None;
        }
    }

    /// The M whose thread fired `ev`, if known.
    fn actor(&self, ev: &Event) -> Option<u64> {
        let from_arg = match ev.kind {
            EventKind::PStatus { m, .. }
            | EventKind::HandoffP { m, .. }
            | EventKind::StartLockedM { m, .. }
            | EventKind::PidlePut { m, .. }
            | EventKind::PidleGet { m, .. } => m,
            EventKind::NewM { creator, .. } => creator,
            EventKind::TemplateStart { m } | EventKind::TemplateRunning { m, .. } => m,
            EventKind::MStart { m, .. }
            | EventKind::MPark { m, .. }
            | EventKind::MWake { m, .. }
            | EventKind::MExit { m, .. }
            | EventKind::LockOsThread { m, .. }
            | EventKind::UnlockOsThread { m, .. } => Some(m),
            EventKind::Preempted { m, .. }
            | EventKind::SyscallEnter { m, .. }
            | EventKind::SyscallExit { m, .. } => m,
            _ => None,
        };
        from_arg.or_else(|| self.tid_to_m.get(&ev.tid).copied())
    }

    /// Applies one event (in order) and returns what the engine needs to know about it.
    pub fn apply(&mut self, ev: &Event) -> Applied {
        let mut out = Applied::default();
        if let EventKind::ProcResize { old: 0, .. } = ev.kind {
            // A runtime starting (its P count goes up from 0): a fresh one in the same process
            // restarts P, M and stop-the-world ids and each P's `seq`. Nothing of the previous
            // one carries over; only the loss epoch and the event numbering go on. The threads
            // seen so far, but the one starting it (the caller of `block_on`, M0 of both), are
            // the earlier runtime's: one of its Ms can still be winding down (back from a call
            // after its runtime shut down) and fire with ids that now name the new runtime's
            // Ps and Ms.
            // Threads seen before any runtime was (no P count, no P seen) are this one's
            // starting up.
            let (next_seq, loss_epoch) = (self.next_seq, self.loss_epoch);
            let mut earlier = std::mem::take(&mut self.earlier_tids);
            if self.nprocs.is_some() || !self.ps.is_empty() {
                earlier.extend(self.tids.drain());
            }
            earlier.remove(&ev.tid);
            *self = Model {
                next_seq,
                loss_epoch,
                earlier_tids: earlier,
                ..Model::default()
            };
        }
        if self.earlier_tids.contains_key(&ev.tid) {
            match ev.kind {
                // A thread of this runtime given a tid an earlier one's exited thread had:
                // an M announces itself before anything else.
                EventKind::MStart { .. } => {
                    self.earlier_tids.remove(&ev.tid);
                }
                EventKind::MExit { .. } => {
                    self.earlier_tids.remove(&ev.tid);
                    out.earlier_runtime = true;
                    return out;
                }
                _ => {
                    out.earlier_runtime = true;
                    return out;
                }
            }
        }
        if let EventKind::MExit { .. } = ev.kind {
            self.tids.remove(&ev.tid);
        } else {
            self.tids.insert(ev.tid, ());
        }
        // Learn which M runs on the firing thread from probes that name the current M.
        match ev.kind {
            EventKind::MStart { m, tid }
            | EventKind::MPark { m, tid }
            | EventKind::MWake { m, tid, .. } => {
                self.tid_to_m.insert(tid, m);
            }
            EventKind::LockOsThread { m, .. }
            | EventKind::UnlockOsThread { m, .. }
            | EventKind::TemplateStart { m: Some(m) }
            | EventKind::HandoffP { m: Some(m), .. }
            | EventKind::StartLockedM { m: Some(m), .. }
            | EventKind::NewM {
                creator: Some(m), ..
            }
            | EventKind::PStatus { m: Some(m), .. } => {
                self.tid_to_m.insert(ev.tid, m);
            }
            _ => {}
        }
        self.next_seq += 1;
        let rec = Recorded {
            seq: self.next_seq,
            ts_ns: ev.ts_ns,
            tid: ev.tid,
            actor: self.actor(ev),
            kind: ev.kind,
        };
        out.event = Some(rec);
        let ts = ev.ts_ns;
        match ev.kind {
            EventKind::PStatus {
                p,
                old,
                new,
                m,
                reason,
                seq,
            } => self.p_status(rec, p, old, new, m, reason, seq, &mut out),
            EventKind::StwBegin {
                id,
                reason,
                nprocs,
                stopwait,
            } => {
                out.stw_begun = true;
                self.nprocs = Some(nprocs);
                self.last_stw_id = Some(id);
                // The stopper fires `stw_begin` after stopping its own, the idle and the syscall
                // Ps (and a running P may have stopped itself just before): count them.
                let stopped = self
                    .ps
                    .iter()
                    .filter(|p| p.status == Some(PStatus::GcStop))
                    .map(|p| p.id)
                    .collect();
                let stopper = self
                    .ps
                    .iter()
                    .filter(|p| p.status == Some(PStatus::GcStop))
                    .filter_map(|p| p.last)
                    .find(|c| c.reason == Some(Reason::StwOwn))
                    .and_then(|c| c.m);
                self.stw = Some(Stw {
                    stopped,
                    id,
                    reason: Some(reason),
                    start_ns: Some(ts),
                    first_seen_ns: ts,
                    nprocs: Some(nprocs),
                    stopwait_at_start: Some(stopwait),
                    stopper: rec.actor.or(stopper),
                    begin_event: Some(rec),
                    ..Stw::default()
                });
            }
            EventKind::StwWait { id, stopwait } => {
                let current = self.stw.as_ref().map(|s| s.id);
                if current != Some(id) && self.last_stw_id.is_none_or(|last| id > last) {
                    // Attached while it was already waiting: its start is unknown.
                    self.last_stw_id = Some(id);
                    self.stw = Some(Stw {
                        id,
                        first_seen_ns: ts,
                        nprocs: self.nprocs,
                        stopper: rec.actor,
                        ..Stw::default()
                    });
                }
                if let Some(stw) = self.stw.as_mut().filter(|s| s.id == id) {
                    stw.uncertain = false;
                    stw.wait_stopwait = Some(stopwait);
                    if stw.first_wait_event.is_none() {
                        stw.first_wait_event = Some(rec);
                    }
                }
            }
            EventKind::StwStopped { id, ns } => {
                if self.stw.as_ref().is_some_and(|s| s.id == id) {
                    let stw = self.stw.take().expect("checked");
                    out.stopped = Some((id, stw.reason, ns));
                } else if self.last_stw_id.is_none_or(|last| id >= last) {
                    // Its begin was not seen (attached mid-stop, or lost), its time is known.
                    out.stopped = Some((id, None, ns));
                }
                self.last_stw_id = Some(self.last_stw_id.map_or(id, |l| l.max(id)));
            }
            EventKind::StwEnd { id } => {
                if self.stw.as_ref().is_some_and(|s| s.id == id) {
                    // Its `stw_stopped` was lost: it stopped, time unknown.
                    self.stw = None;
                }
            }
            EventKind::HandoffP { p, m, decision } => {
                let ps = self.p_mut(p);
                ps.history.push(rec);
                ps.handoff = Some((m, decision));
                match decision {
                    Handoff::IdleList => ps.on_idle_list = Some(true),
                    d if starts_m(d) => ps.on_idle_list = Some(false),
                    _ => {}
                }
                if let Some(m) = m {
                    self.m_mut(m).history.push(rec);
                }
            }
            EventKind::StartM { p, m, .. } => {
                if let Some(p) = p {
                    let ps = self.p_mut(p);
                    ps.history.push(rec);
                    ps.on_idle_list = Some(false);
                    match m {
                        Some(m) => {
                            ps.handed_to = Some(m);
                            ps.handed_at_ns = Some(ts);
                            let ms = self.m_mut(m);
                            ms.next_p = Some(p);
                            ms.woken_ns = Some(ts);
                            ms.history.push(rec);
                        }
                        None => {
                            ps.handed_to = None;
                            self.pending_startm.insert(ev.tid, p);
                        }
                    }
                }
                if let Some(a) = rec.actor {
                    self.m_mut(a).history.push(rec);
                }
            }
            EventKind::StartLockedM { p, m, lockedm, g } => {
                let ps = self.p_mut(p);
                ps.history.push(rec);
                ps.on_idle_list = Some(false);
                ps.handed_to = Some(lockedm);
                ps.handed_at_ns = Some(ts);
                let lm = self.m_mut(lockedm);
                lm.next_p = Some(p);
                lm.woken_ns = Some(ts);
                if g.is_some() {
                    lm.locked_g = g;
                }
                lm.history.push(rec);
                if let Some(m) = m {
                    self.m_mut(m).history.push(rec);
                }
            }
            EventKind::PidlePut { p, .. } => {
                let ps = self.p_mut(p);
                ps.on_idle_list = Some(true);
                ps.handed_to = None;
                ps.history.push(rec);
            }
            EventKind::PidleGet { p, .. } => {
                let ps = self.p_mut(p);
                ps.on_idle_list = Some(false);
                ps.history.push(rec);
            }
            EventKind::NewM {
                m,
                creator,
                queued,
                p,
                template,
                ..
            } => {
                let pending = self.pending_startm.remove(&ev.tid);
                let next_p = p.or(pending);
                if template {
                    self.template.m = Some(m);
                }
                let ms = self.m_mut(m);
                ms.is_template = template;
                ms.started = Some(false);
                ms.parked = Some(false);
                ms.created_ns = Some(ts);
                ms.creator = creator;
                ms.queued_for_template = queued;
                ms.next_p = next_p;
                ms.history.push(rec);
                if let Some(c) = creator {
                    self.m_mut(c).history.push(rec);
                }
                if let Some(p) = next_p {
                    let ps = self.p_mut(p);
                    ps.handed_to = Some(m);
                    ps.handed_at_ns = Some(ts);
                    ps.history.push(rec);
                }
            }
            EventKind::NewMHandoff { m, list_len } => {
                let ms = self.m_mut(m);
                ms.queued_for_template = true;
                ms.history.push(rec);
                if let Some(p) = ms.next_p {
                    self.p_mut(p).history.push(rec);
                }
                if !self.template.handoff.contains(&m) {
                    self.template.handoff.push(m);
                }
                self.template.handoff_len = Some(list_len);
                if self.template.flag.is_none() {
                    // The runtime queues only once the flag is set (else it aborts).
                    self.template.flag = Some(true);
                }
            }
            EventKind::TemplateStart { m } => {
                let t = &mut self.template;
                t.flag = Some(true);
                t.flag_by = m;
                t.flag_ns = Some(ts);
                t.flag_event = Some(rec);
                if t.running.is_none() {
                    t.running = Some(false);
                }
                if let Some(m) = m {
                    self.m_mut(m).history.push(rec);
                }
            }
            EventKind::TemplateRunning { tid, m } => {
                let t = &mut self.template;
                t.flag = Some(true);
                t.running = Some(true);
                t.tid = Some(tid);
                t.running_event = Some(rec);
                let m = m.or_else(|| self.tid_to_m.get(&tid).copied());
                self.template.m = m;
                if let Some(m) = m {
                    self.tid_to_m.insert(tid, m);
                    let ms = self.m_mut(m);
                    ms.is_template = true;
                    ms.started = Some(true);
                    ms.tid = Some(tid);
                }
            }
            EventKind::TemplateSpawn { m } => {
                self.template.running = Some(true);
                self.template.handoff.retain(|&q| q != m);
                self.template.handoff_len = Some(self.template.handoff.len() as u32);
                let ms = self.m_mut(m);
                ms.spawned_by_template = true;
                ms.history.push(rec);
                if let Some(p) = ms.next_p {
                    self.p_mut(p).history.push(rec);
                }
            }
            EventKind::MStart { m, tid } => {
                let ms = self.m_mut(m);
                ms.started = Some(true);
                ms.parked = Some(false);
                ms.tid = Some(tid);
                ms.history.push(rec);
                if let Some(p) = ms.next_p {
                    self.p_mut(p).history.push(rec);
                }
            }
            EventKind::MPark { m, tid } => {
                let ms = self.m_mut(m);
                ms.started = Some(true);
                ms.parked = Some(true);
                ms.parked_ns = Some(ts);
                ms.tid = Some(tid);
                ms.history.push(rec);
            }
            EventKind::MWake { m, tid, p } => {
                let ms = self.m_mut(m);
                ms.started = Some(true);
                ms.parked = Some(false);
                ms.tid = Some(tid);
                ms.history.push(rec);
                if let Some(p) = p {
                    self.p_mut(p).history.push(rec);
                }
            }
            EventKind::MExit { m, tid } => {
                self.tid_to_m.remove(&tid);
                let ms = self.m_mut(m);
                ms.exited = true;
                ms.parked = Some(false);
                ms.history.push(rec);
                self.exited.push_back(m);
                self.forget_exited();
            }
            EventKind::LockOsThread { g, m, ext, int }
            | EventKind::UnlockOsThread { g, m, ext, int } => {
                let ms = self.m_mut(m);
                ms.started = Some(true);
                ms.locked_g = if ext + int > 0 { g } else { None };
                ms.history.push(rec);
            }
            EventKind::PreemptRequest { g, p, .. } => {
                if let Some(p) = p {
                    let ps = self.p_mut(p);
                    if g.is_some() {
                        ps.curg = g;
                    }
                    if ps.preempt_requested_ns.is_none() {
                        ps.preempt_requested_ns = Some(ts);
                        ps.history.push(rec);
                    }
                }
            }
            EventKind::Preempted { p, m, .. } => {
                if let Some(p) = p {
                    let ps = self.p_mut(p);
                    ps.preempt_requested_ns = None;
                    ps.last_safepoint_ns = Some(ts);
                    ps.history.push(rec);
                }
                if let Some(m) = m {
                    self.m_mut(m).history.push(rec);
                }
            }
            EventKind::SyscallEnter { g, p, .. } => {
                if let Some(p) = p {
                    let ps = self.p_mut(p);
                    ps.curg = g;
                    // Entering a syscall is a safepoint.
                    ps.preempt_requested_ns = None;
                    ps.last_safepoint_ns = Some(ts);
                }
            }
            EventKind::SyscallExit { g, p, .. } => {
                if let Some(p) = p {
                    self.p_mut(p).curg = g;
                }
            }
            EventKind::ProcResize { new, .. } => {
                self.nprocs = Some(new);
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn p_status(
        &mut self,
        rec: Recorded,
        p: u32,
        old: PStatus,
        new: PStatus,
        m: Option<u64>,
        reason: Reason,
        seq: Option<u64>,
        out: &mut Applied,
    ) {
        let epoch = self.loss_epoch;
        let ts = rec.ts_ns;
        let ps = self.p_mut(p);
        // Order and gaps: `seq` says exactly how many changes were missed.
        let mut gap = false;
        if let (Some(expected), Some(seq)) = (ps.next_seq, seq) {
            if seq < expected {
                // Older than what we applied: a late arrival. Applying it would roll the P back.
                out.stale = true;
                return;
            }
            if seq > expected {
                out.seq_gap = seq - expected;
                gap = true;
            }
        }
        if ps.status.is_some_and(|s| s != old) {
            gap = true;
        }
        if let Some(seq) = seq {
            ps.next_seq = Some(seq + 1);
        }
        ps.history_gap = gap;
        ps.status = Some(new);
        ps.since_ns = Some(ts);
        ps.status_epoch = epoch;
        ps.last = Some(Change {
            ts_ns: Some(ts),
            m,
            reason: Some(reason),
            old: Some(old),
            seq,
        });
        ps.history.push(rec);
        let previous_handed = ps.handed_to.take();
        ps.handed_at_ns = None;
        if new != PStatus::Running {
            ps.curg = None;
            ps.preempt_requested_ns = None;
        }
        match new {
            PStatus::Running => {
                ps.owner = m;
                ps.on_idle_list = Some(false);
                ps.handoff = None;
            }
            PStatus::Idle => {
                ps.owner = None;
                ps.handoff = None;
                ps.on_idle_list = match reason {
                    // Taken out of a running or syscall P by its M or sysmon: on no list until
                    // handoffp or the M decides.
                    Reason::Release | Reason::Retake | Reason::SyscallExitFast => Some(false),
                    _ => None,
                };
            }
            PStatus::Syscall => {
                ps.owner = m;
            }
            PStatus::GcStop | PStatus::Dead => {
                ps.owner = None;
                ps.on_idle_list = Some(false);
                ps.handoff = None;
            }
        }
        // The M it was handed to no longer gets it (unless that M is the one taking it).
        if let Some(h) = previous_handed
            && let Some(hm) = self.ms.get_mut(&h)
            && hm.next_p == Some(p)
        {
            hm.next_p = None;
        }
        if let Some(m) = m {
            let ms = self.m_mut(m);
            ms.history.push(rec);
            if new == PStatus::Running {
                ms.started = Some(true);
                ms.parked = Some(false);
                if ms.next_p == Some(p) {
                    ms.next_p = None;
                }
            }
        }
        // Stop-the-world bookkeeping.
        let ends_stw = matches!(
            reason,
            Reason::ProcresizeIdle | Reason::ProcresizeRun | Reason::ProcresizeDead
        );
        if let Some(stw) = &mut self.stw {
            if ends_stw {
                // The world was restarted, so it had stopped: its `stw_stopped` was lost.
                self.stw = None;
            } else if new == PStatus::GcStop {
                stw.stopped.insert(p);
                if reason == Reason::StwOwn {
                    stw.stopper = m;
                }
            }
        }
    }

    fn forget_exited(&mut self) {
        while self.exited.len() > EXITED_KEPT {
            let Some(old) = self.exited.pop_front() else {
                break;
            };
            // Keep an exited M a P still names.
            let named = self.ps.iter().any(|p| p.handed_to == Some(old));
            if named {
                self.exited.push_back(old);
                break;
            }
            self.ms.remove(&old);
        }
    }

    /// Replaces the model with a snapshot's state. The stop-the-world keeps what was already
    /// reported for it, so repeated snapshots of one hang report it once.
    pub fn set_snapshot(&mut self, s: &Snapshot) {
        let reported = self
            .stw
            .as_ref()
            .zip(s.stw.as_ref())
            .filter(|(a, b)| a.id == b.id)
            .map(|(a, _)| a.reported.clone())
            .unwrap_or_default();
        let epoch = self.loss_epoch;
        self.ps.clear();
        for p in s.ps.iter().filter(|p| p.id <= super::input::MAX_P_ID) {
            let ps = self.p_mut(p.id);
            ps.status = Some(p.status);
            ps.since_ns = p.since_ns;
            ps.owner = p.owner;
            ps.handed_to = p.handed_to;
            ps.on_idle_list = Some(p.on_idle_list);
            ps.last = Some(Change {
                ts_ns: p.since_ns,
                m: p.last_m,
                reason: p.last_reason,
                old: None,
                seq: p.seq,
            });
            ps.next_seq = p.seq.map(|s| s + 1);
            ps.status_epoch = epoch;
        }
        let curg: HashMap<u64, u64> =
            s.ms.iter()
                .filter_map(|m| m.curg.map(|g| (m.id, g)))
                .collect();
        for ps in &mut self.ps {
            if ps.status == Some(PStatus::Running) {
                ps.curg = ps.owner.and_then(|m| curg.get(&m).copied());
            }
        }
        self.ms.clear();
        self.tid_to_m.clear();
        self.exited.clear();
        self.pending_startm.clear();
        for m in &s.ms {
            self.ms.insert(
                m.id,
                MState {
                    id: m.id,
                    tid: m.tid,
                    locked_g: m.locked_g,
                    parked: Some(m.parked),
                    started: Some(m.started),
                    next_p: m.next_p,
                    queued_for_template: m.queued_for_template,
                    exited: m.exited,
                    is_template: m.is_template,
                    ..MState::default()
                },
            );
            if let Some(tid) = m.tid.filter(|_| !m.exited) {
                self.tids.insert(tid, ());
                self.tid_to_m.insert(tid, m.id);
            }
        }
        self.nprocs = Some(s.nprocs);
        let t = &s.template;
        let queued: Vec<u64> =
            s.ms.iter()
                .filter(|m| m.queued_for_template && !m.started && !m.exited)
                .map(|m| m.id)
                .collect();
        self.template = Template {
            flag: Some(t.flag),
            flag_by: t.flag_by,
            running: Some(t.running),
            m: t.m,
            tid: t.tid,
            handoff: queued,
            handoff_len: Some(t.handoff_len),
            ..Template::default()
        };
        self.stw = s.stw.as_ref().map(|w| Stw {
            id: w.id,
            reason: Some(w.reason),
            start_ns: w.start_ns,
            first_seen_ns: w.start_ns.unwrap_or(s.now_ns),
            nprocs: Some(s.nprocs),
            stopwait_at_start: None,
            wait_stopwait: Some(w.stopwait),
            stopped: s
                .ps
                .iter()
                .filter(|p| p.status == PStatus::GcStop)
                .map(|p| p.id)
                .collect(),
            reported,
            from_snapshot: true,
            ..Stw::default()
        });
        if let Some(w) = &s.stw {
            self.last_stw_id = Some(w.id);
        }
    }
}
