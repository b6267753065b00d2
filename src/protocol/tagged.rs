//! Carbon's tagged series: the normal form of a name with tags, and where its whisper file
//! lives.
//!
//! API (the server calls these when a point enters the cache and when a file is created):
//!
//! - [`normalize`]`(name) -> Result<Cow<[u8]>, `[`TagError`]`>`: carbon's
//!   `TaggedSeries.parse(name).path`. Borrows `name` when it is already normal (every
//!   untagged name not starting with `~`, and tagged names already in order). On an error
//!   carbon logs it and keeps the raw name; the caller does the same and counts it.
//! - [`storage_path`]`(normal_name, hash_filenames)`: carbon's `TaggedSeries.encode(name,
//!   os.sep, hash_only)` + `.wsp`, relative to the whisper directory.
//! - [`TagError::ALL`] / [`TagError::name`]: the reasons and their counter names.
//!
//! Rules (carbon 1.1 `util.py TaggedSeries`; the vectors in `tests/data/carbon/tagged.tsv`
//! were produced by that code):
//!
//! - Carbon form `name;tag=value;…`: split on `;`; the name must be non-empty; each
//!   segment splits at its first `=` into a non-empty tag and a non-empty value. A tag may
//!   not contain `!` or `^` (nor `;` or `=`, which the splitting rules out); a value may not
//!   start with `~`. A repeated tag keeps its last value.
//! - `OpenMetrics` form `name{tag="value",…}`, recognised by a trailing `"}` and a `{`:
//!   exactly one `{` before the final `}`; each segment is `tag="value"` (the tag is
//!   everything up to the first `=`, the value allows `\"` and `\\` escapes), followed by
//!   `,`, `:,` or the end; same tag and value checks after unescaping. One deliberate
//!   difference: a metric part containing `;` is refused ([`TagError::SemicolonInMetric`]);
//!   carbon accepts it and produces a name that does not parse back to itself.
//! - The name loses its leading `~`s (`~a` → `a`; all tildes is an error) and becomes the
//!   `name` tag, overriding any `name=` segment. The normal form is the name followed by
//!   `;tag=value` for every other tag, sorted by that `;tag=value` text (so `a-b=2` sorts
//!   before `a=3`: `-` < `=`).
//! - Path: a normal name containing `;` goes to `_tagged/<h[0..3]>/<h[3..6]>/<h>.wsp`
//!   where `h` is the hex sha256 of the name (carbon's default `TAG_HASH_FILENAMES =
//!   True`), or `_tagged/<h[0..3]>/<h[3..6]>/<name with . replaced by _DOT_>.wsp`. Other
//!   names: `.` → `/`, leading `/` removed, `.wsp` appended.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use smallvec::SmallVec;

/// Why a name could not be normalised (carbon raises, logs, and keeps the raw name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TagError {
    /// Nothing before the first `;` or `{`.
    #[error("no metric name before the tags")]
    NoMetric,
    /// The name is only `~` characters.
    #[error("the metric name is empty once its leading '~' are removed")]
    EmptyName,
    /// A `;` segment without `=` or with an empty tag, or an `OpenMetrics` segment that is
    /// not `tag="value"` followed by `,` or the end.
    #[error("a tag segment is not tag=value")]
    BadSegment,
    /// A tag with an empty value.
    #[error("a tag has an empty value")]
    EmptyValue,
    /// A tag containing `;`, `!`, `^` or `=`, or a value containing `;`.
    #[error("a tag contains a character out of ;!^=")]
    ForbiddenChar,
    /// A value starting with `~`.
    #[error("a tag value starts with '~'")]
    TildeValue,
    /// An `OpenMetrics` name whose metric part (before `{`) contains `;`. Carbon accepts it
    /// and stores a name that its own parser then reads differently or refuses
    /// (`;{}="="}` becomes `;;}==`, which has no metric); we refuse it, so a normal form
    /// always normalises to itself.
    #[error("the metric name before '{{' contains ';'")]
    SemicolonInMetric,
}

