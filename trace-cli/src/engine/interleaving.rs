//! The chain of events that led to a stuck P, and its rendering as one column per thread in
//! time order — the way the commit that fixed golang/go#38931 drew the race. Only the events
//! of that story: the stop-the-world's begin, the P's last changes and hand-off, the M it was
//! handed to, and for the template race the M that set the flag and what happened to it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::finding::{Cause, ChainEvent, Finding, Kind, ThreadRole};
use super::input::EventKind;
use super::model::{Model, Recorded, Stw};

/// At most this many events in a chain.
const MAX_CHAIN: usize = 40;
/// A cell wider than this is cut.
const MAX_CELL: usize = 44;

fn ms(ns: i128) -> f64 {
    ns as f64 / 1e6
}

fn p_name(p: Option<u32>) -> String {
    p.map_or("no P".to_owned(), |p| format!("P{p}"))
}

fn m_name(m: Option<u64>) -> String {
    m.map_or("new M".to_owned(), |m| format!("M{m}"))
}

/// One event, in words.
pub fn describe(kind: &EventKind) -> String {
    match *kind {
        EventKind::PStatus {
            p,
            old,
            new,
            reason,
            ..
        } => format!("P{p} {}→{} ({})", old.name(), new.name(), reason.name()),
        EventKind::StwBegin { id, reason, .. } => {
            format!("stw_begin #{id} ({}): gcwaiting", reason.name())
        }
        EventKind::StwWait { id, stopwait } => format!("stw #{id} waits: {stopwait} P left"),
        EventKind::StwStopped { id, ns } => format!("stw #{id} stopped in {:.3} ms", ms(ns.into())),
        EventKind::StwEnd { id } => format!("stw #{id} ends"),
        EventKind::HandoffP { p, decision, .. } => format!("handoffp P{p}: {}", decision.name()),
        EventKind::StartM { p, m, .. } => format!("startm {} → {}", p_name(p), m_name(m)),
        EventKind::StartLockedM { p, lockedm, .. } => {
            format!("startlockedm P{p} → locked M{lockedm}")
        }
        EventKind::PidlePut { p, .. } => format!("P{p} onto idle list"),
        EventKind::PidleGet { p, .. } => format!("P{p} off idle list"),
        EventKind::NewM {
            m,
            queued,
            p,
            template,
            ..
        } => format!(
            "newm M{m}{}{}{}",
            p.map(|p| format!(" (P{p})")).unwrap_or_default(),
            if template { " (template thread)" } else { "" },
            if queued { ": locked, queue it" } else { "" }
        ),
        EventKind::NewMHandoff { m, list_len } => {
            format!("M{m} on hand-off list (len {list_len})")
        }
        EventKind::TemplateStart { .. } => "have_template_thread 0→1".to_owned(),
        EventKind::TemplateRunning { tid, .. } => format!("template thread runs (tid {tid})"),
        EventKind::TemplateSpawn { m } => format!("template creates M{m}"),
        EventKind::MStart { m, tid } => format!("M{m} starts (tid {tid})"),
        EventKind::MPark { m, .. } => format!("M{m} parks"),
        EventKind::MWake { m, p, .. } => format!("M{m} wakes with {}", p_name(p)),
        EventKind::MExit { m, .. } => format!("M{m} exits"),
        EventKind::LockOsThread { g, ext, int, .. } => {
            format!("lock_os_thread G{} ({ext}/{int})", g.unwrap_or(0))
        }
        EventKind::UnlockOsThread { g, ext, int, .. } => {
            format!("unlock_os_thread G{} ({ext}/{int})", g.unwrap_or(0))
        }
        EventKind::PreemptRequest { g, p, .. } => {
            format!("preempt G{} on {}", g.unwrap_or(0), p_name(p))
        }
        EventKind::Preempted { g, p, .. } => {
            format!("G{} preempted on {}", g.unwrap_or(0), p_name(p))
        }
        EventKind::SyscallEnter { g, p, .. } => {
            format!("G{} enters syscall on {}", g.unwrap_or(0), p_name(p))
        }
        EventKind::SyscallExit { g, kind, .. } => {
            format!("G{} leaves syscall ({})", g.unwrap_or(0), kind.name())
        }
        EventKind::ProcResize { old, new } => format!("procresize {old}→{new}"),
    }
}

fn thread(r: &Recorded) -> String {
    match r.actor {
        Some(m) => format!("M{m}"),
        None => format!("tid {}", r.tid),
    }
}

