//! The line-graph layout against graphite-web 1.1.10's own: for each case in
//! `tests/data/graph/layout.json` (made by `tests/data/graph/gen_layout.py`, which runs
//! graphite's `glyph.py` with cairo), the plot area, the y axis, every text with its
//! position, and every line and area drawn for the series must be where graphite puts them.

use lonsdaleite::graph::color::Rgba;
use lonsdaleite::graph::draw::{Drawing, Op, Part, Rotation};
use lonsdaleite::graph::line::layout;
use lonsdaleite::graph::params::Options;
use lonsdaleite::query::json::Consolidation;
use lonsdaleite::query::series::Series;
use lonsdaleite::query::time::TimeZone;
use serde_json::Value;

/// Pixels of difference allowed for positions that only depend on arithmetic and font
/// heights (which match cairo's exactly).
const TOLERANCE: f64 = 0.02;
/// Pixels of difference allowed across: text widths differ from cairo's hinted ones by
/// about a pixel per label (graphite's own vary with cairo's font cache), and the plot's
/// left edge follows the y labels' width.
const ACROSS: f64 = 3.0;
/// Legend entries are placed by the width of the longest name, so errors add up per column.
const LEGEND_ACROSS: f64 = 10.0;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn series_of(case: &Value) -> Vec<Series> {
    let list = case["series"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|s| {
            let values = s["values"]
                .as_array()
                .map(|v| v.iter().map(Value::as_f64).collect())
                .unwrap_or_default();
            let int = |k: &str| s[k].as_i64().unwrap_or(0);
            let mut out = Series::new(
                s["name"].as_str().unwrap_or(""),
                int("start"),
                int("end"),
                int("step"),
                values,
            );
            out.consolidation = s["consolidate"]
                .as_str()
                .and_then(Consolidation::from_name)
                .unwrap_or_default();
            let o = &s["options"];
            let st = &mut out.style;
            st.color = o["color"].as_str().map(str::to_string);
            st.line_width = o["lineWidth"].as_f64();
            st.dashed = o["dashed"].as_f64();
            st.alpha = o["alpha"].as_f64();
            st.draw_as_infinite = o["drawAsInfinite"].as_bool().unwrap_or(false);
            st.second_y_axis = o["secondYAxis"].as_bool().unwrap_or(false);
            st.invisible = o["invisible"].as_bool().unwrap_or(false);
            if o["stacked"].as_bool() == Some(true) {
                st.stack = Some("__DEFAULT__".to_string());
            }
            out
        })
        .collect()
}

type Drawn = (String, [f64; 4], Vec<(f64, f64)>);

/// The series' strokes and fills as one list of subpaths (lone points dropped).
fn ours_drawn(d: &Drawing) -> Vec<Drawn> {
    let mut out = Vec::new();
    let mut in_lines = false;
    let rgba = |c: Rgba| [f64::from(c.r), f64::from(c.g), f64::from(c.b), c.a];
    for op in &d.ops {
        match op {
            Op::Begin(p) => in_lines = *p == Part::Lines,
            Op::Stroke { paths, color, .. } if in_lines => {
                for p in paths.iter().filter(|p| p.len() > 1) {
                    out.push(("stroke".to_string(), rgba(*color), p.clone()));
                }
            }
            Op::Fill {
                polygons, color, ..
            } if in_lines => {
                for p in polygons.iter().filter(|p| p.len() > 1) {
                    out.push(("fill".to_string(), rgba(*color), p.clone()));
                }
            }
            _ => {}
        }
    }
    out
}

fn theirs_drawn(expect: &Value) -> Vec<Drawn> {
    let mut out = Vec::new();
    for d in expect["drawn"].as_array().cloned().unwrap_or_default() {
        let c = &d["rgba"];
        let rgba = [f(&c[0]), f(&c[1]), f(&c[2]), f(&c[3])];
        for p in d["paths"].as_array().cloned().unwrap_or_default() {
            let pts: Vec<(f64, f64)> = p
                .as_array()
                .map(|v| v.iter().map(|xy| (f(&xy[0]), f(&xy[1]))).collect())
                .unwrap_or_default();
            if pts.len() > 1 {
                out.push((d["kind"].as_str().unwrap_or("").to_string(), rgba, pts));
            }
        }
    }
    out
}

