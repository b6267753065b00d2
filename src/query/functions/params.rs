//! Function parameters as graphite declares them (`functions/params.py`): the types, the
//! JSON `/functions` shows for them, and binding a call's arguments to them.
//!
//! Binding follows graphite's `validateParams`: positional arguments first (extra ones go
//! to a trailing `multiple` parameter), then keyword arguments by name; a missing required
//! parameter, an unknown keyword or a value of the wrong type is an error. Values are
//! converted as graphite's validators convert them (an integer given for a `float`
//! parameter becomes a float, `"true"` for a boolean becomes `True`). Where graphite only
//! logs a failed check and carries on (its default `ENFORCE_INPUT_VALIDATION = False`),
//! this answers the error instead, except for the deprecated `sumSeries`-style aggregation
//! names, which graphite's functions still accept.

use serde_json::{Map, Value as Json};

use super::{util, Value};
use crate::query::eval::EvalError;
use crate::query::time::parse_time_offset;

/// graphite's `ParamTypes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Boolean,
    Date,
    Float,
    Integer,
    Interval,
    IntOrInterval,
    IntOrInf,
    Node,
    NodeOrTag,
    Series,
    SeriesList,
    SeriesLists,
    String,
    Tag,
    Any,
    AggFunc,
    AggOrSeriesFunc,
}

impl ParamType {
    /// The name `/functions` shows.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Boolean => "boolean",
            ParamType::Date => "date",
            ParamType::Float => "float",
            ParamType::Integer => "integer",
            ParamType::Interval => "interval",
            ParamType::IntOrInterval => "intOrInterval",
            ParamType::IntOrInf => "intOrInf",
            ParamType::Node => "node",
            ParamType::NodeOrTag => "nodeOrTag",
            ParamType::Series => "series",
            ParamType::SeriesList => "seriesList",
            ParamType::SeriesLists => "seriesLists",
            ParamType::String => "string",
            ParamType::Tag => "tag",
            ParamType::Any => "any",
            ParamType::AggFunc => "aggFunc",
            ParamType::AggOrSeriesFunc => "aggOrSeriesFunc",
        }
    }
}

/// A parameter's default value as `/functions` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    Int(i64),
    Float(f64),
    Str(&'static str),
    Bool(bool),
    /// `float('inf')`, written `1e9999` in JSON.
    Inf,
}

/// A suggestion shown by editors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Suggestion {
    Int(i64),
    Str(&'static str),
}

/// One parameter of a function.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamType,
    pub required: bool,
    pub multiple: bool,
    pub default: Option<Default>,
    pub options: &'static [&'static str],
    pub suggestions: &'static [Suggestion],
    /// Declared an integer, but a float is passed on as it is: graphite's default
    /// `ENFORCE_INPUT_VALIDATION = False` only logs the failed check, and the function
    /// works with any number (`log(x, 2.5)`).
    pub float_ok: bool,
}

/// An optional parameter of type `ty`.
pub const fn p(name: &'static str, ty: ParamType) -> Param {
    Param {
        name,
        ty,
        required: false,
        multiple: false,
        default: None,
        options: &[],
        suggestions: &[],
        float_ok: false,
    }
}

impl Param {
    /// Required.
    #[must_use]
    pub const fn req(mut self) -> Self {
        self.required = true;
        self
    }

    /// Takes every remaining argument.
    #[must_use]
    pub const fn multi(mut self) -> Self {
        self.multiple = true;
        self
    }

    /// With a default.
    #[must_use]
    pub const fn def(mut self, d: Default) -> Self {
        self.default = Some(d);
        self
    }

