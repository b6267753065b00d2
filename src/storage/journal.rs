//! The write-ahead journal of the write-back cache (`storage.journal`, issue 16): what a
//! shard's cache holds survives the death of the process (`process`) and, synced on an
//! interval, a power loss (`power`).
//!
//! ## Where a point is journaled
//!
//! By the shard that owns its series, as it enters that shard's cache
//! ([`ShardStore::add_point`](super::shard_store::ShardStore::add_point)): carbon and pickle
//! points received here or routed from a peer, and the StatsD flush's output. So the
//! journal of a shard holds exactly the points of its own cache, and knowing when a
//! segment is wholly written to whisper needs nothing from other shards.
//!
//! With a journal, `carbon.metrics_received` means *journaled*: a carbon point counts as
//! received when the journal write holding it has completed (it is then in the kernel's
//! page cache, which outlives the process), not when it is parsed. A point still on its
//! way to its owner (in a batch between shards) is not yet counted; a crash loses it as
//! it loses bytes still in a socket buffer. Names no file can hold and points refused by
//! a full cache are counted elsewhere and never as received.
//!
//! ## Files
//!
//! `<data-dir>/journal/shard-<id>/<seq>.jrnl`, `seq` a 16-digit decimal number rising by one
//! per segment. A segment is a header naming the shard and the shard count, then records
//! ([`record`] has the byte layout): each record carries the names it is the first in its
//! segment to use (a per-segment dictionary) and its points as (name id, timestamp delta,
//! value), 10–12 bytes a point, under one CRC-32. One record is whatever was appended
//! since the previous write: the journal task writes the open record in one `write`
//! through the shard's io_uring while the next fills, one write in flight at a time, so
//! a process that dies can leave only the last record torn.
//!
//! ## When a segment goes
//!
//! Each cache entry remembers the oldest segment it holds points from, and a series the
//! writer has taken keeps its segment until the writer's next round (by then it is
//! written, or put back into the cache with its segment):
//! [`Cache::oldest_segment`](super::cache::Cache::oldest_segment) is the oldest segment
//! with a point not yet in whisper. Every segment before it is deleted; the
//! open segment, when nothing at all is pending, too (a new one is begun on the next
//! point). A segment is closed when it passes `journal_segment_bytes`. After a clean
//! shutdown (SIGTERM drains the cache) no segment is left.
//!
//! ## Replay
//!
//! Before a shard serves, it reads its segments oldest first and puts every point back
//! into its cache under the segment it came from, without journaling it again: the old
//! segments stay until those points are written, as if the process had never stopped.
//! Reading a segment stops at its first record that is cut short or does not check; what
//! came before is kept, the rest of the segment is counted (`journal.damaged_segments`,
//! `journal.cut_bytes`) and logged, and the next segments are read as usual. A segment
//! whose header is unreadable is moved aside (`*.jrnl.damaged`). The owner of a series
//! depends on the shard count, so a journal written with another count is refused at
//! start with the fix ([`check_layout`]). Progress goes to stderr every few seconds;
//! `journal.replayed_points` and `journal.replay_ms` report it.
//!
//! ## Not built yet
//!
//! - A test of what a power loss leaves with `power` (the sync runs; its bound is not
//!   tested).
//! - Replay under a different shard count.
//!
//! The StatsD interval in progress is not journaled; a crash loses it (at most one
//! `flush_interval`), reported at the next start ([`crate::server::running`]).
//!
//! ## Budget
//!
//! `journal_max_bytes` bounds a shard's segments on disk plus what waits to be written:
//! near it the TCP receivers pause ([`Journal::is_behind`]), at it a point is refused and
//! counted in `journal.overflow` ([`Journal::is_full`]), as the cache does at its budget.

mod appender;
pub mod record;

use std::path::{Path, PathBuf};

pub use appender::{journal_loop, replay, Journal, Replayed};

/// The directory under the data directory.
pub const DIR: &str = "journal";
const EXTENSION: &str = "jrnl";

/// The directory of shard `id`'s segments.
pub fn shard_dir(data_dir: &Path, id: usize) -> PathBuf {
    data_dir.join(DIR).join(format!("shard-{id}"))
}

/// The file of segment `seq` in `dir`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.{EXTENSION}"))
}

/// The segments in `dir`, oldest first (none when it does not exist).
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == EXTENSION) {
            if let Some(seq) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
            {
                out.push((seq, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Refuse to start on a journal another shard count wrote: its points would be replayed
/// by shards that do not own them. The message says what to do.
pub fn check_layout(data_dir: &Path, shards: usize) -> Result<(), String> {
    let root = data_dir.join(DIR);
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return Ok(());
    };
    for dir in dirs.flatten() {
        let dir = dir.path();
        let segments = list_segments(&dir)
            .map_err(|e| format!("journal: cannot list {}: {e}", dir.display()))?;
        for (_, path) in segments {
            let mut head = [0u8; record::HEADER_BYTES];
            let read = std::fs::File::open(&path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
            // An unreadable header is dealt with (moved aside) by the replay.
            let Ok(header) = read
                .ok()
                .map(|()| record::Header::decode(&head))
                .transpose()
                .ok()
                .flatten()
                .ok_or(())
            else {
                continue;
            };
            if header.shards as usize != shards || header.shard as usize >= shards {
                return Err(format!(
                    "journal: {} was written by a server with {} shards and this one has \
                     {shards}: start once with --shards {} (the journal is replayed, and a \
                     SIGTERM then writes it all to whisper and removes it), or remove {} \
                     to give its points up",
                    path.display(),
                    header.shards,
                    header.shards,
                    root.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_listed_oldest_first_and_strangers_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for seq in [12, 3, 100] {
            std::fs::write(segment_path(dir.path(), seq), b"").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"").unwrap();
        std::fs::write(dir.path().join("x.jrnl"), b"").unwrap();
        let seqs: Vec<u64> = list_segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(seqs, vec![3, 12, 100]);
        assert!(list_segments(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn another_shard_count_is_refused_with_the_fix() {
        let data = tempfile::tempdir().unwrap();
        let dir = shard_dir(data.path(), 1);
        std::fs::create_dir_all(&dir).unwrap();
        let h = record::Header {
            shard: 1,
            shards: 2,
        };
        std::fs::write(segment_path(&dir, 1), h.encode()).unwrap();
        assert!(check_layout(data.path(), 2).is_ok());
        let e = check_layout(data.path(), 4).unwrap_err();
        assert!(e.contains("--shards 2"), "{e}");
        // A torn header is not a reason to refuse (the replay sets it aside).
        std::fs::write(segment_path(&dir, 1), &h.encode()[..5]).unwrap();
        assert!(check_layout(data.path(), 4).is_ok());
    }
}
