//! `/render` (GET and POST): graphite-web's `renderView` for the data formats and graphs.
//!
//! Parameters: `target` (repeated, or `target[]`; empty ones ignored), `from` (default
//! `-1d`), `until` (default now), `now`, `tz` (an unknown zone is UTC, as graphite ignores
//! it), `format` (`json`, `csv`, `raw`, `pickle`, `msgpack`, `dygraph`, `rickshaw`, `png`,
//! `svg`, `pdf`; another or none draws a PNG as graphite does), `jsonp`, `maxDataPoints`, `noNullPoints`, `pretty`,
//! `xFilesFactor`, `template[name]`, the graph options (passed to [`crate::graph::render`]),
//! and the legacy `rawData` and `pickle` switches. `from` after `until` is swapped; equal
//! is a 400. `pickle` and `msgpack` are graphite-web's cluster protocol
//! ([`super::federation`]): a frontend sends `local=1&noCache=1` with them, and this node
//! answers from its own data (files merged with the shards' caches).
//!
//! With `[cluster] servers` (a frontend), every path expression and `seriesByTag` is also
//! asked of the members, and their series merged with this node's
//! ([`super::federation_source`]); a request carrying `local=1` is answered from this
//! node's own data only.
//!
//! The work runs on the query workers ([`super::pool`]) within the request's budget
//! ([`crate::query::budget`]): over a limit is a 400 naming its setting, past the time
//! limit or while the server stops a 503; the body is refused (400) once it grows past
//! `http.max_response_bytes`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::federation::{MSGPACK, PICKLE};
use super::federation_source::FederatedSource;
use super::{limit_status, reply, text, Req, Shared};
use crate::graph::{self, GraphError};
use crate::query::budget::{bytes_error, Budget};
use crate::query::eval::{evaluate, Context, EvalError};
use crate::query::json::{
    json_content_type, render_csv_within, render_json_within, render_raw_within, JsonOptions,
    TooLarge,
};
use crate::query::pie::PieMode;
use crate::query::series::Series;
use crate::query::time::{parse_at_time, TimeZone};

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Raw,
    Pickle,
    Msgpack,
    Dygraph,
    Rickshaw,
    Image(graph::Format),
}

fn format_of(req: &Req) -> (Format, Option<String>) {
    let p = &req.params;
    let name = p.get("format").map(str::to_string);
    let f = match name.as_deref() {
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("raw") => Format::Raw,
        Some("pickle") => Format::Pickle,
        Some("msgpack") => Format::Msgpack,
        Some("svg") => Format::Image(graph::Format::Svg),
        Some("dygraph") => Format::Dygraph,
        Some("rickshaw") => Format::Rickshaw,
        Some("pdf") => Format::Image(graph::Format::Pdf),
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
        EvalError::Limit(limit) => limit_status(limit),
        _ => StatusCode::BAD_REQUEST,
    }
}

/// `/render`.
pub async fn handler(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    shared
        .query(move |shared, budget| {
            // A bug in a function must not take a worker down: answer 500 naming it.
            let run = || render(shared, &req, budget);
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
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
        })
        .await
}

/// `text/javascript` for a `jsonp` answer, else `application/json`.
fn jsonp_content_type(jsonp: Option<&str>) -> &'static str {
    if jsonp.is_some() {
        "text/javascript"
    } else {
        "application/json"
    }
}

/// The 400 of a body past `http.max_response_bytes`.
fn too_large(budget: &Budget) -> Response {
    let max = budget.max_response_bytes().unwrap_or(usize::MAX);
    text(StatusCode::BAD_REQUEST, bytes_error(max).to_string())
}

