//! The "Special" group (`constantLine`, `consolidateBy`, `seriesByTag`, `events`,
//! `setXFilesFactor`, `changed`, `cumulative`, `fallbackSeries`) and the generators
//! `identity` and `threshold`.

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use super::params::{p, ps, Default as D, Param, ParamType as T};
use super::transform::generated;
use super::util::Agg;
use super::{d, eval_arg, py_float, util, Args, Def, Scope, Value};
use crate::query::eval::{check_deadline, Context, EvalError};
use crate::query::grammar::Call;
use crate::query::json::Consolidation;
use crate::query::series::Series;
use crate::query::time::parse_at_time;

const RANDOM_WALK: &[Param] = &[
    p("name", T::String).req(),
    p("step", T::Integer).def(D::Int(60)),
];
const CONSOLIDATIONS: &[&str] = &[
    "sum", "average", "avg", "avg_zero", "min", "max", "first", "last",
];
const XFF: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("xFilesFactor", T::Float).req(),
];

/// The Special group's definitions.
pub fn defs() -> Vec<Def> {
    vec![
        d("constantLine", "Special", "(value)", "A flat line at the value across the requested window (three points: start, middle, end).", ps(vec![
            p("value", T::Float).req(),
        ]), |a| {
            let v = a.float(0, 0.0);
            let text = a.value(0).map(Value::py_str).unwrap_or_default();
            Ok(vec![constant_line(a.ctx, v, &text)])
        }),
        d("consolidateBy", "Special", "(seriesList, consolidationFunc)", "Sets how points are merged when a series has more points than pixels or maxDataPoints.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("consolidationFunc", T::String).req().opts(CONSOLIDATIONS),
        ]), |a| {
            let f = a.str(1, "average").to_string();
            let list = a.series(0);
            Ok(consolidate_by(list, &f))
        }),
        d("cumulative", "Special", "(seriesList)", "Same as consolidateBy(seriesList, 'sum').", ps(vec![
            p("seriesList", T::SeriesList).req(),
        ]), |a| Ok(consolidate_by(a.series(0), "sum"))),
        d("seriesByTag", "Special", "(*tagExpressions)", "The tagged series matching every tag expression (tag=value, tag!=value, tag=~regex, tag!=~regex).", ps(vec![
            p("tagExpressions", T::String).req().multi(),
        ]), |a| Err(a.err("seriesByTag is evaluated by the evaluator"))),
        d("setXFilesFactor", "Special", "(seriesList, xFilesFactor)", "Sets the share of non-null points needed when the series is consolidated.", XFF, set_xff),
        d("xFilesFactor", "Special", "(seriesList, xFilesFactor)", "Short name of setXFilesFactor.", XFF, set_xff),
        d("changed", "Special", "(seriesList)", "1 where the value differs from the previous non-null value, else 0.", ps(vec![
            p("seriesList", T::SeriesList).req(),
        ]), changed),
        d("fallbackSeries", "Special", "(seriesList, fallback)", "The series list, or the fallback list when it is empty.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("fallback", T::SeriesList).req(),
        ]), |a| {
            let list = a.series(0);
            Ok(if list.is_empty() { a.series(1) } else { list })
        }),
        d("events", "Special", "(*tags)", "The number of events (with any of the tags; '*' for all) in each second of the window.", ps(vec![
            p("tags", T::String).req().multi(),
        ]), events),
        d("randomWalkFunction", "Special", "(name, step=60)", "A random walk: starts at 0 and moves by a random amount in [-0.5, 0.5) each step.", RANDOM_WALK, random_walk),
        d("randomWalk", "Special", "(name, step=60)", "Short name of randomWalkFunction.", RANDOM_WALK, random_walk),
        d("cactiStyle", "Special", "(seriesList, system=None, units=None)", "Appends the current, maximum and minimum value to each name, in aligned columns (scaled by a unit system if given).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("system", T::String).opts(&["binary", "si"]),
            p("units", T::String),
        ]), cacti_style),
        d("compressPeriodicGaps", "Transform", "(seriesList)", "Detects a series written less often than its step (a value, then nulls, periodically) and resamples it at its real interval.", ps(vec![
            p("seriesList", T::SeriesList).req(),
        ]), compress_periodic_gaps),
        d("timeSlice", "Transform", "(seriesList, startSliceAt, endSliceAt='now')", "Keeps only the points between two times (graphite's from/until syntax); the others become null.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("startSliceAt", T::Date).req(),
            p("endSliceAt", T::Date).def(D::Str("now")),
        ]), time_slice),
        d("verticalLine", "Graph", "(ts, label=None, color=None)", "A vertical line at a time inside the window (graphite's from/until syntax).", ps(vec![
            p("ts", T::Date).req(),
            p("label", T::String),
            p("color", T::String),
        ]), vertical_line),
        d("aliasQuery", "Alias", "(seriesList, search, replace, newName)", "Renames each series with a printf-style template filled with the last value of another query, made from its name by a regular-expression substitution.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("search", T::String).req(),
            p("replace", T::String).req(),
            p("newName", T::String).req(),
        ]), alias_query),
        d("applyByNode", "Combine", "(seriesList, nodeNum, templateFunction, newName=None)", "Runs a template target once per distinct name prefix (nodes 0..nodeNum), with % replaced by the prefix.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("nodeNum", T::Node).req(),
            p("templateFunction", T::String).req(),
            p("newName", T::String),
        ]), apply_by_node),
        d("identity", "Calculate", "(name)", "A series whose value is its own timestamp, one point a minute.", ps(vec![
            p("name", T::String).req(),
        ]), |a| {
            let mut s = generated(a, 60, |t| t as f64)?;
            s.path_expression = format!("identity(\"{}\")", s.name);
            s.mark_all_ints();
            Ok(vec![s])
        }),
        d("threshold", "Graph", "(value, label=None, color=None)", "A constant line at the value, named by the label and drawn in the colour.", ps(vec![
            p("value", T::Float).req(),
            p("label", T::String),
            p("color", T::String),
        ]), |a| {
            let v = a.float(0, 0.0);
            let text = a.value(0).map(Value::py_str).unwrap_or_default();
            let mut s = constant_line(a.ctx, v, &text);
            let label = a.str(1, "");
            if !label.is_empty() {
                s.name = label.to_string();
            }
            let color = a.str(2, "");
            if !color.is_empty() {
                s.style.color = Some(color.to_string());
            }
            Ok(vec![s])
        }),
    ]
}

