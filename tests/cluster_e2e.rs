//! The whole cluster of issue 14 on loopback, with the real outside pieces: three
//! lonsdaleite nodes on 127.0.0.2–4; Debian's carbon-c-relay 3.7 in front of their carbon
//! ports with a `carbon_ch` ring; etsy's `proxy.js` (npm `statsd@0.9.0`,
//! `tests/cluster_proxy/`) in front of their StatsD ports; and two frontends over them,
//! lonsdaleite with `[cluster] servers` and graphite-web 1.1.10 with `CLUSTER_SERVERS` (a
//! venv made by `tests/data/cluster/e2e/install-graphite-web.sh`, which `tests/run-all`
//! runs). A fourth, separate node receives the same carbon lines directly and is what the
//! frontends must equal.
//!
//! `cluster_behind_relay_proxy_and_frontends` proves: every carbon point lands on the node
//! `cluster whereis` names and on no other; each StatsD name is aggregated on exactly one
//! node with exact totals; renders (across functions) and finds through either frontend
//! equal the single node's; with a member killed the answers are partial and fast, and
//! whole again once it is back. `a_hung_member_costs_one_timeout`: a member that accepts
//! connections and never answers costs either frontend one find or render timeout.
//! `rebalance_moves_every_series_to_its_new_owner` adds a fourth node and runs `cluster
//! rebalance` on the old ones: every series ends on its new owner with all its points.
//!
//! `KEEP=1` keeps the work directory (configs and every process's log).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{http_request, percent_encode, unix_now};
use serde_json::Value;

const E2E_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cluster/e2e");
const PROXY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster_proxy");
const RELAY: &str = "/usr/bin/carbon-c-relay";

/// Carbon points are one a minute (storage-schemas.conf: 60s:1d), `POINTS` of them per
/// series, ending a minute before `t_end`.
const STEP: i64 = 60;
const POINTS: i64 = 60;

/// graphite-web's `FIND_TIMEOUT` and `FETCH_TIMEOUT` (its defaults; lonsdaleite's too),
/// and what a partial answer may take beyond them on this loaded 2-core machine.
const FIND_TIMEOUT: Duration = Duration::from_secs(3);
const FETCH_TIMEOUT: Duration = Duration::from_secs(6);
const MARGIN: Duration = Duration::from_secs(2);
/// How long both frontends leave a failed member out (`REMOTE_RETRY_DELAY`, 60 s by default).
const RETRY_DELAY_S: u64 = 2;

/// The tests share the loopback addresses and the machine's two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------------------
// Processes

/// A child in its own process group; the group is killed when this is dropped (a test that
/// panics leaves nothing running: gunicorn's worker goes with its master).
struct Guarded {
    name: String,
    child: Child,
    log: PathBuf,
    done: bool,
}

impl Guarded {
    /// Starts `cmd` with stderr (and stdout, unless the caller piped it) to `log`.
    fn spawn(name: &str, mut cmd: Command, log: &Path) -> Self {
        Self::spawn_with(name, cmd.stdout(Stdio::null()), log, false)
    }

    fn spawn_with(name: &str, cmd: &mut Command, log: &Path, piped_stdout: bool) -> Self {
        let out = std::fs::File::create(log).unwrap();
        cmd.stdin(Stdio::null())
            .stderr(out.try_clone().unwrap())
            .process_group(0);
        if !piped_stdout {
            cmd.stdout(out);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {:?}: {e}", cmd.get_program()));
        Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            done: false,
        }
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// The last lines of its log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(30);
        format!(
            "{} log ({}):\n{}",
            self.name,
            self.log.display(),
            lines[from..].join("\n")
        )
    }

    fn signal_group(&self, sig: i32) {
        // SAFETY: kill(2) on the process group of our own child; no memory is involved.
        unsafe { libc::kill(-(self.child.id() as i32), sig) };
    }

    /// SIGTERM, and wait (bounded) for the exit; SIGKILL after `grace`.
    fn terminate(&mut self, grace: Duration) {
        self.signal_group(libc::SIGTERM);
        let end = Instant::now() + grace;
        while !self.exited() {
            if Instant::now() > end {
                self.signal_group(libc::SIGKILL);
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.done = true;
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if !self.done {
            self.signal_group(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The work directory of one test: every config, data directory and log.
fn workdir(name: &str) -> PathBuf {
    let path = tempfile::Builder::new()
        .prefix(&format!("cluster-e2e-{name}."))
        .tempdir()
        .unwrap()
        .keep();
    if std::env::var_os("KEEP").is_some() {
        eprintln!("work directory kept: {}", path.display());
    }
    path
}

/// Removes a work directory when dropped, pass or panic, unless `KEEP` is set. Declared
/// before the processes using it, so dropped after they are killed.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var_os("KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// lonsdaleite nodes

#[derive(Clone, Copy, Debug)]
struct Ports {
    statsd: SocketAddr,
    admin: SocketAddr,
    carbon: SocketAddr,
    http: SocketAddr,
}

/// A lonsdaleite node on its own loopback address; `instance` is its name in the ring.
struct Node {
    ip: &'static str,
    instance: &'static str,
    data: PathBuf,
    config: PathBuf,
    extra: Vec<String>,
    ports: Ports,
    proc: Option<Guarded>,
    work: PathBuf,
    starts: u32,
}

impl Node {
    fn start(work: &Path, ip: &'static str, instance: &'static str) -> Self {
        Self::start_with(work, ip, instance, &format!("{E2E_DIR}/node.toml"), &[])
    }

    fn start_with(
        work: &Path,
        ip: &'static str,
        instance: &'static str,
        config: &str,
        extra: &[&str],
    ) -> Self {
        let data = work.join(format!("data-{instance}"));
        std::fs::create_dir_all(&data).unwrap();
        let mut node = Self {
            ip,
            instance,
            data,
            config: PathBuf::from(config),
            extra: extra.iter().map(|s| (*s).to_string()).collect(),
            ports: Ports {
                statsd: format!("{ip}:0").parse().unwrap(),
                admin: format!("{ip}:0").parse().unwrap(),
                carbon: format!("{ip}:0").parse().unwrap(),
                http: format!("{ip}:0").parse().unwrap(),
            },
            proc: None,
            work: work.to_path_buf(),
            starts: 0,
        };
        node.spawn();
        node
    }

    /// Starts the process on `self.ports` (port 0 the first time) and reads the bound ports
    /// from its announcements, as tests/common's harness does.
    fn spawn(&mut self) {
        self.starts += 1;
        let log = self
            .work
            .join(format!("node-{}.{}.log", self.instance, self.starts));
        let mut cmd = Command::new(common::bin());
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config)
            .args(["--shards", "1", "--pickle-addr", "off"])
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--statsd-addr")
            .arg(self.ports.statsd.to_string())
            .arg("--admin-addr")
            .arg(self.ports.admin.to_string())
            .arg("--carbon-addr")
            .arg(self.ports.carbon.to_string())
            .arg("--http-addr")
            .arg(self.ports.http.to_string())
            .args(&self.extra)
            .stdout(Stdio::piped());
        let mut proc =
            Guarded::spawn_with(&format!("node {}", self.instance), &mut cmd, &log, true);
        let mut out = BufReader::new(proc.child.stdout.take().unwrap());
        let (mut statsd, mut admin, mut carbon, mut http) = (None, None, None, None);
        let end = Instant::now() + Duration::from_secs(20);
        while statsd.is_none() || admin.is_none() || carbon.is_none() || http.is_none() {
            assert!(
                Instant::now() < end,
                "node {} did not announce its listeners\n{}",
                self.instance,
                proc.log_tail()
            );
            let mut line = String::new();
            let n = out.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "node {} exited early\n{}",
                self.instance,
                proc.log_tail()
            );
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["listening", "statsd", "udp", a] => statsd = Some(a.parse().unwrap()),
                ["listening", "admin", "tcp", a] => admin = Some(a.parse().unwrap()),
                ["listening", "carbon", "tcp", a] => carbon = Some(a.parse().unwrap()),
                ["listening", "http", "tcp", a] => http = Some(a.parse().unwrap()),
                _ => {}
            }
        }
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut sink);
        });
        self.ports = Ports {
            statsd: statsd.unwrap(),
            admin: admin.unwrap(),
            carbon: carbon.unwrap(),
            http: http.unwrap(),
        };
        self.proc = Some(proc);
    }

