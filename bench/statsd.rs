//! StatsD hot-path micro-benchmarks (criterion; `cargo bench --bench statsd`).
//!
//! - `ingest/*`: one thread, parse + aggregate lines already in memory (no sockets), for
//!   several line mixes. Throughput is in lines (criterion "elements").
//! - `exchange/*`: the design question of issue 2 — with two shards, is it cheaper to
//!   pre-aggregate locally and merge partials at flush (`merge_at_flush`, what the server
//!   does), or to forward every raw line to the shard that owns its name
//!   (`forward_raw_lines`, batches of up to 64 KiB over a bounded channel)? Both run two
//!   threads over the same datagrams, each thread receiving half, and include the final
//!   merge / drain, so they do the same total work from the user's point of view.
//!
//! `STATSD_BENCH_ONCE=N` instead runs `ingest` once over N passes of one mix
//! (`STATSD_BENCH_MIX`, default `mixed`) and one flush, for instruction counts under
//! callgrind (`once_ingest` and `once_flush` inclusive; bench/callgrind-ab.sh), which the
//! noise of a shared machine does not move.
//!
//! Figures and the machine they came from: bench/RESULTS.md.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use crossbeam_channel::bounded;

use lonsdaleite::aggregate::{Aggregator, Partials};
use lonsdaleite::config::{Config, StatsdConfig};
use lonsdaleite::protocol::statsd::{ParseOptions, Parser};
use lonsdaleite::route::Router;

