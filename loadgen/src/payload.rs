//! The payload pool: every byte a run sends, rendered before the clock starts.
//!
//! Contract: [`Pool::build`] is a pure function of its [`PoolSpec`] (seed included): the same
//! spec gives the same bytes. The pool is a sequence of packets laid end to end in one buffer;
//! a packet is one UDP datagram (lines joined by `\n`, no trailing newline) or one TCP write
//! (every line ends in `\n`). Every packet holds `per_packet` lines except possibly the last.
//! Lines visit the names in a shuffled order, every name once per pass, reshuffled each pass,
//! so a pool of at least `names` lines mentions every name. Name `i` always has the same type
//! (see [`crate::mix`]) and the same tag values, so a run makes exactly `names` series.

use std::io::Write as _;

use thiserror::Error;

use crate::mix::{MetricType, Mix};
use crate::rng::SplitMix64;

/// Largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;
/// Most names a pool can cycle through (the shuffle keeps one `u32` per name).
pub const MAX_NAMES: u64 = 50_000_000;
/// Largest pool, in bytes.
pub const MAX_POOL_BYTES: usize = 4 << 30;

/// Wire protocol and transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// StatsD lines in UDP datagrams, `per_packet` lines each.
    StatsdUdp,
    /// StatsD lines over one TCP connection per thread, newline framed.
    StatsdTcp,
    /// Carbon plaintext `name value timestamp` lines over TCP.
    CarbonTcp,
}

impl Protocol {
    /// Parses `statsd-udp`, `statsd-tcp` or `carbon-tcp`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "statsd-udp" => Some(Self::StatsdUdp),
            "statsd-tcp" => Some(Self::StatsdTcp),
            "carbon-tcp" => Some(Self::CarbonTcp),
            _ => None,
        }
    }

    /// The name `--protocol` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::StatsdUdp => "statsd-udp",
            Self::StatsdTcp => "statsd-tcp",
            Self::CarbonTcp => "carbon-tcp",
        }
    }

    /// Whether packets are datagrams (else writes on a stream).
    pub fn is_udp(self) -> bool {
        matches!(self, Self::StatsdUdp)
    }
}

/// Why a pool could not be built.
#[derive(Debug, Error, PartialEq)]
pub enum PayloadError {
    #[error("--names must be between 1 and {MAX_NAMES}, got {0}")]
    Names(u64),
    #[error("--per-packet must be at least 1")]
    PerPacket,
    #[error("a datagram of {per_packet} lines is {len} bytes, over the UDP limit of {MAX_DATAGRAM}; lower --per-packet")]
    DatagramTooLarge { per_packet: u32, len: usize },
    #[error("the payload pool would exceed {MAX_POOL_BYTES} bytes; lower --pool-lines or --names")]
    PoolTooLarge,
    #[error("--sample-rate must be in (0, 1], got {0}")]
    SampleRate(f64),
}

/// What to render.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub protocol: Protocol,
    /// Distinct names (series).
    pub names: u64,
    /// StatsD types by share of names (ignored for carbon).
    pub mix: Mix,
    /// `|@rate` on c, ms, h and d lines when below 1.
    pub sample_rate: f64,
    /// DogStatsD tags per line (`|#tag0:v1,...`); for carbon, graphite tags (`;tag0=v1`).
    pub tags: u32,
    /// Lines per datagram (UDP) or per write (TCP).
    pub per_packet: u32,
    /// Lines in the pool (at least one pass over the names is advisable).
    pub lines: u64,
    pub seed: u64,
    /// First component of every name.
    pub prefix: String,
    /// Unix time written on carbon lines (the caller reads the clock, not this module).
    pub timestamp: u64,
    /// Carbon: distinct timestamps per name. Pass `k` over the names carries
    /// `timestamp - (history - 1 - k mod history) * step`, so a pool of `names * history`
    /// lines gives every series `history` points, oldest first (1 = all at `timestamp`).
    pub history: u32,
    /// Carbon: seconds between a name's timestamps (with `history` > 1).
    pub step: u64,
}

/// One packet of the pool: `bytes[start..start + len]`, holding `lines` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRef {
    pub start: usize,
    pub len: usize,
    pub lines: u32,
}

