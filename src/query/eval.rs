//! Evaluating render targets: graphite-web's `render/evaluator.py`.
//!
//! A target is parsed with [`crate::query::grammar`], its path expressions are resolved
//! through a [`Source`] (names, points, tags, events), and function calls are dispatched
//! to [`crate::query::functions`]. The evaluator knows nothing about HTTP, files or
//! shards: the query thread implements [`Source`] over the whisper files and the shards'
//! caches, and the tests implement it over literal data.

use std::time::Instant;

use crate::query::functions::{self, Scope, Value};
use crate::query::grammar::{self, Expr};
use crate::query::series::Series;
use crate::query::time::TimeZone;

/// Why a target could not be evaluated. Every variant is the client's fault (HTTP 400)
/// except [`EvalError::Source`] (500) and [`EvalError::Limit`] (422 in spirit, 400 here).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The target does not parse: the message names the position.
    #[error("invalid target {target:?}: {message}")]
    Parse { target: String, message: String },
    /// A function name graphite does not have, or one not implemented yet.
    #[error("unknown function {0}()")]
    UnknownFunction(String),
    /// Wrong arguments to a function (graphite's `InputParameterError`).
    #[error("invalid parameters for {function}(): {message}")]
    Parameter { function: String, message: String },
    /// A request limit was reached (series, points, time).
    #[error("{0}")]
    Limit(String),
    /// The storage failed as a whole (a single unreadable file only drops its series).
    #[error("storage: {0}")]
    Source(String),
}

impl EvalError {
    /// A parameter error for `function`.
    pub fn param(function: &str, message: impl Into<String>) -> Self {
        EvalError::Parameter {
            function: function.to_string(),
            message: message.into(),
        }
    }
}

/// Where the evaluator gets names and points from.
pub trait Source {
    /// Leaf names matching a graphite glob, sorted.
    fn find(&self, pattern: &str) -> Result<Vec<String>, EvalError>;
    /// The series for each name over `[start, end)` as graphite-web reads it: whisper's
    /// fetch merged with the points still in the cache. A name that cannot be read (a
    /// corrupt file) is left out with a warning; the others are returned in order.
    fn fetch(
        &self,
        names: &[String],
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<Vec<Series>, EvalError>;
    /// Names of the tagged series matching every `seriesByTag` expression, sorted.
    fn series_by_tag(&self, expressions: &[String]) -> Result<Vec<String>, EvalError>;
    /// Times of the events with the given tags (`*` or no tag: all) in `[start, end]`.
    fn events(&self, tags: &[String], start: i64, end: i64) -> Result<Vec<i64>, EvalError>;
}

/// Per-request limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Series fetched from storage by one request.
    pub max_series: Option<usize>,
    /// Values fetched from storage by one request.
    pub max_points: Option<usize>,
    /// The request fails once this instant is passed.
    pub deadline: Option<Instant>,
}

/// The request's time window and settings (graphite's `requestContext`).
#[derive(Clone)]
pub struct Context<'a> {
    pub start: i64,
    pub end: i64,
    pub now: i64,
    pub tz: TimeZone,
    /// `xFilesFactor` request parameter (graphite's default 0).
    pub x_files_factor: f64,
    /// `template[name]=value` parameters.
    pub templates: &'a [(String, String)],
    pub limits: Limits,
    pub source: &'a dyn Source,
}

/// Evaluates one target to its series.
pub fn evaluate(target: &str, ctx: &Context<'_>) -> Result<Vec<Series>, EvalError> {
    let expr = grammar::parse(target).map_err(|e| EvalError::Parse {
        target: target.to_string(),
        message: e.to_string(),
    })?;
    let scope = Scope {
        target: Some(target),
        replacements: &[],
    };
    top_level(functions::eval_expr_value(&expr, ctx, scope)?)
}

/// Evaluates a parsed expression (functions that re-evaluate their argument with another
/// window, such as `timeShift`, call this with a changed context). Without the target
/// text, a `seriesByTag` call's path expression is rebuilt with single quotes.
pub fn evaluate_expr(expr: &Expr<'_>, ctx: &Context<'_>) -> Result<Vec<Series>, EvalError> {
    top_level(functions::eval_expr_value(expr, ctx, Scope::EMPTY)?)
}

fn top_level(value: Value) -> Result<Vec<Series>, EvalError> {
    match value {
        Value::Series(s) => Ok(s),
        Value::SeriesLists(_) => Err(EvalError::param(
            "mapSeries",
            "mapSeries makes groups of series for reduceSeries, not series",
        )),
        other => Err(EvalError::param(
            "template",
            format!("the target evaluates to {}, not to series", other.py_repr()),
        )),
    }
}

/// Resolves a path expression to its series, sorted by name.
pub fn fetch_path(path: &str, ctx: &Context<'_>) -> Result<Vec<Series>, EvalError> {
    check_deadline(ctx)?;
    let names = ctx.source.find(path)?;
    if let Some(max) = ctx.limits.max_series {
        if names.len() > max {
            return Err(EvalError::Limit(format!(
                "{path} matches {} series, more than the limit of {max} per request \
                 (http.max_series)",
                names.len()
            )));
        }
    }
    fetch_names(ctx, path, &names)
}

/// The series of `names` over the context's window, as a path or `seriesByTag` gives
/// them: each with `expression` as its `pathExpression` and the request's xFilesFactor,
/// sorted by name.
pub fn fetch_names(
    ctx: &Context<'_>,
    expression: &str,
    names: &[String],
) -> Result<Vec<Series>, EvalError> {
    let mut series = ctx.source.fetch(names, ctx.start, ctx.end, ctx.now)?;
    check_points(ctx, expression, &series)?;
    for s in &mut series {
        s.path_expression = expression.to_string();
        s.x_files_factor = ctx.x_files_factor;
    }
    series.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(series)
}

/// Fails when one fetch returned more values than the request's `max_points`.
pub fn check_points(ctx: &Context<'_>, what: &str, series: &[Series]) -> Result<(), EvalError> {
    if let Some(max) = ctx.limits.max_points {
        let n: usize = series.iter().map(|s| s.values.len()).sum();
        if n > max {
            return Err(EvalError::Limit(format!(
                "{what} fetched {n} values, more than the limit of {max} per request \
                 (query.max_points)"
            )));
        }
    }
    Ok(())
}

/// Fails once the request's time limit has passed.
pub fn check_deadline(ctx: &Context<'_>) -> Result<(), EvalError> {
    match ctx.limits.deadline {
        Some(d) if Instant::now() > d => Err(EvalError::Limit(
            "the request took longer than its time limit (http.timeout)".into(),
        )),
        _ => Ok(()),
    }
}
