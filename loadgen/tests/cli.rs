//! Runs the `loadgen` binary: help, refusals, JSON output, and sender → `--sink` end to end.

use std::io::{BufRead as _, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

#[test]
fn help_lists_every_option() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("utf8");
    for opt in [
        "--target",
        "--protocol",
        "--names",
        "--mix",
        "--sample-rate",
        "--tags",
        "--per-packet",
        "--rate",
        "--count",
        "--duration",
        "--threads",
        "--seed",
        "--batch",
        "--verify",
        "--verify-carbon",
        "--server-pid",
        "--json",
        "--allow-remote",
        "--sink",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
}

#[test]
fn refuses_a_remote_target() {
    let out = Command::new(BIN)
        .args(["--target", "192.0.2.1:8125", "--count", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-remote"), "{err}");
}

#[test]
fn json_summary_of_a_counted_run() {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = rx.local_addr().expect("addr").to_string();
    let out = Command::new(BIN)
        .args([
            "--target", &addr, "--count", "1000", "--names", "100", "--rate", "20000", "--json",
            "--quiet",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["lines_sent"], 1000);
    assert_eq!(v["datagrams"], 40);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["protocol"], "statsd-udp");
    assert_eq!(v["verify"]["method"], "none");
}

#[test]
fn sender_to_sink_counts_match() {
    let mut sink = Command::new(BIN)
        .args([
            "--sink",
            "127.0.0.1:0",
            "--count",
            "5000",
            "--duration",
            "30s",
            "--json",
            "-q",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("sink");
    let mut out = BufReader::new(sink.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("read");
    let addr = first
        .trim()
        .strip_prefix("listening sink udp ")
        .expect("listening line")
        .to_owned();
    let send = Command::new(BIN)
        .args([
            "--target", &addr, "--count", "5000", "--rate", "50000", "--json", "-q",
        ])
        .output()
        .expect("send");
    assert!(send.status.success());
    let sent: serde_json::Value = serde_json::from_slice(&send.stdout).expect("json");
    let mut rest = String::new();
    out.read_line(&mut rest).expect("read");
    let got: serde_json::Value = serde_json::from_str(&rest).expect("json");
    assert!(sink.wait().expect("wait").success());
    assert_eq!(sent["lines_sent"], 5000);
    assert_eq!(got["lines"], 5000);
    assert_eq!(got["datagrams"], sent["datagrams"]);
}
