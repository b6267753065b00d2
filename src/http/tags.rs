//! The tags API (graphite-web's `tags/views.py`) over the in-memory [`crate::http::tagdb`].
//! Answers are JSON (`pretty` indents and sorts keys, `jsonp` wraps); errors are HTTP 400
//! `{"error": message}`.
//!
//! On a frontend (`[cluster] servers`), `/tags/autoComplete/tags` and `…/values` also ask
//! every member and merge the answers; the rest of the tags API is this node's own, as in
//! graphite-web (`findSeries` and the writes are not federated).
//!
//! `tagSeries`, `tagMultiSeries` and `delSeries` change state: as in graphite-web they
//! take POST only (another method is answered 405 with `Allow: POST` and changes
//! nothing), and the request must pass [`crate::http::csrf`] (cross-site refused,
//! `http.write_token` when set) before its body is read.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::federation_client::LOCAL;
use super::pyjson::{dumps, Style, Value};
use super::{reply, Req, Shared};

/// graphite's `TAGDB_AUTOCOMPLETE_LIMIT`.
const AUTOCOMPLETE_LIMIT: usize = 100;

fn json(req: &Req, value: &Value, status: StatusCode) -> Response {
    let pretty = req.params.truthy("pretty");
    let body = dumps(
        value,
        Style {
            pretty,
            sort_keys: pretty,
            ensure_ascii: true,
        },
    );
    match req.params.get("jsonp").filter(|j| !j.is_empty()) {
        Some(cb) => reply(status, "text/javascript", format!("{cb}({body})")),
        None => reply(status, "application/json", body),
    }
}

fn error(req: &Req, message: impl Into<String>) -> Response {
    json(
        req,
        &Value::object([("error", Value::Str(message.into()))]),
        StatusCode::BAD_REQUEST,
    )
}

async fn read(req: Request) -> Result<Req, Response> {
    Req::read(req).await
}

/// Reads a state-changing request: POST only (405 `{"error": ...}` with `Allow: POST`
/// otherwise, as graphite-web refuses other methods), then the cross-site and token checks.
async fn read_write(shared: &Shared, req: Request) -> Result<Req, Response> {
    let path = req.uri().path().to_owned();
    if req.method() != Method::POST {
        let body = dumps(
            &Value::object([(
                "error",
                Value::Str(format!("{path} changes state: use POST")),
            )]),
            Style {
                ensure_ascii: true,
                ..Style::default()
            },
        );
        let mut r = reply(StatusCode::METHOD_NOT_ALLOWED, "application/json", body);
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Err(r);
    }
    super::csrf::guard(&path, req.headers(), &shared.config.http.write_token)
        .map_err(IntoResponse::into_response)?;
    Req::read(req).await
}

macro_rules! read_or_return {
    ($req:expr) => {
        match read($req).await {
            Ok(r) => r,
            Err(resp) => return resp,
        }
    };
}

/// An anchored regex from a `filter` parameter.
fn filter(req: &Req, key: &str) -> Result<Option<regex::Regex>, String> {
    match req.params.get(key).filter(|f| !f.is_empty()) {
        None => Ok(None),
        Some(f) => {
            let anchored = if f.starts_with('^') {
                f.to_string()
            } else {
                format!("^(?:{f})")
            };
            regex::Regex::new(&anchored)
                .map(Some)
                .map_err(|e| format!("Invalid {key} regex {f:?}: {e}"))
        }
    }
}

fn limit(req: &Req, default: Option<usize>) -> Result<Option<usize>, String> {
    match req.params.get("limit").filter(|l| !l.is_empty()) {
        None => Ok(default),
        Some(l) => l
            .parse()
            .map(Some)
            .map_err(|_| format!("Invalid limit {l:?}: a whole number")),
    }
}

/// `/tags`: `[{"tag": ...}]`.
pub async fn list(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = read_or_return!(req);
    let (f, l) = match (filter(&req, "filter"), limit(&req, None)) {
        (Ok(f), Ok(l)) => (f, l),
        (Err(m), _) | (_, Err(m)) => return error(&req, m),
    };
    let tags = shared.storage.tags().tags(f.as_ref(), l);
    let items = tags
        .into_iter()
        .map(|t| Value::object([("tag", Value::Str(t))]))
        .collect();
    json(&req, &Value::List(items), StatusCode::OK)
}

/// `/tags/<tag>`: `{"tag": ..., "values": [{"count": n, "value": v}]}`.
pub async fn values(
    State(shared): State<Arc<Shared>>,
    Path(tag): Path<String>,
    req: Request,
) -> Response {
    let req = read_or_return!(req);
    let (f, l) = match (filter(&req, "filter"), limit(&req, None)) {
        (Ok(f), Ok(l)) => (f, l),
        (Err(m), _) | (_, Err(m)) => return error(&req, m),
    };
    let values = shared.storage.tags().values(&tag, f.as_ref(), l);
    let items = values
        .into_iter()
        .map(|(v, n)| Value::object([("count", Value::Int(n as i64)), ("value", Value::Str(v))]))
        .collect();
    json(
        &req,
        &Value::object([("tag", Value::Str(tag)), ("values", Value::List(items))]),
        StatusCode::OK,
    )
}

