//! etsy-exact StatsD aggregation, split for thread-per-core.
//!
//! Each shard has one [`Aggregator`] with two halves:
//! - **partials**: what this shard received during the current interval, for any key
//!   (counter sums, gauge set/delta, timer values, set members). The hot path
//!   ([`Aggregator::ingest`]) touches only these: one hash, one table probe.
//! - **owned**: the state that outlives an interval (counters kept at 0, gauges, timers
//!   kept empty, sets), only for the keys this shard owns (`hash(key) % shards`).
//!
//! At each flush every shard splits its partials by owner ([`Aggregator::take_partials`]),
//! sends them to their owners (one batch per peer), merges what it receives
//! ([`Aggregator::merge`]) and emits its owned keys ([`Aggregator::flush`]) with etsy's names
//! and numbers: counters, then timers, then gauges, then sets, each in first-seen order.
//! Shard 0 adds the process-wide self-metrics ([`emit_globals`]).
//!
//! At shutdown a shard does not flush an unfinished interval: it takes a
//! [`snapshot::Snapshot`] of everything it holds, which the next start restores
//! ([`Aggregator::restore`]) under any shard count.
//!
//! Where sharding changes etsy's arithmetic: a gauge that receives deltas on several
//! shards in one interval is the last set value plus the sum of the deltas, added in a
//! different order than etsy's one event loop (a last-bit difference for non-integers).

mod intern;
pub mod snapshot;
mod timer;

use std::collections::VecDeque;
use std::time::Instant;

use hashbrown::HashSet;

use crate::config::StatsdConfig;
use crate::protocol::statsd::{sanitize_key, Kind, Sample, Value};
use intern::{hash_key, Entry, KeyTable};
use timer::{TimerAgg, TimerSpec};

/// etsy's internal counters, never deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Internal {
    PacketsReceived,
    MetricsReceived,
    BadLinesSeen,
}

/// `max_series` would be exceeded: the new name was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// A gauge's changes within one interval: the last value set, and the deltas after it.
#[derive(Debug, Clone, Copy, Default)]
struct GaugePart {
    set: Option<f64>,
    delta: f64,
}

impl GaugePart {
    fn add(&mut self, value: f64, is_delta: bool) {
        match (&mut self.set, is_delta) {
            (Some(s), true) => *s += value,
            (None, true) => self.delta += value,
            (_, false) => {
                *self = Self {
                    set: Some(value),
                    delta: 0.0,
                }
            }
        }
    }

    fn apply(self, old: f64) -> f64 {
        match self.set {
            Some(s) => s,
            None => old + self.delta,
        }
    }
}

type Members = HashSet<Box<[u8]>>;

/// One interval's partial aggregates for a set of keys, on their way to the owner.
#[derive(Default)]
pub struct Partials {
    counters: VecDeque<Entry<f64>>,
    gauges: VecDeque<Entry<GaugePart>>,
    timers: VecDeque<Entry<TimerAgg>>,
    sets: VecDeque<Entry<Members>>,
}

