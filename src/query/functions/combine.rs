//! The "Combine" group: functions that merge several series into one per group
//! (`sumSeries`, `aggregate`, `groupByNode`, …) and the pairwise ones (`divideSeries`,
//! `asPercent`). Inputs are first brought to a common step ([`util::normalize`]).

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use std::collections::{HashMap, HashSet};

use super::params::{p, ps, Default as D, Param, ParamType as T};
use super::util::{self, Agg};
use super::{d, lookup, Args, Def, Run, Value};
use crate::py::format::percent_g6;
use crate::query::eval::{Context, EvalError};
use crate::query::series::{parse_tags, Series};

const SERIES_LISTS: &[Param] = &[p("seriesLists", T::SeriesList).req().multi()];

/// A point-by-point aggregation of all the series given (`sumSeries`, `maxSeries`, …).
fn agg_def(name: &'static str, func: &'static str, description: &'static str) -> Def {
    let run: Run = match func {
        "sum" => |a| simple_aggregate(a, "sum"),
        "average" => |a| simple_aggregate(a, "average"),
        "max" => |a| simple_aggregate(a, "max"),
        "min" => |a| simple_aggregate(a, "min"),
        "diff" => |a| simple_aggregate(a, "diff"),
        "stddev" => |a| simple_aggregate(a, "stddev"),
        "rangeOf" => |a| simple_aggregate(a, "rangeOf"),
        _ => multiply_series,
    };
    d(
        name,
        "Combine",
        "(*seriesLists)",
        description,
        SERIES_LISTS,
        run,
    )
    .also_aggregator()
}

