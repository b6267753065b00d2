//! graphite-web 1.1.10's render functions (`render/functions.py`), dispatched by name.
//!
//! Each function is one [`Def`] of [`functions()`]: its name, group, parameters (names, types,
//! defaults and options exactly as graphite declares them, so `/functions` feeds Grafana's
//! editor and argument checking follows graphite's `validateParams`), a description written
//! for this project, and the Rust code. Arguments are evaluated here (series lists, numbers,
//! strings, booleans, `None`, keyword arguments, nested calls, `template()`), bound to the
//! parameters and checked; a wrong argument is an [`EvalError::Parameter`] naming the
//! function and the parameter.
//!
//! Functions own their input series and return new lists; they read nothing but the
//! [`crate::query::eval::Source`] behind the context. Result names, tags and
//! `pathExpression`s are graphite's byte for byte (see `docs/functions.md`).
//!
//! Files by group: [`combine`] (sumSeries, aggregate, groupBy…, asPercent, divideSeries),
//! [`lists`] (the `…SeriesLists` forms, weightedAverage, mapSeries/reduceSeries),
//! [`transform`] (scale, derivative, perSecond, …), [`intervals`] (summarize, hitcount,
//! timeShift, …), [`calculate`] (moving windows, percentiles, Holt-Winters), [`filter`]
//! (highest…, grep, limit, removeAboveValue…, sortBy…), [`alias`], [`special`]
//! (constantLine, consolidateBy, seriesByTag, events…), [`graph`] (color, dashed,
//! stacked…); shared helpers in [`util`], the parameter model in [`params`].

pub mod alias;
pub mod calculate;
pub mod combine;
pub mod filter;
pub mod graph;
pub mod intervals;
pub mod lists;
pub mod params;
pub mod special;
pub mod transform;
pub mod util;

use serde_json::{Map, Value as Json};

use crate::py::format::write_repr;
use crate::query::eval::{check_deadline, fetch_path, Context, EvalError};
use crate::query::grammar::{self, Expr};
use crate::query::series::Series;

pub use params::{Default as ParamDefault, Param, ParamType};

/// An evaluated argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A series list (a path, a nested call).
    Series(Vec<Series>),
    /// Groups of series lists, made by `mapSeries` for `reduceSeries`.
    SeriesLists(Vec<Vec<Series>>),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
}

impl Value {
    /// Python's `str()` of a scalar (`2`, `2.5`, `True`, `None`).
    pub fn py_str(&self) -> String {
        match self {
            Value::Series(_) => "<series>".to_string(),
            Value::SeriesLists(_) => "<series lists>".to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => py_float(*f),
            Value::Str(s) => s.clone(),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Value::None => "None".to_string(),
        }
    }

    /// Python's `repr()` of a scalar, for error messages.
    pub fn py_repr(&self) -> String {
        match self {
            Value::Str(s) => format!("'{s}'"),
            Value::Series(s) => format!("<{} series>", s.len()),
            Value::SeriesLists(l) => format!("<{} series lists>", l.len()),
            other => other.py_str(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// Python's `repr(float)` (`2.0`, `1e+16`, `inf`).
pub fn py_float(x: f64) -> String {
    let mut s = String::new();
    write_repr(&mut s, x);
    s
}

/// What an evaluation sees besides the context: the target text (for `seriesByTag`'s raw
/// call text) and the `template()` replacements in force.
#[derive(Clone, Copy)]
pub struct Scope<'s> {
    pub target: Option<&'s str>,
    pub replacements: &'s [(String, Value)],
}

impl Scope<'_> {
    /// No target text, no replacements.
    pub const EMPTY: Scope<'static> = Scope {
        target: None,
        replacements: &[],
    };
}

/// The code of one function.
pub type Run = fn(&mut Args<'_, '_>) -> Result<Vec<Series>, EvalError>;

/// The definition of a function that is not a `groupByNode` callback (each group's file
/// lists its functions with this).
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

/// One function: see the module documentation.
pub struct Def {
    pub name: &'static str,
    pub group: &'static str,
    /// graphite's signature without `requestContext`, as `/functions` shows it.
    pub signature: &'static str,
    pub description: &'static str,
    pub params: &'static [Param],
    /// Usable as a `groupByNode` callback (graphite's `aggregator = True`).
    pub aggregator: bool,
    pub run: Run,
}

impl Def {
    /// This function, usable as a `groupByNode` callback too (graphite's
    /// `aggregator = True`).
    fn also_aggregator(self) -> Def {
        Def {
            aggregator: true,
            ..self
        }
    }

