//! The names we know: the series on disk, found by a scan at start, kept current by the
//! shards, read by the query thread. The index itself is [`NameIndex`] (the tree the
//! render API's globbing walks); this module owns its life.
//!
//! **Scan.** [`scan`] turns every `a/b/c.wsp` under `<data-dir>/whisper` into the series
//! name `a.b.c`. Files under `_tagged/` are counted but not named (their file names are
//! hashes; the tag index, kept by the HTTP side in SQLite, remembers tagged names). The
//! server runs the scan on a thread of its own, so ingest never waits for it, logs what it
//! found and puts the index in the [`ScanSlot`], which the admin interface reads to report
//! the scan (`index.series: scanning` until then). `bench/e2e/index-scan.sh` measures it at
//! 1M files. The scan also removes the temporary files of creates a killed process left.
//!
//! **Feed.** After start each shard's store tells its [`NameSink`] when a name first enters
//! its cache; the sink passes it, once per name, over the bounded channel of the
//! [`NameFeed`] to the query thread. A full channel drops the notice (never blocks the
//! shard) and the name is offered again the next time it enters the cache.
//!
//! **Query side.** [`Names`] is the query thread's view: the scanned index once the scan
//! is done, the names reported before that (kept aside, merged in at the next read), and
//! the feed, taken in by [`Names::drain`] (on every read and on a timer). Untagged names
//! join the index; tagged ones (`name;k=v`) are handed back to the caller for the tag
//! index, so the query thread adds them there before it reads the tag index.
//!
//! Counted: what a scan found, skipped and removed ([`ScanReport`]: all in the start-up
//! log, series, tagged files and seconds in the admin `stats`), and the notices the feed
//! dropped ([`NameFeed::dropped`], in `/health` as `new_name_notices_dropped`).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::query::glob::NameIndex;

/// Capacity of the new-name channel.
pub const FEED_CAPACITY: usize = 1 << 16;

/// The sending side of the new-name channel, handed to every shard.
#[derive(Clone)]
pub struct NameFeed {
    pub tx: crossbeam_channel::Sender<Box<[u8]>>,
    /// Notices dropped because the channel was full.
    pub dropped: Arc<AtomicU64>,
}

impl NameFeed {
    /// A feed and the query thread's receiving end.
    pub fn new() -> (Self, crossbeam_channel::Receiver<Box<[u8]>>) {
        let (tx, rx) = crossbeam_channel::bounded(FEED_CAPACITY);
        (
            Self {
                tx,
                dropped: Arc::default(),
            },
            rx,
        )
    }
}

/// A shard's side of the feed: remembers (by 64-bit hash) which names it has already
/// reported, so a name entering the cache again after each write costs one lookup.
pub struct NameSink {
    feed: NameFeed,
    seen: RefCell<hashbrown::HashSet<u64>>,
    hasher: ahash::RandomState,
}

impl NameSink {
    pub fn new(feed: NameFeed) -> Self {
        Self {
            feed,
            seen: RefCell::default(),
            hasher: crate::route::hasher(),
        }
    }

