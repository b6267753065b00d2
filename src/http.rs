//! The Graphite HTTP API on the query thread: `/render`, `/metrics/*`, `/functions`,
//! `/version`, `/health`, `/events/*`, `/tags/*`, and the built-in web page at `/`.
//!
//! One std thread runs a tokio current-thread runtime with axum; the shards never wait for
//! it. Names come from the in-memory index ([`crate::storage::index`]), points from the
//! whisper files merged with the owning shard's cache (asked over its control channel,
//! once per request and shard), events and tagged series from the stores below. The work
//! of `/render` and `/metrics/*` runs on the query workers ([`pool`]: a few blocking
//! threads, a bounded queue), each request within its budget ([`crate::query::budget`]:
//! `[http]`'s limits across the whole request, its time limit, the server's stop flag);
//! this thread only accepts, reads requests and answers the cheap endpoints, so a heavy
//! query never delays them. At stop, running queries are cancelled and the thread ends
//! within `STOP_GRACE` (2 s).
//!
//! Routes (this file answers `/functions`, `/version` and `/health` and builds the router):
//! - [`render`]: `/render`, the data formats and the graphs.
//! - [`metrics`]: `/metrics/find`, `/metrics/expand`, `/metrics/index.json`.
//! - [`events`]: `/events/`, `/events/get_data`, `/events/<id>`.
//! - [`tags`]: `/tags/*`, the tags API.
//! - [`webui`]: the web page at `/` and its dashboard API (`/dashboard/*`).
//! - [`csrf`]: the check every state-changing route passes first (cross-site, write token).
//! - [`pool`]: the query workers, their queue and what a waiting or running query obeys.
//!
//! Stores:
//! - [`source`]: the evaluator's view of storage: the name and tag indexes, the whisper
//!   files with the shards' caches, the events.
//! - [`sqlite`]: `<data-dir>/lonsdaleite.sqlite`, the file the stores below share, and how
//!   each opens it.
//! - [`eventdb`]: the events (table `events`).
//! - [`tagdb`]: the tag index, in memory and remembered in table `tagged_series`.
//! - [`dashboarddb`]: the saved dashboards (table `dashboards`).
//!
//! Federation: [`federation_client`] asks a frontend's members (`[cluster] servers`)
//! and reads their answers ([`federation_pickle`] for pickles), [`federation_source`]
//! merges their series with this node's.
//!
//! Encodings: [`params`] (request parameters as Django's `QueryDict`), [`pyjson`]
//! (Python's `json.dumps`), [`pickle`] and [`msgpack`] (`format=pickle|msgpack`, the
//! cluster protocol whose values [`federation`] names).
//!
//! Errors are answered with HTTP 400 and a plain message naming the problem (the tags
//! endpoints answer `{"error": msg}` as graphite does); a storage failure is a 500. A
//! request over a limit is a 400 naming its `[http]` setting; one past its time limit, or
//! refused by a full queue, or cancelled by a stop, a 503.
//! Behaviour and deviations from graphite-web 1.1.10 are listed in `docs/http.md`.

pub mod csrf;
pub mod dashboarddb;
pub mod eventdb;
pub mod events;
pub mod federation;
pub mod federation_client;
pub mod federation_pickle;
pub mod federation_source;
pub mod metrics;
pub mod msgpack;
pub mod params;
pub mod pickle;
pub mod pool;
pub mod pyjson;
pub mod render;
pub mod render_formats;
pub mod source;
pub mod sqlite;
pub mod tagdb;
pub mod tags;
pub mod webui;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::query::budget::Budget;
use crate::query::eval::Limits;
use crate::shard::Control;
use crate::shutdown::Shutdown;
use crate::storage::index::{Names, ScanSlot};
use crate::storage::rules::StorageRules;
use params::Params;
use source::Storage;

/// The version graphite-web reports (Grafana reads it to pick its query dialect).
pub const GRAPHITE_VERSION: &str = "1.1.10";

/// Largest request body read (form posts of many targets).
const MAX_BODY: usize = 8 << 20;

/// Stack of a query worker: room for targets nested [`crate::query::grammar::MAX_DEPTH`]
/// deep and glob walks as deep as the longest name.
const WORKER_STACK: usize = 8 << 20;

