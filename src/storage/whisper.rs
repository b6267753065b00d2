//! The whisper file format (graphite-project/whisper 1.1.10), byte for byte.
//!
//! A pure module: it never reads the clock (`now` is always an argument) and never
//! opens files on its own except in the [`file`](mod@file) convenience layer. The algorithms run
//! on anything that implements [`ReadAt`] / [`WriteAt`] (an in-memory `Vec<u8>`, a
//! `std::fs::File` through `pread`/`pwrite`, or any `Read + Write + Seek` wrapped in
//! [`SeekStore`]), and the plan functions ([`split_by_archive`], [`pack_runs`],
//! [`place_run`], [`neighbour_reads`], [`propagated_value`]) compute *what* to read
//! and write from a cached [`Header`] without doing any I/O, so an io_uring writer can
//! issue the same operations itself.
//!
//! # File layout
//!
//! Every integer is an unsigned 32-bit big-endian number, the xFilesFactor a big-endian
//! IEEE-754 `f32`, every value a big-endian `f64`. No magic number, no version, no padding.
//!
//! ```text
//! offset 0
//! ┌──────────────────────────────── metadata, 16 bytes ─────────────────────────────────┐
//! │ aggregationType u32 │ maxRetention u32 │ xFilesFactor f32 │ archiveCount u32        │
//! ├──────────────────────────── archive info, 12 bytes each ────────────────────────────┤
//! │ offset u32 │ secondsPerPoint u32 │ points u32 │   × archiveCount (finest first)     │
//! ├───────────────── archive 0 data at archive[0].offset = 16 + 12·count ───────────────┤
//! │ point 0 (the base point) │ point 1 │ … │ point points-1 │   point = ts u32, value f64 │
//! ├───────────── archive 1 data at archive[1].offset = archive[0].offset + 12·points ───┤
//! │ …                                                                                   │
//! └─────────────────────────────────────────────────────────────────────────────────────┘
//! file size = 16 + 12·count + 12·Σpoints
//! ```
//!
//! An archive is a ring without a head pointer. Slot 0 holds the *base point*: the first
//! interval ever written to the archive. An interval `t` lives at byte
//! `offset + (((t - base) div spp) · 12) mod size`, with floor division and a non-negative
//! modulus (Python's `//` and `%`), so intervals before the base wrap around. A base
//! timestamp of 0 means "never written". A slot is valid for interval `t` only if the
//! timestamp stored in it equals `t`; anything else reads as `None`.
//!
//! # Whisper quirks kept (each one matters for byte-exact files)
//!
//! - `update` rejects `now - ts >= maxRetention` and future points; `update_many` has no
//!   future check: future points go to archive 0 and may overwrite older slots.
//! - `update_many` silently drops points older than the coarsest archive.
//! - Within one batch, points with the same aligned interval: the *last in chronological
//!   order* wins; for equal input timestamps that is the one given *first* by the caller.
//! - Runs of consecutive intervals are written as one string; `not previousInterval`
//!   treats an interval of 0 as "no previous", so a point at interval 0 joins the next run.
//! - A run that does not fit before the archive end is split once; the remainder is
//!   written at the archive start even if it is longer than the archive.
//! - The first batch written to an empty archive sets the base to the start of its
//!   chronologically first run; a single `update` sets it to its own interval.
//! - `update_many` propagates the touched lower intervals in the iteration order of a
//!   `CPython` `set` ([`python_set_order`]): into an empty lower archive the first one
//!   becomes the base point, and intervals sharing a slot overwrite in that order.
//! - Points that land directly in a lower archive are written raw (last wins), then
//!   propagated further down.
//! - Propagation compares `known / n` (f64) with the xFilesFactor *as stored in f32*, so
//!   `0.1` needs strictly more than 1 of 10 points; it stops at the first archive where
//!   nothing propagated; `avg_zero` counts missing neighbours as 0; `absmax`/`absmin`
//!   keep the first on ties; NaN counts as a known value; sums are left to right.
//! - `fetch` returns the half-open window `[from', until')` with `from' = align(from)+step`,
//!   picks one archive (the first whose retention covers `now - from`), returns `None`
//!   for ranges wholly in the future or beyond retention, and `[None; n]` from an
//!   archive that was never written.
//! - Reading the header rejects an unknown aggregation type or an xFilesFactor outside
//!   `[0, 1]`; nothing else is checked (offsets are trusted).
//!
//! # Deliberate differences
//!
//! - Arithmetic that would raise `ZeroDivisionError` in Python (an archive with zero
//!   seconds per point or zero points) returns [`WhisperError::Corrupt`] instead.
//! - `create` validates the aggregation method and xFilesFactor *before* creating the
//!   file (whisper leaves an empty file behind) and rejects a NaN xFilesFactor (whisper
//!   writes a file it cannot read back).
//! - Reading a never-written archive returns at most [`MAX_EMPTY_WINDOW`] `None`s
//!   (2^25); a larger window (only a corrupt header or a multi-year read of a 1 s archive
//!   asks for one) is an error instead of a multi-gigabyte allocation.
//! - Python ≥ 3.12 sums floats with Neumaier compensation; we sum left to right like
//!   Python ≤ 3.11, which is what carbon runs on in Debian bookworm (the interop oracle
//!   pins whisper's `sum` to left-to-right when it runs on a newer interpreter).
//! - An in-memory `Vec<u8>` image refuses writes past its end; whisper (on a file) would
//!   grow the file, which only a corrupt header can ask for.

