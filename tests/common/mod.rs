//! Harness for black-box tests: runs the real `lonsdaleite` binary on 127.0.0.1 ports
//! chosen by the kernel, with a Graphite plaintext sink standing in for carbon.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A TCP listener that records every line it receives.
pub struct Sink {
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap())
    }

    /// A sink on a given address (to bring a target back after an outage).
    pub fn start_on(addr: SocketAddr) -> Self {
        let l = TcpListener::bind(addr).unwrap();
        let addr = l.local_addr().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let store = lines.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { return };
                let store = store.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(conn).lines() {
                        let Ok(line) = line else { return };
                        store.lock().unwrap().push(line);
                    }
                });
            }
        });
        Self { addr, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Wait until some received line starts with `prefix`; returns all lines.
    pub fn wait_for(&self, prefix: &str, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        loop {
            let l = self.lines();
            if l.iter().any(|x| x.starts_with(prefix)) {
                std::thread::sleep(Duration::from_millis(100));
                return self.lines();
            }
            assert!(
                Instant::now() < end,
                "no line starting with {prefix:?} within {timeout:?}; got {l:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `name value` pairs of the flush stamped `ts`, once its first line arrived
    /// (then 200 ms more for the rest of it).
    pub fn flush_at(&self, ts: i64, timeout: Duration) -> Vec<(String, String)> {
        let stamp = format!(" {ts}");
        let end = Instant::now() + timeout;
        while !self.lines().iter().any(|l| l.ends_with(&stamp)) {
            assert!(
                Instant::now() < end,
                "no flush stamped {ts} within {timeout:?}; got {:#?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        self.lines()
            .iter()
            .filter_map(|l| l.strip_suffix(&stamp))
            .filter_map(|l| l.split_once(' '))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    /// `name value` pairs (timestamp dropped).
    pub fn points(&self) -> Vec<(String, String)> {
        self.lines()
            .iter()
            .filter_map(|l| {
                let mut f = l.split(' ');
                Some((f.next()?.to_owned(), f.next()?.to_owned()))
            })
            .collect()
    }
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub statsd_udp: SocketAddr,
    pub statsd_tcp: Option<SocketAddr>,
    pub admin: SocketAddr,
    pub carbon_tcp: Option<SocketAddr>,
    pub carbon_udp: Option<SocketAddr>,
    pub pickle_tcp: Option<SocketAddr>,
    /// The Graphite HTTP API.
    pub http: Option<SocketAddr>,
    pub data_dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lonsdaleite")
}

impl Server {
    /// Start `serve` on loopback ports with extra arguments.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), extra)
    }

    /// Start `serve` on `data_dir` (a restart: the directory a stopped server kept).
    pub fn start_in(data_dir: tempfile::TempDir, extra: &[&str]) -> Self {
        Self::start_with(data_dir, extra, &[])
    }

    /// Start `serve` on `data_dir` with extra environment variables.
    pub fn start_with(data_dir: tempfile::TempDir, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--statsd-addr",
                "127.0.0.1:0",
                "--admin-addr",
                "127.0.0.1:0",
                "--carbon-addr",
                "127.0.0.1:0",
                "--pickle-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir.path())
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let store = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                store
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut udp, mut tcp, mut admin) = (None, None, None);
        let mut carbon = (None, None, None);
        let mut http = None;
        let end = Instant::now() + Duration::from_secs(20);
        while admin.is_none() {
            assert!(
                Instant::now() < end,
                "server did not announce its listeners; stderr: {}",
                stderr.lock().unwrap()
            );
            let mut line = String::new();
            let n = out.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "server exited early; stderr: {}",
                stderr.lock().unwrap()
            );
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["listening", "statsd", "udp", a] => udp = Some(a.parse().unwrap()),
                ["listening", "statsd", "tcp", a] => tcp = Some(a.parse().unwrap()),
                ["listening", "admin", "tcp", a] => admin = Some(a.parse().unwrap()),
                ["listening", "carbon", "tcp", a] => carbon.0 = Some(a.parse().unwrap()),
                ["listening", "carbon", "udp", a] => carbon.1 = Some(a.parse().unwrap()),
                ["listening", "pickle", "tcp", a] => carbon.2 = Some(a.parse().unwrap()),
                ["listening", "http", "tcp", a] => http = Some(a.parse().unwrap()),
                _ => {}
            }
        }
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = out.read_to_string(&mut sink);
        });
        Self {
            child,
            statsd_udp: udp.unwrap(),
            statsd_tcp: tcp,
            admin: admin.unwrap(),
            carbon_tcp: carbon.0,
            carbon_udp: carbon.1,
            pickle_tcp: carbon.2,
            http,
            data_dir,
            stderr,
        }
    }

    /// One HTTP/1.1 request to the API; returns (status, headers lower-cased, body).
    pub fn http_request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpReply {
        let addr = self.http.expect("the server has an HTTP listener");
        http_request(addr, method, target, headers, body)
    }

    /// GET `target` (path and query string).
    pub fn get(&self, target: &str) -> HttpReply {
        self.http_request("GET", target, &[], b"")
    }

    /// POST a form body to `target`.
    pub fn post_form(&self, target: &str, form: &str) -> HttpReply {
        self.http_request(
            "POST",
            target,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Send each datagram from one client socket.
    pub fn send_udp(&self, datagrams: &[&[u8]]) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for d in datagrams {
            s.send_to(d, self.statsd_udp).unwrap();
        }
    }

    /// Send commands on one admin connection and read until `until` appears `times` times.
    pub fn admin(&self, commands: &str, until: &str, times: usize) -> String {
        let mut c = TcpStream::connect(self.admin).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(commands.as_bytes()).unwrap();
        let mut got = String::new();
        let mut buf = vec![0u8; 65536];
        while got.matches(until).count() < times {
            let n = c.read(&mut buf).expect("admin reply timed out");
            assert!(n > 0, "admin closed early: {got}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        got
    }

    /// A stat from the admin `stats` command.
    pub fn stat(&self, name: &str) -> u64 {
        let reply = self.admin("stats\n", "END", 1);
        reply
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("{name} missing from {reply}"))
            .parse()
            .unwrap()
    }

    /// Wait until the server has received `n` lines in total.
    pub fn wait_lines(&self, n: u64) {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.stat("messages.metrics_received");
            if got >= n {
                return;
            }
            assert!(Instant::now() < end, "server received {got} of {n} lines");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> String {
        self.terminate();
        self.stderr()
    }

    /// SIGTERM, wait for a clean exit, and keep the data directory for inspection.
    pub fn stop_keeping_data(mut self) -> tempfile::TempDir {
        self.terminate();
        std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap())
    }

    fn terminate(&mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                assert!(status.success(), "exit {status}; stderr: {}", self.stderr());
                return;
            }
            assert!(
                Instant::now() < end,
                "server did not stop within 30s; stderr: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Flushes happen at wall-clock multiples of the flush interval. Sleep until `margin`
/// seconds past the next multiple of `interval` seconds and return that multiple: what is
/// sent next belongs to the interval flushed at the returned time + `interval`.
pub fn start_of_interval(interval: f64, margin: f64) -> i64 {
    let boundary = ((unix_now() / interval).floor() + 1.0) * interval;
    sleep_until(boundary + margin);
    boundary as i64
}

/// Sleep until the wall clock reads `t` (Unix seconds); returns at once if it has passed.
pub fn sleep_until(t: f64) {
    let left = t - unix_now();
    if left > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(left));
    }
}

/// Find the value of `name` in `points`; panics with the whole list when absent.
pub fn value_of<'a>(points: &'a [(String, String)], name: &str) -> &'a str {
    points.iter().rev().find(|(n, _)| n == name).map_or_else(
        || panic!("{name} not flushed; got {points:#?}"),
        |(_, v)| v.as_str(),
    )
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client: one request per connection (`Connection: close`).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    use std::fmt::Write as _;
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    let _ = write!(req, "Content-Length: {}\r\n\r\n", body.len());
    c.write_all(req.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).expect("http reply timed out");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("http reply has a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("http status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let eol = rest[pos..].windows(2).position(|w| w == b"\r\n").unwrap() + pos;
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[pos..eol])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            pos = eol + 2 + size + 2;
        }
        rest = body;
    }
    HttpReply {
        status,
        headers,
        body: rest,
    }
}

/// Percent-encodes a query or form value (every byte outside `A-Za-z0-9-_.~`).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A PNG's width, height and RGB bytes (alpha, if any, dropped).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let rgb = buf
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}
