//! Command-line options and their translation into a run or sink plan.
//!
//! Contract: every address is resolved here, and a target that is not loopback (127.0.0.0/8,
//! `::1`) is refused unless `--allow-remote` is given, so a load test cannot flood another host
//! by mistake. A send run is always bounded: `--count`, `--duration`, or 10 s by default.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use thiserror::Error;

use crate::mix::Mix;
use crate::payload::{PoolSpec, Protocol};
use crate::run::{RunConfig, Verify};
use crate::send::SendPlan;
use crate::sink::SinkPlan;

/// Default run length when neither `--count` nor `--duration` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default pool size floor, in lines.
pub const MIN_POOL_LINES: u64 = 100_000;

/// Load generator for StatsD (UDP, TCP) and Carbon plaintext (TCP) servers.
///
/// Renders a seeded pool of packets before the clock starts, then sends it in a loop from one
/// or more threads (each with its own socket and source port), printing progress every second
/// and a summary at the end. With --verify it reads the server's own count of received lines
/// before and after and prints the loss. With --sink it is the receiving end instead.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, long_about, after_help = EXAMPLES)]
pub struct Args {
    /// Server to load (HOST:PORT); must be loopback unless --allow-remote.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8125")]
    pub target: String,
    /// Wire protocol: statsd-udp, statsd-tcp or carbon-tcp.
    #[arg(long, value_name = "PROTO", default_value = "statsd-udp", value_parser = parse_protocol)]
    pub protocol: Protocol,
    /// Distinct metric names (series), visited in a shuffled order, each once per pass.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub names: u64,
    /// StatsD type mix by share of names: c (counter), ms (timer), g (gauge), s (set),
    /// h (histogram), d (distribution). Weights are relative. Ignored for carbon-tcp.
    #[arg(long, value_name = "SPEC", default_value = "c=60,ms=20,g=10,s=10", value_parser = Mix::parse)]
    pub mix: Mix,
    /// Sample rate written as |@RATE on c, ms, h and d lines (1 = none written).
    #[arg(long, value_name = "RATE", default_value_t = 1.0)]
    pub sample_rate: f64,
    /// DogStatsD tags per line (|#tag0:v3,tag1:v4); fixed per name, so series stay = --names.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub tags: u32,
    /// Carbon: timestamps per name. Each pass over the names goes one step later, the
    /// last pass at the current time, so a run of --count NAMES*HISTORY lines gives every
    /// series HISTORY points spread over (HISTORY-1)*STEP seconds of the past.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub history: u32,
    /// Carbon: seconds between a series' timestamps (with --history).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub step: u64,
    /// Lines per UDP datagram, or per TCP write.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub per_packet: u32,
    /// Lines per second over all threads; 0 = as fast as possible.
    #[arg(long, value_name = "LINES_PER_S", default_value_t = 0.0)]
    pub rate: f64,
    /// Lines to send in total (exact: the last packet is cut to a line boundary).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Time limit, e.g. 10s, 500ms, 2m [default: 10s when --count is not given].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Sender threads, each with its own socket (source port). With --sink: ignored.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: usize,
    /// UDP sockets (source ports) per sender thread, used in turn. The kernel spreads a
    /// server's reuse-port sockets by a hash of the source port, so more flows give each
    /// server socket (shard) a more even share. Ignored for TCP.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub sockets: usize,
    /// Seed of the payload (names' order, values).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Packets per system call: datagrams per sendmmsg (1 = one send per datagram), or
    /// packets per TCP write. Under --rate, calls carry about 1 ms of traffic at most.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub batch: usize,
    /// Lines in the pre-rendered pool [default: the larger of --names and 100000].
    #[arg(long, value_name = "N")]
    pub pool_lines: Option<u64>,
    /// First component of every metric name (PREFIX.gNN.metricNNNNNNN).
    #[arg(long, value_name = "STR", default_value = "loadgen")]
    pub prefix: String,
    /// Read `messages.metrics_received` from this admin port (`stats` command) before and after
    /// the run and print received lines and loss.
    #[arg(long, value_name = "ADMIN_ADDR", conflicts_with = "verify_carbon")]
    pub verify: Option<String>,
    /// Listen here for the server's graphite flushes and sum --verify-metric (for servers
    /// whose admin port lacks metrics_received, such as etsy statsd).
    #[arg(long, value_name = "LISTEN_ADDR")]
    pub verify_carbon: Option<String>,
    /// Metric summed by --verify-carbon (etsy legacy namespace name by default).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "stats_counts.statsd.metrics_received"
    )]
    pub verify_metric: String,
    /// A count is settled when unchanged this long.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub settle_quiet: Duration,
    /// Longest wait for a count to settle (--verify-carbon: for a flush reporting 0).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub settle_max: Duration,
    /// The server's process id: report the CPU time it used from the first packet until the
    /// count settled, CPU seconds per million lines, and its resident memory (from /proc).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Print the final summary as one JSON object on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Be a UDP sink on ADDR instead of a sender: drain, count lines, print rates. Stops at
    /// --duration (default 10s) or after --count lines. Prints `listening sink udp ADDR`.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["verify", "verify_carbon"])]
    pub sink: Option<String>,
}

