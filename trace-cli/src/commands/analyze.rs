//! `trace-cli analyze FILE [--stw-timeout D] [--slow-stw D] [--json]`: replays a trace file
//! through the engine, the recording's end serving as "now": the findings `watch` would have
//! printed, then a summary. With `--events` it prints every event and every loss in order
//! instead.

use std::io::{BufWriter, Write};

use crate::cli::AnalyzeArgs;
use crate::error::{EXIT_FINDING, EXIT_OK, Error};
use crate::event::{Input, LossKind};
use crate::feed::Detector;
use crate::report::LossReport;
use crate::sink::{self, RunReport};
use crate::source::file::replay;

/// The findings of a recording.
fn detect(args: &AnalyzeArgs) -> Result<u8, Error> {
    let mut sink = sink::for_stdout(args.json, args.text);
    let mut detector = Detector::new(args.detect.engine_config());
    let mut found = Vec::new();
    let mut findings = 0u64;
    let mut err: Option<std::io::Error> = None;
    let mut emit = |found: &mut Vec<crate::engine::Finding>, sink: &mut Box<dyn sink::Sink>| {
        for f in found.drain(..) {
            findings += 1;
            if err.is_none()
                && let Err(e) = sink.finding(&f)
            {
                err = Some(e);
            }
        }
    };
    let end = replay(&args.file, |input| {
        detector.input(input, &mut found);
        if !found.is_empty() {
            emit(&mut found, &mut sink);
        }
    })?;
    // The recording's end is "now": a stop-the-world still waiting then is judged at it.
    found = detector.finish(end.end.as_ref().map(|e| e.ts_ns));
    emit(&mut found, &mut sink);
    if let Some(e) = err {
        return Err(Error::Output(e));
    }
    let file_note = match (&end.damage, &end.end) {
        (Some(d), _) => Some(format!(
            "damaged or cut off at byte {}: {} ({} bytes ignored); every complete chunk before it was read",
            d.offset, d.why, d.ignored
        )),
        (None, None) => {
            Some("no end record: the recording was cut off; judged at its last event".to_owned())
        }
        (None, Some(_)) => None,
    };
    // A flight recording holds the last seconds only: say that its start is a saved state.
    let file_note = match (end.state, file_note) {
        (Some(st), note) => {
            let flight = format!(
                "a flight recording: starts from the scheduler's state after {} earlier events it does not hold",
                st.events_before
            );
            Some(match note {
                Some(n) => format!("{flight}; {n}"),
                None => flight,
            })
        }
        (None, note) => note,
    };
    let report = RunReport {
        command: "analyze",
        summary: detector.engine().summary(),
        loss: LossReport::new(&end.counters, &end.seq),
        not_fed: detector.read_errors + detector.undecodable,
        target: Some(end.header.target.clone()),
        end: end.end.as_ref().map(|e| e.reason.clone()),
        target_exit: end.end.as_ref().and_then(|e| e.target_exit),
        target_killed: false,
        seconds: None,
        file: Some(args.file.display().to_string()),
        file_note,
        flight: None,
    };
    sink.report(&report)?;
    Ok(if findings > 0 { EXIT_FINDING } else { EXIT_OK })
}

