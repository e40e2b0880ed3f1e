//! One module per subcommand: each wires one source to its output.

mod analyze;
pub mod export;
pub mod inspect;
mod probes;
mod record;
mod recording;
mod watch;

use crate::cli::{Cli, Command};
use crate::error::{EXIT_OK, Error};

/// Runs the command; `Ok` carries the exit status.
pub fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Probes(args) => probes::run(&args).map(|()| EXIT_OK),
        Command::Record(args) => record::run(&args),
        Command::Analyze(args) => analyze::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Export(args) => export::run(&args),
    }
}
