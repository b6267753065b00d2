//! A frontend's side of graphite-web's cluster protocol: asking every member of
//! `[cluster] servers` at once, as graphite-web's `RemoteFinder` / `RemoteReader` do.
//!
//! Each member is asked with `local=<its local, default 1>` (so it answers from its own
//! data) and `format=<its format, default msgpack>`, the answer read as msgpack when its
//! content type says so and as a pickle otherwise (as graphite-web reads it); a find,
//! index.json and autocompletion answer must come within `cluster.find_timeout` (3 s), a
//! render within `cluster.fetch_timeout` (6 s) from the moment it is sent, all of its
//! `cluster.fetch_attempts` (2) tries included (graphite-web waits `FETCH_TIMEOUT` for
//! its fetch jobs as a whole: a retry helps after a quick failure, a member that never
//! answers costs one timeout), and never past the request's own deadline (less a tenth of `http.timeout`, at
//! most 1 s, to answer with what came). A member that fails (no connection, a timeout, a
//! status other than 200, an answer that is not msgpack of the expected shape) is counted
//! and left out for `cluster.retry_delay` (60 s); the answer is then partial, never an
//! error. A success puts a member back at once. `/health` lists each member's failures and
//! skips.
//!
//! Members are asked in parallel over HTTP/1.1 with hyper's client: each request is a
//! task on the query thread's runtime, which also carries the connections (`TCP_NODELAY`,
//! kept open for a second and reused); the query worker that asks waits for the answers
//! and decodes each as it comes (a msgpack render straight into series) while the others
//! are still on their way. A render carrying many targets is sent with `POST` as a form
//! (graphite-web's members read either). Answers are bounded by
//! `http.max_response_bytes` and a nesting depth.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rmpv::Value;
use tokio::runtime::Handle;

use super::federation::{FindNode, MSGPACK};
use crate::cluster::member::Member;
use crate::config::ClusterConfig;
use crate::query::series::Series;

/// rmpv's depth limit for a member's msgpack answer: it counts about three steps per
/// nesting level, and a find answer nests four levels (list, dict, intervals, pair).
const MAX_DEPTH: usize = 64;

/// In a request's parameters, the value replaced by the member's `local` (`1` unless its
/// entry says otherwise), so that each request lists its parameters in graphite-web's
/// order.
pub const LOCAL: &str = "\0local";

/// Query strings longer than this go in a POST body.
const MAX_GET: usize = 2048;

/// How long an idle connection to a member is kept for the next request: shorter than
/// servers' own keep-alive (gunicorn's 2 s, Apache's 5 s), so that a connection is not
/// reused just as the member closes it, yet one request's fan-outs and a dashboard's
/// panels share connections.
const POOL_IDLE: Duration = Duration::from_secs(1);

/// The members' connector: `TCP_NODELAY`, so that no write of a request waits for the
/// member's acknowledgement of the one before.
fn connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c
}

/// One member and what it did lately.
pub struct MemberState {
    pub member: Member,
    last_failure: Mutex<Option<Instant>>,
    /// Requests that failed.
    pub failures: AtomicU64,
    /// Requests not sent because the member was left out after a failure.
    pub skipped: AtomicU64,
}

/// The members of `[cluster] servers` and the limits they are asked under.
pub struct Cluster {
    pub members: Vec<MemberState>,
    find_timeout: Duration,
    fetch_timeout: Duration,
    fetch_attempts: u32,
    retry_delay: Duration,
    max_bytes: usize,
    /// How long before the request's deadline members stop being waited for, so that
    /// the answer made of what came is still sent in time.
    margin: Duration,
    /// The members' connections (see [`POOL_IDLE`]).
    client: Client<HttpConnector, String>,
    /// The query thread's runtime, which runs the requests and their connections.
    runtime: Handle,
}

/// Where a member's answer (or why there is none) is sent, with the member's index.
type Done = crossbeam_channel::Sender<(usize, Result<Answer, String>)>;

/// Sends a request's outcome once: what the task got, or, dropped before that (the
/// runtime stopping), that the server is stopping.
struct Reply(Option<(usize, Done)>);

