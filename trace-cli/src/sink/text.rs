//! For a person: each finding as the engine explains it (what, why, the interleaving), and a
//! few lines of summary.

use std::io::{self, Write};

use super::{RunReport, Sink};
use crate::engine::{Finding, interleaving};

pub struct Text<W: Write> {
    out: W,
    findings: u64,
}

impl<W: Write> Text<W> {
    pub fn new(out: W) -> Text<W> {
        Text { out, findings: 0 }
    }
}

impl<W: Write> Sink for Text<W> {
    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        if self.findings > 0 {
            writeln!(self.out)?;
        }
        self.findings += 1;
        write!(self.out, "{}", interleaving::render_text(f))?;
        if let Some(path) = &f.flight_file {
            writeln!(
                self.out,
                "  flight recording: {path} (`trace-cli analyze {path}`)"
            )?;
        }
        self.out.flush()
    }

    fn report(&mut self, r: &RunReport) -> io::Result<()> {
        write!(self.out, "{}", summary_text(r))?;
        self.out.flush()
    }
}

/// The summary lines.
pub fn summary_text(r: &RunReport) -> String {
    let s = &r.summary;
    let t = &s.time_to_stop;
    let mut out = String::new();
    if r.summary.findings > 0 || r.command == "watch" {
        out.push('\n');
    }
    out += &format!("summary ({}", r.command);
    if let Some(f) = &r.file {
        out += &format!(" {f}");
    }
    if let Some(secs) = r.seconds {
        out += &format!(", {secs:.1} s");
    }
    out += "):\n";
    if t.count > 0 {
        out += &format!(
            "  {} stop-the-worlds; time to stop p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms\n",
            s.stws, t.p50_ms, t.p99_ms, t.max_ms
        );
    } else {
        out += &format!("  {} stop-the-worlds, none finished\n", s.stws);
    }
    out += &format!("  {} events; {}\n", s.events, r.loss.text());
    if let Some(note) = &r.file_note {
        out += &format!("  {note}\n");
    }
    if r.not_fed > 0 {
        out += &format!(
            "  {} events not used (unreadable arguments), counted as lost\n",
            r.not_fed
        );
    }
    if let Some((id, ms)) = s.stw_in_progress {
        out += &format!("  stop-the-world #{id} was still waiting at the end ({ms:.1} ms)\n");
    }
    if s.findings == 0 {
        out += "  no finding\n";
    } else {
        out += &format!(
            "  findings: {} stuck_p_in_stw, {} slow_stw\n",
            s.stuck_p_in_stw, s.slow_stw
        );
    }
    if let Some(fl) = &r.flight {
        out += &format!(
            "  flight recorder: last {} s, peak {} of {}; ",
            fl.window_s,
            crate::report::bytes(fl.peak_bytes),
            crate::report::bytes(fl.max_bytes)
        );
        if fl.files.is_empty() && fl.errors.is_empty() {
            out += "nothing written\n";
        } else {
            out += &format!("{} written\n", fl.files.len());
        }
        for f in &fl.files {
            out += &format!(
                "    {} ({:?}: {} events, {:.1} s, {}, written in {:.1} ms)\n",
                f.path,
                f.kind,
                f.events,
                f.seconds,
                crate::report::bytes(f.bytes),
                f.write_ms
            );
        }
        for e in &fl.errors {
            out += &format!("    not written: {e}\n");
        }
    }
    let target = match (&r.end, r.target_exit, r.target_killed) {
        (_, _, true) => Some("still running at the end: killed".to_owned()),
        (Some(e), Some(code), _) if e == "target_exited" => {
            Some(format!("exited with status {code}"))
        }
        (Some(e), None, _) if e == "target_exited" => Some("exited".to_owned()),
        (Some(e), _, _) if e == "signal" => Some("watch stopped by a signal".to_owned()),
        _ => None,
    };
    if let Some(t) = target {
        out += &format!("  target: {t}\n");
    }
    out
}
