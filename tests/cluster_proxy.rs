//! lonsdaleite nodes behind etsy statsd 0.9.0's cluster proxy (`proxy.js`, from npm, in
//! `tests/cluster_proxy/`): the proxy's health checks read the nodes' admin `health`, a
//! node marked `health down` leaves the proxy's ring and `health up` brings it back, and
//! every StatsD name is aggregated on exactly one node with exact totals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

const PROXY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster_proxy");

/// etsy's proxy.js, running until dropped.
struct Proxy {
    child: Child,
    udp: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_proxy(nodes: &[&Server], check_ms: u64) -> Proxy {
    let statsd = format!("{PROXY_DIR}/node_modules/statsd");
    assert!(
        std::path::Path::new(&format!("{statsd}/proxy.js")).exists()
            && std::path::Path::new(&format!("{PROXY_DIR}/node_modules/hashring")).exists(),
        "etsy statsd 0.9.0 is not installed: run (cd tests/cluster_proxy && npm ci --omit=optional) \
         (tests/run-all does), with node and npm (apt-get install nodejs npm)"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let members: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "{{host: '127.0.0.1', port: {}, adminport: {}}}",
                n.statsd_udp.port(),
                n.admin.port()
            )
        })
        .collect();
    let config = dir.path().join("proxy.js.conf");
    std::fs::write(
        &config,
        format!(
            "{{nodes: [{}], host: '127.0.0.1', port: {port}, mgmt_address: '127.0.0.1', \
             mgmt_port: {}, checkInterval: {check_ms}, forkCount: 0, cacheSize: 10000}}\n",
            members.join(", "),
            free_port()
        ),
    )
    .unwrap();
    let child = Command::new("node")
        .arg("proxy.js")
        .arg(&config)
        .current_dir(&statsd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node is needed (apt-get install nodejs; tests/run-all installs it)");
    Proxy {
        child,
        udp: format!("127.0.0.1:{port}").parse().unwrap(),
        _dir: dir,
    }
}

/// The node's answer to etsy's health check, sent as proxy.js sends it.
fn health(node: &Server, command: &str) -> String {
    let mut c = TcpStream::connect(node.admin).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    let mut buf = [0u8; 256];
    let n = c.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Sums of every `stats_counts.<prefix>.*` series a node holds (files and cache).
fn counts(node: &Server, prefix: &str) -> BTreeMap<String, f64> {
    let r = node.get(&format!(
        "/render?target=stats_counts.{prefix}.*&from=-10min&format=json"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    doc.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let total = s["datapoints"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p[0].as_f64())
                .sum();
            (s["target"].as_str().unwrap().to_string(), total)
        })
        .filter(|(_, total)| *total > 0.0)
        .collect()
}

fn send(proxy: &Proxy, prefix: &str, names: usize, times: usize) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..times {
        for i in 0..names {
            sock.send_to(format!("{prefix}.n{i:02}:1|c").as_bytes(), proxy.udp)
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn nodes_behind_etsy_proxy() {
    let a = Server::start(&["--shards", "1"]);
    let b = Server::start(&["--shards", "1"]);
    assert_eq!(health(&a, "health"), "health: up\n");
    let check_ms = 200;
    let proxy = start_proxy(&[&a, &b], check_ms);
    // The proxy listens once its first round of checks is under way.
    std::thread::sleep(Duration::from_secs(1));
    let (names, times) = (24, 5);

    // Both nodes up: the ring spreads the names over both.
    send(&proxy, "up1", names, times);
    // A node marked down leaves the ring at the proxy's next check.
    assert_eq!(health(&a, "health DOWN"), "health: down\n");
    std::thread::sleep(Duration::from_millis(check_ms * 5));
    send(&proxy, "down", names, times);
    // And comes back with `health up`.
    assert_eq!(health(&a, "health up"), "health: up\n");
    std::thread::sleep(Duration::from_millis(check_ms * 5));
    send(&proxy, "up2", names, times);

    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let totals: Vec<(BTreeMap<String, f64>, BTreeMap<String, f64>)> = ["up1", "down", "up2"]
            .iter()
            .map(|p| (counts(&a, p), counts(&b, p)))
            .collect();
        let complete = totals.iter().all(|(x, y)| {
            let sum: f64 = x.values().chain(y.values()).sum();
            sum >= (names * times) as f64
        });
        if complete {
            for ((on_a, on_b), phase) in totals.iter().zip(["up1", "down", "up2"]) {
                for i in 0..names {
                    let name = format!("stats_counts.{phase}.n{i:02}");
                    let here = [on_a.get(&name), on_b.get(&name)];
                    assert_eq!(
                        here.iter().flatten().count(),
                        1,
                        "{name} is on exactly one node: {here:?}"
                    );
                    let total: f64 = here.iter().flatten().copied().sum();
                    assert_eq!(total as usize, times, "{name}: {total}");
                }
                match phase {
                    "down" => assert!(on_a.is_empty(), "a node marked down got {on_a:?}"),
                    _ => assert!(
                        !on_a.is_empty() && !on_b.is_empty(),
                        "{phase}: the ring spreads names over both nodes: {on_a:?} {on_b:?}"
                    ),
                }
            }
            break;
        }
        assert!(
            Instant::now() < end,
            "the proxied counts never arrived in full: {totals:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(proxy);
    a.stop();
    b.stop();
}

/// etsy answers a command sent without a newline; so does the admin interface once the
/// client stops sending.
#[test]
fn health_without_a_newline() {
    let a = Server::start(&["--shards", "1"]);
    let mut c = TcpStream::connect(a.admin).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"health down").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "health: down\n");
    assert_eq!(health(&a, "health bogus"), "health: down\n");
    assert_eq!(health(&a, "health Up"), "health: up\n");
    a.stop();
}
