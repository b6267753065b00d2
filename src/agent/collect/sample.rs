//! One reading of the host, and the points two readings make.
//!
//! Contract:
//! - [`read`] reads every enabled collector's files below a root directory
//!   (`/` on a live host, a fixture tree in tests) plus `statvfs` through an
//!   injected function; a collector that fails is reported in the error list
//!   and left out, the others still count.
//! - [`points`] is pure: it turns the previous and the current reading and the
//!   seconds between them into [`Point`]s named as Diamond names them, below
//!   `<prefix>.<host>`. Counter collectors (cpu, diskusage, network, vmstat,
//!   mountstats)
//!   need a previous reading, taken more than 0 s earlier, and stay silent
//!   without one (`rate_base`); gauge collectors always report.
//! - [`carbon_lines`] formats points as Diamond's handler does:
//!   `path value timestamp`, the value with the collector's fixed decimals;
//!   [`statsd_lines`] as statsd gauges `path:value|g`.

use std::path::{Path, PathBuf};

use super::{cpu, diskspace, diskusage, loadavg, memory, mountstats, network, sockstat, vmstat};

/// One metric value; `path` is relative to `<prefix>.<host>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// E.g. `cpu.total.user`.
    pub path: String,
    pub value: f64,
    /// Digits after the decimal point in the carbon line (Diamond's `precision`).
    pub precision: usize,
}

impl Point {
    pub fn new(path: impl Into<String>, value: f64, precision: usize) -> Self {
        Self {
            path: path.into(),
            value,
            precision,
        }
    }
}

/// Failure of one collector; the others keep going.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{collector}: cannot read {}: {source}", path.display())]
    Read {
        collector: Collector,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{collector}: cannot parse {}: {message}", path.display())]
    Parse {
        collector: Collector,
        path: PathBuf,
        message: String,
    },
}

/// The collectors, named as Diamond's collectors are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Collector {
    Cpu,
    Memory,
    Loadavg,
    Diskspace,
    Diskusage,
    Network,
    Vmstat,
    Sockstat,
    Mountstats,
}

impl Collector {
    /// Every collector, in output order.
    pub const ALL: [Collector; 9] = [
        Collector::Cpu,
        Collector::Memory,
        Collector::Loadavg,
        Collector::Diskspace,
        Collector::Diskusage,
        Collector::Network,
        Collector::Vmstat,
        Collector::Sockstat,
        Collector::Mountstats,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Collector::Cpu => "cpu",
            Collector::Memory => "memory",
            Collector::Loadavg => "loadavg",
            Collector::Diskspace => "diskspace",
            Collector::Diskusage => "diskusage",
            Collector::Network => "network",
            Collector::Vmstat => "vmstat",
            Collector::Sockstat => "sockstat",
            Collector::Mountstats => "mountstats",
        }
    }
}

impl std::fmt::Display for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What to collect and how (the collector options Diamond keeps in its config).
#[derive(Debug, Clone)]
pub struct Settings {
    pub collectors: Vec<Collector>,
    /// Report each core as well as the total (Diamond's `percore`).
    pub percore: bool,
    /// Clock ticks per second of /proc/stat (`USER_HZ`, 100 on Linux).
    pub ticks_per_second: u64,
    pub network: network::Filter,
    pub diskusage: diskusage::Filter,
    pub diskspace: diskspace::Filter,
    pub mountstats: mountstats::Filter,
}

impl Settings {
    fn on(&self, c: Collector) -> bool {
        self.collectors.contains(&c)
    }
}

/// Everything one pass over /proc read; `None` for a collector that is off or failed.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub cpu: Option<cpu::Cpu>,
    pub memory: Option<memory::Memory>,
    pub loadavg: Option<loadavg::LoadAvg>,
    pub diskspace: Option<Vec<diskspace::Filesystem>>,
    pub diskusage: Option<Vec<diskusage::Disk>>,
    pub network: Option<Vec<network::Interface>>,
    pub vmstat: Option<vmstat::VmStat>,
    pub sockstat: Option<sockstat::SockStat>,
    pub mountstats: Option<Vec<mountstats::Mount>>,
}

/// Reads a file below `root` for `collector`.
pub(crate) fn read_file(
    root: &Path,
    rel: &str,
    collector: Collector,
) -> Result<String, CollectError> {
    let path = root.join(rel);
    std::fs::read_to_string(&path).map_err(|source| CollectError::Read {
        collector,
        path,
        source,
    })
}

/// A parse error for `rel` below `root`.
pub(crate) fn parse_error(
    root: &Path,
    rel: &str,
    collector: Collector,
    message: impl std::fmt::Display,
) -> CollectError {
    CollectError::Parse {
        collector,
        path: root.join(rel),
        message: message.to_string(),
    }
}

