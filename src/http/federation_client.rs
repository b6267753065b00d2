//! A frontend's side of graphite-web's cluster protocol: asking every member of
//! `[cluster] servers` at once, as graphite-web's `RemoteFinder` / `RemoteReader` do.
//!
//! Each member is asked with `local=<its local, default 1>` (so it answers from its own
//! data) and `format=<its format, default msgpack>`, the answer read as msgpack when its
//! content type says so and as a pickle otherwise (as graphite-web reads it); a finds, index.json and autocompletion answer must come
//! within `cluster.find_timeout` (3 s), a render attempt within `cluster.fetch_timeout`
//! (6 s), tried `cluster.fetch_attempts` (2) times, and never past the request's own
//! deadline (less a tenth of `http.timeout`, at most 1 s, to answer with what came). A member that fails (no connection, a timeout, a status other than 200, an
//! answer that is not msgpack of the expected shape) is counted and left out for
//! `cluster.retry_delay` (60 s); the answer is then partial, never an error. A success
//! puts a member back at once. `/health` lists each member's failures and skips.
//!
//! Members are asked in parallel, one thread each (the query workers are blocking
//! threads), over HTTP/1.1 with hyper's client: each request is a task on the query
//! thread's runtime, which also carries the connections, kept open for a second and
//! reused; the member's thread waits for the task and decodes the answer. A render
//! carrying many targets is sent with `POST` as a form (graphite-web's members read
//! either). Answers are bounded by `http.max_response_bytes` and a nesting depth.

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

/// A member's answer.
struct Answer {
    content_type: String,
    body: Vec<u8>,
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
                .build_http(),
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

    /// Runs `ask` for every member not left out, in parallel; the answers in member order
    /// (`None` for a member left out or failed).
    fn each<T: Send>(
        &self,
        ask: impl Fn(&MemberState) -> Result<T, String> + Sync,
    ) -> Vec<Option<T>> {
        std::thread::scope(|scope| {
            let jobs: Vec<_> = self
                .members
                .iter()
                .map(|m| {
                    let left_out =
                        lock(&m.last_failure).is_some_and(|t| t.elapsed() < self.retry_delay);
                    if left_out {
                        m.skipped.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                    let ask = &ask;
                    Some(scope.spawn(move || ask(m)))
                })
                .collect();
            jobs.into_iter()
                .zip(&self.members)
                .map(|(job, m)| {
                    let result = job?.join().unwrap_or_else(|_| Err("panicked".to_string()));
                    match result {
                        Ok(v) => {
                            *lock(&m.last_failure) = None;
                            Some(v)
                        }
                        Err(e) => {
                            m.failures.fetch_add(1, Ordering::Relaxed);
                            *lock(&m.last_failure) = Some(Instant::now());
                            tracing::warn!(member = %m.member, error = %e, "cluster member failed: left out for a while");
                            None
                        }
                    }
                })
                .collect()
        })
    }

    /// One request to `m`, within `timeout` and `deadline`.
    fn request(
        &self,
        m: &Member,
        path: &str,
        params: &[(&str, &str)],
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Answer, String> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for &(k, v) in params {
            query.append_pair(k, if v == LOCAL { &m.local } else { v });
        }
        let query = query.finish();
        let deadline = deadline.checked_sub(self.margin).unwrap_or(deadline);
        let end = deadline.min(Instant::now() + timeout);
        let uri = format!("http://{}{}{path}", m.authority, m.prefix);
        let request = if query.len() > MAX_GET {
            Request::post(uri)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(query)
        } else {
            Request::get(format!("{uri}?{query}")).body(String::new())
        }
        .map_err(|e| e.to_string())?;
        let (client, max_bytes) = (self.client.clone(), self.max_bytes);
        let task = self.runtime.spawn(async move {
            tokio::time::timeout_at(end.into(), exchange(&client, request, max_bytes)).await
        });
        // Waited for without tokio's timers: a runtime stopped meanwhile ends the task.
        match futures_lite::future::block_on(task) {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("no answer in time".into()),
            Err(_) => Err("the server is stopping".into()),
        }
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
        let answers = self.each(|m| {
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
            let a = self.request(
                &m.member,
                "/metrics/find/",
                &params,
                self.find_timeout,
                deadline,
            )?;
            decode_find(&msgpack_of(&a)?)
        });
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
        let answers = self.each(|m| {
            let targets = targets(&m.member);
            if targets.is_empty() {
                return Ok(Vec::new());
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
            let mut attempt = 1;
            loop {
                let got = self
                    .request(&m.member, "/render/", &params, self.fetch_timeout, deadline)
                    .and_then(|a| decode_render(&msgpack_of(&a)?));
                match got {
                    Ok(series) => return Ok(series),
                    Err(e) if attempt >= self.fetch_attempts || Instant::now() >= deadline => {
                        return Err(e)
                    }
                    Err(e) => {
                        tracing::info!(member = %m.member, error = %e, attempt, "cluster render failed: trying again");
                        attempt += 1;
                    }
                }
            }
        });
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
        let answers = self.each(|m| {
            let a = self.request(&m.member, path, params, self.find_timeout, deadline)?;
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
        });
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
        .to_bytes()
        .into();
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
            body: b"\x90".to_vec(),
        };
        assert!(msgpack_of(&a).is_err(), "not a pickle");
        let a = Answer {
            content_type: MSGPACK.into(),
            ..a
        };
        assert_eq!(msgpack_of(&a), Ok(Value::Array(Vec::new())));
    }
}
