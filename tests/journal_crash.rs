//! The write-ahead journal (`storage.journal = "process"`, issue 16) against SIGKILL: every
//! carbon point the server counted as received (`carbon.metrics_received`, which with a
//! journal means journaled) is in the whisper files after a restart replays the journal,
//! with its value; a torn or damaged segment tail is cut and counted, the rest replayed.
//! New files are limited to a few a second, so most points are still only in the cache
//! (and the journal) when the process dies.
// Exact float comparison: every value is an integer sent and stored exactly. Test loads
// are built with format!, clearer here than write!.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::float_cmp,
    clippy::format_push_string,
    clippy::format_collect
)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Server;
use lonsdaleite::protocol::pickle::encode_message;
use lonsdaleite::storage::journal::record::SegmentReader;
use lonsdaleite::storage::whisper::file;

/// Points per series, one a minute (the default schema keeps 60 s points for a day).
const POINTS: i64 = 20;

fn now() -> i64 {
    common::unix_now() as i64
}

/// A small seeded generator (xorshift64*), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn seed() -> u64 {
    std::env::var("JOURNAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

/// A config with the journal at `level`, `creates` new files a minute, segments of
/// `segment` bytes.
fn config(dir: &Path, level: &str, creates: u32, segment: usize) -> PathBuf {
    let path = dir.join("journal-test.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\njournal = \"{level}\"\nsync_creates = false\n\
             max_creates_per_minute = {creates}\njournal_segment_bytes = {segment}\n\
             [carbon]\nhostname = \"test_host\"\n"
        ),
    )
    .unwrap();
    path
}

fn start(data: tempfile::TempDir, conf: &Path) -> Server {
    Server::start_in(data, &["--shards", "2", "--config", conf.to_str().unwrap()])
}

