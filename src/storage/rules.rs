//! The storage rules a new series' whisper file is created with: `storage-schemas.conf`
//! (archives) and `storage-aggregation.conf` (xFilesFactor, method), read from the config
//! directory, with built-in defaults for a file that is absent.
//!
//! Contract: [`StorageRules::load`] reads both files from a directory; a missing file
//! means the embedded default ([`DEFAULT_SCHEMAS`], [`DEFAULT_AGGREGATION`]); an
//! unreadable or invalid file is a [`RulesError`] naming the file, the section and the
//! line. Sections carbon would skip come back as warnings, with their file. Matching is
//! carbon's: first unanchored regex match in file order; no schema match → 60 s × 7 days;
//! no aggregation match → 0.5 / average. Reloading on change is the caller's job: load
//! again and keep the old rules if the new ones fail (what carbon does every 60 s).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::aggregation::AggregationRules;
use super::schemas::{ConfigError, ConfigWarning, Schemas};
use super::whisper::AggregationMethod;

/// File name of the schema rules in the config directory.
pub const SCHEMAS_FILE: &str = "storage-schemas.conf";
/// File name of the aggregation rules in the config directory.
pub const AGGREGATION_FILE: &str = "storage-aggregation.conf";
/// The built-in `storage-schemas.conf`.
pub const DEFAULT_SCHEMAS: &str = include_str!("defaults/storage-schemas.conf");
/// The built-in `storage-aggregation.conf`.
pub const DEFAULT_AGGREGATION: &str = include_str!("defaults/storage-aggregation.conf");

/// Why the rules could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file exists but cannot be read.
    #[error("{}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid (section and line in the message).
    #[error("{}: {source}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong, with section and line.
        source: ConfigError,
    },
}

/// What a new file for one metric gets.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFile {
    /// Name of the matching `storage-schemas.conf` section (`default` for the fallback).
    pub schema: String,
    /// (seconds per point, points) as configured.
    pub archives: Vec<(u32, u32)>,
    /// xFilesFactor.
    pub x_files_factor: f64,
    /// Aggregation method.
    pub method: AggregationMethod,
}

/// Both rule files, parsed.
#[derive(Debug, Clone)]
pub struct StorageRules {
    /// `storage-schemas.conf`.
    pub schemas: Schemas,
    /// `storage-aggregation.conf`.
    pub aggregation: AggregationRules,
    /// Sections carbon would skip, with the file they are in.
    pub warnings: Vec<(PathBuf, ConfigWarning)>,
}

fn read_or_default(dir: &Path, name: &str, default: &str) -> Result<(PathBuf, String), RulesError> {
    let file = dir.join(name);
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok((file, text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
            PathBuf::from(format!("<built-in {name}>")),
            default.to_owned(),
        )),
        Err(source) => Err(RulesError::Read { file, source }),
    }
}

impl StorageRules {
    /// Reads both files from `config_dir`, using the built-in text for a missing one.
    pub fn load(config_dir: &Path) -> Result<Self, RulesError> {
        let (schemas_file, schemas) = read_or_default(config_dir, SCHEMAS_FILE, DEFAULT_SCHEMAS)?;
        let (aggregation_file, aggregation) =
            read_or_default(config_dir, AGGREGATION_FILE, DEFAULT_AGGREGATION)?;
        Self::parse(&schemas_file, &schemas, &aggregation_file, &aggregation)
    }

    /// The built-in rules.
    pub fn defaults() -> Result<Self, RulesError> {
        Self::parse(
            Path::new("<built-in storage-schemas.conf>"),
            DEFAULT_SCHEMAS,
            Path::new("<built-in storage-aggregation.conf>"),
            DEFAULT_AGGREGATION,
        )
    }

    /// Parses the two texts; the paths only label errors and warnings.
    pub fn parse(
        schemas_file: &Path,
        schemas: &str,
        aggregation_file: &Path,
        aggregation: &str,
    ) -> Result<Self, RulesError> {
        let (schemas, w1) = Schemas::parse(schemas).map_err(|source| RulesError::Invalid {
            file: schemas_file.to_owned(),
            source,
        })?;
        let (aggregation, w2) =
            AggregationRules::parse(aggregation).map_err(|source| RulesError::Invalid {
                file: aggregation_file.to_owned(),
                source,
            })?;
        let warnings = w1
            .into_iter()
            .map(|w| (schemas_file.to_owned(), w))
            .chain(w2.into_iter().map(|w| (aggregation_file.to_owned(), w)))
            .collect();
        Ok(Self {
            schemas,
            aggregation,
            warnings,
        })
    }