/// The Combine group's definitions.
pub fn defs() -> Vec<Def> {
    vec![
        agg_def("sumSeries", "sum", "Adds the series together point by point (nulls are skipped; a point with no value stays null)."),
        agg_def("sum", "sum", "Short name of sumSeries."),
        agg_def("averageSeries", "average", "The point-by-point mean of the series, ignoring nulls."),
        agg_def("avg", "average", "Short name of averageSeries."),
        agg_def("maxSeries", "max", "The point-by-point maximum of the series."),
        agg_def("minSeries", "min", "The point-by-point minimum of the series."),
        agg_def("diffSeries", "diff", "Subtracts every later series from the first, point by point."),
        agg_def("stddevSeries", "stddev", "The point-by-point population standard deviation of the series."),
        agg_def("rangeOfSeries", "rangeOf", "The point-by-point difference between the largest and the smallest value."),
        agg_def("multiplySeries", "multiply", "Multiplies the series point by point; a null in any series gives null."),
        d("aggregate", "Combine", "(seriesList, func, xFilesFactor=None)", "Merges the series into one with the named aggregation function (average, avg_zero, median, sum, min, max, diff, stddev, count, range, multiply, last and their aliases).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("func", T::AggFunc).req(),
            p("xFilesFactor", T::Float),
        ]), |a| {
            let list = a.series(0);
            let func = a.str(1, "").to_string();
            let xff = a.opt_float(2);
            aggregate(a.ctx, a.name, vec![list], &func, xff)
        }),
        d("countSeries", "Combine", "(*seriesLists)", "The number of series at each point (nulls included); with no series, a constant line at 0.", ps(vec![
            p("seriesLists", T::SeriesList).multi(),
        ]), count_series).also_aggregator(),
        d("divideSeries", "Combine", "(dividendSeriesList, divisorSeries)", "Divides each series by the single divisor series, point by point (division by zero or null gives null).", ps(vec![
            p("dividendSeriesList", T::SeriesList).req(),
            p("divisorSeries", T::SeriesList).req(),
        ]), divide_series),
        d("asPercent", "Combine", "(seriesList, total=None, *nodes)", "Each series as a percentage of a total: the sum of the list, a number, one series, a matching list, or per group of nodes.", AS_PERCENT, as_percent).also_aggregator(),
        d("pct", "Combine", "(seriesList, total=None, *nodes)", "Short name of asPercent.", AS_PERCENT, as_percent).also_aggregator(),
        d("groupByNode", "Combine", "(seriesList, nodeNum, callback='average')", "Groups the series by one node (or tag) of their names and merges each group with the callback; the group key becomes the name.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("nodeNum", T::NodeOrTag).req(),
            p("callback", T::AggOrSeriesFunc).def(D::Str("average")),
        ]), |a| {
            let list = a.series(0);
            let node = a.value(1).cloned().unwrap_or(Value::None);
            let cb = a.str(2, "average").to_string();
            group_by_nodes(a, list, &cb, &[node])
        }),
        d("groupByNodes", "Combine", "(seriesList, callback, *nodes)", "Groups the series by several nodes (or tags) of their names, joined by dots, and merges each group with the callback.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("callback", T::AggOrSeriesFunc).req(),
            p("nodes", T::NodeOrTag).multi(),
        ]), |a| {
            let list = a.series(0);
            let cb = a.str(1, "").to_string();
            let nodes = a.rest(2).to_vec();
            group_by_nodes(a, list, &cb, &nodes)
        }),
        d("groupByTags", "Combine", "(seriesList, callback, *tags)", "Groups tagged series by the values of the given tags and merges each group with the callback; results are named name;tag=value….", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("callback", T::AggOrSeriesFunc).req(),
            p("tags", T::Tag).req().multi(),
        ]), group_by_tags),
        wildcards_def("sumSeriesWithWildcards", "sum", "Sums the series whose names match once the given node positions are removed."),
        wildcards_def("averageSeriesWithWildcards", "average", "Averages the series whose names match once the given node positions are removed."),
        wildcards_def("multiplySeriesWithWildcards", "multiply", "Multiplies the series whose names match once the given node positions are removed."),
        d("aggregateWithWildcards", "Combine", "(seriesList, func, *positions)", "Merges, with the named function, the series whose names match once the given node positions are removed.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("func", T::AggFunc).req(),
            p("position", T::Node).multi(),
        ]), |a| {
            let list = a.series(0);
            let func = a.str(1, "").to_string();
            let pos = a.rest(2).to_vec();
            aggregate_with_wildcards(a, list, &func, &pos)
        }),
        d("powSeries", "Combine", "(*seriesLists)", "Raises the first series to the power of the second, the result to the third, and so on, point by point.", ps(vec![
            p("seriesList", T::SeriesList).req().multi(),
        ]), pow_series).also_aggregator(),
        d("percentileOfSeries", "Combine", "(seriesList, n, interpolate=False)", "The n-th percentile of the series' values at each point.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("n", T::Float).req(),
            p("interpolate", T::Boolean).def(D::Bool(false)),
        ]), percentile_of_series),
        d("group", "Combine", "(*seriesLists)", "Joins several series lists into one.", ps(vec![
            p("seriesLists", T::SeriesList).multi(),
        ]), |a| Ok(a.series_lists(0).into_iter().flatten().collect())),
    ]
}

const POSITIONS: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("position", T::Node).multi(),
];

const AS_PERCENT: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("total", T::Any),
    p("nodes", T::NodeOrTag).multi(),
];

/// `aggregateWithWildcards` with the function in the name (`sumSeriesWithWildcards`, …).
fn wildcards_def(name: &'static str, func: &'static str, description: &'static str) -> Def {
    let run: Run = match func {
        "sum" => |a| wildcards(a, "sum"),
        "average" => |a| wildcards(a, "average"),
        _ => |a| wildcards(a, "multiply"),
    };
    d(
        name,
        "Combine",
        "(seriesList, *position)",
        description,
        POSITIONS,
        run,
    )
    .also_aggregator()
}

fn wildcards(a: &mut Args<'_, '_>, func: &str) -> Result<Vec<Series>, EvalError> {
    let list = a.series(0);
    let pos = a.rest(1).to_vec();
    aggregate_with_wildcards(a, list, func, &pos)
}

fn simple_aggregate(a: &mut Args<'_, '_>, func: &str) -> Result<Vec<Series>, EvalError> {
    let lists = a.series_lists(0);
    aggregate(a.ctx, a.name, lists, func, None)
}