    /// With a fixed list of accepted values.
    #[must_use]
    pub const fn opts(mut self, o: &'static [&'static str]) -> Self {
        self.options = o;
        self
    }

    /// An integer parameter that takes a float too (see [`Param::float_ok`]).
    #[must_use]
    pub const fn float_ok(mut self) -> Self {
        self.float_ok = true;
        self
    }

    /// With suggestions.
    #[must_use]
    pub const fn sugg(mut self, s: &'static [Suggestion]) -> Self {
        self.suggestions = s;
        self
    }

    /// The accepted values, as graphite lists them (sorted by `str`).
    pub fn all_options(&self) -> Vec<String> {
        let mut out: Vec<String> = self.options.iter().map(|s| (*s).to_string()).collect();
        match self.ty {
            ParamType::AggFunc => out.extend(util::AGG_FUNC_NAMES.iter().map(|s| (*s).to_string())),
            ParamType::AggOrSeriesFunc => {
                out.extend(util::AGG_FUNC_NAMES.iter().map(|s| (*s).to_string()));
                out.extend(
                    super::functions()
                        .iter()
                        .filter(|d| d.aggregator)
                        .map(|d| d.name.to_string()),
                );
            }
            _ => {}
        }
        out.sort();
        out.dedup();
        out
    }

    /// graphite's `Param.toJSON()`.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("name".into(), self.name.into());
        m.insert("type".into(), self.ty.name().into());
        if self.required {
            m.insert("required".into(), true.into());
        }
        if let Some(d) = self.default {
            m.insert(
                "default".into(),
                match d {
                    Default::Int(i) => i.into(),
                    Default::Float(f) => f.into(),
                    Default::Str(s) => s.into(),
                    Default::Bool(b) => b.into(),
                    Default::Inf => INF_MARKER.into(),
                },
            );
        }
        if self.multiple {
            m.insert("multiple".into(), true.into());
        }
        let options = self.all_options();
        if !options.is_empty() {
            let list: Vec<Json> = options.iter().map(|o| option_json(o)).collect();
            m.insert("options".into(), Json::Array(list));
        }
        if !self.suggestions.is_empty() {
            let s: Vec<Json> = self
                .suggestions
                .iter()
                .map(|s| match s {
                    Suggestion::Int(i) => Json::from(*i),
                    Suggestion::Str(s) => Json::from(*s),
                })
                .collect();
            m.insert("suggestions".into(), Json::Array(s));
        }
        Json::Object(m)
    }
}

/// An option written `"\0true"`, `"\0false"` or `"\0null"` stands for that JSON literal
/// (graphite's `smartSummarize` lists `True`, `False` and `None` among its options).
fn option_json(o: &str) -> Json {
    match o {
        "\0true" => Json::Bool(true),
        "\0false" => Json::Bool(false),
        "\0null" => Json::Null,
        other => other.into(),
    }
}

/// Stands for an infinite default in the catalogue's JSON; [`super::catalogue_body`] writes
/// it as `1e9999`, as graphite's encoder does.
pub const INF_MARKER: &str = "\u{0}Infinity";

/// The parameter name for a keyword argument spelled as in the Python signature where it
/// differs from graphite's declaration (`timeShift(…, alignDST=true)` for `alignDst`,
/// `stacked(…, stackName=…)` for `stack`): graphite only logs the mismatch and passes the
/// keyword on, so both spellings work there.
pub fn signature_alias<'n>(def: &super::Def, name: &'n str) -> &'n str {
    if def.params.iter().any(|p| p.name == name) {
        return name;
    }
    let inner = def.signature.trim_start_matches('(').trim_end_matches(')');
    inner
        .split(',')
        .map(|part| part.trim().split('=').next().unwrap_or(""))
        .position(|n| n == name)
        .and_then(|i| def.params.get(i))
        .map_or(name, |p| p.name)
}

/// Binds evaluated arguments to `params` (see the module documentation).
pub fn bind(
    func: &str,
    params: &[Param],
    args: Vec<Value>,
    kwargs: Vec<(&str, Value)>,
) -> Result<Vec<Vec<Value>>, EvalError> {
    let err = |m: String| EvalError::param(func, m);
    let mut bound: Vec<Vec<Value>> = vec![Vec::new(); params.len()];
    let last_multiple = params.last().is_some_and(|p| p.multiple);
    if args.len() + kwargs.len() > params.len() && !last_multiple {
        return Err(err(format!(
            "too many parameters: {} given, {} accepted",
            args.len() + kwargs.len(),
            params.len()
        )));
    }
    let n_args = args.len();
    for (i, arg) in args.into_iter().enumerate() {
        let idx = i.min(params.len().saturating_sub(1));
        let Some(param) = params.get(idx) else {
            return Err(err("takes no parameters".into()));
        };
        bound[idx].push(validate(func, param, arg)?);
    }
    for (name, value) in kwargs {
        let Some(idx) = params.iter().position(|p| p.name == name) else {
            return Err(err(format!("unexpected keyword argument {name}")));
        };
        if idx < n_args || (n_args > params.len() && last_multiple) {
            return Err(err(format!(
                "unexpected keyword argument {name} (already given by position)"
            )));
        }
        bound[idx].push(validate(func, &params[idx], value)?);
    }
    for (i, param) in params.iter().enumerate() {
        if param.required && bound[i].iter().all(|v| *v == Value::None) {
            return Err(err(format!("missing required parameter {:?}", param.name)));
        }
    }
    Ok(bound)
}

