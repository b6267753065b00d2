//! One time series as the render functions pass it around: graphite-web's `TimeSeries`
//! (`render/datalib.py`).
//!
//! `values[i]` is the value at `start + i * step`; `end` is exclusive as in whisper's
//! fetch (`range(start, end, step)`). `name` is what the functions rename
//! (`sumSeries(a.*)`), `path_expression` the expression the series was fetched with
//! (graphite's `pathExpression`, read by `aliasByNode` and friends), `tags` the parsed
//! tags in insertion order with string values, as graphite's `Tags` dict.
//!
//! `style` carries what the graph functions (`color`, `lineWidth`, `dashed`,
//! `secondYAxis`, `stacked`, `drawAsInfinite`, …) set for the PNG/SVG renderer; the data
//! formats ignore it.

use crate::query::json::{Consolidation, RenderSeries};

/// How a series is drawn (graphite stores these as attributes on the `TimeSeries`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Style {
    /// `color(series, "red")`: a graphite colour name or hex `rrggbb[aa]`.
    pub color: Option<String>,
    /// `alpha(series, 0.5)`.
    pub alpha: Option<f64>,
    /// `lineWidth(series, 2)`.
    pub line_width: Option<f64>,
    /// `dashed(series, 5)`: dash length.
    pub dashed: Option<f64>,
    /// `secondYAxis(series)`.
    pub second_y_axis: bool,
    /// `stacked(series, name)`: the stack it belongs to.
    pub stack: Option<String>,
    /// `drawAsInfinite(series)`: each non-zero value is a full-height vertical line.
    pub draw_as_infinite: bool,
    /// `areaBetween(series)`: the area between this pair is filled.
    pub area_between: bool,
    /// Not drawn, but counted for the axes (graphite's `invisible`, set by `areaBetween`).
    pub invisible: bool,
}

/// One series: see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub path_expression: String,
    /// Tags in insertion order; values are strings (graphite applies `str()`).
    pub tags: Vec<(String, String)>,
    pub start: i64,
    /// Exclusive.
    pub end: i64,
    pub step: i64,
    pub values: Vec<Option<f64>>,
    /// Which values graphite holds as Python ints (`countSeries`, `isNonNull`, the zeros
    /// of `transformNull`, …), parallel to `values`; `None` when all are floats. The
    /// json/csv/raw writers print a marked value as `2` where a float is `2.0`. Functions
    /// that compute new values drop it (see `functions::call_in`) unless they set it.
    pub ints: Option<Vec<bool>>,
    /// `consolidateBy`; used by `maxDataPoints` and by graph pixel consolidation.
    pub consolidation: Consolidation,
    pub x_files_factor: f64,
    /// Set by the graph renderer when it consolidates; 1 otherwise.
    pub values_per_point: usize,
    pub style: Style,
}

impl Series {
    /// A fetched series: `path_expression` equal to the name, tags parsed from the name
    /// (`{"name": name}` for a plain path, every `;k=v` tag for a tagged one).
    pub fn new(name: &str, start: i64, end: i64, step: i64, values: Vec<Option<f64>>) -> Self {
        Series {
            name: name.to_string(),
            path_expression: name.to_string(),
            tags: parse_tags(name),
            start,
            end,
            step,
            values,
            ints: None,
            consolidation: Consolidation::default(),
            x_files_factor: 0.0,
            values_per_point: 1,
            style: Style::default(),
        }
    }