fn compare(case: &Value, problems: &mut Vec<String>) {
    let name = case["case"].as_str().unwrap_or("?");
    let mut bad = |what: String| problems.push(format!("{name}: {what}"));
    let params: Vec<(String, String)> = case["params"]
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
        .unwrap_or_default();
    let tz = params
        .iter()
        .find(|(k, _)| k == "tz")
        .map_or_else(TimeZone::utc, |(_, v)| {
            TimeZone::from_name(v).unwrap_or_default()
        });
    let opts = Options::parse(&params).expect("options");
    let d = layout(&series_of(case), &opts, &tz).expect("layout");
    let expect = &case["expect"];

    if let Some(meta) = &d.meta {
        let a = &expect["area"];
        let ours = [meta.area.x0, meta.area.x1, meta.area.y0, meta.area.y1];
        let theirs = [f(&a["xmin"]), f(&a["xmax"]), f(&a["ymin"]), f(&a["ymax"])];
        let tolerances = [ACROSS, ACROSS, TOLERANCE, TOLERANCE];
        if ours
            .iter()
            .zip(&theirs)
            .zip(tolerances)
            .any(|((o, t), tol)| (o - t).abs() > tol)
        {
            bad(format!("area {ours:?}, graphite {theirs:?}"));
        }
        for (axis, key) in [(Some(&meta.y), "y"), (meta.y_right.as_ref(), "yRight")] {
            let (Some(axis), Some(y)) = (axis, expect.get(key)) else {
                continue;
            };
            let labels: Vec<&str> = y["labels"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if axis.labels != labels {
                bad(format!(
                    "{key} labels {:?}, graphite {labels:?}",
                    axis.labels
                ));
            }
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(1.0);
            if !close(axis.top, f(&y["top"])) || !close(axis.bottom, f(&y["bottom"])) {
                bad(format!(
                    "{key} range {}..{}, graphite {}..{}",
                    axis.bottom, axis.top, y["bottom"], y["top"]
                ));
            }
        }
    } else if !expect["drawn"].as_array().is_none_or(Vec::is_empty) {
        bad("drew No Data".to_string());
    }

    // Texts, in drawing order.
    let ours: Vec<(String, f64, f64, bool)> = d
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Text {
                text,
                x,
                y,
                rotation,
                ..
            } => Some((text.clone(), *x, *y, *rotation != Rotation::None)),
            _ => None,
        })
        .collect();
    let theirs: Vec<(String, f64, f64, bool)> = expect["texts"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|t| {
                    (
                        t[0].as_str().unwrap_or("").to_string(),
                        f(&t[1]),
                        f(&t[2]),
                        t[3].as_f64() != Some(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let names = |v: &[(String, f64, f64, bool)]| v.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    if names(&ours) == names(&theirs) {
        for (o, t) in ours.iter().zip(&theirs) {
            if !o.3 && ((o.1 - t.1).abs() > LEGEND_ACROSS || (o.2 - t.2).abs() > TOLERANCE) {
                bad(format!(
                    "text {:?} at ({}, {}), graphite ({}, {})",
                    o.0, o.1, o.2, t.1, t.2
                ));
            }
        }
    } else {
        bad(format!(
            "texts {:?}, graphite {:?}",
            names(&ours),
            names(&theirs)
        ));
    }

    // The series' lines and areas.
    let ours = ours_drawn(&d);
    let theirs = theirs_drawn(expect);
    if ours.len() == theirs.len() {
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            if o.0 != t.0 || o.1[..3] != t.1[..3] || (o.1[3] - t.1[3]).abs() > 0.01 {
                bad(format!(
                    "path {i}: {} {:?}, graphite {} {:?}",
                    o.0, o.1, t.0, t.1
                ));
            }
            if o.2.len() != t.2.len() {
                bad(format!(
                    "path {i}: {} points, graphite {}",
                    o.2.len(),
                    t.2.len()
                ));
                continue;
            }
            if let Some((k, (p, q))) =
                o.2.iter()
                    .zip(&t.2)
                    .enumerate()
                    .find(|(_, (p, q))| (p.0 - q.0).abs() > ACROSS || (p.1 - q.1).abs() > TOLERANCE)
            {
                bad(format!("path {i} point {k}: {p:?}, graphite {q:?}"));
            }
        }
    } else {
        bad(format!("{} paths, graphite {}", ours.len(), theirs.len()));
    }
}

#[test]
fn layout_matches_graphite_web() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/graph/layout.json"
    ))
    .expect("layout.json");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("json");
    assert!(cases.len() > 40);
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
