//! The bytes graphite-web 1.1.10 writes for `format=json`, `csv` and `raw`
//! (`render/views.py renderViewJson`, `renderViewCsv`, `renderViewRaw`).
//!
//! json: Python's `json.dumps` with its defaults (`", "` and `": "` separators, or
//! `indent=2` for `pretty`, `ensure_ascii` so every non-ASCII or control character is a
//! `\uXXXX` escape), keys `target`, `tags`, `datapoints`, points as `[value, timestamp]`
//! with values as Python `repr(float)` and `None` as `null`; then graphite's textual
//! replacement of `NaN,` by `null,` and `Infinity,` by `1e9999,` over the whole text (names
//! included, as graphite does). If no series has any value the answer is `[]`.
//! `maxDataPoints` consolidation happens here, as in graphite, only for json.
//!
//! csv: Excel dialect, CRLF, `name,YYYY-MM-DD HH:MM:SS,value` per value in the request's
//! time zone, `None` as an empty field, values as Python `str(float)` (`nan`, `inf`).
//!
//! raw: `name,start,end,step|v1,v2,...\n` with Python `repr` values (`None`, `1.0`, `nan`).
//!
//! The `_within` forms stop as soon as the body grows past a byte budget
//! (`http.max_response_bytes`), so a response too large is refused, never built.
//!
//! Deviations (error paths only): `maxDataPoints=0` and a consolidation that would remove
//! more values than a series has make graphite answer 500; here the first is ignored and
//! the second stops at an empty series.

use std::fmt::Write as _;

use crate::query::time::TimeZone;

/// A body would be larger than the byte budget it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// How several raw values are merged into one (`consolidateBy`; default `Average`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consolidation {
    #[default]
    Average,
    /// `avg`: the same as `Average`, named as the caller wrote it (graphite keeps
    /// `consolidateBy`'s word in `consolidationFunc`).
    Avg,
    /// `None` counts as 0 in the average.
    AvgZero,
    Sum,
    Min,
    Max,
    First,
    Last,
}

impl Consolidation {
    /// graphite's names (`avg` consolidates as `average` does).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "average" => Self::Average,
            "avg" => Self::Avg,
            "avg_zero" => Self::AvgZero,
            "sum" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "first" => Self::First,
            "last" => Self::Last,
            _ => return None,
        })
    }

    /// The name graphite reports (`consolidationFunc`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Average => "average",
            Self::Avg => "avg",
            Self::AvgZero => "avg_zero",
            Self::Sum => "sum",
            Self::Min => "min",
            Self::Max => "max",
            Self::First => "first",
            Self::Last => "last",
        }
    }

    /// Applies the function to the usable (non-null) values of one bucket, as Python does:
    /// `sum` from int 0 left to right, `max`/`min` keeping the first of incomparable (NaN)
    /// values.
    /// Also returns the index of the value picked, for the functions that pick one.
    fn apply(self, usable: &[f64]) -> (f64, Option<usize>) {
        let sum = || usable.iter().fold(0.0, |acc, v| acc + v);
        let pick = |better: fn(f64, f64) -> bool| {
            let mut best = 0;
            for (i, &v) in usable.iter().enumerate().skip(1) {
                if better(v, usable[best]) {
                    best = i;
                }
            }
            (usable[best], Some(best))
        };
        match self {
            Self::Sum => (sum(), None),
            Self::Average | Self::Avg | Self::AvgZero => (sum() / usable.len() as f64, None),
            Self::Max => pick(|v, m| v > m),
            Self::Min => pick(|v, m| v < m),
            Self::First => (usable[0], Some(0)),
            Self::Last => (usable[usable.len() - 1], Some(usable.len() - 1)),
        }
    }
}

/// One series as the renderers need it. `values[i]` is at `start + i * step`.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSeries<'a> {
    pub name: &'a str,
    /// Tags in insertion order (`{"name": name}` for plain paths); values are strings.
    pub tags: &'a [(String, String)],
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub values: &'a [Option<f64>],
    /// Which values are Python ints, parallel to `values` (`None`: all floats).
    pub ints: Option<&'a [bool]>,
    pub consolidation: Consolidation,
    pub x_files_factor: f64,
}

/// Options of the json renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOptions<'a> {
    /// `maxDataPoints` (digits only in graphite).
    pub max_data_points: Option<u64>,
    /// `noNullPoints`: drop null and NaN points, and series left empty.
    pub no_null_points: bool,
    /// `pretty`: `indent=2`.
    pub pretty: bool,
    /// `jsonp=cb`: `cb(...)`, served as `text/javascript`.
    pub jsonp: Option<&'a str>,
}

