//! The "Alias" group: functions that only rename series (`alias`, `aliasByNode`,
//! `aliasSub`, `legendValue`, …), plus `substr`, which `aliasByMetric` is built on.

#![allow(
    clippy::unnecessary_wraps,
    reason = "every function has the signature the dispatcher calls"
)]

use std::fmt::Write as _;

use super::params::{p, ps, Default as D, Param, ParamType as T};
use super::util::{self, Agg};
use super::{d, Args, Def, Value, MAX_NAME_BYTES};
use crate::query::eval::EvalError;
use crate::query::series::Series;

const CASE: &[Param] = &[
    p("seriesList", T::SeriesList).req(),
    p("pos", T::Integer).multi(),
];

/// The Alias group's definitions.
pub fn defs() -> Vec<Def> {
    vec![
        d("alias", "Alias", "(seriesList, newName)", "Gives every series the same new name.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("newName", T::String).req(),
        ]), |a| {
            let new = a.str(1, "").to_string();
            if new.len() > MAX_NAME_BYTES {
                return Err(a.err(format!("newName is longer than {MAX_NAME_BYTES} bytes")));
            }
            let mut list = a.series(0);
            for s in &mut list {
                s.name.clone_from(&new);
            }
            Ok(list)
        }),
        d("aliasByMetric", "Alias", "(seriesList)", "Renames each series to the last node of its (innermost) path.", ps(vec![
            p("seriesList", T::SeriesList).req(),
        ]), |a| {
            let mut list = a.series(0);
            substr(&mut list, -1, 0);
            Ok(list)
        }),
        d("aliasByNode", "Alias", "(seriesList, *nodes)", "Renames each series to the given nodes (negative counts from the end) or tags of its path, joined by dots.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("nodes", T::NodeOrTag).req().multi(),
        ]), alias_by_node),
        d("aliasByTags", "Alias", "(seriesList, *tags)", "Renames each series to the values of the given tags (or nodes), joined by dots.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("tags", T::NodeOrTag).req().multi(),
        ]), alias_by_node),
        d("aliasSub", "Alias", "(seriesList, search, replace)", "Renames each series by a regular-expression substitution (\\1 or \\g<1> in the replacement refer to groups).", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("search", T::String).req(),
            p("replace", T::String).req(),
        ]), alias_sub),
        d("legendValue", "Alias", "(seriesList, *valueTypes)", "Appends summary values (avg, max, last, …) of each series to its name.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("valuesTypes", T::String).multi().opts(LEGEND_OPTIONS),
        ]), legend_value),
        d("upper", "Alias", "(seriesList, *pos)", "Upper-cases the names (or only the characters at the given positions).", CASE, |a| change_case(a, true)),
        d("lower", "Alias", "(seriesList, *pos)", "Lower-cases the names (or only the characters at the given positions).", CASE, |a| change_case(a, false)),
        d("substr", "Special", "(seriesList, start=0, stop=0)", "Renames each series to a slice of the nodes of its innermost path.", ps(vec![
            p("seriesList", T::SeriesList).req(),
            p("start", T::Node).def(D::Int(0)),
            p("stop", T::Node).def(D::Int(0)),
        ]), |a| {
            let (start, stop) = (a.int(1, 0), a.int(2, 0));
            let mut list = a.series(0);
            substr(&mut list, start, stop);
            Ok(list)
        }),
    ]
}

const LEGEND_OPTIONS: &[&str] = &[
    "average",
    "avg_zero",
    "median",
    "sum",
    "min",
    "max",
    "diff",
    "stddev",
    "count",
    "range",
    "multiply",
    "last",
    "rangeOf",
    "avg",
    "total",
    "current",
    "averageSeries",
    "avg_zeroSeries",
    "medianSeries",
    "sumSeries",
    "minSeries",
    "maxSeries",
    "diffSeries",
    "stddevSeries",
    "countSeries",
    "rangeSeries",
    "multiplySeries",
    "lastSeries",
    "rangeOfSeries",
    "avgSeries",
    "totalSeries",
    "currentSeries",
    "si",
    "binary",
];

fn alias_by_node(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let nodes = a.rest(1).to_vec();
    let mut list = a.series(0);
    for s in &mut list {
        s.name = util::agg_key(s, &nodes);
    }
    Ok(list)
}

/// graphite's `substr(seriesList, start, stop)`.
pub fn substr(list: &mut [Series], start: i64, stop: i64) {
    for s in list {
        let name = &s.name;
        let left = name.rfind('(').map_or(0, |i| i + 1);
        let right = name.find(')').unwrap_or(name.len() + 1);
        let clean = name.get(left..right.min(name.len())).unwrap_or("");
        let clean = if right < left { "" } else { clean };
        let nodes: Vec<&str> = clean.split('.').collect();
        let (a, b) = util::py_slice(nodes.len(), start, (stop != 0).then_some(stop));
        let joined = nodes[a..b].join(".");
        s.name = match joined.find(',') {
            Some(i) => joined[..i].to_string(),
            None => joined,
        };
    }
}

