//! A shard's storage: its write-back cache, the task that writes it to whisper files, the
//! intake of points other shards route to it, and the drain at shutdown.
//!
//! Flow: a shard's flush produces Graphite points; [`Router`] picks each point's owner;
//! the owner's points go straight into its [`Cache`], the others travel in one
//! [`PointBatch`] per peer and flush over a bounded channel to the owner's [`intake`]
//! task. [`writer_loop`] drains the cache, largest backlog first, through the io_uring
//! [`Writer`]. A failed write puts the series back (nothing is lost while the disk is
//! full or unwritable), counts the error and logs its cause at most once a minute; the
//! other series keep being written.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::cache::Cache;
use crate::route::Router;
use crate::writer::{WriteError, Writer, WriterStats};

/// Points routed to another shard: (series name, timestamp, value).
pub type PointBatch = Vec<(Box<[u8]>, i64, f64)>;

/// A shard's storage state shared by its tasks (single-threaded: `Rc`).
pub struct Store {
    pub cache: RefCell<Cache>,
    /// Points refused because the cache was at its budget.
    pub overflow: Cell<u64>,
    /// Points dropped because their name cannot be a file (e.g. `..` elements).
    pub bad_names: Cell<u64>,
    pub writer_stats: Cell<WriterStats>,
    /// Set when the shard stops: the writer loop ends once the cache is empty.
    pub stopping: Cell<bool>,
}

impl Store {
    pub fn new(cache_bytes: usize) -> Rc<Self> {
        Rc::new(Self {
            cache: RefCell::new(Cache::new(cache_bytes)),
            overflow: Cell::new(0),
            bad_names: Cell::new(0),
            writer_stats: Cell::new(WriterStats::default()),
            stopping: Cell::new(false),
        })
    }

    /// Add one point of a series this shard owns.
    pub fn add(&self, name: &[u8], ts: i64, value: f64) {
        if self.cache.borrow_mut().add(name, ts, value).is_err() {
            self.overflow.set(self.overflow.get() + 1);
        }
    }
}

/// Split flushed points by owner: this shard's go into `store`, the rest into one batch
/// per peer (index = shard id; this shard's entry stays empty).
pub fn route_points(
    store: &Store,
    router: &Router,
    me: usize,
    ts: i64,
    points: &[(Box<[u8]>, f64)],
) -> Vec<PointBatch> {
    let mut out: Vec<PointBatch> = (0..router.shards()).map(|_| Vec::new()).collect();
    for (name, v) in points {
        let owner = router.owner(name);
        if owner == me {
            store.add(name, ts, *v);
        } else {
            out[owner].push((name.clone(), ts, *v));
        }
    }
    out
}

/// Receive other shards' points until every sender is gone.
pub async fn intake(store: Rc<Store>, mut rx: mpsc::Receiver<PointBatch>) {
    while let Some(batch) = rx.recv().await {
        for (name, ts, v) in batch {
            store.add(&name, ts, v);
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

/// Write the cache to whisper files until the shard stops and the cache is empty (or,
/// when stopping, until `drain_timeout` passes with writes still failing).
pub async fn writer_loop(
    store: Rc<Store>,
    mut writer: Writer,
    batch: usize,
    drain_timeout: Duration,
) {
    let mut log = ErrorLog::default();
    let mut suppressed = 0u64;
    let mut stop_deadline: Option<Instant> = None;
    loop {
        let taken = store.cache.borrow_mut().take_batch(batch);
        if taken.is_empty() {
            if store.stopping.get() {
                return;
            }
            glommio::timer::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let now = crate::clock::now().as_secs() as i64;
        let mut failed = false;
        for b in taken {
            match writer.write(&b, now).await {
                Ok(_) => {}
                Err(e) => {
                    log.report(&e, &mut suppressed);
                    if e.is_retryable() {
                        failed = true;
                        store.cache.borrow_mut().put_back(b);
                    } else {
                        store
                            .bad_names
                            .set(store.bad_names.get() + b.points.len() as u64);
                    }
                }
            }
        }
        store.writer_stats.set(writer.stats);
        if failed {
            if store.stopping.get() {
                let deadline = *stop_deadline.get_or_insert_with(|| Instant::now() + drain_timeout);
                if Instant::now() >= deadline {
                    let left = store.cache.borrow().len();
                    tracing::error!(
                        points = left,
                        "stopping with {left} points that could not be written (see the errors above)"
                    );
                    return;
                }
            }
            // Back off: the disk will not be better in a microsecond.
            glommio::timer::sleep(Duration::from_millis(500)).await;
        }
    }
}