/// Merges `values` into buckets of `values_per_point` (graphite's consolidating iterator):
/// a bucket is `None` unless it has a non-null value and `non_null / values_per_point >=
/// x_files_factor`; a trailing partial bucket is emitted too.
pub fn consolidate(
    values: &[Option<f64>],
    values_per_point: usize,
    func: Consolidation,
    x_files_factor: f64,
) -> Vec<Option<f64>> {
    consolidate_marked(values, None, values_per_point, func, x_files_factor).0
}

/// [`consolidate`] keeping track of Python ints (`ints` parallel to `values`): a bucket's
/// `sum` is an int when all its values are, `max`/`min`/`first`/`last` are the value they
/// pick, an average is always a float (Python's `/`).
pub fn consolidate_marked(
    values: &[Option<f64>],
    ints: Option<&[bool]>,
    values_per_point: usize,
    func: Consolidation,
    x_files_factor: f64,
) -> (Vec<Option<f64>>, Option<Vec<bool>>) {
    if values_per_point <= 1 {
        return (values.to_vec(), ints.map(<[bool]>::to_vec));
    }
    let int_at = |i: usize| ints.is_some_and(|m| m.get(i).copied().unwrap_or(false));
    let mut out = Vec::with_capacity(values.len().div_ceil(values_per_point));
    let mut out_ints = ints.map(|_| Vec::with_capacity(out.capacity()));
    let mut usable = Vec::with_capacity(values_per_point);
    let mut usable_ints = Vec::with_capacity(values_per_point);
    for (c, chunk) in values.chunks(values_per_point).enumerate() {
        usable.clear();
        usable_ints.clear();
        let mut non_null = 0usize;
        for (j, v) in chunk.iter().enumerate() {
            match v {
                Some(x) => {
                    usable.push(*x);
                    usable_ints.push(int_at(c * values_per_point + j));
                    non_null += 1;
                }
                None if func == Consolidation::AvgZero => {
                    usable.push(0.0);
                    usable_ints.push(true);
                }
                None => {}
            }
        }
        let enough = non_null as f64 / values_per_point as f64 >= x_files_factor;
        let (value, int) = if non_null > 0 && enough {
            let (v, pick) = func.apply(&usable);
            let int = match (func, pick) {
                (Consolidation::Sum, _) => usable_ints.iter().all(|b| *b),
                (_, Some(i)) => usable_ints[i],
                (_, None) => false,
            };
            (Some(v), int)
        } else {
            (None, false)
        };
        out.push(value);
        if let Some(m) = out_ints.as_mut() {
            m.push(int);
        }
    }
    (out, out_ints)
}

/// The points graphite's json renderer emits for one series after `maxDataPoints`:
/// `(values, ints, start, step)` where timestamps are `start, start+step, ...` up to `end`.
type Points = (Vec<Option<f64>>, Option<Vec<bool>>, i64, i64);

fn json_points(s: &RenderSeries<'_>, max_data_points: Option<u64>, time_range: i64) -> Points {
    let step = s.step.max(1);
    let unchanged = || {
        (
            s.values.to_vec(),
            s.ints.map(<[bool]>::to_vec),
            s.start,
            step,
        )
    };
    match max_data_points {
        Some(1) => {
            let vpp = s.values.len().max(1);
            let (values, ints) =
                consolidate_marked(s.values, s.ints, vpp, s.consolidation, s.x_files_factor);
            (values, ints, s.start, step * vpp as i64)
        }
        Some(max) if max > 1 => {
            let number_of_points = time_range as f64 / step as f64;
            if (max as f64) < number_of_points {
                let vpp = (number_of_points / max as f64).ceil() as i64;
                let seconds_per_point = vpp * step;
                let nudge = seconds_per_point + s.start.rem_euclid(step)
                    - s.start.rem_euclid(seconds_per_point);
                let start = s.start + nudge;
                let to_lose = ((nudge / step - 1).max(0) as usize).min(s.values.len());
                let values = &s.values[to_lose..];
                let ints = s.ints.map(|m| &m[to_lose.min(m.len())..]);
                let (values, ints) = consolidate_marked(
                    values,
                    ints,
                    vpp as usize,
                    s.consolidation,
                    s.x_files_factor,
                );
                (values, ints, start, seconds_per_point)
            } else {
                unchanged()
            }
        }
        _ => unchanged(),
    }
}

/// Whether the value at `i` is written as a Python int: marked, and a whole number (an
/// int is always one; this keeps a stale mark from turning a fraction into an integer).
fn int_at(ints: Option<&[bool]>, i: usize, x: f64) -> bool {
    ints.is_some_and(|m| m.get(i).copied().unwrap_or(false))
        && x.is_finite()
        && x.fract() == 0.0
        && x.abs() < 9.2e18
}

