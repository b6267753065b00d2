//! `lonsdaleite whisper` operator commands (pending).
use std::process::ExitCode;

/// `lonsdaleite whisper` arguments.
#[derive(Debug, clap::Args)]
pub struct WhisperArgs {}

/// Runs one whisper command.
pub fn run(_args: &WhisperArgs) -> ExitCode {
    eprintln!("lonsdaleite whisper is not built yet");
    ExitCode::from(2)
}
