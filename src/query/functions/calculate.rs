//! The "Calculate" group: moving windows (`movingAverage`, …, `exponentialMovingAverage`,
//! `stdev`), percentiles, `aggregateLine` and the Holt-Winters forecasts. Functions that
//! need points before the window start evaluate their first argument again over a longer
//! window.

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use super::intervals::interval_of;
use super::params::{p, ps, Default as D, Param, ParamType as T, Suggestion as S};
use super::transform::{copy_each, copy_with};
use super::util::{self, round6, Agg};
use super::{d, Args, Def, Value};
use crate::py::format::percent_g6;
use crate::query::eval::{Context, EvalError};
use crate::query::json::Consolidation;
use crate::query::series::Series;
use crate::query::time::parse_time_offset;

const BOOTSTRAP: &[S] = &[S::Str("7d"), S::Str("30d")];
const SEASONALITY: &[S] = &[S::Str("1d"), S::Str("7d")];
const HOLT_BANDS: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("delta", T::Integer).def(D::Int(3)),
    p("bootstrapInterval", T::Interval)
        .def(D::Str("7d"))
        .sugg(BOOTSTRAP),
    p("seasonality", T::Interval)
        .def(D::Str("1d"))
        .sugg(SEASONALITY),
];

/// The Calculate group's definitions.
pub fn defs() -> Vec<Def> {
    vec![
        d("linearRegression", "Calculate", "(seriesList, startSourceAt=None, endSourceAt=None)", "The least-squares straight line through each series (fitted over another time range if given), drawn over the window.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("startSourceAt", T::Date),
            p("endSourceAt", T::Date),
        ]), linear_regression),
        d("holtWintersForecast", "Calculate", "(seriesList, bootstrapInterval='7d', seasonality='1d')", "The Holt-Winters prediction of each series, trained on bootstrapInterval of history before the window.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("bootstrapInterval", T::Interval).def(D::Str("7d")).sugg(BOOTSTRAP),
            p("seasonality", T::Interval).def(D::Str("1d")).sugg(SEASONALITY),
        ]), holt_winters_forecast),
        d("holtWintersConfidenceBands", "Calculate", "(seriesList, delta=3, bootstrapInterval='7d', seasonality='1d')", "The lower and upper Holt-Winters confidence bands (prediction ± delta deviations) of each series.", HOLT_BANDS, holt_winters_bands),
        d("holtWintersConfidenceArea", "Calculate", "(seriesList, delta=3, bootstrapInterval='7d', seasonality='1d')", "The Holt-Winters confidence bands of one series, drawn as a filled area.", HOLT_BANDS, holt_winters_area),
        d("holtWintersAberration", "Calculate", "(seriesList, delta=3, bootstrapInterval='7d', seasonality='1d')", "How far each point lies outside its Holt-Winters confidence band (0 inside).", HOLT_BANDS, holt_winters_aberration),

        d("aggregateLine", "Calculate", "(seriesList, func='average', keepStep=False)", "A flat line at an aggregate (average, max, …) of each series.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("func", T::AggFunc).def(D::Str("average")),
            p("keepStep", T::Boolean).def(D::Bool(false)),
        ]), aggregate_line),
        d("exponentialMovingAverage", "Calculate", "(seriesList, windowSize)", "An exponential moving average, seeded with the mean of the first window (rounded to 6 decimals).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("windowSize", T::IntOrInterval).req().sugg(INTERVAL_SUGGESTIONS),
        ]), exponential_moving_average),
        d("stdev", "Calculate", "(seriesList, points, windowTolerance=0.1)", "The standard deviation over a moving window of points (null when fewer than windowTolerance of them have values).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("points", T::Integer).req(),
            p("windowTolerance", T::Float).def(D::Float(0.1)),
        ]), stdev),
        d("movingAverage", "Calculate", "(seriesList, windowSize, xFilesFactor=None)", "The mean of the last windowSize points (a count, or an interval such as '5min') at each point; history before the window start is fetched.", MOVING, |a| moving(a, "average")),
        d("movingSum", "Calculate", "(seriesList, windowSize, xFilesFactor=None)", "The sum over a moving window of points or time.", MOVING, |a| moving(a, "sum")),
        d("movingMin", "Calculate", "(seriesList, windowSize, xFilesFactor=None)", "The minimum over a moving window of points or time.", MOVING, |a| moving(a, "min")),
        d("movingMax", "Calculate", "(seriesList, windowSize, xFilesFactor=None)", "The maximum over a moving window of points or time.", MOVING, |a| moving(a, "max")),
        d("movingMedian", "Calculate", "(seriesList, windowSize, xFilesFactor=None)", "The median over a moving window of points or time.", MOVING, |a| moving(a, "median")),
        d("movingWindow", "Calculate", "(seriesList, windowSize, func='average', xFilesFactor=None)", "Any aggregation function over a moving window of points or time.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("windowSize", T::IntOrInterval).req().sugg(INTERVAL_SUGGESTIONS),
            p("func", T::AggFunc).def(D::Str("average")),
            p("xFilesFactor", T::Float),
        ]), |a| {
            let func = a.str(2, "average").to_string();
            let window = a.value(1).cloned().unwrap_or(Value::None);
            let xff = a.opt_float(3);
            moving_window(a, &window, &func, xff)
        }),
        d("nPercentile", "Calculate", "(seriesList, n)", "A flat line at the n-th percentile of each series' values.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("n", T::Float).req(),
        ]), n_percentile),
    ]
}