/// Rendered packets, laid end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    bytes: Vec<u8>,
    packets: Vec<PacketRef>,
    lines: u64,
    framing_newline: bool,
}

impl Pool {
    /// Renders the pool described by `spec`.
    pub fn build(spec: &PoolSpec) -> Result<Self, PayloadError> {
        if spec.names == 0 || spec.names > MAX_NAMES {
            return Err(PayloadError::Names(spec.names));
        }
        if spec.per_packet == 0 {
            return Err(PayloadError::PerPacket);
        }
        if !(spec.sample_rate > 0.0 && spec.sample_rate <= 1.0) {
            return Err(PayloadError::SampleRate(spec.sample_rate));
        }
        let lines = spec.lines.max(1);
        let mut rng = SplitMix64::new(spec.seed);
        let mut order: Vec<u32> = (0..spec.names as u32).collect();
        rng.shuffle(&mut order);
        let mut pos = 0usize;
        let mut pass = 0u64;

        let stream = !spec.protocol.is_udp();
        let mut bytes: Vec<u8> = Vec::new();
        let mut packets = Vec::with_capacity((lines / u64::from(spec.per_packet) + 1) as usize);
        let mut in_packet = 0u32;
        let mut start = 0usize;
        for _ in 0..lines {
            if pos == order.len() {
                rng.shuffle(&mut order);
                pos = 0;
                pass += 1;
            }
            let index = u64::from(order[pos]);
            pos += 1;
            if in_packet > 0 && !stream {
                bytes.push(b'\n');
            }
            render_line(&mut bytes, spec, index, pass, &mut rng);
            if stream {
                bytes.push(b'\n');
            }
            in_packet += 1;
            if in_packet == spec.per_packet {
                close_packet(&mut packets, &bytes, start, in_packet, spec)?;
                start = bytes.len();
                in_packet = 0;
            }
            if bytes.len() > MAX_POOL_BYTES {
                return Err(PayloadError::PoolTooLarge);
            }
        }
        if in_packet > 0 {
            close_packet(&mut packets, &bytes, start, in_packet, spec)?;
        }
        Ok(Self {
            bytes,
            packets,
            lines,
            framing_newline: stream,
        })
    }

    /// The whole buffer.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The packets, in sending order.
    pub fn packets(&self) -> &[PacketRef] {
        &self.packets
    }

    /// The bytes of packet `i`.
    pub fn packet(&self, i: usize) -> &[u8] {
        let p = self.packets[i];
        &self.bytes[p.start..p.start + p.len]
    }

    /// Lines in the pool.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Length of the first `k` lines of packet `i` (`k` ≤ its lines), a valid packet itself:
    /// used to end a `--count` run on an exact line.
    pub fn prefix_len(&self, i: usize, k: u32) -> usize {
        let p = self.packet(i);
        if k == 0 {
            return 0;
        }
        let mut seen = 0;
        for (at, b) in p.iter().enumerate() {
            if *b == b'\n' {
                seen += 1;
                if seen == k {
                    return if self.framing_newline { at + 1 } else { at };
                }
            }
        }
        p.len()
    }

    /// Every line of the pool, in order (for tests and debugging).
    pub fn iter_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.packets.iter().flat_map(move |p| {
            let data = &self.bytes[p.start..p.start + p.len];
            let data = data.strip_suffix(b"\n").unwrap_or(data);
            data.split(|b| *b == b'\n')
        })
    }
}

fn close_packet(
    packets: &mut Vec<PacketRef>,
    bytes: &[u8],
    start: usize,
    lines: u32,
    spec: &PoolSpec,
) -> Result<(), PayloadError> {
    let len = bytes.len() - start;
    if spec.protocol.is_udp() && len > MAX_DATAGRAM {
        return Err(PayloadError::DatagramTooLarge {
            per_packet: spec.per_packet,
            len,
        });
    }
    packets.push(PacketRef { start, len, lines });
    Ok(())
}

/// `prefix.gNN.metricNNNNNNN`: 100 groups, so the names form a small tree like real ones.
pub fn write_name(out: &mut Vec<u8>, prefix: &str, index: u64) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{prefix}.g{:02}.metric{index:07}", index % 100);
}

