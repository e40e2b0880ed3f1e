//! **stuck_p_in_stw**: a stop-the-world has waited longer than the timeout, and a P below the
//! current P count is not `_Pgcstop`. Each such P is reported once per stop-the-world, with
//! the cause the model supports.
//!
//! What is never a finding: a stop-the-world that stops in time (however its Ps looked while
//! it waited — e.g. the fixed runtime's template thread starting after the first
//! `lock_os_thread`); `_Pdead` Ps beyond the P count; a stop-the-world whose progress is
//! unknown because events were lost since the last proof that it still waits; a P whose
//! status is unknown or may be stale, unless the stop's own count of Ps left (`stw_wait`)
//! proves that it is one of them.

use crate::engine::finding::{
    Cause, Confidence, Finding, HandedTo, Kind, LastChange, TemplateInfo, ThreadRole,
};
use crate::engine::input::{MAX_P_ID, PStatus, starts_m};
use crate::engine::interleaving;
use crate::engine::model::{Model, PState, Stw};

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Runs the detector at `now`; marks what it reports so it is reported once.
pub fn check(model: &mut Model, now: u64, timeout_ns: u64, out: &mut Vec<Finding>) {
    let Some(stw) = model.stw.as_ref() else {
        return;
    };
    if stw.uncertain || stw.waited_ns(now) <= timeout_ns {
        return;
    }
    // Bounded: a corrupt count must not make this loop for billions of ids.
    let nprocs = stw
        .nprocs
        .or(model.nprocs)
        .unwrap_or(model.ps.len() as u32)
        .min(MAX_P_ID + 1);
    // Ps not stopped whose status is certain; Ps that may or may not be stopped.
    let mut sure = Vec::new();
    let mut doubtful = Vec::new();
    for id in 0..nprocs {
        match model.p(id) {
            Some(p) if p.status == Some(PStatus::GcStop) => {}
            Some(p) if p.status.is_some() && !p.loss_since_change(model) => sure.push(id),
            _ => doubtful.push(id),
        }
    }
    // A doubtful P is reported only when the stop's own count of Ps left says every doubtful
    // P is one of them; otherwise which of them is stuck is not known, and nothing is invented.
    let doubtful_are_stuck = stw
        .wait_stopwait
        .is_some_and(|left| (left as usize).saturating_sub(sure.len()) >= doubtful.len());
    // Ps not stopped that cannot be named: the stop's count says so, but which of the
    // doubtful Ps they are is not known (attached while it was already waiting: a hung stop
    // emits only its wait probe, and no P changes). Said once, as what is known.
    // The count is the last wait round's: Ps that stopped since are not in it. So with the P
    // count known, only doubtful Ps can be the unnamed ones; without it (nothing seen but
    // the waits), only while no P of this stop has been named.
    let named = sure.len()
        + if doubtful_are_stuck {
            doubtful.len()
        } else {
            0
        };
    let nprocs_known = stw.nprocs.or(model.nprocs).is_some();
    let unnamed = stw.wait_stopwait.map_or(0, |left| {
        let n = (left as usize).saturating_sub(named);
        if nprocs_known {
            n.min(if doubtful_are_stuck {
                0
            } else {
                doubtful.len()
            })
        } else if stw.reported.is_empty() {
            n
        } else {
            0
        }
    });
    if unnamed > 0 && !stw.reported_unnamed {
        let candidates = if doubtful_are_stuck {
            &[][..]
        } else {
            &doubtful[..]
        };
        out.push(unnamed_finding(model, stw, unnamed, candidates, now));
        model.stw.as_mut().expect("checked above").reported_unnamed = true;
    }
    let stw = model.stw.as_ref().expect("checked above");
    let mut report: Vec<(u32, bool)> = sure.into_iter().map(|p| (p, true)).collect();
    if doubtful_are_stuck {
        report.extend(doubtful.into_iter().map(|p| (p, false)));
    }
    report.retain(|(p, _)| !stw.reported.contains(p));
    if report.is_empty() {
        return;
    }
    for &(p, certain) in &report {
        out.push(finding(model, stw, p, certain, nprocs, now));
    }
    let stw = model.stw.as_mut().expect("checked above");
    stw.reported.extend(report.iter().map(|(p, _)| *p));
}

/// The cause of one stuck P, how sure, and in words.
pub struct Diagnosis {
    pub cause: Cause,
    pub confidence: Confidence,
    pub explanation: String,
}

