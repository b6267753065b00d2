//! A shard's storage: its write-back cache, the task that writes it to whisper files, the
//! intake of points other shards route to it, and the drain at shutdown.
//!
//! Flow: a shard's flush and its carbon receivers produce Graphite points;
//! [`PointRouter::add`] puts each name in its canonical form (carbon's file for `.a.b` is
//! `a/b.wsp`, so the series is `a.b`: one file, one owner) and [`Router`] picks its owner;
//! the owner's points go straight into its [`Cache`], the others travel in one
//! [`PointBatch`] per peer and flush over a bounded channel to the owner's [`intake`]
//! task. [`writer_loop`] drains the cache, largest backlog first, through the io_uring
//! [`Writer`]. A failed write puts the series back (nothing is lost while the disk is
//! full or unwritable), counts the error and logs its cause at most once a minute; the
//! other series keep being written.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use crate::cache::{Batch, Cache};
use crate::route::Router;
use crate::storage::layout::{canonical_name, is_plain};
use crate::storage::rules::{StorageRules, AGGREGATION_FILE, SCHEMAS_FILE};
use crate::writer::{WriteError, Writer, WriterStats};

/// Points routed to another shard, their names packed into one buffer. The owner frees
/// what the sender allocated, and glibc takes the sender's arena lock for every such
/// free, so a batch is two allocations, not one per point (a name each).
#[derive(Debug, Default)]
pub struct PointBatch {
    names: Vec<u8>,
    /// (end of the name in `names`, timestamp, value); a name starts where the previous
    /// one ends.
    points: Vec<(u32, i64, f64)>,
}

impl PointBatch {
    fn for_peer() -> Self {
        Self {
            names: Vec::with_capacity(BATCH_POINTS * 48),
            points: Vec::with_capacity(BATCH_POINTS),
        }
    }

    /// Add a point. Names longer than a batch can index are refused (never: carbon lines
    /// are capped at 16 KiB and a batch holds 1024 points).
    pub fn push(&mut self, name: &[u8], ts: i64, value: f64) -> bool {
        let Ok(end) = u32::try_from(self.names.len() + name.len()) else {
            return false;
        };
        self.names.extend_from_slice(name);
        self.points.push((end, ts, value));
        true
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The points in the order pushed: (name, timestamp, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], i64, f64)> {
        let mut start = 0;
        self.points.iter().map(move |&(end, ts, v)| {
            let name = &self.names[start as usize..end as usize];
            start = end;
            (name, ts, v)
        })
    }
}

/// A shard's storage counters, shared with shard 0 (which reports every shard's as
/// carbon's `carbon.agents.*` self-metrics). Updated per batch, not per point.
#[derive(Debug, Default)]
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
    /// Points for another shard dropped because that shard had stopped.
    pub lost_in_shutdown: AtomicU64,
    /// Carbon TCP connections (plaintext and pickle) this shard serves now.
    pub connections: AtomicU64,
    /// When points were last committed, in milliseconds since the Unix epoch (0: never).
    /// For timing a load from outside without polling finely.
    pub last_commit_unix_ms: AtomicU64,
}

/// One of the [`StoreStats`] counters.
pub type StatField = fn(&StoreStats) -> &AtomicU64;

/// A counter summed over every shard's stats.
pub fn total(all: &[Arc<StoreStats>], field: StatField) -> u64 {
    all.iter().map(|s| field(s).load(Ordering::Relaxed)).sum()
}

pub(crate) fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

/// A shard's storage state shared by its tasks (single-threaded: `Rc`).
pub struct Store {
    pub cache: RefCell<Cache>,
    pub stats: Arc<StoreStats>,
    /// Set when the shard stops: the writer loop ends once the cache is empty.
    pub stopping: Cell<bool>,
    /// Told about each name the first time it enters the cache (the query thread's index).
    pub names: std::cell::OnceCell<crate::index::NameSink>,
    /// The batches the writer has taken out of the cache and is writing now: still
    /// readable by the query thread, so a point is never in neither the cache nor its file.
    pub in_flight: RefCell<Rc<Vec<Batch>>>,
}

