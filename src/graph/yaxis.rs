//! The y axis: its range, tick step and labels, as graphite-web's `_LinearAxisTics`,
//! `_LogAxisTics` and `format_units` choose them.
//!
//! A linear axis picks a step of 1, 2 or 5 × 10ⁿ (powers of two for `yUnitSystem=binary`)
//! and a number of divisions from `yDivisors` (4, 5, 6) that wastes the least room around
//! the data; the ends are then rounded out to multiples of the step unless `yMin`/`yMax`
//! fix them. A log axis spans whole powers of `logBase`. Labels carry a unit prefix (`k`,
//! `M`, … or `Ki`, `Mi`, …) chosen by the step, formatted as graphite's `makeLabel`
//! (including its trailing space).

use super::params::{AxisLimits, AxisMax, UnitSystem};
use crate::py::format::percent_g6;

/// Rounding slack graphite allows when comparing axis values.
const EPSILON: f64 = 0.0001;
/// Upper bound on candidate steps and labels, against pathological ranges.
const MAX_ITERATIONS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Data,
    Min,
    Max,
    Limit,
    Extremum,
}

/// A computed axis: the value range drawn and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The lowest value drawn.
    pub bottom: f64,
    /// The highest value drawn.
    pub top: f64,
    /// The value between labels (`None` on a log axis).
    pub step: Option<f64>,
    /// The values labelled (empty when axes are hidden).
    pub label_values: Vec<f64>,
    /// Their labels, as graphite writes them.
    pub labels: Vec<String>,
    /// The logarithm base, for a log axis.
    pub log_base: Option<f64>,
}

impl Axis {
    /// The pixel row of `value` in a plot area from `ymin` (top) to `ymax` (bottom); `None`
    /// for values a log axis cannot show.
    pub fn y(&self, value: f64, ymin: f64, ymax: f64) -> Option<f64> {
        let (lowest, highest) = if self.label_values.is_empty() {
            (self.bottom, self.top)
        } else {
            let lo = self
                .label_values
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let hi = self
                .label_values
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            (lo, hi)
        };
        let (relative, range) = match self.log_base {
            Some(base) => {
                if value <= 0.0 {
                    return None;
                }
                (
                    value.log(base) - lowest.log(base),
                    highest.log(base) - lowest.log(base),
                )
            }
            None => (value - lowest, highest - lowest),
        };
        if range == 0.0 || !range.is_finite() {
            return Some(ymax);
        }
        Some(ymax - (ymax - ymin) / range * relative)
    }
}

/// Works out an axis from the data range `(min, max)` and the user's limits.
/// `Err` is a message about the parameter that made the axis impossible.
pub fn compute(
    data: (f64, f64),
    limits: &AxisLimits,
    divisors: &[f64],
    unit: UnitSystem,
    log_base: Option<f64>,
    with_labels: bool,
) -> Result<Axis, (&'static str, String)> {
    let mut t = Tics {
        min: data.0,
        max: data.1,
        min_source: Source::Data,
        max_source: Source::Data,
        axis_limit: None,
        step: None,
        bottom: 0.0,
        top: 0.0,
        span: 0.0,
        unit,
    };
    t.apply(limits)?;
    if log_base.is_none() {
        match limits.step {
            Some(step) => t.step = Some(step),
            None => t.choose_step(divisors, unit == UnitSystem::Binary)?,
        }
    }
    match log_base {
        Some(base) => t.log_limits(base)?,
        None => t.linear_limits(),
    }
    let (label_values, labels) = if with_labels {
        let values = match log_base {
            Some(base) => t.log_label_values(base),
            None => t.linear_label_values()?,
        };
        let labels = values.iter().map(|v| t.label(*v)).collect();
        (values, labels)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Axis {
        bottom: t.bottom,
        top: t.top,
        step: t.step,
        label_values,
        labels,
        log_base,
    })
}

struct Tics {
    min: f64,
    max: f64,
    min_source: Source,
    max_source: Source,
    axis_limit: Option<f64>,
    step: Option<f64>,
    bottom: f64,
    top: f64,
    span: f64,
    unit: UnitSystem,
}

