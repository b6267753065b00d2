//! Socket counts from `/proc/net/sockstat` and `sockstat6` (Diamond's `sockstat` collector).
//!
//! Diamond publishes these under `sockets.`: `used`, `tcp_inuse`,
//! `tcp_orphan`, `tcp_tw`, `tcp_alloc`, `tcp_mem`, `udp_inuse`, `udp_mem`.
//! The IPv4 and IPv6 lines are added (`TCP6: inuse` counts into `tcp_inuse`).
//! A missing `sockstat6` (no IPv6) is not an error. Whole numbers.

use std::path::Path;

use super::sample::{read_file, CollectError, Collector, Point};

/// Output order.
pub const KEYS: [&str; 8] = [
    "used",
    "tcp_inuse",
    "tcp_orphan",
    "tcp_tw",
    "tcp_alloc",
    "tcp_mem",
    "udp_inuse",
    "udp_mem",
];

/// One reading: the keys of [`KEYS`] that appeared, summed over both files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SockStat {
    pub values: Vec<(&'static str, u64)>,
}

impl SockStat {
    fn add(&mut self, key: &'static str, v: u64) {
        match self.values.iter_mut().find(|(k, _)| *k == key) {
            Some((_, x)) => *x += v,
            None => self.values.push((key, v)),
        }
    }
}

/// Adds the counts of one file's text to `s`.
pub fn parse_into(text: &str, s: &mut SockStat) {
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else {
            continue;
        };
        let prefix = match proto {
            "sockets" => "",
            "TCP" | "TCP6" => "tcp_",
            "UDP" | "UDP6" => "udp_",
            _ => continue,
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        for pair in words.chunks(2) {
            let [name, value] = pair else { continue };
            let Ok(v) = value.parse::<u64>() else {
                continue;
            };
            let key = format!("{prefix}{name}");
            if let Some(&k) = KEYS.iter().find(|k| **k == key) {
                s.add(k, v);
            }
        }
    }
}

/// Reads `<root>/proc/net/sockstat` and, if present, `sockstat6`.
pub fn read(root: &Path) -> Result<SockStat, CollectError> {
    let mut s = SockStat::default();
    parse_into(
        &read_file(root, "proc/net/sockstat", Collector::Sockstat)?,
        &mut s,
    );
    if let Ok(t6) = std::fs::read_to_string(root.join("proc/net/sockstat6")) {
        parse_into(&t6, &mut s);
    }
    s.values
        .sort_by_key(|(k, _)| KEYS.iter().position(|x| x == k));
    Ok(s)
}

pub fn points(s: &SockStat, out: &mut Vec<Point>) {
    for &(k, v) in &s.values {
        out.push(Point::new(format!("sockets.{k}"), v as f64, 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_ipv4_and_ipv6() {
        let mut s = SockStat::default();
        parse_into(
            "sockets: used 13\nTCP: inuse 1 orphan 0 tw 2 alloc 3 mem 49\nUDP: inuse 4 mem 5\nUDPLITE: inuse 9\nFRAG: inuse 0 memory 0\n",
            &mut s,
        );
        parse_into("TCP6: inuse 2\nUDP6: inuse 1\nUDPLITE6: inuse 7\n", &mut s);
        assert_eq!(
            s.values,
            [
                ("used", 13),
                ("tcp_inuse", 3),
                ("tcp_orphan", 0),
                ("tcp_tw", 2),
                ("tcp_alloc", 3),
                ("tcp_mem", 49),
                ("udp_inuse", 5),
                ("udp_mem", 5)
            ]
        );
    }
}
