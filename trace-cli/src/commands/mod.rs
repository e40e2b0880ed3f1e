//! One module per subcommand.

mod probes;

use crate::cli::{Cli, Command};
use crate::error::Error;

pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Probes(args) => probes::run(&args),
    }
}
