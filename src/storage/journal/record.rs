//! The journal's bytes: a segment header, then records, each checked by its own CRC-32.
//!
//! Pure: no I/O, no clock. [`SegmentEncoder`] turns points into records (assigning each
//! name of the segment a dictionary id the first time it appears); [`SegmentReader`] gives
//! them back, record by record, and stops at the first record that is cut short or does
//! not check, saying where and why ([`Damage`]). A record's points are handed out only
//! once the whole record has been checked and decoded, so a damaged record never yields
//! a point, right or wrong.
//!
//! ```text
//! header  (24 bytes)  "LONSJRNL" | version u16 = 1 | 0u16 | shard u32 | shards u32 | crc32 of the 20 bytes before
//! record              len u32 | crc32(len bytes ‖ payload) u32 | payload (len bytes)
//! payload             varint new_names | new_names × (varint len, name bytes)
//!                     varint points   | points × (varint name id, zigzag varint ts − previous ts, f64 LE)
//! ```
//!
//! All integers little-endian; varints are LEB128. Name ids count from 0 in order of
//! definition within the segment; a record may only use ids defined by itself or by an
//! earlier record of the same segment. The first point's `previous ts` is 0.

use hashbrown::HashMap;

/// The first eight bytes of every segment.
pub const MAGIC: &[u8; 8] = b"LONSJRNL";
/// The format version written and read.
pub const VERSION: u16 = 1;
/// Bytes of the segment header.
pub const HEADER_BYTES: usize = 24;
/// Bytes before a record's payload (length and CRC).
pub const RECORD_HEAD: usize = 8;
/// Largest payload a record may have; a longer length is damage (a torn or garbled head).
pub const MAX_RECORD: usize = 64 << 20;
/// Longest name a record may define (carbon lines are shorter than this).
pub const MAX_NAME: usize = 1 << 20;

/// What a segment's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The shard that wrote it.
    pub shard: u32,
    /// How many shards the server had (a series' owner depends on it).
    pub shards: u32,
}

impl Header {
    pub fn encode(self) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..8].copy_from_slice(MAGIC);
        h[8..10].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&self.shard.to_le_bytes());
        h[16..20].copy_from_slice(&self.shards.to_le_bytes());
        let crc = crc32fast::hash(&h[..20]);
        h[20..].copy_from_slice(&crc.to_le_bytes());
        h
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Damage> {
        let bad = |reason| Damage { offset: 0, reason };
        let h = bytes.get(..HEADER_BYTES).ok_or(bad(Reason::ShortHeader))?;
        if &h[..8] != MAGIC {
            return Err(bad(Reason::NotAJournal));
        }
        if crc32fast::hash(&h[..20]) != u32_at(h, 20) {
            return Err(bad(Reason::Checksum));
        }
        if u16::from_le_bytes([h[8], h[9]]) != VERSION {
            return Err(bad(Reason::Version));
        }
        Ok(Self {
            shard: u32_at(h, 12),
            shards: u32_at(h, 16),
        })
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Why reading a segment stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("the header is cut short")]
    ShortHeader,
    #[error("not a lonsdaleite journal segment")]
    NotAJournal,
    #[error("a journal format version this build does not read")]
    Version,
    #[error("a record is cut short (a write the process did not finish)")]
    Torn,
    #[error("a record's length is impossible")]
    Length,
    #[error("a record's checksum does not match")]
    Checksum,
    #[error("a record's content does not decode")]
    Garbled,
}

/// Where and why a segment stops being readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub struct Damage {
    pub offset: usize,
    pub reason: Reason,
}

/// Builds one segment's records: keeps the segment's name dictionary and the record being
/// filled.
#[derive(Debug, Default)]
pub struct SegmentEncoder {
    ids: HashMap<Box<[u8]>, u32>,
    /// Names defined by the open record, encoded.
    names: Vec<u8>,
    new_names: u64,
    /// Points of the open record, encoded.
    points: Vec<u8>,
    count: u64,
    last_ts: i64,
}

