//! Built-in log parsers, with Logster's metric names and formulas.
//!
//! Contract: a [`Parser`] is fed the lines of one interval, one at a time
//! ([`Parser::parse_line`] says whether the line was one it knows), then asked
//! for the interval's metrics ([`Parser::take_metrics`], which starts the next
//! interval from zero). As in Logster, every metric is a gauge and rates are
//! the interval's count divided by its length in seconds.
//!
//! | parser | Logster class | metrics |
//! | --- | --- | --- |
//! | [`postfix`] | `PostfixLogster` | `numSent`, `pctSent`, `numDeferred`, `pctDeferred`, `numBounced`, `pctBounced`, `mailTxnsSec`, `mailSentSec`, `avgDelay`, `totalTxns`, `totalRxns`, the TLS counts |
//! | [`squid`] | `SquidLogster` | `http_1xx` … `http_5xx`, `size`, `squid_<CODE>` per second |
//! | [`log4j`] | `Log4jLogster` | one per level (`WARN`, `ERROR`, `FATAL`) per second |
//! | [`access`] | `SampleLogster`, extended | `http_1xx` … `http_5xx` per second, `bytes` per second, `response_time` timer |

pub mod access;
pub mod log4j;
pub mod postfix;
pub mod squid;

use super::metric::Metric;

/// A log format the tailer understands out of the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ParserKind {
    /// Postfix mail log (as Logster's Postfix parser).
    Postfix,
    /// Squid native access log (as Logster's Squid parser).
    Squid,
    /// Log4j output, counted per level (as Logster's Log4j parser).
    Log4j,
    /// nginx / Apache access log, common or combined format, optional response time.
    Access,
}

impl ParserKind {
    pub fn name(self) -> &'static str {
        match self {
            ParserKind::Postfix => "postfix",
            ParserKind::Squid => "squid",
            ParserKind::Log4j => "log4j",
            ParserKind::Access => "access",
        }
    }
}

/// One interval's worth of line parsing.
pub trait Parser {
    /// Reads one line (without its newline); `true` if the line is one this parser counts.
    fn parse_line(&mut self, line: &str) -> bool;
    /// The metrics of the lines read since the last call, over `duration` seconds; resets.
    fn take_metrics(&mut self, duration: f64) -> Vec<Metric>;
}

/// A new parser of `kind`; `log_levels` is for log4j.
pub fn new(kind: ParserKind, log_levels: &[String]) -> Result<Box<dyn Parser>, String> {
    Ok(match kind {
        ParserKind::Postfix => Box::new(postfix::Postfix::new()),
        ParserKind::Squid => Box::new(squid::Squid::new()),
        ParserKind::Log4j => Box::new(log4j::Log4j::new(log_levels)?),
        ParserKind::Access => Box::new(access::Access::new()),
    })
}

/// Logster's `count / duration` (a float; 0 when the duration is 0).
pub(crate) fn per_second(count: f64, duration: f64) -> super::metric::Value {
    super::metric::Value::Float(if duration > 0.0 {
        count / duration
    } else {
        0.0
    })
}

/// Lines counted per HTTP status class, Logster's buckets: below 200, 300, 400, 500, and
/// the rest; reported as `http_1xx` … `http_5xx` per second (the access and Squid parsers).
#[derive(Debug, Default)]
pub(crate) struct StatusClasses([u64; 5]);

impl StatusClasses {
    /// Counts one line with HTTP status `status`.
    pub(crate) fn count(&mut self, status: u16) {
        let class = match status {
            0..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
        self.0[class] += 1;
    }

    /// `http_1xx` … `http_5xx` per second over `duration`; the next interval starts from zero.
    pub(crate) fn take_metrics(&mut self, duration: f64) -> Vec<Metric> {
        const NAMES: [&str; 5] = ["http_1xx", "http_2xx", "http_3xx", "http_4xx", "http_5xx"];
        NAMES
            .iter()
            .zip(std::mem::take(&mut self.0))
            .map(|(n, c)| Metric::gauge(*n, per_second(c as f64, duration)))
            .collect()
    }
}
