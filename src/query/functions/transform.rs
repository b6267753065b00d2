//! The "Transform" group (values changed point by point or re-bucketed: `scale`,
//! `derivative`, `perSecond`, `summarize`, `hitcount`, `timeShift`, …) and the moving-window
//! and percentile functions of the "Calculate" group.

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use super::params::{p, ps, Default as D, Param, ParamType as T, Suggestion as S};
use super::util::{self, fmt_d, fmt_g, round6, Agg};
use super::{Args, Def, Value};
use crate::query::eval::{Context, EvalError};
use crate::query::series::Series;
use crate::query::time::{parse_time_offset, Civil};

const SERIES_ONLY: &[Param] = &[p("seriesList", T::SeriesList).req()];
const MAX_MIN: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("maxValue", T::Float),
    p("minValue", T::Float),
];

type Run = fn(&mut Args<'_, '_>) -> Result<Vec<Series>, EvalError>;

fn d(
    name: &'static str,
    group: &'static str,
    signature: &'static str,
    description: &'static str,
    params: &'static [Param],
    run: Run,
) -> Def {
    Def {
        name,
        group,
        signature,
        description,
        params,
        aggregator: false,
        run,
    }
}

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
        d("summarize", "Transform", "(seriesList, intervalString, func='sum', alignToFrom=False)", "Re-buckets the series into intervals (aligned to the epoch, or to the series start with alignToFrom) merged with func.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("intervalString", T::Interval).req().sugg(&[S::Str("10min"), S::Str("1h"), S::Str("1d")]),
            p("func", T::AggFunc).def(D::Str("sum")),
            p("alignToFrom", T::Boolean).def(D::Bool(false)),
        ]), summarize),
        d("hitcount", "Transform", "(seriesList, intervalString, alignToInterval=False)", "Turns a rate per second into a count per interval, spreading each point over the buckets it overlaps.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("intervalString", T::Interval).req().sugg(&[S::Str("10min"), S::Str("1h"), S::Str("1d")]),
            p("alignToInterval", T::Boolean).def(D::Bool(false)),
        ]), hitcount),
        d("timeShift", "Transform", "(seriesList, timeShift, resetEnd=True, alignDST=False)", "Draws the series as it was a time ago (a shift without a sign goes into the past), over the requested window.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("timeShift", T::Interval).req().sugg(&[S::Str("1h"), S::Str("6h"), S::Str("12h"), S::Str("1d"), S::Str("2d"), S::Str("7d"), S::Str("14d"), S::Str("30d")]),
            p("resetEnd", T::Boolean).def(D::Bool(true)),
            p("alignDst", T::Boolean).def(D::Bool(false)),
        ]), time_shift),
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
            p("base", T::Integer).def(D::Int(10)),
        ]), logarithm),
        d("minMax", "Transform", "(seriesList)", "Scales each series to 0..1 between its minimum and maximum.", SERIES_ONLY, min_max),
        d("interpolate", "Transform", "(seriesList, limit=inf)", "Fills runs of nulls (up to limit points) by straight lines between the values around them.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("limit", T::IntOrInf).def(D::Inf),
        ]), interpolate),
        d("smartSummarize", "Transform", "(seriesList, intervalString, func='sum', alignTo=None)", "Like summarize, with buckets starting at the window start, optionally first aligned to the start of its year, month, week, day, hour, minute or second.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("intervalString", T::Interval).req().sugg(&[S::Str("10min"), S::Str("1h"), S::Str("1d")]),
            p("func", T::AggFunc).def(D::Str("sum")),
            p("alignTo", T::String).opts(&["\0null", "years", "months", "weeks", "days", "hours", "minutes", "seconds", "\0true", "\0false"]),
        ]), smart_summarize),
        d("timeStack", "Transform", "(seriesList, timeShiftUnit='1d', timeShiftStart=0, timeShiftEnd=7)", "The series shifted back by timeShiftStart..timeShiftEnd units, all drawn over the requested window.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("timeShiftUnit", T::Interval).def(D::Str("1d")).sugg(&[S::Str("1h"), S::Str("6h"), S::Str("12h"), S::Str("1d"), S::Str("2d"), S::Str("7d"), S::Str("14d"), S::Str("30d")]),
            p("timeShiftStart", T::Integer).def(D::Int(0)),
            p("timeShiftEnd", T::Integer).def(D::Int(7)),
        ]), time_stack),
        d("integralByInterval", "Transform", "(seriesList, intervalUnit)", "The running total, restarted at every interval counted from the window start.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("intervalUnit", T::String).req(),
        ]), integral_by_interval),
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
    out.path_expression.clone_from(&name);
    out.name = name;
    out.values = values;
    out
}

