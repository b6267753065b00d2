//! `format=msgpack` of `/render` and `/metrics/find`: graphite-web's cluster protocol
//! ([`super::federation`]) as Python's `msgpack.dumps(…, use_bin_type=True)` writes it.
//!
//! The bytes are those graphite-web 1.1.10 answers (tested against its bodies): maps keep
//! graphite's key order, strings are msgpack `str` (never `bin`), integers take the
//! smallest encoding, floats are always float64, `None` is nil. [`rmpv`] writes each
//! value with exactly those rules.

use rmpv::Value;

use super::federation::FindNode;
use crate::query::json::TooLarge;
use crate::query::series::Series;

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn encode(v: &Value, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(out, v);
}

/// The dict graphite's `TimeSeries.getInfo` makes of one series.
fn series_info(s: &Series) -> Value {
    let values = (0..s.values.len())
        .map(|i| match (s.values[i], s.python_int(i)) {
            (_, Some(n)) => Value::from(n),
            (Some(x), None) => Value::F64(x),
            (None, None) => Value::Nil,
        })
        .collect();
    map(vec![
        ("name", Value::from(s.name.as_str())),
        ("start", Value::from(s.start)),
        ("end", Value::from(s.end)),
        ("step", Value::from(s.step)),
        ("values", Value::Array(values)),
        ("pathExpression", Value::from(s.path_expression.as_str())),
        ("valuesPerPoint", Value::from(s.values_per_point as u64)),
        ("consolidationFunc", Value::from(s.consolidation.name())),
        ("xFilesFactor", Value::F64(s.x_files_factor)),
    ])
}

/// The `application/x-msgpack` body of a render, or [`TooLarge`] once it passes
/// `max_bytes`.
pub fn render_msgpack_within(series: &[Series], max_bytes: usize) -> Result<Vec<u8>, TooLarge> {
    let mut out = Vec::new();
    // The array header, then each series' map: the same bytes as encoding the whole list.
    match u16::try_from(series.len()) {
        Ok(n) if n < 16 => out.push(0x90 | n as u8),
        Ok(n) => {
            out.push(0xdc);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Err(_) => {
            out.push(0xdd);
            out.extend_from_slice(&(series.len() as u32).to_be_bytes());
        }
    }
    for s in series {
        encode(&series_info(s), &mut out);
        if out.len() > max_bytes {
            return Err(TooLarge);
        }
    }
    Ok(out)
}

/// The `application/x-msgpack` body of a find (`msgpack_nodes`).
pub fn find_msgpack(nodes: &[FindNode]) -> Vec<u8> {
    let list = nodes
        .iter()
        .map(|n| {
            let mut pairs = vec![
                ("path", Value::from(n.path.as_str())),
                ("is_leaf", Value::Boolean(n.is_leaf)),
            ];
            if n.is_leaf {
                let intervals = n
                    .intervals
                    .iter()
                    .map(|&(a, b)| Value::Array(vec![Value::F64(a), Value::F64(b)]))
                    .collect();
                pairs.push(("intervals", Value::Array(intervals)));
            }
            map(pairs)
        })
        .collect();
    let mut out = Vec::new();
    encode(&Value::Array(list), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
