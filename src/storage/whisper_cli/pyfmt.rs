//! Python's float formatting, so the operator commands print what whisper's scripts print.
//!
//! Contract: [`repr`] equals `CPython`'s `repr(float)` (shortest round-trip digits, fixed
//! notation for decimal exponents in `-4..16`, `.0` added to integral values);
//! [`percent_g`] equals `'%.<p>g' % x` and [`percent_f`] equals `'%f' % x`, including
//! `inf`, `-inf` and `nan`. Rust's float formatting is exact and rounds ties to even,
//! like glibc's `printf`.

/// Splits Rust's `{:e}` output (`-1.2345e-3`) into sign, digits without the dot, exponent.
fn sci_parts(s: &str) -> (bool, String, i32) {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (neg, digits, exp.parse().unwrap_or(0))
}

fn special(x: f64) -> Option<String> {
    if x.is_nan() {
        Some("nan".to_owned())
    } else if x.is_infinite() {
        Some(if x > 0.0 { "inf" } else { "-inf" }.to_owned())
    } else {
        None
    }
}

/// Places the decimal point in `digits` (value `d.ddd × 10^exp`) in fixed notation.
fn fixed(digits: &str, exp: i32) -> (String, String) {
    if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            (
                format!("{digits}{}", "0".repeat(int_len - digits.len())),
                String::new(),
            )
        } else {
            (digits[..int_len].to_owned(), digits[int_len..].to_owned())
        }
    } else {
        (
            "0".to_owned(),
            format!("{}{digits}", "0".repeat((-exp - 1) as usize)),
        )
    }
}

fn exponent(exp: i32) -> String {
    format!("e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// `CPython`'s `repr(x)` / `str(x)` for a float.
pub fn repr(x: f64) -> String {
    if let Some(s) = special(x) {
        return s;
    }
    let (neg, digits, exp) = sci_parts(&format!("{x:e}"));
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let (int, frac) = fixed(&digits, exp);
        let frac = if frac.is_empty() {
            "0".to_owned()
        } else {
            frac
        };
        format!("{sign}{int}.{frac}")
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{sign}{first}{dot}{}", exponent(exp))
    }
}

/// `'%.<precision>g' % x`.
pub fn percent_g(x: f64, precision: usize) -> String {
    if let Some(s) = special(x) {
        return s;
    }
    let p = precision.max(1);
    let (neg, digits, exp) = sci_parts(&format!("{x:.*e}", p - 1));
    let sign = if neg { "-" } else { "" };
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if exp >= -4 && i64::from(exp) < p as i64 {
        let (int, frac) = fixed(digits, exp);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{sign}{first}{dot}{}", exponent(exp))
    }
}

/// `'%f' % x` (six decimals).
pub fn percent_f(x: f64) -> String {
    special(x).unwrap_or_else(|| format!("{x:.6}"))
}

/// Python's `str(list_of_optional_floats)`, e.g. `[None, 1.0]`.
pub fn list_repr(values: &[Option<f64>]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| v.map_or_else(|| "None".to_owned(), repr))
        .collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings printed by `CPython` 3.11.
    #[test]
    fn matches_cpython() {
        for (x, want) in [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (f64::from(0.1_f32), "0.10000000149011612"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123_456_789_012_345_678.0, "1.2345678901234568e+17"),
            (1.5e300, "1.5e+300"),
        ] {
            assert_eq!(repr(x), want, "repr {x}");
        }
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
        assert_eq!(list_repr(&[None, Some(1.0)]), "[None, 1.0]");
    }
}
