//! Black-box tests of the storage path: StatsD flushes written into whisper files under
//! `<data-dir>/whisper` in carbon's layout, by the shard that owns each series, drained on
//! SIGTERM, and kept in memory while the disk cannot take them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use lonsdaleite::storage::whisper::file;

/// The newest non-empty value of a whisper file, read with lonsdaleite's whisper module
/// (the module itself is cross-checked against the `PyPI` whisper package in `tests/whisper_*`).
fn last_value(path: &Path) -> Option<f64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let r = file::fetch(path, now - 600, None, now + 60, None).unwrap()?;
    r.values.iter().rev().find_map(|v| *v)
}

fn wsp(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join("whisper")
        .join(format!("{}.wsp", name.replace('.', "/")))
}

#[test]
fn flushed_points_land_in_whisper_files_on_every_owner() {
    let srv = Server::start(&["--shards", "2", "--flush-interval", "1000s"]);
    let mut lines = Vec::new();
    for i in 0..20 {
        lines.push(format!(
            "app.c{i}:{i}|c\napp.g{i}:{}|g\napp.t{i}:{i}|ms",
            i * 10
        ));
    }
    let datagrams: Vec<&[u8]> = lines.iter().map(String::as_bytes).collect();
    srv.send_udp(&datagrams);
    srv.wait_lines(60);
    let dir = srv.stop_keeping_data();
    for i in 0..20 {
        let count = wsp(dir.path(), &format!("stats_counts.app.c{i}"));
        assert_eq!(
            last_value(&count),
            Some(f64::from(i)),
            "{}",
            count.display()
        );
        let gauge = wsp(dir.path(), &format!("stats.gauges.app.g{i}"));
        assert_eq!(last_value(&gauge), Some(f64::from(i * 10)));
        let upper = wsp(dir.path(), &format!("stats.timers.app.t{i}.upper"));
        assert_eq!(last_value(&upper), Some(f64::from(i)));
    }
    // The default rules give stats.* files 10s:6h,1m:7d,10m:5y (carbon's layout).
    let h = file::info(&wsp(dir.path(), "stats.gauges.app.g1")).unwrap();
    let archives: Vec<(u32, u32)> = h
        .archives
        .iter()
        .map(|a| (a.seconds_per_point, a.points))
        .collect();
    assert_eq!(archives, [(10, 2160), (60, 10080), (600, 262_800)]);
    // No temporary file is left behind.
    let leftovers = walk(&dir.path().join("whisper"))
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "wsp"))
        .count();
    assert_eq!(leftovers, 0);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn points_wait_in_memory_while_the_disk_refuses_them() {
    let srv = Server::start(&["--shards", "1", "--flush-interval", "1s"]);
    // A file where the whisper directory should be: every create fails (ENOTDIR).
    let blocker = srv.data_dir.path().join("whisper");
    std::fs::write(&blocker, b"in the way").unwrap();
    srv.send_udp(&[b"held.gauge:42|g"]);
    srv.wait_lines(1);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        srv.stderr().contains("whisper write failed"),
        "{}",
        srv.stderr()
    );
    // The cause goes away; writing resumes without a restart.
    std::fs::remove_file(&blocker).unwrap();
    let target = wsp(srv.data_dir.path(), "stats.gauges.held.gauge");
    let end = Instant::now() + Duration::from_secs(15);
    while !target.exists() {
        assert!(Instant::now() < end, "not written after the disk recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = srv.stop_keeping_data();
    assert_eq!(
        last_value(&wsp(dir.path(), "stats.gauges.held.gauge")),
        Some(42.0)
    );
}

#[test]
fn bad_storage_rules_are_a_config_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("storage-schemas.conf"),
        "[broken]\npattern = (\nretentions = 60:1d\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("lonsdaleite.toml"), "").unwrap();
    let out = std::process::Command::new(common::bin())
        .args([
            "serve",
            "--statsd-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(dir.path().join("lonsdaleite.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("storage-schemas.conf") && err.contains("broken"),
        "{err}"
    );
}
