//! Agents that feed the pipeline from each host; they only need a carbon or statsd listener.
//!
//! - [`collect`]: host metrics from /proc and statvfs, Diamond's collectors and names.
//! - [`logtail`]: follows log files from a saved offset, Logster's parsers and names.
//! - [`sender`]: carbon plaintext over TCP (reconnect, bounded backlog) and statsd over UDP.

pub mod collect;
pub mod logtail;
pub mod sender;
