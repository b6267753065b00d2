//! The Graphite HTTP API of the real binary: points received over carbon and StatsD come
//! back from `/render` as graphite-web 1.1.10 writes them, before and after the writer
//! has put them in a file; `/metrics/*` answer Grafana's shapes; events and tags.
//!
//! Expected json bodies: the golden graphite-web bodies of `tests/data/query/render.jsonl`
//! (made by `gen_render.py` from graphite-web's own renderer), moved to a recent window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{percent_encode, HttpReply, Server};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn send_carbon(server: &Server, lines: &str) {
    let mut c = TcpStream::connect(server.carbon_tcp.unwrap()).unwrap();
    c.write_all(lines.as_bytes()).unwrap();
}

/// Repeats `get` until `done` holds for its answer (at most 10 s).
fn poll(server: &Server, target: &str, done: impl Fn(&HttpReply) -> bool) -> HttpReply {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = server.get(target);
        if done(&r) {
            return r;
        }
        assert!(
            Instant::now() < end,
            "{target}: no expected answer within 10 s; last: {} {}\nstderr: {}",
            r.status,
            r.text(),
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A golden json case: (series name, step, python repr of each value or None, body).
fn golden(pick: impl Fn(&serde_json::Value) -> bool) -> (String, i64, Vec<Option<String>>, String) {
    let data = include_str!("data/query/render.jsonl");
    for line in data.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        if case["format"] == "json" && case["options"] == serde_json::json!({}) && pick(&case) {
            let s = &case["series"][0];
            let values = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            return (
                s["name"].as_str().unwrap().to_string(),
                s["step"].as_i64().unwrap(),
                values,
                case["body"].as_str().unwrap().to_string(),
            );
        }
    }
    panic!("no such golden case");
}

/// The golden body with its timestamps moved from `old` to `new` (same step).
fn moved(body: &str, old: i64, new: i64, step: i64, n: usize) -> String {
    let mut out = body.to_string();
    // Replace later timestamps first so no replaced text is matched again.
    for i in (0..n as i64).rev() {
        let (a, b) = (old + i * step, new + i * step);
        out = out.replace(&format!(", {a}]"), &format!(", {b}]"));
    }
    out
}

#[test]
fn carbon_points_render_as_graphite_web_from_cache_and_file() {
    // One shard creating one file a minute: the first series gets its file, the second
    // stays in the cache, and both must read the same.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("lonsdaleite.toml");
    std::fs::write(&conf, "[storage]\nmax_creates_per_minute = 1\n").unwrap();
    let server = Server::start(&["--shards", "1", "--config", conf.to_str().unwrap()]);
    let finite = |c: &serde_json::Value| {
        let s = &c["series"];
        s.as_array().unwrap().len() == 1
            && s[0]["step"] == 60
            && s[0]["start"] == 1_700_000_000
            && s[0]["values"].as_array().unwrap().len() >= 5
            && s[0]["values"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v.is_null() || !v.as_str().unwrap().contains(['n', 'i']))
    };
    let (_, step, values, body) = golden(finite);
    let n = values.len();
    let base = (now() / 60) * 60 - 3600;
    let mut lines = String::new();
    for name in ["first.series", "second.series"] {
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                let _ = writeln!(lines, "{name} {v} {}", base + i as i64 * step);
            }
        }
    }
    send_carbon(&server, &lines);
    let from = base - 60;
    let until = base + (n as i64 - 1) * step;
    for name in ["first.series", "second.series"] {
        let want =
            moved(&body, 1_700_000_000, base, step, n).replace("\"a.b\"", &format!("\"{name}\""));
        let want = want.replace("\"x\"", &format!("\"{name}\""));
        let target = format!("/render?target={name}&format=json&from={from}&until={until}");
        let r = poll(&server, &target, |r| r.status == 200 && r.text() == want);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // The writer's create limit kept one series in the cache only.
    let files = ["first", "second"]
        .iter()
        .filter(|n| {
            server
                .data_dir
                .path()
                .join(format!("whisper/{n}/series.wsp"))
                .exists()
        })
        .count();
    assert!(
        files <= 1,
        "both files exist: the cache path was not exercised"
    );
    // maxDataPoints=1 consolidates the whole series into one point (average).
    let r = server.get(&format!(
        "/render?target=first.series&format=json&from={from}&until={until}&maxDataPoints=1"
    ));
    assert_eq!(r.text().matches("], [").count(), 0, "{}", r.text());
    assert!(r.text().contains(&format!(", {base}]]}}]")), "{}", r.text());
    // Both formats of the same data, and POST with a form body.
    let form =
        format!("target=first.series&target=second.series&format=raw&from={from}&until={until}");
    let raw = server.post_form("/render", &form);
    assert_eq!(raw.status, 200);
    assert_eq!(raw.text().lines().count(), 2, "{}", raw.text());
    assert!(raw.text().starts_with(&format!(
        "first.series,{base},{},{step}|",
        base + n as i64 * step
    )));
    server.stop();
}

