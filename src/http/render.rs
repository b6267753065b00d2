//! `/render` (GET and POST): graphite-web's `renderView` for the data formats and graphs.
//!
//! Parameters: `target` (repeated, or `target[]`; empty ones ignored), `from` (default
//! `-1d`), `until` (default now), `now`, `tz` (an unknown zone is UTC, as graphite ignores
//! it), `format` (`json`, `csv`, `raw`, `pickle`, `png`, `svg`; another or none draws a PNG
//! as graphite does), `jsonp`, `maxDataPoints`, `noNullPoints`, `pretty`, `xFilesFactor`,
//! `template[name]`, the graph options (passed to [`crate::graph::render`]), and the legacy
//! `rawData` and `pickle` switches. `from` after `until` is swapped; equal is a 400.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{reply, text, Req, Shared};
use crate::graph::{self, GraphError};
use crate::query::eval::{evaluate, Context, EvalError};
use crate::query::json::{json_content_type, render_csv, render_json, render_raw, JsonOptions};
use crate::query::series::Series;
use crate::query::time::{parse_at_time, TimeZone};

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Raw,
    Pickle,
    Image(graph::Format),
    /// graphite formats not built here (msgpack, dygraph, rickshaw, pdf).
    Unsupported,
}

fn format_of(req: &Req) -> (Format, Option<String>) {
    let p = &req.params;
    let name = p.get("format").map(str::to_string);
    let f = match name.as_deref() {
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("raw") => Format::Raw,
        Some("pickle") => Format::Pickle,
        Some("svg") => Format::Image(graph::Format::Svg),
        Some("msgpack" | "dygraph" | "rickshaw" | "pdf") => Format::Unsupported,
        _ if p.has("rawData") => Format::Raw,
        _ if p.has("pickle") => Format::Pickle,
        _ => Format::Image(graph::Format::Png),
    };
    (f, name)
}

/// The request's time zone: `tz` when known, else UTC (graphite's `TIME_ZONE` default).
fn time_zone(req: &Req) -> TimeZone {
    match req.params.get("tz") {
        Some(name) => TimeZone::from_name(name).unwrap_or_else(|_| TimeZone::utc()),
        None => TimeZone::utc(),
    }
}

/// `now`, `from` and `until` of a request (graphite's defaults: now, `-1d`, now).
fn times(req: &Req, tz: &TimeZone, real_now: i64) -> Result<(i64, i64, i64), String> {
    let p = &req.params;
    let at = |key: &str, value: &str, now: i64| {
        parse_at_time(value, now, tz).map_err(|e| format!("Invalid {key} parameter {value:?}: {e}"))
    };
    let now = match p.get("now") {
        Some(v) => at("now", v, real_now)?,
        None => real_now,
    };
    let until = match p.get("until") {
        Some(v) => at("until", v, now)?,
        None => now,
    };
    let from = at("from", p.get("from").unwrap_or("-1d"), now)?;
    Ok((now, from, until))
}

/// The HTTP status of an evaluation error.
pub fn eval_status(e: &EvalError) -> StatusCode {
    match e {
        EvalError::Source(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// `/render`.
pub async fn handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    // A bug in a function must not take the query thread down: answer 500 naming it.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| render(&shared, &req))) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, params = ?req.params.pairs(), "render failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error while rendering: {what}"),
            )
        }
    }
}

fn render(shared: &Shared, req: &Req) -> Response {
    let p = &req.params;
    let targets: Vec<&str> = p
        .list("target")
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect();
    let tz = time_zone(req);
    let real_now = crate::clock::now().as_secs() as i64;
    let (now, from, until) = match times(req, &tz, real_now) {
        Ok(t) => t,
        Err(m) => return text(StatusCode::BAD_REQUEST, m),
    };
    let (start, end) = (from.min(until), from.max(until));
    if start == end {
        return text(StatusCode::BAD_REQUEST, "Invalid empty time range");
    }
    let (format, format_name) = format_of(req);
    let x_files_factor = match p.get("xFilesFactor") {
        Some(v) => match v.parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => x,
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid xFilesFactor {v:?}: a number from 0 to 1"),
                )
            }
        },
        None => 0.0,
    };
    let templates: Vec<(String, String)> = p
        .pairs()
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("template[")?.strip_suffix(']')?;
            Some((name.to_string(), v.clone()))
        })
        .collect();
    let limits = shared.limits();
    let source = super::source::RequestSource {
        storage: &shared.storage,
        limits,
    };
    let ctx = Context {
        start,
        end,
        now,
        tz: tz.clone(),
        x_files_factor,
        templates: &templates,
        limits,
        source: &source,
    };
    let mut series: Vec<Series> = Vec::new();
    for target in &targets {
        match evaluate(target, &ctx) {
            Ok(s) => series.extend(s),
            Err(e) => return text(eval_status(&e), e.to_string()),
        }
    }
    let jsonp = if format_name.is_some() {
        p.get("jsonp").filter(|j| !j.is_empty())
    } else {
        None
    };
    let views: Vec<_> = series.iter().map(Series::as_render).collect();
    match format {
        Format::Json => {
            let max_data_points = p
                .get("maxDataPoints")
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse().ok());
            let opts = JsonOptions {
                max_data_points,
                no_null_points: p.has("noNullPoints"),
                pretty: p.truthy("pretty"),
                jsonp,
            };
            reply(
                StatusCode::OK,
                json_content_type(&opts),
                render_json(&views, &opts),
            )
        }
        Format::Csv => reply(StatusCode::OK, "text/csv", render_csv(&views, &tz)),
        Format::Raw => reply(StatusCode::OK, "text/plain", render_raw(&views)),
        Format::Pickle => reply(
            StatusCode::OK,
            "application/pickle",
            super::pickle::render_pickle(&series),
        ),
        Format::Image(f) => match graph::render(&series, p.pairs(), f, &tz, start, end) {
            Ok(img) => {
                if let (graph::Format::Svg, Some(cb)) = (f, jsonp) {
                    let svg = String::from_utf8_lossy(&img.bytes);
                    let mut quoted = String::new();
                    crate::query::json::write_py_json_str(&mut quoted, &svg);
                    return reply(StatusCode::OK, "text/javascript", format!("{cb}({quoted})"));
                }
                reply(StatusCode::OK, img.content_type, img.bytes)
            }
            Err(e @ GraphError::Parameter { .. }) => text(StatusCode::BAD_REQUEST, e.to_string()),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Format::Unsupported => text(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "format={} is not supported here; use json, csv, raw, pickle, png or svg",
                format_name.unwrap_or_default()
            ),
        ),
    }
}
