//! Render output bytes against graphite-web 1.1.10's own renderers.
//!
//! `tests/data/query/render.jsonl` was made by `gen_render.py`, which runs graphite-web's
//! `renderViewJson`, `renderViewCsv`, `renderViewRaw` and its `TimeSeries` class over
//! random and hand-picked series and options, some holding Python ints. Cases where graphite fails (HTTP 500) are
//! only run for absence of panics.

#![expect(
    clippy::unwrap_used,
    reason = "test-data helpers: a malformed data file must fail the test"
)]

use std::process::Command;

use lonsdaleite::py::format::write_repr as write_py_float;
use lonsdaleite::query::json::{
    render_csv, render_json, render_raw, write_py_json_str, Consolidation, JsonOptions,
    RenderSeries,
};
use lonsdaleite::query::time::TimeZone;
use proptest::prelude::*;
use serde_json::Value;

struct Owned {
    name: String,
    tags: Vec<(String, String)>,
    start: i64,
    end: i64,
    step: i64,
    values: Vec<Option<f64>>,
    /// Python ints (JSON integers in the data; floats are repr strings).
    ints: Vec<bool>,
    consolidation: Consolidation,
    xff: f64,
}

fn owned(v: &Value) -> Owned {
    Owned {
        name: v["name"].as_str().unwrap().to_owned(),
        tags: v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        start: v["start"].as_i64().unwrap(),
        end: v["end"].as_i64().unwrap(),
        step: v["step"].as_i64().unwrap(),
        values: v["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| match x {
                Value::Number(n) => Some(n.as_f64().unwrap()),
                _ => x.as_str().map(|s| s.parse::<f64>().unwrap()),
            })
            .collect(),
        ints: v["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::is_i64)
            .collect(),
        consolidation: Consolidation::from_name(v["consolidation"].as_str().unwrap()).unwrap(),
        xff: v["xff"].as_f64().unwrap(),
    }
}

fn view(o: &Owned) -> RenderSeries<'_> {
    RenderSeries {
        name: &o.name,
        tags: &o.tags,
        start: o.start,
        end: o.end,
        step: o.step,
        values: &o.values,
        ints: Some(&o.ints),
        consolidation: o.consolidation,
        x_files_factor: o.xff,
    }
}

/// Every json, csv and raw body is byte-identical to graphite-web's.
#[test]
fn agrees_with_graphite_web() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for line in include_str!("data/query/render.jsonl").lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let owned: Vec<Owned> = r["series"].as_array().unwrap().iter().map(owned).collect();
        let series: Vec<RenderSeries<'_>> = owned.iter().map(view).collect();
        let o = &r["options"];
        let options = JsonOptions {
            max_data_points: o["maxDataPoints"].as_u64(),
            no_null_points: o.get("noNullPoints").is_some(),
            pretty: o.get("pretty").is_some(),
            jsonp: o["jsonp"].as_str(),
        };
        let tz = TimeZone::from_name(r["tz"].as_str().unwrap()).unwrap();
        let body = match r["format"].as_str().unwrap() {
            "json" => render_json(&series, &options),
            "csv" => render_csv(&series, &tz),
            _ => render_raw(&series),
        };
        let Some(want) = r["body"].as_str() else {
            continue; // graphite answers 500 here
        };
        compared += 1;
        if body != want {
            let at = body
                .bytes()
                .zip(want.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            failures.push(format!(
                "{} {}: differs at byte {at}: ours {:?} / graphite {:?}",
                r["format"],
                o,
                &body[at.saturating_sub(40)..(at + 40).min(body.len())],
                &want[at.saturating_sub(40)..(at + 40).min(want.len())],
            ));
        }
    }
    assert!(compared > 350, "{compared}");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn graphite_test_render_examples() {
    // webapp/tests/test_render.py: inf/-inf/nan points and 0.1234567890123456789012
    let tags = vec![("name".to_owned(), "test".to_owned())];
    let values = [
        Some(0.123_456_789_012_345_68),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(f64::NAN),
        None,
    ];
    let s = RenderSeries {
        name: "test",
        tags: &tags,
        start: 100,
        end: 105,
        step: 1,
        values: &values,
        ints: None,
        consolidation: Consolidation::Average,
        x_files_factor: 0.0,
    };
    assert_eq!(
        render_json(std::slice::from_ref(&s), &JsonOptions::default()),
        "[{\"target\": \"test\", \"tags\": {\"name\": \"test\"}, \"datapoints\": \
         [[0.12345678901234568, 100], [1e9999, 101], [-1e9999, 102], [null, 103], [null, 104]]}]"
    );
    assert_eq!(
        render_raw(std::slice::from_ref(&s)),
        "test,100,105,1|0.12345678901234568,inf,-inf,nan,None\n"
    );
    assert_eq!(
        render_csv(&[s], &TimeZone::utc()),
        "test,1970-01-01 00:01:40,0.12345678901234568\r\ntest,1970-01-01 00:01:41,inf\r\n\
         test,1970-01-01 00:01:42,-inf\r\ntest,1970-01-01 00:01:43,nan\r\ntest,1970-01-01 00:01:44,\r\n"
    );
}

