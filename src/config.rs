//! Configuration: serde structs with named defaults, the default file embedded in the binary.
//!
//! A user file (TOML) is merged over the embedded `config/default.toml`, so every key
//! is optional. Unknown keys are rejected with the key's name. Command-line flags
//! override the merged file (see `cli.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The embedded default configuration.
pub const DEFAULT_TOML: &str = include_str!("config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config setting `{setting}`: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

/// The whole server configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where whisper files, the events database and state live.
    pub data_dir: PathBuf,
    /// Number of shards; 0 = one per available core.
    pub shards: usize,
    /// Bytes each shard locks for io_uring (glommio `io_memory`).
    pub shard_io_memory: usize,
    /// What is logged: a level or tracing directives (`RUST_LOG` wins when set).
    pub log_level: String,
    pub statsd: StatsdConfig,
    pub admin: AdminConfig,
    pub forward: ForwardConfig,
    pub storage: StorageConfig,
    pub carbon: CarbonConfig,
    pub http: HttpConfig,
    pub cluster: ClusterConfig,
    /// Directory of the file given with `--config` (not a setting).
    #[serde(skip)]
    pub config_dir: Option<PathBuf>,
    /// The file given with `--config`, read again on SIGHUP (not a setting).
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

/// Carbon receivers (points go to whisper storage, and to `--forward` when set).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonConfig {
    /// Plaintext receiver address, TCP (and UDP when `udp`); empty = off.
    pub addr: String,
    /// Also accept plaintext over UDP on `addr`.
    pub udp: bool,
    /// Pickle receiver address (TCP); empty = off.
    pub pickle_addr: String,
    /// Hostname used in the `carbon.agents.<host>.*` self-metrics; empty = the system's.
    pub hostname: String,
    /// Interval of the `carbon.agents.*` self-metrics.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub metric_interval: Duration,
    /// Largest pickle message in bytes; a longer one closes the connection.
    pub pickle_max_message: usize,
    /// Most bytes of names and points one pickle message may decode to, as a multiple of
    /// its size; over it the message is refused and the connection closed.
    pub pickle_max_expansion: usize,
}

/// A federation frontend (graphite-web's `CLUSTER_SERVERS`): finds, renders, index.json
/// and tag autocompletion also ask these members (docs/cluster.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Members, `[http://]HOST:PORT[/PREFIX][?format=msgpack|pickle&local=1&noTags=1]`; empty =
    /// this node answers from its own data only.
    pub servers: Vec<String>,
    /// Time limit of a member's find, index or autocompletion answer (`FIND_TIMEOUT`).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub find_timeout: Duration,
    /// Time limit of one attempt at a member's render answer (`FETCH_TIMEOUT`).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub fetch_timeout: Duration,
    /// Attempts at a member's render answer (`MAX_FETCH_RETRIES`), at least 1.
    pub fetch_attempts: u32,
    /// How long a member that failed is left out (`REMOTE_RETRY_DELAY`).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub retry_delay: Duration,
}

/// The Graphite HTTP API (render, metrics, events, tags) on the query thread.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address (TCP); empty = off.
    pub addr: String,
    /// Most series one request may fetch or make, across all its targets (0 = no limit).
    pub max_series: usize,
    /// Most values one request may fetch or make, across all its targets (0 = no limit).
    pub max_points: usize,
    /// Most bytes one response may hold (0 = no limit).
    pub max_response_bytes: usize,
    /// Most glob candidates one request may try: brace variants and index nodes tested
    /// (0 = no limit).
    pub max_glob_candidates: usize,
    /// Requests evaluated at once on the query workers (0 = half the cores, at least 2).
    pub max_concurrent_queries: usize,
    /// Requests waiting for a worker; past it a request is refused with 503.
    pub max_queued_queries: usize,
    /// Time limit of one request, from its arrival (waiting for a worker included).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Secret every HTTP write (events, tags, dashboards) must carry, as
    /// `Authorization: Bearer <token>` or `X-Lonsdaleite-Token: <token>`; empty = none
    /// asked. Written out (admin `config`) as `"(hidden)"` when set.
    #[serde(serialize_with = "ser_secret")]
    pub write_token: String,
}

