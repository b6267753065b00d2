//! Helpers shared by the render functions: graphite's aggregation functions
//! (`functions/aggfuncs.py`, `functions/safe.py`), `normalize` (common step = LCM of the
//! steps), the xFilesFactor test, node and tag lookup for names (`aggKey`), and Python's
//! number formatting (`%g`, `str(float)`, `round(x, 6)`).

use std::fmt::Write as _;

use crate::query::eval::EvalError;
use crate::query::grammar::{self, Expr};
use crate::query::json::consolidate_marked;
use crate::query::series::{parse_tags, Series};

use super::{py_float, Value};
use crate::py::format::percent_g6;

/// Names `aggregate`, `groupByNode`, `highest`… accept (`aggFuncs` then `aggFuncAliases`).
pub const AGG_FUNC_NAMES: &[&str] = &[
    "average", "avg_zero", "median", "sum", "min", "max", "diff", "stddev", "count", "range",
    "multiply", "last", "rangeOf", "avg", "total", "current",
];

/// One of graphite's aggregation functions over a row of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Average,
    AvgZero,
    Median,
    Sum,
    Min,
    Max,
    Diff,
    Stddev,
    Count,
    Range,
    Multiply,
    Last,
}

/// Whether Python holds graphite's aggregation `agg` of these values (each with whether it
/// is a Python int) as an int: a sum or difference of ints only, a count, or the int that
/// `min`, `max`, `last` or an odd median picks. Averages, deviations, ranges and products
/// are floats in Python (`safeSubtract` and `safeMul` convert).
pub fn agg_is_int(known: &[(f64, bool)], agg: Agg) -> bool {
    let pick = |better: fn(f64, f64) -> bool| {
        let mut best: Option<(f64, bool)> = None;
        for &(x, int) in known {
            if best.is_none_or(|(b, _)| better(x, b)) {
                best = Some((x, int));
            }
        }
        best.is_some_and(|(_, int)| int)
    };
    match agg {
        Agg::Count => true,
        Agg::Sum | Agg::Diff => !known.is_empty() && known.iter().all(|(_, int)| *int),
        Agg::Min => pick(|x, b| x < b),
        Agg::Max => pick(|x, b| x > b),
        Agg::Last => known.last().is_some_and(|(_, int)| *int),
        Agg::Median if known.len() % 2 == 1 => {
            let mut sorted = known.to_vec();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            sorted[sorted.len() / 2].1
        }
        _ => false,
    }
}

/// The known values of `s` in `range`, each with whether it is a Python int.
pub fn known_with_ints(s: &Series, range: std::ops::Range<usize>) -> Vec<(f64, bool)> {
    range
        .filter_map(|i| s.values.get(i).copied().flatten().map(|x| (x, s.is_int(i))))
        .collect()
}

