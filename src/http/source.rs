//! The evaluator's [`Source`] over this server's storage ([`Storage`]): names from the
//! in-memory index ([`crate::storage::index::Names`]), points from the whisper files merged
//! with the owning shard's cache, events from SQLite ([`crate::http::eventdb`]) and tagged
//! series from the tag index ([`crate::http::tagdb`]).
//!
//! The shards report new names over one channel; [`Storage`] takes them in before every
//! read of either index ([`Storage::with_index`], [`Storage::tags`]) and on a timer, the
//! untagged ones into the name index, the tagged ones into the tag index.
//!
//! Reading a series (graphite-web's `readers/whisper.py` + `merge_with_cache`): whisper's
//! fetch of the file, clipped to the request's `now` (graphite-web hands its `now` to
//! whisper's fetch, so a frontend's `now=` is honoured by its members), then the shard's cached
//! points: reduced to one per finest step (last wins), consolidated with the file's
//! aggregation method when the fetched archive is coarser, each placed at
//! `(interval - start) / step` when inside the window. A series with cached points but no
//! file yet is read as an empty file made by the storage rules (graphite cannot show
//! these). The shards are asked once per request and shard, for all their names.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::http::tagdb::TagDb;
use crate::query::budget::{points_error, Budget};
use crate::query::eval::{EvalError, Source};
use crate::query::glob::{GlobError, NameIndex, Pattern};
use crate::query::series::Series;
use crate::route::Router;
use crate::shard::Control;
use crate::storage::index::Names;
use crate::storage::rules::StorageRules;
use crate::storage::whisper::{
    fetch_with_header, header_for, read_header, AggregationMethod, FetchResult, Header, ReadAt,
};

/// How long a shard may take to answer a cache query (graphite's `CARBONLINK_TIMEOUT`).
pub const CACHE_TIMEOUT: Duration = Duration::from_secs(1);

/// Locks a mutex, recovering from a panic in another holder (the data stays usable).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the query thread reads from.
pub struct Storage {
    /// The data directory (whisper files are under `whisper/`).
    pub data_dir: PathBuf,
    pub shards: Vec<mpsc::Sender<Control>>,
    pub rules: Option<StorageRules>,
    /// Every untagged name we know: the start-up scan and what the shards reported.
    pub names: Names,
    /// The tag index, read through [`Storage::tags`] so that it holds the tagged names the
    /// shards reported.
    tag_index: Mutex<TagDb>,
    pub events: Option<Mutex<crate::http::eventdb::Events>>,
}

/// One request's view of the storage, counting what it reads to the request's budget.
pub struct RequestSource<'a> {
    pub storage: &'a Storage,
    pub budget: &'a Budget,
}

/// A store of zeros: an archive never written (for series with no file yet).
struct Zeros;

impl ReadAt for Zeros {
    fn read_at(&mut self, _offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        buf.fill(0);
        Ok(())
    }
}

/// How many bytes at the start of a file one read takes: the header, and for the usual
/// one- or two-archive file the first archive's slot 0 (its base interval), so a fetch
/// costs one read for all of these plus the read of the range.
const HEAD_BYTES: usize = 4096;

/// A whisper file with its first bytes read at once; reads inside them are served from
/// memory, the rest from the file.
struct HeadFile {
    file: std::fs::File,
    head: Box<[u8; HEAD_BYTES]>,
    /// How many bytes of `head` the file has (less for a file shorter than it).
    len: usize,
}

impl HeadFile {
    fn new(file: std::fs::File) -> std::io::Result<Self> {
        let mut head = Box::new([0_u8; HEAD_BYTES]);
        let mut len = 0;
        while len < HEAD_BYTES {
            match std::os::unix::fs::FileExt::read_at(&file, &mut head[len..], len as u64) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self { file, head, len })
    }
}

impl ReadAt for HeadFile {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let inside = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(buf.len())?))
            .filter(|r| r.end <= self.len);
        match inside {
            Some(r) => {
                buf.copy_from_slice(&self.head[r]);
                Ok(())
            }
            None => ReadAt::read_at(&mut self.file, offset, buf),
        }
    }
}

/// Reads one file: `Ok(None)` when there is no file.
fn read_file(
    path: &std::path::Path,
    start: i64,
    end: i64,
    now: i64,
) -> Result<Option<(Header, Option<FetchResult>)>, String> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut f = HeadFile::new(f).map_err(|e| e.to_string())?;
    let header = read_header(&mut f).map_err(|e| e.to_string())?;
    let fetched = fetch_with_header(&mut f, &header, start, Some(end), now, None)
        .map_err(|e| e.to_string())?;
    Ok(Some((header, fetched)))
}