/// A small deterministic generator (xorshift), so every run sees the same lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Datagrams of at most 1400 bytes holding `lines` lines in total.
fn datagrams(mix: &str, keys: u64, lines: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(1400);
    for _ in 0..lines {
        let k = rng.below(keys);
        let v = rng.below(1000);
        let line = match mix {
            "counters" => format!("app.svc{}.requests:{}|c", k % 97, k),
            "timers" => format!("app.svc{}.latency{}:{}|ms", k % 97, k, v),
            "tagged" => format!("app.requests{}:1|c|#host:web{},dc:eu,env:prod", k, k % 50),
            _ => match rng.below(20) {
                0..=9 => format!("app.svc{}.requests{}:1|c", k % 97, k),
                10..=15 => format!("app.svc{}.latency{}:{}|ms", k % 97, k, v),
                16..=18 => format!("app.svc{}.queue{}:{}|g", k % 97, k, v),
                _ => format!("app.svc{}.users{}:{}|s", k % 97, k, v),
            },
        };
        if cur.len() + line.len() + 1 > 1400 {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(b'\n');
        }
        cur.extend_from_slice(line.as_bytes());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn config() -> StatsdConfig {
    Config::from_toml_str("", Path::new("bench.toml"))
        .expect("default config")
        .statsd
}

fn options(cfg: &StatsdConfig) -> ParseOptions {
    ParseOptions {
        sanitize: cfg.key_name_sanitize,
        sort_tags: cfg.sort_tags,
    }
}

/// Parse and aggregate one line.
fn ingest_line(parser: &mut Parser, agg: &mut Aggregator, line: &[u8]) {
    parser.parse_line(line, |r| {
        if let Ok(s) = r {
            let _ = agg.ingest(&s);
        }
    });
}

/// Parse and aggregate every line of `data`.
fn ingest_all(parser: &mut Parser, agg: &mut Aggregator, data: &[Vec<u8>]) {
    for d in data {
        for line in d.split(|&b| b == b'\n') {
            ingest_line(parser, agg, line);
        }
    }
}

fn count_lines(data: &[Vec<u8>]) -> u64 {
    data.iter()
        .map(|d| d.split(|&b| b == b'\n').count() as u64)
        .sum()
}

fn ingest(c: &mut Criterion) {
    let cfg = config();
    let mut g = c.benchmark_group("ingest");
    for mix in ["mixed", "counters", "timers", "tagged"] {
        let data = datagrams(mix, 10_000, 200_000, 7);
        g.throughput(Throughput::Elements(count_lines(&data)));
        g.bench_with_input(BenchmarkId::from_parameter(mix), &data, |b, data| {
            let mut parser = Parser::new(options(&cfg));
            let mut agg = Aggregator::new(&cfg);
            b.iter(|| {
                ingest_all(&mut parser, &mut agg, data);
                // One flush per pass keeps memory bounded, as the server does each interval.
                for p in agg.take_partials(1, |_| 0) {
                    agg.merge(p);
                }
                agg.flush(&mut |n, v| {
                    black_box((n, v));
                });
            });
        });
    }
    g.finish();
}

/// Two shards, pre-aggregating locally; partials are exchanged once at the end.
fn merge_at_flush(cfg: &StatsdConfig, halves: &[Vec<Vec<u8>>; 2]) -> Duration {
    let router = Router::new(2);
    let (tx0, rx0) = bounded::<Partials>(1);
    let (tx1, rx1) = bounded::<Partials>(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for (id, (data, (tx, rx))) in halves.iter().zip([(tx1, rx0), (tx0, rx1)]).enumerate() {
            let router = router.clone();
            s.spawn(move || {
                let mut parser = Parser::new(options(cfg));
                let mut agg = Aggregator::new(cfg);
                ingest_all(&mut parser, &mut agg, data);
                for (to, p) in agg
                    .take_partials(2, |k| router.owner(k))
                    .into_iter()
                    .enumerate()
                {
                    if to == id {
                        agg.merge(p);
                    } else {
                        tx.send(p).expect("peer alive");
                    }
                }
                agg.merge(rx.recv().expect("peer partials"));
                agg.flush(&mut |n, v| {
                    black_box((n, v));
                });
            });
        }
    });
    start.elapsed()
}

/// Two shards, each forwarding raw lines it does not own to the owner in 64 KiB batches.
fn forward_raw_lines(cfg: &StatsdConfig, halves: &[Vec<Vec<u8>>; 2]) -> Duration {
    let router = Router::new(2);
    // An empty batch means "no more batches from me".
    let (tx0, rx0) = bounded::<Vec<u8>>(64);
    let (tx1, rx1) = bounded::<Vec<u8>>(64);
    let start = Instant::now();
    std::thread::scope(|s| {
        for (id, (data, (tx, rx))) in halves.iter().zip([(tx1, rx0), (tx0, rx1)]).enumerate() {
            let router = router.clone();
            s.spawn(move || {
                let mut parser = Parser::new(options(cfg));
                let mut agg = Aggregator::new(cfg);
                let mut batch = Vec::with_capacity(64 * 1024);
                let mut peer_done = false;
                let drain = |agg: &mut Aggregator, parser: &mut Parser, b: Vec<u8>| {
                    if b.is_empty() {
                        return true;
                    }
                    ingest_all(parser, agg, std::slice::from_ref(&b));
                    false
                };
                for d in data {
                    for line in d.split(|&b| b == b'\n') {
                        let key_end = line
                            .iter()
                            .position(|&b| b == b':' || b == b'|')
                            .unwrap_or(line.len());
                        if router.owner(&line[..key_end]) == id {
                            ingest_line(&mut parser, &mut agg, line);
                        } else {
                            if batch.len() + line.len() + 1 > 64 * 1024 {
                                tx.send(std::mem::replace(
                                    &mut batch,
                                    Vec::with_capacity(64 * 1024),
                                ))
                                .expect("peer alive");
                            }
                            batch.extend_from_slice(line);
                            batch.push(b'\n');
                        }
                    }
                    while let Ok(b) = rx.try_recv() {
                        peer_done |= drain(&mut agg, &mut parser, b);
                    }
                }
                if !batch.is_empty() {
                    tx.send(batch).expect("peer alive");
                }
                tx.send(Vec::new()).expect("peer alive");
                while !peer_done {
                    let b = rx.recv().expect("peer batches");
                    peer_done |= drain(&mut agg, &mut parser, b);
                }
                for p in agg.take_partials(1, |_| 0) {
                    agg.merge(p);
                }
                agg.flush(&mut |n, v| {
                    black_box((n, v));
                });
            });
        }
    });
    start.elapsed()
}

fn exchange(c: &mut Criterion) {
    let cfg = config();
    let mut g = c.benchmark_group("exchange");
    for keys in [1_000u64, 100_000] {
        let halves = [
            datagrams("mixed", keys, 400_000, 11),
            datagrams("mixed", keys, 400_000, 13),
        ];
        let lines = count_lines(&halves[0]) + count_lines(&halves[1]);
        g.throughput(Throughput::Elements(lines));
        g.bench_with_input(BenchmarkId::new("merge_at_flush", keys), &halves, |b, h| {
            b.iter_custom(|n| (0..n).map(|_| merge_at_flush(&cfg, h)).sum());
        });
        g.bench_with_input(
            BenchmarkId::new("forward_raw_lines", keys),
            &halves,
            |b, h| {
                b.iter_custom(|n| (0..n).map(|_| forward_raw_lines(&cfg, h)).sum());
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = ingest, exchange
}
/// The `STATSD_BENCH_ONCE` ingest, kept out of line so callgrind counts it by name.
#[inline(never)]
fn once_ingest(parser: &mut Parser, agg: &mut Aggregator, data: &[Vec<u8>], passes: usize) {
    for _ in 0..passes {
        ingest_all(parser, agg, data);
    }
}

/// The `STATSD_BENCH_ONCE` flush (the partials taken in, then every value written out),
/// kept out of line so callgrind counts it by name.
#[inline(never)]
fn once_flush(agg: &mut Aggregator) -> u64 {
    for p in agg.take_partials(1, |_| 0) {
        agg.merge(p);
    }
    let mut out = 0u64;
    agg.flush(&mut |n, v| {
        black_box((n, v));
        out += 1;
    });
    out
}

fn main() {
    if let Ok(n) = std::env::var("STATSD_BENCH_ONCE") {
        let passes: usize = n.parse().expect("STATSD_BENCH_ONCE: a number of passes");
        let mix = std::env::var("STATSD_BENCH_MIX").unwrap_or_else(|_| "mixed".into());
        let cfg = config();
        let data = datagrams(&mix, 10_000, 200_000, 7);
        let mut parser = Parser::new(options(&cfg));
        let mut agg = Aggregator::new(&cfg);
        let start = Instant::now();
        once_ingest(&mut parser, &mut agg, &data, passes);
        let out = once_flush(&mut agg);
        let lines = count_lines(&data) * passes as u64;
        println!(
            "{mix}: {lines} lines, {out} values flushed; {:.1} ns per line",
            start.elapsed().as_nanos() as f64 / lines as f64
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