fn render(shared: &Shared, req: &Req, budget: &Budget) -> Response {
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
                );
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
    let limits = budget.limits();
    let source = super::source::RequestSource {
        storage: &shared.storage,
        budget,
    };
    // A frontend asks its members too, unless the request is itself a member's (local=1).
    let deadline = limits
        .deadline
        .unwrap_or_else(|| std::time::Instant::now() + shared.config.http.timeout);
    let federated = shared
        .cluster
        .as_ref()
        .filter(|_| p.get("local") != Some("1"))
        .map(|c| FederatedSource::new(&source, c, (start, end, now), deadline));
    let source: &dyn crate::query::eval::Source = match &federated {
        Some(f) => {
            f.prefetch(&targets);
            f
        }
        None => &source,
    };
    let ctx = Context {
        start,
        end,
        now,
        tz: tz.clone(),
        x_files_factor: std::cell::Cell::new(x_files_factor),
        templates: &templates,
        limits,
        source,
    };
    let graph_type = match graph::params::graph_type(p.pairs()) {
        Ok(t) => t,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if graph_type == graph::params::GraphType::Pie {
        return pie(req, &targets, &ctx, format, budget);
    }
    let mut series: Vec<Series> = Vec::new();
    for target in &targets {
        match evaluate(target, &ctx) {
            Ok(s) => series.extend(s),
            Err(e) => return text(eval_status(&e), e.to_string()),
        }
    }
    if let Err(e) = ctx.check() {
        return text(eval_status(&e), e.to_string());
    }
    let max_bytes = budget.max_response_bytes().unwrap_or(usize::MAX);
    let views: Vec<_> = series.iter().map(Series::as_render).collect();
    let jsonp = jsonp_of(req, format_name.is_some());
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
            match render_json_within(&views, &opts, max_bytes) {
                Ok(body) => reply(StatusCode::OK, json_content_type(&opts), body),
                Err(TooLarge) => too_large(budget),
            }
        }
        Format::Csv => match render_csv_within(&views, &tz, max_bytes) {
            Ok(body) => reply(StatusCode::OK, "text/csv", body),
            Err(TooLarge) => too_large(budget),
        },
        Format::Raw => match render_raw_within(&views, max_bytes) {
            Ok(body) => reply(StatusCode::OK, "text/plain", body),
            Err(TooLarge) => too_large(budget),
        },
        Format::Pickle => match super::pickle::render_pickle_within(&series, max_bytes) {
            Ok(body) => reply(StatusCode::OK, PICKLE, body),
            Err(TooLarge) => too_large(budget),
        },
        Format::Msgpack => match super::msgpack::render_msgpack_within(&series, max_bytes) {
            Ok(body) => reply(StatusCode::OK, MSGPACK, body),
            Err(TooLarge) => too_large(budget),
        },
        Format::Dygraph => {
            match super::render_formats::render_dygraph_within(&views, jsonp, max_bytes) {
                Ok(body) => reply(StatusCode::OK, jsonp_content_type(jsonp), body),
                Err(TooLarge) => too_large(budget),
            }
        }
        Format::Rickshaw => {
            let pretty = p.truthy("pretty");
            match super::render_formats::render_rickshaw_within(&views, pretty, jsonp, max_bytes) {
                Ok(body) => reply(StatusCode::OK, jsonp_content_type(jsonp), body),
                Err(TooLarge) => too_large(budget),
            }
        }
        Format::Image(f) => image(
            graph::render(&series, p.pairs(), f, &tz, start, end),
            f,
            jsonp,
            budget,
        ),
    }
}

/// `jsonp` when a format was named (graphite only reads it then) and it is not empty.
fn jsonp_of(req: &Req, format_named: bool) -> Option<&str> {
    if format_named {
        req.params.get("jsonp").filter(|j| !j.is_empty())
    } else {
        None
    }
}

/// The answer of a drawn graph: the image, an SVG wrapped in `jsonp` when asked.
fn image(
    drawn: Result<graph::Image, GraphError>,
    f: graph::Format,
    jsonp: Option<&str>,
    budget: &Budget,
) -> Response {
    let max_bytes = budget.max_response_bytes().unwrap_or(usize::MAX);
    match drawn {
        // A PNG is at most width × height pixels (graph caps both); an SVG grows
        // with the points drawn, so it is checked once drawn.
        Ok(img) if img.bytes.len() > max_bytes => too_large(budget),
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
    }
}

/// `graphType=pie` (graphite's renderView): a target `name:value` is a slice as it is;
/// any other target is evaluated and each of its series becomes a slice of the value the
/// `pieMode` function (`average`, `maximum`, `minimum`; [`PieMode`]) gives it, 0 for none.
/// The answer is always an image, whatever `format` says (SVG for `svg`, PDF for `pdf`,
/// else PNG), as graphite's is.
fn pie(
    req: &Req,
    targets: &[&str],
    ctx: &Context<'_>,
    format: Format,
    budget: &Budget,
) -> Response {
    let p = &req.params;
    let mode_name = p.get("pieMode").unwrap_or("average");
    let Some(mode) = PieMode::from_name(mode_name) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("Invalid pieMode {mode_name:?}: use average, maximum or minimum"),
        );
    };
    let mut data: Vec<(String, f64)> = Vec::new();
    for target in targets {
        if let Some((name, value)) = target.split_once(':') {
            match crate::py::parse::float(value.as_bytes()) {
                Some(v) => data.push((name.to_string(), v)),
                None => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "Invalid target {target:?}: a pie target with ':' is name:value, \
                             the value a number"
                        ),
                    )
                }
            }
            continue;
        }
        match evaluate(target, ctx) {
            Ok(list) => {
                for s in list {
                    let v = mode.apply(&s.values).unwrap_or(0.0);
                    // graphite's `func(...) or 0`: a zero stays zero, NaN stays NaN.
                    data.push((s.name, v));
                }
            }
            Err(e) => return text(eval_status(&e), e.to_string()),
        }
    }
    if let Err(e) = ctx.check() {
        return text(eval_status(&e), e.to_string());
    }
    let f = match format {
        Format::Image(f) => f,
        _ => graph::Format::Png,
    };
    let jsonp = jsonp_of(req, p.get("format").is_some());
    image(graph::render_pie(&data, p.pairs(), f), f, jsonp, budget)
}
