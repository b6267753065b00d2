//! Hostile input and faults (issue 13): no single client, name, query, crash or full disk
//! stalls, exhausts or kills the server. Each test runs the real binary on loopback and
//! asserts the property (answered within a bound, memory growth bounded, counters, files
//! on disk), not only that nothing panicked.
#![allow(clippy::unwrap_used)]

mod common;

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
