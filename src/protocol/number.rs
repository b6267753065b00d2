//! Numbers in and out of the StatsD protocol.
//!
//! - [`write_js_number`] writes an `f64` exactly as JavaScript's `Number.prototype.toString`
//!   does, which is what etsy statsd sends to Graphite: integers without `.0`, the shortest
//!   digits that read back to the same value, plain notation for `1e-7 < |v| < 1e21` and
//!   `1e+21` / `1.5e-7` outside it, `Infinity`, `-Infinity`, `NaN`, and `0` for `-0`.
//! - [`parse_decimal`] reads a StatsD value or sample rate under lonsdaleite's number policy:
//!   an optional sign, decimal digits with an optional fraction, an optional exponent
//!   (`5`, `-3.25`, `+4`, `.5`, `5.`, `1e3`, `2.5E-3`). Hexadecimal (`0x10`), surrounding
//!   whitespace (` 5`), words (`Infinity`, `NaN`) and the empty string are rejected, although
//!   JavaScript's `isNaN` test used by etsy accepts all but the empty string.
//!
//! Neither function allocates (beyond growing `out`) nor panics on any input.

use std::fmt::Write as _;

/// Append `v` the way JavaScript's `Number.prototype.toString` writes it (what etsy sends
/// to Graphite): integers without ".0", shortest round-trip digits, JS exponent rules
/// (`1e+21`, `1e-7`), "Infinity", "-Infinity", "NaN".
pub fn write_js_number(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if v == 0.0 {
        out.push(b'0');
        return;
    }
    // Below 2^53 every integer is exact and its shortest digits are the integer itself.
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        write_int(out, v as i64);
        return;
    }
    if v < 0.0 {
        out.push(b'-');
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d[.ddd]e<exp>".
    let mut sci = StackBuf::default();
    let _ = write!(sci, "{:e}", v.abs());
    let text = sci.as_bytes();
    let e_at = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
    let mut digits = [0u8; 24];
    let mut k = 0;
    for &b in &text[..e_at] {
        if b.is_ascii_digit() && k < digits.len() {
            digits[k] = b;
            k += 1;
        }
    }
    let exp = parse_exp(&text[(e_at + 1).min(text.len())..]);
    let digits = &digits[..k];
    // JS: v = 0.d1d2...dk × 10^n, i.e. n = exp + 1.
    let n = exp + 1;
    let k = k as i32;
    if k <= n && n <= 21 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if n > 0 { b'+' } else { b'-' });
        write_int(out, i64::from((n - 1).abs()));
    }
}

/// Write a signed integer in decimal.
fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

fn parse_exp(s: &[u8]) -> i32 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let mut e: i32 = 0;
    for &b in digits {
        e = e
            .saturating_mul(10)
            .saturating_add(i32::from(b.wrapping_sub(b'0')));
    }
    if neg {
        -e
    } else {
        e
    }
}

/// A fixed buffer for `{:e}` output (at most 24 bytes for an f64).
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        Self {
            buf: [0; 40],
            len: 0,
        }
    }
}

impl StackBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Exact powers of ten for the fast path (10^22 is the largest exact f64 power of ten).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parse a decimal number under lonsdaleite's policy (see the module doc). Returns the
/// correctly rounded value; out-of-range input gives `±inf`, which callers reject.
pub fn parse_decimal(s: &[u8]) -> Option<f64> {
    // Fast path: [sign] digits [. digits], at most 15 significant digits, no exponent.
    // Both the mantissa and 10^frac are exact, so one division rounds correctly.
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0u32;
    let mut frac: Option<u32> = None;
    let mut simple = true;
    for &b in body {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
                if digits > 15 {
                    simple = false;
                    break;
                }
            }
            b'.' if frac.is_none() => frac = Some(0),
            _ => {
                simple = false;
                break;
            }
        }
    }
    if simple {
        if digits == 0 {
            return None;
        }
        let v = mantissa as f64 / POW10[frac.unwrap_or(0) as usize];
        return Some(if neg { -v } else { v });
    }
    // Slow path: the standard library's correctly rounded parser, after rejecting what
    // it would accept but our policy does not (inf, nan, infinity).
    if !s
        .iter()
        .all(|b| matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn js(v: f64) -> String {
        let mut out = Vec::new();
        write_js_number(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    /// Outputs checked against `node -e 'console.log(String(v))'` semantics (ECMA-262 `Number::toString`).
    #[test]
    fn matches_known_javascript_outputs() {
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (100.0, "100"),
            (5.5, "5.5"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.872_281_323_269_014_3, "2.8722813232690143"),
            (81.649_658_092_772_61, "81.64965809277261"),
            (123.456, "123.456"),
            (-0.000_001_234, "-0.000001234"),
            (0.000_001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (-2.5e-10, "-2.5e-10"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.23e22, "1.23e+22"),
            (9_007_199_254_740_992.0, "9007199254740992"),
            (1_152_921_504_606_846_976.0, "1152921504606847000"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (112_400.0, "112400"),
            (1_700_000_000.0, "1700000000"),
            (0.5, "0.5"),
            (-5.0, "-5"),
        ];
        for &(v, want) in table {
            assert_eq!(js(v), want, "value {v:e}");
        }
    }

    #[test]
    fn parse_policy() {
        for (s, want) in [
            ("5", Some(5.0)),
            ("-3.25", Some(-3.25)),
            ("+4", Some(4.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1e3", Some(1000.0)),
            ("2.5E-3", Some(0.0025)),
            ("0.1", Some(0.1)),
            ("1234567890.123456789", Some(1_234_567_890.123_456_7)),
            ("", None),
            ("-", None),
            (".", None),
            ("0x10", None),
            (" 5", None),
            ("5 ", None),
            ("Infinity", None),
            ("NaN", None),
            ("inf", None),
            ("1e", None),
            ("1..2", None),
            ("--1", None),
        ] {
            assert_eq!(parse_decimal(s.as_bytes()), want, "{s:?}");
        }
        assert_eq!(parse_decimal(b"1e999"), Some(f64::INFINITY));
    }

    proptest! {
        /// Writing then reading back (with Rust's parser, which accepts JS's exponent form)
        /// gives the same finite value, and the fast-path parser agrees with std on
        /// everything `write_js_number` produces.
        #[test]
        fn js_number_round_trips(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            let s = js(v);
            let back: f64 = s.parse().unwrap();
            prop_assert_eq!(back.to_bits(), if v == 0.0 { 0.0f64 } else { v }.to_bits());
            prop_assert_eq!(parse_decimal(s.as_bytes()), Some(back));
        }

        /// The same for "ordinary" magnitudes, where the plain (non-exponent) form is used.
        #[test]
        fn js_number_round_trips_plain(v in -1e12f64..1e12) {
            let s = js(v);
            prop_assert!(!s.contains('e') || v.abs() < 1e-6, "{}", s);
            prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), if v == 0.0 { 0.0f64 } else { v }.to_bits());
        }

        /// parse_decimal agrees with the standard library on every string it accepts and
        /// never panics.
        #[test]
        fn parse_agrees_with_std(s in "[-+]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{1,3})?") {
            let ours = parse_decimal(s.as_bytes());
            let std = s.parse::<f64>().ok();
            prop_assert_eq!(ours, std);
        }

        #[test]
        fn parse_never_panics(s in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_decimal(&s);
        }
    }
}