/// The timestamp of carbon lines in pass `pass` over the names.
pub fn carbon_timestamp(spec: &PoolSpec, pass: u64) -> u64 {
    let history = u64::from(spec.history.max(1));
    let back = (history - 1 - pass % history) * spec.step;
    spec.timestamp.saturating_sub(back)
}

fn render_line(out: &mut Vec<u8>, spec: &PoolSpec, index: u64, pass: u64, rng: &mut SplitMix64) {
    write_name(out, &spec.prefix, index);
    if spec.protocol == Protocol::CarbonTcp {
        for j in 0..spec.tags {
            let _ = write!(out, ";tag{j}=v{}", (index + u64::from(j)) % 8);
        }
        let v = rng.below(1_000_000);
        let ts = carbon_timestamp(spec, pass);
        let _ = write!(out, " {}.{:02} {ts}", v / 100, v % 100);
        return;
    }
    let ty = spec.mix.type_of(index, spec.names);
    let value = match ty {
        MetricType::Counter => 1 + rng.below(10),
        MetricType::Timer | MetricType::Histogram | MetricType::Distribution => rng.below(1000),
        MetricType::Gauge => rng.below(10_000),
        MetricType::Set => rng.below(100),
    };
    let _ = write!(out, ":{value}|{}", ty.code());
    if spec.sample_rate < 1.0 && ty.takes_sample_rate() {
        let _ = write!(out, "|@{}", spec.sample_rate);
    }
    for j in 0..spec.tags {
        out.extend_from_slice(if j == 0 { b"|#" } else { b"," });
        let _ = write!(out, "tag{j}:v{}", (index + u64::from(j)) % 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn spec() -> PoolSpec {
        PoolSpec {
            protocol: Protocol::StatsdUdp,
            names: 1000,
            mix: Mix::parse("c=60,ms=20,g=10,s=10").expect("valid mix"),
            sample_rate: 1.0,
            tags: 0,
            per_packet: 25,
            lines: 10_000,
            seed: 42,
            prefix: "lg".into(),
            timestamp: 1_700_000_000,
            history: 1,
            step: 60,
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = Pool::build(&spec()).expect("pool");
        let b = Pool::build(&spec()).expect("pool");
        assert_eq!(a, b);
        let c = Pool::build(&PoolSpec { seed: 43, ..spec() }).expect("pool");
        assert_ne!(a.bytes(), c.bytes());
    }

    #[test]
    fn every_name_once_per_pass_with_its_type() {
        let pool = Pool::build(&spec()).expect("pool");
        let mut per_name: BTreeMap<Vec<u8>, (u32, BTreeSet<Vec<u8>>)> = BTreeMap::new();
        let mut per_type: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
        for line in pool.iter_lines() {
            let (name, rest) = line.split_at(line.iter().position(|b| *b == b':').expect(":"));
            let ty = rest.split(|b| *b == b'|').nth(1).expect("type").to_vec();
            let e = per_name.entry(name.to_vec()).or_default();
            e.0 += 1;
            e.1.insert(ty.clone());
            *per_type.entry(ty).or_default() += 1;
        }
        assert_eq!(per_name.len(), 1000);
        for (name, (n, types)) in &per_name {
            assert_eq!(*n, 10, "{}", String::from_utf8_lossy(name));
            assert_eq!(types.len(), 1, "a name keeps its type");
        }
        assert_eq!(per_type[b"c".as_slice()], 6000);
        assert_eq!(per_type[b"ms".as_slice()], 2000);
        assert_eq!(per_type[b"g".as_slice()], 1000);
        assert_eq!(per_type[b"s".as_slice()], 1000);
        assert!(per_name.keys().all(|n| n.starts_with(b"lg.g")));
    }

    #[test]
    fn packets_hold_per_packet_lines_without_trailing_newline() {
        let pool = Pool::build(&PoolSpec {
            lines: 1010,
            ..spec()
        })
        .expect("pool");
        assert_eq!(pool.packets().len(), 41);
        for (i, p) in pool.packets().iter().enumerate() {
            let data = pool.packet(i);
            let expect = if i == 40 { 10 } else { 25 };
            assert_eq!(p.lines, expect);
            assert_eq!(
                data.iter().filter(|b| **b == b'\n').count() as u32,
                expect - 1
            );
            assert_ne!(data.last(), Some(&b'\n'));
        }
        assert_eq!(pool.iter_lines().count(), 1010);
        // a prefix of k lines is k whole lines
        let pre = &pool.packet(0)[..pool.prefix_len(0, 3)];
        assert_eq!(pre.split(|b| *b == b'\n').count(), 3);
        assert_eq!(pool.prefix_len(0, 25), pool.packet(0).len());
    }

    #[test]
    fn sample_rate_and_tags_are_rendered() {
        let pool = Pool::build(&PoolSpec {
            sample_rate: 0.5,
            tags: 2,
            ..spec()
        })
        .expect("pool");
        for line in pool.iter_lines() {
            let s = std::str::from_utf8(line).expect("ascii");
            let fields: Vec<&str> = s.split('|').collect();
            let sampled = matches!(fields[1], "c" | "ms");
            assert_eq!(fields.len(), if sampled { 4 } else { 3 }, "{s}");
            if sampled {
                assert_eq!(fields[2], "@0.5");
            }
            let tags = fields.last().expect("tags");
            assert!(
                tags.starts_with("#tag0:v") && tags.contains(",tag1:v"),
                "{s}"
            );
        }
    }

    #[test]
    fn carbon_history_gives_every_name_distinct_past_timestamps_oldest_first() {
        let pool = Pool::build(&PoolSpec {
            protocol: Protocol::CarbonTcp,
            names: 50,
            lines: 50 * 4,
            history: 4,
            step: 60,
            ..spec()
        })
        .expect("pool");
        let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for line in pool.iter_lines() {
            let s = std::str::from_utf8(line).expect("ascii");
            let parts: Vec<&str> = s.split(' ').collect();
            let ts: u64 = parts[2].parse().expect("timestamp");
            seen.entry(parts[0].to_owned()).or_default().push(ts);
        }
        assert_eq!(seen.len(), 50);
        let want = vec![1_699_999_820, 1_699_999_880, 1_699_999_940, 1_700_000_000];
        for ts in seen.values() {
            assert_eq!(ts, &want);
        }
    }

    #[test]
    fn carbon_lines_are_newline_terminated_plaintext() {
        let pool = Pool::build(&PoolSpec {
            protocol: Protocol::CarbonTcp,
            lines: 100,
            per_packet: 10,
            ..spec()
        })
        .expect("pool");
        assert_eq!(pool.packets().len(), 10);
        assert!(pool.packet(0).ends_with(b"\n"));
        assert_eq!(pool.prefix_len(0, 2), {
            let p = pool.packet(0);
            let first = p.iter().position(|b| *b == b'\n').expect("nl") + 1;
            first + p[first..].iter().position(|b| *b == b'\n').expect("nl") + 1
        });
        for line in pool.iter_lines() {
            let s = std::str::from_utf8(line).expect("ascii");
            let parts: Vec<&str> = s.split(' ').collect();
            assert_eq!(parts.len(), 3, "{s}");
            assert!(parts[1].parse::<f64>().is_ok());
            assert_eq!(parts[2], "1700000000");
        }
    }

    #[test]
    fn refuses_oversized_datagrams_and_bad_options() {
        let big = PoolSpec {
            per_packet: 5000,
            ..spec()
        };
        assert!(matches!(
            Pool::build(&big),
            Err(PayloadError::DatagramTooLarge { .. })
        ));
        assert_eq!(
            Pool::build(&PoolSpec { names: 0, ..spec() }),
            Err(PayloadError::Names(0))
        );
        assert_eq!(
            Pool::build(&PoolSpec {
                per_packet: 0,
                ..spec()
            }),
            Err(PayloadError::PerPacket)
        );
        assert!(matches!(
            Pool::build(&PoolSpec {
                sample_rate: 0.0,
                ..spec()
            }),
            Err(PayloadError::SampleRate(_))
        ));
    }
}
