//! The eight aggregation methods and the arithmetic whisper applies when it rolls
//! higher-precision points into a lower-precision slot.
//!
//! Contract: results equal `CPython` 3.11 evaluating whisper's `aggregate()`: sums run left
//! to right from 0, `max`/`min` replace only on a strict `>`/`<` (so NaN in first place
//! sticks and ties keep the first), `absmax`/`absmin` compare `abs()` the same way,
//! `avg_zero` maps missing and zero neighbours to 0 and divides by all neighbours.

/// How a lower archive's slot is computed from the higher archive's points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregationMethod {
    /// Mean of the known values (type 1).
    Average,
    /// Sum of the known values (type 2).
    Sum,
    /// Chronologically last known value (type 3).
    Last,
    /// Largest known value (type 4).
    Max,
    /// Smallest known value (type 5).
    Min,
    /// Sum of all neighbours, missing ones as 0, over their count (type 6, `avg_zero`).
    AvgZero,
    /// Known value with the largest magnitude, sign kept (type 7).
    AbsMax,
    /// Known value with the smallest magnitude, sign kept (type 8).
    AbsMin,
}

impl AggregationMethod {
    /// All methods in type-code order.
    pub const ALL: [Self; 8] = [
        Self::Average,
        Self::Sum,
        Self::Last,
        Self::Max,
        Self::Min,
        Self::AvgZero,
        Self::AbsMax,
        Self::AbsMin,
    ];

    /// The `aggregationType` code stored in the header (1..=8).
    pub fn type_code(self) -> u32 {
        match self {
            Self::Average => 1,
            Self::Sum => 2,
            Self::Last => 3,
            Self::Max => 4,
            Self::Min => 5,
            Self::AvgZero => 6,
            Self::AbsMax => 7,
            Self::AbsMin => 8,
        }
    }

    /// The method for a header code, if it is one of the eight.
    pub fn from_type_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.type_code() == code)
    }

    /// Whisper's name (`average`, `sum`, `last`, `max`, `min`, `avg_zero`, `absmax`, `absmin`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Average => "average",
            Self::Sum => "sum",
            Self::Last => "last",
            Self::Max => "max",
            Self::Min => "min",
            Self::AvgZero => "avg_zero",
            Self::AbsMax => "absmax",
            Self::AbsMin => "absmin",
        }
    }

    /// Parses whisper's exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Aggregates one lower slot. `known` are the present values in chronological order
    /// (non-empty), `neighbours` all `n` higher slots (`None` = missing).
    pub fn aggregate(self, known: &[f64], neighbours: &[Option<f64>]) -> f64 {
        match self {
            Self::Average => py_sum(known.iter().copied()) / known.len() as f64,
            Self::Sum => py_sum(known.iter().copied()),
            Self::Last => known.last().copied().unwrap_or(f64::NAN),
            Self::Max => pick(known, |x| x, |new, cur| new > cur),
            Self::Min => pick(known, |x| x, |new, cur| new < cur),
            Self::AvgZero => {
                // Python's `x or 0`: None and ±0.0 become 0; NaN is truthy and stays.
                let values = neighbours.iter().map(|v| match v {
                    Some(x) if *x != 0.0 || x.is_nan() => *x,
                    _ => 0.0,
                });
                py_sum(values) / neighbours.len() as f64
            }
            Self::AbsMax => pick(known, f64::abs, |new, cur| new > cur),
            Self::AbsMin => pick(known, f64::abs, |new, cur| new < cur),
        }
    }
}

impl std::fmt::Display for AggregationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `sum()` as `CPython` ≤ 3.11 computes it for floats: start at 0, add left to right.
fn py_sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |acc, x| acc + x)
}

/// Python's `max`/`min` with a key: keep the current item unless `better(key(new), key(cur))`.
fn pick(values: &[f64], key: fn(f64) -> f64, better: fn(f64, f64) -> bool) -> f64 {
    let mut iter = values.iter().copied();
    let Some(mut best) = iter.next() else {
        return f64::NAN;
    };
    for v in iter {
        if better(key(v), key(best)) {
            best = v;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verified §1.5 example: six 10 s slots `[-6, 3, None, 9, None, None]`.
    #[test]
    fn reference_example_for_every_method() {
        let neighbours = [Some(-6.0), Some(3.0), None, Some(9.0), None, None];
        let known: Vec<f64> = neighbours.iter().flatten().copied().collect();
        let expect = [
            (AggregationMethod::Average, 2.0),
            (AggregationMethod::Sum, 6.0),
            (AggregationMethod::Last, 9.0),
            (AggregationMethod::Max, 9.0),
            (AggregationMethod::Min, -6.0),
            (AggregationMethod::AvgZero, 1.0),
            (AggregationMethod::AbsMax, 9.0),
            (AggregationMethod::AbsMin, 3.0),
        ];
        for (m, want) in expect {
            assert_eq!(
                m.aggregate(&known, &neighbours).to_bits(),
                f64::to_bits(want),
                "{m}"
            );
        }
    }

    #[test]
    fn abs_ties_keep_the_first() {
        let n = [Some(-3.0), Some(3.0)];
        assert_eq!(
            AggregationMethod::AbsMax
                .aggregate(&[-3.0, 3.0], &n)
                .to_bits(),
            (-3.0_f64).to_bits()
        );
        assert_eq!(
            AggregationMethod::AbsMin
                .aggregate(&[-3.0, 3.0], &n)
                .to_bits(),
            (-3.0_f64).to_bits()
        );
    }

    #[test]
    fn nan_first_sticks_in_max_and_min() {
        let k = [f64::NAN, 1.0, 5.0];
        let n = [Some(f64::NAN), Some(1.0), Some(5.0)];
        assert!(AggregationMethod::Max.aggregate(&k, &n).is_nan());
        assert!(AggregationMethod::Min.aggregate(&k, &n).is_nan());
        let k = [1.0, f64::NAN, 5.0];
        assert_eq!(
            AggregationMethod::Max.aggregate(&k, &n).to_bits(),
            5.0_f64.to_bits()
        );
    }

    #[test]
    fn names_and_codes_round_trip() {
        for m in AggregationMethod::ALL {
            assert_eq!(AggregationMethod::from_name(m.name()), Some(m));
            assert_eq!(AggregationMethod::from_type_code(m.type_code()), Some(m));
        }
        assert_eq!(AggregationMethod::from_type_code(0), None);
        assert_eq!(AggregationMethod::from_type_code(9), None);
        assert_eq!(AggregationMethod::from_name("avgZero"), None);
    }

    #[test]
    fn sums_start_from_positive_zero() {
        let k = [-0.0];
        assert!(AggregationMethod::Sum
            .aggregate(&k, &[Some(-0.0)])
            .is_sign_positive());
    }
}