fn map_in_place(
    a: &mut Args<'_, '_>,
    tag: Option<&(&str, String)>,
    name: impl Fn(&Series) -> String,
    f: impl Fn(Option<f64>) -> Option<f64>,
) -> Vec<Series> {
    let mut list = a.series(0);
    for s in &mut list {
        if let Some((k, v)) = tag {
            s.set_tag(k, v.clone());
        }
        s.name = name(s);
        s.path_expression.clone_from(&s.name);
        for v in &mut s.values {
            *v = f(*v);
        }
    }
    list
}

fn absolute(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_in_place(
        a,
        Some(&("absolute", "1".into())),
        |s| format!("absolute({})", s.name),
        |v| v.map(f64::abs),
    ))
}

fn scale(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let factor = a.float(1, 1.0);
    let text = a.value(1).map(Value::py_str).unwrap_or_default();
    Ok(map_in_place(
        a,
        Some(&("scale", text)),
        |s| format!("scale({},{})", s.name, fmt_g(factor)),
        |v| v.map(|x| x * factor),
    ))
}

fn offset(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let factor = a.float(1, 0.0);
    let text = a.value(1).map(Value::py_str).unwrap_or_default();
    Ok(map_in_place(
        a,
        Some(&("offset", text)),
        |s| format!("offset({},{})", s.name, fmt_g(factor)),
        |v| v.map(|x| x + factor),
    ))
}

fn scale_to_seconds(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let seconds = a.float(1, 1.0);
    let text = a.value(1).map(Value::py_str).unwrap_or_default();
    let mut list = a.series(0);
    for s in &mut list {
        s.set_tag("scaleToSeconds", text.clone());
        s.name = format!("scaleToSeconds({},{})", s.name, fmt_d(seconds));
        s.path_expression.clone_from(&s.name);
        let factor = seconds / s.step as f64;
        for v in &mut s.values {
            *v = v.map(|x| round6(x * factor));
        }
    }
    Ok(list)
}

fn invert(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_in_place(
        a,
        Some(&("invert", "1".into())),
        |s| format!("invert({})", s.name),
        |v| v.and_then(|x| if x == 0.0 { None } else { Some(x.powf(-1.0)) }),
    ))
}

fn square_root(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_in_place(
        a,
        Some(&("squareRoot", "1".into())),
        |s| format!("squareRoot({})", s.name),
        |v| v.and_then(|x| if x < 0.0 { None } else { Some(x.powf(0.5)) }),
    ))
}

fn is_non_null(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_in_place(
        a,
        Some(&("isNonNull", "1".into())),
        |s| format!("isNonNull({})", s.name),
        |v| Some(if v.is_some() { 1.0 } else { 0.0 }),
    ))
}

fn offset_to_zero(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = a.series(0);
    for s in &mut list {
        let min = Agg::Min.apply(&s.values);
        s.set_tag(
            "offsetToZero",
            min.map_or_else(|| "None".to_string(), super::py_float),
        );
        s.name = format!("offsetToZero({})", s.name);
        s.path_expression.clone_from(&s.name);
        if let Some(m) = min {
            for v in &mut s.values {
                *v = v.map(|x| x - m);
            }
        }
    }
    Ok(list)
}

fn derivative(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let mut prev: Option<f64> = None;
            let values = s
                .values
                .iter()
                .map(|v| {
                    let out = match (prev, *v) {
                        (Some(p), Some(x)) => Some(x - p),
                        _ => None,
                    };
                    prev = *v;
                    out
                })
                .collect();
            s.set_tag("derivative", "1");
            let name = format!("derivative({})", s.name);
            copy_with(&s, name, values)
        })
        .collect())
}

fn integral(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let mut current = 0.0;
            let values = s
                .values
                .iter()
                .map(|v| {
                    v.map(|x| {
                        current += x;
                        current
                    })
                })
                .collect();
            s.set_tag("integral", "1");
            let name = format!("integral({})", s.name);
            copy_with(&s, name, values)
        })
        .collect())
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

