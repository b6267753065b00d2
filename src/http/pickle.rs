//! `format=pickle` of `/render` and `/metrics/find`: graphite-web's cluster protocol
//! ([`super::federation`]). A render is a pickled list of one dict per series `{name,
//! start, end, step, values, pathExpression, valuesPerPoint, consolidationFunc,
//! xFilesFactor}` (`TimeSeries.getInfo`); a find a list of `{path, is_leaf, intervals}`,
//! the intervals a `graphite.intervals.IntervalSet` of `Interval`s as graphite-web pickles
//! them (the classes its frontend's safe unpickler allows).
//!
//! Written with pickle protocol 2 opcodes, which every Python 2.3+ and 3 unpickler reads.
//! graphite-web writes protocol 5 (Python 3's highest) with a memo; the bytes differ, what
//! an unpickler builds from them does not (tested against graphite-web 1.1.10's answers).

use super::federation::FindNode;
use crate::query::json::TooLarge;
use crate::query::series::Series;

/// A series' `consolidationFunc` as graphite's `TimeSeries.getInfo` gives it.
pub fn consolidation_func(s: &Series) -> &'static str {
    s.consolidation.name()
}

/// A value in the pickled document.
enum P<'a> {
    None,
    Int(i64),
    Float(f64),
    Str(&'a str),
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn value(&mut self, v: &P<'_>) {
        match v {
            P::None => self.out.push(b'N'),
            P::Int(i) => self.int(*i),
            P::Float(f) => {
                self.out.push(b'G');
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            P::Str(s) => self.str(s),
        }
    }

    fn int(&mut self, i: i64) {
        if let Ok(small) = i32::try_from(i) {
            self.out.push(b'J');
            self.out.extend_from_slice(&small.to_le_bytes());
        } else {
            // LONG1: little-endian two's complement, 8 bytes is always enough.
            self.out.push(0x8a);
            self.out.push(8);
            self.out.extend_from_slice(&i.to_le_bytes());
        }
    }

    fn str(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn float(&mut self, f: f64) {
        self.value(&P::Float(f));
    }

    /// An instance of graphite's `graphite.intervals.<class>` with the attributes
    /// `fields` writes (`GLOBAL`, `NEWOBJ` with no arguments, then the `__dict__` and
    /// `BUILD`, as Python pickles an instance of a plain class).
    fn object(&mut self, class: &str, fields: impl FnOnce(&mut Self)) {
        self.out.push(b'c');
        self.out.extend_from_slice(b"graphite.intervals\n");
        self.out.extend_from_slice(class.as_bytes());
        self.out.push(b'\n');
        self.out.extend_from_slice(b")\x81}(");
        fields(self);
        self.out.extend_from_slice(b"ub");
    }

    /// graphite's `Interval(start, end)`: `start`, `end`, `tuple`, `size`.
    fn interval(&mut self, start: f64, end: f64) {
        self.object("Interval", |w| {
            w.str("start");
            w.float(start);
            w.str("end");
            w.float(end);
            w.str("tuple");
            w.float(start);
            w.float(end);
            w.out.push(0x86); // TUPLE2
            w.str("size");
            w.float(end - start);
        });
    }

    /// graphite's `IntervalSet(intervals)`: `intervals` and `size`, their total length.
    fn interval_set(&mut self, intervals: &[(f64, f64)]) {
        self.object("IntervalSet", |w| {
            w.str("intervals");
            w.out.push(b']');
            if !intervals.is_empty() {
                w.out.push(b'(');
                for &(a, b) in intervals {
                    w.interval(a, b);
                }
                w.out.push(b'e');
            }
            w.str("size");
            // Python's sum() starts from the int 0.
            if intervals.is_empty() {
                w.int(0);
            } else {
                w.float(intervals.iter().map(|&(a, b)| b - a).sum());
            }
        });
    }
}

/// The `application/pickle` body of a find (graphite-web's `pickle_nodes`).
pub fn find_pickle(nodes: &[FindNode]) -> Vec<u8> {
    let mut w = Writer {
        out: vec![0x80, 2, b']'],
    };
    if !nodes.is_empty() {
        w.out.push(b'(');
        for n in nodes {
            w.out.extend_from_slice(b"}(");
            w.str("path");
            w.str(&n.path);
            w.str("is_leaf");
            w.out.push(if n.is_leaf { 0x88 } else { 0x89 });
            if n.is_leaf {
                w.str("intervals");
                w.interval_set(&n.intervals);
            }
            w.out.push(b'u');
        }
        w.out.push(b'e');
    }
    w.out.push(b'.');
    w.out
}

/// The `application/pickle` body for `series`.
pub fn render_pickle(series: &[Series]) -> Vec<u8> {
    render_pickle_within(series, usize::MAX).unwrap_or_default()
}

/// [`render_pickle`], or [`TooLarge`] once the body passes `max_bytes`.
pub fn render_pickle_within(series: &[Series], max_bytes: usize) -> Result<Vec<u8>, TooLarge> {
    let mut w = Writer {
        out: vec![0x80, 2, b']'],
    };
    if !series.is_empty() {
        w.out.push(b'(');
        for s in series {
            w.out.extend_from_slice(b"}(");
            let fields = [
                ("name", P::Str(&s.name)),
                ("start", P::Int(s.start)),
                ("end", P::Int(s.end)),
                ("step", P::Int(s.step)),
            ];
            for (k, v) in &fields {
                w.str(k);
                w.value(v);
            }
            w.str("values");
            w.out.push(b']');
            if !s.values.is_empty() {
                w.out.push(b'(');
                for (i, v) in s.values.iter().enumerate() {
                    if w.out.len() > max_bytes {
                        return Err(TooLarge);
                    }
                    w.value(&match (v, s.python_int(i)) {
                        (_, Some(n)) => P::Int(n),
                        (Some(x), None) => P::Float(*x),
                        (None, None) => P::None,
                    });
                }
                w.out.push(b'e');
            }
            let rest = [
                ("pathExpression", P::Str(&s.path_expression)),
                ("valuesPerPoint", P::Int(s.values_per_point as i64)),
                ("consolidationFunc", P::Str(consolidation_func(s))),
                ("xFilesFactor", P::Float(s.x_files_factor)),
            ];
            for (k, v) in &rest {
                w.str(k);
                w.value(v);
            }
            w.out.push(b'u');
        }
        w.out.push(b'e');
    }
    w.out.push(b'.');
    if w.out.len() > max_bytes {
        return Err(TooLarge);
    }
    Ok(w.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's own unpickler reads the body back as graphite's list of dicts.
    #[test]
    fn python_reads_it() {
        let mut a = Series::new(
            "a.b",
            1_700_000_000,
            1_700_000_030,
            10,
            vec![Some(1.5), None, Some(-2.0)],
        );
        a.path_expression = "a.*".into();
        a.ints = Some(vec![false, false, true]);
        let b = Series::new("c", 5_000_000_000, 5_000_000_010, 10, vec![]);
        let body = render_pickle(&[a, b]);
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import pickle,sys,json; print(json.dumps(pickle.load(sys.stdin.buffer), sort_keys=True))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 (tests/run-all installs it)");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &body).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            r#"[{"consolidationFunc": "average", "end": 1700000030, "name": "a.b", "pathExpression": "a.*", "start": 1700000000, "step": 10, "values": [1.5, null, -2], "valuesPerPoint": 1, "xFilesFactor": 0.0}, {"consolidationFunc": "average", "end": 5000000010, "name": "c", "pathExpression": "c", "start": 5000000000, "step": 10, "values": [], "valuesPerPoint": 1, "xFilesFactor": 0.0}]"#
        );
        assert_eq!(render_pickle(&[]), b"\x80\x02].");
    }

    /// Python reads a find answer back with graphite's classes (stand-ins here, as
    /// graphite-web's safe unpickler resolves `graphite.intervals` to its own).
    #[test]
    fn python_reads_find_nodes() {
        let nodes = [
            FindNode {
                path: "a".into(),
                is_leaf: false,
                intervals: vec![],
            },
            FindNode {
                path: "a.b".into(),
                is_leaf: true,
                intervals: vec![(1.5, 4.0)],
            },
        ];
        let script = r"import pickle,sys,json
class U(pickle.Unpickler):
    def find_class(self, m, n):
        assert m == 'graphite.intervals' and n in ('Interval', 'IntervalSet')
        return type(n, (), {})
def plain(o):
    if isinstance(o, list): return [plain(x) for x in o]
    if isinstance(o, tuple): return {'tuple': [plain(x) for x in o]}
    if isinstance(o, dict): return {k: plain(v) for k, v in o.items()}
    if hasattr(o, '__dict__'): return {type(o).__name__: plain(vars(o))}
    return o
print(json.dumps(plain(U(sys.stdin.buffer).load())))
";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 (tests/run-all installs it)");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &find_pickle(&nodes)).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            r#"[{"path": "a", "is_leaf": false}, {"path": "a.b", "is_leaf": true, "intervals": {"IntervalSet": {"intervals": [{"Interval": {"start": 1.5, "end": 4.0, "tuple": {"tuple": [1.5, 4.0]}, "size": 2.5}}], "size": 2.5}}}]"#
        );
        assert_eq!(find_pickle(&[]), b"\x80\x02].");
    }
}