    /// SIGTERM (the node writes its cache out and exits), waited for.
    fn stop(&mut self) {
        let mut proc = self.proc.take().expect("the node is running");
        proc.terminate(Duration::from_secs(30));
    }

    /// Starts again on the same data directory and the same ports.
    fn restart(&mut self) {
        assert!(self.proc.is_none(), "stop the node first");
        self.spawn();
    }

    /// The ring member spelling: `IP:CARBON_PORT=INSTANCE`.
    fn member(&self) -> String {
        format!("{}:{}={}", self.ip, self.ports.carbon.port(), self.instance)
    }

    fn json(&self, target: &str) -> Value {
        get_json(self.ports.http, target)
    }

    /// Every `name → [(ts, value)]` this node holds itself (local=1) for `targets` in the
    /// window, gaps left out.
    fn local_points(&self, targets: &[&str], from: i64, until: i64) -> Series {
        let mut q = format!("/render?format=json&local=1&from={from}&until={until}");
        for t in targets {
            let _ = write!(q, "&target={}", percent_encode(t));
        }
        points_of(&self.json(&q))
    }
}

type Series = BTreeMap<String, Vec<(i64, f64)>>;

fn get_json(addr: SocketAddr, target: &str) -> Value {
    let r = http_request(addr, "GET", target, &[], b"");
    assert_eq!(r.status, 200, "GET {target} from {addr}: {}", r.text());
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("GET {target} from {addr}: not json ({e}): {}", r.text()))
}

/// A json render's series as `name → [(ts, value)]` without the gaps.
fn points_of(doc: &Value) -> Series {
    doc.as_array()
        .expect("a json render is a list")
        .iter()
        .map(|s| {
            let pts = s["datapoints"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| Some((p[1].as_i64()?, p[0].as_f64()?)))
                .collect();
            (s["target"].as_str().unwrap().to_string(), pts)
        })
        .collect()
}