    /// Calls this function from inside another one, in its context, with positional
    /// arguments (`groupByNode`'s callback, `reduceSeries`'s function).
    fn call_from(
        &self,
        caller: &Args<'_, '_>,
        positional: Vec<Value>,
    ) -> Result<Vec<Series>, EvalError> {
        let bound = params::bind(self.name, self.params, positional, Vec::new())?;
        let mut args = Args {
            name: self.name,
            ctx: caller.ctx,
            scope: caller.scope,
            first: None,
            bound,
            params: self.params,
        };
        (self.run)(&mut args)
    }
}

/// The arguments of one call, bound to its parameters.
pub struct Args<'a, 'c> {
    /// The name the function was called by (`sum`, `sumSeries`).
    pub name: &'a str,
    pub ctx: &'a Context<'c>,
    pub scope: Scope<'a>,
    /// The first argument as written, for functions that evaluate it again over another
    /// window (graphite's `requestContext['args'][0]`).
    pub first: Option<&'a grammar::Arg<'a>>,
    /// Per parameter: the values given (several for a `multiple` parameter), empty if absent.
    pub bound: Vec<Vec<Value>>,
    pub params: &'static [Param],
}

impl Args<'_, '_> {
    /// A parameter error for this function.
    pub fn err(&self, message: impl Into<String>) -> EvalError {
        EvalError::param(self.name, message)
    }

    fn one(&self, i: usize) -> Option<&Value> {
        self.bound
            .get(i)
            .and_then(|v| v.first())
            .filter(|v| **v != Value::None)
    }

    /// Whether parameter `i` was given (and is not `None`).
    pub fn has(&self, i: usize) -> bool {
        self.one(i).is_some()
    }

    /// The raw value of parameter `i`.
    pub fn value(&self, i: usize) -> Option<&Value> {
        self.one(i)
    }

    /// Takes the series list of parameter `i` (empty when absent).
    pub fn series(&mut self, i: usize) -> Vec<Series> {
        match self.bound.get_mut(i).and_then(|v| v.first_mut()) {
            Some(Value::Series(s)) => std::mem::take(s),
            _ => Vec::new(),
        }
    }

