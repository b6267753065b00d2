//! Python's `int(str)` and `float(str)` for command-line and config values, so we accept
//! what whisper's scripts and carbon's config loader accept (surrounding whitespace, a sign, `_` between digits,
//! `nan`, `inf`, `infinity`, exponents).

/// Removes underscores that Python allows (each one between two digits); `None` if an
/// underscore is misplaced.
fn strip_underscores(s: &str) -> Option<String> {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before = i > 0 && b[i - 1].is_ascii_digit();
            let after = b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !before || !after {
                return None;
            }
        }
    }
    Some(s.replace('_', ""))
}

/// `int(s)` for a base-10 string.
pub fn py_int(s: &str) -> Option<i64> {
    let t = strip_underscores(s.trim())?;
    let digits = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// `float(s)`.
pub fn py_float(s: &str) -> Option<f64> {
    let t = strip_underscores(s.trim())?;
    if t.is_empty() {
        return None;
    }
    let body = t.strip_prefix(['+', '-']).unwrap_or(&t);
    let word = body.to_ascii_lowercase();
    if word.starts_with("in") || word.starts_with("na") {
        // Rust also accepts these spellings; Python accepts exactly inf, infinity, nan.
        if !matches!(word.as_str(), "inf" | "infinity" | "nan") {
            return None;
        }
    } else if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_python_accepts() {
        assert_eq!(py_int(" 1700000000\n"), Some(1_700_000_000));
        assert_eq!(py_int("-5"), Some(-5));
        assert_eq!(py_int("1_000"), Some(1000));
        assert_eq!(py_int("1.5"), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int(""), None);
        assert_eq!(py_float("1.5\n"), Some(1.5));
        assert_eq!(py_float("1e3"), Some(1000.0));
        assert_eq!(py_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(py_float("nan").is_some_and(f64::is_nan));
        assert_eq!(py_float(".5"), Some(0.5));
        assert_eq!(py_float("0x10"), None);
        assert_eq!(py_float("1__0"), None);
        assert_eq!(py_float("abc"), None);
    }
}
