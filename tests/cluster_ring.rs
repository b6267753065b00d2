//! The rings against placements printed by the real tools, and `lonsdaleite cluster
//! whereis` as a black box.
//!
//! `tests/data/cluster/` holds what `gen_vectors.sh` recorded:
//! - `relay.txt`: carbon-c-relay 3.7.3's test mode (`-t`) for every name of `names.txt`,
//!   per member set, ring and replication count;
//! - `carbon.txt`: carbon 1.1.10's `ConsistentHashingRouter` for the same names;
//! - `intake.txt`: the relay daemon fed over TCP: the name sent, the name a member
//!   received, and which member;
//! - `proxy.txt`: etsy statsd 0.9.0's `proxy.js` ring (npm `hashring` 3.2.0, made by
//!   `gen_proxy_vectors.sh`) for the key `proxy.js` takes from each name of `names.txt`.
//!
//! Every vector is replayed; none is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use lonsdaleite::cluster::intake::relay_intake;
use lonsdaleite::cluster::md5;
use lonsdaleite::cluster::ring::{carbon_node_key, relay_instance_text};
use lonsdaleite::cluster::{Hash, Implementation, Node, Ring};

fn data(file: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/data/cluster", file]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn names() -> Vec<Vec<u8>> {
    lines(&data("names.txt"))
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// One `section` of a vectors file.
struct Section {
    /// The comment line before it: the member set's name.
    set: String,
    hash: Hash,
    replicas: usize,
    nodes: Vec<String>,
    /// `owners` tokens (relay.txt, carbon.txt) or tab-separated rows (intake.txt).
    rows: Vec<Vec<u8>>,
}

fn parse_hash(name: &str) -> Hash {
    match name {
        "carbon_ch" => Hash::CarbonCh,
        "fnv1a_ch" => Hash::Fnv1aCh,
        "jump_fnv1a_ch" => Hash::JumpFnv1aCh,
        other => panic!("unknown ring {other}"),
    }
}

fn sections(file: &str) -> Vec<Section> {
    let bytes = data(file);
    let mut out: Vec<Section> = Vec::new();
    let mut set = String::new();
    for line in lines(&bytes) {
        let text = String::from_utf8_lossy(line);
        if let Some(comment) = text.strip_prefix("# ") {
            comment.clone_into(&mut set);
        } else if let Some(rest) = text.strip_prefix("section ") {
            let (hash, replicas) = rest.split_once(" replicas=").unwrap();
            out.push(Section {
                set: set.clone(),
                hash: parse_hash(hash),
                replicas: replicas.parse().unwrap(),
                nodes: Vec::new(),
                rows: Vec::new(),
            });
        } else if let Some(spec) = text.strip_prefix("node ") {
            out.last_mut().unwrap().nodes.push(spec.to_owned());
        } else if let Some(tokens) = text.strip_prefix("owners ") {
            let s = out.last_mut().unwrap();
            s.rows
                .extend(tokens.split(' ').map(|t| t.as_bytes().to_vec()));
        } else {
            out.last_mut()
                .expect("a row before any section")
                .rows
                .push(line.to_vec());
        }
    }
    out
}

fn build(imp: Implementation, s: &Section) -> Ring {
    let nodes = s.nodes.iter().map(|n| Node::parse(n).unwrap()).collect();
    Ring::new(imp, s.hash, nodes, s.replicas).unwrap()
}

fn owner_tokens(s: &Section) -> Vec<Vec<usize>> {
    s.rows
        .iter()
        .map(|t| {
            std::str::from_utf8(t)
                .unwrap()
                .split(',')
                .map(|i| i.parse().unwrap())
                .collect()
        })
        .collect()
}

/// Replays every placement of one file; returns the sections with their expected owners.
fn replay(file: &str, imp: Implementation) -> Vec<(Section, Vec<Vec<usize>>)> {
    let names = names();
    let mut out = Vec::new();
    let mut checked = 0;
    for s in sections(file) {
        let ring = build(imp, &s);
        let want = owner_tokens(&s);
        assert_eq!(want.len(), names.len(), "{file} {} {}", s.set, s.hash);
        let mut got = Vec::new();
        for (name, want) in names.iter().zip(&want) {
            ring.owners(name, &mut got);
            assert_eq!(
                &got,
                want,
                "{file}: {} {} replicas={} name {:?}",
                s.set,
                s.hash,
                s.replicas,
                String::from_utf8_lossy(name)
            );
            checked += 1;
        }
        out.push((s, want));
    }
    assert!(checked > 50_000, "{file}: only {checked} placements");
    out
}

/// carbon-c-relay's test mode hashes each name exactly as given.
#[test]
fn relay_test_mode_placements() {
    let sections = replay("relay.txt", Implementation::CarbonCRelay);
    assert_eq!(sections.len(), 23);
}

/// carbon 1.1.10's router, replication with `DIVERSE_REPLICAS` included.
#[test]
fn carbon_placements() {
    let sections = replay("carbon.txt", Implementation::Carbon);
    assert_eq!(sections.len(), 15);
}

/// Where carbon's `carbon_ch` and the relay's differ for the same members: only where
/// two members' points share a position. The keys up to such a point go to the member
/// that sorts first (relay) or was listed first (carbon), and carbon's moved point, one or
/// two above, takes the keys at exactly its position. Nowhere else, and somewhere there
/// (the generator adds "probe" names hashing next to shared positions). Member sets with
/// an instance the relay rewrites (`03` is `3` to it) are left out: there every key text
/// of that member differs.
#[test]
fn carbon_and_relay_differ_only_at_ties() {
    let names = names();
    let relay = sections("relay.txt");
    let carbon = sections("carbon.txt");
    let md5_16 = |key: &[u8]| {
        let d = md5::digest(key);
        u32::from(u16::from_be_bytes([d[0], d[1]]))
    };
    let mut differing = 0;
    for r in relay
        .iter()
        .filter(|s| s.hash == Hash::CarbonCh && s.replicas == 1)
    {
        let nodes: Vec<Node> = r.nodes.iter().map(|n| Node::parse(n).unwrap()).collect();
        if nodes.iter().any(|n| {
            n.instance
                .as_ref()
                .is_some_and(|i| relay_instance_text(i) != *i)
        }) {
            continue;
        }
        let Some(c) = carbon
            .iter()
            .find(|c| c.set == r.set && c.hash == Hash::CarbonCh && c.replicas == 1)
        else {
            continue;
        };
        // Every point's hashed position, and those held by two different members.
        let mut holder: HashMap<u32, usize> = HashMap::new();
        let mut tied = HashSet::new();
        for (n, node) in nodes.iter().enumerate() {
            for i in 0..100 {
                let pos = md5_16(format!("{}:{i}", carbon_node_key(node)).as_bytes());
                if *holder.entry(pos).or_insert(n) != n {
                    tied.insert(pos);
                }
            }
        }
        let mut points: Vec<u32> = holder.keys().copied().collect();
        points.sort_unstable();
        for ((name, a), b) in names.iter().zip(owner_tokens(r)).zip(owner_tokens(c)) {
            if a != b {
                differing += 1;
                let pos = md5_16(name);
                let next = points
                    .get(points.partition_point(|&p| p < pos))
                    .unwrap_or(&points[0]);
                assert!(
                    tied.contains(next) || (1..=2).any(|k| pos >= k && tied.contains(&(pos - k))),
                    "{}: {} at {pos}, ties at {tied:?}",
                    r.set,
                    String::from_utf8_lossy(name)
                );
            }
        }
    }
    assert!(
        differing > 0,
        "the probe names should show the collision rule"
    );
}

/// The relay daemon: its rewrite of each name, and the member it sent the line to.
#[test]
fn statsd_proxy_placements() {
    use lonsdaleite::cluster::hashring::{line_key, ProxyRing};
    let names = names();
    let bytes = data("proxy.txt");
    // (set, nodes, owners)
    let mut sets: Vec<(String, Vec<String>, Vec<usize>)> = Vec::new();
    let mut set = String::new();
    for line in lines(&bytes) {
        let text = std::str::from_utf8(line).unwrap();
        if let Some(comment) = text.strip_prefix("# ") {
            comment.clone_into(&mut set);
        } else if text == "section hashring replicas=1" {
            sets.push((set.clone(), Vec::new(), Vec::new()));
        } else if let Some(node) = text.strip_prefix("node ") {
            sets.last_mut().unwrap().1.push(node.to_owned());
        } else if let Some(tokens) = text.strip_prefix("owners ") {
            let owners = tokens.split(' ').map(|t| t.parse::<usize>().unwrap());
            sets.last_mut().unwrap().2.extend(owners);
        } else {
            panic!("proxy.txt: unexpected line {text:?}");
        }
    }
    assert_eq!(sets.len(), 6, "proxy.txt sets");
    let mut checked = 0;
    for (set, nodes, owners) in &sets {
        let ring = ProxyRing::new(nodes).unwrap();
        assert_eq!(owners.len(), names.len(), "proxy.txt {set}");
        for (name, &want) in names.iter().zip(owners) {
            let got = ring.owner(line_key(name));
            assert_eq!(
                got,
                want,
                "proxy.txt {set}: name {:?}",
                String::from_utf8_lossy(name)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6 * names.len());
}

#[test]
fn relay_daemon_intake() {
    let mut checked = 0;
    for s in sections("intake.txt") {
        let ring = build(Implementation::CarbonCRelay, &s);
        for row in &s.rows {
            let fields: Vec<&[u8]> = row.split(|&b| b == b'\t').collect();
            let [sent, received, member] = fields[..] else {
                panic!("bad row {row:?}")
            };
            let intake = relay_intake(sent).unwrap();
            let shown = String::from_utf8_lossy(sent);
            assert_eq!(
                String::from_utf8_lossy(&intake.name),
                String::from_utf8_lossy(received),
                "{shown}"
            );
            let member: usize = std::str::from_utf8(member).unwrap().parse().unwrap();
            assert_eq!(ring.owner(intake.key()), member, "{} {shown}", s.hash);
            checked += 1;
        }
    }
    assert!(checked > 250);
}

// ---------------------------------------------------------------- the binary

fn whereis(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lonsdaleite"))
        .arg("cluster")
        .arg("whereis")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

/// `--ring statsd_proxy` through the binary: the names of `names.txt` as StatsD lines on
/// stdin, against `proxy.txt`'s sets that the command line can spell (an IPv6 host is
/// given in brackets and is the bare address in `proxy.js`'s config).
#[test]
fn binary_prints_proxy_js_placements() {
    let names = names();
    let bytes = data("proxy.txt");
    let text = String::from_utf8(bytes).unwrap();
    let mut checked = 0;
    for block in text.split("\n# ").skip(1) {
        let nodes: Vec<&str> = block
            .lines()
            .filter_map(|l| l.strip_prefix("node "))
            .collect();
        if nodes
            .iter()
            .any(|n| n.contains('[') || n.contains('\u{e9}'))
        {
            continue;
        }
        let owners: Vec<usize> = block
            .lines()
            .filter_map(|l| l.strip_prefix("owners "))
            .flat_map(|l| l.split(' ').map(|t| t.parse::<usize>().unwrap()))
            .collect();
        let mut args = vec!["--ring", "statsd_proxy"];
        let specs: Vec<String> = nodes
            .iter()
            .map(|n| match n.rsplit_once(':') {
                Some((host, port)) if host.contains(':') => format!("[{host}]:{port}"),
                _ => (*n).to_owned(),
            })
            .collect();
        for s in &specs {
            args.extend(["--node", s]);
        }
        args.push("-");
        let mut stdin = Vec::new();
        let mut sent = Vec::new();
        for name in &names {
            // proxy.js splits datagrams at newlines; names.txt has none inside a name
            // but may hold `\r`, which is kept.
            if name.contains(&b'\r') {
                continue;
            }
            stdin.extend_from_slice(name);
            stdin.extend_from_slice(b":1|c\n");
            sent.push(name);
        }
        let out = whereis(&args, &stdin);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&[u8]> = out
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), sent.len(), "{args:?}");
        let index: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.contains(&b'\r'))
            .map(|(i, _)| i)
            .collect();
        for ((line, name), i) in lines.iter().zip(&sent).zip(index) {
            let want = nodes[owners[i]];
            let key = lonsdaleite::cluster::hashring::line_key(name);
            let mut expected = key.to_vec();
            expected.push(b' ');
            expected.extend_from_slice(want.as_bytes());
            assert_eq!(
                String::from_utf8_lossy(line),
                String::from_utf8_lossy(&expected),
                "{args:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5 * 3000, "{checked}");

    let out = whereis(
        &["--ring", "statsd_proxy", "--node", "10.0.0.1", "a:1|c"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("StatsD port"));
    let out = whereis(
        &["--ring", "statsd_proxy", "--node", "10.0.0.1:8125=a", "x"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no instance"));
    let out = whereis(
        &[
            "--ring",
            "statsd_proxy",
            "--replicas",
            "2",
            "--node",
            "a:1",
            "--node",
            "b:2",
            "x",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
}

/// The relay's own label of a member: `HOST:PORT[=INSTANCE]`, its instance text.
fn label(spec: &str) -> String {
    let n = Node::parse(spec).unwrap();
    match &n.instance {
        Some(i) => format!("{}={}", n.address(), relay_instance_text(i)),
        None => n.address(),
    }
}

/// Every name of names.txt through stdin, for sections of every ring, against the relay's
/// test mode (so `--as-is`).
#[test]
fn binary_prints_the_relays_placements() {
    let names = names();
    let mut stdin = Vec::new();
    for n in &names {
        stdin.extend_from_slice(n);
        stdin.extend_from_slice(b" 1 1700000000\n");
    }
    let relay = sections("relay.txt");
    for s in relay.iter().filter(|s| s.set == "mixed" || s.replicas > 1) {
        let mut args = vec!["--as-is".to_owned(), "--ring".into(), s.hash.name().into()];
        args.extend(["--replicas".into(), s.replicas.to_string()]);
        for n in &s.nodes {
            args.extend(["--node".into(), n.clone()]);
        }
        args.push("-".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = whereis(&args, &stdin);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = lines(&out.stdout);
        assert_eq!(printed.len(), names.len());
        for ((line, name), owners) in printed.iter().zip(&names).zip(owner_tokens(s)) {
            let mut want = name.clone();
            for o in owners {
                want.push(b' ');
                want.extend_from_slice(label(&s.nodes[o]).as_bytes());
            }
            assert_eq!(
                String::from_utf8_lossy(line),
                String::from_utf8_lossy(&want),
                "{}",
                s.set
            );
        }
    }
}

/// Names from the arguments, in order, with `-` reading stdin where it stands; the
/// daemon's rewrite by default; carbon's ring with `--impl carbon`.
#[test]
fn binary_arguments_and_stdin() {
    let nodes = [
        "--node",
        "10.0.0.1=a",
        "--node",
        "10.0.0.2=b",
        "--node",
        "10.0.0.3=c",
    ];
    let run = |extra: &[&str], names: &[&str], stdin: &[u8]| {
        let mut args = vec!["--ring", "carbon_ch"];
        args.extend_from_slice(&nodes);
        args.extend_from_slice(extra);
        args.extend_from_slice(names);
        let out = whereis(&args, stdin);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&[], &["first", "-", "last"], b"from.stdin\n\n");
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(names, ["first", "from.stdin", "last"]);
    // The daemon hashes `a.b` for all of these.
    let text = run(&[], &["a.b", "..a..b.", "a.b;dc=eu", "a.b;dc=us"], b"");
    let owners: Vec<&str> = text.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert!(owners.iter().all(|o| *o == owners[0]), "{text}");
    // carbon's ring: same members, same key texts; the vectors show where it differs.
    let text = run(&["--impl", "carbon"], &["a.b"], b"");
    assert!(text.starts_with("a.b 10.0.0."), "{text}");
}

#[test]
fn binary_errors_name_the_fix() {
    let out = whereis(&["--ring", "maglev", "--node", "a", "x"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("carbon_ch") && err.contains("fnv1a_ch") && err.contains("jump_fnv1a_ch"),
        "{err}"
    );

    let out = whereis(
        &["--ring", "carbon_ch", "--node", "10.0.0.1:http", "x"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HOST[:PORT][=INSTANCE]") && err.contains("10.0.0.1:http"),
        "{err}"
    );

    let out = whereis(&["--ring", "carbon_ch", "--node", "::1", "x"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[::1]:2003"));

    let out = whereis(
        &[
            "--ring",
            "jump_fnv1a_ch",
            "--impl",
            "carbon",
            "--node",
            "a",
            "x",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no jump_fnv1a_ch"));

    let out = whereis(
        &["--ring", "carbon_ch", "--node", "a", "--replicas", "2", "x"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 replicas"));

    // A name the relay's rewrite leaves nothing of: reported, the others still printed.
    let out = whereis(&["--ring", "carbon_ch", "--node", "a", "...", "ok"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok a:2003\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`...`"));

    // Members that can never own a metric are warned about.
    let out = whereis(
        &[
            "--ring",
            "carbon_ch",
            "--node",
            "h:2003",
            "--node",
            "h:2004",
            "x",
        ],
        b"",
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: h:2004 gets no metric"));
}

#[test]
fn help_is_complete() {
    let out = whereis(&["--help"], b"");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--ring",
        "carbon_ch",
        "fnv1a_ch",
        "jump_fnv1a_ch",
        "--node",
        "HOST[:PORT][=INSTANCE]",
        "--impl",
        "carbon-c-relay",
        "--replicas",
        "--as-is",
        "stdin",
        "carbon-c-relay -t",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}
