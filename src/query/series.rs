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

    /// The timestamp of `values[i]`.
    pub fn time_of(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// graphite's `STORE.tagdb.parse(name).tags`, falling back to `{"name": name}` when the
/// name is not a valid tagged name: `a.b;x=1;c=2` → `[("c","2"), ("x","1"), ("name","a.b")]`
/// (carbon's `TaggedSeries.parse` sorts the tags, then adds `name` last).
pub fn parse_tags(name: &str) -> Vec<(String, String)> {
    let plain = || vec![("name".to_string(), name.to_string())];
    let Some((metric, rest)) = name.split_once(';') else {
        return plain();
    };
    let mut tags: Vec<(String, String)> = Vec::new();
    for segment in rest.split(';') {
        let Some((k, v)) = segment.split_once('=') else {
            return plain();
        };
        if k.is_empty() || v.is_empty() {
            return plain();
        }
        match tags.iter_mut().find(|(key, _)| key == k) {
            Some((_, old)) => *old = v.to_string(),
            None => tags.push((k.to_string(), v.to_string())),
        }
    }
    tags.sort();
    match tags.iter_mut().find(|(k, _)| k == "name") {
        Some((_, v)) => *v = metric.to_string(),
        None => tags.push(("name".to_string(), metric.to_string())),
    }
    tags
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
                ("dc".to_string(), "x".to_string()),
                ("rack".to_string(), "a1".to_string()),
                ("name".to_string(), "disk.used".to_string()),
            ]
        );
        assert_eq!(parse_tags("a;b"), vec![("name".into(), "a;b".into())]);
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
