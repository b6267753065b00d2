//! Block device I/O from `/proc/diskstats` (Diamond's `diskusage` collector, path `iostat`).
//!
//! For each device matching the device pattern (Diamond's default: md, sd,
//! xvd/vd, disk, nvme, dm devices; `ram*` and `loop*` never), with the
//! previous reading `elapsed` seconds earlier, under `iostat.<device>.`:
//!
//! | name | value |
//! | --- | --- |
//! | `reads`, `reads_merged`, `reads_milliseconds`, `writes`, `writes_merged`, `writes_milliseconds`, `io_milliseconds`, `io_milliseconds_weighted` | change since the previous reading |
//! | `reads_byte`, `writes_byte` | change of sectors × 512 |
//! | `io_in_progress` | current value |
//! | `reads_per_second`, `writes_per_second`, `read_requests_merged_per_second`, `write_requests_merged_per_second`, `read_byte_per_second`, `write_byte_per_second` | change / elapsed |
//! | `io` | reads + writes |
//! | `iops` | io / elapsed |
//! | `average_queue_length` | `io_milliseconds_weighted` / elapsed / 1000 |
//! | `util_percentage` | `io_milliseconds` / elapsed / 10 |
//! | `read_await`, `write_await` | milliseconds / operations (0 without operations) |
//! | `await`, `service_time` | (read+write ms) / io, `io_milliseconds` / io |
//! | `average_request_size_byte` | (`reads_byte` + `writes_byte`) / io |
//! | `concurrent_io` | (reads + writes per second) × `service_time` / 1000 |
//!
//! Three decimals. As in Diamond, a device is reported only when it did I/O
//! in the interval (io > 0).

use std::path::Path;

use procfs::DiskStat;
use regex::Regex;

use super::sample::{delta, rate_base, read_file, CollectError, Collector, Point};

const REL: &str = "proc/diskstats";

/// Diamond's default device pattern (anchored at the start, as Python's `re.match`).
pub const DEFAULT_DEVICES: &str = r"^(?:PhysicalDrive[0-9]+$|md[0-9]+$|sd[a-z]+[0-9]*$|x?vd[a-z]+[0-9]*$|disk[0-9]+$|nvme[0-9]+n[0-9]+(p[0-9]+)?$|dm-[0-9]+$)";

/// Which devices to report.
#[derive(Debug, Clone)]
pub struct Filter {
    pub devices: Regex,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            devices: Regex::new(DEFAULT_DEVICES).expect("the default device pattern is valid"),
        }
    }
}

/// The counters of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    pub name: String,
    pub reads: u64,
    pub reads_merged: u64,
    pub reads_sectors: u64,
    pub reads_ms: u64,
    pub writes: u64,
    pub writes_merged: u64,
    pub writes_sectors: u64,
    pub writes_ms: u64,
    pub in_progress: u64,
    pub io_ms: u64,
    pub io_ms_weighted: u64,
}

impl From<&DiskStat> for Disk {
    fn from(d: &DiskStat) -> Self {
        Disk {
            name: d.name.clone(),
            reads: d.reads,
            reads_merged: d.merged,
            reads_sectors: d.sectors_read,
            reads_ms: d.time_reading,
            writes: d.writes,
            writes_merged: d.writes_merged,
            writes_sectors: d.sectors_written,
            writes_ms: d.time_writing,
            in_progress: d.in_progress,
            io_ms: d.time_in_progress,
            io_ms_weighted: d.weighted_time_in_progress,
        }
    }
}

/// Parses `/proc/diskstats`; short lines (old kernels' partitions) are skipped, as Diamond does.
pub fn parse(text: &str, filter: &Filter) -> Vec<Disk> {
    text.lines()
        .filter_map(|l| DiskStat::from_line(l).ok())
        .filter(|d| !d.name.starts_with("ram") && !d.name.starts_with("loop"))
        .filter(|d| filter.devices.is_match(&d.name))
        .map(|d| Disk::from(&d))
        .collect()
}

/// Reads `<root>/proc/diskstats`.
pub fn read(root: &Path, filter: &Filter) -> Result<Vec<Disk>, CollectError> {
    Ok(parse(&read_file(root, REL, Collector::Diskusage)?, filter))
}

/// Bytes per sector in /proc/diskstats (always 512, whatever the device's own sector size).
const SECTOR: f64 = 512.0;

pub fn points(prev: Option<&[Disk]>, cur: &[Disk], elapsed: f64, out: &mut Vec<Point>) {
    let Some(prev) = rate_base(prev, elapsed) else {
        return;
    };
    for d in cur {
        let Some(p) = prev.iter().find(|p| p.name == d.name) else {
            continue;
        };
        let f = |old: u64, new: u64| delta(old, new) as f64;
        let reads = f(p.reads, d.reads);
        let writes = f(p.writes, d.writes);
        let io = reads + writes;
        if io <= 0.0 {
            continue;
        }
        let reads_merged = f(p.reads_merged, d.reads_merged);
        let writes_merged = f(p.writes_merged, d.writes_merged);
        let reads_byte = f(p.reads_sectors, d.reads_sectors) * SECTOR;
        let writes_byte = f(p.writes_sectors, d.writes_sectors) * SECTOR;
        let reads_ms = f(p.reads_ms, d.reads_ms);
        let writes_ms = f(p.writes_ms, d.writes_ms);
        let io_ms = f(p.io_ms, d.io_ms);
        let io_ms_weighted = f(p.io_ms_weighted, d.io_ms_weighted);
        let per = |x: f64, n: f64| if n > 0.0 { x / n } else { 0.0 };
        let service_time = io_ms / io;
        let values = [
            ("reads", reads),
            ("reads_merged", reads_merged),
            ("reads_byte", reads_byte),
            ("reads_milliseconds", reads_ms),
            ("writes", writes),
            ("writes_merged", writes_merged),
            ("writes_byte", writes_byte),
            ("writes_milliseconds", writes_ms),
            ("io_in_progress", d.in_progress as f64),
            ("io_milliseconds", io_ms),
            ("io_milliseconds_weighted", io_ms_weighted),
            ("read_requests_merged_per_second", reads_merged / elapsed),
            ("write_requests_merged_per_second", writes_merged / elapsed),
            ("reads_per_second", reads / elapsed),
            ("writes_per_second", writes / elapsed),
            ("read_byte_per_second", reads_byte / elapsed),
            ("write_byte_per_second", writes_byte / elapsed),
            ("io", io),
            ("average_queue_length", io_ms_weighted / elapsed / 1000.0),
            ("util_percentage", io_ms / elapsed / 10.0),
            ("read_await", per(reads_ms, reads)),
            ("write_await", per(writes_ms, writes)),
            ("average_request_size_byte", (reads_byte + writes_byte) / io),
            ("iops", io / elapsed),
            ("service_time", service_time),
            ("await", (reads_ms + writes_ms) / io),
            (
                "concurrent_io",
                (reads + writes) / elapsed * (service_time / 1000.0),
            ),
        ];
        let dev = d.name.replace('/', "_");
        for (k, v) in values {
            out.push(Point::new(format!("iostat.{dev}.{k}"), v, 3));
        }
    }
}