impl TagError {
    /// Every reason, in a stable order.
    pub const ALL: &'static [TagError] = &[
        TagError::NoMetric,
        TagError::EmptyName,
        TagError::BadSegment,
        TagError::EmptyValue,
        TagError::ForbiddenChar,
        TagError::TildeValue,
        TagError::SemicolonInMetric,
    ];

    /// `snake_case` name, for a self-metric such as `carbon.bad_tags.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            TagError::NoMetric => "no_metric",
            TagError::EmptyName => "empty_name",
            TagError::BadSegment => "bad_segment",
            TagError::EmptyValue => "empty_value",
            TagError::ForbiddenChar => "forbidden_char",
            TagError::TildeValue => "tilde_value",
            TagError::SemicolonInMetric => "semicolon_in_metric",
        }
    }
}

/// One tag; `value` is owned only when `OpenMetrics` escapes were removed.
struct Tag<'a> {
    key: &'a [u8],
    value: Cow<'a, [u8]>,
}

type Tags<'a> = SmallVec<[Tag<'a>; 8]>;

/// Carbon's `TaggedSeries.parse(name).path`; see the module documentation.
pub fn normalize(name: &[u8]) -> Result<Cow<'_, [u8]>, TagError> {
    let openmetrics = name.ends_with(b"\"}") && name.contains(&b'{');
    if !openmetrics && !name.contains(&b';') {
        // Untagged: only the leading '~' rule applies.
        if name.is_empty() {
            return Err(TagError::NoMetric);
        }
        let start = name
            .iter()
            .position(|&b| b != b'~')
            .ok_or(TagError::EmptyName)?;
        return Ok(Cow::Borrowed(&name[start..]));
    }
    let (metric, mut tags) = if openmetrics {
        parse_openmetrics(name)?
    } else {
        parse_carbon(name)?
    };
    let start = metric
        .iter()
        .position(|&b| b != b'~')
        .ok_or(TagError::EmptyName)?;
    let metric = &metric[start..];

    // A dict keeps one value per tag, the last assigned: stable sort by tag, keep the
    // last of each run, drop `name` (the metric overrides it), then order by `;tag=value`.
    tags.sort_by(|a, b| a.key.cmp(b.key));
    let mut kept: Tags<'_> = SmallVec::with_capacity(tags.len());
    let mut iter = tags.into_iter().peekable();
    while let Some(tag) = iter.next() {
        if iter.peek().is_some_and(|next| next.key == tag.key) || tag.key == b"name" {
            continue;
        }
        kept.push(tag);
    }
    kept.sort_by(|a, b| {
        let left = a.key.iter().chain(b"=").chain(a.value.iter());
        left.cmp(b.key.iter().chain(b"=").chain(b.value.iter()))
    });

    let len = metric.len()
        + kept
            .iter()
            .map(|t| 2 + t.key.len() + t.value.len())
            .sum::<usize>();
    if len == name.len() && name.starts_with(metric) && !openmetrics {
        // Same length and same metric means nothing was dropped, stripped or unescaped;
        // compare the tag order without allocating.
        let mut at = metric.len();
        let same = kept.iter().all(|t| {
            let ok = name[at] == b';'
                && name[at + 1..].starts_with(t.key)
                && name[at + 1 + t.key.len()] == b'='
                && name[at + 2 + t.key.len()..].starts_with(&t.value);
            at += 2 + t.key.len() + t.value.len();
            ok
        });
        if same {
            return Ok(Cow::Borrowed(name));
        }
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(metric);
    for t in &kept {
        out.push(b';');
        out.extend_from_slice(t.key);
        out.push(b'=');
        out.extend_from_slice(&t.value);
    }
    Ok(Cow::Owned(out))
}

