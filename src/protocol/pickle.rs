//! Graphite's pickle protocol, sending side: what carbon's pickle receiver accepts.
//!
//! A message is a 4-byte big-endian length, then a pickle (protocol 2) of a list of
//! `(name, (timestamp, value))` tuples. Only the opcodes needed for that shape are
//! written: strings, integers, floats, tuples and a list.

/// Points per message; carbon rejects very large pickles, and small ones keep latency low.
pub const MAX_POINTS_PER_MESSAGE: usize = 500;

/// Encode points as one length-prefixed pickle message, appended to `out`.
pub fn encode_message(out: &mut Vec<u8>, points: &[(&[u8], i64, f64)]) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&[0x80, 2]); // PROTO 2
    out.push(b']'); // EMPTY_LIST
    if !points.is_empty() {
        out.push(b'('); // MARK
        for &(name, ts, value) in points {
            out.push(b'X'); // BINUNICODE
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name);
            if let Ok(small) = i32::try_from(ts) {
                out.push(b'J'); // BININT
                out.extend_from_slice(&small.to_le_bytes());
            } else {
                out.push(0x8a); // LONG1, 8 bytes little-endian two's complement
                out.push(8);
                out.extend_from_slice(&ts.to_le_bytes());
            }
            out.push(b'G'); // BINFLOAT
            out.extend_from_slice(&value.to_be_bytes());
            out.push(0x86); // TUPLE2 (ts, value)
            out.push(0x86); // TUPLE2 (name, (ts, value))
        }
        out.push(b'e'); // APPENDS
    }
    out.push(b'.'); // STOP
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Turn plaintext lines (`name value ts\n`) into pickle messages. Unparsable lines are skipped.
pub fn from_plaintext(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut batch: Vec<(&[u8], i64, f64)> = Vec::with_capacity(MAX_POINTS_PER_MESSAGE);
    for line in text.split(|&b| b == b'\n') {
        let mut f = line.split(|&b| b == b' ').filter(|s| !s.is_empty());
        let (Some(name), Some(v), Some(t)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let parse = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_owned);
        let Some(value) = parse(v).and_then(|s| js_number(&s)) else {
            continue;
        };
        let Some(ts) = parse(t).and_then(|s| s.parse::<i64>().ok()) else {
            continue;
        };
        batch.push((name, ts, value));
        if batch.len() == MAX_POINTS_PER_MESSAGE {
            encode_message(&mut out, &batch);
            batch.clear();
        }
    }
    if !batch.is_empty() {
        encode_message(&mut out, &batch);
    }
    out
}

fn js_number(s: &str) -> Option<f64> {
    match s {
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_bytes() {
        let mut out = Vec::new();
        encode_message(&mut out, &[(b"a.b", 1_700_000_000, 1.5)]);
        let body = &out[4..];
        assert_eq!(
            u32::from_be_bytes(out[..4].try_into().unwrap()) as usize,
            body.len()
        );
        let mut want = vec![
            0x80, 2, b']', b'(', b'X', 3, 0, 0, 0, b'a', b'.', b'b', b'J',
        ];
        want.extend_from_slice(&1_700_000_000i32.to_le_bytes());
        want.push(b'G');
        want.extend_from_slice(&1.5f64.to_be_bytes());
        want.extend_from_slice(&[0x86, 0x86, b'e', b'.']);
        assert_eq!(body, &want[..]);
    }

    #[test]
    fn plaintext_is_batched() {
        let mut text = Vec::new();
        for i in 0..=MAX_POINTS_PER_MESSAGE {
            text.extend_from_slice(format!("m.{i} {i} 100\n").as_bytes());
        }
        text.extend_from_slice(b"garbage\n");
        let out = from_plaintext(&text);
        let first = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        let second = &out[4 + first..];
        let len2 = u32::from_be_bytes(second[..4].try_into().unwrap()) as usize;
        assert_eq!(second.len(), 4 + len2, "exactly two messages");
    }
}
