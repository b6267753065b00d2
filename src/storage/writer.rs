//! A shard's whisper writer: points from the write-back cache into whisper files, through
//! io_uring (glommio's `BufferedFile`).
//!
//! The write itself is whisper 1.1.10's `update_many`, run by the pure functions of
//! [`crate::storage::whisper`] over an in-memory [`PagedImage`] of the file: the pages the
//! algorithm reads are fetched with io_uring reads, then the algorithm runs again; a run
//! that read only known bytes is final. The file's bytes end up exactly as whisper's own
//! `update_many` leaves them (tested against it).
//!
//! How the io_uring round trips are kept few:
//! - [`Writer::write_many`] writes many series at once. Each step (open, fetch the missing
//!   pages, write) is issued for every series of the round together and awaited once, so
//!   a round of 256 series costs a handful of io_uring submissions, not thousands.
//! - Files stay open in a least-recently-used set (`storage.open_files`), each with its
//!   header and the pages read from it (within `storage.page_cache_bytes` per shard). The
//!   cached pages are updated with every write the writer makes, so they always equal the
//!   file as long as nobody else writes it. Every `revalidate` interval (10 s) a file in
//!   use is looked up again by path: a file replaced (another inode) is reopened, and the
//!   header and pages are read again, so edits by other tools are seen within that time.
//! - Bytes the update itself wrote are known: a later read of them (propagation reads the
//!   points it just wrote) needs no fetch.
//! - The writes of one update are merged (later writes win where they overlap) into one
//!   write per contiguous run of bytes, issued together.
//!
//! Files are opened off the shard (glommio's blocking pool; an io_uring open would run
//! on an io_uring worker thread anyway), and a missing one is created in the same trip,
//! atomically: the whole image is written to a temporary file in the same directory, then
//! renamed, so a crash or a full disk never leaves a truncated `.wsp`. The temporary name
//! is short and fixed in form ([`temp_name`]), so every file name the file system takes
//! can be created.
//!
//! Errors are returned per series; the caller puts the points back into the cache; see
//! [`WriteError::cause`] for the classes counted and logged. A file that failed is closed
//! and forgotten (its header and pages are read again next time).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::os::fd::{FromRawFd as _, IntoRawFd as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use glommio::io::BufferedFile;
use hashbrown::{HashMap, HashSet};

use crate::storage::cache::Batch;
use crate::storage::layout::{relative_path, LayoutError};
use crate::storage::rules::{NewFile, StorageRules};
use crate::storage::whisper::{
    file, file::Preallocate, read_header, update_many_with_header, Header, ReadAt, WhisperError,
    WriteAt,
};

/// Why a series could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("metric name is not valid UTF-8")]
    Name,
    #[error("{path}: {source}")]
    Whisper { path: PathBuf, source: WhisperError },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Not an error: the file does not exist yet and the create-rate limit is reached;
    /// the points wait in the cache.
    #[error("create-rate limit reached")]
    CreateDeferred,
}

impl WriteError {
    /// A short class for counting and rate-limited logging: `enospc`, `eacces`, `eio`,
    /// `corrupt`, `name`, `other`. `name` covers a name the file system refuses as too
    /// long (an element over 255 bytes, or a path over 4096): carbon cannot store it
    /// either, and no retry helps.
    pub fn cause(&self) -> &'static str {
        let os = |e: &io::Error| match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => "enospc",
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => "eacces",
            Some(libc::EIO) => "eio",
            Some(libc::ENAMETOOLONG) => "name",
            _ => "other",
        };
        match self {
            WriteError::Layout(_) | WriteError::Name => "name",
            WriteError::CreateDeferred => "deferred",
            WriteError::Io { source, .. } => os(source),
            WriteError::Whisper { source, .. } => match source {
                WhisperError::Io { source, .. } => os(source),
                _ => "corrupt",
            },
        }
    }

    /// True when retrying later can succeed (the disk, not the data, is the problem).
    pub fn is_retryable(&self) -> bool {
        self.cause() != "name"
    }
}

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

