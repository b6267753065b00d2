//! `lonsdaleite collect` over /proc fixtures: two readings of a made-up host
//! 10 s apart (tests/data/agent/proc/t0 and t1), checked line by line against
//! tests/data/agent/collect.expected, whose values were worked out by hand
//! from the fixture numbers (see the comments in that file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use lonsdaleite::agent::collect::sample::{self, Collector, Settings};
use lonsdaleite::agent::collect::{diskspace, diskusage, mountstats, network};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/agent")
}

fn settings() -> Settings {
    Settings {
        collectors: Collector::ALL.to_vec(),
        percore: true,
        ticks_per_second: 100,
        network: network::Filter::default(),
        diskusage: diskusage::Filter::default(),
        diskspace: diskspace::Filter::default(),
        mountstats: mountstats::Filter::default(),
    }
}

/// statvfs answers for the fixture's mount points; `/var/lib/a.b` fails.
fn statfs(root: &Path) -> impl Fn(&Path) -> std::io::Result<diskspace::FsStat> + '_ {
    move |p: &Path| {
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let fs = |dev, blocks, bfree, bavail, files, ffree, favail| diskspace::FsStat {
            dev,
            frsize: 4096,
            blocks,
            bfree,
            bavail,
            files,
            ffree,
            favail,
        };
        match rel.as_str() {
            "" => Ok(fs(1, 1_000_000, 400_000, 350_000, 65_536, 60_000, 60_000)),
            "data" | "data/again" => Ok(fs(2, 2_000_000, 1_500_000, 1_500_000, 0, 0, 0)),
            "mnt/nas" => Ok(fs(4, 100, 25, 25, 1000, 10, 10)),
            _ => Err(std::io::Error::from_raw_os_error(libc::EACCES)),
        }
    }
}

fn expected() -> Vec<String> {
    std::fs::read_to_string(data().join("collect.expected"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn fixture_lines_match_diamond_names_and_values() {
    let (r0, r1) = (data().join("proc/t0"), data().join("proc/t1"));
    let s = settings();
    let (a, e0) = sample::read(&r0, &s, &statfs(&r0));
    let (b, e1) = sample::read(&r1, &s, &statfs(&r1));
    // The one failing mount is named, and only it is left out.
    for errors in [&e0, &e1] {
        assert_eq!(errors.len(), 1, "{errors:?}");
        let msg = errors[0].to_string();
        assert!(
            msg.starts_with("diskspace: cannot read ") && msg.contains("var/lib/a.b"),
            "{msg}"
        );
    }
    let points = sample::points(Some(&a), &b, 10.0, &s);
    let got = sample::carbon_lines("servers.fixture", &points, 1_764_000_010);
    let want = expected();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "line {}", i + 1);
    }
    assert_eq!(got.len(), want.len(), "got {got:#?}");
}

#[test]
fn first_reading_sends_only_gauges() {
    let r0 = data().join("proc/t0");
    let s = settings();
    let (a, _) = sample::read(&r0, &s, &statfs(&r0));
    let pts = sample::points(None, &a, 10.0, &s);
    let paths: Vec<&str> = pts
        .iter()
        .map(|p| p.path.split('.').next().unwrap())
        .collect();
    assert!(
        paths
            .iter()
            .all(|p| ["memory", "loadavg", "diskspace", "sockets"].contains(p)),
        "{paths:?}"
    );
    assert!(paths.contains(&"memory") && paths.contains(&"sockets"));
}

#[test]
fn a_missing_file_names_the_collector_and_the_rest_still_counts() {
    let d = tempfile::tempdir().unwrap();
    let proc_dir = d.path().join("proc");
    std::fs::create_dir_all(proc_dir.join("net")).unwrap();
    let src = data().join("proc/t1/proc");
    for f in ["meminfo", "loadavg", "stat"] {
        std::fs::copy(src.join(f), proc_dir.join(f)).unwrap();
    }
    std::fs::write(proc_dir.join("vmstat"), "garbage without numbers\n").unwrap();
    let mut s = settings();
    s.collectors = vec![
        Collector::Memory,
        Collector::Network,
        Collector::Vmstat,
        Collector::Loadavg,
    ];
    let (sample, errors) = sample::read(d.path(), &s, &|_: &Path| unreachable!());
    let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].starts_with("network: cannot read ")
            && msgs[0].ends_with("No such file or directory (os error 2)"),
        "{msgs:?}"
    );
    assert!(msgs[1].starts_with("vmstat: cannot parse "), "{msgs:?}");
    assert!(sample.memory.is_some() && sample.loadavg.is_some());
}