/// Python's `repr(int)` of a whole `x` (see [`int_at`]).
fn write_py_int(out: &mut String, x: f64) {
    #[expect(clippy::cast_possible_truncation, reason = "x is whole and below 2^63")]
    let n = x as i64;
    let _ = write!(out, "{n}");
}

/// The body graphite-web sends for `format=json` (with `jsonp` wrapping if asked).
pub fn render_json(series: &[RenderSeries<'_>], options: &JsonOptions<'_>) -> String {
    render_json_within(series, options, usize::MAX).unwrap_or_default()
}

/// [`render_json`], or [`TooLarge`] once the body passes `max_bytes`.
pub fn render_json_within(
    series: &[RenderSeries<'_>],
    options: &JsonOptions<'_>,
    max_bytes: usize,
) -> Result<String, TooLarge> {
    let mut w = Writer {
        out: String::new(),
        indent: options.pretty,
        level: 0,
    };
    w.out.push('[');
    w.level = 1;
    let mut first_series = true;
    if series.iter().any(|s| !s.values.is_empty()) {
        let range_start = series.iter().map(|s| s.start).min().unwrap_or(0);
        let range_end = series.iter().map(|s| s.end).max().unwrap_or(0);
        let time_range = range_end - range_start;
        for s in series {
            let (values, ints, start, step) = json_points(s, options.max_data_points, time_range);
            let count = if s.end < start {
                0
            } else {
                ((s.end - start) / step + 1) as usize
            };
            let points = values
                .iter()
                .take(count)
                .enumerate()
                .map(|(i, v)| (*v, i, start + i as i64 * step))
                .filter(|(v, _, _)| !options.no_null_points || v.is_some_and(|x| !x.is_nan()));
            let points: Vec<(Option<f64>, usize, i64)> = points.collect();
            if options.no_null_points && points.is_empty() {
                continue;
            }
            w.item(&mut first_series);
            w.out.push('{');
            w.level += 1;
            w.newline();
            w.out.push_str("\"target\": ");
            write_py_json_str(&mut w.out, s.name);
            w.out.push(',');
            w.space_or_newline();
            w.out.push_str("\"tags\": {");
            if s.tags.is_empty() {
                w.out.push('}');
            } else {
                w.level += 1;
                let mut first = true;
                for (k, v) in s.tags {
                    w.item(&mut first);
                    write_py_json_str(&mut w.out, k);
                    w.out.push_str(": ");
                    write_py_json_str(&mut w.out, v);
                }
                w.level -= 1;
                w.newline();
                w.out.push('}');
            }
            w.out.push(',');
            w.space_or_newline();
            w.out.push_str("\"datapoints\": [");
            if points.is_empty() {
                w.out.push(']');
            } else {
                w.level += 1;
                let mut first = true;
                for (v, i, ts) in points {
                    if w.out.len() > max_bytes {
                        return Err(TooLarge);
                    }
                    w.item(&mut first);
                    w.out.push('[');
                    w.level += 1;
                    w.newline();
                    match v {
                        Some(x) if int_at(ints.as_deref(), i, x) => write_py_int(&mut w.out, x),
                        Some(x) => crate::py::format::write_json_float(&mut w.out, x),
                        None => w.out.push_str("null"),
                    }
                    w.out.push(',');
                    w.space_or_newline();
                    let _ = write!(w.out, "{ts}");
                    w.level -= 1;
                    w.newline();
                    w.out.push(']');
                }
                w.level -= 1;
                w.newline();
                w.out.push(']');
            }
            w.level -= 1;
            w.newline();
            w.out.push('}');
        }
    }
    if !first_series {
        w.level = 0;
        w.newline();
    }
    w.out.push(']');
    let mut body = w.out;
    if body.contains("NaN,") {
        body = body.replace("NaN,", "null,");
    }
    if body.contains("Infinity,") {
        body = body.replace("Infinity,", "1e9999,");
    }
    let body = match options.jsonp {
        Some(cb) => format!("{cb}({body})"),
        None => body,
    };
    if body.len() > max_bytes {
        return Err(TooLarge);
    }
    Ok(body)
}

/// Content type of [`render_json`]'s body.
pub fn json_content_type(options: &JsonOptions<'_>) -> &'static str {
    if options.jsonp.is_some() {
        "text/javascript"
    } else {
        "application/json"
    }
}

/// Python `json.dumps` layout state: compact (`, `) or `indent=2`.
struct Writer {
    out: String,
    indent: bool,
    level: usize,
}

impl Writer {
    fn newline(&mut self) {
        if self.indent {
            self.out.push('\n');
            for _ in 0..self.level {
                self.out.push_str("  ");
            }
        }
    }

    /// Separator after `,` inside a container: a space, or a new indented line.
    fn space_or_newline(&mut self) {
        if self.indent {
            self.newline();
        } else {
            self.out.push(' ');
        }
    }

    /// Starts a list or dict item: the separator before every item but the first, and the
    /// first item's opening newline when indenting.
    fn item(&mut self, first: &mut bool) {
        if *first {
            *first = false;
            self.newline();
        } else {
            self.out.push(',');
            self.space_or_newline();
        }
    }
}

/// The body graphite-web sends for `format=csv` (`text/csv`).
pub fn render_csv(series: &[RenderSeries<'_>], tz: &TimeZone) -> String {
    render_csv_within(series, tz, usize::MAX).unwrap_or_default()
}

/// [`render_csv`], or [`TooLarge`] once the body passes `max_bytes`.
pub fn render_csv_within(
    series: &[RenderSeries<'_>],
    tz: &TimeZone,
    max_bytes: usize,
) -> Result<String, TooLarge> {
    let mut out = String::new();
    for s in series {
        let name = csv_field(s.name);
        for (i, v) in s.values.iter().enumerate() {
            if out.len() > max_bytes {
                return Err(TooLarge);
            }
            out.push_str(&name);
            out.push(',');
            let ts = s.start + i as i64 * s.step;
            let (y, mo, d, h, mi, sec) = tz.local_fields(ts);
            let _ = write!(out, "{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{sec:02},");
            match v {
                Some(x) if int_at(s.ints, i, *x) => write_py_int(&mut out, *x),
                Some(x) => crate::py::format::write_repr(&mut out, *x),
                None => {}
            }
            out.push_str("\r\n");
        }
    }
    if out.len() > max_bytes {
        return Err(TooLarge);
    }
    Ok(out)
}

/// Python's csv module, Excel dialect, `QUOTE_MINIMAL`.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) {
        std::borrow::Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The body graphite-web sends for `format=raw` (`text/plain`).
pub fn render_raw(series: &[RenderSeries<'_>]) -> String {
    render_raw_within(series, usize::MAX).unwrap_or_default()
}

/// [`render_raw`], or [`TooLarge`] once the body passes `max_bytes`.
pub fn render_raw_within(
    series: &[RenderSeries<'_>],
    max_bytes: usize,
) -> Result<String, TooLarge> {
    let mut out = String::new();
    for s in series {
        let _ = write!(out, "{},{},{},{}|", s.name, s.start, s.end, s.step);
        for (i, v) in s.values.iter().enumerate() {
            if out.len() > max_bytes {
                return Err(TooLarge);
            }
            if i > 0 {
                out.push(',');
            }
            match v {
                Some(x) if int_at(s.ints, i, *x) => write_py_int(&mut out, *x),
                Some(x) => crate::py::format::write_repr(&mut out, *x),
                None => out.push_str("None"),
            }
        }
        out.push('\n');
    }
    if out.len() > max_bytes {
        return Err(TooLarge);
    }
    Ok(out)
}

/// `json.dumps` of a float (see [`crate::py::format`]).
pub use crate::py::format::write_json_float as write_py_json_float;

/// A JSON string as Python's `json.dumps` writes it with `ensure_ascii=True`.
pub fn write_py_json_str(out: &mut String, s: &str) {
    write_py_json_string(out, s, true);
}

/// A JSON string as Python's `json.dumps` writes it, with `ensure_ascii` as given: when
/// false, characters from DEL up are written as they are (control characters are still
/// escaped).
pub fn write_py_json_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c if !ensure_ascii && u32::from(c) >= 0x7f => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_is_named_as_written_and_averages() {
        let avg = Consolidation::from_name("avg").unwrap();
        assert_eq!(avg.name(), "avg");
        assert_eq!(
            Consolidation::from_name("average").unwrap().name(),
            "average"
        );
        let values = [Some(1.0), Some(2.0), None, Some(6.0), Some(-1.0), None];
        for vpp in 1..=4 {
            assert_eq!(
                consolidate_marked(&values, None, vpp, avg, 0.0),
                consolidate_marked(&values, None, vpp, Consolidation::Average, 0.0),
                "{vpp}"
            );
        }
    }

    #[test]
    fn json_string_escapes_like_ensure_ascii() {
        let mut s = String::new();
        write_py_json_str(&mut s, "a\"b\\c\n\u{7f}é😀\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u007f\u00e9\ud83d\ude00\u0001""#);
    }
}