const MOVING: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("windowSize", T::IntOrInterval)
        .req()
        .sugg(INTERVAL_SUGGESTIONS),
    p("xFilesFactor", T::Float),
];

const INTERVAL_SUGGESTIONS: &[S] = &[
    S::Int(5),
    S::Int(7),
    S::Int(10),
    S::Str("1min"),
    S::Str("5min"),
    S::Str("10min"),
    S::Str("30min"),
    S::Str("1hour"),
];

fn moving(a: &mut Args<'_, '_>, func: &str) -> Result<Vec<Series>, EvalError> {
    let window = a.value(1).cloned().unwrap_or(Value::None);
    let xff = a.opt_float(2);
    moving_window(a, &window, func, xff)
}

/// Python's `str.capitalize()` for ASCII names.
fn capitalize(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// The `windowSize` of the moving-window functions: a number of points, or an interval
/// (`'5min'`).
struct Window<'v> {
    size: &'v Value,
    /// The seconds fetched before the request's start, so that the first window is full.
    preview: i64,
}

impl<'v> Window<'v> {
    /// graphite's `previewSeconds`: the interval, or the count times the largest step.
    fn parse(a: &Args<'_, '_>, size: &'v Value, list: &[Series]) -> Result<Self, EvalError> {
        let preview = match size {
            Value::Str(s) => parse_time_offset(s)
                .map_err(|e| a.err(format!("invalid windowSize {s:?}: {e}")))?
                .abs(),
            Value::Int(n) => list
                .iter()
                .map(|s| s.step)
                .max()
                .unwrap_or(0)
                .saturating_mul(*n),
            other => return Err(a.err(format!("invalid windowSize {}", other.py_repr()))),
        };
        Ok(Window { size, preview })
    }

    /// The first argument evaluated again from `preview` seconds before the start.
    fn fetch(&self, a: &Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
        let ctx = Context {
            start: a.ctx.start.saturating_sub(self.preview),
            ..a.ctx.clone()
        };
        a.reevaluate_first(&ctx)
    }

    /// The name `fname(name,size)` (an interval in double quotes) and the window's length
    /// in points of `s`.
    fn name_and_points(&self, fname: &str, s: &Series) -> (String, usize) {
        let (name, points) = match self.size {
            Value::Str(w) => (
                format!("{fname}({},\"{w}\")", s.name),
                self.preview.checked_div(s.step).unwrap_or(0),
            ),
            Value::Int(n) => (format!("{fname}({},{n})", s.name), *n),
            other => (format!("{fname}({},{})", s.name, other.py_str()), 0),
        };
        (name, usize::try_from(points).unwrap_or(0))
    }
}