/// carbon's `MAX_CREATES_PER_MINUTE` as a token bucket (a burst of one minute's worth).
#[derive(Debug)]
struct CreateLimit {
    per_minute: f64,
    tokens: f64,
    last: Instant,
}

impl CreateLimit {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() / 60.0 * self.per_minute;
        self.tokens = (self.tokens + refill).min(self.per_minute);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Page size of the in-memory image and of the cached pages.
const PAGE: u64 = 4096;
/// A whisper update never needs more rounds than this (each round resolves at least one
/// dependent read; whisper reads at most base + neighbours per archive).
const MAX_ROUNDS: usize = 32;
/// How often a file kept open is looked up again by path (see the module documentation).
pub const REVALIDATE: Duration = Duration::from_secs(10);
/// Default of `storage.page_cache_bytes`.
pub const DEFAULT_PAGE_CACHE_BYTES: usize = 64 << 20;

/// A file kept open, with what is known of its contents.
struct OpenFile {
    file: BufferedFile,
    /// (device, inode) at open, to notice a file replaced under the same path.
    id: (u64, u64),
    len: u64,
    header: Option<Header>,
    /// Pages read from the file, updated with every write made to it since.
    pages: HashMap<u64, Vec<u8>>,
    /// Every page not in `pages` holds zeros: the file was created here, so its data
    /// region is known without reading it. Cleared when `pages` is forgotten.
    zero_absent: bool,
    /// When the path was last looked up.
    checked: Instant,
    /// Position in the recency order.
    tick: u64,
}

impl OpenFile {
    fn page_bytes(&self) -> usize {
        self.pages.values().map(Vec::len).sum()
    }
}

/// The files kept open, least recently used first out.
#[derive(Default)]
struct OpenFiles {
    map: HashMap<Box<[u8]>, OpenFile>,
    order: BTreeMap<u64, Box<[u8]>>,
    tick: u64,
    page_bytes: usize,
}

impl OpenFiles {
    fn touch(&mut self, name: &[u8]) {
        if let Some(f) = self.map.get_mut(name) {
            self.order.remove(&f.tick);
            self.tick += 1;
            f.tick = self.tick;
            self.order.insert(self.tick, name.into());
        }
    }

    fn insert(&mut self, name: &[u8], f: OpenFile) -> Option<BufferedFile> {
        let old = self.remove(name);
        self.page_bytes += f.page_bytes();
        self.map.insert(name.into(), f);
        self.touch(name);
        old
    }

    fn remove(&mut self, name: &[u8]) -> Option<BufferedFile> {
        let f = self.map.remove(name)?;
        self.order.remove(&f.tick);
        self.page_bytes -= f.page_bytes();
        Some(f.file)
    }

    /// Forget what is known of a file's contents (it is read again when needed).
    fn forget_contents(&mut self, name: &[u8]) {
        if let Some(f) = self.map.get_mut(name) {
            self.page_bytes -= f.page_bytes();
            f.pages.clear();
            f.header = None;
            f.zero_absent = false;
        }
    }

    /// Apply a write made to `name` to its known pages (and, for a file whose absent
    /// pages are zeros, to the zero page it turns into a known one).
    fn patch(&mut self, name: &[u8], offset: u64, data: &[u8]) {
        let Some(f) = self.map.get_mut(name) else {
            return;
        };
        if f.zero_absent {
            for (p, _, _) in page_spans(offset, data.len()) {
                if !f.pages.contains_key(&p) {
                    let n = page_len(f.len, p);
                    f.pages.insert(p, vec![0; n]);
                    self.page_bytes += n;
                }
            }
        }
        patch_pages(&mut f.pages, offset, data);
    }

    fn add_page(&mut self, name: &[u8], page: u64, bytes: Vec<u8>) {
        if let Some(f) = self.map.get_mut(name) {
            self.page_bytes += bytes.len();
            if let Some(old) = f.pages.insert(page, bytes) {
                self.page_bytes -= old.len();
            }
        }
    }