fn m_name(m: Option<u64>) -> String {
    m.map_or("an unknown M".to_owned(), |m| format!("M{m}"))
}

/// Why P `id` blocks `stw`. A P whose status may be stale (events lost since its last
/// change, or its status inferred from the stop's count) gets cause `unknown`: what was last
/// seen is told, not concluded from.
pub fn diagnose(model: &Model, stw: &Stw, id: u32, certain: bool, now: u64) -> Diagnosis {
    let seen = diagnose_seen(model, stw, id, now);
    let stale = model.p(id).is_some_and(|p| p.loss_since_change(model));
    if (certain && !stale) || seen.cause == Cause::Unknown {
        return Diagnosis {
            confidence: if certain && !stale {
                seen.confidence
            } else {
                Confidence::Low
            },
            ..seen
        };
    }
    Diagnosis {
        cause: Cause::Unknown,
        confidence: Confidence::Low,
        explanation: format!(
            "Events were lost after P{id}'s last change, so its status may be stale and the              cause cannot be shown. Last seen: {}",
            seen.explanation
        ),
    }
}

/// The diagnosis from what the model saw, taking it as current.
fn diagnose_seen(model: &Model, stw: &Stw, id: u32, now: u64) -> Diagnosis {
    let unknown_p = PState {
        id,
        ..PState::default()
    };
    let p = model.p(id).unwrap_or(&unknown_p);
    let low = p.history_gap;
    let status_for = p
        .since_ns
        .map(|s| format!(" for {:.1} ms", ms(now.saturating_sub(s))))
        .unwrap_or_default();
    let last = p.last.map(|c| {
        format!(
            " {} changed it last ({})",
            m_name(c.m),
            c.reason.map_or("reason unknown", |r| r.name())
        )
    });
    let last = last.unwrap_or_default();
    let Some(status) = p.status else {
        return Diagnosis {
            cause: Cause::Unknown,
            confidence: Confidence::Low,
            explanation: format!(
                "P{id}'s status is unknown: no change of it was seen since the engine attached. \
                 The stop-the-world's count of Ps left ({}) says it is one of the Ps not stopped.",
                stw.wait_stopwait.unwrap_or(0)
            ),
        };
    };
    let gap_note = if p.history_gap {
        " Its history has a gap (lost events), so how it got there is not known."
    } else {
        ""
    };
    let dx = |cause: Cause, text: String, less_sure: bool| Diagnosis {
        cause,
        confidence: if low || less_sure {
            Confidence::Low
        } else {
            Confidence::High
        },
        explanation: format!("{text}{gap_note}"),
    };
    let d = |cause: Cause, text: String| dx(cause, text, false);
    let head = format!("P{id} is {}{status_for};{last}.", status.name());
    if p.history_gap {
        // Which M it went to, and whether that is the whole story, cannot be told.
        return d(
            Cause::Unknown,
            format!(
                "{head} It is not _Pgcstop, so the stop-the-world cannot finish.{}",
                handed_text(model, p)
            ),
        );
    }
    match status {
        PStatus::Idle => {
            let Some(hm) = p.handed_to else {
                let where_ = match (p.handoff, p.on_idle_list) {
                    (Some((m, h)), _) if starts_m(h) => format!(
                        " {} handed it off ({}) but the M that was to take it was not seen.",
                        m_name(m),
                        h.name()
                    ),
                    (_, Some(true)) => {
                        " It is on the idle list, yet the stopper did not take it.".to_owned()
                    }
                    _ => " It is on no idle list and was handed to no M the engine saw.".to_owned(),
                };
                return d(Cause::Unknown, format!("{head}{where_}"));
            };
            let Some(m) = model.m(hm) else {
                return d(
                    Cause::Unknown,
                    format!("{head} It was handed to M{hm}, of which nothing else is known."),
                );
            };
            if m.exited {
                return d(
                    Cause::Unknown,
                    format!(
                        "{head} It was handed to M{hm}, whose thread exited without taking it."
                    ),
                );
            }
            let t = &model.template;
            match m.started {
                Some(false)
                    if m.queued_for_template
                        && !m.spawned_by_template
                        && t.running != Some(true) =>
                {
                    let flag = match (t.flag_by, t.flag_ns) {
                        (Some(by), Some(at)) => format!(
                            "M{by} set have_template_thread {:.1} ms ago",
                            ms(now.saturating_sub(at))
                        ),
                        _ => "have_template_thread is set".to_owned(),
                    };
                    // Never seeing the template thread's state (attached after it started?)
                    // leaves room for a thread that is running after all.
                    dx(
                        Cause::TemplateThreadRace,
                        format!(
                            "{head} It was handed to new M{hm}, created from a locked thread and \
                             queued for the template thread (hand-off list: {}). The template \
                             thread is not running: {flag}, and the thread was never created. \
                             No thread will ever take P{id}, and it is on no idle list, so \
                             stop-the-world #{} waits for it forever (golang/go#38931).",
                            t.handoff_len.map_or("?".to_owned(), |n| n.to_string()),
                            stw.id
                        ),
                        t.running.is_none(),
                    )
                }
                Some(false) => {
                    let why = if m.spawned_by_template {
                        "the template thread created its thread, which has not started"
                    } else if m.queued_for_template {
                        "it is queued for the template thread, which is running but has not \
                         created it"
                    } else {
                        "its thread was created and has not started"
                    };
                    d(
                        Cause::UnstartedM,
                        format!("{head} It was handed to new M{hm}: {why}."),
                    )
                }
                Some(true) if m.parked == Some(true) => {
                    let when = p
                        .handed_at_ns
                        .map(|h| format!(" {:.1} ms ago", ms(now.saturating_sub(h))))
                        .unwrap_or_default();
                    d(
                        Cause::LostWakeup,
                        format!(
                            "{head} It was handed{when} to M{hm}{}, which had started and is \
                             still asleep: it was woken but never ran, so it never took P{id}.",
                            m.tid.map(|t| format!(" (tid {t})")).unwrap_or_default()
                        ),
                    )
                }
                _ => d(
                    Cause::Unknown,
                    format!(
                        "{head} It was handed to M{hm}, which {} but has not taken it.",
                        match m.started {
                            Some(true) => "is awake",
                            _ => "may or may not have started",
                        }
                    ),
                ),
            }
        }
        PStatus::Running => {
            let g = p.curg.map_or("its G".to_owned(), |g| format!("G{g}"));
            let since_stw = stw
                .start_ns
                .map(|s| format!(" {:.1} ms ago", ms(now.saturating_sub(s))))
                .unwrap_or_default();
            let reached = match (p.last_safepoint_ns, stw.start_ns) {
                (Some(sp), Some(start)) => sp >= start,
                _ => false,
            };
            if reached {
                return d(
                    Cause::Unknown,
                    format!(
                        "{head} {g} reached a safepoint after the stop-the-world began, yet \
                         P{id} did not stop (preemption disabled on {}?).",
                        m_name(p.owner)
                    ),
                );
            }
            let asked = p
                .preempt_requested_ns
                .map(|r| {
                    format!(
                        " Preemption was requested {:.1} ms ago.",
                        ms(now.saturating_sub(r))
                    )
                })
                .unwrap_or_else(|| " No preemption request for it was seen.".to_owned());
            d(
                Cause::NonpreemptibleG,
                format!(
                    "{head} {g} on {} has not reached a safepoint since the stop-the-world \
                     began{since_stw}: it runs code with no safepoint (no runtime call, no \
                     checkpoint()), and goro cannot preempt it asynchronously.{asked}",
                    m_name(p.owner)
                ),
            )
        }
        PStatus::Syscall => d(
            Cause::Unknown,
            format!(
                "{head} Its M ({}) is in a syscall; the stopper should have claimed it.",
                m_name(p.owner)
            ),
        ),
        PStatus::Dead => d(
            Cause::Unknown,
            format!("{head} It is below the P count yet _Pdead."),
        ),
        PStatus::GcStop => d(Cause::Unknown, head),
    }
}

