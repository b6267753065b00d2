//! Interop with `PyPI` whisper 1.1.10: files written by one are read identically by the
//! other, byte for byte, on fixed scenarios and on random operation sequences.
//!
//! Needs `python3` with `whisper==1.1.10` (`tests/run-all` installs it); without it every
//! test here fails and says so.

#[path = "interop/harness.rs"]
mod harness;

use harness::{compare, oracle, run_ours, run_python, Op};
use lonsdaleite::storage::whisper::{file, python_set_order, AggregationMethod};
use proptest::prelude::*;
use serde_json::json;

const NOW: i64 = 1_700_000_000;

fn create(archives: &[(u32, u32)], xff: f64, method: AggregationMethod) -> Op {
    Op::Create {
        archives: archives.to_vec(),
        xff,
        method,
    }
}

fn fetch(from: i64, until: Option<i64>, now: i64) -> Op {
    Op::Fetch {
        from,
        until,
        now,
        archive: None,
    }
}

/// The reference §1.10 golden scenario through both implementations, plus reads.
#[test]
fn golden_scenario_matches() {
    let program = vec![
        create(&[(60, 5), (300, 3)], 0.5, AggregationMethod::Sum),
        Op::UpdateMany {
            points: (0..5).map(|i| (NOW - 60 * i, i as f64)).collect(),
            now: NOW,
        },
        Op::Update {
            ts: NOW - 200,
            value: 42.0,
            now: NOW,
        },
        fetch(NOW - 299, Some(NOW), NOW),
        fetch(NOW - 600, Some(NOW), NOW),
        fetch(NOW - 10_000, Some(NOW - 950), NOW),
        Op::Info,
        Op::Bytes,
    ];
    compare(&[program]).unwrap();
}

/// Python writes, we read; we write, Python reads: fetch results agree both ways.
#[test]
fn files_cross_read() {
    let dir = tempfile::tempdir().unwrap();
    let writes = vec![
        create(
            &[(10, 60), (60, 60), (600, 20)],
            0.3,
            AggregationMethod::Average,
        ),
        Op::UpdateMany {
            points: (0..150)
                .map(|i| (NOW - 7 * i, (i % 13) as f64 - 4.5))
                .collect(),
            now: NOW,
        },
        Op::Update {
            ts: NOW - 3000,
            value: 7.25,
            now: NOW,
        },
    ];
    // python writes 0.wsp in `dir`
    run_python(dir.path(), std::slice::from_ref(&writes));
    // we write 1.wsp in `dir` with the same operations
    let ours_path = dir.path().join("1.wsp");
    for op in &writes {
        match op {
            Op::Create {
                archives,
                xff,
                method,
            } => {
                file::create(
                    &ours_path,
                    archives,
                    *xff,
                    *method,
                    file::Preallocate::Zeros,
                )
                .unwrap();
            }
            Op::UpdateMany { points, now } => file::update_many(&ours_path, points, *now).unwrap(),
            Op::Update { ts, value, now } => file::update(&ours_path, *value, *ts, *now).unwrap(),
            _ => unreachable!(),
        }
    }
    assert_eq!(
        std::fs::read(dir.path().join("0.wsp")).unwrap(),
        std::fs::read(&ours_path).unwrap()
    );
    let reads: Vec<Op> = [
        (NOW - 500, None),
        (NOW - 3500, Some(NOW - 100)),
        (NOW - 11_000, None),
        (NOW + 5, None),
    ]
    .iter()
    .map(|&(from, until)| fetch(from, until, NOW))
    .chain(["10", "1m", "600"].iter().map(|a| Op::Fetch {
        from: NOW - 12_000,
        until: None,
        now: NOW,
        archive: Some((*a).to_owned()),
    }))
    .chain([Op::Info])
    .collect();
    // both read the python-written file (0.wsp) and our file (1.wsp)
    let both = vec![reads.clone(), reads];
    let theirs = run_python(dir.path(), &both);
    let ours = run_ours(dir.path(), &both);
    assert_eq!(theirs, ours);
    assert!(theirs[0][0]["ok"][1]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| !v.is_null()));
}

/// `merge` copies archive by archive like whisper's `file_merge`.
#[test]
fn merge_matches() {
    let archives = [(60, 30), (300, 20)];
    let src = vec![
        create(&archives, 0.5, AggregationMethod::Max),
        Op::UpdateMany {
            points: (0..60).map(|i| (NOW - 97 * i, -(i as f64))).collect(),
            now: NOW,
        },
    ];
    let dest = vec![
        create(&archives, 0.5, AggregationMethod::Max),
        Op::UpdateMany {
            points: (0..20).map(|i| (NOW - 130 * i, i as f64)).collect(),
            now: NOW,
        },
        Op::Merge {
            src: 0,
            from: Some(NOW - 2000),
            until: Some(NOW - 400),
            now: NOW + 30,
        },
        Op::Bytes,
        Op::Merge {
            src: 0,
            from: None,
            until: None,
            now: NOW + 30,
        },
        Op::Bytes,
        Op::Merge {
            src: 0,
            from: Some(NOW),
            until: Some(NOW - 1),
            now: NOW,
        },
    ];
    let other = vec![
        create(&[(60, 31), (300, 20)], 0.5, AggregationMethod::Max),
        Op::Merge {
            src: 0,
            from: None,
            until: None,
            now: NOW,
        },
    ];
    compare(&[src, dest, other]).unwrap();
}

