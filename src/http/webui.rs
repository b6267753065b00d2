//! The built-in web page at `/`: metric tree, graph composer and saved dashboards.
//!
//! The page is plain HTML, CSS and JavaScript from `web/`, compiled into the binary; it
//! talks to the render API (`/metrics/find`, `/functions`, `/render`) like any client.
//! Dashboards are kept in the `dashboards` table of `<data-dir>/lonsdaleite.sqlite`
//! ([`crate::http::dashboarddb`]) through graphite-web's dashboard API:
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /dashboard/save/<name>`, form field `state` (a JSON object) | `{"success": true}` |
//! | `GET /dashboard/load/<name>` | `{"state": {...}}` |
//! | `GET /dashboard/find?query=<terms>` | `{"dashboards": [{"name": "..."}]}`, names holding every term (case-insensitive), sorted |
//! | `POST` or `DELETE /dashboard/delete/<name>` | `{"success": true}` |
//!
//! Errors are `{"error": "..."}` with 400 (bad name or state), 404 (no such dashboard) or
//! 500 (the database failed); graphite-web answers them with 200.
//!
//! Save and delete change state: another method is answered 405 with an `Allow` header
//! (graphite-web would delete on GET), and the request must pass [`crate::http::csrf`]
//! (cross-site refused, `http.write_token` when set) before its body is read. The page
//! itself is same-origin, so its own saves pass the cross-site rule; when the server asks
//! for a token (401), the page prompts for it once and keeps it for the tab.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::csrf;
use super::dashboarddb::Dashboards;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");

/// The longest dashboard name accepted, in bytes.
const MAX_NAME: usize = 200;
/// The largest dashboard state accepted, in bytes of JSON.
const MAX_STATE: usize = 1 << 20;

/// Why the page's database could not be opened, or a dashboard request failed.
#[derive(Debug, thiserror::Error)]
pub enum WebuiError {
    /// The SQLite file could not be opened or its table created.
    #[error("cannot open the dashboards database {}: {source} (check --data-dir)", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The dashboard name is empty, too long or holds `/` or control characters (HTTP 400).
    #[error("invalid dashboard name {0:?}: use 1 to 200 bytes without '/' or control characters")]
    Name(String),
    /// The saved state is missing or not a JSON object (HTTP 400).
    #[error("invalid dashboard state: {0}")]
    State(String),
    /// The query string could not be read (HTTP 400).
    #[error("invalid query string: {0}")]
    Query(String),
    /// No dashboard has that name (HTTP 404).
    #[error("Dashboard '{0}' does not exist.")]
    NotFound(String),
    /// A statement failed (HTTP 500).
    #[error("dashboards database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database task did not finish (HTTP 500).
    #[error("dashboards database task failed: {0}")]
    Task(String),
}

impl IntoResponse for WebuiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Name(_) | Self::State(_) | Self::Query(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Open { .. } | Self::Db(_) | Self::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// Routes of the web page and its dashboard API, merged into the query thread's router.
/// `db_path` is the server's SQLite file ([`crate::http::sqlite::path`], shared with the
/// events and the tag index); it is opened here (created if missing), so a bad path fails
/// at start. Saves and deletes pass the cross-site rule and, when `write_token`
/// (`http.write_token`) is not empty, must carry it.
pub fn router(db_path: &Path, write_token: &str) -> Result<Router, WebuiError> {
    let db = Dashboards::open(db_path).map_err(|source| WebuiError::Open {
        path: db_path.to_owned(),
        source,
    })?;
    let guard = from_fn_with_state(Arc::<str>::from(write_token), csrf::layer);
    Ok(Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/webui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/webui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/dashboard/save/{name}",
            post(save).route_layer(guard.clone()),
        )
        .route("/dashboard/load/{name}", get(load))
        .route("/dashboard/find", get(find).post(find))
        .route("/dashboard/find/", get(find).post(find))
        .route(
            "/dashboard/delete/{name}",
            post(delete).delete(delete).route_layer(guard),
        )
        .with_state(Arc::new(db)))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Runs a database call off the async thread.
async fn blocking<T: Send + 'static>(
    db: &Arc<Dashboards>,
    f: impl FnOnce(&Dashboards) -> Result<T, WebuiError> + Send + 'static,
) -> Result<T, WebuiError> {
    let db = Arc::clone(db);
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .map_err(|e| WebuiError::Task(e.to_string()))?
}

fn check_name(name: String) -> Result<String, WebuiError> {
    if name.trim().is_empty()
        || name.len() > MAX_NAME
        || name.contains('/')
        || name.chars().any(char::is_control)
    {
        return Err(WebuiError::Name(name));
    }
    Ok(name)
}

/// Validates a state and re-serialises it compactly (graphite-web does the same).
fn check_state(state: Option<&str>) -> Result<String, WebuiError> {
    let state = state.ok_or_else(|| WebuiError::State("missing form field 'state'".into()))?;
    if state.len() > MAX_STATE {
        return Err(WebuiError::State(format!(
            "{} bytes, more than the {MAX_STATE} allowed",
            state.len()
        )));
    }
    let value: Value = serde_json::from_str(state).map_err(|e| WebuiError::State(e.to_string()))?;
    if !value.is_object() {
        return Err(WebuiError::State("not a JSON object".into()));
    }
    Ok(value.to_string())
}

#[derive(Deserialize)]
struct SaveForm {
    state: Option<String>,
}

async fn save(
    State(db): State<Arc<Dashboards>>,
    UrlPath(name): UrlPath<String>,
    form: Result<Form<SaveForm>, FormRejection>,
) -> Result<Json<Value>, WebuiError> {
    let name = check_name(name)?;
    let form = form.map_err(|e| WebuiError::State(e.body_text()))?;
    let state = check_state(form.state.as_deref())?;
    blocking(&db, move |db| Ok(db.save(&name, &state)?)).await?;
    Ok(Json(json!({ "success": true })))
}

async fn load(
    State(db): State<Arc<Dashboards>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, WebuiError> {
    let name = check_name(name)?;
    let state = blocking(&db, move |db| {
        db.load(&name)?.ok_or(WebuiError::NotFound(name))
    })
    .await?;
    let state: Value = serde_json::from_str(&state).map_err(|e| WebuiError::Task(e.to_string()))?;
    Ok(Json(json!({ "state": state })))
}

#[derive(Deserialize)]
struct FindParams {
    query: Option<String>,
}

async fn find(
    State(db): State<Arc<Dashboards>>,
    params: Result<Query<FindParams>, QueryRejection>,
) -> Result<Json<Value>, WebuiError> {
    let Query(params) = params.map_err(|e| WebuiError::Query(e.body_text()))?;
    let terms: Vec<String> = params
        .query
        .unwrap_or_default()
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let names = blocking(&db, |db| Ok(db.names()?)).await?;
    let found: Vec<Value> = names
        .into_iter()
        .filter(|name| {
            let lower = name.to_lowercase();
            terms.iter().all(|t| lower.contains(t.as_str()))
        })
        .map(|name| json!({ "name": name }))
        .collect();
    Ok(Json(json!({ "dashboards": found })))
}

async fn delete(
    State(db): State<Arc<Dashboards>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, WebuiError> {
    let name = check_name(name)?;
    blocking(&db, move |db| {
        if db.delete(&name)? {
            Ok(())
        } else {
            Err(WebuiError::NotFound(name))
        }
    })
    .await?;
    Ok(Json(json!({ "success": true })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One HTTP/1.1 request to `addr`; returns the status and the body.
    async fn call(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        form: Option<&str>,
    ) -> (u16, String) {
        call_with(addr, method, path, form, "").await
    }

    /// [`call`] with extra header lines (each ending in `\r\n`).
    async fn call_with(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        form: Option<&str>,
        headers: &str,
    ) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = form.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let status = out[9..12].parse().unwrap();
        let body = out.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }

    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn dashboard_api_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let app = router(&dir.path().join("lonsdaleite.sqlite"), "").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

            let (st, body) = call(addr, "GET", "/", None).await;
            assert_eq!(st, 200);
            assert!(body.contains("/webui/app.js"), "{body}");
            assert_eq!(call(addr, "GET", "/webui/app.js", None).await.0, 200);
            assert_eq!(call(addr, "GET", "/webui/app.css", None).await.0, 200);

            let state = r#"{"graphs": [{"targets": ["a.b"]}], "from": "-1h"}"#;
            let form = format!("state={}", enc(state));
            let (st, body) = call(addr, "POST", "/dashboard/save/Web%20Hosts", Some(&form)).await;
            assert_eq!((st, body.as_str()), (200, r#"{"success":true}"#));
            call(addr, "POST", "/dashboard/save/db", Some("state=%7B%7D")).await;

            let (st, body) = call(addr, "GET", "/dashboard/load/Web%20Hosts", None).await;
            assert_eq!(st, 200);
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["state"]["graphs"][0]["targets"][0], "a.b");
            assert_eq!(v["state"]["from"], "-1h");

            let (_, body) = call(addr, "GET", "/dashboard/find", None).await;
            assert_eq!(
                body,
                r#"{"dashboards":[{"name":"Web Hosts"},{"name":"db"}]}"#
            );
            let (_, body) = call(addr, "GET", "/dashboard/find?query=HOST%20web", None).await;
            assert_eq!(body, r#"{"dashboards":[{"name":"Web Hosts"}]}"#);

            let (st, body) = call(addr, "POST", "/dashboard/delete/db", None).await;
            assert_eq!((st, body.as_str()), (200, r#"{"success":true}"#));
            let (st, body) = call(addr, "DELETE", "/dashboard/delete/db", None).await;
            assert_eq!(st, 404);
            assert!(body.contains("Dashboard 'db' does not exist."), "{body}");
            let (st, _) = call(addr, "GET", "/dashboard/load/db", None).await;
            assert_eq!(st, 404);

            for (path, form, needle) in [
                ("/dashboard/save/x", "", "missing form field 'state'"),
                ("/dashboard/save/x", "state=%5B1%5D", "not a JSON object"),
                ("/dashboard/save/x", "state=%7B", "invalid dashboard state"),
                (
                    "/dashboard/save/a%2Fb",
                    "state=%7B%7D",
                    "invalid dashboard name",
                ),
                (
                    "/dashboard/save/%20",
                    "state=%7B%7D",
                    "invalid dashboard name",
                ),
            ] {
                let (st, body) = call(addr, "POST", path, Some(form)).await;
                assert_eq!(st, 400, "{path} {form}: {body}");
                assert!(body.contains(needle), "{path} {form}: {body}");
            }
        });
    }

    /// Saves and deletes pass the cross-site rule and ask for the write token when given
    /// one; loading never does.
    #[test]
    fn writes_are_guarded() {
        let dir = tempfile::tempdir().unwrap();
        let app = router(&dir.path().join("lonsdaleite.sqlite"), "t0k").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
            let form = Some("state=%7B%7D");
            let save = "/dashboard/save/d";
            let (st, body) = call(addr, "POST", save, form).await;
            assert_eq!(st, 401, "{body}");
            assert!(body.contains("http.write_token"), "{body}");
            let token = "X-Lonsdaleite-Token: t0k\r\n";
            let evil = format!("Origin: http://evil\r\n{token}");
            let (st, body) = call_with(addr, "POST", save, form, &evil).await;
            assert_eq!(st, 403, "{body}");
            assert_eq!(call(addr, "GET", "/dashboard/load/d", None).await.0, 404);
            let same = format!("Origin: http://x\r\nSec-Fetch-Site: same-origin\r\n{token}");
            let (st, body) = call_with(addr, "POST", save, form, &same).await;
            assert_eq!(st, 200, "{body}");
            assert_eq!(call(addr, "GET", "/dashboard/load/d", None).await.0, 200);
            let del = "/dashboard/delete/d";
            assert_eq!(call(addr, "DELETE", del, None).await.0, 401);
            assert_eq!(call(addr, "GET", del, None).await.0, 405);
            let bearer = "Authorization: Bearer t0k\r\n";
            assert_eq!(call_with(addr, "DELETE", del, None, bearer).await.0, 200);
        });
    }

    /// The page loads nothing from other hosts (no CDN): every URL in it is a path.
    #[test]
    fn assets_name_no_other_host() {
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("app.js", APP_JS),
            ("app.css", APP_CSS),
        ] {
            for needle in ["http://", "https://", "//cdn", "src=\"//", "href=\"//"] {
                assert!(!text.contains(needle), "web/{name} contains {needle}");
            }
        }
    }

    #[test]
    fn unopenable_database_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("lonsdaleite.sqlite");
        let err = router(&path, "").err().unwrap();
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }
}
