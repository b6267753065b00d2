//! Carbon plaintext receive-path micro-benchmark (criterion; `cargo bench --bench carbon`).
//!
//! `receive/*`: one thread, what a shard does with one TCP read of carbon lines — framing,
//! parsing, name normalisation, routing and adding the points to its write-back cache
//! (`shard::carbon::receive`), no sockets. Lines as loadgen sends them
//! (`prefix.gNN.metricNNNNNNN V.VV TS`), 5000 series visited in one shuffled order per
//! pass (as loadgen does, so consecutive points land in different series); the cache is
//! emptied between iterations outside the timing. Throughput is in lines (criterion
//! "elements").
//!
//! `CARBON_BENCH_ONCE=N` runs the receive path over N passes of the lines once, prints
//! the time per line, and exits, without criterion: for instruction counts under
//! `valgrind --tool=callgrind` or `perf stat`, which are free of the machine's noise, and
//! for a cache as large as the end-to-end benchmark's (`N=720`).
//!
//! Figures and the machine they came from: bench/RESULTS.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: writing to a Vec cannot fail, bad settings should stop it"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};

use lonsdaleite::protocol::carbon::MAX_LINE;
use lonsdaleite::protocol::framing::LineFramer;
use lonsdaleite::shard::carbon::receive;
use lonsdaleite::storage::intake::PointRouter;
use lonsdaleite::storage::shard_store::ShardStore;
use lonsdaleite::storage::stats::StoreStats;

const NAMES: u64 = 5000;
/// One TCP read, as the server's receive buffer holds.
const READ: usize = 64 * 1024;

/// `passes` passes over the names, one minute apart, in loadgen's format.
fn lines(passes: u64, tags: u32) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Fisher-Yates with the same generator: one order, every pass.
    let mut order: Vec<u64> = (0..NAMES).collect();
    for k in (1..order.len()).rev() {
        order.swap(k, (next() % (k as u64 + 1)) as usize);
    }
    for pass in 0..passes {
        for &i in &order {
            let v = next() % 1_000_000;
            write!(out, "bench.g{:02}.metric{i:07}", i % 100).unwrap();
            for j in 0..tags {
                write!(out, ";tag{j}=v{}", (i + u64::from(j)) % 8).unwrap();
            }
            writeln!(
                out,
                " {}.{:02} {}",
                v / 100,
                v % 100,
                1_700_000_000 + pass * 60
            )
            .unwrap();
        }
    }
    out
}

fn router() -> std::rc::Rc<PointRouter> {
    let store = ShardStore::new(1 << 30, Arc::new(StoreStats::default()));
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    // `_rx` may drop: one shard owns everything, nothing is sent.
    PointRouter::new(store, 0, vec![tx], Arc::default())
}

/// Feed `data` in reads of `READ` bytes. Out of line, so that callgrind counts the whole
/// receive path under this name whatever the compiler inlines below it.
#[inline(never)]
fn run(points: &PointRouter, data: &[u8]) {
    let mut framer = LineFramer::new(MAX_LINE);
    for chunk in data.chunks(READ) {
        black_box(receive(points, &mut framer, chunk, 1_700_000_000));
    }
}

fn bench_receive(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive");
    for (label, tags) in [("plain", 0), ("tagged2", 2)] {
        let data = lines(4, tags);
        g.throughput(Throughput::Elements(4 * NAMES));
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let points = router();
                    let start = Instant::now();
                    run(&points, &data);
                    total += start.elapsed();
                    black_box(points.store().cache.borrow().len());
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(4));
    targets = bench_receive
}

fn main() {
    if let Ok(n) = std::env::var("CARBON_BENCH_ONCE") {
        let passes: u64 = n.parse().expect("CARBON_BENCH_ONCE: a number of passes");
        let tags = std::env::var("CARBON_BENCH_TAGS").map_or(0, |t| t.parse().expect("tags"));
        let data = lines(passes, tags);
        let points = router();
        let start = Instant::now();
        run(&points, &data);
        let took = start.elapsed();
        let n = passes * NAMES;
        println!(
            "{} points cached; {:.1} ns per line",
            points.store().cache.borrow().len(),
            took.as_nanos() as f64 / n as f64
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
