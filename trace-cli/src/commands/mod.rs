//! One module per subcommand: each wires one source to its output.

mod analyze;
mod probes;
mod record;

use crate::cli::{Cli, Command};
use crate::error::{EXIT_OK, Error};

/// Runs the command; `Ok` carries the exit status.
pub fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Probes(args) => probes::run(&args).map(|()| EXIT_OK),
        Command::Record(args) => record::run(&args),
        Command::Analyze(args) => analyze::run(&args),
    }
}
