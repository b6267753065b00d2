//! Carbon names that carbon-cache 1.1.7 stores, stored where carbon-cache stores them
//! (issue 20), and the deliberate differences of docs/carbon.md, each by its example.
//!
//! - Black box: the real binary over 127.0.0.1 (two shards), carbon plaintext and pickle;
//!   the whisper files are read back with lonsdaleite's whisper module.
//! - Properties, without a server: every name carbon-cache can store maps to carbon's file
//!   for it, with every path element within 255 bytes, and is created and written by the
//!   writer's create; a create's temporary name always fits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use common::Server;
use lonsdaleite::storage::layout::{canonical_name, relative_path};
use lonsdaleite::storage::rules::StorageRules;
use lonsdaleite::storage::whisper::file::{self, Preallocate};
use lonsdaleite::storage::writer::{open_or_create, temp_name, Opened, MAX_TEMP_NAME};
use proptest::prelude::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The values of a whisper file from `from` on, by timestamp (empty slots left out).
fn values(path: &Path, from: i64) -> Vec<(i64, f64)> {
    let Ok(Some(r)) = file::fetch(path, from - 1, None, now() + 60, None) else {
        return Vec::new();
    };
    (r.from..)
        .step_by(r.step as usize)
        .zip(r.values)
        .filter_map(|(t, v)| Some((t, v?)))
        .collect()
}