#[test]
fn statsd_counter_renders_after_its_flush() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("lonsdaleite.toml");
    std::fs::write(&conf, "[statsd]\ndelete_counters = true\n").unwrap();
    let server = Server::start(&["--flush-interval", "1s", "--config", conf.to_str().unwrap()]);
    let t0 = now();
    server.send_udp(&[b"api.hits:3|c"]);
    // Find the flush's slot with noNullPoints, then read a fixed window ending there.
    let target = format!(
        "/render?target=stats_counts.api.hits&format=json&from={}&noNullPoints=1",
        t0 - 60
    );
    let r = poll(&server, &target, |r| {
        r.status == 200 && r.text().contains("3.0")
    });
    let text = r.text();
    let ts: i64 = text
        .rsplit_once(", ")
        .and_then(|(_, t)| t.trim_end_matches("]]}]").parse().ok())
        .unwrap_or_else(|| panic!("no timestamp in {text}"));
    assert_eq!(
        text,
        format!("[{{\"target\": \"stats_counts.api.hits\", \"tags\": {{\"name\": \"stats_counts.api.hits\"}}, \"datapoints\": [[3.0, {ts}]]}}]")
    );
    assert_eq!(ts % 10, 0);
    assert!(ts >= t0 - 10 && ts <= now(), "{ts} outside the run");
    let r = server.get(&format!(
        "/render?target=stats_counts.api.hits&target=stats.api.hits&format=json&from={}&until={ts}",
        ts - 60
    ));
    let mut nulls = String::new();
    for k in 1..6 {
        let _ = write!(nulls, "[null, {}], ", ts - 60 + k * 10);
    }
    assert_eq!(
        r.text(),
        format!(
            "[{{\"target\": \"stats_counts.api.hits\", \"tags\": {{\"name\": \"stats_counts.api.hits\"}}, \"datapoints\": [{nulls}[3.0, {ts}]]}}, \
             {{\"target\": \"stats.api.hits\", \"tags\": {{\"name\": \"stats.api.hits\"}}, \"datapoints\": [{nulls}[3.0, {ts}]]}}]"
        )
    );
    server.stop();
}

