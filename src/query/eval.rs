//! Evaluating render targets: graphite-web's `render/evaluator.py`.
//!
//! A target is parsed with [`crate::query::grammar`], its path expressions are resolved
//! through a [`Source`] (names, points, tags, events), and function calls are dispatched
//! to [`crate::query::functions`]. The evaluator knows nothing about HTTP, files or
//! shards: the query thread implements [`Source`] over the whisper files and the shards'
//! caches, and the tests implement it over literal data.

use std::cell::Cell;
use std::time::Instant;

use crate::query::budget::{points_error, series_error, Budget, Exceeded, Stop};
use crate::query::functions::{self, Scope, Value};
use crate::query::grammar::{self, Expr};
use crate::query::series::Series;
use crate::query::time::TimeZone;

/// Why a target could not be evaluated. Every variant is the client's fault (HTTP 400)
/// except [`EvalError::Source`] (500) and a stopped request ([`Exceeded::Stopped`], 503).
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
    /// A request limit was reached (series, points, bytes, glob candidates: 400) or the
    /// request was stopped (its time limit, the server stopping: 503). The message names
    /// the setting.
    #[error("{0}")]
    Limit(Exceeded),
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
    /// The request's [`Budget`], when the source keeps one: the limits then count across
    /// the whole request and long loops see its stop probe. A source without one (the
    /// tests' literal data) gets each limit checked per fetch or call, and the deadline
    /// read at each check.
    fn budget(&self) -> Option<&Budget> {
        None
    }
}

/// Per-request limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Series fetched from storage or made by functions in one request.
    pub max_series: Option<usize>,
    /// Values fetched from storage or made by functions in one request.
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
    /// The request's xFilesFactor: the `xFilesFactor` parameter (graphite's default 0)
    /// until a `setXFilesFactor` call sets it for the rest of the request, as graphite
    /// sets its `requestContext['xFilesFactor']`: later fetches, combining functions and
    /// later targets of the request (evaluated in this context) use it. A context made
    /// from this one (`timeShift`'s window, …) starts from its value and keeps its own
    /// changes, as graphite's `requestContext.copy()`.
    pub x_files_factor: Cell<f64>,
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

impl Context<'_> {
    /// The request's budget, if its source keeps one.
    pub fn budget(&self) -> Option<&Budget> {
        self.source.budget()
    }

    /// Fails if the request must stop now: its deadline passed, the server is stopping,
    /// the client went away (reads the clock).
    pub fn check(&self) -> Result<(), EvalError> {
        if let Some(b) = self.budget() {
            b.check().map_err(EvalError::Limit)?;
        }
        match self.limits.deadline {
            Some(d) if Instant::now() > d => {
                Err(EvalError::Limit(Exceeded::Stopped(Stop::Deadline)))
            }
            _ => Ok(()),
        }
    }

    /// One unit of work in a long loop: a cheap counter, and every
    /// [`crate::query::budget::CHECK_EVERY`] units [`Context::check`]. Without a budget it
    /// checks at once.
    pub fn tick(&self) -> Result<(), EvalError> {
        match self.budget() {
            Some(b) => b.tick().map_err(EvalError::Limit),
            None => self.check(),
        }
    }

    /// The values the request may still fetch or make.
    pub fn points_left(&self) -> usize {
        match self.budget() {
            Some(b) => b.points_left(),
            None => self.limits.max_points.unwrap_or(usize::MAX),
        }
    }

    /// The series the request may still fetch or make.
    pub fn series_left(&self) -> usize {
        match self.budget() {
            Some(b) => b.series_left(),
            None => self.limits.max_series.unwrap_or(usize::MAX),
        }
    }

    /// Counts `n` series fetched or made by `what` against `http.max_series` (across the
    /// request with a budget, else for this fetch or call alone).
    pub fn charge_series(&self, what: &str, n: usize) -> Result<(), EvalError> {
        match (self.budget(), self.limits.max_series) {
            (Some(b), _) => b.charge_series(what, n).map_err(EvalError::Limit),
            (None, Some(max)) if n > max => Err(EvalError::Limit(series_error(what, n, n, max))),
            (None, _) => Ok(()),
        }
    }

    /// Counts `n` values fetched or made by `what` against `http.max_points`.
    pub fn charge_points(&self, what: &str, n: usize) -> Result<(), EvalError> {
        match (self.budget(), self.limits.max_points) {
            (Some(b), _) => b.charge_points(what, n).map_err(EvalError::Limit),
            (None, Some(max)) if n > max => Err(EvalError::Limit(points_error(what, n, n, max))),
            (None, _) => Ok(()),
        }
    }

    /// Fails before `what` makes `n` values when they would not fit in what is left of
    /// `http.max_points` (nothing is counted: the call's result is, once made).
    pub fn check_room(&self, what: &str, n: usize) -> Result<(), EvalError> {
        let left = self.points_left();
        if n > left {
            let max = self.limits.max_points.unwrap_or(usize::MAX);
            let used = max - left;
            return Err(EvalError::Limit(points_error(
                what,
                n,
                used.saturating_add(n),
                max,
            )));
        }
        Ok(())
    }

    /// [`Context::check_room`] for series.
    pub fn check_series_room(&self, what: &str, n: usize) -> Result<(), EvalError> {
        let left = self.series_left();
        if n > left {
            let max = self.limits.max_series.unwrap_or(usize::MAX);
            let used = max - left;
            return Err(EvalError::Limit(series_error(
                what,
                n,
                used.saturating_add(n),
                max,
            )));
        }
        Ok(())
    }
}

/// Resolves a path expression to its series, sorted by name.
pub fn fetch_path(path: &str, ctx: &Context<'_>) -> Result<Vec<Series>, EvalError> {
    check_deadline(ctx)?;
    let names = ctx.source.find(path)?;
    fetch_names(ctx, path, &names)
}

/// The series of `names` over the context's window, as a path or `seriesByTag` gives
/// them: each with `expression` as its `pathExpression` and the request's xFilesFactor,
/// sorted by name. The names count against `http.max_series` before anything is read,
/// the values read against `http.max_points`.
pub fn fetch_names(
    ctx: &Context<'_>,
    expression: &str,
    names: &[String],
) -> Result<Vec<Series>, EvalError> {
    ctx.charge_series(expression, names.len())?;
    let mut series = ctx.source.fetch(names, ctx.start, ctx.end, ctx.now)?;
    check_points(ctx, expression, &series)?;
    for s in &mut series {
        s.path_expression = expression.to_string();
        s.x_files_factor = ctx.x_files_factor.get();
    }
    series.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(series)
}

/// Counts the values of `series` (fetched or made by `what`) against `http.max_points`.
pub fn check_points(ctx: &Context<'_>, what: &str, series: &[Series]) -> Result<(), EvalError> {
    let n: usize = series.iter().map(|s| s.values.len()).sum();
    ctx.charge_points(what, n)
}

/// Fails once the request's time limit has passed or it was cancelled.
pub fn check_deadline(ctx: &Context<'_>) -> Result<(), EvalError> {
    ctx.check()
}
