//! `lonsdaleite logtail`: Logster's parsers over log fixtures (exact statsd
//! lines from tests/data/agent/logs/expected.txt), and the real binary
//! following a log across runs with a rotation in the middle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lonsdaleite::agent::logtail::metric::statsd_lines;
use lonsdaleite::agent::logtail::parsers::{self, ParserKind};

fn logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/agent/logs")
}

fn fixture_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(logs().join(name))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Sections of expected.txt: `[parser file…]` → lines.
fn expected() -> Vec<(String, Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(logs().join("expected.txt")).unwrap();
    let mut out: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let mut w = head.split(' ').map(str::to_owned);
            let parser = w.next().unwrap();
            out.push((parser, w.collect(), Vec::new()));
        } else {
            out.last_mut().unwrap().2.push(line.to_owned());
        }
    }
    out
}

#[test]
fn parsers_give_logsters_names_and_values() {
    let sections = expected();
    assert_eq!(sections.len(), 4);
    for (name, files, want) in sections {
        let kind = match name.as_str() {
            "postfix" => ParserKind::Postfix,
            "squid" => ParserKind::Squid,
            "log4j" => ParserKind::Log4j,
            "access" => ParserKind::Access,
            other => panic!("unknown parser {other}"),
        };
        let levels: Vec<String> = ["WARN", "ERROR", "FATAL"].map(String::from).to_vec();
        let mut p = parsers::new(kind, &levels).unwrap();
        for f in &files {
            for l in fixture_lines(f) {
                p.parse_line(&l);
            }
        }
        let got = statsd_lines(&p.take_metrics(60.0), &format!("servers.t.{name}"), "");
        assert_eq!(got, want, "parser {name}");
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lonsdaleite"))
}

fn run(args: &[&str], files: &[&Path]) -> Output {
    let out = bin()
        .arg("logtail")
        .args(args)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "logtail {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A UDP socket standing in for statsd; `drain` returns what arrived so far.
struct Udp(UdpSocket);

impl Udp {
    fn new() -> Self {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        Self(s)
    }
    fn addr(&self) -> String {
        self.0.local_addr().unwrap().to_string()
    }
    /// The lines of every datagram already received (the sender has exited, so all are here).
    fn drain(&self) -> Vec<String> {
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        while let Ok(n) = self.0.recv(&mut buf) {
            out.extend(
                String::from_utf8_lossy(&buf[..n])
                    .split('\n')
                    .map(str::to_owned),
            );
        }
        out
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// `name → value` of statsd gauge lines below `prefix.`.
fn values(lines: &[String], prefix: &str) -> BTreeMap<String, String> {
    lines
        .iter()
        .map(|l| {
            let rest = l.strip_prefix(prefix).unwrap_or_else(|| panic!("{l}"));
            let (name, v) = rest.split_once(':').unwrap();
            let v = v.strip_suffix("|g").unwrap_or_else(|| panic!("{l}"));
            (name.to_owned(), v.to_owned())
        })
        .collect()
}

/// The Postfix values that do not depend on the interval's length.
fn check(got: &BTreeMap<String, String>, want: &[(&str, &str)]) {
    for (k, v) in want {
        assert_eq!(got.get(*k).map(String::as_str), Some(*v), "{k} in {got:#?}");
    }
    assert_eq!(got.len(), 19, "{got:#?}");
}

fn set_saved_at(state_dir: &Path, secs_ago: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for e in std::fs::read_dir(state_dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "state") {
            let text = std::fs::read_to_string(&p).unwrap();
            let new: String = text
                .lines()
                .map(|l| {
                    if l.starts_with("saved_at ") {
                        format!("saved_at {}\n", now - secs_ago)
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            std::fs::write(&p, new).unwrap();
        }
    }
}

/// `value × seconds ≈ count` for one of the seconds the run may have measured.
fn rate_fits(v: &str, count: f64, seconds: &[f64]) -> bool {
    let v: f64 = v.parse().unwrap();
    seconds.iter().any(|s| (v * s - count).abs() < 1e-9)
}

#[test]
fn rotation_in_the_middle_counts_every_line_once_across_runs() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("mail.log");
    let state = d.path().join("state");
    let udp = Udp::new();
    let st = state.to_str().unwrap().to_owned();
    let to = udp.addr();
    let args = [
        "--once",
        "--parser",
        "postfix",
        "-p",
        "servers.t.postfix",
        "--state-dir",
        &st,
        "--statsd-host",
        &to,
    ];
    let p = "servers.t.postfix.";
    let part1 = fixture_lines("mail.log.1");
    let part2 = fixture_lines("mail.log.2");

    // Run 1: the first 6 lines, read from the start (no state yet; the duration is --interval, 60 s).
    append(&log, &join(&part1[..6]));
    let mut a = args.to_vec();
    a.push("--from-start");
    run(&a, &[&log]);
    let got = values(&udp.drain(), p);
    check(
        &got,
        &[
            ("numSent", "1"),
            ("pctSent", "100.0"),
            ("numDeferred", "0"),
            ("pctDeferred", "0.0"),
            ("numBounced", "0"),
            ("pctBounced", "0.0"),
            ("mailTxnsSec", "0.016666666666666666"),
            ("mailSentSec", "0.016666666666666666"),
            ("avgDelay", "1.2"),
            ("totalTxns", "1"),
            ("totalRxns", "1"),
            ("pctOutTLS", "100.0"),
            ("pctOutUntrustedTLS", "100.0"),
            ("totalOutTLS", "1"),
            ("totalOutUntrustedTLS", "1"),
            ("pctInTLS", "100.0"),
            ("pctInUntrustedTLS", "0.0"),
            ("totalInTLS", "1"),
            ("totalInUntrustedInTLS", "0"),
        ],
    );

    // Between runs: 4 more lines, then the log is rotated by rename, and the new
    // log gets mail.log.2 plus half a line.
    append(&log, &join(&part1[6..]));
    std::fs::rename(&log, d.path().join("mail.log.1")).unwrap();
    let half = "Nov 25 06:31:00 mx1 postfix/smtp[2140]: AB12CD34EF: to=<hal@example.net>, relay=mx.example.net[198.51.100.7]:25, delay=9, delays=1/1/1/6, dsn=2.0.0, sta";
    append(&log, &format!("{}{half}", join(&part2)));
    set_saved_at(&state, 100);
    let out = run(&args, &[&log]);
    assert!(
        stderr(&out).contains("rotated; read 4 more lines from"),
        "{}",
        stderr(&out)
    );
    let got = values(&udp.drain(), p);
    check(
        &got,
        &[
            ("numSent", "2"),
            ("pctSent", "50.0"),
            ("numDeferred", "1"),
            ("pctDeferred", "25.0"),
            ("numBounced", "1"),
            ("pctBounced", "25.0"),
            ("avgDelay", "1.65"),
            ("totalTxns", "4"),
            ("totalRxns", "2"),
            ("pctOutTLS", "25.0"),
            ("pctOutUntrustedTLS", "100.0"),
            ("totalOutTLS", "1"),
            ("totalOutUntrustedTLS", "1"),
            ("pctInTLS", "50.0"),
            ("pctInUntrustedTLS", "100.0"),
            ("totalInTLS", "1"),
            ("totalInUntrustedInTLS", "1"),
        ],
    );
    let secs = [100.0, 101.0, 102.0];
    assert!(rate_fits(&got["mailTxnsSec"], 4.0, &secs), "{got:?}");
    assert!(rate_fits(&got["mailSentSec"], 2.0, &secs), "{got:?}");

    // Run 3: the half line is completed; only it is new.
    append(&log, "tus=sent (250 ok)\n");
    let out = run(&args, &[&log]);
    assert!(!stderr(&out).contains("rotated"), "{}", stderr(&out));
    let got = values(&udp.drain(), p);
    assert_eq!(got["numSent"], "1");
    assert_eq!(got["totalTxns"], "1");
    assert_eq!(got["avgDelay"], "9.0");

    // Run 4: nothing new; Logster's zeros (integers where Logster has integers).
    let got = values(
        &{
            run(&args, &[&log]);
            udp.drain()
        },
        p,
    );
    assert_eq!(got["numSent"], "0");
    assert_eq!(got["pctSent"], "0.0");
    assert_eq!(got["avgDelay"], "0");
}

#[test]
fn first_run_records_the_end_and_truncation_is_noticed() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    let st = d.path().join("state");
    let udp = Udp::new();
    let (st, to) = (st.to_str().unwrap().to_owned(), udp.addr());
    let args = [
        "--once",
        "--parser",
        "log4j",
        "--state-dir",
        &st,
        "--statsd-host",
        &to,
    ];
    append(&log, &join(&fixture_lines("app.log")));
    let out = run(&args, &[&log]);
    assert!(stderr(&out).contains("first run"), "{}", stderr(&out));
    assert!(udp.drain().is_empty());

    append(&log, "06:01:00.000 ERROR [db] down\n");
    run(&args, &[&log]);
    let got = udp.drain();
    let errors: Vec<&String> = got.iter().filter(|l| l.starts_with("ERROR:")).collect();
    assert_eq!(errors.len(), 1);
    assert_ne!(errors[0], "ERROR:0.0|g", "{got:?}");
    assert!(got.iter().any(|l| l == "WARN:0.0|g"), "{got:?}");

    // copytruncate: the file starts again, shorter than the saved offset.
    std::fs::write(&log, "06:02:00.000 FATAL [main] x\n").unwrap();
    let out = run(&args, &[&log]);
    assert!(
        stderr(&out).contains("truncated; reading it from the start"),
        "{}",
        stderr(&out)
    );
    let got = udp.drain();
    assert!(
        got.iter()
            .any(|l| l.starts_with("FATAL:") && l != "FATAL:0.0|g"),
        "{got:?}"
    );
    assert!(got.iter().any(|l| l == "ERROR:0.0|g"), "{got:?}");
}

#[test]
fn bad_input_is_named_and_the_rest_keeps_working() {
    let d = tempfile::tempdir().unwrap();
    let rules = d.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
name = "broken"
regex = 'status=(?P<s>\d+'
metric = "status.{s}"
type = "c"

[[rule]]
name = "by_status"
regex = '" (?P<status>\d{3}) (?P<bytes>\d+|-)'
metric = "status.{status}"
type = "c"

[[rule]]
name = "api_time"
regex = '"(?:GET|POST) /api/\S* [^"]*" \d{3} \S+ "[^"]*" "[^"]*" (?P<secs>[0-9.]+)'
metric = "api.time"
type = "ms"
value = "secs"
"#,
    )
    .unwrap();
    let log = d.path().join("access.log");
    std::fs::copy(logs().join("access.log"), &log).unwrap();
    let missing = d.path().join("gone.log");
    let a_dir = d.path().join("a_directory.log");
    std::fs::create_dir(&a_dir).unwrap();
    let st = d.path().join("state");
    let out = bin()
        .args([
            "logtail",
            "--once",
            "--from-start",
            "--dry-run",
            "-p",
            "web",
            "--rules",
        ])
        .arg(&rules)
        .arg("--state-dir")
        .arg(&st)
        .args([&log, &missing, &a_dir])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("rule `broken`: bad regex"), "{err}");
    assert!(err.contains("gone.log: vanished"), "{err}");
    assert!(err.contains("a_directory.log: cannot read"), "{err}");
    assert!(
        err.contains(
            "access.log: 1 of 8 lines matched no rule (first: \"- - - - not an access line\")"
        ),
        "{err}"
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        // In order of first appearance; the timer values of one name together.
        "web.status.200:3|c\nweb.status.404:1|c\nweb.status.201:1|c\nweb.api.time:0.12|ms\n\
         web.api.time:60.001|ms\nweb.status.301:1|c\nweb.status.504:1|c\n"
    );
    // --dry-run saves no offsets.
    let states = std::fs::read_dir(&st)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "state")
        })
        .count();
    assert_eq!(states, 0);

    // Nothing usable at all: exit 2 with the reason.
    std::fs::write(&rules, "[[rule]]\nregex = '('\nmetric = 'x'\ntype = 'c'\n").unwrap();
    let out = bin()
        .args(["logtail", "--once", "--rules"])
        .arg(&rules)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("rule 1: bad regex"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("nothing to count"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn carbon_output_to_a_tcp_receiver() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &join(&fixture_lines("app.log")));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let reader = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    });
    let st = d.path().join("state");
    run(
        &[
            "--once",
            "--from-start",
            "--parser",
            "log4j",
            "-p",
            "servers.h.app",
            "-o",
            "carbon",
            "--graphite-host",
            &addr,
            "--state-dir",
            st.to_str().unwrap(),
        ],
        &[&log],
    );
    let text = reader.join().unwrap();
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| {
            let (nv, ts) = l.rsplit_once(' ').unwrap();
            assert!(ts.parse::<u64>().unwrap() > 1_700_000_000, "{l}");
            nv.split_once(' ').unwrap()
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("servers.h.app.WARN", "0.03333333333333333"),
            ("servers.h.app.ERROR", "0.03333333333333333"),
            ("servers.h.app.FATAL", "0.016666666666666666"),
        ]
    );
}