fn moving_window(
    a: &mut Args<'_, '_>,
    window: &Value,
    func: &str,
    xff: Option<f64>,
) -> Result<Vec<Series>, EvalError> {
    let list = a.series(0);
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let agg = Agg::parse(a.name, func)?;
    let window = Window::parse(a, window, &list)?;
    let tag = format!("moving{}", capitalize(func));
    let window_text = window.size.py_str();
    let fetched = window.fetch(a)?;
    let mut out = Vec::with_capacity(fetched.len());
    // Each window costs its length: the request's time limit is checked as they go.
    for mut s in fetched {
        let (name, points) = window.name_and_points(&tag, &s);
        s.set_tag(&tag, window_text.clone());
        let effective = xff.unwrap_or(s.x_files_factor);
        let mut values = Vec::new();
        let mut ints = Vec::new();
        let mut non_null = Vec::with_capacity(points.min(s.values.len()));
        for i in (points + 1)..=s.values.len() {
            a.ctx.tick()?;
            non_null.clear();
            non_null.extend(s.values[i - points..i].iter().filter(|v| v.is_some()));
            let value =
                if !non_null.is_empty() && util::xff(non_null.len(), points as f64, effective) {
                    agg.apply(&non_null)
                } else {
                    None
                };
            // a window's sum of ints, its count, the int it picks: Python ints (looked
            // at only when there are ints: a window can be long)
            ints.push(
                value.is_some()
                    && (agg == Agg::Count
                        || (s.ints.is_some()
                            && util::agg_is_int(&util::known_with_ints(&s, i - points..i), agg))),
            );
            values.push(value);
        }
        let mut series = copy_with(&s, name, values);
        series.start = s.start.saturating_add(window.preview);
        series.ints = ints.contains(&true).then_some(ints);
        out.push(series);
    }
    Ok(out)
}

/// graphite's `_getPercentile(points, n, interpolate)`.
pub fn percentile(points: &[Option<f64>], n: f64, interpolate: bool) -> Option<f64> {
    let known: Vec<(f64, bool)> = points
        .iter()
        .filter_map(|v| v.map(|x| (x, false)))
        .collect();
    percentile_marked(&known, n, interpolate).map(|(v, _)| v)
}

/// [`percentile`] of known values each marked whether it is a Python int: the value, and
/// whether it is the int the rank picks (an interpolated value is a float).
pub fn percentile_marked(known: &[(f64, bool)], n: f64, interpolate: bool) -> Option<(f64, bool)> {
    let mut sorted = known.to_vec();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let fractional = (n / 100.0) * (sorted.len() as f64 + 1.0);
    if !fractional.is_finite() || fractional.abs() > 1e15 {
        return None;
    }
    let mut rank = fractional.trunc() as i64;
    let frac = fractional - rank as f64;
    if !interpolate {
        rank += frac.ceil() as i64;
    }
    let len = sorted.len() as i64;
    let (mut value, mut int) = if rank == 0 {
        sorted[0]
    } else if rank - 1 == len {
        sorted[sorted.len() - 1]
    } else {
        let idx = rank - 1;
        let idx = if idx < 0 { len + idx } else { idx };
        *sorted.get(usize::try_from(idx).ok()?)?
    };
    if interpolate && rank != len {
        if let Some((next, _)) = usize::try_from(rank).ok().and_then(|r| sorted.get(r)) {
            value += frac * (next - value);
            int = false;
        }
    }
    Some((value, int))
}

fn n_percentile(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let n = a.float(1, 0.0);
    if n == 0.0 {
        return Err(a.err("the requested percent must be greater than 0"));
    }
    let text = a.value(1).map(Value::py_str).unwrap_or_default();
    let list = a.series(0);
    let mut out = Vec::new();
    for mut s in list {
        if s.values.iter().all(Option::is_none) {
            continue;
        }
        let known = util::known_with_ints(&s, 0..s.values.len());
        let Some((p, int)) = percentile_marked(&known, n, false) else {
            continue;
        };
        s.set_tag("nPercentile", text.clone());
        let name = format!("nPercentile({}, {})", s.name, percent_g6(n));
        let count =
            usize::try_from(((s.end - s.start) as f64 / s.step as f64).trunc() as i64).unwrap_or(0);
        let mut series = copy_with(&s, name, vec![Some(p); count]);
        if int {
            series.mark_all_ints();
        }
        out.push(series);
    }
    Ok(out)
}

fn aggregate_line(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let func = a.str(1, "average").to_string();
    let agg = Agg::parse(a.name, &func)?;
    let keep = a.bool(2, false);
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|s| {
            let value = agg.apply(&s.values);
            // a Python int (a sum of ints, a picked int) stays one: named and written so
            let int = value.is_some()
                && util::agg_is_int(&util::known_with_ints(&s, 0..s.values.len()), agg);
            let text = value.map_or_else(|| "None".to_string(), percent_g6);
            let name = format!("aggregateLine({}, {text})", s.name);
            let mut line = if keep {
                let n = s.values.len();
                copy_with(&s, name, vec![value; n])
            } else {
                let label = match value {
                    None => "None".to_string(),
                    Some(v) if int => format!("{}", v as i64),
                    Some(v) => super::py_float(v),
                };
                let mut line = super::special::constant_line(a.ctx, 0.0, &label);
                line.values = vec![value; 3];
                line.rename(name);
                line
            };
            if int {
                line.mark_all_ints();
            }
            line
        })
        .collect())
}

