//! A shard's whisper writer: points from the write-back cache into whisper files, through
//! io_uring (glommio's `BufferedFile`).
//!
//! The write itself is whisper 1.1.10's `update_many`, run by the pure functions of
//! [`crate::storage::whisper`] over an in-memory [`PagedImage`] of the file: the pages the
//! algorithm reads are fetched with io_uring reads, then the algorithm runs again; a run
//! that read only known bytes is final. The file's bytes end up exactly as whisper's own
//! `update_many` leaves them (tested against it).
//!
//! # Parts
//!
//! - this file: [`Writer`] and its rounds (open, plan, write, settle), [`WriterStats`];
//! - `writer/error.rs`: [`WriteError`] and the classes it is counted and logged under;
//! - `writer/create_limit.rs`: carbon's `MAX_CREATES_PER_MINUTE` as a token bucket;
//! - `writer/open_files.rs`: the files kept open with their header and pages, least
//!   recently used out, revalidated by path; the open-file limit ([`open_files_limit`]);
//! - `writer/paged.rs`: the paged image an update runs over, and the merging of its writes;
//! - `writer/create.rs`: opening a series' file, creating a missing one atomically
//!   ([`open_or_create`]).
//!
//! # What the writer owns
//!
//! - The files kept open between rounds (at most `storage.open_files`), each with its
//!   header and the pages read from it (at most `storage.page_cache_bytes` of pages per
//!   shard); nothing else keeps whisper files open on the shard.
//! - The create-rate bucket (`storage.max_creates_per_minute`) and the storage rules new
//!   files are created with (replaced on a reload; existing files keep their schema).
//! - Its counters ([`WriterStats`]); the drain task publishes them.
//!
//! # Invariants
//!
//! - A file's bytes are exactly what whisper's `update_many` would leave with the same
//!   points and `now`.
//! - The cached pages of an open file equal the file as long as nobody else writes it:
//!   they are updated with every write the writer makes. Every `revalidate` interval
//!   ([`REVALIDATE`], 10 s) a file in use is looked up again by path: a file replaced
//!   (another inode) is reopened, and the header and pages are read again, so edits by
//!   other tools are seen within that time.
//! - A new file appears whole or not at all (a temporary file renamed into place), and a
//!   file that appeared meanwhile is never replaced.
//! - One result per series, in order. Errors are returned per series; the caller puts the
//!   points back into the cache; see [`WriteError::cause`] for the classes counted and
//!   logged. A file that failed is closed and forgotten (its header and pages are read
//!   again next time). A series whose file must wait for the create limit fails with
//!   [`WriteError::CreateDeferred`], which is not counted as an error.
//! - Between rounds at most `max_open` files are open; the caller writes at most that many
//!   series per round, so the bound holds during a round too.
//!
//! # How the io_uring round trips are kept few
//!
//! - [`Writer::write_many`] writes many series at once. Each step (open, fetch the missing
//!   pages, write) is issued for every series of the round together and awaited once
//!   (`futures_util`'s `join_all`, which polls every future of the step before the shard's
//!   executor submits their I/O), so a round of 256 series costs a handful of io_uring
//!   submissions, not thousands.
//! - Files stay open, with their header and pages, as above.
//! - Bytes the update itself wrote are known: a later read of them (propagation reads the
//!   points it just wrote) needs no fetch.
//! - The writes of one update are merged (later writes win where they overlap) into one
//!   write per contiguous run of bytes, issued together.
//! - Files are opened off the shard (glommio's blocking pool; an io_uring open would run
//!   on an io_uring worker thread anyway), and a missing one is created in the same trip.
//!
//! # What it counts
//!
//! [`WriterStats`], in carbon's terms: points committed, update operations (series
//! written) and the time they took, files created, and errors (every failed series but
//! those deferred by the create limit).

mod create;
mod create_limit;
mod error;
mod open_files;
mod paged;

use std::io;
use std::os::fd::{FromRawFd as _, IntoRawFd as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use glommio::io::BufferedFile;
use hashbrown::HashSet;

use crate::storage::cache::Batch;
use crate::storage::layout::relative_path;
use crate::storage::rules::StorageRules;
use crate::storage::whisper::{file::Preallocate, read_header, update_many_with_header, Header};

pub use create::{
    create_atomically, open_or_create, temp_name, temp_owner, CreateOptions, Created, NewFileOpen,
    Opened, MAX_TEMP_NAME,
};
pub use error::{Disposition, WriteError};
pub use open_files::{open_files_limit, DEFAULT_PAGE_CACHE_BYTES, REVALIDATE};
pub use paged::PagedImage;

use create_limit::CreateLimit;
use open_files::{OpenFile, OpenFiles};
use paged::{bridge, coalesce, page_len, PAGE};

/// Counters in carbon's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub committed_points: u64,
    pub update_operations: u64,
    pub creates: u64,
    pub errors: u64,
    /// Microseconds spent in successful updates (carbon's `avgUpdateTime` numerator).
    pub update_micros: u64,
}

