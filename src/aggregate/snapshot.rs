//! A shard's StatsD state, taken at shutdown and given back at the next start.
//!
//! Why: a flush stamps its points with its interval's boundary. Flushing a partial interval
//! at shutdown would stamp it with a boundary that the previous flush may already have
//! written (the whisper slot is overwritten), and after a quick restart the new process's
//! first flush would stamp the same boundary again. So a stopping shard does not flush its
//! unfinished interval: it takes a [`Snapshot`] of it, and the next start either carries on
//! with it (same interval) or flushes it under its own boundary (the boundary has passed).
//!
//! A snapshot holds, for any number of keys:
//! - the **owned** state that outlives an interval (counters, gauges with their time to
//!   live, timers, sets), including what the unfinished interval added to it;
//! - this interval's **partials** that no flush round has moved to their owner yet;
//! - `boundary_ms`: the first flush boundary not yet flushed (the end of the interval the
//!   data belongs to), and the flush interval it was computed with.
//!
//! Entries carry no shard: [`Snapshot::split`] hands each key to its owner under any shard
//! count, and [`Aggregator::restore`] adds a snapshot to what a shard holds.
//!
//! The byte form ([`Snapshot::encode`], [`Snapshot::decode`]) is versioned and ends with a
//! SHA-256 of everything before it, so a cut-short or foreign file is refused, never half
//! read:
//!
//! ```text
//! "LSDSTATS" | version u32 | boundary_ms u64 | interval_ms u64
//! owned:    counters [key f64] | gauges [key f64 ttl:u32] | timers [key timer] | sets [key [member]]
//! partials: counters [key f64] | gauges [key has_set:u8 set:f64 delta:f64] | timers | sets
//! sha256 (32 bytes)
//! ```
//!
//! Integers and floats are little-endian; `[x]` is a `u32` count then the items; a key or
//! member is a `u32` length then its bytes; `ttl` `u32::MAX` means none. A timer is
//! `weight f64`, then `0` and its exact values `[f64]`, or `1` and its histogram
//! (`n u64`, sum, sum of squares, min, max, mean, m2 as `f64`, then `[value u64 count u64]`
//! buckets).

use sha2::{Digest, Sha256};

use super::intern::{hash_key, Entry};
use super::timer::TimerAgg;
use super::{Aggregator, GaugePart, Members, OwnedCounter, OwnedGauge, OwnedTimer, Partials};

const MAGIC: &[u8; 8] = b"LSDSTATS";
/// The byte form's version; a file of another version is refused.
pub const VERSION: u32 = 1;
const DIGEST: usize = 32;

/// Why a snapshot's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a lonsdaleite StatsD state file (it does not start with {MAGIC:?})")]
    Magic,
    #[error("state file version {0}; this build reads version {VERSION}")]
    Version(u32),
    #[error("checksum mismatch: the file is damaged or was cut short")]
    Checksum,
    #[error("malformed content at byte {0}")]
    Malformed(usize),
}

/// The owned half of a snapshot.
#[derive(Default)]
struct Owned {
    counters: Vec<Entry<f64>>,
    gauges: Vec<Entry<(f64, Option<u32>)>>,
    timers: Vec<Entry<TimerAgg>>,
    sets: Vec<Entry<Members>>,
}

/// A shard's StatsD state at shutdown (see the module documentation).
pub struct Snapshot {
    /// The first flush boundary not yet flushed, in milliseconds since the Unix epoch.
    pub boundary_ms: u64,
    /// The flush interval the boundary belongs to, in milliseconds.
    pub interval_ms: u64,
    owned: Owned,
    partials: Partials,
}

impl Snapshot {
    fn empty(boundary_ms: u64, interval_ms: u64) -> Self {
        Self {
            boundary_ms,
            interval_ms,
            owned: Owned::default(),
            partials: Partials::default(),
        }
    }