impl Agg {
    /// `getAggFunc`: a name or alias; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Agg> {
        Some(match name {
            "average" | "avg" => Agg::Average,
            "avg_zero" => Agg::AvgZero,
            "median" => Agg::Median,
            "sum" | "total" => Agg::Sum,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "diff" => Agg::Diff,
            "stddev" => Agg::Stddev,
            "count" => Agg::Count,
            "range" | "rangeOf" => Agg::Range,
            "multiply" => Agg::Multiply,
            "last" | "current" => Agg::Last,
            _ => return None,
        })
    }

    /// [`Agg::from_name`] with graphite's error message.
    pub fn parse(func: &str, name: &str) -> Result<Agg, EvalError> {
        Agg::from_name(name).ok_or_else(|| {
            EvalError::param(func, format!("unsupported aggregation function: {name}"))
        })
    }

    /// Applies the function to a row (`None` is a missing value), as `safe.py` does.
    pub fn apply(self, row: &[Option<f64>]) -> Option<f64> {
        let vals = || row.iter().filter_map(|v| *v);
        match self {
            Agg::Average => safe_avg(row),
            Agg::AvgZero => {
                if row.is_empty() {
                    None
                } else {
                    Some(py_sum(row.iter().map(|v| v.unwrap_or(0.0))) / row.len() as f64)
                }
            }
            Agg::Median => {
                let mut v: Vec<f64> = vals().collect();
                if v.is_empty() {
                    return None;
                }
                v.sort_by(f64::total_cmp);
                let mid = v.len() / 2;
                #[expect(
                    clippy::manual_midpoint,
                    reason = "Python's (a + b) / 2, overflow included"
                )]
                Some(if v.len() % 2 == 0 {
                    (v[mid - 1] + v[mid]) / 2.0
                } else {
                    v[mid]
                })
            }
            Agg::Sum => safe_sum(row),
            Agg::Min => vals().reduce(|a, b| if b < a { b } else { a }),
            Agg::Max => vals().reduce(|a, b| if b > a { b } else { a }),
            Agg::Diff => {
                let mut it = vals();
                let first = it.next()?;
                Some(py_sum(std::iter::once(first).chain(it.map(|x| -x))))
            }
            Agg::Stddev => {
                let avg = safe_avg(row)?;
                let n = vals().count() as f64;
                let mut sum = 0.0;
                for v in vals() {
                    sum += (v - avg) * (v - avg);
                }
                Some((sum / n).sqrt())
            }
            Agg::Count => Some(vals().count() as f64),
            Agg::Range => {
                let max = Agg::Max.apply(row)?;
                let min = Agg::Min.apply(row)?;
                Some(max - min)
            }
            Agg::Multiply => {
                if row.iter().any(Option::is_none) || row.is_empty() {
                    return None;
                }
                vals().reduce(|a, b| a * b)
            }
            Agg::Last => row.iter().rev().find_map(|v| *v),
        }
    }
}

/// Python's `sum()` of floats: from 0, left to right.
pub fn py_sum(it: impl Iterator<Item = f64>) -> f64 {
    it.fold(0.0, |a, b| a + b)
}

/// `safeSum`: `None` when no value.
pub fn safe_sum(row: &[Option<f64>]) -> Option<f64> {
    let mut any = false;
    let s = py_sum(row.iter().filter_map(|v| {
        any |= v.is_some();
        *v
    }));
    any.then_some(s)
}

/// `safeAvg`.
pub fn safe_avg(row: &[Option<f64>]) -> Option<f64> {
    let n = row.iter().filter(|v| v.is_some()).count();
    if n == 0 {
        return None;
    }
    Some(py_sum(row.iter().filter_map(|v| *v)) / n as f64)
}

/// `safeDiv`: `None` for a missing value or a zero divisor.
pub fn safe_div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let a = a?;
    let b = b?;
    if b == 0.0 {
        return None;
    }
    Some(a / b)
}

/// `xff(nonNull, total, xFilesFactor)`.
pub fn xff(non_null: usize, total: f64, x_files_factor: f64) -> bool {
    if non_null == 0 || total == 0.0 {
        return false;
    }
    non_null as f64 / total >= x_files_factor
}