#[test]
fn a_second_logtail_on_the_same_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("mail.log");
    append(&log, "x\n");
    let st = d.path().join("state");
    // Hold the lock the way logtail does: flock on the .lock next to the state file.
    std::fs::create_dir_all(&st).unwrap();
    let abs = std::path::absolute(&log).unwrap();
    let lock_path = st.join(format!(
        "postfix{}.lock",
        abs.to_string_lossy().replace('/', "-")
    ));
    let f = std::fs::File::create(&lock_path).unwrap();
    // SAFETY: flock(2) on a descriptor owned by `f`, which outlives the check below.
    let locked = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(locked, 0);
    let out = bin()
        .args(["logtail", "--once", "--parser", "postfix", "--state-dir"])
        .arg(&st)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is locked"), "{}", stderr(&out));
    drop(f);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// No line makes a parser or a rule panic, and every gauge a parser sends
    /// is a finite number that statsd accepts.
    #[test]
    fn any_line_is_safe(lines in proptest::collection::vec(".{0,200}", 0..20), secs in 0.0f64..1e6) {
        use lonsdaleite::agent::logtail::rules::{RuleSpec, Rules};
        use lonsdaleite::agent::logtail::metric::Kind;
        let levels: Vec<String> = ["WARN", "ERROR"].map(String::from).to_vec();
        let spec = RuleSpec {
            name: None,
            regex: r"(?P<k>\w+)=(?P<v>\S+)".into(),
            metric: "kv.{k}".into(),
            kind: Kind::Timer,
            value: Some("v".into()),
        };
        let (mut rules, errors) = Rules::compile(&[spec]);
        proptest::prop_assert!(errors.is_empty());
        for kind in [ParserKind::Postfix, ParserKind::Squid, ParserKind::Log4j, ParserKind::Access] {
            let mut p = parsers::new(kind, &levels).unwrap();
            for l in &lines {
                p.parse_line(l);
                rules.parse_line(l);
            }
            for line in statsd_lines(&p.take_metrics(secs), "p", "") {
                let v = line.rsplit_once(':').unwrap().1.strip_suffix("|g").unwrap();
                proptest::prop_assert!(v.parse::<f64>().is_ok_and(f64::is_finite), "{}", line);
            }
        }
        rules.take_metrics();
    }
}