/// The events that led P `id` to block `stw`, oldest first.
pub fn chain(model: &Model, stw: &Stw, id: u32, cause: Cause) -> Vec<ChainEvent> {
    let mut picked: BTreeMap<(u64, u64), Recorded> = BTreeMap::new();
    let mut add = |r: &Recorded| {
        picked.insert((r.ts_ns, r.seq), *r);
    };
    if let Some(r) = &stw.begin_event {
        add(r);
    }
    let Some(p) = model.p(id) else {
        return Vec::new();
    };
    // The P's last status change, the one before it (how it got there), and everything
    // about it since (hand-off, startm, newm, queueing, preemption requests).
    let hist: Vec<&Recorded> = p.history.iter().collect();
    let changes: Vec<usize> = hist
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.kind, EventKind::PStatus { .. }))
        .map(|(i, _)| i)
        .collect();
    let from = match changes.len() {
        0 => 0,
        1 => changes[0],
        n => changes[n - 2],
    };
    for r in &hist[from..] {
        add(r);
    }
    let last_ts = p.last.and_then(|c| c.ts_ns).unwrap_or(0);
    // The M that made the last change: was it locked (the G that yields in #38931)?
    if let Some(m) = p.last.and_then(|c| c.m).and_then(|m| model.m(m)) {
        if let Some(r) = m
            .history
            .iter()
            .rev()
            .filter(|r| r.ts_ns <= last_ts)
            .find(|r| matches!(r.kind, EventKind::LockOsThread { .. }))
        {
            add(r);
        }
        for r in m.history.iter().filter(|r| r.ts_ns >= last_ts) {
            if matches!(r.kind, EventKind::MPark { .. } | EventKind::NewM { .. }) {
                add(r);
            }
        }
    }
    // The M it was handed to: its whole (short) life.
    if let Some(m) = p.handed_to.and_then(|m| model.m(m)) {
        for r in m.history.iter() {
            if matches!(
                r.kind,
                EventKind::NewM { .. }
                    | EventKind::NewMHandoff { .. }
                    | EventKind::TemplateSpawn { .. }
                    | EventKind::MStart { .. }
                    | EventKind::MPark { .. }
                    | EventKind::MWake { .. }
                    | EventKind::MExit { .. }
                    | EventKind::StartM { .. }
                    | EventKind::StartLockedM { .. }
            ) {
                add(r);
            }
        }
    }
    let t = &model.template;
    if cause == Cause::TemplateThreadRace
        && let Some(r) = &t.flag_event
    {
        add(r);
        // The flag-setter: its lock_os_thread, and what stopped it before it created the
        // thread (preempted, its P stopped).
        if let Some(m) = t.flag_by.and_then(|m| model.m(m)) {
            if let Some(l) = m
                .history
                .iter()
                .rev()
                .filter(|x| x.ts_ns <= r.ts_ns)
                .find(|x| matches!(x.kind, EventKind::LockOsThread { .. }))
            {
                add(l);
            }
            for x in m
                .history
                .iter()
                .filter(|x| x.ts_ns >= r.ts_ns)
                .filter(|x| {
                    matches!(
                        x.kind,
                        EventKind::Preempted { .. }
                            | EventKind::PStatus { .. }
                            | EventKind::MPark { .. }
                    )
                })
                .take(3)
            {
                add(x);
            }
        }
    }
    let queued = p
        .handed_to
        .and_then(|m| model.m(m))
        .is_some_and(|m| m.queued_for_template);
    if queued && let Some(r) = &t.running_event {
        add(r);
    }
    if let Some(r) = &stw.first_wait_event {
        add(r);
    }
    let base = stw.start_ns;
    let mut events: Vec<ChainEvent> = picked
        .values()
        .map(|r| ChainEvent {
            ts_ns: r.ts_ns,
            t_ms: base.map(|b| ms(i128::from(r.ts_ns) - i128::from(b))),
            thread: thread(r),
            probe: r.kind.probe(),
            what: describe(&r.kind),
        })
        .collect();
    if events.len() > MAX_CHAIN {
        events.drain(..events.len() - MAX_CHAIN);
    }
    events
}