/// Whisper's `update_many` propagates in Python `set` order; ours must agree.
#[test]
fn python_set_order_agrees() {
    let mut cases = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in [1_usize, 2, 3, 5, 6, 8, 13, 19, 20, 40, 77, 300] {
        for step in [1_i64, 60, 300, 3600, 86_400] {
            let values: Vec<i64> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    1_699_990_000 + step * (x % 400) as i64
                })
                .collect();
            cases.push(values);
        }
    }
    let programs: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| json!([{"op": "set_order", "values": c}]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let answer = oracle(&json!({"dir": dir.path().display().to_string(), "programs": programs}));
    for (case, result) in cases.iter().zip(answer["results"].as_array().unwrap()) {
        let theirs: Vec<i64> = result[0]["ok"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(python_set_order(case), theirs, "{case:?}");
    }
}

/// Errors have the same Python class on both sides: bad archive lists, existing files,
/// timestamps out of range, inverted fetch ranges, unknown precisions, missing files.
#[test]
fn errors_match() {
    let program = vec![
        create(&[(60, 10), (60, 20)], 0.5, AggregationMethod::Average),
        create(&[(60, 10), (90, 20)], 0.5, AggregationMethod::Average),
        create(&[(60, 10), (120, 5)], 0.5, AggregationMethod::Average),
        create(&[(10, 5), (60, 10)], 0.5, AggregationMethod::Average),
        create(&[], 0.5, AggregationMethod::Average),
        fetch(NOW - 10, None, NOW),
        create(&[(60, 10)], 0.5, AggregationMethod::Average),
        create(&[(60, 10)], 0.5, AggregationMethod::Average),
        Op::Update {
            ts: NOW + 1,
            value: 1.0,
            now: NOW,
        },
        Op::Update {
            ts: NOW - 600,
            value: 1.0,
            now: NOW,
        },
        Op::Update {
            ts: NOW - 599,
            value: 1.0,
            now: NOW,
        },
        fetch(NOW, Some(NOW - 1), NOW),
        Op::Fetch {
            from: NOW - 60,
            until: None,
            now: NOW,
            archive: Some("5m".into()),
        },
        Op::Bytes,
    ];
    compare(&[program]).unwrap();
}

// ---------------------------------------------------------------------------------------
// Random operation sequences.

/// A valid archive list built from a base precision, factors and extra points, optionally
/// given out of order (create sorts it).
fn archive_list() -> impl Strategy<Value = Vec<(u32, u32)>> {
    (
        prop::sample::select(vec![1_u32, 2, 5, 10, 60]),
        prop::collection::vec(2_u32..=6, 0..3),
        prop::collection::vec(0_u32..12, 3),
        any::<bool>(),
    )
        .prop_map(|(spp0, factors, extra, reverse)| {
            let mut list: Vec<(u32, u32)> = Vec::new();
            let mut spp = spp0;
            for (i, extra_points) in extra.iter().enumerate().take(factors.len() + 1) {
                let need_next = factors.get(i).copied().unwrap_or(1);
                let min_points = match list.last() {
                    Some(&(ps, pp)) => ps * pp / spp + 1,
                    None => 1,
                };
                list.push((spp, min_points.max(need_next).max(2) + extra_points));
                if let Some(f) = factors.get(i) {
                    spp *= f;
                }
            }
            if reverse {
                list.reverse();
            }
            list
        })
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => (-20_i32..20).prop_map(f64::from),
        2 => any::<f64>().prop_filter("finite", |x| x.is_finite()),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.1, 1e300]),
    ]
}

fn method() -> impl Strategy<Value = AggregationMethod> {
    prop::sample::select(AggregationMethod::ALL.to_vec())
}

fn xff() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => prop::sample::select(vec![0.0, 0.1, 0.2, 0.3, 0.5, 0.51, 0.7, 1.0]),
        1 => 0.0..=1.0_f64,
    ]
}

