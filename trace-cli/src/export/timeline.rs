//! The drawing: an [`Observer`] of the engine that turns each step of its model into tracks,
//! slices, instant events and flows, and hands them to a [`Format`] in time order.
//!
//! What each track shows, and where it comes from in the model:
//! * `P<n>`: one slice per status, from the `p_status` that set it to the next; named by Go's
//!   status name, with the M that made the change, its reason, the status before and the
//!   change's `seq` as arguments. Hand-offs, `startm`, the new M it was handed to and
//!   preemption requests appear on it as instant events.
//! * `M<n>`: what the model says the M is doing: `running P<n>`, `syscall P<n>`, `parked`,
//!   `not started` (created, its thread never ran; `· queued for the template thread`),
//!   `handed P<n>` (woken with a P it has not taken yet), `no P`, and `· locked` while it is
//!   locked to a goroutine. Nothing after it exits.
//! * `stop-the-world`: one slice per stop-the-world, named by its reason, from its begin to
//!   its end; time to stop in its arguments; `stw_wait` rounds and the moment the world stopped
//!   as instants. One still open at the end of the file (a hang) runs to the file's end and
//!   says `ended: false`.
//! * `template thread`: `flag set · no thread` from `have_template_thread = 1` until the
//!   thread runs, then `running`; Ms queued for it and spawned by it as instants.
//! * `findings`: each finding as an instant at the moment it fired, its explanation, cause
//!   and the whole finding (JSON) in its arguments; the stuck P's track gets one too.
//!
//! A runtime that starts afresh in the same process (`procresize` from 0 Ps) restarts P and M
//! ids: its tracks go under a new root, `runtime 2`, and the previous runtime's slices end there.
//! Time never goes back: an event the engine applied after later ones (delivered past the
//! ordering window) is drawn when it was applied.

use std::collections::HashMap;
use std::io;

use super::{Args, Colour, Flow, Format, Track, Value};
use crate::engine::input::{EventKind, PStatus};
use crate::engine::interleaving::describe;
use crate::engine::model::{Applied, Model};
use crate::engine::{Finding, Kind, Observer};

const RANK_STW: i32 = 0;
const RANK_FINDINGS: i32 = 1;
const RANK_TEMPLATE: i32 = 2;
const RANK_TRACE: i32 = 3;
const RANK_P: i32 = 100;
const RANK_M: i32 = 100_000;

/// What was drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub tracks: u64,
    pub slices: u64,
    pub instants: u64,
    pub flows: u64,
    pub findings: u64,
    pub runtimes: u32,
}

/// The tracks of one runtime.
#[derive(Debug, Default)]
struct Runtime {
    number: u32,
    root: Option<u64>,
    stw: Option<u64>,
    findings: Option<u64>,
    template: Option<u64>,
    trace: Option<u64>,
    ps: HashMap<u32, u64>,
    ms: HashMap<u64, u64>,
}

