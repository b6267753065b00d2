//! `lonsdaleite collect`: host metrics from /proc and statvfs, named as Diamond names them.
//!
//! Contract:
//! - Every tick (default every 60 s, aligned to the wall clock) it reads the
//!   enabled collectors ([`sample::read`]), turns the reading and the one
//!   before into points ([`sample::points`]), and sends them as carbon
//!   plaintext lines `<prefix>.<host>.<collector path>.<metric> value ts`,
//!   `ts` being the tick, to one carbon receiver through
//!   [`crate::agent::sender::CarbonSender`] (reconnect, bounded backlog).
//!   With `--output statsd` the same values go as statsd gauges
//!   `<path>:<value>|g` over UDP instead (for a host that runs only a statsd
//!   listener); the statsd server then adds its own prefix and timestamp.
//! - Counter collectors (cpu, diskusage, network, vmstat, mountstats) report rates between
//!   two readings; the first reading, taken at start, is their baseline.
//!   `--once` takes two readings `--once-gap` apart (default 1 s), sends, exits.
//! - `--dry-run` prints the lines that would be sent, one per line, to stdout.
//! - A collector that fails is named on stderr and left out; the rest is sent.
//!   A failed send is named on stderr; the lines wait in the backlog.
//!
//! Collectors live in one file each: [`cpu`], [`memory`], [`loadavg`],
//! [`diskspace`], [`diskusage`], [`network`], [`vmstat`], [`sockstat`],
//! [`mountstats`].

pub mod cpu;
pub mod diskspace;
pub mod diskusage;
pub mod loadavg;
pub mod memory;
pub mod mountstats;
pub mod network;
pub mod sample;
pub mod sockstat;
pub mod vmstat;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::clock;

use regex::Regex;

use crate::agent::sender::{CarbonSender, UdpSender};
use crate::config::parse_duration;
use sample::{Collector, Sample, Settings};

/// `lonsdaleite collect` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Metric names follow Diamond: servers.<host>.cpu.total.user, servers.<host>.memory.Buffers,
servers.<host>.loadavg.01, servers.<host>.diskspace.root.byte_free, servers.<host>.iostat.sda.reads,
servers.<host>.network.eth0.rx_byte, servers.<host>.vmstat.pgpgin, servers.<host>.sockets.used,
servers.<host>.mountstats._mnt_home.bytes.normalreadbytes (NFS mounts only).

Quick look at what it collects:   lonsdaleite collect --once --dry-run")]
pub struct CollectArgs {
    /// Where to send [default: 127.0.0.1:2003 for carbon, 127.0.0.1:8125 for statsd].
    #[arg(long, value_name = "HOST:PORT")]
    pub to: Option<String>,
    /// carbon (TCP plaintext, as Diamond's Graphite handler sends) or statsd (UDP gauges).
    #[arg(short = 'o', long, value_enum, default_value = "carbon")]
    pub output: CollectOutput,
    /// Time between readings; ticks are aligned to multiples of it on the wall clock.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Read once, send, exit. Counter collectors (cpu, diskusage, network,
    /// vmstat, mountstats) need two readings, so this reads twice, --once-gap apart.
    #[arg(long)]
    pub once: bool,
    /// With --once: the pause between the two readings.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub once_gap: Duration,
    /// Print the lines (carbon, or statsd with --output statsd) to stdout instead of sending them.
    #[arg(long)]
    pub dry_run: bool,
    /// Collectors to run, comma-separated [default: all].
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    pub collectors: Vec<Collector>,
    /// Host name in the metric path [default: this host's name up to the first dot].
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// First component of every metric path (Diamond's path prefix).
    #[arg(long, value_name = "PREFIX", default_value = "servers")]
    pub prefix: String,
    /// Read /proc (and mount points) below this directory instead of / (for tests and containers).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Report only cpu.total, not each core.
    #[arg(long)]
    pub no_percore: bool,
    /// network: interface name prefixes to report, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "eth,bond,em,p1p,eno,enp,ens,enx"
    )]
    pub interfaces: Vec<String>,
    /// diskusage: devices to report (regex on the device name, anchored at the start).
    #[arg(long, value_name = "REGEX", default_value = diskusage::DEFAULT_DEVICES)]
    pub devices: String,
    /// diskspace: filesystem types to report, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "ext2,ext3,ext4,xfs,glusterfs,nfs,nfs4,ntfs,hfs,fat32,fat16,btrfs"
    )]
    pub filesystems: Vec<String>,
    /// diskspace: skip mount points matching this regex (empty: skip none).
    #[arg(long, value_name = "REGEX", default_value = diskspace::DEFAULT_EXCLUDE)]
    pub exclude_mounts: String,
    /// mountstats: report only the NFS mounts whose mount point matches this regex
    /// (anchored at the start; repeat the flag for more) [default: every NFS mount].
    #[arg(long, value_name = "REGEX")]
    pub mountstats_include: Vec<String>,
    /// mountstats: skip the NFS mounts whose mount point matches this regex
    /// (anchored at the start; repeat the flag for more).
    #[arg(long, value_name = "REGEX")]
    pub mountstats_exclude: Vec<String>,
    /// Lines kept while the receiver is unreachable; beyond this the oldest are dropped.
    #[arg(long, value_name = "LINES", default_value_t = 100_000)]
    pub backlog: usize,
}

