//! PNG, SVG and PDF graphs of render results (graphite-web's `render/glyph.py`).
//!
//! [`render`] reads the graph parameters ([`params`]), lays the line graph out into a
//! list of drawing operations ([`line`](mod@line), [`draw`]) and writes it as PNG ([`png`], drawn
//! with plotters and an embedded font, [`font`]), SVG ([`svg`]) or PDF (that SVG through
//! `svg2pdf`, [`pdf`]). The layout follows
//! graphite's: title, legend, axes with its tick and label rules ([`yaxis`], [`xaxis`]),
//! pixel consolidation, line modes, area modes and "No Data" for an empty result.
//! [`render_pie`] draws graphite's pie graph ([`pie`](mod@pie)) the same way.
//! Pure: no clock, no files, no system fonts. docs/graph.md lists what differs.

pub mod color;
pub mod draw;
pub mod font;
pub mod legend;
pub mod line;
pub mod params;
pub mod pdf;
pub mod pie;
pub mod plot;
pub mod png;
pub mod svg;
pub mod xaxis;
pub mod yaxis;

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
    /// The SVG drawing as a one-page PDF ([`pdf`]).
    Pdf,
}

/// A drawn graph and its content type.
#[derive(Debug, Clone)]
pub struct Image {
    /// The PNG, SVG or PDF document.
    pub bytes: Vec<u8>,
    /// `image/png`, `image/svg+xml` or `application/x-pdf`.
    pub content_type: &'static str,
}

/// Draws `series` with the request's graph parameters (`width`, `height`, `title`, …, as
/// given in the query string), times labelled in `tz`.
///
/// As in graphite, the time axis spans the series themselves (from the earliest start to
/// the latest end); `start`/`end`, the request window, are used only when there is no
/// series, to keep the signature the HTTP layer calls.
pub fn render(
    series: &[Series],
    params: &[(String, String)],
    format: Format,
    tz: &TimeZone,
    start: i64,
    end: i64,
) -> Result<Image, GraphError> {
    let _ = (start, end);
    let options = params::Options::parse(params)?;
    let drawing = line::layout(series, &options, tz)?;
    encode(&drawing, format)
}

/// Draws a pie graph (`graphType=pie`) of `data`, each slice's name and value in order,
/// with the request's graph parameters (the common ones and `pieLabels`, `valueLabels`,
/// `valueLabelsMin`, `valueLabelsColor`, `areaAlpha`).
pub fn render_pie(
    data: &[(String, f64)],
    params: &[(String, String)],
    format: Format,
) -> Result<Image, GraphError> {
    let options = params::Options::parse(params)?;
    let pie_options = params::PieOptions::parse(params)?;
    let drawing = pie::layout(data, &options, &pie_options);
    encode(&drawing, format)
}

/// `drawing` as the bytes of `format`.
fn encode(drawing: &draw::Drawing, format: Format) -> Result<Image, GraphError> {
    Ok(match format {
        Format::Png => Image {
            bytes: png::encode(drawing)?,
            content_type: "image/png",
        },
        Format::Svg => Image {
            bytes: svg::write(drawing),
            content_type: "image/svg+xml",
        },
        // graphite-web's content type for PDF.
        Format::Pdf => Image {
            bytes: pdf::write(drawing)?,
            content_type: "application/x-pdf",
        },
    })
}
