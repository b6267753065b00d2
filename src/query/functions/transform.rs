//! The "Transform" functions that change values point by point (`scale`, `offset`,
//! `derivative`, `perSecond`, `keepLastValue`, `transformNull`, `log`, …) and the
//! generators `sin` and `time`. Functions over time buckets and shifts are in
//! [`super::intervals`].

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use super::intervals::check_points;
use super::params::{p, ps, Default as D, Param, ParamType as T};
use super::util::{self, fmt_d, round6, Agg};
use super::{d, py_float, Args, Def, Value};
use crate::py::format::percent_g6;
use crate::query::eval::EvalError;
use crate::query::series::Series;

const SERIES_ONLY: &[Param] = &[p("seriesList", T::SeriesList).req()];
const MAX_MIN: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("maxValue", T::Float),
    p("minValue", T::Float),
];

/// The Transform group's definitions (and movingAverage/nPercentile).
pub fn defs() -> Vec<Def> {
    vec![
        d("absolute", "Transform", "(seriesList)", "The absolute value of every point.", SERIES_ONLY, absolute),
        d("derivative", "Transform", "(seriesList)", "The difference between each point and the one before it.", SERIES_ONLY, derivative),
        d("integral", "Transform", "(seriesList)", "The running total of the series (nulls are skipped and stay null).", SERIES_ONLY, integral),
        d("nonNegativeDerivative", "Transform", "(seriesList, maxValue=None, minValue=None)", "Like derivative, for counters: a decrease gives null, or the wrapped-around difference when maxValue is given; values outside minValue..maxValue are null.", MAX_MIN, non_negative_derivative),
        d("perSecond", "Transform", "(seriesList, maxValue=None, minValue=None)", "nonNegativeDerivative divided by the step in seconds (rounded to 6 decimals): the rate per second of a counter.", MAX_MIN, per_second),
        d("keepLastValue", "Transform", "(seriesList, limit=inf)", "Fills runs of nulls (up to limit points long) with the last value seen before them.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("limit", T::IntOrInf).def(D::Inf),
        ]), keep_last_value),
        d("scale", "Transform", "(seriesList, factor)", "Multiplies every point by a constant.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("factor", T::Float).req(),
        ]), scale),
        d("offset", "Transform", "(seriesList, factor)", "Adds a constant to every point.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("factor", T::Float).req(),
        ]), offset),
        d("scaleToSeconds", "Transform", "(seriesList, seconds)", "Scales each point from a per-step amount to a per-`seconds` amount (rounded to 6 decimals).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("seconds", T::Float).req(),
        ]), scale_to_seconds),
        d("transformNull", "Transform", "(seriesList, default=0, referenceSeries=None)", "Replaces nulls with a default value; with referenceSeries, only where some reference series has a value.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("default", T::Float).def(D::Int(0)),
            p("referenceSeries", T::SeriesList),
        ]), transform_null),
        d("invert", "Transform", "(seriesList)", "1 divided by each point (zero gives null).", SERIES_ONLY, invert),
        d("squareRoot", "Transform", "(seriesList)", "The square root of every point (negative values give null).", SERIES_ONLY, square_root),
        d("isNonNull", "Transform", "(seriesList)", "1 where the series has a value, 0 where it is null.", SERIES_ONLY, is_non_null),
        d("offsetToZero", "Transform", "(seriesList)", "Subtracts the series' minimum so that it starts at zero.", SERIES_ONLY, offset_to_zero),
        d("pow", "Transform", "(seriesList, factor)", "Raises every point to a power (an invalid result is null).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("factor", T::Float).req(),
        ]), pow),
        d("exp", "Transform", "(seriesList)", "e raised to the power of every point.", SERIES_ONLY, exp),
        d("add", "Transform", "(seriesList, constant)", "Adds a constant to every point (named with the constant truncated to an integer, as graphite does).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("constant", T::Float).req(),
        ]), add),
        d("sigmoid", "Transform", "(seriesList)", "The logistic function 1 / (1 + e^-x) of every point.", SERIES_ONLY, sigmoid),
        d("logit", "Transform", "(seriesList)", "The logit ln(x / (1 - x)) of every point (null outside 0..1).", SERIES_ONLY, logit),
        d("round", "Transform", "(seriesList, precision=None)", "Rounds every point to a number of decimals (half to even).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("precision", T::Integer).def(D::Int(0)),
        ]), round),
        d("delay", "Transform", "(seriesList, steps)", "Shifts the values by a number of steps (later for a positive count), filling with nulls.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("steps", T::Integer).req(),
        ]), delay),
        d("log", "Transform", "(seriesList, base=10)", "The logarithm of every point in a base (null for values not above zero).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("base", T::Integer).def(D::Int(10)).float_ok(),
        ]), logarithm),
        d("minMax", "Transform", "(seriesList)", "Scales each series to 0..1 between its minimum and maximum.", SERIES_ONLY, min_max),
        d("interpolate", "Transform", "(seriesList, limit=inf)", "Fills runs of nulls (up to limit points) by straight lines between the values around them.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("limit", T::IntOrInf).def(D::Inf),
        ]), interpolate),
        d("sinFunction", "Transform", "(name, amplitude=1, step=60)", "A sine wave of the timestamp, times the amplitude.", SIN, sin_function),
        d("sin", "Transform", "(name, amplitude=1, step=60)", "Short name of sinFunction.", SIN, sin_function),
        d("timeFunction", "Transform", "(name, step=60)", "A series whose value is its own timestamp.", TIME, time_function),
        d("time", "Transform", "(name, step=60)", "Short name of timeFunction.", TIME, time_function),
    ]
}

