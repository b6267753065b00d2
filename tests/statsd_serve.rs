//! Black-box tests of `lonsdaleite serve`: real binary, real sockets on 127.0.0.1, a
//! Graphite sink as the forward target. Flushes happen on wall-clock multiples of the
//! interval (2 s here): a test sends just after a boundary and reads the one flush at the
//! next boundary. (SIGTERM does not flush an unfinished interval; it saves it for the
//! next start, see `tests/statsd_restart.rs`.)

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{start_of_interval, unix_now, value_of, Server, Sink};

const INTERVAL: f64 = 2.0;

fn start(sink: &Sink, extra: &[&str]) -> Server {
    let fwd = sink.addr.to_string();
    let mut args = vec!["--flush-interval", "2s", "--forward", fwd.as_str()];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Wait for the start of an interval; returns when what is sent next is flushed.
fn next_flush() -> i64 {
    start_of_interval(INTERVAL, 0.05) + INTERVAL as i64
}

/// The points of the flush at `ts`.
fn flush(sink: &Sink, ts: i64) -> Vec<(String, String)> {
    sink.flush_at(ts, Duration::from_secs(10))
}

#[test]
fn udp_lines_aggregate_like_etsy_and_flush_at_the_boundary() {
    let sink = Sink::start();
    let srv = start(&sink, &["--shards", "1"]);
    let at = next_flush();
    srv.send_udp(&[
        b"cnt:1|c|@0.1",
        b"cnt:2|c",
        b"glork:320|ms|@0.1",
        b"glork:100|ms",
        b"gaugor:333|g\ngaugor:-10|g\ngaugor:+4|g",
        b"newg:-5|g",
        b"uniques:765|s\nuniques:765|s\nuniques:abc|s",
        b"fo/o b+ar:1|c",
        b"multi:1|c:200|ms",
    ]);
    srv.wait_lines(13);
    let p = flush(&sink, at);
    srv.stop();
    assert_eq!(value_of(&p, "stats_counts.cnt"), "12");
    assert_eq!(value_of(&p, "stats.cnt"), "6"); // 12 per 2 s interval
    assert_eq!(value_of(&p, "stats.timers.glork.count"), "11");
    assert_eq!(value_of(&p, "stats.timers.glork.mean_90"), "210");
    assert_eq!(value_of(&p, "stats.timers.glork.std"), "110");
    assert_eq!(value_of(&p, "stats.gauges.gaugor"), "327");
    assert_eq!(value_of(&p, "stats.gauges.newg"), "-5");
    assert_eq!(value_of(&p, "stats.sets.uniques.count"), "2");
    assert_eq!(value_of(&p, "stats_counts.fo-o_bar"), "1");
    assert_eq!(value_of(&p, "stats_counts.multi"), "1");
    assert_eq!(value_of(&p, "stats.timers.multi.upper"), "200");
    assert_eq!(value_of(&p, "stats_counts.statsd.packets_received"), "9");
    assert_eq!(value_of(&p, "stats_counts.statsd.metrics_received"), "13");
    assert!(
        p.iter().any(|(n, _)| n == "statsd.numStats"),
        "numStats missing: {p:#?}"
    );
}

#[test]
fn two_shards_merge_one_series_received_on_both() {
    let sink = Sink::start();
    let srv = start(&sink, &["--shards", "2"]);
    // The 120 lines must all arrive within one interval; on a machine loaded enough to
    // make them straddle a boundary, that attempt proves nothing and the next one (with
    // its own names) is made.
    for attempt in 0..3u64 {
        let at = next_flush();
        // Many client sockets (source ports), so SO_REUSEPORT spreads them over both shards.
        for i in 0..40 {
            let line =
                format!("spread{attempt}:1|c\nspread{attempt}_t:{i}|ms\nspread{attempt}_g:+1|g");
            srv.send_udp(&[line.as_bytes()]);
        }
        srv.wait_lines(120 * (attempt + 1));
        if unix_now() > at as f64 - 0.1 && attempt < 2 {
            continue;
        }
        let p = flush(&sink, at);
        srv.stop();
        let a = attempt;
        assert_eq!(value_of(&p, &format!("stats_counts.spread{a}")), "40");
        assert_eq!(
            value_of(&p, &format!("stats.timers.spread{a}_t.count")),
            "40"
        );
        assert_eq!(
            value_of(&p, &format!("stats.timers.spread{a}_t.upper")),
            "39"
        );
        assert_eq!(value_of(&p, &format!("stats.gauges.spread{a}_g")), "40");
        let counter = format!("stats_counts.spread{attempt}");
        assert_eq!(
            p.iter().filter(|(n, _)| *n == counter).count(),
            1,
            "one owner emits it"
        );
        return;
    }
}

#[test]
fn tcp_lines_split_across_writes_and_bad_input_is_counted() {
    let sink = Sink::start();
    let srv = start(&sink, &["--shards", "1"]);
    let at = next_flush();
    let mut c = TcpStream::connect(srv.statsd_tcp.expect("tcp listener announced")).unwrap();
    c.write_all(b"tcp_a:5|c\ntcp_").unwrap();
    c.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"a:7|c\nbroken\nneg:-3|ms\n").unwrap();
    drop(c);
    srv.send_udp(&[b"\xff\xfe:1|c\n:::\n|||\nok_after_garbage:1|c", &[0u8; 300]]);
    srv.wait_lines(8);
    let bad = srv.stat("messages.bad_lines_seen");
    assert!(bad >= 3, "bad lines counted: {bad}");
    let p = flush(&sink, at);
    srv.stop();
    assert_eq!(value_of(&p, "stats_counts.tcp_a"), "12");
    assert_eq!(value_of(&p, "stats_counts.ok_after_garbage"), "1");
    assert_eq!(
        value_of(&p, "stats_counts.statsd.bad_lines_seen"),
        &bad.to_string()
    );
}

