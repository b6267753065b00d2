//! nginx / Apache access logs (common or combined format).
//!
//! Logster ships this as `SampleLogster` (status classes per second); this
//! parser also reads the bytes and a response time.
//! A line counts when it reads
//! `<host> <ident> <user> [<time>] "<request>" <status> <bytes|->`, optionally
//! followed by `"<referer>" "<agent>"`, optionally followed by a response
//! time: a number with a decimal point is seconds (nginx `$request_time`),
//! a whole number microseconds (Apache `%D`); `rt=` or `request_time=` before
//! it is allowed.
//!
//! Metrics: `http_1xx` … `http_5xx` per second of the interval (Logster's
//! names and buckets), `bytes` per second (a `-` counts as 0) as gauges, and
//! one `response_time` timer value (`|ms`, milliseconds) per line that has one.

use regex::Regex;

use super::super::metric::{Kind, Metric, Value};
use super::{per_second, Parser, StatusClasses};

/// The access-log parser's counts for one interval.
#[derive(Debug)]
pub struct Access {
    re: Regex,
    classes: StatusClasses,
    bytes: u64,
    times_ms: Vec<f64>,
}

impl Default for Access {
    fn default() -> Self {
        Self::new()
    }
}

impl Access {
    pub fn new() -> Self {
        Self {
            re: Regex::new(
                r#"^\S+ \S+ .*? \[[^\]]*\] "(?:[^"\\]|\\.)*" ([0-9]{3}) ([0-9]+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?(?:\s+(?:rt=|request_time=)?([0-9]+(?:\.[0-9]*)?))?"#,
            )
            .expect("built-in access pattern is valid"),
            classes: StatusClasses::default(),
            bytes: 0,
            times_ms: Vec::new(),
        }
    }
}

impl Parser for Access {
    fn parse_line(&mut self, line: &str) -> bool {
        let Some(c) = self.re.captures(line) else {
            return false;
        };
        let Ok(status) = c[1].parse::<u16>() else {
            return false;
        };
        self.classes.count(status);
        self.bytes += c[2].parse::<u64>().unwrap_or(0);
        if let Some(t) = c.get(3) {
            let t = t.as_str();
            if let Ok(v) = t.parse::<f64>() {
                self.times_ms.push(if t.contains('.') {
                    v * 1000.0
                } else {
                    v / 1000.0
                });
            }
        }
        true
    }

    fn take_metrics(&mut self, duration: f64) -> Vec<Metric> {
        let mut out = self.classes.take_metrics(duration);
        out.push(Metric::gauge(
            "bytes",
            per_second(self.bytes as f64, duration),
        ));
        out.extend(self.times_ms.drain(..).map(|ms| Metric {
            name: "response_time".into(),
            value: Value::Float(ms),
            kind: Kind::Timer,
        }));
        self.bytes = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_with_times() {
        let mut p = Access::new();
        let lines = [
            r#"10.0.0.1 - - [25/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.0" 0.250"#,
            r#"10.0.0.2 - bob [25/Nov/2026:10:00:02 +0000] "GET /x HTTP/1.1" 404 - "-" "a \"quoted\" agent""#,
            r#"10.0.0.3 - - [25/Nov/2026:10:00:03 +0000] "POST /y HTTP/1.0" 503 88 "http://r/" "ua" 1500"#,
            r#"10.0.0.4 - - [25/Nov/2026:10:00:04 +0000] "GET /z HTTP/1.1" 302 0"#,
            "garbage",
        ];
        let matched: Vec<bool> = lines.iter().map(|l| p.parse_line(l)).collect();
        assert_eq!(matched, [true, true, true, true, false]);
        let got: Vec<String> = p
            .take_metrics(2.0)
            .iter()
            .map(|m| format!("{} {} {}", m.name, m.value, m.kind.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                "http_1xx 0.0 g",
                "http_2xx 0.5 g",
                "http_3xx 0.5 g",
                "http_4xx 0.5 g",
                "http_5xx 0.5 g",
                "bytes 350.0 g",
                "response_time 250.0 ms",
                "response_time 1.5 ms",
            ]
        );
    }
}
