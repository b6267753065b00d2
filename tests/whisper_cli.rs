//! `lonsdaleite whisper …` against whisper 1.1.10's own scripts: same arguments, same
//! stdout, stderr and exit status, same file bytes.
//!
//! Each comparison runs the script first, then our command with `--now` set to the second
//! the script ran in (retried if the script straddled a second boundary), each in its own
//! directory holding identical copies of the input files under the same names.
//! Needs `python3` with `whisper==1.1.10` (`tests/run-all` installs it).

#![allow(clippy::unwrap_used)]

#[path = "interop/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Pair {
    scripts: PathBuf,
    theirs: tempfile::TempDir,
    ours: tempfile::TempDir,
}

#[derive(Debug, PartialEq)]
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            status: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Pair {
    fn new() -> Self {
        Self {
            scripts: harness::scripts_dir(),
            theirs: tempfile::tempdir().unwrap(),
            ours: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs a script in the python directory (as a setup step; output ignored unless it fails).
    fn setup(&self, script: &str, args: &[String]) {
        let out = self.script(script, args, None);
        assert_eq!(out.status, Some(0), "{script} {args:?}: {out:?}");
        for entry in std::fs::read_dir(self.theirs.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), self.ours.path().join(entry.file_name())).unwrap();
        }
    }

    fn script(&self, script: &str, args: &[String], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new("python3");
        cmd.arg(self.scripts.join(script))
            .args(args)
            .current_dir(self.theirs.path())
            .env("TZ", "UTC");
        run(cmd, stdin)
    }

    fn ours(&self, sub: &str, args: &[String], now: i64, stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lonsdaleite"));
        cmd.args(["whisper", "--now", &now.to_string(), sub])
            .args(args)
            .current_dir(self.ours.path())
            .env("TZ", "UTC");
        run(cmd, stdin)
    }

    /// Runs the script, then our subcommand with `--now` set to each second the script may
    /// have read (from just before it started to just after it ended), starting each try
    /// from the same files; passes when one of them gives the same output and files.
    /// A script whose own clock reads straddled a second can match none: then both
    /// directories are restored and the step is run again.
    fn same(&self, script: &str, sub: &str, args: &[String], stdin: Option<&str>) -> (Run, i64) {
        let start = snapshot(self.ours.path());
        for _ in 0..10 {
            restore(self.theirs.path(), &start);
            let before = unix_now();
            let theirs = self.script(script, args, stdin);
            let after = unix_now();
            let theirs_files = snapshot(self.theirs.path());
            let mut last = None;
            for now in before..=after {
                restore(self.ours.path(), &start);
                let ours = self.ours(sub, args, now, stdin);
                if ours == theirs && snapshot(self.ours.path()) == theirs_files {
                    return (ours, now);
                }
                last = Some(ours);
            }
            if before == after {
                // one second only: a real difference; show it
                assert_eq!(
                    last.as_ref(),
                    Some(&theirs),
                    "`{sub} {args:?}` differs from {script}"
                );
                self.same_files();
            }
        }
        panic!("`{sub} {args:?}` matched {script} at no single second in 10 tries");
    }

    /// Asserts both directories hold the same files with the same bytes.
    fn same_files(&self) {
        let list = |d: &Path| {
            let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let (theirs, ours) = (list(self.theirs.path()), list(self.ours.path()));
        assert_eq!(
            theirs.iter().map(|f| &f.0).collect::<Vec<_>>(),
            ours.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        for (t, o) in theirs.iter().zip(&ours) {
            assert!(t.1 == o.1, "{} differs", t.0);
        }
    }
}

/// A directory's files (name, bytes), sorted by name.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Makes `dir` hold exactly the files of `snap`.
fn restore(dir: &Path, snap: &[(String, Vec<u8>)]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for (name, bytes) in snap {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Run {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap().into()
}

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// A file with a day of minutes and a week of hours, filled over the last 3 hours.
fn filled(pair: &Pair, name: &str, method: &str, xff: &str) -> i64 {
    let now = unix_now();
    pair.setup(
        "whisper-create.py",
        &s(&[
            name,
            "60:1440",
            "1h:7d",
            &format!("--xFilesFactor={xff}"),
            &format!("--aggregationMethod={method}"),
        ]),
    );
    let mut points: Vec<String> = (0..180)
        .filter(|i| i % 7 != 3)
        .map(|i| format!("{}:{}", now - 60 * i - 30, (i % 11) as f64 * 0.75 - 2.0))
        .collect();
    points.push(format!("{}:0", now - 5000));
    let mut args = vec![name.to_owned()];
    args.extend(points);
    pair.setup("whisper-update.py", &args);
    now
}

#[test]
fn create_matches_whisper_create() {
    let pair = Pair::new();
    pair.same(
        "whisper-create.py",
        "create",
        &s(&["a.wsp", "10s:6h", "1m:7d", "10m:5y"]),
        None,
    );
    pair.same(
        "whisper-create.py",
        "create",
        &s(&[
            "b.wsp",
            "60:1440",
            "15m:8",
            "--xFilesFactor=0.1",
            "--aggregationMethod=absmax",
        ]),
        None,
    );
    pair.same(
        "whisper-create.py",
        "create",
        &s(&["c.wsp", "1s:1m", "1m:1h", "--sparse"]),
        None,
    );
    pair.same(
        "whisper-create.py",
        "create",
        &s(&[
            "d.wsp",
            "1s:1m",
            "--fallocate",
            "--aggregationMethod",
            "last",
        ]),
        None,
    );
    pair.same(
        "whisper-create.py",
        "create",
        &s(&["a.wsp", "1h:2y", "--overwrite"]),
        None,
    );
    // errors that the script reports as [ERROR] lines
    pair.same("whisper-create.py", "create", &s(&["a.wsp", "1h:2y"]), None);
    pair.same(
        "whisper-create.py",
        "create",
        &s(&["e.wsp", "60:10", "90:100"]),
        None,
    );
    pair.same(
        "whisper-create.py",
        "create",
        &s(&["e.wsp", "60:10", "60:100"]),
        None,
    );
    pair.same(
        "whisper-create.py",
        "create",
        &s(&["--estimate", "10s:6h,1m:7d,10m:5y"]),
        None,
    );
    pair.same(
        "whisper-create.py",
        "create",
        &s(&["--estimate", "60:1440", "1h:7d"]),
        None,
    );
    pair.same_files();
}

#[test]
fn info_dump_fetch_match_the_scripts() {
    let pair = Pair::new();
    let t = filled(&pair, "m.wsp", "sum", "0.1");
    pair.same("whisper-info.py", "info", &s(&["m.wsp"]), None);
    pair.same("whisper-info.py", "info", &s(&["m.wsp", "--json"]), None);
    for field in [
        "xFilesFactor",
        "archives",
        "fileSize",
        "aggregationMethod",
        "nope",
    ] {
        pair.same("whisper-info.py", "info", &s(&["m.wsp", field]), None);
    }
    pair.same("whisper-dump.py", "dump", &s(&["m.wsp"]), None);
    pair.same("whisper-dump.py", "dump", &s(&["-r", "m.wsp"]), None);
    pair.same("whisper-dump.py", "dump", &s(&["--pretty", "m.wsp"]), None);
    pair.same(
        "whisper-dump.py",
        "dump",
        &s(&["--pretty", "-t", "%Y-%m-%dT%H:%M:%S", "m.wsp"]),
        None,
    );
    pair.same("whisper-dump.py", "dump", &s(&["missing.wsp"]), None);
    let from = (t - 4 * 3600).to_string();
    let until = (t - 600).to_string();
    for extra in [
        &[][..],
        &["--json"],
        &["--pretty"],
        &["--drop", "nulls"],
        &["--drop", "zeroes"],
        &["--drop=empty"],
    ] {
        let mut args = s(&["m.wsp", "--from", &from, "--until", &until]);
        args.extend(s(extra));
        pair.same("whisper-fetch.py", "fetch", &args, None);
    }
    // defaults: the last 24 hours; a coarse read; an empty range
    pair.same("whisper-fetch.py", "fetch", &s(&["m.wsp"]), None);
    pair.same(
        "whisper-fetch.py",
        "fetch",
        &s(&["m.wsp", &format!("--from={}", t - 3 * 86_400)]),
        None,
    );
    pair.same(
        "whisper-fetch.py",
        "fetch",
        &s(&[
            "m.wsp",
            &format!("--from={}", t + 86_400),
            &format!("--until={}", t + 90_000),
        ]),
        None,
    );
    pair.same_files();
}

#[test]
fn update_and_set_aggregation_match_the_scripts() {
    let pair = Pair::new();
    let t = filled(&pair, "u.wsp", "average", "0.5");
    pair.same(
        "whisper-update.py",
        "update",
        &s(&["u.wsp", &format!("{}:42.5", t - 90)]),
        None,
    );
    let many: Vec<String> = (0..40)
        .map(|i| format!("{}:{}", t - 1000 - 45 * i, i * 3 - 20))
        .collect();
    let mut args = vec!["u.wsp".to_owned()];
    args.extend(many.iter().cloned());
    pair.same("whisper-update.py", "update", &args, None);
    let stdin: String = (0..25)
        .map(|i| format!("{}:{i}", t - 7200 - 300 * i))
        .collect::<Vec<_>>()
        .join("\n");
    pair.same("whisper-update.py", "update", &s(&["u.wsp"]), Some(&stdin));
    pair.same("whisper-update.py", "update", &s(&["u.wsp", "N:7"]), None);
    pair.same(
        "whisper-update.py",
        "update",
        &s(&["u.wsp", &format!("{}:1", t + 100_000)]),
        None,
    );
    pair.same_files();
    pair.same(
        "whisper-set-aggregation-method.py",
        "set-aggregation-method",
        &s(&["u.wsp", "max"]),
        None,
    );
    pair.same(
        "whisper-set-aggregation-method.py",
        "set-aggregation-method",
        &s(&["u.wsp", "avg_zero", "0.25"]),
        None,
    );
    pair.same(
        "whisper-set-aggregation-method.py",
        "set-aggregation-method",
        &s(&["u.wsp", "median"]),
        None,
    );
    pair.same_files();
}

#[test]
fn resize_matches_whisper_resize() {
    let pair = Pair::new();
    filled(&pair, "r.wsp", "max", "0.5");
    std::fs::copy(
        pair.theirs.path().join("r.wsp"),
        pair.theirs.path().join("s.wsp"),
    )
    .unwrap();
    std::fs::copy(
        pair.theirs.path().join("r.wsp"),
        pair.theirs.path().join("n.wsp"),
    )
    .unwrap();
    pair.resync_from_theirs();
    pair.same(
        "whisper-resize.py",
        "resize",
        &s(&["r.wsp", "60:2880", "1h:30d"]),
        None,
    );
    pair.same_files();
    pair.same(
        "whisper-resize.py",
        "resize",
        &s(&[
            "s.wsp",
            "120:1440",
            "1h:14d",
            "--aggregate",
            "--nobackup",
            "--xFilesFactor=0.3",
        ]),
        None,
    );
    pair.same_files();
    pair.same(
        "whisper-resize.py",
        "resize",
        &s(&[
            "n.wsp",
            "5m:2d",
            "--newfile",
            "n2.wsp",
            "--aggregationMethod=min",
        ]),
        None,
    );
    pair.same_files();
}

#[test]
fn merge_and_fill_match_the_scripts() {
    let pair = Pair::new();
    let t = unix_now();
    for name in ["src.wsp", "dst.wsp", "other.wsp"] {
        pair.setup("whisper-create.py", &s(&[name, "60:120", "300:600"]));
    }
    let src: Vec<String> = (1..500)
        .step_by(7)
        .map(|i| format!("{}:{i}", t - i * 37))
        .collect();
    let dst: Vec<String> = (1..300)
        .step_by(5)
        .map(|i| format!("{}:{}", t - i * 60, i % 4))
        .collect();
    for (name, pts) in [("src.wsp", src), ("dst.wsp", dst)] {
        let mut args = vec![name.to_owned()];
        args.extend(pts);
        pair.setup("whisper-update.py", &args);
    }
    for name in ["d1.wsp", "d2.wsp"] {
        std::fs::copy(
            pair.theirs.path().join("dst.wsp"),
            pair.theirs.path().join(name),
        )
        .unwrap();
    }
    pair.resync_from_theirs();
    pair.same("whisper-fill.py", "fill", &s(&["src.wsp", "d1.wsp"]), None);
    pair.same_files();
    pair.same(
        "whisper-merge.py",
        "merge",
        &s(&[
            "src.wsp",
            "d2.wsp",
            "--from",
            &(t - 6000).to_string(),
            "--until",
            &(t - 1000).to_string(),
        ]),
        None,
    );
    pair.same_files();
    pair.same(
        "whisper-merge.py",
        "merge",
        &s(&["src.wsp", "dst.wsp"]),
        None,
    );
    pair.same(
        "whisper-merge.py",
        "merge",
        &s(&["src.wsp", "nope.wsp"]),
        None,
    );
    pair.same_files();
}

impl Pair {
    /// Copies the python directory over ours (after setup steps done directly on files).
    fn resync_from_theirs(&self) {
        for entry in std::fs::read_dir(self.theirs.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), self.ours.path().join(entry.file_name())).unwrap();
        }
    }
}
