//! Where a series' whisper file lives, laid out as carbon lays it out, and the one name
//! each file is stored under.
//!
//! Contract:
//!
//! - [`canonical_name`]`(name)`: the series name a received untagged name is kept under,
//!   the name graphite-web reads back from the file carbon writes for it. Carbon's file
//!   for `name` is `name` with every `.` made a `/`, leading `/` stripped, plus `.wsp`; so
//!   `/` inside a name is a directory separator like `.`, and empty path elements vanish.
//!   The canonical name therefore has every `/` made a `.`, leading separators removed
//!   and every run of separators made one `.`: `.a.b`, `..a.b`, `/a.b`, `a..b`, `a/b` and
//!   `a//.b` are all `a.b`. A name ending in separators keeps one trailing `.` (`a.b.`,
//!   `a.b..` and `a.b/` are `a.b.`): carbon stores it as `a/b/.wsp`, and so do we, so a
//!   carbon tree carries on (graphite-web lists no such file, as its name starts with
//!   `.`). A name with no element left (empty, `.`, `...`, `/`) is refused
//!   ([`LayoutError::NoElement`]): carbon would write `<data-dir>/.wsp` for it, a file no
//!   reader lists. Tagged names (containing `;`) are returned as they are. Pure; borrows
//!   the name unless it changes.
//! - [`is_plain`]`(name)`: the intake's check per point, a few word operations per eight
//!   bytes and no allocation: no leading `.` or `/`, no `/`, no `..`. A plain name is
//!   canonical; the others go through [`canonical_name`].
//! - [`relative_path`]`(name)`: untagged `a.b.c` → `a/b/c.wsp` under `<data-dir>/whisper`
//!   (each `.` a directory level, bytes kept as they are, so an existing carbon tree can be
//!   copied in or pointed at). Any name maps as its canonical name does, so no path
//!   element is empty, `.` or `..`, and the path never leaves the whisper directory. A
//!   tagged series, given already normalised (`name;k=v` with tags sorted), goes to
//!   `_tagged/<h[0..3]>/<h[3..6]>/<h>.wsp` where `h` is the hex sha256 of the normalised
//!   name (carbon's `TAG_HASH_FILENAMES = True` default).
//!
//! Names are not otherwise validated, as carbon does not: an untagged name with a NUL byte
//! has no path ([`LayoutError::Nul`]), and an element longer than the file system allows
//! (255 bytes with `.wsp` for the last one) fails when the file is created.

use std::borrow::Cow;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// The directory under the data directory that holds the whisper tree.
pub const WHISPER_DIR: &str = "whisper";

/// File extension of whisper files.
pub const EXTENSION: &str = "wsp";

/// Longest path element a file system takes (`NAME_MAX`), in bytes.
pub const MAX_ELEMENT: usize = 255;

/// Longest path of a file relative to the whisper directory that is accepted: Linux's
/// `PATH_MAX` (4096, the whole path with its NUL) less 256 bytes left for the data
/// directory's own path. A data directory longer than that makes some longer names fail
/// at create time instead, where they are dropped and counted the same way.
pub const MAX_RELATIVE_PATH: usize = 4096 - 256;

/// The first element of the hashed layout of tagged series (`_tagged/…`); an untagged name
/// starting with it would share a tagged series' file.
const TAGGED_DIR: &[u8] = b"_tagged";

/// Why a metric name cannot be mapped to a file. Each is final: the name is dropped at
/// intake and counted under [`LayoutError::reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A name with no path element: empty, or only `.` and `/`.
    #[error("metric name {0:?} has no path element (it is empty or only '.' and '/')")]
    NoElement(String),
    /// An untagged name holding a NUL byte, which no file name can hold (carbon cannot
    /// store it either: Python refuses the path).
    #[error("metric name {0:?} holds a NUL byte, which no file name can hold")]
    Nul(String),
    /// A path element longer than [`MAX_ELEMENT`] bytes (the last one with `.wsp`).
    #[error("metric name {0:?} has a path element longer than 255 bytes (251 for the last, which gets .wsp)")]
    ElementTooLong(String),
    /// A file path longer than [`MAX_RELATIVE_PATH`].
    #[error("metric name {0:?} maps to a path longer than {MAX_RELATIVE_PATH} bytes")]
    PathTooLong(String),
    /// An untagged name under `_tagged.`, whose file would be a tagged series' file.
    #[error("metric name {0:?} starts with _tagged., where tagged series' files live")]
    Reserved(String),
}

