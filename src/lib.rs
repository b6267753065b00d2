//! lonsdaleite: StatsD aggregation, Carbon ingestion, Whisper storage and the Graphite
//! render API in one thread-per-core server.
//!
//! Module map:
//! - [`cli`]: command-line arguments (clap); `main.rs` only adapts them.
//! - [`config`]: configuration structs, the embedded default file, validation.
//! - [`sys`]: preflight checks of the host (memlock, io_uring) with the fix to apply.
//! - [`clock`]: wall-clock access and interval alignment, injected where time matters.
//! - [`protocol`]: wire formats: framing, StatsD lines, JS-style number output.
//! - [`py`]: Python's float formatting (`repr`, `%g`) and parsing (`float()`, `int()`), once.
//! - [`aggregate`]: etsy-exact StatsD aggregation: partial tables, owned state, flush.
//! - [`route`]: which shard owns a name (fixed-seed ahash).
//! - [`shard`]: one pinned glommio executor per shard: listeners, ingest, flush.
//! - [`admin`]: etsy's management interface (line commands over TCP).
//! - [`forward`]: the Graphite forwarder: one persistent connection, bounded backlog.
//! - [`storage`]: the whisper file format and carbon's schema files.
//! - [`index`]: the names of the series already on disk, scanned at start.
//! - [`cache`]: the per-shard write-back cache of points waiting for their whisper file.
//! - [`writer`]: a shard's whisper writer: cached points into files through io_uring.
//! - [`store`]: a shard's storage tasks: point intake from peers, the writer loop, the drain.
//! - [`agent`]: the host collector (Diamond role) and log tailer (Logster role).
//! - [`query`]: the render API's pure core: target grammar, time syntax, globbing, output bytes.
//! - [`graph`]: PNG and SVG graphs of render results.
//! - [`webui`]: the built-in web page and its dashboards.
//! - [`http`]: the Graphite HTTP API on the query thread (render, metrics, events, tags).
//! - [`events`]: graphite events in SQLite.
//! - [`tagdb`]: the in-memory index of tagged series.
//! - [`shutdown`]: the stop flag shared by shards and the side thread.
//! - [`server`]: wiring: builds the shards, the side threads and the shutdown path.

pub mod admin;
pub mod agent;
pub mod aggregate;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod events;
pub mod forward;
pub mod graph;
pub mod http;
pub mod index;
pub mod protocol;
pub mod py;
pub mod query;
pub mod route;
pub mod server;
pub mod shard;
pub mod shutdown;
pub mod storage;
pub mod store;
pub mod sys;
pub mod tagdb;
pub mod webui;
pub mod writer;
