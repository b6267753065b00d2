//! StatsD line parser: etsy statsd 0.10 syntax plus DogStatsD tags. Bytes in, borrowed
//! samples out.
//!
//! Contract:
//! - [`Parser::parse_line`] takes one line without its `\n` (a trailing `\r` is ignored)
//!   and calls back once per value: `key:1|c` gives one result, etsy's multi-value form
//!   `key:1|c:2|ms` one per value; an empty line gives none.
//! - Each result is a [`Sample`] or the [`BadLine`] reason it was dropped. `BadLine` is the
//!   complete list of drop reasons; [`BadLine::name`] names the self-metric counting it.
//! - The key of a sample is final: sanitised as etsy does (when `sanitize`), with the
//!   DogStatsD tags `|#a:1,b` appended as `;a=1;b` (sorted and de-duplicated when
//!   `sort_tags`). It borrows the input line when nothing had to be rewritten, else the
//!   parser's scratch buffer; nothing is allocated per line once the buffers have grown.
//! - Numbers follow [`crate::protocol::number::parse_decimal`]; values and sample rates
//!   must be finite. `h` and `d` are timers; other unknown types are bad lines.
//!
//! Line grammar accepted (the tag section may sit anywhere after the value fields):
//! `key:value|type[|@rate][|#tag,tag:v][|c:container][|e:external][|Ttimestamp]`,
//! and etsy's `key:value|type[|@rate]:value|type...`.

use crate::protocol::number::parse_decimal;

/// The four aggregation kinds. `h` and `d` parse as [`Kind::Timer`]; etsy counts them as counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Counter,
    Gauge,
    Timer,
    Set,
}

/// One parsed value of a line (a multi-value line `k:1|c:2|ms` yields several).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `c`: value already multiplied by `1/sample_rate`.
    Counter(f64),
    /// `g`: `delta` is true when the text began with `+` or `-`.
    Gauge { value: f64, delta: bool },
    /// `ms`, `h`, `d`: the value, and the count weight `1/sample_rate`.
    Timer { value: f64, weight: f64 },
    /// `s`: the member's raw bytes (`0` when the value was empty, as etsy).
    Set(&'a [u8]),
}

/// A parsed sample: the normalised key (sanitised, tags sorted, `;k=v` form) and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    pub key: &'a [u8],
    pub value: Value<'a>,
}

/// Why a line (or one value of a multi-value line) was dropped. Also the list of drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadLine {
    /// The key is empty, or its name part (before any `;` tag) is empty after sanitising.
    EmptyKey,
    /// The key or a tag is not valid UTF-8 (only checked when sanitising is off; the
    /// sanitiser deletes every non-ASCII byte).
    InvalidKey,
    /// No `|type` field (`key:5`, `key`, or the `1` and `2` of DogStatsD's `key:1:2:3|ms`).
    MissingType,
    /// A type other than `c`, `g`, `ms`, `h`, `d`, `s` (etsy would count it as a counter).
    UnknownType,
    /// The value is not a decimal number (see the number policy).
    BadValue,
    /// The value, or the value times `1/rate`, is not finite.
    NonFinite,
    /// A negative timer value.
    NegativeTimer,
    /// `@rate` is not a positive finite number (`@0`, `@-1`, `@x`), or appears twice.
    BadSampleRate,
    /// A field after the type that is neither `@rate`, `#tags` nor a DogStatsD extension
    /// (`c:`, `e:`, `T`); this includes an empty field such as the one in `key:1|c|`.
    UnknownField,
}

