//! The StatsD metric types a run sends and their proportions (`--mix "c=60,ms=20,g=10,s=10"`).
//!
//! Contract: a [`Mix`] holds at least one type with a positive weight, each type at most once.
//! Types are assigned to names, not lines: name `i` of `n` always has the same type, and the
//! share of names of each type equals its share of the total weight (to within one name), so a
//! pool that cycles through every name has the asked type mix in its lines too.

use std::fmt;

use thiserror::Error;

/// A StatsD metric type as written after the `|` of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    Counter,
    Timer,
    Gauge,
    Set,
    Histogram,
    Distribution,
}

impl MetricType {
    /// All types, in the order `--mix` documents them.
    pub const ALL: [MetricType; 6] = [
        MetricType::Counter,
        MetricType::Timer,
        MetricType::Gauge,
        MetricType::Set,
        MetricType::Histogram,
        MetricType::Distribution,
    ];

    /// The type code on the wire: `c`, `ms`, `g`, `s`, `h`, `d`.
    pub fn code(self) -> &'static str {
        match self {
            MetricType::Counter => "c",
            MetricType::Timer => "ms",
            MetricType::Gauge => "g",
            MetricType::Set => "s",
            MetricType::Histogram => "h",
            MetricType::Distribution => "d",
        }
    }

    /// The type for a wire code, if it is one of ours.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Whether a sample rate (`|@r`) is meaningful for the type (etsy honours it for c and ms).
    pub fn takes_sample_rate(self) -> bool {
        matches!(
            self,
            MetricType::Counter
                | MetricType::Timer
                | MetricType::Histogram
                | MetricType::Distribution
        )
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a `--mix` value was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MixError {
    #[error("mix entry `{0}` is not TYPE=WEIGHT (e.g. c=60)")]
    Syntax(String),
    #[error("mix entry `{0}`: unknown type (use c, ms, g, s, h, d)")]
    UnknownType(String),
    #[error("mix entry `{0}`: weight is not a whole number")]
    Weight(String),
    #[error("type `{0}` appears twice in the mix")]
    Duplicate(MetricType),
    #[error("the mix has no type with a positive weight")]
    Empty,
}

/// Types with positive weights, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(MetricType, u64)>,
    total: u64,
}

impl Mix {
    /// Parses `c=60,ms=20,g=10,s=10`; weights are relative (they need not add up to 100).
    pub fn parse(spec: &str) -> Result<Self, MixError> {
        let mut weights: Vec<(MetricType, u64)> = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (code, weight) = entry
                .split_once('=')
                .ok_or_else(|| MixError::Syntax(entry.to_owned()))?;
            let ty = MetricType::from_code(code.trim())
                .ok_or_else(|| MixError::UnknownType(entry.to_owned()))?;
            let weight: u64 = weight
                .trim()
                .parse()
                .map_err(|_| MixError::Weight(entry.to_owned()))?;
            if weights.iter().any(|(t, _)| *t == ty) {
                return Err(MixError::Duplicate(ty));
            }
            if weight > 0 {
                weights.push((ty, weight));
            }
        }
        let total = weights.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return Err(MixError::Empty);
        }
        Ok(Self { weights, total })
    }

    /// The type of name `index` among `names` names: names are cut into consecutive runs whose
    /// lengths are proportional to the weights.
    pub fn type_of(&self, index: u64, names: u64) -> MetricType {
        debug_assert!(index < names, "name index out of range");
        let point = (u128::from(index) * u128::from(self.total) / u128::from(names)) as u64;
        let mut upper = 0;
        for (ty, w) in &self.weights {
            upper += w;
            if point < upper {
                return *ty;
            }
        }
        self.weights[self.weights.len() - 1].0
    }

    /// The types and their weights.
    pub fn weights(&self) -> &[(MetricType, u64)] {
        &self.weights
    }

    /// Sum of the weights.
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (ty, w)) in self.weights.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{ty}={w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let m = Mix::parse("c=60,ms=20,g=10,s=10").expect("valid mix");
        assert_eq!(m.total(), 100);
        assert_eq!(m.to_string(), "c=60,ms=20,g=10,s=10");
    }

    #[test]
    fn refuses_bad_specs() {
        assert_eq!(Mix::parse("c"), Err(MixError::Syntax("c".into())));
        assert_eq!(Mix::parse("x=1"), Err(MixError::UnknownType("x=1".into())));
        assert_eq!(Mix::parse("c=-1"), Err(MixError::Weight("c=-1".into())));
        assert_eq!(
            Mix::parse("c=1,c=2"),
            Err(MixError::Duplicate(MetricType::Counter))
        );
        assert_eq!(Mix::parse("c=0"), Err(MixError::Empty));
        assert_eq!(Mix::parse(""), Err(MixError::Empty));
    }

    #[test]
    fn names_split_in_proportion() {
        let m = Mix::parse("c=60,ms=20,g=10,s=10").expect("valid mix");
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..1000 {
            *counts.entry(m.type_of(i, 1000)).or_insert(0) += 1;
        }
        assert_eq!(counts[&MetricType::Counter], 600);
        assert_eq!(counts[&MetricType::Timer], 200);
        assert_eq!(counts[&MetricType::Gauge], 100);
        assert_eq!(counts[&MetricType::Set], 100);
    }

    #[test]
    fn uneven_names_are_within_one_of_the_share() {
        let m = Mix::parse("c=1,g=1,s=1").expect("valid mix");
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..7 {
            *counts.entry(m.type_of(i, 7)).or_insert(0) += 1;
        }
        for c in counts.values() {
            assert!((2..=3).contains(c), "{counts:?}");
        }
    }
}
