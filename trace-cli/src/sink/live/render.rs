//! Drawing one frame of the live view from the engine's model and the findings: no I/O, no
//! clock of its own, so a test draws the same frame every time (ratatui's `TestBackend`).
//!
//! Layout, top to bottom: a header (target, time, event rate, losses), the stop-the-world in
//! progress, one row per P, the template thread and the Ms, the findings, the keys. Below
//! [`NARROW`] columns the P table drops its G and note columns and abbreviates the rest; every
//! free-text line wraps instead of being cut.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use crate::engine::finding::{Finding, Kind};
use crate::engine::input::PStatus;
use crate::engine::model::{Model, Stw};

/// Narrower than this, the P table keeps only P, status, time, M and handed-to.
pub const NARROW: u16 = 80;

/// What the frame shows, gathered by the caller from the engine and the source.
#[derive(Clone, Debug)]
pub struct View<'a> {
    pub model: &'a Model,
    /// The engine's clock (probes' clock): durations are measured against it.
    pub now_ns: u64,
    /// `template_race (pid 1234)`.
    pub target: &'a str,
    pub elapsed_s: f64,
    pub events: u64,
    pub events_per_s: f64,
    /// Events lost before the engine (ring full, spec misses, unreadable arguments)...
    pub dropped: u64,
    /// ...and status changes the engine found missing from a P's `seq`.
    pub seq_gaps: u64,
    pub findings: &'a [Finding],
    pub paused: bool,
    pub help: bool,
    /// `false` under `NO_COLOR`: findings are then marked by `!!`, bold and reverse video.
    pub color: bool,
}

/// The emphasis a finding (or a stuck P) gets.
fn alarm(color: bool) -> Style {
    if color {
        Style::new()
            .fg(Color::Red)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED)
    } else {
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
}

fn heading() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// A status's colour; none under `NO_COLOR`.
fn status_style(s: Option<PStatus>, color: bool) -> Style {
    if !color {
        return Style::new();
    }
    match s {
        Some(PStatus::Running) => Style::new().fg(Color::Green),
        Some(PStatus::Syscall) => Style::new().fg(Color::Blue),
        Some(PStatus::GcStop) => Style::new().fg(Color::Yellow),
        Some(PStatus::Idle) => Style::new(),
        Some(PStatus::Dead) | None => Style::new().fg(Color::DarkGray),
    }
}

/// `850us`, `12ms`, `1.23s`, `2m05s`.
pub fn duration(ns: u64) -> String {
    match ns {
        0..1_000_000 => format!("{}us", ns / 1_000),
        1_000_000..1_000_000_000 => format!("{}ms", ns / 1_000_000),
        1_000_000_000..60_000_000_000 => format!("{:.2}s", ns as f64 / 1e9),
        _ => format!("{}m{:02}s", ns / 60_000_000_000, ns / 1_000_000_000 % 60),
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>, prefix: &str) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{prefix}{v}"))
}

/// The Ps the stop-the-world still waits for: those of the current P count it has not seen
/// stop.
pub fn waiting_for(model: &Model, stw: &Stw) -> Vec<u32> {
    let n = stw.nprocs.or(model.nprocs).unwrap_or(model.ps.len() as u32);
    (0..n).filter(|p| !stw.stopped.contains(p)).collect()
}

/// Draws the whole view on `frame`.
pub fn draw(frame: &mut Frame<'_>, v: &View<'_>) {
    let area = frame.area();
    let w = area.width;
    let stw = stw_lines(v);
    let tpl = template_lines(v);
    let stw_h = wrapped_height(&stw, w);
    let tpl_h = wrapped_height(&tpl, w);
    let p_rows = v.model.ps.len().max(1) as u16 + 1;
    let [header, stw_area, ps_area, tpl_area, findings_area, keys] = Layout::vertical([
        Constraint::Length(wrapped_height(&header_lines(v), w)),
        Constraint::Length(stw_h),
        Constraint::Length(p_rows),
        Constraint::Length(tpl_h),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(header_lines(v)).wrap(Wrap { trim: false }),
        header,
    );
    frame.render_widget(Paragraph::new(stw).wrap(Wrap { trim: false }), stw_area);
    frame.render_widget(p_table(v, w), ps_area);
    frame.render_widget(Paragraph::new(tpl).wrap(Wrap { trim: false }), tpl_area);
    frame.render_widget(
        Paragraph::new(finding_lines(v)).wrap(Wrap { trim: false }),
        findings_area,
    );
    let keys_text = if w < NARROW {
        "q quit  p pause  ? help"
    } else {
        "q quit (detach)   p pause the display   ? help"
    };
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(
            keys_text,
            Style::new().add_modifier(Modifier::DIM),
        ))),
        keys,
    );
    if v.help {
        help(frame, area);
    }
}

