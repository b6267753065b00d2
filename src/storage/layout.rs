//! Where a series' whisper file lives, laid out as carbon lays it out.
//!
//! Contract: untagged `a.b.c` → `<data-dir>/whisper/a/b/c.wsp` (each dot a directory
//! level, names kept byte for byte, so an existing carbon tree can be copied in or pointed
//! at). A tagged series, given already normalised (`name;k=v` with tags sorted), goes to
//! `whisper/_tagged/<h[0..3]>/<h[3..6]>/<h>.wsp` where `h` is the hex sha256 of the
//! normalised name (carbon's `TAG_HASH_FILENAMES = True` default).
//!
//! Like carbon, names are not validated here: `a..b` gives an empty path element (which
//! the file system collapses). Every dot becomes a separator, so no `..` element can
//! arise; a name starting with `/` is refused because it would leave the data directory.

use std::path::{Component, Path, PathBuf};

/// The directory under the data directory that holds the whisper tree.
pub const WHISPER_DIR: &str = "whisper";

/// File extension of whisper files.
pub const EXTENSION: &str = "wsp";

/// Why a metric name cannot be mapped to a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Empty name.
    #[error("empty metric name")]
    Empty,
    /// A name whose path would leave the whisper directory (a `..` or `/` element).
    #[error("metric name {0:?} does not map to a path inside the whisper directory")]
    Escapes(String),
}

/// The path of `metric`'s file relative to the whisper directory.
///
/// Tagged names (containing `;`) use the hashed `_tagged/` layout; the caller passes the
/// normalised form.
pub fn relative_path(metric: &str) -> Result<PathBuf, LayoutError> {
    if metric.is_empty() {
        return Err(LayoutError::Empty);
    }
    if metric.contains(';') {
        // carbon's hashed layout (TAG_HASH_FILENAMES = True), one implementation for
        // the receivers and the writer.
        return Ok(crate::protocol::tagged::storage_path(
            metric.as_bytes(),
            true,
        ));
    }
    let rel = PathBuf::from(format!("{}.{EXTENSION}", metric.replace('.', "/")));
    let escapes = rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(LayoutError::Escapes(metric.to_owned()));
    }
    Ok(rel)
}

/// The absolute file of `metric` under `data_dir` (`<data_dir>/whisper/…`).
pub fn metric_path(data_dir: &Path, metric: &str) -> Result<PathBuf, LayoutError> {
    Ok(data_dir.join(WHISPER_DIR).join(relative_path(metric)?))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn refuses_escapes_and_empty() {
        assert_eq!(relative_path(""), Err(LayoutError::Empty));
        // every dot becomes a separator, so `..` cannot appear; a leading `/` could
        assert_eq!(
            relative_path("a/../../etc").unwrap(),
            Path::new("a/////etc.wsp")
        );
        assert!(matches!(
            relative_path("/abs.x"),
            Err(LayoutError::Escapes(_))
        ));
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
}
