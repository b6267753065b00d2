//! `lonsdaleite cluster rebalance` between real nodes on loopback.
//!
//! Node A holds whisper files (retentions `10s:1h,1m:1d`, points in both archives' ranges,
//! with gaps) for names a four-member `carbon_ch` ring places on A, B, C and D; D is not
//! running. B already holds one of the names that move to it, with its own points at
//! A's gaps and at some of A's timestamps. The rebalance binary runs on A's data
//! directory while A serves it:
//! - `--dry-run` lists exactly the names `cluster whereis` places off A, and changes no
//!   file on any node;
//! - the real run moves every series placed on B or C: after B and C stop (draining their
//!   caches), each one's file holds every point A had, counted, with the exact value in
//!   both archives; B's own points are still there where A had gaps, and A's won where
//!   both had a point; points that were only in A's cache moved too; A's files for them
//!   are gone (and their emptied directories), A's `/metrics/index.json` no longer lists
//!   them (`--admin` made it forget), names that stay are byte-for-byte untouched;
//! - the series placed on D (down) are kept on A, named on stderr, and the exit status
//!   is 1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, Server};
use lonsdaleite::storage::whisper::file::{create, fetch, update_many, Preallocate};
use lonsdaleite::storage::whisper::AggregationMethod;

const SCHEMAS: &str = "[all]\npattern = .*\nretentions = 10s:1h,1m:1d\n";

/// One series' points: `(ts, value)` for the 10 s archive and for the 1 m archive.
#[derive(Clone, Debug, Default)]
struct Points {
    fine: BTreeMap<i64, f64>,
    coarse: BTreeMap<i64, f64>,
}

/// A's points for series `i`: fine ones 30 s to 50 min old with every fourth missing,
/// coarse ones 70 min to 23 h old with every fifth missing; values with long decimals.
fn ours(i: usize, t0: i64) -> Points {
    let mut p = Points::default();
    for k in 3..=300_i64 {
        if k % 4 != 0 {
            p.fine
                .insert(t0 - 10 * k, i as f64 * 1000.0 + k as f64 / 7.0);
        }
    }
    for m in 70..=1380_i64 {
        if m % 5 != 0 {
            p.coarse.insert(t0 - 60 * m, -(i as f64) - m as f64 * 0.1);
        }
    }
    p
}

/// B's own points for the series it shares: in A's gaps, and at a few of A's timestamps.
fn theirs(t0: i64) -> Points {
    let mut p = Points::default();
    for k in 3..=300_i64 {
        if k % 4 == 0 || (5..=7).contains(&k) {
            p.fine.insert(t0 - 10 * k, 9999.5 + k as f64);
        }
    }
    for m in 70..=1380_i64 {
        if m % 5 == 0 || m == 71 || m == 72 {
            p.coarse.insert(t0 - 60 * m, 8888.25 + m as f64);
        }
    }
    p
}

fn file_of(data: &Path, name: &str) -> PathBuf {
    let mut p = data.join("whisper");
    for part in name.split('.') {
        p.push(part);
    }
    p.set_extension("wsp");
    p
}

/// Writes `points` as whisper 1.1.10 would (`update_many`, the coarse ones first).
fn write_series(data: &Path, name: &str, points: &Points, now: i64) {
    let path = file_of(data, name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    create(
        &path,
        &[(10, 360), (60, 1440)],
        0.5,
        AggregationMethod::Average,
        Preallocate::Sparse,
    )
    .unwrap();
    let coarse: Vec<(i64, f64)> = points.coarse.iter().map(|(&t, &v)| (t, v)).collect();
    let fine: Vec<(i64, f64)> = points.fine.iter().map(|(&t, &v)| (t, v)).collect();
    update_many(&path, &coarse, now).unwrap();
    update_many(&path, &fine, now).unwrap();
}

/// A config directory with the test's schemas; returns the config file.
fn config() -> PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::write(dir.join("storage-schemas.conf"), SCHEMAS).unwrap();
    std::fs::write(dir.join("lonsdaleite.toml"), "").unwrap();
    dir.join("lonsdaleite.toml")
}

