//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Watch, record and analyse goro processes through their USDT probes.
#[derive(Debug, Parser)]
#[command(name = "trace-cli", version)]
pub struct Cli {
    /// Diagnostics on stderr: -v what is attached where, -vv every step (or set RUST_LOG).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the USDT probes compiled into a binary or loaded in a process.
    Probes(ProbesArgs),
    /// Record every probe event of a goro process into a trace file.
    Record(RecordArgs),
    /// Read a trace file: the findings, or with --events every event.
    Analyze(AnalyzeArgs),
    /// Watch a goro process live and report every stop-the-world that is stuck or slow.
    Watch(WatchArgs),
    /// Diagnose a process that is already hung, or its core file, from its scheduler state
    /// table: no tracing, no BPF, no root.
    Inspect(crate::commands::inspect::InspectArgs),
    /// Draw a trace file as a timeline for Perfetto UI or chrome://tracing: a track per P
    /// and per M, the stop-the-worlds, hand-offs, and the findings where they fired.
    Export(crate::commands::export::ExportArgs),
}

#[derive(Debug, Args)]
#[command(override_usage = "trace-cli probes [--json] <BINARY | --pid <PID>>")]
pub struct ProbesArgs {
    /// An executable or shared library.
    #[arg(required_unless_present = "pid", conflicts_with = "pid")]
    pub binary: Option<PathBuf>,

    /// A running process: its executable and every ELF library it has mapped.
    #[arg(long)]
    pub pid: Option<u32>,

    /// One JSON object per probe, one per line.
    #[arg(long)]
    pub json: bool,
}

/// What to trace: exactly one of a process, a binary, or a command to start.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// A running process.
    #[arg(long)]
    pub pid: Option<u32>,

    /// Every process running this executable, now and later.
    #[arg(long)]
    pub binary: Option<PathBuf>,

    /// A command to start, held before it runs until every probe is attached.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
#[command(
    override_usage = "trace-cli record -o <FILE> (--pid <PID> | --binary <PATH> | -- <CMD> [ARGS]...) [--duration <DUR>] [--ring-size <BYTES>] [--json]"
)]
pub struct RecordArgs {
    /// The trace file to write (created or truncated).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Stop after this long (e.g. 500ms, 10s, 2m; a bare number is seconds).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub duration: Option<Duration>,

    /// BPF ring buffer size: a power of two, at least 4096 (e.g. 65536, 256K, 4M).
    #[arg(long, value_parser = parse_ring_size, default_value = "4M", value_name = "BYTES")]
    pub ring_size: u32,

    /// The summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// A trace file written by `trace-cli record`.
    pub file: PathBuf,

    /// Print every event, in order, with the losses where they were detected.
    #[arg(long)]
    pub events: bool,

    #[command(flatten)]
    pub detect: DetectArgs,

    /// One JSON object per line (the default when stdout is not a terminal, without --events).
    #[arg(long)]
    pub json: bool,

    /// Readable text even when stdout is not a terminal.
    #[arg(long, conflicts_with = "json")]
    pub text: bool,
}

/// The detectors' thresholds.
#[derive(Clone, Copy, Debug, Args)]
pub struct DetectArgs {
    /// A stop-the-world waiting longer than this for a P is `stuck_p_in_stw`.
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DUR")]
    pub stw_timeout: Duration,

    /// A stop-the-world that took longer than this to stop, then finished, is `slow_stw`.
    #[arg(long, value_parser = parse_duration, default_value = "100ms", value_name = "DUR")]
    pub slow_stw: Duration,
}

impl DetectArgs {
    pub fn engine_config(&self) -> crate::engine::Config {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        crate::engine::Config {
            stw_timeout_ns: ns(self.stw_timeout),
            slow_stw_ns: ns(self.slow_stw),
            ..crate::engine::Config::default()
        }
    }
}

