//! `storage-schemas.conf` parsing against Python's `configparser` plus carbon's loading
//! rules (`tests/interop/oracle.py`): the same sections are used, with the same patterns
//! and archives, the same ones are skipped, and the same texts are rejected.
//!
//! Needs `python3` with `whisper==1.1.10` (`tests/run-all` installs it).
#![allow(clippy::unwrap_used)]

#[path = "interop/harness.rs"]
mod harness;

use lonsdaleite::storage::aggregation::AggregationRules;
use lonsdaleite::storage::schemas::Schemas;
use lonsdaleite::storage::whisper::AggregationMethod;
use serde_json::{json, Value};

const TEXTS: &[&str] = &[
    // carbon's example
    "[carbon]\npattern = ^carbon\\.\nretentions = 60:90d\n\n[default_1min_for_1day]\npattern = .*\nretentions = 60s:1d\n",
    // case-insensitive keys, ':' delimiter, whitespace around values
    "[A]\nPATTERN:   ^a\\.b  \nRetentions =60s:1d,5m:30d\t\n",
    // continuation lines and blank lines inside a value
    "[multi]\npattern = x\nretentions = 60s:1d,\n    5m:30d,\n\n    1h:1y\n[next]\npattern = y\nretentions = 10:10\n",
    // [DEFAULT] inheritance, and DEFAULT itself listed (and skipped: it has no retentions)
    "[DEFAULT]\nretentions = 60s:1d\n\n[a]\npattern = ^a\n\n[b]\npattern = ^b\nretentions = 1h:1y\n",
    // interpolation from the section and from DEFAULT, escaped percent
    "[DEFAULT]\nprefix = servers\n\n[s]\nbase = %(prefix)s\\.web\npattern = ^%(base)s\\.\nretentions = 60:1440\n\n[p]\npattern = 100%%\\.done\nretentions = 60:10\n",
    // no inline comments: the '#' is part of the pattern; full-line comments of both kinds
    "# header\n; another\n[c]\npattern = foo # not a comment\nretentions = 60:10\n",
    // a header with trailing text defines a section carbon never visits
    "[x] # note\npattern = x\nretentions = 60:10\n[y]\npattern = y\nretentions = 60:10\n",
    // skipped: no retentions, empty pattern, no pattern, invalid archive list
    "[nor]\npattern = a\n[empty]\npattern =\nretentions = 60:10\n[nop]\nretentions = 60:10\n[bad]\npattern = b\nretentions = 60:10,90:100\n[ok]\npattern = c\nretentions = 1s:1m,1m:1h\n",
    // section names keep inner spaces
    "[ spaced name ]\npattern = s\nretentions = 60:10\n",
    // fatal: duplicate section, duplicate key (any case), text before a section,
    // a line without delimiter, bad interpolation, a bad retention unit
    "[a]\npattern = x\nretentions = 60:10\n[a]\npattern = y\n",
    "[a]\npattern = x\nPattern = y\nretentions = 60:10\n",
    "pattern = x\n[a]\nretentions = 60:10\n",
    "[a]\njust some words\n",
    "[a]\npattern = 50%\nretentions = 60:10\n",
    "[a]\npattern = %(missing)s\nretentions = 60:10\n",
    "[a]\npattern = x\nretentions = 1min:1d\n",
    "[a]\npattern = x\nretentions = 60:10:5\n",
];

fn ours(text: &str) -> Value {
    match Schemas::parse(text) {
        Err(_) => json!("error"),
        Ok((schemas, warnings)) => {
            let rules: Vec<Value> = schemas
                .rules
                .iter()
                .map(|r| {
                    json!([
                        r.name,
                        r.pattern,
                        r.archives
                            .iter()
                            .map(|&(s, p)| json!([s, p]))
                            .collect::<Vec<_>>()
                    ])
                })
                .collect();
            let mut skipped: Vec<String> = warnings.into_iter().map(|w| w.section).collect();
            skipped.sort();
            json!({"rules": rules, "skipped": skipped})
        }
    }
}

