//! Python's `float(str)` and `int(str)`: what carbon's receivers, carbon's config loader
//! and whisper's scripts accept, exactly.
//!
//! Contract:
//! - [`float`]: `float(text)` for UTF-8 text; surrounding Python whitespace ([`is_space`])
//!   is ignored. Optional sign, decimal digits with optional fraction and exponent, `_`
//!   only between two digits (`1_000`), `inf`, `infinity`, `nan` in any case, and any
//!   Unicode decimal digit (`١٢` is 12). No hex. `None` where Python raises `ValueError`.
//!   [`float_token`] is the same on a token already split from its line (the carbon hot
//!   path: plain decimals take a fast path that rounds exactly as the general one).
//! - [`int`]: `int(text)` in base 10: optional sign, ASCII digits, `_` between digits,
//!   surrounding whitespace.
//! - [`is_space`] / [`is_ascii_space`]: `str.isspace`, what `str.split()` and `str.strip()`
//!   use.

/// Python's `str.isspace` on ASCII: `\t\n\x0b\x0c\r`, `\x1c`–`\x1f`, space.
pub fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' ')
}

/// Python's `str.isspace` (what `str.split()` and `str.strip()` split and strip on).
pub fn is_space(c: char) -> bool {
    match c {
        '\0'..='\x7f' => is_ascii_space(c as u8),
        _ => matches!(
            c,
            '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
        ),
    }
}

/// The code point of the digit zero of every Unicode decimal-digit block (`Nd`; each block
/// holds 0..9 contiguously), as Python 3.11 (Unicode 14) knows them. Python's `float()`
/// reads any of these digits as its ASCII counterpart.
const DECIMAL_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The decimal value of a non-ASCII Unicode decimal digit, if `c` is one.
fn unicode_digit(c: char) -> Option<u8> {
    let cp = c as u32;
    let i = DECIMAL_ZEROS.partition_point(|&z| z <= cp);
    let zero = *DECIMAL_ZEROS.get(i.checked_sub(1)?)?;
    (cp - zero < 10).then(|| (cp - zero) as u8)
}

/// Python's `float(text)` for `str` text: surrounding Python whitespace is ignored. `None`
/// where Python raises `ValueError`. Bytes that are not UTF-8 are rejected.
pub fn float(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    float_token(s.trim_matches(is_space).as_bytes())
}

/// Python's `float()` on a token without surrounding whitespace (a field the caller
/// already split on Python's whitespace).
#[inline]
pub fn float_token(token: &[u8]) -> Option<f64> {
    // Longest token worth copying on the stack; Python accepts longer ones (e.g. many
    // leading zeros), which take the heap path.
    const STACK: usize = 64;
    if token.is_empty() {
        return None;
    }
    if let Some(v) = plain_decimal(token) {
        return Some(v);
    }
    if token.is_ascii() && !token.contains(&b'_') {
        let s = std::str::from_utf8(token).ok()?;
        return rust_parse(s);
    }
    // Slow path: map Unicode digits to ASCII and remove valid underscores.
    let text = std::str::from_utf8(token).ok()?;
    let mut stack = [0u8; STACK];
    let mut heap = Vec::new();
    let mut len = 0;
    let mut prev_digit = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let b = if c.is_ascii() {
            c as u8
        } else {
            b'0' + unicode_digit(c)?
        };
        if b == b'_' {
            let next_digit = chars
                .peek()
                .is_some_and(|&n| n.is_ascii_digit() || unicode_digit(n).is_some());
            if !(prev_digit && next_digit) {
                return None;
            }
            prev_digit = false;
            continue;
        }
        prev_digit = b.is_ascii_digit();
        if len < STACK {
            stack[len] = b;
        } else {
            if len == STACK {
                heap.extend_from_slice(&stack);
            }
            heap.push(b);
        }
        len += 1;
    }
    let bytes = if len <= STACK {
        &stack[..len]
    } else {
        &heap[..]
    };
    rust_parse(std::str::from_utf8(bytes).ok()?)
}

