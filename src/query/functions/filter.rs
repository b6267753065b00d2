//! The "Filter Series", "Filter Data" and "Sorting" groups: functions that keep, drop or
//! reorder whole series (`highestMax`, `grep`, `limit`, `sortByName`, …) or drop points
//! (`removeAboveValue`, …).

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use std::cmp::Ordering;

use super::alias::compile;
use super::calculate::percentile;
use super::params::{p, ps, Default as D, Param, ParamType as T};
use super::util::{py_bound, xff_values, Agg};
use super::{d, Args, Def};
use crate::py::format::percent_g6;
use crate::query::eval::EvalError;
use crate::query::series::Series;

const N_INT: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("n", T::Integer).req(),
];
const N_FLOAT: &[Param] = &[p("seriesList", T::SeriesList).req(), p("n", T::Float).req()];
const SERIES_ONLY: &[Param] = &[p("seriesList", T::SeriesList).req()];
const PATTERN: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("pattern", T::String).req(),
];
const HIGHEST: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("n", T::Integer).req(),
    p("func", T::AggFunc).def(D::Str("average")),
];
const OPERATORS: &[&str] = &["!=", "<", "<=", "=", ">", ">="];

/// The filter and sorting groups' definitions.
pub fn defs() -> Vec<Def> {
    let fs = "Filter Series";
    vec![
        d("highest", fs, "(seriesList, n=1, func='average')", "The n series with the highest value of the aggregation function.", HIGHEST, |a| {
            let f = a.str(2, "average").to_string();
            top(a, &f, true)
        }),
        d("lowest", fs, "(seriesList, n=1, func='average')", "The n series with the lowest value of the aggregation function.", HIGHEST, |a| {
            let f = a.str(2, "average").to_string();
            top(a, &f, false)
        }),
        d("highestAverage", fs, "(seriesList, n)", "The n series with the highest average.", N_INT, |a| top(a, "average", true)),
        d("highestCurrent", fs, "(seriesList, n)", "The n series with the highest last value.", N_INT, |a| top(a, "current", true)),
        d("highestMax", fs, "(seriesList, n)", "The n series with the highest maximum.", N_INT, |a| top(a, "max", true)),
        d("lowestAverage", fs, "(seriesList, n)", "The n series with the lowest average.", N_INT, |a| top(a, "average", false)),
        d("lowestCurrent", fs, "(seriesList, n)", "The n series with the lowest last value.", N_INT, |a| top(a, "current", false)),
        d("limit", fs, "(seriesList, n)", "The first n series of the list.", N_INT, |a| {
            let n = a.int(1, 0);
            let mut list = a.series(0);
            list.truncate(py_bound(list.len(), n));
            Ok(list)
        }),
        d("exclude", fs, "(seriesList, pattern)", "Drops the series whose names match the regular expression.", PATTERN, |a| {
            let re = compile(a, a.str(1, ""))?;
            Ok(a.series(0).into_iter().filter(|s| !re.is_match(&s.name)).collect())
        }),
        d("grep", fs, "(seriesList, pattern)", "Keeps the series whose names match the regular expression.", PATTERN, |a| {
            let re = compile(a, a.str(1, ""))?;
            Ok(a.series(0).into_iter().filter(|s| re.is_match(&s.name)).collect())
        }),
        d("removeEmptySeries", fs, "(seriesList, xFilesFactor=None)", "Drops the series without values (or with a share of values below xFilesFactor).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("xFilesFactor", T::Float),
        ]), |a| {
            let xff = a.float(1, 0.0);
            Ok(a.series(0).into_iter().filter(|s| xff_values(&s.values, xff)).collect())
        }),
        d("unique", fs, "(*seriesLists)", "Joins the lists, keeping the first series of each name.", ps(vec![
            p("seriesLists", T::SeriesList).req().multi(),
        ]), |a| {
            let mut seen = std::collections::HashSet::new();
            Ok(a
                .series_lists(0)
                .into_iter()
                .flatten()
                .filter(|s| seen.insert(s.name.clone()))
                .collect())
        }),
        d("filterSeries", fs, "(seriesList, func, operator, threshold)", "Keeps the series whose aggregated value compares true with the threshold.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("func", T::AggFunc).req(),
            p("operator", T::String).req().opts(OPERATORS),
            p("threshold", T::Float).req(),
        ]), |a| {
            let f = a.str(1, "").to_string();
            let op = a.str(2, "").to_string();
            let t = a.float(3, 0.0);
            filter_series(a, &f, &op, t)
        }),
        d("maximumAbove", fs, "(seriesList, n)", "Keeps the series whose maximum is above n.", N_FLOAT, |a| filt(a, "max", ">")),
        d("minimumAbove", fs, "(seriesList, n)", "Keeps the series whose minimum is above n.", N_FLOAT, |a| filt(a, "min", ">")),
        d("maximumBelow", fs, "(seriesList, n)", "Keeps the series whose maximum is at most n.", N_FLOAT, |a| filt(a, "max", "<=")),
        d("minimumBelow", fs, "(seriesList, n)", "Keeps the series whose minimum is at most n.", N_FLOAT, |a| filt(a, "min", "<=")),
        d("currentAbove", fs, "(seriesList, n)", "Keeps the series whose last value is above n.", N_FLOAT, |a| filt(a, "last", ">")),
        d("currentBelow", fs, "(seriesList, n)", "Keeps the series whose last value is at most n.", N_FLOAT, |a| filt(a, "last", "<=")),
        d("averageAbove", fs, "(seriesList, n)", "Keeps the series whose average is above n.", N_FLOAT, |a| filt(a, "average", ">")),
        d("averageBelow", fs, "(seriesList, n)", "Keeps the series whose average is at most n.", N_FLOAT, |a| filt(a, "average", "<=")),
        d("removeAboveValue", "Filter Data", "(seriesList, n)", "Sets to null every point above n.", N_FLOAT, |a| {
            remove_value(a, "removeAboveValue", |v, n| v > n)
        }),
        d("removeBelowValue", "Filter Data", "(seriesList, n)", "Sets to null every point below n.", N_FLOAT, |a| {
            remove_value(a, "removeBelowValue", |v, n| v < n)
        }),
        d("removeAbovePercentile", "Filter Data", "(seriesList, n)", "Sets to null every point above the series' n-th percentile.", N_FLOAT, |a| {
            remove_percentile(a, "removeAbovePercentile", true)
        }),
        d("removeBelowPercentile", "Filter Data", "(seriesList, n)", "Sets to null every point below the series' n-th percentile.", N_FLOAT, |a| {
            remove_percentile(a, "removeBelowPercentile", false)
        }),
        d("removeBetweenPercentile", fs, "(seriesList, n)", "Drops the series that stay between the n-th and (100-n)-th percentiles of all series at every point.", N_FLOAT, remove_between_percentile),
        d("mostDeviant", fs, "(seriesList, n)", "The n series with the largest variance.", N_INT, most_deviant),
        d("averageOutsidePercentile", fs, "(seriesList, n)", "Keeps the series whose average lies outside the n-th and (100-n)-th percentiles of all averages.", N_FLOAT, average_outside_percentile),
        d("useSeriesAbove", fs, "(seriesList, value, search, replace)", "For each series whose maximum is above the value, fetches the series named by a regular-expression substitution of its name.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("value", T::Float).req(),
            p("search", T::String).req(),
            p("replace", T::String).req(),
        ]), use_series_above),
        d("sortByName", "Sorting", "(seriesList, natural=False, reverse=False)", "Sorts the series by name (natural: numbers in names compared by value).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("natural", T::Boolean).def(D::Bool(false)),
            p("reverse", T::Boolean).def(D::Bool(false)),
        ]), sort_by_name),
        d("sortBy", "Sorting", "(seriesList, func='average', reverse=False)", "Sorts the series by an aggregation of their values, lowest first.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("func", T::AggFunc).def(D::Str("average")),
            p("reverse", T::Boolean).def(D::Bool(false)),
        ]), |a| {
            let f = a.str(1, "average").to_string();
            let rev = a.bool(2, false);
            sort_by(a, &f, rev)
        }),
        d("sortByTotal", "Sorting", "(seriesList)", "Sorts the series by the sum of their values, highest first.", SERIES_ONLY, |a| sort_by(a, "sum", true)),
        d("sortByMaxima", "Sorting", "(seriesList)", "Sorts the series by their maximum, highest first.", SERIES_ONLY, |a| sort_by(a, "max", true)),
        d("sortByMinima", "Sorting", "(seriesList)", "Drops series whose maximum is not positive and sorts the rest by their minimum, lowest first.", SERIES_ONLY, |a| {
            let list: Vec<Series> = a
                .series(0)
                .into_iter()
                .filter(|s| Agg::Max.apply(&s.values).unwrap_or(0.0) > 0.0)
                .collect();
            Ok(sort_keyed(list, Agg::Min, false))
        }),
    ]
}

