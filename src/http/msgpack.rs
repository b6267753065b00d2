//! `format=msgpack` of `/render` and `/metrics/find`: graphite-web's cluster protocol
//! ([`super::federation`]) as Python's `msgpack.dumps(…, use_bin_type=True)` writes it.
//!
//! The bytes are those graphite-web 1.1.10 answers (tested against its bodies): maps keep
//! graphite's key order, strings are msgpack `str` (never `bin`), integers take the
//! smallest encoding, floats are always float64, `None` is nil. The writer here follows
//! rmp's (and Python's) choice of encoding for each value, and writes a render's values
//! straight into the body: no tree of values is built first.

use super::federation::FindNode;
use crate::query::json::TooLarge;
use crate::query::series::Series;

/// A msgpack writer with the encodings rmp (and Python's msgpack) pick: the smallest form
/// of each integer, `str` for text, float64 for every float.
struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn head(&mut self, len: usize, fix: u8, fix_max: usize, wide: [u8; 2]) {
        if len < fix_max {
            self.0.push(fix | len as u8);
        } else if let Ok(n) = u16::try_from(len) {
            self.0.push(wide[0]);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else {
            self.0.push(wide[1]);
            self.0.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }

    fn array(&mut self, len: usize) {
        self.head(len, 0x90, 16, [0xdc, 0xdd]);
    }

    fn map(&mut self, len: usize) {
        self.head(len, 0x80, 16, [0xde, 0xdf]);
    }

    fn str(&mut self, s: &str) {
        let len = s.len();
        if len < 32 {
            self.0.push(0xa0 | len as u8);
        } else if let Ok(n) = u8::try_from(len) {
            self.0.extend_from_slice(&[0xd9, n]);
        } else if let Ok(n) = u16::try_from(len) {
            self.0.push(0xda);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else {
            self.0.push(0xdb);
            self.0.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.0.extend_from_slice(s.as_bytes());
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "each branch checks the range"
    )]
    fn int(&mut self, n: i64) {
        let out = &mut *self.0;
        match n {
            0..=127 => out.push(n as u8),
            -32..=-1 => out.push(n as i8 as u8),
            128..=255 => out.extend_from_slice(&[0xcc, n as u8]),
            256..=65_535 => {
                out.push(0xcd);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            65_536..=4_294_967_295 => {
                out.push(0xce);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            4_294_967_296.. => {
                out.push(0xcf);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
            -128..=-33 => out.extend_from_slice(&[0xd0, n as i8 as u8]),
            -32_768..=-129 => {
                out.push(0xd1);
                out.extend_from_slice(&(n as i16).to_be_bytes());
            }
            -2_147_483_648..=-32_769 => {
                out.push(0xd2);
                out.extend_from_slice(&(n as i32).to_be_bytes());
            }
            _ => {
                out.push(0xd3);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
    }

    fn float(&mut self, x: f64) {
        self.0.push(0xcb);
        self.0.extend_from_slice(&x.to_be_bytes());
    }

    fn nil(&mut self) {
        self.0.push(0xc0);
    }

    fn bool(&mut self, b: bool) {
        self.0.push(if b { 0xc3 } else { 0xc2 });
    }
}

/// The dict graphite's `TimeSeries.getInfo` makes of one series, written straight into
/// `out` (a series of a day of 10 s points is 8 640 values: no value tree in between).
fn series_info(s: &Series, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.map(9);
    w.str("name");
    w.str(&s.name);
    w.str("start");
    w.int(s.start);
    w.str("end");
    w.int(s.end);
    w.str("step");
    w.int(s.step);
    w.str("values");
    w.array(s.values.len());
    w.0.reserve(s.values.len() * 9);
    if s.ints.is_some() {
        for (i, v) in s.values.iter().enumerate() {
            match (v, s.python_int(i)) {
                (_, Some(n)) => w.int(n),
                (Some(x), None) => w.float(*x),
                (None, None) => w.nil(),
            }
        }
    } else {
        for v in &s.values {
            match v {
                Some(x) => {
                    let mut item = [0xcb; 9];
                    item[1..].copy_from_slice(&x.to_be_bytes());
                    w.0.extend_from_slice(&item);
                }
                None => w.0.push(0xc0),
            }
        }
    }
    w.str("pathExpression");
    w.str(&s.path_expression);
    w.str("valuesPerPoint");
    w.int(i64::try_from(s.values_per_point).unwrap_or(i64::MAX));
    w.str("consolidationFunc");
    w.str(super::pickle::consolidation_func(s));
    w.str("xFilesFactor");
    w.float(s.x_files_factor);
}

/// The `application/x-msgpack` body of a render, or [`TooLarge`] once it passes
/// `max_bytes`.
pub fn render_msgpack_within(series: &[Series], max_bytes: usize) -> Result<Vec<u8>, TooLarge> {
    // Sized once: a day of 10 s points is 78 KB a series, a thousand series 78 MB.
    let size: usize = series
        .iter()
        .map(|s| 160 + s.name.len() + s.path_expression.len() + 9 * s.values.len())
        .sum();
    let mut out = Vec::with_capacity(size.min(max_bytes.saturating_add(1)));
    Writer(&mut out).array(series.len());
    for s in series {
        series_info(s, &mut out);
        if out.len() > max_bytes {
            return Err(TooLarge);
        }
    }
    Ok(out)
}

/// The `application/x-msgpack` body of a find (`msgpack_nodes`).
pub fn find_msgpack(nodes: &[FindNode]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * 64);
    let mut w = Writer(&mut out);
    w.array(nodes.len());
    for n in nodes {
        w.map(if n.is_leaf { 3 } else { 2 });
        w.str("path");
        w.str(&n.path);
        w.str("is_leaf");
        w.bool(n.is_leaf);
        if n.is_leaf {
            w.str("intervals");
            w.array(n.intervals.len());
            for &(a, b) in &n.intervals {
                w.array(2);
                w.float(a);
                w.float(b);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `consolidateBy(x, 'avg')` is sent as graphite-web sends it: `consolidationFunc`
    /// holds the word as written.
    #[test]
    fn consolidation_func_is_the_word_written() {
        let mut a = Series::new("a", 0, 10, 10, vec![Some(1.0)]);
        a.consolidation = crate::query::json::Consolidation::from_name("avg").unwrap();
        let body = render_msgpack_within(&[a], usize::MAX).unwrap();
        let tail = b"\xb1consolidationFunc\xa3avg\xacxFilesFactor";
        assert!(body.windows(tail.len()).any(|w| w == tail), "{body:x?}");
    }

    /// The bytes Python's `msgpack.dumps(x, use_bin_type=True)` gives for the same values
    /// (written out by hand from the msgpack spec and checked with Python 3.11, msgpack 1.0).
    #[test]
    fn as_python_writes_it() {
        let mut a = Series::new(
            "a.b",
            1_700_000_000,
            1_700_000_020,
            10,
            vec![Some(1.5), None],
        );
        a.path_expression = "a.*".into();
        let body = render_msgpack_within(&[a], usize::MAX).unwrap();
        let mut want = vec![0x91, 0x89];
        let s = |w: &mut Vec<u8>, t: &str| {
            w.push(0xa0 | t.len() as u8);
            w.extend_from_slice(t.as_bytes());
        };
        s(&mut want, "name");
        s(&mut want, "a.b");
        s(&mut want, "start");
        want.push(0xce);
        want.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        s(&mut want, "end");
        want.push(0xce);
        want.extend_from_slice(&1_700_000_020u32.to_be_bytes());
        s(&mut want, "step");
        want.push(10);
        s(&mut want, "values");
        want.extend_from_slice(&[0x92, 0xcb]);
        want.extend_from_slice(&1.5f64.to_be_bytes());
        want.push(0xc0);
        s(&mut want, "pathExpression");
        s(&mut want, "a.*");
        s(&mut want, "valuesPerPoint");
        want.push(1);
        s(&mut want, "consolidationFunc");
        s(&mut want, "average");
        s(&mut want, "xFilesFactor");
        want.push(0xcb);
        want.extend_from_slice(&0f64.to_be_bytes());
        assert_eq!(body, want);
        assert_eq!(render_msgpack_within(&[], usize::MAX).unwrap(), [0x90]);
        assert!(render_msgpack_within(&[Series::new("x", 0, 10, 10, vec![None])], 8).is_err());
    }

    /// The writer picks the encodings rmpv (and Python) pick, at every boundary.
    #[test]
    fn writer_as_rmpv() {
        let tree = |v: &rmpv::Value| {
            let mut out = Vec::new();
            rmpv::encode::write_value(&mut out, v).unwrap();
            out
        };
        let mut ints = vec![i64::MIN, i64::MAX, 0];
        for b in [5u32, 7, 8, 15, 16, 31, 32, 62] {
            let p = 1i64 << b;
            ints.extend([p - 1, p, p + 1, -p - 1, -p, -p + 1]);
        }
        for n in ints {
            let mut out = Vec::new();
            Writer(&mut out).int(n);
            assert_eq!(out, tree(&rmpv::Value::from(n)), "{n}");
        }
        for len in [0usize, 15, 16, 31, 32, 255, 256, 65_535, 65_536] {
            let text = "a".repeat(len);
            let mut out = Vec::new();
            Writer(&mut out).str(&text);
            assert_eq!(out, tree(&rmpv::Value::from(text.as_str())), "str {len}");
            let items = vec![rmpv::Value::Nil; len];
            let mut out = Vec::new();
            let mut w = Writer(&mut out);
            w.array(len);
            (0..len).for_each(|_| w.nil());
            assert_eq!(out, tree(&rmpv::Value::Array(items)), "array {len}");
            let pairs = vec![(rmpv::Value::Nil, rmpv::Value::Boolean(true)); len];
            let mut out = Vec::new();
            let mut w = Writer(&mut out);
            w.map(len);
            (0..len).for_each(|_| {
                w.nil();
                w.bool(true);
            });
            assert_eq!(out, tree(&rmpv::Value::Map(pairs)), "map {len}");
        }
    }

    #[test]
    fn find_nodes() {
        let nodes = [
            FindNode {
                path: "a".into(),
                is_leaf: false,
                intervals: vec![],
            },
            FindNode {
                path: "a.b".into(),
                is_leaf: true,
                intervals: vec![(1.0, 2.5)],
            },
        ];
        let body = find_msgpack(&nodes);
        let back = rmpv::decode::read_value(&mut &body[..]).unwrap();
        assert_eq!(
            back.to_string(),
            r#"[{"path": "a", "is_leaf": false}, {"path": "a.b", "is_leaf": true, "intervals": [[1, 2.5]]}]"#
        );
    }
}