impl LayoutError {
    /// Every reason's counter name, in a stable order (see [`reason`](Self::reason)).
    pub const REASONS: [&'static str; 5] = [
        "no_element",
        "nul",
        "element_too_long",
        "path_too_long",
        "reserved",
    ];

    /// The index of this error's reason in [`REASONS`](Self::REASONS).
    pub fn reason(&self) -> usize {
        match self {
            LayoutError::NoElement(_) => 0,
            LayoutError::Nul(_) => 1,
            LayoutError::ElementTooLong(_) => 2,
            LayoutError::PathTooLong(_) => 3,
            LayoutError::Reserved(_) => 4,
        }
    }
}

/// The name as it is reported: cut to 200 bytes so one hostile name cannot flood a log.
fn shown(name: &[u8]) -> String {
    const SHOWN: usize = 200;
    let cut = &name[..name.len().min(SHOWN)];
    let s = String::from_utf8_lossy(cut);
    if name.len() > SHOWN {
        format!("{s}… ({} bytes)", name.len())
    } else {
        s.into_owned()
    }
}

/// The series name `name` is stored under; see the module documentation. Borrows `name`
/// when it [`is_plain`] or is tagged.
pub fn canonical_name(name: &[u8]) -> Result<Cow<'_, [u8]>, LayoutError> {
    if is_plain(name) || name.contains(&b';') {
        return Ok(Cow::Borrowed(name));
    }
    let out = rewrite(name)?;
    check(&out)?;
    Ok(out)
}

/// The refusals a canonical untagged name is checked against.
fn check(name: &[u8]) -> Result<(), LayoutError> {
    if name.is_empty() {
        return Err(LayoutError::NoElement(String::new()));
    }
    if name.contains(&0) {
        return Err(LayoutError::Nul(shown(name)));
    }
    if name.len() + 1 + EXTENSION.len() > MAX_RELATIVE_PATH {
        return Err(LayoutError::PathTooLong(shown(name)));
    }
    let mut elements = name.split(|&b| b == b'.').peekable();
    if elements.peek() == Some(&TAGGED_DIR) && name.len() > TAGGED_DIR.len() {
        return Err(LayoutError::Reserved(shown(name)));
    }
    while let Some(e) = elements.next() {
        let room = if elements.peek().is_none() {
            MAX_ELEMENT - 1 - EXTENSION.len()
        } else {
            MAX_ELEMENT
        };
        if e.len() > room {
            return Err(LayoutError::ElementTooLong(shown(name)));
        }
    }
    Ok(())
}

/// `/` made `.`, leading separators removed, every run of separators made one `.`.
fn rewrite(name: &[u8]) -> Result<Cow<'_, [u8]>, LayoutError> {
    if !name.starts_with(b".")
        && !name.starts_with(b"/")
        && !name.contains(&b'/')
        && !name.windows(2).any(|w| w == b"..")
    {
        return Ok(Cow::Borrowed(name));
    }
    let mut out = Vec::with_capacity(name.len());
    let mut separator = false;
    for &b in name {
        if b == b'.' || b == b'/' {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push(b'.');
            }
            separator = false;
            out.push(b);
        }
    }
    if out.is_empty() {
        return Err(LayoutError::NoElement(shown(name)));
    }
    if separator {
        out.push(b'.');
    }
    Ok(Cow::Owned(out))
}

