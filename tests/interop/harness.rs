//! Runs the same whisper programs through `PyPI` whisper 1.1.10 (`oracle.py`) and through
//! lonsdaleite's whisper module, and returns both result lists in one JSON shape.
//!
//! A missing `whisper` Python module is a test failure that says how to install it
//! (`tests/run-all` does), never a skip.
#![allow(dead_code, clippy::missing_panics_doc)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lonsdaleite::storage::whisper::{file, AggregationMethod, WhisperError};
use serde_json::{json, Value};

/// One whisper call.
#[derive(Clone, Debug)]
pub enum Op {
    Create {
        archives: Vec<(u32, u32)>,
        xff: f64,
        method: AggregationMethod,
    },
    Update {
        ts: i64,
        value: f64,
        now: i64,
    },
    UpdateMany {
        points: Vec<(i64, f64)>,
        now: i64,
    },
    Fetch {
        from: i64,
        until: Option<i64>,
        now: i64,
        archive: Option<String>,
    },
    SetAggregation {
        method: Option<AggregationMethod>,
        xff: Option<f64>,
    },
    Info,
    /// Merge program `src`'s file (which ran earlier) into this program's file.
    Merge {
        src: usize,
        from: Option<i64>,
        until: Option<i64>,
        now: i64,
    },
    Bytes,
}

pub fn f2h(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

impl Op {
    fn to_json(&self) -> Value {
        match self {
            Op::Create {
                archives,
                xff,
                method,
            } => json!({
                "op": "create", "archives": archives.iter().map(|&(s, p)| json!([s, p])).collect::<Vec<_>>(),
                "xff": f2h(*xff), "method": method.name()
            }),
            Op::Update { ts, value, now } => {
                json!({"op": "update", "ts": ts, "value": f2h(*value), "now": now})
            }
            Op::UpdateMany { points, now } => json!({
                "op": "update_many",
                "points": points.iter().map(|&(t, v)| json!([t, f2h(v)])).collect::<Vec<_>>(),
                "now": now
            }),
            Op::Fetch {
                from,
                until,
                now,
                archive,
            } => {
                json!({"op": "fetch", "from": from, "until": until, "now": now, "archive": archive})
            }
            Op::SetAggregation { method, xff } => {
                json!({"op": "set_aggregation", "method": method.map(AggregationMethod::name), "xff": xff.map(f2h)})
            }
            Op::Info => json!({"op": "info"}),
            Op::Merge {
                src,
                from,
                until,
                now,
            } => {
                json!({"op": "merge", "src": src, "from": from, "until": until, "now": now})
            }
            Op::Bytes => json!({"op": "bytes"}),
        }
    }
}

/// The Python exception class whisper raises for each of our errors.
pub fn python_class(e: &WhisperError) -> String {
    match e {
        WhisperError::Corrupt(_) => "CorruptWhisperFile".into(),
        WhisperError::InvalidConfiguration(_) => "InvalidConfiguration".into(),
        WhisperError::InvalidAggregationMethod(_) => "InvalidAggregationMethod".into(),
        WhisperError::InvalidXFilesFactor(_) => "InvalidXFilesFactor".into(),
        WhisperError::TimestampNotCovered { .. } => "TimestampNotCovered".into(),
        // struct.pack('!L', …) out of range raises struct.error
        WhisperError::TimestampOutOfRange(_) => "error".into(),
        WhisperError::InvalidTimeInterval { .. } => "InvalidTimeInterval".into(),
        WhisperError::InvalidGranularity(_)
        | WhisperError::InvalidRetention(_)
        | WhisperError::MergeRange { .. } => "ValueError".into(),
        WhisperError::ArchivesDiffer { .. } => "NotImplementedError".into(),
        WhisperError::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => "FileNotFoundError".into(),
            std::io::ErrorKind::PermissionDenied => "PermissionError".into(),
            _ => "OSError".into(),
        },
    }
}

fn result(r: Result<Value, WhisperError>) -> Value {
    match r {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": python_class(&e) }),
    }
}