fn exponential_moving_average(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let size = a.value(1).cloned().unwrap_or(Value::None);
    let list = a.series(0);
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let window = Window::parse(a, &size, &list)?;
    let constant = match &size {
        Value::Int(n) => 2.0 / (*n as f64 + 1.0),
        _ => 2.0 / (window.preview as f64 + 1.0),
    };
    let text = size.py_str();
    Ok(window
        .fetch(a)?
        .into_iter()
        .map(|mut s| {
            let (name, points) = window.name_and_points("exponentialMovingAverage", &s);
            s.set_tag("exponentialMovingAverage", text.clone());
            let head = &s.values[..points.min(s.values.len())];
            let mut ema = util::safe_avg(head).unwrap_or(0.0);
            let seed_is_int = ema == 0.0;
            let mut values = vec![Some(round6(ema))];
            for v in s.values.iter().skip(points) {
                values.push(v.map(|x| {
                    ema = constant * x + (1.0 - constant) * ema;
                    round6(ema)
                }));
            }
            let mut out = copy_with(&s, name, values);
            out.start = s.start.saturating_add(window.preview);
            if seed_is_int {
                // graphite's `safeAvg(...) or 0`: no average (or 0.0) gives the int 0.
                let mut ints = vec![false; out.values.len()];
                ints[0] = true;
                out.ints = Some(ints);
            }
            out
        })
        .collect())
}

/// graphite's `stdev(seriesList, points, windowTolerance=0.1)`: a running sum and sum of
/// squares over the last `points` values, `sqrt(n * squares - sum**2) / n`. The arithmetic
/// is Python's: the sums start as the int 0 and stay exact ints while only Python ints
/// (`identity`, counts) go in and out (`stdev(identity('id'),10)` is exactly 30.0); a float
/// makes them floats for good, squared with `x**2` (libm's `pow`, as `powf(2.0)` calls it),
/// which is not always `x * x`.
fn stdev(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let points = a.int(1, 0);
    let tolerance = a.float(2, 0.1);
    let args = format!(",{points}");
    Ok(copy_each(a, "stdev", &points.to_string(), &args, |s| {
        let mut valid = 0i64;
        let mut sum = PyNum::Int(0);
        let mut squares = PyNum::Int(0);
        let mut values = Vec::with_capacity(s.values.len());
        let value = |j: usize| {
            s.values
                .get(j)
                .copied()
                .flatten()
                .map(|x| match s.python_int(j).map(i128::from) {
                    Some(n) => PyNum::Int(n),
                    None => PyNum::Float(x),
                })
        };
        for i in 0..s.values.len() {
            let dropped = if (i as i64) < points {
                None
            } else {
                (i as i64)
                    .checked_sub(points)
                    .and_then(|j| usize::try_from(j).ok())
                    .and_then(value)
            };
            let new = value(i);
            if dropped.is_some() {
                valid -= 1;
            }
            if new.is_some() {
                valid += 1;
            }
            if let Some(d) = dropped {
                sum = sum.sub(d);
                squares = squares.sub(d.square());
            }
            if let Some(x) = new {
                sum = sum.add(x);
                squares = squares.add(x.square());
            }
            values.push(if valid > 0 && valid as f64 / points as f64 >= tolerance {
                let inner = PyNum::Int(i128::from(valid))
                    .mul(squares)
                    .sub(sum.square())
                    .to_f64();
                // math.sqrt raises on a negative number: graphite appends None
                (inner.is_nan() || inner >= 0.0).then(|| inner.sqrt() / valid as f64)
            } else {
                None
            });
        }
        values
    }))
}

/// A Python number: an exact int (until it would overflow, then a float, which Python
/// would not need: far past any real series) or a float.
#[derive(Debug, Clone, Copy)]
enum PyNum {
    Int(i128),
    Float(f64),
}

impl PyNum {
    fn to_f64(self) -> f64 {
        match self {
            PyNum::Int(n) => n as f64,
            PyNum::Float(x) => x,
        }
    }

