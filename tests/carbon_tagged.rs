//! Tagged-series normalisation and storage paths against vectors produced by carbon
//! 1.1.10's own `TaggedSeries` (`tests/data/carbon/tagged.jsonl`, made by
//! `tests/data/carbon/gen_tagged.py`), plus properties on arbitrary bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::ffi::OsStrExt;

use lonsdaleite::protocol::tagged::{normalize, storage_path, TagError};
use lonsdaleite::storage::layout::relative_path;
use proptest::prelude::*;
use serde_json::Value;

fn reason(e: TagError) -> &'static str {
    e.name()
}

/// Every vector: the normal form or the error carbon raises, and both path variants of
/// the name carbon stores (the normal form, or the raw name when parsing failed).
#[test]
fn carbon_vectors() {
    let text = include_str!("data/carbon/tagged.jsonl");
    let (mut ok, mut err, mut tagged) = (0, 0, 0);
    for (no, line) in text.lines().enumerate() {
        let row: Value = serde_json::from_str(line).unwrap();
        let input = row["in"].as_str().unwrap();
        let got = normalize(input.as_bytes());
        let stored: Vec<u8> = match (&got, row.get("out"), row.get("err")) {
            (Ok(n), Some(Value::String(want)), None) => {
                assert_eq!(
                    std::str::from_utf8(n).unwrap(),
                    want,
                    "line {}: {input:?}",
                    no + 1
                );
                ok += 1;
                n.to_vec()
            }
            (Err(e), None, Some(Value::String(want))) => {
                assert_eq!(reason(*e), want, "line {}: {input:?}", no + 1);
                err += 1;
                input.as_bytes().to_vec()
            }
            other => panic!(
                "line {}: {input:?}: ours {:?}, carbon {line}",
                no + 1,
                other.0
            ),
        };
        if let Some(want) = row.get("hashed") {
            let hashed = storage_path(&stored, true);
            assert_eq!(
                hashed.as_os_str().as_bytes(),
                want.as_str().unwrap().as_bytes()
            );
            let plain = storage_path(&stored, false);
            let want_plain = row["plain"].as_str().unwrap();
            assert_eq!(plain.as_os_str().as_bytes(), want_plain.as_bytes());
            if stored.contains(&b';') {
                tagged += 1;
                // The storage layer maps tagged names through the same rule.
                let layout = relative_path(std::str::from_utf8(&stored).unwrap()).unwrap();
                assert_eq!(layout, hashed);
            }
        }
    }
    assert!(
        ok > 500 && err > 500 && tagged > 500,
        "{ok} ok, {err} errors, {tagged} tagged"
    );
}

/// The property below on one input it found (issue 11): an `OpenMetrics` name whose metric
/// part holds `;`. Carbon turns `;{}="="}` into `;;}==`, which it then refuses to parse; we
/// refuse the name itself (carbon's rule for a name it cannot parse: stored as sent), and
/// the raw name then maps to itself.
#[test]
fn semicolon_in_openmetrics_metric_is_refused() {
    for input in [&b";{}=\"=\"}"[..], b"b;z=1{a=\"y\"}", b"a;b=c{x=\"y\"}"] {
        assert_eq!(normalize(input), Err(TagError::SemicolonInMetric));
        assert_eq!(
            relative_path(std::str::from_utf8(input).unwrap()).unwrap(),
            storage_path(input, true)
        );
    }
}

proptest! {
    /// No input panics; an accepted result is never empty and contains no tag named
    /// `name`; a result that is not itself in OpenMetrics form is a fixed point.
    #[test]
    fn normal_form_is_stable(input in prop::collection::vec(
        prop_oneof![
            Just(b'a'), Just(b'b'), Just(b'.'), Just(b';'), Just(b'='), Just(b'~'), Just(b'!'),
            Just(b'{'), Just(b'}'), Just(b'"'), Just(b'\\'), Just(b','), Just(b':'), any::<u8>(),
        ],
        0..40,
    )) {
        if let Ok(n) = normalize(&input) {
            prop_assert!(!n.is_empty());
            prop_assert!(!n.windows(6).any(|w| w == b";name="));
            if !n.ends_with(b"\"}") {
                let again = normalize(&n).unwrap();
                prop_assert_eq!(&*again, &*n);
            }
            let _ = storage_path(&n, true);
            let _ = storage_path(&n, false);
        }
    }

    /// Tag order does not matter: any permutation of distinct valid tags normalises to
    /// the same name.
    #[test]
    fn order_does_not_matter(tags in prop::collection::btree_map("[a-z_-]{1,4}", "[a-z0-9.]{1,4}", 0..6), seed in any::<u64>()) {
        let mut list: Vec<(String, String)> = tags.into_iter().filter(|(k, _)| k != "name").collect();
        let render = |l: &[(String, String)]| {
            let mut s = String::from("m.x");
            for (k, v) in l {
                s.push(';');
                s.push_str(k);
                s.push('=');
                s.push_str(v);
            }
            s
        };
        let first = normalize(render(&list).as_bytes()).unwrap().into_owned();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..list.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            list.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let second = normalize(render(&list).as_bytes()).unwrap().into_owned();
        prop_assert_eq!(first, second);
    }
}