    /// Takes every series list of a `multiple` parameter.
    pub fn series_lists(&mut self, i: usize) -> Vec<Vec<Series>> {
        self.bound
            .get_mut(i)
            .map(|vals| {
                vals.iter_mut()
                    .filter_map(|v| match v {
                        Value::Series(s) => Some(std::mem::take(s)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes the groups of a `seriesLists` parameter.
    pub fn lists(&mut self, i: usize) -> Vec<Vec<Series>> {
        match self.bound.get_mut(i).and_then(|v| v.first_mut()) {
            Some(Value::SeriesLists(l)) => std::mem::take(l),
            _ => Vec::new(),
        }
    }

    /// A number parameter, or its default.
    pub fn float(&self, i: usize, default: f64) -> f64 {
        self.one(i).and_then(Value::as_f64).unwrap_or(default)
    }

    /// A number parameter, `None` when absent.
    pub fn opt_float(&self, i: usize) -> Option<f64> {
        self.one(i).and_then(Value::as_f64)
    }

    /// An integer parameter, or its default.
    pub fn int(&self, i: usize, default: i64) -> i64 {
        match self.one(i) {
            Some(Value::Int(n)) => *n,
            _ => default,
        }
    }

    /// A string parameter, or its default.
    pub fn str<'v>(&'v self, i: usize, default: &'v str) -> &'v str {
        match self.one(i) {
            Some(Value::Str(s)) => s,
            _ => default,
        }
    }

    /// A boolean parameter (graphite also accepts "true"/"false" and 0/1), or its default.
    pub fn bool(&self, i: usize, default: bool) -> bool {
        match self.one(i) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Str(s)) => s.eq_ignore_ascii_case("true"),
            Some(Value::Int(n)) => *n != 0,
            Some(Value::Float(f)) => *f != 0.0,
            _ => default,
        }
    }

    /// Every value of a `multiple` parameter.
    pub fn rest(&self, i: usize) -> &[Value] {
        self.bound.get(i).map_or(&[], Vec::as_slice)
    }

    /// Evaluates the first argument again in `ctx` (another time window). The window is
    /// kept within ±2^40 seconds (about 35,000 years), so that shifted windows never
    /// overflow a [`crate::query::eval::Source`]'s arithmetic.
    pub fn reevaluate_first(&self, ctx: &Context<'_>) -> Result<Vec<Series>, EvalError> {
        const BOUND: i64 = 1 << 40;
        let Some(arg) = self.first else {
            return Ok(Vec::new());
        };
        let ctx = Context {
            start: ctx.start.clamp(-BOUND, BOUND),
            end: ctx.end.clamp(-BOUND, BOUND),
            ..ctx.clone()
        };
        match eval_arg(&arg.value, &ctx, self.scope)? {
            Value::Series(s) => Ok(s),
            _ => Ok(Vec::new()),
        }
    }
}

/// Every implemented function, sorted by name.
pub fn functions() -> &'static [Def] {
    &FUNCTIONS
}

/// The function called `name`.
pub fn lookup(name: &str) -> Option<&'static Def> {
    FUNCTIONS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &FUNCTIONS[i])
}

static FUNCTIONS: std::sync::LazyLock<Vec<Def>> = std::sync::LazyLock::new(|| {
    let mut all = Vec::new();
    all.extend(combine::defs());
    all.extend(lists::defs());
    all.extend(transform::defs());
    all.extend(intervals::defs());
    all.extend(calculate::defs());
    all.extend(filter::defs());
    all.extend(alias::defs());
    all.extend(special::defs());
    all.extend(graph::defs());
    all.sort_by(|a, b| a.name.cmp(b.name));
    all
});

/// Calls the function named by `call` with its arguments evaluated in `ctx`.
pub fn call(call: &grammar::Call<'_>, ctx: &Context<'_>) -> Result<Vec<Series>, EvalError> {
    call_in(call, ctx, Scope::EMPTY)
}

/// [`call`] with a target text and template replacements.
pub fn call_in(
    call: &grammar::Call<'_>,
    ctx: &Context<'_>,
    scope: Scope<'_>,
) -> Result<Vec<Series>, EvalError> {
    check_deadline(ctx)?;
    if call.name == "seriesByTag" {
        return special::series_by_tag(call, ctx, scope);
    }
    if call.name == "template" {
        return Err(EvalError::param(
            "template",
            "invalid template() syntax, only string/numeric arguments are allowed",
        ));
    }
    let def = lookup(call.name).ok_or_else(|| EvalError::UnknownFunction(call.name.to_string()))?;
    let (positional, kwargs) = eval_args(call, ctx, scope)?;
    let kwargs = kwargs
        .into_iter()
        .map(|(name, v)| (params::signature_alias(def, name), v))
        .collect();
    let bound = params::bind(call.name, def.params, positional, kwargs)?;
    let input = Size::of_args(&bound);
    let before = Size::used(ctx);
    let mut args = Args {
        name: call.name,
        ctx,
        scope,
        first: call.args.first(),
        bound,
        params: def.params,
    };
    let mut out = (def.run)(&mut args)?;
    ctx.check()?;
    charge_growth(ctx, call.name, input, before, &out)?;
    if !KEEPS_INTS.contains(&def.name) {
        for s in &mut out {
            s.ints = None;
        }
    }
    Ok(out)
}

/// Series and values: of a call's arguments, or counted by the request so far.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    series: usize,
    points: usize,
}

impl Size {
    fn of(list: &[Series]) -> Self {
        Self {
            series: list.len(),
            points: list.iter().map(|s| s.values.len()).sum(),
        }
    }

    fn of_args(bound: &[Vec<Value>]) -> Self {
        let mut size = Size::default();
        let mut add = |list: &[Series]| {
            let s = Size::of(list);
            size.series += s.series;
            size.points += s.points;
        };
        for value in bound.iter().flatten() {
            match value {
                Value::Series(list) => add(list),
                Value::SeriesLists(lists) => lists.iter().for_each(|l| add(l)),
                _ => {}
            }
        }
        size
    }