    fn op(
        self,
        other: PyNum,
        int: fn(i128, i128) -> Option<i128>,
        float: fn(f64, f64) -> f64,
    ) -> PyNum {
        match (self, other) {
            (PyNum::Int(a), PyNum::Int(b)) => match int(a, b) {
                Some(n) => PyNum::Int(n),
                None => PyNum::Float(float(a as f64, b as f64)),
            },
            (a, b) => PyNum::Float(float(a.to_f64(), b.to_f64())),
        }
    }

    fn add(self, other: PyNum) -> PyNum {
        self.op(other, i128::checked_add, |a, b| a + b)
    }

    fn sub(self, other: PyNum) -> PyNum {
        self.op(other, i128::checked_sub, |a, b| a - b)
    }

    fn mul(self, other: PyNum) -> PyNum {
        self.op(other, i128::checked_mul, |a, b| a * b)
    }

    /// `x**2`.
    fn square(self) -> PyNum {
        match self {
            PyNum::Int(n) => n
                .checked_mul(n)
                .map_or(PyNum::Float((n as f64).powf(2.0)), PyNum::Int),
            PyNum::Float(x) => PyNum::Float(x.powf(2.0)),
        }
    }
}

/// graphite's `holtWintersAnalysis`: `(predictions, deviations)`.
fn holt_winters_analysis(
    a: &Args<'_, '_>,
    values: &[Option<f64>],
    season_length: i64,
) -> Result<(Vec<Option<f64>>, Vec<f64>), EvalError> {
    const ALPHA: f64 = 0.1;
    const GAMMA: f64 = 0.1;
    const BETA: f64 = 0.0035;
    let mut intercepts: Vec<Option<f64>> = Vec::with_capacity(values.len());
    let mut slopes: Vec<f64> = Vec::with_capacity(values.len());
    let mut seasonals: Vec<f64> = Vec::with_capacity(values.len());
    let mut predictions: Vec<Option<f64>> = Vec::with_capacity(values.len());
    let mut deviations: Vec<f64> = Vec::with_capacity(values.len());
    let last = |list: &[f64], i: usize| -> Result<f64, EvalError> {
        let j = i as i64 - season_length;
        if j < 0 {
            return Ok(0.0);
        }
        list.get(usize::try_from(j).unwrap_or(usize::MAX))
            .copied()
            .ok_or_else(|| a.err("the seasonality must be longer than two steps"))
    };
    let mut next_pred: Option<f64> = None;
    for (i, v) in values.iter().enumerate() {
        let Some(actual) = *v else {
            intercepts.push(None);
            slopes.push(0.0);
            seasonals.push(0.0);
            predictions.push(next_pred);
            deviations.push(0.0);
            next_pred = None;
            continue;
        };
        let (last_intercept, last_slope, prediction) = if i == 0 {
            (actual, 0.0, Some(actual))
        } else {
            (
                intercepts.last().copied().flatten().unwrap_or(actual),
                slopes.last().copied().unwrap_or(0.0),
                next_pred,
            )
        };
        let last_seasonal = last(&seasonals, i)?;
        let next_last_seasonal = last(&seasonals, i + 1)?;
        let last_dev = last(&deviations, i)?;
        let intercept =
            ALPHA * (actual - last_seasonal) + (1.0 - ALPHA) * (last_intercept + last_slope);
        let slope = BETA * (intercept - last_intercept) + (1.0 - BETA) * last_slope;
        let seasonal = GAMMA * (actual - intercept) + (1.0 - GAMMA) * last_seasonal;
        next_pred = Some(intercept + slope + next_last_seasonal);
        let deviation =
            GAMMA * (actual - prediction.unwrap_or(0.0)).abs() + (1.0 - GAMMA) * last_dev;
        intercepts.push(Some(intercept));
        slopes.push(slope);
        seasonals.push(seasonal);
        predictions.push(prediction);
        deviations.push(deviation);
    }
    Ok((predictions, deviations))
}

/// The bootstrap and season lengths in seconds, and the series over the longer window.
fn holt_preview(
    a: &Args<'_, '_>,
    bootstrap_idx: usize,
    season_idx: usize,
) -> Result<(i64, i64, Vec<Series>), EvalError> {
    let bootstrap = interval_of(a, a.str(bootstrap_idx, "7d"))?;
    let season = interval_of(a, a.str(season_idx, "1d"))?;
    let ctx = Context {
        start: a.ctx.start.saturating_sub(bootstrap),
        ..a.ctx.clone()
    };
    Ok((bootstrap, season, a.reevaluate_first(&ctx)?))
}

