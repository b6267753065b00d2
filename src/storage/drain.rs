//! The writer task of a shard: drains the write-back cache into whisper files, largest
//! backlog first, through the io_uring [`Writer`], pacing itself while points arrive, and
//! at shutdown until the cache is empty.
//!
//! A failed write is settled by its cause ([`Disposition`]): while the disk is the problem
//! (full, read-only, permissions, out of descriptors, I/O errors) the series goes back to
//! the cache and is retried, the cause logged at most once a minute; a damaged file is
//! moved to `<data-dir>/quarantine/` and the points go to a new file; an error no retry
//! can mend (a name the file system refuses, `EINVAL`, a path through a file) drops the
//! series' points, counted as `storage.dropped.<cause>` and logged once per series. Only
//! a round in which nothing could be written backs off, so one failing series never holds
//! the others back. Storage rules are reloaded when their files change.
//!
//! A round has four steps, each a method of the loop's state: take a batch of series from
//! the cache, write it, settle the results (put back, count, log), then back off or pace.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::cache::Batch;
use super::rules::RulesSource;
use super::shard_store::ShardStore;
use super::stats::bump;
use super::writer::{Disposition, WriteError, Writer, WriterStats};

/// Series whose dropped points are logged one by one; past this many, drops are logged
/// like retried errors (once a minute per cause), so a flood of bad series cannot grow
/// the set without bound.
const LOGGED_SERIES: usize = 4096;

/// Logs write errors: a retried error at most once a minute per cause (counting the ones
/// not logged), a dropped series once, every quarantined file. Long names and paths are
/// cut to a readable length.
#[derive(Default)]
struct ErrorLog {
    last: HashMap<&'static str, Instant>,
    /// Errors not logged since the last one logged (of any cause).
    suppressed: u64,
    /// Series whose drop was logged.
    dropped: HashSet<Box<[u8]>>,
}

/// At most 300 bytes of `text`, marking what was cut.
fn cut(text: &str) -> String {
    const SHOWN: usize = 300;
    if text.len() <= SHOWN {
        return text.to_owned();
    }
    let mut end = SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

impl ErrorLog {
    /// Whether an error of `cause` is due for a log line (once a minute per cause).
    fn due(&mut self, cause: &'static str) -> bool {
        let now = Instant::now();
        let due = self
            .last
            .get(cause)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(60));
        if due {
            self.last.insert(cause, now);
        } else {
            self.suppressed += 1;
        }
        due
    }

    fn retried(&mut self, e: &WriteError) {
        if self.due(e.cause()) {
            tracing::error!(
                cause = e.cause(),
                error = %cut(&e.to_string()),
                similar_errors_not_logged = self.suppressed,
                "whisper write failed; the points stay in the cache and are retried"
            );
            self.suppressed = 0;
        }
    }

    fn dropped(&mut self, e: &WriteError, series: &[u8], points: usize) {
        let first = !self.dropped.contains(series) && self.dropped.len() < LOGGED_SERIES;
        if first {
            self.dropped.insert(series.into());
        } else if self.dropped.contains(series) || !self.due(e.cause()) {
            return;
        }
        tracing::error!(
            cause = e.cause(),
            series = %cut(&String::from_utf8_lossy(series)),
            points,
            error = %cut(&e.to_string()),
            "whisper write failed for good; the series' points are dropped (admin stats: storage.dropped.<cause>)"
        );
    }
}

/// How the writer loop runs.
pub struct WriterOptions {
    /// Series written per round.
    pub batch: usize,
    /// On shutdown, how long failing writes are retried.
    pub drain_timeout: Duration,
    /// Reload the rules from here when they change.
    pub rules: Option<RulesSource>,
    /// How often to look for changed rule files.
    pub rules_every: Duration,
    /// Reload requests (SIGHUP) make the rules be read again at once.
    pub signals: std::sync::Arc<crate::shutdown::Shutdown>,
}