#[derive(Debug)]
struct OpenStw {
    id: u64,
    start_ns: u64,
    track: u64,
    time_to_stop_ns: Option<u64>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Timeline<F: Format> {
    out: F,
    /// Names the roots: the recorded process.
    title: String,
    next_track: u64,
    next_flow: u64,
    rt: Runtime,
    /// The open slice of each track (each track has at most one: slices follow each other).
    open: HashMap<u64, String>,
    /// Each P's owner after its last change, to redraw the M that lost it.
    p_owner: HashMap<u32, Option<u64>>,
    stw: Option<OpenStw>,
    last_ns: u64,
    err: Option<io::Error>,
    stats: Stats,
}

fn colour(s: PStatus) -> Colour {
    match s {
        PStatus::Running => Colour::Running,
        PStatus::Idle => Colour::Idle,
        PStatus::Syscall => Colour::Syscall,
        PStatus::GcStop => Colour::Stopped,
        PStatus::Dead => Colour::Dead,
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// What M `m` is doing, as far as the model knows; `None` once it exited (or if unknown).
fn m_label(model: &Model, m: u64) -> Option<(String, Colour)> {
    let ms = model.m(m)?;
    if ms.exited {
        return None;
    }
    let held = model.ps.iter().find(|p| {
        p.owner == Some(m) && matches!(p.status, Some(PStatus::Running | PStatus::Syscall))
    });
    let (what, c) = if ms.is_template {
        ("template thread".to_owned(), Colour::Neutral)
    } else if ms.started == Some(false) {
        if ms.queued_for_template {
            (
                "not started · queued for the template thread".to_owned(),
                Colour::Bad,
            )
        } else {
            ("not started".to_owned(), Colour::Bad)
        }
    } else if let Some(p) = held {
        match p.status {
            Some(PStatus::Syscall) => (format!("syscall P{}", p.id), Colour::Syscall),
            _ => (format!("running P{}", p.id), Colour::Running),
        }
    } else if ms.parked == Some(true) {
        ("parked".to_owned(), Colour::Idle)
    } else if let Some(p) = ms.next_p {
        (format!("handed P{p}"), Colour::Neutral)
    } else {
        ("no P".to_owned(), Colour::Neutral)
    };
    if ms.locked_g.is_some() {
        Some((format!("{what} · locked"), c))
    } else {
        Some((what, c))
    }
}

/// The Ms an event names (besides its actor).
fn ms_named(kind: &EventKind) -> [Option<u64>; 2] {
    match *kind {
        EventKind::PStatus { m, .. }
        | EventKind::HandoffP { m, .. }
        | EventKind::StartM { m, .. }
        | EventKind::PidlePut { m, .. }
        | EventKind::PidleGet { m, .. }
        | EventKind::TemplateStart { m }
        | EventKind::TemplateRunning { m, .. }
        | EventKind::PreemptRequest { m, .. }
        | EventKind::Preempted { m, .. }
        | EventKind::SyscallEnter { m, .. }
        | EventKind::SyscallExit { m, .. } => [m, None],
        EventKind::StartLockedM { m, lockedm, .. } => [m, Some(lockedm)],
        EventKind::NewM { m, creator, .. } => [Some(m), creator],
        EventKind::NewMHandoff { m, .. }
        | EventKind::TemplateSpawn { m }
        | EventKind::MStart { m, .. }
        | EventKind::MPark { m, .. }
        | EventKind::MWake { m, .. }
        | EventKind::MExit { m, .. }
        | EventKind::LockOsThread { m, .. }
        | EventKind::UnlockOsThread { m, .. } => [Some(m), None],
        EventKind::StwBegin { .. }
        | EventKind::StwWait { .. }
        | EventKind::StwStopped { .. }
        | EventKind::StwEnd { .. }
        | EventKind::ProcResize { .. } => [None, None],
    }
}

impl<F: Format> Timeline<F> {
    /// `title` names the recorded process (e.g. `pid 1234 (template_race)`).
    pub fn new(out: F, title: String) -> Timeline<F> {
        Timeline {
            out,
            title,
            next_track: 1,
            next_flow: 1,
            rt: Runtime {
                number: 1,
                ..Runtime::default()
            },
            open: HashMap::new(),
            p_owner: HashMap::new(),
            stw: None,
            last_ns: 0,
            err: None,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Runs `f` on the format unless an earlier write failed (the first error is kept).
    fn write(&mut self, f: impl FnOnce(&mut F) -> io::Result<()>) {
        if self.err.is_none()
            && let Err(e) = f(&mut self.out)
        {
            self.err = Some(e);
        }
    }

    fn new_track(&mut self, parent: Option<u64>, name: String, rank: i32) -> u64 {
        let t = Track {
            id: self.next_track,
            parent,
            name,
            rank,
        };
        self.next_track += 1;
        self.stats.tracks += 1;
        self.write(|o| o.track(&t));
        t.id
    }

    fn root(&mut self) -> u64 {
        if let Some(r) = self.rt.root {
            return r;
        }
        let name = if self.rt.number == 1 {
            format!("goro · {}", self.title)
        } else {
            format!("goro runtime {} · {}", self.rt.number, self.title)
        };
        let r = self.new_track(None, name, self.rt.number as i32);
        self.rt.root = Some(r);
        self.stats.runtimes = self.rt.number;
        r
    }

    fn named_track(
        &mut self,
        which: fn(&mut Runtime) -> &mut Option<u64>,
        name: &str,
        rank: i32,
    ) -> u64 {
        if let Some(t) = *which(&mut self.rt) {
            return t;
        }
        let root = self.root();
        let t = self.new_track(Some(root), name.to_owned(), rank);
        *which(&mut self.rt) = Some(t);
        t
    }

    fn stw_track(&mut self) -> u64 {
        self.named_track(|r| &mut r.stw, "stop-the-world", RANK_STW)
    }

    fn findings_track(&mut self) -> u64 {
        self.named_track(|r| &mut r.findings, "findings", RANK_FINDINGS)
    }

    fn template_track(&mut self) -> u64 {
        self.named_track(|r| &mut r.template, "template thread", RANK_TEMPLATE)
    }

    fn trace_track(&mut self) -> u64 {
        self.named_track(|r| &mut r.trace, "recording", RANK_TRACE)
    }

    fn p_track(&mut self, p: u32) -> u64 {
        if let Some(&t) = self.rt.ps.get(&p) {
            return t;
        }
        let root = self.root();
        let rank = RANK_P.saturating_add(i32::try_from(p).unwrap_or(i32::MAX));
        let t = self.new_track(Some(root), format!("P{p}"), rank);
        self.rt.ps.insert(p, t);
        t
    }

    fn m_track(&mut self, m: u64) -> u64 {
        if let Some(&t) = self.rt.ms.get(&m) {
            return t;
        }
        let root = self.root();
        let rank = RANK_M.saturating_add(i32::try_from(m).unwrap_or(i32::MAX));
        let t = self.new_track(Some(root), format!("M{m}"), rank);
        self.rt.ms.insert(m, t);
        t
    }

    /// Ends `track`'s open slice, if any.
    fn end(&mut self, track: u64, ts: u64, args: Args) {
        if self.open.remove(&track).is_some() {
            self.write(|o| o.end(track, ts, &args));
        }
    }

    /// Ends `track`'s open slice and begins `name` (or nothing).
    fn slice(&mut self, track: u64, ts: u64, name: Option<(String, Colour)>, args: Args) {
        self.end(track, ts, Args::new());
        if let Some((name, c)) = name {
            self.write(|o| o.begin(track, ts, &name, c, &args));
            self.stats.slices += 1;
            self.open.insert(track, name);
        }
    }

    fn instant(&mut self, track: u64, ts: u64, name: &str, args: Args, flow: Flow) {
        self.write(|o| o.instant(track, ts, name, &args, flow));
        self.stats.instants += 1;
    }

    /// An instant on `from` and one on `to`, joined by a flow.
    fn flow(&mut self, ts: u64, from: u64, from_name: &str, to: u64, to_name: &str, args: Args) {
        let id = self.next_flow;
        self.next_flow += 1;
        self.stats.flows += 1;
        let out = Flow {
            out: Some(id),
            into: None,
        };
        let into = Flow {
            out: None,
            into: Some(id),
        };
        self.instant(from, ts, from_name, args.clone(), out);
        self.instant(to, ts, to_name, args, into);
    }

    /// Redraws M `m` from the model.
    fn redraw_m(&mut self, m: u64, model: &Model, ts: u64) {
        let label = m_label(model, m);
        let track = match (&label, self.rt.ms.get(&m)) {
            (None, None) => return,
            (_, Some(&t)) => t,
            (Some(_), None) => self.m_track(m),
        };
        if self.open.get(&track).map(String::as_str) == label.as_ref().map(|(n, _)| n.as_str()) {
            return;
        }
        let mut args = Args::new();
        if let Some(ms) = model.m(m) {
            if let Some(tid) = ms.tid {
                args.push(("tid", tid.into()));
            }
            if let Some(g) = ms.locked_g {
                args.push(("locked_g", g.into()));
            }
            if let Some(p) = ms.next_p {
                args.push(("next_p", p.into()));
            }
        }
        self.slice(track, ts, label, args);
    }

    fn redraw_template(&mut self, model: &Model, ts: u64) {
        let t = &model.template;
        let label = match (t.flag, t.running) {
            (_, Some(true)) => Some(("running".to_owned(), Colour::Running)),
            (Some(true), _) => Some(("flag set · no thread".to_owned(), Colour::Bad)),
            _ => None,
        };
        let mut args = Args::new();
        if let Some(m) = t.flag_by {
            args.push(("flag_set_by_m", m.into()));
        }
        if let Some(tid) = t.tid {
            args.push(("tid", tid.into()));
        }
        let track = self.template_track();
        if self.open.get(&track).map(String::as_str) != label.as_ref().map(|(n, _)| n.as_str()) {
            self.slice(track, ts, label, args);
        }
    }

    /// Ends every open slice (at a runtime's replacement, or the end of the file).
    fn close_all(&mut self, ts: u64, why: &str) {
        if let Some(s) = self.stw.take() {
            let args = vec![
                ("ended", Value::Str(why.to_owned())),
                ("waited_ms", ms(ts.saturating_sub(s.start_ns)).into()),
            ];
            self.end(s.track, ts, args);
        }
        let mut open: Vec<u64> = self.open.keys().copied().collect();
        open.sort_unstable();
        for t in open {
            self.end(t, ts, Args::new());
        }
    }

    fn stw_end(&mut self, ts: u64, args: Args) {
        if let Some(s) = self.stw.take() {
            let mut args = args;
            if let Some(ns) = s.time_to_stop_ns {
                args.push(("time_to_stop_ms", ms(ns).into()));
            }
            self.end(s.track, ts, args);
        }
    }

    fn on_event(&mut self, kind: EventKind, ts: u64, actor: Option<u64>, model: &Model) {
        let actor_track = |me: &mut Self, m: Option<u64>| m.or(actor).map(|m| me.m_track(m));
        let mut prev_owner = None;
        match kind {
            // A fresh runtime (the model has just been reset): P and M ids start over. Ms seen
            // before the first runtime's first P (its main thread starting) stay with it.
            EventKind::ProcResize { old: 0, .. } if !self.rt.ps.is_empty() => {
                self.close_all(ts, "the runtime was replaced by a new one");
                self.rt = Runtime {
                    number: self.rt.number + 1,
                    ..Runtime::default()
                };
                self.p_owner.clear();
            }
            EventKind::PStatus {
                p,
                old,
                new,
                m,
                reason,
                seq,
            } => {
                let track = self.p_track(p);
                let mut args: Args = vec![
                    ("from", old.name().into()),
                    ("reason", reason.name().into()),
                ];
                if let Some(m) = m {
                    args.push(("m", m.into()));
                }
                if let Some(seq) = seq {
                    args.push(("seq", seq.into()));
                }
                self.slice(track, ts, Some((new.name().to_owned(), colour(new))), args);
                let owner = model.p(p).and_then(|s| s.owner);
                prev_owner = self.p_owner.insert(p, owner).flatten();
            }
            EventKind::StwBegin {
                id,
                reason,
                nprocs,
                stopwait,
            } => {
                self.stw_end(
                    ts,
                    vec![(
                        "ended",
                        "unknown: a new stop-the-world began before its end was seen".into(),
                    )],
                );
                let track = self.stw_track();
                let args = vec![
                    ("id", id.into()),
                    ("reason", reason.name().into()),
                    ("nprocs", nprocs.into()),
                    ("stopwait", stopwait.into()),
                ];
                self.slice(
                    track,
                    ts,
                    Some((format!("STW {}", reason.name()), Colour::Stopped)),
                    args,
                );
                self.stw = Some(OpenStw {
                    id,
                    start_ns: ts,
                    track,
                    time_to_stop_ns: None,
                });
            }
            EventKind::StwWait { id, stopwait } => {
                let track = self.stw_track();
                if self.stw.is_none() && model.stw.as_ref().is_some_and(|s| s.id == id) {
                    // Attached while it was already waiting: its begin is before the recording.
                    let args = vec![("id", id.into()), ("begun_before_recording", true.into())];
                    self.slice(
                        track,
                        ts,
                        Some(("STW (reason unknown)".to_owned(), Colour::Stopped)),
                        args,
                    );
                    self.stw = Some(OpenStw {
                        id,
                        start_ns: ts,
                        track,
                        time_to_stop_ns: None,
                    });
                }
                let name = describe(&kind);
                self.instant(
                    track,
                    ts,
                    &name,
                    vec![("stopwait", stopwait.into())],
                    Flow::default(),
                );
            }
            EventKind::StwStopped { id, ns } => {
                let track = self.stw_track();
                if let Some(s) = self.stw.as_mut().filter(|s| s.id == id) {
                    s.time_to_stop_ns = Some(ns);
                }
                let args = vec![("id", id.into()), ("time_to_stop_ms", ms(ns).into())];
                self.instant(track, ts, "world stopped", args, Flow::default());
            }
            EventKind::StwEnd { id } if self.stw.as_ref().is_some_and(|s| s.id == id) => {
                self.stw_end(ts, vec![("ended", true.into())]);
            }
            EventKind::HandoffP { p, m, decision } => {
                let pt = self.p_track(p);
                let what = describe(&kind);
                let args = vec![("p", p.into()), ("decision", decision.name().into())];
                match actor_track(self, m) {
                    Some(mt) => {
                        let by = m.or(actor).map_or(String::new(), |m| format!(" by M{m}"));
                        let to = format!("handed off{by}: {}", decision.name());
                        self.flow(ts, mt, &what, pt, &to, args);
                    }
                    None => self.instant(pt, ts, &what, args, Flow::default()),
                }
            }
            EventKind::StartM { p, m, spinning } => {
                let what = describe(&kind);
                let mut args: Args = vec![("spinning", spinning.into())];
                if let Some(m) = m {
                    args.push(("m", m.into()));
                }
                let from = actor.map(|a| self.m_track(a));
                match (p, from) {
                    (Some(p), Some(mt)) => {
                        let pt = self.p_track(p);
                        let to = match m {
                            Some(m) => format!("startm: to M{m}"),
                            None => "startm: to a new M".to_owned(),
                        };
                        self.flow(ts, mt, &what, pt, &to, args);
                    }
                    (Some(p), None) => {
                        let pt = self.p_track(p);
                        self.instant(pt, ts, &what, args, Flow::default());
                    }
                    (None, Some(mt)) => self.instant(mt, ts, &what, args, Flow::default()),
                    (None, None) => {}
                }
            }
            EventKind::StartLockedM { p, m, lockedm, .. } => {
                let pt = self.p_track(p);
                let what = describe(&kind);
                let args = vec![("lockedm", lockedm.into())];
                match actor_track(self, m) {
                    Some(mt) => {
                        let to = format!("given to locked M{lockedm}");
                        self.flow(ts, mt, &what, pt, &to, args);
                    }
                    None => self.instant(pt, ts, &what, args, Flow::default()),
                }
            }
            EventKind::NewM {
                m,
                creator,
                queued,
                p,
                ..
            } => {
                let what = describe(&kind);
                let mut args: Args = vec![("m", m.into()), ("queued_for_template", queued.into())];
                if let Some(p) = p {
                    args.push(("p", p.into()));
                }
                let nt = self.m_track(m);
                match actor_track(self, creator) {
                    Some(ct) if ct != nt => {
                        let by = creator
                            .or(actor)
                            .map_or(String::new(), |c| format!(" by M{c}"));
                        let to = if queued {
                            format!("created{by}: queued for the template thread")
                        } else {
                            format!("created{by}")
                        };
                        self.flow(ts, ct, &what, nt, &to, args.clone());
                    }
                    _ => self.instant(nt, ts, &what, args.clone(), Flow::default()),
                }
                let next_p = model.m(m).and_then(|s| s.next_p);
                if let Some(p) = next_p {
                    let pt = self.p_track(p);
                    self.instant(
                        pt,
                        ts,
                        &format!("handed to new M{m}"),
                        args,
                        Flow::default(),
                    );
                }
            }
            EventKind::NewMHandoff { m, list_len } => {
                let mt = self.m_track(m);
                let tt = self.template_track();
                let args = vec![("m", m.into()), ("list_len", list_len.into())];
                let to = format!("M{m} queued (hand-off list: {list_len})");
                self.flow(ts, mt, &describe(&kind), tt, &to, args);
            }
            EventKind::TemplateStart { m } => {
                let tt = self.template_track();
                let what = describe(&kind);
                let mut args = Args::new();
                if let Some(m) = m.or(actor) {
                    args.push(("m", m.into()));
                }
                match actor_track(self, m) {
                    Some(mt) => {
                        let by = m.or(actor).map_or(String::new(), |m| format!(" by M{m}"));
                        self.flow(ts, mt, &what, tt, &format!("flag set{by}"), args);
                    }
                    None => self.instant(tt, ts, &what, args, Flow::default()),
                }
            }
            EventKind::TemplateRunning { tid, .. } => {
                let tt = self.template_track();
                let args = vec![("tid", tid.into())];
                self.instant(tt, ts, &describe(&kind), args, Flow::default());
            }
            EventKind::TemplateSpawn { m } => {
                let tt = self.template_track();
                let mt = self.m_track(m);
                let args = vec![("m", m.into())];
                let what = describe(&kind);
                self.flow(ts, tt, &what, mt, "spawned by the template thread", args);
            }
            EventKind::MExit { m, .. } => {
                let mt = self.m_track(m);
                self.instant(mt, ts, &describe(&kind), Args::new(), Flow::default());
            }
            EventKind::PreemptRequest { p: Some(p), .. }
            | EventKind::Preempted { p: Some(p), .. } => {
                let pt = self.p_track(p);
                self.instant(pt, ts, &describe(&kind), Args::new(), Flow::default());
            }
            _ => {}
        }
        if matches!(
            kind,
            EventKind::TemplateStart { .. }
                | EventKind::TemplateRunning { .. }
                | EventKind::TemplateSpawn { .. }
                | EventKind::NewMHandoff { .. }
        ) {
            self.redraw_template(model, ts);
        }
        let [a, b] = ms_named(&kind);
        let mut touched = [actor, a, b, prev_owner];
        touched.sort_unstable();
        for (i, m) in touched.iter().enumerate() {
            if let Some(m) = *m
                && (i == 0 || touched[i - 1] != Some(m))
            {
                self.redraw_m(m, model, ts);
            }
        }
    }

    /// The end of the file at `end_ns`: a stop-the-world still open there is a hang, drawn to
    /// the end and marked as not ended; every other slice ends there. Returns the first write
    /// error, if any.
    pub fn finish(mut self, end_ns: u64, model: &Model) -> io::Result<(F, Stats)> {
        let end = end_ns.max(self.last_ns);
        if let Some(s) = &self.stw {
            let mut args: Args = vec![
                ("ended", false.into()),
                ("waited_ms", ms(end.saturating_sub(s.start_ns)).into()),
            ];
            if let Some(w) = model.stw.as_ref().filter(|w| w.id == s.id) {
                if let Some(left) = w.wait_stopwait {
                    args.push(("stopwait", left.into()));
                }
                let not_stopped: Vec<String> = model
                    .ps
                    .iter()
                    .filter(|p| p.status.is_some() && !w.stopped.contains(&p.id))
                    .map(|p| format!("P{}", p.id))
                    .collect();
                if !not_stopped.is_empty() {
                    args.push(("not_stopped", not_stopped.join(" ").into()));
                }
            }
            self.stw_end(end, args);
        }
        self.close_all(end, "the file ended");
        self.write(|o| o.finish());
        match self.err {
            Some(e) => Err(e),
            None => Ok((self.out, self.stats)),
        }
    }
}

impl<F: Format> Observer for Timeline<F> {
    fn applied(&mut self, applied: &Applied, model: &Model) {
        let Some(rec) = applied.event else {
            return;
        };
        if applied.stale {
            return;
        }
        // An event the engine applied after later ones (it arrived past the ordering window)
        // is drawn when it was applied: no track goes back in time, no slice ends before it
        // begins.
        self.last_ns = self.last_ns.max(rec.ts_ns);
        self.on_event(rec.kind, self.last_ns, rec.actor, model);
    }

    /// A flight recording's saved state (or a snapshot): draw what it holds as slices begun
    /// when the model says they began (each P since its last change, the stop since its
    /// begin), or at `now_ns` if something was drawn already: time never goes back.
    fn replaced(&mut self, model: &Model, now_ns: u64) {
        let now = self.last_ns.max(now_ns);
        let floor = if self.last_ns > 0 { now } else { 0 };
        self.close_all(now, "the model was replaced by a saved state");
        self.p_owner.clear();
        let at = |since: Option<u64>| since.unwrap_or(now).clamp(floor, now);
        // (start, track, name, colour, args), drawn in time order.
        let mut begins = Vec::new();
        for p in &model.ps {
            let Some(st) = p.status else { continue };
            self.p_owner.insert(p.id, p.owner);
            let track = self.p_track(p.id);
            let mut args: Args = vec![("restored", true.into())];
            if let Some(c) = p.last {
                if let Some(r) = c.reason {
                    args.push(("reason", r.name().into()));
                }
                if let Some(m) = c.m {
                    args.push(("m", m.into()));
                }
            }
            if let Some(h) = p.handed_to {
                args.push(("handed_to_m", h.into()));
            }
            begins.push((
                at(p.since_ns),
                track,
                st.name().to_owned(),
                colour(st),
                args,
            ));
        }
        if let Some(w) = &model.stw {
            let track = self.stw_track();
            let start = at(w.start_ns.or(Some(w.first_seen_ns)));
            let name = match w.reason {
                Some(r) => format!("STW {}", r.name()),
                None => "STW (reason unknown)".to_owned(),
            };
            let mut args: Args = vec![("id", w.id.into()), ("restored", true.into())];
            if let Some(r) = w.reason {
                args.push(("reason", r.name().into()));
            }
            begins.push((start, track, name, Colour::Stopped, args));
            self.stw = Some(OpenStw {
                id: w.id,
                start_ns: start,
                track,
                time_to_stop_ns: None,
            });
        }
        begins.sort_by_key(|b| (b.0, b.1));
        for (start, track, name, c, args) in begins {
            self.slice(track, start, Some((name, c)), args);
        }
        self.last_ns = now;
        let mut ms: Vec<u64> = model.ms.keys().copied().collect();
        ms.sort_unstable();
        for m in ms {
            self.redraw_m(m, model, now);
        }
        self.redraw_template(model, now);
    }

    fn lost(&mut self, count: u64, _model: &Model) {
        let track = self.trace_track();
        let ts = self.last_ns;
        self.instant(
            track,
            ts,
            "events lost",
            vec![("count", count.into())],
            Flow::default(),
        );
    }

    fn finding(&mut self, f: &Finding, _model: &Model) {
        let ts = self.last_ns.max(f.at_ns);
        self.last_ns = ts;
        self.stats.findings += 1;
        let status = f.status.map_or("unknown status", |s| s.name());
        let name = match (f.kind, f.p) {
            (Kind::StuckPInStw, Some(p)) => format!(
                "stuck_p_in_stw: P{p} {status} ({})",
                f.cause.map_or("unknown", |c| c.name())
            ),
            (Kind::StuckPInStw, None) => "stuck_p_in_stw".to_owned(),
            (Kind::SlowStw, _) => format!("slow_stw: {:.3} ms to stop", f.waiting_ms),
        };
        let mut args: Args = vec![
            (
                "kind",
                match f.kind {
                    Kind::StuckPInStw => "stuck_p_in_stw",
                    Kind::SlowStw => "slow_stw",
                }
                .into(),
            ),
            ("explanation", f.explanation.clone().into()),
            ("stw_id", f.stw_id.into()),
            ("waiting_ms", f.waiting_ms.into()),
            (
                "confidence",
                match f.confidence {
                    crate::engine::Confidence::High => "high",
                    crate::engine::Confidence::Low => "low",
                }
                .into(),
            ),
        ];
        if let Some(p) = f.p {
            args.push(("p", p.into()));
            args.push(("status", status.into()));
        }
        if let Some(c) = f.cause {
            args.push(("cause", c.name().into()));
        }
        if let Some(r) = f.stw_reason {
            args.push(("stw_reason", r.into()));
        }
        if let Some(h) = &f.handed_to {
            args.push(("handed_to_m", h.m.into()));
        }
        args.push(("finding", f.to_json().into()));
        let ft = self.findings_track();
        match f.p {
            Some(p) => {
                let pt = self.p_track(p);
                let to = format!("stuck: {}", f.cause.map_or("unknown", |c| c.name()));
                self.flow(ts, ft, &name, pt, &to, args);
            }
            None => self.instant(ft, ts, &name, args, Flow::default()),
        }
    }
}