fn non_negative_derivative(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let (max, min) = (a.opt_float(1), a.opt_float(2));
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let mut prev = None;
            let values = s
                .values
                .iter()
                .map(|v| {
                    let (delta, p) = non_negative_delta(*v, prev, max, min);
                    prev = p;
                    delta
                })
                .collect();
            s.set_tag("nonNegativeDerivative", "1");
            let name = format!("nonNegativeDerivative({})", s.name);
            copy_with(&s, name, values)
        })
        .collect())
}

fn per_second(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let (max, min) = (a.opt_float(1), a.opt_float(2));
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let mut prev = None;
            let step = s.step as f64;
            let values = s
                .values
                .iter()
                .map(|v| {
                    let (delta, p) = non_negative_delta(*v, prev, max, min);
                    prev = p;
                    delta.map(|d| round6(d / step))
                })
                .collect();
            s.set_tag("perSecond", "1");
            let name = format!("perSecond({})", s.name);
            copy_with(&s, name, values)
        })
        .collect())
}

fn keep_last_value(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let limit = match a.value(1) {
        Some(Value::Int(n)) => *n as f64,
        _ => f64::INFINITY,
    };
    let mut list = a.series(0);
    for s in &mut list {
        s.name = format!("keepLastValue({})", s.name);
        s.path_expression.clone_from(&s.name);
        let mut nones = 0usize;
        let mut last: Option<f64> = None;
        let n = s.values.len();
        for i in 0..n {
            match s.values[i] {
                None => nones += 1,
                Some(v) => {
                    if nones > 0 && nones as f64 <= limit {
                        if let Some(l) = last {
                            s.values[i - nones..i].fill(Some(l));
                        }
                    }
                    nones = 0;
                    last = Some(v);
                }
            }
        }
        if nones > 0 && nones as f64 <= limit {
            if let Some(l) = last {
                s.values[n - nones..].fill(Some(l));
            }
        }
    }
    Ok(list)
}

fn transform_null(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let default = a.float(1, 0.0);
    let default_text = a.value(1).map_or_else(|| "0".to_string(), Value::py_str);
    let reference = a.series(2);
    let mut list = a.series(0);
    let defaults: Option<Vec<Option<f64>>> = (!reference.is_empty()).then(|| {
        let mut row = Vec::new();
        (0..util::max_len(&reference))
            .map(|i| {
                util::row(&reference, i, &mut row);
                row.iter().any(Option::is_some).then_some(default)
            })
            .collect()
    });
    for s in &mut list {
        s.set_tag("transformNull", default_text.clone());
        if defaults.is_some() {
            s.set_tag("referenceSeries", "1");
            s.name = format!(
                "transformNull({},{},referenceSeries)",
                s.name,
                fmt_g(default)
            );
        } else {
            s.name = format!("transformNull({},{})", s.name, fmt_g(default));
        }
        s.path_expression.clone_from(&s.name);
        match &defaults {
            Some(d) if !d.is_empty() => {
                let n = s.values.len().max(d.len());
                s.values = (0..n)
                    .map(|i| {
                        s.values
                            .get(i)
                            .copied()
                            .flatten()
                            .or_else(|| d.get(i).copied().flatten())
                    })
                    .collect();
            }
            _ => {
                for v in &mut s.values {
                    *v = Some(v.unwrap_or(default));
                }
            }
        }
    }
    Ok(list)
}

pub(super) fn interval_of(a: &Args<'_, '_>, text: &str) -> Result<i64, EvalError> {
    let i =
        parse_time_offset(text).map_err(|e| a.err(format!("invalid interval {text:?}: {e}")))?;
    if i <= 0 {
        return Err(a.err(format!("interval {text:?} must be positive")));
    }
    Ok(i)
}

/// Fails when `buckets` points (one series made by a function) exceed the request's
/// `max_points` limit.
pub(super) fn check_points(a: &Args<'_, '_>, buckets: i64) -> Result<(), EvalError> {
    match a.ctx.limits.max_points {
        Some(max) if usize::try_from(buckets).map_or(true, |b| b > max) => {
            Err(EvalError::Limit(format!(
                "{}() would make {buckets} points, more than the limit of {max} per request \
                 (query.max_points)",
                a.name
            )))
        }
        _ => Ok(()),
    }
}