/// True when `name` is its own [`canonical_name`] for a cheap reason, and no refusal can
/// apply: at most 251 bytes (so no element is too long), not starting with `.`, `/` or
/// `_tagged.`, and holding no `/`, no `..` and no NUL (the intake's check per point; only
/// names that fail it go through [`canonical_name`]).
#[inline]
pub fn is_plain(name: &[u8]) -> bool {
    match name.first() {
        Some(b'.' | b'/') | None => false,
        Some(_) => {
            name.len() <= MAX_ELEMENT - 1 - EXTENSION.len()
                && !name.starts_with(b"_tagged.")
                && !has_bad_byte(name)
        }
    }
}

/// Whether `name` holds a NUL, a `/` or two `.` in a row, eight bytes at a time.
///
/// `.` (0x2e) and `/` (0x2f) differ only in their low bit, so in `y = x | 0x01…` both are
/// 0x2f and nothing else is. With `t = y ^ 0x2f2f…`, `seps = (t - 0x01…) & !t & 0x80…`
/// sets the high bit of exactly the bytes of `x` that are `.` or `/`: a stray mark could
/// only fall on a byte of `t` equal to 0x01, which would be 0x2e in `y`, whose low bit is
/// set. A separator is bad when it is a `/` (`x << 7` brings each byte's low bit to its
/// high bit) or follows another separator (`seps << 8`: little-endian, byte `i + 1` is 8
/// bits higher; any pair but `..` holds a `/` anyway); the previous word's last byte is
/// carried into the next word's first. The last partial word is read as the name's last
/// eight bytes, which hold every pair not yet seen. A NUL is found by the same borrow
/// test on `x` itself (`(x - 0x01…) & !x & 0x80…` is non-zero exactly when a byte is 0).
#[inline]
fn has_bad_byte(name: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&name[at..at + 8]);
        u64::from_le_bytes(b)
    };
    // (a NUL or a bad separator in `x`, the mark of its last byte for the next word)
    let bad = |x: u64, carry: u64| {
        let t = (x | ONES) ^ (ONES * 0x2f);
        let seps = t.wrapping_sub(ONES) & !t & HIGHS;
        let nul = x.wrapping_sub(ONES) & !x & HIGHS;
        (
            nul != 0 || seps & ((x << 7) | (seps << 8) | carry) != 0,
            seps >> 56,
        )
    };
    let len = name.len();
    if len < 8 {
        return name.contains(&0) || name.contains(&b'/') || name.windows(2).any(|w| w == b"..");
    }
    let mut carry = 0u64;
    let mut at = 0;
    while at + 8 <= len {
        let (found, next) = bad(word(at), carry);
        if found {
            return true;
        }
        carry = next;
        at += 8;
    }
    at < len && bad(word(len - 8), 0).0
}

/// The path of `metric`'s file relative to the whisper directory.
///
/// Tagged names (containing `;`) use the hashed `_tagged/` layout; the caller passes the
/// normalised form. Untagged names map as their [`canonical_name`] does.
pub fn relative_path(metric: &str) -> Result<PathBuf, LayoutError> {
    if metric.contains(';') {
        // carbon's hashed layout (TAG_HASH_FILENAMES = True), one implementation for
        // the receivers and the writer.
        return Ok(crate::protocol::tagged::storage_path(
            metric.as_bytes(),
            true,
        ));
    }
    let name = canonical_name(metric.as_bytes())?;
    let mut path = Vec::with_capacity(name.len() + EXTENSION.len() + 1);
    path.extend(name.iter().map(|&b| if b == b'.' { b'/' } else { b }));
    path.push(b'.');
    path.extend_from_slice(EXTENSION.as_bytes());
    Ok(PathBuf::from(OsString::from_vec(path)))
}