    /// Report `name` unless already reported. Never blocks.
    pub fn offer(&self, name: &[u8]) {
        let h = self.hasher.hash_one(name);
        if !self.seen.borrow_mut().insert(h) {
            return;
        }
        if self.feed.tx.try_send(name.into()).is_err() {
            self.seen.borrow_mut().remove(&h);
            self.feed.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// `.wsp` files named in the index.
    pub series: usize,
    /// `.wsp` files under `_tagged/` (counted, not named).
    pub tagged: usize,
    /// Directories read.
    pub directories: usize,
    /// Entries that could not be read or are not valid UTF-8 names (skipped).
    pub skipped: usize,
    /// Temporary files of creates that a crash of an earlier process cut short, removed.
    pub temp_removed: usize,
    pub elapsed: Duration,
}

/// Remove `path` when `file_name` is a temporary file of a create by another process
/// (one that crashed: a create renames or removes its own); true when removed.
fn remove_stale_temp(path: &Path, file_name: &str) -> bool {
    crate::storage::writer::temp_owner(file_name)
        .is_some_and(|pid| pid != std::process::id() && std::fs::remove_file(path).is_ok())
}

/// The scanned index slot, filled by the start-up scan and shared with the admin
/// interface (which reports the scan).
pub type ScanSlot = Arc<Mutex<Option<(NameIndex, ScanReport)>>>;

/// Every known untagged name, as the query thread sees it: the start-up scan plus what
/// the shards reported since (names reported before the scan finished are kept aside and
/// merged into it once it has).
pub struct Names {
    scanned: ScanSlot,
    early: Mutex<NameIndex>,
    feed: crossbeam_channel::Receiver<Box<[u8]>>,
}

impl Names {
    /// The view over `scanned` (empty until the scan fills it) and the feed's receiving end.
    pub fn new(scanned: ScanSlot, feed: crossbeam_channel::Receiver<Box<[u8]>>) -> Self {
        Self {
            scanned,
            early: Mutex::default(),
            feed,
        }
    }

    /// Takes in the names the shards reported; returns the tagged ones (`name;k=v`,
    /// which the tag index keeps, not this one).
    pub fn drain(&self) -> Vec<String> {
        let mut tagged = Vec::new();
        if self.feed.is_empty() {
            return tagged;
        }
        let mut scanned = lock(&self.scanned);
        let mut early = lock(&self.early);
        while let Ok(name) = self.feed.try_recv() {
            let Ok(name) = std::str::from_utf8(&name) else {
                continue;
            };
            if name.contains(';') {
                tagged.push(name.to_string());
            } else if let Some((index, _)) = scanned.as_mut() {
                index.insert(name);
            } else {
                early.insert(name);
            }
        }
        tagged
    }

    /// Runs `f` on the current index (the scanned one once the scan is done, with the
    /// names reported before it merged in).
    pub fn with_index<R>(&self, f: impl FnOnce(&NameIndex) -> R) -> R {
        let mut scanned = lock(&self.scanned);
        let mut early = lock(&self.early);
        match scanned.as_mut() {
            Some((index, _)) => {
                if !early.is_empty() {
                    for name in early.all() {
                        index.insert(&name);
                    }
                    *early = NameIndex::new();
                }
                f(index)
            }
            None => f(&early),
        }
    }
}

/// Locks a mutex, recovering from a panic in another holder (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Walk `whisper_dir` and index every series file in it. A missing directory is an empty
/// index; unreadable parts are skipped and counted.
pub fn scan(whisper_dir: &Path) -> (NameIndex, ScanReport) {
    let started = Instant::now();
    let mut index = NameIndex::new();
    let mut report = ScanReport::default();
    let counts = walk_tree(whisper_dir, |entry| match entry {
        TreeEntry::Tagged(dir) => report.tagged += count_files(dir),
        TreeEntry::File(f) => {
            if remove_stale_temp(f.path, f.file_name) {
                report.temp_removed += 1;
            } else if let Some(name) = f.series {
                index.insert(name);
                report.series += 1;
            }
        }
    });
    report.directories = counts.directories;
    report.skipped = counts.skipped;
    report.elapsed = started.elapsed();
    (index, report)
}

/// What [`walk_tree`] hands its visitor.
pub enum TreeEntry<'a> {
    /// The top-level `_tagged/` directory (its file names are hashes, not series names).
    Tagged(&'a Path),
    /// Anything that is not a directory.
    File(TreeFile<'a>),
}

/// An entry of a whisper tree that is not a directory.
pub struct TreeFile<'a> {
    pub path: &'a Path,
    pub file_name: &'a str,
    pub file_type: std::fs::FileType,
    /// The series it holds (`a.b.c` for `a/b/c.wsp`); `None` for a name not ending in
    /// `.wsp`, and for hidden or temporary files (`.name…`).
    pub series: Option<&'a str>,
}

/// What [`walk_tree`] counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct TreeCounts {
    /// Directories read.
    pub directories: usize,
    /// Entries that could not be read or whose names are not UTF-8.
    pub skipped: usize,
}

/// Walks the carbon layout under `whisper_dir` (a missing directory holds nothing), naming
/// each file's series as graphite-web reads it back; the one reading of the tree that the
/// start-up scan and `cluster rebalance` share. Does nothing to the files itself.
pub fn walk_tree(whisper_dir: &Path, mut visit: impl FnMut(TreeEntry<'_>)) -> TreeCounts {
    let mut counts = TreeCounts::default();
    let mut stack: Vec<(PathBuf, String)> = vec![(whisper_dir.to_path_buf(), String::new())];
    let mut name = String::new();
    while let Some((dir, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            if dir != whisper_dir {
                counts.skipped += 1;
            }
            continue;
        };
        counts.directories += 1;
        for entry in entries {
            let Ok(entry) = entry else {
                counts.skipped += 1;
                continue;
            };
            let Ok(file_type) = entry.file_type() else {
                counts.skipped += 1;
                continue;
            };
            let file_name = entry.file_name();
            let Some(node) = file_name.to_str() else {
                counts.skipped += 1;
                continue;
            };
            let path = entry.path();
            if file_type.is_dir() {
                if prefix.is_empty() && node == "_tagged" {
                    visit(TreeEntry::Tagged(&path));
                    continue;
                }
                let child = if prefix.is_empty() {
                    node.to_owned()
                } else {
                    format!("{prefix}.{node}")
                };
                stack.push((path, child));
                continue;
            }
            let series = node
                .strip_suffix(".wsp")
                .filter(|leaf| !leaf.is_empty() && !leaf.starts_with('.'))
                .map(|leaf| {
                    name.clear();
                    if !prefix.is_empty() {
                        name.push_str(&prefix);
                        name.push('.');
                    }
                    name.push_str(leaf);
                    name.as_str()
                });
            visit(TreeEntry::File(TreeFile {
                path: &path,
                file_name: node,
                file_type,
                series,
            }));
        }
    }
    counts
}

/// `.wsp` files anywhere under `dir`.
fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) if remove_stale_temp(&e.path(), &name) => {}
                Ok(_) if Path::new(&name).extension().is_some_and(|x| x == "wsp") => n += 1,
                _ => {}
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_carbon_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("whisper");
        for f in [
            "stats/api/hits.wsp",
            "stats_counts/api/hits.wsp",
            "servers/web1/cpu/user.wsp",
            "servers/web1/cpu/.user.wsp.1234.tmp",
            "servers/web1/cpu/.lonsdaleite-1234-7.tmp",
            "servers/web1/notes.txt",
            "top.wsp",
            "_tagged/872/252/872252dcead671982862f82a3b440f02aa8f525dd6d0f2921de0dc2b3e874ad0.wsp",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"").unwrap();
        }
        let (index, report) = scan(&root);
        assert_eq!(report.series, 4);
        assert_eq!(report.temp_removed, 2);
        assert!(!root.join("servers/web1/cpu/.user.wsp.1234.tmp").exists());
        assert!(root.join("servers/web1/notes.txt").exists());
        assert_eq!(report.tagged, 1);
        let mut all = index.all();
        all.sort();
        assert_eq!(
            all,
            [
                "servers.web1.cpu.user",
                "stats.api.hits",
                "stats_counts.api.hits",
                "top"
            ]
        );
        assert_eq!(index.expand("stats*.api.*", true).unwrap().len(), 2);
        let (empty, r) = scan(&dir.path().join("absent"));
        assert!(empty.is_empty() && r.series == 0 && r.skipped == 0);
    }
}