impl SegmentEncoder {
    /// Add a point to the open record (defining its name if the segment has not seen it).
    pub fn push(&mut self, name: &[u8], ts: i64, value: f64) {
        let id = if let Some(&id) = self.ids.get(name) {
            id
        } else {
            let id = self.ids.len() as u32;
            self.ids.insert(name.into(), id);
            put_varint(&mut self.names, name.len() as u64);
            self.names.extend_from_slice(name);
            self.new_names += 1;
            id
        };
        put_varint(&mut self.points, u64::from(id));
        put_varint(&mut self.points, zigzag(ts.wrapping_sub(self.last_ts)));
        self.points.extend_from_slice(&value.to_le_bytes());
        self.last_ts = ts;
        self.count += 1;
    }

    /// Points in the open record.
    pub fn pending(&self) -> u64 {
        self.count
    }

    /// Bytes the open record will take.
    pub fn pending_bytes(&self) -> usize {
        RECORD_HEAD + 20 + self.names.len() + self.points.len()
    }

    /// Close the open record: append it to `out` (nothing when it holds no point).
    pub fn finish_record(&mut self, out: &mut Vec<u8>) {
        if self.count == 0 {
            return;
        }
        let start = out.len();
        out.extend_from_slice(&[0u8; RECORD_HEAD]);
        put_varint(out, self.new_names);
        out.extend_from_slice(&self.names);
        put_varint(out, self.count);
        out.extend_from_slice(&self.points);
        let len = (out.len() - start - RECORD_HEAD) as u32;
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&len.to_le_bytes());
        crc.update(&out[start + RECORD_HEAD..]);
        out[start + 4..start + 8].copy_from_slice(&crc.finalize().to_le_bytes());
        self.names.clear();
        self.points.clear();
        self.new_names = 0;
        self.count = 0;
        self.last_ts = 0;
    }

    /// Start a new segment: forget the dictionary. The open record must be finished first.
    pub fn new_segment(&mut self) {
        debug_assert_eq!(self.count, 0, "the open record belongs to the old segment");
        self.ids.clear();
    }
}

/// Reads a segment's records in order (see the module documentation).
pub struct SegmentReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    names: Vec<&'a [u8]>,
    pub header: Header,
}

impl<'a> SegmentReader<'a> {
    /// Check the header; the records follow.
    pub fn new(bytes: &'a [u8]) -> Result<Self, Damage> {
        let header = Header::decode(bytes)?;
        Ok(Self {
            bytes,
            pos: HEADER_BYTES,
            names: Vec::new(),
            header,
        })
    }

    /// Bytes read and found good so far (where a damaged tail starts).
    pub fn good_bytes(&self) -> usize {
        self.pos
    }

