//! trace-cli's own diagnostics: `tracing` events on stderr, off unless asked for (`-v`,
//! `-vv`, or `RUST_LOG`). Never mixed into stdout (JSON, events) or a trace file.

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8) {
    let filter = match (verbose, std::env::var("RUST_LOG")) {
        (0, Ok(spec)) if !spec.is_empty() => EnvFilter::new(spec),
        (0, _) => EnvFilter::new("off"),
        (1, _) => EnvFilter::new("trace_cli=info"),
        _ => EnvFilter::new("trace_cli=debug,aya=debug"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
