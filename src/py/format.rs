//! Python's float formatting: what `CPython` 3 prints for `repr(x)`, `'%.<p>g' % x`,
//! `'%f' % x`, `str([...])` and `json.dumps(x)`.
//!
//! Contract:
//! - [`write_repr`] / [`repr`]: the shortest digits that read back as `x`, in fixed notation
//!   when the decimal exponent is in `-4..16` (with `.0` when integral), else `d.ddde±XX`;
//!   `nan`, `inf`, `-inf`. Where two shortest candidates are equally near (`x` exactly
//!   half-way), `CPython` (David Gay's `dtoa` mode 0) takes the even one and Rust the upper:
//!   `829348089372219.25` is `829348089372219.2` here, as in Python.
//! - [`write_json_float`]: `json.dumps` of a float: [`write_repr`], but `NaN`, `Infinity`,
//!   `-Infinity`.
//! - [`percent_g`], [`percent_g6`] and [`percent_f`]: `'%.<p>g' % x`, `'%g' % x` and
//!   `'%f' % x`. Rust's fixed-precision
//!   formatting is exact and rounds ties to even, like glibc's `printf` under `CPython`.
//! - [`list_repr`]: `str(list_of_optional_floats)`, e.g. `[None, 1.0]`.

use std::fmt::Write as _;

/// A finite value as sign, decimal digits `d.ddd` without the dot, and decimal exponent,
/// read from Rust's `{:e}` / `{:.*e}` output (`-1.2345e-3`).
struct Sci {
    negative: bool,
    digits: String,
    exp: i32,
}

impl Sci {
    fn parse(s: &str) -> Self {
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        Self {
            negative,
            digits: mantissa.chars().filter(char::is_ascii_digit).collect(),
            exp: exp.parse().unwrap_or(0),
        }
    }

    /// Fixed notation: the integer part (at least `0`) and the fraction digits.
    fn write_fixed(&self, out: &mut String, min_fraction: &str) {
        if self.negative {
            out.push('-');
        }
        let digits = &self.digits;
        let fraction = if self.exp >= 0 {
            let int_len = self.exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                ""
            } else {
                out.push_str(&digits[..int_len]);
                &digits[int_len..]
            }
        } else {
            out.push('0');
            out.push('.');
            out.extend(std::iter::repeat_n('0', (-self.exp - 1) as usize));
            out.push_str(digits);
            return;
        };
        if !fraction.is_empty() {
            out.push('.');
            out.push_str(fraction);
        } else if !min_fraction.is_empty() {
            out.push('.');
            out.push_str(min_fraction);
        }
    }

    /// Scientific notation `d.ddde±XX` (no dot for a single digit).
    fn write_sci(&self, out: &mut String) {
        if self.negative {
            out.push('-');
        }
        out.push_str(&self.digits[..1]);
        if self.digits.len() > 1 {
            out.push('.');
            out.push_str(&self.digits[1..]);
        }
        let sign = if self.exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", self.exp.unsigned_abs());
    }
}

/// `nan`, `inf`, `-inf` as `repr` and `%` formatting write them.
fn special(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("nan")
    } else if x.is_infinite() {
        Some(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        None
    }
}

/// `repr(x)` appended to `out`.
pub fn write_repr(out: &mut String, x: f64) {
    if let Some(s) = special(x) {
        out.push_str(s);
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Rust's `{:e}` gives the shortest digits that round-trip.
    let mut sci = Sci::parse(&format!("{x:e}"));
    half_way_to_even(x, &mut sci);
    if (-4..16).contains(&sci.exp) {
        sci.write_fixed(out, "0");
    } else {
        sci.write_sci(out);
    }
}

/// `repr(x)`.
pub fn repr(x: f64) -> String {
    let mut s = String::new();
    write_repr(&mut s, x);
    s
}

/// `json.dumps(x)` for a float appended to `out`.
pub fn write_json_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        write_repr(out, x);
    }
}

