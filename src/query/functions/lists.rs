//! The pairwise and grouped members of the "Combine" group: `aggregateSeriesLists` and
//! its `sum`/`diff`/`multiply`/`divide` forms (first list with first list, …),
//! `weightedAverage`, and `mapSeries`/`reduceSeries`, which pass groups of series lists
//! ([`Value::SeriesLists`]) from one to the other.

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use std::collections::HashMap;

use super::combine::aggregate;
use super::params::{p, ps, Param, ParamType as T};
use super::{d, lookup, util, Args, Def, Value};
use crate::query::eval::{Context, EvalError};
use crate::query::series::Series;

/// The definitions.
pub fn defs() -> Vec<Def> {
    vec![
        d("aggregateSeriesLists", "Combine", "(seriesListFirstPos, seriesListSecondPos, func, xFilesFactor=None)", "Merges the two lists pairwise (first with first, second with second, …) with the named aggregation function.", ps(vec![
            p("seriesListFirstPos", T::SeriesList).req(),
            p("seriesListSecondPos", T::SeriesList).req(),
            p("func", T::AggFunc).req(),
            p("xFilesFactor", T::Float),
        ]), |a| {
            let func = a.str(2, "").to_string();
            let xff = a.opt_float(3);
            aggregate_lists(a, &func, xff)
        }),
        lists_def("sumSeriesLists", "Adds the two lists pairwise.", |a| aggregate_lists(a, "sum", None)),
        lists_def("diffSeriesLists", "Subtracts the second list from the first, pairwise.", |a| aggregate_lists(a, "diff", None)),
        lists_def("multiplySeriesLists", "Multiplies the two lists pairwise.", |a| aggregate_lists(a, "multiply", None)),
        d("divideSeriesLists", "Combine", "(dividendSeriesList, divisorSeriesList)", "Divides the first list by the second, pairwise.", ps(vec![
            p("dividendSeriesList", T::SeriesList).req(),
            p("divisorSeriesList", T::SeriesList).req(),
        ]), divide_series_lists),
        d("weightedAverage", "Combine", "(seriesListAvg, seriesListWeight, *nodes)", "The average of the first list weighted by the second, series matched by the given nodes.", ps(vec![
            p("seriesListAvg", T::SeriesList).req(),
            p("seriesListWeight", T::SeriesList).req(),
            p("nodes", T::NodeOrTag).multi(),
        ]), weighted_average),
        d("mapSeries", "Combine", "(seriesList, *mapNodes)", "Splits the series into groups by the given nodes (or tags), for reduceSeries.", MAP, map_outside_reduce),
        d("map", "Combine", "(seriesList, *mapNodes)", "Short name of mapSeries.", MAP, map_outside_reduce),
        d("reduceSeries", "Combine", "(seriesLists, reduceFunction, reduceNode, *reduceMatchers)", "In each group made by mapSeries, picks the series whose node reduceNode equals each matcher and passes them, in matcher order, to reduceFunction; the result is named prefix.reduce.function.", REDUCE, reduce_series),
        d("reduce", "Combine", "(seriesLists, reduceFunction, reduceNode, *reduceMatchers)", "Short name of reduceSeries.", REDUCE, reduce_series),
    ]
}

const MAP: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("mapNodes", T::NodeOrTag).req().multi(),
];

const REDUCE: &[Param] = &[
    p("seriesLists", T::SeriesLists).req(),
    p("reduceFunction", T::String).req(),
    p("reduceNode", T::Node).req(),
    p("reduceMatchers", T::String).req().multi(),
];

/// A pairwise aggregation of two lists (`sumSeriesLists`, …).
fn lists_def(name: &'static str, description: &'static str, run: super::Run) -> Def {
    let signature = "(seriesListFirstPos, seriesListSecondPos)";
    d(name, "Combine", signature, description, TWO_LISTS, run).also_aggregator()
}

const TWO_LISTS: &[Param] = &[
    p("seriesListFirstPos", T::SeriesList).req(),
    p("seriesListSecondPos", T::SeriesList).req(),
];

/// The two series lists of a pairwise function, of equal length.
fn two_lists(a: &mut Args<'_, '_>) -> Result<(Vec<Series>, Vec<Series>), EvalError> {
    let first = a.series(0);
    let second = a.series(1);
    if first.len() != second.len() {
        // graphite names the two parameters
        return Err(a.err(format!(
            "{} and {} argument must have equal length",
            a.params[0].name, a.params[1].name
        )));
    }
    Ok((first, second))
}

fn aggregate_lists(
    a: &mut Args<'_, '_>,
    func: &str,
    xff: Option<f64>,
) -> Result<Vec<Series>, EvalError> {
    let (first, second) = two_lists(a)?;
    let mut out = Vec::with_capacity(first.len());
    for (s1, s2) in first.into_iter().zip(second) {
        let pair = format!("Series({},{})", s1.name, s2.name);
        let Some(mut r) = aggregate(a.ctx, a.name, vec![vec![s1, s2]], func, xff)?
            .into_iter()
            .next()
        else {
            continue;
        };
        let head = r
            .name
            .find("Series(")
            .map_or("", |i| &r.name[..i])
            .to_string();
        r.name = head + &pair;
        out.push(r);
    }
    Ok(out)
}

fn divide_series_lists(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let (first, second) = two_lists(a)?;
    let mut out = Vec::with_capacity(first.len());
    for (d, v) in first.into_iter().zip(second) {
        out.push(super::combine::divide_pair(
            d,
            v,
            a.ctx.x_files_factor.get(),
        ));
    }
    Ok(out)
}