#[test]
fn admin_commands_are_answered_in_order() {
    let sink = Sink::start();
    let srv = start(&sink, &[]);
    let at = next_flush();
    srv.send_udp(&[b"admin_c:3|c\nadmin_g:9|g"]);
    srv.wait_lines(2);
    let reply = srv.admin(
        "help\nhealth down\nhealth\nhealth up\ncounters\nbogus\n",
        "END",
        1,
    );
    let lines: Vec<&str> = reply.lines().collect();
    assert!(lines[0].starts_with("Commands:"), "{reply}");
    assert_eq!(
        &lines[2..5],
        ["health: down", "health: down", "health: up"],
        "{reply}"
    );
    assert!(reply.contains("admin_c: 3"), "{reply}");
    let reply = srv.admin("delcounters admin_c\ndelcounters nothing.*\n", "END", 2);
    assert!(reply.contains("deleted: admin_c"), "{reply}");
    assert!(reply.contains("metric nothing.* not found"), "{reply}");
    let reply = srv.admin("bogus\n", "ERROR", 1);
    assert_eq!(reply, "ERROR\n");
    let p = flush(&sink, at);
    srv.stop();
    assert_eq!(value_of(&p, "stats.gauges.admin_g"), "9");
    assert!(
        !p.iter().any(|(n, _)| n == "stats_counts.admin_c"),
        "deleted counter was flushed: {p:#?}"
    );
}

#[test]
fn too_low_memlock_limit_names_the_fix() {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -l 64 && exec {} serve --statsd-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --shards 2", common::bin()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ulimit -l") && err.contains("shard_io_memory"),
        "{err}"
    );
}

#[test]
fn flushes_happen_on_the_interval_without_a_stop() {
    let sink = Sink::start();
    let fwd = sink.addr.to_string();
    let srv = Server::start(&[
        "--flush-interval",
        "500ms",
        "--forward",
        fwd.as_str(),
        "--shards",
        "2",
    ]);
    srv.send_udp(&[b"tick:1|c"]);
    let lines = sink.wait_for("stats_counts.tick 1 ", Duration::from_secs(10));
    let ts: i64 = lines
        .iter()
        .find(|l| l.starts_with("stats_counts.tick "))
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() <= 2, "flush timestamp {ts} vs now {now}");
    sink.wait_for("stats_counts.tick 0 ", Duration::from_secs(10));
    srv.stop();
}

#[test]
fn forward_outage_keeps_the_points_and_reports_the_failures() {
    // A port with nothing listening: take a free one and close it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let fwd = addr.to_string();
    let srv = Server::start(&["--shards", "1", "--flush-interval", "1s", "--forward", &fwd]);
    srv.send_udp(&[b"during_outage:5|c"]);
    srv.wait_lines(1);
    // At least two flushes fail (the forwarder retries with backoff from 100 ms).
    std::thread::sleep(Duration::from_millis(2500));
    let sink = Sink::start_on(addr);
    let lines = sink.wait_for("stats_counts.during_outage 5 ", Duration::from_secs(20));
    // Flushes made after the first failed send report it (earlier ones were made before).
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let worst = sink
            .lines()
            .iter()
            .filter_map(|l| l.strip_prefix("stats.statsd.graphiteStats.failures "))
            .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        if worst >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "no flush reported the failed sends: {:#?}",
            sink.lines()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("stats.statsd.graphiteStats.dropped_points 0 ")),
        "nothing dropped: {lines:#?}"
    );
    srv.stop();
}
