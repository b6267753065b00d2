//! The per-shard write-back cache: points waiting to be written to their whisper files.
//!
//! Each shard owns one [`Cache`] for the series it owns. Points arrive from the StatsD
//! flush and the carbon receivers; the shard's writer drains the cache, series with the
//! largest backlog first, so each write carries as many points as possible (as carbon's
//! `max` cache write strategy does).
//!
//! Contract:
//! - [`Cache::add`] stores a point; a later point for the same timestamp replaces the
//!   earlier one (carbon keeps the last value received for a timestamp).
//! - The cache has a memory budget in bytes ([`Cache::new`]). A point that would exceed it
//!   is refused with [`Full`] and counted by the caller; points already held are never
//!   evicted. Accounting is approximate but conservative: each point costs
//!   [`POINT_BYTES`], each series [`SERIES_BYTES`] plus its name.
//! - [`Cache::take_batch`] removes up to `n` series, largest backlog first (ranked once
//!   per pass over the pending series, as carbon's `max` strategy), each with its points
//!   sorted by timestamp, for one round of writes.
//! - [`Cache::put_back`] returns a series whose write failed (disk full, permission, …):
//!   its points are merged back, points received meanwhile win, and the budget may be
//!   exceeded by the returned points rather than losing them.
//! - [`Cache::points`] reads a series' pending points without removing them (what the
//!   query thread asks the owner for, so a point is visible before it is written).
//! - Journal segments ([`super::journal`]): each series remembers the oldest segment it
//!   holds points from ([`Cache::add_in`]); a series taken by [`Cache::take_batch`] is in
//!   flight until the next `take_batch` (the writer settles a round, putting back what
//!   failed, before taking the next), and keeps its segment meanwhile.
//!   [`Cache::oldest_segment`] is the oldest segment some pending or in-flight point came
//!   from: every older segment is wholly committed.

use hashbrown::HashMap;
use smallvec::SmallVec;

/// A series name as the cache's key: up to 40 bytes are kept inside the table, so the key
/// comparison of a lookup reads the bucket it already touched instead of another
/// allocation (adding a point is the hot path of every carbon line).
type Key = SmallVec<[u8; 40]>;

/// Bytes charged per cached point (timestamp + value + table overhead).
pub const POINT_BYTES: usize = 24;
/// Bytes charged per cached series, plus the length of its name.
pub const SERIES_BYTES: usize = 64;

/// The cache is at its memory budget: the point was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Points of one series, in arrival order; sorted and de-duplicated when taken.
#[derive(Debug, Default)]
struct Pending {
    points: Vec<(i64, f64)>,
    /// The oldest journal segment these points came from (0 without a journal).
    seg: u64,
}

/// How many entries name each segment as their oldest: a multiset of segments.
#[derive(Debug, Default)]
struct SegCount(std::collections::BTreeMap<u64, usize>);

impl SegCount {
    fn add(&mut self, seg: u64) {
        *self.0.entry(seg).or_default() += 1;
    }

    fn remove(&mut self, seg: u64) {
        if let std::collections::btree_map::Entry::Occupied(mut e) = self.0.entry(seg) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    fn first(&self) -> Option<u64> {
        self.0.keys().next().copied()
    }
}

/// One series taken for writing.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub name: Box<[u8]>,
    /// Sorted by timestamp, one point per timestamp (the last received).
    pub points: Vec<(i64, f64)>,
}

/// A write-back cache with a memory budget (see the module documentation).
#[derive(Debug)]
pub struct Cache {
    series: HashMap<Key, Pending>,
    /// The order series are taken in (see [`Cache::take_batch`]); the next one is last.
    queue: Vec<Key>,
    budget: usize,
    used: usize,
    points: usize,
    /// Points ever added (never decreases): tells the writer whether points are arriving.
    arrived: u64,
    /// The oldest segment of each pending series.
    segs: SegCount,
    /// The series taken by the last [`Cache::take_batch`], with their oldest segment:
    /// in flight until the next one.
    taken: HashMap<Box<[u8]>, u64>,
    taken_segs: SegCount,
}

