//! Whisper format micro-benchmarks (criterion; `cargo bench --bench whisper`).
//!
//! - `update_many/mem/N`: one `update_many` of N consecutive points into an in-memory
//!   file with carbon's default archives `60s:1d,5m:30d,1h:3y`, propagation included.
//!   Throughput is in points, so the per-call cost shows as points per second rising with N
//!   (whisper's cost is per call, not per point — carbon's `pointsPerUpdate`).
//! - `update_many/file/N`: the same through `pread`/`pwrite` on a file in the page cache
//!   (a temp dir), the way the `whisper` CLI and the pure functions touch real files.
//! - `fetch/day`: reading a full day of minutely points.
//!
//! Figures and the machine they came from: bench/RESULTS.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use lonsdaleite::storage::whisper::{create_image, fetch, file, update_many, AggregationMethod};

const ARCHIVES: [(u32, u32); 3] = [(60, 1440), (300, 8640), (3600, 26_280)];
const START: i64 = 1_700_000_000;

/// N consecutive minutely points ending at `now`.
fn batch(now: i64, n: usize) -> Vec<(i64, f64)> {
    (0..n)
        .map(|i| (now - 60 * (n - 1 - i) as i64, (i % 17) as f64))
        .collect()
}

fn bench_update_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("update_many");
    for n in [1_usize, 10, 60, 600] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("mem", n), &n, |b, &n| {
            let mut image =
                create_image(&ARCHIVES, 0.5, AggregationMethod::Average).expect("image");
            let mut now = START;
            b.iter(|| {
                now += 60 * n as i64;
                update_many(&mut image, black_box(&batch(now, n)), now).expect("update_many");
            });
        });
        group.bench_with_input(BenchmarkId::new("file", n), &n, |b, &n| {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("bench.wsp");
            file::create(
                &path,
                &ARCHIVES,
                0.5,
                AggregationMethod::Average,
                file::Preallocate::Zeros,
            )
            .expect("create");
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .expect("open");
            let mut now = START;
            b.iter(|| {
                now += 60 * n as i64;
                update_many(&mut f, black_box(&batch(now, n)), now).expect("update_many");
            });
        });
    }
    group.finish();
}

fn bench_fetch(c: &mut Criterion) {
    let mut image = create_image(&ARCHIVES, 0.5, AggregationMethod::Average).expect("image");
    let now = START + 86_400;
    update_many(&mut image, &batch(now, 1440), now).expect("fill");
    let mut group = c.benchmark_group("fetch");
    group.throughput(Throughput::Elements(1440));
    group.bench_function("day", |b| {
        b.iter(|| fetch(&mut image, black_box(now - 86_400), None, now, None).expect("fetch"));
    });
    group.finish();
}

criterion_group!(benches, bench_update_many, bench_fetch);
criterion_main!(benches);