    /// What a new file for `metric` is created with.
    pub fn for_metric(&self, metric: &str) -> NewFile {
        let (schema, archives) = self.schemas.archives_for(metric);
        let (x_files_factor, method) = self.aggregation.resolve(metric);
        NewFile {
            schema: schema.to_owned(),
            archives: archives.to_vec(),
            x_files_factor,
            method,
        }
    }
}

/// Where the storage rules come from, for reloading them while running (carbon re-reads
/// its schema files every minute).
pub struct RulesSource {
    pub dir: PathBuf,
    stamp: Option<(Option<SystemTime>, Option<SystemTime>)>,
    checked: Instant,
    /// The reload requests (SIGHUP) already acted on.
    reloads: u64,
}

impl RulesSource {
    pub fn new(dir: PathBuf) -> Self {
        let mut s = Self {
            dir,
            stamp: None,
            checked: Instant::now(),
            reloads: 0,
        };
        s.stamp = Some(s.mtimes());
        s
    }

    fn mtimes(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let m = |f: &str| {
            std::fs::metadata(self.dir.join(f))
                .and_then(|m| m.modified())
                .ok()
        };
        (m(SCHEMAS_FILE), m(AGGREGATION_FILE))
    }

    /// New rules when a file changed since the last look (at most once per `every`), or
    /// at once when `reloads` (the reload requests so far) grew; a file that no longer
    /// parses is reported and the current rules stay.
    pub fn poll(&mut self, every: Duration, reloads: u64) -> Option<StorageRules> {
        let asked = reloads != self.reloads;
        if !asked && self.checked.elapsed() < every {
            return None;
        }
        self.reloads = reloads;
        self.checked = Instant::now();
        let now = self.mtimes();
        if !asked && self.stamp == Some(now) {
            return None;
        }
        self.stamp = Some(now);
        match StorageRules::load(&self.dir) {
            Ok(rules) => {
                tracing::info!(dir = %self.dir.display(), "storage rules reloaded; they apply to files created from now on");
                Some(rules)
            }
            Err(e) => {
                tracing::error!(error = %e, "storage rules not reloaded; keeping the previous ones");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_rules_parse_cleanly_and_match_statsd_names() {
        let r = StorageRules::defaults().unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let f = r.for_metric("stats.timers.api.upper_90");
        assert_eq!(
            (f.schema.as_str(), f.method),
            ("stats", AggregationMethod::Max)
        );
        assert_eq!(f.archives, [(10, 2160), (60, 10_080), (600, 262_800)]);
        assert_eq!(
            r.for_metric("stats.counters.hits.count").method,
            AggregationMethod::Sum
        );
        assert_eq!(
            r.for_metric("stats_counts.hits").method,
            AggregationMethod::Sum
        );
        assert_eq!(
            r.for_metric("stats.gauges.temp").method,
            AggregationMethod::Last
        );
        assert_eq!(
            r.for_metric("stats.timers.api.lower").method,
            AggregationMethod::Min
        );
        let c = r.for_metric("carbon.agents.h.cpuUsage");
        assert_eq!(
            (c.schema.as_str(), c.archives.as_slice(), c.x_files_factor),
            ("carbon", &[(60, 129_600)][..], 0.5)
        );
        assert_eq!(
            r.for_metric("servers.web1.load").archives,
            [(60, 1440), (300, 8640), (3600, 26_280)]
        );
    }

    #[test]
    fn directory_files_override_and_errors_name_file_section_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(SCHEMAS_FILE),
            "[all]\npattern = .\nretentions = 1s:1h\n",
        )
        .unwrap();
        let r = StorageRules::load(dir.path()).unwrap();
        assert_eq!(r.for_metric("x").archives, [(1, 3600)]);
        // aggregation file absent: built-in
        assert_eq!(r.for_metric("a.count").method, AggregationMethod::Sum);
        std::fs::write(
            dir.path().join(AGGREGATION_FILE),
            "[a]\npattern = x\n\n[b]\npattern = y\naggregationMethod = median\n",
        )
        .unwrap();
        let e = StorageRules::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("storage-aggregation.conf")
                && e.contains("section [b]")
                && e.contains("line 6"),
            "{e}"
        );
        // a directory where a file should be is a read error, not a silent default
        std::fs::remove_file(dir.path().join(SCHEMAS_FILE)).unwrap();
        std::fs::create_dir(dir.path().join(SCHEMAS_FILE)).unwrap();
        assert!(matches!(
            StorageRules::load(dir.path()),
            Err(RulesError::Read { .. })
        ));
    }
}
