//! The pie-graph layout against graphite-web 1.1.10's own: for each case in
//! `tests/data/graph/pie.json` (made by `tests/data/graph/gen_pie.sh`, which runs graphite's
//! `glyph.py` `PieGraph` with cairo), every slice (centre, radius, angles, colour), every
//! legend swatch and every text with its position and rotation must be where graphite puts
//! them, within the tolerances the line graphs are held to (`tests/graph_graphite.rs`).
//! Then the PNG and SVG of a pie are checked for the slices' colours where they are drawn.

mod common;

use lonsdaleite::graph::color::Rgba;
use lonsdaleite::graph::draw::{Drawing, Op, Part, Rotation};
use lonsdaleite::graph::params::{Options, PieOptions};
use lonsdaleite::graph::{pie, render_pie, Format};
use serde_json::Value;

/// Pixels of difference allowed for positions that only depend on arithmetic and font
/// heights (which match cairo's exactly).
const TOLERANCE: f64 = 0.02;
/// Pixels of difference allowed where text widths count: they differ from cairo's hinted
/// ones by about a pixel per label.
const ACROSS: f64 = 3.0;
/// Legend entries are placed by the width of the longest name, so errors add up per column.
const LEGEND_ACROSS: f64 = 10.0;
/// Radians of difference allowed for slice angles (graphite's are rounded to 1e-4).
const ANGLE: f64 = 2e-4;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn params_of(case: &Value) -> Vec<(String, String)> {
    case["params"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|kv| {
                    (
                        kv[0].as_str().unwrap_or("").to_string(),
                        kv[1].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn data_of(case: &Value) -> Vec<(String, f64)> {
    case["data"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|d| (d[0].as_str().unwrap_or("").to_string(), f(&d[1])))
                .collect()
        })
        .unwrap_or_default()
}

fn rgba(c: Rgba) -> [f64; 4] {
    [f64::from(c.r), f64::from(c.g), f64::from(c.b), c.a]
}

fn same_color(ours: [f64; 4], theirs: &Value) -> bool {
    (0..3).all(|i| (ours[i] - f(&theirs[i])).abs() < 0.5) && (ours[3] - f(&theirs[3])).abs() < 0.01
}

fn compare(case: &Value, problems: &mut Vec<String>) {
    let name = case["case"].as_str().unwrap_or("?");
    let mut bad = |what: String| problems.push(format!("{name}: {what}"));
    let params = params_of(case);
    let opts = Options::parse(&params).expect("options");
    let pie_opts = PieOptions::parse(&params).expect("pie options");
    let d: Drawing = pie::layout(&data_of(case), &opts, &pie_opts);
    let expect = &case["expect"];

    // Slices.
    let ours: Vec<_> = d
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Slice {
                center,
                radius,
                from,
                to,
                color,
            } => Some((*center, *radius, *from, *to, rgba(*color))),
            _ => None,
        })
        .collect();
    let theirs = expect["slices"].as_array().cloned().unwrap_or_default();
    if ours.len() == theirs.len() {
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            let arc = &t["arc"];
            let (from, mut to) = (f(&arc[3]), f(&arc[4]));
            // cairo's arc draws an end before the start a whole turn further on.
            while to < from {
                to += std::f64::consts::TAU;
            }
            let close = (o.0 .0 - f(&arc[0])).abs() <= TOLERANCE
                && (o.0 .1 - f(&arc[1])).abs() <= TOLERANCE
                && (o.1 - f(&arc[2])).abs() <= TOLERANCE
                && (o.2 - from).abs() <= ANGLE
                && (o.3 - to).abs() <= ANGLE;
            if !close {
                bad(format!("slice {i}: {o:?}, graphite {arc}"));
            }
            if !same_color(o.4, &t["rgba"]) {
                bad(format!(
                    "slice {i} colour {:?}, graphite {}",
                    o.4, t["rgba"]
                ));
            }
        }
    } else {
        bad(format!("{} slices, graphite {}", ours.len(), theirs.len()));
    }

    // Legend swatches.
    let mut in_legend = false;
    let mut swatches = Vec::new();
    for op in &d.ops {
        match op {
            Op::Begin(p) => in_legend = *p == Part::Legend,
            Op::FillRect { rect, color } if in_legend => swatches.push((*rect, rgba(*color))),
            _ => {}
        }
    }
    let theirs = expect["swatches"].as_array().cloned().unwrap_or_default();
    if swatches.len() == theirs.len() {
        for (i, ((r, c), t)) in swatches.iter().zip(&theirs).enumerate() {
            let tr = &t["rect"];
            let ok = (r.x0 - f(&tr[0])).abs() <= LEGEND_ACROSS
                && (r.y0 - f(&tr[1])).abs() <= TOLERANCE
                && (r.x1 - r.x0 - f(&tr[2])).abs() <= TOLERANCE
                && (r.y1 - r.y0 - f(&tr[3])).abs() <= TOLERANCE;
            if !ok || !same_color(*c, &t["rgba"]) {
                bad(format!("swatch {i}: {r:?} {c:?}, graphite {t}"));
            }
        }
    } else {
        bad(format!(
            "{} swatches, graphite {}",
            swatches.len(),
            theirs.len()
        ));
    }

    // Texts, in drawing order: the baseline's start, the rotation and the size.
    let ours: Vec<(String, f64, f64, f64, f64)> = d
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Text {
                text,
                x,
                y,
                size,
                rotation,
                ..
            } => {
                let deg = match rotation {
                    Rotation::Degrees(d) => *d,
                    _ => 0.0,
                };
                Some((text.clone(), *x, *y, deg, *size))
            }
            _ => None,
        })
        .collect();
    let theirs: Vec<(String, f64, f64, f64, f64)> = expect["texts"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|t| {
                    let text = t[0].as_str().unwrap_or("").to_string();
                    (text, f(&t[1]), f(&t[2]), f(&t[3]), f(&t[4]))
                })
                .collect()
        })
        .unwrap_or_default();
    let names =
        |v: &[(String, f64, f64, f64, f64)]| v.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    if names(&ours) != names(&theirs) {
        bad(format!(
            "texts {:?}, graphite {:?}",
            names(&ours),
            names(&theirs)
        ));
        return;
    }
    for (o, t) in ours.iter().zip(&theirs) {
        // Turned text moves with its width in both directions.
        let (across, down) = if t.3 == 0.0 {
            (LEGEND_ACROSS, TOLERANCE)
        } else {
            (ACROSS, ACROSS)
        };
        if (o.1 - t.1).abs() > across
            || (o.2 - t.2).abs() > down
            || (o.3 - t.3).abs() > 1e-3
            || (o.4 - t.4).abs() > 1e-3
        {
            bad(format!(
                "text {:?} at ({}, {}) turned {} size {}, graphite ({}, {}) turned {} size {}",
                o.0, o.1, o.2, o.3, o.4, t.1, t.2, t.3, t.4
            ));
        }
    }
}

