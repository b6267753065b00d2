//! Paging and swapping rates from `/proc/vmstat` (Diamond's `vmstat` collector).
//!
//! Names: `vmstat.pgpgin`, `pgpgout`, `pswpin`, `pswpout`, `pgfault`,
//! `pgmajfault`: change per second since the previous reading, two decimals.
//! The first reading is a baseline.

use std::path::Path;

use procfs::{FromRead, VmStat as ProcVmStat};

use super::sample::{delta, parse_error, rate_base, read_file, CollectError, Collector, Point};

const REL: &str = "proc/vmstat";

/// The counters Diamond reports, in the kernel's order.
pub const KEYS: [&str; 6] = [
    "pgpgin",
    "pgpgout",
    "pswpin",
    "pswpout",
    "pgfault",
    "pgmajfault",
];

/// One reading: the counters of [`KEYS`] that the kernel has.
#[derive(Debug, Clone, PartialEq)]
pub struct VmStat {
    pub counters: Vec<(&'static str, u64)>,
}

pub fn parse(text: &str) -> Result<VmStat, String> {
    let map = ProcVmStat::from_read(text.as_bytes())
        .map_err(|e| e.to_string())?
        .0;
    Ok(VmStat {
        counters: KEYS
            .iter()
            .filter_map(|&k| map.get(k).map(|&v| (k, v.max(0) as u64)))
            .collect(),
    })
}

/// Reads `<root>/proc/vmstat`.
pub fn read(root: &Path) -> Result<VmStat, CollectError> {
    let text = read_file(root, REL, Collector::Vmstat)?;
    parse(&text).map_err(|m| parse_error(root, REL, Collector::Vmstat, m))
}

pub fn points(prev: Option<&VmStat>, cur: &VmStat, elapsed: f64, out: &mut Vec<Point>) {
    let Some(prev) = rate_base(prev, elapsed) else {
        return;
    };
    for &(k, v) in &cur.counters {
        if let Some(&(_, old)) = prev.counters.iter().find(|(p, _)| *p == k) {
            out.push(Point::new(
                format!("vmstat.{k}"),
                delta(old, v) as f64 / elapsed,
                2,
            ));
        }
    }
}
