//! Command-line interface. Flags override the config file, which overrides the embedded defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{parse_duration, Config, ConfigError, ForwardProtocol};

/// lonsdaleite: StatsD, Carbon, Whisper and the Graphite render API in one thread-per-core server.
#[derive(Debug, Parser)]
#[command(name = "lonsdaleite", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (StatsD and carbon receivers, aggregation, whisper storage, admin interface).
    Serve(ServeArgs),
    /// Print the embedded default configuration (a starting point for --config).
    DefaultConfig,
    /// Inspect and edit whisper files, like whisper's own scripts.
    Whisper(crate::storage::whisper_cli::WhisperArgs),
    /// Collect host metrics (CPU, memory, disks, network) and send them as carbon or statsd lines.
    Collect(crate::agent::collect::CollectArgs),
    /// Follow log files and turn them into metrics, like Logster.
    Logtail(crate::agent::logtail::LogtailArgs),
    /// Cluster operations: where a relay's hash ring places a metric, moving series to their owners.
    Cluster(crate::cluster::cli::ClusterArgs),
}

/// `lonsdaleite serve`: settings given here override the config file.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML config file, merged over the embedded defaults (see `lonsdaleite default-config`).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for whisper files and state [default: ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Number of shards, one pinned thread each [default: the cores available].
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// StatsD UDP and TCP address [default: 0.0.0.0:8125]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub statsd_addr: Option<SocketAddr>,
    /// Admin (management) interface address [default: 0.0.0.0:8126].
    #[arg(long, value_name = "ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// Flush interval, aligned to the wall clock, e.g. 10s, 500ms [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub flush_interval: Option<Duration>,
    /// Send flushed points to this Graphite receiver (carbon plaintext, or pickle with --forward-protocol).
    #[arg(long, value_name = "HOST:PORT")]
    pub forward: Option<String>,
    /// Protocol for --forward: plaintext or pickle [default: plaintext].
    #[arg(long, value_name = "PROTO", value_parser = parse_protocol)]
    pub forward_protocol: Option<ForwardProtocol>,
    /// Print incoming StatsD lines whose key matches this glob to stderr (e.g. 'api.*').
    #[arg(short, long, value_name = "PATTERN")]
    pub debug: Option<String>,
    /// Carbon plaintext receiver, TCP and UDP [default: 0.0.0.0:2003]; "off" disables it.
    #[arg(long, value_name = "ADDR")]
    pub carbon_addr: Option<String>,
    /// Carbon pickle receiver, TCP [default: 0.0.0.0:2004]; "off" disables it.
    #[arg(long, value_name = "ADDR")]
    pub pickle_addr: Option<String>,
    /// Graphite HTTP API (render, metrics, events, tags) [default: 0.0.0.0:8080]; "off" disables it.
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<String>,
    /// Do not write whisper files (only aggregate, forward and answer the admin port).
    #[arg(long)]
    pub no_storage: bool,
}

fn parse_protocol(s: &str) -> Result<ForwardProtocol, String> {
    match s {
        "plaintext" => Ok(ForwardProtocol::Plaintext),
        "pickle" => Ok(ForwardProtocol::Pickle),
        _ => Err(format!("`{s}`: use plaintext or pickle")),
    }
}

impl ServeArgs {
    /// The effective configuration: embedded defaults, then the file, then these flags.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let mut cfg = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::embedded(),
        };
        if let Some(d) = &self.data_dir {
            cfg.data_dir.clone_from(d);
        }
        if let Some(n) = self.shards {
            cfg.shards = n;
        }
        if let Some(a) = self.statsd_addr {
            cfg.statsd.addr = a;
        }
        if let Some(a) = self.admin_addr {
            cfg.admin.addr = a;
        }
        if let Some(a) = &self.carbon_addr {
            cfg.carbon.addr = if a == "off" { String::new() } else { a.clone() };
        }
        if let Some(a) = &self.pickle_addr {
            cfg.carbon.pickle_addr = if a == "off" { String::new() } else { a.clone() };
        }
        if let Some(a) = &self.http_addr {
            cfg.http.addr = if a == "off" { String::new() } else { a.clone() };
        }
        if self.no_storage {
            cfg.storage.enabled = false;
        }
        if let Some(i) = self.flush_interval {
            cfg.statsd.flush_interval = i;
        }
        if let Some(f) = &self.forward {
            cfg.forward.addr.clone_from(f);
        }
        if let Some(p) = self.forward_protocol {
            cfg.forward.protocol = p;
        }
        if let Some(d) = &self.debug {
            cfg.statsd.debug.clone_from(d);
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_defaults() {
        let cli = Cli::try_parse_from([
            "lonsdaleite",
            "serve",
            "--statsd-addr",
            "127.0.0.1:0",
            "--flush-interval",
            "2s",
            "--shards",
            "1",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let cfg = args.resolve().unwrap();
        assert_eq!(cfg.statsd.addr.port(), 0);
        assert_eq!(cfg.statsd.flush_interval, Duration::from_secs(2));
        assert_eq!(cfg.shard_count(), 1);
        assert_eq!(cfg.http.addr, "0.0.0.0:8080");
    }

    #[test]
    fn http_addr_flag() {
        let resolve = |v: &str| {
            let cli = Cli::try_parse_from(["lonsdaleite", "serve", "--http-addr", v]).unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("not serve")
            };
            args.resolve()
        };
        assert_eq!(resolve("127.0.0.1:0").unwrap().http.addr, "127.0.0.1:0");
        assert_eq!(resolve("off").unwrap().http.addr, "");
        assert!(resolve("nonsense").is_err());
    }
}