    /// The name of dictionary id `id` (an id [`next_record`](Self::next_record) gave).
    pub fn name(&self, id: u32) -> &'a [u8] {
        self.names[id as usize]
    }

    /// Decode the next record into `out` as (name id, timestamp, value). `Ok(false)` at the
    /// clean end of the segment; `Err` at the first damaged record, with `out` empty: read
    /// no further.
    pub fn next_record(&mut self, out: &mut Vec<(u32, i64, f64)>) -> Result<bool, Damage> {
        out.clear();
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            return Ok(false);
        }
        let offset = self.pos;
        let damage = |reason| Damage { offset, reason };
        if rest.len() < RECORD_HEAD {
            return Err(damage(Reason::Torn));
        }
        let len = u32_at(rest, 0) as usize;
        if len > MAX_RECORD {
            return Err(damage(Reason::Length));
        }
        let Some(payload) = rest.get(RECORD_HEAD..RECORD_HEAD + len) else {
            return Err(damage(Reason::Torn));
        };
        let mut crc = crc32fast::Hasher::new();
        crc.update(&rest[..4]);
        crc.update(payload);
        if crc.finalize() != u32_at(rest, 4) {
            return Err(damage(Reason::Checksum));
        }
        let defined = self.names.len();
        if self.decode(payload, out).is_none() {
            self.names.truncate(defined);
            out.clear();
            return Err(damage(Reason::Garbled));
        }
        self.pos += RECORD_HEAD + len;
        Ok(true)
    }

    fn decode(&mut self, payload: &'a [u8], out: &mut Vec<(u32, i64, f64)>) -> Option<()> {
        let mut at = 0;
        let new_names = get_varint(payload, &mut at)?;
        for _ in 0..new_names {
            let len = usize::try_from(get_varint(payload, &mut at)?).ok()?;
            if len > MAX_NAME {
                return None;
            }
            let name = payload.get(at..at.checked_add(len)?)?;
            at += len;
            self.names.push(name);
        }
        let count = get_varint(payload, &mut at)?;
        // Each point takes at least 10 bytes: a count beyond that is garbage.
        if count > (payload.len() - at) as u64 / 10 {
            return None;
        }
        let mut ts = 0i64;
        for _ in 0..count {
            let id = u32::try_from(get_varint(payload, &mut at)?).ok()?;
            if id as usize >= self.names.len() {
                return None;
            }
            ts = ts.wrapping_add(unzigzag(get_varint(payload, &mut at)?));
            let v = payload.get(at..at + 8)?;
            at += 8;
            let value = f64::from_le_bytes(v.try_into().ok()?);
            out.push((id, ts, value));
        }
        (at == payload.len()).then_some(())
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Point = (Vec<u8>, i64, f64);

    /// A segment of `records` (each a list of points), as the journal writes it.
    fn segment(records: &[Vec<Point>]) -> Vec<u8> {
        let mut out = Header {
            shard: 1,
            shards: 2,
        }
        .encode()
        .to_vec();
        let mut enc = SegmentEncoder::default();
        for r in records {
            for (n, t, v) in r {
                enc.push(n, *t, *v);
            }
            enc.finish_record(&mut out);
        }
        out
    }

    /// Every record read until the end or the first damage.
    fn read(bytes: &[u8]) -> (Vec<Vec<Point>>, Option<Damage>) {
        let mut r = match SegmentReader::new(bytes) {
            Ok(r) => r,
            Err(d) => return (Vec::new(), Some(d)),
        };
        let mut got = Vec::new();
        let mut buf = Vec::new();
        loop {
            match r.next_record(&mut buf) {
                Ok(true) => got.push(
                    buf.iter()
                        .map(|&(id, t, v)| (r.name(id).to_vec(), t, v))
                        .collect(),
                ),
                Ok(false) => return (got, None),
                Err(d) => {
                    assert!(buf.is_empty());
                    return (got, Some(d));
                }
            }
        }
    }

    fn same(a: &[Vec<Point>], b: &[Vec<Point>]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|(p, q)| p.0 == q.0 && p.1 == q.1 && p.2.to_bits() == q.2.to_bits())
            })
    }

    #[test]
    fn header_round_trips_and_refuses_strangers() {
        let h = Header {
            shard: 3,
            shards: 8,
        };
        assert_eq!(Header::decode(&h.encode()), Ok(h));
        let mut other = h.encode();
        other[0] = b'X';
        assert_eq!(
            Header::decode(&other).unwrap_err().reason,
            Reason::NotAJournal
        );
        let mut flipped = h.encode();
        flipped[13] ^= 1;
        assert_eq!(
            Header::decode(&flipped).unwrap_err().reason,
            Reason::Checksum
        );
        assert_eq!(
            Header::decode(&h.encode()[..10]).unwrap_err().reason,
            Reason::ShortHeader
        );
    }

    #[test]
    fn names_are_defined_once_per_segment() {
        let recs = vec![
            vec![(b"a.b".to_vec(), 100, 1.0), (b"c".to_vec(), 90, -2.5)],
            vec![(b"a.b".to_vec(), 160, 3.0)],
            Vec::new(),
            vec![
                (b"c".to_vec(), i64::MIN, f64::NAN),
                (b"d".to_vec(), i64::MAX, 0.0),
            ],
        ];
        let bytes = segment(&recs);
        let (got, damage) = read(&bytes);
        assert_eq!(damage, None);
        let want: Vec<Vec<Point>> = recs.into_iter().filter(|r| !r.is_empty()).collect();
        assert!(same(&got, &want), "{got:?}");
        // "a.b" is spelled once: the second record refers to it by id.
        assert_eq!(bytes.windows(3).filter(|w| w == b"a.b").count(), 1);
    }

    #[test]
    fn a_torn_last_record_is_cut_and_said() {
        let recs = vec![
            vec![(b"x.y".to_vec(), 1, 1.0)],
            vec![(b"x.y".to_vec(), 2, 2.0)],
        ];
        let bytes = segment(&recs);
        let (got, damage) = read(&bytes[..bytes.len() - 3]);
        assert!(same(&got, &recs[..1]));
        let d = damage.unwrap();
        assert_eq!(d.reason, Reason::Torn);
        let mut r = SegmentReader::new(&bytes).unwrap();
        r.next_record(&mut Vec::new()).unwrap();
        assert_eq!(d.offset, r.good_bytes());
    }

    fn arb_records() -> impl Strategy<Value = Vec<Vec<Point>>> {
        let name = prop_oneof![
            Just(b"a.b".to_vec()),
            Just(b"servers.web01.cpu".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        let point = (name, any::<i64>(), any::<f64>());
        proptest::collection::vec(proptest::collection::vec(point, 1..20), 0..8)
    }

    proptest! {
        /// Whatever the names, timestamps and values (NaN and infinities included), a
        /// segment gives back exactly the records written, bit for bit.
        #[test]
        fn round_trip(recs in arb_records()) {
            let (got, damage) = read(&segment(&recs));
            prop_assert_eq!(damage, None);
            prop_assert!(same(&got, &recs));
        }

        /// A segment cut anywhere gives a prefix of its records (never a wrong point,
        /// never a panic), and says where it stopped unless the cut fell between records.
        #[test]
        fn any_truncation_gives_a_prefix(recs in arb_records(), cut in any::<prop::sample::Index>()) {
            let bytes = segment(&recs);
            let at = cut.index(bytes.len() + 1);
            let (got, damage) = read(&bytes[..at]);
            prop_assert!(got.len() <= recs.len());
            prop_assert!(same(&got, &recs[..got.len()]));
            if damage.is_none() {
                prop_assert!(at >= HEADER_BYTES);
            }
        }

        /// Bytes changed anywhere after the header: the records before the change come back
        /// whole; reading stops at or before the damaged record and never yields a point
        /// that was not written.
        #[test]
        fn any_corruption_is_detected(
            recs in arb_records(),
            at in any::<prop::sample::Index>(),
            garbage in proptest::collection::vec(any::<u8>(), 1..12),
        ) {
            let mut bytes = segment(&recs);
            prop_assume!(bytes.len() > HEADER_BYTES);
            let start = HEADER_BYTES + at.index(bytes.len() - HEADER_BYTES);
            let mut changed = false;
            for (i, g) in garbage.iter().enumerate() {
                if let Some(b) = bytes.get_mut(start + i) {
                    changed |= *b != *g;
                    *b = *g;
                }
            }
            prop_assume!(changed);
            let (got, _) = read(&bytes);
            // Records wholly before the change are intact; the one it touched (CRC-32
            // catches every change of up to 32 bits, and the rest with odds of 2^-32) and
            // those after it are not read.
            let mut whole = 0;
            let clean = segment(&recs);
            let mut r = SegmentReader::new(&clean).unwrap();
            let mut buf = Vec::new();
            while r.next_record(&mut buf).unwrap() {
                if r.good_bytes() <= start {
                    whole += 1;
                }
            }
            prop_assert_eq!(got.len(), whole);
            prop_assert!(same(&got, &recs[..whole]));
        }

        /// Any bytes at all: reading never panics and never yields more than it was given
        /// could hold.
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = Header { shard: 0, shards: 1 }.encode().to_vec();
            bytes.extend_from_slice(&tail);
            let (got, _) = read(&bytes);
            prop_assert!(got.iter().map(Vec::len).sum::<usize>() <= tail.len() / 10);
        }

        #[test]
        fn varints_round_trip(v in any::<u64>(), s in any::<i64>()) {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            put_varint(&mut b, zigzag(s));
            let mut at = 0;
            prop_assert_eq!(get_varint(&b, &mut at), Some(v));
            prop_assert_eq!(get_varint(&b, &mut at).map(unzigzag), Some(s));
            prop_assert_eq!(at, b.len());
        }
    }
}