    /// Close the least recently used files until at most `max_open` are open and their
    /// pages fit in `page_budget`.
    fn evict(&mut self, max_open: usize, page_budget: usize) -> Vec<BufferedFile> {
        let mut out = Vec::new();
        while self.map.len() > max_open || self.page_bytes > page_budget {
            let Some((_, name)) = self.order.pop_first() else {
                break;
            };
            if let Some(f) = self.map.remove(&name) {
                self.page_bytes -= f.page_bytes();
                out.push(f.file);
            }
        }
        out
    }
}

/// Writes batches of one shard's series.
pub struct Writer {
    whisper_dir: PathBuf,
    /// Shared with the blocking pool, which picks a new file's schema only when the file
    /// turns out to be missing.
    rules: Arc<StorageRules>,
    create_limit: Option<CreateLimit>,
    preallocate: Preallocate,
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
            preallocate: Preallocate::Fallocate,
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
        self.create_limit = (per_minute > 0).then(|| CreateLimit {
            per_minute: f64::from(per_minute),
            tokens: f64::from(per_minute),
            last: Instant::now(),
        });
        self
    }

    /// How new files reserve their data region (default: `fallocate`, carbon's default
    /// on Linux; the bytes read back are zeros either way).
    #[must_use]
    pub fn with_preallocate(mut self, p: Preallocate) -> Self {
        self.preallocate = p;
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
    pub fn max_open(&self) -> usize {
        self.max_open
    }

    /// Files open now.
    pub fn open_files(&self) -> usize {
        self.open.map.len()
    }

    /// Bytes of pages held for the open files.
    pub fn cached_page_bytes(&self) -> usize {
        self.open.page_bytes
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
            let name = &job.batch.name;
            let Some(f) = self.open.map.get_mut(name) else {
                continue;
            };
            if now.duration_since(f.checked) < self.revalidate {
                continue;
            }
            match file_id(&job.path) {
                Ok((id, len)) if id == f.id && len == f.len => {
                    f.checked = now;
                    self.open.forget_contents(name);
                }
                _ => closing.extend(self.open.remove(name)),
            }
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
            let prealloc = self.preallocate;
            glommio::executor().spawn_blocking(move || {
                let new = rules.map(|r| r.for_metric(&name));
                open_or_create(&path, new.as_ref().map(|n| (n, prealloc)))
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
        let mut pages = HashMap::new();
        let mut zero_absent = false;
        if let Some(h) = &header {
            // The header page as created; every other page is zeros.
            let mut first = h.encode();
            let n = page_len(len, 0);
            if first.len() <= n {
                first.resize(n, 0);
                pages.insert(0, first);
                zero_absent = true;
            }
        }
        let f = OpenFile {
            file,
            id,
            len,
            zero_absent,
            header,
            pages,
            checked: Instant::now(),
            tick: 0,
        };
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
                if img.missing.is_empty() {
                    let writes = std::mem::take(&mut img.writes);
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
                    misses.extend(img.missing.iter().map(|&p| (i, p)));
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
                    Some(f) => f.write_at(bytes, offset).await.map_err(io::Error::from),
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

/// Files a shard keeps open: `configured`, or when 0 a quarter of the process's open-file
/// limit shared by `shards`, between 16 and 8192. The soft limit is first raised to the
/// hard one (once per process), as servers that keep many files open do.
pub fn open_files_limit(configured: usize, shards: usize) -> usize {
    static RAISED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    if configured > 0 {
        return configured;
    }
    let soft = *RAISED.get_or_init(raise_nofile_limit);
    ((soft / 4) as usize / shards.max(1)).clamp(16, 8192)
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
fn raise_nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid, exclusive pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut r) } != 0 {
        return 1024;
    }
    if r.rlim_cur < r.rlim_max {
        let want = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        // SAFETY: setrlimit reads one valid `rlimit`; raising the soft limit up to the hard
        // one needs no privilege and affects only this process.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const want) } == 0 {
            r.rlim_cur = r.rlim_max;
        }
    }
    r.rlim_cur
}

/// (device, inode) and length of the file at `path`.
fn file_id(path: &Path) -> io::Result<((u64, u64), u64)> {
    Ok(identity(&std::fs::metadata(path)?))
}

/// (device, inode) and length, as a file's metadata gives them.
fn identity(m: &std::fs::Metadata) -> ((u64, u64), u64) {
    use std::os::unix::fs::MetadataExt as _;
    ((m.dev(), m.ino()), m.len())
}

/// Await every future; outputs in order. The futures' I/O is submitted together.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futures.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Merge writes made in order into disjoint runs: where they overlap the later write
/// wins, and writes that touch or overlap become one run.
fn coalesce(writes: &[(u64, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    let mut ranges: Vec<(u64, u64)> = writes
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(o, b)| (*o, *o + b.len() as u64))
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut bufs: Vec<Vec<u8>> = merged
        .iter()
        .map(|&(s, e)| vec![0; (e - s) as usize])
        .collect();
    for (offset, bytes) in writes {
        if bytes.is_empty() {
            continue;
        }
        let k = merged.partition_point(|r| r.0 <= *offset) - 1;
        let at = (offset - merged[k].0) as usize;
        bufs[k][at..at + bytes.len()].copy_from_slice(bytes);
    }
    merged.into_iter().map(|r| r.0).zip(bufs).collect()
}

/// Join neighbouring writes (sorted, disjoint) whose pages touch or are next to each
/// other, filling the bytes between them with what the file holds there (`known`: `None`
/// when not all of it is known; then they stay apart). The joined write dirties no page
/// the separate ones would not, and one write costs less than two: on ext4 io_uring hands
/// every buffered write to a worker thread.
fn bridge(
    runs: Vec<(u64, Vec<u8>)>,
    known: impl Fn(u64, usize) -> Option<Vec<u8>>,
) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = Vec::with_capacity(runs.len());
    for (offset, bytes) in runs {
        if let Some((start, joined)) = out.last_mut() {
            let end = *start + joined.len() as u64;
            let last_page = (end - 1) / PAGE;
            if offset / PAGE <= last_page + 1 {
                if let Some(gap) = known(end, (offset - end) as usize) {
                    joined.extend_from_slice(&gap);
                    joined.extend_from_slice(&bytes);
                    continue;
                }
            }
        }
        out.push((offset, bytes));
    }
    out
}

/// Lay `data` written at `offset` over the cached pages it touches.
fn patch_pages(pages: &mut HashMap<u64, Vec<u8>>, offset: u64, data: &[u8]) {
    for (p, in_page, at) in page_spans(offset, data.len()) {
        if let Some(page) = pages.get_mut(&p) {
            if in_page.end <= page.len() {
                page[in_page].copy_from_slice(&data[at]);
            }
        }
    }
}

/// A page written by this run: its bytes, and which of them are known (`None`: all of
/// them, the page was fetched; otherwise one bit per byte this run wrote).
struct DirtyPage {
    bytes: Vec<u8>,
    known: Option<Vec<u64>>,
}

impl DirtyPage {
    fn knows(&self, r: &std::ops::Range<usize>) -> bool {
        self.known
            .as_ref()
            .is_none_or(|k| r.clone().all(|b| k[b / 64] & (1 << (b % 64)) != 0))
    }

    fn write(&mut self, r: std::ops::Range<usize>, data: &[u8]) {
        if let Some(k) = &mut self.known {
            for b in r.clone() {
                k[b / 64] |= 1 << (b % 64);
            }
        }
        self.bytes[r].copy_from_slice(data);
    }
}

/// The file as the whisper algorithms see it: fetched pages, the writes of this run laid
/// over them, and the pages that were needed but not known yet.
pub struct PagedImage<'a> {
    clean: &'a HashMap<u64, Vec<u8>>,
    /// Pages absent from `clean` are zeros (a file created here).
    zero_absent: bool,
    dirty: HashMap<u64, DirtyPage>,
    len: u64,
    missing: BTreeSet<u64>,
    writes: Vec<(u64, Vec<u8>)>,
}

impl<'a> PagedImage<'a> {
    fn new(clean: &'a HashMap<u64, Vec<u8>>, len: u64, zero_absent: bool) -> Self {
        Self {
            clean,
            zero_absent,
            dirty: HashMap::new(),
            len,
            missing: BTreeSet::new(),
            writes: Vec::new(),
        }
    }
}

/// Bytes of page `p` of a file `len` bytes long (the last page may be short).
fn page_len(len: u64, p: u64) -> usize {
    PAGE.min(len - p * PAGE) as usize
}

/// The pieces of the byte range `offset..offset + len` page by page: (page number, range
/// within that page, range within the caller's buffer).
fn page_spans(
    offset: u64,
    len: usize,
) -> impl Iterator<Item = (u64, std::ops::Range<usize>, std::ops::Range<usize>)> {
    let end = offset + len as u64;
    let mut pos = offset;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let in_page = (pos % PAGE) as usize;
        let take = ((PAGE - pos % PAGE).min(end - pos)) as usize;
        let at = (pos - offset) as usize;
        let span = (pos / PAGE, in_page..in_page + take, at..at + take);
        pos += take as u64;
        Some(span)
    })
}

