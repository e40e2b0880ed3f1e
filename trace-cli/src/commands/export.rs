//! `trace-cli export FILE [--format perfetto|chrome] -o OUT`: replays a trace file through the
//! engine exactly as `analyze` does, and draws the engine's steps and findings as a timeline
//! (see [`crate::export`]). A cut-off or damaged file exports what is readable, with a note on
//! stderr. Exit status 0 once the timeline is written, findings or not: they are in it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::cli::DetectArgs;
use crate::error::{EXIT_OK, Error};
use crate::export::Format;
use crate::export::chrome::Chrome;
use crate::export::perfetto::Perfetto;
use crate::export::timeline::{Stats, Timeline};
use crate::feed::Detector;
use crate::source::file::{FileEnd, replay};
use crate::tracefile::Reader;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Perfetto's protobuf trace (ui.perfetto.dev).
    Perfetto,
    /// Chrome's JSON trace-event format (chrome://tracing; Perfetto UI opens it too).
    Chrome,
}

#[derive(Debug, Args)]
#[command(
    override_usage = "trace-cli export <FILE> [--format perfetto|chrome] -o <OUT> [--stw-timeout <DUR>] [--slow-stw <DUR>]"
)]
pub struct ExportArgs {
    /// A trace file written by `trace-cli record` or `watch --record`.
    pub file: PathBuf,

    /// The timeline's format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Perfetto)]
    pub format: ExportFormat,

    /// The timeline to write (created or truncated).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    #[command(flatten)]
    pub detect: DetectArgs,
}

/// Replays `args.file` into `out`.
fn draw<F: Format>(args: &ExportArgs, out: F, title: String) -> Result<(F, Stats, FileEnd), Error> {
    let mut detector = Detector::new(args.detect.engine_config());
    let mut timeline = Timeline::new(out, title);
    let mut found = Vec::new();
    let end = replay(&args.file, |input| {
        // Findings reach the timeline through the observer, at the moment they fire.
        detector.input_observed(input, &mut found, &mut timeline);
        found.clear();
    })?;
    // The recording's end is "now", as for `analyze`.
    let end_ns = end.end.as_ref().map(|e| e.ts_ns);
    detector.finish_observed(end_ns, &mut timeline);
    let at = end_ns.unwrap_or(0).max(detector.engine().now());
    let path = args.output.display().to_string();
    let (out, stats) = timeline
        .finish(at, detector.engine().model())
        .map_err(|source| Error::WriteFile {
            path: path.clone(),
            source,
        })?;
    Ok((out, stats, end))
}

/// Removes a half-written output, if it is a regular file (never `/dev/full` and the like).
fn discard(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file()) {
        let _ = std::fs::remove_file(path);
    }
}

pub fn run(args: &ExportArgs) -> Result<u8, Error> {
    // Creating OUT truncates it: it must not be the recording.
    if let (Ok(a), Ok(b)) = (
        std::fs::canonicalize(&args.file),
        std::fs::canonicalize(&args.output),
    ) && a == b
    {
        return Err(Error::Usage(format!(
            "{}: the output would overwrite the trace file it is made from",
            args.output.display()
        )));
    }
    // Read the header first: a missing file or one that is not a trace file must not leave
    // an empty OUT behind.
    let header = Reader::open(&args.file)?.header().clone();
    let t = &header.target;
    let exe = std::path::Path::new(&t.exe)
        .file_name()
        .map_or_else(|| t.exe.clone(), |n| n.to_string_lossy().into_owned());
    let title = match t.pid {
        Some(pid) => format!("pid {pid} ({exe})"),
        None => exe,
    };
    let path = args.output.display().to_string();
    let file = File::create(&args.output).map_err(|source| Error::Create {
        path: path.clone(),
        source,
    })?;
    let out = BufWriter::with_capacity(1 << 16, file);
    let result = match args.format {
        ExportFormat::Perfetto => {
            draw(args, Perfetto::new(out), title).map(|(f, s, e)| (f.into_inner(), s, e))
        }
        ExportFormat::Chrome => draw(args, Chrome::new(out, header.clock.monotonic_ns), title)
            .map(|(f, s, e)| (f.into_inner(), s, e)),
    };
    let (out, stats, end) = match result {
        Ok(r) => r,
        Err(e) => {
            // Half a timeline is no use to a viewer.
            discard(&args.output);
            return Err(e);
        }
    };
    out.into_inner()
        .map_err(|e| e.into_error())
        // On disk before we say it is written; a pipe or a device (`-o /dev/stdout`) has
        // nothing to sync.
        .and_then(|f| match f.metadata() {
            Ok(m) if m.is_file() => f.sync_all(),
            _ => Ok(()),
        })
        .map_err(|source| {
            discard(&args.output);
            Error::WriteFile {
                path: path.clone(),
                source,
            }
        })?;
    match (&end.damage, &end.end) {
        (Some(d), _) => eprintln!(
            "trace-cli: note: {}: damaged or cut off at byte {}: {} ({} bytes ignored); exported every complete chunk before it",
            args.file.display(),
            d.offset,
            d.why,
            d.ignored
        ),
        (None, None) => eprintln!(
            "trace-cli: note: {}: no end record: the recording was cut off; exported up to its last event",
            args.file.display()
        ),
        (None, Some(_)) => {}
    }
    // What was written, for a person; not when the timeline itself went to a pipe or stdout.
    if !std::fs::metadata(&args.output).is_ok_and(|m| m.is_file()) {
        return Ok(EXIT_OK);
    }
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    writeln!(
        o,
        "{path}: {} tracks, {} slices, {} instant events, {} flows, {} findings ({})",
        stats.tracks,
        stats.slices,
        stats.instants,
        stats.flows,
        stats.findings,
        match args.format {
            ExportFormat::Perfetto => "perfetto; open it in ui.perfetto.dev",
            ExportFormat::Chrome => "chrome json; open it in chrome://tracing or ui.perfetto.dev",
        }
    )
    .map_err(Error::Output)?;
    Ok(EXIT_OK)
}
