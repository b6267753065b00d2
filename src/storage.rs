//! Storage: the whisper file format and carbon's schema files.
//!
//! - [`whisper`]: the whisper 1.1.10 file format, byte for byte (pure; `now` passed in).
//! - [`schemas`]: `storage-schemas.conf`: which retentions a new metric's file gets.
//! - [`aggregation`]: `storage-aggregation.conf`: a new file's xFilesFactor and method.
//! - [`rules`]: both files from the config directory (built-in defaults), per-metric lookup.
//! - [`layout`]: metric name → `<data-dir>/whisper/a/b/c.wsp`, carbon's tree layout, and
//!   the canonical series name of each file (`.a.b`, `a/b` → `a.b`).
//! - [`cache`], [`journal`]: each shard's write-back cache, and its write-ahead journal
//!   (`storage.journal`) under `<data-dir>/journal/`.
//! - [`whisper_cli`]: `lonsdaleite whisper …`, the operator commands of whisper's scripts.

pub mod aggregation;
pub mod cache;
pub mod drain;
pub mod index;
mod ini;
pub mod intake;
pub mod journal;
pub mod layout;
pub mod rules;
pub mod schemas;
pub mod shard_store;
pub mod stats;
pub mod whisper;
pub mod whisper_cli;
pub mod writer;
