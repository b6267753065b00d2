//! `/metrics/find`, `/metrics/expand` and `/metrics/index.json` (graphite-web's
//! `metrics/views.py`), answered from the in-memory name index.
//!
//! find formats: `treejson` (default; Grafana's), `completer`, `json` (leaves carry
//! `intervals`: `[now - maxRetention, mtime]` of the file), `nodelist` (`position`,
//! default -1), and the cluster protocol's `pickle` and `msgpack` (a list of `{path,
//! is_leaf, intervals}`, [`super::federation`]), which a graphite-web frontend asks its
//! members for. `wildcards=1` adds graphite's `*` node, `leavesOnly=1` keeps leaves.
//!
//! With `[cluster] servers` (a frontend), find, expand and index.json also ask every
//! member ([`super::federation_client`]) and merge: a branch once per path, a leaf once per
//! path with every member's intervals, index.json's names as one sorted set. `local=1`
//! (what a frontend sends its members) answers from this node's own data. `from` and
//! `until` are passed on to members; this node's finder, as graphite-web's, ignores them.
//!
//! Each runs on the query workers ([`super::pool`]); a pattern's walk is bounded by the
//! candidates it tries (`http.max_glob_candidates`: 400) and by the request's time limit
//! (503), see [`crate::query::glob`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::federation::{FindNode, MSGPACK, PICKLE};
use super::federation_client::Cluster;
use super::pyjson::Value;
use super::{json_for, limit_status, reply, text, Req, Shared};
use crate::query::budget::Budget;
use crate::query::glob::{FindMatch, GlobError, NameIndex, Pattern};

fn no_cache(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn node_name(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// `unquote_plus` of a node name (`%41` → `A`, `+` → space).
fn unquote_plus(s: &str) -> String {
    super::params::decode(s.as_bytes())
}

/// The answer to a pattern refused: a limit's status (400, or 503 once stopped) or 400.
fn glob_refused(query: &str, e: &GlobError) -> Response {
    match e {
        GlobError::Budget(limit) => text(limit_status(limit), format!("query {query:?}: {e}")),
        _ => text(StatusCode::BAD_REQUEST, format!("query {query:?}: {e}")),
    }
}

/// The index entries `pattern` matches, within the request's budget. The braces are
/// expanded before the index is locked (the admin interface and the shards' new names
/// wait for that lock), the walk holds it.
fn find_in(shared: &Shared, pattern: &str, budget: &Budget) -> Result<Vec<FindMatch>, GlobError> {
    let compiled = Pattern::compile(pattern, budget)?;
    shared
        .storage
        .with_index(|index| index.find_compiled(pattern, &compiled, budget))
}

/// Whether a request is to be answered from this node's data only: no `[cluster]`
/// members, or a member's request (`local=1`).
fn local_only<'a>(shared: &'a Shared, req: &Req) -> Option<&'a Cluster> {
    shared
        .cluster
        .as_ref()
        .filter(|_| req.params.get("local") != Some("1"))
}

/// A request's deadline (its budget's, or `http.timeout` from now).
fn deadline(shared: &Shared, budget: &Budget) -> Instant {
    budget
        .limits()
        .deadline
        .unwrap_or_else(|| Instant::now() + shared.config.http.timeout)
}

/// Each leaf's intervals on the members.
type Intervals = HashMap<String, Vec<(f64, f64)>>;

/// The matches of `pattern` here and, on a frontend, on every member (graphite's
/// `Store.find`: branches once per path, leaves of one path once), with the members'
/// intervals of each leaf.
fn find_all(
    shared: &Shared,
    req: &Req,
    pattern: &str,
    budget: &Budget,
) -> Result<(Vec<FindMatch>, Intervals), GlobError> {
    let mut matches = find_in(shared, pattern, budget)?;
    let mut remote_intervals: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    if let Some(cluster) = local_only(shared, req) {
        let time = |k: &str| {
            req.params
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|&t| t != -1)
        };
        let mut seen: HashSet<(String, bool)> = matches
            .iter()
            .map(|m| (m.path.clone(), m.is_leaf))
            .collect();
        let nodes = cluster.find(
            pattern,
            time("from"),
            time("until"),
            deadline(shared, budget),
        );
        for node in nodes.into_iter().flatten() {
            if node.is_leaf {
                remote_intervals
                    .entry(node.path.clone())
                    .or_default()
                    .extend(node.intervals);
            }
            if seen.insert((node.path.clone(), node.is_leaf)) {
                matches.push(FindMatch {
                    path: node.path,
                    is_leaf: node.is_leaf,
                });
            }
        }
        matches.sort_by(|a, b| a.path.cmp(&b.path));
    }
    Ok((matches, remote_intervals))
}

/// `/metrics/find`.
pub async fn find(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    shared
        .query(move |shared, budget| no_cache(find_reply(shared, &req, budget)))
        .await
}