/// Runs python3 on `input` lines and returns its output lines; None if python3 is absent.
fn python(script: &str, input: &str) -> Option<Vec<String>> {
    use std::io::Write as _;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    // write from another thread: python answers while it reads, and both pipes are bounded
    let mut stdin = child.stdin.take()?;
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().ok()?;
    writer
        .join()
        .expect("writer thread")
        .expect("write to python3");
    assert!(out.status.success(), "python3 failed");
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// `repr(float)` for many random bit patterns agrees with this machine's python3 (the
/// comparison is skipped, loudly, where python3 is not installed).
#[test]
fn float_repr_matches_python() {
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut values = Vec::new();
    for i in 0..20_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let x = match i % 4 {
            0 => f64::from_bits(rng),
            1 => (rng % 2_000_000) as f64 / 1000.0 - 1000.0,
            2 => (rng % 100_000) as f64 * 10f64.powi((rng >> 40) as i32 % 40 - 20),
            _ => (rng >> 11) as f64,
        };
        if x.is_finite() {
            values.push(x);
        }
    }
    let input: String = values
        .iter()
        .map(|x| {
            x.to_bits().to_string()
                + "
"
        })
        .collect();
    let script = "import sys, struct\nfor l in sys.stdin:\n    print(repr(struct.unpack('<d', struct.pack('<Q', int(l)))[0]))";
    let Some(want) = python(script, &input) else {
        eprintln!("python3 not found: float repr cross-check skipped");
        return;
    };
    for (x, w) in values.iter().zip(&want) {
        let mut s = String::new();
        write_py_float(&mut s, *x);
        assert_eq!(&s, w, "bits {:#x}", x.to_bits());
    }
}

/// `json.dumps(str)` for random strings agrees with python3.
#[test]
fn json_strings_match_python() {
    let strings = [
        "",
        "plain",
        "a\"b\\c",
        "tab\tnl\ncr\r\u{8}\u{c}",
        "\u{0}\u{1f}\u{7f}\u{80}",
        "é😀中",
        "\u{ffff}\u{10000}",
    ];
    let input: String = strings
        .iter()
        .map(|s| {
            serde_json::to_string(s).unwrap()
                + "
"
        })
        .collect();
    let script = "import sys, json\nfor l in sys.stdin:\n    print(json.dumps(json.loads(l)))";
    let Some(want) = python(script, &input) else {
        eprintln!("python3 not found: string cross-check skipped");
        return;
    };
    for (s, w) in strings.iter().zip(&want) {
        let mut out = String::new();
        write_py_json_str(&mut out, s);
        assert_eq!(&out, w);
    }
}

proptest! {
    /// The shortest repr parses back to the same float.
    #[test]
    fn float_repr_round_trips(bits in any::<u64>()) {
        let x = f64::from_bits(bits);
        prop_assume!(x.is_finite());
        let mut s = String::new();
        write_py_float(&mut s, x);
        prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits());
    }

    /// Rendering never panics, whatever the series and options.
    #[test]
    fn render_total(
        values in prop::collection::vec(prop::option::of(any::<f64>()), 0..50),
        start in -1000i64..1000, step in 1i64..100, short in -5i64..5,
        mdp in prop::option::of(0u64..60), nn in any::<bool>(), pretty in any::<bool>(),
    ) {
        let tags = vec![];
        let s = RenderSeries {
            name: "x", tags: &tags, start, end: start + step * (values.len() as i64 - short), step,
            values: &values, ints: None, consolidation: Consolidation::Sum, x_files_factor: 0.5,
        };
        let options = JsonOptions { max_data_points: mdp, no_null_points: nn, pretty, jsonp: None };
        let _ = render_json(&[s.clone(), s.clone()], &options);
        let _ = render_raw(std::slice::from_ref(&s));
        let _ = render_csv(&[s], &TimeZone::utc());
    }
}
