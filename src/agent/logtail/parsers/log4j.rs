//! Log4j output counted per level: Logster's `Log4jLogster`.
//!
//! A line counts when it starts with a timestamp made of digits, `-`, `_`,
//! `:` and `.`, a space, then one of the tracked levels (default `WARN`,
//! `ERROR`, `FATAL`; `--log-levels` changes them), e.g.
//! `2024-11-25_10:00:01.123 ERROR …`. One metric per level, named as the
//! level, in the order given: the level's lines per second of the interval.

use regex::Regex;

use super::super::metric::Metric;
use super::{per_second, Parser};

/// The Log4j parser's counts for one interval.
#[derive(Debug)]
pub struct Log4j {
    re: Regex,
    levels: Vec<(String, u64)>,
}

impl Log4j {
    /// A parser tracking `levels`; an empty level or an empty list is an error.
    pub fn new(levels: &[String]) -> Result<Self, String> {
        if levels.is_empty() || levels.iter().any(|l| l.trim().is_empty()) {
            return Err(format!("--log-levels: empty level in {levels:?}"));
        }
        let alt: Vec<String> = levels.iter().map(|l| regex::escape(l.trim())).collect();
        let re = Regex::new(&format!(r"^[0-9_:.\-]+ ({})", alt.join("|")))
            .map_err(|e| format!("--log-levels: {e}"))?;
        Ok(Self {
            re,
            levels: levels.iter().map(|l| (l.trim().to_owned(), 0)).collect(),
        })
    }
}

impl Parser for Log4j {
    fn parse_line(&mut self, line: &str) -> bool {
        let Some(c) = self.re.captures(line) else {
            return false;
        };
        match self.levels.iter_mut().find(|(l, _)| *l == c[1]) {
            Some((_, n)) => {
                *n += 1;
                true
            }
            None => false,
        }
    }

    fn take_metrics(&mut self, duration: f64) -> Vec<Metric> {
        self.levels
            .iter_mut()
            .map(|(l, n)| Metric::gauge(l.clone(), per_second(std::mem::take(n) as f64, duration)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_level_rates() {
        let levels: Vec<String> = ["WARN", "ERROR", "FATAL"].map(String::from).to_vec();
        let mut p = Log4j::new(&levels).unwrap();
        let lines = [
            "2024-11-25_10:00:01.123 ERROR [main] db down",
            "10:00:02.500 WARN [main] slow",
            "10:00:03.000 ERROR [main] again",
            "10:00:04.000 INFO [main] fine",
            "2024-11-25 10:00:05,000 ERROR space in the timestamp is not Logster's format",
        ];
        let matched: Vec<bool> = lines.iter().map(|l| p.parse_line(l)).collect();
        assert_eq!(matched, [true, true, true, false, false]);
        let got: Vec<String> = p
            .take_metrics(2.0)
            .iter()
            .map(|m| format!("{} {}", m.name, m.value))
            .collect();
        assert_eq!(got, ["WARN 0.5", "ERROR 1.0", "FATAL 0.0"]);
        assert!(Log4j::new(&[String::new()]).is_err());
    }
}