/// `storage.preallocate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preallocation {
    Fallocate,
    Zeros,
    Sparse,
}

/// `storage.journal`: what the write-ahead journal of the write-back cache survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalLevel {
    /// No journal: a crash loses the points in the cache.
    Off,
    /// Written, not synced: survives the process's death (SIGKILL, OOM), not a power loss.
    Process,
    /// Also synced every `journal_sync_interval`: a power loss loses at most that long.
    Power,
}

/// Whisper storage of flushed points.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Write flushed points into whisper files under `<data_dir>/whisper`.
    pub enabled: bool,
    /// Directory holding `storage-schemas.conf` and `storage-aggregation.conf`;
    /// empty = the directory of `--config`, or the built-in rules without one.
    pub conf_dir: String,
    /// Memory budget of each shard's write-back cache, in bytes.
    pub cache_bytes: usize,
    /// Series written per round of the writer (largest backlog first).
    pub write_batch: usize,
    /// Whisper files each shard keeps open between writes (0 = a quarter of the open-file
    /// limit shared by the shards, at most 8192).
    pub open_files: usize,
    /// Bytes of file pages (headers, base points) each shard keeps for its open files.
    pub page_cache_bytes: usize,
    /// How a new file reserves its data region: `fallocate` (carbon's default on Linux),
    /// `zeros` (whisper's default: write them) or `sparse` (a hole).
    pub preallocate: Preallocation,
    /// Sync a new file to disk before it takes its name (a power loss leaves the complete
    /// file or none).
    pub sync_creates: bool,
    /// New whisper files per minute and shard (0 = no limit); points of series whose
    /// file must wait stay in the cache.
    pub max_creates_per_minute: u32,
    /// How often the rule files are checked for changes (they are reloaded when changed).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub rules_check_interval: Duration,
    /// On shutdown, how long to keep retrying writes that fail before giving up.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub drain_timeout: Duration,
    /// The write-ahead journal of the cache: `off`, `process` or `power` (docs/storage.md).
    pub journal: JournalLevel,
    /// With `journal = "power"`: how often the journal is synced to disk.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub journal_sync_interval: Duration,
    /// A journal segment is closed and a new one begun past this many bytes.
    pub journal_segment_bytes: usize,
    /// Disk budget of each shard's journal (0 = none): carbon TCP readers pause at 90 %,
    /// points beyond it are refused and counted (`journal.overflow`).
    pub journal_max_bytes: usize,
}

/// StatsD listeners and etsy aggregation semantics.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatsdConfig {
    /// UDP (and TCP, when `tcp`) listen address.
    pub addr: SocketAddr,
    /// Accept newline-framed StatsD over TCP on `addr`.
    pub tcp: bool,
    /// Unix datagram socket path ("" = off).
    pub unix_socket: String,
    /// Flush interval, aligned to wall-clock multiples.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub flush_interval: Duration,
    /// Timer percentiles; negative = top.
    pub percent_threshold: Vec<f64>,
    /// etsy's legacy namespace (`stats.*`, `stats_counts.*`).
    pub legacy_namespace: bool,
    /// Non-legacy: first path element of every stat.
    pub global_prefix: String,
    /// Non-legacy: counter prefix.
    pub prefix_counter: String,
    /// Non-legacy: timer prefix.
    pub prefix_timer: String,
    /// Non-legacy: gauge prefix.
    pub prefix_gauge: String,
    /// Non-legacy: set prefix.
    pub prefix_set: String,
    /// Replaces the `statsd` element of the self-metrics.
    pub prefix_stats: String,
    /// Appended to every name (before tags), as `.suffix`.
    pub global_suffix: String,
    /// Emit the raw count of counters next to the rate.
    pub flush_counts: bool,
    /// Delete every idle metric instead of emitting zeros.
    pub delete_idle_stats: bool,
    pub delete_counters: bool,
    pub delete_timers: bool,
    pub delete_gauges: bool,
    pub delete_sets: bool,
    /// Idle flushes before a gauge is deleted (with `delete_gauges`).
    pub gauges_max_ttl: u32,
    /// etsy's key sanitising.
    pub key_name_sanitize: bool,
    /// Sort DogStatsD tags so tag order never splits a series.
    pub sort_tags: bool,
    /// Exact timer statistics up to this many samples per series and interval.
    pub timer_max_samples: usize,
    /// Cap on distinct series held by the aggregator.
    pub max_series: usize,
    /// Longest accepted TCP line, in bytes.
    pub max_line_length: usize,
    /// Receive buffer per datagram, in bytes.
    pub max_datagram: usize,
    /// Kernel receive queue asked for each UDP socket (StatsD and carbon), in bytes.
    pub recv_buffer: usize,
    /// Which derived timer stats to emit; empty = all.
    pub calculated_timer_metrics: Vec<String>,
    /// Histogram bin rules for timers.
    pub histogram: Vec<HistogramRule>,
    /// Glob of keys whose incoming lines are printed to stderr ("" = off).
    pub debug: String,
}

