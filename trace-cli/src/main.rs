//! `trace-cli`: the thin binary over the `trace_cli` library.

use std::process::ExitCode;

use clap::Parser;
use trace_cli::{cli, commands, error, logging};

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = cli::Cli::parse();
    logging::init(cli.verbose);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        // A reader that went away (`trace-cli analyze X --events | head`) is not an error.
        Err(e) if e.is_broken_pipe() => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            eprintln!("trace-cli: {e}");
            ExitCode::from(error::EXIT_ERROR)
        }
    }
}
