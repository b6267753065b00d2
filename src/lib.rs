//! lonsdaleite: StatsD aggregation, Carbon ingestion, Whisper storage and the Graphite
//! render API in one thread-per-core server.
//!
//! Module map, in the order data flows (the process shell first):
//! - [`cli`]: command-line arguments (clap); `main.rs` only adapts them.
//! - [`config`]: configuration structs, the embedded default file, validation.
//! - [`clock`]: the one place that reads the wall clock, and flush-interval alignment.
//! - [`sys`]: host facts and preflight checks (memlock, io_uring) with the fix to apply.
//! - [`shutdown`]: the signals every thread shares: the stop flag, reload requests, failed
//!   shards.
//! - [`server`]: start-up wiring: listeners, the shard mesh, the side thread (admin
//!   interface, forwarder, signals), the shutdown path.
//! - [`protocol`]: bytes in, values out: framing, StatsD lines, carbon plaintext and
//!   pickle, tagged names, JS-style number output.
//! - [`py`]: Python's float formatting (`repr`, `%g`) and parsing (`float()`, `int()`), once.
//! - [`shard`]: one pinned glommio executor per core: receive, parse, aggregate, flush,
//!   hand points to storage; the StatsD state saved across restarts.
//! - [`aggregate`]: etsy-exact StatsD aggregation: partial tables, owned state, flush.
//! - [`route`]: which shard owns a name (fixed-seed ahash), and the forwarder to another
//!   Graphite.
//! - [`storage`]: whisper files and what feeds them: the format, schema and aggregation
//!   rules, name → file layout, the intake of points from peer shards, the write-back
//!   cache, the writer and its drain task, the index of names on disk.
//! - [`query`]: the render API's pure core: target grammar, functions, time syntax,
//!   globbing, output bytes.
//! - [`graph`]: PNG and SVG graphs of render results.
//! - [`http`]: the Graphite HTTP API on the query thread, and the stores it keeps in
//!   SQLite (tags, events, dashboards) with the built-in web page.
//! - [`agent`]: the host collector (Diamond role) and log tailer (Logster role).
//! - [`cluster`]: past one host: carbon-c-relay's and carbon's hash rings, `cluster whereis`,
//!   a federation member's spec (a frontend's fan-out is in [`http`]).

pub mod agent;
pub mod aggregate;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod graph;
pub mod http;
pub mod protocol;
pub mod py;
pub mod query;
pub mod route;
pub mod server;
pub mod shard;
pub mod shutdown;
pub mod storage;
pub mod sys;