impl Store {
    pub fn new(cache_bytes: usize, stats: Arc<StoreStats>) -> Rc<Self> {
        Rc::new(Self {
            cache: RefCell::new(Cache::new(cache_bytes)),
            stats,
            stopping: Cell::new(false),
            names: std::cell::OnceCell::new(),
            in_flight: RefCell::default(),
        })
    }

    /// The points of each series not yet in its file, sorted, one per timestamp: those
    /// the writer is writing now, overridden by those received since (as carbon's
    /// cache-query sees its cache).
    pub fn pending(&self, names: &[String]) -> Vec<Vec<(i64, f64)>> {
        let cache = self.cache.borrow();
        let flight = self.in_flight.borrow();
        let writing: HashMap<&[u8], &[(i64, f64)]> = flight
            .iter()
            .map(|b| (&*b.name, b.points.as_slice()))
            .collect();
        names
            .iter()
            .map(|n| {
                let newer = cache.points(n.as_bytes());
                match writing.get(n.as_bytes()) {
                    Some(older) => merge_newer(older, newer),
                    None => newer,
                }
            })
            .collect()
    }

    /// Add one point of a series this shard owns.
    pub fn add(&self, name: &[u8], ts: i64, value: f64) {
        let mut cache = self.cache.borrow_mut();
        let before = cache.series();
        if cache.add(name, ts, value).is_err() {
            bump(&self.stats.cache_overflow, 1);
        } else if cache.series() != before {
            if let Some(sink) = self.names.get() {
                sink.offer(name);
            }
        }
    }

    /// True while the cache is nearly full: TCP receivers pause reading.
    pub fn should_pause(&self) -> bool {
        self.cache.borrow().is_above(0.9)
    }

    fn publish_cache_size(&self) {
        let c = self.cache.borrow();
        self.stats
            .cache_size
            .store(c.len() as u64, Ordering::Relaxed);
        self.stats
            .cache_queues
            .store(c.series() as u64, Ordering::Relaxed);
    }
}

/// Points a batch for a peer holds before it is sent.
const BATCH_POINTS: usize = 1024;

/// Routes points to the shard that owns their series: this shard's go straight into its
/// [`Store`]; the others are batched per peer and sent over a bounded channel (a full
/// channel makes the sender wait: back-pressure reaches the TCP readers).
pub struct PointRouter {
    store: Rc<Store>,
    router: Router,
    me: usize,
    peers: RefCell<Option<Vec<mpsc::Sender<PointBatch>>>>,
    pending: RefCell<Vec<PointBatch>>,
}

impl PointRouter {
    pub fn new(store: Rc<Store>, me: usize, peers: Vec<mpsc::Sender<PointBatch>>) -> Rc<Self> {
        let router = Router::new(peers.len());
        let pending = (0..peers.len()).map(|_| PointBatch::default()).collect();
        Rc::new(Self {
            store,
            router,
            me,
            peers: RefCell::new(Some(peers)),
            pending: RefCell::new(pending),
        })
    }

    pub fn store(&self) -> &Rc<Store> {
        &self.store
    }

    /// Route one point under its [`canonical_name`], so every name carbon stores in one
    /// file is one series with one owner (`.a.b`, `a/b` and `a.b` alike); a name with no
    /// path element (`.`, `/`) is dropped and counted in `bad_names`. Returns true when
    /// some peer's batch is full (then call [`send_full`](Self::send_full)).
    pub fn add(&self, name: &[u8], ts: i64, value: f64) -> bool {
        let rewritten;
        let name = if is_plain(name) {
            name
        } else {
            match self.canonical(name) {
                Some(n) => {
                    rewritten = n;
                    &*rewritten
                }
                None => return false,
            }
        };
        let owner = self.router.owner(name);
        if owner == self.me {
            self.store.add(name, ts, value);
            return false;
        }
        let mut pending = self.pending.borrow_mut();
        let batch = &mut pending[owner];
        if batch.points.capacity() == 0 {
            *batch = PointBatch::for_peer();
        }
        if !batch.push(name, ts, value) {
            bump(&self.store.stats.bad_names, 1);
        }
        batch.len() >= BATCH_POINTS
    }

