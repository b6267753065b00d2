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
//! threads), over plain HTTP/1.1 with `Connection: close`; a render carrying many targets
//! is sent with `POST` as a form (graphite-web's members read either). Answers are bounded by
//! `http.max_response_bytes` and a nesting depth.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmpv::Value;

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
        let left = || {
            end.checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| "no answer in time".to_string())
        };
        let addr = m
            .authority
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", m.authority))?
            .next()
            .ok_or_else(|| format!("{} has no address", m.authority))?;
        let mut sock = TcpStream::connect_timeout(&addr, left()?).map_err(|e| e.to_string())?;
        let host = &m.authority;
        let head = if query.len() > MAX_GET {
            format!(
                "POST {}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{query}",
                m.prefix,
                query.len()
            )
        } else {
            format!(
                "GET {}{path}?{query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
                m.prefix
            )
        };
        sock.set_write_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        sock.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            sock.set_read_timeout(Some(left()?))
                .map_err(|e| e.to_string())?;
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
            if raw.len() > self.max_bytes.saturating_add(64 << 10) {
                return Err("answer larger than http.max_response_bytes".into());
            }
            if complete(&raw) {
                // A server that keeps the connection open past its answer is not waited for.
                break;
            }
        }
        parse_response(&raw)
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

/// Whether `raw` holds a whole answer: its headers and `Content-Length` bytes, or a
/// chunked body's last chunk. (Without either, the answer ends when the server closes.)
fn complete(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = raw.len() - split - 4;
    for line in head.split("\r\n") {
        if let Some(v) = line.strip_prefix("content-length:") {
            return v.trim().parse::<usize>().is_ok_and(|n| body >= n);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return raw.ends_with(b"\r\n0\r\n\r\n") || body == 5 && raw.ends_with(b"0\r\n\r\n");
        }
    }
    false
}

/// Status line, headers and body of an HTTP/1.1 answer read to its end.
fn parse_response(raw: &[u8]) -> Result<Answer, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header in the answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("no HTTP status in the answer")?;
    let mut content_type = String::new();
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-type" => v.clone_into(&mut content_type),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "content-length" => length = v.parse::<usize>().ok(),
            _ => {}
        }
    }
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let rest = &raw[split + 4..];
    let body = if chunked {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let eol = rest[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("a chunk is cut short")?
                + pos;
            let size_text = String::from_utf8_lossy(&rest[pos..eol]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "a bad chunk size")?;
            if size == 0 {
                break;
            }
            let data = rest
                .get(eol + 2..eol + 2 + size)
                .ok_or("a chunk is cut short")?;
            body.extend_from_slice(data);
            pos = eol + 2 + size + 2;
        }
        body
    } else {
        match length {
            Some(n) => rest.get(..n).ok_or("the answer is cut short")?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Ok(Answer { content_type, body })
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

    #[test]
    fn answers_known_complete() {
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"));
        assert!(complete(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
        ));
        assert!(complete(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ));
        assert!(!complete(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"
        ));
        assert!(!complete(b"HTTP/1.0 200 OK\r\n\r\nabc"), "ends at close");
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\x91\xc0\r\n0\r\n\r\n").unwrap();
        assert_eq!(
            (r.content_type.as_str(), r.body.as_slice()),
            (MSGPACK, &b"\x91\xc0"[..])
        );
        let r = parse_response(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n\x90junk").unwrap();
        assert_eq!(r.body, b"\x90");
        assert!(parse_response(b"HTTP/1.1 500 Oops\r\n\r\n").is_err());
        assert!(parse_response(b"garbage").is_err());
        assert!(
            msgpack_of(&r).is_err(),
            "no content type: a pickle, and not one"
        );
    }
}
