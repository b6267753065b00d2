//! Carbon's plaintext protocol, receiving side: `<name> <value> <timestamp>` lines.
//!
//! API (the receivers in the server call these; nothing here reads the clock or allocates):
//!
//! - [`parse_line`]`(line, now) -> Result<`[`Point`]`, `[`BadCarbonLine`]`>`: one line,
//!   without its `\n` (a trailing `\r` is fine). `now` (Unix seconds) replaces the
//!   timestamp `-1`. The name borrows the line.
//! - [`datagram_lines`]: splits a UDP datagram into lines the way carbon's UDP receiver does
//!   (Python's `str.splitlines`: `\n`, `\r`, `\r\n`, `\x0b`, `\x0c`, `\x1c`–`\x1e`, U+0085,
//!   U+2028, U+2029).
//! - [`finish_point`]: the checks carbon applies to every received point (shared with the
//!   pickle receiver). Numbers are read by [`crate::py::parse::float`], Python's `float()`.
//! - [`BadCarbonLine::ALL`] lists every drop reason; [`BadCarbonLine::name`] names its counter.
//!
//! What carbon 1.1 (`protocols.py MetricLineReceiver`, `MetricReceiver.metricReceived`)
//! does and we do too:
//!
//! - The line is decoded as UTF-8, stripped and split on runs of Python whitespace (the
//!   29 code points of `str.isspace`, including `\x1c`–`\x1f`, U+00A0, U+2003, U+3000).
//!   Exactly three fields: fewer or more (an extra field, a blank line) is an invalid line.
//! - Value and timestamp are read by Python's `float()`: optional sign, decimal digits with
//!   optional fraction and exponent, `_` only between two digits (`1_000`), `inf`,
//!   `infinity`, `nan` in any case, and any Unicode decimal digit (`١٢` is 12). No hex.
//! - A NaN value is dropped ([`BadCarbonLine::NanValue`]; carbon drops it silently). An
//!   infinite value is kept (carbon stores it). A timestamp whose integer part is `-1`
//!   (`-1`, `-1.0`, `-1.9`) means `now`. Otherwise the timestamp is truncated toward zero,
//!   as whisper's `int()` does.
//! - No check on the name's characters or on the timestamp's age: that is storage's job.
//!
//! Where we differ (carbon's behaviour in brackets): a line longer than [`MAX_LINE`] bytes
//! is a bad line [the TCP connection is dropped]; invalid UTF-8 is a bad line [the TCP
//! connection is dropped, or the whole UDP datagram lost]; a non-finite timestamp or one
//! outside `i64` is a bad line [`int()` raises outside the `try`, which drops the TCP
//! connection]. The 16 KiB cap applies to UDP lines too [no cap]. Carbon's optional
//! `MIN_TIMESTAMP_RESOLUTION` rounding is not applied here.

use std::borrow::Cow;

use crate::py::parse as py;

/// Longest accepted line in bytes, without the `\n` (Twisted's `LineOnlyReceiver.MAX_LENGTH`
/// as carbon uses it: 16384 is accepted, 16385 is not).
pub const MAX_LINE: usize = 16_384;

/// One received point. `name` is the metric path as sent (not yet tag-normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    pub name: Cow<'a, [u8]>,
    /// Unix seconds.
    pub timestamp: i64,
    pub value: f64,
}

/// Why a plaintext line gave no point. The complete list of drop reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadCarbonLine {
    /// Longer than [`MAX_LINE`] bytes.
    TooLong,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Only whitespace.
    Blank,
    /// Not exactly three whitespace-separated fields.
    FieldCount,
    /// The value is not something Python's `float()` accepts.
    BadValue,
    /// The timestamp is not something Python's `float()` accepts.
    BadTimestamp,
    /// The value is NaN (carbon drops these without logging).
    NanValue,
    /// The timestamp is infinite, NaN or outside the `i64` range.
    TimestampRange,
}

impl BadCarbonLine {
    /// Every drop reason, in a stable order.
    pub const ALL: &'static [BadCarbonLine] = &[
        BadCarbonLine::TooLong,
        BadCarbonLine::InvalidUtf8,
        BadCarbonLine::Blank,
        BadCarbonLine::FieldCount,
        BadCarbonLine::BadValue,
        BadCarbonLine::BadTimestamp,
        BadCarbonLine::NanValue,
        BadCarbonLine::TimestampRange,
    ];

    /// `snake_case` name, for a self-metric such as `carbon.bad_lines.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            BadCarbonLine::TooLong => "too_long",
            BadCarbonLine::InvalidUtf8 => "invalid_utf8",
            BadCarbonLine::Blank => "blank",
            BadCarbonLine::FieldCount => "field_count",
            BadCarbonLine::BadValue => "bad_value",
            BadCarbonLine::BadTimestamp => "bad_timestamp",
            BadCarbonLine::NanValue => "nan_value",
            BadCarbonLine::TimestampRange => "timestamp_range",
        }
    }
}