/// `TaggedSeries.validateTagAndValue`.
fn validate(key: &[u8], value: &[u8]) -> Result<(), TagError> {
    if key.is_empty() {
        return Err(TagError::BadSegment);
    }
    if value.is_empty() {
        return Err(TagError::EmptyValue);
    }
    if key.iter().any(|b| b";!^=".contains(b)) || value.contains(&b';') {
        return Err(TagError::ForbiddenChar);
    }
    if value[0] == b'~' {
        return Err(TagError::TildeValue);
    }
    Ok(())
}

fn parse_carbon(name: &[u8]) -> Result<(&[u8], Tags<'_>), TagError> {
    let mut segments = name.split(|&b| b == b';');
    let metric = segments.next().unwrap_or_default();
    if metric.is_empty() {
        return Err(TagError::NoMetric);
    }
    let mut tags = Tags::new();
    for segment in segments {
        let eq = segment
            .iter()
            .position(|&b| b == b'=')
            .ok_or(TagError::BadSegment)?;
        let (key, value) = (&segment[..eq], &segment[eq + 1..]);
        validate(key, value)?;
        tags.push(Tag {
            key,
            value: Cow::Borrowed(value),
        });
    }
    Ok((metric, tags))
}

fn parse_openmetrics(name: &[u8]) -> Result<(&[u8], Tags<'_>), TagError> {
    let body = &name[..name.len() - 1];
    let brace = body
        .iter()
        .position(|&b| b == b'{')
        .ok_or(TagError::BadSegment)?;
    let (metric, mut raw) = (&body[..brace], &body[brace + 1..]);
    if raw.contains(&b'{') {
        // `split('{', 2)` yields three parts, which do not unpack into two.
        return Err(TagError::BadSegment);
    }
    if metric.is_empty() {
        return Err(TagError::NoMetric);
    }
    let mut tags = Tags::new();
    while !raw.is_empty() {
        let eq = raw
            .iter()
            .position(|&b| b == b'=')
            .ok_or(TagError::BadSegment)?;
        let key = &raw[..eq];
        if key.is_empty() || raw.get(eq + 1) != Some(&b'"') {
            return Err(TagError::BadSegment);
        }
        // Value: `\"`, `\\` or any byte but `"` and `\`, at least one, then `"`.
        let start = eq + 2;
        let mut i = start;
        loop {
            match raw.get(i) {
                Some(b'\\') if matches!(raw.get(i + 1), Some(b'"' | b'\\')) => i += 2,
                Some(b'"' | b'\\') | None => break,
                Some(_) => i += 1,
            }
        }
        if i == start || raw.get(i) != Some(&b'"') {
            return Err(TagError::BadSegment);
        }
        let escaped = &raw[start..i];
        let rest = &raw[i + 1..];
        let used = if rest.starts_with(b",") {
            1
        } else if rest.starts_with(b":,") {
            2
        } else if rest.is_empty() {
            0
        } else {
            return Err(TagError::BadSegment);
        };
        let value = unescape_openmetrics(escaped);
        validate(key, &value)?;
        tags.push(Tag { key, value });
        raw = &rest[used..];
    }
    // Checked where carbon would succeed, so every other refusal keeps carbon's reason.
    if metric.contains(&b';') {
        return Err(TagError::SemicolonInMetric);
    }
    Ok((metric, tags))
}

/// `value.replace('\\"', '"').replace('\\\\', '\\')`, in that order.
fn unescape_openmetrics(v: &[u8]) -> Cow<'_, [u8]> {
    if !v.contains(&b'\\') {
        return Cow::Borrowed(v);
    }
    let once = replace(v, b"\\\"", b"\"");
    Cow::Owned(replace(&once, b"\\\\", b"\\"))
}

