//! `trace-cli inspect PID | --core CORE --exe BINARY [--json] [--stw-timeout D] [--freeze]`:
//! reads the scheduler state table of a process (live, or from its core file), prints it,
//! and runs the detection engine on it. No tracing, no BPF, no root: a process that is
//! already hung emits no events, but its state is in memory.
//!
//! Exit status: 0 no finding, 1 error, 2 usage, 3 at least one finding.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use crate::engine::{Config, Engine, Finding, Input, Snapshot};
use crate::snapshot::core::Core;
use crate::snapshot::elf::{FoundBy, read_exe};
use crate::snapshot::goro::{self, Read};
use crate::snapshot::process::{Frozen, Process};
use crate::snapshot::{Error as SnapError, Memory};
use clap::Args;
use serde::Serialize;

use crate::error::{EXIT_FINDING, EXIT_OK, Error};

#[derive(Debug, Args)]
#[command(
    override_usage = "trace-cli inspect [OPTIONS] <PID>\n       trace-cli inspect [OPTIONS] --core <CORE> --exe <BINARY>"
)]
pub struct InspectArgs {
    /// The process to inspect (it keeps running unless --freeze).
    #[arg(required_unless_present = "core", conflicts_with_all = ["core", "exe"])]
    pub pid: Option<u32>,

    /// A core file of the process (from gcore, or written by the kernel).
    #[arg(long, requires = "exe")]
    pub core: Option<PathBuf>,

    /// The executable the core was dumped from (a stripped copy works).
    #[arg(long, requires = "core")]
    pub exe: Option<PathBuf>,

    /// One JSON object per line: the snapshot, then each finding.
    #[arg(long)]
    pub json: bool,

    /// A stop-the-world waiting longer than this with a P not stopped is a finding
    /// (e.g. 500ms, 2s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub stw_timeout: u64,

    /// Stop the process (SIGSTOP) while reading, for a copy that cannot tear; it is always
    /// resumed.
    #[arg(long, conflicts_with = "core")]
    pub freeze: bool,
}

/// `500ms`, `2s`, `1.5s`, `100us`, `1m`: nanoseconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let i = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(i);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (e.g. 500ms, 2s)"))?;
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" | "" => 1e9,
        "m" => 60e9,
        _ => return Err(format!("unknown unit in {s:?} (ns, us, ms, s, m)")),
    };
    Ok((v * scale) as u64)
}

/// Where the table came from, for the output.
#[derive(Serialize)]
struct Source {
    kind: &'static str,
    pid: Option<u32>,
    exe: String,
    core: Option<String>,
    table_addr: String,
    found_by: FoundBy,
    /// What "now" is: the moment of the read, or the moment the core was taken.
    now: &'static str,
    frozen: bool,
    attempts: u32,
    torn_ps: Vec<u32>,
}

pub fn run(args: &InspectArgs) -> Result<u8, Error> {
    let (source, read, now) = match (&args.core, &args.exe, args.pid) {
        (Some(core), Some(exe), _) => read_core(core, exe)?,
        (_, _, Some(pid)) => read_live(pid, args.freeze)?,
        _ => unreachable!("clap requires PID or --core with --exe"),
    };
    let snap = goro::to_snapshot(&read, now);
    let mut engine = Engine::new(Config {
        stw_timeout_ns: args.stw_timeout,
        ..Config::default()
    });
    let mut findings = engine.feed(Input::Snapshot(Box::new(snap.clone())));
    findings.extend(engine.tick(now));
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        write_json(&mut out, &source, &read, &snap, &findings)?;
    } else {
        write_text(&mut out, &source, &read, &snap, &findings, args.stw_timeout)?;
    }
    out.flush()?;
    Ok(if findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDING
    })
}

fn read_live(pid: u32, freeze: bool) -> Result<(Source, Read, u64), SnapError> {
    let mut proc = Process::open(pid)?;
    let addr = proc.table_addr();
    // Resumed when dropped, on every path out of here.
    let frozen = if freeze {
        Some(Frozen::freeze(pid)?)
    } else {
        None
    };
    let read = goro::read_table(&mut proc as &mut dyn Memory, addr)?;
    let now = goro::monotonic_now();
    drop(frozen);
    let source = Source {
        kind: "process",
        pid: Some(pid),
        exe: proc.exe_path.clone(),
        core: None,
        table_addr: format!("{addr:#x}"),
        found_by: proc.exe.found_by,
        now: "the read (CLOCK_MONOTONIC)",
        frozen: freeze,
        attempts: read.attempts,
        torn_ps: read.torn.clone(),
    };
    Ok((source, read, now))
}