impl Reply {
    fn send(&mut self, got: Result<Answer, String>) {
        if let Some((i, done)) = self.0.take() {
            let _ = done.send((i, got));
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        self.send(Err("the server is stopping".into()));
    }
}

/// A member's answer.
struct Answer {
    content_type: String,
    body: axum::body::Bytes,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cluster {
    /// The cluster of `config`, or `None` without members. Specs were checked when the
    /// configuration was loaded; one that does not parse is left out with an error.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime: it is built on the query thread, whose runtime then runs
    /// the requests to members.
    pub fn new(
        config: &ClusterConfig,
        max_bytes: usize,
        request_timeout: Duration,
    ) -> Option<Self> {
        let members: Vec<MemberState> = config
            .servers
            .iter()
            .filter_map(|spec| match Member::parse(spec) {
                Ok(member) => Some(MemberState {
                    member,
                    last_failure: Mutex::new(None),
                    failures: AtomicU64::new(0),
                    skipped: AtomicU64::new(0),
                }),
                Err(e) => {
                    tracing::error!(error = %e, "cluster member left out");
                    None
                }
            })
            .collect();
        (!members.is_empty()).then_some(Self {
            members,
            find_timeout: config.find_timeout,
            fetch_timeout: config.fetch_timeout,
            fetch_attempts: config.fetch_attempts.max(1),
            retry_delay: config.retry_delay,
            max_bytes: if max_bytes == 0 {
                usize::MAX
            } else {
                max_bytes
            },
            margin: (request_timeout / 10).min(Duration::from_secs(1)),
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .pool_timer(TokioTimer::new())
                .build(connector()),
            runtime: Handle::current(),
        })
    }

    /// One line per member for `/health`.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for m in &self.members {
            let left_out = lock(&m.last_failure).is_some_and(|t| t.elapsed() < self.retry_delay);
            let _ = writeln!(
                out,
                "cluster member {}: failures {}, skipped {}, {}",
                m.member,
                m.failures.load(Ordering::Relaxed),
                m.skipped.load(Ordering::Relaxed),
                if left_out { "left out" } else { "asked" }
            );
        }
        out
    }

    /// Asks every member not left out, all at once: `ask` gives a member's query string
    /// (`None`: nothing to ask it, its answer `T::default()`), `read` decodes an answer.
    /// Each request is a task on the query thread's runtime; this thread waits for their
    /// answers and decodes each as it comes, while the others are still on their way.
    /// A request or a decoding that fails is tried again up to `attempts` times in all,
    /// while `timeout` (counted from now, for all tries together) and the deadline allow.
    /// The answers in member order (`None` for a member left out or failed).
    fn each<T: Default>(
        &self,
        path: &str,
        timeout: Duration,
        attempts: u32,
        deadline: Instant,
        ask: impl Fn(&MemberState) -> Option<String>,
        read: impl Fn(&Answer) -> Result<T, String>,
    ) -> Vec<Option<T>> {
        let mut out: Vec<Option<T>> = self.members.iter().map(|_| None).collect();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut queries: Vec<Option<String>> = vec![None; self.members.len()];
        let mut tries = vec![0u32; self.members.len()];
        let mut waiting = 0usize;
        let until = Instant::now() + timeout;
        for (i, m) in self.members.iter().enumerate() {
            let left_out = lock(&m.last_failure).is_some_and(|t| t.elapsed() < self.retry_delay);
            if left_out {
                m.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Some(query) = ask(m) else {
                out[i] = Some(T::default());
                continue;
            };
            self.send(i, &m.member, path, &query, until, deadline, &tx);
            queries[i] = Some(query);
            tries[i] = 1;
            waiting += 1;
        }
        while waiting > 0 {
            // Every task answers (a timeout, or its drop when the runtime stops).
            let Ok((i, got)) = rx.recv() else { break };
            let m = &self.members[i];
            let result = got.and_then(|a| read(&a));
            match result {
                Ok(v) => {
                    *lock(&m.last_failure) = None;
                    out[i] = Some(v);
                    waiting -= 1;
                }
                Err(e) if tries[i] < attempts && Instant::now() < until.min(deadline) => {
                    tracing::info!(member = %m.member, error = %e, attempt = tries[i], "cluster request failed: trying again");
                    tries[i] += 1;
                    let query = queries[i].as_deref().unwrap_or_default();
                    self.send(i, &m.member, path, query, until, deadline, &tx);
                }
                Err(e) => {
                    m.failures.fetch_add(1, Ordering::Relaxed);
                    *lock(&m.last_failure) = Some(Instant::now());
                    tracing::warn!(member = %m.member, error = %e, "cluster member failed: left out for a while");
                    waiting -= 1;
                }
            }
        }
        out
    }

    /// The query string of `params` for `m` ([`LOCAL`] replaced by its `local`).
    fn query(m: &Member, params: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for &(k, v) in params {
            query.append_pair(k, if v == LOCAL { &m.local } else { v });
        }
        query.finish()
    }

    /// Sends one request to member `i` (`m`) as a task on the query thread's runtime,
    /// ending at `until` or at `deadline` (less the margin), whichever comes first; its
    /// answer or error comes back on `done`.
    #[expect(clippy::too_many_arguments, reason = "one request's parts")]
    fn send(
        &self,
        i: usize,
        m: &Member,
        path: &str,
        query: &str,
        until: Instant,
        deadline: Instant,
        done: &Done,
    ) {
        let deadline = deadline.checked_sub(self.margin).unwrap_or(deadline);
        let end = deadline.min(until);
        let uri = format!("http://{}{}{path}", m.authority, m.prefix);
        let request = if query.len() > MAX_GET {
            Request::post(uri)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(query.to_string())
        } else {
            Request::get(format!("{uri}?{query}")).body(String::new())
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                let _ = done.send((i, Err(e.to_string())));
                return;
            }
        };
        let (client, max_bytes) = (self.client.clone(), self.max_bytes);
        // Answers even when the runtime drops the task unfinished (the server stopping).
        let mut reply = Reply(Some((i, done.clone())));
        self.runtime.spawn(async move {
            let got = tokio::time::timeout_at(end.into(), exchange(&client, request, max_bytes))
                .await
                .unwrap_or_else(|_| Err("no answer in time".into()));
            reply.send(got);
        });
    }