    /// The canonical name of a name that is not plain; `None` (counted) when it has none.
    #[cold]
    fn canonical<'n>(&self, name: &'n [u8]) -> Option<std::borrow::Cow<'n, [u8]>> {
        canonical_name(name)
            .inspect_err(|e| {
                tracing::debug!(error = %e, "point dropped");
                bump(&self.store.stats.bad_names, 1);
            })
            .ok()
    }

    /// Send the batches that are full.
    pub async fn send_full(&self) {
        self.send(BATCH_POINTS).await;
    }

    /// Send every pending batch.
    pub async fn send_all(&self) {
        self.send(1).await;
    }

    async fn send(&self, at_least: usize) {
        let n = self.pending.borrow().len();
        for to in 0..n {
            let batch = {
                let mut pending = self.pending.borrow_mut();
                if pending[to].len() < at_least.max(1) {
                    continue;
                }
                std::mem::take(&mut pending[to])
            };
            let peer = self
                .peers
                .borrow()
                .as_ref()
                .and_then(|p| p.get(to).cloned());
            let sent = match peer {
                Some(tx) => tx.send(batch).await.map_err(|e| e.0.len()),
                None => Err(batch.len()),
            };
            if let Err(lost) = sent {
                bump(&self.store.stats.lost_in_shutdown, lost as u64);
            }
        }
    }

    /// Send what is pending and let go of the peers (at shutdown, so their intakes end).
    pub async fn close(&self) {
        self.send_all().await;
        self.peers.borrow_mut().take();
    }
}

/// Receive other shards' points until every sender is gone.
pub async fn intake(store: Rc<Store>, mut rx: mpsc::Receiver<PointBatch>) {
    while let Some(batch) = rx.recv().await {
        for (name, ts, v) in batch.iter() {
            store.add(name, ts, v);
        }
    }
}

/// Logs a write error at most once a minute per cause.
#[derive(Default)]
struct ErrorLog {
    last: HashMap<&'static str, Instant>,
}

impl ErrorLog {
    fn report(&mut self, e: &WriteError, suppressed: &mut u64) {
        let cause = e.cause();
        let now = Instant::now();
        let due = self
            .last
            .get(cause)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(60));
        if due {
            self.last.insert(cause, now);
            tracing::error!(
                cause,
                error = %e,
                similar_errors_not_logged = *suppressed,
                "whisper write failed; the points stay in the cache and are retried"
            );
            *suppressed = 0;
        } else {
            *suppressed += 1;
        }
    }
}

/// Where the storage rules come from, for reloading them while running (carbon re-reads
/// its schema files every minute).
pub struct RulesSource {
    pub dir: PathBuf,
    stamp: Option<(Option<SystemTime>, Option<SystemTime>)>,
    checked: Instant,
}

impl RulesSource {
    pub fn new(dir: PathBuf) -> Self {
        let mut s = Self {
            dir,
            stamp: None,
            checked: Instant::now(),
        };
        s.stamp = Some(s.mtimes());
        s
    }

    fn mtimes(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let m = |f: &str| {
            std::fs::metadata(self.dir.join(f))
                .and_then(|m| m.modified())
                .ok()
        };
        (m(SCHEMAS_FILE), m(AGGREGATION_FILE))
    }