/// `CPython`'s shortest repr rounds a half-way last digit to even where Rust's picks the
/// upper one. When Rust's last digit is odd and the candidate one below also reads back
/// as `x`, the exact expansion decides: if `x` lies exactly half-way, the even (lower)
/// candidate wins.
fn half_way_to_even(x: f64, sci: &mut Sci) {
    let Some(last) = sci.digits.bytes().last() else {
        return;
    };
    if (last - b'0') % 2 == 0 {
        return;
    }
    let mut lower = sci.digits.clone();
    lower.pop();
    lower.push(char::from(last - 1));
    let lower_value = format!("{}.{}e{}", &lower[..1], &lower[1..], sci.exp).parse::<f64>();
    if lower_value.map(f64::abs) != Ok(x.abs()) {
        return;
    }
    // The exact digits of |x|: is it `lower` followed by a 5 and nothing else?
    let n = sci.digits.len();
    let exact = Sci::parse(&format!("{:.*e}", n + 40, x.abs()));
    let tail = exact.digits.as_bytes();
    let tie = tail.get(n) == Some(&b'5') && tail[n + 1..].iter().all(|&d| d == b'0');
    if tie && tail[..n] == *lower.as_bytes() && exact.exp == sci.exp {
        sci.digits = lower;
    }
}

/// `'%.<precision>g' % x`.
pub fn percent_g(x: f64, precision: usize) -> String {
    if let Some(s) = special(x) {
        return s.to_owned();
    }
    let p = precision.max(1);
    let mut sci = Sci::parse(&format!("{x:.*e}", p - 1));
    let trimmed = sci.digits.trim_end_matches('0').len().max(1);
    sci.digits.truncate(trimmed);
    let mut out = String::new();
    if sci.exp >= -4 && i64::from(sci.exp) < p as i64 {
        sci.write_fixed(&mut out, "");
    } else {
        sci.write_sci(&mut out);
    }
    out
}

/// `'%g' % x`: `%g` at Python's default precision, six significant digits.
pub fn percent_g6(x: f64) -> String {
    percent_g(x, 6)
}

/// `'%f' % x` (six decimals).
pub fn percent_f(x: f64) -> String {
    special(x).map_or_else(|| format!("{x:.6}"), str::to_owned)
}

/// `str(list_of_optional_floats)`, e.g. `[None, 1.0]`.
pub fn list_repr(values: &[Option<f64>]) -> String {
    let mut out = String::from("[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match v {
            Some(x) => write_repr(&mut out, *x),
            None => out.push_str("None"),
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings printed by `CPython` 3.11.
    #[test]
    #[expect(
        clippy::excessive_precision,
        reason = "829348089372219.25 is exact in f64: the half-way case"
    )]
    fn repr_matches_cpython() {
        for (x, want) in [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (f64::from(0.1_f32), "0.10000000149011612"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (5e-324, "5e-324"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e100, "1e+100"),
            (12345.678, "12345.678"),
            (0.123_456_789_012_345_68, "0.12345678901234568"),
            (123_456_789_012_345_678.0, "1.2345678901234568e+17"),
            (1.5e300, "1.5e+300"),
            (829_348_089_372_219.25, "829348089372219.2"),
            (-829_348_089_372_219.25, "-829348089372219.2"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(repr(x), want, "repr {x:e}");
        }
        let mut json = String::new();
        write_json_float(&mut json, f64::INFINITY);
        write_json_float(&mut json, 2.5);
        assert_eq!(json, "Infinity2.5");
    }

    #[test]
    fn percent_formats_match_cpython() {
        assert_eq!(percent_f(0.007_812_5), "0.007812");
        assert_eq!(percent_f(f64::NAN), "nan");
        assert_eq!(percent_f(-f64::INFINITY), "-inf");
        assert_eq!(percent_f(42.0), "42.000000");
        assert_eq!(percent_g(0.125, 2), "0.12");
        assert_eq!(percent_g(f64::from(0.1_f32), 6), "0.1");
        assert_eq!(percent_g(0.5, 6), "0.5");
        assert_eq!(percent_g(0.0, 6), "0");
        assert_eq!(percent_g(1e-5, 6), "1e-05");
        assert_eq!(percent_g(0.1, 35), "0.1000000000000000055511151231257827");
        assert_eq!(
            percent_g(1e300, 35),
            "1.0000000000000000525047602552044202e+300"
        );
        assert_eq!(percent_g(1_700_000_000.0, 35), "1700000000");
        assert_eq!(percent_g(1_234_567.0, 6), "1.23457e+06");
        assert_eq!(percent_g(-2.5, 6), "-2.5");
        assert_eq!(list_repr(&[None, Some(1.0)]), "[None, 1.0]");
    }
}