impl Storage {
    pub fn new(
        data_dir: PathBuf,
        shards: Vec<mpsc::Sender<Control>>,
        rules: Option<StorageRules>,
        names: Names,
        tags: TagDb,
        events: Option<Mutex<crate::http::eventdb::Events>>,
    ) -> Self {
        Self {
            data_dir,
            shards,
            rules,
            names,
            tag_index: Mutex::new(tags),
            events,
        }
    }

    /// Takes in the names the shards reported: the untagged ones join [`Storage::names`],
    /// the tagged ones the tag index.
    pub fn take_reported_names(&self) {
        let tagged = self.names.drain();
        if !tagged.is_empty() {
            lock(&self.tag_index).add_all(tagged.iter().map(String::as_str));
        }
    }

    /// The tag index, after taking in what the shards reported.
    pub fn tags(&self) -> std::sync::MutexGuard<'_, TagDb> {
        self.take_reported_names();
        lock(&self.tag_index)
    }

    /// Runs `f` on the name index, after taking in what the shards reported.
    pub fn with_index<R>(&self, f: impl FnOnce(&NameIndex) -> R) -> R {
        self.take_reported_names();
        self.names.with_index(f)
    }

    /// The header a new file for `name` would get, if storage is on.
    fn new_file_header(&self, name: &str) -> Option<Header> {
        let rules = self.rules.as_ref()?;
        let nf = rules.for_metric(name);
        header_for(&nf.archives, nf.x_files_factor, nf.method).ok()
    }

    /// The cached points of each name, asking each owning shard once.
    pub fn cached(&self, names: &[String], deadline: Instant) -> Vec<Vec<(i64, f64)>> {
        let mut out = vec![Vec::new(); names.len()];
        if self.shards.is_empty() || names.is_empty() {
            return out;
        }
        let router = Router::new(self.shards.len());
        let mut per_shard: Vec<Vec<usize>> = vec![Vec::new(); self.shards.len()];
        for (i, n) in names.iter().enumerate() {
            per_shard[router.owner(n.as_bytes())].push(i);
        }
        let mut waiting = Vec::new();
        for (shard, idx) in per_shard.iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let (tx, rx) = crossbeam_channel::bounded(1);
            let mut msg = Control::Cached {
                names: idx.iter().map(|&i| names[i].clone()).collect(),
                reply: tx,
            };
            loop {
                match self.shards[shard].try_send(msg) {
                    Ok(()) => {
                        waiting.push((shard, rx));
                        break;
                    }
                    Err(mpsc::error::TrySendError::Full(m)) if Instant::now() < deadline => {
                        msg = m;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => {
                        tracing::warn!(shard, "cache query not sent: the shard is busy or gone");
                        break;
                    }
                }
            }
        }
        for (shard, rx) in waiting {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Ok(lists) = rx.recv_timeout(left) {
                for (&i, points) in per_shard[shard].iter().zip(lists) {
                    out[i] = points;
                }
            } else {
                tracing::warn!(shard, "cache query unanswered; reading files only");
            }
        }
        out
    }

    /// Reads `names` over `[start, end]` (see the module documentation). Stops as soon as
    /// the values read would not fit in what is left of the budget's `http.max_points`
    /// (the caller counts them), or the request must stop (checked before each file).
    pub fn read(
        &self,
        names: &[String],
        start: i64,
        end: i64,
        now: i64,
        budget: &Budget,
    ) -> Result<Vec<Series>, EvalError> {
        let cache_deadline = Instant::now() + CACHE_TIMEOUT;
        let cached = self.cached(names, cache_deadline);
        let mut out = Vec::with_capacity(names.len());
        let mut points = 0usize;
        let room = budget.points_left();
        for (name, cached) in names.iter().zip(cached) {
            budget.check().map_err(EvalError::Limit)?;
            let Ok(path) = crate::storage::layout::metric_path(&self.data_dir, name) else {
                continue;
            };
            let read = match read_file(&path, start, end, now) {
                Ok(Some(found)) => Some(found),
                Ok(None) => match self.new_file_header(name) {
                    Some(header) => {
                        match fetch_with_header(&mut Zeros, &header, start, Some(end), now, None) {
                            Ok(r) => Some((header, r)),
                            Err(_) => None,
                        }
                    }
                    None => None,
                },
                Err(e) => {
                    tracing::warn!(series = %name, file = %path.display(), error = %e, "unreadable whisper file: series left out");
                    None
                }
            };
            let Some((header, Some(mut r))) = read else {
                continue;
            };
            let raw_step = header
                .archives
                .iter()
                .map(|a| i64::from(a.seconds_per_point))
                .min()
                .unwrap_or(r.step);
            merge_cache(&mut r, &cached, raw_step, header.aggregation_method);
            points += r.values.len();
            if points > room {
                let max = budget.limits().max_points.unwrap_or(usize::MAX);
                let total = budget.points_used().saturating_add(points);
                return Err(EvalError::Limit(points_error(
                    "reading the files",
                    points,
                    total,
                    max,
                )));
            }
            out.push(Series::new(name, r.from, r.until, r.step, r.values));
        }
        Ok(out)
    }
}

