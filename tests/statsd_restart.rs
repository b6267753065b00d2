//! A restart loses no StatsD interval and writes no flush boundary twice (issue 18).
//!
//! Each case runs a server with a 2 s flush interval, storage (one whisper slot per
//! second) and a forward sink; sends counters, timers, sets and gauges; SIGTERMs it at a
//! chosen point of an interval with a batch still unflushed; restarts it on the same data
//! directory (possibly with another shard count, possibly after the boundary has passed);
//! sends more; and then checks what a server that never stopped would have written:
//! - every counter increment, timer value and set member sent is in exactly one flush;
//! - no (series, timestamp) reaches the sink twice, and each whisper slot holds the value
//!   the sink got for that timestamp;
//! - the gauge never goes back (it is restored), and ends at the sum of its deltas.
#![allow(clippy::unwrap_used)]
#![expect(clippy::float_cmp, reason = "sums of small integers are exact")]

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{sleep_until, start_of_interval, unix_now, Server, Sink};
use lonsdaleite::storage::whisper::file;

const INTERVAL: f64 = 2.0;

/// What was sent, to compare with what came out.
#[derive(Default)]
struct Sent {
    counter: u64,
    timer_count: u64,
    timer_sum: f64,
    set_members: u64,
    gauge: f64,
}

impl Sent {
    /// One batch: 60 counter increments, 20 timer values, 20 new set members and 10 gauge
    /// deltas, over several datagrams; returns the lines sent.
    fn send(&mut self, srv: &Server) -> u64 {
        let mut datagrams = Vec::new();
        for _ in 0..10 {
            let mut text = String::new();
            for _ in 0..6 {
                text.push_str("r.c:1|c\n");
            }
            for k in 0..2 {
                let v = (self.timer_count + k) % 97;
                let _ = writeln!(text, "r.t:{v}|ms");
                self.timer_sum += v as f64;
            }
            self.timer_count += 2;
            for _ in 0..2 {
                let _ = writeln!(text, "r.s:m{}|s", self.set_members);
                self.set_members += 1;
            }
            text.push_str("r.g:+1|g");
            self.gauge += 1.0;
            self.counter += 6;
            datagrams.push(text);
        }
        let refs: Vec<&[u8]> = datagrams.iter().map(String::as_bytes).collect();
        srv.send_udp(&refs);
        11 * 10
    }
}

/// A config directory with one-second whisper slots for the StatsD series.
fn config_dir() -> PathBuf {
    let conf = tempfile::tempdir().unwrap().keep();
    std::fs::write(conf.join("lonsdaleite.toml"), "").unwrap();
    std::fs::write(
        conf.join("storage-schemas.conf"),
        "[statsd]\npattern = ^stats\nretentions = 1s:1h\n[rest]\npattern = .*\nretentions = 60s:1d\n",
    )
    .unwrap();
    conf
}

fn start(dir: tempfile::TempDir, shards: usize, sink: &Sink, conf: &Path) -> Server {
    let shards = shards.to_string();
    let fwd = sink.addr.to_string();
    let cfg = conf.join("lonsdaleite.toml").display().to_string();
    Server::start_in(
        dir,
        &[
            "--shards",
            &shards,
            "--flush-interval",
            "2s",
            "--forward",
            &fwd,
            "--config",
            &cfg,
        ],
    )
}

/// Where in the interval the server is stopped, and when it comes back.
struct Case {
    /// Seconds after the boundary at which SIGTERM is sent.
    stop_at: f64,
    /// Seconds after that boundary at which the server starts again (0: at once).
    restart_at: f64,
    shards_before: usize,
    shards_after: usize,
}