/// graphite's `constantLine(value)`: named `str(value)`, three points at start, middle and
/// end of the window (step `(end - start) / 2`).
pub fn constant_line(ctx: &Context<'_>, value: f64, text: &str) -> Series {
    let (start, end) = (ctx.start, ctx.end);
    let step = ((end - start) as f64 / 2.0).trunc() as i64;
    let mut s = util::new_series(
        text,
        start,
        end,
        step,
        vec![Some(value); 3],
        ctx.x_files_factor.get(),
    );
    s.path_expression = format!("constantLine({text})");
    s
}

/// graphite's `consolidateBy`: the name, the tag and `consolidationFunc` keep the word as
/// the caller wrote it (`consolidateBy(x,"avg")`), though `avg` consolidates as `average`.
fn consolidate_by(mut list: Vec<Series>, func: &str) -> Vec<Series> {
    let c = Consolidation::from_name(func).unwrap_or_default();
    for s in &mut list {
        s.consolidation = c;
        s.set_tag("consolidateBy", func);
        s.rename(format!("consolidateBy({},\"{func}\")", s.name));
    }
    list
}

/// graphite's `setXFilesFactor`: the series' factor and tag, and the request's factor from
/// here on (see [`Context::x_files_factor`]).
fn set_xff(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let xff = a.float(1, 0.0);
    a.ctx.x_files_factor.set(xff);
    let mut list = a.series(0);
    for s in &mut list {
        s.x_files_factor = xff;
        s.set_tag("xFilesFactor", py_float(xff));
    }
    Ok(list)
}

fn changed(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = a.series(0);
    for s in &mut list {
        s.rename(format!("changed({})", s.name));
        let mut previous: Option<f64> = None;
        for v in &mut s.values {
            let value = *v;
            if previous.is_none() {
                previous = value;
                *v = Some(0.0);
            } else if value.is_some() && previous != value {
                *v = Some(1.0);
                previous = value;
            } else {
                *v = Some(0.0);
            }
        }
        s.mark_all_ints();
    }
    Ok(list)
}

fn events(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let tags: Vec<String> = a.rest(0).iter().map(Value::py_str).collect();
    let name = format!("events(\"{}\")", tags.join("\", \""));
    let query: Vec<String> = if tags.len() == 1 && tags[0] == "*" {
        Vec::new()
    } else {
        tags
    };
    let (start, end) = (a.ctx.start, a.ctx.end);
    let points = usize::try_from(end - start).unwrap_or(0);
    a.ctx.check_room("events()", points)?;
    let mut values: Vec<Option<f64>> = vec![None; points];
    for t in a.ctx.source.events(&query, start, end)? {
        if let Some(v) = usize::try_from(t - start)
            .ok()
            .and_then(|i| values.get_mut(i))
        {
            *v = Some(v.unwrap_or(0.0) + 1.0);
        }
    }
    let mut s = util::new_series(&name, start, end, 1, values, a.ctx.x_files_factor.get());
    s.consolidation = Consolidation::Sum;
    s.mark_all_ints();
    Ok(vec![s])
}