/// What a [`PagedImage`] knows of some bytes within one page.
enum Known<'p> {
    /// The page holding them.
    Page(&'p [u8]),
    /// They are zeros (a page of a file created here, not written yet).
    Zeros,
    /// Not known: the page must be fetched.
    Unknown,
}

impl PagedImage<'_> {
    /// What is known of the bytes `in_page` of page `p`: this run's writes first, then
    /// the fetched page, then zeros for a file created here.
    fn known(&self, p: u64, in_page: &std::ops::Range<usize>) -> Known<'_> {
        match self.dirty.get(&p) {
            Some(d) if d.knows(in_page) => Known::Page(&d.bytes),
            Some(_) => Known::Unknown,
            None => match self.clean.get(&p) {
                Some(c) => Known::Page(c),
                None if self.zero_absent => Known::Zeros,
                None => Known::Unknown,
            },
        }
    }

    /// The bytes at `offset..offset + len` if all of them are known, without noting
    /// anything as missing.
    fn known_bytes(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        if offset + len as u64 > self.len {
            return None;
        }
        let mut out = vec![0; len];
        for (p, in_page, at) in page_spans(offset, len) {
            match self.known(p, &in_page) {
                Known::Page(page) => out[at].copy_from_slice(&page[in_page]),
                Known::Zeros => {}
                Known::Unknown => return None,
            }
        }
        Some(out)
    }
}