fn weighted_average(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let avg = a.series(0);
    let weight = a.series(1);
    let nodes = a.rest(2).to_vec();
    if avg.len() != weight.len() {
        return Err(a.err(format!(
            "weightedAverage must receive the same number of series for seriesListAvg and \
             seriesListWeight but received respectively {} and {}",
            avg.len(),
            weight.len()
        )));
    }
    let mut keyed: Vec<(String, Option<usize>, Option<usize>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, (sa, sw)) in avg.iter().zip(&weight).enumerate() {
        a.ctx.tick()?;
        for (key, is_avg) in [
            (util::agg_key(sa, &nodes), true),
            (util::agg_key(sw, &nodes), false),
        ] {
            let j = *index.entry(key).or_insert_with_key(|key| {
                keyed.push((key.clone(), None, None));
                keyed.len() - 1
            });
            let entry = &mut keyed[j];
            if is_avg {
                entry.1 = Some(i);
            } else {
                entry.2 = Some(i);
            }
        }
    }
    let xff = a.ctx.x_files_factor.get();
    let mut products = Vec::new();
    for (_, ai, wi) in &keyed {
        let (Some(ai), Some(wi)) = (ai, wi) else {
            continue;
        };
        let (sa, sw) = (&avg[*ai], &weight[*wi]);
        let values = util::map_pairs(&sa.values, &sw.values, |x, y| match (x, y) {
            (Some(x), Some(y)) => Some(x * y),
            _ => None,
        });
        let name = format!("product({},{})", sw.name, sa.name);
        products.push(util::new_series(
            &name, sa.start, sa.end, sa.step, values, xff,
        ));
    }
    if products.is_empty() {
        return Ok(Vec::new());
    }
    let paths = |l: &[Series]| {
        let mut p: Vec<&str> = l.iter().map(|s| s.path_expression.as_str()).collect();
        p.sort_unstable();
        p.dedup();
        p.join(",")
    };
    let name = format!(
        "weightedAverage({}, {}, {})",
        paths(&avg),
        paths(&weight),
        nodes
            .iter()
            .map(Value::py_str)
            .collect::<Vec<_>>()
            .join(",")
    );
    let Some(sum_products) = aggregate(a.ctx, a.name, vec![products], "sum", None)?.pop() else {
        return Ok(Vec::new());
    };
    let Some(sum_weights) = aggregate(a.ctx, a.name, vec![weight], "sum", None)?.pop() else {
        return Ok(Vec::new());
    };
    let values = util::map_pairs(&sum_products.values, &sum_weights.values, util::safe_div);
    Ok(vec![util::new_series(
        &name,
        sum_products.start,
        sum_products.end,
        sum_products.step,
        values,
        xff,
    )])
}

/// `mapSeries(seriesList, *mapNodes)`: the series grouped by [`util::agg_key`], in order
/// of first appearance.
pub fn map_series(
    call: &crate::query::grammar::Call<'_>,
    ctx: &Context<'_>,
    scope: super::Scope<'_>,
) -> Result<Value, EvalError> {
    crate::query::eval::check_deadline(ctx)?;
    let (positional, kwargs) = super::eval_args(call, ctx, scope)?;
    let mut bound = super::params::bind(call.name, MAP, positional, kwargs)?;
    let list = match bound[0].pop() {
        Some(Value::Series(s)) => s,
        _ => Vec::new(),
    };
    let nodes = std::mem::take(&mut bound[1]);
    let mut groups = util::Groups::default();
    for s in list {
        let key = util::agg_key(&s, &nodes);
        groups.push(key, s);
    }
    Ok(Value::SeriesLists(
        groups.into_groups().into_iter().map(|(_, g)| g).collect(),
    ))
}

fn map_outside_reduce(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Err(a.err("mapSeries makes groups of series for reduceSeries, not series"))
}

fn reduce_series(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let lists = a.lists(0);
    let function = a.str(1, "").to_string();
    let node = a.int(2, 0);
    let matchers: Vec<String> = a.rest(3).iter().map(Value::py_str).collect();
    let def = lookup(&function)
        .filter(|d| d.name != "mapSeries" && d.name != "map")
        .ok_or_else(|| a.err(format!("unknown reduceFunction {function:?}")))?;
    let mut groups: Vec<(String, Vec<Option<Series>>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for s in lists.into_iter().flatten() {
        a.ctx.tick()?;
        let nodes: Vec<&str> = s.name.split('.').collect();
        let Some(this) = util::py_index(nodes.len(), node).map(|k| nodes[k]) else {
            return Err(a.err(format!("{} has no node {node}", s.name)));
        };
        let prefix = nodes[..util::py_bound(nodes.len(), node)].join(".");
        let key = format!("{prefix}.reduce.{function}");
        let Some(i) = matchers.iter().position(|m| m == this) else {
            continue;
        };
        let slot = *index.entry(key).or_insert_with_key(|key| {
            groups.push((key.clone(), vec![None; matchers.len()]));
            groups.len() - 1
        });
        groups[slot].1[i] = Some(s);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, members) in groups {
        let mut args = Vec::with_capacity(members.len());
        for (m, s) in matchers.iter().zip(members) {
            let s = s.ok_or_else(|| a.err(format!("{key}: no series matches {m:?}")))?;
            args.push(Value::Series(vec![s]));
        }
        if let Some(mut s) = def.call_from(a, args)?.into_iter().next() {
            s.name = key;
            out.push(s);
        }
    }
    Ok(out)
}