impl Cache {
    /// An empty cache that holds at most about `budget_bytes`.
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            series: HashMap::new(),
            queue: Vec::new(),
            budget: budget_bytes,
            used: 0,
            points: 0,
            arrived: 0,
            segs: SegCount::default(),
            taken: HashMap::new(),
            taken_segs: SegCount::default(),
        }
    }

    /// Store one point of `name` (no journal: segment 0).
    pub fn add(&mut self, name: &[u8], ts: i64, value: f64) -> Result<(), Full> {
        self.add_in(0, name, ts, value)
    }

    /// Store one point of `name` that journal segment `seg` holds. Segments only grow:
    /// a series keeps the segment of its oldest pending point.
    pub fn add_in(&mut self, seg: u64, name: &[u8], ts: i64, value: f64) -> Result<(), Full> {
        if let Some(p) = self.series.get_mut(name) {
            if self.used + POINT_BYTES > self.budget {
                return Err(Full);
            }
            p.points.push((ts, value));
        } else {
            let cost = SERIES_BYTES + name.len() + POINT_BYTES;
            if self.used + cost > self.budget {
                return Err(Full);
            }
            self.used += cost - POINT_BYTES;
            self.series.insert(
                Key::from_slice(name),
                Pending {
                    points: vec![(ts, value)],
                    seg,
                },
            );
            self.segs.add(seg);
        }
        self.used += POINT_BYTES;
        self.points += 1;
        self.arrived += 1;
        Ok(())
    }

    /// True when the current pass is used up: the next [`Cache::take_batch`] ranks the
    /// series again.
    pub fn pass_done(&self) -> bool {
        self.queue.is_empty()
    }

    /// Points ever added to this cache (not counting those put back after a failed write).
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// Remove up to `n` series, those with the most pending points first. As carbon's
    /// `max` strategy does, the order is a snapshot taken when the previous one is used
    /// up: every series pending at the snapshot is written once, largest first, before
    /// series that arrived later or grew meanwhile are ranked again. Sorting once per
    /// pass instead of once per round keeps a round cheap with millions of series.
    pub fn take_batch(&mut self, n: usize) -> Vec<Batch> {
        // The previous round is settled: what it took and did not put back is written.
        self.taken.clear();
        self.taken_segs = SegCount::default();
        let mut out = Vec::new();
        while out.len() < n {
            if self.queue.is_empty() {
                if self.series.is_empty() {
                    break;
                }
                self.rank();
            }
            let Some(name) = self.queue.pop() else {
                break;
            };
            if let Some((name, pending)) = self.series.remove_entry(&name[..]) {
                self.release(&name, pending.points.len());
                self.segs.remove(pending.seg);
                self.taken_segs.add(pending.seg);
                self.taken.insert(name.as_slice().into(), pending.seg);
                out.push(Batch {
                    points: sorted_last_wins(pending.points),
                    name: name.as_slice().into(),
                });
            }
        }
        out
    }

    /// Snapshot the series by backlog: the largest (ties: the smallest name) is popped first.
    fn rank(&mut self) {
        let mut sizes: Vec<(usize, &[u8])> = self
            .series
            .iter()
            .map(|(k, p)| (p.points.len(), &**k))
            .collect();
        sizes.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)));
        self.queue = sizes.into_iter().map(|(_, k)| Key::from_slice(k)).collect();
    }

    /// Return a series whose write failed. Points that arrived since it was taken win
    /// over the returned ones for the same timestamp. Never refused: these points were
    /// accepted once and must not be lost.
    pub fn put_back(&mut self, batch: Batch) {
        let added = batch.points.len();
        // Its segment, as taken; a batch this cache never gave out holds no journaled point.
        let seg = match self.taken.remove(&batch.name) {
            Some(seg) => {
                self.taken_segs.remove(seg);
                seg
            }
            None => 0,
        };
        if let Some(p) = self.series.get_mut(&batch.name[..]) {
            let newer = std::mem::take(&mut p.points);
            p.points = batch.points;
            p.points.extend(newer);
            if seg < p.seg {
                self.segs.remove(p.seg);
                self.segs.add(seg);
                p.seg = seg;
            }
        } else {
            self.used += SERIES_BYTES + batch.name.len();
            let points = batch.points;
            self.series
                .insert(Key::from_slice(&batch.name), Pending { points, seg });
            self.segs.add(seg);
        }
        self.used += added * POINT_BYTES;
        self.points += added;
    }

    /// The pending points of `name`, sorted, one per timestamp (the last received).
    pub fn points(&self, name: &[u8]) -> Vec<(i64, f64)> {
        self.series
            .get(name)
            .map(|p| sorted_last_wins(p.points.clone()))
            .unwrap_or_default()
    }

    fn release(&mut self, name: &[u8], points: usize) {
        self.used = self
            .used
            .saturating_sub(SERIES_BYTES + name.len() + points * POINT_BYTES);
        self.points -= points;
    }

    /// The oldest journal segment a pending or in-flight point came from (`None`: no
    /// point is pending or in flight). Every segment before it is wholly committed.
    pub fn oldest_segment(&self) -> Option<u64> {
        match (self.segs.first(), self.taken_segs.first()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Series with pending points.
    pub fn series(&self) -> usize {
        self.series.len()
    }

    /// Points pending in all series.
    pub fn len(&self) -> usize {
        self.points
    }

    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// Bytes charged against the budget.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    /// True when at least `fraction` of the budget is used (for back-pressure).
    pub fn is_above(&self, fraction: f64) -> bool {
        self.used as f64 >= self.budget as f64 * fraction
    }
}

/// Sort by timestamp keeping, for equal timestamps, the point that came last.
fn sorted_last_wins(mut points: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    // Points usually arrive in order: then there is nothing to do.
    if points.windows(2).all(|w| w[0].0 < w[1].0) {
        return points;
    }
    // Several senders each replaying their own stretch of time (relays, backfills)
    // interleave a few rising streams: merging those is linear, a sort is not.
    if let Some(merged) = merge_rising_streams(&points) {
        return merged;
    }
    // A stable sort keeps arrival order among equal timestamps; then keep the last of each
    // run of equal timestamps, in place (`dedup_by` drops the later one, so it first takes
    // the later value).
    points.sort_by_key(|p| p.0);
    points.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            *kept = *later;
        }
        same
    });
    points
}