/// Write the cache to whisper files until the shard stops and the cache is empty (or,
/// when stopping, until `drain_timeout` passes with writes still failing).
pub async fn writer_loop(store: Rc<ShardStore>, writer: Writer, opts: WriterOptions) {
    let mut drain = Drain::new(store, writer, opts);
    loop {
        drain.prepare();
        let Some(batches) = drain.take() else {
            if drain.store.stopping.get() {
                break;
            }
            glommio::timer::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (round, batches, results) = drain.write(batches).await;
        let outcome = drain.settle(batches, results);
        drain.publish();
        if drain.after(&round, outcome).await.is_break() {
            break;
        }
    }
    drain.writer.close_all().await;
}

/// The writer loop's state between rounds.
struct Drain {
    store: Rc<ShardStore>,
    writer: Writer,
    opts: WriterOptions,
    log: ErrorLog,
    /// When stopping with writes failing: when to give up.
    stop_deadline: Option<Instant>,
    /// When the current pass over the pending series began.
    pass_started: Instant,
    /// The writer's counters as last published.
    reported: WriterStats,
}

/// What was known of a round before its series were written (for pacing).
struct Round {
    started: Instant,
    /// The cache's arrival count before the round.
    arrived_before: u64,
    points: usize,
    series: usize,
    /// The writer's create count before the round.
    creates_before: u64,
}

/// What the results of a round call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A write failed and may succeed later: back off.
    Failed,
    /// Nothing was written (only series waiting for the create limit): let time pass.
    Waiting,
    /// Written without a retryable failure: pace.
    Written,
}

impl Drain {
    fn new(store: Rc<ShardStore>, writer: Writer, opts: WriterOptions) -> Self {
        Self {
            store,
            writer,
            opts,
            log: ErrorLog::default(),
            stop_deadline: None,
            pass_started: Instant::now(),
            reported: WriterStats::default(),
        }
    }

    /// Before a round: reload changed rules; when stopping, lift the create limit.
    fn prepare(&mut self) {
        let every = self.opts.rules_every;
        let reloads = self.opts.signals.reloads();
        if let Some(rules) = self
            .opts
            .rules
            .as_mut()
            .and_then(|r| r.poll(every, reloads))
        {
            self.writer.set_rules(rules);
        }
        if self.store.stopping.get() {
            // Everything received must reach the disk before exit, new files included.
            self.writer.lift_create_limit();
        }
    }

    /// Take the next round's series from the cache (at most as many as files kept open);
    /// `None` when the cache is empty.
    fn take(&mut self) -> Option<Vec<Batch>> {
        let round = self.opts.batch.min(self.writer.max_open());
        if self.store.cache.borrow().pass_done() {
            // The next take ranks the series again: a new pass.
            self.pass_started = Instant::now();
        }
        let taken = self.store.cache.borrow_mut().take_batch(round);
        self.store.publish_cache_size();
        (!taken.is_empty()).then_some(taken)
    }

    /// Write the round's series; readers see them as in flight meanwhile. Returns the
    /// round, the series again, and one result per series.
    async fn write(
        &mut self,
        taken: Vec<Batch>,
    ) -> (Round, Vec<Batch>, Vec<Result<usize, WriteError>>) {
        let now = crate::clock::now().as_secs() as i64;
        let round = Round {
            started: Instant::now(),
            arrived_before: self.store.cache.borrow().arrived(),
            points: taken.iter().map(|b| b.points.len()).sum(),
            series: taken.len(),
            creates_before: self.writer.stats.creates,
        };
        let taken = Rc::new(taken);
        *self.store.in_flight.borrow_mut() = taken.clone();
        let results = self.writer.write_many(&taken, now).await;
        *self.store.in_flight.borrow_mut() = Rc::default();
        // Readers hold the batches only inside a synchronous call, so this is the last.
        let taken = Rc::try_unwrap(taken).unwrap_or_else(|shared| (*shared).clone());
        (round, taken, results)
    }

    /// Settle each failed series as its error's [`Disposition`] says: put back to retry,
    /// move a damaged file aside and put back for a new one, or drop and count. Only a
    /// round in which nothing was written backs off, so one failing series never holds
    /// the others back.
    fn settle(&mut self, taken: Vec<Batch>, results: Vec<Result<usize, WriteError>>) -> Outcome {
        let (mut failed, mut written) = (false, false);
        for (b, result) in taken.into_iter().zip(results) {
            match result {
                Ok(_) => written = true,
                Err(WriteError::CreateDeferred) => self.store.cache.borrow_mut().put_back(b),
                Err(e) => match self.disposition(&e) {
                    Disposition::Retry => {
                        self.log.retried(&e);
                        failed = true;
                        self.store.cache.borrow_mut().put_back(b);
                    }
                    Disposition::Quarantine => {
                        if !self.quarantine(&e) {
                            failed = true;
                        }
                        self.store.cache.borrow_mut().put_back(b);
                    }
                    Disposition::Drop => self.drop_series(&e, &b),
                },
            }
        }
        if failed && !written {
            Outcome::Failed
        } else if written {
            Outcome::Written
        } else {
            Outcome::Waiting
        }
    }

