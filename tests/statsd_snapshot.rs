//! The StatsD state a stopping shard saves ([`Snapshot`]) against a server that never
//! stopped, in process: the byte form round-trips, damaged bytes are refused without
//! panicking, and an interval interrupted by a save and a restore (under another shard
//! count) flushes exactly what it would have flushed uninterrupted.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use lonsdaleite::aggregate::snapshot::{Snapshot, SnapshotError};
use lonsdaleite::aggregate::Aggregator;
use lonsdaleite::config::Config;
use lonsdaleite::protocol::statsd::{ParseOptions, Parser};
use lonsdaleite::route::Router;
use proptest::prelude::*;

fn config(extra: &str) -> Config {
    Config::from_toml_str(&format!("[statsd]\n{extra}"), Path::new("t.toml")).unwrap()
}

/// Shards that receive lines, exchange partials and flush as the server does.
struct Shards {
    aggs: Vec<Aggregator>,
    parser: Parser,
    router: Router,
}

impl Shards {
    fn new(cfg: &Config, n: usize) -> Self {
        Self {
            aggs: (0..n).map(|_| Aggregator::new(&cfg.statsd)).collect(),
            parser: Parser::new(ParseOptions {
                sanitize: true,
                sort_tags: true,
            }),
            router: Router::new(n),
        }
    }

    /// Line `i` goes to shard `i % n` (any shard may receive any key).
    fn receive(&mut self, lines: &[String], offset: usize) {
        let n = self.aggs.len();
        for (i, line) in lines.iter().enumerate() {
            let agg = &mut self.aggs[(i + offset) % n];
            self.parser.parse_line(line.as_bytes(), |r| {
                agg.ingest(&r.unwrap()).unwrap();
            });
        }
    }

    /// Partials to their owners, as a flush round (or a saving shutdown round) does.
    fn exchange(&mut self) {
        let n = self.aggs.len();
        let router = &self.router;
        let outgoing: Vec<Vec<_>> = self
            .aggs
            .iter_mut()
            .map(|a| a.take_partials(n, |k| router.owner(k)))
            .collect();
        for from in outgoing {
            for (to, p) in from.into_iter().enumerate() {
                self.aggs[to].merge(p);
            }
        }
    }

    /// One flush: every shard's output, sorted (shards emit in parallel).
    fn flush(&mut self) -> Vec<(String, u64)> {
        self.exchange();
        let mut out = Vec::new();
        for a in &mut self.aggs {
            a.flush(&mut |name, v| {
                out.push((String::from_utf8(name.to_vec()).unwrap(), v.to_bits()));
            });
        }
        out.sort();
        out
    }

    /// Stop: every shard's snapshot through its byte form; then restart on `n` shards.
    fn restart(&mut self, cfg: &Config, n: usize, exchange_first: bool) {
        if exchange_first {
            self.exchange();
        }
        let mut all: Option<Snapshot> = None;
        for a in &mut self.aggs {
            let bytes = a.snapshot(1_700_000_010_000, 10_000).encode();
            let snap = Snapshot::decode(&bytes).unwrap();
            match &mut all {
                Some(s) => s.absorb(snap),
                None => all = Some(snap),
            }
        }
        let mut next = Shards::new(cfg, n);
        let router = next.router.clone();
        for (agg, part) in next
            .aggs
            .iter_mut()
            .zip(all.unwrap().split(n, |k| router.owner(k)))
        {
            agg.restore(part);
        }
        *self = next;
    }
}