fn choose_delta(x: f64) -> f64 {
    if x.abs() < 1.0e-9 {
        1.0
    } else {
        0.1 * x.abs()
    }
}

impl Tics {
    fn apply(&mut self, limits: &AxisLimits) -> Result<(), (&'static str, String)> {
        if let Some(min) = limits.min {
            self.min_source = Source::Min;
            self.min = min;
        }
        match limits.max {
            AxisMax::Auto => {}
            AxisMax::Extremum => self.max_source = Source::Extremum,
            AxisMax::Value(max) => {
                self.max_source = Source::Max;
                self.max = max;
            }
        }
        match limits.limit {
            Some(limit) if limit < self.max => {
                self.max = limit;
                self.max_source = Source::Limit;
            }
            Some(limit) if limit.is_finite() => self.axis_limit = Some(limit),
            _ => {}
        }
        if self.min < self.max {
            return Ok(());
        }
        let min_fixed = self.min_source == Source::Min;
        let max_fixed = matches!(self.max_source, Source::Max | Source::Limit);
        if min_fixed && max_fixed {
            let what = if self.max_source == Source::Limit {
                "yLimit"
            } else {
                "yMax"
            };
            return Err(("yMin", format!("must be less than {what}")));
        } else if min_fixed {
            self.max = self.min + choose_delta(self.min);
        } else if max_fixed {
            self.min = self.max - choose_delta(self.max);
        } else {
            let delta = choose_delta(self.min.abs().max(self.max.abs()));
            let average = self.min.midpoint(self.max);
            self.min = average - delta;
            self.max = average + delta;
        }
        Ok(())
    }

    fn slop(&self, step: f64, divisor: f64) -> Option<f64> {
        let bottom = step * (self.min / step + EPSILON).floor();
        let top = bottom + step * divisor;
        (top >= self.max - EPSILON * step).then(|| (top - self.max).max(self.min - bottom))
    }

