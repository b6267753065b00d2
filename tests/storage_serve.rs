//! Black-box tests of the storage path: StatsD flushes written into whisper files under
//! `<data-dir>/whisper` in carbon's layout, by the shard that owns each series, the cache
//! drained on SIGTERM, and kept in memory while the disk cannot take them.
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
    let srv = Server::start(&["--shards", "2", "--flush-interval", "2s"]);
    // Send just after a boundary; stop after the next flush and before the one after it,
    // so each file holds exactly that flush (later ones would write 0 into its 10 s slot).
    let flushed_at = common::start_of_interval(2.0, 0.05) + 2;
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
    common::sleep_until(flushed_at as f64 + 0.5);
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
            "--carbon-addr",
            "off",
            "--pickle-addr",
            "off",
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

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Wait until `path` exists and holds `want` as its newest value.
fn wait_value(path: &Path, want: f64) {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        if path.exists() && last_value(path) == Some(want) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{} never held {want} (now {:?})",
            path.display(),
            path.exists().then(|| last_value(path))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn carbon_plaintext_over_tcp_and_udp_is_stored_and_bad_lines_do_not_break_the_connection() {
    use std::fmt::Write as _;
    use std::io::Write;
    let srv = Server::start(&["--shards", "2", "--flush-interval", "1000s"]);
    let t = now() - 30;
    let mut c =
        std::net::TcpStream::connect(srv.carbon_tcp.expect("carbon tcp announced")).unwrap();
    let mut text = String::new();
    for i in 0..50 {
        let _ = writeln!(text, "servers.web{i}.cpu.user {i}.5 {t}");
    }
    text.push_str("garbage\nonly two\nx nan 1\n\tservers.tabbed  7   -1\n");
    // One line split across two writes.
    c.write_all(text.as_bytes()).unwrap();
    c.write_all(b"servers.split.value 12").unwrap();
    c.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(format!("3 {t}\n").as_bytes()).unwrap();
    drop(c);
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(
        format!("servers.udp.one 1 {t}\nservers.udp.two 2 {t}").as_bytes(),
        srv.carbon_udp.expect("carbon udp announced"),
    )
    .unwrap();
    let dir = srv.data_dir.path().to_owned();
    wait_value(&wsp(&dir, "servers.web49.cpu.user"), 49.5);
    wait_value(&wsp(&dir, "servers.split.value"), 123.0);
    wait_value(&wsp(&dir, "servers.tabbed"), 7.0);
    wait_value(&wsp(&dir, "servers.udp.two"), 2.0);
    // 50 + tabbed + split + 2 over UDP; `garbage`, `only two` and the NaN are bad lines.
    assert_eq!(srv.stat("carbon.metrics_received"), 54);
    assert_eq!(srv.stat("carbon.bad_lines"), 3);
    // The writer publishes its counters after each round of writes.
    let end = Instant::now() + Duration::from_secs(10);
    while srv.stat("storage.committed_points") < 54 {
        assert!(Instant::now() < end, "committed points not reported");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = srv.stop_keeping_data();
    for i in 0..50 {
        assert_eq!(
            last_value(&wsp(dir.path(), &format!("servers.web{i}.cpu.user"))),
            Some(f64::from(i) + 0.5)
        );
    }
    // Default rules: 60s:1d,5m:30d,1h:3y for names that match nothing else.
    let h = file::info(&wsp(dir.path(), "servers.udp.one")).unwrap();
    assert_eq!(h.archives[0].seconds_per_point, 60);
    assert!(!wsp(dir.path(), "x").exists(), "a NaN point is dropped");
}

#[test]
fn carbon_connections_are_spread_over_the_shards_and_each_still_stores_its_points() {
    use std::io::Write;
    let srv = Server::start(&["--shards", "2", "--flush-interval", "1000s"]);
    let t = now() - 30;
    let addr = srv.carbon_tcp.expect("carbon tcp announced");
    let per_shard = |srv: &Server| {
        (
            srv.stat("carbon.shard.0.connections"),
            srv.stat("carbon.shard.1.connections"),
        )
    };
    // The kernel picks a shard's listener by a hash of the addresses, so four connections
    // land two and two only 6 times in 16 without the hand-over. Each connection is open
    // (its line received) before the next one connects.
    let mut conns = Vec::new();
    for i in 0..4 {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(format!("spread.conn{i} {i} {t}\n").as_bytes())
            .unwrap();
        conns.push(c);
        let end = Instant::now() + Duration::from_secs(10);
        while srv.stat("carbon.metrics_received") < i + 1 {
            assert!(Instant::now() < end, "line {i} not received");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert_eq!(per_shard(&srv), (2, 2));
    // Connections handed to the other shard are read there: more lines on every one.
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(format!("spread.conn{i} {} {t}\n", i + 10).as_bytes())
            .unwrap();
    }
    drop(conns);
    let end = Instant::now() + Duration::from_secs(10);
    while per_shard(&srv) != (0, 0) {
        assert!(Instant::now() < end, "closed connections still counted");
        std::thread::sleep(Duration::from_millis(10));
    }
    let dir = srv.data_dir.path().to_owned();
    for i in 0..4 {
        wait_value(&wsp(&dir, &format!("spread.conn{i}")), f64::from(i + 10));
    }
}

#[test]
fn carbon_pickle_is_stored_and_objects_are_refused() {
    use std::io::Write;
    let srv = Server::start(&["--shards", "1", "--flush-interval", "1000s"]);
    let t = now() - 30;
    // Hand-made protocol-2 pickle of [("pickled.a", (t, 1.5)), ("pickled.b", (t, 2))].
    let mut body = vec![0x80, 2, b']', b'('];
    for (name, v) in [("pickled.a", 1.5f64), ("pickled.b", 2.0)] {
        body.push(b'X');
        body.extend_from_slice(&(name.len() as u32).to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        body.push(b'J');
        body.extend_from_slice(&(t as i32).to_le_bytes());
        body.push(b'G');
        body.extend_from_slice(&v.to_be_bytes());
        body.extend_from_slice(&[0x86, 0x86]); // TUPLE2 TUPLE2
    }
    body.extend_from_slice(b"e.");
    // A malicious message first: GLOBAL os.system — refused, the connection goes on.
    let evil = b"cos\nsystem\n(S'true'\ntR.";
    let mut c = std::net::TcpStream::connect(srv.pickle_tcp.expect("pickle announced")).unwrap();
    for msg in [&evil[..], &body[..]] {
        c.write_all(&(msg.len() as u32).to_be_bytes()).unwrap();
        c.write_all(msg).unwrap();
    }
    c.flush().unwrap();
    let dir = srv.data_dir.path().to_owned();
    wait_value(&wsp(&dir, "pickled.a"), 1.5);
    wait_value(&wsp(&dir, "pickled.b"), 2.0);
    drop(c);
    srv.stop();
}

#[test]
fn carbon_self_metrics_are_stored_with_carbons_names() {
    use std::io::Write;
    let (srv, _) = start_configured(
        "2",
        &[(
            "lonsdaleite.toml",
            "[carbon]\nhostname = \"test.host\"\nmetric_interval = \"1s\"\n",
        )],
    );
    let t = now() - 30;
    let mut c = std::net::TcpStream::connect(srv.carbon_tcp.unwrap()).unwrap();
    c.write_all(format!("a.b 1 {t}\na.c 2 {t}\n").as_bytes())
        .unwrap();
    drop(c);
    let dir = srv.data_dir.path().to_owned();
    let received = wsp(&dir, "carbon.agents.test_host.metricsReceived");
    let end = Instant::now() + Duration::from_secs(15);
    while !(received.exists() && last_value(&received).unwrap_or(0.0) >= 2.0) {
        assert!(
            Instant::now() < end,
            "carbon.agents.*.metricsReceived never reached 2"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_value(&wsp(&dir, "a.c"), 2.0);
    let dir = srv.stop_keeping_data();
    for m in [
        "committedPoints",
        "updateOperations",
        "creates",
        "errors",
        "cache/size",
        "cache/queues",
        "cache/overflow",
    ] {
        let p = dir
            .path()
            .join("whisper/carbon/agents/test_host")
            .join(format!("{m}.wsp"));
        assert!(p.exists(), "{} missing", p.display());
    }
}

/// Start a server whose config directory holds `files` (name, text) next to its
/// `lonsdaleite.toml` (given or empty); the directory is kept for the test's life.
fn start_configured(shards: &str, files: &[(&str, &str)]) -> (Server, std::path::PathBuf) {
    let conf = tempfile::tempdir().unwrap().keep();
    std::fs::write(conf.join("lonsdaleite.toml"), "").unwrap();
    for (name, text) in files {
        std::fs::write(conf.join(name), text).unwrap();
    }
    let cfg = conf.join("lonsdaleite.toml").display().to_string();
    let srv = Server::start(&[
        "--shards",
        shards,
        "--flush-interval",
        "1000s",
        "--config",
        &cfg,
    ]);
    (srv, conf)
}

fn first_step(path: &Path) -> u32 {
    file::info(path).unwrap().archives[0].seconds_per_point
}

#[test]
fn storage_rules_are_reloaded_while_running_and_a_broken_file_keeps_the_old_rules() {
    use std::io::Write;
    let (srv, conf) = start_configured(
        "1",
        &[
            (
                "storage-schemas.conf",
                "[reload]\npattern = ^reload\\.\nretentions = 60s:1d\n",
            ),
            (
                "lonsdaleite.toml",
                "[storage]\nrules_check_interval = \"100ms\"\n",
            ),
        ],
    );
    let schemas = conf.join("storage-schemas.conf");
    let send = |name: &str| {
        let mut c = std::net::TcpStream::connect(srv.carbon_tcp.unwrap()).unwrap();
        c.write_all(format!("{name} 1 {}\n", now() - 5).as_bytes())
            .unwrap();
    };
    let dir = srv.data_dir.path().to_owned();
    send("reload.a");
    wait_value(&wsp(&dir, "reload.a"), 1.0);
    assert_eq!(first_step(&wsp(&dir, "reload.a")), 60);
    std::fs::write(
        &schemas,
        "[reload]\npattern = ^reload\\.\nretentions = 10s:1h\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    send("reload.b");
    wait_value(&wsp(&dir, "reload.b"), 1.0);
    assert_eq!(first_step(&wsp(&dir, "reload.b")), 10);
    std::fs::write(&schemas, "[reload]\npattern = (\nretentions = 5s:1h\n").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    send("reload.c");
    wait_value(&wsp(&dir, "reload.c"), 1.0);
    assert_eq!(
        first_step(&wsp(&dir, "reload.c")),
        10,
        "the broken file must not replace the rules"
    );
    assert!(
        srv.stderr().contains("storage rules not reloaded"),
        "{}",
        srv.stderr()
    );
    srv.stop();
}

#[test]
fn create_rate_limit_makes_points_wait_and_shutdown_writes_them_all() {
    use std::io::Write;
    let (srv, _) = start_configured(
        "1",
        &[(
            "lonsdaleite.toml",
            "[storage]\nmax_creates_per_minute = 2\n",
        )],
    );
    let t = now() - 5;
    let mut c = std::net::TcpStream::connect(srv.carbon_tcp.unwrap()).unwrap();
    for i in 0..5 {
        c.write_all(format!("limited.s{i} {i} {t}\n").as_bytes())
            .unwrap();
    }
    drop(c);
    std::thread::sleep(Duration::from_millis(1500));
    let created = (0..5)
        .filter(|i| wsp(srv.data_dir.path(), &format!("limited.s{i}")).exists())
        .count();
    assert_eq!(created, 2, "two creates allowed in the first minute");
    let dir = srv.stop_keeping_data();
    for i in 0..5 {
        assert_eq!(
            last_value(&wsp(dir.path(), &format!("limited.s{i}"))),
            Some(f64::from(i))
        );
    }
}

#[test]
fn carbon_tagged_names_are_normalised_into_one_series() {
    use std::io::Write;
    let srv = Server::start(&["--shards", "2", "--flush-interval", "1000s"]);
    let t = now() - 120;
    let mut c = std::net::TcpStream::connect(srv.carbon_tcp.unwrap()).unwrap();
    c.write_all(
        format!(
            "disk.used;host=a;dc=eu 5 {t}\ndisk.used;dc=eu;host=a 7 {}\n",
            t + 60
        )
        .as_bytes(),
    )
    .unwrap();
    drop(c);
    let rel = lonsdaleite::protocol::tagged::storage_path(b"disk.used;dc=eu;host=a", true);
    let path = srv.data_dir.path().join("whisper").join(rel);
    assert!(path.starts_with(srv.data_dir.path().join("whisper/_tagged")));
    wait_value(&path, 7.0);
    let dir = srv.stop_keeping_data();
    let path = dir
        .path()
        .join("whisper")
        .join(lonsdaleite::protocol::tagged::storage_path(
            b"disk.used;dc=eu;host=a",
            true,
        ));
    let r = file::fetch(&path, t - 60, Some(t + 120), now() + 60, None)
        .unwrap()
        .unwrap();
    let got: Vec<f64> = r.values.iter().flatten().copied().collect();
    assert_eq!(got, [5.0, 7.0], "both tag orders land in one file");
}

#[test]
fn sigterm_under_load_loses_nothing_that_was_received() {
    use std::fmt::Write as _;
    use std::io::Write;
    // Small files (60 points each), so the test measures the drain, not the disk.
    let (srv, _) = start_configured(
        "2",
        &[(
            "storage-schemas.conf",
            "[load]\npattern = ^load\\.\nretentions = 60s:1h\n",
        )],
    );
    let t = now() - 30;
    let total = 3000u64;
    let addr = srv.carbon_tcp.unwrap();
    // Three connections in parallel, as agents would.
    let senders: Vec<_> = (0..3u64)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let mut text = String::new();
                for i in (c..total).step_by(3) {
                    let _ = writeln!(text, "load.s{}.m{i} {i} {t}", i % 50);
                }
                s.write_all(text.as_bytes()).unwrap();
            })
        })
        .collect();
    for h in senders {
        h.join().unwrap();
    }
    // Stop as soon as everything is received: most points are still in the caches.
    let end = Instant::now() + Duration::from_secs(20);
    while srv.stat("carbon.metrics_received") < total {
        assert!(Instant::now() < end, "not all points received");
        std::thread::sleep(Duration::from_millis(5));
    }
    let dir = srv.stop_keeping_data();
    let sample = wsp(dir.path(), "load.s0.m0");
    assert_eq!(file::info(&sample).unwrap().archives[0].points, 60);
    let missing: Vec<u64> = (0..total)
        .filter(|i| {
            last_value(&wsp(dir.path(), &format!("load.s{}.m{i}", i % 50))) != Some(*i as f64)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {total} points lost: {:?}…",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

/// Makes a path immutable (`chattr +i`: even root cannot write it) until dropped.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(paths: &[std::path::PathBuf]) -> Self {
        for p in paths {
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(p)
                .status();
            assert!(
                ok.is_ok_and(|s| s.success()),
                "chattr +i {} failed: this test needs e2fsprogs' chattr and a file system with the immutable flag (ext4, xfs, btrfs)",
                p.display()
            );
        }
        Self(paths.to_vec())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(p)
                .status();
        }
    }
}

#[test]
fn an_unwritable_data_directory_gives_counted_errors_and_no_corrupt_files() {
    use std::io::Write;
    let srv = Server::start(&["--shards", "1", "--flush-interval", "1000s"]);
    let t = now() - 300;
    let send = |line: String| {
        let mut c = std::net::TcpStream::connect(srv.carbon_tcp.unwrap()).unwrap();
        c.write_all(line.as_bytes()).unwrap();
    };
    let dir = srv.data_dir.path().to_owned();
    let existing = wsp(&dir, "ro.a");
    send(format!("ro.a 1 {t}\n"));
    wait_value(&existing, 1.0);
    let before = std::fs::read(&existing).unwrap();
    let ro_dir = dir.join("whisper/ro");
    let guard = Immutable::set(&[existing.clone(), ro_dir.clone()]);
    let errors_before = srv.stat("storage.errors");
    send(format!("ro.a 2 {}\nro.b 3 {t}\n", t + 60));
    let end = Instant::now() + Duration::from_secs(15);
    while srv.stat("storage.errors") < errors_before + 2 {
        assert!(Instant::now() < end, "write errors not counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(srv.stderr().contains("eacces"), "{}", srv.stderr());
    assert_eq!(
        std::fs::read(&existing).unwrap(),
        before,
        "the file was changed"
    );
    let names: Vec<String> = std::fs::read_dir(&ro_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.wsp"], "no new or temporary file");
    // Writable again: the held points are written without a restart.
    drop(guard);
    wait_value(&wsp(&dir, "ro.b"), 3.0);
    wait_value(&existing, 2.0);
    srv.stop();
}

/// Many series through a writer that keeps only two files open: every point of every
/// series reaches its file, across several waves that reopen evicted files.
#[test]
fn a_small_open_file_set_writes_every_point_of_many_series() {
    use std::fmt::Write as _;
    use std::io::Write;
    let started = std::time::SystemTime::now();
    let (srv, _conf) = start_configured(
        "1",
        &[(
            "lonsdaleite.toml",
            "[storage]\nopen_files = 2\npage_cache_bytes = 16384\n",
        )],
    );
    let t0 = now() - 3600;
    let (series, waves) = (30_i64, 4_i64);
    let mut c = std::net::TcpStream::connect(srv.carbon_tcp.expect("carbon tcp")).unwrap();
    for w in 0..waves {
        let mut text = String::new();
        for s in 0..series {
            for k in 0..5 {
                let ts = t0 + (w * 5 + k) * 60;
                let _ = writeln!(text, "lru.s{s} {} {ts}", s * 100 + w * 5 + k);
            }
        }
        c.write_all(text.as_bytes()).unwrap();
        // Let the writer catch up so later waves find evicted files to reopen.
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(c);
    let want = (series * waves * 5) as u64;
    let end = Instant::now() + Duration::from_secs(15);
    while srv.stat("storage.committed_points") < want || srv.stat("storage.cache_size") > 0 {
        assert!(Instant::now() < end, "not every point was committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The time of the last commit is reported, within this test's window.
    let unix_ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
    };
    let last = srv.stat("storage.last_commit_unix_ms");
    assert!(
        last >= unix_ms(started) && last <= unix_ms(std::time::SystemTime::now()),
        "storage.last_commit_unix_ms {last} is outside the test's window"
    );
    let dir = srv.stop_keeping_data();
    for s in 0..series {
        let path = wsp(dir.path(), &format!("lru.s{s}"));
        let fetched = file::fetch(&path, t0 - 60, Some(now()), now(), None)
            .unwrap()
            .expect("a window");
        let values: Vec<f64> = fetched.values.into_iter().flatten().collect();
        let expected: Vec<f64> = (0..waves * 5).map(|i| (s * 100 + i) as f64).collect();
        assert_eq!(values, expected, "series lru.s{s}");
    }
}
