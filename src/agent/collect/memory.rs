//! Memory from `/proc/meminfo` in bytes (Diamond's `memory` collector).
//!
//! Names are the kernel's keys: `memory.MemTotal`, `memory.Buffers`, … for
//! Diamond's default key list, whole bytes; plus `memory.MemUsedPercentage`
//! = (`MemTotal` − `MemAvailable`) / `MemTotal` × 100 when `MemAvailable` exists,
//! sent with no decimals as Diamond does.

use std::path::Path;

use procfs::{FromRead, Meminfo};

use super::sample::{parse_error, read_file, CollectError, Collector, Point};

const REL: &str = "proc/meminfo";

/// The values Diamond reports, in bytes, in Diamond's key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    pub values: Vec<(&'static str, u64)>,
}

/// Parses the text of `/proc/meminfo`.
pub fn parse(text: &str) -> Result<Memory, String> {
    let m = Meminfo::from_read(text.as_bytes()).map_err(|e| e.to_string())?;
    let all: [(&'static str, Option<u64>); 16] = [
        ("MemTotal", Some(m.mem_total)),
        ("MemFree", Some(m.mem_free)),
        ("MemAvailable", m.mem_available),
        ("Buffers", Some(m.buffers)),
        ("Cached", Some(m.cached)),
        ("Active", Some(m.active)),
        ("Dirty", Some(m.dirty)),
        ("Inactive", Some(m.inactive)),
        ("Shmem", m.shmem),
        ("SwapTotal", Some(m.swap_total)),
        ("SwapFree", Some(m.swap_free)),
        ("SwapCached", Some(m.swap_cached)),
        ("VmallocTotal", Some(m.vmalloc_total)),
        ("VmallocUsed", Some(m.vmalloc_used)),
        ("VmallocChunk", Some(m.vmalloc_chunk)),
        ("Committed_AS", Some(m.committed_as)),
    ];
    Ok(Memory {
        values: all.iter().filter_map(|&(k, v)| v.map(|v| (k, v))).collect(),
    })
}

/// Reads `<root>/proc/meminfo`.
pub fn read(root: &Path) -> Result<Memory, CollectError> {
    let text = read_file(root, REL, Collector::Memory)?;
    parse(&text).map_err(|m| parse_error(root, REL, Collector::Memory, m))
}

/// One point per key, then `MemUsedPercentage`.
pub fn points(m: &Memory, out: &mut Vec<Point>) {
    for &(k, v) in &m.values {
        out.push(Point::new(format!("memory.{k}"), v as f64, 0));
    }
    let get = |key: &str| m.values.iter().find(|(k, _)| *k == key).map(|&(_, v)| v);
    if let (Some(total), Some(avail)) = (get("MemTotal"), get("MemAvailable")) {
        if total > 0 {
            let used = total.saturating_sub(avail) as f64 * 100.0 / total as f64;
            // Diamond rounds to 2 decimals, then prints with none.
            let used = (used * 100.0).round() / 100.0;
            out.push(Point::new("memory.MemUsedPercentage", used, 0));
        }
    }
}