/// A step of a sequence, with times relative to the file's retention.
#[derive(Clone, Debug)]
enum Step {
    /// Advance `now` by a fraction of the finest retention, then update at `age` (fraction of max retention, may be <0 or >1).
    Update { advance: f64, age: f64, value: f64 },
    /// Advance, then `update_many` with ages as fractions of max retention.
    UpdateMany {
        advance: f64,
        points: Vec<(f64, f64)>,
    },
    /// Fetch `[now - a·maxRet, now - b·maxRet]`, optionally from a given archive.
    Fetch {
        a: f64,
        b: Option<f64>,
        archive: Option<usize>,
    },
    SetAggregation {
        method: Option<AggregationMethod>,
        xff: Option<f64>,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let age = prop_oneof![8 => -0.05..1.1_f64, 1 => -0.6..0.0_f64, 1 => prop::sample::select(vec![0.0, 1.0, 0.5])];
    prop_oneof![
        3 => (0.0..0.5_f64, age.clone(), value()).prop_map(|(advance, age, value)| Step::Update { advance, age, value }),
        4 => (0.0..0.5_f64, prop::collection::vec((age, value()), 0..25))
            .prop_map(|(advance, points)| Step::UpdateMany { advance, points }),
        2 => (-0.1..1.2_f64, prop::option::of(-0.1..1.0_f64), prop::option::of(0_usize..4))
            .prop_map(|(a, b, archive)| Step::Fetch { a, b, archive }),
        1 => (prop::option::of(method()), prop::option::of(xff()))
            .prop_map(|(method, xff)| Step::SetAggregation { method, xff }),
    ]
}

/// Turns a generated scenario into concrete operations.
fn program(
    archives: &[(u32, u32)],
    x: f64,
    m: AggregationMethod,
    start: i64,
    steps: &[Step],
) -> Vec<Op> {
    let mut sorted = archives.to_vec();
    sorted.sort_unstable();
    let finest = i64::from(sorted[0].0) * i64::from(sorted[0].1);
    let max_ret = sorted
        .iter()
        .map(|&(s, p)| i64::from(s) * i64::from(p))
        .max()
        .unwrap_or(1);
    let at = |now: i64, age: f64| now - (age * max_ret as f64).round() as i64;
    let mut now = start;
    let mut ops = vec![create(archives, x, m)];
    for s in steps {
        match s {
            Step::Update {
                advance,
                age,
                value,
            } => {
                now += (advance * finest as f64) as i64;
                ops.push(Op::Update {
                    ts: at(now, *age),
                    value: *value,
                    now,
                });
            }
            Step::UpdateMany { advance, points } => {
                now += (advance * finest as f64) as i64;
                let points = points.iter().map(|&(age, v)| (at(now, age), v)).collect();
                ops.push(Op::UpdateMany { points, now });
            }
            Step::Fetch { a, b, archive } => ops.push(Op::Fetch {
                from: at(now, *a),
                until: b.map(|b| at(now, b)),
                now,
                archive: archive.map(|i| sorted[i % sorted.len()].0.to_string()),
            }),
            Step::SetAggregation { method, xff } => {
                ops.push(Op::SetAggregation {
                    method: *method,
                    xff: *xff,
                });
            }
        }
    }
    // read everything back: every archive over the whole retention, then the bytes
    for &(spp, _) in &sorted {
        ops.push(Op::Fetch {
            from: now - max_ret,
            until: None,
            now,
            archive: Some(spp.to_string()),
        });
    }
    ops.push(Op::Info);
    ops.push(Op::Bytes);
    ops
}

fn scenario() -> impl Strategy<Value = Vec<Op>> {
    (
        archive_list(),
        xff(),
        method(),
        0_i64..100_000,
        prop::collection::vec(step(), 1..14),
    )
        .prop_map(|(archives, x, m, offset, steps)| program(&archives, x, m, NOW + offset, &steps))
}

/// Two files with the same archives, filled at random, then merged over a random range.
fn merge_scenario() -> impl Strategy<Value = Vec<Vec<Op>>> {
    (
        archive_list(),
        method(),
        prop::collection::vec(step(), 1..8),
        prop::collection::vec(step(), 1..8),
        prop::option::of(-0.2..1.2_f64),
        prop::option::of(-0.2..1.2_f64),
        0_i64..2,
    )
        .prop_map(|(archives, m, src_steps, dst_steps, from, until, later)| {
            let mut src = program(&archives, 0.5, m, NOW, &src_steps);
            let mut dst = program(&archives, 0.5, m, NOW, &dst_steps);
            // drop the read-back ops of `src`; append a merge and read-back to `dst`
            src.truncate(1 + src_steps.len());
            let mut sorted = archives.clone();
            sorted.sort_unstable();
            let max_ret = sorted
                .iter()
                .map(|&(s, p)| i64::from(s) * i64::from(p))
                .max()
                .unwrap_or(1);
            let now = NOW + later * max_ret / 3;
            let at = |f: f64| now - (f * max_ret as f64) as i64;
            let reads = dst.split_off(1 + dst_steps.len());
            dst.push(Op::Merge {
                src: 0,
                from: from.map(at),
                until: until.map(at),
                now,
            });
            dst.extend(reads);
            vec![src, dst]
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=N runs more (each case is one python3 run of six programs)
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    /// Invariant: for any sequence of create / update / update_many (future, too old,
    /// duplicate and non-finite points included) / fetch / set-aggregation operations,
    /// lonsdaleite and whisper 1.1.10 return the same results and leave identical bytes.
    #[test]
    fn random_sequences_match_python_whisper(programs in prop::collection::vec(scenario(), 6)) {
        if let Err(diff) = compare(&programs) {
            prop_assert!(false, "{}", diff);
        }
    }

    /// Invariant: merging one randomly filled file into another (same archives, random
    /// `from`/`until`, possibly inverted) gives the same result and bytes as whisper.
    #[test]
    fn random_merges_match_python_whisper(pair in merge_scenario()) {
        if let Err(diff) = compare(&pair) {
            prop_assert!(false, "{}", diff);
        }
    }
}