/// A whisper update never needs more rounds than this (each round resolves at least one
/// dependent read; whisper reads at most base + neighbours per archive).
const MAX_ROUNDS: usize = 32;

/// Where damaged files go, beside the whisper directory (see [`Writer::quarantine`]).
pub const QUARANTINE_DIR: &str = "quarantine";

/// Writes batches of one shard's series.
pub struct Writer {
    whisper_dir: PathBuf,
    /// Shared with the blocking pool, which picks a new file's schema only when the file
    /// turns out to be missing.
    rules: Arc<StorageRules>,
    create_limit: Option<CreateLimit>,
    create: CreateOptions,
    open: OpenFiles,
    max_open: usize,
    page_budget: usize,
    revalidate: Duration,
    pub stats: WriterStats,
}

/// One series of a round and how far it got.
struct Job<'a> {
    batch: &'a Batch,
    path: PathBuf,
    result: Option<Result<usize, WriteError>>,
    /// The merged writes of its update, once planned.
    writes: Vec<(u64, Vec<u8>)>,
}

impl Job<'_> {
    fn pending(&self) -> bool {
        self.result.is_none()
    }

    fn fail(&mut self, e: WriteError) {
        self.result = Some(Err(e));
    }

    fn io_error(&mut self, source: io::Error) {
        let path = self.path.clone();
        self.fail(WriteError::Io { path, source });
    }
}

impl Writer {
    /// A writer for files under `whisper_dir` (`<data-dir>/whisper`), creating new ones
    /// with `rules`.
    pub fn new(whisper_dir: PathBuf, rules: StorageRules) -> Self {
        Self {
            whisper_dir,
            rules: Arc::new(rules),
            create_limit: None,
            create: Preallocate::Fallocate.into(),
            open: OpenFiles::default(),
            max_open: 256,
            page_budget: DEFAULT_PAGE_CACHE_BYTES,
            revalidate: REVALIDATE,
            stats: WriterStats::default(),
        }
    }

    /// Create at most `per_minute` new files per minute (0 = no limit); points of series
    /// whose file must wait stay in the cache ([`WriteError::CreateDeferred`]).
    #[must_use]
    pub fn with_create_limit(mut self, per_minute: u32) -> Self {
        self.create_limit = (per_minute > 0).then(|| CreateLimit::new(per_minute));
        self
    }

    /// Whether a new file is synced to disk before it takes its name (default: yes).
    #[must_use]
    pub fn with_sync_creates(mut self, sync: bool) -> Self {
        self.create.sync = sync;
        self
    }

    /// How new files reserve their data region (default: `fallocate`, carbon's default
    /// on Linux; the bytes read back are zeros either way).
    #[must_use]
    pub fn with_preallocate(mut self, p: Preallocate) -> Self {
        self.create.preallocate = p;
        self
    }

    /// Keep at most `max_open` files open between rounds (at least 1), holding at most
    /// `page_budget` bytes of their pages.
    #[must_use]
    pub fn with_open_files(mut self, max_open: usize, page_budget: usize) -> Self {
        self.max_open = max_open.max(1);
        self.page_budget = page_budget;
        self
    }

    /// Look a file kept open up again by path after `every` (default [`REVALIDATE`]).
    #[must_use]
    pub fn with_revalidate(mut self, every: Duration) -> Self {
        self.revalidate = every;
        self
    }

    /// Remove the create-rate limit (at shutdown: every point must reach its file).
    pub fn lift_create_limit(&mut self) {
        self.create_limit = None;
    }

    /// Replace the storage rules (a reload); they apply to files created from now on.
    pub fn set_rules(&mut self, rules: StorageRules) {
        self.rules = Arc::new(rules);
    }

    /// Close every file kept open (at shutdown).
    pub async fn close_all(&mut self) {
        let closing = self.open.evict(0, 0);
        join_all(closing.into_iter().map(BufferedFile::close)).await;
    }