    /// What to do with a failed series: as its error says, except that a path error while
    /// the whisper directory itself is unusable is everyone's problem: retried.
    fn disposition(&self, e: &WriteError) -> Disposition {
        match e.disposition() {
            Disposition::Drop if e.cause() == "enotdir" && !self.writer.root_is_usable() => {
                Disposition::Retry
            }
            d => d,
        }
    }

    /// Move the damaged file of `e` aside; false when it could not be moved (then the
    /// write is retried like a disk error).
    fn quarantine(&mut self, e: &WriteError) -> bool {
        let moved = e.path().map(|p| (p, self.writer.quarantine(p)));
        match moved {
            Some((path, Ok(to))) => {
                bump(&self.store.stats.quarantined, 1);
                tracing::error!(
                    file = %cut(&path.display().to_string()),
                    moved_to = %cut(&to.display().to_string()),
                    error = %cut(&e.to_string()),
                    "damaged whisper file moved to quarantine; the series' points go to a new file"
                );
                true
            }
            Some((_, Err(io))) => {
                self.log.retried(&WriteError::Io {
                    path: e.path().map(Into::into).unwrap_or_default(),
                    source: io,
                });
                false
            }
            None => {
                self.log.retried(e);
                false
            }
        }
    }

    /// Drop a series' points for an error no retry can mend, counted under its cause.
    fn drop_series(&mut self, e: &WriteError, b: &Batch) {
        let points = b.points.len();
        self.log.dropped(e, &b.name, points);
        let stats = &self.store.stats;
        if let Some(i) = WriteError::DROP_CAUSES.iter().position(|c| *c == e.cause()) {
            bump(&stats.dropped[i], points as u64);
        }
        if e.cause() == "name" {
            bump(&stats.bad_names, points as u64);
        }
    }

    /// Add the writer's progress to the shared counters.
    fn publish(&mut self) {
        publish(&self.store, &mut self.reported, self.writer.stats);
    }

    /// After a round: back off after a failure (giving up once stopping has taken
    /// `drain_timeout`), wait after a round that only waited for the create limit, pace
    /// after one that wrote (unless it created files).
    async fn after(&mut self, round: &Round, outcome: Outcome) -> ControlFlow<()> {
        match outcome {
            Outcome::Failed => {
                if self.store.stopping.get() {
                    let timeout = self.opts.drain_timeout;
                    let deadline = *self
                        .stop_deadline
                        .get_or_insert_with(|| Instant::now() + timeout);
                    if Instant::now() >= deadline {
                        let left = self.store.cache.borrow().len();
                        tracing::error!(
                            points = left,
                            "stopping with {left} points that could not be written (see the errors above)"
                        );
                        return ControlFlow::Break(());
                    }
                }
                // Back off: the disk will not be better in a microsecond.
                glommio::timer::sleep(Duration::from_millis(500)).await;
            }
            Outcome::Waiting => {
                // Only series waiting for the create limit: let time pass.
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
            Outcome::Written if self.writer.stats.creates == round.creates_before => {
                if let Some(pause) = pace(
                    &self.store,
                    round.points,
                    round.series,
                    round.arrived_before,
                    round.started.elapsed(),
                    self.pass_started.elapsed(),
                ) {
                    pause_while_arriving(&self.store, pause).await;
                }
            }
            Outcome::Written => {}
        }
        ControlFlow::Continue(())
    }
}

/// While points keep arriving, the writer aims for updates of this many points: most of
/// the cost of a small update is the update itself (reads, writes and bookkeeping per
/// file), not its points (measured here: about 13 µs per update and 0.16 µs per point).
const TARGET_UPDATE_POINTS: usize = 1024;
/// The longest pause after a round, in multiples of the time the round took.
const MAX_PAUSE_ROUNDS: f64 = 32.0;
/// How often a pause looks whether points still arrive.
const PAUSE_STEP: Duration = Duration::from_millis(5);
/// A pass over the pending series that has taken this long goes on without pauses, so a
/// point waits in the cache about two such passes at most while the writer paces itself.
const PACED_PASS: Duration = Duration::from_secs(5);

/// How long the writer may wait after a round, if at all. After a round whose updates
/// carried `p` points on average, below [`TARGET_UPDATE_POINTS`], made while points kept
/// arriving, the writer pauses `TARGET_UPDATE_POINTS / p - 1` times as long as the round
/// took (at most [`MAX_PAUSE_ROUNDS`] times), so the next updates carry more points: the
/// smaller the updates, the less of the shard the writer takes from the receivers (carbon's
/// cache batches the same way while its writer is busy). No pause when nothing arrived
/// during the round (the rest is written at once), when stopping, or once the cache holds
/// a quarter of its budget, or once the pass over the pending series has taken
/// [`PACED_PASS`]. The caller also skips the pause after a round that created files: a
/// create costs the same later.
fn pace(
    store: &ShardStore,
    round_points: usize,
    round_series: usize,
    arrived_before: u64,
    round_took: Duration,
    pass_age: Duration,
) -> Option<Duration> {
    let arriving = store.cache.borrow().arrived() != arrived_before;
    let small = round_points < round_series * TARGET_UPDATE_POINTS;
    if !(arriving && small && may_pause(store)) || pass_age >= PACED_PASS {
        return None;
    }
    let per_update = (round_points as f64 / round_series.max(1) as f64).max(1.0);
    let rounds = (TARGET_UPDATE_POINTS as f64 / per_update - 1.0).min(MAX_PAUSE_ROUNDS);
    Some(round_took.mul_f64(rounds))
}

/// Whether the writer may pause at all: not while stopping, nor once the cache holds a
/// quarter of its budget (then it writes as fast as the disk takes it).
fn may_pause(store: &ShardStore) -> bool {
    !store.stopping.get() && !store.cache.borrow().is_above(0.25)
}

/// Wait up to `pause`, in steps of [`PAUSE_STEP`]; a step in which no point arrived ends
/// the wait (the flow stopped: the rest is written at once), as does stopping or a cache
/// a quarter full.
async fn pause_while_arriving(store: &ShardStore, pause: Duration) {
    let end = Instant::now() + pause;
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        let before = store.cache.borrow().arrived();
        glommio::timer::sleep(PAUSE_STEP.min(end - now)).await;
        if store.cache.borrow().arrived() == before || !may_pause(store) {
            return;
        }
    }
}

