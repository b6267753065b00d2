//! Globbing and the name index against graphite-web 1.1.10's finder.
//!
//! `tests/data/query/glob.jsonl` was made by `gen_glob.py`: Python 3.11's
//! `fnmatch.fnmatchcase`, graphite's `expand_braces`, and a walk of real `.wsp` files that
//! matches each node with graphite's `match_entries`, as its standard finder does.

use lonsdaleite::query::glob::{expand_braces, FindMatch, Fnmatch, NameIndex, Pattern};
use proptest::prelude::*;
use serde_json::Value;

fn records() -> Vec<Value> {
    include_str!("data/query/glob.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid record"))
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

/// Every fnmatch pair, brace expansion and find result is graphite's.
#[test]
fn agrees_with_graphite_web() {
    let mut index = NameIndex::new();
    let mut failures = Vec::new();
    let (mut fn_cases, mut find_cases) = (0, 0);
    for r in records() {
        match s(&r["kind"]) {
            "fnmatch" => {
                fn_cases += 1;
                let got = Fnmatch::new(s(&r["pattern"])).matches(s(&r["name"]));
                if got != r["match"].as_bool().unwrap() {
                    failures.push(format!("fnmatch {r}: got {got}"));
                }
            }
            "braces" => {
                let got = expand_braces(s(&r["pattern"])).unwrap();
                let want: Vec<String> = serde_json::from_value(r["variants"].clone()).unwrap();
                if got != want {
                    failures.push(format!("braces {r}: got {got:?}"));
                }
            }
            "names" => {
                for n in r["names"].as_array().unwrap() {
                    assert!(index.insert(s(n)));
                }
            }
            "find" => {
                find_cases += 1;
                let got = index.find(s(&r["pattern"])).unwrap();
                let want: Vec<FindMatch> = r["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| FindMatch {
                        path: s(&p[0]).to_owned(),
                        is_leaf: p[1].as_bool().unwrap(),
                    })
                    .collect();
                if got != want {
                    failures.push(format!("find {r}: got {got:?}"));
                }
            }
            other => panic!("unknown record kind {other}"),
        }
    }
    assert!(fn_cases > 1000 && find_cases > 40);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn index_insert_remove_expand() {
    let mut index = NameIndex::new();
    assert!(index.insert("a.b.c"));
    assert!(!index.insert("a.b.c"));
    assert!(index.insert("a.b"));
    assert!(!index.insert("a..b"));
    assert!(!index.insert(""));
    assert!(!index.insert("a."));
    assert_eq!(index.len(), 2);
    assert!(index.contains("a.b") && index.contains("a.b.c") && !index.contains("a"));
    assert_eq!(index.expand("a.*", false).unwrap(), ["a.b"]);
    assert_eq!(index.expand("a.*.*", true).unwrap(), ["a.b.c"]);
    assert_eq!(
        index.find("a.b").unwrap(),
        [
            FindMatch {
                path: "a.b".into(),
                is_leaf: false
            },
            FindMatch {
                path: "a.b".into(),
                is_leaf: true
            }
        ]
    );
    assert_eq!(index.all(), ["a.b", "a.b.c"]);
    assert!(index.remove("a.b.c"));
    assert!(!index.remove("a.b.c"));
    assert_eq!(
        index.find("a.b").unwrap(),
        [FindMatch {
            path: "a.b".into(),
            is_leaf: true
        }]
    );
    assert!(index.remove("a.b"));
    assert!(index.is_empty());
    assert_eq!(index.find("*").unwrap(), []);
}

#[test]
fn pattern_matches_dotted_names() {
    let p = Pattern::new("servers.web*.{cpu,mem}.[0-9]").unwrap();
    assert!(p.matches("servers.web1.cpu.0"));
    assert!(!p.matches("servers.web1.cpu.x"));
    assert!(!p.matches("servers.web1.cpu"));
    assert!(!p.matches("servers.web1.disk.0"));
    let g = Pattern::new("a.**.z").unwrap();
    assert!(g.matches("a.z") && g.matches("a.b.c.z") && !g.matches("a.b"));
    let tail = Pattern::new("a.**").unwrap();
    assert!(tail.matches("a.b") && tail.matches("a.b.c") && !tail.matches("a"));
    assert!(expand_braces(&"{a,b}".repeat(20)).is_err());
}

/// A slow model: a name matches a pattern without wildcards only if it is equal, and
/// `find` over an index returns exactly the inserted names `Pattern::matches` accepts.
fn model_find(names: &[String], pattern: &str) -> Vec<String> {
    let p = Pattern::new(pattern).expect("valid pattern");
    let mut out: Vec<String> = names.iter().filter(|n| p.matches(n)).cloned().collect();
    out.sort();
    out.dedup();
    out
}

proptest! {
    /// The trie's leaf results equal filtering every name with `Pattern::matches`.
    #[test]
    fn index_agrees_with_linear_scan(
        names in prop::collection::vec("[ab]{1,2}(\\.[abc]{1,2}){0,3}", 1..30),
        pattern in "(\\*|[ab]|\\?|\\[a-b\\]|\\{a,b\\}|\\*\\*)(\\.(\\*|[abc]|a\\*|\\?|\\{b,c\\}|\\*\\*)){0,3}",
    ) {
        let mut index = NameIndex::new();
        for n in &names {
            index.insert(n);
        }
        prop_assert_eq!(index.leaves(&pattern).unwrap(), model_find(&names, &pattern));
    }

    /// fnmatch never panics and `*` matches everything.
    #[test]
    fn fnmatch_total(pattern in "\\PC{0,12}", name in "\\PC{0,12}") {
        let _ = Fnmatch::new(&pattern).matches(&name);
        prop_assert!(Fnmatch::new("*").matches(&name));
        prop_assert!(Fnmatch::new(&name.replace(['*', '?', '['], "")).matches(&name.replace(['*', '?', '['], "")));
    }
}

/// Random patterns over the characters that matter to `fnmatch` agree with this machine's
/// python3 `fnmatch.fnmatchcase` (skipped, loudly, where python3 is not installed).
#[test]
fn fnmatch_matches_python_on_random_patterns() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let alphabet: Vec<char> = "ab-]![^*?z\\&".chars().collect();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut pairs = Vec::new();
    for _ in 0..20_000 {
        let plen = next(9);
        let pattern: String = (0..plen).map(|_| alphabet[next(alphabet.len())]).collect();
        let nlen = next(4);
        let name: String = (0..nlen).map(|_| alphabet[next(alphabet.len())]).collect();
        pairs.push((pattern, name));
    }
    let input: String = pairs
        .iter()
        .map(|p| serde_json::to_string(&[&p.0, &p.1]).expect("json") + "\n")
        .collect();
    let script = "import sys, json, fnmatch\nfor l in sys.stdin:\n    p, n = json.loads(l)\n    print(int(fnmatch.fnmatchcase(n, p)))";
    let Ok(mut child) = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    else {
        eprintln!("python3 not found: fnmatch cross-check skipped");
        return;
    };
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python3 output");
    writer.join().expect("writer").expect("write");
    let want: Vec<bool> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| l == "1")
        .collect();
    assert_eq!(want.len(), pairs.len());
    let mut failures = Vec::new();
    for ((pattern, name), want) in pairs.iter().zip(want) {
        if Fnmatch::new(pattern).matches(name) != want {
            failures.push(format!("{pattern:?} vs {name:?}: python {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