/// Waits (at most 20 s) until a datagram holds a line `pred` accepts; returns every line so far.
fn wait_udp(udp: &Udp, seen: &mut Vec<String>, pred: impl Fn(&str) -> bool) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let start = seen.len();
    loop {
        seen.extend(udp.drain());
        if seen[start..].iter().any(|l| pred(l)) {
            return;
        }
        assert!(
            std::time::Instant::now() < end,
            "nothing matching arrived: {seen:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn running_mode_saves_offsets_each_interval_and_a_restart_continues() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &join(&fixture_lines("app.log")));
    let st = d.path().join("state");
    let udp = Udp::new();
    let mut child = bin()
        .args([
            "logtail",
            "--interval",
            "200ms",
            "--from-start",
            "--parser",
            "log4j",
        ])
        .arg("--state-dir")
        .arg(&st)
        .args(["--statsd-host", &udp.addr()])
        .arg(&log)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    // The first interval counts the fixture, ...
    wait_udp(&udp, &mut seen, |l| {
        l.starts_with("ERROR:") && l != "ERROR:0.0|g"
    });
    let n = seen.len();
    // ... a later one counts nothing new (so the first one's offsets were saved).
    wait_udp(&udp, &mut seen, |l| l == "ERROR:0.0|g");
    assert!(seen[n..].iter().all(|l| l.ends_with(":0.0|g")), "{seen:?}");
    child.kill().unwrap();
    child.wait().unwrap();

    // Restart (cron style): only the line written since is counted.
    append(&log, "06:09:00.000 ERROR [db] one more\n");
    let state_file = std::fs::read_dir(&st)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "state"))
        .unwrap();
    let saved_at: u64 = std::fs::read_to_string(&state_file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("saved_at "))
        .unwrap()
        .parse()
        .unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = now();
    let st_s = st.to_str().unwrap().to_owned();
    run(
        &[
            "--once",
            "--parser",
            "log4j",
            "--state-dir",
            &st_s,
            "--statsd-host",
            &udp.addr(),
        ],
        &[&log],
    );
    let after = now();
    let got = udp.drain();
    let error = got.iter().find_map(|l| l.strip_prefix("ERROR:")).unwrap();
    let secs: Vec<f64> = (before..=after)
        .map(|t| t.saturating_sub(saved_at).max(1) as f64)
        .collect();
    assert!(
        rate_fits(error.strip_suffix("|g").unwrap(), 1.0, &secs),
        "{got:?} {secs:?}"
    );
    assert!(got.iter().any(|l| l == "WARN:0.0|g"), "{got:?}");
}

#[test]
fn a_failed_send_keeps_the_offsets_so_the_next_run_counts_the_lines() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    let st = d.path().join("state");
    let st_s = st.to_str().unwrap().to_owned();
    // First run records the end of the (empty) log.
    append(&log, "");
    run(
        &["--once", "--parser", "log4j", "--state-dir", &st_s],
        &[&log],
    );
    append(&log, "06:00:00.000 FATAL [main] x\n");
    // The carbon receiver is down: a port that was free a moment ago.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = bin()
        .args([
            "logtail",
            "--once",
            "--parser",
            "log4j",
            "-o",
            "carbon",
            "--state-dir",
            &st_s,
        ])
        .args(["--graphite-host", &closed])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));
    // The next run (receiver back) still sees the line.
    let udp = Udp::new();
    run(
        &[
            "--once",
            "--parser",
            "log4j",
            "--state-dir",
            &st_s,
            "--statsd-host",
            &udp.addr(),
        ],
        &[&log],
    );
    let got = udp.drain();
    assert!(
        got.iter()
            .any(|l| l.starts_with("FATAL:") && l != "FATAL:0.0|g"),
        "{got:?}"
    );
}