/// `xffValues(values, xFilesFactor)`.
pub fn xff_values(values: &[Option<f64>], x_files_factor: f64) -> bool {
    if values.is_empty() {
        return false;
    }
    let n = values.iter().filter(|v| v.is_some()).count();
    xff(n, values.len() as f64, x_files_factor)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// graphite's `lcm`.
pub fn lcm(a: i64, b: i64) -> i64 {
    if a == b {
        return a;
    }
    let (a, b) = if a < b { (b, a) } else { (a, b) };
    if b == 0 {
        return a;
    }
    a / gcd(a, b) * b
}

/// Consolidates `s` by `factor` points (graphite's `consolidate(valuesPerPoint)` as the
/// series is then iterated): values merged with its consolidation function, step scaled.
pub fn consolidate_by(s: &mut Series, factor: i64) {
    if factor > 1 {
        let (values, ints) = consolidate_marked(
            &s.values,
            s.ints.as_deref(),
            usize::try_from(factor).unwrap_or(1),
            s.consolidation,
            s.x_files_factor,
        );
        s.values = values;
        s.ints = ints;
        s.step *= factor;
    }
}

/// graphite's `normalize([list, …])`: every series consolidated to the LCM of the steps;
/// returns `(start, end, step)` with start the earliest start and end the latest end
/// trimmed to a whole number of steps. `None` when there is no series.
pub fn normalize(series: &mut [Series]) -> Option<(i64, i64, i64)> {
    let step = series.iter().map(|s| s.step).reduce(lcm)?;
    for s in series.iter_mut() {
        if s.step > 0 {
            consolidate_by(s, step / s.step);
        }
    }
    let start = series.iter().map(|s| s.start).min()?;
    let mut end = series.iter().map(|s| s.end).max()?;
    if step > 0 {
        end -= (end - start).rem_euclid(step);
    }
    Some((start, end, step))
}

/// `f` of every row of the series, row `i` holding the value at `i` of each series
/// (`izip_longest`: a series too short gives `None`).
pub fn map_rows(
    series: &[Series],
    mut f: impl FnMut(&[Option<f64>]) -> Option<f64>,
) -> Vec<Option<f64>> {
    let mut row = Vec::with_capacity(series.len());
    (0..max_len(series))
        .map(|i| {
            row.clear();
            row.extend(series.iter().map(|s| s.values.get(i).copied().flatten()));
            f(&row)
        })
        .collect()
}

/// `f` of the values at each index of `a` and `b` (`izip_longest` of two series' values).
pub fn map_pairs(
    a: &[Option<f64>],
    b: &[Option<f64>],
    f: impl Fn(Option<f64>, Option<f64>) -> Option<f64>,
) -> Vec<Option<f64>> {
    let at = |values: &[Option<f64>], i: usize| values.get(i).copied().flatten();
    (0..a.len().max(b.len()))
        .map(|i| f(at(a, i), at(b, i)))
        .collect()
}

/// The longest length among the series.
pub fn max_len(series: &[Series]) -> usize {
    series.iter().map(|s| s.values.len()).max().unwrap_or(0)
}

/// Python's `list[i]` position for `len` items (negative counts from the end), if there
/// is one.
pub fn py_index(len: usize, i: i64) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let k = if i < 0 { len_i.checked_add(i)? } else { i };
    usize::try_from(k).ok().filter(|&k| k < len)
}

/// A Python slice bound `i` for `len` items, clamped (negative counts from the end):
/// `list[:i]` keeps this many.
pub fn py_bound(len: usize, i: i64) -> usize {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let i = if i < 0 {
        (len_i + i).max(0)
    } else {
        i.min(len_i)
    };
    usize::try_from(i).unwrap_or(0)
}

/// Python slice bounds for `len` items: `(start, stop)` clamped as `list[start:stop]`.
pub fn py_slice(len: usize, start: i64, stop: Option<i64>) -> (usize, usize) {
    let s = py_bound(len, start);
    let e = stop.map_or(len, |i| py_bound(len, i));
    (s, e.max(s))
}

/// `formatPathExpressions`: the distinct path expressions, in order, joined by `,`.
pub fn format_path_expressions(series: &[Series]) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut order: Vec<&str> = Vec::new();
    for s in series {
        if seen.insert(s.path_expression.as_str()) {
            order.push(&s.path_expression);
        }
    }
    order.join(",")
}

/// `_getFirstPathExpression(name)`: the first path inside a wrapped name
/// (`scale(sumSeries(a.*),2)` → `a.*`).
pub fn first_path_expression(name: &str) -> Option<String> {
    let (expr, _) = grammar::parse_prefix(name, grammar::Options::default()).ok()?;
    let mut e = &expr;
    loop {
        match e {
            Expr::Path(p) => return Some(p.text.to_string()),
            Expr::Call(c) => match c.args.first().map(|a| &a.value) {
                Some(grammar::Value::Expr(inner)) => e = inner,
                _ => return None,
            },
            Expr::Template(t) => e = &t.inner,
        }
    }
}

