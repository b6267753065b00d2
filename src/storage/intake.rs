//! How points reach the cache of the shard that owns their series.
//!
//! A shard's flush and its carbon receivers produce Graphite points; [`PointRouter::add`]
//! puts each name in its canonical form (carbon's file for `.a.b` is `a/b.wsp`, so the
//! series is `a.b`: one file, one owner) and [`Router`] picks its owner. The owner's points
//! go straight into its [`ShardStore`]; the others travel in one [`PointBatch`] per peer
//! over a bounded channel (a full channel makes the sender wait: back-pressure reaches the
//! TCP readers) to the owner's [`intake`] task. Counted: names that cannot be a file
//! (`bad_names`), points for a peer that had stopped (`lost_in_shutdown`).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::layout::{canonical_name, is_plain};
use super::shard_store::ShardStore;
use super::stats::bump;
use crate::route::Router;
use crate::shutdown::{Shutdown, PEER_CHECK};

/// Points routed to another shard, their names packed into one buffer. The owner frees
/// what the sender allocated, and glibc takes the sender's arena lock for every such
/// free, so a batch is two allocations, not one per point (a name each).
#[derive(Debug, Default)]
pub struct PointBatch {
    names: Vec<u8>,
    /// (end of the name in `names`, timestamp, value); a name starts where the previous
    /// one ends. The end's top bit ([`RECEIVED`]) marks a received carbon point.
    points: Vec<(u32, i64, f64)>,
    /// The sending shard.
    from: usize,
    /// The sender's last batch: it sends nothing more (at shutdown).
    last: bool,
}

impl PointBatch {
    fn for_peer() -> Self {
        Self {
            names: Vec::with_capacity(BATCH_POINTS * 48),
            points: Vec::with_capacity(BATCH_POINTS),
            ..Self::default()
        }
    }

    /// Add a point. Names longer than a batch can index are refused (never: carbon lines
    /// are capped at 16 KiB and a batch holds 1024 points).
    pub fn push(&mut self, name: &[u8], ts: i64, value: f64) -> bool {
        self.push_point(name, ts, value, false)
    }

    /// Add a point; `received`: a carbon point (counted as received once journaled).
    fn push_point(&mut self, name: &[u8], ts: i64, value: f64, received: bool) -> bool {
        let end = self.names.len() + name.len();
        let Ok(end) = u32::try_from(end) else {
            return false;
        };
        if end & RECEIVED != 0 {
            return false;
        }
        self.names.extend_from_slice(name);
        self.points
            .push((if received { end | RECEIVED } else { end }, ts, value));
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
        self.iter_marked().map(|(n, t, v, _)| (n, t, v))
    }

    /// The points in the order pushed, each with whether it is a received carbon point.
    fn iter_marked(&self) -> impl Iterator<Item = (&[u8], i64, f64, bool)> {
        let mut start = 0;
        self.points.iter().map(move |&(end, ts, v)| {
            let (received, end) = (end & RECEIVED != 0, end & !RECEIVED);
            let name = &self.names[start as usize..end as usize];
            start = end;
            (name, ts, v, received)
        })
    }
}

/// The bit of a [`PointBatch`] entry's name end marking a received carbon point.
const RECEIVED: u32 = 1 << 31;

/// Points a batch for a peer holds before it is sent.
const BATCH_POINTS: usize = 1024;

/// Routes points to the shard that owns their series: this shard's go straight into its
/// [`ShardStore`]; the others are batched per peer and sent over a bounded channel (a full
/// channel makes the sender wait: back-pressure reaches the TCP readers).
pub struct PointRouter {
    store: Rc<ShardStore>,
    /// Peers that failed are not sent to (a send to a full channel nobody reads would
    /// never end).
    signals: Arc<Shutdown>,
    router: Router,
    me: usize,
    peers: RefCell<Option<Vec<mpsc::Sender<PointBatch>>>>,
    pending: RefCell<Vec<PointBatch>>,
}

