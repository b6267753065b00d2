//! Writes docs/img/example.png, the README's example graph, with the project's own renderer:
//! `cargo run --example graph_example -- docs/img/example.png`.

use lonsdaleite::graph::{render, Format};
use lonsdaleite::query::series::Series;
use lonsdaleite::query::time::TimeZone;

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/img/example.png".to_string());
    let start = 1_735_689_600; // 2025-01-01T00:00:00Z
    let step = 60;
    let n = 24 * 60 / 2;
    let wave = |phase: f64, scale: f64, base: f64| -> Vec<Option<f64>> {
        (0..n)
            .map(|i| {
                let t = f64::from(i) / 60.0;
                Some(base + scale * (t / 3.0 + phase).sin() + 0.15 * scale * (t * 2.1).cos())
            })
            .collect()
    };
    let mut requests = Series::new(
        "web01.requests.rate",
        start,
        start + i64::from(n) * step,
        step,
        wave(0.0, 400.0, 900.0),
    );
    requests.name = "web01.requests".to_string();
    let mut errors = Series::new(
        "web02.requests",
        start,
        start + i64::from(n) * step,
        step,
        wave(1.5, 250.0, 600.0),
    );
    errors.values[300..330].iter_mut().for_each(|v| *v = None);
    let params: Vec<(String, String)> = [
        ("width", "600"),
        ("height", "300"),
        ("title", "requests per minute"),
        ("vtitle", "req/min"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    let image = match render(
        &[requests, errors],
        &params,
        Format::Png,
        &TimeZone::utc(),
        start,
        start + i64::from(n) * step,
    ) {
        Ok(image) => image,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::write(&out, image.bytes) {
        eprintln!("{out}: {e}");
        std::process::exit(1);
    }
    println!("wrote {out}");
}
