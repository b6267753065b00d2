//! `storage-aggregation.conf`: the xFilesFactor and aggregation method a new whisper
//! file gets (carbon 1.1 `loadAggregationSchemas`).
//!
//! Rules: sections in file order, first unanchored `pattern` match wins; `xFilesFactor`
//! and `aggregationMethod` are both optional (keys are case-insensitive) and a missing one
//! takes whisper's default (0.5, `average`), as does a metric no section matches.
//! Carbon skips (→ [`ConfigWarning`]) a section whose xFilesFactor is not a number or that
//! has no pattern; it refuses the file (→ [`ConfigError`]) for an xFilesFactor outside
//! `[0, 1]` or a method that is not one of whisper's eight names.

use regex::Regex;

use super::ini;
use super::schemas::{compile, visit};
pub use super::schemas::{ConfigError, ConfigWarning};
use super::whisper::{AggregationMethod, DEFAULT_X_FILES_FACTOR};

/// One usable section.
#[derive(Debug, Clone)]
pub struct AggregationRule {
    /// Section name.
    pub name: String,
    /// Line of the section header.
    pub line: usize,
    /// The regex text.
    pub pattern: String,
    regex: Regex,
    /// `xFilesFactor`, if the section sets it.
    pub x_files_factor: Option<f64>,
    /// `aggregationMethod`, if the section sets it.
    pub method: Option<AggregationMethod>,
}

impl AggregationRule {
    /// Whether the pattern is found in `metric`.
    pub fn matches(&self, metric: &str) -> bool {
        self.regex.is_match(metric)
    }
}

/// The parsed file: usable sections in order.
#[derive(Debug, Clone, Default)]
pub struct AggregationRules {
    /// Sections carbon would use, in file order.
    pub rules: Vec<AggregationRule>,
}

impl AggregationRules {
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
            let value_error = |line: usize, message: String| ConfigError::Value {
                line,
                section: section.name.clone(),
                message,
            };
            let x_files_factor = match get("xfilesfactor") {
                None => None,
                Some(e) => match crate::py::parse::float(e.value.as_bytes()) {
                    None => {
                        warnings.push(warn(format!("xFilesFactor {:?} is not a number", e.value)));
                        continue;
                    }
                    Some(x) if !(0.0..=1.0).contains(&x) => {
                        return Err(value_error(
                            e.line,
                            format!("xFilesFactor {} is outside [0, 1]", e.value),
                        ));
                    }
                    Some(x) => Some(x),
                },
            };
            let method = match get("aggregationmethod") {
                None => None,
                Some(e) => Some(AggregationMethod::from_name(&e.value).ok_or_else(|| {
                    let names: Vec<&str> =
                        AggregationMethod::ALL.iter().map(|m| m.name()).collect();
                    value_error(
                        e.line,
                        format!(
                            "aggregationMethod {:?} is not one of {}",
                            e.value,
                            names.join(", ")
                        ),
                    )
                })?),
            };
            let Some(pattern) = get("pattern").filter(|p| !p.value.is_empty()) else {
                warnings.push(warn("missing 'pattern'".to_owned()));
                continue;
            };
            let regex = compile(&pattern.value, &section.name, pattern.line)?;
            rules.push(AggregationRule {
                name: section.name.clone(),
                line: section.line,
                pattern: pattern.value.clone(),
                regex,
                x_files_factor,
                method,
            });
        }
        Ok((Self { rules }, warnings))
    }

    /// The first rule matching `metric`, if any.
    pub fn find(&self, metric: &str) -> Option<&AggregationRule> {
        self.rules.iter().find(|r| r.matches(metric))
    }

    /// (xFilesFactor, method) for `metric`, whisper's defaults filling what is unset.
    pub fn resolve(&self, metric: &str) -> (f64, AggregationMethod) {
        let rule = self.find(metric);
        (
            rule.and_then(|r| r.x_files_factor)
                .unwrap_or(DEFAULT_X_FILES_FACTOR),
            rule.and_then(|r| r.method)
                .unwrap_or(AggregationMethod::Average),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "[min]\npattern = \\.min$\nxFilesFactor = 0.1\naggregationMethod = min\n\n[max]\npattern = \\.max$\nxFilesFactor = 0.1\naggregationMethod = max\n\n[sum]\npattern = \\.count$\nxFilesFactor = 0\n# for monotonically increasing counters\naggregationMethod = max\n\n[default_average]\npattern = .*\nxFilesFactor = 0.5\naggregationMethod = average\n";

    #[test]
    fn carbon_example() {
        let (r, w) = AggregationRules::parse(EXAMPLE).unwrap();
        assert!(w.is_empty());
        assert_eq!(r.resolve("a.b.min"), (0.1, AggregationMethod::Min));
        assert_eq!(r.resolve("a.count"), (0.0, AggregationMethod::Max));
        assert_eq!(r.resolve("a.min.x"), (0.5, AggregationMethod::Average));
    }

    #[test]
    fn defaults_and_partial_sections() {
        let (r, _) =
            AggregationRules::parse("[s]\npattern = ^stats\\.\naggregationmethod = sum\n").unwrap();
        assert_eq!(r.resolve("stats.x"), (0.5, AggregationMethod::Sum));
        assert_eq!(r.resolve("other"), (0.5, AggregationMethod::Average));
    }

    #[test]
    fn skips_and_errors() {
        let (r, w) = AggregationRules::parse(
            "[a]\npattern = x\nxFilesFactor = half\n[b]\nxFilesFactor = 0.2\n",
        )
        .unwrap();
        assert!(r.rules.is_empty());
        assert_eq!(w.len(), 2);
        let e = AggregationRules::parse("[a]\npattern = x\nxFilesFactor = 1.5\n").unwrap_err();
        assert!(matches!(e, ConfigError::Value { line: 3, .. }), "{e}");
        let e =
            AggregationRules::parse("[a]\npattern = x\naggregationMethod = median\n").unwrap_err();
        assert!(e.to_string().contains("section [a]"), "{e}");
    }
}