    /// `/metrics/find/` on every member; the nodes in member order.
    pub fn find(
        &self,
        pattern: &str,
        from: Option<i64>,
        until: Option<i64>,
        deadline: Instant,
    ) -> Vec<Vec<FindNode>> {
        let (from, until) = (from.map(|t| t.to_string()), until.map(|t| t.to_string()));
        let answers = self.each(
            "/metrics/find/",
            self.find_timeout,
            1,
            deadline,
            |m| {
                let mut params = vec![
                    ("local", LOCAL),
                    ("format", m.member.format.as_str()),
                    ("query", pattern),
                ];
                if let Some(f) = &from {
                    params.push(("from", f));
                }
                if let Some(u) = &until {
                    params.push(("until", u));
                }
                Some(Self::query(&m.member, &params))
            },
            |a| decode_find(&msgpack_of(a)?),
        );
        answers.into_iter().flatten().collect()
    }

    /// `/render/` on every member with `targets` (each member's own list: a member
    /// without tags gets names for `seriesByTag`), retried; the series in member order.
    pub fn render(
        &self,
        targets: impl Fn(&Member) -> Vec<String> + Sync,
        start: i64,
        end: i64,
        now: i64,
        deadline: Instant,
    ) -> Vec<Vec<Series>> {
        let (start, end, now) = (start.to_string(), end.to_string(), now.to_string());
        let answers = self.each(
            "/render/",
            self.fetch_timeout,
            self.fetch_attempts,
            deadline,
            |m| {
                let targets = targets(&m.member);
                if targets.is_empty() {
                    return None;
                }
                let mut params = vec![
                    ("format", m.member.format.as_str()),
                    ("local", LOCAL),
                    ("noCache", "1"),
                    ("from", start.as_str()),
                    ("until", end.as_str()),
                ];
                params.extend(targets.iter().map(|t| ("target", t.as_str())));
                params.push(("now", now.as_str()));
                Some(Self::query(&m.member, &params))
            },
            render_of,
        );
        answers.into_iter().flatten().collect()
    }

    /// A json list of strings from every member (`/metrics/index.json`, the tag
    /// autocompletion), in member order; `params` place [`LOCAL`].
    pub fn strings(
        &self,
        path: &str,
        params: &[(&str, &str)],
        deadline: Instant,
    ) -> Vec<Vec<String>> {
        let answers = self.each(
            path,
            self.find_timeout,
            1,
            deadline,
            |m| Some(Self::query(&m.member, params)),
            |a| {
                let v: serde_json::Value =
                    serde_json::from_slice(&a.body).map_err(|e| format!("not json: {e}"))?;
                v.as_array()
                    .ok_or("not a json list")?
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| "not a list of strings".to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()
            },
        );
        answers.into_iter().flatten().collect()
    }
}

