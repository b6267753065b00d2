//! `format=dygraph` and `format=rickshaw` of `/render`: the JSON shapes graphite-web
//! 1.1.10's `renderViewDygraph` and `renderViewRickshaw` write for those two charting
//! libraries, byte for byte (tested against its bodies, `tests/render_formats.rs`).
//!
//! - dygraph: `{"labels" : ["Time", name, ...], "data" : [[ms, v, ...], ...]}` with
//!   graphite's spacing (a space before each colon), one row per timestamp of the first
//!   series, times in milliseconds, values as Python's `str()` writes them, `null` for
//!   None and NaN, `Infinity`/`-Infinity`; `{}` with no series.
//! - rickshaw: `[{"target": name, "datapoints": [{"x": t, "y": v}, ...]}]` as
//!   `json.dumps` writes it (`NaN`, `Infinity` left as they are; `pretty` indents by 2).
//!
//! Neither applies `maxDataPoints` or `noNullPoints` (graphite's don't). Both wrap in
//! `jsonp` when given. Where graphite-web fails with a 500 (dygraph over series of other
//! lengths than the first), a row holds `null` for a series with no value at that index
//! and a series' values past the first's rows are left out; docs/http.md says so.

use std::fmt::Write as _;

use crate::py::format::{write_json_float, write_repr};
use crate::query::json::{write_py_json_str, RenderSeries, TooLarge};

/// The value at `i` when graphite holds it as a Python int (written `2`, not `2.0`).
fn python_int(s: &RenderSeries<'_>, i: usize, x: f64) -> Option<i64> {
    let marked = s.ints.is_some_and(|m| m.get(i).copied().unwrap_or(false));
    #[expect(clippy::cast_possible_truncation, reason = "x is whole and below 2^63")]
    (marked && x.is_finite() && x.fract() == 0.0 && x.abs() < 9.2e18).then_some(x as i64)
}

/// Python's `len(range(start, end, step))`.
fn range_len(start: i64, end: i64, step: i64) -> usize {
    if step <= 0 || end <= start {
        0
    } else {
        usize::try_from((end - start + step - 1) / step).unwrap_or(0)
    }
}

fn wrap(body: String, jsonp: Option<&str>) -> String {
    match jsonp {
        Some(cb) => format!("{cb}({body})"),
        None => body,
    }
}

/// The body graphite-web sends for `format=dygraph`, or [`TooLarge`] once it passes
/// `max_bytes`.
pub fn render_dygraph_within(
    series: &[RenderSeries<'_>],
    jsonp: Option<&str>,
    max_bytes: usize,
) -> Result<String, TooLarge> {
    let Some(first) = series.first() else {
        return Ok(wrap("{}".to_string(), jsonp));
    };
    let mut out = String::from("{\"labels\" : [\"Time\"");
    for s in series {
        out.push_str(", ");
        write_py_json_str(&mut out, s.name);
    }
    out.push_str("], \"data\" : [");
    let rows = range_len(first.start, first.end, first.step);
    for row in 0..rows {
        if out.len() > max_bytes {
            return Err(TooLarge);
        }
        if row > 0 {
            out.push_str(", ");
        }
        let ts = first.start + row as i64 * first.step;
        let _ = write!(out, "[{ts}000");
        for s in series {
            out.push_str(", ");
            match s.values.get(row).copied().flatten() {
                None => out.push_str("null"),
                Some(x) if x.is_nan() => out.push_str("null"),
                Some(x) => match python_int(s, row, x) {
                    Some(n) => {
                        let _ = write!(out, "{n}");
                    }
                    // str(float) is repr(float); inf and -inf are spelled for JavaScript.
                    None if x.is_infinite() => {
                        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
                    }
                    None => write_repr(&mut out, x),
                },
            }
        }
        out.push(']');
    }
    out.push_str("]}");
    let body = wrap(out, jsonp);
    if body.len() > max_bytes {
        return Err(TooLarge);
    }
    Ok(body)
}

/// `json.dumps` layout: compact (`", "` and `": "`) or `indent=2`.
struct Layout {
    out: String,
    pretty: bool,
    level: usize,
}

impl Layout {
    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.level {
                self.out.push_str("  ");
            }
        }
    }

    /// Opens a list or dict item: the separator before all but the first item.
    fn item(&mut self, first: &mut bool) {
        if *first {
            *first = false;
        } else {
            self.out.push(',');
            if !self.pretty {
                self.out.push(' ');
            }
        }
        self.newline();
    }

    /// Opens a container with `open`; `empty` containers stay `[]` / `{}`.
    fn open(&mut self, open: char, empty: bool) {
        self.out.push(open);
        if !empty {
            self.level += 1;
        }
    }

    fn close(&mut self, close: char, empty: bool) {
        if !empty {
            self.level -= 1;
            self.newline();
        }
        self.out.push(close);
    }
}

/// The body graphite-web sends for `format=rickshaw` (`pretty` indents by 2), or
/// [`TooLarge`] once it passes `max_bytes`.
pub fn render_rickshaw_within(
    series: &[RenderSeries<'_>],
    pretty: bool,
    jsonp: Option<&str>,
    max_bytes: usize,
) -> Result<String, TooLarge> {
    let mut w = Layout {
        out: String::new(),
        pretty,
        level: 0,
    };
    w.open('[', series.is_empty());
    let mut first_series = true;
    for s in series {
        w.item(&mut first_series);
        w.open('{', false);
        let mut first_key = true;
        w.item(&mut first_key);
        w.out.push_str("\"target\": ");
        write_py_json_str(&mut w.out, s.name);
        w.item(&mut first_key);
        w.out.push_str("\"datapoints\": ");
        let n = range_len(s.start, s.end, s.step).min(s.values.len());
        w.open('[', n == 0);
        let mut first_point = true;
        for (i, v) in s.values.iter().take(n).enumerate() {
            if w.out.len() > max_bytes {
                return Err(TooLarge);
            }
            w.item(&mut first_point);
            w.open('{', false);
            let mut first = true;
            w.item(&mut first);
            let _ = write!(w.out, "\"x\": {}", s.start + i as i64 * s.step);
            w.item(&mut first);
            w.out.push_str("\"y\": ");
            match v {
                None => w.out.push_str("null"),
                Some(x) => match python_int(s, i, *x) {
                    Some(n) => {
                        let _ = write!(w.out, "{n}");
                    }
                    None => write_json_float(&mut w.out, *x),
                },
            }
            w.close('}', false);
        }
        w.close(']', n == 0);
        w.close('}', false);
    }
    w.close(']', series.is_empty());
    let body = wrap(w.out, jsonp);
    if body.len() > max_bytes {
        return Err(TooLarge);
    }
    Ok(body)
}
