//! The "Transform" functions that work on time itself: re-bucketing (`summarize`,
//! `smartSummarize`, `hitcount`, `integralByInterval`) and shifting (`timeShift`,
//! `timeStack`, which evaluate their first argument again over another window).

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use super::params::{p, ps, Default as D, ParamType as T, Suggestion as S};
use super::transform::{copy_each, copy_with};
use super::util::{self, Agg};
use super::{d, Args, Def, Value};
use crate::query::eval::{Context, EvalError};
use crate::query::series::Series;
use crate::query::time::{parse_time_offset, Civil};

/// The definitions.
pub fn defs() -> Vec<Def> {
    vec![

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
    ]
}

pub(super) fn interval_of(a: &Args<'_, '_>, text: &str) -> Result<i64, EvalError> {
    let i =
        parse_time_offset(text).map_err(|e| a.err(format!("invalid interval {text:?}: {e}")))?;
    if i <= 0 {
        return Err(a.err(format!("interval {text:?} must be positive")));
    }
    Ok(i)
}

/// Fails before a function makes `series` series of `buckets` points each when they
/// would not fit in what is left of the request's `http.max_points`.
pub(super) fn check_points(a: &Args<'_, '_>, buckets: i64, series: usize) -> Result<(), EvalError> {
    let n = usize::try_from(buckets)
        .unwrap_or(usize::MAX)
        .saturating_mul(series.max(1));
    a.ctx.check_room(&format!("{}()", a.name), n)
}

/// graphite's `_summarizeValues`: `(values, which are Python ints, end of the last bucket)`.
pub fn summarize_values(
    s: &Series,
    agg: Agg,
    interval: i64,
    new_start: i64,
    new_end: i64,
) -> (Vec<Option<f64>>, Vec<bool>, i64) {
    let n = usize::try_from((s.end - s.start).max(0) / s.step.max(1)).unwrap_or(0);
    let n = if (s.end - s.start).max(0) % s.step.max(1) != 0 {
        n + 1
    } else {
        n
    };
    let num_points = n.min(s.values.len());
    let interval_points = interval as f64 / s.step as f64;
    let mut out = Vec::new();
    let mut ints = Vec::new();
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
        let value = if util::xff(non_null, interval_points, s.x_files_factor) {
            agg.apply(&s.values[start_idx..i])
        } else {
            None
        };
        ints.push(
            value.is_some()
                && (agg == Agg::Count
                    || (s.ints.is_some()
                        && util::agg_is_int(&util::known_with_ints(s, start_idx..i), agg))),
        );
        out.push(value);
        ts += interval;
    }
    (out, ints, ts)
}

/// The `intervalString` and `func` arguments of `summarize` and `smartSummarize`.
struct Buckets {
    text: String,
    interval: i64,
    func: String,
    agg: Agg,
}

impl Buckets {
    fn parse(a: &Args<'_, '_>) -> Result<Buckets, EvalError> {
        let text = a.str(1, "").to_string();
        let interval = interval_of(a, &text)?;
        let series = a.value(0).map_or(0, |v| match v {
            Value::Series(s) => s.len(),
            _ => 0,
        });
        check_points(a, (a.ctx.end - a.ctx.start) / interval + 2, series)?;
        let func = a.str(2, "sum").to_string();
        let agg = Agg::parse(a.name, &func)?;
        Ok(Buckets {
            text,
            interval,
            func,
            agg,
        })
    }

    /// `s` summarized into buckets from `start` to `end`, as both functions copy it:
    /// tagged `fname` and `fnameFunction`, named `fname(name, "interval", "func"{args})`,
    /// ending where the last bucket ends; a count, a sum of ints, a picked int are ints.
    fn summarize(&self, mut s: Series, fname: &str, args: &str, start: i64, end: i64) -> Series {
        let (values, ints, buckets_end) = summarize_values(&s, self.agg, self.interval, start, end);
        s.set_tag(fname, self.text.clone());
        s.set_tag(&format!("{fname}Function"), self.func.clone());
        let name = format!(
            "{fname}({}, \"{}\", \"{}\"{args})",
            s.name, self.text, self.func
        );
        let mut out = copy_with(&s, name, values);
        out.start = start;
        out.end = buckets_end;
        out.step = self.interval;
        out.ints = ints.contains(&true).then_some(ints);
        out
    }
}