/// Sends `request` and reads the answer: a status other than 200 or a body past
/// `max_bytes` is an error.
async fn exchange(
    client: &Client<HttpConnector, String>,
    request: Request<String>,
    max_bytes: usize,
) -> Result<Answer, String> {
    let response = client.request(request).await.map_err(|e| chain(&e))?;
    if response.status() != StatusCode::OK {
        return Err(format!("HTTP status {}", response.status().as_u16()));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = Limited::new(response.into_body(), max_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                "answer larger than http.max_response_bytes".to_string()
            } else {
                chain(&*e)
            }
        })?
        .to_bytes();
    Ok(Answer { content_type, body })
}

/// An error and its sources, as one line (hyper's own message names only the step that
/// failed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}

/// The answer decoded as graphite-web's frontend decodes it: msgpack when the content
/// type says exactly that, pickle otherwise ([`super::federation_pickle`], read into the
/// same values).
fn msgpack_of(a: &Answer) -> Result<Value, String> {
    if a.content_type != MSGPACK {
        return super::federation_pickle::decode(&a.body);
    }
    let mut rd = &a.body[..];
    let v = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH)
        .map_err(|e| format!("bad msgpack: {e}"))?;
    if !rd.is_empty() {
        return Err("bytes after the msgpack document".into());
    }
    Ok(v)
}

/// A render answer decoded as [`msgpack_of`] would, msgpack read straight into series.
fn render_of(a: &Answer) -> Result<Vec<Series>, String> {
    if a.content_type == MSGPACK {
        decode_render_msgpack(&a.body)
    } else {
        decode_render(&super::federation_pickle::decode(&a.body)?)
    }
}

fn field<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_i64().map(|i| i as f64))
        .or_else(|| v.as_u64().map(|u| u as f64))
}

/// A find answer: `{path, is_leaf, intervals}` (0.9's `metric_path`, `isLeaf` too).
pub fn decode_find(v: &Value) -> Result<Vec<FindNode>, String> {
    let list = v.as_array().ok_or("a find answer is not a list")?;
    list.iter()
        .map(|node| {
            let map = node.as_map().ok_or("a find node is not a dict")?;
            let path = field(map, "path")
                .or_else(|| field(map, "metric_path"))
                .and_then(Value::as_str)
                .ok_or("a find node has no path")?
                .to_string();
            let is_leaf = field(map, "is_leaf")
                .or_else(|| field(map, "isLeaf"))
                .is_some_and(|l| {
                    l.as_bool()
                        .unwrap_or_else(|| number(l).is_some_and(|n| n != 0.0))
                });
            let mut intervals = Vec::new();
            if let Some(list) = field(map, "intervals").and_then(Value::as_array) {
                for pair in list {
                    let p = pair.as_array().ok_or("an interval is not a pair")?;
                    match (p.first().and_then(number), p.get(1).and_then(number)) {
                        (Some(a), Some(b)) => intervals.push((a, b)),
                        _ => return Err("an interval is not two numbers".to_string()),
                    }
                }
            }
            Ok(FindNode {
                path,
                is_leaf,
                intervals,
            })
        })
        .collect()
}

/// A render answer: `{name, start, end, step, values, pathExpression}` per series.
pub fn decode_render(v: &Value) -> Result<Vec<Series>, String> {
    let list = v.as_array().ok_or("a render answer is not a list")?;
    list.iter()
        .map(|s| {
            let map = s.as_map().ok_or("a series is not a dict")?;
            let name = field(map, "name")
                .and_then(Value::as_str)
                .ok_or("a series has no name")?;
            let int = |k: &str| {
                field(map, k)
                    .and_then(|v| v.as_i64().or_else(|| number(v).map(|f| f as i64)))
                    .ok_or_else(|| format!("series {name}: no {k}"))
            };
            let (start, end, step) = (int("start")?, int("end")?, int("step")?);
            if step <= 0 {
                return Err(format!("series {name}: step {step}"));
            }
            let raw = field(map, "values")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("series {name}: no values"))?;
            let mut ints = vec![false; raw.len()];
            let values = raw
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Nil => Ok(None),
                    Value::F64(x) => Ok(Some(*x)),
                    Value::F32(x) => Ok(Some(f64::from(*x))),
                    Value::Integer(_) => {
                        ints[i] = true;
                        Ok(number(v))
                    }
                    _ => Err(format!("series {name}: a value is not a number")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut series = Series::new(name, start, end, step, values);
            if ints.contains(&true) {
                series.ints = Some(ints);
            }
            if let Some(p) = field(map, "pathExpression").and_then(Value::as_str) {
                p.clone_into(&mut series.path_expression);
            }
            Ok(series)
        })
        .collect()
}

