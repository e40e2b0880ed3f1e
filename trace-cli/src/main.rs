//! `trace-cli`: finds why a goro stop-the-world never ends.
//!
//! Exit status: 0 success, 1 error, 2 usage, 3 at least one finding.

mod cli;
mod commands;
mod error;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with status 2.
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        // A reader that went away (`trace-cli probes X | head`) is not an error.
        Err(e) if e.is_broken_pipe() => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            eprintln!("trace-cli: {e}");
            ExitCode::from(error::EXIT_ERROR)
        }
    }
}