    #[expect(
        clippy::float_cmp,
        reason = "graphite widens an axis whose ends are exactly equal"
    )]
    fn choose_step(
        &mut self,
        divisors: &[f64],
        binary: bool,
    ) -> Result<(), (&'static str, String)> {
        if self.min == self.max {
            if self.min == 0.0 {
                self.max = 1.0;
            } else if self.min < 0.0 {
                self.min *= 1.1;
                self.max *= 0.9;
            } else {
                self.min *= 0.9;
                self.max *= 1.1;
            }
        }
        let variance = self.max - self.min;
        if !variance.is_finite() || variance <= 0.0 {
            return Err((
                "yMax",
                "the values span too wide a range to draw (set yMin and yMax)".to_string(),
            ));
        }
        let most = divisors.iter().copied().fold(1.0, f64::max);
        let least = divisors.iter().copied().fold(f64::INFINITY, f64::min);
        let min_step = variance / most;
        let (base, mantissas): (f64, &[f64]) = if binary {
            (2.0, &[1.0])
        } else {
            (10.0, &[1.0, 2.0, 5.0])
        };
        let mut exponent = (min_step.log(base) - EPSILON).floor();
        let mut best: Option<(f64, f64)> = None;
        let mut iterations = 0;
        'steps: loop {
            let multiplier = base.powf(exponent);
            for m in mantissas {
                let step = m * multiplier;
                if step < min_step * (1.0 - EPSILON) {
                    continue;
                }
                iterations += 1;
                if let Some((slop, _)) = best {
                    if step * least >= 2.0 * slop + variance {
                        break 'steps;
                    }
                }
                if iterations > MAX_ITERATIONS || !step.is_finite() {
                    break 'steps;
                }
                for d in divisors {
                    if let Some(slop) = self.slop(step, *d) {
                        if best.is_none_or(|(b, _)| slop < b) {
                            best = Some((slop, step));
                        }
                    }
                }
            }
            exponent += 1.0;
        }
        match best {
            Some((_, step)) => {
                self.step = Some(step);
                Ok(())
            }
            None => Err(("yMax", "no axis step fits the y range".to_string())),
        }
    }

    fn linear_limits(&mut self) {
        let step = self.step.unwrap_or(1.0);
        self.bottom = if self.min_source == Source::Data {
            step * (self.min / step + EPSILON).floor()
        } else {
            self.min
        };
        self.top = if self.max_source == Source::Data {
            let top = step * (self.max / step - EPSILON).ceil();
            match self.axis_limit {
                Some(limit) if top > limit + EPSILON * step => limit,
                _ => top,
            }
        } else {
            self.max
        };
        self.span = self.top - self.bottom;
        if self.span == 0.0 {
            self.top += 1.0;
            self.span += 1.0;
        }
    }

    fn log_limits(&mut self, base: f64) -> Result<(), (&'static str, String)> {
        if self.min <= 0.0 {
            return Err((
                "logBase",
                "a logarithmic scale needs a minimum value greater than zero".to_string(),
            ));
        }
        self.bottom = base.powf(self.min.log(base).floor());
        self.top = base.powf(self.max.log(base).ceil());
        self.span = self.top - self.bottom;
        if self.span == 0.0 {
            self.top *= base;
            self.span = self.top - self.bottom;
        }
        Ok(())
    }

    fn linear_label_values(&mut self) -> Result<Vec<f64>, (&'static str, String)> {
        let step = self.step.unwrap_or(1.0);
        if step <= 0.0 {
            return Err(("yStep", "must be positive".to_string()));
        }
        if self.span > 1000.0 * step {
            // graphite re-chooses the step when the given one would make too many labels.
            self.choose_step(&[4.0, 5.0, 6.0], false)?;
        }
        let step = self.step.unwrap_or(1.0);
        let start = step * (self.bottom / step - EPSILON).ceil();
        let mut values = Vec::new();
        for i in 0..MAX_ITERATIONS {
            let value = start + i as f64 * step;
            if value > self.top + EPSILON * step {
                break;
            }
            values.push(value);
        }
        Ok(values)
    }

    fn log_label_values(&self, base: f64) -> Vec<f64> {
        let mut values = Vec::new();
        let mut value = base.powf((self.bottom.log(base) - EPSILON).ceil());
        while value < self.top * (1.0 + EPSILON) && values.len() < MAX_ITERATIONS {
            values.push(value);
            value *= base;
        }
        values
    }

    /// graphite's `makeLabel`.
    fn label(&self, value: f64) -> String {
        let (v, prefix) = format_units(value, self.step, self.unit);
        let (span, span_prefix) = format_units(self.span, self.step, self.unit);
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix} ")
        };
        if v < 0.1 {
            format!("{} {prefix}", percent_g6(v))
        } else if v < 1.0 {
            format!("{v:.2} {prefix}")
        } else if span > 10.0 || span_prefix != prefix {
            // graphite compares the bare span prefix with the value prefix plus its space,
            // so any prefixed label takes this branch.
            format!("{v:.1} {prefix}")
        } else if span > 3.0 {
            format!("{v:.1} {prefix}")
        } else if span > 0.1 {
            format!("{v:.2} {prefix}")
        } else {
            format!("{} {prefix}", percent_g6(v))
        }
    }
}

fn prefixes(unit: UnitSystem) -> &'static [(&'static str, f64)] {
    const P: f64 = 1e15;
    match unit {
        UnitSystem::Si => &[("P", P), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)],
        UnitSystem::Binary => &[
            ("Pi", 1_125_899_906_842_624.0),
            ("Ti", 1_099_511_627_776.0),
            ("Gi", 1_073_741_824.0),
            ("Mi", 1_048_576.0),
            ("Ki", 1024.0),
        ],
        UnitSystem::Sec => &[
            ("Y", 31_536_000.0),
            ("M", 2_592_000.0),
            ("D", 86_400.0),
            ("H", 3600.0),
            ("m", 60.0),
        ],
        UnitSystem::Msec => &[
            ("Y", 31_536_000_000.0),
            ("M", 2_592_000_000.0),
            ("D", 86_400_000.0),
            ("H", 3_600_000.0),
            ("m", 60_000.0),
            ("s", 1000.0),
        ],
        UnitSystem::None => &[],
    }
}