impl ReadAt for PagedImage<'_> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the whisper file",
            ));
        }
        for (p, in_page, at) in page_spans(offset, buf.len()) {
            let dst = &mut buf[at];
            match self.known(p, &in_page) {
                Known::Page(page) => dst.copy_from_slice(&page[in_page]),
                Known::Zeros => dst.fill(0),
                Known::Unknown => {
                    // Not known yet: note it and go on with zeros; this run's result is
                    // discarded and the run repeated once the page is here.
                    self.missing.insert(p);
                    dst.fill(0);
                }
            }
        }
        Ok(())
    }
}

impl WriteAt for PagedImage<'_> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset + data.len() as u64;
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write past the end of the whisper file",
            ));
        }
        self.writes.push((offset, data.to_vec()));
        let (clean, len, zero_absent) = (self.clean, self.len, self.zero_absent);
        for (p, in_page, at) in page_spans(offset, data.len()) {
            let page = self.dirty.entry(p).or_insert_with(|| {
                if let Some(c) = clean.get(&p) {
                    DirtyPage {
                        bytes: c.clone(),
                        known: None,
                    }
                } else {
                    let n = page_len(len, p);
                    DirtyPage {
                        bytes: vec![0; n],
                        known: (!zero_absent).then(|| vec![0; n.div_ceil(64)]),
                    }
                }
            });
            page.write(in_page, &data[at]);
        }
        Ok(())
    }
}