    /// Keys held (owned and partial; a key may be in both).
    pub fn len(&self) -> usize {
        let o = &self.owned;
        o.counters.len() + o.gauges.len() + o.timers.len() + o.sets.len() + self.partials.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add `other`'s entries (same boundary expected; the caller groups by boundary).
    pub fn absorb(&mut self, other: Snapshot) {
        let (o, p) = (&mut self.owned, &mut self.partials);
        o.counters.extend(other.owned.counters);
        o.gauges.extend(other.owned.gauges);
        o.timers.extend(other.owned.timers);
        o.sets.extend(other.owned.sets);
        p.counters.extend(other.partials.counters);
        p.gauges.extend(other.partials.gauges);
        p.timers.extend(other.partials.timers);
        p.sets.extend(other.partials.sets);
    }

    /// One snapshot per shard (index = shard id), each entry given to `owner(key)`.
    pub fn split(self, shards: usize, owner: impl Fn(&[u8]) -> usize) -> Vec<Snapshot> {
        let shards = shards.max(1);
        let mut out: Vec<Snapshot> = (0..shards)
            .map(|_| Snapshot::empty(self.boundary_ms, self.interval_ms))
            .collect();
        let to = |key: &[u8]| owner(key).min(shards - 1);
        for e in self.owned.counters {
            out[to(&e.key)].owned.counters.push(e);
        }
        for e in self.owned.gauges {
            out[to(&e.key)].owned.gauges.push(e);
        }
        for e in self.owned.timers {
            out[to(&e.key)].owned.timers.push(e);
        }
        for e in self.owned.sets {
            out[to(&e.key)].owned.sets.push(e);
        }
        for e in self.partials.counters {
            out[to(&e.key)].partials.counters.push_back(e);
        }
        for e in self.partials.gauges {
            out[to(&e.key)].partials.gauges.push_back(e);
        }
        for e in self.partials.timers {
            out[to(&e.key)].partials.timers.push_back(e);
        }
        for e in self.partials.sets {
            out[to(&e.key)].partials.sets.push_back(e);
        }
        out
    }

    /// The versioned, checksummed byte form.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc(Vec::with_capacity(4096));
        e.0.extend_from_slice(MAGIC);
        e.u32(VERSION);
        e.u64(self.boundary_ms);
        e.u64(self.interval_ms);
        let (o, p) = (&self.owned, &self.partials);
        e.list(o.counters.iter(), |e, v| e.f64(*v));
        e.list(o.gauges.iter(), |e, (v, ttl)| {
            e.f64(*v);
            e.u32(ttl.unwrap_or(u32::MAX));
        });
        e.list(o.timers.iter(), |e, t| t.encode(e));
        e.list(o.sets.iter(), encode_members);
        e.list(p.counters.iter(), |e, v| e.f64(*v));
        e.list(p.gauges.iter(), |e, g| {
            e.u8(u8::from(g.set.is_some()));
            e.f64(g.set.unwrap_or(0.0));
            e.f64(g.delta);
        });
        e.list(p.timers.iter(), |e, t| t.encode(e));
        e.list(p.sets.iter(), encode_members);
        let digest = Sha256::digest(&e.0);
        e.0.extend_from_slice(&digest);
        e.0
    }

    /// Read [`encode`](Self::encode)'s bytes; anything else is refused with the reason.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::Magic);
        }
        let version = u32::from_le_bytes(
            bytes[MAGIC.len()..MAGIC.len() + 4]
                .try_into()
                .map_err(|_| SnapshotError::Magic)?,
        );
        if version != VERSION {
            return Err(SnapshotError::Version(version));
        }
        if bytes.len() < MAGIC.len() + 4 + DIGEST {
            return Err(SnapshotError::Checksum);
        }
        let (body, digest) = bytes.split_at(bytes.len() - DIGEST);
        if Sha256::digest(body).as_slice() != digest {
            return Err(SnapshotError::Checksum);
        }
        let mut d = Dec {
            buf: body,
            pos: MAGIC.len() + 4,
        };
        let mut s = Snapshot::empty(d.u64()?, d.u64()?);
        s.owned.counters = d.list(Dec::f64)?;
        s.owned.gauges = d.list(|d| {
            let v = d.f64()?;
            let ttl = d.u32()?;
            Ok((v, (ttl != u32::MAX).then_some(ttl)))
        })?;
        s.owned.timers = d.list(TimerAgg::decode)?;
        s.owned.sets = d.list(decode_members)?;
        s.partials.counters = d.list(Dec::f64)?.into();
        s.partials.gauges = d
            .list(|d| {
                let has = d.u8()?;
                let set = d.f64()?;
                let delta = d.f64()?;
                Ok(GaugePart {
                    set: (has != 0).then_some(set),
                    delta,
                })
            })?
            .into();
        s.partials.timers = d.list(TimerAgg::decode)?.into();
        s.partials.sets = d.list(decode_members)?.into();
        if d.pos != body.len() {
            return Err(SnapshotError::Malformed(d.pos));
        }
        Ok(s)
    }
}

fn encode_members(e: &mut Enc, m: &Members) {
    e.u32(m.len() as u32);
    for member in m {
        e.bytes(member);
    }
}