/// The wire format of `lonsdaleite collect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CollectOutput {
    /// Carbon plaintext over TCP: `path value timestamp`.
    Carbon,
    /// Statsd gauges over UDP: `path:value|g`.
    Statsd,
}

impl CollectArgs {
    /// `--to`, or the default receiver of `--output`.
    fn target(&self) -> String {
        self.to.clone().unwrap_or_else(|| {
            match self.output {
                CollectOutput::Carbon => "127.0.0.1:2003",
                CollectOutput::Statsd => "127.0.0.1:8125",
            }
            .to_owned()
        })
    }

    fn settings(&self) -> Result<Settings, String> {
        let devices =
            Regex::new(&format!("^(?:{})", self.devices)).map_err(|e| format!("--devices: {e}"))?;
        let exclude = if self.exclude_mounts.is_empty() {
            None
        } else {
            Some(Regex::new(&self.exclude_mounts).map_err(|e| format!("--exclude-mounts: {e}"))?)
        };
        Ok(Settings {
            collectors: if self.collectors.is_empty() {
                Collector::ALL.to_vec()
            } else {
                self.collectors.clone()
            },
            percore: !self.no_percore,
            ticks_per_second: procfs::ticks_per_second(),
            network: network::Filter {
                prefixes: self.interfaces.clone(),
            },
            diskusage: diskusage::Filter { devices },
            diskspace: diskspace::Filter {
                filesystems: self.filesystems.clone(),
                exclude,
            },
            mountstats: mountstats::Filter::new(&self.mountstats_include, &self.mountstats_exclude)
                .map_err(|e| format!("--mountstats-include/--mountstats-exclude: {e}"))?,
        })
    }

    /// `<prefix>.<host>`.
    fn base(&self) -> String {
        let host = self.hostname.clone().unwrap_or_else(short_hostname);
        if self.prefix.is_empty() {
            host
        } else {
            format!("{}.{host}", self.prefix)
        }
    }
}

/// This host's name up to the first dot (Diamond's default `fqdn_short`), or `localhost`.
fn short_hostname() -> String {
    let name = crate::sys::hostname();
    match name.split('.').next() {
        Some(short) if !short.is_empty() => short.to_owned(),
        _ => "localhost".into(),
    }
}

/// Reads one sample, naming failed collectors on stderr.
fn take(root: &Path, settings: &Settings) -> Sample {
    let (s, errors) = sample::read(root, settings, &diskspace::statvfs);
    for e in errors {
        eprintln!("lonsdaleite collect: {e}");
    }
    s
}