/// graphite's `_summarizeValues`: `(values, end of the last bucket)`.
pub fn summarize_values(
    s: &Series,
    agg: Agg,
    interval: i64,
    new_start: i64,
    new_end: i64,
) -> (Vec<Option<f64>>, i64) {
    let n = usize::try_from((s.end - s.start).max(0) / s.step.max(1)).unwrap_or(0);
    let n = if (s.end - s.start).max(0) % s.step.max(1) != 0 {
        n + 1
    } else {
        n
    };
    let num_points = n.min(s.values.len());
    let interval_points = interval as f64 / s.step as f64;
    let mut out = Vec::new();
    let mut i = 0usize;
    let mut ts = new_start;
    while ts < new_end {
        let mut start_idx = i;
        let mut non_null = 0usize;
        while i < num_points && s.time_of(i) < ts + interval {
            let t = s.time_of(i);
            if t <= ts {
                start_idx = i;
            }
            if t >= ts && s.values[i].is_some() {
                non_null += 1;
            }
            i += 1;
        }
        out.push(if util::xff(non_null, interval_points, s.x_files_factor) {
            agg.apply(&s.values[start_idx..i])
        } else {
            None
        });
        ts += interval;
    }
    (out, ts)
}

fn summarize(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let text = a.str(1, "").to_string();
    let interval = interval_of(a, &text)?;
    check_points(a, (a.ctx.end - a.ctx.start) / interval + 2)?;
    let func = a.str(2, "sum").to_string();
    let agg = Agg::parse(a.name, &func)?;
    let align = a.bool(3, false);
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let (start, mut end) = if align {
                (s.start, s.end)
            } else {
                (
                    s.start - s.start.rem_euclid(interval),
                    s.end - s.end.rem_euclid(interval) + interval,
                )
            };
            let (values, aligned_end) = summarize_values(&s, agg, interval, start, end);
            if align {
                end = aligned_end;
            }
            s.set_tag("summarize", text.clone());
            s.set_tag("summarizeFunction", func.clone());
            let name = format!(
                "summarize({}, \"{}\", \"{}\"{})",
                s.name,
                text,
                func,
                if align { ", true" } else { "" }
            );
            let mut out = copy_with(&s, name, values);
            out.start = start;
            out.end = end;
            out.step = interval;
            out
        })
        .collect())
}

/// Truncates `epoch` to the start of its day, hour or minute in the request's zone.
fn truncate_local(ctx: &Context<'_>, epoch: i64, interval: i64) -> i64 {
    let local = ctx.tz.to_local(epoch);
    let c = if interval >= 86_400 {
        Civil {
            hour: 0,
            minute: 0,
            second: 0,
            ..local
        }
    } else if interval >= 3600 {
        Civil {
            minute: 0,
            second: 0,
            ..local
        }
    } else if interval >= 60 {
        Civil { second: 0, ..local }
    } else {
        return epoch;
    };
    c.to_epoch() - i64::from(ctx.tz.offset_at(epoch))
}