    /// The most files kept open (a round writes at most this many series, so the bound
    /// holds during a round too).
    /// Move a damaged file aside, to `<data-dir>/quarantine/<its path under whisper/>.<unix
    /// seconds>`, so the next write of the series creates a new one. The file is no
    /// longer open here (a failed series' file is closed and forgotten). Returns where it
    /// went.
    pub fn quarantine(&self, path: &Path) -> io::Result<PathBuf> {
        let rel = path.strip_prefix(&self.whisper_dir).map_err(|_| {
            io::Error::other(format!(
                "{} is not under the whisper directory",
                path.display()
            ))
        })?;
        let dir = self.whisper_dir.parent().unwrap_or(&self.whisper_dir);
        let mut to = dir.join(QUARANTINE_DIR).join(rel).into_os_string();
        to.push(format!(".{}", crate::clock::now().as_secs()));
        let to = PathBuf::from(to);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(path, &to)?;
        Ok(to)
    }

    /// Whether the whisper directory is a directory (or absent, to be made): when it is
    /// not, a path error (`ENOTDIR`) is everyone's, the operator's to mend, and the
    /// points are kept rather than dropped as one series' hopeless name.
    pub fn root_is_usable(&self) -> bool {
        std::fs::metadata(&self.whisper_dir).map_or(true, |m| m.is_dir())
    }

    pub fn max_open(&self) -> usize {
        self.max_open
    }

    /// Files open now.
    pub fn open_files(&self) -> usize {
        self.open.map.len()
    }

    /// Bytes of pages held for the open files.
    pub fn cached_page_bytes(&self) -> usize {
        self.open.page_bytes()
    }

    /// Write one series' points (sorted, one per timestamp) as whisper's `update_many`
    /// would with this `now`. Returns the points written.
    pub async fn write(&mut self, batch: &Batch, now: i64) -> Result<usize, WriteError> {
        let mut r = self.write_many(std::slice::from_ref(batch), now).await;
        r.pop().unwrap_or_else(|| {
            Err(WriteError::Io {
                path: PathBuf::new(),
                source: io::Error::other("no result for the series"),
            })
        })
    }

