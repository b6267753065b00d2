//! A node with `[cluster] servers` as a graphite-web frontend: three lonsdaleite members
//! on loopback, one stopped member and one that never answers; finds, renders, index.json
//! and tag autocompletion fan out, merge as graphite-web merges, and a dead member makes
//! the answer partial and fast, never an error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{percent_encode, unix_now, Server};
use serde_json::Value;

/// Sends carbon lines to a node and waits until its render shows `name`.
fn feed(node: &Server, lines: &str, name: &str) {
    let mut c = std::net::TcpStream::connect(node.carbon_tcp.unwrap()).unwrap();
    c.write_all(lines.as_bytes()).unwrap();
    drop(c);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = node.get(&format!(
            "/render?target={name}&from=-10min&format=json&local=1"
        ));
        if r.text().contains("datapoints") {
            return;
        }
        assert!(Instant::now() < end, "{name} never showed on its node");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn json(node: &Server, path: &str) -> Value {
    let r = node.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

/// `target → [values]` of a json render.
fn series(doc: &Value) -> Vec<(String, Vec<Option<f64>>)> {
    doc.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let values = s["datapoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[0].as_f64())
                .collect();
            (s["target"].as_str().unwrap().to_string(), values)
        })
        .collect()
}

fn frontend(members: &[String], extra: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("frontend.toml");
    let servers: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
    std::fs::write(
        &conf,
        format!("[cluster]\nservers = [{}]\n{extra}", servers.join(", ")),
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let node = Server::start_in(data, &["--shards", "1", "--config", &conf]);
    std::mem::forget(dir);
    node
}

#[test]
fn fans_out_and_merges() {
    let members: Vec<Server> = (0..3).map(|_| Server::start(&["--shards", "1"])).collect();
    let now = unix_now() as i64;
    let t = now - now % 60 - 120;
    // One series per member, one split over two members (a gap on each), one on the
    // frontend itself.
    feed(
        &members[0],
        &format!("grp.m0.x 1 {t}\ngrp.split.x 10 {t}\n"),
        "grp.m0.x",
    );
    feed(
        &members[1],
        &format!("grp.m1.x 2 {t}\ngrp.split.x 20 {}\n", t + 60),
        "grp.m1.x",
    );
    feed(&members[2], &format!("grp.m2.x 3 {t}\n"), "grp.m2.x");
    for (i, m) in members.iter().enumerate() {
        let r = m.post_form(
            "/tags/tagSeries",
            &format!(
                "path={}",
                percent_encode(&format!("cpu.load;dc=dc{i};host=h{i}"))
            ),
        );
        assert_eq!(r.status, 200);
    }
    let stopped = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut addrs: Vec<String> = members
        .iter()
        .map(|m| m.http.unwrap().to_string())
        .collect();
    addrs.push(stopped.clone());
    // One member is asked for pickles (graphite-web's default format), the others msgpack.
    let mut specs = addrs.clone();
    specs[1].push_str("?format=pickle");
    let front = frontend(&specs, "");
    feed(&front, &format!("grp.front.x 4 {t}\n"), "grp.front.x");

    let window = format!("from={}&until={}", t - 60, t + 120);
    let started = Instant::now();
    let doc = json(
        &front,
        &format!("/render?target=grp.*.x&{window}&format=json"),
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "a stopped member must not hold the answer up: {elapsed:?}"
    );
    let got = series(&doc);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "grp.front.x",
            "grp.m0.x",
            "grp.m1.x",
            "grp.m2.x",
            "grp.split.x"
        ],
        "every member's series, and the frontend's own, sorted by name"
    );
    let split = &got[4].1;
    assert!(
        split.contains(&Some(10.0)) && split.contains(&Some(20.0)),
        "a series on two members is merged, the gaps of one filled from the other: {split:?}"
    );
    // Functions see the merged series.
    let doc = json(
        &front,
        &format!("/render?target=sumSeries(grp.*.x)&{window}&format=json"),
    );
    let total: f64 = series(&doc)[0].1.iter().flatten().sum();
    assert!((total - 40.0).abs() < 1e-9, "sum over every node: {total}");

    // A member's request (local=1) is answered from the frontend's own data only.
    let doc = json(
        &front,
        &format!("/render?target=grp.*.x&{window}&format=json&local=1"),
    );
    assert_eq!(series(&doc).len(), 1);

    // Finds, index.json, expand and autocompletion merge too.
    let doc = json(&front, "/metrics/find?query=grp.*");
    let found: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["front", "m0", "m1", "m2", "split"]);
    let doc = json(&front, "/metrics/index.json");
    let index: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| n.starts_with("grp."))
        .collect();
    assert_eq!(
        index,
        [
            "grp.front.x",
            "grp.m0.x",
            "grp.m1.x",
            "grp.m2.x",
            "grp.split.x"
        ]
    );
    let doc = json(&front, "/metrics/expand?query=grp.*.x");
    assert_eq!(doc["results"].as_array().unwrap().len(), 5, "{doc}");
    let doc = json(&front, "/tags/autoComplete/values?tag=host");
    assert_eq!(doc, serde_json::json!(["h0", "h1", "h2"]));
    let doc = json(
        &front,
        "/tags/autoComplete/tags?tagPrefix=d&expr=name%3Dcpu.load",
    );
    assert_eq!(doc, serde_json::json!(["dc"]));
    // seriesByTag goes to the members as a target.
    let doc = json(
        &front,
        &format!("/render?target=seriesByTag('name=cpu.load')&{window}&format=json"),
    );
    let tagged: Vec<String> = series(&doc).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        tagged,
        [
            "cpu.load;dc=dc0;host=h0",
            "cpu.load;dc=dc1;host=h1",
            "cpu.load;dc=dc2;host=h2"
        ],
        "each member's tagged series"
    );

    // The stopped member is counted and left out.
    let health = front.get("/health").text();
    let line = health
        .lines()
        .find(|l| l.contains(&stopped))
        .unwrap_or_else(|| panic!("{health}"));
    assert!(line.contains("left out"), "{line}");
    assert!(!line.contains("failures 0,"), "{line}");
    for m in &addrs[..3] {
        assert!(
            health.contains(&format!("cluster member {m}: failures 0, skipped 0, asked")),
            "{health}"
        );
    }

    // A member's own answer never fans out again (it carries local=1).
    let doc = json(
        &members[0],
        &format!("/render?target=grp.*.x&{window}&format=json"),
    );
    assert_eq!(series(&doc).len(), 2);

    front.stop();
    for m in members {
        m.stop();
    }
}