#[test]
fn find_expand_index_and_errors() {
    let server = Server::start(&["--shards", "2"]);
    let t = now() - 120;
    send_carbon(
        &server,
        &format!(
            "servers.web1.cpu.user 1 {t}\nservers.web1.load 2 {t}\nservers.web2.cpu.user 3 {t}\n"
        ),
    );
    // Names reach the index as each shard caches them.
    poll(&server, "/metrics/index.json", |r| {
        r.text().matches("servers").count() == 3
    });
    let r = server.get("/metrics/find?query=servers.web1.*");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "[{\"text\": \"cpu\", \"id\": \"servers.web1.cpu\", \"allowChildren\": 1, \"expandable\": 1, \"leaf\": 0}, \
         {\"text\": \"load\", \"id\": \"servers.web1.load\", \"allowChildren\": 0, \"expandable\": 0, \"leaf\": 1}]"
    );
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let r = server.get("/metrics/find?query=servers.*&format=completer");
    assert_eq!(
        r.text(),
        "{\"metrics\": [{\"path\": \"servers.web1.\", \"name\": \"web1\", \"is_leaf\": \"0\"}, \
         {\"path\": \"servers.web2.\", \"name\": \"web2\", \"is_leaf\": \"0\"}]}"
    );
    let r = server.get("/metrics/find?query=servers.*&wildcards=1&jsonp=cb");
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert!(
        r.text()
            .starts_with("cb([{\"text\": \"*\", \"id\": \"servers.*\""),
        "{}",
        r.text()
    );
    let r = server.get("/metrics/find?query=servers.web1.load&format=json");
    assert!(
        r.text().starts_with(
            "[{\"path\": \"servers.web1.load\", \"is_leaf\": true, \"intervals\": [{\"start\": "
        ),
        "{}",
        r.text()
    );
    let r = server.get("/metrics/find?query=servers.*.cpu.*&format=nodelist&position=1");
    assert_eq!(r.text(), "{\"nodes\": [\"web1\", \"web2\"]}");
    let r = server.get("/metrics/expand?query=servers.*.cpu&query=servers.web1.*&leavesOnly=1");
    assert_eq!(r.text(), "{\"results\": [\"servers.web1.load\"]}");
    let r = server.get("/metrics/expand?query=servers.{web1,web2}.cpu.user&groupByExpr=1");
    assert_eq!(
        r.text(),
        "{\"results\": {\"servers.{web1,web2}.cpu.user\": [\"servers.web1.cpu.user\", \"servers.web2.cpu.user\"]}}"
    );
    // The server's own metrics (stats.statsd.*, after its first flush) may be listed too.
    let r = server.get("/metrics/index.json");
    let names: Vec<String> = serde_json::from_str(&r.text()).unwrap();
    assert!(names.is_sorted(), "{names:?}");
    let ours: Vec<&String> = names.iter().filter(|n| n.starts_with("servers.")).collect();
    assert_eq!(
        ours,
        [
            "servers.web1.cpu.user",
            "servers.web1.load",
            "servers.web2.cpu.user"
        ]
    );
    assert_eq!(server.get("/metrics/find").status, 400);
    // Functions over received points, and the catalogue Grafana reads.
    let r = server.get(&format!(
        "/render?target={}&format=json&from={}&until={t}",
        percent_encode("sumSeries(servers.*.cpu.user)"),
        t - 60
    ));
    assert_eq!(
        r.text(),
        format!("[{{\"target\": \"sumSeries(servers.*.cpu.user)\", \"tags\": {{\"name\": \"sumSeries(servers.*.cpu.user)\", \"aggregatedBy\": \"sum\"}}, \"datapoints\": [[4.0, {}]]}}]", t - t % 60)
    );
    // Graphs: PNG when no format is given, SVG on request, bad options are a 400.
    let r = server.get(&format!(
        "/render?target=servers.*.cpu.user&from={}&until={t}",
        t - 600
    ));
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("image/png"))
    );
    assert!(r.body.starts_with(b"\x89PNG"));
    let r = server.get(&format!(
        "/render?target=servers.*.cpu.user&format=svg&from={}&until={t}",
        t - 600
    ));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<svg"), "{}", r.text());
    let r = server.get("/render?target=servers.*.cpu.user&width=wide");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = server.get("/functions");
    assert_eq!(r.status, 200);
    // graphite writes an infinite default as 1e9999, which serde_json does not read.
    let cat: serde_json::Value = serde_json::from_str(&r.text().replace("1e9999", "null")).unwrap();
    assert_eq!(cat["sumSeries"]["name"], "sumSeries");
    assert!(cat["sumSeries"]["params"].is_array());
    let one: serde_json::Value = serde_json::from_str(
        &server
            .get("/functions/sumSeries")
            .text()
            .replace("1e9999", "null"),
    )
    .unwrap();
    assert_eq!(one, cat["sumSeries"]);
    assert_eq!(server.get("/functions/noSuchFunction").status, 404);
    assert_eq!(server.get("/version").text(), "1.1.10");
    // Errors: a 400 naming the problem, never a crash.
    let r = server.get(&format!(
        "/render?target={}&format=json",
        percent_encode("sum(a.b")
    ));
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("sum(a.b") && r.text().contains("at byte 7"),
        "{}",
        r.text()
    );
    let r = server.get("/render?target=a.b&format=json&from=-1m");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Invalid offset unit 'm'"), "{}", r.text());
    let r = server.get("/render?target=a.b&format=json&from=-1h&until=-1h");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "Invalid empty time range\n")
    );
    let r = server.get("/render?target=noSuchFunction(a.b)&format=json");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("noSuchFunction"), "{}", r.text());
    // Empty result, swapped range, unknown tz, pickle.
    let r =
        server.get("/render?target=no.such.series&format=json&from=-1h&until=-2h&tz=Nowhere/City");
    assert_eq!((r.status, r.text().as_str()), (200, "[]"));
    let r = server.get(&format!(
        "/render?target=servers.web1.load&format=pickle&from={}&until={}",
        t - 60,
        t + 60
    ));
    assert_eq!(r.header("content-type"), Some("application/pickle"));
    assert!(r.body.starts_with(b"\x80\x02]"));
    server.stop();
}

