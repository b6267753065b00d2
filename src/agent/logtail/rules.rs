//! User rules from a TOML file: a regex with named groups → a metric.
//!
//! ```toml
//! [[rule]]
//! name = "upstream"                 # for messages; default "rule <n>"
//! regex = 'upstream=(?P<up>\S+) status=(?P<status>\d+) time=(?P<ms>[0-9.]+)'
//! metric = "upstream.{up}.{status}" # {group} is replaced by the group's text
//! type = "ms"                       # c (counter), g (gauge) or ms (timer)
//! value = "ms"                      # the group holding the value; c without it counts 1
//! ```
//!
//! Contract:
//! - [`Rules::compile`] keeps every rule that compiles and returns one message
//!   per rule that does not (bad regex, a `{group}` or `value` the regex does
//!   not define, a g/ms rule without `value`), naming the rule; the rest work.
//! - Every rule is tried on every line; a line counts as matched if one did.
//! - Per interval: a counter is the sum of its values (one line = 1 without
//!   `value`), a gauge its last value, a timer every value (one `|ms` each).
//! - Group text put into a name has every character other than letters,
//!   digits, `_` and `-` turned into `_` (an empty group gives `_`).
//! - A value group whose text is not a number skips that line for that rule
//!   and is counted per rule ([`Rules::take_bad_values`]).

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;

use super::metric::{Kind, Metric, Value};

/// One `[[rule]]` as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name used in messages.
    pub name: Option<String>,
    /// Regular expression (Rust `regex` syntax) with named groups.
    pub regex: String,
    /// Metric name template; `{group}` takes the text of a named group.
    pub metric: String,
    /// `c`, `g` or `ms`.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Named group holding the value.
    pub value: Option<String>,
}

/// The rules file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    #[serde(default)]
    pub rule: Vec<RuleSpec>,
}

/// Why a rules file could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("rules file {path}: {message}")]
    Toml { path: String, message: String },
}

enum Part {
    Text(String),
    Group(String),
}

struct Rule {
    label: String,
    re: Regex,
    template: Vec<Part>,
    kind: Kind,
    value: Option<String>,
}

/// The compiled rules and this interval's values.
pub struct Rules {
    compiled: Vec<Rule>,
    order: Vec<(String, Kind)>,
    index: HashMap<String, usize>,
    /// Per metric of `order`: counter sum / last gauge / timer values.
    values: Vec<Vec<Value>>,
    bad_values: Vec<u64>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("compiled", &self.compiled.len())
            .field("metrics", &self.order)
            .finish_non_exhaustive()
    }
}

fn parse_template(t: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("metric `{t}`: `{{` without `}}`"))?;
        parts.push(Part::Group(after[..close].to_owned()));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(parts)
}

fn sanitize(s: &str, out: &mut String) {
    if s.is_empty() {
        out.push('_');
    }
    out.extend(s.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '_'
        }
    }));
}

fn number(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::Int(i));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::Float)
}

fn compile_one(spec: &RuleSpec, label: &str) -> Result<Rule, String> {
    let re = Regex::new(&spec.regex).map_err(|e| format!("{label}: bad regex: {e}"))?;
    let groups: Vec<&str> = re.capture_names().flatten().collect();
    let template = parse_template(&spec.metric).map_err(|e| format!("{label}: {e}"))?;
    for p in &template {
        if let Part::Group(g) = p {
            if !groups.contains(&g.as_str()) {
                return Err(format!(
                    "{label}: metric `{}` uses {{{g}}} but the regex has no group named `{g}`",
                    spec.metric
                ));
            }
        }
    }
    if spec.metric.trim().is_empty() {
        return Err(format!("{label}: empty metric name"));
    }
    match (&spec.value, spec.kind) {
        (Some(v), _) if !groups.contains(&v.as_str()) => {
            return Err(format!(
                "{label}: value `{v}` is not a named group of the regex"
            ));
        }
        (None, Kind::Gauge | Kind::Timer) => {
            return Err(format!(
                "{label}: type {} needs `value` (the group holding the number)",
                spec.kind.as_str()
            ));
        }
        _ => {}
    }
    Ok(Rule {
        label: label.to_owned(),
        re,
        template,
        kind: spec.kind,
        value: spec.value.clone(),
    })
}

