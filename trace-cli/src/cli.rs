//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Watch, record and analyse goro processes through their USDT probes.
#[derive(Debug, Parser)]
#[command(name = "trace-cli", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the USDT probes compiled into a binary or loaded in a process.
    Probes(ProbesArgs),
    /// Diagnose a process that is already hung, or its core file, from its scheduler state
    /// table: no tracing, no BPF, no root.
    Inspect(crate::commands::inspect::InspectArgs),
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