#[test]
fn schemas_parse_like_configparser_and_carbon() {
    let programs: Vec<Value> = TEXTS
        .iter()
        .map(|t| json!([{"op": "schemas", "text": t}]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let answer =
        harness::oracle(&json!({"dir": dir.path().display().to_string(), "programs": programs}));
    let results = answer["results"].as_array().unwrap();
    let mut errors = 0;
    for (text, result) in TEXTS.iter().zip(results) {
        let theirs = match &result[0] {
            r if r.get("error").is_some() => json!("error"),
            r => r["ok"].clone(),
        };
        errors += usize::from(theirs == json!("error"));
        assert_eq!(ours(text), theirs, "text:\n{text}");
    }
    assert_eq!(
        errors, 8,
        "the table's fatal cases must fail on the Python side too"
    );
}

const AGGREGATION_TEXTS: &[&str] = &[
    // carbon's example
    "[min]\npattern = \\.min$\nxFilesFactor = 0.1\naggregationMethod = min\n\n[max]\npattern = \\.max$\nxFilesFactor = 0.1\naggregationMethod = max\n\n[sum]\npattern = \\.count$\nxFilesFactor = 0\naggregationMethod = sum\n\n[default_average]\npattern = .*\nxFilesFactor = 0.5\naggregationMethod = average\n",
    // either key optional; keys in any case; DEFAULT inheritance
    "[DEFAULT]\nxfilesfactor = 0.25\n\n[a]\npattern = ^a\n[b]\nPattern = ^b\nAGGREGATIONMETHOD = last\nXFilesFactor = 1\n",
    // skipped: a non-number xFilesFactor (Python float() rules), a missing or empty pattern
    "[nan_word]\npattern = a\nxFilesFactor = half\n[nopat]\nxFilesFactor = 0.3\n[emptypat]\npattern =\n[ok]\npattern = z\nxFilesFactor = 1_0e-1\naggregationMethod = avg_zero\n",
    // fatal: out of range, NaN, infinity, an unknown method, bad INI
    "[a]\npattern = x\nxFilesFactor = 1.5\n",
    "[a]\npattern = x\nxFilesFactor = nan\n",
    "[a]\npattern = x\nxFilesFactor = -inf\n",
    "[a]\npattern = x\naggregationMethod = median\n",
    "[a]\npattern = x\naggregationMethod = Sum\n",
    "[a]\n[a]\n",
];

fn ours_aggregation(text: &str) -> Value {
    match AggregationRules::parse(text) {
        Err(_) => json!("error"),
        Ok((rules, warnings)) => {
            let rules: Vec<Value> = rules
                .rules
                .iter()
                .map(|r| {
                    json!([
                        r.name,
                        r.pattern,
                        r.x_files_factor.map(harness::f2h),
                        r.method.map(AggregationMethod::name)
                    ])
                })
                .collect();
            let mut skipped: Vec<String> = warnings.into_iter().map(|w| w.section).collect();
            skipped.sort();
            json!({"rules": rules, "skipped": skipped})
        }
    }
}

#[test]
fn aggregation_parses_like_configparser_and_carbon() {
    let programs: Vec<Value> = AGGREGATION_TEXTS
        .iter()
        .map(|t| json!([{"op": "aggregation", "text": t}]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let answer =
        harness::oracle(&json!({"dir": dir.path().display().to_string(), "programs": programs}));
    let results = answer["results"].as_array().unwrap();
    let mut errors = 0;
    for (text, result) in AGGREGATION_TEXTS.iter().zip(results) {
        let theirs = match &result[0] {
            r if r.get("error").is_some() => json!("error"),
            r => r["ok"].clone(),
        };
        errors += usize::from(theirs == json!("error"));
        assert_eq!(ours_aggregation(text), theirs, "text:\n{text}");
    }
    assert_eq!(
        errors, 6,
        "the table's fatal cases must fail on the Python side too"
    );
}