    fn used(ctx: &Context<'_>) -> Self {
        ctx.budget().map_or_else(Size::default, |b| Size {
            series: b.series_used(),
            points: b.points_used(),
        })
    }
}

/// Counts what a call made beyond its arguments and what it fetched itself (generators,
/// `summarize` into finer buckets, `timeStack`'s copies…) against `http.max_series` and
/// `http.max_points`, and refuses series names longer than [`MAX_NAME_BYTES`] (a name
/// can grow with each call: `aliasSub`'s back references, `alias` with a long text).
fn charge_growth(
    ctx: &Context<'_>,
    name: &str,
    input: Size,
    before: Size,
    out: &[Series],
) -> Result<(), EvalError> {
    let now = Size::used(ctx);
    let made = Size::of(out);
    let what = format!("{name}()");
    let series = made
        .series
        .saturating_sub(input.series + (now.series - before.series));
    let points = made
        .points
        .saturating_sub(input.points + (now.points - before.points));
    ctx.charge_series(&what, series)?;
    ctx.charge_points(&what, points)?;
    if let Some(long) = out.iter().find(|s| s.name.len() > MAX_NAME_BYTES) {
        return Err(EvalError::param(
            name,
            format!(
                "makes a series name of {} bytes, more than {MAX_NAME_BYTES}",
                long.name.len()
            ),
        ));
    }
    Ok(())
}

/// The longest series name a function may make.
pub const MAX_NAME_BYTES: usize = 64 << 10;

/// The functions whose results may hold Python ints ([`Series::ints`]): those that make
/// ints as graphite does (counts, 0/1 flags, the int zeros of `transformNull` and
/// friends) and those that pass values through untouched (renaming, filtering, sorting,
/// styling, nulling some points). Every other function computes new values, which are
/// floats here; its results lose the marks (graphite keeps an int in a few of those,
/// e.g. `sumSeries` of counts or `scale(…, 2)` of one: see `docs/functions.md`).
const KEEPS_INTS: &[&str] = &[
    // Making ints.
    "countSeries",
    "aggregate",
    "groupByNode",
    "groupByNodes",
    "groupByTags",
    "aggregateWithWildcards",
    "sumSeriesWithWildcards",
    "averageSeriesWithWildcards",
    "multiplySeriesWithWildcards",
    "sumSeriesLists",
    "diffSeriesLists",
    "multiplySeriesLists",
    "aggregateSeriesLists",
    "summarize",
    "smartSummarize",
    "movingWindow",
    "movingSum",
    "movingMin",
    "movingMax",
    "movingMedian",
    "movingAverage",
    "transformNull",
    "isNonNull",
    "changed",
    "events",
    "identity",
    "exponentialMovingAverage",
    "holtWintersAberration",
    "derivative",
    "nonNegativeDerivative",
    // Relabelling the inner target's values, or rounding (Python's round(int, n) is the int).
    "timeShift",
    "timeStack",
    "round",
    // Setting their own marks.
    "percentileOfSeries",
    "aggregateLine",
    "offsetToZero",
    "nPercentile",
    "hitcount",
    "compressPeriodicGaps",
    "group",
    "reduceSeries",
    "reduce",
    "keepLastValue",
    "interpolate",
    // Keeping ints ints (an int stays an int through them in Python).
    "delay",
    "absolute",
    "sumSeries",
    "sum",
    "diffSeries",
    "minSeries",
    "maxSeries",
    "multiplySeries",
    // Passing values through.
    "alias",
    "aliasByMetric",
    "aliasByNode",
    "aliasByTags",
    "aliasSub",
    "aliasQuery",
    "legendValue",
    "cactiStyle",
    "upper",
    "lower",
    "substr",
    "applyByNode",
    "fallbackSeries",
    "consolidateBy",
    "cumulative",
    "setXFilesFactor",
    "xFilesFactor",
    "timeSlice",
    "highest",
    "lowest",
    "highestAverage",
    "highestCurrent",
    "highestMax",
    "lowestAverage",
    "lowestCurrent",
    "limit",
    "exclude",
    "grep",
    "removeEmptySeries",
    "unique",
    "filterSeries",
    "maximumAbove",
    "minimumAbove",
    "maximumBelow",
    "minimumBelow",
    "currentAbove",
    "currentBelow",
    "averageAbove",
    "averageBelow",
    "removeAboveValue",
    "removeBelowValue",
    "removeAbovePercentile",
    "removeBelowPercentile",
    "removeBetweenPercentile",
    "mostDeviant",
    "averageOutsidePercentile",
    "sortByName",
    "sortBy",
    "sortByTotal",
    "sortByMaxima",
    "sortByMinima",
    "color",
    "alpha",
    "lineWidth",
    "dashed",
    "secondYAxis",
    "drawAsInfinite",
    "areaBetween",
];

/// A call's positional and keyword arguments, evaluated in order.
type Evaluated<'n> = (Vec<Value>, Vec<(&'n str, Value)>);

/// Evaluates the arguments of `call` (for [`call_in`] and `mapSeries`).
fn eval_args<'n>(
    call: &grammar::Call<'n>,
    ctx: &Context<'_>,
    scope: Scope<'_>,
) -> Result<Evaluated<'n>, EvalError> {
    let mut positional = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        positional.push(eval_arg(&arg.value, ctx, scope)?);
    }
    let mut kwargs = Vec::with_capacity(call.kwargs.len());
    for kw in &call.kwargs {
        kwargs.push((kw.name, eval_arg(&kw.value.value, ctx, scope)?));
    }
    Ok((positional, kwargs))
}