/// Translates a Python `re.sub` replacement (`\1`, `\g<name>`, `\\`, `\n`) to the
/// `regex` crate's syntax (`${1}`, `$$`).
pub fn python_replacement(rep: &str) -> String {
    let mut out = String::with_capacity(rep.len());
    let mut chars = rep.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        if num.len() == 2 {
                            break;
                        }
                        num.push(d);
                        chars.next();
                    }
                    let _ = write!(out, "${{{num}}}");
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        let _ = write!(out, "${{{name}}}");
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// The most memory one compiled regular expression may take (the `regex` crate's
/// `size_limit`; its default is 10 MiB): matching is linear in the input, compiling is
/// linear in this.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a Python regular expression for the `regex` crate; one that would compile
/// larger than [`REGEX_SIZE_LIMIT`] is a parameter error (400).
pub fn compile(a: &Args<'_, '_>, pattern: &str) -> Result<regex::Regex, EvalError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| a.err(format!("invalid regular expression: {e}")))
}

/// `aliasSub`: each match replaced by the replacement with its groups. Back references
/// can make a name longer than its input many times over (`\1\1\1…`, nested calls), so
/// the expansion stops once the name passes [`MAX_NAME_BYTES`] and the call fails.
fn alias_sub(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let re = compile(a, a.str(1, ""))?;
    let rep = python_replacement(a.str(2, ""));
    let mut list = a.series(0);
    for s in &mut list {
        a.ctx.tick()?;
        let mut size = s.name.len();
        let mut over = false;
        let name = re.replace_all(&s.name, |caps: &regex::Captures<'_>| {
            let mut expanded = String::new();
            if !over {
                caps.expand(&rep, &mut expanded);
                size += expanded.len();
                over = size > MAX_NAME_BYTES;
            }
            expanded
        });
        if over {
            return Err(a.err(format!(
                "the new name of {} would be longer than {MAX_NAME_BYTES} bytes",
                s.name
            )));
        }
        s.name = name.into_owned();
    }
    Ok(list)
}

fn legend_value(a: &mut Args<'_, '_>) -> Result<Vec<Series>, EvalError> {
    let mut types: Vec<String> = a.rest(1).iter().map(Value::py_str).collect();
    let system = match types.last().map(String::as_str) {
        Some(s @ ("si" | "binary")) => Some(s.to_string()),
        _ => None,
    };
    if system.is_some() {
        types.pop();
    }
    let mut list = a.series(0);
    for t in &types {
        let agg = Agg::from_name(t);
        if let Some(system) = &system {
            for s in &mut list {
                let formatted = match agg {
                    None => "(?)".to_string(),
                    Some(agg) => match agg.apply(&s.values) {
                        None => "None".to_string(),
                        Some(v) => {
                            let (v, prefix) = util::format_units(v, system, None);
                            format!("{v:.2}{prefix}")
                        }
                    },
                };
                s.name = format!("{:<20}{t:<5}{formatted:<10}", s.name);
            }
            continue;
        }
        for s in &mut list {
            let value = match agg {
                Some(agg) => agg.apply(&s.values).map_or_else(
                    || "None".to_string(),
                    |v| {
                        if util::agg_is_int(&util::known_with_ints(s, 0..s.values.len()), agg) {
                            format!("{}", v as i64)
                        } else {
                            super::py_float(v)
                        }
                    },
                ),
                None => "(?)".to_string(),
            };
            s.name = format!("{} ({t}: {value})", s.name);
        }
    }
    Ok(list)
}

fn change_case(a: &mut Args<'_, '_>, upper: bool) -> Result<Vec<Series>, EvalError> {
    let pos: Vec<i64> = a
        .rest(1)
        .iter()
        .filter_map(|v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })
        .collect();
    let mut list = a.series(0);
    for s in &mut list {
        if pos.is_empty() {
            s.name = if upper {
                s.name.to_uppercase()
            } else {
                s.name.to_lowercase()
            };
            continue;
        }
        let mut chars: Vec<String> = s.name.chars().map(String::from).collect();
        for &i in &pos {
            if let Some(c) = util::py_index(chars.len(), i).and_then(|k| chars.get_mut(k)) {
                *c = if upper {
                    c.to_uppercase()
                } else {
                    c.to_lowercase()
                };
            }
        }
        s.name = chars.concat();
    }
    Ok(list)
}