/// `seriesByTag('tag=value', …)`: the tagged series matching every expression, fetched
/// over the context's window; their path expression is the call as written.
pub fn series_by_tag(
    call: &Call<'_>,
    ctx: &Context<'_>,
    scope: Scope<'_>,
) -> Result<Vec<Series>, EvalError> {
    check_deadline(ctx)?;
    let mut exprs = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        match eval_arg(&arg.value, ctx, scope)? {
            Value::Str(s) => exprs.push(s),
            other => {
                return Err(EvalError::param(
                    "seriesByTag",
                    format!("tag expressions must be strings, got {}", other.py_repr()),
                ))
            }
        }
    }
    if exprs.is_empty() {
        return Err(EvalError::param(
            "seriesByTag",
            "at least one tag expression is required",
        ));
    }
    let raw = match scope
        .target
        .and_then(|t| t.get(call.span.start..call.span.end))
    {
        Some(text) if !call.piped => text.to_string(),
        _ => format!(
            "seriesByTag({})",
            exprs
                .iter()
                .map(|e| format!("'{e}'"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let names = ctx.source.series_by_tag(&exprs)?;
    crate::query::eval::fetch_names(ctx, &raw, &names)
}

fn cacti_style(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let system = a.value(1).map(Value::py_str);
    let units = a.value(2).map(Value::py_str);
    let mut list = a.series(0);
    if list.is_empty() {
        return Ok(list);
    }
    let fmt = |x: f64| match (&system, &units) {
        (Some(sys), Some(u)) => {
            let (v, prefix) = util::format_units(x, sys, Some(u));
            format!("{v:.2} {prefix}")
        }
        (Some(sys), None) => {
            let (v, prefix) = util::format_units(x, sys, None);
            format!("{v:.2}{prefix}")
        }
        (None, Some(u)) => format!("{x:.2} {u}"),
        (None, None) => format!("{x:.2}"),
    };
    let width = |agg: Agg, list: &[Series]| {
        list.iter()
            .map(|s| {
                // Python's int(x or 3): a value in (-1, 0) becomes the int 0, "0.00" (not
                // the float -0.0, "-0.00")
                let v = agg.apply(&s.values).filter(|v| *v != 0.0).unwrap_or(3.0);
                fmt(v.trunc() + 0.0).chars().count()
            })
            .max()
            .unwrap_or(0)
            + 3
    };
    let name_len = list
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let (last_len, max_len, min_len) = (
        width(Agg::Last, &list),
        width(Agg::Max, &list),
        width(Agg::Min, &list),
    );
    for s in &mut list {
        let show = |agg: Agg| agg.apply(&s.values).map_or_else(|| "nan".to_string(), fmt);
        let (last, max, min) = (show(Agg::Last), show(Agg::Max), show(Agg::Min));
        s.name = format!(
            "{:<name_len$} Current:{last:<last_len$} Max:{max:<max_len$} Min:{min:<min_len$} ",
            s.name
        );
    }
    Ok(list)
}

/// graphite's `_compressPeriodicGaps`: the series resampled at its detected interval, or
/// unchanged when no interval is detected.
fn compress_gaps(s: Series) -> Series {
    let truthy = |v: Option<f64>| v.is_some_and(|x| x != 0.0);
    let (mut first, mut second) = (0usize, 0usize);
    for (i, v) in s.values.iter().enumerate() {
        if truthy(*v) {
            if first > 0 {
                second = i;
                break;
            }
            first = i;
        }
    }
    let n = s.values.len();
    if second <= first + 1 || n < 2 {
        return s;
    }
    let guess = second - first;
    let third = second + guess;
    if third > n - 2 {
        return s;
    }
    if !(truthy(s.values[third]) && s.values[third - 1].is_none() && s.values[third + 1].is_none())
    {
        return s;
    }
    let interval = guess as i64 * s.step;
    let start = s.start + first as i64 * s.step;
    let (values, ints, _) =
        super::intervals::summarize_values(&s, Agg::Last, interval, start, s.end);
    let end = start + interval * (values.len() as i64 - 1);
    let mut out = s;
    out.start = start;
    out.end = end;
    out.step = interval;
    out.values = values;
    out.ints = ints.contains(&true).then_some(ints);
    out
}

fn compress_periodic_gaps(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    Ok(a.series(0)
        .into_iter()
        .map(|mut s| {
            s.rename(format!("compressPeriodicGaps({})", s.name));
            compress_gaps(s)
        })
        .collect())
}

/// A `date` argument (graphite's from/until syntax, or an epoch number) as epoch seconds.
fn date_arg(a: &Args<'_, '_>, i: usize, default: &str) -> Result<i64, EvalError> {
    let text = match a.value(i) {
        Some(Value::Int(n)) => return Ok(*n),
        Some(Value::Float(f)) => return Ok(f.trunc() as i64),
        Some(Value::Str(s)) => s.clone(),
        Some(other) => return Err(a.err(format!("invalid time {}", other.py_repr()))),
        None => default.to_string(),
    };
    parse_at_time(&text, a.ctx.now, &a.ctx.tz)
        .map_err(|e| a.err(format!("invalid time {text:?}: {e}")))
}

fn time_slice(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let start = date_arg(a, 1, "")?;
    let end = date_arg(a, 2, "now")?;
    let first = a.ctx.start;
    let mut list = a.series(0);
    for s in &mut list {
        s.set_tag("timeSliceStart", start.to_string());
        s.set_tag("timeSliceEnd", end.to_string());
        s.name = format!("timeSlice({}, {start}, {end})", s.name);
        let mut t = first;
        for v in &mut s.values {
            if t < start || t > end {
                *v = None;
            }
            t += s.step;
        }
    }
    Ok(list)
}

fn vertical_line(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let ts = date_arg(a, 0, "")?;
    if ts < a.ctx.start {
        return Err(a.err(format!("timestamp {ts} exists before start of range")));
    }
    if ts > a.ctx.end {
        return Err(a.err(format!("timestamp {ts} exists after end of range")));
    }
    let label = a.str(1, "").to_string();
    let mut s = util::new_series(
        &label,
        ts,
        ts,
        1,
        vec![Some(1.0), Some(1.0)],
        a.ctx.x_files_factor.get(),
    );
    s.style.draw_as_infinite = true;
    let color = a.str(2, "");
    if !color.is_empty() {
        s.style.color = Some(color.to_string());
    }
    Ok(vec![s])
}

fn alias_query(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let re = super::alias::compile(a, a.str(1, ""))?;
    let rep = super::alias::python_replacement(a.str(2, ""));
    let template = a.str(3, "").to_string();
    let mut list = a.series(0);
    for s in &mut list {
        let query = re.replace_all(&s.name, rep.as_str()).into_owned();
        let found = crate::query::eval::evaluate(&query, a.ctx)?;
        let Some(first) = found.first() else {
            return Err(a.err(format!("no series found with query: {query}")));
        };
        let Some(current) = Agg::Last.apply(&first.values) else {
            return Err(a.err(format!("cannot get the last value of {}", first.name)));
        };
        s.name = util::py_percent(&template, current)
            .ok_or_else(|| a.err(format!("cannot format {template:?} with one number")))?;
    }
    Ok(list)
}

fn apply_by_node(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let node = a.int(1, 0);
    let template = a.str(2, "").to_string();
    let new_name = a.value(3).map(Value::py_str);
    let list = a.series(0);
    let Some(last) = list.last() else {
        return Ok(Vec::new());
    };
    let (start, end) = (last.start, last.end);
    let mut prefixes: Vec<String> = list
        .iter()
        .map(|s| {
            let nodes: Vec<&str> = s.name.split('.').collect();
            let n = usize::try_from(node + 1).unwrap_or(0).min(nodes.len());
            nodes[..n].join(".")
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let mut out = Vec::new();
    for prefix in prefixes {
        let target = template.replace('%', &prefix);
        for mut s in crate::query::eval::evaluate(&target, a.ctx)? {
            if let Some(n) = new_name.as_deref().filter(|n| !n.is_empty()) {
                s.name = n.replace('%', &prefix);
            }
            s.path_expression.clone_from(&prefix);
            s.start = start;
            s.end = end;
            out.push(s);
        }
    }
    Ok(out)
}

fn random_walk(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    use std::hash::{BuildHasher, Hasher};
    // SplitMix64 seeded by the process's random hasher keys
    let mut state = {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(a.ctx.start);
        h.finish()
    };
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits as a float in [0, 1)
        (z >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut current = 0.0;
    Ok(vec![generated(a, a.int(1, 60), |_| {
        let v = current;
        current += next() - 0.5;
        v
    })?])
}
