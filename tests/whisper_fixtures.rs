//! Whisper files made by `PyPI` whisper 1.1.10 (`tests/interop/make_fixtures.py`), checked
//! without Python: our fetch of each fixture equals whisper's recorded fetch, and
//! replaying the recorded operations with our implementation rebuilds the file byte for
//! byte.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use lonsdaleite::storage::whisper::{create_image, fetch, update, update_many, AggregationMethod};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/whisper")
}

fn h2f(v: &Value) -> f64 {
    f64::from_bits(u64::from_str_radix(v.as_str().unwrap(), 16).unwrap())
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(data_dir().join("expected.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

/// Our fetch on the reference-made files returns what whisper returned.
#[test]
fn reads_reference_files_like_whisper() {
    let all = expected();
    assert_eq!(all.len(), 3);
    for (name, spec) in &all {
        let mut bytes = std::fs::read(data_dir().join(format!("{name}.wsp"))).unwrap();
        for f in spec["fetches"].as_array().unwrap() {
            let r = fetch(
                &mut bytes,
                f["from"].as_i64().unwrap(),
                None,
                f["now"].as_i64().unwrap(),
                f["archive"].as_str(),
            )
            .unwrap()
            .unwrap();
            let window: Vec<i64> = f["window"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!([r.from, r.until, r.step], window[..], "{name} {f}");
            let want: Vec<Option<u64>> = f["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| (!v.is_null()).then(|| h2f(v).to_bits()))
                .collect();
            let got: Vec<Option<u64>> = r.values.iter().map(|v| v.map(f64::to_bits)).collect();
            assert_eq!(got, want, "{name} {f}");
        }
    }
}

/// Replaying whisper's operations with our code yields the reference file's bytes.
#[test]
fn rebuilds_reference_files_byte_for_byte() {
    for (name, spec) in &expected() {
        let archives: Vec<(u32, u32)> = spec["archives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a[0].as_u64().unwrap() as u32, a[1].as_u64().unwrap() as u32))
            .collect();
        let method = AggregationMethod::from_name(spec["method"].as_str().unwrap()).unwrap();
        let mut ours = create_image(&archives, h2f(&spec["xff"]), method).unwrap();
        for op in spec["ops"].as_array().unwrap() {
            let now = op["now"].as_i64().unwrap();
            if op["op"] == "update" {
                update(
                    &mut ours,
                    h2f(&op["value"]),
                    op["ts"].as_i64().unwrap(),
                    now,
                )
                .unwrap();
            } else {
                let points: Vec<(i64, f64)> = op["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_i64().unwrap(), h2f(&p[1])))
                    .collect();
                update_many(&mut ours, &points, now).unwrap();
            }
        }
        let theirs = std::fs::read(data_dir().join(format!("{name}.wsp"))).unwrap();
        assert!(ours == theirs, "{name}: our bytes differ from whisper's");
    }
}
