//! A shard's storage counters, shared with shard 0 (which reports every shard's as
//! carbon's `carbon.agents.*` self-metrics) and with the admin interface. Updated per batch,
//! not per point; read with relaxed loads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One shard's storage counters (see the module documentation). Aligned to 128 bytes
/// (two cache lines: x86's adjacent-line prefetch pairs them) so two shards' counters,
/// allocated one after the other at start, never share a line that both write.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct StoreStats {
    /// Carbon points accepted (carbon's `metricsReceived`).
    pub metrics_received: AtomicU64,
    /// Carbon lines dropped as malformed.
    pub bad_lines: AtomicU64,
    pub committed_points: AtomicU64,
    pub update_operations: AtomicU64,
    /// Microseconds spent in whisper updates.
    pub update_micros: AtomicU64,
    pub creates: AtomicU64,
    pub errors: AtomicU64,
    /// Points and series in the cache now.
    pub cache_size: AtomicU64,
    pub cache_queues: AtomicU64,
    /// Points refused because the cache was at its budget.
    pub cache_overflow: AtomicU64,
    /// Points dropped because their name cannot be a file: no path element (`.`, `/`),
    /// not UTF-8, a NUL byte, or too long for the file system.
    pub bad_names: AtomicU64,
    /// The names refused at intake, by reason (index = position in
    /// [`LayoutError::REASONS`](crate::storage::layout::LayoutError::REASONS)).
    pub bad_name_reasons: [AtomicU64; 5],
    /// Points dropped by the writer for an error no retry can mend, by cause (index =
    /// position in [`WriteError::DROP_CAUSES`](crate::storage::writer::WriteError::DROP_CAUSES)).
    pub dropped: [AtomicU64; 4],
    /// Damaged files moved to the quarantine directory (a new file takes their place).
    pub quarantined: AtomicU64,
    /// Points for another shard dropped because that shard had stopped.
    pub lost_in_shutdown: AtomicU64,
    /// Carbon TCP connections (plaintext and pickle) this shard serves now.
    pub connections: AtomicU64,
    /// Pickle messages refused whole, by reason (index = position in
    /// [`PickleError::NAMES`](crate::protocol::unpickle::PickleError::NAMES)).
    pub pickle_refused: [AtomicU64; crate::protocol::unpickle::PickleError::NAMES.len()],
    /// When points were last committed, in milliseconds since the Unix epoch (0: never).
    /// For timing a load from outside without polling finely.
    pub last_commit_unix_ms: AtomicU64,
    /// The write-ahead journal ([`crate::storage::journal`]); see [`JOURNAL_FIELDS`].
    pub journal: JournalStats,
}

/// A shard's journal counters.
#[derive(Debug, Default)]
pub struct JournalStats {
    /// Points written to the journal.
    pub points: AtomicU64,
    /// Bytes written to the journal.
    pub bytes_written: AtomicU64,
    /// Bytes of the segments on disk now.
    pub bytes_on_disk: AtomicU64,
    /// Segments on disk now.
    pub segments: AtomicU64,
    /// Journal writes that failed (retried).
    pub write_errors: AtomicU64,
    /// Points replayed into the cache at start.
    pub replayed_points: AtomicU64,
    /// Milliseconds the replay at start took.
    pub replay_ms: AtomicU64,
    /// 1 once this shard's replay at start is over (summed: shards done).
    pub replays_done: AtomicU64,
    /// Segments whose reading stopped at a damaged or torn record at start.
    pub damaged_segments: AtomicU64,
    /// Bytes left unread behind those records.
    pub cut_bytes: AtomicU64,
    /// Points refused because the journal was at `journal_max_bytes`.
    pub overflow: AtomicU64,
}

/// The journal counters as admin `stats` names them (summed over the shards).
pub const JOURNAL_FIELDS: [(&str, StatField); 11] = [
    ("journal.points", |x| &x.journal.points),
    ("journal.bytes_written", |x| &x.journal.bytes_written),
    ("journal.bytes_on_disk", |x| &x.journal.bytes_on_disk),
    ("journal.segments", |x| &x.journal.segments),
    ("journal.write_errors", |x| &x.journal.write_errors),
    ("journal.replayed_points", |x| &x.journal.replayed_points),
    ("journal.replay_ms", |x| &x.journal.replay_ms),
    ("journal.replays_done", |x| &x.journal.replays_done),
    ("journal.damaged_segments", |x| &x.journal.damaged_segments),
    ("journal.cut_bytes", |x| &x.journal.cut_bytes),
    ("journal.overflow", |x| &x.journal.overflow),
];

/// One of the [`StoreStats`] counters.
pub type StatField = fn(&StoreStats) -> &AtomicU64;

/// A counter summed over every shard's stats.
pub fn total(all: &[Arc<StoreStats>], field: StatField) -> u64 {
    all.iter().map(|s| field(s).load(Ordering::Relaxed)).sum()
}

pub(crate) fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}