/// Wait until both shards have replayed their journal.
fn wait_for_replay(srv: &Server) {
    let end = Instant::now() + Duration::from_secs(60);
    while srv.stat("journal.replays_done") < 2 {
        assert!(Instant::now() < end, "the replay did not end within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value series `i` has at its `k`-th minute.
fn value(i: usize, k: i64) -> f64 {
    i as f64 * 1000.0 + k as f64
}

/// Send series `range` over plaintext TCP, minute by minute, until done or the server dies.
fn send_plaintext(addr: std::net::SocketAddr, range: std::ops::Range<usize>, base: i64) {
    let Ok(mut c) = TcpStream::connect(addr) else {
        return;
    };
    for k in 0..POINTS {
        let mut chunk = String::new();
        for i in range.clone() {
            chunk.push_str(&format!("jtest.s{i} {} {}\n", value(i, k), base + 60 * k));
        }
        if c.write_all(chunk.as_bytes()).is_err() {
            return;
        }
    }
}

/// Send series `range` as pickle messages of up to 200 points, until done or the server dies.
fn send_pickle(addr: std::net::SocketAddr, range: std::ops::Range<usize>, base: i64) {
    let Ok(mut c) = TcpStream::connect(addr) else {
        return;
    };
    let names: Vec<String> = range.clone().map(|i| format!("jtest.s{i}")).collect();
    for k in 0..POINTS {
        let points: Vec<(&[u8], i64, f64)> = range
            .clone()
            .zip(&names)
            .map(|(i, n)| (n.as_bytes(), base + 60 * k, value(i, k)))
            .collect();
        let mut out = Vec::new();
        for msg in points.chunks(200) {
            encode_message(&mut out, msg);
        }
        if c.write_all(&out).is_err() {
            return;
        }
    }
}

/// The points of series `0..series` found in the whisper files; panics on a value that
/// was never sent.
fn points_on_disk(data: &Path, series: usize, base: i64) -> u64 {
    let mut found = 0;
    for i in 0..series {
        let path = data.join(format!("whisper/jtest/s{i}.wsp"));
        if !path.exists() {
            continue;
        }
        let r = file::fetch(&path, base - 60, Some(base + 60 * POINTS), now(), None)
            .unwrap()
            .expect("the window is inside the retention");
        for (slot, v) in r.values.iter().enumerate() {
            if let Some(v) = v {
                let ts = r.from + slot as i64 * r.step;
                let k = (ts - base) / 60;
                assert!(
                    (0..POINTS).contains(&k) && *v == value(i, k),
                    "jtest.s{i} at {ts} holds {v}, which was never sent"
                );
                found += 1;
            }
        }
    }
    found
}

fn segments(data: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(data.join("journal")) else {
        return out;
    };
    for d in dirs.flatten() {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|x| x == "jrnl") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// SIGKILL the server; its data directory is kept.
fn kill(mut srv: Server) -> tempfile::TempDir {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGKILL) };
    srv.child.wait().unwrap();
    std::mem::replace(&mut srv.data_dir, tempfile::tempdir().unwrap())
}

/// A carbon plaintext and pickle load, SIGKILL at a random moment, a restart on the same
/// data directory: every point counted as received before the kill is on disk after the
/// restart's replay and drain, each with the value sent, and the journal is gone after
/// the clean stop.
#[test]
fn every_point_counted_as_received_survives_sigkill() {
    let seed = seed();
    println!("JOURNAL_SEED={seed}");
    let mut rng = Rng(seed);
    let series = 1200;
    let base = (now() / 60) * 60 - 60 * (POINTS + 2);
    let data = tempfile::tempdir().unwrap();
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = config(conf_dir.path(), "process", 300, 65536);
    let srv = start(data, &conf);
    let (plain, pickle) = (srv.carbon_tcp.unwrap(), srv.pickle_tcp.unwrap());
    let half = series / 2;
    let senders = [
        std::thread::spawn(move || send_plaintext(plain, 0..half, base)),
        std::thread::spawn(move || send_pickle(pickle, half..series, base)),
    ];
    let total = (series as u64) * POINTS as u64;
    // Kill somewhere between the first points and a while after the last.
    let delay = Duration::from_millis(20 + rng.next() % 1500);
    println!("kill after {delay:?} of a load of {total} points");
    std::thread::sleep(delay);
    let received = srv.stat("carbon.metrics_received");
    let data = kill(srv);
    for s in senders {
        s.join().unwrap();
    }
    println!(
        "received before the kill: {received}; journal: {:?}",
        segments(data.path())
    );

    let srv = start(data, &conf);
    wait_for_replay(&srv);
    let replayed = srv.stat("journal.replayed_points");
    assert_eq!(srv.stat("journal.write_errors"), 0);
    // The StatsD interval in progress at the kill is not journaled: its loss is reported.
    assert_eq!(srv.stat("statsd.lost_intervals"), 1);
    let data = srv.stop_keeping_data();
    let on_disk = points_on_disk(data.path(), series, base);
    println!("replayed {replayed}; on disk after the restart: {on_disk} of {total}");
    assert!(
        on_disk >= received,
        "seed {seed}: {received} points were counted as received before the kill, only {on_disk} are on disk"
    );
    assert!(
        segments(data.path()).is_empty(),
        "a clean stop leaves no journal: {:?}",
        segments(data.path())
    );
}

/// Send `points` of series `jtail.s0..` over plaintext and wait until all are counted.
fn load_and_wait(srv: &Server, series: usize, base: i64) -> u64 {
    let mut c = TcpStream::connect(srv.carbon_tcp.unwrap()).unwrap();
    let mut text = String::new();
    for k in 0..POINTS {
        for i in 0..series {
            text.push_str(&format!("jtest.s{i} {} {}\n", value(i, k), base + 60 * k));
        }
        // One write per minute of points: several journal records.
        c.write_all(text.as_bytes()).unwrap();
        text.clear();
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = series as u64 * POINTS as u64;
    let end = Instant::now() + Duration::from_secs(20);
    while srv.stat("carbon.metrics_received") < total {
        assert!(Instant::now() < end, "the load was not all received");
        std::thread::sleep(Duration::from_millis(20));
    }
    total
}

/// Bytes appended to a segment after a crash (a torn write), and a byte flipped inside a
/// segment's last record: each segment is read up to the damage, which is counted; every
/// point before it is replayed and written.
#[test]
fn a_torn_or_damaged_tail_is_cut_and_counted_the_rest_replayed() {
    let series = 50;
    let base = (now() / 60) * 60 - 60 * (POINTS + 2);
    let conf_dir = tempfile::tempdir().unwrap();
    // No new file at all before the kill: every point is only in the cache and journal.
    let conf = config(conf_dir.path(), "process", 1, 1 << 20);
    let srv = start(tempfile::tempdir().unwrap(), &conf);
    let total = load_and_wait(&srv, series, base);
    let data = kill(srv);
    let segs = segments(data.path());
    assert!(segs.len() >= 2, "both shards journal: {segs:?}");

    // Every point in the journal (self-metrics and StatsD's own included), and those of
    // the last record of segment 1 and how many of them are the load's.
    let (mut journaled, mut last_start, mut last_points, mut last_load) = (0, 0, 0, 0);
    for (n, seg) in segs.iter().enumerate() {
        let bytes = std::fs::read(seg).unwrap();
        let mut r = SegmentReader::new(&bytes).unwrap();
        let mut buf = Vec::new();
        loop {
            let start = r.good_bytes();
            if !r.next_record(&mut buf).unwrap() {
                break;
            }
            journaled += buf.len() as u64;
            if n == 1 {
                (last_start, last_points) = (start, buf.len() as u64);
                last_load = buf
                    .iter()
                    .filter(|p| r.name(p.0).starts_with(b"jtest."))
                    .count() as u64;
            }
        }
    }
    assert!(last_points > 0);
    // Segment 0: a torn write (half a record head) at its end.
    let garbage = [0x40u8, 0, 0];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segs[0])
        .unwrap()
        .write_all(&garbage)
        .unwrap();
    let bytes = std::fs::read(&segs[1]).unwrap();
    let mut damaged = bytes.clone();
    damaged[last_start + 12] ^= 0x55;
    std::fs::write(&segs[1], &damaged).unwrap();

    let srv = start(data, &conf);
    wait_for_replay(&srv);
    assert_eq!(srv.stat("journal.damaged_segments"), 2);
    assert_eq!(
        srv.stat("journal.cut_bytes"),
        garbage.len() as u64 + (bytes.len() - last_start) as u64
    );
    assert_eq!(srv.stat("journal.replayed_points"), journaled - last_points);
    assert!(srv.stderr().contains("damaged record"), "{}", srv.stderr());
    let data = srv.stop_keeping_data();
    // The cut record's points are lost, unless their file was written before the kill
    // (the create limit lets one file a minute through).
    let on_disk = points_on_disk(data.path(), series, base);
    assert!(
        (total - last_load..=total).contains(&on_disk),
        "{on_disk} points on disk; {total} sent, {last_load} in the cut record"
    );
    assert!(segments(data.path()).is_empty());
}

/// With `journal = "power"` and small segments: segments are closed as they fill and
/// deleted while the server runs, once their points are in whisper; every point is on
/// disk and the journal is empty when the load is written.
#[test]
fn committed_segments_are_deleted_while_running() {
    let series = 100;
    let base = (now() / 60) * 60 - 60 * (POINTS + 2);
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = config(conf_dir.path(), "power", 0, 4096);
    let srv = start(tempfile::tempdir().unwrap(), &conf);
    let total = load_and_wait(&srv, series, base);
    assert_eq!(
        srv.stat("statsd.lost_intervals"),
        0,
        "a first start lost nothing"
    );
    let written = srv.stat("journal.bytes_written");
    assert!(
        written > 4 * 4096,
        "{written} bytes journaled: several segments"
    );
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (cache, on_disk) = (
            srv.stat("storage.cache_size"),
            srv.stat("journal.bytes_on_disk"),
        );
        if cache == 0 && on_disk == 0 && segments(srv.data_dir.path()).is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "cache {cache} points, journal {on_disk} bytes on disk: {:?}",
            segments(srv.data_dir.path())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(srv.stat("journal.write_errors"), 0);
    let data = srv.stop_keeping_data();
    assert_eq!(points_on_disk(data.path(), series, base), total);
    // After a clean stop, the next start lost nothing.
    let srv = start(data, &conf);
    assert_eq!(srv.stat("statsd.lost_intervals"), 0);
}

/// `journal_max_bytes`: with nothing written to whisper (one new file a minute), a journal
/// at 90 % of its budget stops the carbon TCP reader (the sender waits, nothing is dropped)
/// and a full one refuses UDP points, counted in `journal.overflow`; the journal never
/// grows past its budget, and what was received is on disk after the stop.
#[test]
fn a_full_journal_pauses_tcp_and_counts_what_udp_loses() {
    let series = 5000;
    let base = (now() / 60) * 60 - 60 * (POINTS + 2);
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("budget.toml");
    std::fs::write(
        &conf,
        "[storage]\njournal = \"process\"\nsync_creates = false\nmax_creates_per_minute = 1\n\
         journal_segment_bytes = 65536\njournal_max_bytes = 1048576\n\
         [carbon]\nhostname = \"test_host\"\nmetric_interval = \"3600s\"\n",
    )
    .unwrap();
    let srv = Server::start(&[
        "--shards",
        "1",
        "--flush-interval",
        "3600s",
        "--config",
        conf.to_str().unwrap(),
    ]);
    let addr = srv.carbon_tcp.unwrap();
    let sender = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        for k in 0..POINTS {
            let mut chunk = String::new();
            for i in 0..series {
                chunk.push_str(&format!("jtest.s{i} {} {}\n", value(i, k), base + 60 * k));
            }
            if c.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
    });
    // Wait until reading has stopped: the count holds still for a second.
    let total = (series as u64) * POINTS as u64;
    let end = Instant::now() + Duration::from_secs(30);
    let mut last = (0, Instant::now());
    let received = loop {
        let got = srv.stat("carbon.metrics_received");
        if got != last.0 {
            last = (got, Instant::now());
        } else if got > 0 && last.1.elapsed() >= Duration::from_secs(1) {
            break got;
        }
        assert!(
            Instant::now() < end,
            "the reader never paused ({got} received)"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(received < total, "the whole load fit: {received}");
    let on_disk = srv.stat("journal.bytes_on_disk");
    assert!(
        on_disk <= 1 << 20,
        "{on_disk} bytes on disk, {} segments, {} points journaled, {} refused",
        srv.stat("journal.segments"),
        srv.stat("journal.points"),
        srv.stat("journal.overflow")
    );
    assert_eq!(
        srv.stat("journal.overflow"),
        0,
        "TCP waits, it does not drop"
    );

    // UDP cannot wait: once the journal is full, its points are refused and counted.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in 0..200 {
        let lines: String = (0..50)
            .map(|i| format!("jtest.u{d}.p{i} 1 {base}\n"))
            .collect();
        udp.send_to(lines.as_bytes(), srv.carbon_udp.unwrap())
            .unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let end = Instant::now() + Duration::from_secs(10);
    while srv.stat("journal.overflow") == 0 {
        assert!(Instant::now() < end, "no UDP point was refused");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(srv.stat("journal.bytes_on_disk") <= 1 << 20);
    let data = srv.stop_keeping_data();
    sender.join().unwrap();
    assert!(points_on_disk(data.path(), series, base) >= received);
}