impl BadLine {
    /// Every drop reason, in a stable order.
    pub const ALL: &'static [BadLine] = &[
        BadLine::EmptyKey,
        BadLine::InvalidKey,
        BadLine::MissingType,
        BadLine::UnknownType,
        BadLine::BadValue,
        BadLine::NonFinite,
        BadLine::NegativeTimer,
        BadLine::BadSampleRate,
        BadLine::UnknownField,
    ];

    /// `snake_case` name, used as the self-metric `statsd.bad_lines.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            BadLine::EmptyKey => "empty_key",
            BadLine::InvalidKey => "invalid_key",
            BadLine::MissingType => "missing_type",
            BadLine::UnknownType => "unknown_type",
            BadLine::BadValue => "bad_value",
            BadLine::NonFinite => "non_finite",
            BadLine::NegativeTimer => "negative_timer",
            BadLine::BadSampleRate => "bad_sample_rate",
            BadLine::UnknownField => "unknown_field",
        }
    }
}

/// Parser switches (from `StatsdConfig::key_name_sanitize` and `sort_tags`).
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// etsy's key sanitising: whitespace runs to `_`, `/` to `-`, delete every byte
    /// outside `[A-Za-z0-9_.;=-]`.
    pub sanitize: bool,
    /// Sort and de-duplicate DogStatsD tags so tag order never splits a series.
    pub sort_tags: bool,
}

/// Byte classes of the sanitiser.
const KEEP: u8 = 0;
const SPACE: u8 = 1;
const SLASH: u8 = 2;
const DROP: u8 = 3;

const CLASS: [u8; 256] = {
    let mut t = [DROP; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b';' | b'=') {
            KEEP
        } else if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            SPACE
        } else if c == b'/' {
            SLASH
        } else {
            DROP
        };
        b += 1;
    }
    t
};

/// A reusable line parser. Holds scratch buffers for keys that must be rewritten, so the
/// hot path does not allocate once they have grown.
pub struct Parser {
    opts: ParseOptions,
    key: Vec<u8>,
    tag_text: Vec<u8>,
    tags: Vec<(usize, usize)>,
}