impl Partials {
    /// Keys carried.
    pub fn len(&self) -> usize {
        self.counters.len() + self.gauges.len() + self.timers.len() + self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a stepwise flush ([`Aggregator::flush_step`]) stands.
#[derive(Debug, Default)]
pub struct FlushCursor {
    stage: u8,
    pos: usize,
    num_stats: u64,
    elapsed: std::time::Duration,
}

/// Move up to `left` entries from the front of `from` to `to`, keeping their order.
fn take_front<T>(from: &mut VecDeque<T>, to: &mut VecDeque<T>, left: &mut usize) {
    let n = (*left).min(from.len());
    if n == from.len() {
        to.append(from);
    } else {
        to.extend(from.drain(..n));
    }
    *left -= n;
}

/// What one shard's flush contributes to the process-wide self-metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlushSummary {
    pub num_stats: u64,
    pub calculation_ms: f64,
}

/// Process-wide values etsy emits once per flush.
#[derive(Debug, Clone, Copy, Default)]
pub struct Globals {
    pub num_stats: u64,
    pub calculation_ms: f64,
    pub processing_ms: f64,
    pub timestamp_lag: Option<f64>,
    pub last_exception: i64,
    pub last_flush: i64,
    pub flush_time_ms: f64,
    pub flush_length: u64,
    /// Forwarding: failed sends so far, points dropped so far, bytes waiting.
    pub forward_failures: u64,
    pub forward_dropped_points: u64,
    pub forward_backlog_bytes: u64,
}

/// The partial tables of the current interval.
#[derive(Default)]
struct PartTables {
    counters: KeyTable<f64>,
    gauges: KeyTable<GaugePart>,
    timers: KeyTable<TimerAgg>,
    sets: KeyTable<Members>,
}

impl PartTables {
    fn len(&self) -> usize {
        self.counters.len() + self.gauges.len() + self.timers.len() + self.sets.len()
    }
}

struct OwnedCounter {
    value: f64,
}

struct OwnedGauge {
    value: f64,
    /// Flushes left before deletion (with `delete_gauges`); `None`: never deleted.
    ttl: Option<u32>,
}

struct OwnedTimer {
    agg: TimerAgg,
    rule: Option<u32>,
}

#[derive(Default)]
struct OwnedTables {
    counters: KeyTable<OwnedCounter>,
    gauges: KeyTable<OwnedGauge>,
    timers: KeyTable<OwnedTimer>,
    sets: KeyTable<Members>,
}

impl OwnedTables {
    fn len(&self) -> usize {
        self.counters.len() + self.gauges.len() + self.timers.len() + self.sets.len()
    }

    fn has(&self, kind: Kind, hash: u64, key: &[u8]) -> bool {
        match kind {
            Kind::Counter => self.counters.find(hash, key).is_some(),
            Kind::Gauge => self.gauges.find(hash, key).is_some(),
            Kind::Timer => self.timers.find(hash, key).is_some(),
            Kind::Set => self.sets.find(hash, key).is_some(),
        }
    }
}

/// Graphite name building, etsy's `format(namespace, key, ...extra)`.
struct Names {
    /// Counter rate namespace with its trailing dot (`stats.` legacy).
    counter_rate: Vec<u8>,
    /// Counter count namespace (`stats_counts.` legacy).
    counter_count: Vec<u8>,
    /// Non-legacy counters end in `.rate` / `.count`.
    counter_extra: bool,
    timer: Vec<u8>,
    gauge: Vec<u8>,
    set: Vec<u8>,
    /// `.suffix` or empty.
    suffix: Vec<u8>,
    flush_counts: bool,
    /// Sanitise the name part at emission (etsy's graphite backend does when the
    /// receiver's sanitising is off).
    sanitize: bool,
}

fn namespace(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts.iter().filter(|p| !p.is_empty()) {
        out.extend_from_slice(p.as_bytes());
        out.push(b'.');
    }
    out
}

impl Names {
    fn new(cfg: &StatsdConfig) -> Self {
        let (counter_rate, counter_count, timer, gauge, set) = if cfg.legacy_namespace {
            (
                namespace(&["stats"]),
                namespace(&["stats_counts"]),
                namespace(&["stats", "timers"]),
                namespace(&["stats", "gauges"]),
                namespace(&["stats", "sets"]),
            )
        } else {
            let g = cfg.global_prefix.as_str();
            let c = namespace(&[g, &cfg.prefix_counter]);
            (
                c.clone(),
                c,
                namespace(&[g, &cfg.prefix_timer]),
                namespace(&[g, &cfg.prefix_gauge]),
                namespace(&[g, &cfg.prefix_set]),
            )
        };
        let suffix = if cfg.global_suffix.is_empty() {
            Vec::new()
        } else {
            format!(".{}", cfg.global_suffix).into_bytes()
        };
        Self {
            counter_rate,
            counter_count,
            counter_extra: !cfg.legacy_namespace,
            timer,
            gauge,
            set,
            suffix,
            flush_counts: cfg.flush_counts,
            sanitize: !cfg.key_name_sanitize,
        }
    }

