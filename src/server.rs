//! Wiring (pending).
use std::process::ExitCode;

/// Entry point for `lonsdaleite serve`.
pub fn main(_args: &crate::cli::ServeArgs) -> ExitCode {
    eprintln!("lonsdaleite serve is not built yet");
    ExitCode::from(2)
}