impl Parser {
    pub fn new(opts: ParseOptions) -> Self {
        Self {
            opts,
            key: Vec::with_capacity(256),
            tag_text: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// One line (no '\n'). Calls `f` once per value: a plain line yields one result, etsy's
    /// multi-value `k:1|c:2|ms` one per value. Empty lines yield nothing.
    pub fn parse_line(&mut self, line: &[u8], mut f: impl FnMut(Result<Sample<'_>, BadLine>)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        let (body, tags, trailer) = split_tags(line);
        let (raw_key, values) = match body.iter().position(|&b| b == b':') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let key: &[u8] = match self.build_key(raw_key, tags) {
            Ok(true) => &self.key,
            Ok(false) => raw_key,
            Err(e) => {
                f(Err(e));
                return;
            }
        };
        let Some(values) = values else {
            f(Err(BadLine::MissingType));
            return;
        };
        let mut bits = values.split(|&b| b == b':').peekable();
        while let Some(bit) = bits.next() {
            let extra = if bits.peek().is_none() {
                trailer
            } else {
                &[][..]
            };
            f(parse_value(bit, extra).map(|value| Sample { key, value }));
        }
    }

    /// Build the final key. `Ok(true)`: it is in `self.key`; `Ok(false)`: `raw` is final.
    fn build_key(&mut self, raw: &[u8], tags: Option<&[u8]>) -> Result<bool, BadLine> {
        let sanitize = self.opts.sanitize;
        let tags = tags.filter(|t| !t.is_empty());
        let in_scratch = if tags.is_none()
            && (!sanitize || raw.iter().all(|&b| CLASS[usize::from(b)] == KEEP))
        {
            if !sanitize && std::str::from_utf8(raw).is_err() {
                return Err(BadLine::InvalidKey);
            }
            if raw.first().is_none_or(|&b| b == b';') {
                return Err(BadLine::EmptyKey);
            }
            false
        } else {
            self.key.clear();
            if sanitize {
                sanitize_into(&mut self.key, raw.iter().copied());
            } else {
                if std::str::from_utf8(raw).is_err() {
                    return Err(BadLine::InvalidKey);
                }
                self.key.extend_from_slice(raw);
            }
            if self.key.first().is_none_or(|&b| b == b';') {
                return Err(BadLine::EmptyKey);
            }
            if let Some(tags) = tags {
                self.append_tags(tags)?;
            }
            true
        };
        Ok(in_scratch)
    }

    /// Append `;tag` for each DogStatsD tag: the first `:` becomes `=`, every `;` becomes
    /// `_`, then the sanitiser runs; empty tags are dropped; sorted and de-duplicated when
    /// `sort_tags`.
    fn append_tags(&mut self, text: &[u8]) -> Result<(), BadLine> {
        let Self {
            opts,
            key,
            tag_text,
            tags,
        } = self;
        tag_text.clear();
        tags.clear();
        for tag in text.split(|&b| b == b',') {
            let start = tag_text.len();
            let mut seen_colon = false;
            let mapped = tag.iter().map(|&b| match b {
                b':' if !seen_colon => {
                    seen_colon = true;
                    b'='
                }
                b';' => b'_',
                _ => b,
            });
            if opts.sanitize {
                sanitize_into(tag_text, mapped);
            } else {
                tag_text.extend(mapped);
                if std::str::from_utf8(&tag_text[start..]).is_err() {
                    return Err(BadLine::InvalidKey);
                }
            }
            if tag_text.len() > start {
                tags.push((start, tag_text.len()));
            }
        }
        if opts.sort_tags {
            tags.sort_unstable_by(|a, b| tag_text[a.0..a.1].cmp(&tag_text[b.0..b.1]));
            tags.dedup_by(|a, b| tag_text[a.0..a.1] == tag_text[b.0..b.1]);
        }
        for &(s, e) in tags.iter() {
            key.push(b';');
            key.extend_from_slice(&tag_text[s..e]);
        }
        Ok(())
    }
}

/// etsy's key sanitiser applied to `key` (a new buffer).
pub fn sanitize_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len());
    sanitize_into(&mut out, key.iter().copied());
    out
}

/// etsy's sanitiser over a byte stream: a run of ASCII whitespace becomes one `_`, `/`
/// becomes `-`, bytes outside `[A-Za-z0-9_.;=-]` are deleted.
fn sanitize_into(out: &mut Vec<u8>, bytes: impl Iterator<Item = u8>) {
    let mut in_space = false;
    for b in bytes {
        match CLASS[usize::from(b)] {
            KEEP => {
                in_space = false;
                out.push(b);
            }
            SPACE => {
                if !in_space {
                    out.push(b'_');
                }
                in_space = true;
            }
            SLASH => {
                in_space = false;
                out.push(b'-');
            }
            _ => in_space = false,
        }
    }
}

/// Split off the DogStatsD tag section: `(before "|#", tags, "|rest" after the tags)`.
fn split_tags(line: &[u8]) -> (&[u8], Option<&[u8]>, &[u8]) {
    let mut i = 0;
    while i + 1 < line.len() {
        if line[i] == b'|' && line[i + 1] == b'#' {
            let rest = &line[i + 2..];
            let end = rest.iter().position(|&b| b == b'|').unwrap_or(rest.len());
            return (&line[..i], Some(&rest[..end]), &rest[end..]);
        }
        i += 1;
    }
    (line, None, &[])
}

/// One value of a line: `value|type[|field...]`, plus the fields that followed the tags.
fn parse_value<'a>(bit: &'a [u8], trailer: &'a [u8]) -> Result<Value<'a>, BadLine> {
    let extra = trailer.get(1..).map(|t| t.split(|&b| b == b'|'));
    let mut fields = bit.split(|&b| b == b'|').chain(extra.into_iter().flatten());
    let value = fields.next().unwrap_or_default();
    let ty = fields.next().ok_or(BadLine::MissingType)?.trim_ascii();
    let mut rate: Option<f64> = None;
    for field in fields {
        match field {
            [b'@', r @ ..] => {
                if rate.is_some() {
                    return Err(BadLine::BadSampleRate);
                }
                let r = parse_decimal(r)
                    .filter(|r| r.is_finite() && *r > 0.0)
                    .ok_or(BadLine::BadSampleRate)?;
                rate = Some(r);
            }
            [b'c' | b'e', b':', ..] | [b'T', ..] => {}
            _ => return Err(BadLine::UnknownField),
        }
    }
    let weight = 1.0 / rate.unwrap_or(1.0);
    if !weight.is_finite() {
        return Err(BadLine::BadSampleRate);
    }
    match ty {
        b"c" => {
            let v = number(value)? * weight;
            if v.is_finite() {
                Ok(Value::Counter(v))
            } else {
                Err(BadLine::NonFinite)
            }
        }
        b"g" => Ok(Value::Gauge {
            value: number(value)?,
            delta: matches!(value.first(), Some(b'+' | b'-')),
        }),
        b"ms" | b"h" | b"d" => {
            let v = number(value)?;
            if v < 0.0 {
                Err(BadLine::NegativeTimer)
            } else {
                Ok(Value::Timer { value: v, weight })
            }
        }
        b"s" => Ok(Value::Set(if value.is_empty() { b"0" } else { value })),
        _ => Err(BadLine::UnknownType),
    }
}

fn number(s: &[u8]) -> Result<f64, BadLine> {
    match parse_decimal(s) {
        Some(v) if v.is_finite() => Ok(v),
        Some(_) => Err(BadLine::NonFinite),
        None => Err(BadLine::BadValue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An owned copy of one parse result, for assertions.
    #[derive(Debug, Clone, PartialEq)]
    enum Got {
        Ok(String, OwnedValue),
        Bad(BadLine),
    }

    #[derive(Debug, Clone, PartialEq)]
    enum OwnedValue {
        C(f64),
        G(f64, bool),
        T(f64, f64),
        S(String),
    }

    fn parse_with(opts: ParseOptions, line: &str) -> Vec<Got> {
        let mut p = Parser::new(opts);
        let mut out = Vec::new();
        p.parse_line(line.as_bytes(), |r| {
            out.push(match r {
                Ok(s) => Got::Ok(
                    String::from_utf8(s.key.to_vec()).unwrap(),
                    match s.value {
                        Value::Counter(v) => OwnedValue::C(v),
                        Value::Gauge { value, delta } => OwnedValue::G(value, delta),
                        Value::Timer { value, weight } => OwnedValue::T(value, weight),
                        Value::Set(m) => OwnedValue::S(String::from_utf8_lossy(m).into_owned()),
                    },
                ),
                Err(e) => Got::Bad(e),
            });
        });
        out
    }

    fn parse(line: &str) -> Vec<Got> {
        parse_with(
            ParseOptions {
                sanitize: true,
                sort_tags: true,
            },
            line,
        )
    }

    fn ok(key: &str, v: OwnedValue) -> Got {
        Got::Ok(key.into(), v)
    }

    #[test]
    fn etsy_golden_parse_cases() {
        use OwnedValue::{C, G, S, T};
        let keep = ParseOptions {
            sanitize: true,
            sort_tags: false,
        };
        assert_eq!(parse("fo/o b+ar:1|c"), vec![ok("fo-o_bar", C(1.0))]);
        assert_eq!(
            parse_with(keep, "tagged:1|c|#env:prod,role:web,bare"),
            vec![ok("tagged;env=prod;role=web;bare", C(1.0))]
        );
        assert_eq!(
            parse_with(keep, "foo+bar:250|c|#tag1:val;1"),
            vec![ok("foobar;tag1=val_1", C(250.0))]
        );
        assert_eq!(
            parse("packed:1:2:3|ms"),
            vec![
                Got::Bad(BadLine::MissingType),
                Got::Bad(BadLine::MissingType),
                ok("packed", T(3.0, 1.0))
            ]
        );
        assert_eq!(parse("histo:5|h"), vec![ok("histo", T(5.0, 1.0))]);
        assert_eq!(parse("dist:5|d"), vec![ok("dist", T(5.0, 1.0))]);
        assert_eq!(parse("zero:1|c|@0"), vec![Got::Bad(BadLine::BadSampleRate)]);
        assert_eq!(parse("neg:-3|ms"), vec![Got::Bad(BadLine::NegativeTimer)]);
        assert_eq!(parse("bad_no_type:5"), vec![Got::Bad(BadLine::MissingType)]);
        assert_eq!(
            parse("multi:1|c:200|ms"),
            vec![ok("multi", C(1.0)), ok("multi", T(200.0, 1.0))]
        );
        assert_eq!(parse("cnt:1|c|@0.1"), vec![ok("cnt", C(10.0))]);
        assert_eq!(
            parse("glork:320|ms|@0.1"),
            vec![ok("glork", T(320.0, 10.0))]
        );
        assert_eq!(parse("gaugor:333|g"), vec![ok("gaugor", G(333.0, false))]);
        assert_eq!(parse("gaugor:-10|g"), vec![ok("gaugor", G(-10.0, true))]);
        assert_eq!(parse("gaugor:+4|g"), vec![ok("gaugor", G(4.0, true))]);
        assert_eq!(parse("uniques:765|s"), vec![ok("uniques", S("765".into()))]);
        assert_eq!(parse("uniques:|s"), vec![ok("uniques", S("0".into()))]);
        assert_eq!(
            parse("graphtag;dc=eu:7|g"),
            vec![ok("graphtag;dc=eu", G(7.0, false))]
        );
    }

    #[test]
    fn deliberate_deviations() {
        use OwnedValue::{C, T};
        assert_eq!(parse("r:1|c|@1e-1"), vec![ok("r", C(10.0))]);
        assert_eq!(parse("r:1|c|@-0.5"), vec![Got::Bad(BadLine::BadSampleRate)]);
        assert_eq!(parse("r:1|c|@x"), vec![Got::Bad(BadLine::BadSampleRate)]);
        assert_eq!(
            parse("r:1|c|@0.5|@0.5"),
            vec![Got::Bad(BadLine::BadSampleRate)]
        );
        assert_eq!(parse("r:1|c|@2"), vec![ok("r", C(0.5))]);
        assert_eq!(parse("r:0x10|c"), vec![Got::Bad(BadLine::BadValue)]);
        assert_eq!(parse("r: 5|c"), vec![Got::Bad(BadLine::BadValue)]);
        assert_eq!(parse("r:1e3|c"), vec![ok("r", C(1000.0))]);
        assert_eq!(parse("r:Infinity|c"), vec![Got::Bad(BadLine::BadValue)]);
        assert_eq!(parse("r:1e999|ms"), vec![Got::Bad(BadLine::NonFinite)]);
        assert_eq!(
            parse("r:1e300|c|@1e-10"),
            vec![Got::Bad(BadLine::NonFinite)]
        );
        assert_eq!(parse("r:|c"), vec![Got::Bad(BadLine::BadValue)]);
        assert_eq!(parse("r:1|foo"), vec![Got::Bad(BadLine::UnknownType)]);
        assert_eq!(parse(":1|c"), vec![Got::Bad(BadLine::EmptyKey)]);
        assert_eq!(parse("!!:1|c"), vec![Got::Bad(BadLine::EmptyKey)]);
        assert_eq!(parse(";a=b:1|c"), vec![Got::Bad(BadLine::EmptyKey)]);
        assert_eq!(parse("r:1|c|"), vec![Got::Bad(BadLine::UnknownField)]);
        assert_eq!(parse("r:1|c|x"), vec![Got::Bad(BadLine::UnknownField)]);
        assert_eq!(parse("r:1|ms|@0.25\r"), vec![ok("r", T(1.0, 4.0))]);
        assert_eq!(parse("r:1| c "), vec![ok("r", C(1.0))]);
        assert_eq!(parse(""), vec![]);
        assert_eq!(parse("\r"), vec![]);
    }

    #[test]
    fn tags_sorted_deduped_and_mapped() {
        use OwnedValue::C;
        assert_eq!(parse("k:1|c|#b:2,a:1"), parse("k:1|c|#a:1,b:2"));
        assert_eq!(parse("k:1|c|#b:2,a:1"), vec![ok("k;a=1;b=2", C(1.0))]);
        assert_eq!(parse("k:1|c|#a:1,a:1,,b"), vec![ok("k;a=1;b", C(1.0))]);
        assert_eq!(parse("k:1|c|#a:b:c"), vec![ok("k;a=bc", C(1.0))]);
        assert_eq!(parse("k:1|c|#a:x y"), vec![ok("k;a=x_y", C(1.0))]);
        assert_eq!(parse("k:1|c|#"), vec![ok("k", C(1.0))]);
        // Fields after the tag section still apply.
        assert_eq!(parse("k:1|c|#a:1|@0.5"), vec![ok("k;a=1", C(2.0))]);
        assert_eq!(
            parse("k:1|c|@0.5|#a:1|c:abc|T1656581400"),
            vec![ok("k;a=1", C(2.0))]
        );
        let raw = ParseOptions {
            sanitize: false,
            sort_tags: false,
        };
        assert_eq!(
            parse_with(raw, "k k:1|c|#b:x y,a"),
            vec![ok("k k;b=x y;a", C(1.0))]
        );
    }

    #[test]
    fn sanitising_rules() {
        use OwnedValue::C;
        assert_eq!(parse("a \t b:1|c"), vec![ok("a_b", C(1.0))]);
        assert_eq!(parse("a \u{1} b:1|c"), vec![ok("a__b", C(1.0))]);
        assert_eq!(parse("a//b:1|c"), vec![ok("a--b", C(1.0))]);
        assert_eq!(parse("caf\u{e9}.x:1|c"), vec![ok("caf.x", C(1.0))]);
        let raw = ParseOptions {
            sanitize: false,
            sort_tags: true,
        };
        assert_eq!(
            parse_with(raw, "caf\u{e9}:1|c"),
            vec![ok("caf\u{e9}", C(1.0))]
        );
        let mut p = Parser::new(raw);
        let mut got = Vec::new();
        p.parse_line(b"caf\xff:1|c", |r| got.push(r.map(|s| s.key.to_vec())));
        assert_eq!(got, vec![Err(BadLine::InvalidKey)]);
    }

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<_> = BadLine::ALL.iter().map(|b| b.name()).collect();
        assert!(names
            .iter()
            .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BadLine::ALL.len());
    }

    proptest! {
        /// parse_line never panics on arbitrary bytes, and every key it yields is non-empty,
        /// sanitised (only `[A-Za-z0-9_.;=-]`) and has a non-empty name part.
        #[test]
        fn never_panics_and_keys_are_clean(line in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut p = Parser::new(ParseOptions { sanitize: true, sort_tags: true });
            p.parse_line(&line, |r| {
                if let Ok(s) = r {
                    assert!(!s.key.is_empty() && s.key[0] != b';');
                    assert!(s.key.iter().all(|&b| CLASS[usize::from(b)] == KEEP));
                }
            });
            let mut raw = Parser::new(ParseOptions { sanitize: false, sort_tags: false });
            raw.parse_line(&line, |r| {
                if let Ok(s) = r {
                    assert!(std::str::from_utf8(s.key).is_ok());
                }
            });
        }

        /// Structured lines from a statsd-ish alphabet: never panics, and tag order never
        /// changes the key when sorting.
        #[test]
        fn tag_order_is_irrelevant(
            name in "[a-z]{1,8}",
            value in "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
            ty in prop::sample::select(vec!["c", "g", "ms", "h", "s"]),
            tags in proptest::collection::vec("[a-z]{1,3}(:[a-z0-9]{1,3})?", 0..5),
        ) {
            let mut rev = tags.clone();
            rev.reverse();
            let a = parse(&format!("{name}:{value}|{ty}|#{}", tags.join(",")));
            let b = parse(&format!("{name}:{value}|{ty}|#{}", rev.join(",")));
            prop_assert_eq!(a, b);
        }
    }
}
