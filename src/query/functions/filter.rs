//! The "Filter Series", "Filter Data" and "Sorting" groups: functions that keep, drop or
//! reorder whole series (`highestMax`, `grep`, `limit`, `sortByName`, …) or drop points
//! (`removeAboveValue`, …).

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use std::cmp::Ordering;

use super::alias::compile;
use super::params::{p, ps, Default as D, Param, ParamType as T};
use super::util::{fmt_g, xff_values, Agg};
use super::{Args, Def};
use crate::query::eval::EvalError;
use crate::query::series::Series;

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
            let (s, e) = py_range(list.len(), n);
            list.truncate(e);
            list.drain(..s);
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
            let mut list: Vec<Series> = a
                .series(0)
                .into_iter()
                .filter(|s| Agg::Max.apply(&s.values).unwrap_or(0.0) > 0.0)
                .collect();
            list.sort_by(|x, y| key_cmp(key(Agg::Min, x), key(Agg::Min, y)));
            Ok(list)
        }),
    ]
}

/// Python's `list[0:n]` bounds.
fn py_range(len: usize, n: i64) -> (usize, usize) {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let e = if n < 0 {
        (len_i + n).max(0)
    } else {
        n.min(len_i)
    };
    (0, usize::try_from(e).unwrap_or(0))
}

/// graphite's `keyFunc`: the aggregated value, `None` sorting as -inf.
fn key(agg: Agg, s: &Series) -> f64 {
    agg.apply(&s.values).unwrap_or(f64::NEG_INFINITY)
}

fn key_cmp(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Python's `list.sort(key=…, reverse=…)`: stable, reverse keeps equal items in order.
fn sort_keyed(list: &mut Vec<Series>, agg: Agg, reverse: bool) {
    let mut keyed: Vec<(f64, Series)> = list.drain(..).map(|s| (key(agg, &s), s)).collect();
    if reverse {
        keyed.sort_by(|x, y| key_cmp(y.0, x.0));
    } else {
        keyed.sort_by(|x, y| key_cmp(x.0, y.0));
    }
    list.extend(keyed.into_iter().map(|(_, s)| s));
}

fn top(a: &mut Args<'_, '_>, func: &str, highest: bool) -> Result<Vec<Series>, EvalError> {
    let agg = Agg::parse(a.name, func)?;
    let n = a.int(1, 1);
    let mut list = a.series(0);
    sort_keyed(&mut list, agg, highest);
    let (_, e) = py_range(list.len(), n);
    list.truncate(e);
    Ok(list)
}

fn sort_by(a: &mut Args<'_, '_>, func: &str, reverse: bool) -> Result<Vec<Series>, EvalError> {
    let agg = Agg::parse(a.name, func)?;
    let mut list = a.series(0);
    sort_keyed(&mut list, agg, reverse);
    Ok(list)
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
        s.name = format!("{fname}({}, {})", s.name, fmt_g(n));
        s.path_expression.clone_from(&s.name);
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
    let mut keyed: Vec<(String, Series)> = a
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
    if reverse {
        keyed.sort_by(|x, y| y.0.cmp(&x.0));
    } else {
        keyed.sort_by(|x, y| x.0.cmp(&y.0));
    }
    Ok(keyed.into_iter().map(|(_, s)| s).collect())
}