/// Evaluates one argument value.
pub fn eval_arg(
    value: &grammar::Value<'_>,
    ctx: &Context<'_>,
    scope: Scope<'_>,
) -> Result<Value, EvalError> {
    match value {
        grammar::Value::Expr(e) => eval_expr_value(e, ctx, scope),
        literal => scalar(literal),
    }
}

/// Evaluates an expression to a value: a series list, or a scalar when a template variable
/// stands alone in a path position.
pub fn eval_expr_value(
    expr: &Expr<'_>,
    ctx: &Context<'_>,
    scope: Scope<'_>,
) -> Result<Value, EvalError> {
    match expr {
        Expr::Path(p) => {
            let mut path = p.text.to_string();
            for (name, val) in scope.replacements {
                let var = format!("${name}");
                if path == var {
                    return Ok(match val {
                        Value::Str(s) if is_numeric_text(s) => match s.parse::<f64>() {
                            Ok(f) => Value::Float(f),
                            Err(_) => Value::Str(s.clone()),
                        },
                        other => other.clone(),
                    });
                }
                path = path.replace(&var, &val.py_str());
            }
            Ok(Value::Series(fetch_path(&path, ctx)?))
        }
        Expr::Call(c) if c.name == "map" || c.name == "mapSeries" => {
            lists::map_series(c, ctx, scope)
        }
        Expr::Call(c) => Ok(Value::Series(call_in(c, ctx, scope)?)),
        Expr::Template(t) => {
            let mut repl: Vec<(String, Value)> = Vec::new();
            let mut set = |k: String, v: Value| match repl.iter_mut().find(|(n, _)| *n == k) {
                Some((_, old)) => *old = v,
                None => repl.push((k, v)),
            };
            for kw in &t.kwargs {
                set(kw.name.to_string(), scalar(&kw.value.value)?);
            }
            for (i, a) in t.args.iter().enumerate() {
                set((i + 1).to_string(), scalar(&a.value)?);
            }
            for (k, v) in ctx.templates {
                set(k.clone(), Value::Str(v.clone()));
            }
            let inner = Scope {
                target: scope.target,
                replacements: &repl,
            };
            eval_expr_value(&t.inner, ctx, inner)
        }
    }
}

/// A literal argument's value; an expression is refused (as an argument of `template()`
/// must be).
fn scalar(v: &grammar::Value<'_>) -> Result<Value, EvalError> {
    Ok(match v {
        grammar::Value::Int(i) => Value::Int(*i),
        grammar::Value::Float(f) => Value::Float(*f),
        grammar::Value::Str(s) => Value::Str((*s).to_string()),
        grammar::Value::Bool(b) => Value::Bool(*b),
        grammar::Value::None => Value::None,
        grammar::Value::Expr(_) => {
            return Err(EvalError::param(
                "template",
                "template() arguments must be numbers or strings",
            ))
        }
    })
}

/// graphite's `^-?[\d.]+$` test for a template value used as a number.
fn is_numeric_text(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    !body.is_empty() && body.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The `/functions` body: every implemented function keyed by name, or by group then name
/// when `grouped`; `group` keeps only that group.
pub fn catalogue(grouped: bool, group: Option<&str>) -> Json {
    let mut out = Map::new();
    for def in functions() {
        if group.is_some_and(|g| g != def.group) {
            continue;
        }
        let info = function_info(def);
        if grouped {
            let entry = out
                .entry(def.group.to_string())
                .or_insert_with(|| Json::Object(Map::new()));
            if let Json::Object(m) = entry {
                m.insert(def.name.to_string(), info);
            }
        } else {
            out.insert(def.name.to_string(), info);
        }
    }
    Json::Object(out)
}

/// One function's `/functions/<name>` body.
pub fn function_info(def: &Def) -> Json {
    let mut m = Map::new();
    m.insert("name".into(), def.name.into());
    m.insert(
        "function".into(),
        format!("{}{}", def.name, def.signature).into(),
    );
    m.insert("description".into(), def.description.into());
    m.insert("module".into(), "graphite.render.functions".into());
    m.insert("group".into(), def.group.into());
    m.insert(
        "params".into(),
        Json::Array(def.params.iter().map(Param::to_json).collect()),
    );
    Json::Object(m)
}

/// The `/functions` response body as graphite writes it (an infinite default is
/// `1e9999`).
pub fn catalogue_body(grouped: bool, group: Option<&str>) -> String {
    let text = catalogue(grouped, group).to_string();
    let marker = serde_json::to_string(params::INF_MARKER).unwrap_or_default();
    text.replace(&marker, "1e9999")
}