fn read_core(
    core_path: &std::path::Path,
    exe_path: &std::path::Path,
) -> Result<(Source, Read, u64), SnapError> {
    let mut core = Core::open(core_path)?;
    let exe = read_exe(exe_path, &exe_path.display().to_string())?;
    let entry = core.entry.ok_or_else(|| {
        SnapError::new(format!(
            "{}: no NT_AUXV note (not a process core?)",
            core_path.display()
        ))
    })?;
    let addr = exe.table.wrapping_add(entry.wrapping_sub(exe.entry));
    let read = goro::read_table(&mut core as &mut dyn Memory, addr).map_err(|e| {
        SnapError::new(format!(
            "{e} — is {} a core of {}? (it maps {})",
            core_path.display(),
            exe_path.display(),
            core.mapped.first().map_or("no file", String::as_str)
        ))
    })?;
    let now = goro::core_now(&read.view);
    let source = Source {
        kind: "core",
        pid: core.pid,
        exe: exe_path.display().to_string(),
        core: Some(core_path.display().to_string()),
        table_addr: format!("{addr:#x}"),
        found_by: exe.found_by,
        now: "the core was taken (the runtime's last heartbeat: sysmon's or the stopper's round)",
        frozen: true,
        attempts: read.attempts,
        torn_ps: read.torn.clone(),
    };
    Ok((source, read, now))
}

fn write_json(
    out: &mut impl Write,
    source: &Source,
    read: &Read,
    snap: &Snapshot,
    findings: &[Finding],
) -> Result<(), Error> {
    let h = &read.view.header;
    let now = snap.now_ns;
    let ago = |t: u64| (t != 0).then(|| now.saturating_sub(t) as f64 / 1e6);
    let ps: Vec<_> = snap
        .ps
        .iter()
        .map(|p| {
            serde_json::json!({
                "p": p.id,
                "status": p.status.name(),
                "for_ms": p.since_ns.and_then(ago),
                "owner_m": p.owner,
                "handed_to": p.handed_to,
                "on_idle_list": p.on_idle_list,
                "last_m": p.last_m,
                "last_reason": p.last_reason.map(|r| r.name()),
                "seq": p.seq,
                "beyond_procs": p.id >= snap.nprocs,
            })
        })
        .collect();
    let ms: Vec<_> = snap
        .ms
        .iter()
        .map(|m| {
            serde_json::json!({
                "m": m.id, "tid": m.tid, "locked_g": m.locked_g, "parked": m.parked,
                "started": m.started, "exited": m.exited, "next_p": m.next_p,
                "queued_for_template": m.queued_for_template, "is_template": m.is_template,
            })
        })
        .collect();
    let line = serde_json::json!({
        "kind": "snapshot",
        "source": source,
        "runtime": h.runtime,
        "uptime_ms": ago(h.start_ns),
        "procs": snap.nprocs,
        "gcwaiting": h.gcwaiting,
        "stopwait": h.stopwait,
        "stw": snap.stw.as_ref().map(|w| serde_json::json!({
            "id": w.id, "reason": w.reason.name(),
            "waiting_ms": w.start_ns.and_then(ago),
        })),
        "template": {
            "flag": snap.template.flag, "flag_set_by": snap.template.flag_by,
            "running": snap.template.running, "m": snap.template.m,
            "tid": snap.template.tid, "handoff_len": snap.template.handoff_len,
        },
        "ps": ps,
        "ms": ms,
        "ms_untracked": h.ms_dropped,
        "findings": findings.len(),
    });
    serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
    writeln!(out)?;
    for f in findings {
        writeln!(out, "{}", f.to_json())?;
    }
    Ok(())
}

/// A serde enum's snake_case name.
fn sname<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}