    /// Write many series (see [`write`](Self::write)) with their I/O issued together;
    /// one result per batch, in order. A name given twice is written in two steps.
    pub async fn write_many(
        &mut self,
        batches: &[Batch],
        now: i64,
    ) -> Vec<Result<usize, WriteError>> {
        // Split into groups of distinct names (in practice there is one group).
        let mut groups: Vec<(HashSet<&[u8]>, Vec<usize>)> = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            match groups.iter_mut().find(|g| !g.0.contains(&*b.name)) {
                Some(g) => {
                    g.0.insert(&b.name);
                    g.1.push(i);
                }
                None => groups.push((HashSet::from_iter([&*b.name]), vec![i])),
            }
        }
        let mut out: Vec<Option<Result<usize, WriteError>>> =
            batches.iter().map(|_| None).collect();
        for (_, idx) in groups {
            let group: Vec<&Batch> = idx.iter().map(|&i| &batches[i]).collect();
            for (i, r) in idx.into_iter().zip(self.round(&group, now).await) {
                out[i] = Some(r);
            }
        }
        out.into_iter().flatten().collect()
    }

    fn job<'a>(&self, batch: &'a Batch) -> Job<'a> {
        let mut job = Job {
            batch,
            path: PathBuf::new(),
            result: None,
            writes: Vec::new(),
        };
        match std::str::from_utf8(&batch.name) {
            Err(_) => job.fail(WriteError::Name),
            Ok(name) => match relative_path(name) {
                Ok(rel) => job.path = self.whisper_dir.join(rel),
                Err(e) => job.fail(e.into()),
            },
        }
        job
    }

    /// One round over series with distinct names.
    async fn round(&mut self, batches: &[&Batch], now: i64) -> Vec<Result<usize, WriteError>> {
        let started = Instant::now();
        let mut jobs: Vec<Job<'_>> = batches.iter().map(|b| self.job(b)).collect();
        let mut closing = self.revalidate_open(&jobs);
        self.open_missing(&mut jobs).await;
        for job in jobs.iter().filter(|j| j.pending()) {
            self.open.touch(&job.batch.name);
        }
        self.plan(&mut jobs, now).await;
        self.write_planned(&mut jobs).await;

        let mut results = Vec::with_capacity(jobs.len());
        let mut ok = 0u64;
        for job in jobs {
            let name = &job.batch.name;
            match job.result {
                Some(Ok(n)) => {
                    ok += 1;
                    self.stats.committed_points += n as u64;
                    results.push(Ok(n));
                }
                Some(Err(e)) => {
                    if !matches!(e, WriteError::CreateDeferred) {
                        self.stats.errors += 1;
                        // The file may have changed or vanished: open and read it again.
                        closing.extend(self.open.remove(name));
                    }
                    results.push(Err(e));
                }
                None => results.push(Err(WriteError::Io {
                    path: job.path,
                    source: io::Error::other("whisper update did not finish"),
                })),
            }
        }
        self.stats.update_operations += ok;
        if ok > 0 {
            self.stats.update_micros += started.elapsed().as_micros() as u64;
        }
        closing.extend(self.open.evict(self.max_open, self.page_budget));
        join_all(closing.into_iter().map(BufferedFile::close)).await;
        results
    }

    /// Files of this round kept open past the revalidation interval: reopen a replaced
    /// file, read the others' header and pages again. Returns the files to close.
    fn revalidate_open(&mut self, jobs: &[Job<'_>]) -> Vec<BufferedFile> {
        let now = Instant::now();
        let mut closing = Vec::new();
        for job in jobs.iter().filter(|j| j.pending()) {
            let replaced = self
                .open
                .revalidate(&job.batch.name, &job.path, self.revalidate, now);
            closing.extend(replaced);
        }
        closing
    }

    /// Open (creating when needed) the files of the round that are not open yet. Without a
    /// create limit, a missing file is created in the same trip to the blocking pool;
    /// with one, the files found missing are created as far as the limit allows.
    async fn open_missing(&mut self, jobs: &mut [Job<'_>]) {
        let need: Vec<usize> = (0..jobs.len())
            .filter(|&i| jobs[i].pending() && !self.open.map.contains_key(&jobs[i].batch.name))
            .collect();
        let missing = self
            .open_on_pool(jobs, &need, self.create_limit.is_none())
            .await;
        let mut allowed = Vec::new();
        for i in missing {
            if let Some(limit) = &mut self.create_limit {
                if !limit.take() {
                    jobs[i].fail(WriteError::CreateDeferred);
                    continue;
                }
            }
            allowed.push(i);
        }
        self.open_on_pool(jobs, &allowed, true).await;
    }

    /// Open the files of the jobs `which` on the blocking pool, together, creating the
    /// missing ones when `create`; returns the jobs whose file is missing (not created).
    async fn open_on_pool(
        &mut self,
        jobs: &mut [Job<'_>],
        which: &[usize],
        create: bool,
    ) -> Vec<usize> {
        let opening = which.iter().map(|&i| {
            let name = String::from_utf8_lossy(&jobs[i].batch.name).into_owned();
            let path = jobs[i].path.clone();
            let rules = create.then(|| self.rules.clone());
            let options = self.create;
            glommio::executor().spawn_blocking(move || {
                let new = rules.map(|r| r.for_metric(&name));
                open_or_create(&path, new.as_ref().map(|n| (n, options)))
            })
        });
        let opened = join_all(opening).await;
        let mut missing = Vec::new();
        for (&i, r) in which.iter().zip(opened) {
            let (file, id, len, header) = match r {
                Ok(Opened::Existing { file, id, len }) => (file, id, len, None),
                Ok(Opened::New(NewFileOpen {
                    file,
                    header,
                    id,
                    len,
                })) => {
                    self.stats.creates += 1;
                    (file, id, len, Some(header))
                }
                Ok(Opened::Missing) => {
                    missing.push(i);
                    continue;
                }
                Err(e) => {
                    jobs[i].fail(e);
                    continue;
                }
            };
            // SAFETY: `into_raw_fd` hands over the only owner of an open descriptor of a
            // regular file; the BufferedFile owns and closes it.
            let file = unsafe { BufferedFile::from_raw_fd(file.into_raw_fd()) };
            self.keep_known(&jobs[i], file, id, len, header);
        }
        missing
    }

    /// Add an open file whose identity (and, for a file just created, header) is known.
    fn keep_known(
        &mut self,
        job: &Job<'_>,
        file: BufferedFile,
        id: (u64, u64),
        len: u64,
        header: Option<Header>,
    ) {
        let f = OpenFile::new(file, id, len, header);
        if let Some(old) = self.open.insert(&job.batch.name, f) {
            drop(old);
        }
    }

    /// Run each pending update over its paged image, fetching the pages it misses (for
    /// all series at once) until every update read only known bytes.
    async fn plan(&mut self, jobs: &mut [Job<'_>], now: i64) {
        for _ in 0..MAX_ROUNDS {
            let mut misses: Vec<(usize, u64)> = Vec::new();
            for (i, job) in jobs.iter_mut().enumerate().filter(|(_, j)| j.pending()) {
                if !job.writes.is_empty() {
                    continue;
                }
                let Some(f) = self.open.map.get_mut(&job.batch.name) else {
                    job.io_error(io::Error::other("whisper file not open"));
                    continue;
                };
                let mut img = PagedImage::new(&f.pages, f.len, f.zero_absent);
                let header = match &f.header {
                    Some(h) => Ok(h.clone()),
                    None => read_header(&mut img),
                };
                let out = header.and_then(|h| {
                    update_many_with_header(&mut img, &h, &job.batch.points, now).map(|()| h)
                });
                if img.missing().is_empty() {
                    let writes = img.take_writes();
                    match out {
                        Ok(h) => {
                            f.header.get_or_insert(h);
                            job.writes = bridge(coalesce(&writes), |o, n| img.known_bytes(o, n));
                            if job.writes.is_empty() {
                                job.result = Some(Ok(job.batch.points.len()));
                            }
                        }
                        Err(source) => {
                            let path = job.path.clone();
                            job.fail(WriteError::Whisper { path, source });
                        }
                    }
                } else {
                    misses.extend(img.missing().iter().map(|&p| (i, p)));
                }
            }
            if misses.is_empty() {
                return;
            }
            let reads = misses.iter().map(|&(i, p)| {
                let f = &self.open.map[&jobs[i].batch.name];
                let size = page_len(f.len, p);
                f.file.read_at(p * PAGE, size)
            });
            let pages = join_all(reads).await;
            for (&(i, p), r) in misses.iter().zip(pages) {
                match r {
                    Ok(bytes) => self.open.add_page(&jobs[i].batch.name, p, bytes.to_vec()),
                    Err(e) => {
                        if jobs[i].pending() {
                            jobs[i].io_error(e.into());
                        }
                    }
                }
            }
        }
        for job in jobs
            .iter_mut()
            .filter(|j| j.pending() && j.writes.is_empty())
        {
            job.io_error(io::Error::other(
                "whisper update did not settle on its reads",
            ));
        }
    }

    /// Issue the planned writes of every series together; the cached pages take the
    /// written bytes.
    async fn write_planned(&mut self, jobs: &mut [Job<'_>]) {
        let mut ops = Vec::new();
        for (i, job) in jobs.iter_mut().enumerate() {
            if !job.pending() || job.writes.is_empty() {
                continue;
            }
            for (offset, bytes) in &job.writes {
                self.open.patch(&job.batch.name, *offset, bytes);
            }
            for (offset, bytes) in std::mem::take(&mut job.writes) {
                ops.push((i, offset, bytes));
            }
        }
        let writes = ops.into_iter().map(|(i, offset, bytes)| {
            let n = bytes.len();
            let file = self.open.map.get(&jobs[i].batch.name).map(|f| &f.file);
            async move {
                let written = match file {
                    Some(f) => f.write_at(bytes, offset).await.map_err(os_error),
                    None => Err(io::Error::other("whisper file not open")),
                };
                let r = match written {
                    Ok(w) if w == n => Ok(()),
                    Ok(_) => Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "short write to the whisper file",
                    )),
                    Err(e) => Err(e),
                };
                (i, r)
            }
        });
        let done = join_all(writes).await;
        for (i, r) in done {
            if let Err(e) = r {
                if jobs[i].pending() {
                    jobs[i].io_error(e);
                }
            }
        }
        for job in jobs.iter_mut().filter(|j| j.pending()) {
            job.result = Some(Ok(job.batch.points.len()));
        }
    }
}

/// The OS error under a glommio error. glommio's own conversion to `io::Error` keeps the
/// kind but not the errno (`EPERM` became "other"), and the errno is what
/// [`WriteError::cause`] settles a failed write by: retried, or dropped.
fn os_error(e: glommio::GlommioError<()>) -> io::Error {
    match e {
        glommio::GlommioError::EnhancedIoError { source, .. }
        | glommio::GlommioError::IoError(source) => source,
        other => io::Error::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::path::Path;

    use crate::storage::whisper::{create_image, file, update_many};
    use proptest::prelude::*;

    const SCHEMAS: &str = "[t]\npattern = .*\nretentions = 10s:1h,1m:6h,10m:2d\n";
    const AGGREGATION: &str = "[t]\npattern = .*\nxFilesFactor = 0.3\naggregationMethod = sum\n";

    pub(super) fn rules() -> StorageRules {
        StorageRules::parse(Path::new("s"), SCHEMAS, Path::new("a"), AGGREGATION).unwrap()
    }

    /// Writes `rounds` of points with the io_uring writer and with whisper's own
    /// `update_many` on a copy; returns both files' bytes.
    fn both(rounds: &[Vec<(i64, f64)>], now: i64) -> (Vec<u8>, Vec<u8>, WriterStats) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("whisper");
        let (ours, stats) = {
            let root = root.clone();
            let rounds = rounds.to_vec();
            glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .io_memory(1 << 20)
                .spawn(move || async move {
                    let mut w = Writer::new(root.clone(), rules());
                    for points in rounds {
                        let batch = Batch {
                            name: b"svc.web1.latency".to_vec().into(),
                            points,
                        };
                        w.write(&batch, now).await.unwrap();
                    }
                    (
                        std::fs::read(root.join("svc/web1/latency.wsp")).unwrap(),
                        w.stats,
                    )
                })
                .unwrap()
                .join()
                .unwrap()
        };
        let new = rules().for_metric("svc.web1.latency");
        let mut reference = create_image(&new.archives, new.x_files_factor, new.method).unwrap();
        for points in rounds {
            update_many(&mut reference, points, now).unwrap();
        }
        (ours, reference, stats)
    }

    /// A write refused by the file (EPERM from glommio's enhanced error) is counted and
    /// settled as `eacces` and retried; an EINVAL is dropped, not retried forever.
    #[test]
    fn glommio_write_errors_keep_their_errno() {
        let enhanced = |errno| glommio::GlommioError::<()>::EnhancedIoError {
            source: io::Error::from_raw_os_error(errno),
            op: "Writing",
            path: None,
            fd: Some(43),
        };
        let class = |errno| {
            let e = WriteError::Io {
                path: PathBuf::from("a.wsp"),
                source: os_error(enhanced(errno)),
            };
            (e.cause(), e.disposition())
        };
        assert_eq!(class(libc::EPERM), ("eacces", Disposition::Retry));
        assert_eq!(class(libc::ENOSPC), ("enospc", Disposition::Retry));
        assert_eq!(class(libc::EINVAL), ("einval", Disposition::Drop));
        // What glommio's own conversion gives, for the record: the errno is gone.
        let plain = io::Error::from(enhanced(libc::EPERM));
        assert_eq!(plain.raw_os_error(), None);
    }

    #[test]
    fn same_bytes_as_whisper_update_many() {
        let now = 1_700_000_000;
        let rounds = vec![
            (0..30)
                .map(|i| (now - 300 + i * 10, f64::from(i as i32)))
                .collect(),
            vec![(now - 5000, 7.0), (now - 20, 1.5), (now - 30_000, 2.0)],
            (0..400)
                .map(|i| (now - 3599 + i * 9, 0.25 * i as f64))
                .collect(),
        ];
        let (ours, reference, stats) = both(&rounds, now);
        assert_eq!(ours.len(), reference.len());
        assert!(
            ours == reference,
            "file bytes differ from whisper's update_many"
        );
        assert_eq!(stats.creates, 1);
        assert_eq!(stats.update_operations, 3);
        assert_eq!(stats.errors, 0);
    }

    #[test]
    fn a_write_error_is_classified_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be: the create fails.
        std::fs::write(dir.path().join("whisper"), b"not a directory").unwrap();
        let root = dir.path().join("whisper");
        let (cause, stats) = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(1 << 20)
            .spawn(move || async move {
                let mut w = Writer::new(root, rules());
                let batch = Batch {
                    name: b"a.b".to_vec().into(),
                    points: vec![(1_700_000_000, 1.0)],
                };
                let e = w.write(&batch, 1_700_000_000).await.unwrap_err();
                (e.cause(), w.stats)
            })
            .unwrap()
            .join()
            .unwrap();
        // ENOTDIR: the drain keeps such points while the whisper directory itself is not
        // a directory (see Writer::root_is_usable), and drops them otherwise.
        assert_eq!(cause, "enotdir");
        assert_eq!(stats.errors, 1);
        assert_eq!(
            WriteError::from(relative_path("..").unwrap_err()).cause(),
            "name"
        );
    }

    type Points = Vec<(i64, f64)>;

    /// Runs `f` with a writer on a glommio executor of its own.
    fn on_glommio<T: Send + 'static>(
        f: impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = T>>> + Send + 'static,
    ) -> T {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(1 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    fn series(i: usize) -> String {
        format!("app.s{}.m{i}", i % 3)
    }

    fn file_of(root: &Path, name: &str) -> PathBuf {
        root.join(relative_path(name).unwrap())
    }

    /// Reference bytes: whisper's `update_many` on a fresh image, round after round.
    fn reference(rounds: &[&[(i64, f64)]], now: i64) -> Vec<u8> {
        let new = rules().for_metric("x");
        let mut image = create_image(&new.archives, new.x_files_factor, new.method).unwrap();
        for points in rounds {
            update_many(&mut image, points, now).unwrap();
        }
        image
    }

    /// Points for series `i` in round `r`: spread over the first two archives, sorted.
    fn points_for(i: usize, r: usize, now: i64) -> Vec<(i64, f64)> {
        let n = 5 + (i * 7 + r * 3) % 40;
        let mut pts: Vec<(i64, f64)> = (0..n)
            .map(|k| {
                let age = ((k * 97 + i * 13 + r * 31) % 3000) as i64 * 7;
                (now - age, (i * 1000 + r * 100 + k) as f64)
            })
            .collect();
        pts.sort_by_key(|p| p.0);
        pts.dedup_by_key(|p| p.0);
        pts
    }

    #[test]
    fn many_files_through_a_small_open_set_match_whisper() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("whisper");
        let now = 1_700_000_000;
        let (names, rounds) = (12, 5);
        let r2 = root.clone();
        let (stats, max_seen) = on_glommio(move || {
            Box::pin(async move {
                // 3 files open at most, and pages for about two of them.
                let mut w = Writer::new(r2, rules()).with_open_files(3, 2 * 4096);
                let mut max_seen = 0;
                for r in 0..rounds {
                    // Each round writes a different subset, in a different order.
                    let batches: Vec<Batch> = (0..names)
                        .filter(|i| (i + r) % 4 != 0)
                        .rev()
                        .map(|i| Batch {
                            name: series(i).into_bytes().into(),
                            points: points_for(i, r, now),
                        })
                        .collect();
                    for res in w.write_many(&batches, now).await {
                        res.unwrap();
                    }
                    max_seen = max_seen.max(w.open_files());
                    assert!(w.cached_page_bytes() <= 2 * 4096);
                }
                (w.stats, max_seen)
            })
        });
        assert!(max_seen <= 3, "{max_seen} files left open");
        assert_eq!(stats.creates, names as u64);
        assert_eq!(stats.errors, 0);
        for i in 0..names {
            let mine: Vec<Vec<(i64, f64)>> = (0..rounds)
                .filter(|r| (i + r) % 4 != 0)
                .map(|r| points_for(i, r, now))
                .collect();
            let mine: Vec<&[(i64, f64)]> = mine.iter().map(Vec::as_slice).collect();
            let ours = std::fs::read(file_of(&root, &series(i))).unwrap();
            assert!(
                ours == reference(&mine, now),
                "series {i} differs from whisper"
            );
        }
    }

    /// A round of more series than `join_all` awaits without its `FuturesOrdered` (30):
    /// every step's I/O (opens on the blocking pool, page reads, writes, closes) still
    /// completes under glommio, each result in its series' place.
    #[test]
    fn a_round_of_a_hundred_series_matches_whisper() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("whisper");
        let now = 1_700_000_000;
        let (names, rounds) = (100, 3);
        let r2 = root.clone();
        let stats = on_glommio(move || {
            Box::pin(async move {
                // One file kept open: every round reopens and reads the others again.
                let mut w = Writer::new(r2, rules()).with_open_files(1, 1 << 20);
                for r in 0..rounds {
                    let batches: Vec<Batch> = (0..names)
                        .map(|i| Batch {
                            name: format!("wide.m{i}").into_bytes().into(),
                            points: points_for(i, r, now),
                        })
                        .collect();
                    let results = w.write_many(&batches, now).await;
                    for (b, res) in batches.iter().zip(results) {
                        assert_eq!(res.unwrap(), b.points.len());
                    }
                    assert!(w.open_files() <= 1);
                }
                w.stats
            })
        });
        assert_eq!(stats.creates, names as u64);
        assert_eq!(stats.update_operations, (names * rounds) as u64);
        for i in 0..names {
            let mine: Vec<Vec<(i64, f64)>> = (0..rounds).map(|r| points_for(i, r, now)).collect();
            let mine: Vec<&[(i64, f64)]> = mine.iter().map(Vec::as_slice).collect();
            let ours = std::fs::read(file_of(&root, &format!("wide.m{i}"))).unwrap();
            assert!(
                ours == reference(&mine, now),
                "series {i} differs from whisper"
            );
        }
    }

    #[test]
    fn cached_pages_follow_own_writes_and_outside_edits_after_revalidation() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("whisper");
        let now = 1_700_000_000;
        let name = "svc.edited";
        let path = file_of(&root, name);
        let (r2, p2) = (root.clone(), path.clone());
        let (ours, replaced) = on_glommio(move || {
            Box::pin(async move {
                let mut w = Writer::new(r2, rules()).with_revalidate(Duration::ZERO);
                let batch = |r| Batch {
                    name: name.as_bytes().into(),
                    points: points_for(1, r, now),
                };
                w.write(&batch(0), now).await.unwrap();
                w.write(&batch(1), now).await.unwrap();
                // Another tool edits the file in place while it is open here.
                file::update_many(&p2, &points_for(2, 2, now), now).unwrap();
                w.write(&batch(3), now).await.unwrap();
                let ours = std::fs::read(&p2).unwrap();
                // Another tool replaces the file: the writer must write the new one.
                std::fs::remove_file(&p2).unwrap();
                w.write(&batch(4), now).await.unwrap();
                (ours, std::fs::read(&p2).unwrap())
            })
        });
        let steps = [
            points_for(1, 0, now),
            points_for(1, 1, now),
            points_for(2, 2, now),
            points_for(1, 3, now),
        ];
        let steps: Vec<&[(i64, f64)]> = steps.iter().map(Vec::as_slice).collect();
        assert!(ours == reference(&steps, now), "in-place edit not seen");
        assert!(
            replaced == reference(&[&points_for(1, 4, now)], now),
            "replaced file not reopened"
        );
    }

    #[test]
    fn the_least_recently_written_file_is_closed_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("whisper");
        let now = 1_700_000_000;
        let open = on_glommio(move || {
            Box::pin(async move {
                let mut w = Writer::new(root, rules()).with_open_files(2, 1 << 20);
                for name in ["lru.a", "lru.b", "lru.a", "lru.c"] {
                    let batch = Batch {
                        name: name.as_bytes().into(),
                        points: vec![(now - 60, 1.0)],
                    };
                    w.write(&batch, now).await.unwrap();
                }
                let mut open: Vec<String> = w
                    .open
                    .map
                    .keys()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect();
                open.sort();
                open
            })
        });
        // "b" was used less recently than "a" when "c" came.
        assert_eq!(open, ["lru.a", "lru.c"]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_rounds_match_whisper(
            rounds in proptest::collection::vec(
                proptest::collection::vec((0i64..200_000, -1e6f64..1e6), 0..60), 1..4)
        ) {
            let now = 1_700_000_000;
            let rounds: Vec<Vec<(i64, f64)>> = rounds
                .into_iter()
                .map(|r| {
                    let mut pts: Vec<(i64, f64)> = r.into_iter().map(|(age, v)| (now - age, v)).collect();
                    pts.sort_by_key(|p| p.0);
                    pts.dedup_by_key(|p| p.0);
                    pts
                })
                .collect();
            let (ours, reference, _) = both(&rounds, now);
            prop_assert!(ours == reference);
        }

        /// Several series per round, some files evicted between rounds, against whisper.
        #[test]
        fn random_rounds_of_many_series_match_whisper(
            rounds in proptest::collection::vec(
                proptest::collection::vec(
                    (0usize..5, proptest::collection::vec((0i64..200_000, -1e6f64..1e6), 1..40)),
                    1..6),
                1..4),
            max_open in 1usize..4,
        ) {
            let now = 1_700_000_000;
            let rounds: Vec<Vec<(usize, Points)>> = rounds
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(|(s, pts)| {
                            let mut pts: Vec<(i64, f64)> =
                                pts.into_iter().map(|(age, v)| (now - age, v)).collect();
                            pts.sort_by_key(|p| p.0);
                            pts.dedup_by_key(|p| p.0);
                            (s, pts)
                        })
                        .collect()
                })
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("whisper");
            let (r2, rounds2) = (root.clone(), rounds.clone());
            on_glommio(move || {
                Box::pin(async move {
                    let mut w = Writer::new(r2, rules()).with_open_files(max_open, 1 << 20);
                    for r in rounds2 {
                        let batches: Vec<Batch> = r
                            .into_iter()
                            .map(|(s, points)| Batch { name: series(s).into_bytes().into(), points })
                            .collect();
                        for res in w.write_many(&batches, now).await {
                            res.unwrap();
                        }
                    }
                })
            });
            for s in 0..5 {
                let mine: Vec<&[(i64, f64)]> = rounds
                    .iter()
                    .flat_map(|r| r.iter().filter(|(x, _)| *x == s).map(|(_, p)| p.as_slice()))
                    .collect();
                let path = file_of(&root, &series(s));
                if mine.is_empty() {
                    prop_assert!(!path.exists());
                } else {
                    prop_assert!(std::fs::read(&path).unwrap() == reference(&mine, now), "series {}", s);
                }
            }
        }
    }
}