/// Parse one plaintext line (without `\n`) into a point; `now` replaces the timestamp `-1`.
pub fn parse_line(line: &[u8], now: i64) -> Result<Point<'_>, BadCarbonLine> {
    if line.len() > MAX_LINE {
        return Err(BadCarbonLine::TooLong);
    }
    let mut fields = [&[][..]; 3];
    let mut n = 0;
    if line.is_ascii() {
        // One pass over the bytes: skip a run of spaces, take a run of others.
        let space = |b: u8| b <= b' ' && py::is_ascii_space(b);
        let mut i = 0;
        loop {
            while i < line.len() && space(line[i]) {
                i += 1;
            }
            if i == line.len() {
                break;
            }
            let start = i;
            i = field_end(line, i);
            if n == 3 {
                return Err(BadCarbonLine::FieldCount);
            }
            fields[n] = &line[start..i];
            n += 1;
        }
    } else {
        let text = std::str::from_utf8(line).map_err(|_| BadCarbonLine::InvalidUtf8)?;
        for field in text.split(py::is_space).filter(|f| !f.is_empty()) {
            if n == 3 {
                return Err(BadCarbonLine::FieldCount);
            }
            fields[n] = field.as_bytes();
            n += 1;
        }
    }
    match n {
        0 => return Err(BadCarbonLine::Blank),
        3 => {}
        _ => return Err(BadCarbonLine::FieldCount),
    }
    // Carbon evaluates `float(timestamp)` before `float(value)`; both are the same
    // ValueError to it, so the order only decides which reason we report.
    let timestamp = py::float_token(fields[2]).ok_or(BadCarbonLine::BadTimestamp)?;
    let value = py::float_token(fields[1]).ok_or(BadCarbonLine::BadValue)?;
    Ok(Point {
        name: Cow::Borrowed(fields[0]),
        timestamp: stored_timestamp(timestamp, value, now)?,
        value,
    })
}

/// Carbon's `metricReceived` checks on a parsed point: NaN values dropped, a timestamp
/// whose integer part is `-1` replaced by `now`, then truncation toward zero to `i64`.
pub fn finish_point(
    name: Cow<'_, [u8]>,
    timestamp: f64,
    value: f64,
    now: i64,
) -> Result<Point<'_>, BadCarbonLine> {
    Ok(Point {
        name,
        timestamp: stored_timestamp(timestamp, value, now)?,
        value,
    })
}

/// The checks of [`finish_point`] on the numbers alone: the timestamp to store. The
/// plaintext parser builds its point around it, so the name never goes through a call
/// (passing it cost a store-forwarding stall per line).
fn stored_timestamp(timestamp: f64, value: f64, now: i64) -> Result<i64, BadCarbonLine> {
    if value.is_nan() {
        return Err(BadCarbonLine::NanValue);
    }
    let t = timestamp.trunc();
    // `-(2^63)` is exactly representable; `2^63` is the first value past `i64::MAX`.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t) {
        return Err(BadCarbonLine::TimestampRange);
    }
    let t = t as i64;
    Ok(if t == -1 { now } else { t })
}

/// Split a datagram into lines as Python's `str.splitlines()` does (line breaks are `\n`,
/// `\r`, `\r\n`, `\x0b`, `\x0c`, `\x1c`, `\x1d`, `\x1e`, U+0085, U+2028, U+2029). Works
/// on bytes; each line is then given to [`parse_line`], which checks UTF-8. No empty
/// trailing line is produced for a final break.
pub fn datagram_lines(data: &[u8]) -> DatagramLines<'_> {
    DatagramLines { rest: data }
}

/// Iterator returned by [`datagram_lines`].
#[derive(Debug, Clone)]
pub struct DatagramLines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for DatagramLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let data = self.rest;
        let mut i = 0;
        while i < data.len() {
            let brk = match data[i] {
                b'\r' if data.get(i + 1) == Some(&b'\n') => 2,
                b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1e => 1,
                0xc2 if data.get(i + 1) == Some(&0x85) => 2,
                0xe2 if data.get(i + 1) == Some(&0x80)
                    && matches!(data.get(i + 2), Some(0xa8 | 0xa9)) =>
                {
                    3
                }
                _ => 0,
            };
            if brk > 0 {
                self.rest = &data[i + brk..];
                return Some(&data[..i]);
            }
            i += 1;
        }
        self.rest = &[];
        Some(data)
    }
}

