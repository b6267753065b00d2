//! The agents against a real `lonsdaleite serve`: `logtail` and `collect --output statsd`
//! send to its statsd port, and the points are read back from its Graphite forward sink.
//! serve has no carbon receiver yet, so `collect`'s carbon output is checked against a
//! plain TCP listener (the same sink) instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The values compared are small integers or exact decimals parsed back from text.
#![allow(clippy::float_cmp)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{value_of, Server, Sink};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/agent")
}

fn start(sink: &Sink) -> Server {
    let fwd = sink.addr.to_string();
    Server::start(&["--flush-interval", "1s", "--forward", fwd.as_str()])
}

fn agent(args: &[&str]) {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn num(points: &[(String, String)], name: &str) -> f64 {
    value_of(points, name).parse().unwrap()
}

#[test]
fn logtail_postfix_reaches_serve_as_gauges() {
    let sink = Sink::start();
    let srv = start(&sink);
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("mail.log");
    let mut text = std::fs::read_to_string(data().join("logs/mail.log.1")).unwrap();
    text.push_str(&std::fs::read_to_string(data().join("logs/mail.log.2")).unwrap());
    std::fs::write(&log, text).unwrap();
    let to = srv.statsd_udp.to_string();
    let st = d.path().join("state");
    agent(&[
        "logtail",
        "--once",
        "--from-start",
        "--parser",
        "postfix",
        "-p",
        "servers.it.postfix",
        "--statsd-host",
        &to,
        "--state-dir",
        st.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    srv.wait_lines(19);
    sink.wait_for(
        "stats.gauges.servers.it.postfix.numSent ",
        Duration::from_secs(10),
    );
    srv.stop();
    let p = sink.points();
    let g = |n: &str| num(&p, &format!("stats.gauges.servers.it.postfix.{n}"));
    assert_eq!(g("numSent"), 3.0);
    assert_eq!(g("numDeferred"), 1.0);
    assert_eq!(g("numBounced"), 1.0);
    assert_eq!(g("pctSent"), 60.0);
    assert_eq!(g("avgDelay"), 1.5);
    assert_eq!(g("totalTxns"), 5.0);
    assert_eq!(g("totalRxns"), 3.0);
    assert_eq!(g("totalInUntrustedInTLS"), 1.0);
    // First run with --from-start: the interval is --interval (60 s).
    assert!((g("mailTxnsSec") - 5.0 / 60.0).abs() < 1e-12);
}

#[test]
fn collect_statsd_output_reaches_serve() {
    let sink = Sink::start();
    let srv = start(&sink);
    let to = srv.statsd_udp.to_string();
    let root = data().join("proc/t1");
    agent(&[
        "collect",
        "--once",
        "--once-gap",
        "0s",
        "--output",
        "statsd",
        "--to",
        &to,
        "--hostname",
        "it",
        "--collectors",
        "memory,loadavg,sockstat",
        "--root",
        root.to_str().unwrap(),
    ]);
    // 17 memory + 8 loadavg + 8 sockets gauges.
    srv.wait_lines(33);
    sink.wait_for(
        "stats.gauges.servers.it.sockets.udp_mem ",
        Duration::from_secs(10),
    );
    srv.stop();
    let p = sink.points();
    let g = |n: &str| num(&p, &format!("stats.gauges.servers.it.{n}"));
    assert_eq!(g("memory.MemTotal"), 8_192_000_000.0);
    assert_eq!(g("memory.MemUsedPercentage"), 25.0);
    assert_eq!(g("loadavg.01"), 1.5);
    assert_eq!(g("loadavg.15_normalized"), 0.17);
    assert_eq!(g("sockets.tcp_inuse"), 13.0);
}

#[test]
fn collect_carbon_output_reaches_a_carbon_listener() {
    let sink = Sink::start();
    let to = sink.addr.to_string();
    let root = data().join("proc/t1");
    agent(&[
        "collect",
        "--once",
        "--once-gap",
        "0s",
        "--to",
        &to,
        "--hostname",
        "it",
        "--collectors",
        "loadavg",
        "--root",
        root.to_str().unwrap(),
    ]);
    let lines = sink.wait_for(
        "servers.it.loadavg.processes_total ",
        Duration::from_secs(10),
    );
    let names: Vec<String> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 3, "{l}");
            assert!(f[2].parse::<u64>().unwrap() > 1_700_000_000, "{l}");
            format!("{} {}", f[0], f[1])
        })
        .collect();
    assert_eq!(
        names,
        [
            "servers.it.loadavg.01 1.50",
            "servers.it.loadavg.05 0.80",
            "servers.it.loadavg.15 0.33",
            "servers.it.loadavg.01_normalized 0.75",
            "servers.it.loadavg.05_normalized 0.40",
            "servers.it.loadavg.15_normalized 0.17",
            "servers.it.loadavg.processes_running 4",
            "servers.it.loadavg.processes_total 260",
        ]
    );
}