/// Once the server stops, how long open connections may take to finish (running queries
/// are cancelled at once, so this is a client reading its last response).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What the server hands the query thread.
pub struct Setup {
    pub config: Arc<Config>,
    /// Every shard's control channel (index = shard id).
    pub shards: Vec<mpsc::Sender<Control>>,
    /// The storage rules (None when storage is off).
    pub rules: Option<StorageRules>,
    /// The start-up scan's index, shared with the admin interface.
    pub index: ScanSlot,
    /// Names the shards report as they first cache them.
    pub names: crossbeam_channel::Receiver<Box<[u8]>>,
    /// Notices the shards dropped because the channel was full.
    pub names_dropped: Arc<AtomicU64>,
}

/// State shared by the handlers.
pub struct Shared {
    pub config: Arc<Config>,
    pub storage: Storage,
    pub names_dropped: Arc<AtomicU64>,
    /// The query workers ([`pool`]): render and find work runs there.
    pub pool: pool::Pool,
    /// The server's stop flag: when set, running queries end at their next check.
    pub shutdown: Arc<Shutdown>,
    /// The members a frontend asks too (`[cluster] servers`), if any.
    pub cluster: Option<federation_client::Cluster>,
}

impl Shared {
    /// Builds the state; the events and the tag index are opened in the data directory's
    /// SQLite file (a failure is logged: the events endpoints answer 500 naming it, the
    /// tag index is kept in memory only).
    pub fn new(setup: Setup) -> Self {
        let data_dir = setup.config.data_dir.clone();
        let db = sqlite::path(&data_dir);
        let events = match crate::http::eventdb::Events::open(&db) {
            Ok(e) => Some(Mutex::new(e)),
            Err(e) => {
                tracing::error!(error = %e, dir = %data_dir.display(), "events database not opened: /events answers 500");
                None
            }
        };
        let tags = match crate::http::tagdb::TagDb::open(&db) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "tagged series are not remembered across restarts: database not opened");
                crate::http::tagdb::TagDb::new()
            }
        };
        Self {
            storage: Storage::new(
                data_dir,
                setup.shards,
                setup.rules,
                Names::new(setup.index, setup.names),
                tags,
                events,
            ),
            pool: pool::Pool::new(
                setup.config.http.max_concurrent_queries,
                setup.config.http.max_queued_queries,
            ),
            cluster: federation_client::Cluster::new(
                &setup.config.cluster,
                setup.config.http.max_response_bytes,
                setup.config.http.timeout,
            ),
            config: setup.config,
            names_dropped: setup.names_dropped,
            shutdown: Arc::default(),
        }
    }

    /// The request limits from `[http]`, for a request that must end by `deadline`.
    pub fn limits(&self, deadline: Instant) -> Limits {
        let h = &self.config.http;
        Limits {
            max_series: (h.max_series > 0).then_some(h.max_series),
            max_points: (h.max_points > 0).then_some(h.max_points),
            deadline: Some(deadline),
        }
    }

    /// A request's budget: `[http]`'s limits, ending by `deadline`, stopped by `cancel`.
    pub fn budget(&self, deadline: Instant, cancel: pool::Cancel) -> Budget {
        let h = &self.config.http;
        Budget::new(self.limits(deadline))
            .with_response_bytes((h.max_response_bytes > 0).then_some(h.max_response_bytes))
            .with_candidates((h.max_glob_candidates > 0).then_some(h.max_glob_candidates))
            .with_probe(move || cancel.stop())
    }

    /// Answers with `work` run on the query workers within the request's budget (its
    /// deadline counted from now); a request the workers cannot take is a 503 naming why.
    pub async fn query<F>(self: &Arc<Self>, work: F) -> Response
    where
        F: FnOnce(&Shared, &Budget) -> Response + Send + 'static,
    {
        let deadline = Instant::now() + self.config.http.timeout;
        let shared = self.clone();
        let run = self.pool.run(deadline, &self.shutdown, move |cancel| {
            let budget = shared.budget(deadline, cancel);
            work(&shared, &budget)
        });
        match run.await {
            Ok(r) => r,
            Err(refused @ pool::Refused::Failed(_)) => {
                text(StatusCode::INTERNAL_SERVER_ERROR, refused.message())
            }
            Err(refused) => {
                let mut r = text(StatusCode::SERVICE_UNAVAILABLE, refused.message());
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
        }
    }
}

