//! `/events/` (POST an event as JSON; GET lists them), `/events/get_data` and
//! `/events/<id>/` (graphite-web's `events/views.py`).
//!
//! POST body: `{"what": ..., "tags": [..] | "a b", "when": epoch, "data": ...}`; `when`
//! defaults to now, `data` to `""`. Answer: 200 with an empty body.
//! `get_data`: `from` (default epoch 0), `until` (default now), `tags` (space separated),
//! `set` (`union`: any tag; otherwise all tags), `jsonp`. Events are ordered by `when`.
//!
//! Only POST to `/events/` changes state; it must pass [`crate::http::csrf`] (cross-site
//! refused, `http.write_token` when set) before its body is read. GET and HEAD list;
//! another method is answered 405 with `Allow: GET, HEAD, POST` (graphite-web answers 405
//! too). There is no way to delete an event over HTTP, as in graphite-web.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pyjson::Value;
use super::source::lock;
use super::{reply, text, Req, Shared};
use crate::http::eventdb::{parse_tags, Event, Events, TagSet};
use crate::query::time::{parse_at_time, TimeZone};

fn event_json(e: &Event) -> Value {
    Value::object([
        ("when", Value::Int(e.when)),
        ("what", Value::str(&e.what)),
        ("data", Value::str(&e.data)),
        ("tags", Value::strings(&e.tags)),
        ("id", Value::Int(e.id)),
    ])
}

fn json_body(value: &Value, jsonp: Option<&str>) -> Response {
    let body = super::pyjson::dumps(
        value,
        super::pyjson::Style {
            ensure_ascii: true,
            ..Default::default()
        },
    );
    match jsonp {
        Some(cb) => reply(StatusCode::OK, "text/javascript", format!("{cb}({body})")),
        None => reply(StatusCode::OK, "application/json", body),
    }
}

fn with_db<F: FnOnce(&Events) -> Response>(shared: &Shared, f: F) -> Response {
    match &shared.storage.events {
        Some(db) => f(&lock(db)),
        None => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the events database could not be opened (see the server log)",
        ),
    }
}

/// `/events/`: POST stores an event, GET lists every event as `get_data` does.
pub async fn root(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    if method == Method::POST {
        let path = req.uri().path().to_owned();
        if let Err(refused) =
            super::csrf::guard(&path, req.headers(), &shared.config.http.write_token)
        {
            return refused.into_response();
        }
    } else if method != Method::GET && method != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST to add an event, GET to list them",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        return r;
    }
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if method == Method::POST {
        post(&shared, &req)
    } else {
        data(&shared, &req)
    }
}

fn error_400(message: &str) -> Response {
    let body = super::pyjson::dumps(
        &Value::object([("error", Value::str(message))]),
        super::pyjson::Style {
            ensure_ascii: true,
            ..Default::default()
        },
    );
    reply(StatusCode::BAD_REQUEST, "application/json", body)
}

fn post(shared: &Shared, req: &Req) -> Response {
    let event: serde_json::Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return error_400(&format!("the body is not JSON: {e}")),
    };
    let Some(obj) = event.as_object() else {
        return error_400("the body must be a JSON object");
    };
    let tags = match obj.get("tags") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(s)) => parse_tags(s),
        Some(serde_json::Value::Array(items)) => {
            let mut words = Vec::new();
            for t in items {
                match t {
                    serde_json::Value::String(s) => words.push(s.clone()),
                    other => words.push(other.to_string()),
                }
            }
            parse_tags(&words.join(" "))
        }
        Some(_) => return error_400("\"tags\" must be an array or space-separated string"),
    };
    let what = match obj.get("what") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => {
            return error_400("\"what\" is required (a string describing the event)")
        }
        Some(other) => other.to_string(),
    };
    let data = match obj.get("data") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let when = match obj.get("when") {
        None => crate::clock::now().as_secs() as i64,
        Some(v) => match v.as_f64() {
            Some(w) if w.is_finite() && w.abs() < 1e12 => w.floor() as i64,
            _ => return error_400("\"when\" must be a Unix time in seconds"),
        },
    };
    with_db(shared, |db| match db.add(when, &what, &data, &tags) {
        Ok(_) => reply(StatusCode::OK, "text/html; charset=utf-8", ""),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    })
}

/// `/events/get_data`.
pub async fn get_data(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    data(&shared, &req)
}

fn data(shared: &Shared, req: &Req) -> Response {
    let p = &req.params;
    let tz = TimeZone::utc();
    let now = crate::clock::now().as_secs() as i64;
    let time = |key: &str, default: i64| match p.get(key) {
        Some(v) => parse_at_time(v, now, &tz).map_err(|e| format!("Invalid {key} {v:?}: {e}")),
        None => Ok(default),
    };
    let (from, until) = match (time("from", 0), time("until", now)) {
        (Ok(f), Ok(u)) => (f, u),
        (Err(m), _) | (_, Err(m)) => return text(StatusCode::BAD_REQUEST, m),
    };
    let tags: Vec<String> = p
        .get("tags")
        .map(|t| {
            t.split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let set = if p.get("set") == Some("union") {
        TagSet::Any
    } else {
        TagSet::All
    };
    let jsonp = p.get("jsonp");
    with_db(shared, |db| match db.find(from, until, &tags, set) {
        Ok(events) => json_body(&Value::List(events.iter().map(event_json).collect()), jsonp),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    })
}

/// `/events/<id>/`: one event as JSON.
pub async fn one(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return text(StatusCode::NOT_FOUND, format!("no event {id:?}"));
    };
    with_db(&shared, |db| match db.get(id) {
        Ok(Some(e)) => json_body(&event_json(&e), None),
        Ok(None) => text(StatusCode::NOT_FOUND, format!("no event {id}")),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    })
}