/// One item of a msgpack document as [`Reader`] meets it: a container's length, its
/// items following.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Item<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    /// Above `i64::MAX`.
    Big(u64),
    F32(f32),
    F64(f64),
    /// A `str`'s bytes (not checked as UTF-8 yet).
    Str(&'a [u8]),
    /// `bin` and `ext`.
    Other,
    Array(usize),
    Map(usize),
}

impl Item<'_> {
    fn number(self) -> Option<f64> {
        match self {
            Item::Int(i) => Some(i as f64),
            Item::Big(u) => Some(u as f64),
            Item::F32(x) => Some(f64::from(x)),
            Item::F64(x) => Some(x),
            _ => None,
        }
    }

    /// As rmpv's `as_i64`, else the number truncated.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "as a frontend reads it: truncated"
    )]
    fn int(self) -> Option<i64> {
        match self {
            Item::Int(i) => Some(i),
            other => other.number().map(|f| f as i64),
        }
    }
}

/// A msgpack reader over a member's body, item by item (a render's values go straight
/// into a series, with no tree of values in between).
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("bad msgpack: the answer ends early")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len(&mut self, width: usize) -> Result<usize, String> {
        Ok(match width {
            1 => usize::from(self.array::<1>()?[0]),
            2 => usize::from(u16::from_be_bytes(self.array()?)),
            _ => u32::from_be_bytes(self.array()?) as usize,
        })
    }

    fn next(&mut self) -> Result<Item<'a>, String> {
        let marker = self.take(1)?[0];
        Ok(match marker {
            0x00..=0x7f => Item::Int(i64::from(marker)),
            0x80..=0x8f => Item::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Item::Array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => Item::Str(self.take(usize::from(marker & 0x1f))?),
            0xc0 => Item::Nil,
            0xc2 => Item::Bool(false),
            0xc3 => Item::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (marker - 0xc4))?;
                self.take(n)?;
                Item::Other
            }
            0xc7..=0xc9 => {
                let n = self.len(1 << (marker - 0xc7))?;
                self.take(n + 1)?;
                Item::Other
            }
            0xca => Item::F32(f32::from_be_bytes(self.array()?)),
            0xcb => Item::F64(f64::from_be_bytes(self.array()?)),
            0xcc => Item::Int(i64::from(self.array::<1>()?[0])),
            0xcd => Item::Int(i64::from(u16::from_be_bytes(self.array()?))),
            0xce => Item::Int(i64::from(u32::from_be_bytes(self.array()?))),
            0xcf => {
                let u = u64::from_be_bytes(self.array()?);
                i64::try_from(u).map_or(Item::Big(u), Item::Int)
            }
            0xd0 => Item::Int(i64::from(i8::from_be_bytes(self.array()?))),
            0xd1 => Item::Int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Item::Int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Item::Int(i64::from_be_bytes(self.array()?)),
            0xd4..=0xd8 => {
                self.take(1 + (1 << (marker - 0xd4)))?;
                Item::Other
            }
            0xd9..=0xdb => {
                let n = self.len(1 << (marker - 0xd9))?;
                Item::Str(self.take(n)?)
            }
            0xdc | 0xdd => Item::Array(self.len(if marker == 0xdc { 2 } else { 4 })?),
            0xde | 0xdf => Item::Map(self.len(if marker == 0xde { 2 } else { 4 })?),
            0xe0..=0xff => Item::Int(i64::from(marker as i8)),
            0xc1 => return Err("bad msgpack: reserved byte 0xc1".into()),
        })
    }

    /// Skips `first` and everything it holds (without recursion: nesting costs nothing).
    fn skip(&mut self, first: Item<'a>) -> Result<(), String> {
        let mut left: usize = 0;
        let mut item = first;
        loop {
            match item {
                Item::Array(n) => left = left.saturating_add(n),
                Item::Map(n) => left = left.saturating_add(n.saturating_mul(2)),
                _ => {}
            }
            if left == 0 {
                return Ok(());
            }
            left -= 1;
            item = self.next()?;
        }
    }
}