fn multiply_series(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut lists = a.series_lists(0);
    if lists.len() == 1 && lists[0].len() == 1 {
        return Ok(lists.remove(0));
    }
    aggregate(a.ctx, a.name, lists, "multiply", None)
}

/// graphite's `aggregate(seriesLists, func, xFilesFactor)`.
pub fn aggregate(
    ctx: &Context<'_>,
    fname: &str,
    lists: Vec<Vec<Series>>,
    func: &str,
    xff: Option<f64>,
) -> Result<Vec<Series>, EvalError> {
    let func = func.strip_suffix("Series").unwrap_or(func);
    let agg = Agg::parse(fname, func)?;
    let mut all: Vec<Series> = lists.into_iter().flatten().collect();
    let Some((start, end, step)) = util::normalize(&mut all) else {
        return Ok(Vec::new());
    };
    let xff = xff.unwrap_or(ctx.x_files_factor.get());
    let name = format!("{func}Series({})", util::format_path_expressions(&all));
    let values = match agg {
        Agg::Sum | Agg::Average => sum_by_series(&all, agg, xff),
        _ => util::map_rows(&all, |row| {
            if util::xff_values(row, xff) {
                agg.apply(row)
            } else {
                None
            }
        }),
    };
    let mut tags = all[0].tags.clone();
    for s in &all[1..] {
        tags.retain(|(k, v)| s.tag(k) == Some(v.as_str()));
    }
    let mut out = util::new_series(&name, start, end, step, values, xff);
    out.tags = tags;
    if out.tag("name").is_none() {
        out.set_tag("name", name);
    }
    out.set_tag("aggregatedBy", func);
    if agg == Agg::Count {
        out.mark_all_ints();
    } else if all.iter().any(|s| s.ints.is_some()) {
        out.ints = aggregate_ints(&all, agg, out.values.len());
    }
    Ok(vec![out])
}

/// Which values of an aggregation of `all` are Python ints, where graphite's arithmetic
/// keeps them ([`util::agg_is_int`] of each row).
fn aggregate_ints(all: &[Series], agg: Agg, len: usize) -> Option<Vec<bool>> {
    let ints: Vec<bool> = (0..len)
        .map(|i| {
            let row: Vec<(f64, bool)> = all
                .iter()
                .filter_map(|s| s.values.get(i).copied().flatten().map(|v| (v, s.is_int(i))))
                .collect();
            !row.is_empty() && util::agg_is_int(&row, agg)
        })
        .collect();
    ints.contains(&true).then_some(ints)
}

/// `sum` and `average` of [`aggregate`], series by series instead of row by row: the
/// same additions in the same order (so the same floats), without gathering a row from
/// every series for each point (1000 series read a row at a time miss the cache).
fn sum_by_series(all: &[Series], agg: Agg, xff: f64) -> Vec<Option<f64>> {
    let len = util::max_len(all);
    let mut sums = vec![0.0; len];
    let mut counts = vec![0usize; len];
    for s in all {
        for ((sum, count), v) in sums.iter_mut().zip(&mut counts).zip(&s.values) {
            if let Some(v) = v {
                *sum += v;
                *count += 1;
            }
        }
    }
    sums.into_iter()
        .zip(counts)
        .map(|(sum, count)| {
            util::xff(count, all.len() as f64, xff).then(|| match agg {
                Agg::Average => sum / count as f64,
                _ => sum,
            })
        })
        .collect()
}

fn count_series(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let lists = a.series_lists(0);
    if lists.is_empty() {
        let mut s = super::special::constant_line(a.ctx, 0.0, "0");
        s.path_expression = "countSeries()".into();
        s.mark_all_ints();
        return Ok(vec![s]);
    }
    let mut all: Vec<Series> = lists.into_iter().flatten().collect();
    let Some((start, end, step)) = util::normalize(&mut all) else {
        return Ok(Vec::new());
    };
    let name = format!("countSeries({})", util::format_path_expressions(&all));
    let n = all.len() as f64;
    let values = vec![Some(n); util::max_len(&all)];
    let mut out = util::new_series(&name, start, end, step, values, a.ctx.x_files_factor.get());
    out.mark_all_ints();
    Ok(vec![out])
}