/// graphite-web's `merge_with_cache` (see the module documentation). `cached` is sorted
/// by timestamp.
pub fn merge_cache(
    r: &mut FetchResult,
    cached: &[(i64, f64)],
    raw_step: i64,
    method: AggregationMethod,
) {
    if cached.is_empty() {
        return;
    }
    // One point per raw step, the last received.
    let mut reduced: Vec<(i64, f64)> = Vec::with_capacity(cached.len());
    for &(ts, v) in cached {
        let interval = if raw_step > 1 {
            ts - ts.rem_euclid(raw_step)
        } else {
            ts
        };
        // `cached` is sorted, so equal intervals are adjacent.
        match reduced.last_mut().filter(|(i, _)| *i == interval) {
            Some(p) => p.1 = v,
            None => reduced.push((interval, v)),
        }
    }
    let step = r.step;
    let merged: Vec<(i64, Option<f64>)> = if step == raw_step {
        reduced.into_iter().map(|(i, v)| (i, Some(v))).collect()
    } else {
        let mut groups: Vec<(i64, Vec<f64>)> = Vec::new();
        for (ts, v) in reduced {
            let interval = ts - ts.rem_euclid(step);
            match groups.last_mut().filter(|(i, _)| *i == interval) {
                Some(g) => g.1.push(v),
                None => groups.push((interval, vec![v])),
            }
        }
        groups
            .into_iter()
            .map(|(i, vs)| (i, consolidate(method, &vs)))
            .collect()
    };
    for (interval, value) in merged {
        let offset = interval - r.from;
        if offset < 0 {
            continue;
        }
        let i = (offset / step) as usize;
        if let Some(slot) = r.values.get_mut(i) {
            *slot = value;
        }
    }
}

/// `merge_with_cache`'s `consolidate` over cached values (never missing).
fn consolidate(method: AggregationMethod, values: &[f64]) -> Option<f64> {
    let first = *values.first()?;
    let sum = || values.iter().fold(0.0, |a, v| a + v);
    Some(match method {
        AggregationMethod::Sum => sum(),
        AggregationMethod::Average | AggregationMethod::AvgZero => sum() / values.len() as f64,
        AggregationMethod::Max => values[1..]
            .iter()
            .fold(first, |m, &v| if v > m { v } else { m }),
        AggregationMethod::Min => values[1..]
            .iter()
            .fold(first, |m, &v| if v < m { v } else { m }),
        AggregationMethod::Last => values[values.len() - 1],
        AggregationMethod::AbsMax => {
            values[1..]
                .iter()
                .fold(first, |m, &v| if v.abs() > m.abs() { v } else { m })
        }
        AggregationMethod::AbsMin => {
            values[1..]
                .iter()
                .fold(first, |m, &v| if v.abs() < m.abs() { v } else { m })
        }
    })
}