const SIN: &[Param] = &[
    p("name", T::String).req(),
    p("amplitude", T::Integer).def(D::Int(1)),
    p("step", T::Integer).def(D::Int(60)),
];
const TIME: &[Param] = &[
    p("name", T::String).req(),
    p("step", T::Integer).def(D::Int(60)),
];

/// graphite's `series.copy(name=…, values=…)`: same tags, consolidation and xFilesFactor,
/// `pathExpression` reset to the new name.
pub(super) fn copy_with(s: &Series, name: String, values: Vec<Option<f64>>) -> Series {
    let mut out = s.clone();
    out.rename(name);
    out.values = values;
    out.ints = None;
    out
}

/// The functions graphite writes as `series.tags[fname] = tag` then
/// `series.copy(name="fname(name{args})", values=…)` (`derivative`, `integral`, `log`,
/// `stdev`, …): each series of the first argument, with the values `values` computes from
/// it.
pub(super) fn copy_each(
    a: &mut Args<'_, '_>,
    fname: &str,
    tag: &str,
    args: &str,
    mut values: impl FnMut(&Series) -> Vec<Option<f64>>,
) -> Vec<Series> {
    a.series(0)
        .into_iter()
        .map(|mut s| {
            let new = values(&s);
            s.set_tag(fname, tag);
            let name = format!("{fname}({}{args})", s.name);
            copy_with(&s, name, new)
        })
        .collect()
}

/// [`copy_each`] where `values` also says which new values are Python ints (a difference
/// of two ints), as graphite's arithmetic keeps them.
fn copy_each_ints(
    a: &mut Args<'_, '_>,
    fname: &str,
    tag: &str,
    args: &str,
    mut values: impl FnMut(&Series) -> (Vec<Option<f64>>, Vec<bool>),
) -> Vec<Series> {
    a.series(0)
        .into_iter()
        .map(|mut s| {
            let (new, ints) = values(&s);
            s.set_tag(fname, tag);
            let name = format!("{fname}({}{args})", s.name);
            let mut out = copy_with(&s, name, new);
            out.ints = ints.contains(&true).then_some(ints);
            out
        })
        .collect()
}

/// The point functions graphite writes as a loop that tags, renames and changes each
/// series in place (`absolute`, `invert`, `scale`, …): each series of the first argument
/// tagged `fname=tag`, named `fname(name{args})`, every value mapped by `f`. Python int
/// marks are left as they are ([`super::call_in`] drops them where the values are new).
fn map_points(
    a: &mut Args<'_, '_>,
    fname: &str,
    tag: impl Into<String>,
    args: &str,
    f: impl Fn(Option<f64>) -> Option<f64>,
) -> Vec<Series> {
    let tag = tag.into();
    let mut list = a.series(0);
    for s in &mut list {
        s.set_tag(fname, tag.clone());
        s.rename(format!("{fname}({}{args})", s.name));
        for v in &mut s.values {
            *v = f(*v);
        }
    }
    list
}

