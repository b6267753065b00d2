//! Squid native access log: Logster's `SquidLogster`.
//!
//! A line counts when it reads `<time> <n> … <CODE>/<status> …` where `<time>`
//! is digits and dots, `<n>` digits, `<CODE>` is `TCP_`, `UDP_` or `NONE_`
//! followed by capitals and underscores, and `<status>` three digits.
//! Metrics per second of the interval, in this order: `http_1xx` … `http_5xx`
//! (by status: below 200, 300, 400, 500, the rest), `size` (the sum of the
//! second field: Logster names it size, although in Squid's native format
//! that column is the elapsed milliseconds), then `squid_TCP_MISS`,
//! `squid_TCP_DENIED`, `squid_TCP_HIT`, `squid_TCP_MEM_HIT` and `squid_OTHER`
//! for every other code.

use regex::Regex;

use super::super::metric::Metric;
use super::{per_second, Parser, StatusClasses};

/// The Squid codes Logster counts by name; the rest count as `OTHER`.
pub const CODES: [&str; 5] = ["TCP_MISS", "TCP_DENIED", "TCP_HIT", "TCP_MEM_HIT", "OTHER"];

/// The Squid parser's counts for one interval.
#[derive(Debug)]
pub struct Squid {
    re: Regex,
    classes: StatusClasses,
    codes: [u64; 5],
    size: u64,
}

impl Default for Squid {
    fn default() -> Self {
        Self::new()
    }
}

impl Squid {
    pub fn new() -> Self {
        Self {
            re: Regex::new(r"^[0-9.]+ +([0-9]+) .*((?:TCP|UDP|NONE)_[A-Z_]+)/([0-9]{3}) ")
                .expect("built-in squid pattern is valid"),
            classes: StatusClasses::default(),
            codes: [0; 5],
            size: 0,
        }
    }
}

impl Parser for Squid {
    fn parse_line(&mut self, line: &str) -> bool {
        let Some(c) = self.re.captures(line) else {
            return false;
        };
        let (Ok(size), Ok(status)) = (c[1].parse::<u64>(), c[3].parse::<u16>()) else {
            return false;
        };
        self.classes.count(status);
        let code = CODES[..4].iter().position(|k| *k == &c[2]).unwrap_or(4);
        self.codes[code] += 1;
        self.size += size;
        true
    }

    fn take_metrics(&mut self, duration: f64) -> Vec<Metric> {
        let mut out = self.classes.take_metrics(duration);
        out.push(Metric::gauge(
            "size",
            per_second(self.size as f64, duration),
        ));
        for (code, n) in CODES.iter().zip(self.codes) {
            out.push(Metric::gauge(
                format!("squid_{code}"),
                per_second(n as f64, duration),
            ));
        }
        self.codes = [0; 5];
        self.size = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_per_second() {
        let mut p = Squid::new();
        let lines = [
            "1286536308.779 180 192.168.0.224 TCP_MISS/200 411 GET http://a/ - DIRECT/1.2.3.4 text/html",
            "1286536309.100 20 192.168.0.224 TCP_MEM_HIT/304 100 GET http://a/b - NONE/- text/html",
            "1286536310.000 0 192.168.0.1 TCP_DENIED/403 50 GET http://c/ - NONE/- text/html",
            "1286536310.500 5 192.168.0.1 TCP_REFRESH_MODIFIED/502 50 GET http://c/ - DIRECT/1.1.1.1 -",
            "not a squid line",
        ];
        let matched: Vec<bool> = lines.iter().map(|l| p.parse_line(l)).collect();
        assert_eq!(matched, [true, true, true, true, false]);
        let got: Vec<String> = p
            .take_metrics(4.0)
            .iter()
            .map(|m| format!("{} {}", m.name, m.value))
            .collect();
        assert_eq!(
            got,
            [
                "http_1xx 0.0",
                "http_2xx 0.25",
                "http_3xx 0.25",
                "http_4xx 0.25",
                "http_5xx 0.25",
                "size 51.25",
                "squid_TCP_MISS 0.25",
                "squid_TCP_DENIED 0.25",
                "squid_TCP_HIT 0.0",
                "squid_TCP_MEM_HIT 0.25",
                "squid_OTHER 0.25",
            ]
        );
    }
}