/// graphite's `keyFunc`: the aggregated value, `None` sorting as -inf.
fn key(agg: Agg, s: &Series) -> f64 {
    agg.apply(&s.values).unwrap_or(f64::NEG_INFINITY)
}

fn key_cmp(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Python's `sorted(…, key=…, reverse=…)` of series paired with their keys: stable, and
/// a reversed sort keeps equal keys in their order.
fn py_sorted<K>(
    mut keyed: Vec<(K, Series)>,
    cmp: impl Fn(&K, &K) -> Ordering,
    reverse: bool,
) -> Vec<Series> {
    if reverse {
        keyed.sort_by(|x, y| cmp(&y.0, &x.0));
    } else {
        keyed.sort_by(|x, y| cmp(&x.0, &y.0));
    }
    keyed.into_iter().map(|(_, s)| s).collect()
}

/// `list` sorted by [`key`] of `agg`.
fn sort_keyed(list: Vec<Series>, agg: Agg, reverse: bool) -> Vec<Series> {
    let keyed = list.into_iter().map(|s| (key(agg, &s), s)).collect();
    py_sorted(keyed, |x, y| key_cmp(*x, *y), reverse)
}

fn top(a: &mut Args<'_, '_>, func: &str, highest: bool) -> Result<Vec<Series>, EvalError> {
    let agg = Agg::parse(a.name, func)?;
    let n = a.int(1, 1);
    let mut list = sort_keyed(a.series(0), agg, highest);
    list.truncate(py_bound(list.len(), n));
    Ok(list)
}

fn sort_by(a: &mut Args<'_, '_>, func: &str, reverse: bool) -> Result<Vec<Series>, EvalError> {
    let agg = Agg::parse(a.name, func)?;
    Ok(sort_keyed(a.series(0), agg, reverse))
}

fn filter_series(
    a: &mut Args<'_, '_>,
    func: &str,
    op: &str,
    threshold: f64,
) -> Result<Vec<Series>, EvalError> {
    let agg = Agg::parse(a.name, func)?;
    let test: fn(Option<f64>, f64) -> bool = match op {
        "=" => |v, t| v == Some(t),
        "!=" => |v, t| v != Some(t),
        ">" => |v, t| v.is_some_and(|v| v > t),
        ">=" => |v, t| v.is_some_and(|v| v >= t),
        "<" => |v, t| v.is_none_or(|v| v < t),
        "<=" => |v, t| v.is_none_or(|v| v <= t),
        _ => return Err(a.err(format!("unsupported operator: {op}"))),
    };
    Ok(a.series(0)
        .into_iter()
        .filter(|s| test(agg.apply(&s.values), threshold))
        .collect())
}

fn filt(a: &mut Args<'_, '_>, func: &str, op: &str) -> Result<Vec<Series>, EvalError> {
    let n = a.float(1, 0.0);
    filter_series(a, func, op, n)
}

fn remove_value(
    a: &mut Args<'_, '_>,
    fname: &str,
    drop: fn(f64, f64) -> bool,
) -> Result<Vec<Series>, EvalError> {
    let n = a.float(1, 0.0);
    let mut list = a.series(0);
    for s in &mut list {
        s.rename(format!("{fname}({}, {})", s.name, percent_g6(n)));
        for v in &mut s.values {
            if v.is_some_and(|x| drop(x, n)) {
                *v = None;
            }
        }
    }
    Ok(list)
}

/// graphite's natural sort key: every run of digits zero-padded to 10 places.
fn natural_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 16);
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if !digits.is_empty() {
            let trimmed = digits.trim_start_matches('0');
            let t = if trimmed.is_empty() { "0" } else { trimmed };
            if t.len() < 10 {
                out.extend(std::iter::repeat_n('0', 10 - t.len()));
            }
            out.push_str(t);
            digits.clear();
        }
    };
    for c in name.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