fn find_reply(shared: &Shared, req: &Req, budget: &Budget) -> Response {
    let p = &req.params;
    let format = p.get("format").unwrap_or("treejson");
    let flags = (|| Ok::<_, String>((p.int("leavesOnly", 0)?, p.int("wildcards", 0)?)))();
    let (leaves_only, wildcards) = match flags {
        Ok((l, w)) => (l != 0, w != 0),
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let Some(query) = p.get("query") else {
        return text(
            StatusCode::BAD_REQUEST,
            "Missing required parameter 'query'",
        );
    };
    if query.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "Required parameter 'query' is empty",
        );
    }
    let base_path = match query.rsplit_once('.') {
        Some((base, _)) => format!("{base}."),
        None => String::new(),
    };
    let mut query = query.to_string();
    if format == "completer" {
        query = query.replace("..", "*.");
        if !query.ends_with('*') {
            query.push('*');
        }
        if p.truthy("automatic_variants") {
            query = query
                .split('.')
                .map(|part| {
                    if part.contains(',') && !part.contains('{') {
                        format!("{{{part}}}")
                    } else {
                        part.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(".");
        }
    }
    let (mut matches, remote_intervals) = match find_all(shared, req, &query, budget) {
        Ok(m) => m,
        Err(e) => return glob_refused(&query, &e),
    };
    if leaves_only {
        matches.retain(|m| m.is_leaf);
    }
    // graphite sorts the nodes by name (stable).
    matches.sort_by(|a, b| node_name(&a.path).cmp(node_name(&b.path)));
    let body = match format {
        "treejson" => tree_json(&matches, &base_path, wildcards),
        "completer" => {
            let mut items: Vec<Value> = matches
                .iter()
                .map(|m| {
                    let mut path = m.path.clone();
                    if !m.is_leaf {
                        path.push('.');
                    }
                    Value::object([
                        ("path", Value::Str(path)),
                        ("name", Value::str(node_name(&m.path))),
                        ("is_leaf", Value::str(if m.is_leaf { "1" } else { "0" })),
                    ])
                })
                .collect();
            if items.len() > 1 && wildcards {
                items.push(Value::object([("name", Value::str("*"))]));
            }
            Value::object([("metrics", Value::List(items))])
        }
        "json" | "pickle" | "msgpack" => {
            let mut nodes: Vec<FindNode> = Vec::with_capacity(matches.len());
            for m in &matches {
                let mut intervals = Vec::new();
                let remote = remote_intervals.get(&m.path);
                if m.is_leaf {
                    // One file read per leaf: the request's time limit applies.
                    if let Err(e) = budget.tick() {
                        return text(limit_status(&e), e.to_string());
                    }
                    if remote.is_none() || shared.storage.with_index(|i| i.contains(&m.path)) {
                        intervals.push(interval(shared, &m.path));
                    }
                    intervals.extend(remote.into_iter().flatten().copied());
                }
                nodes.push(FindNode {
                    path: m.path.clone(),
                    is_leaf: m.is_leaf,
                    intervals,
                });
            }
            match format {
                "pickle" => return reply(StatusCode::OK, PICKLE, super::pickle::find_pickle(&nodes)),
                "msgpack" => {
                    return reply(StatusCode::OK, MSGPACK, super::msgpack::find_msgpack(&nodes))
                }
                _ => {}
            }
            nodes.sort_by(|a, b| a.path.cmp(&b.path));
            let items = nodes.into_iter().map(|n| {
                let mut fields = vec![
                    ("path".to_string(), Value::Str(n.path)),
                    ("is_leaf".to_string(), Value::Bool(n.is_leaf)),
                ];
                if n.is_leaf {
                    let list = n
                        .intervals
                        .iter()
                        .map(|&(start, end)| {
                            Value::object([("start", Value::Float(start)), ("end", Value::Float(end))])
                        })
                        .collect();
                    fields.push(("intervals".to_string(), Value::List(list)));
                }
                Value::Object(fields)
            });
            Value::List(items.collect())
        }
        "nodelist" => {
            let position = match p.int("position", -1) {
                Ok(n) => n,
                Err(e) => return text(StatusCode::BAD_REQUEST, e),
            };
            let mut nodes: Vec<String> = Vec::new();
            for m in &matches {
                let parts: Vec<&str> = m.path.split('.').collect();
                let i = if position < 0 {
                    parts.len() as i64 + position
                } else {
                    position
                };
                match usize::try_from(i).ok().and_then(|i| parts.get(i)) {
                    Some(node) => nodes.push((*node).to_string()),
                    None => {
                        return text(
                            StatusCode::BAD_REQUEST,
                            format!("position {position} is outside the path {}", m.path),
                        )
                    }
                }
            }
            nodes.sort();
            nodes.dedup();
            Value::object([("nodes", Value::strings(&nodes))])
        }
        other => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Invalid value for 'format' parameter: {other:?} (treejson, completer, json, nodelist, pickle or msgpack)"),
            )
        }
    };
    json_for(req, &body, false)
}

