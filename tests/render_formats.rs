//! `format=dygraph`, `format=rickshaw` and `format=msgpack` bodies against graphite-web
//! 1.1.10's own renderers.
//!
//! `tests/data/formats/formats.jsonl` was made by `tests/data/formats/gen_formats.sh`, which
//! runs graphite-web's `renderViewDygraph`, `renderViewRickshaw`, `renderViewMsgPack` and
//! its `TimeSeries` class over random and hand-picked series (gaps, NaN and infinities,
//! Python ints, very large and small floats, odd names) with `jsonp`, `pretty` and
//! `maxDataPoints`. Cases where graphite fails (HTTP 500) are checked for a well-formed
//! answer of ours instead.

#![expect(
    clippy::unwrap_used,
    reason = "test-data helpers: a malformed data file must fail the test"
)]

mod common;

use std::fmt::Write as _;

use common::{percent_encode, Server};
use lonsdaleite::http::msgpack::render_msgpack_within;
use lonsdaleite::http::render_formats::{render_dygraph_within, render_rickshaw_within};
use lonsdaleite::query::json::Consolidation;
use lonsdaleite::query::series::Series;
use proptest::prelude::*;
use serde_json::Value;

fn series(v: &Value) -> Series {
    let raw = v["values"].as_array().unwrap();
    let values = raw
        .iter()
        .map(|x| match x {
            Value::Number(n) => Some(n.as_f64().unwrap()),
            _ => x.as_str().map(|s| s.parse::<f64>().unwrap()),
        })
        .collect();
    let mut s = Series::new(
        v["name"].as_str().unwrap(),
        v["start"].as_i64().unwrap(),
        v["end"].as_i64().unwrap(),
        v["step"].as_i64().unwrap(),
        values,
    );
    v["pathExpression"]
        .as_str()
        .unwrap()
        .clone_into(&mut s.path_expression);
    s.ints = Some(raw.iter().map(Value::is_i64).collect());
    s.consolidation = Consolidation::from_name(v["consolidation"].as_str().unwrap()).unwrap();
    s.x_files_factor = v["xff"].as_f64().unwrap();
    s
}