fn write_text(
    out: &mut impl Write,
    source: &Source,
    read: &Read,
    snap: &Snapshot,
    findings: &[Finding],
    timeout: u64,
) -> Result<(), Error> {
    let h = &read.view.header;
    let now = snap.now_ns;
    let secs = |t: Option<u64>| {
        t.filter(|&t| t != 0).map_or("-".to_owned(), |t| {
            format!("{:.3}s", now.saturating_sub(t) as f64 / 1e9)
        })
    };
    match source.kind {
        "core" => writeln!(
            out,
            "core {} of {} (pid {}): times are relative to the moment the core was taken",
            source.core.as_deref().unwrap_or("?"),
            source.exe,
            dash(source.pid)
        )?,
        _ => writeln!(
            out,
            "process {} ({}){}",
            dash(source.pid),
            source.exe,
            if source.frozen {
                ", stopped while read"
            } else {
                ""
            }
        )?,
    }
    writeln!(
        out,
        "state table at {} (found by {}), runtime #{} of the process, up {}; clock CLOCK_MONOTONIC",
        source.table_addr,
        match source.found_by {
            FoundBy::Note => "its .note.goro.state note",
            FoundBy::Symbol => "the GORO_STATE symbol",
        },
        h.runtime,
        secs(Some(h.start_ns))
    )?;
    if !read.torn.is_empty() {
        writeln!(
            out,
            "note: P{:?} were being changed in every copy read ({} tries): their status is the \
             latest, who changed it may not be",
            read.torn, read.attempts
        )?;
    }
    writeln!(
        out,
        "\nSCHED procs={} gcwaiting={} stopwait={} stw={}",
        snap.nprocs,
        u8::from(h.gcwaiting),
        h.stopwait,
        snap.stw.as_ref().map_or("none".to_owned(), |w| format!(
            "#{} {} waiting {}",
            w.id,
            w.reason.name(),
            secs(w.start_ns)
        ))
    )?;
    let t = &snap.template;
    writeln!(
        out,
        "TEMPLATE flag={} set_by={} running={} m={} tid={} handoff_list={}",
        u8::from(t.flag),
        dash(t.flag_by.map(|m| format!("M{m}"))),
        u8::from(t.running),
        dash(t.m.map(|m| format!("M{m}"))),
        dash(t.tid),
        t.handoff_len
    )?;
    writeln!(
        out,
        "\n{:<5} {:<10} {:>9} {:>6} {:>9} {:>9} {:<22} {:>6}",
        "P", "STATUS", "FOR", "OWNER", "HANDED-TO", "IDLE-LIST", "LAST CHANGE", "SEQ"
    )?;
    for p in &snap.ps {
        let last = match (p.last_m, p.last_reason) {
            (m, Some(r)) => format!(
                "{} {}",
                m.map_or("sysmon".to_owned(), |m| format!("M{m}")),
                r.name()
            ),
            _ => "-".to_owned(),
        };
        writeln!(
            out,
            "{:<5} {:<10} {:>9} {:>6} {:>9} {:>9} {:<22} {:>6}{}",
            format!("P{}", p.id),
            p.status.name(),
            secs(p.since_ns),
            dash(p.owner.map(|m| format!("M{m}"))),
            dash(p.handed_to.map(|m| format!("M{m}"))),
            if p.on_idle_list { "yes" } else { "no" },
            last,
            dash(p.seq),
            if p.id >= snap.nprocs {
                "  (beyond procs)"
            } else {
                ""
            }
        )?;
    }
    writeln!(
        out,
        "\n{:<6} {:>8} {:>7} {:>9}  STATE",
        "M", "TID", "NEXT-P", "LOCKED-G"
    )?;
    let mut exited = 0;
    for m in &snap.ms {
        if m.exited {
            exited += 1;
            continue;
        }
        let mut state = vec![match (m.started, m.parked) {
            (false, _) => "not started",
            (true, true) => "parked",
            (true, false) => "running",
        }];
        if m.queued_for_template {
            state.push("queued for the template thread");
        }
        if m.is_template {
            state.push("template thread");
        }
        writeln!(
            out,
            "{:<6} {:>8} {:>7} {:>9}  {}",
            format!("M{}", m.id),
            dash(m.tid),
            dash(m.next_p.map(|p| format!("P{p}"))),
            dash(m.locked_g.map(|g| format!("G{g}"))),
            state.join(", ")
        )?;
    }
    if exited > 0 || h.ms_dropped > 0 {
        writeln!(
            out,
            "({exited} exited Ms not shown{})",
            if h.ms_dropped > 0 {
                format!("; {} Ms had no slot in the table", h.ms_dropped)
            } else {
                String::new()
            }
        )?;
    }
    writeln!(out)?;
    if findings.is_empty() {
        writeln!(
            out,
            "no finding (a stop-the-world is reported once it has waited {:.1}s with a P not stopped)",
            timeout as f64 / 1e9
        )?;
    }
    for f in findings {
        writeln!(
            out,
            "FINDING {} P{} {} cause={} confidence={} stw=#{} ({}) waiting {:.1} ms",
            sname(f.kind),
            dash(f.p),
            f.status.map_or("-", |s| s.name()),
            f.cause.map_or("-", |c| c.name()),
            sname(f.confidence),
            f.stw_id,
            f.stw_reason.unwrap_or("?"),
            f.waiting_ms
        )?;
        writeln!(out, "  {}", f.explanation)?;
    }
    Ok(())
}