/// The number of rows `lines` take once wrapped to `width` (at least one).
fn wrapped_height(lines: &[Line<'_>], width: u16) -> u16 {
    let w = usize::from(width.max(1));
    lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(w) as u16)
        .sum::<u16>()
        .max(1)
}

fn header_lines(v: &View<'_>) -> Vec<Line<'static>> {
    let mut spans = vec![
        Span::styled("trace-cli watch ", heading()),
        Span::raw(format!(
            "{} · {:.1}s · {} events ({:.0}/s) · lost {}",
            v.target, v.elapsed_s, v.events, v.events_per_s, v.dropped
        )),
    ];
    if v.seq_gaps > 0 {
        spans.push(Span::raw(format!(", {} missing changes", v.seq_gaps)));
    }
    if v.paused {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            "PAUSED",
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    vec![Line::from(spans)]
}

fn stw_lines(v: &View<'_>) -> Vec<Line<'static>> {
    let m = v.model;
    let Some(stw) = &m.stw else {
        let last = m
            .last_stw_id
            .map_or_else(String::new, |id| format!(" (last #{id})"));
        return vec![Line::from(vec![
            Span::styled("stop-the-world: ", heading()),
            Span::raw(format!("none in progress{last}")),
        ])];
    };
    let waited = stw.waited_ns(v.now_ns);
    let at_least = if stw.start_ns.is_none() {
        "at least "
    } else {
        ""
    };
    let waiting = waiting_for(m, stw);
    let stuck = !stw.reported.is_empty() || stw.reported_unnamed;
    let names: Vec<String> = waiting.iter().map(|p| format!("P{p}")).collect();
    let mut spans = vec![
        Span::styled("stop-the-world ", heading()),
        Span::styled(
            format!(
                "#{} ({}) waiting {at_least}{}",
                stw.id,
                stw.reason.map_or("reason unknown", |r| r.name()),
                duration(waited)
            ),
            if stuck { alarm(v.color) } else { heading() },
        ),
        Span::raw(format!(
            " · stopped {}/{}",
            stw.stopped.len(),
            stw.stopped.len() + waiting.len()
        )),
    ];
    if !names.is_empty() {
        spans.push(Span::raw(" · waits for "));
        spans.push(Span::styled(
            names.join(" "),
            if stuck { alarm(v.color) } else { heading() },
        ));
    }
    if stw.uncertain {
        spans.push(Span::raw(" · events lost since its last wait round"));
    }
    vec![Line::from(spans)]
}

fn p_table(v: &View<'_>, width: u16) -> Table<'static> {
    let m = v.model;
    let narrow = width < NARROW;
    let stuck = |p: u32| {
        m.stw
            .as_ref()
            .is_some_and(|s| s.reported.contains(&p) && !s.stopped.contains(&p))
    };
    let waited = |p: u32| {
        m.stw
            .as_ref()
            .is_some_and(|s| waiting_for(m, s).contains(&p))
    };
    let header: Vec<&str> = if narrow {
        vec!["P", "status", "for", "M", "handed to"]
    } else {
        vec!["P", "status", "for", "M", "G", "handed to", "note"]
    };
    let rows = m.ps.iter().map(|p| {
        let since = p
            .since_ns
            .map_or_else(|| "-".to_owned(), |s| duration(v.now_ns.saturating_sub(s)));
        let status = p.status.map_or("?", |s| s.name());
        let handed = p.handed_to.map_or_else(
            || "-".to_owned(),
            |h| {
                let hm = m.m(h);
                let unstarted = hm.is_some_and(|x| x.started == Some(false));
                let queued = hm.is_some_and(|x| x.queued_for_template);
                match (narrow, unstarted, queued) {
                    (true, true, true) => format!("M{h} q"),
                    (true, true, false) => format!("M{h} new"),
                    (false, true, true) => format!("M{h} (queued, no thread)"),
                    (false, true, false) => format!("M{h} (no thread yet)"),
                    _ => format!("M{h}"),
                }
            },
        );
        let is_stuck = stuck(p.id);
        let mark = if is_stuck {
            format!("!!P{}", p.id)
        } else {
            format!("P{}", p.id)
        };
        let mut cells = vec![
            Cell::from(mark),
            Cell::from(status).style(status_style(p.status, v.color)),
            Cell::from(since),
            Cell::from(opt(p.owner, "M")),
        ];
        if !narrow {
            let note = if is_stuck {
                "blocks the stop-the-world".to_owned()
            } else if waited(p.id) {
                "not stopped yet".to_owned()
            } else if p.on_idle_list == Some(true) {
                "on the idle list".to_owned()
            } else {
                String::new()
            };
            cells.push(Cell::from(opt(p.curg, "G")));
            cells.push(Cell::from(handed));
            cells.push(Cell::from(note));
        } else {
            cells.push(Cell::from(handed));
        }
        let row = Row::new(cells);
        if is_stuck {
            row.style(alarm(v.color))
        } else {
            row
        }
    });
    let widths: Vec<Constraint> = if narrow {
        vec![
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Min(8),
        ]
    } else {
        vec![
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(24),
            Constraint::Min(10),
        ]
    };
    Table::new(rows, widths).header(Row::new(header).style(heading()))
}

fn template_lines(v: &View<'_>) -> Vec<Line<'static>> {
    let m = v.model;
    let t = &m.template;
    let state = match (t.flag, t.running) {
        (_, Some(true)) => format!(
            "running{}{}",
            t.m.map_or_else(String::new, |m| format!(" as M{m}")),
            t.tid.map_or_else(String::new, |t| format!(" (tid {t})"))
        ),
        (Some(true), _) => format!(
            "flag set{}, thread not running",
            t.flag_by.map_or_else(String::new, |m| format!(" by M{m}"))
        ),
        (Some(false), _) => "none".to_owned(),
        (None, _) => "not seen".to_owned(),
    };
    let list = if t.handoff.is_empty() {
        "empty".to_owned()
    } else {
        t.handoff
            .iter()
            .map(|m| format!("M{m}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let waiting_on_template = t.running != Some(true) && !t.handoff.is_empty();
    let (mut running, mut parked, mut unstarted, mut locked, mut exited) = (0, 0, 0, 0, 0);
    for ms in m.ms.values() {
        if ms.exited {
            exited += 1;
            continue;
        }
        match (ms.started, ms.parked) {
            (Some(false), _) => unstarted += 1,
            (_, Some(true)) => parked += 1,
            (Some(true), _) => running += 1,
            _ => {}
        }
        if ms.locked_g.is_some() {
            locked += 1;
        }
    }
    vec![
        Line::from(vec![
            Span::styled("template thread: ", heading()),
            Span::raw(format!("{state} · hand-off list: ")),
            Span::styled(
                list,
                if waiting_on_template {
                    alarm(v.color)
                } else {
                    Style::new()
                },
            ),
        ]),
        Line::from(vec![
            Span::styled("Ms: ", heading()),
            Span::raw(format!(
                "{} known · {running} running · {parked} parked · {unstarted} without a thread · {locked} locked · {exited} exited",
                m.ms.len()
            )),
        ]),
    ]
}

/// The findings, newest first: a marked headline, then the explanation (wrapped by the
/// paragraph).
fn finding_lines(v: &View<'_>) -> Vec<Line<'static>> {
    let mut out = vec![Line::from(Span::styled(
        format!("findings: {}", v.findings.len()),
        heading(),
    ))];
    if v.findings.is_empty() {
        out.push(Line::raw("none yet"));
    }
    for f in v.findings.iter().rev() {
        let head = match f.kind {
            Kind::StuckPInStw => format!(
                "!! stuck_p_in_stw: P{} {} blocks stop-the-world #{} — cause: {} ({} confidence)",
                f.p.map_or("?".to_owned(), |p| p.to_string()),
                f.status.map_or("status unknown", |s| s.name()),
                f.stw_id,
                f.cause.map_or("unknown", |c| c.name()),
                match f.confidence {
                    crate::engine::Confidence::High => "high",
                    crate::engine::Confidence::Low => "low",
                }
            ),
            Kind::SlowStw => format!(
                "!! slow_stw: stop-the-world #{} took {:.1} ms to stop",
                f.stw_id, f.waiting_ms
            ),
        };
        out.push(Line::from(Span::styled(head, alarm(v.color))));
        out.push(Line::raw(format!("   {}", f.explanation)));
        if let Some(path) = &f.flight_file {
            out.push(Line::raw(format!("   flight recording: {path}")));
        }
    }
    out
}

fn help(frame: &mut Frame<'_>, area: Rect) {
    let text = vec![
        Line::from(Span::styled("keys", heading())),
        Line::raw("q       quit: detach the probes. A --pid target"),
        Line::raw("        keeps running; a started command is ended."),
        Line::raw("Ctrl-C  the same"),
        Line::raw("p       pause the display (events are still read"),
        Line::raw("        and judged)"),
        Line::raw("?       this help (any key closes it)"),
        Line::raw(""),
        Line::raw("!! marks a finding and the P that blocks a"),
        Line::raw("stop-the-world. On exit the findings and the"),
        Line::raw("summary are printed as text."),
    ];
    let w = area.width.min(54);
    let h = (wrapped_height(&text, w.saturating_sub(2)) + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::new().borders(Borders::ALL).title(" help ")),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    use super::*;
    use crate::engine::Engine;
    use crate::engine::tests::{MS, config, race_38931, run};

    /// The engine after golang/go#38931 (P2 handed to M5, queued for a template thread that
    /// never came) has waited past the timeout, and its finding.
    fn hung() -> (Engine, Vec<Finding>) {
        let t = race_38931();
        let mut e = Engine::new(config());
        let end = t.now + 100 * MS;
        let found = run(&mut e, &t.events, 10 * MS, end);
        assert_eq!(found.len(), 1);
        (e, found)
    }

    fn view<'a>(e: &'a Engine, findings: &'a [Finding], color: bool) -> View<'a> {
        View {
            model: e.model(),
            now_ns: e.now(),
            target: "template_race (pid 42)",
            elapsed_s: 3.25,
            events: e.summary().events,
            events_per_s: 120.0,
            dropped: 0,
            seq_gaps: 0,
            findings,
            paused: false,
            help: false,
            color,
        }
    }

    fn frame(v: &View<'_>, w: u16, h: u16) -> Buffer {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, v)).unwrap();
        t.backend().buffer().clone()
    }

    fn lines(b: &Buffer) -> Vec<String> {
        (0..b.area.height)
            .map(|y| {
                (0..b.area.width)
                    .map(|x| b[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    fn row<'a>(lines: &'a [String], start: &str) -> &'a str {
        lines
            .iter()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starts with {start:?}:\n{}", lines.join("\n")))
    }

    #[test]
    fn the_hang_at_120_columns_names_the_stuck_p_everywhere() {
        let (e, found) = hung();
        let b = frame(&view(&e, &found, true), 120, 40);
        let l = lines(&b);
        let text = l.join("\n");
        assert!(
            l[0].starts_with("trace-cli watch template_race (pid 42) · 3.2s · "),
            "{text}"
        );
        assert_eq!(
            row(&l, "stop-the-world"),
            "stop-the-world #1 (read_stats) waiting 1.59s · stopped 3/4 · waits for P2",
        );
        assert_eq!(
            row(&l, "P "),
            "P      status     for      M      G        handed to                note"
        );
        let stuck = row(&l, "!!P2");
        assert!(
            stuck.starts_with("!!P2   _Pidle ")
                && stuck.contains("M5 (queued, no thread)")
                && stuck.ends_with("blocks the stop-the-world"),
            "{stuck}"
        );
        assert!(row(&l, "P0 ").contains("_Pgcstop"), "{text}");
        assert_eq!(
            row(&l, "template thread"),
            "template thread: flag set by M1, thread not running · hand-off list: M5"
        );
        assert!(row(&l, "Ms: ").contains("1 without a thread"), "{text}");
        assert!(
            row(&l, "!! stuck_p_in_stw").starts_with(
                "!! stuck_p_in_stw: P2 _Pidle blocks stop-the-world #1 — cause: template_thread_race (high confidence)"
            ),
            "{text}"
        );
        assert!(text.contains("golang/go#38931"), "the explanation: {text}");
        assert!(l[39].starts_with("q quit"), "{text}");
        // Highlighted: red, bold, reverse on the finding and on the stuck P's row.
        let y = l.iter().position(|s| s.starts_with("!!P2")).unwrap() as u16;
        let cell = &b[(0, y)];
        assert_eq!(cell.fg, Color::Red);
        assert!(cell.modifier.contains(Modifier::BOLD | Modifier::REVERSED));
    }

    #[test]
    fn at_60_columns_the_table_narrows_and_the_explanation_wraps() {
        let (e, found) = hung();
        let b = frame(&view(&e, &found, true), 60, 30);
        let l = lines(&b);
        let text = l.join("\n");
        assert_eq!(
            row(&l, "P "),
            "P     status     for     M     handed to",
            "{text}"
        );
        let stuck = row(&l, "!!P2");
        assert!(
            stuck.starts_with("!!P2  _Pidle     1.59s") && stuck.ends_with("M5 q"),
            "{stuck}"
        );
        // Nothing is cut: the stop-the-world line and the explanation wrap onto more rows.
        let joined = l.join(" ");
        assert!(joined.contains("waits for P2"), "{text}");
        assert!(joined.contains("golang/go#38931"), "{text}");
        assert!(joined.contains("cause: template_thread_race"), "{text}");
        assert!(l[29].starts_with("q quit  p pause  ? help"), "{text}");
    }

    #[test]
    fn without_colour_findings_are_still_marked() {
        let (e, found) = hung();
        let b = frame(&view(&e, &found, false), 120, 40);
        for cell in b.content() {
            assert_eq!(cell.fg, Color::Reset, "no colour under NO_COLOR");
            assert_eq!(cell.bg, Color::Reset, "no colour under NO_COLOR");
        }
        let l = lines(&b);
        let y = l
            .iter()
            .position(|s| s.starts_with("!! stuck_p_in_stw"))
            .unwrap() as u16;
        assert!(
            b[(0, y)]
                .modifier
                .contains(Modifier::BOLD | Modifier::REVERSED)
        );
    }

    #[test]
    fn a_quiet_start_and_the_help_and_pause_marks() {
        let e = Engine::new(config());
        let mut v = view(&e, &[], true);
        v.paused = true;
        let l = lines(&frame(&v, 60, 30));
        let text = l.join("\n");
        assert!(l[1].ends_with("lost 0 PAUSED"), "the header wraps: {text}");
        assert_eq!(
            row(&l, "stop-the-world"),
            "stop-the-world: none in progress"
        );
        assert!(text.contains("none yet"), "{text}");
        v.help = true;
        let l = lines(&frame(&v, 60, 30));
        let text = l.join("\n");
        assert!(text.contains("│Ctrl-C  the same"), "the help: {text}");
        assert!(
            text.contains("summary are printed as text."),
            "all of the help: {text}"
        );
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(duration(850_000), "850us");
        assert_eq!(duration(12 * MS), "12ms");
        assert_eq!(duration(1_234 * MS), "1.23s");
        assert_eq!(duration(125_000 * MS), "2m05s");
    }
}