/// [`map_points`] for `fname(seriesList, constant)` (`scale`, `offset`, `pow`, `add`):
/// tagged with the constant as written, named with it formatted by `fmt` (graphite's `%g`
/// or `%d`), `f(x, constant)` for every non-null `x`.
fn with_constant(
    a: &mut Args<'_, '_>,
    fname: &str,
    default: f64,
    fmt: fn(f64) -> String,
    f: impl Fn(f64, f64) -> Option<f64>,
) -> Vec<Series> {
    let c = a.float(1, default);
    let text = a.value(1).map(Value::py_str).unwrap_or_default();
    let args = format!(",{}", fmt(c));
    map_points(a, fname, text, &args, |v| v.and_then(|x| f(x, c)))
}

fn absolute(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_points(a, "absolute", "1", "", |v| v.map(f64::abs)))
}

fn scale(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(with_constant(a, "scale", 1.0, percent_g6, |x, c| {
        Some(x * c)
    }))
}

fn offset(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(with_constant(a, "offset", 0.0, percent_g6, |x, c| {
        Some(x + c)
    }))
}

fn scale_to_seconds(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let seconds = a.float(1, 1.0);
    let text = a.value(1).map(Value::py_str).unwrap_or_default();
    let mut list = a.series(0);
    for s in &mut list {
        s.set_tag("scaleToSeconds", text.clone());
        s.rename(format!("scaleToSeconds({},{})", s.name, fmt_d(seconds)));
        let factor = seconds / s.step as f64;
        for v in &mut s.values {
            *v = v.map(|x| round6(x * factor));
        }
    }
    Ok(list)
}

fn invert(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_points(a, "invert", "1", "", |v| {
        v.and_then(|x| if x == 0.0 { None } else { Some(x.powf(-1.0)) })
    }))
}

fn square_root(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_points(a, "squareRoot", "1", "", |v| {
        v.and_then(|x| if x < 0.0 { None } else { Some(x.powf(0.5)) })
    }))
}

fn is_non_null(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = map_points(a, "isNonNull", "1", "", |v| {
        Some(if v.is_some() { 1.0 } else { 0.0 })
    });
    list.iter_mut().for_each(Series::mark_all_ints);
    Ok(list)
}

fn offset_to_zero(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = a.series(0);
    for s in &mut list {
        let min = Agg::Min.apply(&s.values);
        // the minimum picked may be a Python int: then the tag shows it so, and an int
        // minus it stays an int
        let min_int = util::agg_is_int(&util::known_with_ints(s, 0..s.values.len()), Agg::Min);
        s.set_tag(
            "offsetToZero",
            match min {
                None => "None".to_string(),
                Some(m) if min_int => format!("{}", m as i64),
                Some(m) => super::py_float(m),
            },
        );
        s.rename(format!("offsetToZero({})", s.name));
        if let Some(m) = min {
            for v in &mut s.values {
                *v = v.map(|x| x - m);
            }
        }
        if !min_int {
            s.ints = None;
        }
    }
    Ok(list)
}

/// graphite's `derivative`: `val - prev`, a Python int when both are.
fn derivative(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(copy_each_ints(a, "derivative", "1", "", |s| {
        let mut values = Vec::with_capacity(s.values.len());
        let mut ints = Vec::with_capacity(s.values.len());
        for (i, v) in s.values.iter().enumerate() {
            let prev = i.checked_sub(1).and_then(|j| s.values[j].map(|p| (p, j)));
            if let (Some((p, j)), Some(x)) = (prev, *v) {
                values.push(Some(x - p));
                ints.push(s.is_int(i) && s.is_int(j));
            } else {
                values.push(None);
                ints.push(false);
            }
        }
        (values, ints)
    }))
}