/// One etsy histogram rule: the first rule whose `metric` is a substring of the key wins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramRule {
    pub metric: String,
    /// Ascending, non-inclusive upper bounds; `"inf"` = unbounded.
    pub bins: Vec<Bin>,
}

/// A histogram bin bound: a number or `"inf"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bin {
    Bound(f64),
    Inf,
}

impl<'de> Deserialize<'de> for Bin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            F(f64),
            I(i64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::F(f) => Ok(Bin::Bound(f)),
            Raw::I(i) => Ok(Bin::Bound(i as f64)),
            Raw::S(s) if s == "inf" => Ok(Bin::Inf),
            Raw::S(s) => s.parse::<f64>().map(Bin::Bound).map_err(|_| {
                serde::de::Error::custom(format!("bin `{s}` is not a number or \"inf\""))
            }),
        }
    }
}

/// etsy's management interface.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub addr: SocketAddr,
}

/// Wire protocol for forwarding to Graphite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardProtocol {
    Plaintext,
    Pickle,
}

/// Forwarding flushed points to a Graphite receiver.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// `host:port`; empty = off.
    pub addr: String,
    pub protocol: ForwardProtocol,
    /// Bytes kept while the target is down; the overflow is dropped and counted.
    pub backlog_bytes: usize,
}

impl Config {
    /// The embedded defaults.
    pub fn embedded() -> Self {
        Self::from_toml_str(DEFAULT_TOML, Path::new("<embedded default>"))
            .expect("the embedded default config parses")
    }

    /// Load a user file merged over the embedded defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg = Self::from_toml_str(&text, path)?;
        cfg.config_dir = path.parent().map(Path::to_path_buf);
        cfg.config_file = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Where `storage-schemas.conf` and `storage-aggregation.conf` are read from, if
    /// anywhere (see [`StorageConfig::conf_dir`]).
    pub fn storage_conf_dir(&self) -> Option<PathBuf> {
        if self.storage.conf_dir.is_empty() {
            self.config_dir.clone()
        } else {
            Some(PathBuf::from(&self.storage.conf_dir))
        }
    }