fn divide_series(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut dividends = a.series(0);
    let divisor = a.series(1);
    if divisor.is_empty() {
        for s in &mut dividends {
            s.rename(format!("divideSeries({},MISSING)", s.name));
            s.values.iter_mut().for_each(|v| *v = None);
        }
        return Ok(dividends);
    }
    if divisor.len() > 1 {
        return Err(a.err(format!(
            "divideSeries second argument must reference exactly 1 series (got {})",
            divisor.len()
        )));
    }
    let mut out = Vec::with_capacity(dividends.len());
    for d in dividends {
        out.push(divide_pair(
            d,
            divisor[0].clone(),
            a.ctx.x_files_factor.get(),
        ));
    }
    Ok(out)
}

/// `dividend / divisor` point by point after normalising the pair, named
/// `divideSeries(dividend,divisor)` (also what `divideSeriesLists` names its results).
pub(super) fn divide_pair(dividend: Series, divisor: Series, x_files_factor: f64) -> Series {
    let name = format!("divideSeries({},{})", dividend.name, divisor.name);
    pairwise(dividend, divisor, &name, x_files_factor, util::safe_div)
}

/// `f` of two series point by point once the pair is normalised, named `name`.
fn pairwise(
    a: Series,
    b: Series,
    name: &str,
    x_files_factor: f64,
    f: fn(Option<f64>, Option<f64>) -> Option<f64>,
) -> Series {
    let mut both = vec![a, b];
    let (start, end, step) = util::normalize(&mut both).unwrap_or_default();
    let values = util::map_pairs(&both[0].values, &both[1].values, f);
    util::new_series(name, start, end, step, values, x_files_factor)
}

fn percent(v: Option<f64>, total: Option<f64>) -> Option<f64> {
    util::safe_div(v, total).map(|x| x * 100.0)
}

/// A group total for asPercent with nodes: the series itself or the sum of the group.
fn group_total(mut group: Vec<Series>, xff: f64) -> Series {
    if group.len() == 1 {
        return group.remove(0);
    }
    let name = format!("sumSeries({})", util::format_path_expressions(&group));
    let (start, end, step) = util::normalize(&mut group).unwrap_or_default();
    let values = util::map_rows(&group, util::safe_sum);
    util::new_series(&name, start, end, step, values, xff)
}

fn pair_percent(s1: Series, s2: Series, xff: f64) -> Series {
    let name = format!("asPercent({},{})", s1.name, s2.name);
    pairwise(s1, s2, &name, xff, percent)
}