/// At most this many interleaved rising streams are merged; more take the sort.
const STREAMS: usize = 4;

/// `points` as at most [`STREAMS`] interleaved streams of rising timestamps, merged in
/// timestamp order. Each point joins the stream whose last timestamp is the largest below
/// its own, in arrival order. `None` (then sort) when more streams would be needed or a
/// timestamp comes twice, so which of the two arrived last never needs deciding here.
fn merge_rising_streams(points: &[(i64, f64)]) -> Option<Vec<(i64, f64)>> {
    let mut streams: SmallVec<[Vec<(i64, f64)>; STREAMS]> = SmallVec::new();
    for &p in points {
        let mut best: Option<(usize, i64)> = None;
        for (k, stream) in streams.iter().enumerate() {
            let last = stream.last().map_or(i64::MIN, |q| q.0);
            if last == p.0 {
                return None;
            }
            if last < p.0 && best.is_none_or(|(_, b)| b < last) {
                best = Some((k, last));
            }
        }
        match best {
            Some((k, _)) => streams[k].push(p),
            None if streams.len() < STREAMS => streams.push(vec![p]),
            None => return None,
        }
    }
    let mut out = Vec::with_capacity(points.len());
    let mut heads: SmallVec<[usize; STREAMS]> = SmallVec::from_elem(0, streams.len());
    loop {
        let mut next: Option<(usize, i64)> = None;
        for (k, stream) in streams.iter().enumerate() {
            if let Some(&(t, _)) = stream.get(heads[k]) {
                match next {
                    Some((_, n)) if n == t => return None,
                    Some((_, n)) if n < t => {}
                    _ => next = Some((k, t)),
                }
            }
        }
        let Some((k, _)) = next else {
            return Some(out);
        };
        out.push(streams[k][heads[k]]);
        heads[k] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn largest_backlog_first_sorted_last_wins() {
        let mut c = Cache::new(1 << 20);
        for ts in [30, 10, 20, 10] {
            c.add(b"big", ts, ts as f64).unwrap();
        }
        c.add(b"big", 10, 99.0).unwrap();
        c.add(b"small", 5, 1.0).unwrap();
        c.add(b"mid", 5, 1.0).unwrap();
        c.add(b"mid", 6, 1.0).unwrap();
        assert_eq!(c.len(), 8);
        let b = c.take_batch(2);
        assert_eq!(b.len(), 2);
        assert_eq!(&*b[0].name, b"big");
        assert_eq!(b[0].points, vec![(10, 99.0), (20, 20.0), (30, 30.0)]);
        assert_eq!(&*b[1].name, b"mid");
        assert_eq!(c.series(), 1);
        assert_eq!(c.len(), 1);
        assert_eq!(c.take_batch(10)[0].name.as_ref(), b"small");
        assert!(c.is_empty());
        assert_eq!(c.used_bytes(), 0);
    }

    #[test]
    fn a_pass_ranks_once_then_takes_the_rest_before_ranking_again() {
        let mut c = Cache::new(1 << 20);
        for (name, n) in [(&b"a"[..], 3), (b"b", 2), (b"c", 1)] {
            for ts in 0..n {
                c.add(name, ts, 1.0).unwrap();
            }
        }
        assert_eq!(&*c.take_batch(1)[0].name, b"a");
        // "c" grows past "b" after the ranking: the pass still takes "b" first.
        for ts in 10..20 {
            c.add(b"c", ts, 1.0).unwrap();
        }
        c.add(b"d", 1, 1.0).unwrap();
        let names: Vec<Box<[u8]>> = c.take_batch(2).into_iter().map(|b| b.name).collect();
        assert_eq!(names, vec![b"b"[..].into(), b"c"[..].into()]);
        // The next pass ranks what arrived meanwhile.
        assert_eq!(&*c.take_batch(5)[0].name, b"d");
        assert!(c.is_empty());
    }

    #[test]
    fn budget_refuses_new_points_and_put_back_never_loses() {
        let one_series = SERIES_BYTES + 1 + POINT_BYTES;
        let mut c = Cache::new(one_series + POINT_BYTES);
        c.add(b"a", 1, 1.0).unwrap();
        c.add(b"a", 2, 2.0).unwrap();
        assert_eq!(c.add(b"a", 3, 3.0), Err(Full));
        assert_eq!(c.add(b"b", 1, 1.0), Err(Full));
        let taken = c.take_batch(1).pop().unwrap();
        assert!(c.is_empty());
        // While the write is in flight a newer value for ts 2 arrives.
        c.add(b"a", 2, 20.0).unwrap();
        c.put_back(taken);
        assert_eq!(c.points(b"a"), vec![(1, 1.0), (2, 20.0)]);
        assert_eq!(c.len(), 3);
        assert!(c.is_above(1.0));
    }

    #[test]
    fn oldest_segment_covers_pending_and_in_flight_points() {
        let mut c = Cache::new(1 << 20);
        assert_eq!(c.oldest_segment(), None);
        c.add_in(3, b"a", 1, 1.0).unwrap();
        c.add_in(4, b"a", 2, 1.0).unwrap();
        c.add_in(5, b"b", 1, 1.0).unwrap();
        assert_eq!(c.oldest_segment(), Some(3));
        let mut taken = c.take_batch(1);
        assert_eq!(&*taken[0].name, b"a");
        // In flight: not written yet.
        assert_eq!(c.oldest_segment(), Some(3));
        c.add_in(6, b"a", 3, 1.0).unwrap();
        // The write failed: back with its oldest segment.
        c.put_back(taken.pop().unwrap());
        assert_eq!(c.oldest_segment(), Some(3));
        // The pass goes on with "b"; "a" waits in the cache.
        assert_eq!(&*c.take_batch(1)[0].name, b"b");
        assert_eq!(c.oldest_segment(), Some(3));
        c.add_in(7, b"c", 1, 1.0).unwrap();
        // The next round begins: "b" is written; "a" (3 and 6) is in flight.
        assert_eq!(&*c.take_batch(1)[0].name, b"a");
        assert_eq!(c.oldest_segment(), Some(3));
        assert_eq!(&*c.take_batch(1)[0].name, b"c");
        assert_eq!(c.oldest_segment(), Some(7));
        assert!(c.take_batch(1).is_empty());
        assert_eq!(c.oldest_segment(), None);
    }

    /// What a map from timestamp to value keeps of `points` inserted in order: the
    /// reference for `sorted_last_wins`.
    fn as_a_map_keeps(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
        let mut map = std::collections::BTreeMap::new();
        for &(t, v) in points {
            map.insert(t, v);
        }
        map.into_iter().collect()
    }

    proptest! {
        /// Sorted, one point per timestamp, the last received winning: as a map would
        /// keep them (in-order input, the fast path, included).
        #[test]
        fn sorted_last_wins_keeps_the_last_point_of_each_timestamp(
            points in proptest::collection::vec((0i64..40, any::<i32>()), 0..100),
            in_order in any::<bool>(),
        ) {
            let mut points: Vec<(i64, f64)> =
                points.into_iter().map(|(t, v)| (t, f64::from(v))).collect();
            if in_order {
                points.sort_by_key(|p| p.0);
                points.dedup_by_key(|p| p.0);
            }
            let want = as_a_map_keeps(&points);
            prop_assert_eq!(sorted_last_wins(points), want);
        }

        /// Up to six senders, each with rising timestamps of its own (sometimes the same
        /// as another's), interleaved: merged, or sorted when too many or a tie, the
        /// result is what a map would keep.
        #[test]
        fn interleaved_rising_streams_come_out_sorted_last_wins(
            streams in proptest::collection::vec(
                proptest::collection::btree_set(0i64..300, 0..60), 1..7),
            picks in proptest::collection::vec(0usize..6, 0..400),
        ) {
            let mut streams: Vec<Vec<i64>> =
                streams.into_iter().map(|s| s.into_iter().collect()).collect();
            let mut points = Vec::new();
            let mut pick = picks.into_iter().cycle();
            let mut value = 0.0;
            while streams.iter().any(|s| !s.is_empty()) {
                let k = pick.next().unwrap_or(0) % streams.len();
                if let Some(k) = (k..streams.len()).chain(0..k).find(|&k| !streams[k].is_empty()) {
                    value += 1.0;
                    points.push((streams[k].remove(0), value));
                }
            }
            let want = as_a_map_keeps(&points);
            prop_assert_eq!(sorted_last_wins(points), want);
        }

        /// Whatever the order of adds and takes, every point comes out exactly once per
        /// timestamp with the last value, and the accounting returns to zero.
        #[test]
        fn nothing_lost(ops in proptest::collection::vec((0u8..4, 0i64..20, any::<i32>()), 0..200)) {
            let mut c = Cache::new(usize::MAX);
            let mut want = std::collections::BTreeMap::<(u8, i64), f64>::new();
            let mut got = std::collections::BTreeMap::<(u8, i64), f64>::new();
            for (i, &(series, ts, v)) in ops.iter().enumerate() {
                let name = [b'a' + series];
                c.add(&name, ts, f64::from(v)).unwrap();
                want.insert((series, ts), f64::from(v));
                if i % 7 == 0 {
                    for b in c.take_batch(2) {
                        for (ts, v) in b.points {
                            got.insert((b.name[0] - b'a', ts), v);
                        }
                    }
                }
            }
            for b in c.take_batch(usize::MAX) {
                for (ts, v) in b.points {
                    got.insert((b.name[0] - b'a', ts), v);
                }
            }
            prop_assert_eq!(c.used_bytes(), 0);
            prop_assert_eq!(c.len(), 0);
            // A point taken earlier may be overwritten by a later write of the same
            // timestamp: the last write wins, as it does on disk.
            prop_assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
            for (k, v) in &want {
                prop_assert_eq!(got[k].to_bits(), v.to_bits());
            }
        }
    }
}