    /// Parse `text` merged over the embedded defaults; `path` names it in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parse = |t: &str| {
            t.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })
        };
        let mut base = parse(DEFAULT_TOML)?;
        merge(&mut base, parse(text)?);
        let cfg: Config = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.statsd;
        if s.flush_interval < Duration::from_millis(10) {
            return Err(ConfigError::Invalid {
                setting: "statsd.flush_interval",
                message: "must be at least 10ms".into(),
            });
        }
        for p in &s.percent_threshold {
            if !p.is_finite() || *p == 0.0 || p.abs() > 100.0 {
                return Err(ConfigError::Invalid {
                    setting: "statsd.percent_threshold",
                    message: format!("{p} is not in [-100, 0) or (0, 100]"),
                });
            }
        }
        if s.max_datagram < 512 || s.max_datagram > 65535 {
            return Err(ConfigError::Invalid {
                setting: "statsd.max_datagram",
                message: "must be between 512 and 65535".into(),
            });
        }
        if self.storage.cache_bytes < 1 << 16 {
            return Err(ConfigError::Invalid {
                setting: "storage.cache_bytes",
                message: "must be at least 65536".into(),
            });
        }
        for (setting, a) in [
            ("carbon.addr", &self.carbon.addr),
            ("carbon.pickle_addr", &self.carbon.pickle_addr),
            ("http.addr", &self.http.addr),
        ] {
            if !a.is_empty() && a.parse::<SocketAddr>().is_err() {
                return Err(ConfigError::Invalid {
                    setting,
                    message: format!("`{a}` is not an IP:port address"),
                });
            }
        }
        if self.storage.journal_segment_bytes < 4096 {
            return Err(ConfigError::Invalid {
                setting: "storage.journal_segment_bytes",
                message: "must be at least 4096".into(),
            });
        }
        let st = &self.storage;
        if st.journal_max_bytes != 0 && st.journal_max_bytes < 2 * st.journal_segment_bytes {
            return Err(ConfigError::Invalid {
                setting: "storage.journal_max_bytes",
                message: format!(
                    "must be 0 (no budget) or at least twice storage.journal_segment_bytes ({})",
                    2 * st.journal_segment_bytes
                ),
            });
        }
        if self.storage.journal == JournalLevel::Power
            && self.storage.journal_sync_interval.is_zero()
        {
            return Err(ConfigError::Invalid {
                setting: "storage.journal_sync_interval",
                message: "must be more than 0 with journal = \"power\"".into(),
            });
        }
        if self.storage.write_batch == 0 {
            return Err(ConfigError::Invalid {
                setting: "storage.write_batch",
                message: "must be at least 1".into(),
            });
        }
        if s.timer_max_samples == 0 {
            return Err(ConfigError::Invalid {
                setting: "statsd.timer_max_samples",
                message: "must be at least 1".into(),
            });
        }
        for spec in &self.cluster.servers {
            crate::cluster::member::Member::parse(spec).map_err(|e| ConfigError::Invalid {
                setting: "cluster.servers",
                message: e.to_string(),
            })?;
        }
        if self.cluster.fetch_attempts == 0 {
            return Err(ConfigError::Invalid {
                setting: "cluster.fetch_attempts",
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// Shards to run: the configured number, or the cores available.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        }
    }
}

/// Deep-merge `over` into `base`: tables merge key by key, other values replace.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Parse a duration such as `10s`, `500ms`, `1m`, `2h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 10s or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (use ms, s, m, h or d)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{s}` is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn ser_secret<S: Serializer>(secret: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if secret.is_empty() { "" } else { "(hidden)" })
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        s.serialize_str(&format!("{}s", ms / 1000))
    } else {
        s.serialize_str(&format!("{ms}ms"))
    }
}

impl Serialize for Bin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Bin::Bound(b) => s.serialize_f64(*b),
            Bin::Inf => s.serialize_str("inf"),
        }
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_with_documented_values() {
        let c = Config::embedded();
        assert_eq!(c.statsd.flush_interval, Duration::from_secs(10));
        assert_eq!(c.statsd.addr.port(), 8125);
        assert_eq!(c.admin.addr.port(), 8126);
        assert_eq!(c.statsd.percent_threshold, vec![90.0]);
        assert!(c.statsd.legacy_namespace);
        assert!(c.forward.addr.is_empty());
    }

    #[test]
    fn user_file_merges_over_defaults() {
        let c = Config::from_toml_str(
            "[statsd]\nflush_interval = \"2s\"\nhistogram = [{metric = \"a\", bins = [2, 5.5, \"inf\"]}]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.statsd.flush_interval, Duration::from_secs(2));
        assert_eq!(c.statsd.addr.port(), 8125);
        assert_eq!(
            c.statsd.histogram[0].bins,
            vec![Bin::Bound(2.0), Bin::Bound(5.5), Bin::Inf]
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_toml_str("[statsd]\nflushInterval = 5\n", Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("flushInterval"), "{e}");
    }

    #[test]
    fn invalid_percentile_names_the_setting() {
        let e = Config::from_toml_str("[statsd]\npercent_threshold = [0]\n", Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("statsd.percent_threshold"), "{e}");
    }

    #[test]
    fn config_round_trips_through_toml() {
        let c = Config::embedded();
        let text = toml::to_string(&c).unwrap();
        let back = Config::from_toml_str(&text, Path::new("rt.toml")).unwrap();
        assert_eq!(back.statsd.flush_interval, c.statsd.flush_interval);
        assert_eq!(back.statsd.addr, c.statsd.addr);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("3 parsecs").is_err());
    }
}
