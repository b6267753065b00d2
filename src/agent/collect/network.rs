//! Interface traffic from `/proc/net/dev` (Diamond's `network` collector).
//!
//! For every interface whose name starts with one of the configured prefixes
//! (Diamond's defaults: eth, bond, em, p1p, eno, enp, ens, enx), the change
//! per second since the previous reading of each `/proc/net/dev` column:
//! `network.<if>.rx_packets`, `rx_errors`, `rx_drop`, `rx_fifo`, `rx_frame`,
//! `rx_compressed`, `rx_multicast`, and the `tx_` columns `tx_packets`,
//! `tx_errors`, `tx_drop`, `tx_fifo`, `tx_colls`, `tx_carrier`,
//! `tx_compressed`, whole numbers. Bytes are sent twice, as `rx_bit` /
//! `tx_bit` and `rx_byte` / `tx_byte`, two decimals. The first reading is a
//! baseline.

use std::path::Path;

use procfs::net::{DeviceStatus, InterfaceDeviceStatus};
use procfs::FromRead;

use super::sample::{delta, parse_error, rate_base, read_file, CollectError, Collector, Point};

const REL: &str = "proc/net/dev";

/// Diamond's default interface prefixes.
pub const DEFAULT_PREFIXES: [&str; 8] = ["eth", "bond", "em", "p1p", "eno", "enp", "ens", "enx"];

/// Which interfaces to report.
#[derive(Debug, Clone)]
pub struct Filter {
    pub prefixes: Vec<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            prefixes: DEFAULT_PREFIXES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// The counters of one interface, `rx_bytes` first, in `/proc/net/dev` column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub name: String,
    pub counters: [u64; 16],
}

/// Column names, in order.
pub const COLUMNS: [&str; 16] = [
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_drop",
    "rx_fifo",
    "rx_frame",
    "rx_compressed",
    "rx_multicast",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_drop",
    "tx_fifo",
    "tx_colls",
    "tx_carrier",
    "tx_compressed",
];

fn counters(d: &DeviceStatus) -> [u64; 16] {
    [
        d.recv_bytes,
        d.recv_packets,
        d.recv_errs,
        d.recv_drop,
        d.recv_fifo,
        d.recv_frame,
        d.recv_compressed,
        d.recv_multicast,
        d.sent_bytes,
        d.sent_packets,
        d.sent_errs,
        d.sent_drop,
        d.sent_fifo,
        d.sent_colls,
        d.sent_carrier,
        d.sent_compressed,
    ]
}

/// Parses `/proc/net/dev`, keeping the interfaces `filter` selects, sorted by name.
pub fn parse(text: &str, filter: &Filter) -> Result<Vec<Interface>, String> {
    let map = InterfaceDeviceStatus::from_read(text.as_bytes())
        .map_err(|e| e.to_string())?
        .0;
    let mut v: Vec<Interface> = map
        .values()
        .filter(|d| {
            filter
                .prefixes
                .iter()
                .any(|p| d.name.starts_with(p.as_str()))
        })
        .map(|d| Interface {
            name: d.name.clone(),
            counters: counters(d),
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// Reads `<root>/proc/net/dev`.
pub fn read(root: &Path, filter: &Filter) -> Result<Vec<Interface>, CollectError> {
    let text = read_file(root, REL, Collector::Network)?;
    parse(&text, filter).map_err(|m| parse_error(root, REL, Collector::Network, m))
}

pub fn points(prev: Option<&[Interface]>, cur: &[Interface], elapsed: f64, out: &mut Vec<Point>) {
    let Some(prev) = rate_base(prev, elapsed) else {
        return;
    };
    for i in cur {
        let Some(p) = prev.iter().find(|p| p.name == i.name) else {
            continue;
        };
        for (col, (&new, &old)) in COLUMNS.iter().zip(i.counters.iter().zip(&p.counters)) {
            let rate = delta(old, new) as f64 / elapsed;
            if let Some(dir) = col.strip_suffix("_bytes") {
                out.push(Point::new(
                    format!("network.{}.{dir}_bit", i.name),
                    rate * 8.0,
                    2,
                ));
                out.push(Point::new(
                    format!("network.{}.{dir}_byte", i.name),
                    rate,
                    2,
                ));
            } else {
                out.push(Point::new(format!("network.{}.{col}", i.name), rate, 0));
            }
        }
    }
}