/// A file just created: open for reading and writing, with its header, its (device,
/// inode) and its length, so the writer neither reopens nor reads it.
#[derive(Debug)]
pub struct NewFileOpen {
    pub file: std::fs::File,
    pub header: Header,
    pub id: (u64, u64),
    pub len: u64,
}

/// A new series' file, as [`create_atomically`] left it.
#[derive(Debug)]
pub enum Created {
    /// The file was created.
    New(NewFileOpen),
    /// A file appeared under the path meanwhile; it was left alone.
    Existed,
}

/// What [`open_or_create`] found at a series' path.
#[derive(Debug)]
pub enum Opened {
    /// The file exists; it is open for reading and writing, with its (device, inode) and
    /// its length.
    Existing {
        file: std::fs::File,
        id: (u64, u64),
        len: u64,
    },
    /// It did not exist and was created.
    New(NewFileOpen),
    /// It does not exist, and creating it was not asked for.
    Missing,
}

/// Open the whisper file at `path` for reading and writing; when it does not exist and
/// `create` gives its schema, create it with [`create_atomically`] (a file that appeared
/// meanwhile is opened instead). Blocking: the writer runs it on glommio's blocking pool,
/// one trip per file, where an io_uring open would itself run on an io_uring worker (opens
/// block) and a missing file would then take a second trip to be created.
pub fn open_or_create(
    path: &Path,
    create: Option<(&NewFile, Preallocate)>,
) -> Result<Opened, WriteError> {
    let io = |source: io::Error| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
    };
    let existing = |file: std::fs::File| {
        let (id, len) = identity(&file.metadata().map_err(io)?);
        Ok(Opened::Existing { file, id, len })
    };
    match open() {
        Ok(file) => return existing(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let Some((new, prealloc)) = create else {
        return Ok(Opened::Missing);
    };
    match create_atomically(path, new, prealloc) {
        Ok(Created::New(created)) => Ok(Opened::New(created)),
        Ok(Created::Existed) => existing(open().map_err(io)?),
        Err(source) => Err(WriteError::Whisper {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Create `path` for a new series through a temporary file in the same directory and a
/// rename that never replaces a file, creating directories, so no reader ever sees a
/// partial file and a file that appeared meanwhile is left alone. Like whisper and
/// carbon, nothing is fsynced.
///
/// The temporary file is [`temp_name`]: short whatever the final name, so any file name
/// the file system takes (255 bytes) can be created. The usual case costs one open, one
/// write, the reservation and one rename: the directory is created only when the open
/// says it is missing, and a temporary file of the same name, left by a crash of a
/// process with this id, is removed only when the open meets it.
pub fn create_atomically(
    path: &Path,
    new: &NewFile,
    prealloc: Preallocate,
) -> Result<Created, WhisperError> {
    static CREATES: AtomicU64 = AtomicU64::new(0);
    let n = CREATES.fetch_add(1, Ordering::Relaxed);
    create_through(path, &temp_name(std::process::id(), n), new, prealloc)
}

/// The longest [`temp_name`]: `.lonsdaleite-` (13), a `u32` (10), `-` (1), a `u64` (20),
/// `.tmp` (4).
pub const MAX_TEMP_NAME: usize = 48;

/// The name of create number `n` of process `pid` while it is being written:
/// `.lonsdaleite-<pid>-<n>.tmp`, at most [`MAX_TEMP_NAME`] bytes. Unique among the
/// creates in progress on the host (a process numbers its own), hidden from carbon's and
/// graphite-web's listings (a leading `.`, no `.wsp`).
pub fn temp_name(pid: u32, n: u64) -> String {
    format!(".lonsdaleite-{pid}-{n}.tmp")
}

/// [`create_atomically`] through the temporary file `tmp_name` in `path`'s directory.
fn create_through(
    path: &Path,
    tmp_name: &str,
    new: &NewFile,
    prealloc: Preallocate,
) -> Result<Created, WhisperError> {
    let io = |source: io::Error| WhisperError::Io {
        path: path.display().to_string(),
        source,
    };
    let header =
        crate::storage::whisper::header_for(&new.archives, new.x_files_factor, new.method)?;
    let dir = path
        .parent()
        .ok_or_else(|| io(io::Error::other("whisper path has no directory")))?;
    let tmp = dir.join(tmp_name);
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
    };
    let mut file = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            open().map_err(io)?
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&tmp).map_err(io)?;
            open().map_err(io)?
        }
        Err(e) => return Err(io(e)),
    };
    file::fill_new(&mut file, &tmp, &header, prealloc)?;
    match rename_no_replace(&tmp, path) {
        Ok(()) => {
            let (id, len) = identity(&file.metadata().map_err(io)?);
            Ok(Created::New(NewFileOpen {
                file,
                header,
                id,
                len,
            }))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == io::ErrorKind::AlreadyExists {
                Ok(Created::Existed)
            } else {
                Err(io(e))
            }
        }
    }
}

/// Rename `from` to `to` unless `to` exists (`AlreadyExists` then). On a file system
/// without `RENAME_NOREPLACE` the check and the rename are two steps.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
    };
    let (cf, ct) = (c(from)?, c(to)?);
    // SAFETY: both pointers are NUL-terminated strings that outlive the call; renameat2
    // only reads them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(e);
    }
    if to.exists() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    std::fs::rename(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::whisper::{create_image, update_many};
    use proptest::prelude::*;

    const SCHEMAS: &str = "[t]\npattern = .*\nretentions = 10s:1h,1m:6h,10m:2d\n";
    const AGGREGATION: &str = "[t]\npattern = .*\nxFilesFactor = 0.3\naggregationMethod = sum\n";

    fn rules() -> StorageRules {
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
        assert_eq!(cause, "other");
        assert_eq!(stats.errors, 1);
        assert_eq!(
            WriteError::from(relative_path("..").unwrap_err()).cause(),
            "name"
        );
    }

    /// A file name of 255 bytes is created (its temporary name is short); one of 256 is
    /// refused by the file system as a name error, which no retry mends.
    #[test]
    fn the_longest_file_name_is_created_and_a_longer_one_is_a_name_error() {
        let dir = tempfile::tempdir().unwrap();
        let new = rules().for_metric("a.b");
        let fits = dir.path().join(format!("a/{}.wsp", "x".repeat(251)));
        assert!(matches!(
            open_or_create(&fits, Some((&new, Preallocate::Fallocate))).unwrap(),
            Opened::New(_)
        ));
        assert_eq!(file::info(&fits).unwrap().archives.len(), 3);
        let long = dir.path().join(format!("a/{}.wsp", "x".repeat(252)));
        let Err(e) = open_or_create(&long, Some((&new, Preallocate::Fallocate))) else {
            panic!("a 256-byte file name was created");
        };
        assert_eq!(e.cause(), "name", "{e}");
        assert!(!e.is_retryable());
        assert_eq!(temp_name(u32::MAX, u64::MAX).len(), MAX_TEMP_NAME);
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

    #[test]
    fn writes_merge_in_order_into_disjoint_runs() {
        let w = |o: u64, b: &[u8]| (o, b.to_vec());
        let merged = coalesce(&[
            w(10, b"aaaa"),
            w(12, b"bb"),
            w(14, b"cc"),
            w(30, b"x"),
            w(11, b"Z"),
        ]);
        assert_eq!(merged, vec![w(10, b"aZbbcc"), w(30, b"x")]);
    }

    #[test]
    fn neighbouring_writes_join_over_known_bytes_without_dirtying_another_page() {
        let page = PAGE as usize;
        let file: Vec<u8> = (0..4 * page).map(|i| (i % 251) as u8).collect();
        let known = |o: u64, n: usize| Some(file[o as usize..o as usize + n].to_vec());
        let w = |o: usize, b: &[u8]| (o as u64, b.to_vec());
        // Same page, and the next page: joined, the gaps filled from the file.
        let joined = bridge(vec![w(10, b"ab"), w(100, b"cd"), w(page + 5, b"ef")], known);
        let mut want = file[10..page + 7].to_vec();
        want[..2].copy_from_slice(b"ab");
        want[90..92].copy_from_slice(b"cd");
        want[page - 5..].copy_from_slice(b"ef");
        assert_eq!(joined, vec![(10, want)]);
        // A whole page between them: joining would dirty it, so they stay apart.
        let apart = vec![w(10, b"ab"), w(2 * page + 1, b"cd")];
        assert_eq!(bridge(apart.clone(), known), apart);
        // The bytes between are not known: apart.
        let unknown = vec![w(10, b"ab"), w(page + 1, b"cd")];
        assert_eq!(bridge(unknown.clone(), |_, _| None), unknown);
    }

    #[test]
    fn open_or_create_opens_what_exists_and_creates_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let new = rules().for_metric("a.b");
        let path = dir.path().join("a/b.wsp");
        assert!(matches!(open_or_create(&path, None), Ok(Opened::Missing)));
        assert!(!path.exists());
        let Ok(Opened::New(NewFileOpen { header, len, .. })) =
            open_or_create(&path, Some((&new, Preallocate::Fallocate)))
        else {
            panic!("not created");
        };
        assert_eq!(len, header.file_size());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        let Ok(Opened::Existing { id, len: l2, .. }) =
            open_or_create(&path, Some((&new, Preallocate::Fallocate)))
        else {
            panic!("not opened");
        };
        assert_eq!((id, l2), file_id(&path).unwrap());
        // Not a file we may open: an error naming the path, nothing created.
        let blocked = dir.path().join("a/b.wsp/c.wsp");
        let e = open_or_create(&blocked, Some((&new, Preallocate::Fallocate))).unwrap_err();
        assert!(e.to_string().contains("b.wsp/c.wsp"), "{e}");
    }

    #[test]
    fn create_makes_directories_replaces_a_stale_temp_file_and_never_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let new = rules().for_metric("a.b.c");
        let path = dir.path().join("a/b/c.wsp");
        // The directories are missing, and a crash of a process with our id left a temp file.
        let Created::New(NewFileOpen {
            file,
            header,
            id,
            len,
        }) = create_atomically(&path, &new, Preallocate::Fallocate).unwrap()
        else {
            panic!("a new path must be created");
        };
        drop(file);
        let stale_name = temp_name(std::process::id(), u64::MAX);
        let stale = dir.path().join("a/b").join(&stale_name);
        std::fs::write(&stale, b"half a file").unwrap();
        let other = dir.path().join("a/b/d.wsp");
        assert!(matches!(
            create_through(&other, &stale_name, &new, Preallocate::Zeros).unwrap(),
            Created::New(_)
        ));
        assert!(!stale.exists(), "the stale temp file is gone");
        // Same bytes as whisper's create, and what was reported is what is on disk.
        let reference = dir.path().join("ref.wsp");
        file::create(
            &reference,
            &new.archives,
            new.x_files_factor,
            new.method,
            Preallocate::Zeros,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes == std::fs::read(&reference).unwrap());
        assert!(bytes == std::fs::read(&other).unwrap());
        assert_eq!(header, file::info(&path).unwrap());
        assert_eq!((id, len), file_id(&path).unwrap());
        // A file already at the path is left as it is.
        std::fs::write(&path, b"someone else's").unwrap();
        assert!(matches!(
            create_atomically(&path, &new, Preallocate::Fallocate).unwrap(),
            Created::Existed
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| Path::new(n).extension().is_some_and(|e| e == "tmp"))
            .collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
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