fn keep<T>(r: Result<T, CollectError>, errors: &mut Vec<CollectError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// Reads every enabled collector below `root`; `statfs` answers for a mount point.
pub fn read(
    root: &Path,
    settings: &Settings,
    statfs: &dyn Fn(&Path) -> std::io::Result<diskspace::FsStat>,
) -> (Sample, Vec<CollectError>) {
    let mut errors = Vec::new();
    let mut s = Sample::default();
    let e = &mut errors;
    if settings.on(Collector::Cpu) {
        s.cpu = keep(cpu::read(root, settings.ticks_per_second), e);
    }
    if settings.on(Collector::Memory) {
        s.memory = keep(memory::read(root), e);
    }
    if settings.on(Collector::Loadavg) {
        s.loadavg = keep(loadavg::read(root), e);
    }
    if settings.on(Collector::Diskspace) {
        s.diskspace = keep(diskspace::read(root, &settings.diskspace, statfs, e), e);
    }
    if settings.on(Collector::Diskusage) {
        s.diskusage = keep(diskusage::read(root, &settings.diskusage), e);
    }
    if settings.on(Collector::Network) {
        s.network = keep(network::read(root, &settings.network), e);
    }
    if settings.on(Collector::Vmstat) {
        s.vmstat = keep(vmstat::read(root), e);
    }
    if settings.on(Collector::Sockstat) {
        s.sockstat = keep(sockstat::read(root), e);
    }
    if settings.on(Collector::Mountstats) {
        s.mountstats = keep(mountstats::read(root, &settings.mountstats), e);
    }
    (s, errors)
}

/// The points of `cur`, with `prev` read `elapsed` seconds earlier (for the counter collectors).
pub fn points(
    prev: Option<&Sample>,
    cur: &Sample,
    elapsed: f64,
    settings: &Settings,
) -> Vec<Point> {
    let mut out = Vec::new();
    if let Some(c) = &cur.cpu {
        let p = prev.and_then(|p| p.cpu.as_ref());
        cpu::points(p, c, elapsed, settings.percore, &mut out);
    }
    if let Some(m) = &cur.memory {
        memory::points(m, &mut out);
    }
    if let Some(l) = &cur.loadavg {
        loadavg::points(l, &mut out);
    }
    if let Some(fs) = &cur.diskspace {
        diskspace::points(fs, &mut out);
    }
    if let Some(d) = &cur.diskusage {
        let p = prev.and_then(|p| p.diskusage.as_deref());
        diskusage::points(p, d, elapsed, &mut out);
    }
    if let Some(n) = &cur.network {
        let p = prev.and_then(|p| p.network.as_deref());
        network::points(p, n, elapsed, &mut out);
    }
    if let Some(v) = &cur.vmstat {
        let p = prev.and_then(|p| p.vmstat.as_ref());
        vmstat::points(p, v, elapsed, &mut out);
    }
    if let Some(s) = &cur.sockstat {
        sockstat::points(s, &mut out);
    }
    if let Some(m) = &cur.mountstats {
        let p = prev.and_then(|p| p.mountstats.as_deref());
        mountstats::points(p, m, elapsed, &mut out);
    }
    out
}

/// Carbon plaintext lines (no newline) for `points` below `base` (e.g. `servers.web01`).
pub fn carbon_lines(base: &str, points: &[Point], timestamp: u64) -> Vec<String> {
    points
        .iter()
        .map(|p| {
            format!(
                "{base}.{} {:.prec$} {timestamp}",
                p.path,
                p.value,
                prec = p.precision
            )
        })
        .collect()
}

/// Statsd gauge lines (no newline) for `points` below `base`: `path:value|g`,
/// the value with the collector's fixed decimals.
pub fn statsd_lines(base: &str, points: &[Point]) -> Vec<String> {
    points
        .iter()
        .map(|p| format!("{base}.{}:{:.prec$}|g", p.path, p.value, prec = p.precision))
        .collect()
}

/// The reading a counter collector takes its rates against: `prev`, unless there is none
/// (the first reading is only a baseline) or no time has passed since it (`elapsed` ≤ 0).
pub(crate) fn rate_base<T: ?Sized>(prev: Option<&T>, elapsed: f64) -> Option<&T> {
    if elapsed <= 0.0 {
        None
    } else {
        prev
    }
}

/// Counter difference; a counter that went backwards (reset or wrap) counts as 0.
pub(crate) fn delta(prev: u64, cur: u64) -> u64 {
    cur.saturating_sub(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carbon_line_uses_fixed_decimals() {
        let pts = [
            Point::new("cpu.total.user", 12.3456, 2),
            Point::new("memory.MemFree", 1024.0, 0),
            Point::new("iostat.sda.await", 2.0 / 3.0, 3),
        ];
        assert_eq!(
            carbon_lines("servers.h", &pts, 1_700_000_000),
            [
                "servers.h.cpu.total.user 12.35 1700000000",
                "servers.h.memory.MemFree 1024 1700000000",
                "servers.h.iostat.sda.await 0.667 1700000000",
            ]
        );
    }

    #[test]
    fn delta_never_negative() {
        assert_eq!(delta(10, 15), 5);
        assert_eq!(delta(15, 10), 0);
    }
}