/// graphite's `tree_json`.
fn tree_json(matches: &[FindMatch], base_path: &str, wildcards: bool) -> Value {
    let branch = |text: String, id: String| {
        Value::object([
            ("text", Value::Str(text)),
            ("id", Value::Str(id)),
            ("allowChildren", Value::Int(1)),
            ("expandable", Value::Int(1)),
            ("leaf", Value::Int(0)),
        ])
    };
    let leaf = |text: String, id: String| {
        Value::object([
            ("text", Value::Str(text)),
            ("id", Value::Str(id)),
            ("allowChildren", Value::Int(0)),
            ("expandable", Value::Int(0)),
            ("leaf", Value::Int(1)),
        ])
    };
    let mut out = Vec::new();
    if matches.len() > 1 && wildcards {
        let (t, id) = ("*".to_string(), format!("{base_path}*"));
        out.push(if matches.iter().any(|m| !m.is_leaf) {
            branch(t, id)
        } else {
            leaf(t, id)
        });
    }
    let mut seen = std::collections::HashSet::new();
    let (mut branches, mut leaves) = (Vec::new(), Vec::new());
    for m in matches {
        let name = node_name(&m.path);
        if !seen.insert(name) {
            continue;
        }
        let (t, id) = (unquote_plus(name), format!("{base_path}{name}"));
        if m.is_leaf {
            leaves.push(leaf(t, id));
        } else {
            branches.push(branch(t, id));
        }
    }
    out.extend(branches);
    out.extend(leaves);
    Value::List(out)
}

/// A leaf's interval, as graphite-web's whisper reader gives it: `(now - maxRetention,
/// mtime)` of its file (the end never before the start), or up to now for a series not
/// yet written (its retention from the storage rules).
fn interval(shared: &Shared, name: &str) -> (f64, f64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let path = crate::storage::layout::metric_path(&shared.storage.data_dir, name).ok();
    let (retention, mtime) = path
        .as_deref()
        .map_or((None, None), super::federation::file_interval_parts);
    let retention = match retention {
        Some(r) => r,
        None => shared.storage.rules.as_ref().map_or(0.0, |r| {
            r.for_metric(name)
                .archives
                .iter()
                .map(|&(spp, n)| f64::from(spp) * f64::from(n))
                .fold(0.0, f64::max)
        }),
    };
    let start = now - retention;
    (start, mtime.unwrap_or(now).max(start))
}

/// `/metrics/expand`.
pub async fn expand(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    shared
        .query(move |shared, budget| expand_reply(shared, &req, budget))
        .await
}

fn expand_reply(shared: &Shared, req: &Req, budget: &Budget) -> Response {
    let p = &req.params;
    let flags = (|| Ok::<_, String>((p.int("groupByExpr", 0)?, p.int("leavesOnly", 0)?)))();
    let (group, leaves_only) = match flags {
        Ok((g, l)) => (g != 0, l != 0),
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let queries = p.all("query");
    let mut per_query: Vec<(String, Vec<String>)> = Vec::new();
    for q in &queries {
        let found = find_all(shared, req, q, budget).map(|(matches, _)| {
            let mut paths: Vec<String> = matches
                .into_iter()
                .filter(|m| m.is_leaf || !leaves_only)
                .map(|m| m.path)
                .collect();
            paths.dedup();
            paths
        });
        match found {
            Ok(paths) => per_query.push(((*q).to_string(), paths)),
            Err(e) => return glob_refused(q, &e),
        }
    }
    let results = if group {
        let mut pairs: Vec<(String, Value)> = Vec::new();
        for (q, paths) in per_query {
            let v = Value::strings(&paths);
            match pairs.iter_mut().find(|(k, _)| *k == q) {
                Some(slot) => slot.1 = v,
                None => pairs.push((q, v)),
            }
        }
        Value::Object(pairs)
    } else {
        let mut all: Vec<String> = per_query.into_iter().flat_map(|(_, p)| p).collect();
        all.sort();
        all.dedup();
        Value::strings(&all)
    };
    json_for(req, &Value::object([("results", results)]), false)
}

/// `/metrics/index.json`: every name, sorted.
pub async fn index_json(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let req = match Req::read(req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    shared
        .query(move |shared, budget| {
            let mut names = shared.storage.with_index(NameIndex::all);
            if let Some(cluster) = local_only(shared, &req) {
                let remote = cluster.strings(
                    "/metrics/index.json",
                    &[("local", super::federation_client::LOCAL)],
                    deadline(shared, budget),
                );
                names.extend(remote.into_iter().flatten());
                names.sort();
                names.dedup();
            }
            json_for(&req, &Value::strings(&names), false)
        })
        .await
}