    /// The borrowed view the json/csv/raw writers take.
    pub fn as_render(&self) -> RenderSeries<'_> {
        RenderSeries {
            name: &self.name,
            tags: &self.tags,
            start: self.start,
            end: self.end,
            step: self.step,
            values: &self.values,
            ints: self.ints.as_deref(),
            consolidation: self.consolidation,
            x_files_factor: self.x_files_factor,
        }
    }

    /// The value of one tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a tag as a Python dict does: an existing key keeps its place.
    pub fn set_tag(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.tags.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.tags.push((key.to_string(), value)),
        }
    }

    /// graphite's `series.name = series.pathExpression = name`: a function's result named
    /// for what made it (a later `aliasByNode` reads the new expression).
    pub fn rename(&mut self, name: String) {
        self.path_expression.clone_from(&name);
        self.name = name;
    }

    /// Marks every value as a Python int (a count, a 0/1 flag).
    pub fn mark_all_ints(&mut self) {
        self.ints = Some(vec![true; self.values.len()]);
    }

    /// Whether `values[i]` is a Python int.
    pub fn is_int(&self, i: usize) -> bool {
        self.ints
            .as_ref()
            .is_some_and(|m| m.get(i).copied().unwrap_or(false))
    }

    /// `values[i]` as the Python int graphite holds, if it is one (marked, and whole).
    pub fn python_int(&self, i: usize) -> Option<i64> {
        let x = self.values.get(i).copied().flatten()?;
        #[expect(clippy::cast_possible_truncation, reason = "x is whole and below 2^63")]
        (self.is_int(i) && x.is_finite() && x.fract() == 0.0 && x.abs() < 9.2e18)
            .then_some(x as i64)
    }

    /// The timestamp of `values[i]`.
    pub fn time_of(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// graphite's `STORE.tagdb.parse(name).tags` (`TaggedSeries.parse`), falling back to
/// `{"name": name}` when the name is not a valid tagged name. Tags keep the order they are
/// written in, a repeated tag its first place with its last value; `name` (the metric with
/// leading `~` removed) goes last unless written as a tag, where it keeps that place:
/// `a.b;x=1;c=2` → `[("x","1"), ("c","2"), ("name","a.b")]`. The form
/// `a.b{x="1",c="2"}` (Prometheus style, graphite's `parse_openmetrics`) is read too.
pub fn parse_tags(name: &str) -> Vec<(String, String)> {
    let parsed = if name.ends_with("\"}") && name.contains('{') {
        parse_openmetrics(name)
    } else {
        parse_carbon(name)
    };
    parsed.unwrap_or_else(|| vec![("name".to_string(), name.to_string())])
}

/// `metric;tag=value;…` (`TaggedSeries.parse_carbon`); `None` where graphite raises.
fn parse_carbon(path: &str) -> Option<Vec<(String, String)>> {
    let mut segments = path.split(';');
    let metric = segments.next().filter(|m| !m.is_empty())?;
    let mut tags = Vec::new();
    for segment in segments {
        let (tag, value) = segment.split_once('=')?;
        if tag.is_empty() {
            return None;
        }
        set_tag(&mut tags, tag, value.to_string())?;
    }
    finish_tags(tags, metric)
}

/// `metric{tag="value",…}` (`TaggedSeries.parse_openmetrics`); `None` where graphite
/// raises. A value may hold `\"` and `\\`; tags are separated by `,` (or `:,`, as
/// graphite's pattern `(:?,|$)` also accepts).
fn parse_openmetrics(path: &str) -> Option<Vec<(String, String)>> {
    let inner = &path[..path.len() - 1];
    let (metric, mut raw) = inner.split_once('{')?;
    if metric.is_empty() || raw.contains('{') {
        return None;
    }
    let mut tags = Vec::new();
    while !raw.is_empty() {
        let (tag, rest) = raw.split_once('=')?;
        if tag.is_empty() {
            return None;
        }
        let rest = rest.strip_prefix('"')?;
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                if !matches!(bytes.get(i + 1), Some(b'"' | b'\\')) {
                    return None;
                }
                i += 1;
            }
            i += 1;
        }
        if i == 0 || i >= bytes.len() {
            return None;
        }
        let value = rest[..i].replace("\\\"", "\"").replace("\\\\", "\\");
        let after = &rest[i + 1..];
        raw = if let Some(r) = after.strip_prefix(":,") {
            r
        } else if let Some(r) = after.strip_prefix(',') {
            r
        } else if after.is_empty() {
            after
        } else {
            return None;
        };
        set_tag(&mut tags, tag, value)?;
    }
    finish_tags(tags, metric)
}