/// Add the writer's progress since the last call to the shared counters (the cache size
/// is published at the top of every writer round).
fn publish(store: &ShardStore, reported: &mut WriterStats, now: WriterStats) {
    let s = &store.stats;
    bump(
        &s.committed_points,
        now.committed_points - reported.committed_points,
    );
    bump(
        &s.update_operations,
        now.update_operations - reported.update_operations,
    );
    bump(&s.update_micros, now.update_micros - reported.update_micros);
    bump(&s.creates, now.creates - reported.creates);
    bump(&s.errors, now.errors - reported.errors);
    if now.committed_points > reported.committed_points {
        let ms = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        s.last_commit_unix_ms.fetch_max(ms, Ordering::Relaxed);
    }
    *reported = now;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_writer_pauses_only_after_small_updates_while_points_arrive() {
        let store = ShardStore::new(100_000, Arc::default());
        let took = Duration::from_millis(3);
        let before = store.cache.borrow().arrived();
        // Nothing arrived during the round: the rest is written at once.
        assert_eq!(pace(&store, 10, 10, before, took, Duration::ZERO), None);
        store.add(b"a.b", 1, 1.0);
        // Small updates while points arrive: the smaller, the longer the pause, up to 32
        // rounds.
        assert_eq!(
            pace(&store, 10, 10, before, took, Duration::ZERO),
            Some(took * 32)
        );
        assert_eq!(
            pace(&store, 2560, 10, before, took, Duration::ZERO),
            Some(took * 3)
        );
        assert_eq!(
            pace(&store, 5120, 10, before, took, Duration::ZERO),
            Some(took)
        );
        // A pass that has gone on for PACED_PASS: no pause.
        assert_eq!(pace(&store, 10, 10, before, took, PACED_PASS), None);
        // Updates of the target size and more: no pause.
        assert_eq!(pace(&store, 10_240, 10, before, took, Duration::ZERO), None);
        // Stopping: no pause.
        store.stopping.set(true);
        assert_eq!(pace(&store, 10, 10, before, took, Duration::ZERO), None);
        store.stopping.set(false);
        // A cache a quarter full: no pause.
        for t in 0..2000 {
            store.add(b"a.c", t, 1.0);
        }
        assert!(store.cache.borrow().is_above(0.25));
        assert_eq!(pace(&store, 10, 10, before, took, Duration::ZERO), None);
    }

    #[test]
    fn a_pause_ends_when_points_stop_arriving() {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(1 << 20)
            .spawn(|| async {
                let store = ShardStore::new(1 << 20, Arc::default());
                // Nothing arrives: the first step ends the pause.
                let started = Instant::now();
                pause_while_arriving(&store, Duration::from_secs(10)).await;
                assert!(started.elapsed() < Duration::from_secs(5));
                // Points keep arriving: the pause lasts its length.
                let feeder = {
                    let store = store.clone();
                    glommio::spawn_local(async move {
                        for t in 0..400 {
                            store.add(b"a.b", t, 1.0);
                            glommio::timer::sleep(Duration::from_millis(1)).await;
                        }
                    })
                };
                let started = Instant::now();
                pause_while_arriving(&store, Duration::from_millis(60)).await;
                assert!(started.elapsed() >= Duration::from_millis(60));
                feeder.await;
                // The flow stopped: the next pause ends at its first step.
                let started = Instant::now();
                pause_while_arriving(&store, Duration::from_secs(10)).await;
                assert!(started.elapsed() < Duration::from_secs(5));
            })
            .expect("executor")
            .join()
            .expect("join");
    }

    fn drain() -> Drain {
        let store = ShardStore::new(1 << 20, Arc::default());
        let rules = crate::storage::rules::StorageRules::defaults().unwrap();
        let writer = Writer::new(std::path::PathBuf::from("/nonexistent/whisper"), rules);
        let opts = WriterOptions {
            batch: 16,
            drain_timeout: Duration::from_secs(1),
            rules: None,
            rules_every: Duration::from_secs(60),
            signals: Arc::default(),
        };
        Drain::new(store, writer, opts)
    }

    fn batch(name: &str) -> Batch {
        Batch {
            name: name.as_bytes().into(),
            points: vec![(10, 1.0), (20, 2.0)],
        }
    }

    fn os_error(errno: i32) -> WriteError {
        WriteError::Io {
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(errno),
        }
    }

    /// One series failing while others are written does not back the round off; only a
    /// round that wrote nothing does. Retried points go back to the cache; points no retry
    /// can mend are dropped and counted by cause.
    #[test]
    fn settling_keeps_retries_drops_the_hopeless_and_backs_off_only_when_nothing_was_written() {
        let mut d = drain();
        let outcome = d.settle(
            vec![batch("disk.full"), batch("fine"), batch("not.a.dir")],
            vec![
                Err(os_error(libc::ENOSPC)),
                Ok(2),
                Err(os_error(libc::ENOTDIR)),
            ],
        );
        assert_eq!(outcome, Outcome::Written);
        assert_eq!(d.store.cache.borrow().points(b"disk.full").len(), 2);
        assert!(d.store.cache.borrow().points(b"not.a.dir").is_empty());
        let enotdir = WriteError::DROP_CAUSES
            .iter()
            .position(|c| *c == "enotdir")
            .unwrap();
        assert_eq!(d.store.stats.dropped[enotdir].load(Ordering::Relaxed), 2);
        let outcome = d.settle(vec![batch("disk.full")], vec![Err(os_error(libc::EROFS))]);
        assert_eq!(outcome, Outcome::Failed);
        let outcome = d.settle(vec![batch("x")], vec![Err(os_error(libc::ENAMETOOLONG))]);
        assert_eq!(outcome, Outcome::Waiting);
        assert_eq!(d.store.stats.bad_names.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn error_classes() {
        for (errno, cause, disposition) in [
            (libc::ENOSPC, "enospc", Disposition::Retry),
            (libc::EDQUOT, "enospc", Disposition::Retry),
            (libc::EROFS, "eacces", Disposition::Retry),
            (libc::EPERM, "eacces", Disposition::Retry),
            (libc::EMFILE, "emfile", Disposition::Retry),
            (libc::ENFILE, "emfile", Disposition::Retry),
            (libc::EIO, "eio", Disposition::Retry),
            (libc::ENAMETOOLONG, "name", Disposition::Drop),
            (libc::EINVAL, "einval", Disposition::Drop),
            (libc::EISDIR, "enotdir", Disposition::Drop),
            (libc::EFBIG, "efbig", Disposition::Drop),
            (libc::EAGAIN, "other", Disposition::Retry),
        ] {
            let e = os_error(errno);
            assert_eq!((e.cause(), e.disposition()), (cause, disposition), "{e}");
        }
        let corrupt = WriteError::Whisper {
            path: "/x".into(),
            source: crate::storage::whisper::WhisperError::Corrupt("short".into()),
        };
        assert_eq!(corrupt.disposition(), Disposition::Quarantine);
    }
}