/// Powers of ten that `f64` holds exactly (10^0 to 10^22).
const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case of a carbon value or timestamp, without the general parser: optional
/// sign, ASCII digits with at most one `.`, at most 19 digits, the digits as an integer at
/// most 2^53 and at most 22 of them after the `.`. Then the integer and the power of ten
/// are both exact in `f64` and one division rounds correctly (Clinger's fast path), so the
/// result is what `str::parse` (and Python's `float()`) give. `None` for anything else
/// (exponents, `inf`, `_`, non-ASCII digits, long or invalid tokens): the caller then
/// takes the general path, which accepts or rejects it.
#[inline]
fn plain_decimal(token: &[u8]) -> Option<f64> {
    let (negative, digits) = match token.first()? {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    // Digits beyond 19 may wrap the mantissa; such tokens are refused below.
    let mut mantissa: u64 = 0;
    let mut i = 0;
    while let Some(&b) = digits.get(i).filter(|b| b.is_ascii_digit()) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        i += 1;
    }
    let whole = i;
    let mut fraction = 0;
    if digits.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(&b) = digits.get(i).filter(|b| b.is_ascii_digit()) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            i += 1;
        }
        fraction = i - start;
    }
    let count = whole + fraction;
    if i != digits.len() || count == 0 || count > 19 || mantissa > 1 << 53 {
        return None;
    }
    let scale = *EXACT_POW10.get(fraction)?;
    #[expect(
        clippy::cast_precision_loss,
        reason = "mantissa is at most 2^53, exact in f64"
    )]
    let v = mantissa as f64 / scale;
    Some(if negative { -v } else { v })
}

/// Rust's float grammar equals Python's `PyOS_string_to_double` grammar for ASCII without
/// underscores (sign, digits, `.`, exponent, `inf`/`infinity`/`nan` in any case); both
/// round correctly. The tests compare the two on generated tokens.
fn rust_parse(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// Removes the underscores Python allows (each one between two digits); `None` if an
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

/// `int(text)` for a base-10 string.
pub fn int(text: &str) -> Option<i64> {
    let t = strip_underscores(text.trim_matches(is_space))?;
    let digits = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Option<f64> {
        float(s.as_bytes())
    }

    #[test]
    fn accepts_what_python_accepts() {
        assert_eq!(int(" 1700000000\n"), Some(1_700_000_000));
        assert_eq!(int("-5"), Some(-5));
        assert_eq!(int("1_000"), Some(1000));
        assert_eq!(int("1.5"), None);
        assert_eq!(int("_1"), None);
        assert_eq!(int(""), None);
        assert_eq!(f("1.5\n"), Some(1.5));
        assert_eq!(f("1e3"), Some(1000.0));
        assert_eq!(f("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(f("nan").is_some_and(f64::is_nan));
        assert_eq!(f(".5"), Some(0.5));
        assert_eq!(f("1_000.5"), Some(1000.5));
        assert_eq!(f("\u{661}\u{662}"), Some(12.0));
        assert_eq!(f("\u{3000}7\x1c"), Some(7.0));
        assert_eq!(f("0x10"), None);
        assert_eq!(f("1__0"), None);
        assert_eq!(f("abc"), None);
        assert_eq!(f("infinit"), None);
        assert_eq!(f(""), None);
    }

    proptest::proptest! {
        /// The fast path for plain decimals gives exactly what the general parser gives,
        /// or leaves the token to it.
        #[test]
        fn plain_decimal_matches_str_parse(
            sign in proptest::sample::select(vec!["", "-", "+"]),
            int in "[0-9]{0,21}",
            dot in proptest::bool::ANY,
            frac in "[0-9]{0,24}",
        ) {
            let token = format!("{sign}{int}{}{frac}", if dot { "." } else { "" });
            let want = token.parse::<f64>().ok();
            if let Some(got) = plain_decimal(token.as_bytes()) {
                proptest::prop_assert_eq!(Some(got.to_bits()), want.map(f64::to_bits), "{}", token);
            }
            proptest::prop_assert_eq!(
                float_token(token.as_bytes()).map(f64::to_bits),
                want.map(f64::to_bits)
            );
        }

    }
}