#[test]
fn layout_matches_graphite_web() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/graph/pie.json"
    ))
    .expect("pie.json");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("json");
    assert!(cases.len() > 20);
    let mut problems = Vec::new();
    for case in &cases {
        compare(case, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// The PNG shows each slice's colour inside it: the first (blue, half the pie) right of
/// the centre, the second (green) lower left, the third (red) upper left.
#[test]
fn png_slices_in_their_colours() {
    let data = vec![
        ("a".to_string(), 2.0),
        ("b".to_string(), 1.0),
        ("c".to_string(), 1.0),
    ];
    let img = render_pie(&data, &params(&[("valueLabels", "none")]), Format::Png).expect("png");
    assert_eq!(img.content_type, "image/png");
    let (w, h, rgb) = common::decode_png(&img.bytes);
    assert_eq!((w, h), (330, 250));
    // graphite's layout for this case: centre (170, 116), radius 100.7.
    let at = |x: u32, y: u32| {
        let i = (y * w + x) as usize * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    };
    assert_eq!(at(220, 116), [100, 100, 255]);
    assert_eq!(at(120, 150), [0, 200, 0]);
    assert_eq!(at(120, 80), [200, 0, 50]);
    // Outside the pie: the background.
    assert_eq!(at(25, 15), [255, 255, 255]);
}

/// The SVG holds one path per slice, in the slices' colours, and the labels as text.
#[test]
fn svg_slices_and_labels() {
    let data = vec![("a".to_string(), 3.0), ("b".to_string(), 1.0)];
    let img = render_pie(&data, &params(&[("pieLabels", "rotated")]), Format::Svg).expect("svg");
    let svg = String::from_utf8(img.bytes).expect("utf-8");
    assert_eq!(svg.matches("<g class=\"pie\">").count(), 1);
    assert!(svg.contains("fill=\"#6464ff\""), "{svg}");
    assert!(svg.contains("fill=\"#00c800\""), "{svg}");
    assert!(svg.contains(">%75.00</text>") && svg.contains(">%25.00</text>"));
    assert!(svg.contains("rotate("), "{svg}");
    assert!(svg.contains("metadata = {}"));
}

/// Nothing to draw is graphite's "No Data"; a total of 0 draws the legend alone.
#[test]
fn no_data_and_zero_total() {
    let opts = Options::parse(&[]).expect("options");
    let pie_opts = PieOptions::parse(&[]).expect("pie options");
    let d = pie::layout(&[], &opts, &pie_opts);
    assert!(d
        .ops
        .iter()
        .any(|op| matches!(op, Op::Text { text, .. } if text == "No Data")));
    let zeros = vec![("a".to_string(), 0.0), ("b".to_string(), 0.0)];
    let d = pie::layout(&zeros, &opts, &pie_opts);
    let texts: Vec<&str> = d
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["a", "b"]);
    // NaN and infinite values do not crash either.
    let odd = vec![
        ("nan".to_string(), f64::NAN),
        ("inf".to_string(), f64::INFINITY),
        ("neg".to_string(), -3.0),
    ];
    for f in [Format::Png, Format::Svg] {
        assert!(render_pie(&odd, &[], f).is_ok());
    }
}

mod props {
    use super::{params, render_pie, Format};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any slices (NaN, infinities, negative, zero totals, odd names) with any of the
        /// pie options give an image or a parameter error, never a panic.
        #[test]
        fn pies_never_panic(
            values in prop::collection::vec(
                prop_oneof![any::<f64>(), -10.0f64..1000.0, Just(0.0), Just(f64::NAN)], 0..15),
            names in prop::collection::vec("[a-z.é ]{0,12}", 15),
            width in 1u32..700, height in 1u32..500,
            margin in prop::sample::select(vec!["0", "10", "300", "-5"]),
            font in prop::sample::select(vec!["1", "10", "60"]),
            labels in prop::sample::select(vec!["percent", "number", "none", "bogus"]),
            rotated in any::<bool>(), format in prop::sample::select(vec![Format::Png, Format::Svg, Format::Pdf]),
            min in prop::sample::select(vec!["5", "0", "-1", "1e9"]),
        ) {
            let data: Vec<(String, f64)> = values
                .iter()
                .zip(&names)
                .map(|(v, n)| (n.clone(), *v))
                .collect();
            let (w, h) = (width.to_string(), height.to_string());
            let p = params(&[
                ("width", &w), ("height", &h), ("margin", margin), ("fontSize", font),
                ("valueLabels", labels), ("pieLabels", if rotated { "rotated" } else { "horizontal" }),
                ("valueLabelsMin", min), ("title", "a\ntitle"),
            ]);
            match render_pie(&data, &p, format) {
                Ok(img) => prop_assert!(!img.bytes.is_empty()),
                Err(e) => prop_assert!(labels == "bogus", "{e}"),
            }
        }
    }
}
