//! The live full-screen view of `watch` on a terminal: the engine's model redrawn a few times
//! a second, the findings highlighted, keys to quit, pause and get help. A sink like the
//! others: it draws only what the engine holds ([`crate::engine::Engine::model`]) and the
//! findings it is given.
//!
//! The terminal is put back (raw mode off, main screen, cursor shown) before the run's text is
//! printed, whatever ends the run: `q`, a signal, the target exiting, an error (the view is
//! dropped) or a panic (ratatui's hook). Then the findings and the summary are printed as the
//! line output prints them, so nothing shown only on the alternate screen is lost.
//!
//! Redrawing is paced by the live source's ticks (every drain period), never by events: the
//! loop that reads the ring stays as fast as without the view.

pub mod render;

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};

use super::{LiveTick, RunReport, Sink, text::Text};
use crate::engine::Finding;
use crate::engine::model::Model;
use crate::tracefile::TargetInfo;

/// How often the view is redrawn.
pub const REFRESH: Duration = Duration::from_millis(250);
/// Lines of a started command's output kept, to be printed when the view closes.
const OUTPUT_KEPT: usize = 1000;

/// Frames go out through one buffer, flushed once per frame: stdout's own line buffer would
/// write a frame in 1 KiB pieces, and a terminal (or a `capture-pane`) could show half a frame.
type Screen = Terminal<CrosstermBackend<io::BufWriter<io::Stdout>>>;

/// Raw mode and the alternate screen, and a panic hook that undoes them before the panic
/// message is printed (the previous hook then runs as before).
fn take_terminal() -> io::Result<Screen> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = give_back_terminal();
        previous(info);
    }));
    terminal::enable_raw_mode()?;
    execute!(io::stdout(), terminal::EnterAlternateScreen)?;
    Terminal::new(CrosstermBackend::new(io::BufWriter::with_capacity(
        1 << 16,
        io::stdout(),
    )))
}

/// Raw mode off (first: it matters most to the shell), main screen, cursor shown. Harmless
/// when already done.
fn give_back_terminal() -> io::Result<()> {
    let raw = terminal::disable_raw_mode();
    execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show)?;
    raw
}

/// Whether colour is allowed: <https://no-color.org> — `NO_COLOR` set and not empty.
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A started command's output, read from its pipe while the view owns the terminal.
#[derive(Debug, Default)]
struct Tail {
    lines: VecDeque<String>,
    /// Lines dropped to keep [`OUTPUT_KEPT`].
    dropped: u64,
    /// The pipe reached its end (the command and its children closed it).
    done: bool,
}

/// What the view froze when paused: it shows this until unpaused.
struct Frozen {
    model: Model,
    now_ns: u64,
    events: u64,
    findings: usize,
}

pub struct LiveView {
    /// `None` once the terminal is restored.
    terminal: Option<Screen>,
    target: String,
    findings: Vec<Finding>,
    color: bool,
    paused: Option<Frozen>,
    help: bool,
    quit: bool,
    /// A key or a resize asks for a redraw before the next refresh.
    dirty: bool,
    started: Instant,
    last_draw: Option<Instant>,
    /// Events at the last rate sample, and when.
    rate_from: (Instant, u64),
    events_per_s: f64,
    output: Option<Arc<Mutex<Tail>>>,
}

impl LiveView {
    /// Takes over the terminal (raw mode, alternate screen) and says the probes are being
    /// attached to `exe`. `output`: a started command's stdout and stderr, kept for the end
    /// (see [`output_pipe`]).
    pub fn start(exe: &str, output: Option<OwnedFd>) -> io::Result<LiveView> {
        let mut terminal = take_terminal().inspect_err(|_| {
            let _ = give_back_terminal();
        })?;
        let output = output.map(|fd| {
            let tail = Arc::new(Mutex::new(Tail::default()));
            let t = Arc::clone(&tail);
            std::thread::spawn(move || read_output(fd, &t));
            tail
        });
        let now = Instant::now();
        let target = short_name(exe);
        let attaching = format!("trace-cli watch: attaching the probes to {exe}…");
        terminal.draw(|frame| {
            frame.render_widget(
                ratatui::widgets::Paragraph::new(attaching)
                    .wrap(ratatui::widgets::Wrap { trim: false }),
                frame.area(),
            );
        })?;
        Ok(LiveView {
            terminal: Some(terminal),
            target,
            findings: Vec::new(),
            color: color_allowed(),
            paused: None,
            help: false,
            quit: false,
            dirty: true,
            started: now,
            last_draw: None,
            rate_from: (now, 0),
            events_per_s: 0.0,
            output,
        })
    }

    /// The probes are attached: the header names the process, the clock starts.
    pub fn attached(&mut self, info: &TargetInfo) {
        let name = short_name(&info.exe);
        self.target = match info.pid {
            Some(pid) => format!("{name} (pid {pid})"),
            None => format!("{name} (every process)"),
        };
        self.started = Instant::now();
        self.rate_from = (self.started, 0);
        self.dirty = true;
        // Whatever reached the terminal while attaching (a note on stderr) is wiped: the
        // first frame is drawn whole.
        if let Some(t) = &mut self.terminal {
            let _ = t.clear();
        }
    }