impl Rules {
    /// Compiles `specs`; returns the usable rules and one message per rule left out.
    pub fn compile(specs: &[RuleSpec]) -> (Self, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let label = match &spec.name {
                Some(n) => format!("rule `{n}`"),
                None => format!("rule {}", i + 1),
            };
            match compile_one(spec, &label) {
                Ok(r) => rules.push(r),
                Err(e) => errors.push(e),
            }
        }
        let n = rules.len();
        (
            Self {
                compiled: rules,
                order: Vec::new(),
                index: HashMap::new(),
                values: Vec::new(),
                bad_values: vec![0; n],
            },
            errors,
        )
    }

    /// Reads and compiles a rules file.
    pub fn load(path: &Path) -> Result<(Self, Vec<String>), RulesError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: p.clone(),
            source,
        })?;
        let file: RulesFile = toml::from_str(&text).map_err(|e| RulesError::Toml {
            path: p,
            message: e.to_string(),
        })?;
        Ok(Self::compile(&file.rule))
    }

    pub fn len(&self) -> usize {
        self.compiled.len()
    }

    pub fn is_empty(&self) -> bool {
        self.compiled.is_empty()
    }

    fn record(&mut self, name: String, kind: Kind, v: Value) {
        let i = if let Some(&i) = self.index.get(&name) {
            i
        } else {
            self.index.insert(name.clone(), self.order.len());
            self.order.push((name, kind));
            self.values.push(Vec::new());
            self.order.len() - 1
        };
        let slot = &mut self.values[i];
        match kind {
            Kind::Timer => slot.push(v),
            Kind::Gauge => *slot = vec![v],
            Kind::Counter => {
                let sum = match (slot.first(), v) {
                    (None, v) => v,
                    (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a.saturating_add(b)),
                    (Some(a), b) => Value::Float(a.as_f64() + b.as_f64()),
                };
                *slot = vec![sum];
            }
        }
    }

    /// Applies every rule to `line`; `true` if one matched.
    pub fn parse_line(&mut self, line: &str) -> bool {
        let mut matched = false;
        for ri in 0..self.compiled.len() {
            let rule = &self.compiled[ri];
            let Some(c) = rule.re.captures(line) else {
                continue;
            };
            matched = true;
            let value = match &rule.value {
                None => Some(Value::Int(1)),
                Some(g) => c.name(g).and_then(|m| number(m.as_str())),
            };
            let Some(value) = value else {
                self.bad_values[ri] += 1;
                continue;
            };
            let mut name = String::new();
            for p in &rule.template {
                match p {
                    Part::Text(t) => name.push_str(t),
                    Part::Group(g) => sanitize(c.name(g).map_or("", |m| m.as_str()), &mut name),
                }
            }
            let kind = rule.kind;
            self.record(name, kind, value);
        }
        matched
    }

    /// The metrics of the interval, in order of first appearance; resets.
    pub fn take_metrics(&mut self) -> Vec<Metric> {
        let mut out = Vec::new();
        for ((name, kind), values) in self.order.drain(..).zip(self.values.drain(..)) {
            out.extend(values.into_iter().map(|value| Metric {
                name: name.clone(),
                value,
                kind,
            }));
        }
        self.index.clear();
        out
    }

    /// `(rule label, lines whose value was not a number)` since the last call, for rules with any.
    pub fn take_bad_values(&mut self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for (r, n) in self.compiled.iter().zip(self.bad_values.iter_mut()) {
            if *n > 0 {
                out.push((r.label.clone(), std::mem::take(n)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(toml_text: &str) -> Vec<RuleSpec> {
        toml::from_str::<RulesFile>(toml_text).unwrap().rule
    }

    #[test]
    fn counters_gauges_timers() {
        let (mut r, errors) = Rules::compile(&specs(
            r#"
            [[rule]]
            name = "hits"
            regex = 'GET (?P<path>/\S*) (?P<status>\d+)'
            metric = "hits.{status}"
            type = "c"
            [[rule]]
            regex = 'queue=(?P<q>\d+)'
            metric = "queue"
            type = "g"
            value = "q"
            [[rule]]
            regex = 'took=(?P<ms>[0-9.]+)'
            metric = "took.{path}"
            type = "ms"
            value = "ms"
            "#,
        ));
        assert!(errors.len() == 1, "{errors:?}"); // {path} is not a group of rule 3
        assert!(errors[0].contains("rule 3") && errors[0].contains("{path}"));
        assert_eq!(r.len(), 2);
        assert!(r.parse_line("GET /a 200 queue=5"));
        assert!(r.parse_line("GET /b.c 200 queue=7"));
        assert!(r.parse_line("GET /b 500"));
        assert!(!r.parse_line("POST /a 200"));
        let lines = super::super::metric::statsd_lines(&r.take_metrics(), "p", "");
        assert_eq!(lines, ["p.hits.200:2|c", "p.queue:7|g", "p.hits.500:1|c"]);
        assert!(r.take_metrics().is_empty());
    }

    #[test]
    fn broken_rules_are_named_and_skipped() {
        let (mut r, errors) = Rules::compile(&specs(
            r#"
            [[rule]]
            name = "broken"
            regex = 'a(b'
            metric = "x"
            type = "c"
            [[rule]]
            name = "gauge-without-value"
            regex = 'a'
            metric = "x"
            type = "g"
            [[rule]]
            name = "ok"
            regex = 't=(?P<t>\S+)'
            metric = "t"
            type = "ms"
            value = "t"
            "#,
        ));
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].starts_with("rule `broken`: bad regex"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("rule `gauge-without-value`"),
            "{}",
            errors[1]
        );
        assert!(r.parse_line("t=1.5"));
        assert!(r.parse_line("t=abc"));
        assert_eq!(r.take_bad_values(), [("rule `ok`".to_owned(), 1)]);
        let lines = super::super::metric::statsd_lines(&r.take_metrics(), "", "");
        assert_eq!(lines, ["t:1.5|ms"]);
    }

    #[test]
    fn group_text_is_sanitized() {
        let (mut r, _) = Rules::compile(&specs(
            r#"
            [[rule]]
            regex = 'user=(?P<u>\S*)'
            metric = "u.{u}"
            type = "c"
            "#,
        ));
        r.parse_line("user=a.b/c");
        r.parse_line("user=");
        let lines = super::super::metric::statsd_lines(&r.take_metrics(), "", "");
        assert_eq!(lines, ["u.a_b_c:1|c", "u._:1|c"]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(
            toml::from_str::<RulesFile>("[[rule]]\nregex='a'\nmetric='x'\ntype='c'\nfoo=1\n")
                .is_err()
        );
        assert!(
            toml::from_str::<RulesFile>("[[rule]]\nregex='a'\nmetric='x'\ntype='h'\n").is_err()
        );
    }
}