fn line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["a", "b", "c.d", "e"]);
    (key, 0..5u8, -20..200i32).prop_map(|(k, kind, v)| match kind {
        0 => format!("{k}:{}|c", v.abs() % 10),
        1 => format!("{k}:{}|ms", v.abs()),
        2 => format!("{k}:{v:+}|g"),
        3 => format!("{k}:m{}|s", v.abs() % 7),
        _ => format!("{k}:{}|c|@0.5", v.abs() % 4),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Stopping anywhere in any interval (saving every shard's state, with or without the
    /// shutdown round's exchange) and restarting on any shard count flushes, round by
    /// round, what one uninterrupted shard flushes. (Gauges take only deltas here: an
    /// absolute set racing a delta on another shard is ordered by the mesh, not by time.)
    #[test]
    fn an_interrupted_interval_flushes_like_an_uninterrupted_one(
        rounds in prop::collection::vec(prop::collection::vec(line(), 0..30), 1..4),
        before in 1..4usize,
        after in 1..4usize,
        stop_round in 0..4usize,
        stop_at in 0..30usize,
        exchange_first in any::<bool>(),
    ) {
        let cfg = config("");
        let mut reference = Shards::new(&cfg, 1);
        let want: Vec<_> = rounds
            .iter()
            .map(|r| {
                reference.receive(r, 0);
                reference.flush()
            })
            .collect();
        let mut shards = Shards::new(&cfg, before);
        let stop_round = stop_round % rounds.len();
        for (i, r) in rounds.iter().enumerate() {
            if i == stop_round {
                let cut = stop_at.min(r.len());
                shards.receive(&r[..cut], 0);
                shards.restart(&cfg, after, exchange_first);
                shards.receive(&r[cut..], cut);
            } else {
                shards.receive(r, 0);
            }
            prop_assert_eq!(&shards.flush(), &want[i], "round {}", i);
        }
    }

    /// Damaged bytes are refused with a reason and never panic.
    #[test]
    fn damaged_bytes_are_refused(flip in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>(), garbage in prop::collection::vec(any::<u8>(), 0..200)) {
        let cfg = config("");
        let mut s = Shards::new(&cfg, 1);
        s.receive(&["a:1|c".into(), "t:5|ms".into(), "g:+3|g".into(), "s:x|s".into()], 0);
        let bytes = s.aggs[0].snapshot(1, 2).encode();
        let mut flipped = bytes.clone();
        let i = flip.index(flipped.len());
        flipped[i] ^= 0x40;
        prop_assert!(Snapshot::decode(&flipped).is_err());
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(Snapshot::decode(short).is_err());
        let _ = Snapshot::decode(&garbage);
    }
}

#[test]
fn a_restored_gauge_keeps_its_value_and_ttl_and_timers_keep_their_histogram() {
    // A small sample cap, so the timer is summarised in a histogram before the save.
    let cfg = config("timer_max_samples = 4\ndelete_gauges = true\ngauges_max_ttl = 2");
    let mut s = Shards::new(&cfg, 2);
    let mut lines: Vec<String> = vec!["level:42|g".into(), "level:+0.5|g".into()];
    lines.extend((1..=50).map(|v| format!("lat:{v}|ms")));
    s.receive(&lines, 0);
    let mut uninterrupted = Shards::new(&cfg, 2);
    uninterrupted.receive(&lines, 0);
    s.restart(&cfg, 3, false);
    assert_eq!(s.flush(), uninterrupted.flush());
    // Saved again after a flush: the gauge's value and time to live come back.
    s.restart(&cfg, 1, true);
    let second = s.flush();
    assert_eq!(second, uninterrupted.flush());
    assert!(second
        .iter()
        .any(|(n, v)| n == "stats.gauges.level" && *v == 42.5f64.to_bits()));
    // gauges_max_ttl = 2: flushed twice without an update, then deleted.
    assert!(!s.flush().iter().any(|(n, _)| n == "stats.gauges.level"));
}

#[test]
fn foreign_and_future_files_say_why() {
    assert!(matches!(
        Snapshot::decode(b"hello"),
        Err(SnapshotError::Magic)
    ));
    let cfg = config("");
    let mut s = Shards::new(&cfg, 1);
    let mut bytes = s.aggs[0].snapshot(1, 2).encode();
    bytes[8] = 9;
    assert!(matches!(
        Snapshot::decode(&bytes),
        Err(SnapshotError::Version(9))
    ));
    s.receive(&["a:1|c".into()], 0);
    let bytes = s.aggs[0].snapshot(1, 2).encode();
    let last = bytes.len() - 1;
    let mut damaged = bytes.clone();
    damaged[last] ^= 1;
    assert!(matches!(
        Snapshot::decode(&damaged),
        Err(SnapshotError::Checksum)
    ));
    let s2 = Snapshot::decode(&bytes).unwrap();
    assert_eq!((s2.boundary_ms, s2.interval_ms), (1, 2));
}
