//! A node as a graphite-web cluster member: its answers to a frontend's federation
//! requests (`local=1`, `format=pickle|msgpack`) against graphite-web 1.1.10's own.
//!
//! `tests/data/cluster/federation.json` (made by `gen_federation.sh`) holds whisper files'
//! description, graphite-web 1.1.10's answers over those files to what a frontend sends a
//! member, and the check, made when it was generated, that a graphite-web 1.1.10 frontend
//! with `CLUSTER_SERVERS` = a lonsdaleite node answers as graphite-web reading the files
//! itself, and that a lonsdaleite frontend (`[cluster] servers`) with a graphite-web
//! 1.1.10 member answers the same, asking it for msgpack or for pickle. Here the same files are written (lonsdaleite's whisper writer is byte-exact
//! with whisper 1.1.10) and the server's answers compared: msgpack renders byte for byte,
//! pickles as what Python's unpickler builds from them (graphite-web writes protocol 5
//! with a memo, lonsdaleite protocol 2), finds with the intervals' clock values checked
//! apart. Points still in the write-back cache are answered too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{percent_encode, unix_now, HttpReply, Server};
use lonsdaleite::storage::whisper::file::{create, update_many, Preallocate};
use lonsdaleite::storage::whisper::AggregationMethod;
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cluster/federation.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn base64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Writes the golden files' whisper files under `dir/whisper`, as whisper 1.1.10 wrote
/// them for graphite-web (`update_many` with `now` = T0).
fn write_files(doc: &Value, dir: &std::path::Path) {
    let t0 = doc["t0"].as_i64().unwrap();
    for f in doc["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let mut path = dir.join("whisper");
        for part in name.split('.') {
            path.push(part);
        }
        path.set_extension("wsp");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let archives: Vec<(u32, u32)> = f["archives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a[0].as_u64().unwrap() as u32, a[1].as_u64().unwrap() as u32))
            .collect();
        let method = AggregationMethod::from_name(f["aggregation"].as_str().unwrap()).unwrap();
        create(
            &path,
            &archives,
            f["xff"].as_f64().unwrap(),
            method,
            Preallocate::Zeros,
        )
        .unwrap();
        let points: Vec<(i64, f64)> = f["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        update_many(&path, &points, t0).unwrap();
    }
}

/// A server over the golden files, with the golden tagged series registered.
fn member(doc: &Value) -> Server {
    let dir = tempfile::tempdir().unwrap();
    write_files(doc, dir.path());
    let server = Server::start_in(dir, &["--shards", "1"]);
    let want = doc["files"].as_array().unwrap().len();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let index: Vec<String> =
            serde_json::from_slice(&server.get("/metrics/index.json").body).unwrap_or_default();
        if index.len() == want {
            break;
        }
        assert!(
            Instant::now() < end,
            "the start-up scan did not list {want} names: {index:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for path in doc["tagged"].as_array().unwrap() {
        let r = server.post_form(
            "/tags/tagSeries",
            &format!("path={}", percent_encode(path.as_str().unwrap())),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    server
}

/// What a graphite-web frontend's unpickler builds from `body` (see `canon_pickle.py`).
fn unpickled(body: &[u8]) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cluster/canon_pickle.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed (tests/run-all installs it: apt-get install python3)");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 could not unpickle the answer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A msgpack find answer with the intervals' values left out (they are the clock of the
/// moment the answer was made) and nodes of one name in path order (graphite-web shuffles
/// them), plus the intervals themselves.
fn msgpack_find(body: &[u8]) -> (rmpv::Value, Vec<(String, f64, f64)>) {
    let mut doc = rmpv::decode::read_value(&mut &body[..]).expect("a msgpack document");
    let mut intervals = Vec::new();
    let list = match &mut doc {
        rmpv::Value::Array(list) => list,
        other => panic!("not a list: {other}"),
    };
    list.retain(|n| golden_name(n.as_map().unwrap()[0].1.as_str().unwrap_or_default()));
    for node in list.iter_mut() {
        let rmpv::Value::Map(fields) = node else {
            panic!("not a dict: {node}")
        };
        let path = fields[0].1.as_str().unwrap_or_default().to_string();
        for (k, v) in fields.iter_mut() {
            if k.as_str() != Some("intervals") {
                continue;
            }
            let rmpv::Value::Array(pairs) = v else {
                panic!("intervals are a list: {v}")
            };
            for pair in pairs {
                let rmpv::Value::Array(p) = pair else {
                    panic!("an interval is a pair: {pair}")
                };
                let (Some(a), Some(b)) = (p[0].as_f64(), p[1].as_f64()) else {
                    panic!("an interval of two floats")
                };
                assert!(matches!(p[0], rmpv::Value::F64(_)) && matches!(p[1], rmpv::Value::F64(_)));
                intervals.push((path.clone(), a, b));
                p[0] = rmpv::Value::Nil;
                p[1] = rmpv::Value::Nil;
            }
        }
    }
    list.sort_by_key(|n| {
        let path = n.as_map().unwrap()[0]
            .1
            .as_str()
            .unwrap_or_default()
            .to_string();
        (
            path.rsplit('.').next().unwrap_or_default().to_string(),
            path,
        )
    });
    (doc, intervals)
}

/// Each leaf's interval is graphite-web's `(now - maxRetention, max(mtime, start))`.
fn check_intervals(doc: &Value, intervals: &[(String, f64, f64)], what: &str) {
    let now = unix_now();
    for (path, start, end) in intervals {
        let file = doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == path.as_str())
            .unwrap_or_else(|| panic!("{what}: {path} is no file"));
        let retention = file["archives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a[0].as_f64().unwrap() * a[1].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!(
            (start - (now - retention)).abs() < 60.0,
            "{what}: {path} starts at {start}, not now - {retention}"
        );
        assert!(
            *end >= *start && *end <= now + 1.0,
            "{what}: {path} ends at {end}"
        );
    }
}

/// Whether a name is one of the golden files' (the server also holds its own
/// self-metrics, `stats.statsd.*`, `carbon.agents.*`, which graphite-web had not).
fn golden_name(path: &str) -> bool {
    path.starts_with("servers.") || path.starts_with("apps.") || path == "servers" || path == "apps"
}

/// A find or index answer (as JSON) without the server's self-metrics; other answers
/// as they are.
fn without_self_metrics(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap();
    if let Value::Array(list) = &mut v {
        list.retain(|n| n.get("path").unwrap_or(n).as_str().is_none_or(golden_name));
    }
    v
}

fn header<'a>(r: &'a HttpReply, name: &str) -> &'a str {
    r.header(name).unwrap_or("")
}

#[test]
fn answers_a_frontend_as_graphite_web_does() {
    let doc = golden();
    // Checked when the file was made (gen_federation.py stops on a difference); kept as
    // the record of what a graphite-web 1.1.10 frontend answered through a lonsdaleite
    // member, and a lonsdaleite frontend through a graphite-web 1.1.10 member.
    for key in ["frontend", "lonsdaleite_frontend"] {
        let records = doc[key].as_array().unwrap();
        assert!(records.len() >= 30, "{key}");
        if key == "lonsdaleite_frontend" {
            // Its member asked for msgpack, then for pickle.
            for format in ["msgpack", "pickle"] {
                assert!(records.iter().any(|r| r["format"] == format), "{format}");
            }
        }
        for f in records {
            let (a, b) = (
                f["direct"].as_str().unwrap(),
                f["frontend"].as_str().unwrap(),
            );
            if !f["path"].as_str().unwrap().contains("format=completer") {
                assert_eq!(
                    without_self_metrics(a),
                    without_self_metrics(b),
                    "{key} {}",
                    f["path"]
                );
            }
        }
    }
    let server = member(&doc);
    let cases = doc["member"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for case in cases {
        let path = case["path"].as_str().unwrap();
        let want = base64(case["body"].as_str().unwrap());
        let got = server.get(path);
        assert_eq!(
            got.status,
            case["status"].as_u64().unwrap() as u16,
            "{path}: {}",
            got.text()
        );
        let ctype = case["content_type"].as_str().unwrap();
        assert_eq!(header(&got, "content-type"), ctype, "{path}");
        let kind = case["kind"].as_str().unwrap();
        match (kind, ctype) {
            ("find", "application/pickle") => {
                assert_eq!(
                    without_self_metrics(&unpickled(&got.body)),
                    without_self_metrics(&unpickled(&want)),
                    "{path}"
                );
                let (_, ours) =
                    msgpack_find(&server.get(&path.replace("=pickle", "=msgpack")).body);
                check_intervals(&doc, &ours, path);
                assert_eq!(header(&got, "cache-control"), "no-cache", "{path}");
                assert_eq!(header(&got, "pragma"), "no-cache", "{path}");
            }
            ("find", "application/x-msgpack") => {
                let (ours, intervals) = msgpack_find(&got.body);
                let (theirs, their_intervals) = msgpack_find(&want);
                assert_eq!(ours, theirs, "{path}");
                assert_eq!(intervals.len(), their_intervals.len(), "{path}");
                check_intervals(&doc, &intervals, path);
            }
            ("render", "application/pickle") => {
                assert_eq!(unpickled(&got.body), unpickled(&want), "{path}");
            }
            ("render", "application/x-msgpack") => {
                assert!(got.body == want, "{path}: the msgpack bytes differ");
            }
            ("index", _) => assert_eq!(
                without_self_metrics(&got.text()),
                without_self_metrics(std::str::from_utf8(&want).unwrap()),
                "{path}"
            ),
            (_, _) => assert_eq!(got.text(), String::from_utf8(want).unwrap(), "{path}"),
        }
    }
    server.stop();
}

/// Points a member has received but not written yet are in its federation answers.
#[test]
fn answers_include_the_cache() {
    let server = Server::start(&["--shards", "2"]);
    let now = unix_now() as i64;
    let now = now - now % 60;
    let mut c = std::net::TcpStream::connect(server.carbon_tcp.unwrap()).unwrap();
    let lines = format!(
        "fresh.web1.hits 1.5 {}\nfresh.web1.hits 2 {}\nfresh.web2.hits 7 {}\n",
        now - 120,
        now - 60,
        now - 60
    );
    c.write_all(lines.as_bytes()).unwrap();
    drop(c);
    let render = format!(
        "/render/?format=msgpack&local=1&noCache=1&from={}&until={now}&target=fresh.*.hits&now={now}",
        now - 300
    );
    let end = Instant::now() + Duration::from_secs(10);
    let series = loop {
        let r = server.get(&render);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(header(&r, "content-type"), "application/x-msgpack");
        let v = rmpv::decode::read_value(&mut &r.body[..]).unwrap();
        let list = v.as_array().unwrap().clone();
        if list.len() == 2 {
            break list;
        }
        assert!(Instant::now() < end, "the cached points never showed: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let field = |s: &rmpv::Value, k: &str| {
        s.as_map()
            .unwrap()
            .iter()
            .find(|(key, _)| key.as_str() == Some(k))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let web1 = &series[0];
    assert_eq!(field(web1, "name").as_str(), Some("fresh.web1.hits"));
    assert_eq!(field(web1, "pathExpression").as_str(), Some("fresh.*.hits"));
    let step = field(web1, "step").as_i64().unwrap();
    let start = field(web1, "start").as_i64().unwrap();
    let values = field(web1, "values");
    let at = |t: i64| values.as_array().unwrap()[((t - start) / step) as usize].as_f64();
    assert_eq!(at(now - 120), Some(1.5));
    assert_eq!(at(now - 60), Some(2.0));

    let pickle = server.get(&render.replace("msgpack", "pickle"));
    assert_eq!(header(&pickle, "content-type"), "application/pickle");
    let text = unpickled(&pickle.body);
    assert!(text.contains(r#""name": "fresh.web2.hits""#), "{text}");
    assert!(text.contains("7.0"), "{text}");

    // Before any file exists the names are found, leaves with an interval up to now.
    let find = server.get("/metrics/find/?local=1&format=pickle&query=fresh.*.hits");
    assert_eq!(find.status, 200);
    let text = unpickled(&find.body);
    assert!(
        text.starts_with(
            r#"[{"path": "fresh.web1.hits", "is_leaf": true, "intervals": {"IntervalSet""#
        ),
        "{text}"
    );
    server.stop();
}

/// A frontend reads graphite-web 1.1.10's pickled answers (protocol 5, memo, frames,
/// `IntervalSet` objects) into the same values as its msgpack answers to the same request.
#[test]
fn graphite_webs_pickles_read_as_its_msgpack() {
    use lonsdaleite::http::federation_pickle::decode;
    let doc = golden();
    let cases = doc["member"].as_array().unwrap();
    let mut checked = 0;
    for case in cases {
        let path = case["path"].as_str().unwrap();
        if case["content_type"] != "application/pickle" {
            continue;
        }
        let twin = cases
            .iter()
            .find(|c| c["path"].as_str() == Some(&path.replace("format=pickle", "format=msgpack")))
            .unwrap_or_else(|| panic!("no msgpack twin of {path}"));
        let pickled = decode(&base64(case["body"].as_str().unwrap()))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut packed = Vec::new();
        rmpv::encode::write_value(&mut packed, &pickled).unwrap();
        let theirs = base64(twin["body"].as_str().unwrap());
        if case["kind"] == "find" {
            // The intervals carry the clock of each answer: compared without their values.
            assert_eq!(msgpack_find(&packed).0, msgpack_find(&theirs).0, "{path}");
        } else {
            assert!(
                packed == theirs,
                "{path}: read differently from its msgpack twin"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 14);
}
