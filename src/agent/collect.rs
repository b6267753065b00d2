//! Host collector (pending).
use std::process::ExitCode;

/// `lonsdaleite collect` arguments.
#[derive(Debug, clap::Args)]
pub struct CollectArgs {}

/// Runs the collector.
pub fn run(_args: &CollectArgs) -> ExitCode {
    eprintln!("lonsdaleite collect is not built yet");
    ExitCode::from(2)
}
