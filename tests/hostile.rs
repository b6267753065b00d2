//! Hostile input and faults (issue 13): no single client, name, query, crash or full disk
//! stalls, exhausts or kills the server. Each test runs the real binary on loopback and
//! asserts the property (answered within a bound, memory growth bounded, counters, files
//! on disk), not only that nothing panicked.
#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use lonsdaleite::storage::whisper::file;

fn now() -> i64 {
    common::unix_now() as i64
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn wsp(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join("whisper")
        .join(format!("{}.wsp", name.replace('.', "/")))
}

/// Wait until the newest value of `name`'s file is `want`.
fn wait_value(dir: &Path, name: &str, want: f64) {
    let path = wsp(dir, name);
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let t = now();
        let got = file::fetch(&path, t - 3600, None, t + 60, None)
            .ok()
            .flatten()
            .and_then(|r| r.values.iter().rev().find_map(|v| *v));
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{} holds {got:?}, not {want}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pickle_frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A protocol-2 pickle of one point.
fn pickle_point(name: &str, ts: i64, value: f64) -> Vec<u8> {
    let mut b = vec![0x80, 2, b']', b'(', b'X'];
    b.extend_from_slice(&(name.len() as u32).to_le_bytes());
    b.extend_from_slice(name.as_bytes());
    b.push(b'J');
    b.extend_from_slice(&(ts as i32).to_le_bytes());
    b.push(b'G');
    b.extend_from_slice(&value.to_be_bytes());
    b.extend_from_slice(&[0x86, 0x86, b'e', b'.']);
    b
}

/// One pickle message of 29 KB that names 200 MB: a 20 KB protocol-0 `V` name with an
/// escape, then 10 000 `DUP`s of its element, one `APPENDS`. Refused whole, the
/// connection closed and the refusal counted; the server's memory does not follow the
/// names, and a well-behaved client on another connection is stored as usual.
#[test]
fn a_pickle_message_that_names_gigabytes_is_refused_without_the_memory() {
    let srv = Server::start(&["--shards", "2", "--flush-interval", "1000s"]);
    let addr = srv.pickle_tcp.unwrap();
    let pid = srv.child.id();
    // Warm up: one ordinary message, so the baseline includes the connection paths.
    let mut good = TcpStream::connect(addr).unwrap();
    let t = now() - 30;
    good.write_all(&pickle_frame(&pickle_point("good.before", t, 1.0)))
        .unwrap();
    wait_value(srv.data_dir.path(), "good.before", 1.0);
    let before = peak_rss_kib(pid);

    let mut bomb = b"](".to_vec();
    let name = format!("{}\\u0041", "a".repeat(20_000));
    bomb.extend_from_slice(format!("(V{name}\n(I{t}\nF1.0\ntt").as_bytes());
    bomb.extend(std::iter::repeat_n(b'2', 10_000));
    bomb.extend_from_slice(b"e.");
    assert!(bomb.len() < 32_000);
    let mut evil = TcpStream::connect(addr).unwrap();
    evil.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    evil.write_all(&pickle_frame(&bomb)).unwrap();
    // The server closes the connection.
    let mut byte = [0u8; 1];
    assert_eq!(evil.read(&mut byte).unwrap_or(0), 0, "connection kept open");

    good.write_all(&pickle_frame(&pickle_point("good.after", t, 2.0)))
        .unwrap();
    wait_value(srv.data_dir.path(), "good.after", 2.0);
    let grew = peak_rss_kib(pid).saturating_sub(before);
    assert!(grew < 20 * 1024, "peak RSS grew by {grew} KiB");
    assert_eq!(srv.stat("carbon.pickle.too_expanded"), 1);
    assert!(!srv.data_dir.path().join("whisper/aaaa").exists());
    srv.stop();
}

/// Send plaintext carbon lines on one connection.
fn send_carbon(srv: &Server, text: &str) {
    let mut c = TcpStream::connect(srv.carbon_tcp.unwrap()).unwrap();
    c.write_all(text.as_bytes()).unwrap();
}

/// SIGTERM and how long the process took to exit.
fn timed_stop(srv: Server) -> (Duration, tempfile::TempDir) {
    let started = Instant::now();
    let dir = srv.stop_keeping_data();
    (started.elapsed(), dir)
}

/// Names no file can hold (an element over 255 bytes, a NUL, under `_tagged.`) beside good
/// ones: the good ones are stored, the bad ones are refused at intake by reason and never
/// reach the cache, so nothing is retried and SIGTERM does not wait for them.
#[test]
fn names_no_file_can_hold_are_refused_at_intake_and_never_retried() {
    let srv = Server::start(&["--shards", "2", "--flush-interval", "1000s"]);
    let t = now() - 30;
    let long = "x".repeat(300);
    let mut text = String::new();
    for i in 0..300 {
        let _ = writeln!(text, "bad.{long}.m{i} {i} {t}");
    }
    for i in 0..50 {
        let _ = writeln!(text, "bad.nul\0.m{i} {i} {t}");
        let _ = writeln!(text, "_tagged.abc.m{i} {i} {t}");
    }
    for i in 0..100 {
        let _ = writeln!(text, "good.m{i} {i} {t}");
    }
    send_carbon(&srv, &text);
    for i in 0..100 {
        wait_value(srv.data_dir.path(), &format!("good.m{i}"), f64::from(i));
    }
    assert_eq!(srv.stat("storage.bad_names.element_too_long"), 300);
    assert_eq!(srv.stat("storage.bad_names.nul"), 50);
    assert_eq!(srv.stat("storage.bad_names.reserved"), 50);
    assert_eq!(srv.stat("storage.bad_names"), 400);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(srv.stat("storage.errors"), 0, "nothing was retried");
    assert_eq!(srv.stat("storage.cache_size"), 0);
    let (took, dir) = timed_stop(srv);
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
    assert!(!dir.path().join("whisper/bad").exists());
    assert!(!dir.path().join("whisper/_tagged/abc").exists());
}

/// A damaged whisper file is moved to the quarantine directory and the series' points go
/// to a new file; an error no retry can mend (a path through a regular file) drops that
/// series' points, counted, while every other series is written.
#[test]
fn a_damaged_file_is_quarantined_and_a_hopeless_series_is_dropped() {
    let srv = Server::start(&["--shards", "1", "--flush-interval", "1000s"]);
    let whisper = srv.data_dir.path().join("whisper");
    std::fs::create_dir_all(whisper.join("dmg")).unwrap();
    std::fs::write(whisper.join("dmg/file.wsp"), b"not a whisper header at all").unwrap();
    std::fs::write(
        whisper.join("blocked"),
        b"a file where a directory should be",
    )
    .unwrap();
    let t = now() - 30;
    send_carbon(
        &srv,
        &format!("dmg.file 7 {t}\nblocked.series 8 {t}\nfine.series 9 {t}\n"),
    );
    wait_value(srv.data_dir.path(), "fine.series", 9.0);
    wait_value(srv.data_dir.path(), "dmg.file", 7.0);
    assert_eq!(srv.stat("storage.quarantined"), 1);
    let end = Instant::now() + Duration::from_secs(10);
    while srv.stat("storage.dropped.enotdir") != 1 {
        assert!(Instant::now() < end, "blocked.series not dropped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let quarantined: Vec<_> = std::fs::read_dir(srv.data_dir.path().join("quarantine/dmg"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(quarantined.len(), 1);
    assert!(quarantined[0].starts_with("file.wsp."), "{quarantined:?}");
    let (took, _dir) = timed_stop(srv);
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
}

/// SIGKILL in the middle of a burst of creates, then a restart: every `.wsp` is a whole
/// whisper file (a create is written under a temporary name, synced, then renamed), and
/// the killed process's temporary files are removed by the start-up scan.
#[test]
fn a_kill_during_creates_leaves_whole_files_and_the_restart_removes_the_temporaries() {
    let mut srv = Server::start(&["--shards", "2", "--flush-interval", "1000s"]);
    let t = now() - 30;
    let mut text = String::new();
    for i in 0..6000 {
        let _ = writeln!(text, "burst.g{}.m{i} {i} {t}", i % 60);
    }
    send_carbon(&srv, &text);
    let end = Instant::now() + Duration::from_secs(20);
    while srv.stat("storage.creates") < 500 {
        assert!(Instant::now() < end, "creates did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();
    let dir = std::mem::replace(&mut srv.data_dir, tempfile::tempdir().unwrap());
    drop(srv);
    // Whatever the kill left: whole files, and perhaps temporaries.
    let walk = |root: &Path| -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
        out
    };
    let whisper = dir.path().join("whisper");
    let files = walk(&whisper);
    let wsp: Vec<_> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wsp"))
        .collect();
    assert!(!wsp.is_empty());
    for p in &wsp {
        assert!(
            file::info(p).is_ok(),
            "{} is not a whole whisper file",
            p.display()
        );
    }
    // A stale temporary of a crashed process, as a kill mid-create leaves.
    std::fs::write(
        whisper.join("burst/.lonsdaleite-4194303-9.tmp"),
        b"cut short",
    )
    .unwrap();
    let srv = Server::start_in(dir, &["--shards", "2", "--flush-interval", "1000s"]);
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<_> = walk(&srv.data_dir.path().join("whisper"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < end, "temporary files left: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    srv.stop();
}

/// The PID of a server, for signals.
fn signal(srv: &Server, sig: i32) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe { libc::kill(srv.child.id() as i32, sig) };
}

/// SIGHUP never ends the process (its default action does): it reads the storage rules
/// again at once (not after `storage.rules_check_interval`) and the config file's
/// `log_level`.
#[test]
fn sighup_reloads_the_rules_and_the_log_level_and_the_server_keeps_running() {
    let conf = tempfile::tempdir().unwrap();
    let cfg = conf.path().join("lonsdaleite.toml");
    std::fs::write(&cfg, "log_level = \"info\"\n").unwrap();
    let schemas = conf.path().join("storage-schemas.conf");
    std::fs::write(&schemas, "[all]\npattern = .*\nretentions = 60s:1d\n").unwrap();
    let cfg_arg = cfg.display().to_string();
    let srv = Server::start(&[
        "--shards",
        "1",
        "--flush-interval",
        "1000s",
        "--config",
        &cfg_arg,
    ]);
    let t = now() - 30;
    send_carbon(&srv, &format!("rules.before 1 {t}\n"));
    wait_value(srv.data_dir.path(), "rules.before", 1.0);
    std::fs::write(&schemas, "[all]\npattern = .*\nretentions = 10s:1d\n").unwrap();
    std::fs::write(&cfg, "log_level = \"debug\"\n").unwrap();
    signal(&srv, libc::SIGHUP);
    let end = Instant::now() + Duration::from_secs(10);
    while !srv.stderr().contains("SIGHUP: log level applied") {
        assert!(Instant::now() < end, "no reload logged: {}", srv.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    send_carbon(&srv, &format!("rules.after 2 {t}\n"));
    wait_value(srv.data_dir.path(), "rules.after", 2.0);
    let step = |name: &str| {
        file::info(&wsp(srv.data_dir.path(), name))
            .unwrap()
            .archives[0]
            .seconds_per_point
    };
    assert_eq!((step("rules.before"), step("rules.after")), (60, 10));
    assert!(
        srv.stat("messages.metrics_received") == 0,
        "the server answers"
    );
    srv.stop();
}

/// A panic on one shard stops the server instead of leaving it half alive: the other
/// shard stops waiting for it, drains what it holds to disk, and the process exits with
/// a failure status within a bound.
#[test]
fn a_shard_that_panics_stops_the_server_and_the_other_shards_drain() {
    let mut srv = Server::start_with(
        tempfile::tempdir().unwrap(),
        &["--shards", "2", "--flush-interval", "2s"],
        &[("LONSDALEITE_FAILPOINT", "shard-panic:1")],
    );
    let t = now() - 30;
    let mut text = String::new();
    for i in 0..200 {
        let _ = writeln!(text, "panic.m{i} {i} {t}");
    }
    send_carbon(&srv, &text);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = srv.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still running after a shard panicked: {}",
            srv.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "exit status {status}");
    let log = srv.stderr();
    assert!(log.contains("a shard panicked"), "{log}");
    // Shard 0's series were drained to disk.
    let stored = (0..200)
        .filter(|i| wsp(srv.data_dir.path(), &format!("panic.m{i}")).exists())
        .count();
    assert!(stored > 50, "only {stored} series stored");
    let _ = srv.child.wait();
}