fn run_op(path: &Path, op: &Op, paths: &[PathBuf]) -> Value {
    result(match op {
        Op::Create { archives, xff, method } => {
            file::create(path, archives, *xff, *method, file::Preallocate::Zeros).map(|_| Value::Null)
        }
        Op::Update { ts, value, now } => file::update(path, *value, *ts, *now).map(|()| Value::Null),
        Op::UpdateMany { points, now } => file::update_many(path, points, *now).map(|()| Value::Null),
        Op::Fetch { from, until, now, archive } => {
            file::fetch(path, *from, *until, *now, archive.as_deref()).map(|r| match r {
                None => Value::Null,
                Some(r) => json!([
                    [r.from, r.until, r.step],
                    r.values.iter().map(|v| v.map(f2h)).collect::<Vec<_>>()
                ]),
            })
        }
        Op::SetAggregation { method, xff } => {
            file::set_aggregation(path, *method, *xff).map(|(old, _)| json!(old.name()))
        }
        Op::Info => file::info(path).map(|h| {
            json!({
                "aggregationMethod": h.aggregation_method.name(),
                "maxRetention": h.max_retention,
                "xFilesFactor": f2h(h.xff()),
                "archives": h.archives.iter().map(|a| json!([a.offset, a.seconds_per_point, a.points, a.retention(), a.size()])).collect::<Vec<_>>(),
            })
        }),
        Op::Merge { src, from, until, now } => {
            file::merge(&paths[*src], path, *from, *until, *now).map(|()| Value::Null)
        }
        Op::Bytes => std::fs::read(path)
            .map(|b| {
                json!(b.iter().fold(String::new(), |mut s, x| {
                    use std::fmt::Write;
                    let _ = write!(s, "{x:02x}");
                    s
                }))
            })
            .map_err(|source| WhisperError::Io { path: path.display().to_string(), source }),
    })
}

fn paths(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| dir.join(format!("{i}.wsp"))).collect()
}

/// Runs `programs` with lonsdaleite, each on `dir/<index>.wsp`.
pub fn run_ours(dir: &Path, programs: &[Vec<Op>]) -> Vec<Vec<Value>> {
    let paths = paths(dir, programs.len());
    programs
        .iter()
        .zip(&paths)
        .map(|(program, path)| program.iter().map(|op| run_op(path, op, &paths)).collect())
        .collect()
}

fn oracle_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/oracle.py")
}

/// Sends raw JSON to `oracle.py` and returns its parsed answer.
pub fn oracle(request: &Value) -> Value {
    let mut child = Command::new("python3")
        .arg(oracle_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed for the whisper interop tests (tests/run-all installs whisper==1.1.10)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("python3 oracle");
    assert!(
        out.status.success(),
        "python whisper oracle failed (status {}): {}\nRun tests/run-all, which installs `PyPI` whisper==1.1.10.",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

/// Runs `programs` with `PyPI` whisper, each on `dir/<index>.wsp`.
pub fn run_python(dir: &Path, programs: &[Vec<Op>]) -> Vec<Vec<Value>> {
    let request = json!({
        "dir": dir.display().to_string(),
        "programs": programs.iter().map(|p| p.iter().map(Op::to_json).collect::<Vec<_>>()).collect::<Vec<_>>(),
    });
    let answer = oracle(&request);
    let results = answer["results"].as_array().expect("results");
    results
        .iter()
        .map(|p| p.as_array().expect("program results").clone())
        .collect()
}

/// Runs `programs` through both and returns a description of the first difference.
pub fn compare(programs: &[Vec<Op>]) -> Result<(), String> {
    let theirs_dir = tempfile::tempdir().expect("tempdir");
    let ours_dir = tempfile::tempdir().expect("tempdir");
    let theirs = run_python(theirs_dir.path(), programs);
    let ours = run_ours(ours_dir.path(), programs);
    for (i, program) in programs.iter().enumerate() {
        for (j, op) in program.iter().enumerate() {
            if theirs[i][j] != ours[i][j] {
                return Err(format!(
                    "program {i} op {j} {op:?}\n python: {}\n ours:   {}\n program: {program:?}",
                    theirs[i][j], ours[i][j]
                ));
            }
        }
    }
    Ok(())
}

/// The directory holding whisper's scripts (`whisper-info.py`, …) for this `python3`.
pub fn scripts_dir() -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig, whisper; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python module 'whisper' is missing: run tests/run-all, which installs `PyPI` whisper==1.1.10 ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