#[test]
fn events_and_tags() {
    let server = Server::start(&[]);
    // The example from Graphite's tutorials, as curl sends it.
    let r = server.http_request(
        "POST",
        "/events/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        br#"{"what": "Something Interesting", "tags" : "tag1 "}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server.http_request(
        "POST",
        "/events/",
        &[],
        br#"{"what": "deploy", "tags": ["web", "deploy"], "when": 1700000000, "data": "v2"}"#,
    );
    assert_eq!(r.status, 200);
    let r = server.get("/events/get_data");
    let body = r.text();
    let (when, _) = body
        .strip_prefix("[{\"when\": 1700000000, \"what\": \"deploy\", \"data\": \"v2\", \"tags\": [\"deploy\", \"web\"], \"id\": 2}, {\"when\": ")
        .and_then(|rest| rest.split_once(','))
        .unwrap_or_else(|| panic!("{body}"));
    assert!((now() - when.parse::<i64>().unwrap()).abs() < 60);
    assert!(body.ends_with(", \"what\": \"Something Interesting\", \"data\": \"\", \"tags\": [\"tag1\"], \"id\": 1}]"), "{body}");
    // events() counts them per second, as Python ints (`1`, not `1.0`) like graphite.
    let r = server.get(&format!(
        "/render?target={}&format=json&from=-1h&until=%2B1min&noNullPoints=1",
        percent_encode("events(\"tag1\")")
    ));
    assert_eq!(
        r.text(),
        format!("[{{\"target\": \"events(\\\"tag1\\\")\", \"tags\": {{\"name\": \"events(\\\"tag1\\\")\"}}, \"datapoints\": [[1, {when}]]}}]")
    );
    let r = server.get("/events/get_data?tags=tag1&from=-1h&jsonp=cb");
    assert!(
        r.text().starts_with("cb([{\"when\": ") && r.text().contains("\"id\": 1}])"),
        "{}",
        r.text()
    );
    let r = server.get("/events/get_data?tags=tag1%20web&set=union");
    assert_eq!(r.text().matches("\"id\"").count(), 2);
    assert_eq!(server.get("/events/get_data?tags=tag1%20web").text(), "[]");
    let r = server.get("/events/2/");
    assert_eq!(r.text(), "{\"when\": 1700000000, \"what\": \"deploy\", \"data\": \"v2\", \"tags\": [\"deploy\", \"web\"], \"id\": 2}");
    let r = server.http_request("POST", "/events/", &[], br#"{"what": "x", "tags": 5}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "{\"error\": \"\\\"tags\\\" must be an array or space-separated string\"}"
    );

    // Tags: a tagged carbon point is indexed as soon as it is cached.
    let t = now() - 60;
    send_carbon(&server, &format!("disk.used;server=web01;dc=east 5 {t}\n"));
    let r = poll(&server, "/tags/findSeries?expr=server=web01", |r| {
        r.text() != "[]"
    });
    assert_eq!(r.text(), "[\"disk.used;dc=east;server=web01\"]");
    let r = server.post_form("/tags/tagSeries", "path=disk.used;server=web02;dc=west");
    assert_eq!(r.text(), "\"disk.used;dc=west;server=web02\"");
    let r = server.post_form("/tags/tagMultiSeries", "path[]=cpu;a=1&path[]=cpu;a=2");
    assert_eq!(r.text(), "[\"cpu;a=1\", \"cpu;a=2\"]");
    assert_eq!(
        server.get("/tags").text(),
        "[{\"tag\": \"a\"}, {\"tag\": \"dc\"}, {\"tag\": \"name\"}, {\"tag\": \"server\"}]"
    );
    assert_eq!(
        server.get("/tags/dc").text(),
        "{\"tag\": \"dc\", \"values\": [{\"count\": 1, \"value\": \"east\"}, {\"count\": 1, \"value\": \"west\"}]}"
    );
    assert_eq!(
        server
            .get("/tags/findSeries?expr=name=disk.used&expr=dc!=west")
            .text(),
        "[\"disk.used;dc=east;server=web01\"]"
    );
    assert_eq!(
        server
            .get("/tags/autoComplete/tags?expr=name=disk.used")
            .text(),
        "[\"dc\", \"server\"]"
    );
    assert_eq!(
        server
            .get("/tags/autoComplete/values?tag=server&valuePrefix=web")
            .text(),
        "[\"web01\", \"web02\"]"
    );
    assert_eq!(
        server.post_form("/tags/delSeries", "path=cpu;a=1").text(),
        "true"
    );
    assert_eq!(
        server.get("/tags/findSeries?expr=name=cpu").text(),
        "[\"cpu;a=2\"]"
    );
    let r = server.get("/tags/findSeries?expr=server!=x");
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("{\"error\": "), "{}", r.text());
    // The tagged series renders under its canonical name.
    let target = format!(
        "/render?target={}&format=json&from={}&until={}",
        percent_encode("disk.used;server=web01;dc=east"),
        t - 60,
        t
    );
    let r = poll(&server, &target, |r| r.text().contains("5.0"));
    assert!(r.text().starts_with("[{\"target\": \"disk.used;dc=east;server=web01\", \"tags\": {\"dc\": \"east\", \"server\": \"web01\", \"name\": \"disk.used\"}"), "{}", r.text());
    server.stop();
}

