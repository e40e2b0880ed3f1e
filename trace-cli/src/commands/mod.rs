//! One module per subcommand.

pub mod inspect;
mod probes;

use crate::cli::{Cli, Command};
use crate::error::{EXIT_OK, Error};

/// Runs the command; `Ok` carries the exit status.
pub fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Probes(args) => probes::run(&args).map(|()| EXIT_OK),
        Command::Inspect(args) => inspect::run(&args),
    }
}