/// Checks one tag as `validateTagAndValue` and sets it as a Python dict does.
fn set_tag(tags: &mut Vec<(String, String)>, tag: &str, value: String) -> Option<()> {
    if tag.is_empty()
        || value.is_empty()
        || tag.contains([';', '!', '^', '='])
        || value.contains(';')
        || value.starts_with('~')
    {
        return None;
    }
    match tags.iter_mut().find(|(k, _)| k == tag) {
        Some((_, old)) => *old = value,
        None => tags.push((tag.to_string(), value)),
    }
    Some(())
}

/// Sets `name` to the metric without leading `~` (`None` if nothing is left).
fn finish_tags(mut tags: Vec<(String, String)>, metric: &str) -> Option<Vec<(String, String)>> {
    let name = metric.trim_start_matches('~');
    if name.is_empty() {
        return None;
    }
    match tags.iter_mut().find(|(k, _)| k == "name") {
        Some((_, v)) => *v = name.to_string(),
        None => tags.push(("name".to_string(), name.to_string())),
    }
    Some(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_tagged_names() {
        assert_eq!(parse_tags("a.b"), vec![("name".into(), "a.b".into())]);
        assert_eq!(
            parse_tags("disk.used;rack=a1;dc=x"),
            vec![
                ("rack".to_string(), "a1".to_string()),
                ("dc".to_string(), "x".to_string()),
                ("name".to_string(), "disk.used".to_string()),
            ]
        );
        assert_eq!(parse_tags("a;b"), vec![("name".into(), "a;b".into())]);
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    /// Expected answers are graphite-web 1.1.10's `TaggedSeries.parse(name).tags` (run in
    /// /work/venv-gw), or `{"name": name}` where it raises.
    #[test]
    fn tags_as_graphite_parses_them() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "a.b;z=1;c=2;z=3",
                &[("z", "3"), ("c", "2"), ("name", "a.b")],
            ),
            (
                "a.b;c=2;name=x;b=1",
                &[("c", "2"), ("name", "a.b"), ("b", "1")],
            ),
            ("~a.b;x=1", &[("x", "1"), ("name", "a.b")]),
            ("~a.b", &[("name", "a.b")]),
            ("~~", &[("name", "~~")]),
            (";x=1", &[("name", ";x=1")]),
            ("a;x=~1", &[("name", "a;x=~1")]),
            ("a;x!=1", &[("name", "a;x!=1")]),
            ("a;x=1=2", &[("x", "1=2"), ("name", "a")]),
            ("a;=1", &[("name", "a;=1")]),
            ("a;x=", &[("name", "a;x=")]),
            (
                r#"m{b="2",a="x\"y"}"#,
                &[("b", "2"), ("a", "x\"y"), ("name", "m")],
            ),
            (
                r#"m{a="1":,b="2"}"#,
                &[("a", "1"), ("b", "2"), ("name", "m")],
            ),
            (r#"m{a="1" b="2"}"#, &[("name", r#"m{a="1" b="2"}"#)]),
            (r#"{a="1"}"#, &[("name", r#"{a="1"}"#)]),
            (r#"m{a=""}"#, &[("name", r#"m{a=""}"#)]),
        ];
        for (name, want) in cases {
            assert_eq!(parse_tags(name), pairs(want), "{name}");
        }
    }

    #[test]
    fn set_tag_keeps_place() {
        let mut s = Series::new("a.b", 0, 10, 10, vec![None]);
        s.set_tag("perSecond", "1");
        s.set_tag("name", "x");
        assert_eq!(s.tags[0], ("name".to_string(), "x".to_string()));
        assert_eq!(s.tag("perSecond"), Some("1"));
    }
}