/// The status of a request limit: 503 when the request was stopped (its deadline, the
/// server stopping), else 400.
pub fn limit_status(e: &crate::query::budget::Exceeded) -> StatusCode {
    if e.is_stop() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// Starts the query thread serving `listener` until `shutdown`. Once `shutdown` is set,
/// running queries end at their next check, connections get `STOP_GRACE` (2 s) to finish,
/// and the thread ends without waiting for a worker stuck in a read.
pub fn spawn(
    listener: std::net::TcpListener,
    setup: Setup,
    shutdown: Arc<Shutdown>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()?;
    std::thread::Builder::new()
        .name("query".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "http: cannot use the bound listener");
                        return;
                    }
                };
                let mut shared = Shared::new(setup);
                shared.shutdown = shutdown.clone();
                let shared = Arc::new(shared);
                let drain = shared.clone();
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    // Keep the new-name channel empty even when no request comes; on a
                    // worker, as a query's glob walk may hold the index for a while.
                    while !stop.is_set() {
                        let d = drain.clone();
                        let _ =
                            tokio::task::spawn_blocking(move || d.storage.take_reported_names())
                                .await;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
                let app = router(shared);
                let stop = shutdown.clone();
                let stopped = async move {
                    while !stop.is_set() {
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                };
                // TCP_NODELAY: an answer's last small write is not held back waiting for
                // the client's acknowledgement of the one before (a frontend's member).
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
                let grace = async {
                    while !shutdown.is_set() {
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                    tokio::time::sleep(STOP_GRACE).await;
                };
                tokio::select! {
                    r = serve => if let Err(e) = r {
                        tracing::error!(error = %e, "http server failed");
                    },
                    () = grace => tracing::warn!("http: connections still open at stop were closed"),
                }
            });
            rt.shutdown_timeout(Duration::from_millis(500));
        })
}

/// Every route of the API, plus the web page's.
pub fn router(shared: Arc<Shared>) -> Router {
    let db = sqlite::path(&shared.config.data_dir);
    let write_token = shared.config.http.write_token.clone();
    let api = Router::new()
        .route("/render", any(render::handler))
        .route("/render/", any(render::handler))
        .route("/metrics", any(metrics::find))
        .route("/metrics/", any(metrics::find))
        .route("/metrics/find", any(metrics::find))
        .route("/metrics/find/", any(metrics::find))
        .route("/metrics/expand", any(metrics::expand))
        .route("/metrics/expand/", any(metrics::expand))
        .route("/metrics/index.json", any(metrics::index_json))
        .route("/functions", get(functions))
        .route("/functions/", get(functions))
        .route("/functions/{name}", get(functions))
        .route("/version", get(version))
        .route("/version/", get(version))
        .route("/health", get(health))
        .route("/events", any(events::root))
        .route("/events/", any(events::root))
        .route("/events/get_data", any(events::get_data))
        .route("/events/{id}", get(events::one))
        .route("/events/{id}/", get(events::one))
        .route("/tags", any(tags::list))
        .route("/tags/", any(tags::list))
        .route("/tags/tagSeries", any(tags::tag_series))
        .route("/tags/tagMultiSeries", any(tags::tag_multi_series))
        .route("/tags/delSeries", any(tags::del_series))
        .route("/tags/findSeries", any(tags::find_series))
        .route("/tags/autoComplete/tags", any(tags::complete_tags))
        .route("/tags/autoComplete/values", any(tags::complete_values))
        .route("/tags/{tag}", any(tags::values))
        .with_state(shared);
    match crate::http::webui::router(&db, &write_token) {
        Ok(web) => api.merge(web),
        Err(e) => {
            tracing::error!(error = %e, "the web page is off: its database cannot be opened");
            api
        }
    }
}

/// A request's parts as the handlers use them.
pub struct Req {
    pub method: Method,
    pub headers: HeaderMap,
    pub params: Params,
    pub body: Bytes,
    pub path: String,
}

impl Req {
    /// Reads the body and merges query string and form fields.
    pub async fn read(req: Request) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
            text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            )
        })?;
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let params = Params::new(parts.uri.query(), is_form.then_some(&body[..]));
        Ok(Self {
            method: parts.method,
            headers: parts.headers,
            params,
            body,
            path: parts.uri.path().to_string(),
        })
    }
}