/// The end of the field that starts at `i` in an ASCII line: the index of the next Python
/// space, or the line's length. Eight bytes at a time: for bytes below 0x80,
/// `(x - 0x2121…) & !x & 0x8080…` sets the high bit of the first byte at most `b' '`
/// (borrows only mark bytes above it); that byte is then checked, as control characters
/// such as `\x01` are not spaces.
fn field_end(line: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = line.get(i..i + 8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(word);
        let x = u64::from_le_bytes(b);
        let low = x.wrapping_sub(ONES * 0x21) & !x & HIGHS;
        if low == 0 {
            i += 8;
            continue;
        }
        let at = i + (low.trailing_zeros() / 8) as usize;
        if py::is_ascii_space(line[at]) {
            return at;
        }
        i = at + 1;
    }
    while i < line.len() && !py::is_ascii_space(line[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "parsed values are exact")]
mod tests {
    use super::*;

    fn ok(line: &str) -> (String, i64, f64) {
        let p = parse_line(line.as_bytes(), 1_000).unwrap();
        (
            String::from_utf8(p.name.into_owned()).unwrap(),
            p.timestamp,
            p.value,
        )
    }

    fn bad(line: &[u8]) -> BadCarbonLine {
        parse_line(line, 1_000).unwrap_err()
    }

    #[test]
    fn plain_and_whitespace() {
        assert_eq!(ok("a.b 1.5 1700000000"), ("a.b".into(), 1_700_000_000, 1.5));
        assert_eq!(ok("  a.b\t\t2  17\r"), ("a.b".into(), 17, 2.0));
        assert_eq!(ok("a\x1f3\u{3000}4"), ("a".into(), 4, 3.0));
        assert_eq!(ok("a\u{a0}3 4\u{2003}"), ("a".into(), 4, 3.0));
        assert_eq!(bad("a\x1cb 3 4".as_bytes()), BadCarbonLine::FieldCount);
    }

    #[test]
    fn field_counts() {
        assert_eq!(bad(b""), BadCarbonLine::Blank);
        assert_eq!(bad(b" \t\r"), BadCarbonLine::Blank);
        assert_eq!(bad(b"a 1"), BadCarbonLine::FieldCount);
        assert_eq!(bad(b"a 1 2 3"), BadCarbonLine::FieldCount);
    }

    #[test]
    fn timestamps() {
        assert_eq!(ok("a 1 -1").1, 1_000);
        assert_eq!(ok("a 1 -1.9").1, 1_000);
        assert_eq!(ok("a 1 -2").1, -2);
        assert_eq!(ok("a 1 -0.5").1, 0);
        assert_eq!(ok("a 1 1e3").1, 1_000);
        assert_eq!(ok("a 1 17.99").1, 17);
        assert_eq!(bad(b"a 1 inf"), BadCarbonLine::TimestampRange);
        assert_eq!(bad(b"a 1 nan"), BadCarbonLine::TimestampRange);
        assert_eq!(bad(b"a 1 1e19"), BadCarbonLine::TimestampRange);
        assert_eq!(bad(b"a 1 0x10"), BadCarbonLine::BadTimestamp);
    }

    #[test]
    fn values() {
        assert_eq!(ok("a 1_000 1").2, 1000.0);
        assert_eq!(ok("a -Infinity 1").2, f64::NEG_INFINITY);
        assert_eq!(ok("a \u{661}\u{662} 1").2, 12.0);
        assert_eq!(ok("a \u{ff11}.5 1").2, 1.5);
        assert_eq!(bad(b"a nan 1"), BadCarbonLine::NanValue);
        assert_eq!(bad(b"a -NaN inf"), BadCarbonLine::NanValue);
        assert_eq!(bad(b"a 1__0 1"), BadCarbonLine::BadValue);
        assert_eq!(bad(b"a _1 1"), BadCarbonLine::BadValue);
        assert_eq!(bad(b"a 1_ 1"), BadCarbonLine::BadValue);
        assert_eq!(bad(b"a 1_.5 1"), BadCarbonLine::BadValue);
        assert_eq!(bad(b"a \xff 1"), BadCarbonLine::InvalidUtf8);
    }

    #[test]
    fn line_cap() {
        let mut line = vec![b'a'; MAX_LINE - 4];
        line.extend_from_slice(b" 1 2");
        assert!(parse_line(&line, 0).is_ok());
        line.insert(0, b'a');
        assert_eq!(parse_line(&line, 0).unwrap_err(), BadCarbonLine::TooLong);
    }

    #[test]
    fn splitlines() {
        let data = "a\nb\r\nc\rd\x0be\x0cf\x1cg\x1dh\x1ei\u{85}j\u{2028}k\u{2029}l\x1fm\n";
        let lines: Vec<&[u8]> = datagram_lines(data.as_bytes()).collect();
        let want: Vec<&[u8]> = vec![
            b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i", b"j", b"k", b"l\x1fm",
        ];
        assert_eq!(lines, want);
        assert_eq!(datagram_lines(b"").count(), 0);
        assert_eq!(datagram_lines(b"\n\n").count(), 2);
    }

    #[test]
    fn reason_names_are_unique() {
        let mut names: Vec<_> = BadCarbonLine::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BadCarbonLine::ALL.len());
    }

    proptest::proptest! {
        /// The word-at-a-time field end is the byte-by-byte one, with bytes around
        /// `b' '` and the control characters that are and are not spaces.
        #[test]
        fn field_end_is_bytewise(
            line in proptest::collection::vec(
                proptest::sample::select(vec![0u8, 1, 9, 0x0d, 0x0e, 0x1b, 0x1c, 0x1f, b' ', b'!', b'a', 0x7f]),
                0..40),
            start in 0usize..40,
        ) {
            let start = start.min(line.len());
            let want = line[start..].iter().position(|&b| py::is_ascii_space(b)).map_or(line.len(), |p| start + p);
            proptest::prop_assert_eq!(field_end(&line, start), want);
        }
    }
}