/// A msgpack render answer read straight into series: the same values and the same
/// refusals as [`decode_render`] of the document (a list of dicts with `name`, `start`,
/// `end`, `step`, `values`, `pathExpression`; other keys skipped; nothing after it).
pub fn decode_render_msgpack(bytes: &[u8]) -> Result<Vec<Series>, String> {
    let mut rd = Reader { bytes, pos: 0 };
    let Item::Array(n) = rd.next()? else {
        return Err("a render answer is not a list".into());
    };
    let mut out = Vec::with_capacity(n.min(bytes.len()));
    for _ in 0..n {
        let Item::Map(keys) = rd.next()? else {
            return Err("a series is not a dict".into());
        };
        let (mut name, mut start, mut end, mut step) = (None, None, None, None);
        let (mut values, mut ints, mut path_expression) = (None, None, None);
        let mut bad_value = false;
        for _ in 0..keys {
            let key = rd.next()?;
            let value = rd.next()?;
            let key = match key {
                Item::Str(k) => k,
                other => {
                    rd.skip(other)?;
                    rd.skip(value)?;
                    continue;
                }
            };
            let text = |v: Item<'_>| match v {
                Item::Str(s) => std::str::from_utf8(s).ok().map(str::to_string),
                _ => None,
            };
            match key {
                b"name" if name.is_none() => name = Some(text(value)),
                b"start" if start.is_none() => start = Some(value.int()),
                b"end" if end.is_none() => end = Some(value.int()),
                b"step" if step.is_none() => step = Some(value.int()),
                b"pathExpression" if path_expression.is_none() => {
                    path_expression = Some(text(value));
                }
                b"values" if values.is_none() => {
                    let Item::Array(len) = value else {
                        values = Some(None);
                        rd.skip(value)?;
                        continue;
                    };
                    let mut list = Vec::with_capacity(len.min(bytes.len() - rd.pos));
                    let mut marks: Option<Vec<bool>> = None;
                    for i in 0..len {
                        // The usual values first: a float64, a nil.
                        match &rd.bytes[rd.pos..] {
                            [0xcb, rest @ ..] if rest.len() >= 8 => {
                                let mut be = [0; 8];
                                be.copy_from_slice(&rest[..8]);
                                list.push(Some(f64::from_be_bytes(be)));
                                rd.pos += 9;
                                continue;
                            }
                            [0xc0, ..] => {
                                list.push(None);
                                rd.pos += 1;
                                continue;
                            }
                            _ => {}
                        }
                        let v = rd.next()?;
                        list.push(match v {
                            Item::Nil => None,
                            Item::F64(x) => Some(x),
                            Item::F32(x) => Some(f64::from(x)),
                            Item::Int(_) | Item::Big(_) => {
                                marks.get_or_insert_with(|| vec![false; len])[i] = true;
                                v.number()
                            }
                            other => {
                                bad_value = true;
                                rd.skip(other)?;
                                None
                            }
                        });
                    }
                    values = Some(Some(list));
                    ints = marks;
                }
                _ => rd.skip(value)?,
            }
        }
        let name = name.flatten().ok_or("a series has no name")?;
        let no = |k: &str| format!("series {name}: no {k}");
        let start = start.flatten().ok_or_else(|| no("start"))?;
        let end = end.flatten().ok_or_else(|| no("end"))?;
        let step = step.flatten().ok_or_else(|| no("step"))?;
        if step <= 0 {
            return Err(format!("series {name}: step {step}"));
        }
        let values = values.flatten().ok_or_else(|| no("values"))?;
        if bad_value {
            return Err(format!("series {name}: a value is not a number"));
        }
        let mut series = Series::new(&name, start, end, step, values);
        series.ints = ints;
        if let Some(p) = path_expression.flatten() {
            series.path_expression = p;
        }
        out.push(series);
    }
    if rd.pos != bytes.len() {
        return Err("bytes after the msgpack document".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_members_write() {
        let mut a = Series::new("a.b", 10, 40, 10, vec![Some(1.5), None, Some(2.0)]);
        a.path_expression = "a.*".into();
        a.ints = Some(vec![false, false, true]);
        let body = crate::http::msgpack::render_msgpack_within(&[a], usize::MAX).unwrap();
        let back = decode_render(&rmpv::decode::read_value(&mut &body[..]).unwrap()).unwrap();
        assert_eq!(back[0].name, "a.b");
        assert_eq!(back[0].path_expression, "a.*");
        assert_eq!(back[0].values, vec![Some(1.5), None, Some(2.0)]);
        assert_eq!(back[0].ints, Some(vec![false, false, true]));
        let nodes = [FindNode {
            path: "x.y".into(),
            is_leaf: true,
            intervals: vec![(1.0, 2.0)],
        }];
        let body = crate::http::msgpack::find_msgpack(&nodes);
        let back = decode_find(&rmpv::decode::read_value(&mut &body[..]).unwrap()).unwrap();
        assert_eq!(back, nodes);
    }

    /// The straight msgpack reader gives what [`decode_render`] gives of the same bytes
    /// read as a value tree: series, ints marked, odd encodings of numbers, keys in
    /// another order, unknown and nested keys skipped, and the same refusals.
    #[test]
    fn straight_reader_reads_as_the_tree() {
        use rmpv::Value as V;
        let m = |pairs: Vec<(V, V)>| V::Map(pairs);
        let k = |s: &str| V::from(s);
        let good = |name: V, values: V| {
            m(vec![
                (k("xFilesFactor"), V::F64(0.5)),
                (k("name"), name),
                (k("start"), V::from(1_700_000_000u64)),
                (k("end"), V::F64(1_700_000_030.0)),
                (k("step"), V::F32(10.0)),
                (k("values"), values),
                (
                    k("nested"),
                    V::Array(vec![m(vec![(k("a"), V::Array(vec![V::Nil; 20]))])]),
                ),
                (V::from(7), V::Binary(vec![1, 2, 3])),
                (k("pathExpression"), k("a.*")),
                (k("valuesPerPoint"), V::from(1)),
                (k("ext"), V::Ext(3, vec![0; 5])),
            ])
        };
        let values = V::Array(vec![
            V::F64(1.5),
            V::Nil,
            V::from(-3),
            V::from(u64::MAX),
            V::F32(0.25),
            V::from(-70_000),
            V::from(300),
        ]);
        let long = "x".repeat(300);
        let docs = vec![
            V::Array(vec![]),
            V::Array(vec![
                good(k("a.b"), values.clone()),
                good(k(&long), V::Array(vec![])),
            ]),
            V::Array(
                (0..20)
                    .map(|i| good(k(&format!("s{i}")), values.clone()))
                    .collect(),
            ),
            V::Array(vec![good(k("a"), V::Array(vec![V::Array(vec![])]))]),
            V::Array(vec![good(k("a"), V::from("no"))]),
            V::Array(vec![good(V::Binary(b"a".to_vec()), values.clone())]),
            V::Array(vec![good(V::from(3), values.clone())]),
            V::Array(vec![m(vec![(k("name"), k("a"))])]),
            V::Array(vec![m(vec![
                (k("name"), k("a")),
                (k("start"), V::from(0)),
                (k("end"), V::from(10)),
                (k("step"), V::from(0)),
                (k("values"), V::Array(vec![])),
            ])]),
            V::Array(vec![V::from(1)]),
            m(vec![]),
            V::from("x"),
        ];
        for doc in docs {
            let mut bytes = Vec::new();
            rmpv::encode::write_value(&mut bytes, &doc).unwrap();
            let tree = decode_render(&doc);
            assert_eq!(decode_render_msgpack(&bytes).is_ok(), tree.is_ok(), "{doc}");
            if let Ok(want) = tree {
                assert_eq!(decode_render_msgpack(&bytes).unwrap(), want, "{doc}");
                for cut in [1, bytes.len() / 2, bytes.len() - 1] {
                    if cut < bytes.len() {
                        assert!(
                            decode_render_msgpack(&bytes[..cut]).is_err(),
                            "{doc} cut {cut}"
                        );
                    }
                }
                bytes.push(0xc0);
                assert!(decode_render_msgpack(&bytes).is_err(), "{doc} and a byte");
            }
        }
        assert!(decode_render_msgpack(&[0xc1]).is_err());
        assert!(decode_render_msgpack(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    /// Answers as hyper's client reads them: chunked msgpack, a status other than 200,
    /// one past `http.max_response_bytes`, a connection refused; each failure is the
    /// member's, counted, and the others' answers still come.
    #[test]
    fn members_answers_and_failures() {
        use std::io::{Read as _, Write as _};
        let nodes = vec![FindNode {
            path: "a.b".into(),
            is_leaf: false,
            intervals: Vec::new(),
        }];
        let body = crate::http::msgpack::find_msgpack(&nodes);
        let (first, rest) = body.split_at(1);
        let mut chunked = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {MSGPACK}\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n"
        )
        .into_bytes();
        chunked.extend_from_slice(first);
        chunked.extend_from_slice(format!("\r\n{:x}\r\n", rest.len()).as_bytes());
        chunked.extend_from_slice(rest);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        let answers = [
            chunked,
            b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec(),
            [
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {MSGPACK}\r\nContent-Length: 2000\r\n\r\n"
                )
                .as_bytes(),
                &[0xc0; 2000],
            ]
            .concat(),
        ];
        let mut servers: Vec<String> = answers
            .into_iter()
            .map(|answer| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap().to_string();
                std::thread::spawn(move || {
                    for mut conn in l.incoming().flatten() {
                        let _ = conn.read(&mut [0u8; 4096]);
                        let _ = conn.write_all(&answer);
                    }
                });
                addr
            })
            .collect();
        servers.push({
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        });
        with_cluster(servers, |cluster, deadline| {
            assert_eq!(cluster.find("a.*", None, None, deadline), vec![nodes]);
            let failures: Vec<u64> = cluster
                .members
                .iter()
                .map(|m| m.failures.load(Ordering::Relaxed))
                .collect();
            assert_eq!(failures, [0, 1, 1, 1]);
        });
    }

    /// A render whose query string is too long for a GET is a form POST, with the
    /// parameters in the same order.
    #[test]
    fn many_targets_are_posted() {
        use std::io::{Read as _, Write as _};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.ends_with(b"&now=30") {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "{}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Type: {MSGPACK}\r\nContent-Length: 1\r\n\r\n");
            conn.write_all(&[head.as_bytes(), b"\x90"].concat())
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let targets: Vec<String> = (0..300).map(|i| format!("a.b.c{i}")).collect();
        with_cluster(vec![addr], |cluster, deadline| {
            let got = cluster.render(|_| targets.clone(), 10, 20, 30, deadline);
            assert_eq!(got.len(), 1);
            assert!(got[0].is_empty());
        });
        let request = server.join().unwrap();
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /render/ HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains("content-type: application/x-www-form-urlencoded\r\n"),
            "{head}"
        );
        assert!(
            body.starts_with(
                "format=msgpack&local=1&noCache=1&from=10&until=20&target=a.b.c0&target=a.b.c1&"
            ),
            "{body}"
        );
    }

    /// Runs `f` with a cluster of `servers` (answers up to 1000 bytes) on a runtime driven
    /// by another thread, as the query thread drives it for the query workers.
    fn with_cluster(servers: Vec<String>, f: impl FnOnce(&Cluster, Instant)) {
        let config = ClusterConfig {
            servers,
            find_timeout: Duration::from_secs(3),
            fetch_timeout: Duration::from_secs(6),
            fetch_attempts: 2,
            retry_delay: Duration::from_secs(60),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let cluster = {
            let _rt = rt.enter();
            Cluster::new(&config, 1000, Duration::from_secs(10)).unwrap()
        };
        let driver = std::thread::spawn(move || rt.block_on(stopped));
        f(&cluster, Instant::now() + Duration::from_secs(10));
        let _ = stop.send(());
        driver.join().unwrap().unwrap();
    }

    #[test]
    fn no_msgpack_content_type_is_a_pickle() {
        let a = Answer {
            content_type: String::new(),
            body: axum::body::Bytes::from_static(b"\x90"),
        };
        assert!(msgpack_of(&a).is_err(), "not a pickle");
        let a = Answer {
            content_type: MSGPACK.into(),
            ..a
        };
        assert_eq!(msgpack_of(&a), Ok(Value::Array(Vec::new())));
    }
}