fn as_percent(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = a.series(0);
    let total = a.value(1).cloned();
    let nodes = a.rest(2).to_vec();
    let xff = a.ctx.x_files_factor.get();
    let raw = list.clone();
    if util::normalize(&mut list).is_none() {
        return Ok(Vec::new());
    }
    if !nodes.is_empty() {
        let mut grouping = util::Groups::default();
        for s in list {
            grouping.push(util::agg_key(&s, &nodes), s);
        }
        let ordered = grouping.into_groups();
        // the series' keys in order of first appearance, then keys found only in totals
        let mut keys: Vec<String> = ordered.iter().map(|(k, _)| k.clone()).collect();
        let mut seen: HashSet<String> = keys.iter().cloned().collect();
        let groups: HashMap<String, Vec<Series>> = ordered.into_iter().collect();
        let mut totals: HashMap<String, Series> = HashMap::new();
        match total {
            None => {
                for (k, g) in &groups {
                    totals.insert(k.clone(), group_total(g.clone(), xff));
                }
            }
            Some(Value::Series(tl)) => {
                let mut tgroups = util::Groups::default();
                for s in tl {
                    let key = util::agg_key(&s, &nodes);
                    if seen.insert(key.clone()) {
                        keys.push(key.clone());
                    }
                    tgroups.push(key, s);
                }
                for (k, g) in tgroups.into_groups() {
                    totals.insert(k, group_total(g, xff));
                }
            }
            Some(_) => return Err(a.err("total must be None or a seriesList")),
        }
        let mut out = Vec::new();
        for key in keys {
            let total = totals.get(&key);
            let Some(group) = groups.get(&key) else {
                if let Some(t) = total {
                    // graphite reuses the start/end/step of the last normalization here
                    let name = format!("asPercent(MISSING,{})", t.name);
                    out.push(util::new_series(
                        &name,
                        t.start,
                        t.end,
                        t.step,
                        vec![None; t.values.len()],
                        xff,
                    ));
                }
                continue;
            };
            for s1 in group {
                match total {
                    None => {
                        let name = format!("asPercent({},MISSING)", s1.name);
                        out.push(util::new_series(
                            &name,
                            s1.start,
                            s1.end,
                            s1.step,
                            vec![None; s1.values.len()],
                            xff,
                        ));
                    }
                    Some(t) => out.push(pair_percent(s1.clone(), t.clone(), xff)),
                }
            }
        }
        return Ok(out);
    }
    let (total_values, total_text): (Vec<Option<f64>>, String) = match &total {
        None => (
            util::map_rows(&list, util::safe_sum),
            format!("sumSeries({})", util::format_path_expressions(&list)),
        ),
        Some(Value::Series(tl)) => {
            if tl.len() != 1 && tl.len() != list.len() {
                return Err(a.err(
                    "asPercent second argument must be missing, a single digit, reference \
                     exactly 1 series or reference the same number of series as the first \
                     argument",
                ));
            }
            if tl.len() == list.len() {
                let mut l1 = list;
                let mut l2 = tl.clone();
                l1.sort_by(|x, y| x.name.cmp(&y.name));
                l2.sort_by(|x, y| x.name.cmp(&y.name));
                return Ok(l1
                    .into_iter()
                    .zip(l2)
                    .map(|(s1, s2)| pair_percent(s1, s2, xff))
                    .collect());
            }
            // graphite normalizes the series with the total: all at the coarser step
            let mut both = raw;
            both.push(tl[0].clone());
            util::normalize(&mut both);
            let t = both.pop().unwrap_or_else(|| tl[0].clone());
            list = both;
            (t.values, t.name)
        }
        Some(v @ (Value::Int(_) | Value::Float(_))) => {
            let n = v.as_f64().unwrap_or(0.0);
            let len = list.first().map_or(0, |s| s.values.len());
            (vec![Some(n); len], v.py_str())
        }
        Some(other) => {
            return Err(a.err(format!("invalid total: {}", other.py_repr())));
        }
    };
    // Deliberate difference (docs/functions.md): graphite labels these values with the
    // series' own step although it computed them at the normalized (coarser) one, so its
    // points run at 10 s where they stand for 60 s; ours are labelled with the step they
    // were computed at.
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        let values = util::map_pairs(&s.values, &total_values, percent);
        let text = if total_text.is_empty() {
            s.path_expression.clone()
        } else {
            total_text.clone()
        };
        let name = format!("asPercent({},{})", s.name, text);
        out.push(util::new_series(&name, s.start, s.end, s.step, values, xff));
    }
    Ok(out)
}

/// Calls `callback` on one group: an aggregator function by name, or `aggregate`.
fn merge_group(
    a: &Args<'_, '_>,
    group: Vec<Series>,
    callback: &str,
) -> Result<Option<Series>, EvalError> {
    let result = match lookup(callback).filter(|d| d.aggregator) {
        Some(def) => def.call_from(a, vec![Value::Series(group)])?,
        None => aggregate(a.ctx, a.name, vec![group], callback, None)?,
    };
    Ok(result.into_iter().next())
}

fn group_by_nodes(
    a: &Args<'_, '_>,
    list: Vec<Series>,
    callback: &str,
    nodes: &[Value],
) -> Result<Vec<Series>, EvalError> {
    let mut groups = util::Groups::default();
    for s in list {
        let key = util::agg_key(&s, nodes);
        groups.push(key, s);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, g) in groups.into_groups() {
        if let Some(mut s) = merge_group(a, g, callback)? {
            s.name = key;
            out.push(s);
        }
    }
    Ok(out)
}

