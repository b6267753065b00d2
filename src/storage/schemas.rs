//! `storage-schemas.conf`: which archives a new metric's whisper file gets (carbon 1.1).
//!
//! Rules (carbon's `loadStorageSchemas`): sections are visited in file order and the
//! first whose `pattern` regex is found *anywhere* in the metric name wins (an unanchored
//! search; use `^…$` to anchor). `retentions` is a comma-separated list in carbon's
//! dialect ([`crate::storage::whisper::parse_carbon_retention`]). A metric no section
//! matches gets the built-in [`DEFAULT_ARCHIVES`], 60 s × 7 days, under the name `default`.
//!
//! What carbon skips with a log line comes back as a [`ConfigWarning`]: a section without
//! `retentions`, without `pattern` (or with an empty one), or whose archive list fails
//! whisper's validation. What stops carbon comes back as a [`ConfigError`]: INI syntax,
//! an unparsable retention, an invalid regex. Every message names the section and line.
//! Patterns use Rust's `regex` syntax: Python-only features (look-around,
//! back-references) are errors here.

use regex::Regex;

use super::ini::{self, IniError};
use super::whisper::{parse_retentions, validate_archive_list};

/// The archives carbon gives a metric no section matches: 60 s per point for 7 days.
pub const DEFAULT_ARCHIVES: [(u32, u32); 1] = [(60, 60 * 24 * 7)];

/// A section carbon would skip, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Section name as written between brackets.
    pub section: String,
    /// Line of the section header (1-based).
    pub line: usize,
    /// Why it is skipped.
    pub message: String,
}

impl ConfigWarning {
    pub(crate) fn about(section: &ini::Section, message: String) -> Self {
        Self {
            section: section.name.clone(),
            line: section.line,
            message,
        }
    }
}

/// The items of a section carbon visits; `None`, with the warning recorded, for a section
/// it never visits (text after the closing `]` of its header).
pub(crate) fn visit(
    file: &ini::Ini,
    section: &ini::Section,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Option<Vec<ini::Entry>>, IniError> {
    if !section.listed {
        warnings.push(ConfigWarning::about(
            section,
            "header has text after ']', carbon never visits it".to_owned(),
        ));
        return Ok(None);
    }
    file.items(section).map(Some)
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "section [{}] (line {}) skipped: {}",
            self.section, self.line, self.message
        )
    }
}

/// A problem that makes the whole file unusable (carbon refuses to start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The INI text itself is malformed.
    #[error("line {line}{}: {message}", section.as_ref().map(|s| format!(" in section [{s}]")).unwrap_or_default())]
    Syntax {
        /// 1-based line.
        line: usize,
        /// Section being read, if any.
        section: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A value that carbon cannot accept.
    #[error("line {line} in section [{section}]: {message}")]
    Value {
        /// 1-based line of the option.
        line: usize,
        /// Section name.
        section: String,
        /// What is wrong.
        message: String,
    },
}

impl From<IniError> for ConfigError {
    fn from(e: IniError) -> Self {
        Self::Syntax {
            line: e.line,
            section: e.section,
            message: e.message,
        }
    }
}

/// One usable section.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Section name.
    pub name: String,
    /// Line of the section header.
    pub line: usize,
    /// The regex text.
    pub pattern: String,
    regex: Regex,
    /// (seconds per point, points) in the order written (whisper sorts them at create).
    pub archives: Vec<(u32, u32)>,
}

impl Schema {
    /// Whether the pattern is found in `metric`.
    pub fn matches(&self, metric: &str) -> bool {
        self.regex.is_match(metric)
    }
}

/// The parsed file: usable sections in order.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    /// Sections carbon would use, in file order.
    pub rules: Vec<Schema>,
}

/// Compiles a section's pattern, reporting the section and line.
pub(super) fn compile(pattern: &str, section: &str, line: usize) -> Result<Regex, ConfigError> {
    Regex::new(pattern).map_err(|e| ConfigError::Value {
        line,
        section: section.to_owned(),
        message: format!("invalid pattern {pattern:?}: {e}"),
    })
}

