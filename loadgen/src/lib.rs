//! loadgen: a seeded load generator for StatsD and Carbon servers (lonsdaleite's bench tool).
//!
//! It does not depend on the server crate: it speaks only the wire protocols and the admin
//! port's `stats` command. Module map:
//! - [`cli`]: options (clap), address checks (loopback unless `--allow-remote`), plans.
//! - [`rng`]: `SplitMix64`, the seeded generator behind every payload.
//! - [`mix`]: metric types and their shares (`--mix`).
//! - [`payload`]: the pre-rendered pool of packets (pure function of options and seed).
//! - [`net`]: `sendmmsg` / `recvmmsg` batches, receive buffers, `/proc/net/udp` drops.
//! - [`send`]: sender threads: one socket each; pace, send, count.
//! - [`verify`]: the admin port's `stats` reply, `metrics_received`, settling.
//! - [`carbon`]: a plaintext listener that sums a server's own flushed line count.
//! - [`observe`]: the server process's CPU time and memory (`--server-pid`).
//! - [`run`]: one run: pool, baseline, send with progress, final count, report.
//! - [`sink`]: `--sink`: a UDP receiver that drains and counts.
//! - [`report`]: human-readable output.

pub mod carbon;
pub mod cli;
pub mod mix;
pub mod net;
pub mod observe;
pub mod payload;
pub mod report;
pub mod rng;
pub mod run;
pub mod send;
pub mod sink;
pub mod verify;