pub fn run(args: &AnalyzeArgs) -> Result<u8, Error> {
    if !args.events {
        return detect(args);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut err: Option<std::io::Error> = None;
    let mut base: Option<(u64, i128)> = None;
    let path = args.file.display().to_string();
    // The clock base is in the header, which `replay` reads first; read it here too, cheaply,
    // so event lines can show times relative to the start of the recording.
    {
        let r = crate::tracefile::Reader::open(&args.file)?;
        let c = r.header().clock;
        base = base.or(Some((c.monotonic_ns, c.realtime_ns.into())));
    }
    let (mono0, real0) = base.expect("set above");
    let end = replay(&args.file, |input| {
        if err.is_some() {
            return;
        }
        let r = if args.json {
            let v = match &input {
                Input::Event(e) => serde_json::json!({
                    "kind": "event",
                    "ts_ns": e.ts_ns,
                    "wall_ns": (real0 + i128::from(e.ts_ns) - i128::from(mono0)).to_string(),
                    "pid": e.pid,
                    "tid": e.tid,
                    "cpu": e.cpu,
                    "probe": e.name(),
                    "args": e.json_args(),
                    "read_error": e.read_error,
                }),
                Input::Lost { count, why } => lost_json(*count, why),
                Input::State(st) => serde_json::json!({
                    "kind": "state",
                    "ts_ns": st.ts_ns,
                    "events_before": st.events_before,
                    "ps": st.model.ps.len(),
                    "ms": st.model.ms.len(),
                    "stw_waiting": st.model.stw.as_ref().map(|w| w.id),
                }),
                Input::Tick(_) => return,
            };
            writeln!(out, "{v}")
        } else {
            match &input {
                Input::Event(e) => {
                    let t = e.ts_ns as i128 - i128::from(mono0);
                    writeln!(
                        out,
                        "{:>14.9} {:>7}/{:<7} cpu{:<2} {:<16} {}{}",
                        t as f64 / 1e9,
                        e.pid,
                        e.tid,
                        e.cpu,
                        e.name(),
                        e.render_args(),
                        if e.read_error {
                            " (argument read error)"
                        } else {
                            ""
                        }
                    )
                }
                Input::Lost { count, why } => {
                    writeln!(out, "{:>14} LOST {}", "", lost_text(*count, why))
                }
                Input::State(st) => writeln!(
                    out,
                    "{:>14.9} STATE the scheduler as of here ({} Ps, {} Ms{}), from {} earlier events this flight recording does not hold",
                    (st.ts_ns as i128 - i128::from(mono0)) as f64 / 1e9,
                    st.model.ps.len(),
                    st.model.ms.len(),
                    match &st.model.stw {
                        Some(w) => format!(", stop-the-world #{} waiting", w.id),
                        None => String::new(),
                    },
                    st.events_before
                ),
                Input::Tick(_) => Ok(()),
            }
        };
        if let Err(e) = r {
            err = Some(e);
        }
    })?;
    if let Some(e) = err {
        return Err(Error::Output(e));
    }
    let loss = LossReport::new(&end.counters, &end.seq);
    if args.json {
        let v = serde_json::json!({
            "kind": "summary",
            "command": "analyze",
            "file": path,
            "events": end.seq.events,
            "target": end.header.target,
            "catalog_version": end.header.catalog_version,
            "complete": end.end.is_some() && end.damage.is_none(),
            "end": end.end.as_ref().map(|e| e.reason.clone()),
            "target_exit": end.end.as_ref().and_then(|e| e.target_exit),
            "damage": end.damage.as_ref().map(|d| serde_json::json!({"offset": d.offset, "ignored_bytes": d.ignored, "why": d.why})),
            "unknown_probes": end.unknown_probes,
            "loss": loss,
        });
        writeln!(out, "{v}")?;
    } else {
        let who = match end.header.target.pid {
            Some(pid) => format!("pid {pid} ({})", end.header.target.exe),
            None => end.header.target.exe.clone(),
        };
        writeln!(
            out,
            "{path}: {} events from {who} ({} mode, catalog v{}, {} chunks)",
            end.seq.events, end.header.target.mode, end.header.catalog_version, end.chunks
        )?;
        writeln!(out, "{}", loss.text())?;
        if let Some(d) = &end.damage {
            writeln!(
                out,
                "damaged or cut off at byte {}: {} ({} bytes ignored); every complete chunk before it was read",
                d.offset, d.why, d.ignored
            )?;
        } else if end.end.is_none() {
            writeln!(out, "no end record: the recording was cut off")?;
        }
        if end.unknown_probes > 0 {
            writeln!(
                out,
                "{} events of probes this trace-cli does not know were skipped",
                end.unknown_probes
            )?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn lost_text(count: u64, why: &LossKind) -> String {
    match why {
        LossKind::RingFull => format!("{count} events dropped: the ring buffer was full"),
        LossKind::SpecMiss => format!("{count} probe hits without a spec"),
        LossKind::SeqGap { pid, p, after } => {
            format!("{count} status changes of P {p} (pid {pid}) missing after seq {after}")
        }
        LossKind::Discontinuity {
            pid,
            p,
            expected_old,
            got_old,
        } => format!(
            "P {p} (pid {pid}) changed from {} but was {}: status changes missing",
            goro_probes::catalog::pstatus::PStatus::from_code(*got_old)
                .map(|s| s.name())
                .unwrap_or("?"),
            goro_probes::catalog::pstatus::PStatus::from_code(*expected_old)
                .map(|s| s.name())
                .unwrap_or("?")
        ),
        LossKind::Late { pid, p, seq } => {
            format!("status change seq {seq} of P {p} (pid {pid}) arrived too late to order")
        }
    }
}

fn lost_json(count: u64, why: &LossKind) -> serde_json::Value {
    let mut v = serde_json::json!({"kind": "lost", "count": count, "why": why.name()});
    match why {
        LossKind::SeqGap { pid, p, after } => {
            v["pid"] = (*pid).into();
            v["p"] = (*p).into();
            v["after_seq"] = (*after).into();
        }
        LossKind::Discontinuity { pid, p, .. } | LossKind::Late { pid, p, .. } => {
            v["pid"] = (*pid).into();
            v["p"] = (*p).into();
        }
        _ => {}
    }
    v
}