fn group_by_tags(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let list = a.series(0);
    let callback = a.str(1, "").to_string();
    let tags: Vec<String> = a.rest(2).iter().map(Value::py_str).collect();
    if tags.is_empty() {
        return Err(a.err("no tags specified"));
    }
    let by_name = tags.iter().any(|t| t == "name");
    let common = {
        let mut names: Vec<&str> = list.iter().map(|s| s.tag("name").unwrap_or("")).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() == 1 {
            names[0].to_string()
        } else {
            callback.clone()
        }
    };
    let mut groups = util::Groups::default();
    for s in list {
        let mut parts: Vec<String> = tags
            .iter()
            .filter(|t| !by_name || *t != "name")
            .map(|t| format!("{t}={}", s.tag(t).unwrap_or("")))
            .collect();
        parts.sort();
        let head = if by_name {
            s.tag("name").unwrap_or("").to_string()
        } else {
            common.clone()
        };
        let key = std::iter::once(head)
            .chain(parts)
            .collect::<Vec<_>>()
            .join(";");
        groups.push(key, s);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, g) in groups.into_groups() {
        if let Some(mut s) = merge_group(a, g, &callback)? {
            s.tags = parse_tags(&key);
            s.rename(key);
            out.push(s);
        }
    }
    Ok(out)
}

fn aggregate_with_wildcards(
    a: &Args<'_, '_>,
    list: Vec<Series>,
    func: &str,
    positions: &[Value],
) -> Result<Vec<Series>, EvalError> {
    let pos: Vec<i64> = positions
        .iter()
        .filter_map(|v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })
        .collect();
    let mut groups = util::Groups::default();
    for s in list {
        let key = s
            .name
            .split('.')
            .enumerate()
            .filter(|(i, _)| !pos.contains(&(*i as i64)))
            .map(|(_, n)| n)
            .collect::<Vec<_>>()
            .join(".");
        groups.push(key, s);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, g) in groups.into_groups() {
        if let Some(mut s) = aggregate(a.ctx, a.name, vec![g], func, None)?
            .into_iter()
            .next()
        {
            s.name = key;
            out.push(s);
        }
    }
    Ok(out)
}

fn pow_series(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut all: Vec<Series> = a.series_lists(0).into_iter().flatten().collect();
    let Some((start, end, step)) = util::normalize(&mut all) else {
        return Ok(Vec::new());
    };
    let name = format!(
        "powSeries({})",
        all.iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let values = util::map_rows(&all, |row| {
        let mut it = row.iter();
        let first = it.next().copied().flatten();
        it.fold(first, |acc, v| match (acc, v) {
            (Some(x), Some(y)) => util::safe_pow(x, *y),
            _ => None,
        })
    });
    Ok(vec![util::new_series(
        &name,
        start,
        end,
        step,
        values,
        a.ctx.x_files_factor.get(),
    )])
}

fn percentile_of_series(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let n = a.float(1, 0.0);
    if n <= 0.0 {
        return Err(a.err("the requested percent must be greater than 0"));
    }
    let interpolate = a.bool(2, false);
    let mut list = a.series(0);
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let name = format!(
        "percentileOfSeries({},{})",
        list[0].path_expression,
        percent_g6(n)
    );
    let (start, end, step) = util::normalize(&mut list).unwrap_or_default();
    // the value a row's rank picks keeps its Python int
    let rows = (0..util::max_len(&list)).map(|i| {
        let known: Vec<(f64, bool)> = list
            .iter()
            .filter_map(|s| s.values.get(i).copied().flatten().map(|x| (x, s.is_int(i))))
            .collect();
        super::calculate::percentile_marked(&known, n, interpolate)
    });
    let (values, ints): (Vec<Option<f64>>, Vec<bool>) = rows
        .map(|r| (r.map(|(v, _)| v), r.is_some_and(|(_, int)| int)))
        .unzip();
    let mut out = util::new_series(&name, start, end, step, values, a.ctx.x_files_factor.get());
    out.ints = ints.contains(&true).then_some(ints);
    Ok(vec![out])
}