fn handed_text(model: &Model, p: &PState) -> String {
    match p.handed_to {
        Some(m) => format!(
            " Last seen handed to M{m}{}.",
            match model.m(m).and_then(|m| m.started) {
                Some(true) => " (started)",
                Some(false) => " (not started)",
                None => "",
            }
        ),
        None => String::new(),
    }
}

/// `count` Ps have not stopped and which they are is not known: a finding with no P, cause
/// `unknown`, low confidence, saying what is known (the stop, how long at least, how many Ps,
/// the candidates).
fn unnamed_finding(
    model: &Model,
    stw: &Stw,
    count: usize,
    candidates: &[u32],
    now: u64,
) -> Finding {
    let waited = ms(stw.waited_ns(now));
    let since = if stw.start_ns.is_some() {
        format!("has waited {waited:.1} ms")
    } else {
        format!(
            "has waited at least {waited:.1} ms (it began before the engine attached; its \
             reason and start are not known)"
        )
    };
    let which = if candidates.is_empty() {
        "No P's status was seen".to_owned()
    } else {
        let list: Vec<String> = candidates.iter().map(|p| format!("P{p}")).collect();
        format!("It is among {}, whose status was not seen", list.join(", "))
    };
    let ps = if count == 1 { "P has" } else { "Ps have" };
    let explanation = format!(
        "Stop-the-world #{} {since}, and by its own count {count} {ps} not stopped. Which \
         cannot be told: no status change of the Ps still running was seen since the engine \
         attached, and a stop that waits emits nothing but its wait. {which}. Attach before \
         the hang (or start the program under watch) to have the P named and its cause.",
        stw.id
    );
    let stopper = stw.stopper.map(|m| format!("M{m}"));
    Finding {
        kind: Kind::StuckPInStw,
        p: None,
        status: None,
        cause: Some(Cause::Unknown),
        confidence: Confidence::Low,
        stw_id: stw.id,
        stw_reason: stw.reason.map(|r| r.name()),
        waiting_ms: waited,
        status_for_ms: None,
        last_change: None,
        handed_to: None,
        owner_m: None,
        g: None,
        template: None,
        stopped_ps: stw.stopped.iter().copied().collect(),
        nprocs: stw.nprocs.or(model.nprocs),
        explanation,
        chain: Vec::new(),
        threads: stopper
            .map(|t| {
                vec![ThreadRole {
                    thread: t,
                    role: "stops the world".to_owned(),
                }]
            })
            .unwrap_or_default(),
        at_ns: now,
        flight_file: None,
    }
}