fn decode_members(d: &mut Dec<'_>) -> Result<Members, SnapshotError> {
    let n = d.count(4)?;
    let mut m = Members::default();
    for _ in 0..n {
        m.insert(d.bytes()?.into());
    }
    Ok(m)
}

impl Aggregator {
    /// Take everything this shard holds, owned keys and this interval's partials, as a
    /// snapshot of the interval ending at `boundary_ms`. The aggregator is left empty
    /// (with its internal counters seeded, as after a flush).
    pub fn snapshot(&mut self, boundary_ms: u64, interval_ms: u64) -> Snapshot {
        let mut s = Snapshot::empty(boundary_ms, interval_ms);
        let o = &mut self.owned;
        s.owned.counters = o.counters.drain().map(|e| rekey(e, |c| c.value)).collect();
        s.owned.gauges = o
            .gauges
            .drain()
            .map(|e| rekey(e, |g| (g.value, g.ttl)))
            .collect();
        s.owned.timers = o.timers.drain().map(|e| rekey(e, |t| t.agg)).collect();
        s.owned.sets = o.sets.drain().collect();
        let p = &mut self.part;
        s.partials = Partials {
            counters: p.counters.drain().collect(),
            gauges: p.gauges.drain().collect(),
            timers: p.timers.drain().collect(),
            sets: p.sets.drain().collect(),
        };
        self.seed_internal();
        s
    }

    /// Add a snapshot of keys this shard owns: its owned state joins ours (counters and
    /// timers add up, a gauge takes the saved value and time to live, sets unite), then
    /// its partials are merged as a flush round merges them.
    pub fn restore(&mut self, s: Snapshot) {
        let o = &mut self.owned;
        for e in s.owned.counters {
            if let Some(c) =
                o.counters
                    .upsert(e.hash, &e.key, || true, || OwnedCounter { value: 0.0 })
            {
                c.value += e.value;
            }
        }
        for e in s.owned.gauges {
            let (value, ttl) = e.value;
            let make = || OwnedGauge { value, ttl };
            if let Some(g) = o.gauges.upsert(e.hash, &e.key, || true, make) {
                *g = OwnedGauge { value, ttl };
            }
        }
        let (spec, cap) = (&self.spec, self.spec.max_samples);
        for e in s.owned.timers {
            let make = || OwnedTimer {
                agg: TimerAgg::default(),
                rule: spec.rule_for(&e.key),
            };
            if let Some(t) = o.timers.upsert(e.hash, &e.key, || true, make) {
                t.agg.merge(e.value, cap);
            }
        }
        for e in s.owned.sets {
            if let Some(m) = o.sets.upsert(e.hash, &e.key, || true, Members::default) {
                m.extend(e.value);
            }
        }
        self.merge(s.partials);
    }
}

fn rekey<A, B>(e: Entry<A>, f: impl FnOnce(A) -> B) -> Entry<B> {
    Entry {
        key: e.key,
        hash: e.hash,
        value: f(e.value),
    }
}

/// Little-endian writer of the byte form.
pub(crate) struct Enc(pub Vec<u8>);

impl Enc {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }

    fn list<'e, V: 'e>(
        &mut self,
        entries: impl ExactSizeIterator<Item = &'e Entry<V>>,
        mut value: impl FnMut(&mut Enc, &V),
    ) {
        self.u32(entries.len() as u32);
        for e in entries {
            self.bytes(&e.key);
            value(self, &e.value);
        }
    }
}

/// Reader of the byte form; every read is bounds-checked.
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(SnapshotError::Malformed(self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let at = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| SnapshotError::Malformed(at))
    }

    pub fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn f64(&mut self) -> Result<f64, SnapshotError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// A count of items each at least `min_size` bytes long, checked against what is left
    /// (so a damaged count cannot ask for a huge allocation).
    pub fn count(&mut self, min_size: usize) -> Result<usize, SnapshotError> {
        let at = self.pos;
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.buf.len() - self.pos {
            return Err(SnapshotError::Malformed(at));
        }
        Ok(n)
    }

    fn list<V>(
        &mut self,
        mut value: impl FnMut(&mut Dec<'a>) -> Result<V, SnapshotError>,
    ) -> Result<Vec<Entry<V>>, SnapshotError> {
        let n = self.count(4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let key: Box<[u8]> = self.bytes()?.into();
            let hash = hash_key(&key);
            out.push(Entry {
                key,
                hash,
                value: value(self)?,
            });
        }
        Ok(out)
    }
}