    /// Handles the keys waiting, without blocking.
    fn keys(&mut self, tick: &LiveTick<'_>) -> io::Result<()> {
        while event::poll(Duration::ZERO)? {
            match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => {
                    self.dirty = true;
                    if self.help {
                        // Any key closes the help; q still quits.
                        self.help = false;
                        if !matches!(k.code, KeyCode::Char('q')) {
                            continue;
                        }
                    }
                    match k.code {
                        KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
                        // Raw mode turns Ctrl-C into a key: it quits as the signal would.
                        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                            self.quit = true;
                        }
                        KeyCode::Char('p') | KeyCode::Char(' ') => {
                            self.paused = match self.paused {
                                Some(_) => None,
                                None => Some(Frozen {
                                    model: tick.engine.model().clone(),
                                    now_ns: tick.engine.now(),
                                    events: tick.engine.summary().events,
                                    findings: self.findings.len(),
                                }),
                            };
                        }
                        KeyCode::Char('?') | KeyCode::Char('h') => self.help = true,
                        _ => {}
                    }
                }
                Event::Resize(..) => self.dirty = true,
                _ => {}
            }
        }
        Ok(())
    }

    fn draw(&mut self, tick: &LiveTick<'_>) -> io::Result<()> {
        let now = Instant::now();
        let summary = tick.engine.summary();
        let events = summary.events;
        let dt = now.duration_since(self.rate_from.0).as_secs_f64();
        if dt >= 1.0 {
            self.events_per_s = events.saturating_sub(self.rate_from.1) as f64 / dt;
            self.rate_from = (now, events);
        }
        let c = tick.counters;
        let (model, now_ns, events, nfindings) = match &self.paused {
            Some(f) => (&f.model, f.now_ns, f.events, f.findings),
            None => (
                tick.engine.model(),
                tick.engine.now(),
                events,
                self.findings.len(),
            ),
        };
        let view = render::View {
            model,
            now_ns,
            target: &self.target,
            elapsed_s: self.started.elapsed().as_secs_f64(),
            events,
            events_per_s: self.events_per_s,
            dropped: c.drops + c.spec_misses + c.read_errors,
            seq_gaps: summary.seq_gaps,
            findings: &self.findings[..nfindings],
            paused: self.paused.is_some(),
            help: self.help,
            color: self.color,
        };
        if let Some(t) = &mut self.terminal {
            t.draw(|frame| render::draw(frame, &view))?;
        }
        self.last_draw = Some(now);
        self.dirty = false;
        Ok(())
    }

    /// Puts the terminal back (once).
    fn restore(&mut self) -> io::Result<()> {
        if let Some(mut t) = self.terminal.take() {
            let flushed = t.backend_mut().flush();
            give_back_terminal()?;
            flushed?;
        }
        Ok(())
    }

    /// The started command's output kept while the view was up, printed as it came.
    fn print_output(&mut self, out: &mut impl Write) -> io::Result<()> {
        let Some(tail) = self.output.take() else {
            return Ok(());
        };
        // The command has been ended (or exited) by now: give the reader a moment to reach
        // the pipe's end so its last lines are not lost.
        let until = Instant::now() + Duration::from_millis(300);
        while !tail.lock().map_or(true, |t| t.done) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = tail
            .lock()
            .map_err(|_| io::Error::other("output reader panicked"))?;
        if t.dropped > 0 {
            writeln!(
                out,
                "[trace-cli: the command's first {} output lines were not kept; the last {} follow]",
                t.dropped,
                t.lines.len()
            )?;
        }
        for l in &t.lines {
            writeln!(out, "{l}")?;
        }
        Ok(())
    }
}

/// An executable's file name, for the header.
fn short_name(exe: &str) -> String {
    std::path::Path::new(exe)
        .file_name()
        .map_or_else(|| exe.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// A pipe for a started command's output: (read end for [`LiveView::start`], write end for
/// the command).
pub fn output_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = std::io::pipe()?;
    Ok((r.into(), w.into()))
}

fn read_output(fd: OwnedFd, tail: &Mutex<Tail>) {
    let reader = BufReader::new(std::fs::File::from(fd));
    for line in reader.split(b'\n') {
        let Ok(line) = line else { break };
        let Ok(mut t) = tail.lock() else { return };
        if t.lines.len() == OUTPUT_KEPT {
            t.lines.pop_front();
            t.dropped += 1;
        }
        t.lines
            .push_back(String::from_utf8_lossy(&line).into_owned());
    }
    if let Ok(mut t) = tail.lock() {
        t.done = true;
    }
}

impl Sink for LiveView {
    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        self.findings.push(f.clone());
        self.dirty = true;
        Ok(())
    }

    fn tick(&mut self, tick: &LiveTick<'_>) -> io::Result<()> {
        if self.terminal.is_none() {
            return Ok(());
        }
        self.keys(tick)?;
        if self.quit {
            return Ok(());
        }
        let due = self.last_draw.is_none_or(|t| t.elapsed() >= REFRESH);
        if self.dirty || (due && self.paused.is_none()) {
            self.draw(tick)?;
        }
        Ok(())
    }

    fn quit_requested(&self) -> bool {
        self.quit
    }

    /// Says so on the bottom line, over the last frame: detaching takes the kernel seconds,
    /// and a view that just froze would look hung.
    fn closing(&mut self) {
        use ratatui::crossterm::{queue, style};
        if let Some(t) = &mut self.terminal
            && let Ok(size) = t.size()
            && size.height > 0
        {
            // Written past ratatui (no frame follows): its buffers are already swapped.
            let out = t.backend_mut();
            let _ = queue!(
                out,
                cursor::MoveTo(0, size.height - 1),
                terminal::Clear(terminal::ClearType::CurrentLine),
                style::SetAttribute(style::Attribute::Bold),
                style::Print("the run is over: detaching the probes…"),
                style::SetAttribute(style::Attribute::Reset),
            );
            let _ = out.flush();
        }
    }

    fn report(&mut self, r: &RunReport) -> io::Result<()> {
        self.restore()?;
        let mut stdout = io::stdout();
        self.print_output(&mut stdout)?;
        let mut text = Text::new(stdout);
        for f in &self.findings {
            text.finding(f)?;
        }
        text.report(r)
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}