#[test]
fn cli_once_dry_run_reads_the_given_root() {
    // One root read twice: the gauges are the fixture's, the counters 0.
    let out = Command::new(env!("CARGO_BIN_EXE_lonsdaleite"))
        .args([
            "collect",
            "--once",
            "--dry-run",
            "--once-gap",
            "0s",
            "--hostname",
            "fx",
        ])
        .args(["--collectors", "memory,loadavg,sockstat,vmstat", "--root"])
        .arg(data().join("proc/t1"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let strip = |l: &&str| l.rsplit_once(' ').unwrap().0.to_owned();
    let got: Vec<String> = lines.iter().map(strip).collect();
    let want: Vec<String> = expected()
        .iter()
        .filter(|l| l.contains(".memory.") || l.contains(".loadavg.") || l.contains(".sockets."))
        .map(|l| {
            l.replace("servers.fixture.", "servers.fx.")
                .rsplit_once(' ')
                .unwrap()
                .0
                .to_owned()
        })
        .collect();
    let (gauges, vm): (Vec<String>, Vec<String>) =
        got.into_iter().partition(|l| !l.contains(".vmstat."));
    assert_eq!(gauges, want);
    assert_eq!(
        vm,
        [
            "pgpgin",
            "pgpgout",
            "pswpin",
            "pswpout",
            "pgfault",
            "pgmajfault"
        ]
        .map(|k| format!("servers.fx.vmstat.{k} 0.00"))
    );
    // Every line carries the same timestamp.
    let ts: std::collections::HashSet<&str> = lines
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().1)
        .collect();
    assert_eq!(ts.len(), 1);
}

#[test]
fn cli_statsd_output_is_gauges() {
    let out = Command::new(env!("CARGO_BIN_EXE_lonsdaleite"))
        .args([
            "collect",
            "--once",
            "--dry-run",
            "--once-gap",
            "0s",
            "--hostname",
            "fx",
            "-o",
            "statsd",
        ])
        .args(["--collectors", "loadavg", "--root"])
        .arg(data().join("proc/t1"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "servers.fx.loadavg.01:1.50|g\nservers.fx.loadavg.05:0.80|g\nservers.fx.loadavg.15:0.33|g\n\
         servers.fx.loadavg.01_normalized:0.75|g\nservers.fx.loadavg.05_normalized:0.40|g\n\
         servers.fx.loadavg.15_normalized:0.17|g\nservers.fx.loadavg.processes_running:4|g\n\
         servers.fx.loadavg.processes_total:260|g\n"
    );
}

/// The non-comment lines of a file below tests/data/agent.
fn expected_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(data().join(name))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The mountstats lines for two readings of `t0` and `t1` below tests/data/agent/mountstats,
/// 10 s apart, sorted; panics on a collector error.
fn mountstats_lines(t0: &str, t1: &str, filter: mountstats::Filter) -> Vec<String> {
    let dir = data().join("mountstats");
    let mut s = settings();
    s.collectors = vec![Collector::Mountstats];
    s.mountstats = filter;
    let (r0, r1) = (dir.join(t0), dir.join(t1));
    let (a, e0) = sample::read(&r0, &s, &|_: &Path| unreachable!());
    let (b, e1) = sample::read(&r1, &s, &|_: &Path| unreachable!());
    assert!(e0.is_empty() && e1.is_empty(), "{e0:?} {e1:?}");
    let points = sample::points(Some(&a), &b, 10.0, &s);
    let mut lines = sample::carbon_lines("servers.fixture", &points, 1_764_000_010);
    lines.sort();
    lines
}

fn filter(include: &[&str], exclude: &[&str]) -> mountstats::Filter {
    let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    mountstats::Filter::new(&own(include), &own(exclude)).unwrap()
}

#[test]
fn mountstats_fixture_matches_diamond() {
    let got = mountstats_lines("t0", "t1", mountstats::Filter::default());
    let want = expected_lines("mountstats.expected");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "line {}", i + 1);
    }
    assert_eq!(got.len(), want.len(), "got {got:#?}");
    // All three NFS mounts, nothing from the others.
    for m in ["_mnt_home", "_srv_data", "_scratch_old"] {
        let prefix = format!("servers.fixture.mountstats.{m}.");
        assert!(got.iter().any(|l| l.starts_with(&prefix)), "{m}");
    }
    assert!(got.iter().all(|l| {
        ["_mnt_home.", "_srv_data.", "_scratch_old."]
            .iter()
            .any(|m| l.starts_with(&format!("servers.fixture.mountstats.{m}")))
    }));
}