impl PointRouter {
    pub fn new(
        store: Rc<ShardStore>,
        me: usize,
        peers: Vec<mpsc::Sender<PointBatch>>,
        signals: Arc<Shutdown>,
    ) -> Rc<Self> {
        let router = Router::new(peers.len());
        let pending = (0..peers.len()).map(|_| PointBatch::default()).collect();
        Rc::new(Self {
            store,
            signals,
            router,
            me,
            peers: RefCell::new(Some(peers)),
            pending: RefCell::new(pending),
        })
    }

    pub fn store(&self) -> &Rc<ShardStore> {
        &self.store
    }

    /// Route one point under its [`canonical_name`], so every name carbon stores in one
    /// file is one series with one owner (`.a.b`, `a/b` and `a.b` alike); a name no file
    /// can hold (no path element, a NUL, an element over 255 bytes, a path too long, under
    /// `_tagged.`) is dropped here, before any cache, and counted in `bad_names` and by
    /// reason. Returns true when some peer's batch is full (then call
    /// [`send_full`](Self::send_full)).
    pub fn add(&self, name: &[u8], ts: i64, value: f64) -> bool {
        self.route(name, ts, value, false)
    }

    /// [`add`](Self::add) a received carbon point: with a journal, its owner counts it in
    /// `metrics_received` once it is journaled.
    pub fn add_received(&self, name: &[u8], ts: i64, value: f64) -> bool {
        self.route(name, ts, value, true)
    }

    fn route(&self, name: &[u8], ts: i64, value: f64, received: bool) -> bool {
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
            self.store.add_point(name, ts, value, received);
            return false;
        }
        let mut pending = self.pending.borrow_mut();
        let batch = &mut pending[owner];
        if batch.points.capacity() == 0 {
            *batch = PointBatch::for_peer();
        }
        if !batch.push_point(name, ts, value, received) {
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
                bump(&self.store.stats.bad_name_reasons[e.reason()], 1);
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
            self.send_to(to, batch).await;
        }
    }

    /// Send one batch to peer `to`; what cannot be delivered (the peer stopped or failed)
    /// is counted as lost.
    async fn send_to(&self, to: usize, mut batch: PointBatch) {
        batch.from = self.me;
        let points = batch.len();
        let peer = self
            .peers
            .borrow()
            .as_ref()
            .and_then(|p| p.get(to).cloned());
        let sent = match peer {
            Some(tx) => self.signals.unless_failed(to, tx.send(batch)).await,
            None => None,
        };
        if !matches!(sent, Some(Ok(()))) {
            bump(&self.store.stats.lost_in_shutdown, points as u64);
        }
    }

    /// Send what is pending, tell every peer this shard sends nothing more, and let go of
    /// the peers (at shutdown, so their intakes end).
    pub async fn close(&self) {
        self.send_all().await;
        let n = self.pending.borrow().len();
        for to in (0..n).filter(|&to| to != self.me) {
            let last = PointBatch {
                last: true,
                ..PointBatch::default()
            };
            self.send_to(to, last).await;
        }
        self.peers.borrow_mut().take();
    }
}

/// Receive the points the other shards route to this one (`me` of `shards`) until every
/// peer has sent its last batch, has failed, or is gone.
pub async fn intake(
    store: Rc<ShardStore>,
    mut rx: mpsc::Receiver<PointBatch>,
    me: usize,
    shards: usize,
    signals: Arc<Shutdown>,
) {
    let mut open: Vec<bool> = (0..shards).map(|p| p != me).collect();
    while (0..shards).any(|p| open[p] && !signals.has_failed(p)) {
        let batch = match rx.try_recv() {
            Ok(batch) => batch,
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Wait for the next batch, looking every so often whether a peer failed.
                let next = futures_lite::future::or(async { Some(rx.recv().await) }, async {
                    glommio::timer::sleep(PEER_CHECK).await;
                    None
                });
                match next.await {
                    Some(Some(batch)) => batch,
                    Some(None) => return,
                    None => continue,
                }
            }
        };
        for (name, ts, v, received) in batch.iter_marked() {
            store.add_point(name, ts, v, received);
        }
        if batch.last {
            open[batch.from] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn points_are_routed_under_their_canonical_name() {
        let store = ShardStore::new(1 << 20, Arc::default());
        let (tx, _rx) = mpsc::channel(1);
        let router = PointRouter::new(store.clone(), 0, vec![tx], Arc::default());
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
}
