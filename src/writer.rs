//! A shard's whisper writer: points from the write-back cache into whisper files, through
//! io_uring (glommio's `BufferedFile`).
//!
//! The write itself is whisper 1.1.10's `update_many`, run by the pure functions of
//! [`crate::storage::whisper`] over an in-memory [`PagedImage`] of the file: the pages the
//! algorithm reads are fetched with io_uring reads, then the algorithm runs again; a run
//! that read only fetched pages is final, and its writes (in order) go to the file with
//! io_uring writes. Each round fetches every page the previous round missed, so a write
//! of many points costs a few rounds (about one per archive), not one per read. The file's bytes
//! end up exactly as whisper's own `update_many` leaves them (tested against it).
//!
//! New files are created off the shard (glommio's blocking pool) and atomically: the
//! whole image is written to a temporary file in the same directory, then renamed, so a
//! crash or a full disk never leaves a truncated `.wsp`. Headers are cached per series.
//!
//! Errors are returned to the caller, which puts the points back into the cache; see
//! [`WriteError::cause`] for the classes counted and logged.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use crate::cache::Batch;
use crate::storage::layout::{relative_path, LayoutError};
use crate::storage::rules::{NewFile, StorageRules};
use crate::storage::whisper::{
    file, file::Preallocate, read_header, update_many_with_header, Header, ReadAt, WhisperError,
    WriteAt,
};

/// Page size of the in-memory image.
const PAGE: u64 = 4096;
/// A whisper update never needs more rounds than this (each round resolves at least one
/// dependent read; whisper reads at most base + neighbours per archive).
const MAX_ROUNDS: usize = 32;

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
    /// `corrupt`, `name`, `other`.
    pub fn cause(&self) -> &'static str {
        let os = |e: &io::Error| match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => "enospc",
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => "eacces",
            Some(libc::EIO) => "eio",
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
        !matches!(self, WriteError::Layout(_) | WriteError::Name)
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
    last: std::time::Instant,
}

impl CreateLimit {
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
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

/// Writes batches of one shard's series.
pub struct Writer {
    whisper_dir: PathBuf,
    rules: StorageRules,
    headers: HashMap<Box<[u8]>, Header>,
    create_limit: Option<CreateLimit>,
    preallocate: Preallocate,
    pub stats: WriterStats,
}

impl Writer {
    /// A writer for files under `whisper_dir` (`<data-dir>/whisper`), creating new ones
    /// with `rules`.
    pub fn new(whisper_dir: PathBuf, rules: StorageRules) -> Self {
        Self {
            whisper_dir,
            rules,
            headers: HashMap::new(),
            create_limit: None,
            preallocate: Preallocate::Fallocate,
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
            last: std::time::Instant::now(),
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

    /// Remove the create-rate limit (at shutdown: every point must reach its file).
    pub fn lift_create_limit(&mut self) {
        self.create_limit = None;
    }

    /// Replace the storage rules (a reload); they apply to files created from now on.
    pub fn set_rules(&mut self, rules: StorageRules) {
        self.rules = rules;
    }

    /// Write one series' points (sorted, one per timestamp) as whisper's `update_many`
    /// would with this `now`. Returns the points written.
    pub async fn write(&mut self, batch: &Batch, now: i64) -> Result<usize, WriteError> {
        let started = std::time::Instant::now();
        let result = self.write_inner(batch, now).await;
        if let Ok(n) = &result {
            self.stats.committed_points += *n as u64;
            self.stats.update_operations += 1;
            self.stats.update_micros += started.elapsed().as_micros() as u64;
        } else if !matches!(result, Err(WriteError::CreateDeferred)) {
            self.stats.errors += 1;
            // The file may have changed or vanished: read its header again next time.
            self.headers.remove(&batch.name);
        }
        result
    }

    async fn write_inner(&mut self, batch: &Batch, now: i64) -> Result<usize, WriteError> {
        let name = std::str::from_utf8(&batch.name).map_err(|_| WriteError::Name)?;
        let path = self.whisper_dir.join(relative_path(name)?);
        let io_err = |source: io::Error| WriteError::Io {
            path: path.clone(),
            source,
        };
        let file = match open_rw(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(limit) = &mut self.create_limit {
                    if !limit.take() {
                        return Err(WriteError::CreateDeferred);
                    }
                }
                let new = self.rules.for_metric(name);
                let target = path.clone();
                let prealloc = self.preallocate;
                glommio::executor()
                    .spawn_blocking(move || create_atomically(&target, &new, prealloc))
                    .await
                    .map_err(|source| WriteError::Whisper {
                        path: path.clone(),
                        source,
                    })?;
                self.stats.creates += 1;
                open_rw(&path).await.map_err(io_err)?
            }
            Err(e) => return Err(io_err(e)),
        };
        let result = self
            .update_file(&file, &path, &batch.name, &batch.points, now)
            .await;
        let _ = file.close().await;
        result
    }

    async fn update_file(
        &mut self,
        file: &glommio::io::BufferedFile,
        path: &Path,
        name: &[u8],
        points: &[(i64, f64)],
        now: i64,
    ) -> Result<usize, WriteError> {
        let io_err = |source: io::Error| WriteError::Io {
            path: path.to_owned(),
            source,
        };
        let len = file.file_size().await.map_err(|e| io_err(e.into()))?;
        let mut pages: HashMap<u64, Vec<u8>> = HashMap::new();
        let header = if let Some(h) = self.headers.get(name) {
            h.clone()
        } else {
            let h = run_paged(file, len, &mut pages, |img| read_header(img))
                .await
                .map_err(|e| e.into_write_error(path))?
                .0;
            self.headers.insert(name.into(), h.clone());
            h
        };
        let ((), writes) = run_paged(file, len, &mut pages, |img| {
            update_many_with_header(img, &header, points, now)
        })
        .await
        .map_err(|e| e.into_write_error(path))?;
        for (offset, bytes) in writes {
            let n = bytes.len();
            let written = file
                .write_at(bytes, offset)
                .await
                .map_err(|e| io_err(e.into()))?;
            if written != n {
                return Err(io_err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "short write to the whisper file",
                )));
            }
        }
        Ok(points.len())
    }
}