/// `getNodeOrTag(series, n, pathExpression)`: node `n` of the name (tags split off,
/// negative from the end), or the tag named `n`, or "".
pub fn node_or_tag(s: &Series, n: &Value, path: Option<&str>) -> String {
    if let Value::Int(i) = n {
        let name = path.unwrap_or(&s.name);
        let base = name.split(';').next().unwrap_or("");
        let nodes: Vec<&str> = base.split('.').collect();
        let idx = if *i < 0 {
            i64::try_from(nodes.len()).unwrap_or(0) + i
        } else {
            *i
        };
        if let Some(node) = usize::try_from(idx).ok().and_then(|i| nodes.get(i)) {
            return (*node).to_string();
        }
    }
    s.tag(&n.py_str()).unwrap_or("").to_string()
}

/// `aggKey(series, nodes)`: the nodes or tags joined by `.`; for a wrapped name, nodes
/// come from its first path expression.
pub fn agg_key(s: &Series, nodes: &[Value]) -> String {
    let path = if s.name.ends_with(')') {
        first_path_expression(&s.name)
    } else {
        None
    };
    nodes
        .iter()
        .map(|n| node_or_tag(s, n, path.as_deref()))
        .collect::<Vec<_>>()
        .join(".")
}

/// Python's `'%d' % x` for a float (truncated).
pub fn fmt_d(x: f64) -> String {
    if x.is_finite() {
        format!("{}", x.trunc() as i64)
    } else {
        py_float(x)
    }
}

/// Python's `round(x, 6)`.
pub fn round6(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.6}").parse().unwrap_or(x)
}

/// Python's `str()` of a number argument (`2`, `2.5`).
pub fn num_str(v: &Value) -> String {
    v.py_str()
}

/// A new series named `name` over `[start, end)` with `step`, tags `{"name": name}`.
pub fn new_series(
    name: &str,
    start: i64,
    end: i64,
    step: i64,
    values: Vec<Option<f64>>,
    x_files_factor: f64,
) -> Series {
    let mut s = Series::new(name, start, end, step, values);
    s.tags = tags_for_name(name);
    s.x_files_factor = x_files_factor;
    s
}

/// The tags graphite gives a new series: `{"name": name}` for a function-like name
/// (`^[a-z]+\(.+\)$`, any case), else the tags parsed from the name.
pub fn tags_for_name(name: &str) -> Vec<(String, String)> {
    let letters = name.bytes().take_while(u8::is_ascii_alphabetic).count();
    let rest = &name[letters..];
    if letters > 0 && rest.len() >= 3 && rest.starts_with('(') && rest.ends_with(')') {
        vec![("name".to_string(), name.to_string())]
    } else {
        parse_tags(name)
    }
}

/// `safePow`: `None` where Python's `math.pow` raises (a negative base with a fractional
/// exponent, zero to a negative power, overflow).
pub fn safe_pow(a: f64, b: f64) -> Option<f64> {
    if a == 0.0 && b < 0.0 {
        return None;
    }
    if a < 0.0 && b.is_finite() && b.fract() != 0.0 {
        return None;
    }
    let r = a.powf(b);
    (r.is_finite() || !a.is_finite() || !b.is_finite()).then_some(r)
}

