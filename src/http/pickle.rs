//! `format=pickle`: graphite-web's cluster protocol, a pickled list of one dict per series
//! `{name, start, end, step, values, pathExpression, valuesPerPoint, consolidationFunc,
//! xFilesFactor}` (`TimeSeries.getInfo`). Written with pickle protocol 2 opcodes, which
//! every Python 3 unpickler reads.

use crate::query::json::TooLarge;
use crate::query::series::Series;

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
                ("consolidationFunc", P::Str(s.consolidation.name())),
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
}