/// Python's `bytes.replace`: leftmost, non-overlapping.
fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Lowercase hex sha256.
fn sha256_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Carbon's whisper path for an already normalised name, relative to the whisper
/// directory; see the module documentation.
pub fn storage_path(normal: &[u8], hash_filenames: bool) -> PathBuf {
    let mut out = Vec::with_capacity(normal.len() + 96);
    if normal.contains(&b';') {
        let h = sha256_hex(normal);
        out.extend_from_slice(b"_tagged/");
        out.extend_from_slice(&h.as_bytes()[0..3]);
        out.push(b'/');
        out.extend_from_slice(&h.as_bytes()[3..6]);
        out.push(b'/');
        if hash_filenames {
            out.extend_from_slice(h.as_bytes());
        } else {
            for &b in normal {
                if b == b'.' {
                    out.extend_from_slice(b"_DOT_");
                } else {
                    out.push(b);
                }
            }
        }
    } else {
        let start = normal
            .iter()
            .position(|&b| b != b'.' && b != b'/')
            .unwrap_or(normal.len());
        out.extend(
            normal[start..]
                .iter()
                .map(|&b| if b == b'.' { b'/' } else { b }),
        );
    }
    out.extend_from_slice(b".wsp");
    PathBuf::from(OsStr::from_bytes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, TagError> {
        normalize(s.as_bytes()).map(|c| String::from_utf8(c.into_owned()).unwrap())
    }

    #[test]
    fn sorts_by_formatted_text() {
        assert_eq!(norm("a;b=1;a-b=2;a=3").unwrap(), "a;a-b=2;a=3;b=1");
        assert_eq!(norm("a;x=1;x=2").unwrap(), "a;x=2");
        assert_eq!(norm("~~a.b;name=zz;c=d").unwrap(), "a.b;c=d");
        assert_eq!(norm("a.b;name=x").unwrap(), "a.b");
        assert_eq!(norm("m{b=\"2\",a=\"1\"}").unwrap(), "m;a=1;b=2");
    }

    #[test]
    fn borrows_when_already_normal() {
        assert!(matches!(normalize(b"a.b.c"), Ok(Cow::Borrowed(_))));
        assert!(matches!(normalize(b"a;b=1;c=2"), Ok(Cow::Borrowed(_))));
        assert!(matches!(normalize(b"a;c=2;b=1"), Ok(Cow::Owned(_))));
    }

    #[test]
    fn errors() {
        assert_eq!(norm(";a=b"), Err(TagError::NoMetric));
        assert_eq!(norm("~~"), Err(TagError::EmptyName));
        assert_eq!(norm("a;b"), Err(TagError::BadSegment));
        assert_eq!(norm("a;=b"), Err(TagError::BadSegment));
        assert_eq!(norm("a;b="), Err(TagError::EmptyValue));
        assert_eq!(norm("a;b!=c"), Err(TagError::ForbiddenChar));
        assert_eq!(norm("a;b=~c"), Err(TagError::TildeValue));
        assert_eq!(norm("a;"), Err(TagError::BadSegment));
        // Carbon would give `;;}==` and `b;z=1;a=y`, which its parser refuses or reorders.
        assert_eq!(norm(";{}=\"=\"}"), Err(TagError::SemicolonInMetric));
        assert_eq!(norm("b;z=1{a=\"y\"}"), Err(TagError::SemicolonInMetric));
        assert_eq!(norm(";{a=\"y\"}"), Err(TagError::SemicolonInMetric));
    }

    #[test]
    fn paths() {
        let name = b"stats.example.counts;tag1=value1";
        assert_eq!(
            storage_path(name, true),
            PathBuf::from(
                "_tagged/872/252/872252dcead671982862f82a3b440f02aa8f525dd6d0f2921de0dc2b3e874ad0.wsp"
            )
        );
        assert_eq!(
            storage_path(name, false),
            PathBuf::from("_tagged/872/252/stats_DOT_example_DOT_counts;tag1=value1.wsp")
        );
        assert_eq!(storage_path(b"a.b.c", true), PathBuf::from("a/b/c.wsp"));
        assert_eq!(storage_path(b"..a.b", true), PathBuf::from("a/b.wsp"));
    }
}
