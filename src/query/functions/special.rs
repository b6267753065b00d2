//! The "Special" group (`constantLine`, `consolidateBy`, `seriesByTag`, `events`,
//! `setXFilesFactor`, `changed`, `cumulative`, `fallbackSeries`) and the generators
//! `identity` and `threshold`.

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use super::params::{p, ps, Param, ParamType as T};
use super::{eval_arg, py_float, util, Args, Def, Scope, Value};
use crate::query::eval::{check_deadline, Context, EvalError};
use crate::query::grammar::Call;
use crate::query::json::Consolidation;
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
        d("identity", "Calculate", "(name)", "A series whose value is its own timestamp, one point a minute.", ps(vec![
            p("name", T::String).req(),
        ]), |a| {
            let name = a.str(0, "").to_string();
            let (start, end) = (a.ctx.start, a.ctx.end);
            let values = (start..end).step_by(60).map(|t| Some(t as f64)).collect();
            let mut s = util::new_series(&name, start, end, 60, values, a.ctx.x_files_factor);
            s.path_expression = format!("identity(\"{name}\")");
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
        ctx.x_files_factor,
    );
    s.path_expression = format!("constantLine({text})");
    s
}

fn consolidate_by(mut list: Vec<Series>, func: &str) -> Vec<Series> {
    let c = Consolidation::from_name(func).unwrap_or_default();
    for s in &mut list {
        s.consolidation = c;
        s.set_tag("consolidateBy", func);
        s.name = format!("consolidateBy({},\"{}\")", s.name, c.name());
        s.path_expression.clone_from(&s.name);
    }
    list
}

fn set_xff(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let xff = a.float(1, 0.0);
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
        s.name = format!("changed({})", s.name);
        s.path_expression.clone_from(&s.name);
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
    let limit = a.ctx.limits.max_points.unwrap_or(usize::MAX);
    if points > limit {
        return Err(EvalError::Limit(format!(
            "events() over {points} seconds is more than the limit of {limit} points \
             per request (query.max_points)"
        )));
    }
    let mut values: Vec<Option<f64>> = vec![None; points];
    for t in a.ctx.source.events(&query, start, end)? {
        if let Some(v) = usize::try_from(t - start)
            .ok()
            .and_then(|i| values.get_mut(i))
        {
            *v = Some(v.unwrap_or(0.0) + 1.0);
        }
    }
    let mut s = util::new_series(&name, start, end, 1, values, a.ctx.x_files_factor);
    s.consolidation = Consolidation::Sum;
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
    if let Some(max) = ctx.limits.max_series {
        if names.len() > max {
            return Err(EvalError::Limit(format!(
                "{raw} matches {} series, more than the limit of {max} per request \
                 (query.max_series)",
                names.len()
            )));
        }
    }
    let mut series = ctx.source.fetch(&names, ctx.start, ctx.end, ctx.now)?;
    for s in &mut series {
        s.path_expression.clone_from(&raw);
        s.x_files_factor = ctx.x_files_factor;
    }
    series.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(series)
}