/// graphite's `format_units`: `v` scaled by the largest prefix it (and the step, when
/// given) reaches, and that prefix.
pub fn format_units(v: f64, step: Option<f64>, unit: UnitSystem) -> (f64, &'static str) {
    for (prefix, size) in prefixes(unit) {
        if v.abs() >= *size && step.is_none_or(|s| s >= *size) {
            let mut v2 = v / size;
            if v2 - v2.floor() < 1e-11 && v > 1.0 {
                v2 = v2.floor();
            }
            return (v2, prefix);
        }
    }
    if v - v.floor() < 1e-11 && v > 1.0 {
        return (v.floor(), "");
    }
    (v, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto() -> AxisLimits {
        AxisLimits {
            min: None,
            max: AxisMax::Auto,
            limit: None,
            step: None,
        }
    }

    #[test]
    fn g_format() {
        assert_eq!(percent_g6(0.05), "0.05");
        assert_eq!(percent_g6(0.0001), "0.0001");
        assert_eq!(percent_g6(0.00001), "1e-05");
        assert_eq!(percent_g6(-2.5), "-2.5");
        assert_eq!(percent_g6(1_234_567.0), "1.23457e+06");
        assert_eq!(percent_g6(123_456.0), "123456");
    }

    #[test]
    fn units() {
        assert_eq!(
            format_units(2000.0, Some(1000.0), UnitSystem::Si),
            (2.0, "k")
        );
        assert_eq!(
            format_units(2000.0, Some(500.0), UnitSystem::Si),
            (2000.0, "")
        );
        assert_eq!(format_units(2048.0, None, UnitSystem::Binary), (2.0, "Ki"));
        assert_eq!(format_units(2048.0, None, UnitSystem::None), (2048.0, ""));
    }

    #[test]
    fn linear_axis_0_to_100() {
        let a = compute(
            (3.0, 97.0),
            &auto(),
            &[4.0, 5.0, 6.0],
            UnitSystem::Si,
            None,
            true,
        )
        .expect("axis");
        assert_eq!((a.bottom, a.top, a.step), (0.0, 100.0, Some(20.0)));
        assert_eq!(a.label_values, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(a.labels[1], "20.0 ");
        assert_eq!(a.y(50.0, 0.0, 100.0), Some(50.0));
    }

    #[test]
    fn si_labels_and_constant_data() {
        let a = compute(
            (0.0, 5000.0),
            &auto(),
            &[4.0, 5.0, 6.0],
            UnitSystem::Si,
            None,
            true,
        )
        .expect("axis");
        assert_eq!(a.labels.last().map(String::as_str), Some("5.0 k "));
        let c = compute(
            (5.0, 5.0),
            &auto(),
            &[4.0, 5.0, 6.0],
            UnitSystem::Si,
            None,
            true,
        )
        .expect("axis");
        assert!(c.bottom < 5.0 && c.top > 5.0, "{c:?}");
    }

    #[test]
    fn log_axis_and_errors() {
        let a = compute(
            (3.0, 2000.0),
            &auto(),
            &[4.0, 5.0, 6.0],
            UnitSystem::Si,
            Some(10.0),
            true,
        )
        .expect("axis");
        assert_eq!(a.label_values, vec![1.0, 10.0, 100.0, 1000.0, 10000.0]);
        assert!(compute(
            (0.0, 1.0),
            &auto(),
            &[4.0],
            UnitSystem::Si,
            Some(10.0),
            true
        )
        .is_err());
        let fixed = AxisLimits {
            min: Some(5.0),
            max: AxisMax::Value(1.0),
            ..auto()
        };
        assert_eq!(
            compute((0.0, 1.0), &fixed, &[4.0], UnitSystem::Si, None, true)
                .err()
                .map(|e| e.0),
            Some("yMin")
        );
    }
}