fn hitcount(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let text = a.str(1, "").to_string();
    let interval = interval_of(a, &text)?;
    check_points(a, (a.ctx.end - a.ctx.start) / interval + 2)?;
    let align = a.bool(2, false);
    let mut list = a.series(0);
    if align {
        let start = truncate_local(a.ctx, a.ctx.start, interval);
        let ctx = Context {
            start,
            ..a.ctx.clone()
        };
        list = a.reevaluate_first(&ctx)?;
        for s in &mut list {
            let count = (s.end - s.start).div_euclid(interval);
            s.end = s.start + count * interval + interval;
        }
    }
    Ok(list
        .into_iter()
        .map(|mut s| {
            let step = s.step;
            let bucket_count =
                usize::try_from(((s.end - s.start) as f64 / interval as f64).ceil() as i64)
                    .unwrap_or(0);
            let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); bucket_count];
            let bc = bucket_count as i64;
            let new_start = s.end - bc * interval;
            for (i, v) in s.values.iter().enumerate() {
                let Some(value) = *v else { continue };
                let start_time = s.start + i as i64 * step;
                let (start_bucket, start_mod) = (
                    (start_time - new_start).div_euclid(interval),
                    (start_time - new_start).rem_euclid(interval),
                );
                let end_time = start_time + step;
                let (mut end_bucket, mut end_mod) = (
                    (end_time - new_start).div_euclid(interval),
                    (end_time - new_start).rem_euclid(interval),
                );
                if end_bucket >= bc {
                    end_bucket = bc - 1;
                    end_mod = interval;
                }
                let idx = |b: i64| usize::try_from(b).ok().filter(|&b| b < bucket_count);
                if start_bucket == end_bucket {
                    if let Some(b) = idx(start_bucket) {
                        buckets[b].push(value * (end_mod - start_mod) as f64);
                    }
                } else {
                    if let Some(b) = idx(start_bucket) {
                        buckets[b].push(value * (interval - start_mod) as f64);
                    }
                    let per = value * interval as f64;
                    for j in (start_bucket + 1)..end_bucket {
                        if let Some(b) = idx(j) {
                            buckets[b].push(per);
                        }
                    }
                    if end_mod > 0 {
                        if let Some(b) = idx(end_bucket) {
                            buckets[b].push(value * end_mod as f64);
                        } else if end_bucket < 0 {
                            // Python indexes from the end with a negative bucket number
                            if let Ok(b) = usize::try_from(bc + end_bucket) {
                                buckets[b].push(value * end_mod as f64);
                            }
                        }
                    }
                }
            }
            let values = buckets
                .iter()
                .map(|b| (!b.is_empty()).then(|| util::py_sum(b.iter().copied())))
                .collect();
            s.set_tag("hitcount", text.clone());
            let name = format!(
                "hitcount({}, \"{}\"{})",
                s.name,
                text,
                if align { ", true" } else { "" }
            );
            let mut out = copy_with(&s, name, values);
            out.start = new_start;
            out.step = interval;
            out
        })
        .collect())
}

fn time_shift(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut shift = a.str(1, "").to_string();
    if shift.starts_with(|c: char| c.is_ascii_digit()) {
        shift = format!("-{shift}");
    }
    let delta = parse_time_offset(&shift)
        .map_err(|e| a.err(format!("invalid timeShift {shift:?}: {e}")))?;
    let reset_end = a.bool(2, true);
    let align_dst = a.bool(3, false);
    let list = a.series(0);
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    let (first_start, first_end) = (first.start, first.end);
    let mut ctx = Context {
        start: a.ctx.start.saturating_add(delta),
        end: a.ctx.end.saturating_add(delta),
        ..a.ctx.clone()
    };
    if align_dst {
        let tz = &a.ctx.tz;
        let (rs, re) = (tz.offset_at(a.ctx.start), tz.offset_at(a.ctx.end));
        let (ms, me) = (tz.offset_at(ctx.start), tz.offset_at(ctx.end));
        if rs == re && ms == me && rs != ms {
            let d = i64::from(rs - ms);
            ctx.start += d;
            ctx.end += d;
        }
    }
    let shifted = a.reevaluate_first(&ctx)?;
    Ok(shifted
        .into_iter()
        .map(|mut s| {
            s.set_tag("timeShift", shift.clone());
            s.name = format!("timeShift({}, \"{}\")", s.name, shift);
            s.end = if reset_end {
                first_end
            } else {
                s.end - s.start + first_start
            };
            s.start = first_start;
            s
        })
        .collect())
}

fn pow(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let factor = a.float(1, 1.0);
    let text = a.value(1).map(Value::py_str).unwrap_or_default();
    Ok(map_in_place(
        a,
        Some(&("pow", text)),
        |s| format!("pow({},{})", s.name, fmt_g(factor)),
        |v| v.and_then(|x| util::safe_pow(x, factor)),
    ))
}

fn exp(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_in_place(
        a,
        Some(&("exp", "e".into())),
        |s| format!("exp({})", s.name),
        |v| v.map(f64::exp),
    ))
}

fn add(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let c = a.float(1, 0.0);
    let text = a.value(1).map(Value::py_str).unwrap_or_default();
    Ok(map_in_place(
        a,
        Some(&("add", text)),
        |s| format!("add({},{})", s.name, fmt_d(c)),
        |v| v.map(|x| x + c),
    ))
}

fn sigmoid(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_in_place(
        a,
        Some(&("sigmoid", "sigmoid".into())),
        |s| format!("sigmoid({})", s.name),
        |v| {
            v.and_then(|x| {
                let d = 1.0 + (-x).exp();
                (d != 0.0).then(|| 1.0 / d)
            })
        },
    ))
}

