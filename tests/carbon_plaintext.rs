//! Carbon plaintext parsing: a conformance table, Python's own `float()` and `str.split()`
//! as the oracle on generated input, and never-panics on arbitrary bytes.
//!
//! The oracle tests need `python3` (standard library only); without it they fail and say so.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::many_single_char_names
)]

use std::io::Write;
use std::process::{Command, Stdio};

use lonsdaleite::protocol::carbon::{datagram_lines, parse_line, BadCarbonLine};
use lonsdaleite::py::parse::float as python_float;
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;

/// Run a python3 program with `input` on stdin; its stdout.
fn python(program: &str, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the carbon oracle tests");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 failed");
    out.stdout
}

/// `tests/data/carbon/plaintext.txt`: `line ⇥ expected`, where expected is
/// `name|timestamp|value` or `!reason`. `\t`, `\r`, `\xNN` and `\u{...}` escapes are
/// expanded in the line column.
#[test]
fn conformance_table() {
    let table = include_str!("data/carbon/plaintext.txt");
    let mut checked = 0;
    for (no, row) in table.lines().enumerate() {
        if row.starts_with('#') || row.trim().is_empty() {
            continue;
        }
        let (line, want) = row.rsplit_once(" => ").expect("row has ' => '");
        let line = unescape(line);
        let got = match parse_line(&line, NOW) {
            Ok(p) => format!(
                "{}|{}|{:?}",
                String::from_utf8_lossy(&p.name),
                p.timestamp,
                p.value
            ),
            Err(e) => format!("!{}", e.name()),
        };
        assert_eq!(got, want, "row {}: {row}", no + 1);
        checked += 1;
    }
    assert!(checked > 30);
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
                    i += 2;
                }
                b'u' => {
                    let end = s[i..].find('}').unwrap() + i;
                    let cp = u32::from_str_radix(&s[i + 3..end], 16).unwrap();
                    let mut buf = [0; 4];
                    out.extend_from_slice(
                        char::from_u32(cp).unwrap().encode_utf8(&mut buf).as_bytes(),
                    );
                    i = end - 1;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Python's `float()` result for each token: `repr(float(t))` or `ERR`.
fn python_floats(tokens: &[String]) -> Vec<String> {
    let program = r"
import sys
for t in sys.stdin.buffer.read().decode('utf-8').split('\x00')[:-1]:
    try:
        print(repr(float(t)))
    except ValueError:
        print('ERR')
";
    let mut input = Vec::new();
    for t in tokens {
        input.extend_from_slice(t.as_bytes());
        input.push(0);
    }
    String::from_utf8(python(program, &input))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Python's `repr` of a float, for comparing: Rust's `{:?}` differs only in spelling.
fn py_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{v:?}");
    // Rust `1e20` vs Python `1e+20`; Rust `1e-7` == Python `1e-07`.
    if let Some((m, e)) = s.split_once('e') {
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("+", e),
        };
        let m = m.strip_suffix(".0").unwrap_or(m);
        return format!("{m}e{sign}{digits:0>2}");
    }
    // Python switches to exponent notation at 1e16 and below 1e-4.
    let a = v.abs();
    if a >= 1e16 || (a != 0.0 && a < 1e-4) {
        let e = format!("{v:e}");
        let (m, x) = e.split_once('e').unwrap();
        let (sign, digits) = match x.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("+", x),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    s
}

fn float_token() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => "[0-9]{1,4}",
        2 => Just(".".to_owned()),
        2 => Just("_".to_owned()),
        2 => prop_oneof![Just("e"), Just("E"), Just("e-"), Just("e+")].prop_map(str::to_owned),
        1 => prop_oneof![Just("-"), Just("+")].prop_map(str::to_owned),
        1 => prop_oneof![
            Just("inf"), Just("Infinity"), Just("nan"), Just("NaN"), Just("iNf"), Just("x"),
            Just("\u{661}"), Just("\u{ff19}"), Just("\u{1d7ce}"), Just("\u{b2}"), Just("\u{bd}"),
            Just(" "), Just("\u{a0}"), Just("0x"), Just("j")
        ]
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 1..6).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// `python_float` agrees with Python's `float()` on every token built from digits,
    /// signs, dots, underscores, exponents, words, Unicode digits and spaces (16 batches
    /// of 256 tokens, one python3 run per batch).
    #[test]
    fn python_float_agrees_with_python(tokens in prop::collection::vec(float_token(), 256)) {
        let want = python_floats(&tokens);
        prop_assert_eq!(want.len(), tokens.len());
        for (t, w) in tokens.iter().zip(&want) {
            let got = python_float(t.as_bytes()).map_or_else(|| "ERR".to_owned(), py_repr);
            prop_assert_eq!(&got, w, "token {:?}", t);
        }
    }

    /// The whole line path agrees with carbon's: `line.strip().split()`, three fields,
    /// `float()` on both, NaN dropped, `int(ts) == -1` → now, `int()` truncation.
    #[test]
    fn lines_agree_with_carbon(lines in prop::collection::vec(
        prop::collection::vec(prop_oneof![
            4 => float_token(),
            2 => "[a-z.;=]{1,6}",
            2 => prop_oneof![Just(" "), Just("\t"), Just("  "), Just("\u{3000}"), Just("\x1f"), Just("\u{85}"), Just("-1"), Just("-1.5")].prop_map(str::to_owned),
        ], 1..8).prop_map(|v| v.join(" ")),
        128,
    )) {
        let program = r"
import sys
NOW = 1700000000
for line in sys.stdin.buffer.read().decode('utf-8').split('\x00')[:-1]:
    try:
        metric, value, timestamp = line.strip().split()
        ts, v = float(timestamp), float(value)
    except ValueError:
        print('INVALID'); continue
    if v != v:
        print('NAN'); continue
    try:
        t = int(ts)
    except (ValueError, OverflowError):
        print('TSRANGE'); continue
    if t == -1:
        t = NOW
    if not -2**63 <= t < 2**63:
        print('TSRANGE'); continue
    print('%s|%d|%r' % (metric, t, v))
";
        let mut input = Vec::new();
        for l in &lines {
            input.extend_from_slice(l.as_bytes());
            input.push(0);
        }
        let out = String::from_utf8(python(program, &input)).unwrap();
        let want: Vec<&str> = out.lines().collect();
        prop_assert_eq!(want.len(), lines.len());
        for (l, w) in lines.iter().zip(want) {
            let got = match parse_line(l.as_bytes(), NOW) {
                Ok(p) => format!("{}|{}|{}", String::from_utf8_lossy(&p.name), p.timestamp, py_repr(p.value)),
                Err(BadCarbonLine::NanValue) => "NAN".into(),
                Err(BadCarbonLine::TimestampRange) => "TSRANGE".into(),
                Err(BadCarbonLine::Blank | BadCarbonLine::FieldCount | BadCarbonLine::BadValue | BadCarbonLine::BadTimestamp) => "INVALID".into(),
                Err(e) => format!("unexpected {e:?}"),
            };
            prop_assert_eq!(&got, w, "line {:?}", l);
        }
    }

    /// `datagram_lines` splits exactly where Python's `str.splitlines()` does (32 texts
    /// per python3 run).
    #[test]
    fn datagram_lines_agree_with_python(texts in prop::collection::vec(
        "[ab\n\r\x0b\x0c\x1c\x1d\x1e\x1f\u{85}\u{2028}\u{2029}\u{2027}]{0,24}",
        32,
    )) {
        let program = r"
import sys
for t in sys.stdin.buffer.read().decode('utf-8').split('\x00')[:-1]:
    print(' '.join('=' + l.encode('utf-8').hex() for l in t.splitlines()))
";
        let mut input = Vec::new();
        for t in &texts {
            input.extend_from_slice(t.as_bytes());
            input.push(0);
        }
        let out = String::from_utf8(python(program, &input)).unwrap();
        let want: Vec<&str> = out.lines().collect();
        prop_assert_eq!(want.len(), texts.len());
        for (t, w) in texts.iter().zip(want) {
            let got: Vec<String> = datagram_lines(t.as_bytes()).map(|l| format!("={}", hex(l))).collect();
            prop_assert_eq!(got.join(" "), w, "text {:?}", t);
        }
    }
}

proptest! {
    /// No input makes the parser panic, and an accepted name is a non-empty field
    /// of the line without whitespace.
    #[test]
    fn never_panics(line in prop::collection::vec(any::<u8>(), 0..64), now in any::<i64>()) {
        if let Ok(p) = parse_line(&line, now) {
            prop_assert!(!p.name.is_empty());
            prop_assert!(!p.value.is_nan());
            prop_assert!(!p.name.iter().any(|&b| b == b' ' || b == b'\t'));
        }
        for l in datagram_lines(&line) {
            let _ = parse_line(l, now);
        }
    }

    /// Same on text made from the protocol's own characters, where more lines parse.
    #[test]
    fn never_panics_on_near_misses(line in "[a-z0-9 .\t_eE+\\-nafi;=\u{661}\u{3000}]{0,40}") {
        let _ = parse_line(line.as_bytes(), NOW);
    }
}