/// One fresh series' forecast and deviations after the bootstrap window, with the tags
/// graphite leaves on it.
struct Holt {
    series: Series,
    start: i64,
    predictions: Vec<Option<f64>>,
    deviations: Vec<f64>,
}

fn holt_runs(
    a: &Args<'_, '_>,
    bootstrap_idx: usize,
    season_idx: usize,
) -> Result<Vec<Holt>, EvalError> {
    let (bootstrap, season, fresh) = holt_preview(a, bootstrap_idx, season_idx)?;
    let mut out = Vec::with_capacity(fresh.len());
    for mut s in fresh {
        let season_length = season.div_euclid(s.step);
        let (p, d) = holt_winters_analysis(a, &s.values, season_length)?;
        s.set_tag("holtWintersForecast", "1");
        s.set_tag("holtWintersDeviation", "1");
        let skip = usize::try_from(bootstrap.div_euclid(s.step)).unwrap_or(0);
        out.push(Holt {
            start: s.start.saturating_add(bootstrap),
            predictions: p.into_iter().skip(skip).collect(),
            deviations: d.into_iter().skip(skip).collect(),
            series: s,
        });
    }
    Ok(out)
}

fn holt_winters_forecast(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(holt_runs(a, 1, 2)?
        .into_iter()
        .map(|h| {
            let name = format!("holtWintersForecast({})", h.series.name);
            let mut out = h.series;
            out.rename(name);
            out.start = h.start;
            out.values = h.predictions;
            // a new TimeSeries in graphite: consolidated by average whatever the input's
            out.consolidation = Consolidation::default();
            out
        })
        .collect())
}

fn bands(a: &Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let delta = a.int(1, 3) as f64;
    let mut out = Vec::new();
    for h in holt_runs(a, 2, 3)? {
        let n = h.predictions.len();
        let (mut upper, mut lower) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            if let (Some(f), Some(d)) = (h.predictions[i], h.deviations.get(i)) {
                let scaled = delta * d;
                upper.push(Some(f + scaled));
                lower.push(Some(f - scaled));
            } else {
                upper.push(None);
                lower.push(None);
            }
        }
        let mut base = h.series;
        base.consolidation = Consolidation::default();
        base.set_tag("holtWintersConfidenceUpper", "1");
        base.set_tag("holtWintersConfidenceLower", "1");
        base.start = h.start;
        for (kind, values) in [("Lower", lower), ("Upper", upper)] {
            let mut s = base.clone();
            s.name = format!("holtWintersConfidence{kind}({})", base.name);
            s.values = values;
            out.push(s);
        }
    }
    Ok(out)
}

fn holt_winters_bands(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    bands(a)
}

fn holt_winters_area(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = bands(a)?;
    if list.len() != 2 {
        return Err(a.err(format!(
            "the confidence area needs exactly one series (got {})",
            list.len()
        )));
    }
    let name = format!("areaBetween({})", list[1].path_expression)
        .replace("areaBetween", "holtWintersConfidenceArea");
    for (i, s) in list.iter_mut().enumerate() {
        s.set_tag("holtWintersConfidenceArea", "1");
        s.rename(name.clone());
        s.style.area_between = true;
        s.style.stack = Some("__DEFAULT__".into());
        s.style.invisible = i == 0;
    }
    Ok(list)
}

fn holt_winters_aberration(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let bands = bands(a)?;
    let mut by_name: std::collections::HashMap<&str, &Series> = std::collections::HashMap::new();
    // graphite's {s.name: s for s in bands}: of two bands with one name, the last
    for b in &bands {
        by_name.insert(b.name.as_str(), b);
    }
    let list = a.series(0);
    let mut out = Vec::with_capacity(list.len());
    for mut s in list {
        a.ctx.tick()?;
        let find = |kind: &str| {
            let name = format!("holtWintersConfidence{kind}({})", s.name);
            by_name.get(name.as_str()).copied()
        };
        let (Some(lower), Some(upper)) = (find("Lower"), find("Upper")) else {
            return Err(a.err(format!("no confidence band for {}", s.name)));
        };
        // graphite appends the int 0 inside the bands and for nulls, a float outside.
        let (values, ints): (Vec<Option<f64>>, Vec<bool>) = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let Some(x) = *v else {
                    return (Some(0.0), true);
                };
                let up = upper.values.get(i).copied().flatten();
                let lo = lower.values.get(i).copied().flatten();
                match (up, lo) {
                    (Some(u), _) if x > u => (Some(x - u), false),
                    (_, Some(l)) if x < l => (Some(x - l), false),
                    _ => (Some(0.0), true),
                }
            })
            .unzip();
        s.set_tag("holtWintersAberration", "1");
        let name = format!("holtWintersAberration({})", s.name);
        let mut series = copy_with(&s, name, values);
        series.ints = Some(ints);
        series.consolidation = Consolidation::default();
        out.push(series);
    }
    Ok(out)
}