    /// `ns` + key name + `.extra`… + suffix + the key's tags (`;k=v…`).
    fn build(&self, out: &mut Vec<u8>, ns: &[u8], key: &[u8], extras: &[&[u8]]) {
        out.clear();
        out.extend_from_slice(ns);
        let cut = key.iter().position(|&b| b == b';').unwrap_or(key.len());
        if self.sanitize {
            out.extend_from_slice(&sanitize_key(&key[..cut]));
        } else {
            out.extend_from_slice(&key[..cut]);
        }
        for e in extras {
            out.push(b'.');
            out.extend_from_slice(e);
        }
        out.extend_from_slice(&self.suffix);
        out.extend_from_slice(&key[cut..]);
    }
}

/// Per-shard aggregator (see the module documentation).
pub struct Aggregator {
    names: Names,
    spec: TimerSpec,
    flush_secs: f64,
    max_series: usize,
    delete_counters: bool,
    delete_timers: bool,
    delete_gauges: bool,
    delete_sets: bool,
    gauges_max_ttl: u32,
    /// The three internal counter keys (`<prefix_stats>.bad_lines_seen`, …), etsy order.
    internal: [(Box<[u8]>, u64); 3],
    part: PartTables,
    owned: OwnedTables,
    name_buf: Vec<u8>,
}

fn kind_of(v: &Value<'_>) -> Kind {
    match v {
        Value::Counter(_) => Kind::Counter,
        Value::Gauge { .. } => Kind::Gauge,
        Value::Timer { .. } => Kind::Timer,
        Value::Set(_) => Kind::Set,
    }
}

/// etsy zeroes instead of deleting counters whose key contains one of these.
fn is_internal_name(key: &[u8]) -> bool {
    [
        &b"packets_received"[..],
        b"metrics_received",
        b"bad_lines_seen",
    ]
    .iter()
    .any(|n| key.windows(n.len()).any(|w| w == *n))
}

impl Aggregator {
    pub fn new(cfg: &StatsdConfig) -> Self {
        let idle = cfg.delete_idle_stats;
        let internal = ["bad_lines_seen", "packets_received", "metrics_received"].map(|n| {
            let key: Box<[u8]> = format!("{}.{n}", cfg.prefix_stats).into_bytes().into();
            let h = hash_key(&key);
            (key, h)
        });
        let mut agg = Self {
            names: Names::new(cfg),
            spec: TimerSpec::new(cfg),
            flush_secs: cfg.flush_interval.as_secs_f64(),
            max_series: cfg.max_series,
            delete_counters: cfg.delete_counters || idle,
            delete_timers: cfg.delete_timers || idle,
            delete_gauges: cfg.delete_gauges || idle,
            delete_sets: cfg.delete_sets || idle,
            gauges_max_ttl: cfg.gauges_max_ttl.max(1),
            internal,
            part: PartTables::default(),
            owned: OwnedTables::default(),
            name_buf: Vec::with_capacity(256),
        };
        agg.seed_internal();
        agg
    }

    /// The internal counters head every interval's partials (etsy emits them first).
    fn seed_internal(&mut self) {
        for (key, h) in &self.internal {
            self.part.counters.upsert(*h, key, || true, || 0.0);
        }
    }

    /// Add one sample to this interval. A new key beyond `max_series` is refused.
    #[inline]
    pub fn ingest(&mut self, s: &Sample<'_>) -> Result<(), Overflow> {
        let used = self.part.len() + self.owned.len();
        let max = self.max_series;
        let owned = &self.owned;
        let kind = kind_of(&s.value);
        let h = hash_key(s.key);
        let room = || used < max || owned.has(kind, h, s.key);
        add(&mut self.part, self.spec.max_samples, h, s, room)
    }

    /// Add a self-metric sample: never refused by `max_series`, so the overflow counter
    /// itself always gets through.
    pub fn ingest_self(&mut self, s: &Sample<'_>) {
        let _ = add(
            &mut self.part,
            self.spec.max_samples,
            hash_key(s.key),
            s,
            || true,
        );
    }