/// A dygraph body parsed as JSON once JavaScript's infinities are numbers (and the time 0,
/// which graphite writes `0000` with its `%s000`, is `0`).
fn dygraph_json(body: &str) -> Option<Value> {
    let js = body
        .replace("[0000,", "[0,")
        .replace("-Infinity", "-1e300")
        .replace("Infinity", "1e300");
    serde_json::from_str(&js).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn first_difference(ours: &str, want: &str) -> String {
    let at = ours
        .bytes()
        .zip(want.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let cut = |s: &str| {
        let lo = (at.saturating_sub(40)..=at)
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(at);
        let hi = (at + 40..s.len())
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(s.len());
        s.get(lo..hi.max(lo)).unwrap_or("").to_owned()
    };
    format!(
        "differs at byte {at}: ours {:?} / graphite {:?}",
        cut(ours),
        cut(want)
    )
}

/// Every dygraph, rickshaw and msgpack body is byte-identical to graphite-web's.
#[test]
fn agrees_with_graphite_web() {
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut graphite_failed = 0;
    for line in include_str!("data/formats/formats.jsonl").lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let owned: Vec<Series> = r["series"].as_array().unwrap().iter().map(series).collect();
        let views: Vec<_> = owned.iter().map(Series::as_render).collect();
        let o = &r["options"];
        let jsonp = o["jsonp"].as_str();
        let pretty = o["pretty"].as_bool().unwrap_or(false);
        let format = r["format"].as_str().unwrap();
        let body = match format {
            "dygraph" => render_dygraph_within(&views, jsonp, usize::MAX).unwrap(),
            "rickshaw" => render_rickshaw_within(&views, pretty, jsonp, usize::MAX).unwrap(),
            _ => hex(&render_msgpack_within(&owned, usize::MAX).unwrap()),
        };
        let Some(want) = r["body"].as_str() else {
            // graphite answers 500 (dygraph over series shorter or longer than the
            // first): ours is still JSON, one row per timestamp of the first series.
            graphite_failed += 1;
            let json = match jsonp {
                Some(cb) => &body[cb.len() + 1..body.len() - 1],
                None => &body,
            };
            let parsed = dygraph_json(json).unwrap();
            let rows = parsed["data"].as_array().unwrap();
            assert!(rows
                .iter()
                .all(|row| row.as_array().unwrap().len() == owned.len() + 1));
            continue;
        };
        compared += 1;
        if body != want {
            failures.push(format!("{format} {o}: {}", first_difference(&body, want)));
        }
    }
    assert!(compared > 280, "{compared}");
    assert!(graphite_failed > 0);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A body past the byte limit is refused, not cut.
#[test]
fn too_large_is_refused() {
    let s = Series::new("a.b", 0, 6000, 60, vec![Some(1.5); 100]);
    let views = [s.as_render()];
    let full = render_dygraph_within(&views, None, usize::MAX).unwrap();
    assert!(render_dygraph_within(&views, None, full.len()).is_ok());
    assert!(render_dygraph_within(&views, None, full.len() - 1).is_err());
    let full = render_rickshaw_within(&views, true, Some("cb"), usize::MAX).unwrap();
    assert!(render_rickshaw_within(&views, true, Some("cb"), full.len()).is_ok());
    assert!(render_rickshaw_within(&views, true, Some("cb"), full.len() - 1).is_err());
}

proptest! {
    /// Rendering never panics and dygraph's body is JSON (with JavaScript's infinities
    /// spelled as graphite spells them), whatever the series.
    #[test]
    fn render_total(
        shapes in prop::collection::vec(
            (prop::collection::vec(prop::option::of(any::<f64>()), 0..30), -1000i64..1000,
             1i64..100, -5i64..5),
            0..4),
        pretty in any::<bool>(),
    ) {
        let owned: Vec<Series> = shapes
            .into_iter()
            .map(|(values, start, step, short)| {
                let end = start + step * (values.len() as i64 - short);
                Series::new("x", start, end, step, values)
            })
            .collect();
        let views: Vec<_> = owned.iter().map(Series::as_render).collect();
        let d = render_dygraph_within(&views, None, usize::MAX).unwrap();
        prop_assert!(dygraph_json(&d).is_some(), "{}", d);
        let _ = render_rickshaw_within(&views, pretty, Some("cb"), usize::MAX).unwrap();
    }
}

/// Through the server: each format is dispatched with its content type and `jsonp`.
#[test]
fn served_over_http() {
    let server = Server::start(&[]);
    let (from, until) = (1_700_000_000, 1_700_000_600);
    let get = |target: &str, rest: &str| {
        server.get(&format!(
            "/render?target={}&from={from}&until={until}{rest}",
            percent_encode(target)
        ))
    };
    // constantLine's three points span [from, until]: graphite's rows (and rickshaw's
    // points) are range(start, end, step), two of them (its dygraph fails with a 500 on
    // the third value; ours leaves it out).
    let r = get("constantLine(1.5)", "&format=dygraph");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.text(),
        "{\"labels\" : [\"Time\", \"1.5\"], \"data\" : \
         [[1700000000000, 1.5], [1700000300000, 1.5]]}"
    );
    let r = get("constantLine(2)", "&format=rickshaw&jsonp=cb");
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert_eq!(
        r.text(),
        "cb([{\"target\": \"2.0\", \"datapoints\": [{\"x\": 1700000000, \"y\": 2.0}, \
         {\"x\": 1700000300, \"y\": 2.0}]}])"
    );
    let r = get("constantLine(2)", "&format=pdf");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-pdf"));
    assert!(r.body.starts_with(b"%PDF-"));
    let r = get("constantLine(2)", "&format=msgpack");
    assert_eq!(r.header("content-type"), Some("application/x-msgpack"));
    assert_eq!(r.body[0], 0x91, "a list of one series");
    server.stop();
}

/// `graphType=pie` through the server: `name:value` targets and evaluated ones reduced by
/// `pieMode`, always an image (a PNG for `format=json`, as graphite's), and the pie
/// functions in `/functions?type=pie`.
#[test]
fn pie_over_http() {
    let server = Server::start(&[]);
    let get =
        |query: &str| server.get(&format!("/render?from=1700000000&until=1700000600&{query}"));
    let r = get("graphType=pie&target=a:3&target=b:1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/png"));
    let r = get("graphType=pie&target=a:3&target=b:1&format=svg");
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert!(r.text().contains(">%75.00</text>"), "{}", r.text());
    let r = get("graphType=pie&target=a:3&format=pdf");
    assert_eq!(r.header("content-type"), Some("application/x-pdf"));
    let r = get("graphType=pie&target=a:3&format=json");
    assert_eq!(r.header("content-type"), Some("image/png"));
    // Each mode reduces an evaluated series to the value its label shows (`number`
    // labels: the integer part from 10 up): the mean, largest and smallest of the points
    // the same target gives as json.
    let target = percent_encode("offset(sinFunction('s',50),100)");
    let json: Value =
        serde_json::from_str(&get(&format!("format=json&target={target}")).text()).unwrap();
    let values: Vec<f64> = json[0]["datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p[0].as_f64())
        .collect();
    assert!(values.len() > 5);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    assert!(min.trunc() < mean.trunc() && mean.trunc() < max.trunc());
    for (mode, v) in [("average", mean), ("maximum", max), ("minimum", min)] {
        let r = get(&format!(
            "graphType=pie&format=svg&valueLabels=number&pieMode={mode}&target={target}"
        ));
        let want = format!(">{}</text>", v.trunc());
        assert!(r.text().contains(&want), "{mode} {want}: {}", r.text());
    }
    let r = get("graphType=pie&target=a:3&pieMode=median");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("pieMode"), "{}", r.text());
    let r = get("graphType=pie&target=a:many");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = get("graphType=bar&target=a:3");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("graphType"), "{}", r.text());
    let r = get(&format!(
        "format=json&target={}",
        percent_encode("pieAverage(a.b)")
    ));
    assert_eq!(r.status, 400, "pie functions are not target functions");
    let r = server.get("/functions?type=pie");
    let cat: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(cat["maximum"]["function"], "maximum(series)");
    assert_eq!(cat["minimum"]["group"], "Pie");
    assert_eq!(server.get("/functions/average?type=pie").status, 200);
    assert_eq!(server.get("/functions/sumSeries?type=pie").status, 404);
    server.stop();
}