fn logit(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(map_in_place(
        a,
        Some(&("logit", "logit".into())),
        |s| format!("logit({})", s.name),
        |v| {
            v.and_then(|x| {
                let d = 1.0 - x;
                if d == 0.0 {
                    return None;
                }
                let r = x / d;
                (r > 0.0).then(|| r.ln())
            })
        },
    ))
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
    let given = a.value(1).cloned();
    let n = a.int(1, 0);
    let mut list = a.series(0);
    for s in &mut list {
        s.set_tag("round", n.to_string());
        s.name = match given {
            None => format!("round({})", s.name),
            Some(_) => format!("round({},{n})", s.name),
        };
        s.path_expression.clone_from(&s.name);
        for v in &mut s.values {
            *v = v.map(|x| py_round(x, n));
        }
    }
    Ok(list)
}

fn delay(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let steps = a.int(1, 0);
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let len = s.values.len();
            let k = usize::try_from(steps.unsigned_abs()).unwrap_or(usize::MAX);
            let values: Vec<Option<f64>> = if steps < 0 {
                let mut v: Vec<Option<f64>> = s.values.iter().skip(k).copied().collect();
                v.extend(std::iter::repeat_n(None, k.min(len)));
                v
            } else {
                // Python's series[:-0] is empty: delay(x, 0) has no values
                let keep = if steps == 0 { 0 } else { len.saturating_sub(k) };
                let mut v = vec![None; k.min(len)];
                v.extend_from_slice(&s.values[..keep]);
                v
            };
            s.set_tag("delay", steps.to_string());
            let name = format!("delay({},{steps})", s.name);
            copy_with(&s, name, values)
        })
        .collect())
}

fn logarithm(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let base = a.int(1, 10);
    if base <= 0 || base == 1 {
        return Err(a.err(format!("invalid base {base}")));
    }
    let lb = (base as f64).ln();
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let values = s
                .values
                .iter()
                .map(|v| v.and_then(|x| (x > 0.0).then(|| x.ln() / lb)))
                .collect();
            s.set_tag("log", base.to_string());
            let name = format!("log({}, {base})", s.name);
            copy_with(&s, name, values)
        })
        .collect())
}

fn min_max(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = a.series(0);
    for s in &mut list {
        s.name = format!("minMax({})", s.name);
        s.path_expression.clone_from(&s.name);
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
    let limit = match a.value(1) {
        Some(Value::Int(n)) => *n as f64,
        _ => f64::INFINITY,
    };
    let mut list = a.series(0);
    for s in &mut list {
        s.name = format!("interpolate({})", s.name);
        s.path_expression.clone_from(&s.name);
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
                        }
                    }
                    nones = 0;
                }
            }
        }
    }
    Ok(list)
}

fn time_stack(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut unit = a.str(1, "1d").to_string();
    if unit.starts_with(|c: char| c.is_ascii_digit()) {
        unit = format!("-{unit}");
    }
    let delta =
        parse_time_offset(&unit).map_err(|e| a.err(format!("invalid unit {unit:?}: {e}")))?;
    let (from, to) = (a.int(2, 0), a.int(3, 7));
    if let Some(max) = a.ctx.limits.max_series {
        if usize::try_from(to.saturating_sub(from)).is_ok_and(|n| n > max) {
            return Err(EvalError::Limit(format!(
                "timeStack() over {} shifts would make more than {max} series \
                 (query.max_series)",
                to.saturating_sub(from)
            )));
        }
    }
    let list = a.series(0);
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    let (start, end) = (first.start, first.end);
    let mut out = Vec::new();
    for shift in from..to {
        super::super::eval::check_deadline(a.ctx)?;
        let ctx = Context {
            start: a.ctx.start.saturating_add(delta.saturating_mul(shift)),
            end: a.ctx.end.saturating_add(delta.saturating_mul(shift)),
            ..a.ctx.clone()
        };
        for mut s in a.reevaluate_first(&ctx)? {
            s.set_tag("timeShiftUnit", unit.clone());
            s.set_tag("timeShift", shift.to_string());
            s.name = format!("timeShift({}, {unit}, {shift})", s.name);
            s.path_expression.clone_from(&s.name);
            s.start = start;
            s.end = end;
            out.push(s);
        }
    }
    Ok(out)
}