    /// Add to one of etsy's internal counters.
    pub fn add_internal(&mut self, which: Internal, n: f64) {
        let i = match which {
            Internal::BadLinesSeen => 0,
            Internal::PacketsReceived => 1,
            Internal::MetricsReceived => 2,
        };
        let (key, h) = &self.internal[i];
        if let Some(c) = self.part.counters.upsert(*h, key, || true, || 0.0) {
            *c += n;
        }
    }

    /// `<prefix_stats>.` — the head of lonsdaleite's own self-metric keys.
    pub fn stats_prefix(&self) -> &[u8] {
        let key = &self.internal[0].0;
        &key[..key.len() - "bad_lines_seen".len()]
    }

    /// Split this interval's partials by owner shard (index = shard id) and start a new
    /// interval.
    pub fn take_partials(
        &mut self,
        shards: usize,
        owner: impl Fn(&[u8]) -> usize,
    ) -> Vec<Partials> {
        let shards = shards.max(1);
        let mut out: Vec<Partials> = (0..shards).map(|_| Partials::default()).collect();
        let to = |key: &[u8]| owner(key).min(shards - 1);
        for e in self.part.counters.drain() {
            out[to(&e.key)].counters.push_back(e);
        }
        for e in self.part.gauges.drain() {
            out[to(&e.key)].gauges.push_back(e);
        }
        for e in self.part.timers.drain() {
            out[to(&e.key)].timers.push_back(e);
        }
        for e in self.part.sets.drain() {
            out[to(&e.key)].sets.push_back(e);
        }
        self.seed_internal();
        out
    }

    /// Merge partials of keys this shard owns into its persistent state.
    pub fn merge(&mut self, p: Partials) {
        let cap = self.spec.max_samples;
        let o = &mut self.owned;
        for e in p.counters {
            if let Some(c) =
                o.counters
                    .upsert(e.hash, &e.key, || true, || OwnedCounter { value: 0.0 })
            {
                c.value += e.value;
            }
        }
        let ttl = self.delete_gauges.then_some(self.gauges_max_ttl);
        for e in p.gauges {
            let g = o
                .gauges
                .upsert(e.hash, &e.key, || true, || OwnedGauge { value: 0.0, ttl });
            if let Some(g) = g {
                g.value = e.value.apply(g.value);
                g.ttl = ttl;
            }
        }
        let spec = &self.spec;
        for e in p.timers {
            let make = || OwnedTimer {
                agg: TimerAgg::default(),
                rule: spec.rule_for(&e.key),
            };
            if let Some(t) = o.timers.upsert(e.hash, &e.key, || true, make) {
                t.agg.merge(e.value, cap);
            }
        }
        for e in p.sets {
            if let Some(m) = o.sets.upsert(e.hash, &e.key, || true, Members::default) {
                if m.is_empty() {
                    *m = e.value;
                } else {
                    m.extend(e.value);
                }
            }
        }
    }

    /// Emit every owned key as Graphite `(name, value)` pairs, then reset or delete each
    /// as etsy does after a flush.
    pub fn flush(&mut self, emit: &mut impl FnMut(&[u8], f64)) -> FlushSummary {
        let mut cursor = FlushCursor::default();
        loop {
            if let Some(summary) = self.flush_step(&mut cursor, usize::MAX, emit) {
                return summary;
            }
        }
    }

