//! PNG and SVG graphs of render results (graphite-web's `render/glyph.py`).

use crate::query::series::Series;
use crate::query::time::TimeZone;

/// Why a graph could not be drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// A graph parameter has a value that cannot be used (HTTP 400).
    #[error("invalid graph parameter {name}={value:?}: {message}")]
    Parameter {
        name: String,
        value: String,
        message: String,
    },
    /// The drawing backend failed (HTTP 500).
    #[error("drawing failed: {0}")]
    Draw(String),
}

/// The image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

/// A drawn graph and its content type.
#[derive(Debug, Clone)]
pub struct Image {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// Draws `series` with the request's graph parameters (`width`, `height`, `title`, …, as
/// given in the query string), times labelled in `tz`; `start`/`end` are the request window.
pub fn render(
    series: &[Series],
    params: &[(String, String)],
    format: Format,
    tz: &TimeZone,
    start: i64,
    end: i64,
) -> Result<Image, GraphError> {
    let _ = (series, params, tz, start, end);
    Err(GraphError::Draw(format!(
        "{format:?} graphs are not built yet (issue 5); use format=json, csv or raw"
    )))
}
