//! What the log parsers produce, and how it is written as statsd or carbon lines.
//!
//! Contract:
//! - A [`Metric`] is a name (relative to the prefix), a [`Value`] and a
//!   statsd type ([`Kind`]: `c`, `g`, `ms`).
//! - [`Value`] prints as Logster (Python) prints its numbers: an integer as
//!   digits (`3`), a float in its shortest round-trip form with at least one
//!   decimal (`60.0`, `33.333333333333336`, `1e-05`).
//! - [`statsd_lines`] writes `prefix.name.suffix:value|type`, one metric a line.
//! - [`carbon_lines`] writes `prefix.name.suffix value timestamp`; carbon has
//!   no timers, so the timer values of one name become their mean, and counter
//!   values of one name their sum.

use std::fmt;

/// The statsd type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Kind {
    /// `c`
    #[serde(rename = "c")]
    Counter,
    /// `g`
    #[serde(rename = "g")]
    Gauge,
    /// `ms`
    #[serde(rename = "ms")]
    Timer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "c",
            Kind::Gauge => "g",
            Kind::Timer => "ms",
        }
    }
}

/// A number as Logster holds it: a Python `int` or `float`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
}

impl Value {
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&crate::py::format::repr(x)),
        }
    }
}

/// One metric of one interval, its name relative to the prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub value: Value,
    pub kind: Kind,
}

impl Metric {
    pub fn gauge(name: impl Into<String>, value: Value) -> Self {
        Self {
            name: name.into(),
            value,
            kind: Kind::Gauge,
        }
    }
}

/// `prefix.name.suffix`, leaving out the empty parts.
pub fn full_name(prefix: &str, name: &str, suffix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + name.len() + suffix.len() + 2);
    for part in [prefix, name, suffix] {
        if part.is_empty() {
            continue;
        }
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(part);
    }
    s
}

/// Statsd lines (no newline), in the order of `metrics`.
pub fn statsd_lines(metrics: &[Metric], prefix: &str, suffix: &str) -> Vec<String> {
    metrics
        .iter()
        .map(|m| {
            format!(
                "{}:{}|{}",
                full_name(prefix, &m.name, suffix),
                m.value,
                m.kind.as_str()
            )
        })
        .collect()
}

/// Carbon plaintext lines (no newline): one per name, in order of first appearance.
pub fn carbon_lines(metrics: &[Metric], prefix: &str, suffix: &str, timestamp: u64) -> Vec<String> {
    // (name, kind, first value, sum, count)
    let mut merged: Vec<(&str, Kind, Value, f64, u64)> = Vec::new();
    for m in metrics {
        match merged.iter_mut().find(|e| e.0 == m.name) {
            Some(e) => {
                e.2 = m.value;
                e.3 += m.value.as_f64();
                e.4 += 1;
            }
            None => merged.push((&m.name, m.kind, m.value, m.value.as_f64(), 1)),
        }
    }
    merged
        .into_iter()
        .map(|(name, kind, last, sum, n)| {
            let value = match kind {
                _ if n == 1 => last,
                Kind::Gauge => last,
                Kind::Counter => match last {
                    Value::Int(_) => Value::Int(sum as i64),
                    Value::Float(_) => Value::Float(sum),
                },
                Kind::Timer => Value::Float(sum / n as f64),
            };
            format!("{} {value} {timestamp}", full_name(prefix, name, suffix))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::py::format::repr as py_float;

    #[test]
    fn numbers_print_like_python() {
        assert_eq!(Value::Int(3).to_string(), "3");
        assert_eq!(py_float(60.0), "60.0");
        assert_eq!(py_float(100.0 / 3.0), "33.333333333333336");
        assert_eq!(py_float(0.1), "0.1");
        assert_eq!(py_float(0.0), "0.0");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(1.5e16), "1.5e+16");
        assert_eq!(py_float(1e22), "1e+22");
        assert_eq!(py_float(-2.5), "-2.5");
        assert_eq!(py_float(0.0001), "0.0001");
        assert_eq!(py_float(123_456_789_012_345.0), "123456789012345.0");
    }

    #[test]
    fn statsd_and_carbon_lines() {
        let m = [
            Metric::gauge("numSent", Value::Int(3)),
            Metric {
                name: "rt".into(),
                value: Value::Float(10.0),
                kind: Kind::Timer,
            },
            Metric {
                name: "rt".into(),
                value: Value::Float(20.0),
                kind: Kind::Timer,
            },
        ];
        assert_eq!(
            statsd_lines(&m, "servers.h.postfix", ""),
            [
                "servers.h.postfix.numSent:3|g",
                "servers.h.postfix.rt:10.0|ms",
                "servers.h.postfix.rt:20.0|ms"
            ]
        );
        assert_eq!(
            carbon_lines(&m, "", "x", 9),
            ["numSent.x 3 9", "rt.x 15.0 9"]
        );
    }
}