#[test]
fn corrupt_file_drops_only_its_series_and_limits_answer_400() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("lonsdaleite.toml");
    std::fs::write(&conf, "[http]\nmax_series = 2\n").unwrap();
    let server = Server::start(&["--config", conf.to_str().unwrap()]);
    let t = (now() / 60) * 60 - 120;
    send_carbon(&server, &format!("lim.good 1 {t}\nlim.bad 2 {t}\n"));
    let target = format!("/render?target=lim.*&format=raw&from={}&until={t}", t - 60);
    // Both written to their files (the raw body shows both values).
    let bad = server.data_dir.path().join("whisper/lim/bad.wsp");
    poll(&server, &target, |r| {
        r.text().contains("|1.0") && r.text().contains("|2.0") && bad.exists()
    });
    // Wait for the writer to leave the file alone: its size is whisper's full size.
    let end = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&bad).map_or(0, |m| m.len()) < 1000 {
        assert!(Instant::now() < end, "file never written");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&bad, b"not whisper").unwrap();
    let r = server.get(&target);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("lim.good,{t},{},60|1.0\n", t + 60));
    assert!(server.stderr().contains("unreadable whisper file"));
    // Three names against a limit of two series per request.
    send_carbon(&server, &format!("lim.third 3 {t}\n"));
    let r = poll(&server, &target, |r| r.status == 400);
    assert!(r.text().contains("http.max_series"), "{}", r.text());
    server.stop();
}