fn sort_by_name(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let natural = a.bool(1, false);
    let reverse = a.bool(2, false);
    let keyed = a
        .series(0)
        .into_iter()
        .map(|s| {
            let k = if natural {
                natural_key(&s.name)
            } else {
                s.name.clone()
            };
            (k, s)
        })
        .collect();
    Ok(py_sorted(keyed, String::cmp, reverse))
}

fn remove_percentile(
    a: &mut Args<'_, '_>,
    fname: &str,
    above: bool,
) -> Result<Vec<Series>, EvalError> {
    let n = a.float(1, 0.0);
    if n == 0.0 {
        return Err(a.err("the requested percent must be greater than 0"));
    }
    let text = a.value(1).map(super::Value::py_str).unwrap_or_default();
    let mut list = a.series(0);
    for s in &mut list {
        s.rename(format!("{fname}({}, {})", s.name, percent_g6(n)));
        let Some(p) = percentile(&s.values, n, false) else {
            continue;
        };
        // graphite computes it with nPercentile, whose copy shares (and tags) the tags
        s.set_tag("nPercentile", text.clone());
        for v in &mut s.values {
            let drop = match *v {
                Some(x) => {
                    if above {
                        x > p
                    } else {
                        x < p
                    }
                }
                None => !above,
            };
            if drop {
                *v = None;
            }
        }
    }
    Ok(list)
}

