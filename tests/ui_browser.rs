//! End-to-end test of the web page in headless Chromium: the real server with carbon
//! points for one metric, driven by `tests/ui/ui_test.mjs` (playwright-core and Debian's
//! `/usr/bin/chromium`, both installed by `tests/run-all`). Screenshots are kept under
//! `target/ui-artifacts/`. Missing chromium or node packages fail the test, never skip it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Server;

const METRIC: &str = "ui.test.sine";
const TOKEN: &str = "ui-write-token";

fn artifact_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp; the artifacts go next to it.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-artifacts")
}

#[test]
fn web_page_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install -y chromium` (tests/run-all does it)"
    );
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    assert!(
        ui.join("node_modules/playwright-core").is_dir(),
        "tests/ui/node_modules is missing: run `npm ci` in tests/ui (tests/run-all does it)"
    );

    // With a write token set, the page's first save is answered 401 and the page must ask
    // for the token.
    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("lonsdaleite.toml");
    std::fs::write(&file, format!("[http]\nwrite_token = \"{TOKEN}\"\n")).unwrap();
    let server = Server::start(&["--config", file.to_str().unwrap()]);
    let http = server.http.expect("the HTTP listener");

    // Twenty minutes of a sine at one point a minute (the default schema's step).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut lines = String::new();
    for i in 0..20u64 {
        let t = now - now % 60 - i * 60;
        let v = (i as f64 / 3.0).sin() * 10.0 + 20.0;
        writeln!(lines, "{METRIC} {v} {t}").unwrap();
    }
    let mut carbon = TcpStream::connect(server.carbon_tcp.unwrap()).unwrap();
    carbon.write_all(lines.as_bytes()).unwrap();
    drop(carbon);

    // The tree can show the metric once /metrics/find lists it.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let r = server.get("/metrics/find?query=ui.test.*");
        let (status, body) = (r.status, r.text());
        if status == 200 && body.contains(METRIC) {
            break;
        }
        assert!(
            Instant::now() < end,
            "/metrics/find never listed {METRIC}: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let artifacts = artifact_dir();
    println!("browser test screenshots: {}", artifacts.display());
    let mut child = Command::new("node")
        .arg(ui.join("ui_test.mjs"))
        .arg(format!("http://{http}"))
        .arg(&artifacts)
        .arg(METRIC)
        .arg(TOKEN)
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (Node.js ≥ 18) runs tests/ui/ui_test.mjs");
    // The script bounds itself at 180 s; this is the backstop.
    let end = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    println!("{out}");
    assert!(
        status.success(),
        "browser test failed ({status}); screenshots in {}\n--- stdout\n{out}--- stderr\n{err}",
        artifacts.display()
    );
}
