//! Storage: the whisper file format and carbon's schema files (owned by the storage work).
pub mod whisper_cli;