/// A member that accepts connections and never answers costs the member's time limit
/// once (graphite-web's `FETCH_TIMEOUT` bounds the fetch with its retries: a second
/// attempt only follows a quick failure), and the answer is still the others'.
#[test]
fn a_silent_member_costs_its_timeout() {
    let member = Server::start(&["--shards", "1"]);
    let now = unix_now() as i64;
    let t = now - now % 60 - 120;
    feed(&member, &format!("quiet.a 5 {t}\n"), "quiet.a");
    // Connections to it are accepted by the kernel (backlog) and never read.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addrs = [
        member.http.unwrap().to_string(),
        silent.local_addr().unwrap().to_string(),
    ];
    let front = frontend(
        &addrs,
        "find_timeout = \"300ms\"\nfetch_timeout = \"400ms\"\nfetch_attempts = 2\n",
    );
    let window = format!("from={}&until={}", t - 60, t + 120);
    let started = Instant::now();
    let doc = json(
        &front,
        &format!("/render?target=quiet.*&{window}&format=json"),
    );
    let elapsed = started.elapsed();
    assert_eq!(series(&doc).len(), 1);
    assert!(
        elapsed >= Duration::from_millis(380) && elapsed < Duration::from_millis(780),
        "one time limit of 400 ms for both attempts (two would take 800 ms): {elapsed:?}"
    );
    // Now left out: the next request is not sent to it (counted as skipped below).
    let doc = json(&front, "/metrics/find?query=quiet.*");
    assert_eq!(doc.as_array().unwrap().len(), 1);
    let health = front.get("/health").text();
    assert!(health.contains("skipped 1, left out"), "{health}");
    front.stop();
    member.stop();
}

/// The request's own deadline bounds the wait for members.
#[test]
fn the_request_deadline_bounds_the_wait() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let front = frontend(
        &[silent.local_addr().unwrap().to_string()],
        "fetch_timeout = \"10s\"\n[http]\ntimeout = \"1s\"\n",
    );
    let started = Instant::now();
    let r = front.get("/render?target=a.b&from=-10min&format=json");
    let elapsed = started.elapsed();
    // 0.9 s of waiting, then the answer; a member's 10 s time limit never came into it.
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    // Members are given up on a little before the deadline: the answer is partial.
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "[]");
    front.stop();
}

#[test]
fn member_specs_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.toml");
    std::fs::write(&conf, "[cluster]\nservers = [\"h:1?format=json\"]\n").unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--config", conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cluster.servers") && err.contains("unknown format \"json\""),
        "{err}"
    );
}

/// As graphite-web's `prefetchData`: one render request per member carries every path
/// expression of the request's targets (no find first), with graphite-web's parameters
/// in graphite-web's order (`readers/remote.py`), msgpack asked for.
#[test]
fn one_render_request_per_member_carries_every_path() {
    use std::io::{BufRead as _, BufReader};
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for conn in fake.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut line = String::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let _ = tx.send(line.trim_end().to_string());
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: 1\r\n\r\n\x90",
            );
        }
    });
    let front = frontend(&[addr], "");
    let r = front.get(
        "/render?target=sumSeries(a.*,b.{x,y})&target=c.d|scale(2)&from=1700000000&until=1700003600&now=1700003600&format=json",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "[]");
    let requests: Vec<String> = rx.try_iter().collect();
    assert_eq!(
        requests,
        ["GET /render/?format=msgpack&local=1&noCache=1&from=1700000000&until=1700003600&target=a.*&target=b.%7Bx%2Cy%7D&target=c.d&now=1700003600 HTTP/1.1"],
    );
    front.stop();
}