/// A node over `data` (files already written), once its start-up scan lists `want` names.
fn node(data: tempfile::TempDir, cfg: &Path, want: usize) -> Server {
    let cfg = cfg.display().to_string();
    // No StatsD flush during the test: it would add the server's own stats files.
    let s = Server::start_in(
        data,
        &[
            "--shards",
            "1",
            "--flush-interval",
            "1000s",
            "--config",
            &cfg,
        ],
    );
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let names = test_names(&s);
        if names.len() == want {
            return s;
        }
        assert!(Instant::now() < end, "the scan listed {names:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The test's names in a node's index.
fn test_names(s: &Server) -> BTreeSet<String> {
    let all: Vec<String> =
        serde_json::from_slice(&s.get("/metrics/index.json").body).unwrap_or_default();
    all.into_iter()
        .filter(|n| n.starts_with("app") || n.starts_with("stay"))
        .collect()
}

/// Runs the binary with `args` (and `stdin`), killed after a minute.
fn run(args: &[String], stdin: &str) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    out
}

/// Every file of the test's series under `dir` (`app*`, `stay*`: not the server's own
/// StatsD stats) with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = every_file(dir);
    all.retain(|p, _| {
        let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        rel.starts_with("app") || rel.starts_with("stay")
    });
    all
}

/// Asserts two trees hold the same files with the same bytes, naming those that differ.
fn assert_same(now: &BTreeMap<PathBuf, Vec<u8>>, before: &BTreeMap<PathBuf, Vec<u8>>) {
    let differ: Vec<&PathBuf> = now
        .keys()
        .chain(before.keys())
        .filter(|k| now.get(*k) != before.get(*k))
        .collect();
    assert!(differ.is_empty(), "files changed: {differ:?}");
}

