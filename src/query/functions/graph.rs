//! The "Graph" group: functions that only change how a series is drawn
//! ([`crate::query::series::Style`]); some also rename it, as graphite does.

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use super::params::{p, ps, Default as D, Param, ParamType as T};
use super::{d, Args, Def, Value};
use crate::py::format::percent_g6;
use crate::query::eval::EvalError;
use crate::query::series::Series;

const SERIES_ONLY: &[Param] = &[p("seriesList", T::SeriesList).req()];

/// The Graph group's definitions (`threshold` lives with constantLine).
pub fn defs() -> Vec<Def> {
    vec![
        d(
            "color",
            "Graph",
            "(seriesList, theColor)",
            "Draws the series in a colour (a name or rrggbb[aa] hex).",
            ps(vec![
                p("seriesList", T::SeriesList).req(),
                p("theColor", T::String).req(),
            ]),
            |a| {
                let c = a.str(1, "").to_string();
                Ok(styled(a, |s| s.style.color = Some(c.clone())))
            },
        ),
        d(
            "alpha",
            "Graph",
            "(seriesList, alpha)",
            "Draws the series with an opacity between 0 and 1.",
            ps(vec![
                p("seriesList", T::SeriesList).req(),
                p("alpha", T::Float).req(),
            ]),
            |a| {
                let v = a.float(1, 1.0);
                Ok(styled(a, |s| s.style.alpha = Some(v)))
            },
        ),
        d(
            "lineWidth",
            "Graph",
            "(seriesList, width)",
            "Draws the series with a line of the given width.",
            ps(vec![
                p("seriesList", T::SeriesList).req(),
                p("width", T::Float).req(),
            ]),
            |a| {
                let v = a.float(1, 1.0);
                Ok(styled(a, |s| s.style.line_width = Some(v)))
            },
        ),
        d(
            "dashed",
            "Graph",
            "(seriesList, dashLength=5)",
            "Draws the series as a dashed line.",
            ps(vec![
                p("seriesList", T::SeriesList).req(),
                p("dashLength", T::Integer).def(D::Int(5)),
            ]),
            |a| {
                let v = a.value(1).cloned().unwrap_or(Value::Int(5));
                let len = match v {
                    Value::Int(i) => i as f64,
                    Value::Float(f) => f,
                    _ => 5.0,
                };
                Ok(styled(a, |s| {
                    s.set_tag("dashed", v.py_str());
                    s.name = format!("dashed({}, {})", s.name, percent_g6(len));
                    s.style.dashed = Some(len);
                }))
            },
        ),
        d(
            "secondYAxis",
            "Graph",
            "(seriesList)",
            "Draws the series against a second Y axis on the right.",
            SERIES_ONLY,
            |a| {
                Ok(styled(a, |s| {
                    s.style.second_y_axis = true;
                    s.set_tag("secondYAxis", "1");
                    s.name = format!("secondYAxis({})", s.name);
                }))
            },
        ),
        d(
            "drawAsInfinite",
            "Graph",
            "(seriesList)",
            "Draws each non-zero point as a vertical line across the whole graph.",
            SERIES_ONLY,
            |a| {
                Ok(styled(a, |s| {
                    s.style.draw_as_infinite = true;
                    s.set_tag("drawAsInfinite", "1");
                    s.name = format!("drawAsInfinite({})", s.name);
                }))
            },
        ),
        d(
            "stacked",
            "Graph",
            "(seriesLists, stackName='__DEFAULT__')",
            "Stacks the series on top of each other (values become running totals).",
            ps(vec![
                p("seriesList", T::SeriesList).req(),
                p("stack", T::String),
            ]),
            stacked,
        ),
        d(
            "areaBetween",
            "Graph",
            "(seriesList)",
            "Fills the area between exactly two series (lower, then upper).",
            SERIES_ONLY,
            area_between,
        ),
    ]
}

fn styled(a: &mut Args<'_, '_>, mut f: impl FnMut(&mut Series)) -> Vec<Series> {
    let mut list = a.series(0);
    list.iter_mut().for_each(&mut f);
    list
}

fn stacked(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let stack = a.str(1, "__DEFAULT__").to_string();
    let list = a.series(0);
    let mut total: Vec<f64> = Vec::new();
    Ok(list
        .into_iter()
        .map(|mut s| {
            let values = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if total.len() <= i {
                        total.push(0.0);
                    }
                    v.map(|x| {
                        total[i] += x;
                        total[i]
                    })
                })
                .collect();
            let name = if stack == "__DEFAULT__" {
                s.set_tag("stacked", stack.clone());
                format!("stacked({})", s.name)
            } else {
                s.name.clone()
            };
            s.rename(name);
            s.values = values;
            s.style.stack = Some(stack.clone());
            s
        })
        .collect())
}

fn area_between(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut list = a.series(0);
    if list.len() != 2 {
        return Err(a.err(format!(
            "areaBetween series argument must reference exactly 2 series (got {})",
            list.len()
        )));
    }
    list[1].set_tag("areaBetween", "1");
    let name = format!("areaBetween({})", list[1].path_expression);
    let tags = list[1].tags.clone();
    for (i, s) in list.iter_mut().enumerate() {
        s.name.clone_from(&name);
        s.tags.clone_from(&tags);
        s.style.area_between = true;
        s.style.stack = Some("__DEFAULT__".into());
        s.style.invisible = i == 0;
    }
    Ok(list)
}
