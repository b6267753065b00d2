//! Wire protocols: bytes in, borrowed values out, no allocation on the hot path.
//!
//! - [`framing`]: newline framing for stream transports, with a line-length cap.
//! - [`statsd`]: the StatsD line protocol (etsy 0.10 plus DogStatsD tags).
//! - [`number`]: numbers written the way etsy statsd (JavaScript) writes them.
//! - [`pickle`]: Graphite's pickle protocol, sending side.

pub mod carbon;
pub mod framing;
pub mod number;
pub mod pickle;
pub mod statsd;
pub mod tagged;
pub mod unpickle;