/// Wait until `path` holds `want` (all of it) from `from` on.
fn wait_values(path: &Path, from: i64, want: &[(i64, f64)]) {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let got = values(path, from);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < end,
            "{} holds {got:?}, not {want:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A protocol-2 pickle of `[(name, (timestamp, value)), …]`, numbers as floats.
fn pickle(points: &[(&str, f64, f64)]) -> Vec<u8> {
    let mut body = vec![0x80, 2, b']', b'('];
    for (name, ts, v) in points {
        body.push(b'X');
        body.extend_from_slice(&(name.len() as u32).to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        for f in [ts, v] {
            body.push(b'G');
            body.extend_from_slice(&f.to_be_bytes());
        }
        body.extend_from_slice(&[0x86, 0x86]); // TUPLE2 TUPLE2
    }
    body.extend_from_slice(b"e.");
    let mut framed = (body.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    framed
}

/// Every example of issue 20 and of docs/carbon.md's differences, over one plaintext
/// connection and one pickle message, and the files they end up in.
#[test]
fn names_carbon_cache_stores_are_stored_where_carbon_cache_stores_them() {
    let srv = Server::start(&["--shards", "2", "--flush-interval", "1000s"]);
    // Minute-aligned, within the first archive (60 s for a day).
    let t = now() / 60 * 60 - 600;
    // A last element of 251 bytes (255 with `.wsp`), two bytes per `é`, and a
    // directory element of 255 bytes.
    let last = format!("{}x", "é".repeat(125));
    let dir = "d".repeat(255);
    assert_eq!((last.len(), dir.len()), (251, 255));
    let lines = [
        format!(".bp.k0133.m 9029137 {t}"),
        format!("..bp.k0134.m 9029138 {t}"),
        format!("/bp.k0136.m 9029139 {t}"),
        // One series, one file, whichever shard owns which spelling.
        format!(".a.b 1 {t}"),
        format!("a.b 2 {}", t + 60),
        format!("a/b 3 {}", t + 120),
        format!("..a..b 4 {}", t + 180),
        format!("bp.{last} 5 {t}"),
        format!("bp.{dir}.x 6 {t}"),
        // carbon's file for a trailing dot: trail/dot/.wsp
        format!("trail.dot. 7 {t}"),
        // No path element: dropped and counted (carbon writes <data-dir>/.wsp).
        format!(". 1 {t}"),
        format!("... 1 {t}"),
        format!("/ 1 {t}"),
        // A NUL byte: carbon's parser keeps it, no file name can hold it (Python's open
        // refuses it too); dropped and counted.
        format!("nul.a\0b 1 {t}"),
        // The same timestamp twice, or twice once truncated: the last received is kept.
        format!("dup.x 1 {t}"),
        format!("dup.x 2 {t}"),
        format!("dup.y 1 {t}"),
        format!("dup.y 2 {t}.5"),
        // An OpenMetrics name with `;` in its metric part: its tags are refused and the
        // name is kept as sent (a tagged file of the raw name).
        format!("om;x{{k=\"v\"}} 8 {t}"),
    ];
    let text = lines.join("\n") + "\n";
    let mut c = std::net::TcpStream::connect(srv.carbon_tcp.expect("carbon tcp")).unwrap();
    c.write_all(text.as_bytes()).unwrap();
    // One line that is not UTF-8: only that line is dropped (carbon-cache drops the
    // connection, and so every later line).
    c.write_all(b"bad.\xff 1 1\n").unwrap();
    c.write_all(format!("after.bad 9 {t}\n").as_bytes())
        .unwrap();
    // A last line without its newline: stored (carbon-cache discards it).
    c.write_all(format!("final.nonl 10 {t}").as_bytes())
        .unwrap();
    drop(c);
    // One pickle message with an element whose timestamp is infinite between two good
    // ones: only that element is dropped (carbon-cache's int() raises, and the rest of
    // the message and the connection are lost).
    let t = t as f64;
    let msg = pickle(&[
        ("pk.a", t, 11.0),
        ("pk.inf", f64::INFINITY, 12.0),
        ("pk.c", t, 13.0),
    ]);
    let mut p = std::net::TcpStream::connect(srv.pickle_tcp.expect("pickle tcp")).unwrap();
    p.write_all(&msg).unwrap();
    drop(p);
    let t = t as i64;

    let root = srv.data_dir.path().join("whisper");
    let at = |rel: &str| root.join(rel);
    wait_values(&at("bp/k0133/m.wsp"), t, &[(t, 9_029_137.0)]);
    wait_values(&at("bp/k0134/m.wsp"), t, &[(t, 9_029_138.0)]);
    wait_values(&at("bp/k0136/m.wsp"), t, &[(t, 9_029_139.0)]);
    wait_values(
        &at("a/b.wsp"),
        t,
        &[(t, 1.0), (t + 60, 2.0), (t + 120, 3.0), (t + 180, 4.0)],
    );
    wait_values(&at(&format!("bp/{last}.wsp")), t, &[(t, 5.0)]);
    wait_values(&at(&format!("bp/{dir}/x.wsp")), t, &[(t, 6.0)]);
    wait_values(&at("trail/dot/.wsp"), t, &[(t, 7.0)]);
    wait_values(&at("dup/x.wsp"), t, &[(t, 2.0)]);
    wait_values(&at("dup/y.wsp"), t, &[(t, 2.0)]);
    let om = lonsdaleite::protocol::tagged::storage_path(b"om;x{k=\"v\"}", true);
    wait_values(&root.join(om), t, &[(t, 8.0)]);
    wait_values(&at("after/bad.wsp"), t, &[(t, 9.0)]);
    wait_values(&at("final/nonl.wsp"), t, &[(t, 10.0)]);
    wait_values(&at("pk/a.wsp"), t, &[(t, 11.0)]);
    wait_values(&at("pk/c.wsp"), t, &[(t, 13.0)]);
    // The writer drops the NUL name when it comes to write it.
    let end = Instant::now() + Duration::from_secs(10);
    while srv.stat("storage.bad_names") < 4 {
        assert!(Instant::now() < end, "bad names not counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(srv.stat("storage.bad_names"), 4, "., ..., / and the NUL");
    // The invalid UTF-8 line and the pickle element with an infinite timestamp.
    assert_eq!(srv.stat("carbon.bad_lines"), 2);
    let data = srv.stop_keeping_data();
    let root = data.path().join("whisper");
    // Nothing at carbon's <data-dir>/.wsp, nothing of the infinite element, no second
    // file for any spelling of a.b, and no temporary file left.
    let mut files: Vec<String> = walk(&root)
        .iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .filter(|p| !p.starts_with("_tagged/") && !p.starts_with("carbon/"))
        .collect();
    files.sort();
    let mut want = vec![
        "a/b.wsp".to_owned(),
        "after/bad.wsp".into(),
        "bp/k0133/m.wsp".into(),
        "bp/k0134/m.wsp".into(),
        "bp/k0136/m.wsp".into(),
        format!("bp/{last}.wsp"),
        format!("bp/{dir}/x.wsp"),
        "dup/x.wsp".into(),
        "dup/y.wsp".into(),
        "final/nonl.wsp".into(),
        "pk/a.wsp".into(),
        "pk/c.wsp".into(),
        "trail/dot/.wsp".into(),
    ];
    want.sort();
    assert_eq!(files, want);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Python's `str.isspace`: what carbon's `line.split()` splits a plaintext line on.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// A character carbon-cache accepts inside a name element of a plaintext line and can
/// store: not whitespace, not NUL (Python's `open` refuses it), not a separator (`.`,
/// `/`), and not `;` (that makes a tagged name, stored under its hash).
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('!', '~'),
        1 => proptest::char::any(),
    ]
    .prop_filter("not storable in an element", |&c| {
        !is_py_space(c) && !matches!(c, '\0' | '.' | '/' | ';')
    })
}

/// An element of exactly `len` bytes: characters as long as they fit, then ASCII.
fn element(chars: &[char], len: usize) -> String {
    let mut s = String::new();
    for &c in chars {
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(c);
    }
    while s.len() < len {
        s.push('x');
    }
    s
}

/// A name carbon-cache stores: 1 to 4 elements, each of 1 to 255 bytes (the last at most
/// 251, 255 with `.wsp`), lengths near the limits often; joined by runs of `.` and `/`,
/// maybe led by some, maybe ending in one (a `.wsp` file in the last element's directory,
/// which may then be 255 bytes).
fn carbon_name() -> impl Strategy<Value = String> {
    let len = |max: usize| prop_oneof![1usize..=max, Just(max), (max - 4)..=max];
    let separator = proptest::sample::select(vec![".", ".", ".", "/", "..", "./", "//"]);
    let lead = proptest::sample::select(vec!["", "", "", ".", "..", "/", "./"]);
    let trail = proptest::sample::select(vec!["", "", "", "", ".", "/"]);
    (
        lead,
        proptest::collection::vec(
            (
                proptest::collection::vec(name_char(), 255),
                len(255),
                separator,
            ),
            0..3,
        ),
        proptest::collection::vec(name_char(), 255),
        len(251),
        trail,
    )
        .prop_map(|(lead, dirs, chars, last_len, trail)| {
            let mut name = lead.to_owned();
            for (chars, len, sep) in dirs {
                name.push_str(&element(&chars, len));
                name.push_str(sep);
            }
            name.push_str(&element(&chars, last_len));
            name.push_str(trail);
            name
        })
}

/// carbon's file for an untagged name (`database.py`: `.` → `/`, leading `/` stripped,
/// `.wsp` appended), as the file system reads it: its non-empty elements.
fn carbon_elements(name: &str) -> Vec<String> {
    let path = format!("{}.wsp", name.replace('.', "/").trim_start_matches('/'));
    path.split('/')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

fn rules() -> StorageRules {
    StorageRules::parse(
        Path::new("schemas"),
        "[all]\npattern = .*\nretentions = 60s:1h\n",
        Path::new("aggregation"),
        "",
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any name carbon-cache stores maps, through its canonical name, to carbon's file for
    /// it; no element is empty, `.`, `..` or over 255 bytes; the canonical name maps to
    /// itself; and the writer's create makes the file, which then takes a point, leaving
    /// no temporary file.
    #[test]
    fn every_name_carbon_stores_is_created_and_written(name in carbon_name()) {
        let series = canonical_name(name.as_bytes()).expect("a name with an element");
        prop_assert_eq!(&*canonical_name(&series).unwrap(), &*series);
        let series = std::str::from_utf8(&series).unwrap();
        let rel = relative_path(&name).unwrap();
        prop_assert_eq!(&rel, &relative_path(series).unwrap());
        let elements: Vec<String> = rel
            .components()
            .map(|c| match c {
                Component::Normal(e) => e.to_str().unwrap().to_owned(),
                other => panic!("{other:?} in {}", rel.display()),
            })
            .collect();
        prop_assert!(elements.iter().all(|e| e.len() <= 255), "{:?}", elements);
        prop_assert_eq!(&elements, &carbon_elements(&name));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&rel);
        let new = rules().for_metric(series);
        let created = open_or_create(&path, Some((&new, Preallocate::Sparse.into())));
        prop_assert!(matches!(created, Ok(Opened::New(_))), "{}", path.display());
        let t = now() / 60 * 60 - 120;
        file::update_many(&path, &[(t, 42.0)], now()).unwrap();
        prop_assert_eq!(values(&path, t), vec![(t, 42.0)]);
        let parent = path.parent().unwrap();
        let left: Vec<_> = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        prop_assert!(left.is_empty(), "temporary files left: {:?}", left);
    }
}

/// The temporary name of a create fits any directory: at most `MAX_TEMP_NAME` (48) bytes
/// for every process id and create number, whatever the final name.
#[test]
fn a_temporary_name_always_fits() {
    const { assert!(MAX_TEMP_NAME <= 255) };
    for pid in [0, 1, 4_194_304, u32::MAX] {
        for n in [0, 1, 1 << 40, u64::MAX] {
            let name = temp_name(pid, n);
            assert!(name.len() <= MAX_TEMP_NAME, "{name}");
            let tmp = Path::new(&name).extension().is_some_and(|e| e == "tmp");
            assert!(name.starts_with('.') && tmp, "{name}");
        }
    }
}

/// Creates running at once in one directory (the shards' blocking-pool threads) never
/// share a temporary file: every one makes its file, and none is left.
#[test]
fn concurrent_creates_in_one_directory_each_make_their_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                let rules = rules();
                for j in 0..16 {
                    let path = root.join(format!("d/{}{i}-{j}.wsp", "n".repeat(240)));
                    let new = rules.for_metric("d.n");
                    let created = open_or_create(&path, Some((&new, Preallocate::Sparse.into())));
                    assert!(matches!(created, Ok(Opened::New(_))), "{}", path.display());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(root.join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 8 * 16);
    assert!(
        names
            .iter()
            .all(|n| Path::new(n).extension().is_some_and(|e| e == "wsp")),
        "{names:?}"
    );
}