/// The part each thread of `chain` played, for the column headers.
pub fn roles(model: &Model, stw: &Stw, id: u32, chain: &[ChainEvent]) -> Vec<ThreadRole> {
    let p = model.p(id);
    let mut roles: Vec<(u64, String)> = Vec::new();
    let mut add = |m: Option<u64>, role: String| {
        if let Some(m) = m {
            match roles.iter_mut().find(|(x, _)| *x == m) {
                Some((_, r)) => {
                    r.push_str(", ");
                    r.push_str(&role);
                }
                None => roles.push((m, role)),
            }
        }
    };
    add(model.template.flag_by, "set the template flag".to_owned());
    add(model.template.m, "template thread".to_owned());
    add(
        p.and_then(|p| p.last).and_then(|c| c.m),
        format!("changed P{id} last"),
    );
    add(p.and_then(|p| p.handed_to), format!("handed P{id}"));
    add(stw.stopper, "stops the world".to_owned());
    let mut out = Vec::new();
    for e in chain {
        if out.iter().any(|r: &ThreadRole| r.thread == e.thread) {
            continue;
        }
        let role = roles
            .iter()
            .find(|(m, _)| format!("M{m}") == e.thread)
            .map(|(_, r)| r.clone());
        if let Some(role) = role {
            out.push(ThreadRole {
                thread: e.thread.clone(),
                role,
            });
        }
    }
    out
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_CELL {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(MAX_CELL - 1).collect();
    t.push('…');
    t
}

/// The chain as one column per thread, in time order, each headed by its thread and the part
/// it played.
pub fn render_columns(chain: &[ChainEvent], roles: &[ThreadRole]) -> String {
    if chain.is_empty() {
        return "  (no events: the state was read from a snapshot, or none was seen)\n".to_owned();
    }
    let mut threads: Vec<&str> = Vec::new();
    for e in chain {
        if !threads.contains(&e.thread.as_str()) {
            threads.push(&e.thread);
        }
    }
    let col = |t: &str| threads.iter().position(|x| *x == t).expect("collected");
    let role = |t: &str| {
        roles
            .iter()
            .find(|r| r.thread == t)
            .map_or(String::new(), |r| cut(&format!("({})", r.role)))
    };
    let mut widths: Vec<usize> = threads
        .iter()
        .map(|t| t.chars().count().max(role(t).chars().count()))
        .collect();
    for e in chain {
        let i = col(&e.thread);
        widths[i] = widths[i].max(cut(&e.what).chars().count());
    }
    let time = |e: &ChainEvent| match e.t_ms {
        Some(t) => format!("{t:+10.3} ms"),
        None => format!("{:>10} ns", e.ts_ns),
    };
    let tw = 13;
    let mut out = String::new();
    let mut head = format!("  {:>tw$}", "time");
    let mut sub = format!("  {:>tw$}", "");
    for (t, w) in threads.iter().zip(&widths) {
        let _ = write!(head, "  {t:<w$}");
        let _ = write!(sub, "  {:<w$}", role(t));
    }
    out.push_str(head.trim_end());
    out.push('\n');
    if roles.iter().any(|r| threads.contains(&r.thread.as_str())) {
        out.push_str(sub.trim_end());
        out.push('\n');
    }
    for e in chain {
        let i = col(&e.thread);
        let mut line = format!("  {:>tw$}", time(e));
        for (j, w) in widths.iter().enumerate() {
            let cell = if j == i { cut(&e.what) } else { String::new() };
            let _ = write!(line, "  {cell:<w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A finding for a person: what, why, and the interleaving.
pub fn render_text(f: &Finding) -> String {
    let mut out = String::new();
    match f.kind {
        Kind::StuckPInStw => {
            let _ = writeln!(
                out,
                "stuck_p_in_stw: P{} {} blocks stop-the-world #{}{} — waiting {:.1} ms — cause: {} ({} confidence)",
                f.p.map_or("?".to_owned(), |p| p.to_string()),
                f.status.map_or("status unknown", |s| s.name()),
                f.stw_id,
                f.stw_reason.map(|r| format!(" ({r})")).unwrap_or_default(),
                f.waiting_ms,
                f.cause.map_or("unknown", |c| c.name()),
                match f.confidence {
                    super::finding::Confidence::High => "high",
                    super::finding::Confidence::Low => "low",
                }
            );
            let _ = writeln!(out, "  {}", f.explanation);
            out.push('\n');
            out.push_str(&render_columns(&f.chain, &f.threads));
        }
        Kind::SlowStw => {
            let _ = writeln!(out, "slow_stw: {}", f.explanation);
        }
    }
    out
}