    /// One slice of a flush: emit up to `budget` owned keys from `cursor` on (counters,
    /// then timers, gauges, sets, each in first-seen order). Returns the summary once every
    /// key is emitted and the tables are reset as etsy does. Between steps the shard keeps
    /// receiving (new lines only touch this interval's partials); nothing may remove
    /// owned keys until the flush is finished.
    pub fn flush_step(
        &mut self,
        cursor: &mut FlushCursor,
        budget: usize,
        emit: &mut impl FnMut(&[u8], f64),
    ) -> Option<FlushSummary> {
        let started = Instant::now();
        let Self {
            names,
            spec,
            owned,
            name_buf: buf,
            flush_secs,
            ..
        } = self;
        let rate_extra: &[&[u8]] = if names.counter_extra { &[b"rate"] } else { &[] };
        let count_extra: &[&[u8]] = if names.counter_extra {
            &[b"count"]
        } else {
            &[]
        };
        let mut left = budget;
        while left > 0 {
            let (stage, pos) = (cursor.stage, cursor.pos);
            let done = match stage {
                0 => match owned.counters.at_mut(pos) {
                    Some(e) => {
                        names.build(buf, &names.counter_rate, &e.key, rate_extra);
                        emit(buf, e.value.value / *flush_secs);
                        if names.flush_counts {
                            names.build(buf, &names.counter_count, &e.key, count_extra);
                            emit(buf, e.value.value);
                        }
                        false
                    }
                    None => pos >= owned.counters.slot_count(),
                },
                1 => match owned.timers.at_mut(pos) {
                    Some(e) => {
                        let key = &e.key;
                        let t = &mut e.value;
                        t.agg.emit_stats(spec, t.rule, &mut |stat, v| {
                            names.build(buf, &names.timer, key, &[stat]);
                            emit(buf, v);
                        });
                        false
                    }
                    None => pos >= owned.timers.slot_count(),
                },
                2 => match owned.gauges.at_mut(pos) {
                    Some(e) => {
                        names.build(buf, &names.gauge, &e.key, &[]);
                        emit(buf, e.value.value);
                        false
                    }
                    None => pos >= owned.gauges.slot_count(),
                },
                3 => match owned.sets.at_mut(pos) {
                    Some(e) => {
                        names.build(buf, &names.set, &e.key, &[b"count"]);
                        emit(buf, e.value.len() as f64);
                        false
                    }
                    None => pos >= owned.sets.slot_count(),
                },
                _ => {
                    cursor.elapsed += started.elapsed();
                    self.clear_after_flush();
                    return Some(FlushSummary {
                        num_stats: cursor.num_stats,
                        calculation_ms: cursor.elapsed.as_secs_f64() * 1000.0,
                    });
                }
            };
            if done {
                cursor.stage += 1;
                cursor.pos = 0;
            } else {
                // A hole (a removed slot) costs nothing; a live key counts.
                let live = match stage {
                    0 => owned.counters.at_mut(pos).is_some(),
                    1 => owned.timers.at_mut(pos).is_some(),
                    2 => owned.gauges.at_mut(pos).is_some(),
                    _ => owned.sets.at_mut(pos).is_some(),
                };
                if live {
                    cursor.num_stats += 1;
                    left -= 1;
                }
                cursor.pos += 1;
            }
        }
        cursor.elapsed += started.elapsed();
        None
    }

    /// Merge up to `budget` entries of `p` (see [`merge`](Self::merge)); true when `p` is
    /// empty. Lets a shard keep receiving while it merges a large round.
    pub fn merge_some(&mut self, p: &mut Partials, budget: usize) -> bool {
        let mut part = Partials::default();
        let mut left = budget;
        take_front(&mut p.counters, &mut part.counters, &mut left);
        take_front(&mut p.gauges, &mut part.gauges, &mut left);
        take_front(&mut p.timers, &mut part.timers, &mut left);
        take_front(&mut p.sets, &mut part.sets, &mut left);
        self.merge(part);
        p.is_empty()
    }

    /// etsy's `clear_metrics`.
    fn clear_after_flush(&mut self) {
        let o = &mut self.owned;
        if self.delete_counters {
            o.counters.retain(|e| {
                e.value.value = 0.0;
                is_internal_name(&e.key)
            });
        } else {
            o.counters.iter_mut().for_each(|e| e.value.value = 0.0);
        }
        if self.delete_timers {
            o.timers.retain(|_| false);
        } else {
            o.timers.iter_mut().for_each(|e| e.value.agg.reset());
        }
        if self.delete_sets {
            o.sets.retain(|_| false);
        } else {
            o.sets.iter_mut().for_each(|e| e.value = Members::default());
        }
        if self.delete_gauges {
            o.gauges.retain(|e| match &mut e.value.ttl {
                Some(t) => {
                    *t = t.saturating_sub(1);
                    *t >= 1
                }
                None => true,
            });
        }
    }