/// An error of a paged run: from the algorithm or from fetching pages.
enum PagedError {
    Whisper(WhisperError),
    Io(io::Error),
    Rounds,
}

impl PagedError {
    fn into_write_error(self, path: &Path) -> WriteError {
        let path = path.to_owned();
        match self {
            PagedError::Whisper(source) => WriteError::Whisper { path, source },
            PagedError::Io(source) => WriteError::Io { path, source },
            PagedError::Rounds => WriteError::Io {
                path,
                source: io::Error::other("whisper update did not settle on its reads"),
            },
        }
    }
}

/// Run `f` over a paged image of the file until it reads only fetched pages; returns its
/// result and the writes it made, in order.
async fn run_paged<T>(
    file: &glommio::io::BufferedFile,
    len: u64,
    pages: &mut HashMap<u64, Vec<u8>>,
    mut f: impl FnMut(&mut PagedImage<'_>) -> Result<T, WhisperError>,
) -> Result<(T, Vec<(u64, Vec<u8>)>), PagedError> {
    for _ in 0..MAX_ROUNDS {
        let mut img = PagedImage::new(pages, len);
        let out = f(&mut img);
        if img.missing.is_empty() {
            let out = out.map_err(PagedError::Whisper)?;
            return Ok((out, img.writes));
        }
        let missing = std::mem::take(&mut img.missing);
        drop(img);
        for p in missing {
            let size = PAGE.min(len - p * PAGE) as usize;
            let page = file
                .read_at(p * PAGE, size)
                .await
                .map_err(|e| PagedError::Io(e.into()))?;
            pages.insert(p, page.to_vec());
        }
    }
    Err(PagedError::Rounds)
}

/// The file as the whisper algorithms see it: fetched pages, the writes of this run laid
/// over them, and the pages that were needed but not there yet.
pub struct PagedImage<'a> {
    clean: &'a HashMap<u64, Vec<u8>>,
    dirty: HashMap<u64, Vec<u8>>,
    len: u64,
    missing: BTreeSet<u64>,
    writes: Vec<(u64, Vec<u8>)>,
}

impl<'a> PagedImage<'a> {
    fn new(clean: &'a HashMap<u64, Vec<u8>>, len: u64) -> Self {
        Self {
            clean,
            dirty: HashMap::new(),
            len,
            missing: BTreeSet::new(),
            writes: Vec::new(),
        }
    }

    fn page(&self, p: u64) -> Option<&[u8]> {
        self.dirty
            .get(&p)
            .or_else(|| self.clean.get(&p))
            .map(Vec::as_slice)
    }
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
            if let Some(page) = self.page(p) {
                dst.copy_from_slice(&page[in_page]);
            } else {
                // Not fetched yet: note it and go on with zeros; this run's result is
                // discarded and the run repeated once the page is here.
                self.missing.insert(p);
                dst.fill(0);
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
        for (p, in_page, at) in page_spans(offset, data.len()) {
            if !self.dirty.contains_key(&p) {
                if let Some(clean) = self.clean.get(&p) {
                    self.dirty.insert(p, clean.clone());
                }
            }
            // A page never fetched keeps no overlay: a later read of it is a miss, and
            // the next run, with the page fetched, applies this write before that read.
            if let Some(page) = self.dirty.get_mut(&p) {
                page[in_page].copy_from_slice(&data[at]);
            }
        }
        Ok(())
    }
}

async fn open_rw(path: &Path) -> io::Result<glommio::io::BufferedFile> {
    glommio::io::OpenOptions::new()
        .read(true)
        .write(true)
        .buffered_open(path)
        .await
        .map_err(Into::into)
}

/// Create `path` for a new series through a temporary file in the same directory and a
/// rename, creating directories, so no reader ever sees a partial file. An existing file
/// is left alone (it was created meanwhile). Like whisper and carbon, nothing is fsynced.
pub fn create_atomically(
    path: &Path,
    new: &NewFile,
    prealloc: Preallocate,
) -> Result<(), WhisperError> {
    let io = |source: io::Error| WhisperError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .ok_or_else(|| io(io::Error::other("whisper path has no directory")))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    if path.exists() {
        return Ok(());
    }
    let file_name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    // A leftover of an earlier crash of this same process id.
    let _ = std::fs::remove_file(&tmp);
    file::create(
        &tmp,
        &new.archives,
        new.x_files_factor,
        new.method,
        prealloc,
    )?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
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
            WriteError::from(relative_path("../x").unwrap_err()).cause(),
            "name"
        );
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
    }
}