#[derive(Debug, Args)]
#[command(
    override_usage = "trace-cli watch (--pid <PID> | --binary <PATH> | -- <CMD> [ARGS]...) [--stw-timeout <DUR>] [--slow-stw <DUR>] [--json | --text | --plain] [--exit-on-finding] [--record <FILE>] [--flight <SECONDS> [--flight-dir <DIR>] [--flight-max-bytes <BYTES>]]"
)]
pub struct WatchArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub detect: DetectArgs,

    /// One JSON object per line: each finding, then the summary (the default when stdout is
    /// not a terminal).
    #[arg(long)]
    pub json: bool,

    /// Readable text even when stdout is not a terminal.
    #[arg(long, conflicts_with = "json")]
    pub text: bool,

    /// On a terminal, the findings as lines of text instead of the full-screen live view.
    #[arg(long, conflicts_with = "json")]
    pub plain: bool,

    /// Stop at the first finding (a started command is then killed).
    #[arg(long)]
    pub exit_on_finding: bool,

    /// Also write the trace file of the run, as `record` does.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Stop after this long (e.g. 500ms, 10s, 2m; a bare number is seconds).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub duration: Option<Duration>,

    /// BPF ring buffer size: a power of two, at least 4096 (e.g. 65536, 256K, 4M).
    #[arg(long, value_parser = parse_ring_size, default_value = "4M", value_name = "BYTES")]
    pub ring_size: u32,

    #[command(flatten)]
    pub flight: FlightArgs,
}

/// `watch`'s flight recorder.
#[derive(Debug, Args)]
pub struct FlightArgs {
    /// Keep the last SECONDS of events in memory and write them as a trace file when a
    /// finding fires (one file per kind of finding; the path is in the finding).
    #[arg(long, value_parser = parse_window, value_name = "SECONDS")]
    pub flight: Option<Duration>,

    /// Where flight recordings go [default: the current directory].
    #[arg(long, value_name = "DIR", requires = "flight")]
    pub flight_dir: Option<PathBuf>,

    /// The most memory the flight recorder's ring may hold (e.g. 16M, 1G); when full, the
    /// oldest events leave first [default: 64M].
    #[arg(long, value_parser = parse_bytes, value_name = "BYTES", requires = "flight")]
    pub flight_max_bytes: Option<u64>,
}

/// `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds (fractions allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 10s, 2m)"))?;
    let secs = match unit {
        "ns" => v / 1e9,
        "us" => v / 1e6,
        "ms" => v / 1e3,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is out of range"))
}

/// A duration (as [`parse_duration`]) longer than zero.
pub fn parse_window(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("{s:?}: the window must be longer than 0"));
    }
    Ok(d)
}

/// A size in bytes with an optional K/M/G (binary) suffix (`16M`, `1GiB`, `4096`).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|v| v.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size in bytes (e.g. 16M, 1G)"))
}

/// A size in bytes (as [`parse_size`]), at least 1 MiB.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let v = parse_size(s)?;
    if v < crate::flight::MIN_MAX_BYTES {
        return Err(format!("{s:?}: at least 1M"));
    }
    Ok(v)
}

/// A power of two between 4 KiB and 1 GiB (as [`parse_size`]).
pub fn parse_ring_size(s: &str) -> Result<u32, String> {
    let v = parse_size(s)?;
    if !v.is_power_of_two() || !(4096..=1 << 30).contains(&v) {
        return Err(format!(
            "{s:?}: the ring size must be a power of two between 4K and 1G"
        ));
    }
    Ok(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("64M"), Ok(64 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("2000000"), Ok(2_000_000));
        assert!(parse_bytes("512K").is_err(), "below the least");
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999G").is_err(), "overflow");
    }

    #[test]
    fn ring_sizes() {
        assert_eq!(parse_ring_size("4M"), Ok(4 << 20));
        assert_eq!(parse_ring_size("256KiB"), Ok(256 << 10));
        assert_eq!(parse_ring_size("65536"), Ok(65536));
        assert!(parse_ring_size("1000").is_err());
        assert!(parse_ring_size("2048").is_err());
        assert!(parse_ring_size("2G").is_err());
        assert!(parse_ring_size("lots").is_err());
    }
}
