//! `format=pdf`: the graph's drawing as a one-page PDF. The PDF is opened and drawn by
//! poppler's `pdftoppm` (Debian's poppler-utils) at 72 dpi and compared with the PNG of
//! the same drawing, pixel by pixel: the two may differ only where anti-aliasing and text
//! rasterising do (edges of lines and glyphs), a few percent of the pixels.

mod common;

use std::process::Command;

use lonsdaleite::graph::{render, render_pie, Format};
use lonsdaleite::query::series::Series;
use lonsdaleite::query::time::TimeZone;

const START: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

/// The PDF drawn by `pdftoppm` at 72 dpi (a point a pixel) as RGB. Lines thinner than a
/// pixel (the grid's 0.4) are drawn with their width as coverage (`-thinlinemode shape`),
/// as the PNG writer draws them; by default poppler paints them a whole pixel solid.
fn rasterise(pdf: &[u8]) -> (u32, u32, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("graph.pdf");
    std::fs::write(&input, pdf).expect("write pdf");
    let out = dir.path().join("page");
    let status = Command::new("pdftoppm")
        .args(["-r", "72", "-png", "-singlefile", "-thinlinemode", "shape"])
        .arg(&input)
        .arg(&out)
        .status()
        .expect("pdftoppm not found: install Debian's poppler-utils (tests/run-all does)");
    assert!(status.success(), "pdftoppm failed on our PDF");
    common::decode_png(&std::fs::read(out.with_extension("png")).expect("pdftoppm output"))
}