    /// New rules when a file changed since the last look (at most once per `every`);
    /// a file that no longer parses is reported and the current rules stay.
    fn poll(&mut self, every: Duration) -> Option<StorageRules> {
        if self.checked.elapsed() < every {
            return None;
        }
        self.checked = Instant::now();
        let now = self.mtimes();
        if self.stamp == Some(now) {
            return None;
        }
        self.stamp = Some(now);
        match StorageRules::load(&self.dir) {
            Ok(rules) => {
                tracing::info!(dir = %self.dir.display(), "storage rules reloaded; they apply to files created from now on");
                Some(rules)
            }
            Err(e) => {
                tracing::error!(error = %e, "storage rules not reloaded; keeping the previous ones");
                None
            }
        }
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
}

/// Write the cache to whisper files until the shard stops and the cache is empty (or,
/// when stopping, until `drain_timeout` passes with writes still failing).
pub async fn writer_loop(store: Rc<Store>, mut writer: Writer, mut opts: WriterOptions) {
    let mut log = ErrorLog::default();
    let mut suppressed = 0u64;
    let mut stop_deadline: Option<Instant> = None;
    let mut pass_started = Instant::now();
    let mut reported = WriterStats::default();
    loop {
        if let Some(rules) = opts.rules.as_mut().and_then(|r| r.poll(opts.rules_every)) {
            writer.set_rules(rules);
        }
        if store.stopping.get() {
            // Everything received must reach the disk before exit, new files included.
            writer.lift_create_limit();
        }
        let round = opts.batch.min(writer.max_open());
        if store.cache.borrow().pass_done() {
            // The next take ranks the series again: a new pass.
            pass_started = Instant::now();
        }
        let taken = store.cache.borrow_mut().take_batch(round);
        store.publish_cache_size();
        if taken.is_empty() {
            if store.stopping.get() {
                break;
            }
            glommio::timer::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let now = crate::clock::now().as_secs() as i64;
        let (mut failed, mut written) = (false, false);
        let round_started = Instant::now();
        let arrived_before = store.cache.borrow().arrived();
        let round_points: usize = taken.iter().map(|b| b.points.len()).sum();
        let round_series = taken.len();
        let creates_before = writer.stats.creates;
        let taken = Rc::new(taken);
        *store.in_flight.borrow_mut() = taken.clone();
        let results = writer.write_many(&taken, now).await;
        *store.in_flight.borrow_mut() = Rc::default();
        // Readers hold the batches only inside a synchronous call, so this is the last.
        let taken = Rc::try_unwrap(taken).unwrap_or_else(|shared| (*shared).clone());
        for (b, result) in taken.into_iter().zip(results) {
            match result {
                Ok(_) => written = true,
                Err(WriteError::CreateDeferred) => store.cache.borrow_mut().put_back(b),
                Err(e) => {
                    log.report(&e, &mut suppressed);
                    if e.is_retryable() {
                        failed = true;
                        store.cache.borrow_mut().put_back(b);
                    } else {
                        bump(&store.stats.bad_names, b.points.len() as u64);
                    }
                }
            }
        }
        publish(&store, &mut reported, writer.stats);
        if failed {
            if store.stopping.get() {
                let deadline =
                    *stop_deadline.get_or_insert_with(|| Instant::now() + opts.drain_timeout);
                if Instant::now() >= deadline {
                    let left = store.cache.borrow().len();
                    tracing::error!(
                        points = left,
                        "stopping with {left} points that could not be written (see the errors above)"
                    );
                    break;
                }
            }
            // Back off: the disk will not be better in a microsecond.
            glommio::timer::sleep(Duration::from_millis(500)).await;
        } else if !written {
            // Only series waiting for the create limit: let time pass.
            glommio::timer::sleep(Duration::from_millis(100)).await;
        } else if writer.stats.creates == creates_before {
            if let Some(pause) = pace(
                &store,
                round_points,
                round_series,
                arrived_before,
                round_started.elapsed(),
                pass_started.elapsed(),
            ) {
                pause_while_arriving(&store, pause).await;
            }
        }
    }
    writer.close_all().await;
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
    store: &Store,
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
fn may_pause(store: &Store) -> bool {
    !store.stopping.get() && !store.cache.borrow().is_above(0.25)
}

/// Wait up to `pause`, in steps of [`PAUSE_STEP`]; a step in which no point arrived ends
/// the wait (the flow stopped: the rest is written at once), as does stopping or a cache
/// a quarter full.
async fn pause_while_arriving(store: &Store, pause: Duration) {
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
fn publish(store: &Store, reported: &mut WriterStats, now: WriterStats) {
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

/// Two sorted one-per-timestamp point lists as one, `newer` winning on equal timestamps.
fn merge_newer(older: &[(i64, f64)], newer: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let mut old = older.iter().copied().peekable();
    for p in newer {
        while let Some(o) = old.next_if(|o| o.0 < p.0) {
            out.push(o);
        }
        old.next_if(|o| o.0 == p.0);
        out.push(p);
    }
    out.extend(old);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_pauses_only_after_small_updates_while_points_arrive() {
        let store = Store::new(100_000, Arc::default());
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
                let store = Store::new(1 << 20, Arc::default());
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

    #[test]
    fn points_are_routed_under_their_canonical_name() {
        let store = Store::new(1 << 20, Arc::default());
        let (tx, _rx) = mpsc::channel(1);
        let router = PointRouter::new(store.clone(), 0, vec![tx]);
        for (i, name) in [&b".a.b"[..], b"a/b", b"..a..b", b"a.b"]
            .into_iter()
            .enumerate()
        {
            assert!(!router.add(name, i as i64, i as f64));
        }
        router.add(b"...", 9, 9.0);
        router.add(b"/", 9, 9.0);
        let cache = store.cache.borrow();
        assert_eq!(cache.series(), 1);
        assert_eq!(
            cache.points(b"a.b"),
            vec![(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]
        );
        assert_eq!(store.stats.bad_names.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_point_batch_gives_back_its_points_in_order() {
        let mut b = PointBatch::default();
        assert!(b.is_empty());
        for (name, ts) in [(&b"a.b"[..], 1), (b"", 2), (b"x;k=v", 3), (b"a.b", 4)] {
            assert!(b.push(name, ts, ts as f64 / 2.0));
        }
        let got: Vec<(Vec<u8>, i64, f64)> = b.iter().map(|(n, t, v)| (n.to_vec(), t, v)).collect();
        assert_eq!(
            got,
            vec![
                (b"a.b".to_vec(), 1, 0.5),
                (Vec::new(), 2, 1.0),
                (b"x;k=v".to_vec(), 3, 1.5),
                (b"a.b".to_vec(), 4, 2.0),
            ]
        );
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn pending_points_include_the_batch_being_written() {
        let store = Store::new(1 << 20, Arc::default());
        store.add(b"a.b", 10, 1.0);
        store.add(b"a.b", 20, 2.0);
        store.add(b"c.d", 10, 5.0);
        let taken = store.cache.borrow_mut().take_batch(16);
        *store.in_flight.borrow_mut() = Rc::new(taken);
        // Received while the batch is being written: newer, wins on its timestamp.
        store.add(b"a.b", 20, 3.0);
        store.add(b"a.b", 30, 4.0);
        let names = ["a.b".to_string(), "c.d".to_string(), "e.f".to_string()];
        assert_eq!(
            store.pending(&names),
            vec![
                vec![(10, 1.0), (20, 3.0), (30, 4.0)],
                vec![(10, 5.0)],
                Vec::new()
            ]
        );
        *store.in_flight.borrow_mut() = Rc::default();
        assert_eq!(store.pending(&names)[0], vec![(20, 3.0), (30, 4.0)]);
    }

    #[test]
    fn merge_keeps_order_and_newer_values() {
        assert_eq!(
            merge_newer(
                &[(1, 1.0), (3, 3.0), (5, 5.0)],
                vec![(2, 20.0), (3, 30.0), (6, 60.0)]
            ),
            vec![(1, 1.0), (2, 20.0), (3, 30.0), (5, 5.0), (6, 60.0)]
        );
        assert_eq!(merge_newer(&[(1, 1.0)], Vec::new()), vec![(1, 1.0)]);
    }
}