impl Source for RequestSource<'_> {
    fn find(&self, pattern: &str) -> Result<Vec<String>, EvalError> {
        if pattern.contains(';') {
            // A tagged name is looked up directly, as graphite's finder does.
            let Ok(name) = crate::http::tagdb::canonical(pattern) else {
                return Ok(Vec::new());
            };
            let known = self.storage.tags().contains(&name)
                || crate::storage::layout::metric_path(&self.storage.data_dir, &name)
                    .is_ok_and(|p| p.exists());
            return Ok(if known { vec![name] } else { Vec::new() });
        }
        let glob = |e: GlobError| match e {
            GlobError::Budget(limit) => EvalError::Limit(limit),
            other => EvalError::Parse {
                target: pattern.to_string(),
                message: other.to_string(),
            },
        };
        // Braces are expanded before the index is locked (the admin interface reads it).
        let compiled = Pattern::compile(pattern, self.budget).map_err(glob)?;
        self.storage
            .with_index(|index| index.expand_compiled(pattern, &compiled, true, self.budget))
            .map_err(glob)
    }

    fn fetch(
        &self,
        names: &[String],
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<Vec<Series>, EvalError> {
        self.storage.read(names, start, end, now, self.budget)
    }

    fn series_by_tag(&self, expressions: &[String]) -> Result<Vec<String>, EvalError> {
        let exprs: Vec<&str> = expressions.iter().map(String::as_str).collect();
        self.storage
            .tags()
            .find(&exprs)
            .map_err(|e| EvalError::param("seriesByTag", e.to_string()))
    }

    fn budget(&self) -> Option<&Budget> {
        Some(self.budget)
    }

    fn events(&self, tags: &[String], start: i64, end: i64) -> Result<Vec<i64>, EvalError> {
        let Some(events) = &self.storage.events else {
            return Err(EvalError::Source("the events database is not open".into()));
        };
        let all = tags.is_empty() || tags.iter().any(|t| t == "*");
        let tags: &[String] = if all { &[] } else { tags };
        lock(events)
            .find(start, end, tags, crate::http::eventdb::TagSet::All)
            .map(|evs| evs.into_iter().map(|e| e.when).collect())
            .map_err(|e| EvalError::Source(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(from: i64, step: i64, n: usize) -> FetchResult {
        FetchResult {
            from,
            until: from + step * n as i64,
            step,
            values: vec![None; n],
        }
    }

    #[test]
    fn head_file_reads_match_the_file() {
        use crate::storage::whisper::{create_image, update_many};
        let dir = std::env::temp_dir().join(format!("ls-headfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A small file (shorter than the head) and a large one (the ring past it).
        for points in [10_u32, 2000] {
            let now = 1_700_000_000;
            let mut image = create_image(&[(10, points)], 0.5, AggregationMethod::Average).unwrap();
            let pts: Vec<(i64, f64)> = (0..i64::from(points) + 7)
                .map(|i| (now - 10 * i, i as f64))
                .collect();
            update_many(&mut image, &pts, now).unwrap();
            let path = dir.join(format!("f{points}.wsp"));
            std::fs::write(&path, &image).unwrap();
            let mut f = HeadFile::new(std::fs::File::open(&path).unwrap()).unwrap();
            assert_eq!(f.len, image.len().min(HEAD_BYTES));
            for (offset, len) in [(0, 16), (16, 12), (4090, 12), (4096, 24), (0, image.len())] {
                let mut want = vec![0; len];
                let mut got = vec![0; len];
                let w = ReadAt::read_at(&mut image, offset as u64, &mut want);
                let g = f.read_at(offset as u64, &mut got);
                assert_eq!(w.is_ok(), g.is_ok(), "{points} {offset} {len}");
                assert_eq!(want, got);
            }
            let span = 10 * i64::from(points) - 100;
            let mut store = image.clone();
            let want = crate::storage::whisper::fetch(&mut store, now - span, None, now, None);
            let (_, got) = read_file(&path, now - span, now, now).unwrap().unwrap();
            assert_eq!(want.unwrap(), got);
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read_file(&dir.join("none.wsp"), 0, 1, 1), Ok(None));
    }

    #[test]
    fn cache_points_land_on_their_step() {
        let mut r = window(100, 10, 4);
        r.values[0] = Some(1.0);
        merge_cache(
            &mut r,
            &[(95, 9.0), (112, 2.0), (118, 3.0), (130, 4.0), (140, 5.0)],
            10,
            AggregationMethod::Average,
        );
        assert_eq!(r.values, [Some(1.0), Some(3.0), None, Some(4.0)]);
    }

    #[test]
    fn coarser_archive_consolidates_with_the_file_method() {
        let mut r = window(0, 60, 2);
        let cached = [(0, 1.0), (10, 2.0), (20, 6.0), (60, 5.0)];
        merge_cache(&mut r, &cached, 10, AggregationMethod::Average);
        assert_eq!(r.values, [Some(3.0), Some(5.0)]);
        let mut r = window(0, 60, 2);
        merge_cache(&mut r, &cached, 10, AggregationMethod::Max);
        assert_eq!(r.values, [Some(6.0), Some(5.0)]);
        let mut r = window(0, 60, 2);
        merge_cache(&mut r, &cached, 10, AggregationMethod::Sum);
        assert_eq!(r.values, [Some(9.0), Some(5.0)]);
    }
}