fn integral(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(copy_each(a, "integral", "1", "", |s| {
        let mut current = 0.0;
        s.values
            .iter()
            .map(|v| {
                v.map(|x| {
                    current += x;
                    current
                })
            })
            .collect()
    }))
}

/// graphite's `_nonNegativeDelta`: `(delta, new prev)`.
fn non_negative_delta(
    val: Option<f64>,
    prev: Option<f64>,
    max: Option<f64>,
    min: Option<f64>,
) -> (Option<f64>, Option<f64>) {
    if let (Some(m), Some(v)) = (max, val) {
        if v > m {
            return (None, None);
        }
    }
    if let (Some(m), Some(v)) = (min, val) {
        if v < m {
            return (None, None);
        }
    }
    let (Some(p), Some(v)) = (prev, val) else {
        return (None, val);
    };
    if v >= p {
        return (Some(v - p), val);
    }
    if let Some(m) = max {
        return (Some(m + 1.0 + v - p - min.unwrap_or(0.0)), val);
    }
    if let Some(m) = min {
        return (Some(v - m), val);
    }
    (None, val)
}

/// The [`non_negative_delta`] of every point of `values` from the one before it.
fn non_negative_deltas(
    values: &[Option<f64>],
    max: Option<f64>,
    min: Option<f64>,
) -> impl Iterator<Item = Option<f64>> + '_ {
    let mut prev = None;
    values.iter().map(move |v| {
        let (delta, p) = non_negative_delta(*v, prev, max, min);
        prev = p;
        delta
    })
}

/// graphite's `nonNegativeDerivative`: a counter's increase (`val - prev`, a Python int
/// when both are), or its wrap-around with `maxValue`/`minValue` (a float: they are floats).
fn non_negative_derivative(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let (max, min) = (a.opt_float(1), a.opt_float(2));
    Ok(copy_each_ints(a, "nonNegativeDerivative", "1", "", |s| {
        let values: Vec<Option<f64>> = non_negative_deltas(&s.values, max, min).collect();
        // the index of `prev` as non_negative_delta keeps it
        let mut prev: Option<usize> = None;
        let mut ints = Vec::with_capacity(values.len());
        for (i, v) in s.values.iter().enumerate() {
            let out_of_range =
                v.is_some_and(|x| max.is_some_and(|m| x > m) || min.is_some_and(|m| x < m));
            let increase = match (prev.and_then(|j| s.values[j].map(|p| (p, j))), *v) {
                (Some((p, j)), Some(x)) if !out_of_range && x >= p => Some(j),
                _ => None,
            };
            ints.push(increase.is_some_and(|j| s.is_int(i) && s.is_int(j)));
            prev = if out_of_range { None } else { Some(i) };
        }
        (values, ints)
    }))
}

fn per_second(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let (max, min) = (a.opt_float(1), a.opt_float(2));
    Ok(copy_each(a, "perSecond", "1", "", |s| {
        let step = s.step as f64;
        non_negative_deltas(&s.values, max, min)
            .map(|delta| delta.map(|d| round6(d / step)))
            .collect()
    }))
}

/// The `limit` of `keepLastValue` and `interpolate`: the longest run of nulls they fill
/// (graphite's default `INF`).
fn fill_limit(a: &Args<'_, '_>) -> f64 {
    match a.value(1) {
        Some(Value::Int(n)) => *n as f64,
        _ => f64::INFINITY,
    }
}

fn keep_last_value(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let limit = fill_limit(a);
    let mut list = a.series(0);
    for s in &mut list {
        s.rename(format!("keepLastValue({})", s.name));
        let mut nones = 0usize;
        // the last value and whether it is a Python int (a filled point copies both)
        let mut last: Option<(f64, bool)> = None;
        let n = s.values.len();
        let fill = |s: &mut Series, range: std::ops::Range<usize>, (l, int): (f64, bool)| {
            s.values[range.clone()].fill(Some(l));
            if let Some(marks) = &mut s.ints {
                marks[range].fill(int);
            }
        };
        for i in 0..n {
            match s.values[i] {
                None => nones += 1,
                Some(v) => {
                    if nones > 0 && nones as f64 <= limit {
                        if let Some(l) = last {
                            fill(s, i - nones..i, l);
                        }
                    }
                    nones = 0;
                    last = Some((v, s.is_int(i)));
                }
            }
        }
        if nones > 0 && nones as f64 <= limit {
            if let Some(l) = last {
                fill(s, n - nones..n, l);
            }
        }
    }
    Ok(list)
}