    /// The admin view of one kind: `(key, value as etsy's console prints it)`, for the
    /// owned keys (with this interval's partials applied) and the keys only seen here.
    pub fn view(&self, kind: Kind) -> Vec<(String, String)> {
        let text = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
        let num = |v: f64| {
            let mut s = Vec::new();
            crate::protocol::number::write_js_number(&mut s, v);
            String::from_utf8_lossy(&s).into_owned()
        };
        let mut rows = Vec::new();
        match kind {
            Kind::Counter => {
                for e in self.owned.counters.iter() {
                    let part = self
                        .part
                        .counters
                        .get(e.hash, &e.key)
                        .copied()
                        .unwrap_or(0.0);
                    rows.push((text(&e.key), num(e.value.value + part)));
                }
                for e in self.part.counters.iter() {
                    if self.owned.counters.find(e.hash, &e.key).is_none() {
                        rows.push((text(&e.key), num(e.value)));
                    }
                }
            }
            Kind::Gauge => {
                for e in self.owned.gauges.iter() {
                    let v = self
                        .part
                        .gauges
                        .get(e.hash, &e.key)
                        .map_or(e.value.value, |g| g.apply(e.value.value));
                    rows.push((text(&e.key), num(v)));
                }
                for e in self.part.gauges.iter() {
                    if self.owned.gauges.find(e.hash, &e.key).is_none() {
                        rows.push((text(&e.key), num(e.value.apply(0.0))));
                    }
                }
            }
            Kind::Timer => {
                let list = |t: &TimerAgg| {
                    if t.is_approximate() {
                        format!("[ /* {} values, summarised in a histogram */ ]", t.len())
                    } else {
                        let vals: Vec<String> = t.values().iter().map(|&v| num(v)).collect();
                        format!("[ {} ]", vals.join(", "))
                    }
                };
                for e in self.owned.timers.iter() {
                    rows.push((text(&e.key), list(&e.value.agg)));
                }
                for e in self.part.timers.iter() {
                    rows.push((text(&e.key), list(&e.value)));
                }
            }
            Kind::Set => {
                let list = |m: &Members| {
                    let mut vals: Vec<String> = m
                        .iter()
                        .map(|v| format!("'{}'", String::from_utf8_lossy(v).replace('\'', "\\'")))
                        .collect();
                    vals.sort();
                    format!("[ {} ]", vals.join(", "))
                };
                for e in self.owned.sets.iter() {
                    rows.push((text(&e.key), list(&e.value)));
                }
                for e in self.part.sets.iter() {
                    rows.push((text(&e.key), list(&e.value)));
                }
            }
        }
        rows
    }

    /// etsy's `del<kind>`: `pattern` is a key, or ends in `.*` to delete a folder (every key
    /// starting with the text before the `*`). Returns the deleted keys.
    pub fn delete(&mut self, kind: Kind, pattern: &str) -> Vec<String> {
        let pat = pattern.as_bytes();
        let folder = pat.strip_suffix(b"*").filter(|f| f.ends_with(b"."));
        let matches = |k: &[u8]| k == pat || folder.is_some_and(|f| k.starts_with(f));
        let mut deleted: Vec<String> = Vec::new();
        let (o, p) = (&mut self.owned, &mut self.part);
        match kind {
            Kind::Counter => {
                delete_matching(&mut o.counters, &matches, &mut deleted);
                delete_matching(&mut p.counters, &matches, &mut deleted);
            }
            Kind::Gauge => {
                delete_matching(&mut o.gauges, &matches, &mut deleted);
                delete_matching(&mut p.gauges, &matches, &mut deleted);
            }
            Kind::Timer => {
                delete_matching(&mut o.timers, &matches, &mut deleted);
                delete_matching(&mut p.timers, &matches, &mut deleted);
            }
            Kind::Set => {
                delete_matching(&mut o.sets, &matches, &mut deleted);
                delete_matching(&mut p.sets, &matches, &mut deleted);
            }
        }
        deleted.sort();
        deleted.dedup();
        if kind == Kind::Counter {
            self.seed_internal();
        }
        deleted
    }