impl Schemas {
    /// Parses the file text; returns the rules and the sections carbon would skip.
    pub fn parse(text: &str) -> Result<(Self, Vec<ConfigWarning>), ConfigError> {
        let file = ini::parse(text)?;
        let mut rules = Vec::new();
        let mut warnings = Vec::new();
        for section in &file.sections {
            let Some(items) = visit(&file, section, &mut warnings)? else {
                continue;
            };
            let warn = |message: String| ConfigWarning::about(section, message);
            let get = |k: &str| items.iter().find(|e| e.key == k);
            let Some(retentions) = get("retentions") else {
                warnings.push(warn("missing 'retentions'".to_owned()));
                continue;
            };
            let archives = parse_retentions(&retentions.value).map_err(|e| ConfigError::Value {
                line: retentions.line,
                section: section.name.clone(),
                message: e.to_string(),
            })?;
            let Some(pattern) = get("pattern").filter(|p| !p.value.is_empty()) else {
                warnings.push(warn("missing 'pattern'".to_owned()));
                continue;
            };
            let regex = compile(&pattern.value, &section.name, pattern.line)?;
            let mut sorted = archives.clone();
            if let Err(e) = validate_archive_list(&mut sorted) {
                warnings.push(warn(format!("invalid archives: {e}")));
                continue;
            }
            rules.push(Schema {
                name: section.name.clone(),
                line: section.line,
                pattern: pattern.value.clone(),
                regex,
                archives,
            });
        }
        Ok((Self { rules }, warnings))
    }

    /// The first rule matching `metric`, or `None` (then use [`DEFAULT_ARCHIVES`]).
    pub fn find(&self, metric: &str) -> Option<&Schema> {
        self.rules.iter().find(|r| r.matches(metric))
    }

    /// (rule name, archives) for `metric`, with carbon's built-in fallback.
    pub fn archives_for(&self, metric: &str) -> (&str, &[(u32, u32)]) {
        match self.find(metric) {
            Some(r) => (&r.name, &r.archives),
            None => ("default", &DEFAULT_ARCHIVES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "[carbon]\npattern = ^carbon\\.\nretentions = 60:90d\n\n[default]\npattern = .*\nretentions = 60s:1d,5m:30d,1h:3y\n";

    #[test]
    fn carbon_example_first_match_wins() {
        let (s, w) = Schemas::parse(EXAMPLE).unwrap();
        assert!(w.is_empty());
        assert_eq!(
            s.archives_for("carbon.agents.x"),
            ("carbon", &[(60, 129_600)][..])
        );
        assert_eq!(s.archives_for("web.carbon.x").0, "default");
        assert_eq!(
            s.archives_for("a.b").1,
            &[(60, 1440), (300, 8640), (3600, 26_280)]
        );
    }

    #[test]
    fn search_is_unanchored_and_fallback_is_a_week_of_minutes() {
        let (s, _) = Schemas::parse("[x]\npattern = foo\nretentions = 10s:1h\n").unwrap();
        assert_eq!(s.archives_for("a.foo.b").0, "x");
        assert_eq!(s.archives_for("bar"), ("default", &[(60, 10_080)][..]));
    }

    #[test]
    fn skipped_sections_warn_and_bad_values_fail() {
        let text = "[nopattern]\nretentions = 60:10\n[noret]\npattern = a\n[bad]\npattern = a\nretentions = 60:10,90:100\n";
        let (s, w) = Schemas::parse(text).unwrap();
        assert!(s.rules.is_empty());
        assert_eq!(
            w.iter()
                .map(|w| (w.section.as_str(), w.line))
                .collect::<Vec<_>>(),
            [("nopattern", 1), ("noret", 3), ("bad", 5)]
        );
        let e = Schemas::parse("[a]\npattern = x\nretentions = 60:1min\n").unwrap_err();
        assert_eq!(
            e,
            ConfigError::Value {
                line: 3,
                section: "a".into(),
                message: "Invalid unit 'min'".into()
            }
        );
        let e = Schemas::parse("[a]\npattern = (\nretentions = 60:10\n").unwrap_err();
        assert!(matches!(e, ConfigError::Value { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("section [a]"));
    }
}