/// graphite's `_linearRegressionAnalysis`: `(factor, offset)` of the line through the
/// non-null points, `None` when fewer than two.
fn linear_regression_analysis(s: &Series) -> Option<(f64, f64)> {
    let points = s
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as i64, v)));
    let n = points.clone().count() as i128;
    let sum_i: i128 = points.clone().map(|(i, _)| i128::from(i)).sum();
    let sum_v = util::py_sum(points.clone().map(|(_, v)| v));
    let sum_ii: i128 = points
        .clone()
        .map(|(i, _)| i128::from(i) * i128::from(i))
        .sum();
    let sum_iv = util::py_sum(points.map(|(i, v)| i as f64 * v));
    let denominator =
        n.checked_mul(sum_ii)
            .and_then(|a| sum_i.checked_mul(sum_i).and_then(|b| a.checked_sub(b)))? as f64;
    if denominator == 0.0 {
        return None;
    }
    // Python ints only (`identity`, counts): the sums and numerators are exact ints there,
    // rounded to a float once, when divided
    let exact = || {
        let mut sum_v = 0i128;
        let mut sum_iv = 0i128;
        for (i, v) in s.values.iter().enumerate() {
            if v.is_some() {
                let v = i128::from(s.python_int(i)?);
                sum_v = sum_v.checked_add(v)?;
                sum_iv = sum_iv.checked_add(i128::try_from(i).ok()?.checked_mul(v)?)?;
            }
        }
        let factor_num = n
            .checked_mul(sum_iv)?
            .checked_sub(sum_i.checked_mul(sum_v)?)?;
        let offset_num = sum_ii
            .checked_mul(sum_v)?
            .checked_sub(sum_iv.checked_mul(sum_i)?)?;
        Some((factor_num as f64, offset_num as f64))
    };
    let (factor_num, offset_num) = exact().unwrap_or((
        n as f64 * sum_iv - sum_i as f64 * sum_v,
        sum_ii as f64 * sum_v - sum_iv * sum_i as f64,
    ));
    let factor = factor_num / denominator / s.step as f64;
    let offset = offset_num / denominator - factor * s.start as f64;
    Some((factor, offset))
}

fn date_or(a: &Args<'_, '_>, i: usize, default: i64) -> Result<i64, EvalError> {
    match a.value(i) {
        None => Ok(default),
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::Str(text)) => crate::query::time::parse_at_time(text, a.ctx.now, &a.ctx.tz)
            .map_err(|e| a.err(format!("invalid time {text:?}: {e}"))),
        Some(other) => Err(a.err(format!("invalid time {}", other.py_repr()))),
    }
}

fn linear_regression(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let start = date_or(a, 1, a.ctx.start)?;
    let end = date_or(a, 2, a.ctx.end)?;
    let ctx = Context {
        start,
        end,
        ..a.ctx.clone()
    };
    let sources = a.reevaluate_first(&ctx)?;
    let list = a.series(0);
    let mut out = Vec::new();
    for (source, mut s) in sources.iter().zip(list) {
        s.set_tag("linearRegressions", format!("{start}, {end}"));
        let name = format!("linearRegression({}, {start}, {end})", s.name);
        let Some((factor, offset)) = linear_regression_analysis(source) else {
            continue;
        };
        let values = (0..s.values.len())
            .map(|i| Some(offset + (s.start + i as i64 * s.step) as f64 * factor))
            .collect();
        let mut line = copy_with(&s, name, values);
        // a new TimeSeries in graphite: consolidated by average whatever the input's
        line.consolidation = Consolidation::default();
        out.push(line);
    }
    Ok(out)
}
