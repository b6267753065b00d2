//! A shard's storage state, shared by its tasks (single-threaded: `Rc`): the write-back
//! cache, the batch the writer is writing now, the storage counters, and the stop flag the
//! writer ends on.
//!
//! Invariant: a received point is always readable by the query thread, in the cache or in
//! the batch in flight, until its file holds it ([`ShardStore::pending`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::cache::{Batch, Cache};
use super::journal::Journal;
use super::stats::{bump, StoreStats};

/// A shard's storage state shared by its tasks (single-threaded: `Rc`).
pub struct ShardStore {
    pub cache: RefCell<Cache>,
    pub stats: Arc<StoreStats>,
    /// Set when the shard stops: the writer loop ends once the cache is empty.
    pub stopping: Cell<bool>,
    /// Told about each name the first time it enters the cache (the query thread's index).
    pub names: std::cell::OnceCell<super::index::NameSink>,
    /// The batches the writer has taken out of the cache and is writing now: still
    /// readable by the query thread, so a point is never in neither the cache nor its file.
    pub in_flight: RefCell<Rc<Vec<Batch>>>,
    /// The write-ahead journal, when `storage.journal` is on ([`super::journal`]).
    pub journal: std::cell::OnceCell<Rc<Journal>>,
}

impl ShardStore {
    pub fn new(cache_bytes: usize, stats: Arc<StoreStats>) -> Rc<Self> {
        Rc::new(Self {
            cache: RefCell::new(Cache::new(cache_bytes)),
            stats,
            stopping: Cell::new(false),
            names: std::cell::OnceCell::new(),
            in_flight: RefCell::default(),
            journal: std::cell::OnceCell::new(),
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

    /// Add one point of a series this shard owns (not a received carbon point).
    pub fn add(&self, name: &[u8], ts: i64, value: f64) {
        self.add_point(name, ts, value, false);
    }

    /// Add one point of a series this shard owns, journaling it when the journal is on.
    /// `received`: a carbon point, counted in `metrics_received` once its journal record is
    /// written (without a journal the receiver counts it when parsed).
    pub fn add_point(&self, name: &[u8], ts: i64, value: f64, received: bool) {
        let journal = self.journal.get();
        if journal.is_some_and(|j| j.is_full(name)) {
            bump(&self.stats.journal.overflow, 1);
            return;
        }
        let seg = journal.map_or(0, |j| j.segment());
        let mut cache = self.cache.borrow_mut();
        let before = cache.series();
        if cache.add_in(seg, name, ts, value).is_err() {
            bump(&self.stats.cache_overflow, 1);
            return;
        }
        if let Some(j) = journal {
            j.append(name, ts, value, received);
        }
        if cache.series() != before {
            if let Some(sink) = self.names.get() {
                sink.offer(name);
            }
        }
    }

    /// Put back a point replayed from journal segment `seg` (not journaled again); false
    /// when the cache is full (wait for the writer and try again).
    pub fn add_replayed(&self, seg: u64, name: &[u8], ts: i64, value: f64) -> bool {
        let mut cache = self.cache.borrow_mut();
        let before = cache.series();
        if cache.add_in(seg, name, ts, value).is_err() {
            return false;
        }
        if cache.series() != before {
            if let Some(sink) = self.names.get() {
                sink.offer(name);
            }
        }
        true
    }

    /// True when carbon points count as received once journaled, not when parsed.
    pub fn journaled(&self) -> bool {
        self.journal.get().is_some()
    }

    /// True while the cache is nearly full, or the journal is behind: TCP receivers pause
    /// reading.
    pub fn should_pause(&self) -> bool {
        self.cache.borrow().is_above(0.9) || self.journal.get().is_some_and(|j| j.is_behind())
    }

    pub(super) fn publish_cache_size(&self) {
        let c = self.cache.borrow();
        self.stats
            .cache_size
            .store(c.len() as u64, Ordering::Relaxed);
        self.stats
            .cache_queues
            .store(c.series() as u64, Ordering::Relaxed);
    }
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
    fn pending_points_include_the_batch_being_written() {
        let store = ShardStore::new(1 << 20, Arc::default());
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