fn every_file(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue; // C's data directory has no whisper tree yet
        };
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.path().extension().is_some_and(|x| x == "wsp") {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// How many of `want` the file at `path` holds with the exact value (1 m archive read
/// for `coarse`, 10 s archive for `fine`).
fn found(path: &Path, want: &Points, now: i64) -> (usize, usize) {
    let count = |archive: &str, from: i64, until: i64, pts: &BTreeMap<i64, f64>| {
        let r = fetch(path, from, Some(until), now, Some(archive))
            .unwrap()
            .unwrap();
        pts.iter()
            .filter(|(&t, &v)| {
                let k = (t - r.from) / r.step;
                (t - r.from) % r.step == 0
                    && k >= 0
                    && r.values.get(k as usize).copied().flatten() == Some(v)
            })
            .count()
    };
    let fine = count("10", now - 3590, now, &want.fine);
    let coarse = count("60", now - 86_300, now - 3600, &want.coarse);
    (fine, coarse)
}

#[test]
fn rebalance_moves_verifies_and_removes() {
    let t0 = {
        let now = common::unix_now() as i64;
        now - now % 60
    };
    let cfg = config();
    let names: Vec<String> = (0..40).map(|i| format!("app{i}.req.latency")).collect();
    let stay_dir = "stay.kept";

    // A holds every name, plus one that stays in a directory of its own.
    let a_dir = tempfile::tempdir().unwrap();
    for (i, n) in names.iter().enumerate() {
        write_series(a_dir.path(), n, &ours(i, t0), t0);
    }

    let d_port = dead_port();
    // The placement does not depend on ports (carbon_ch keys host and instance), so it is
    // asked for before the nodes start, with placeholder ports.
    let ring_args = |ports: [u16; 4]| -> Vec<String> {
        let mut v = vec!["--ring".to_owned(), "carbon_ch".to_owned()];
        for (p, inst) in ports.iter().zip(["a", "b", "c", "d"]) {
            v.push("--node".into());
            v.push(format!("127.0.0.1:{p}={inst}"));
        }
        v
    };
    let mut whereis = vec!["cluster".to_owned(), "whereis".to_owned()];
    whereis.extend(ring_args([2003, 2004, 2005, 2006]));
    whereis.push("-".into());
    let placed = run(&whereis, &names.join("\n"));
    assert!(placed.status.success(), "{placed:?}");
    let owner: BTreeMap<String, char> = String::from_utf8(placed.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, node) = l.split_once(' ').unwrap();
            (name.to_owned(), node.chars().last().unwrap())
        })
        .collect();
    assert_eq!(owner.len(), names.len());
    let on = |c: char| -> Vec<&String> { names.iter().filter(|n| owner[*n] == c).collect() };
    for c in ['a', 'b', 'c', 'd'] {
        assert!(!on(c).is_empty(), "no name placed on {c}: {owner:?}");
    }
    // A name that stays, in a directory of its own.
    let stay_name = format!("{stay_dir}.x");
    let mut whereis_stay = whereis.clone();
    whereis_stay.pop();
    whereis_stay.push(stay_name.clone());
    let stay_owner = String::from_utf8(run(&whereis_stay, "").stdout).unwrap();
    let stay_name = if stay_owner.trim_end().ends_with("=a") {
        write_series(a_dir.path(), &stay_name, &ours(99, t0), t0);
        Some(stay_name)
    } else {
        None
    };

    // B already holds the first name that moves to it.
    let shared = on('b')[0].clone();
    let b_dir = tempfile::tempdir().unwrap();
    write_series(b_dir.path(), &shared, &theirs(t0), t0);

    let a_count = names.len() + usize::from(stay_name.is_some());
    let a = node(a_dir, &cfg, a_count);
    let b = node(b_dir, &cfg, 1);
    let c = node(tempfile::tempdir().unwrap(), &cfg, 0);
    let port = |s: &Server| s.carbon_tcp.unwrap().port();
    let mut args = vec!["cluster".to_owned(), "rebalance".to_owned()];
    args.extend(ring_args([port(&a), port(&b), port(&c), d_port]));
    let self_node = format!("127.0.0.1:{}=a", port(&a));
    args.extend([
        "--self".to_owned(),
        self_node.clone(),
        "--data-dir".to_owned(),
        a.data_dir.path().display().to_string(),
        "--verify-timeout".to_owned(),
        "20s".to_owned(),
        "--batch".to_owned(),
        "7".to_owned(),
    ]);
    for (s, inst) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        args.push("--http".into());
        args.push(format!(
            "127.0.0.1:{}={inst}=http://{}",
            port(s),
            s.http.unwrap()
        ));
    }
    args.push("--http".into());
    args.push(format!("127.0.0.1:{d_port}=d=http://127.0.0.1:{d_port}"));

    // --dry-run: exactly the names whereis places off A; nothing changes anywhere.
    let before_a = tree(&a.data_dir.path().join("whisper"));
    let before_b = tree(&b.data_dir.path().join("whisper"));
    let mut dry = args.clone();
    dry.push("--dry-run".into());
    let out = run(&dry, "");
    assert!(out.status.success(), "{out:?}");
    let listed: BTreeSet<String> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: BTreeSet<String> = names
        .iter()
        .filter(|n| owner[*n] != 'a')
        .map(|n| {
            let o = match owner[n] {
                'b' => port(&b),
                'c' => port(&c),
                _ => d_port,
            };
            format!("{n} -> 127.0.0.1:{o}={}", owner[n])
        })
        .collect();
    assert_eq!(listed, expected);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{} of {a_count} local series would move",
            expected.len()
        )),
        "{err}"
    );
    assert_same(&tree(&a.data_dir.path().join("whisper")), &before_a);
    assert_same(&tree(&b.data_dir.path().join("whisper")), &before_b);
    assert!(tree(&c.data_dir.path().join("whisper")).is_empty());

    // A point only A's server has taken in, for a name that moves to C: it must move too.
    let cached_name = on('c')[0].clone();
    let cached_ts = t0 - 20; // newer than any point of `ours`
    let cached_value = 0.1 + 0.2;
    {
        let mut s = std::net::TcpStream::connect(a.carbon_tcp.unwrap()).unwrap();
        writeln!(s, "{cached_name} {cached_value:?} {cached_ts}").unwrap();
    }
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = a.get(&format!(
            "/render?target={cached_name}&from={}&until={}&format=json",
            cached_ts - 1,
            cached_ts
        ));
        if r.text().contains("0.30000000000000004") {
            break;
        }
        assert!(
            Instant::now() < end,
            "A never showed the point: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Written to A's file too, so A's writer does not make the file again after the move
    // (a point arriving for a moved name would: the relay must be switched first).
    let mut just_it = Points::default();
    just_it.fine.insert(cached_ts, cached_value);
    let end = Instant::now() + Duration::from_secs(10);
    let cached_file = file_of(a.data_dir.path(), &cached_name);
    while found(&cached_file, &just_it, common::unix_now() as i64).0 != 1 {
        assert!(Instant::now() < end, "A never wrote the point");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The real run.
    let before_a = tree(&a.data_dir.path().join("whisper"));
    args.extend(["--admin".to_owned(), a.admin.to_string()]);
    let out = run(&args, "");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let moved_listed: BTreeSet<String> = stdout.lines().map(str::to_owned).collect();
    let moved_expected: BTreeSet<String> = expected
        .iter()
        .filter(|l| !l.ends_with("=d"))
        .cloned()
        .collect();
    assert_eq!(moved_listed, moved_expected, "{stderr}");
    for n in on('d') {
        assert!(
            stderr.contains(&format!("{n} -> 127.0.0.1:{d_port}=d: cannot connect")),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read(file_of(a.data_dir.path(), n)).unwrap(),
            before_a[&file_of(a.data_dir.path(), n)],
            "{n} must be kept as it was"
        );
    }
    assert!(
        stderr.contains(&format!(
            "moved {} series ({} points)",
            moved_expected.len(),
            names
                .iter()
                .enumerate()
                .filter(|(_, n)| owner[*n] == 'b' || owner[*n] == 'c')
                .map(|(i, _)| {
                    let p = ours(i, t0);
                    p.fine.len() + p.coarse.len()
                })
                .sum::<usize>()
                + 1
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{} failed and kept", on('d').len())),
        "{stderr}"
    );

    // A: moved files and their emptied directories gone, the rest untouched, the index
    // without the moved names.
    for n in names.iter().filter(|n| matches!(owner[*n], 'b' | 'c')) {
        let f = file_of(a.data_dir.path(), n);
        assert!(!f.exists(), "{n} still on A");
        let top = a
            .data_dir
            .path()
            .join("whisper")
            .join(n.split('.').next().unwrap());
        assert!(!top.exists(), "{} left behind", top.display());
    }
    for n in names
        .iter()
        .filter(|n| owner[*n] == 'a')
        .chain(stay_name.iter())
    {
        let f = file_of(a.data_dir.path(), n);
        assert_eq!(std::fs::read(&f).unwrap(), before_a[&f], "{n} changed");
    }
    let listed = test_names(&a);
    let staying: BTreeSet<String> = names
        .iter()
        .filter(|n| matches!(owner[*n], 'a' | 'd'))
        .chain(stay_name.iter())
        .cloned()
        .collect();
    assert_eq!(listed, staying);

    // B and C: stopped (their caches drained), every point there.
    let now = common::unix_now() as i64;
    let b_data = b.stop_keeping_data();
    let c_data = c.stop_keeping_data();
    let (mut want_total, mut got_total) = (0, 0);
    for (i, n) in names.iter().enumerate() {
        let data = match owner[n] {
            'b' => b_data.path(),
            'c' => c_data.path(),
            _ => continue,
        };
        let mut want = ours(i, t0);
        if *n == cached_name {
            want.fine.insert(cached_ts, cached_value);
        }
        let path = file_of(data, n);
        let (fine, coarse) = found(&path, &want, now);
        assert_eq!(
            (fine, coarse),
            (want.fine.len(), want.coarse.len()),
            "{n} on {}",
            owner[n]
        );
        want_total += want.fine.len() + want.coarse.len();
        got_total += fine + coarse;
        if *n == shared {
            // B's own points where A had gaps are still there.
            let mut kept = theirs(t0);
            kept.fine.retain(|t, _| !want.fine.contains_key(t));
            kept.coarse.retain(|t, _| !want.coarse.contains_key(t));
            assert!(kept.fine.len() > 50 && kept.coarse.len() > 200);
            assert_eq!(
                found(&path, &kept, now),
                (kept.fine.len(), kept.coarse.len()),
                "B's own points of {n}"
            );
        }
    }
    assert_eq!(got_total, want_total);
    assert!(want_total > 20_000, "{want_total}");
    drop(a);
}

#[test]
fn arguments_that_make_no_plan_are_refused() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("whisper")).unwrap();
    let d = data.path().display().to_string();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "cluster",
            "rebalance",
            "--ring",
            "carbon_ch",
            "--node",
            "127.0.0.2:2003=a",
            "--node",
            "127.0.0.3:2003=b",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    // --self not on the ring.
    let out = run(&base(&["--self", "127.0.0.4:2003=c", "--data-dir", &d]), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not one of the --node members"));
    // No whisper directory.
    let out = run(
        &base(&["--self", "127.0.0.2:2003=a", "--data-dir", "/nonexistent/x"]),
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no whisper directory"));
    // --http for a member not on the ring, and a malformed one.
    let out = run(
        &base(&[
            "--self",
            "127.0.0.2:2003=a",
            "--data-dir",
            &d,
            "--http",
            "127.0.0.9:2003=z=http://127.0.0.9:8080",
        ]),
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &base(&[
            "--self",
            "127.0.0.2:2003=a",
            "--data-dir",
            &d,
            "--http",
            "x",
        ]),
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    // An empty directory: nothing to move, success; tagged files are counted and named.
    let tagged = data.path().join("whisper/_tagged/abc/def/abcdef.wsp");
    std::fs::create_dir_all(tagged.parent().unwrap()).unwrap();
    std::fs::write(&tagged, b"").unwrap();
    let out = run(&base(&["--self", "127.0.0.2:2003=a", "--data-dir", &d]), "");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 tagged series"), "{err}");
    assert!(err.contains("moved 0 series"), "{err}");
    assert!(tagged.exists());
    // --help names every option.
    let out = run(&["cluster".into(), "rebalance".into(), "--help".into()], "");
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--ring",
        "--node",
        "--self",
        "--data-dir",
        "--config",
        "--http",
        "--admin",
        "--dry-run",
        "--batch",
        "--verify-timeout",
        "--max-rate",
        "Adding a node",
    ] {
        assert!(help.contains(opt), "{opt} missing from\n{help}");
    }
}