fn transform_null(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let default = a.float(1, 0.0);
    let default_text = a.value(1).map_or_else(|| "0".to_string(), Value::py_str);
    // graphite puts the argument itself in place of a null: an int when written as one.
    let default_is_int = matches!(a.value(1), None | Some(Value::Int(_)));
    let reference = a.series(2);
    let mut list = a.series(0);
    let defaults: Option<Vec<Option<f64>>> = (!reference.is_empty()).then(|| {
        util::map_rows(&reference, |row| {
            row.iter().any(Option::is_some).then_some(default)
        })
    });
    for s in &mut list {
        s.set_tag("transformNull", default_text.clone());
        let reference = if defaults.is_some() {
            s.set_tag("referenceSeries", "1");
            ",referenceSeries"
        } else {
            ""
        };
        s.rename(format!(
            "transformNull({},{}{reference})",
            s.name,
            percent_g6(default)
        ));
        let nulls: Vec<bool> = s.values.iter().map(Option::is_none).collect();
        match &defaults {
            Some(d) if !d.is_empty() => {
                s.values = util::map_pairs(&s.values, d, Option::or);
            }
            _ => {
                for v in &mut s.values {
                    *v = Some(v.unwrap_or(default));
                }
            }
        }
        let ints: Vec<bool> = (0..s.values.len())
            .map(|i| {
                if nulls.get(i).copied().unwrap_or(true) {
                    default_is_int && s.values[i].is_some()
                } else {
                    s.is_int(i)
                }
            })
            .collect();
        s.ints = ints.contains(&true).then_some(ints);
    }
    Ok(list)
}

fn pow(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(with_constant(a, "pow", 1.0, percent_g6, util::safe_pow))
}

fn exp(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_points(a, "exp", "e", "", |v| v.map(f64::exp)))
}

fn add(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(with_constant(a, "add", 0.0, fmt_d, |x, c| Some(x + c)))
}

fn sigmoid(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_points(a, "sigmoid", "sigmoid", "", |v| {
        v.and_then(|x| {
            let d = 1.0 + (-x).exp();
            (d != 0.0).then(|| 1.0 / d)
        })
    }))
}

fn logit(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_points(a, "logit", "logit", "", |v| {
        v.and_then(|x| {
            let d = 1.0 - x;
            if d == 0.0 {
                return None;
            }
            let r = x / d;
            (r > 0.0).then(|| r.ln())
        })
    }))
}

/// Python's `round(x, n)`: half to even on the exact binary value.
fn py_round(x: f64, n: i64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    if n == 0 {
        return x.round_ties_even();
    }
    if n > 0 {
        let n = usize::try_from(n.min(400)).unwrap_or(0);
        return format!("{x:.n$}").parse().unwrap_or(x);
    }
    let scale = 10f64.powi(i32::try_from(-n).unwrap_or(308));
    (x / scale).round_ties_even() * scale
}

fn round(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let n = a.int(1, 0);
    let args = if a.has(1) {
        format!(",{n}")
    } else {
        String::new()
    };
    Ok(map_points(a, "round", n.to_string(), &args, |v| {
        v.map(|x| py_round(x, n))
    }))
}

fn delay(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let steps = a.int(1, 0);
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let values = shift(&s.values, steps, None);
            let ints = s.ints.as_deref().map(|m| shift(m, steps, false));
            s.set_tag("delay", steps.to_string());
            let name = format!("delay({},{steps})", s.name);
            let mut out = copy_with(&s, name, values);
            out.ints = ints;
            out
        })
        .collect())
}