/// `/tags/tagSeries`: the canonical name of `path`.
pub async fn tag_series(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match read_write(&shared, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(path) = req.params.get("path") else {
        return error(&req, "no path specified");
    };
    let added = shared.storage.tags().add(path);
    match added {
        Ok(name) => json(&req, &Value::Str(name), StatusCode::OK),
        Err(e) => error(&req, e.to_string()),
    }
}

/// `/tags/tagMultiSeries`: the canonical names, in order.
pub async fn tag_multi_series(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match read_write(&shared, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let paths = req.params.list("path");
    if paths.is_empty() {
        return error(&req, "no paths specified");
    }
    let mut out = Vec::new();
    {
        let mut db = shared.storage.tags();
        for p in paths {
            match db.add(p) {
                Ok(name) => out.push(Value::Str(name)),
                Err(e) => {
                    drop(db);
                    return error(&req, e.to_string());
                }
            }
        }
    }
    json(&req, &Value::List(out), StatusCode::OK)
}

/// `/tags/delSeries`: `true`.
pub async fn del_series(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match read_write(&shared, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let paths = req.params.list("path");
    if paths.is_empty() {
        return error(&req, "no path specified");
    }
    {
        let mut db = shared.storage.tags();
        for p in paths {
            db.remove(p);
        }
    }
    json(&req, &Value::Bool(true), StatusCode::OK)
}

/// `/tags/findSeries`: the series matching every `expr`, sorted.
pub async fn find_series(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = read_or_return!(req);
    let exprs = req.params.list("expr");
    if exprs.is_empty() {
        return error(&req, "no tag expressions specified");
    }
    let found = shared.storage.tags().find(&exprs);
    match found {
        Ok(paths) => json(&req, &Value::strings(&paths), StatusCode::OK),
        Err(e) => error(&req, e.to_string()),
    }
}

/// `/tags/autoComplete/tags`.
pub async fn complete_tags(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = read_or_return!(req);
    let limit = match limit(&req, Some(AUTOCOMPLETE_LIMIT)) {
        Ok(l) => l.unwrap_or(AUTOCOMPLETE_LIMIT),
        Err(m) => return error(&req, m),
    };
    let exprs = req.params.list("expr");
    let prefix = req.params.get("tagPrefix").unwrap_or("");
    let found = shared.storage.tags().complete_tags(&exprs, prefix, limit);
    match found {
        Ok(tags) if federated(&shared, &req) => {
            let mut params = vec![
                ("tagPrefix", prefix.to_string()),
                ("limit", limit.to_string()),
                ("local", LOCAL.to_string()),
            ];
            params.extend(exprs.iter().map(|e| ("expr", (*e).to_string())));
            fan_out(&shared, req, "/tags/autoComplete/tags", params, tags, limit).await
        }
        Ok(tags) => json(&req, &Value::strings(&tags), StatusCode::OK),
        Err(e) => error(&req, e.to_string()),
    }
}

/// Whether autocompletion also asks `[cluster]` members: a frontend, and not a member's
/// request (`local=1`).
fn federated(shared: &Shared, req: &Req) -> bool {
    shared.cluster.is_some() && req.params.get("local") != Some("1")
}

/// graphite's `Store.tagdb_auto_complete_*` on a frontend: this node's answer and every
/// member's (`local=1`, within `cluster.find_timeout`), as one sorted set cut to `limit`.
/// Runs on a query worker, since members are waited for.
async fn fan_out(
    shared: &Arc<Shared>,
    req: Req,
    path: &'static str,
    params: Vec<(&'static str, String)>,
    mine: Vec<String>,
    limit: usize,
) -> Response {
    shared
        .query(move |shared, budget| {
            let deadline = budget
                .limits()
                .deadline
                .unwrap_or_else(|| std::time::Instant::now() + shared.config.http.timeout);
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut all: std::collections::BTreeSet<String> = mine.into_iter().collect();
            if let Some(cluster) = &shared.cluster {
                all.extend(
                    cluster
                        .strings(path, &params, deadline)
                        .into_iter()
                        .flatten(),
                );
            }
            let all: Vec<String> = all.into_iter().take(limit).collect();
            json(&req, &Value::strings(&all), StatusCode::OK)
        })
        .await
}

/// `/tags/autoComplete/values`.
pub async fn complete_values(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = read_or_return!(req);
    let limit = match limit(&req, Some(AUTOCOMPLETE_LIMIT)) {
        Ok(l) => l.unwrap_or(AUTOCOMPLETE_LIMIT),
        Err(m) => return error(&req, m),
    };
    let Some(tag) = req.params.get("tag").filter(|t| !t.is_empty()) else {
        return error(&req, "no tag specified");
    };
    let exprs = req.params.list("expr");
    let prefix = req.params.get("valuePrefix").unwrap_or("");
    let found = shared
        .storage
        .tags()
        .complete_values(&exprs, tag, prefix, limit);
    match found {
        Ok(values) if federated(&shared, &req) => {
            let mut params = vec![
                ("tag", tag.to_string()),
                ("valuePrefix", prefix.to_string()),
                ("limit", limit.to_string()),
                ("local", LOCAL.to_string()),
            ];
            params.extend(exprs.iter().map(|e| ("expr", (*e).to_string())));
            fan_out(
                &shared,
                req,
                "/tags/autoComplete/values",
                params,
                values,
                limit,
            )
            .await
        }
        Ok(values) => json(&req, &Value::strings(&values), StatusCode::OK),
        Err(e) => error(&req, e.to_string()),
    }
}