mod aggregate;
mod create;
mod fetch;
pub mod file;
mod header;
mod io;
mod pyset;
mod retention;
mod update;

pub use aggregate::AggregationMethod;
pub use create::{create_image, header_for, validate_archive_list, DEFAULT_X_FILES_FACTOR};
pub use fetch::{
    archive_fetch, fetch, fetch_with_header, select_archive, FetchResult, MAX_EMPTY_WINDOW,
};
pub use header::{
    decode_point, encode_point, read_header, read_header_lenient, ArchiveInfo, Header,
    ARCHIVE_INFO_SIZE, METADATA_SIZE, POINT_SIZE,
};
pub use io::{ReadAt, SeekStore, WriteAt};
pub use pyset::iteration_order as python_set_order;
pub use retention::{parse_carbon_retention, parse_retention, parse_retentions};
pub use update::{
    archive_update_many, neighbour_reads, pack_runs, place_run, propagate, propagated_value,
    set_aggregation, split_by_archive, update, update_many, update_many_with_header,
    update_with_header, NeighbourReads, Run, RunPlacement,
};

/// What can go wrong reading or writing a whisper file. Messages follow whisper's own.
#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    /// The file does not hold a readable whisper structure (`CorruptWhisperFile`).
    #[error("{0}")]
    Corrupt(String),
    /// The archive list or the file state does not allow a create (`InvalidConfiguration`).
    #[error("{0}")]
    InvalidConfiguration(String),
    /// Not one of whisper's eight aggregation methods.
    #[error("Unrecognized aggregation method: {0}")]
    InvalidAggregationMethod(String),
    /// xFilesFactor not a number in `[0, 1]`.
    #[error("Invalid xFilesFactor {0}")]
    InvalidXFilesFactor(String),
    /// `update` of a point in the future or older than the file's retention.
    #[error("Timestamp not covered by any archives in this database.")]
    TimestampNotCovered {
        /// The rejected timestamp.
        timestamp: i64,
        /// The `now` it was judged against.
        now: i64,
    },
    /// A timestamp that does not fit whisper's unsigned 32-bit field.
    #[error("timestamp {0} does not fit in an unsigned 32-bit whisper timestamp")]
    TimestampOutOfRange(i64),
    /// `fetch` with `from > until`.
    #[error("Invalid time interval: from time '{from}' is after until time '{until}'")]
    InvalidTimeInterval {
        /// Requested start.
        from: i64,
        /// Requested end.
        until: i64,
    },
    /// `merge` with `time_to < time_from` (whisper raises `ValueError`).
    #[error("time_to must be >= time_from")]
    MergeRange {
        /// Requested start.
        from: i64,
        /// Requested end.
        until: i64,
    },
    /// `fetch` asked for an archive precision the file does not have.
    #[error("Invalid granularity: {0}")]
    InvalidGranularity(String),
    /// A retention definition such as `10s:6h` that does not parse.
    #[error("{0}")]
    InvalidRetention(String),
    /// Two files whose archive lists differ (merge, diff).
    #[error("{from} and {to} archive configurations are unalike. Resize the input before merging")]
    ArchivesDiffer {
        /// Source file.
        from: String,
        /// Destination file.
        to: String,
    },
    /// An operating-system error, with the file it concerned.
    #[error("{path}: {source}")]
    Io {
        /// The file (or `<memory>`).
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Shorthand for this module's results.
pub type Result<T, E = WhisperError> = std::result::Result<T, E>;

impl WhisperError {
    fn io(source: std::io::Error) -> Self {
        Self::Io {
            path: "<store>".to_owned(),
            source,
        }
    }

    /// Replaces a generic `<store>` path with the real file name.
    #[must_use]
    pub fn with_path(self, path: &std::path::Path) -> Self {
        match self {
            Self::Io { source, .. } => Self::Io {
                path: path.display().to_string(),
                source,
            },
            Self::Corrupt(msg) => Self::Corrupt(format!("{msg} ({})", path.display())),
            other => other,
        }
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use proptest::prelude::*;

    /// A valid image of random archives, with `flips` random bytes overwritten.
    fn damaged_image() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec((1_u32..5, 2_u32..8), 1..4),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..12),
            0_usize..200,
        )
            .prop_map(|(steps, flips, cut)| {
                let mut spp = 1;
                let mut archives = Vec::new();
                let mut prev_ret = 0;
                for (f, extra) in steps {
                    spp *= f;
                    let points = (prev_ret / spp + 1).max(f) + extra;
                    prev_ret = spp * points;
                    archives.push((spp, points));
                }
                let mut img = create_image(&archives, 0.5, AggregationMethod::Sum)
                    .unwrap_or_else(|_| vec![0; 64]);
                for (i, b) in flips {
                    let at = i.index(img.len());
                    img[at] = b;
                }
                let keep = img.len().saturating_sub(cut % 16);
                img.truncate(keep);
                img
            })
    }

    proptest! {
        /// Invariant: no input bytes make the format functions panic or allocate without
        /// bound; a damaged file yields results or errors, and an in-memory image never
        /// changes length.
        #[test]
        fn damaged_files_never_panic(mut img in damaged_image(), now in 0_i64..40, pts in prop::collection::vec((-50_i64..50, any::<f64>()), 0..12)) {
            let len = img.len();
            let now = 1_000_000 + now;
            let _ = read_header(&mut img);
            let _ = read_header_lenient(&mut img);
            let _ = fetch(&mut img, now - 100, None, now, None);
            let _ = fetch(&mut img, now - 5, Some(now), now, Some("2"));
            let _ = update(&mut img, 1.0, now - 3, now);
            let points: Vec<(i64, f64)> = pts.iter().map(|&(d, v)| (now + d, v)).collect();
            let _ = update_many(&mut img, &points, now);
            let _ = set_aggregation(&mut img, Some(AggregationMethod::Last), Some(0.25));
            prop_assert_eq!(img.len(), len);
        }

        /// Invariant: arbitrary (mostly invalid) headers never panic either.
        #[test]
        fn random_bytes_never_panic(mut img in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = read_header_lenient(&mut img);
            let _ = fetch(&mut img, 0, None, 4_000_000_000, None);
            let _ = update_many(&mut img, &[(1, 1.0), (2, 2.0)], 10);
            let _ = update(&mut img, 1.0, 5, 10);
        }
    }
}