fn validate(func: &str, param: &Param, value: Value) -> Result<Value, EvalError> {
    if value == Value::None && (param.default.is_some() || !param.required) {
        return Ok(value);
    }
    let bad = |v: &Value| {
        EvalError::param(
            func,
            format!(
                "invalid {:?} value for parameter {:?}: {}",
                param.ty.name(),
                param.name,
                v.py_repr()
            ),
        )
    };
    let options = param.all_options();
    if !options.is_empty() {
        let ok = match &value {
            Value::Str(s) => options.iter().any(|o| o == s),
            Value::Bool(true) => options.iter().any(|o| o == "\0true"),
            Value::Bool(false) => options.iter().any(|o| o == "\0false"),
            _ => false,
        };
        if !ok {
            return Err(EvalError::param(
                func,
                format!(
                    "invalid option for parameter {:?}: {} (one of {})",
                    param.name,
                    value.py_repr(),
                    options.join(", ")
                ),
            ));
        }
    }
    Ok(match param.ty {
        ParamType::SeriesList | ParamType::Series => match value {
            Value::Series(_) => value,
            other => return Err(bad(&other)),
        },
        ParamType::SeriesLists => match value {
            Value::SeriesLists(_) => value,
            other => return Err(bad(&other)),
        },
        ParamType::Float => match value {
            Value::Int(i) => Value::Float(i as f64),
            Value::Float(_) => value,
            Value::Bool(b) => Value::Float(f64::from(u8::from(b))),
            Value::Str(ref s) => match s.trim().parse::<f64>() {
                Ok(f) => Value::Float(f),
                Err(_) => return Err(bad(&value)),
            },
            other => return Err(bad(&other)),
        },
        ParamType::Integer | ParamType::Node => match value {
            Value::Int(_) => value,
            Value::Float(_) if param.float_ok => value,
            Value::Bool(b) => Value::Int(i64::from(b)),
            Value::Str(ref s) => match s.trim().parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => return Err(bad(&value)),
            },
            other => return Err(bad(&other)),
        },
        ParamType::IntOrInf => match value {
            Value::Int(_) => value,
            Value::Float(f) if f == f64::INFINITY => value,
            other => return Err(bad(&other)),
        },
        ParamType::Boolean => match value {
            Value::Bool(_) => value,
            Value::Str(ref s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::Str(ref s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            Value::Int(0) => Value::Bool(false),
            Value::Int(1) => Value::Bool(true),
            Value::Float(f) if f.total_cmp(&0.0).is_eq() || f.total_cmp(&-0.0).is_eq() => {
                Value::Bool(false)
            }
            Value::Float(f) if f.total_cmp(&1.0).is_eq() => Value::Bool(true),
            other => return Err(bad(&other)),
        },
        ParamType::Interval | ParamType::IntOrInterval => match value {
            Value::Int(_) if param.ty == ParamType::IntOrInterval => value,
            Value::Str(ref s) => match parse_time_offset(s) {
                Ok(_) => value,
                // Say why: graphite-web answers `'5m'` with a 500 page.
                Err(e) => {
                    return Err(EvalError::param(
                        func,
                        format!(
                            "invalid interval for parameter {:?}: {}: {e} (units: s, min, h, d, w, mon, y)",
                            param.name,
                            value.py_repr()
                        ),
                    ))
                }
            },
            other => return Err(bad(&other)),
        },
        ParamType::NodeOrTag => match value {
            Value::Int(_) | Value::Str(_) => value,
            other => return Err(bad(&other)),
        },
        ParamType::String | ParamType::Tag | ParamType::AggFunc | ParamType::AggOrSeriesFunc => {
            match value {
                Value::Str(_) => value,
                other => return Err(bad(&other)),
            }
        }
        ParamType::Date | ParamType::Any => value,
    })
}

/// A parameter list built at start-up, kept for the life of the process (the function
/// table is built once).
pub fn ps(list: Vec<Param>) -> &'static [Param] {
    Vec::leak(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_interval_says_why() {
        let params = [p("windowSize", ParamType::IntOrInterval).req()];
        let err = bind(
            "movingAverage",
            &params,
            vec![Value::Str("5m".into())],
            Vec::new(),
        )
        .expect_err("'5m' is not a graphite interval");
        let text = err.to_string();
        assert!(
            text.contains("windowSize") && text.contains("'m'"),
            "{text}"
        );
        assert!(bind(
            "movingAverage",
            &params,
            vec![Value::Str("5min".into())],
            Vec::new()
        )
        .is_ok());
        assert!(bind("movingAverage", &params, vec![Value::Int(5)], Vec::new()).is_ok());
        let interval = [p("intervalString", ParamType::Interval).req()];
        assert!(bind("summarize", &interval, vec![Value::Int(5)], Vec::new()).is_err());
    }
}