fn summarize(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let buckets = Buckets::parse(a)?;
    let interval = buckets.interval;
    let align = a.bool(3, false);
    let list = a.series(0);
    Ok(list
        .into_iter()
        .map(|s| {
            if align {
                let (start, end) = (s.start, s.end);
                return buckets.summarize(s, "summarize", ", true", start, end);
            }
            let start = s.start - s.start.rem_euclid(interval);
            let end = s.end - s.end.rem_euclid(interval) + interval;
            let mut out = buckets.summarize(s, "summarize", "", start, end);
            // graphite keeps the end it aligned to the interval
            out.end = end;
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
    let series = a.value(0).map_or(0, |v| match v {
        Value::Series(s) => s.len(),
        _ => 0,
    });
    check_points(a, (a.ctx.end - a.ctx.start) / interval + 2, series)?;
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
            // whether every part of a bucket is a Python int (an int value times seconds)
            let mut all_ints = vec![true; bucket_count];
            let bc = bucket_count as i64;
            let new_start = s.end - bc * interval;
            for (i, v) in s.values.iter().enumerate() {
                let Some(value) = *v else { continue };
                let int = s.is_int(i);
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
                        all_ints[b] &= int;
                    }
                } else {
                    if let Some(b) = idx(start_bucket) {
                        buckets[b].push(value * (interval - start_mod) as f64);
                        all_ints[b] &= int;
                    }
                    let per = value * interval as f64;
                    for j in (start_bucket + 1)..end_bucket {
                        if let Some(b) = idx(j) {
                            buckets[b].push(per);
                            all_ints[b] &= int;
                        }
                    }
                    if end_mod > 0 {
                        if let Some(b) = idx(end_bucket) {
                            buckets[b].push(value * end_mod as f64);
                            all_ints[b] &= int;
                        } else if end_bucket < 0 {
                            // Python indexes from the end with a negative bucket number
                            if let Ok(b) = usize::try_from(bc + end_bucket) {
                                buckets[b].push(value * end_mod as f64);
                                all_ints[b] &= int;
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
            let ints: Vec<bool> = buckets
                .iter()
                .zip(all_ints)
                .map(|(b, int)| !b.is_empty() && int)
                .collect();
            out.ints = ints.contains(&true).then_some(ints);
            out
        })
        .collect())
}

/// A `timeShift`/`timeShiftUnit` argument as graphite reads it, a shift without a sign
/// going into the past (`'1d'` is `'-1d'`): the signed text and its seconds.
fn past_offset(a: &Args<'_, '_>, text: &str, what: &str) -> Result<(String, i64), EvalError> {
    let text = if text.starts_with(|c: char| c.is_ascii_digit()) {
        format!("-{text}")
    } else {
        text.to_string()
    };
    let seconds =
        parse_time_offset(&text).map_err(|e| a.err(format!("invalid {what} {text:?}: {e}")))?;
    Ok((text, seconds))
}

fn time_shift(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let (shift, delta) = past_offset(a, a.str(1, ""), "timeShift")?;
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

fn time_stack(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let (unit, delta) = past_offset(a, a.str(1, "1d"), "unit")?;
    let (from, to) = (a.int(2, 0), a.int(3, 7));
    let shifts = usize::try_from(to.saturating_sub(from)).unwrap_or(0);
    a.ctx
        .check_series_room(&format!("timeStack() over {shifts} shifts"), shifts)?;
    let list = a.series(0);
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    let (start, end) = (first.start, first.end);
    let mut out = Vec::new();
    for shift in from..to {
        a.ctx.check()?;
        let ctx = Context {
            start: a.ctx.start.saturating_add(delta.saturating_mul(shift)),
            end: a.ctx.end.saturating_add(delta.saturating_mul(shift)),
            ..a.ctx.clone()
        };
        for mut s in a.reevaluate_first(&ctx)? {
            s.set_tag("timeShiftUnit", unit.clone());
            s.set_tag("timeShift", shift.to_string());
            s.rename(format!("timeShift({}, {unit}, {shift})", s.name));
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
    let args = format!(",'{unit}'");
    Ok(copy_each(a, "integralByInterval", &unit, &args, |s| {
        let mut t = s.start;
        let mut current = 0.0;
        s.values
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
            .collect()
    }))
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
    let buckets = Buckets::parse(a)?;
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
        .map(|s| {
            let (start, end) = (s.start, s.end);
            buckets.summarize(s, "smartSummarize", "", start, end)
        })
        .collect())
}