#[test]
fn mountstats_filters_keep_and_skip_mount_points() {
    let all = expected_lines("mountstats.expected");
    let only = |names: &[&str]| -> Vec<String> {
        all.iter()
            .filter(|l| {
                names
                    .iter()
                    .any(|n| l.starts_with(&format!("servers.fixture.mountstats.{n}.")))
            })
            .cloned()
            .collect()
    };
    let got = |f| mountstats_lines("t0", "t1", f);
    // Anchored at the start, as Diamond's re.match: "/data" matches no mount point.
    assert_eq!(got(filter(&["/data"], &[])), Vec::<String>::new());
    assert_eq!(got(filter(&["/srv"], &[])), only(&["_srv_data"]));
    assert_eq!(
        got(filter(&[], &["/mnt", "/scratch"])),
        only(&["_srv_data"])
    );
    assert_eq!(
        got(filter(&[], &[r"/scratch\.old$"])),
        only(&["_mnt_home", "_srv_data"])
    );
    // Both lists apply (Diamond would ignore the exclude list here).
    assert_eq!(
        got(filter(&["/mnt", "/srv"], &["/srv"])),
        only(&["_mnt_home"])
    );
}

#[test]
fn mountstats_without_nfs_mounts_is_silent() {
    // A host whose mountstats lists only local filesystems.
    assert_eq!(
        mountstats_lines("no-nfs", "no-nfs", mountstats::Filter::default()),
        Vec::<String>::new()
    );
    // No /proc/self/mountstats at all (the host fixture has none): no error either.
    let root = data().join("proc/t1");
    let mut s = settings();
    s.collectors = vec![Collector::Mountstats];
    let (a, errors) = sample::read(&root, &s, &|_: &Path| unreachable!());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(a.mountstats.as_deref(), Some(&[][..]));
    assert!(sample::points(Some(&a), &a, 10.0, &s).is_empty());
}

#[test]
fn mountstats_first_reading_is_a_baseline() {
    let r1 = data().join("mountstats/t1");
    let mut s = settings();
    s.collectors = vec![Collector::Mountstats];
    let (b, _) = sample::read(&r1, &s, &|_: &Path| unreachable!());
    assert_eq!(b.mountstats.as_ref().map(Vec::len), Some(3));
    assert!(sample::points(None, &b, 10.0, &s).is_empty());
    assert!(sample::points(Some(&b), &b, 0.0, &s).is_empty());
}

#[test]
fn mountstats_unreadable_file_names_the_collector() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("proc/self");
    std::fs::create_dir_all(&dir).unwrap();
    // A block cut short: the events line has 3 numbers where the kernel prints 27.
    std::fs::write(
        dir.join("mountstats"),
        "device srv:/x mounted on /x with fstype nfs statvers=1.1\n\topts:\trw\n\tage:\t1\n\
         \tcaps:\tcaps=0x1\n\tsec:\tflavor=1\n\tevents:\t1 2 3\n\tbytes:\t1 2 3 4 5 6 7 8\n\n",
    )
    .unwrap();
    let mut s = settings();
    s.collectors = vec![Collector::Mountstats, Collector::Loadavg];
    let (sample, errors) = sample::read(d.path(), &s, &|_: &Path| unreachable!());
    let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].starts_with("loadavg: cannot read "), "{msgs:?}");
    assert!(
        msgs[1].starts_with("mountstats: cannot parse ")
            && msgs[1].contains("proc/self/mountstats"),
        "{msgs:?}"
    );
    assert!(sample.mountstats.is_none());
}

#[test]
fn cli_mountstats_once_dry_run() {
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lonsdaleite"))
            .args(["collect", "--once", "--dry-run", "--once-gap", "0s"])
            .args(["--hostname", "fx", "--collectors", "mountstats", "--root"])
            .arg(data().join("mountstats/t1"))
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--mountstats-exclude",
        "/mnt",
        "--mountstats-exclude",
        "/scratch",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    // One root read twice: every counter is unchanged, so every value is 0.
    let text = String::from_utf8(out.stdout).unwrap();
    let mut got: Vec<String> = text
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
        .collect();
    got.sort();
    let want: Vec<String> = expected_lines("mountstats.expected")
        .iter()
        .filter(|l| l.contains(".mountstats._srv_data."))
        .map(|l| {
            let path = l.split(' ').next().unwrap();
            format!("{} 0", path.replace("servers.fixture.", "servers.fx."))
        })
        .collect();
    assert_eq!(got, want);

    let bad = run(&["--mountstats-include", "(unclosed"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--mountstats-include/--mountstats-exclude"),
        "{err}"
    );
}