/// `pdfinfo`'s description of a PDF.
fn pdfinfo(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("graph.pdf");
    std::fs::write(&input, pdf).expect("write pdf");
    let out = Command::new("pdfinfo")
        .arg(&input)
        .output()
        .expect("pdfinfo not found: install Debian's poppler-utils (tests/run-all does)");
    assert!(out.status.success(), "pdfinfo failed on our PDF");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The share of pixels of `a` with no pixel of `b` within one pixel of the same place whose
/// colour is within `by` in every channel (so a line drawn half a pixel over, or
/// anti-aliased where the other is not, still matches), the worse of both directions.
fn differing(width: u32, height: u32, ours: &[u8], theirs: &[u8], by: u8) -> f64 {
    let (width, height) = (i64::from(width), i64::from(height));
    let pixel = |img: &[u8], col: i64, row: i64| {
        let i = (row * width + col) as usize * 3;
        [img[i], img[i + 1], img[i + 2]]
    };
    let one_way = |from: &[u8], to: &[u8]| {
        let mut bad = 0usize;
        for row in 0..height {
            for col in 0..width {
                let colour = pixel(from, col, row);
                let near = (-1..=1).any(|dy| {
                    (-1..=1).any(|dx| {
                        let (c, r) = (col + dx, row + dy);
                        (0..width).contains(&c)
                            && (0..height).contains(&r)
                            && pixel(to, c, r)
                                .iter()
                                .zip(colour)
                                .all(|(q, p)| q.abs_diff(p) <= by)
                    })
                });
                if !near {
                    bad += 1;
                }
            }
        }
        bad as f64 / (width * height) as f64
    };
    one_way(ours, theirs).max(one_way(theirs, ours))
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn wave(n: usize, base: f64, amp: f64, period: f64) -> Vec<Option<f64>> {
    (0..n)
        .map(|i| Some(base + amp * (i as f64 / period).sin()))
        .collect()
}

fn check(name: &str, pdf: &[u8], png: &[u8], most: f64) {
    assert!(pdf.starts_with(b"%PDF-"), "{name}: not a PDF");
    let info = pdfinfo(pdf);
    assert!(
        info.contains("\nPages:           1\n"),
        "{name}: one page\n{info}"
    );
    let (w, h, ours) = common::decode_png(png);
    let (pw, ph, theirs) = rasterise(pdf);
    assert_eq!(
        (pw, ph),
        (w, h),
        "{name}: page size in points = image size in pixels"
    );
    let share = differing(w, h, &ours, &theirs, 64);
    eprintln!(
        "{name}: {:.2} % of pixels differ by more than 64",
        share * 100.0
    );
    assert!(
        share <= most,
        "{name}: {:.2} % of pixels differ",
        share * 100.0
    );
}

#[test]
fn pdf_draws_what_png_draws() {
    let tz = TimeZone::utc();
    let a = Series::new(
        "web01.cpu",
        START,
        START + 3600,
        60,
        wave(60, 50.0, 30.0, 7.0),
    );
    let b = Series::new(
        "web02.cpu",
        START,
        START + 3600,
        60,
        wave(60, 20.0, 10.0, 5.0),
    );
    let cases: [(&str, Vec<(String, String)>); 3] = [
        ("line", params(&[])),
        (
            "stacked, title",
            params(&[("areaMode", "stacked"), ("title", "Load"), ("width", "500")]),
        ),
        (
            "dark",
            params(&[("bgcolor", "black"), ("fgcolor", "white")]),
        ),
    ];
    for (name, p) in cases {
        let series = [a.clone(), b.clone()];
        let png = render(&series, &p, Format::Png, &tz, 0, 0).expect("png");
        let pdf = render(&series, &p, Format::Pdf, &tz, 0, 0).expect("pdf");
        assert_eq!(pdf.content_type, "application/x-pdf");
        check(name, &pdf.bytes, &png.bytes, 0.01);
    }
    let data = vec![
        ("a".to_string(), 5.0),
        ("b".to_string(), 3.0),
        ("c".to_string(), 2.0),
    ];
    let p = params(&[("pieLabels", "rotated"), ("title", "Share")]);
    let png = render_pie(&data, &p, Format::Png).expect("png");
    let pdf = render_pie(&data, &p, Format::Pdf).expect("pdf");
    check("pie", &pdf.bytes, &png.bytes, 0.01);
    // "No Data" too.
    let png = render(&[], &[], Format::Png, &tz, 0, 0).expect("png");
    let pdf = render(&[], &[], Format::Pdf, &tz, 0, 0).expect("pdf");
    check("no data", &pdf.bytes, &png.bytes, 0.01);
}

/// The text stays text (the embedded font is in the file), so the PDF can be searched.
#[test]
fn text_is_embedded() {
    let s = Series::new(
        "searchable.name",
        START,
        START + 600,
        60,
        wave(10, 1.0, 1.0, 2.0),
    );
    let pdf = render(&[s], &[], Format::Pdf, &TimeZone::utc(), 0, 0).expect("pdf");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("graph.pdf");
    std::fs::write(&input, &pdf.bytes).expect("write pdf");
    let out = Command::new("pdftotext")
        .arg(&input)
        .arg("-")
        .output()
        .expect("pdftotext not found: install Debian's poppler-utils (tests/run-all does)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("searchable.name"), "{text}");
}

mod props {
    use super::{params, render, Format, Series, TimeZone, START};
    use lonsdaleite::graph::GraphError;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Any values (NaN, infinities, huge) and sizes give a PDF or a parameter error,
        /// never a panic or a failed conversion: what the SVG holds always converts.
        #[test]
        fn pdf_never_panics(
            values in prop::collection::vec(prop::option::of(any::<f64>()), 0..80),
            width in 1u32..900, height in 1u32..600,
            mode in prop::sample::select(vec!["none", "stacked", "all"]),
            log in any::<bool>(),
        ) {
            let n = values.len() as i64;
            let s = Series::new("a.b", START, START + 60 * n, 60, values);
            let (w, h) = (width.to_string(), height.to_string());
            let mut p = params(&[("width", &w), ("height", &h), ("areaMode", mode)]);
            if log {
                p.push(("logBase".to_string(), "10".to_string()));
            }
            match render(&[s], &p, Format::Pdf, &TimeZone::utc(), 0, 0) {
                Ok(img) => prop_assert!(img.bytes.starts_with(b"%PDF-")),
                Err(e) => prop_assert!(matches!(e, GraphError::Parameter { .. }), "{e}"),
            }
        }
    }
}
