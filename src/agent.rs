//! Agents that feed the pipeline (owned by the agent work).
//!
//! - [`collect`]: host metrics from /proc, Diamond's names.
//! - [`logtail`]: follows log files, Logster's parsers and names.

pub mod collect;
pub mod logtail;