/// A response with a body and content type.
pub fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A plain-text response (errors).
pub fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut m = message.into();
    if !m.ends_with('\n') {
        m.push('\n');
    }
    reply(status, "text/plain; charset=utf-8", m)
}

/// A json document as graphite's `json_response_for` writes it: `pretty` indents,
/// `jsonp` wraps, and non-ASCII is escaped only when the client accepts exactly
/// `application/json` (or sends no Accept header).
pub fn json_for(req: &Req, value: &pyjson::Value, sort_keys: bool) -> Response {
    let accept = req
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let ensure_ascii = accept == "application/json";
    let pretty = req.params.truthy("pretty");
    let body = pyjson::dumps(
        value,
        pyjson::Style {
            pretty,
            sort_keys: sort_keys && pretty,
            ensure_ascii,
        },
    );
    let (body, ct) = match req.params.get("jsonp").filter(|j| !j.is_empty()) {
        Some(cb) => (
            format!("{cb}({body})"),
            if ensure_ascii {
                "text/javascript"
            } else {
                "text/javascript;charset=utf-8"
            },
        ),
        None => (
            body,
            if ensure_ascii {
                "application/json"
            } else {
                "application/json;charset=utf-8"
            },
        ),
    };
    reply(StatusCode::OK, ct, body)
}

async fn version() -> Response {
    reply(StatusCode::OK, "text/html; charset=utf-8", GRAPHITE_VERSION)
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let dropped = shared
        .names_dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    let members = shared
        .cluster
        .as_ref()
        .map(federation_client::Cluster::report)
        .unwrap_or_default();
    text(
        StatusCode::OK,
        format!("OK\nnew_name_notices_dropped: {dropped}\n{members}"),
    )
}

/// `serde_json` to the Python-layout value (object keys keep their order).
fn from_serde(v: &serde_json::Value) -> pyjson::Value {
    use pyjson::Value as P;
    match v {
        serde_json::Value::Null => P::Null,
        serde_json::Value::Bool(b) => P::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => P::Int(i),
            None => P::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => P::Str(s.clone()),
        serde_json::Value::Array(items) => P::List(items.iter().map(from_serde).collect()),
        serde_json::Value::Object(m) => {
            P::Object(m.iter().map(|(k, v)| (k.clone(), from_serde(v))).collect())
        }
    }
}

/// `/functions` and `/functions/<name>`: the catalogue of the functions implemented
/// (graphite's `functionList` / `functionDetails`: `grouped`, `group`, `type=pie`,
/// `pretty`, `jsonp`); `type=pie` lists the pie functions ([`crate::query::pie`]).
async fn functions(name: Option<axum::extract::Path<String>>, req: Request) -> Response {
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let pie = req.params.get("type") == Some("pie");
    let doc = if let Some(axum::extract::Path(name)) = name {
        let info = if pie {
            crate::query::pie::info(&name)
        } else {
            crate::query::functions::lookup(&name).map(crate::query::functions::function_info)
        };
        match info {
            Some(info) => info,
            None => return text(StatusCode::NOT_FOUND, format!("Function not found: {name}")),
        }
    } else {
        let grouped = match req.params.int("grouped", 0) {
            Ok(g) => g != 0,
            Err(e) => return text(StatusCode::BAD_REQUEST, e),
        };
        if pie {
            crate::query::pie::catalogue(grouped, req.params.get("group"))
        } else {
            crate::query::functions::catalogue(grouped, req.params.get("group"))
        }
    };
    let pretty = req.params.truthy("pretty");
    let body = pyjson::dumps(
        &from_serde(&doc),
        pyjson::Style {
            pretty,
            sort_keys: pretty,
            ensure_ascii: true,
        },
    );
    // An infinite default is written as graphite's encoder writes it.
    let mut marker = String::new();
    pyjson::write_str(
        &mut marker,
        crate::query::functions::params::INF_MARKER,
        true,
    );
    let body = body.replace(&marker, "1e9999");
    match req.params.get("jsonp").filter(|j| !j.is_empty()) {
        Some(cb) => reply(StatusCode::OK, "text/javascript", format!("{cb}({body})")),
        None => reply(StatusCode::OK, "application/json", body),
    }
}