fn integral_by_interval(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let unit = a.str(1, "").to_string();
    let interval = parse_time_offset(&unit)
        .ok()
        .map(i64::abs)
        .filter(|i| *i > 0)
        .ok_or_else(|| a.err(format!("invalid interval {unit:?}")))?;
    let start_time = a.ctx.start;
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            let mut t = s.start;
            let mut current = 0.0;
            let values = s
                .values
                .iter()
                .map(|v| {
                    if (t - start_time).div_euclid(interval)
                        != (t - start_time - s.step).div_euclid(interval)
                    {
                        current = 0.0;
                    }
                    if let Some(x) = v {
                        current += x;
                    }
                    t += s.step;
                    Some(current)
                })
                .collect();
            s.set_tag("integralByInterval", unit.clone());
            let name = format!("integralByInterval({},'{unit}')", s.name);
            copy_with(&s, name, values)
        })
        .collect())
}

fn wave(a: &Args<'_, '_>, step: i64, f: impl Fn(f64) -> f64) -> Result<Vec<Series>, EvalError> {
    if step <= 0 {
        return Err(a.err(format!("step must be positive, got {step}")));
    }
    check_points(a, (a.ctx.end - a.ctx.start) / step + 1)?;
    let (start, end) = (a.ctx.start, a.ctx.end);
    let values = (start..end)
        .step_by(usize::try_from(step).unwrap_or(1))
        .map(|t| Some(f(t as f64)))
        .collect();
    let name = a.str(0, "");
    Ok(vec![util::new_series(
        name,
        start,
        end,
        step,
        values,
        a.ctx.x_files_factor,
    )])
}

fn sin_function(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let amplitude = a.int(1, 1) as f64;
    wave(a, a.int(2, 60), |t| t.sin() * amplitude)
}

fn time_function(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    wave(a, a.int(1, 60), |t| t)
}

/// The window start aligned to the start of its year, month, ISO week (Monday, or the
/// day given as `weeksN`), day, hour, minute or second in the request's zone.
fn align_start(a: &Args<'_, '_>, align: &str) -> Result<i64, EvalError> {
    let s = a.ctx.start;
    let offset = i64::from(a.ctx.tz.offset_at(s));
    let local = a.ctx.tz.to_local(s);
    let at = |c: Civil| c.to_epoch() - offset;
    let day = Civil {
        hour: 0,
        minute: 0,
        second: 0,
        ..local
    };
    Ok(if align.starts_with('s') {
        at(local)
    } else if align.starts_with("min") {
        at(Civil { second: 0, ..local })
    } else if align.starts_with('h') {
        at(Civil {
            minute: 0,
            second: 0,
            ..local
        })
    } else if align.starts_with('d') {
        at(day)
    } else if align.starts_with('w') {
        let target = align
            .chars()
            .last()
            .and_then(|c| c.to_digit(10))
            .map_or(1, i64::from);
        let iso = (day.to_epoch().div_euclid(86_400) + 3).rem_euclid(7) + 1;
        let mut back = iso - target;
        if back < 0 {
            back += 7;
        }
        at(day) - back * 86_400
    } else if align.starts_with("mon") {
        at(Civil { day: 1, ..day })
    } else if align.starts_with('y') {
        at(Civil {
            month: 1,
            day: 1,
            ..day
        })
    } else {
        return Err(a.err(format!("invalid alignTo unit {align:?}")));
    })
}

fn smart_summarize(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let text = a.str(1, "").to_string();
    let interval = interval_of(a, &text)?;
    check_points(a, (a.ctx.end - a.ctx.start) / interval + 2)?;
    let func = a.str(2, "sum").to_string();
    let agg = Agg::parse(a.name, &func)?;
    let mut list = a.series(0);
    if let Some(Value::Str(align)) = a.value(3) {
        let start = align_start(a, align)?;
        let ctx = Context {
            start,
            ..a.ctx.clone()
        };
        list = a.reevaluate_first(&ctx)?;
    }
    Ok(list
        .into_iter()
        .map(|mut s| {
            let (values, end) = summarize_values(&s, agg, interval, s.start, s.end);
            s.set_tag("smartSummarize", text.clone());
            s.set_tag("smartSummarizeFunction", func.clone());
            let name = format!("smartSummarize({}, \"{text}\", \"{func}\")", s.name);
            let mut out = copy_with(&s, name, values);
            out.end = end;
            out.step = interval;
            out
        })
        .collect())
}