fn run(case: &Case) {
    let sink = Sink::start();
    let conf = config_dir();
    let mut sent = Sent::default();

    // First run: one batch flushed normally at b1, another in flight at the stop.
    let srv = start(
        tempfile::tempdir().unwrap(),
        case.shards_before,
        &sink,
        &conf,
    );
    let b0 = start_of_interval(INTERVAL, 0.05);
    let b1 = b0 + INTERVAL as i64;
    let n = sent.send(&srv);
    srv.wait_lines(n);
    sleep_until(b1 as f64 + 0.05);
    let m = sent.send(&srv);
    srv.wait_lines(n + m);
    sleep_until(b1 as f64 + case.stop_at);
    let dir = srv.stop_keeping_data();
    assert!(
        dir.path().join("statsd-state").is_dir(),
        "the unfinished interval was saved"
    );

    // Second run: maybe another shard count, maybe after the boundary has passed.
    sleep_until(b1 as f64 + case.restart_at);
    let srv = start(dir, case.shards_after, &sink, &conf);
    let restarted = unix_now();
    let n = sent.send(&srv);
    srv.wait_lines(n);
    // Wait for the flush after the last batch.
    let last_flush = ((unix_now() / INTERVAL).floor() + 1.0) * INTERVAL;
    sink.flush_at(last_flush as i64, Duration::from_secs(10));
    let dir = srv.stop_keeping_data();
    // The forwarder's last lines may still be in the sink's socket.
    std::thread::sleep(Duration::from_millis(300));
    let label = format!(
        "stop at +{}s, restart at +{:.2}s (asked +{}s), shards {} -> {}",
        case.stop_at,
        restarted - b1 as f64,
        case.restart_at,
        case.shards_before,
        case.shards_after
    );

    // The sink: each (series, timestamp) once.
    let lines = sink.lines();
    let mut seen: HashMap<(String, i64), f64> = HashMap::new();
    for l in &lines {
        let f: Vec<&str> = l.split(' ').collect();
        let key = (f[0].to_owned(), f[2].parse::<i64>().unwrap());
        let v: f64 = f[1].parse().unwrap();
        assert!(
            seen.insert(key.clone(), v).is_none(),
            "{label}: {key:?} flushed twice: {:#?}",
            lines
                .iter()
                .filter(|x| x.starts_with(&format!("{} ", key.0)))
                .collect::<Vec<_>>()
        );
    }
    let series = |name: &str| -> Vec<(i64, f64)> {
        let mut s: Vec<(i64, f64)> = seen
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, t), v)| (*t, *v))
            .collect();
        s.sort_by_key(|p| p.0);
        s
    };
    let sum = |name: &str| series(name).iter().map(|p| p.1).sum::<f64>();
    assert_eq!(sum("stats_counts.r.c"), sent.counter as f64, "{label}");
    assert_eq!(
        sum("stats.timers.r.t.count"),
        sent.timer_count as f64,
        "{label}"
    );
    assert_eq!(sum("stats.timers.r.t.sum"), sent.timer_sum, "{label}");
    assert_eq!(
        sum("stats.sets.r.s.count"),
        sent.set_members as f64,
        "{label}"
    );
    let gauge = series("stats.gauges.r.g");
    assert!(
        gauge.windows(2).all(|w| w[0].1 <= w[1].1),
        "{label}: the gauge went back: {gauge:?}"
    );
    assert_eq!(gauge.last().map(|p| p.1), Some(sent.gauge), "{label}");

    // The whisper files: every slot the sink got, with the same value, and nothing else.
    for name in [
        "stats_counts.r.c",
        "stats.gauges.r.g",
        "stats.timers.r.t.count",
    ] {
        let path = dir
            .path()
            .join("whisper")
            .join(format!("{}.wsp", name.replace('.', "/")));
        let now = unix_now() as i64;
        let r = file::fetch(&path, now - 600, None, now + 60, None)
            .unwrap()
            .unwrap();
        let stored: Vec<(i64, f64)> = r
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (r.from + i as i64 * r.step, v)))
            .collect();
        assert_eq!(stored, series(name), "{label}: {name} on disk vs the sink");
    }
}

#[test]
fn stop_just_after_a_flush() {
    run(&Case {
        stop_at: 0.3,
        restart_at: 0.0,
        shards_before: 2,
        shards_after: 2,
    });
}

#[test]
fn stop_mid_interval() {
    run(&Case {
        stop_at: 1.0,
        restart_at: 0.0,
        shards_before: 2,
        shards_after: 2,
    });
}

#[test]
fn stop_just_before_the_boundary() {
    run(&Case {
        stop_at: 1.85,
        restart_at: 0.0,
        shards_before: 2,
        shards_after: 2,
    });
}

#[test]
fn restart_after_the_boundary_has_passed() {
    run(&Case {
        stop_at: 1.0,
        restart_at: 2.6,
        shards_before: 2,
        shards_after: 2,
    });
}

/// The start straddles the saved boundary: its first round flushes that boundary, so the
/// saved interval must go out with it, not in a flush of its own as well.
#[test]
fn restart_straddling_the_boundary() {
    run(&Case {
        stop_at: 1.0,
        restart_at: 1.97,
        shards_before: 2,
        shards_after: 2,
    });
}

#[test]
fn shards_changed_across_the_restart() {
    for (before, after, stop_at, restart_at) in
        [(2, 1, 1.0, 0.0), (1, 2, 0.3, 0.0), (2, 3, 1.0, 2.6)]
    {
        run(&Case {
            stop_at,
            restart_at,
            shards_before: before,
            shards_after: after,
        });
    }
}

#[test]
fn a_damaged_state_file_is_set_aside_and_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("statsd-state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("shard-0.state"), b"LSDSTATS\x01\0\0\0 cut short").unwrap();
    std::fs::write(state.join("shard-1.state"), b"something else entirely").unwrap();
    std::fs::write(state.join(".shard-0.state.tmp"), b"a save cut short").unwrap();
    let sink = Sink::start();
    let conf = config_dir();
    let srv = start(dir, 2, &sink, &conf);
    let at = start_of_interval(INTERVAL, 0.05) + INTERVAL as i64;
    srv.send_udp(&[b"after:1|c"]);
    srv.wait_lines(1);
    let p = sink.flush_at(at, Duration::from_secs(10));
    assert_eq!(common::value_of(&p, "stats_counts.after"), "1");
    let log = srv.stderr();
    let dir = srv.stop_keeping_data();
    let state = dir.path().join("statsd-state");
    let aside: Vec<String> = std::fs::read_dir(state.join("set-aside"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(aside.len(), 2, "{aside:?}");
    assert!(aside.iter().any(|n| n.starts_with("shard-0.state.")));
    assert!(log.contains("checksum mismatch"), "{log}");
    assert!(log.contains("not a lonsdaleite StatsD state file"), "{log}");
    assert!(!state.join(".shard-0.state.tmp").exists());
    // The stop saved this run's state in place of the refused files.
    assert!(state.join("shard-0.state").is_file() && state.join("shard-1.state").is_file());
}