const EXAMPLES: &str = "Examples:
  loadgen --target 127.0.0.1:8125 --rate 500000 --duration 10s --verify 127.0.0.1:8126
  loadgen --protocol carbon-tcp --target 127.0.0.1:2003 --count 1000000 --per-packet 500
  loadgen --protocol carbon-tcp --names 5000 --history 600 --count 3000000   # 600 past points per series
  loadgen --sink 127.0.0.1:9125 --duration 20s     # in one shell
  loadgen --target 127.0.0.1:9125 --threads 2      # in another";

/// Bad options.
#[derive(Debug, Error)]
pub enum CliError {
    #[error("{what} `{addr}`: cannot resolve: {source}")]
    Resolve {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("{what} `{addr}` resolves to no address")]
    NoAddress { what: &'static str, addr: String },
    #[error("{what} {addr} is not a loopback address; pass --allow-remote to load another host")]
    Remote {
        what: &'static str,
        addr: SocketAddr,
    },
    #[error("--threads must be at least 1")]
    Threads,
    #[error("--sockets must be between 1 and 1024, got {0}")]
    Sockets(usize),
    #[error("--rate must be a finite number ≥ 0, got {0}")]
    Rate(f64),
    #[error("--batch must be between 1 and 1024, got {0}")]
    Batch(usize),
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Mode {
    Send(Box<RunConfig>),
    Sink(SocketAddr, SinkPlan),
}

impl Args {
    /// Validates the options and resolves addresses.
    pub fn mode(&self) -> Result<Mode, CliError> {
        if let Some(addr) = &self.sink {
            let addr = resolve("--sink", addr)?;
            let duration = match (self.duration, self.count) {
                (None, None) => Some(DEFAULT_DURATION),
                (d, _) => d,
            };
            return Ok(Mode::Sink(
                addr,
                SinkPlan {
                    duration,
                    count: self.count,
                },
            ));
        }
        if self.threads == 0 {
            return Err(CliError::Threads);
        }
        if !(1..=1024).contains(&self.sockets) {
            return Err(CliError::Sockets(self.sockets));
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err(CliError::Rate(self.rate));
        }
        if !(1..=1024).contains(&self.batch) {
            return Err(CliError::Batch(self.batch));
        }
        let target = self.checked("--target", &self.target)?;
        let verify = match (&self.verify, &self.verify_carbon) {
            (Some(a), _) => Verify::Admin(self.checked("--verify", a)?),
            (None, Some(l)) => Verify::Carbon {
                listen: resolve("--verify-carbon", l)?,
                metric: self.verify_metric.clone(),
            },
            (None, None) => Verify::None,
        };
        let duration = match (self.duration, self.count) {
            (None, None) => Some(DEFAULT_DURATION),
            (d, _) => d,
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Mode::Send(Box::new(RunConfig {
            pool: PoolSpec {
                protocol: self.protocol,
                names: self.names,
                mix: self.mix.clone(),
                sample_rate: self.sample_rate,
                tags: self.tags,
                per_packet: self.per_packet,
                lines: self
                    .pool_lines
                    .unwrap_or_else(|| (self.names * u64::from(self.history)).max(MIN_POOL_LINES)),
                seed: self.seed,
                prefix: self.prefix.clone(),
                timestamp,
                history: self.history,
                step: self.step,
            },
            send: SendPlan {
                target,
                protocol: self.protocol,
                threads: self.threads,
                rate: self.rate,
                count: self.count,
                duration,
                batch: self.batch,
                sockets: self.sockets,
            },
            verify,
            settle_quiet: self.settle_quiet,
            settle_max: self.settle_max,
            server_pid: self.server_pid,
        })))
    }

    fn checked(&self, what: &'static str, addr: &str) -> Result<SocketAddr, CliError> {
        let a = resolve(what, addr)?;
        if !self.allow_remote && !a.ip().to_canonical().is_loopback() {
            return Err(CliError::Remote { what, addr: a });
        }
        Ok(a)
    }
}

fn resolve(what: &'static str, addr: &str) -> Result<SocketAddr, CliError> {
    addr.to_socket_addrs()
        .map_err(|source| CliError::Resolve {
            what,
            addr: addr.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(|| CliError::NoAddress {
            what,
            addr: addr.to_owned(),
        })
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(s).ok_or_else(|| format!("`{s}`: use statsd-udp, statsd-tcp or carbon-tcp"))
}

/// Parses `10s`, `500ms`, `2m`, `1.5s`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "us" => n / 1e6,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("`{other}` is not a time unit (use ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("loadgen").chain(extra.iter().copied()))
            .expect("valid arguments")
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn defaults_are_bounded_by_ten_seconds() {
        let Mode::Send(cfg) = args(&[]).mode().expect("mode") else {
            panic!("send mode expected")
        };
        assert_eq!(cfg.send.duration, Some(DEFAULT_DURATION));
        assert_eq!(cfg.send.count, None);
        assert_eq!(cfg.pool.per_packet, 25);
        assert_eq!(cfg.pool.lines, MIN_POOL_LINES);
        let Mode::Send(cfg) = args(&["--count", "5"]).mode().expect("mode") else {
            panic!("send mode expected")
        };
        assert_eq!(cfg.send.duration, None);
        assert_eq!(cfg.send.count, Some(5));
    }

    #[test]
    fn remote_targets_need_allow_remote() {
        let e = args(&["--target", "192.0.2.1:8125"]).mode();
        assert!(matches!(e, Err(CliError::Remote { .. })), "{e:?}");
        let e = args(&["--verify", "192.0.2.1:8126"]).mode();
        assert!(matches!(e, Err(CliError::Remote { .. })), "{e:?}");
        assert!(args(&["--target", "192.0.2.1:8125", "--allow-remote"])
            .mode()
            .is_ok());
        assert!(args(&["--target", "127.3.4.5:1"]).mode().is_ok());
        assert!(args(&["--target", "[::1]:1"]).mode().is_ok());
        assert!(args(&["--target", "[::ffff:127.0.0.1]:1"]).mode().is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(matches!(
            args(&["--threads", "0"]).mode(),
            Err(CliError::Threads)
        ));
        assert!(matches!(
            args(&["--batch", "0"]).mode(),
            Err(CliError::Batch(0))
        ));
        assert!(matches!(
            args(&["--sockets", "0"]).mode(),
            Err(CliError::Sockets(0))
        ));
        assert!(Args::try_parse_from(["loadgen", "--mix", "q=1"]).is_err());
        assert!(Args::try_parse_from(["loadgen", "--protocol", "http"]).is_err());
        assert!(
            Args::try_parse_from(["loadgen", "--verify", "a:1", "--verify-carbon", "b:1"]).is_err()
        );
    }
}