fn remove_between_percentile(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut n = a.float(1, 0.0);
    if n < 50.0 {
        n = 100.0 - n;
    }
    let list = a.series(0);
    let width = list.iter().map(|s| s.values.len()).min().unwrap_or(0);
    let cols: Vec<(Option<f64>, Option<f64>)> = (0..width)
        .map(|i| {
            let col: Vec<Option<f64>> = list.iter().map(|s| s.values[i]).collect();
            (
                percentile(&col, 100.0 - n, false),
                percentile(&col, n, false),
            )
        })
        .collect();
    Ok(list
        .into_iter()
        .filter(|s| {
            cols.iter()
                .zip(&s.values)
                .any(|((lo, hi), v)| match (lo, hi, v) {
                    (Some(lo), Some(hi), Some(v)) => !(*lo < *v && *v < *hi),
                    _ => true,
                })
        })
        .collect())
}

fn most_deviant(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let n = a.int(1, 0);
    let mut keyed: Vec<(f64, Series)> = Vec::new();
    for s in a.series(0) {
        let Some(mean) = crate::query::functions::util::safe_avg(&s.values) else {
            continue;
        };
        let square: f64 = crate::query::functions::util::py_sum(
            s.values
                .iter()
                .filter_map(|v| *v)
                .map(|v| (v - mean) * (v - mean)),
        );
        let count = s.values.iter().filter(|v| v.is_some()).count();
        if count == 0 {
            continue;
        }
        keyed.push((square / count as f64, s));
    }
    let mut list = py_sorted(keyed, |x, y| key_cmp(*x, *y), true);
    list.truncate(py_bound(list.len(), n));
    Ok(list)
}

fn average_outside_percentile(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut n = a.float(1, 0.0);
    let list = a.series(0);
    let averages: Vec<Option<f64>> = list
        .iter()
        .map(|s| crate::query::functions::util::safe_avg(&s.values))
        .collect();
    if n < 50.0 {
        n = 100.0 - n;
    }
    let lo = percentile(&averages, 100.0 - n, false);
    let hi = percentile(&averages, n, false);
    Ok(list
        .into_iter()
        .zip(averages)
        .filter(|(_, avg)| match (lo, hi, avg) {
            (Some(lo), Some(hi), Some(v)) => !(lo < *v && *v < hi),
            _ => true,
        })
        .map(|(s, _)| s)
        .collect())
}

fn use_series_above(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let value = a.float(1, 0.0);
    let re = compile(a, a.str(2, ""))?;
    let rep = super::alias::python_replacement(a.str(3, ""));
    let mut names = Vec::new();
    for s in a.series(0) {
        if s.values.iter().any(Option::is_none) {
            return Err(a.err(format!(
                "{} has null values (graphite cannot compare them)",
                s.name
            )));
        }
        if Agg::Max.apply(&s.values).is_some_and(|m| m > value) {
            names.push(re.replace_all(&s.name, rep.as_str()).into_owned());
        }
    }
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let target = format!("group({})", names.join(","));
    Ok(crate::query::eval::evaluate(&target, a.ctx)?
        .into_iter()
        .filter(|s| !s.values.is_empty())
        .collect())
}
