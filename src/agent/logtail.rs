//! Host logtailor (pending).
use std::process::ExitCode;

/// `lonsdaleite logtail` arguments.
#[derive(Debug, clap::Args)]
pub struct LogtailArgs {}

/// Runs the logtailor.
pub fn run(_args: &LogtailArgs) -> ExitCode {
    eprintln!("lonsdaleite logtail is not built yet");
    ExitCode::from(2)
}
