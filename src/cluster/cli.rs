//! `lonsdaleite cluster …`: the subcommands' clap shell.

use std::process::ExitCode;

use super::rebalance::{RebalanceArgs, REBALANCE_HELP};
use super::whereis::{WhereisArgs, WHEREIS_EXAMPLES};

/// `lonsdaleite cluster` arguments.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// The operation.
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The cluster subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Print the member a relay's consistent-hash ring sends each metric to.
    ///
    /// One line per name, in input order: `NAME HOST:PORT[=INSTANCE]`, then the further
    /// members with --replicas (owner first). The placement is carbon-c-relay 3.7's
    /// (Debian, amd64) or, with --impl carbon, carbon 1.1's. Exit status: 0; 1 when a
    /// name had no placement (reported on stderr, the others still printed) or output
    /// failed; 2 for arguments that make no ring.
    #[command(after_long_help = WHEREIS_EXAMPLES)]
    Whereis(WhereisArgs),
    /// Move the local series a ring no longer places on this node to their owners.
    ///
    /// For every whisper file under --data-dir whose name the ring places on another
    /// member: its points are sent to the owner's carbon port (HOST:PORT of --node), read
    /// back from the owner's render API (--http), and the local file is removed only when
    /// every point sent is there. With --dry-run: list `NAME -> OWNER` for each such
    /// series, touching nothing. Exit status: 0; 1 when a series failed (it is kept, and
    /// named on stderr); 2 for arguments that make no ring or no data directory.
    #[command(after_long_help = REBALANCE_HELP)]
    Rebalance(RebalanceArgs),
}

/// Runs a `cluster` subcommand.
pub fn run(args: &ClusterArgs) -> ExitCode {
    match &args.command {
        ClusterCommand::Whereis(w) => super::whereis::run(w),
        ClusterCommand::Rebalance(r) => super::rebalance::run(r),
    }
}