    /// Series this shard holds (owned keys of all kinds).
    pub fn series(&self) -> usize {
        self.owned.len()
    }
}

/// Add one sample to the partial tables (a new key only when `room()`).
#[inline]
fn add(
    p: &mut PartTables,
    cap: usize,
    h: u64,
    s: &Sample<'_>,
    room: impl FnOnce() -> bool,
) -> Result<(), Overflow> {
    let ok = match s.value {
        Value::Counter(v) => p.counters.upsert(h, s.key, room, || 0.0).map(|c| *c += v),
        Value::Gauge { value, delta } => p
            .gauges
            .upsert(h, s.key, room, GaugePart::default)
            .map(|g| g.add(value, delta)),
        Value::Timer { value, weight } => p
            .timers
            .upsert(h, s.key, room, TimerAgg::default)
            .map(|t| t.record(value, weight, cap)),
        Value::Set(member) => p.sets.upsert(h, s.key, room, Members::default).map(|m| {
            if !m.contains(member) {
                m.insert(member.into());
            }
        }),
    };
    ok.ok_or(Overflow)
}

/// Remove the entries whose key `matches`, recording their names.
fn delete_matching<V>(
    t: &mut KeyTable<V>,
    matches: &impl Fn(&[u8]) -> bool,
    deleted: &mut Vec<String>,
) {
    t.retain(|e| {
        if matches(&e.key) {
            deleted.push(String::from_utf8_lossy(&e.key).into_owned());
            false
        } else {
            true
        }
    });
}

/// Emit the process-wide self-metrics, etsy's names: the lag gauge, numStats,
/// calculationtime, processing_time and the graphite backend's stats.
pub fn emit_globals(cfg: &StatsdConfig, g: &Globals, emit: &mut impl FnMut(&[u8], f64)) {
    let names = Names::new(cfg);
    let ps = cfg.prefix_stats.as_str();
    let sfx = String::from_utf8_lossy(&names.suffix).into_owned();
    let mut buf = Vec::new();
    let mut num_stats = g.num_stats;
    if let Some(lag) = g.timestamp_lag {
        names.build(
            &mut buf,
            &names.gauge,
            format!("{ps}.timestamp_lag").as_bytes(),
            &[],
        );
        emit(&buf, lag);
        num_stats += 1;
    }
    // Legacy: `statsd.numStats` (no namespace) and `stats.statsd.…`; otherwise
    // `<global_prefix>.statsd.…`.
    let (num_name, head) = if cfg.legacy_namespace {
        (format!("{ps}.numStats{sfx}"), format!("stats.{ps}"))
    } else {
        let ns = String::from_utf8_lossy(&namespace(&[&cfg.global_prefix])).into_owned();
        (format!("{ns}{ps}.numStats{sfx}"), format!("{ns}{ps}"))
    };
    emit(num_name.as_bytes(), num_stats as f64);
    let calc = format!("{head}.graphiteStats.calculationtime{sfx}");
    emit(calc.as_bytes(), g.calculation_ms.round());
    emit(
        format!("{head}.processing_time{sfx}").as_bytes(),
        g.processing_ms.round(),
    );
    for (stat, v) in [
        ("last_exception", g.last_exception as f64),
        ("last_flush", g.last_flush as f64),
        ("flush_time", g.flush_time_ms.round()),
        ("flush_length", g.flush_length as f64),
        // lonsdaleite's: the forwarder's retries, losses and backlog.
        ("failures", g.forward_failures as f64),
        ("dropped_points", g.forward_dropped_points as f64),
        ("backlog_bytes", g.forward_backlog_bytes as f64),
    ] {
        emit(format!("{head}.graphiteStats.{stat}{sfx}").as_bytes(), v);
    }
}