fn finding(model: &Model, stw: &Stw, id: u32, certain: bool, nprocs: u32, now: u64) -> Finding {
    let d = diagnose(model, stw, id, certain, now);
    let p = model.p(id);
    let handed_to = p.and_then(|p| p.handed_to).map(|hm| {
        let m = model.m(hm);
        HandedTo {
            m: hm,
            tid: m.and_then(|m| m.tid),
            started: m.and_then(|m| m.started),
            parked: m.and_then(|m| m.parked),
            queued_for_template: m.is_some_and(|m| m.queued_for_template),
            exited: m.is_some_and(|m| m.exited),
            ago_ms: p
                .and_then(|p| p.handed_at_ns)
                .map(|h| ms(now.saturating_sub(h))),
        }
    });
    let t = &model.template;
    let template = (t.flag.is_some() || t.running.is_some()).then_some(TemplateInfo {
        flag: t.flag,
        flag_set_by: t.flag_by,
        running: t.running,
        tid: t.tid,
        handoff_len: t.handoff_len,
    });
    let status = p.and_then(|p| p.status);
    let chain = interleaving::chain(model, stw, id, d.cause);
    let threads = interleaving::roles(model, stw, id, &chain);
    Finding {
        kind: Kind::StuckPInStw,
        p: Some(id),
        status,
        cause: Some(d.cause),
        confidence: d.confidence,
        stw_id: stw.id,
        stw_reason: stw.reason.map(|r| r.name()),
        waiting_ms: ms(stw.waited_ns(now)),
        status_for_ms: p
            .and_then(|p| p.since_ns)
            .map(|s| ms(now.saturating_sub(s))),
        last_change: p.and_then(|p| p.last).map(|c| LastChange {
            m: c.m,
            reason: c.reason,
            from: c.old,
            seq: c.seq,
            ago_ms: c.ts_ns.map(|t| ms(now.saturating_sub(t))),
        }),
        handed_to,
        owner_m: p.and_then(|p| p.owner),
        g: p.filter(|p| p.status == Some(PStatus::Running))
            .and_then(|p| p.curg),
        template,
        stopped_ps: stw.stopped.iter().copied().collect(),
        nprocs: Some(nprocs),
        explanation: d.explanation,
        chain,
        threads,
        at_ns: now,
        flight_file: None,
    }
}
