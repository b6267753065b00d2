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

    /// Aggregates one lower slot. `neighbours` are all `n` higher slots in chronological
    /// order (`None` = missing); `known` must be its `Some` values (whisper passes both;
    /// the result is computed from `neighbours`). NaN if nothing is known.
    pub fn aggregate(self, known: &[f64], neighbours: &[Option<f64>]) -> f64 {
        let _ = known; // the known values are exactly the `Some`s of `neighbours`
        let mut acc = Accumulator::new(self);
        for &v in neighbours {
            acc.push(v);
        }
        acc.finish().unwrap_or(f64::NAN)
    }
}

/// [`AggregationMethod::aggregate`] one neighbour at a time, without allocating (the
/// propagation hot path). Feed all `n` neighbours in chronological order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accumulator {
    method: AggregationMethod,
    /// Neighbours seen.
    n: usize,
    /// Known neighbours seen.
    known: usize,
    /// Left-to-right sum from 0.0 of the known values (`avg_zero`: of all values, `x or 0`).
    sum: f64,
    /// Last known value, or the current max/min/absmax/absmin pick.
    pick: f64,
}

impl Accumulator {
    pub(crate) fn new(method: AggregationMethod) -> Self {
        Self {
            method,
            n: 0,
            known: 0,
            sum: 0.0,
            pick: f64::NAN,
        }
    }

    /// Adds the next neighbour (`None` = missing).
    pub(crate) fn push(&mut self, value: Option<f64>) {
        self.n += 1;
        if self.method == AggregationMethod::AvgZero {
            // Python's `x or 0`: None and ±0.0 become 0; NaN is truthy and stays.
            if let Some(x) = value.filter(|x| *x != 0.0 || x.is_nan()) {
                self.sum += x;
            } else {
                self.sum += 0.0;
            }
        }
        let Some(x) = value else {
            return;
        };
        let first = self.known == 0;
        self.known += 1;
        // Python's max/min (with key=abs): replace only on a strict comparison.
        let better = |new: f64, cur: f64| match self.method {
            AggregationMethod::Max => new > cur,
            AggregationMethod::Min => new < cur,
            AggregationMethod::AbsMax => new.abs() > cur.abs(),
            AggregationMethod::AbsMin => new.abs() < cur.abs(),
            _ => true,
        };
        match self.method {
            AggregationMethod::Average | AggregationMethod::Sum => self.sum += x,
            AggregationMethod::AvgZero => {}
            _ => {
                if first || better(x, self.pick) {
                    self.pick = x;
                }
            }
        }
    }

    /// Neighbours seen so far.
    pub(crate) fn count(&self) -> usize {
        self.n
    }

    /// Known neighbours seen so far.
    pub(crate) fn known(&self) -> usize {
        self.known
    }

    /// The aggregate, or `None` if no neighbour was known.
    pub(crate) fn finish(&self) -> Option<f64> {
        if self.known == 0 {
            return None;
        }
        Some(match self.method {
            AggregationMethod::Average => self.sum / self.known as f64,
            AggregationMethod::Sum => self.sum,
            AggregationMethod::AvgZero => self.sum / self.n as f64,
            _ => self.pick,
        })
    }
}

impl std::fmt::Display for AggregationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
        let n = [Some(1.0), Some(f64::NAN), Some(5.0)];
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