/// `delay`'s shift of `v` by `steps` places, `fill` in the places left empty.
fn shift<T: Copy>(v: &[T], steps: i64, fill: T) -> Vec<T> {
    let len = v.len();
    let k = usize::try_from(steps.unsigned_abs()).unwrap_or(usize::MAX);
    if steps < 0 {
        let mut out: Vec<T> = v.iter().skip(k).copied().collect();
        out.extend(std::iter::repeat_n(fill, k.min(len)));
        out
    } else {
        // Python's series[:-0] is empty: delay(x, 0) has no values
        let keep = if steps == 0 { 0 } else { len.saturating_sub(k) };
        let mut out = vec![fill; k.min(len)];
        out.extend_from_slice(&v[..keep]);
        out
    }
}

/// graphite's `log(seriesList, base=10)`: `math.log(x, base)` (`ln x / ln base`); the base
/// is declared an integer, but a float works as in stock graphite (`log(x, 2.5)`), and the
/// name and tag show it as Python does (`10`, `2.5`).
fn logarithm(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let (base, text) = if let Some(Value::Float(f)) = a.value(1) {
        (*f, py_float(*f))
    } else {
        let b = a.int(1, 10);
        (b as f64, b.to_string())
    };
    // Python raises for these (a 500 there)
    if base.is_nan() || base <= 0.0 || base.total_cmp(&1.0).is_eq() {
        return Err(a.err(format!("invalid base {text}")));
    }
    let lb = base.ln();
    let args = format!(", {text}");
    Ok(copy_each(a, "log", &text, &args, |s| {
        s.values
            .iter()
            .map(|v| v.and_then(|x| (x > 0.0).then(|| x.ln() / lb)))
            .collect()
    }))
}

fn min_max(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = a.series(0);
    for s in &mut list {
        s.rename(format!("minMax({})", s.name));
        let min = Agg::Min.apply(&s.values).unwrap_or(0.0);
        let max = Agg::Max.apply(&s.values).unwrap_or(0.0);
        for v in &mut s.values {
            *v = v.map(|x| {
                let d = max - min;
                if d == 0.0 {
                    0.0
                } else {
                    (x - min) / d
                }
            });
        }
    }
    Ok(list)
}

fn interpolate(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let limit = fill_limit(a);
    let mut list = a.series(0);
    for s in &mut list {
        s.rename(format!("interpolate({})", s.name));
        let mut nones = 0usize;
        for i in 1..s.values.len() {
            match s.values[i] {
                None => nones += 1,
                Some(_) if nones == 0 => {}
                Some(value) => {
                    let Some(before) = s.values[i - nones - 1] else {
                        nones = 0;
                        continue;
                    };
                    if nones as f64 <= limit {
                        let base = i - nones - 1;
                        for idx in (i - nones)..i {
                            s.values[idx] = Some(
                                before
                                    + (idx - base) as f64 * (value - before) / (nones + 1) as f64,
                            );
                            // an interpolated value is a float; the others keep their marks
                            if let Some(marks) = &mut s.ints {
                                marks[idx] = false;
                            }
                        }
                    }
                    nones = 0;
                }
            }
        }
    }
    Ok(list)
}

/// graphite's generators (`sinFunction`, `timeFunction`, `randomWalkFunction`,
/// `identity`): a series named by the first argument, with the value `f(t)` at every
/// `step` seconds of the window.
pub(super) fn generated(
    a: &Args<'_, '_>,
    step: i64,
    f: impl FnMut(i64) -> f64,
) -> Result<Series, EvalError> {
    if step <= 0 {
        return Err(a.err(format!("step must be positive, got {step}")));
    }
    check_points(a, (a.ctx.end - a.ctx.start) / step + 1, 1)?;
    let (start, end) = (a.ctx.start, a.ctx.end);
    let values = (start..end)
        .step_by(usize::try_from(step).unwrap_or(1))
        .map(f)
        .map(Some)
        .collect();
    let name = a.str(0, "");
    Ok(util::new_series(
        name,
        start,
        end,
        step,
        values,
        a.ctx.x_files_factor.get(),
    ))
}

fn sin_function(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let amplitude = a.int(1, 1) as f64;
    Ok(vec![generated(a, a.int(2, 60), |t| {
        (t as f64).sin() * amplitude
    })?])
}

fn time_function(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(vec![generated(a, a.int(1, 60), |t| t as f64)?])
}
