//! Talking to other nodes: carbon plaintext out, the render API's msgpack answers in.
//!
//! [`Carbon`] is one TCP connection to a node's carbon port, written through a buffer and
//! flushed per batch; carbon has no acknowledgement, so what arrived is learnt from the
//! render API ([`Render`]). [`Render`] asks `GET /render/?format=msgpack&local=1&noCache=1`
//! with `from`, `until`, `now` and one `target` per name (graphite-web's member request,
//! so a graphite-web 1.1 or go-carbon node answers too), splitting a long list over
//! several requests, and decodes graphite-web's answer, a list of `{name, start, end,
//! step, values}` maps; msgpack carries each value as its IEEE-754 bits, so values are
//! compared exactly. A request that fails for several names is asked again name by name,
//! so one name the node refuses (a target it cannot parse) fails alone.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rmpv::Value;

/// How long a connect or a write to a carbon port may take.
pub const CARBON_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one render request may take.
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest query string of one render request (the targets past it go in another).
pub const MAX_QUERY: usize = 7000;

/// Largest render answer read.
pub const MAX_ANSWER: usize = 256 << 20;

/// A carbon plaintext connection.
pub struct Carbon {
    out: BufWriter<TcpStream>,
}

impl Carbon {
    /// Connects to `addr` (`HOST:PORT`).
    pub fn connect(addr: &str) -> io::Result<Self> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address"));
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, CARBON_TIMEOUT) {
                Ok(s) => {
                    s.set_write_timeout(Some(CARBON_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    return Ok(Self {
                        out: BufWriter::with_capacity(256 << 10, s),
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The buffered writer lines go to.
    pub fn writer(&mut self) -> &mut impl Write {
        &mut self.out
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One series of a render answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub start: i64,
    pub step: i64,
    pub values: Vec<Option<f64>>,
}

/// A node's render API at a base URL (`http://HOST:PORT[/prefix]`).
pub struct Render {
    base: String,
    client: Client<HttpConnector, String>,
    runtime: tokio::runtime::Runtime,
}

impl Render {
    /// A client for `base` (checked by [`parse_base`] first).
    pub fn new(base: &str) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = {
            let _guard = runtime.enter();
            Client::builder(TokioExecutor::new()).build_http()
        };
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            runtime,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Each name's series in `(from, until]` at `now` (names the node does not know are
    /// left out of the map), or an error per name that could not be asked.
    pub fn fetch(
        &self,
        names: &[&str],
        from: i64,
        until: i64,
        now: i64,
    ) -> (HashMap<String, Answer>, Vec<(String, String)>) {
        let mut found = HashMap::new();
        let mut failed = Vec::new();
        for group in split(names) {
            match self.request(group, from, until, now) {
                Ok(a) => found.extend(a),
                Err(e) if group.len() == 1 => failed.push((group[0].to_owned(), e)),
                Err(_) => {
                    for &name in group {
                        match self.request(&[name], from, until, now) {
                            Ok(a) => found.extend(a),
                            Err(e) => failed.push((name.to_owned(), e)),
                        }
                    }
                }
            }
        }
        (found, failed)
    }

    fn request(
        &self,
        names: &[&str],
        from: i64,
        until: i64,
        now: i64,
    ) -> Result<HashMap<String, Answer>, String> {
        let uri = format!("{}/render/?{}", self.base, query(names, from, until, now));
        let request = Request::get(uri)
            .body(String::new())
            .map_err(|e| e.to_string())?;
        let client = self.client.clone();
        let body = self.runtime.block_on(async move {
            let exchange = async {
                let response = client.request(request).await.map_err(|e| chain(&e))?;
                let status = response.status();
                let body = Limited::new(response.into_body(), MAX_ANSWER)
                    .collect()
                    .await
                    .map_err(|e| chain(&*e))?
                    .to_bytes();
                if status != hyper::StatusCode::OK {
                    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
                    return Err(format!("HTTP status {}: {}", status.as_u16(), text.trim()));
                }
                Ok(body)
            };
            tokio::time::timeout(RENDER_TIMEOUT, exchange)
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {RENDER_TIMEOUT:?}")))
        })?;
        decode(&body)
    }
}

/// The render query string for `names`.
fn query(names: &[&str], from: i64, until: i64, now: i64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("format", "msgpack")
        .append_pair("local", "1")
        .append_pair("noCache", "1")
        .append_pair("from", &from.to_string())
        .append_pair("until", &until.to_string())
        .append_pair("now", &now.to_string());
    for n in names {
        q.append_pair("target", n);
    }
    q.finish()
}

/// `names` cut into runs whose query strings stay under [`MAX_QUERY`] (a longer name
/// goes alone).
fn split<'a, 'b>(names: &'b [&'a str]) -> Vec<&'b [&'a str]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut len = 0;
    for (i, n) in names.iter().enumerate() {
        // `&target=` and up to three bytes per byte percent-encoded.
        let cost = 8 + 3 * n.len();
        if i > start && len + cost > MAX_QUERY {
            out.push(&names[start..i]);
            start = i;
            len = 0;
        }
        len += cost;
    }
    if start < names.len() {
        out.push(&names[start..]);
    }
    out
}

/// graphite-web's msgpack render answer, by series name (the first of a name wins).
pub fn decode(body: &[u8]) -> Result<HashMap<String, Answer>, String> {
    let v = rmpv::decode::read_value(&mut &body[..])
        .map_err(|e| format!("the answer is not msgpack: {e}"))?;
    let list = v.as_array().ok_or("the answer is not a list")?;
    let mut out = HashMap::new();
    for s in list {
        let map = s.as_map().ok_or("a series is not a map")?;
        let field = |k: &str| {
            map.iter()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v)
        };
        let name = field("name")
            .and_then(Value::as_str)
            .ok_or("a series has no name")?;
        let int = |k: &str| {
            field(k)
                .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
                .ok_or_else(|| format!("series {name}: no {k}"))
        };
        let (start, step) = (int("start")?, int("step")?);
        let values = field("values")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("series {name}: no values"))?
            .iter()
            .map(|v| match v {
                Value::Nil => Ok(None),
                Value::F64(x) => Ok(Some(*x)),
                Value::F32(x) => Ok(Some(f64::from(*x))),
                Value::Integer(i) => Ok(i.as_i64().map(|i| i as f64).or(i.as_f64())),
                _ => Err(format!("series {name}: a value is not a number")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.entry(name.to_owned()).or_insert(Answer {
            start,
            step,
            values,
        });
    }
    Ok(out)
}

/// An error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Checks a `--http` base URL: `http://HOST[:PORT][/PREFIX]`, no query or fragment.
pub fn parse_base(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        if url.starts_with("https://") {
            format!("`{url}`: https is not supported; give the node's plain http address")
        } else {
            format!("`{url}`: expected http://HOST[:PORT][/PREFIX]")
        }
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || url.contains(['?', '#', ' ']) {
        return Err(format!("`{url}`: expected http://HOST[:PORT][/PREFIX]"));
    }
    url.parse::<hyper::Uri>()
        .map_err(|e| format!("`{url}`: {e}"))?;
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_target_lists_are_split() {
        let names: Vec<String> = (0..500)
            .map(|i| format!("some.long.metric.name.{i}"))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let groups = split(&refs);
        assert!(groups.len() > 1);
        assert_eq!(groups.iter().map(|g| g.len()).sum::<usize>(), 500);
        for g in &groups {
            assert!(query(g, 1, 2, 3).len() <= MAX_QUERY + 100, "{}", g.len());
        }
        let huge = "x".repeat(MAX_QUERY * 2);
        assert_eq!(split(&[huge.as_str(), "a"]).len(), 2);
        assert!(split(&[]).is_empty());
    }

    #[test]
    fn decodes_our_own_msgpack_answer() {
        let mut a = crate::query::series::Series::new(
            "a.b",
            100,
            130,
            10,
            vec![Some(0.1), None, Some(-2.0)],
        );
        a.path_expression = "a.b".into();
        let body = crate::http::msgpack::render_msgpack_within(&[a], usize::MAX).unwrap();
        let got = decode(&body).unwrap();
        assert_eq!(
            got["a.b"],
            Answer {
                start: 100,
                step: 10,
                values: vec![Some(0.1), None, Some(-2.0)]
            }
        );
        assert!(decode(b"\x01").is_err());
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base("http://127.0.0.2:8080/").unwrap(),
            "http://127.0.0.2:8080"
        );
        assert_eq!(
            parse_base("http://graphite/prefix").unwrap(),
            "http://graphite/prefix"
        );
        assert!(parse_base("https://h").unwrap_err().contains("https"));
        assert!(parse_base("127.0.0.1:8080").is_err());
        assert!(parse_base("http://").is_err());
        assert!(parse_base("http://h/?a=b").is_err());
    }
}