/// graphite's `format_units(v, system=…, units=…)` (`render/glyph.py`): the value scaled by
/// the largest unit of the system (`si`: k M G T P, `binary`: Ki Mi Gi Ti Pi) it reaches,
/// and the prefix (followed by `units`).
pub fn format_units(v: f64, system: &str, units: Option<&str>) -> (f64, String) {
    const SI: &[(&str, f64)] = &[("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)];
    const BINARY: &[(&str, f64)] = &[
        ("Pi", 1_125_899_906_842_624.0),
        ("Ti", 1_099_511_627_776.0),
        ("Gi", 1_073_741_824.0),
        ("Mi", 1_048_576.0),
        ("Ki", 1024.0),
    ];
    let table = if system == "binary" { BINARY } else { SI };
    let whole = |x: f64| {
        if x - x.floor() < 0.000_000_000_01 && v > 1.0 {
            x.floor()
        } else {
            x
        }
    };
    for (prefix, size) in table {
        if v.abs() >= *size {
            let v2 = whole(v / size);
            return (v2, format!("{prefix}{}", units.unwrap_or("")));
        }
    }
    (whole(v), units.unwrap_or("").to_string())
}

/// Python's `fmt % value` for one float and the common conversions (`%d`, `%i`, `%f`,
/// `%.Nf`, `%e`, `%g`, `%s`, `%r`, `%%`); `None` for anything else.
pub fn py_percent(fmt: &str, value: f64) -> Option<String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            precision = Some(digits.parse().unwrap_or(0));
        }
        let conv = chars.next()?;
        if conv == '%' {
            out.push('%');
            continue;
        }
        if used {
            return None;
        }
        used = true;
        match conv {
            'd' | 'i' => out.push_str(&fmt_d(value)),
            'f' | 'F' => {
                let p = precision.unwrap_or(6);
                let _ = write!(out, "{value:.p$}");
            }
            'e' => {
                let p = precision.unwrap_or(6);
                let s = format!("{value:.p$e}");
                let (m, e) = s.split_once('e')?;
                let e: i32 = e.parse().ok()?;
                let sign = if e < 0 { '-' } else { '+' };
                let _ = write!(out, "{m}e{sign}{:02}", e.unsigned_abs());
            }
            'g' if precision.is_none() => out.push_str(&percent_g6(value)),
            's' | 'r' => out.push_str(&py_float(value)),
            _ => return None,
        }
    }
    used.then_some(out)
}

/// Series grouped by key, groups in order of first appearance (a dict of lists in
/// graphite); adding is O(1).
#[derive(Default)]
pub struct Groups {
    groups: Vec<(String, Vec<Series>)>,
    index: std::collections::HashMap<String, usize>,
}

impl Groups {
    /// Adds `s` to the group `key`.
    pub fn push(&mut self, key: String, s: Series) {
        if let Some(&i) = self.index.get(&key) {
            self.groups[i].1.push(s);
        } else {
            self.index.insert(key.clone(), self.groups.len());
            self.groups.push((key, vec![s]));
        }
    }

    /// The number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there is no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups, in order of first appearance.
    pub fn into_groups(self) -> Vec<(String, Vec<Series>)> {
        self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's `'%g' % x` for the shapes names use.
    #[test]
    fn percent_g_like_python() {
        for (x, want) in [
            (0.5, "0.5"),
            (1.0, "1"),
            (2.5, "2.5"),
            (100_000.0, "100000"),
            (1_000_000.0, "1e+06"),
            (123_456_789.0, "1.23457e+08"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (-1.25e-7, "-1.25e-07"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(percent_g6(x), want, "{x}");
        }
    }

    #[test]
    fn printf_subset() {
        assert_eq!(py_percent("value %d", 5.7).as_deref(), Some("value 5"));
        assert_eq!(py_percent("%.1f units", 2.25).as_deref(), Some("2.2 units"));
        assert_eq!(py_percent("v=%s %%", 1.5).as_deref(), Some("v=1.5 %"));
        assert_eq!(py_percent("%e", 12345.678).as_deref(), Some("1.234568e+04"));
        assert_eq!(py_percent("%x", 1.0), None);
        assert_eq!(py_percent("%d %d", 1.0), None);
        assert_eq!(py_percent("no conversion", 1.0), None);
    }

    #[test]
    fn unit_systems() {
        assert_eq!(
            format_units(1536.0, "binary", None),
            (1.5, "Ki".to_string())
        );
        assert_eq!(
            format_units(2000.0, "si", Some("B")),
            (2.0, "kB".to_string())
        );
        assert_eq!(format_units(5.0, "si", None), (5.0, String::new()));
        assert_eq!(format_units(-3e9, "si", None), (-3.0, "G".to_string()));
    }

    #[test]
    fn groups_keep_first_appearance_order() {
        let mut g = Groups::default();
        for (k, n) in [("b", "x.1"), ("a", "x.2"), ("b", "x.3")] {
            g.push(k.to_string(), Series::new(n, 0, 10, 10, vec![None]));
        }
        let groups = g.into_groups();
        let keys: Vec<&str> = groups.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(groups[0].1.len(), 2);
    }
}