fn wait_http(addr: SocketAddr, what: &str, proc: &mut Guarded, timeout: Duration) {
    let end = Instant::now() + timeout;
    loop {
        assert!(!proc.exited(), "{what} exited\n{}", proc.log_tail());
        if TcpStream::connect(addr).is_ok() {
            let r = http_request(addr, "GET", "/version", &[], b"");
            if r.status == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < end,
            "{what} did not answer within {timeout:?}\n{}",
            proc.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------
// carbon-c-relay

struct Relay {
    _proc: Guarded,
    addr: SocketAddr,
}

/// carbon-c-relay in the foreground with a `carbon_ch` cluster of `nodes` and a catch-all
/// route, listening on 127.0.0.1. It needs a fixed port: one the kernel just handed out,
/// tried again with another when something took it meanwhile.
fn start_relay(work: &Path, nodes: &[&Node]) -> Relay {
    assert!(
        Path::new(RELAY).exists(),
        "{RELAY} is missing: install Debian's carbon-c-relay (tests/run-all does, \
         `need_package carbon-c-relay`; or apt-get install carbon-c-relay)"
    );
    let members: Vec<String> = nodes.iter().map(|n| n.member()).collect();
    for attempt in 1..=5 {
        let port = free_port("127.0.0.1");
        let conf = work.join(format!("relay.{attempt}.conf"));
        std::fs::write(
            &conf,
            format!(
                "listen\n    type linemode\n        127.0.0.1:{port} proto tcp\n    ;\n\
                 cluster e2e carbon_ch\n    {}\n    ;\n\
                 match * send to e2e stop;\n",
                members.join(" ")
            ),
        )
        .unwrap();
        let log = work.join(format!("relay.{attempt}.log"));
        let mut cmd = Command::new(RELAY);
        // -s: submission mode (no carbon.relays.* statistics in the stream); one worker.
        cmd.arg("-f").arg(&conf).args(["-s", "-w", "1"]);
        let mut proc = Guarded::spawn("carbon-c-relay", cmd, &log);
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("startup sequence complete") {
                return Relay {
                    _proc: proc,
                    addr: format!("127.0.0.1:{port}").parse().unwrap(),
                };
            }
            if proc.exited() {
                assert!(
                    text.contains("in use") || text.contains("bind"),
                    "carbon-c-relay stopped\n{}",
                    proc.log_tail()
                );
                break; // the port was taken meanwhile: another one
            }
            assert!(
                Instant::now() < end,
                "carbon-c-relay did not start\n{}",
                proc.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("carbon-c-relay found no free port in 5 attempts");
}

fn send_tcp(addr: SocketAddr, text: &str) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(text.as_bytes()).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
}

// ---------------------------------------------------------------------------------------
// etsy's proxy.js

struct Proxy {
    _proc: Guarded,
    udp: SocketAddr,
}

fn start_proxy(work: &Path, nodes: &[&Node]) -> Proxy {
    let statsd = format!("{PROXY_DIR}/node_modules/statsd");
    assert!(
        Path::new(&format!("{statsd}/proxy.js")).exists()
            && Path::new(&format!("{PROXY_DIR}/node_modules/hashring")).exists(),
        "etsy statsd 0.9.0 is not installed: run (cd tests/cluster_proxy && npm ci --omit=optional) \
         (tests/run-all does), with node and npm"
    );
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mgmt = free_port("127.0.0.1");
    let members: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "{{host: '{}', port: {}, adminport: {}}}",
                n.ip,
                n.ports.statsd.port(),
                n.ports.admin.port()
            )
        })
        .collect();
    // etsy's default check interval, which is also how long a health answer may take: a
    // node slow to answer on a loaded machine would leave the ring and move names.
    let config = work.join("proxy.conf.js");
    std::fs::write(
        &config,
        format!(
            "{{nodes: [{}], host: '127.0.0.1', port: {port}, mgmt_address: '127.0.0.1', \
             mgmt_port: {mgmt}, checkInterval: 10000, forkCount: 0, cacheSize: 10000}}\n",
            members.join(", ")
        ),
    )
    .unwrap();
    let mut cmd = Command::new("node");
    cmd.arg("proxy.js").arg(&config).current_dir(&statsd);
    let mut proc = Guarded::spawn("proxy.js", cmd, &work.join("proxy.log"));
    // The management port opens after the UDP listener and the first health checks.
    let end = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", mgmt)).is_err() {
        assert!(!proc.exited(), "proxy.js exited\n{}", proc.log_tail());
        assert!(
            Instant::now() < end,
            "proxy.js did not start\n{}",
            proc.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the first round of health checks answer (they mark nodes up).
    std::thread::sleep(Duration::from_millis(500));
    Proxy {
        _proc: proc,
        udp: format!("127.0.0.1:{port}").parse().unwrap(),
    }
}

// ---------------------------------------------------------------------------------------
// Frontends

/// A lonsdaleite frontend without storage of its own, its members the nodes' HTTP ports.
fn start_lonsdaleite_frontend(work: &Path, members: &[&Node]) -> Node {
    let servers: Vec<String> = members
        .iter()
        .map(|m| format!("\"{}\"", m.ports.http))
        .collect();
    let config = work.join("frontend.toml");
    std::fs::write(
        &config,
        format!(
            "log_level = \"warn\"\n[statsd]\nflush_interval = \"1h\"\n\
             [carbon]\nmetric_interval = \"1h\"\n\
             [cluster]\nservers = [{}]\nfind_timeout = \"{}s\"\nfetch_timeout = \"{}s\"\n\
             retry_delay = \"{RETRY_DELAY_S}s\"\n",
            servers.join(", "),
            FIND_TIMEOUT.as_secs(),
            FETCH_TIMEOUT.as_secs()
        ),
    )
    .unwrap();
    Node::start_with(
        work,
        "127.0.0.1",
        "frontend",
        config.to_str().unwrap(),
        &["--no-storage"],
    )
}

/// Where the graphite-web 1.1.10 venv's python is: `GRAPHITE_WEB_PYTHON`, else the venv
/// tests/run-all makes next to the build (`$CARGO_TARGET_DIR/venv-graphite-web`).
fn graphite_web_python() -> PathBuf {
    let python = std::env::var_os("GRAPHITE_WEB_PYTHON").map_or_else(
        || {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .unwrap()
                .join("venv-graphite-web/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "graphite-web 1.1.10 is not installed at {}: tests/run-all's step \"installing \
         cluster test dependencies\" makes it, or run \
         tests/data/cluster/e2e/install-graphite-web.sh VENV_DIR (as root, or with its \
         Debian packages installed) and set GRAPHITE_WEB_PYTHON=VENV_DIR/bin/python unless \
         VENV_DIR is $CARGO_TARGET_DIR/venv-graphite-web",
        python.display()
    );
    python
}

struct GraphiteWeb {
    proc: Guarded,
    addr: SocketAddr,
}

/// graphite-web 1.1.10 under gunicorn on 127.0.0.1, no data of its own, `CLUSTER_SERVERS`
/// = the members' HTTP ports (pickle, its default), and a short `REMOTE_RETRY_DELAY`.
fn start_graphite_web(work: &Path, python: &Path, members: &[String]) -> GraphiteWeb {
    let dir = work.join("graphite-web");
    std::fs::create_dir_all(dir.join("storage/log")).unwrap();
    std::fs::create_dir_all(dir.join("whisper")).unwrap();
    let servers: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
    std::fs::write(
        dir.join("e2e_settings.py"),
        format!(
            "SECRET_KEY = 'cluster-e2e'\nTIME_ZONE = 'UTC'\n\
             STORAGE_DIR = {storage:?}\nLOG_DIR = {log:?}\nWHISPER_DIR = {whisper:?}\n\
             CARBONLINK_HOSTS = []\nCLUSTER_SERVERS = [{servers}]\n\
             FIND_TIMEOUT = {find}.0\nFETCH_TIMEOUT = {fetch}.0\n\
             REMOTE_RETRY_DELAY = {RETRY_DELAY_S}.0\n",
            storage = dir.join("storage").to_str().unwrap(),
            log = dir.join("storage/log").to_str().unwrap(),
            whisper = dir.join("whisper").to_str().unwrap(),
            servers = servers.join(", "),
            find = FIND_TIMEOUT.as_secs(),
            fetch = FETCH_TIMEOUT.as_secs(),
        ),
    )
    .unwrap();
    let env = [
        ("PYTHONPATH", dir.to_str().unwrap()),
        ("GRAPHITE_SETTINGS_MODULE", "e2e_settings"),
        ("DJANGO_SETTINGS_MODULE", "graphite.settings"),
        ("TZ", "UTC"),
    ];
    let out = Command::new(python)
        .args(["-m", "django", "migrate", "--noinput"])
        .current_dir(&dir)
        .envs(env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "graphite-web's migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for attempt in 1..=5 {
        let port = free_port("127.0.0.1");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = Command::new(python);
        cmd.args(["-m", "gunicorn", "-w", "1", "--timeout", "60", "-b"])
            .arg(addr.to_string())
            .arg("graphite.wsgi:application")
            .current_dir(&dir)
            .envs(env);
        let log = work.join(format!("graphite-web.{attempt}.log"));
        let mut proc = Guarded::spawn("graphite-web", cmd, &log);
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if proc.exited() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(
                    text.contains("in use"),
                    "graphite-web stopped\n{}",
                    proc.log_tail()
                );
                break; // the port was taken meanwhile: another one
            }
            if TcpStream::connect(addr).is_ok() {
                wait_http(addr, "graphite-web", &mut proc, Duration::from_secs(60));
                return GraphiteWeb { proc, addr };
            }
            assert!(
                Instant::now() < end,
                "graphite-web did not start\n{}",
                proc.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("graphite-web found no free port in 5 attempts");
}

// ---------------------------------------------------------------------------------------
// The data

/// The plain series: 24 web, 12 db, 6 app.
fn plain_names() -> Vec<String> {
    let mut names = Vec::new();
    for h in 0..12 {
        for m in ["cpu", "mem"] {
            names.push(format!("e2e.web.h{h:02}.{m}"));
        }
    }
    for h in 0..6 {
        for m in ["cpu", "disk"] {
            names.push(format!("e2e.db.h{h:02}.{m}"));
        }
    }
    for app in ["api", "auth", "cart", "feed", "mail", "search"] {
        names.push(format!("e2e.app.{app}.hits"));
    }
    names
}

/// Tagged series (carbon-c-relay hashes the part before `;`: each tag name's series go to
/// one node).
fn tagged_names() -> Vec<String> {
    let mut names = Vec::new();
    for dc in 1..=2 {
        for h in 1..=3 {
            names.push(format!("e2e_tag.load;dc=dc{dc};host=h{h}"));
        }
    }
    for h in 1..=2 {
        names.push(format!("e2e_tag.temp;dc=dc1;host=h{h}"));
    }
    names
}

/// What is sent: for each series, one point a minute over the `POINTS` minutes before
/// `t_end` (a multiple of 60), some left out as gaps, values with fractions.
fn carbon_data(t_end: i64) -> Series {
    carbon_points(t_end, false)
}

/// The points `carbon_data` leaves out (`gaps`), or the others.
fn carbon_points(t_end: i64, gaps: bool) -> Series {
    let mut all = Series::new();
    for (i, name) in plain_names().iter().chain(&tagged_names()).enumerate() {
        let i = i as i64;
        let mut pts = Vec::new();
        for k in 1..=POINTS {
            if ((i * 3 + k) % 11 == 0) != gaps {
                continue;
            }
            let v = ((i * 37 + k * 11) % 97) as f64 + (k % 4) as f64 * 0.25;
            pts.push((t_end - k * STEP, v));
        }
        pts.sort_by_key(|p| p.0);
        all.insert(name.clone(), pts);
    }
    all
}

fn carbon_lines(data: &Series) -> String {
    let mut text = String::new();
    for (name, pts) in data {
        for (ts, v) in pts {
            let _ = writeln!(text, "{name} {v} {ts}");
        }
    }
    text
}

/// Asserts `got` holds exactly the series and points of `want`, saying how many differ.
fn assert_same_series(got: &Series, want: &Series, what: &str) {
    let differ: Vec<&String> = want
        .iter()
        .filter(|(n, pts)| got.get(*n) != Some(pts))
        .map(|(n, _)| n)
        .chain(got.keys().filter(|n| !want.contains_key(*n)))
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: {} of {} series ({} points) differ from what was sent ({} series, {} points \
         held): {differ:?}",
        differ.len(),
        want.len(),
        count(want),
        got.len(),
        count(got)
    );
}

fn count(series: &Series) -> usize {
    series.values().map(Vec::len).sum()
}

/// `lonsdaleite cluster whereis` for every name: name → the member spelling it prints.
fn whereis(nodes: &[&Node], names: &[String]) -> BTreeMap<String, String> {
    let mut cmd = Command::new(common::bin());
    cmd.args(["cluster", "whereis", "--ring", "carbon_ch"]);
    for n in nodes {
        cmd.arg("--node").arg(n.member());
    }
    let mut child = cmd
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all((names.join("\n") + "\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "whereis: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let placed: BTreeMap<String, String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, owner) = l.rsplit_once(' ').unwrap();
            (name.to_string(), owner.to_string())
        })
        .collect();
    assert_eq!(placed.len(), names.len(), "whereis placed every name");
    placed
}

/// Every carbon series a node holds itself.
fn held(node: &Node, t_end: i64) -> Series {
    node.local_points(
        &[
            "e2e.*.*.*",
            "seriesByTag('name=e2e_tag.load')",
            "seriesByTag('name=e2e_tag.temp')",
        ],
        t_end - POINTS * STEP - STEP,
        t_end,
    )
}

/// Waits (bounded) until `nodes` hold `want` points between them.
fn wait_for_points(nodes: &[&Node], t_end: i64, want: usize, what: &str) -> Vec<Series> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let on: Vec<Series> = nodes.iter().map(|n| held(n, t_end)).collect();
        let got: usize = on.iter().map(count).sum();
        if got >= want || Instant::now() > end {
            assert_eq!(
                got,
                want,
                "{what}: the nodes hold {got} points of the {want} sent ({:?} per node)",
                on.iter().map(count).collect::<Vec<_>>()
            );
            return on;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Asserts each series is on its owner (by `placed`) with exactly its points, and on no
/// other node.
fn assert_placement(
    nodes: &[&Node],
    on: &[Series],
    data: &Series,
    placed: &BTreeMap<String, String>,
) {
    let mut misplaced = Vec::new();
    let mut wrong_points = Vec::new();
    let mut per_node = vec![0usize; nodes.len()];
    for (name, pts) in data {
        let owner = &placed[name];
        let holders: Vec<usize> = (0..nodes.len())
            .filter(|&i| on[i].contains_key(name))
            .collect();
        let owner_at = nodes.iter().position(|n| &n.member() == owner);
        if holders.len() != 1 || Some(holders[0]) != owner_at {
            misplaced.push(format!(
                "{name}: whereis says {owner}, held by {:?}",
                holders
                    .iter()
                    .map(|&i| nodes[i].member())
                    .collect::<Vec<_>>()
            ));
            continue;
        }
        per_node[holders[0]] += 1;
        if &on[holders[0]][name] != pts {
            wrong_points.push(format!(
                "{name}: sent {} points, holds {}",
                pts.len(),
                on[holders[0]][name].len()
            ));
        }
    }
    let extra: Vec<&String> = on
        .iter()
        .flat_map(BTreeMap::keys)
        .filter(|n| !data.contains_key(*n))
        .collect();
    assert!(
        misplaced.is_empty() && wrong_points.is_empty() && extra.is_empty(),
        "{} of {} series not (only) on the node whereis names: {misplaced:#?}\n\
         {} series with other points than sent: {wrong_points:#?}\nseries never sent: {extra:?}",
        misplaced.len(),
        data.len(),
        wrong_points.len()
    );
    assert!(
        per_node.iter().filter(|&&n| n > 0).count() >= 2,
        "the ring spreads the series over the nodes: {per_node:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Comparing answers

/// Equal as json, numbers within a relative 1e-9 (sums taken in another order).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// A find answer with its nodes in path order (graphite-web shuffles nodes of one name).
fn sorted_find(mut doc: Value) -> Value {
    let key = |n: &Value| {
        n.get("id")
            .or_else(|| n.get("path"))
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    if let Some(list) = doc.as_array_mut() {
        list.sort_by_key(key);
    } else if let Some(list) = doc.get_mut("metrics").and_then(Value::as_array_mut) {
        list.sort_by_key(key);
    }
    doc
}

/// The user requests both frontends must answer as the single node does.
fn user_requests(t_end: i64) -> Vec<String> {
    let targets = [
        "e2e.web.*.cpu",
        "e2e.{web,db}.h01.*",
        "e2e.web.h0[0-3].mem",
        "sumSeries(e2e.web.*.cpu)",
        "averageSeries(e2e.db.*.*)",
        "maxSeries(e2e.*.*.cpu)",
        "groupByNode(e2e.*.*.cpu,1,'sumSeries')",
        "aliasByNode(e2e.web.*.mem,2)",
        "scale(e2e.app.api.hits,0.5)",
        "movingAverage(e2e.db.h01.cpu,5)",
        "asPercent(e2e.web.*.cpu,sumSeries(e2e.web.*.cpu))",
        "summarize(e2e.app.*.hits,'10min','sum')",
        "highestMax(e2e.web.*.cpu,3)",
        "timeShift(e2e.app.api.hits,'10min')",
        "nonNegativeDerivative(e2e.app.feed.hits)",
        "seriesByTag('name=e2e_tag.load')",
        "sumSeries(seriesByTag('name=e2e_tag.load','dc=dc1'))",
        "aliasByTags(seriesByTag('name=~e2e_tag.*','host=h1'),'name','dc')",
    ];
    let mut reqs = Vec::new();
    for t in targets {
        for (from, until) in [(t_end - 3600, t_end), (t_end - 1800, t_end - 600)] {
            reqs.push(format!(
                "/render?target={}&from={from}&until={until}&format=json",
                percent_encode(t)
            ));
        }
    }
    reqs.push(format!(
        "/render?target=e2e.app.*.hits&target={}&from={}&until={t_end}&format=json",
        percent_encode("sumSeries(e2e.db.*.disk)"),
        t_end - 3600
    ));
    for q in [
        "e2e.*",
        "e2e.web.*",
        "e2e.*.h01.*",
        "e2e.app.*.hits",
        "e2e.*.h1?",
    ] {
        reqs.push(format!("/metrics/find?query={}", percent_encode(q)));
        reqs.push(format!(
            "/metrics/find?query={}&format=completer",
            percent_encode(q)
        ));
    }
    reqs.push("/metrics/expand?query=e2e.*.h0*".to_string());
    reqs.push("/metrics/expand?query=e2e.app.*.*&leavesOnly=1".to_string());
    reqs
}

fn answer(addr: SocketAddr, path: &str) -> (u16, Value) {
    let r = http_request(addr, "GET", path, &[], b"");
    let doc = serde_json::from_slice(&r.body).unwrap_or(Value::String(r.text()));
    let doc = if path.starts_with("/metrics/find") {
        sorted_find(doc)
    } else {
        doc
    };
    (r.status, doc)
}

/// A render without series (or with a series without points), a find or expand without
/// nodes.
fn empty_answer(doc: &Value) -> bool {
    match doc {
        Value::Array(list) => {
            list.is_empty()
                || list
                    .iter()
                    .any(|s| s["datapoints"].as_array().is_some_and(Vec::is_empty))
        }
        Value::Object(fields) => fields
            .values()
            .all(|v| v.as_array().is_none_or(Vec::is_empty)),
        _ => true,
    }
}

/// The requests whose answer through `front` differs from the single node's.
fn differences(front: SocketAddr, single: SocketAddr, reqs: &[String]) -> Vec<String> {
    let mut diffs = Vec::new();
    for path in reqs {
        let (s1, want) = answer(single, path);
        let (s2, got) = answer(front, path);
        assert!(
            !empty_answer(&want),
            "{path}: the single node's answer is empty, nothing to compare: {want}"
        );
        if std::env::var_os("E2E_VERBOSE").is_some() {
            let (w, g) = (want.to_string(), got.to_string());
            eprintln!(
                "{path}\n  single {s1} {}\n  front  {s2} {}",
                &w[..w.len().min(300)],
                &g[..g.len().min(300)]
            );
        }
        if s1 != 200 || s2 != 200 || !same_json(&want, &got) {
            let (w, g) = (want.to_string(), got.to_string());
            diffs.push(format!(
                "{path}\n    single node {s1}: {}\n    frontend    {s2}: {}",
                &w[..w.len().min(600)],
                &g[..g.len().min(600)]
            ));
        }
    }
    diffs
}

/// The index.json names under `e2e` (the members' self-metrics left aside).
fn e2e_index(addr: SocketAddr) -> Vec<String> {
    get_json(addr, "/metrics/index.json")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| n.starts_with("e2e"))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// StatsD through proxy.js

const COUNTERS: usize = 30;
const TIMERS: usize = 20;
const PACKETS: usize = 4;

/// Sends every counter and timer `PACKETS` times through the proxy; returns the expected
/// counter totals and timer counts and sums.
fn send_statsd(proxy: &Proxy) -> (BTreeMap<String, f64>, BTreeMap<String, (f64, f64)>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut counters = BTreeMap::new();
    let mut timers = BTreeMap::new();
    for round in 0..PACKETS {
        for i in 0..COUNTERS {
            let v = (i % 5 + 1) as f64;
            sock.send_to(format!("e2es.c{i:02}:{v}|c").as_bytes(), proxy.udp)
                .unwrap();
            *counters
                .entry(format!("stats_counts.e2es.c{i:02}"))
                .or_insert(0.0) += v;
        }
        for i in 0..TIMERS {
            let v = (10 * (i + 1) + round) as f64;
            sock.send_to(format!("e2es.t{i:02}:{v}|ms").as_bytes(), proxy.udp)
                .unwrap();
            let e = timers
                .entry(format!("stats.timers.e2es.t{i:02}"))
                .or_insert((0.0, 0.0));
            e.0 += 1.0;
            e.1 += v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (counters, timers)
}

/// `name → sum of its values` over the last ten minutes, for the node's own series.
fn sums(node: &Node, target: &str) -> BTreeMap<String, f64> {
    let now = unix_now() as i64 + 1;
    node.local_points(&[target], now - 600, now)
        .into_iter()
        .map(|(n, pts)| (n, pts.iter().map(|p| p.1).sum()))
        .collect()
}

fn check_statsd(
    nodes: &[&Node],
    counters: &BTreeMap<String, f64>,
    timers: &BTreeMap<String, (f64, f64)>,
) {
    let want_total: f64 = counters.values().sum();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let c: Vec<BTreeMap<String, f64>> = nodes
            .iter()
            .map(|n| sums(n, "stats_counts.e2es.*"))
            .collect();
        let tc: Vec<BTreeMap<String, f64>> = nodes
            .iter()
            .map(|n| sums(n, "stats.timers.e2es.*.count"))
            .collect();
        let got_total: f64 = c.iter().flat_map(BTreeMap::values).sum();
        let got_timers: f64 = tc.iter().flat_map(BTreeMap::values).sum();
        let want_timers = (TIMERS * PACKETS) as f64;
        let complete = got_total >= want_total && got_timers >= want_timers;
        if !complete && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(250));
            continue;
        }
        assert!(
            (got_total - want_total).abs() < 1e-9 && (got_timers - want_timers).abs() < 1e-9,
            "StatsD through proxy.js: counters sum to {got_total} of {want_total} sent in \
             {} packets, timers count {got_timers} of {want_timers}",
            COUNTERS * PACKETS
        );
        let ts: Vec<BTreeMap<String, f64>> = nodes
            .iter()
            .map(|n| sums(n, "stats.timers.e2es.*.sum"))
            .collect();
        let mut bad = Vec::new();
        let mut per_node = vec![0usize; nodes.len()];
        for (name, want) in counters {
            let at: Vec<usize> = (0..nodes.len())
                .filter(|&i| c[i].contains_key(name))
                .collect();
            match at.as_slice() {
                [i] if (c[*i][name] - want).abs() < 1e-9 => per_node[*i] += 1,
                _ => bad.push(format!(
                    "{name}: want {want} on one node, got {:?}",
                    at.iter()
                        .map(|&i| (nodes[i].instance, c[i][name]))
                        .collect::<Vec<_>>()
                )),
            }
        }
        for (name, (want_count, want_sum)) in timers {
            let count_name = format!("{name}.count");
            let sum_name = format!("{name}.sum");
            let at: Vec<usize> = (0..nodes.len())
                .filter(|&i| tc[i].contains_key(&count_name))
                .collect();
            match at.as_slice() {
                [i] if (tc[*i][&count_name] - want_count).abs() < 1e-9
                    && ts[*i]
                        .get(&sum_name)
                        .is_some_and(|s| (s - want_sum).abs() < 1e-9) =>
                {
                    per_node[*i] += 1;
                }
                _ => bad.push(format!(
                    "{name}: want count {want_count} sum {want_sum} on one node, got {:?}",
                    at.iter()
                        .map(|&i| (nodes[i].instance, tc[i][&count_name], ts[i].get(&sum_name)))
                        .collect::<Vec<_>>()
                )),
            }
        }
        assert!(
            bad.is_empty(),
            "{} of {} StatsD names not aggregated on exactly one node with their exact total: \
             {bad:#?}",
            bad.len(),
            counters.len() + timers.len()
        );
        assert!(
            per_node.iter().filter(|&&n| n > 0).count() >= 2,
            "proxy.js spreads the names over the nodes: {per_node:?}"
        );
        return;
    }
}

// ---------------------------------------------------------------------------------------
// The tests

/// The newest minute boundary, and a wait when it is too close to the next one, so that
/// the points sent and the windows asked for are all in the past.
fn minute_end() -> i64 {
    let now = unix_now();
    let into = now % 60.0;
    if into > 55.0 {
        std::thread::sleep(Duration::from_secs_f64(60.5 - into));
    }
    let now = unix_now() as i64;
    now - now % 60
}

/// The three members, the single node, carbon-c-relay, both frontends, and the carbon
/// data sent through the relay (and to the single node directly), all of it arrived.
struct Cluster {
    members: Vec<Node>,
    single: Node,
    _relay: Relay,
    proxy: Option<Proxy>,
    front: Node,
    gw: GraphiteWeb,
    t_end: i64,
    data: Series,
    /// name → owner, as `cluster whereis` prints it
    placed: BTreeMap<String, String>,
    /// what each member holds, once everything arrived
    on: Vec<Series>,
    /// Last: removed after every process above is gone.
    _cleanup: Cleanup,
}

impl Cluster {
    fn start(name: &str, with_proxy: bool) -> Self {
        let python = graphite_web_python();
        let work = workdir(name);
        let cleanup = Cleanup(work.clone());
        let members = vec![
            Node::start(&work, "127.0.0.2", "a"),
            Node::start(&work, "127.0.0.3", "b"),
            Node::start(&work, "127.0.0.4", "c"),
        ];
        let single = Node::start(&work, "127.0.0.6", "single");
        let member_http: Vec<String> = members.iter().map(|m| m.ports.http.to_string()).collect();
        // graphite-web's migrate takes seconds: it starts while the rest is fed.
        let gw = {
            let (work, python) = (work.clone(), python.clone());
            std::thread::spawn(move || start_graphite_web(&work, &python, &member_http))
        };
        let refs: Vec<&Node> = members.iter().collect();
        let relay = start_relay(&work, &refs);
        let proxy = with_proxy.then(|| start_proxy(&work, &refs));
        let front = start_lonsdaleite_frontend(&work, &refs);
        let t_end = minute_end();
        let data = carbon_data(t_end);
        let lines = carbon_lines(&data);
        send_tcp(relay.addr, &lines);
        send_tcp(single.ports.carbon, &lines);
        let names: Vec<String> = data.keys().cloned().collect();
        let placed = whereis(&refs, &names);
        let on = wait_for_points(&refs, t_end, count(&data), "carbon through carbon-c-relay");
        let single_holds = wait_for_points(&[&single], t_end, count(&data), "the single node");
        assert_same_series(&single_holds[0], &data, "the single node");
        let gw = gw.join().expect("graphite-web started");
        Self {
            members,
            single,
            _relay: relay,
            proxy,
            front,
            gw,
            t_end,
            data,
            placed,
            on,
            _cleanup: cleanup,
        }
    }

    fn frontends(&self) -> [(&'static str, SocketAddr); 2] {
        [
            ("lonsdaleite frontend", self.front.ports.http),
            ("graphite-web 1.1.10 frontend", self.gw.addr),
        ]
    }

    /// A render of every carbon series over the whole window.
    fn render_all(&self) -> String {
        format!(
            "/render?target=e2e.*.*.*&target={}&from={}&until={}&format=json",
            percent_encode("seriesByTag('name=~e2e_tag.*')"),
            self.t_end - POINTS * STEP - STEP,
            self.t_end
        )
    }

    /// The series of the members other than `gone`.
    fn kept(&self, gone: usize) -> BTreeSet<String> {
        let gone = self.members[gone].member();
        self.data
            .keys()
            .filter(|n| self.placed[*n] != gone)
            .cloned()
            .collect()
    }

    /// Asserts a render of everything through `addr` holds exactly the series `kept`, each
    /// with all its points; returns how long it took.
    fn assert_partial_render(
        &self,
        what: &str,
        addr: SocketAddr,
        kept: &BTreeSet<String>,
    ) -> Duration {
        let t = Instant::now();
        let got = points_of(&get_json(addr, &self.render_all()));
        let took = t.elapsed();
        let names: BTreeSet<String> = got.keys().cloned().collect();
        let missing: Vec<&String> = kept.difference(&names).collect();
        let extra: Vec<&String> = names.difference(kept).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{what}: the render holds {} series; of the other members' {}, {} are missing \
             {missing:?}, and {} of the stopped member's are there {extra:?}",
            names.len(),
            kept.len(),
            missing.len(),
            extra.len()
        );
        for (n, pts) in &got {
            assert!(
                pts == &self.data[n],
                "{what}: {n} has {} points of the {} sent",
                pts.len(),
                self.data[n].len()
            );
        }
        took
    }

    /// Asserts a find of every plain leaf through `addr` lists exactly those of `kept`;
    /// returns how long it took.
    fn assert_partial_find(what: &str, addr: SocketAddr, kept: &BTreeSet<String>) -> Duration {
        let kept: BTreeSet<&String> = kept.iter().filter(|n| !n.contains(';')).collect();
        let t = Instant::now();
        let doc = get_json(addr, "/metrics/find?query=e2e.*.*.*&format=completer");
        let took = t.elapsed();
        let leaves: BTreeSet<String> = doc["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["path"].as_str().unwrap().to_string())
            .collect();
        let leaves: BTreeSet<&String> = leaves.iter().collect();
        assert!(
            leaves == kept,
            "{what}: the find lists {} leaves, the other members hold {}: missing {:?}, \
             extra {:?}",
            leaves.len(),
            kept.len(),
            kept.difference(&leaves).collect::<Vec<_>>(),
            leaves.difference(&kept).collect::<Vec<_>>()
        );
        took
    }

    /// Waits (bounded) until both frontends render every series again, then compares
    /// every user request with the single node once more.
    fn assert_whole_again(&self, why: &str) {
        let whole = points_of(&self.single.json(&self.render_all()));
        for (what, addr) in self.frontends() {
            let end = Instant::now() + Duration::from_secs(RETRY_DELAY_S + 15);
            loop {
                let got = points_of(&get_json(addr, &self.render_all()));
                if got == whole {
                    break;
                }
                assert!(
                    Instant::now() < end,
                    "{what}: {} of {} series {} s after {why}",
                    got.len(),
                    whole.len(),
                    RETRY_DELAY_S + 15
                );
                std::thread::sleep(Duration::from_millis(250));
            }
            let reqs = user_requests(self.t_end);
            let diffs = differences(addr, self.single.ports.http, &reqs);
            assert!(
                diffs.is_empty(),
                "{what}, after {why}: {} of {} requests answered otherwise than the single \
                 node:\n{}",
                diffs.len(),
                reqs.len(),
                diffs.join("\n")
            );
        }
    }

    /// Stops graphite-web gently (gunicorn's worker with it); the rest is killed.
    fn finish(mut self) {
        self.gw.proc.terminate(Duration::from_secs(10));
    }
}

#[test]
fn cluster_behind_relay_proxy_and_frontends() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let started = Instant::now();
    let mut c = Cluster::start("main", true);
    let refs: Vec<&Node> = c.members.iter().collect();

    // 1. Carbon through the relay: every point on the node whereis names, on no other.
    assert_placement(&refs, &c.on, &c.data, &c.placed);

    // 2. StatsD through proxy.js: each name aggregated on one node, totals exact.
    let (counters, timers) = send_statsd(c.proxy.as_ref().unwrap());
    check_statsd(&refs, &counters, &timers);

    // 3. Both frontends answer as the single node holding everything.
    let reqs = user_requests(c.t_end);
    for (what, addr) in c.frontends() {
        let diffs = differences(addr, c.single.ports.http, &reqs);
        assert!(
            diffs.is_empty(),
            "{what}: {} of {} requests answered otherwise than the single node:\n{}",
            diffs.len(),
            reqs.len(),
            diffs.join("\n")
        );
        assert_eq!(
            e2e_index(addr),
            e2e_index(c.single.ports.http),
            "{what}: index.json"
        );
    }

    // 4. One member killed (SIGTERM: it writes its cache out and exits; its ports then
    // refuse connections): partial answers, fast; whole again once it is back.
    let victim = 1;
    let kept = c.kept(victim);
    assert!(kept.len() < c.data.len(), "the killed member held series");
    c.members[victim].stop();
    for (what, addr) in c.frontends() {
        let took = c.assert_partial_render(what, addr, &kept);
        assert!(
            took <= FETCH_TIMEOUT + MARGIN,
            "{what}: the partial render took {took:?}, over FETCH_TIMEOUT {FETCH_TIMEOUT:?} + \
             {MARGIN:?}"
        );
        let took = Cluster::assert_partial_find(what, addr, &kept);
        assert!(
            took <= FIND_TIMEOUT + MARGIN,
            "{what}: the partial find took {took:?}, over FIND_TIMEOUT {FIND_TIMEOUT:?} + \
             {MARGIN:?}"
        );
    }
    c.members[victim].restart();
    // Both frontends leave it out for RETRY_DELAY_S, then ask it again.
    c.assert_whole_again("the member came back");
    c.finish();
    eprintln!("cluster test took {:?}", started.elapsed());
}

/// A member that hangs (SIGSTOP: the kernel still accepts its connections, nothing
/// answers) costs each frontend one member timeout: graphite-web waits `FIND_TIMEOUT` for
/// a find and `FETCH_TIMEOUT` for a render's fetches (`Store.wait_jobs`, however many
/// retries are still running), then answers with what came.
#[test]
fn a_hung_member_costs_one_timeout() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = Cluster::start("hung", false);
    let victim = 2;
    let kept = c.kept(victim);
    assert!(kept.len() < c.data.len(), "the hung member holds series");
    let proc = c.members[victim].proc.as_ref().unwrap();
    proc.signal_group(libc::SIGSTOP);
    // Stopped once /proc says so (state T), not when kill(2) returns.
    let stat = format!("/proc/{}/stat", proc.child.id());
    let end = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&stat)
        .unwrap()
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('T'))
    {
        assert!(Instant::now() < end, "SIGSTOP did not stop the member");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut slow = Vec::new();
    for (what, addr) in c.frontends() {
        let took = Cluster::assert_partial_find(what, addr, &kept);
        eprintln!("{what}: a find with a member hung took {took:?}");
        if took > FIND_TIMEOUT + MARGIN {
            slow.push(format!(
                "{what}: a find took {took:?}, over FIND_TIMEOUT {FIND_TIMEOUT:?} + {MARGIN:?}"
            ));
        }
    }
    // The find marked the member failed; once the retry delay is over it is asked again.
    std::thread::sleep(Duration::from_secs(RETRY_DELAY_S) + Duration::from_millis(500));
    for (what, addr) in c.frontends() {
        let took = c.assert_partial_render(what, addr, &kept);
        eprintln!("{what}: a render with a member hung took {took:?}");
        if took > FETCH_TIMEOUT + MARGIN {
            // lonsdaleite once gave each of its fetch_attempts a whole fetch_timeout
            // (2 x 6 s here); this test found it.
            slow.push(format!(
                "{what}: a render took {took:?}, over FETCH_TIMEOUT {FETCH_TIMEOUT:?} + {MARGIN:?}"
            ));
        }
    }
    proc.signal_group(libc::SIGCONT);
    assert!(
        slow.is_empty(),
        "with a member hung, answers are partial but slow:\n{}",
        slow.join("\n")
    );
    c.assert_whole_again("the member woke up");
    c.finish();
}

/// Runs `cluster rebalance` for `node` over the ring of `all` (each member's render API
/// given, and `node`'s admin port so its server forgets what moved); returns how many
/// e2e series it lists as moved (or, with `dry_run`, as moving).
fn rebalance(node: &Node, all: &[&Node], dry_run: bool) -> usize {
    let mut cmd = Command::new(common::bin());
    cmd.args(["cluster", "rebalance", "--ring", "carbon_ch"]);
    for n in all {
        cmd.arg("--node").arg(n.member());
    }
    cmd.arg("--self").arg(node.member());
    cmd.arg("--data-dir").arg(&node.data);
    for n in all {
        cmd.arg("--http")
            .arg(format!("{}=http://{}", n.member(), n.ports.http));
    }
    cmd.arg("--admin").arg(node.ports.admin.to_string());
    cmd.args(["--verify-timeout", "20s"]);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rebalance (dry run: {dry_run}) on {} failed ({}):\nstdout {stdout}\nstderr {}",
        node.instance,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The node's own self-metrics (stats.statsd.*) are series like any and move too.
    stdout
        .lines()
        .filter(|l| l.starts_with("e2e.") && l.contains(" -> "))
        .count()
}

/// Adding a node as docs/cluster.md says: the fourth node starts, the relay is restarted
/// with it in its cluster line (new points go to the new owners: here the points the first
/// batch left out as gaps), then `cluster rebalance` runs on each old node while it serves.
/// Every series ends on its new owner with all its points (the moved points fill the new
/// owner's copy, none of its points overwritten by a gap) and on no other node. Tagged
/// series are left out: `rebalance` does not move them (files named by a hash; documented).
#[test]
fn rebalance_moves_every_series_to_its_new_owner() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let plain = |s: Series| -> Series { s.into_iter().filter(|(n, _)| !n.contains(';')).collect() };
    let work = workdir("rebalance");
    let _cleanup = Cleanup(work.clone());
    let old = vec![
        Node::start(&work, "127.0.0.2", "a"),
        Node::start(&work, "127.0.0.3", "b"),
        Node::start(&work, "127.0.0.4", "c"),
    ];
    let old_refs: Vec<&Node> = old.iter().collect();
    let relay = start_relay(&work, &old_refs);
    let t_end = minute_end();
    let first = plain(carbon_points(t_end, false));
    let later = plain(carbon_points(t_end, true));
    send_tcp(relay.addr, &carbon_lines(&first));
    let names: Vec<String> = first.keys().cloned().collect();
    let placed = whereis(&old_refs, &names);
    let on = wait_for_points(
        &old_refs,
        t_end,
        count(&first),
        "carbon through carbon-c-relay",
    );
    assert_placement(&old_refs, &on, &first, &placed);
    drop(relay);

    // A fourth node joins the ring, and the relay sends to it.
    let d = Node::start(&work, "127.0.0.5", "d");
    let all: Vec<&Node> = old.iter().chain([&d]).collect();
    let relay = start_relay(&work, &all);
    let new_placed = whereis(&all, &names);
    let moving: BTreeMap<&str, usize> = old
        .iter()
        .map(|o| {
            let n = names
                .iter()
                .filter(|n| placed[*n] == o.member() && new_placed[*n] != o.member())
                .count();
            (o.instance, n)
        })
        .collect();
    let moving_total: usize = moving.values().sum();
    assert!(moving_total > 0, "the new ring moves some series");
    send_tcp(relay.addr, &carbon_lines(&later));
    wait_for_points(
        &all,
        t_end,
        count(&first) + count(&later),
        "the gaps through the new relay",
    );

    // --dry-run lists what would move and changes nothing.
    let before: Vec<Series> = all.iter().map(|n| held(n, t_end)).collect();
    for node in &old {
        let listed = rebalance(node, &all, true);
        assert_eq!(
            listed, moving[node.instance],
            "rebalance --dry-run on {} lists {listed} e2e series, the new ring moves {} away \
             from it",
            node.instance, moving[node.instance]
        );
    }
    let after: Vec<Series> = all.iter().map(|n| held(n, t_end)).collect();
    assert!(
        before == after,
        "rebalance --dry-run changed what the nodes hold: {:?} points before, {:?} after",
        before.iter().map(count).collect::<Vec<_>>(),
        after.iter().map(count).collect::<Vec<_>>()
    );
    let t = Instant::now();
    for node in &old {
        let moved = rebalance(node, &all, false);
        assert_eq!(
            moved, moving[node.instance],
            "rebalance on {} lists {moved} e2e series moved, the new ring moves {} away from it",
            node.instance, moving[node.instance]
        );
    }
    let took = t.elapsed();
    let full: Series = first
        .iter()
        .map(|(n, pts)| {
            let mut pts = pts.clone();
            pts.extend(&later[n]);
            pts.sort_by_key(|p| p.0);
            (n.clone(), pts)
        })
        .collect();
    let on = wait_for_points(&all, t_end, count(&full), "after rebalance");
    assert_placement(&all, &on, &full, &new_placed);
    eprintln!(
        "rebalance moved {moving_total} of {} series ({moving:?}) in {took:?}",
        names.len()
    );
}
