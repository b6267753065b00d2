//! Python's `json.dumps` for the small documents the metrics, events and tags endpoints
//! answer with: `", "` and `": "` separators, or `indent=2`; `sort_keys` on request;
//! `ensure_ascii` (every non-ASCII character a `\uXXXX` escape) or UTF-8 as is; floats
//! as Python's `repr`.

use std::fmt::Write as _;

use crate::query::json::write_py_json_float;

/// A JSON value with Python's key order (insertion order).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(s.into())
    }

    /// An object from `(key, value)` pairs, in order.
    pub fn object<const N: usize>(pairs: [(&str, Value); N]) -> Self {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// A list of strings.
    pub fn strings<S: AsRef<str>>(items: &[S]) -> Self {
        Value::List(items.iter().map(|s| Value::str(s.as_ref())).collect())
    }
}

/// How to write a document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// `indent=2`.
    pub pretty: bool,
    /// `sort_keys=True`.
    pub sort_keys: bool,
    /// `ensure_ascii=True` (Python's default).
    pub ensure_ascii: bool,
}

/// `json.dumps(value, ...)`.
pub fn dumps(value: &Value, style: Style) -> String {
    let mut out = String::new();
    write_value(&mut out, value, style, 0);
    out
}

fn newline(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_value(out: &mut String, value: &Value, style: Style, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => write_py_json_float(out, *f),
        Value::Str(s) => write_str(out, s, style.ensure_ascii),
        Value::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                separator(out, i, style, level);
                write_value(out, item, style, level + 1);
            }
            if style.pretty {
                newline(out, level);
            }
            out.push(']');
        }
        Value::Object(pairs) => {
            if pairs.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut refs: Vec<&(String, Value)> = pairs.iter().collect();
            if style.sort_keys {
                refs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            for (i, (k, v)) in refs.into_iter().enumerate() {
                separator(out, i, style, level);
                write_str(out, k, style.ensure_ascii);
                out.push_str(": ");
                write_value(out, v, style, level + 1);
            }
            if style.pretty {
                newline(out, level);
            }
            out.push('}');
        }
    }
}

fn separator(out: &mut String, i: usize, style: Style, level: usize) {
    if i > 0 {
        out.push(',');
        if !style.pretty {
            out.push(' ');
        }
    }
    if style.pretty {
        newline(out, level + 1);
    }
}

/// A JSON string as Python writes it.
pub fn write_str(out: &mut String, s: &str, ensure_ascii: bool) {
    crate::query::json::write_py_json_string(out, s, ensure_ascii);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_layout() {
        let v = Value::List(vec![
            Value::object([
                ("text", Value::str("cpu")),
                ("leaf", Value::Int(0)),
                ("x", Value::Float(1.5)),
            ]),
            Value::Null,
        ]);
        assert_eq!(
            dumps(&v, Style::default()),
            r#"[{"text": "cpu", "leaf": 0, "x": 1.5}, null]"#
        );
        let pretty = Style {
            pretty: true,
            sort_keys: true,
            ensure_ascii: true,
        };
        assert_eq!(
            dumps(&v, pretty),
            "[\n  {\n    \"leaf\": 0,\n    \"text\": \"cpu\",\n    \"x\": 1.5\n  },\n  null\n]"
        );
        assert_eq!(dumps(&Value::List(vec![]), pretty), "[]");
        assert_eq!(dumps(&Value::str("é"), Style::default()), "\"é\"");
        assert_eq!(
            dumps(
                &Value::str("é"),
                Style {
                    ensure_ascii: true,
                    ..Style::default()
                }
            ),
            "\"\\u00e9\""
        );
    }
}