/// The absolute file of `metric` under `data_dir` (`<data_dir>/whisper/…`).
pub fn metric_path(data_dir: &Path, metric: &str) -> Result<PathBuf, LayoutError> {
    Ok(data_dir.join(WHISPER_DIR).join(relative_path(metric)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Component;

    fn canonical(name: &str) -> String {
        String::from_utf8(canonical_name(name.as_bytes()).unwrap().into_owned()).unwrap()
    }

    #[test]
    fn dots_become_directories() {
        assert_eq!(relative_path("a.b.c").unwrap(), Path::new("a/b/c.wsp"));
        assert_eq!(relative_path("single").unwrap(), Path::new("single.wsp"));
        // a dot in the last element must not be mistaken for an extension
        assert_eq!(
            relative_path("stats.timers.p99.9").unwrap(),
            Path::new("stats/timers/p99/9.wsp")
        );
        assert_eq!(
            metric_path(Path::new("/data"), "carbon.agents.h.cpuUsage").unwrap(),
            Path::new("/data/whisper/carbon/agents/h/cpuUsage.wsp")
        );
        assert_eq!(relative_path("a.b.").unwrap(), Path::new("a/b/.wsp"));
    }

    /// The names of issue 20, and carbon's file for each (`database.py`: dots to `/`,
    /// leading `/` stripped, `.wsp` appended).
    #[test]
    fn leading_and_repeated_separators_map_as_carbon_maps_them() {
        for (name, series, file) in [
            (".bp.k0133.m", "bp.k0133.m", "bp/k0133/m.wsp"),
            ("..bp.k0134.m", "bp.k0134.m", "bp/k0134/m.wsp"),
            ("/bp.k0136.m", "bp.k0136.m", "bp/k0136/m.wsp"),
            ("a..b", "a.b", "a/b.wsp"),
            ("a/b", "a.b", "a/b.wsp"),
            ("a//.b/", "a.b.", "a/b/.wsp"),
            ("a.b..", "a.b.", "a/b/.wsp"),
            ("./a/../../etc", "a.etc", "a/etc.wsp"),
        ] {
            assert_eq!(canonical(name), series, "{name}");
            assert_eq!(relative_path(name).unwrap(), Path::new(file), "{name}");
            assert_eq!(relative_path(series).unwrap(), Path::new(file), "{name}");
        }
    }

    #[test]
    fn canonical_names_are_borrowed_and_tagged_names_untouched() {
        for name in [
            "a.b.c",
            "a",
            "a.b.",
            "x-y_z.~a",
            ".a;k=v",
            "a..b;k=v/w",
            "a.b.c.d.e.f.g.h.i",
        ] {
            assert!(
                matches!(canonical_name(name.as_bytes()), Ok(Cow::Borrowed(n)) if n == name.as_bytes()),
                "{name}"
            );
        }
    }

    #[test]
    fn names_without_an_element_are_refused() {
        for name in ["", ".", "...", "/", "./", "//./"] {
            assert_eq!(
                canonical_name(name.as_bytes()),
                Err(LayoutError::NoElement(name.to_owned()))
            );
            assert!(relative_path(name).is_err(), "{name}");
        }
        assert_eq!(
            relative_path("a.b\0c"),
            Err(LayoutError::Nul("a.b\0c".into()))
        );
        // A tagged name's file is named by its hash.
        assert!(relative_path("a\0;k=v").is_ok());
    }

    /// carbon's `test_database.py` vector for hashed tagged file names.
    #[test]
    fn tagged_series_use_the_sha256_layout() {
        assert_eq!(
            relative_path("stats.example.counts;tag1=value1").unwrap(),
            Path::new(
                "_tagged/872/252/872252dcead671982862f82a3b440f02aa8f525dd6d0f2921de0dc2b3e874ad0.wsp"
            )
        );
    }

    /// Carbon's file for an untagged name, the slow way: `.` to `/`, leading `/` stripped,
    /// `.wsp` appended, then the empty elements the file system ignores dropped. `None`
    /// where that leaves nothing before `.wsp` (carbon's `<data-dir>/.wsp`).
    fn carbon_file(name: &[u8]) -> Option<Vec<Vec<u8>>> {
        let mut path: Vec<u8> = name
            .iter()
            .map(|&b| if b == b'.' { b'/' } else { b })
            .collect();
        let start = path.iter().position(|&b| b != b'/')?;
        path.drain(..start);
        path.extend_from_slice(b".wsp");
        Some(
            path.split(|&b| b == b'/')
                .filter(|e| !e.is_empty())
                .map(<[u8]>::to_vec)
                .collect(),
        )
    }

    /// Names no file can hold are refused with their reason, whichever way they arrive
    /// (plain or needing a rewrite), and the longest names that fit are kept.
    #[test]
    fn names_no_file_can_hold_are_refused() {
        let reason = |n: &[u8]| {
            canonical_name(n)
                .map(|_| ())
                .map_err(|e| LayoutError::REASONS[e.reason()])
        };
        let long = |n: usize| "x".repeat(n);
        assert_eq!(reason(long(251).as_bytes()), Ok(()));
        assert_eq!(reason(long(252).as_bytes()), Err("element_too_long"));
        assert_eq!(reason(format!("{}.a", long(255)).as_bytes()), Ok(()));
        assert_eq!(
            reason(format!("{}.a", long(256)).as_bytes()),
            Err("element_too_long")
        );
        assert_eq!(
            reason(format!(".{}", long(252)).as_bytes()),
            Err("element_too_long")
        );
        let deep = vec![long(200); 20].join(".");
        assert_eq!(reason(deep.as_bytes()), Err("path_too_long"));
        assert_eq!(reason(b"a.b\0c"), Err("nul"));
        assert_eq!(reason(b"\0"), Err("nul"));
        assert_eq!(reason(b"_tagged.872.252.abc"), Err("reserved"));
        assert_eq!(reason(b"._tagged.x"), Err("reserved"));
        assert_eq!(reason(b"_tagged"), Ok(()));
        assert_eq!(reason(b"_tagged_not.x"), Ok(()));
        assert_eq!(
            reason(b"a.b;k=v\0"),
            Ok(()),
            "tagged names are stored by their hash"
        );
        assert!(LayoutError::REASONS.len() == 5);
    }

    proptest! {
        /// The word-at-a-time scan agrees with a byte-by-byte one, across word boundaries.
        #[test]
        fn scan_is_bytewise(name in proptest::collection::vec(
            proptest::sample::select(vec![b'.', b'/', b'a', 0, 1, 0x2e ^ 0x80, 0xae, 0xaf, 0x2d, 0xff]), 0..40)) {
            let want = name.contains(&0) || name.contains(&b'/') || name.windows(2).any(|w| w == b"..");
            prop_assert_eq!(has_bad_byte(&name), want);
        }

        /// Every untagged name maps to carbon's file for it (or is refused exactly when
        /// carbon's file would be `<data-dir>/.wsp`); the canonical name is canonical
        /// (maps to itself, borrowed) and maps to the same file; no element is `.` or `..`.
        #[test]
        fn untagged_names_map_to_carbons_file(name in proptest::collection::vec(
            proptest::sample::select(vec![b'.', b'/', b'a', b'~', 0xc3, 0xa9]), 0..24)) {
            let want = carbon_file(&name);
            let Ok(series) = canonical_name(&name) else {
                prop_assert!(want.is_none(), "refused {:?}, carbon stores {:?}", name, want);
                return Ok(());
            };
            prop_assert!(matches!(canonical_name(&series), Ok(Cow::Borrowed(_))));
            let text = String::from_utf8_lossy(&series).into_owned();
            let got = relative_path(&text).unwrap();
            let elements: Vec<Vec<u8>> = got.components().map(|c| match c {
                Component::Normal(e) => e.as_encoded_bytes().to_vec(),
                other => panic!("{other:?} in {}", got.display()),
            }).collect();
            if std::str::from_utf8(&name).is_ok() {
                prop_assert_eq!(Some(elements), want);
            }
        }
    }
}
