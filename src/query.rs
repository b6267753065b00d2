//! The Graphite render API's pure core: no runtime, no clock, no I/O.
//!
//! Module map:
//! - [`grammar`]: graphite-web's target expression grammar → an AST with byte spans.
//! - [`time`]: graphite's `from`/`until`/`now` syntax (`attime.py`) and interval offsets.
//! - [`glob`]: graphite's per-node globbing (braces + `fnmatch`) and the in-memory
//!   [`glob::NameIndex`] that answers `/metrics/find` and `/metrics/expand`.
//! - [`json`]: the bytes graphite-web writes for `format=json`, `csv` and `raw`, with
//!   Python's float formatting and the `maxDataPoints` consolidation of the json renderer.
//! - [`series`]: the `TimeSeries` the functions pass around.
//! - [`eval`]: evaluating a target against a [`eval::Source`] of names and points.
//! - [`budget`]: one request's limits counted across all its targets, calls and glob
//!   walks, and the stop signal (deadline, server stopping, client gone) its loops poll.
//! - [`functions`]: the render functions, by name.
//!
//! Conformance notes and deviations from graphite-web are in `docs/render.md`.

pub mod budget;
pub mod eval;
pub mod functions;
pub mod glob;
pub mod grammar;
pub mod json;
pub mod pie;
pub mod series;
pub mod time;
