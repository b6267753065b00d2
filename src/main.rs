//! The `lonsdaleite` binary: parse the command line, load config, preflight, run.

use std::process::ExitCode;

use clap::Parser;
use lonsdaleite::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => lonsdaleite::server::main(&args),
        Command::DefaultConfig => {
            print!("{}", lonsdaleite::config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Command::Whisper(args) => lonsdaleite::storage::whisper_cli::run(&args),
        Command::Collect(args) => lonsdaleite::agent::collect::run(&args),
        Command::Logtail(args) => lonsdaleite::agent::logtail::run(&args),
        Command::Cluster(args) => lonsdaleite::cluster::cli::run(&args),
    }
}