/// Where lines go.
enum Output {
    Stdout,
    Carbon(CarbonSender),
    Statsd(UdpSender),
}

impl Output {
    fn emit(&mut self, lines: Vec<String>) -> bool {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                let ok = lines.iter().all(|l| writeln!(out, "{l}").is_ok());
                ok && out.flush().is_ok()
            }
            Output::Statsd(u) => match u.send(&lines) {
                Ok(_) => true,
                Err(e) => {
                    eprintln!("lonsdaleite collect: {e}");
                    false
                }
            },
            Output::Carbon(s) => {
                let before = s.dropped();
                let r = s.send(lines);
                if s.dropped() > before {
                    eprintln!(
                        "lonsdaleite collect: backlog full, dropped {} oldest lines",
                        s.dropped() - before
                    );
                }
                match r {
                    Ok(()) => true,
                    Err(e) => {
                        eprintln!("lonsdaleite collect: {e} ({} lines queued)", s.queued());
                        false
                    }
                }
            }
        }
    }
}

/// Runs the collector.
pub fn run(args: &CollectArgs) -> ExitCode {
    let settings = match args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lonsdaleite collect: {e}");
            return ExitCode::from(2);
        }
    };
    let base = args.base();
    let mut output = match (args.dry_run, args.output) {
        (true, _) => Output::Stdout,
        (false, CollectOutput::Carbon) => {
            Output::Carbon(CarbonSender::new(&args.target(), args.backlog))
        }
        (false, CollectOutput::Statsd) => Output::Statsd(UdpSender::new(&args.target(), 1432)),
    };
    let format = |points: &[sample::Point], ts: u64| match args.output {
        CollectOutput::Carbon => sample::carbon_lines(&base, points, ts),
        CollectOutput::Statsd => sample::statsd_lines(&base, points),
    };

    let mut prev = take(&args.root, &settings);
    let mut prev_at = Instant::now();

    if args.once {
        std::thread::sleep(args.once_gap);
        let cur = take(&args.root, &settings);
        let elapsed = prev_at.elapsed().as_secs_f64();
        let points = sample::points(Some(&prev), &cur, elapsed, &settings);
        let lines = format(&points, clock::now().as_secs());
        return if output.emit(lines) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }

    loop {
        let tick = clock::next_boundary(clock::now(), args.interval);
        std::thread::sleep(tick.saturating_sub(clock::now()));
        let cur = take(&args.root, &settings);
        let now = Instant::now();
        let elapsed = now.duration_since(prev_at).as_secs_f64();
        let points = sample::points(Some(&prev), &cur, elapsed, &settings);
        output.emit(format(&points, tick.as_secs()));
        prev = cur;
        prev_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_aligned() {
        let i = Duration::from_secs(60);
        assert_eq!(
            clock::next_boundary(Duration::from_secs(125), i),
            Duration::from_secs(180)
        );
        assert_eq!(
            clock::next_boundary(Duration::from_secs(120), i),
            Duration::from_secs(180)
        );
        assert_eq!(
            clock::next_boundary(Duration::from_millis(1500), Duration::from_secs(1)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn cli_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            a: CollectArgs,
        }
        let c =
            Cli::try_parse_from(["x", "--collectors", "cpu,memory", "--hostname", "h"]).unwrap();
        assert_eq!(c.a.collectors, [Collector::Cpu, Collector::Memory]);
        assert_eq!(c.a.interval, Duration::from_secs(60));
        assert_eq!(c.a.target(), "127.0.0.1:2003");
        let s = Cli::try_parse_from(["x", "-o", "statsd"]).unwrap();
        assert_eq!(s.a.target(), "127.0.0.1:8125");
        assert_eq!(c.a.base(), "servers.h");
        let s = c.a.settings().unwrap();
        assert!(s.diskusage.devices.is_match("sda"));
        assert!(!s.diskusage.devices.is_match("loop0"));
        assert_eq!(s.network.prefixes.len(), 8);
    }
}
