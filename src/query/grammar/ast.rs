//! The tree [`super::parse`] builds, its error type and a canonical rendering used to
//! compare it with graphite-web's own parser.

use std::borrow::Cow;
use std::fmt;

/// Deepest nesting of calls accepted (pyparsing would hit Python's recursion limit).
pub const MAX_DEPTH: usize = 64;

/// A half-open byte range `start..end` of the target string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// The text this span covers in `source` (the string that was parsed).
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        &source[self.start..self.end]
    }
}

/// A parsed expression: what a `target=` or a series argument evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<'a> {
    /// A metric name pattern, such as `a.b*.{c,d}`.
    Path(PathExpr<'a>),
    /// A function call (pipes are already turned into nested calls).
    Call(Call<'a>),
    /// `template(inner, literals...)`, expanded with `template[name]=` parameters.
    Template(Template<'a>),
}

/// A path expression. `text` has graphite's escapes removed (`a\(b` → `a(b`).
#[derive(Debug, Clone, PartialEq)]
pub struct PathExpr<'a> {
    pub text: Cow<'a, str>,
    pub span: Span,
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call<'a> {
    pub name: &'a str,
    /// Positional arguments; for a piped call the first one is the piped expression.
    pub args: Vec<Arg<'a>>,
    /// Keyword arguments in the order written (graphite keeps the last of duplicates).
    pub kwargs: Vec<KwArg<'a>>,
    /// From the function name to the closing parenthesis: graphite's `raw` text of the call
    /// (used by `seriesByTag`). For a piped call it does not include the piped input.
    pub span: Span,
    /// True if the first argument came from a pipe (`x | f()`).
    pub piped: bool,
}

/// `template(inner, ...)`: literal positional (`$1`, `$2`) or keyword (`$name`) defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Template<'a> {
    pub inner: Box<Expr<'a>>,
    pub args: Vec<Arg<'a>>,
    pub kwargs: Vec<KwArg<'a>>,
    pub span: Span,
}

/// One argument with the span of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg<'a> {
    pub value: Value<'a>,
    pub span: Span,
}

/// `name=value`.
#[derive(Debug, Clone, PartialEq)]
pub struct KwArg<'a> {
    pub name: &'a str,
    pub name_span: Span,
    pub value: Arg<'a>,
}

/// An argument value, typed as graphite's evaluator types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `-?[0-9]+` (Python `int`).
    Int(i64),
    /// `1.5`, `1e3`, `-2.5E-3` and `inf` (Python `float`).
    Float(f64),
    /// The text between the quotes, verbatim (escapes are not interpreted).
    Str(&'a str),
    Bool(bool),
    None,
    Expr(Expr<'a>),
}

/// What the parser would have accepted at the error position (a set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expected(u32);

impl Expected {
    pub const PATH: Self = Self(1);
    pub const OPEN_PAREN: Self = Self(1 << 1);
    pub const CLOSE_PAREN: Self = Self(1 << 2);
    pub const COMMA: Self = Self(1 << 3);
    pub const EQUALS: Self = Self(1 << 4);
    pub const PIPE: Self = Self(1 << 5);
    pub const ARGUMENT: Self = Self(1 << 6);
    pub const CLOSE_QUOTE: Self = Self(1 << 7);
    pub const CLOSE_BRACE: Self = Self(1 << 8);
    pub const ESCAPED: Self = Self(1 << 9);
    pub const DIGIT: Self = Self(1 << 10);
    pub const FUNCTION: Self = Self(1 << 11);
    pub const END: Self = Self(1 << 12);
    pub const LITERAL: Self = Self(1 << 13);
    pub const KEYWORD_ARGUMENT: Self = Self(1 << 14);
    pub const DOT: Self = Self(1 << 15);
    pub const POSITIONAL_FIRST: Self = Self(1 << 16);

    const NAMES: [&'static str; 17] = [
        "a metric path",
        "'('",
        "')'",
        "','",
        "'='",
        "'|'",
        "an argument",
        "a closing quote",
        "'}'",
        "one of (){},.'\"\\|= after '\\'",
        "a digit",
        "a function call",
        "end of target",
        "a number or string",
        "a keyword argument",
        "'.'",
        "a positional argument (keyword arguments must follow one)",
    ];

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // an argument can be a path or a call: name only the broader one
        let mut bits = self.0;
        if self.contains(Self::ARGUMENT) {
            bits &= !(Self::PATH.0 | Self::FUNCTION.0);
        }
        let names: Vec<&str> = Self::NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        match names.as_slice() {
            [] => f.write_str("nothing"),
            [one] => f.write_str(one),
            [init @ .., last] => write!(f, "{} or {last}", init.join(", ")),
        }
    }
}

/// Why a target was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// The input did not match; `expected` lists what would have.
    Unexpected {
        expected: Expected,
        found: Option<char>,
    },
    /// An integer argument beyond the 64-bit range.
    IntegerOutOfRange,
    /// Calls nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// The input needs more backtracking than the work budget allows.
    TooComplex,
}

/// A rejected target: what went wrong and at which byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {position}")]
pub struct ParseError {
    pub position: usize,
    pub kind: ParseErrorKind,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty target"),
            Self::Unexpected {
                expected,
                found: Some(c),
            } => {
                write!(f, "expected {expected} but found {c:?}")
            }
            Self::Unexpected {
                expected,
                found: None,
            } => {
                write!(f, "expected {expected} but found end of target")
            }
            Self::IntegerOutOfRange => f.write_str("integer out of range"),
            Self::TooDeep => write!(f, "calls nested deeper than {MAX_DEPTH}"),
            Self::TooComplex => f.write_str("target too complex to parse"),
        }
    }
}

/// Options that graphite reads from its settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// graphite's `UTF8_METRICS`: allow non-ASCII printable characters in paths.
    pub utf8_metrics: bool,
}

pub(super) fn expr_span(e: &Expr<'_>) -> Span {
    match e {
        Expr::Path(p) => p.span,
        Expr::Call(c) => {
            // a piped chain covers its input too
            match c.args.first() {
                Some(first) if c.piped => Span {
                    start: first.span.start,
                    end: c.span.end,
                },
                _ => c.span,
            }
        }
        Expr::Template(t) => t.span,
    }
}

impl Expr<'_> {
    /// The span of the whole expression, including the input of a piped call.
    pub fn span(&self) -> Span {
        expr_span(self)
    }

    /// Every path expression in evaluation order (graphite's `extractPathExpressions`,
    /// which prefetches them; `seriesByTag(...)` calls count as their raw text).
    pub fn path_expressions<'s>(&'s self, source: &'s str, out: &mut Vec<&'s str>) {
        match self {
            Expr::Path(p) => out.push(&p.text),
            Expr::Call(c) if c.name == "seriesByTag" => out.push(c.span.text(source)),
            Expr::Call(c) => {
                for a in &c.args {
                    if let Value::Expr(e) = &a.value {
                        e.path_expressions(source, out);
                    }
                }
            }
            Expr::Template(t) => t.inner.path_expressions(source, out),
        }
    }
}

/// A canonical, unambiguous rendering of the tree, used by tests to compare with the
/// structure graphite's own parser produces:
/// `path(a.b)`, `call(f;int(1),float(1.5),str("x"),bool(true),none,kw(k=...))`.
pub fn canonical(expr: &Expr<'_>) -> String {
    let mut out = String::new();
    write_canonical(expr, &mut out);
    out
}

fn write_canonical(expr: &Expr<'_>, out: &mut String) {
    match expr {
        Expr::Path(p) => {
            out.push_str("path(");
            out.push_str(&p.text);
            out.push(')');
        }
        Expr::Call(c) => {
            out.push_str("call(");
            out.push_str(c.name);
            write_args(&c.args, &c.kwargs, out);
            out.push(')');
        }
        Expr::Template(t) => {
            out.push_str("template(");
            write_canonical(&t.inner, out);
            write_args(&t.args, &t.kwargs, out);
            out.push(')');
        }
    }
}

fn write_args(args: &[Arg<'_>], kwargs: &[KwArg<'_>], out: &mut String) {
    for a in args {
        out.push(';');
        write_value(&a.value, out);
    }
    for k in kwargs {
        out.push_str(";kw(");
        out.push_str(k.name);
        out.push('=');
        write_value(&k.value.value, out);
        out.push(')');
    }
}

fn write_value(v: &Value<'_>, out: &mut String) {
    use std::fmt::Write as _;
    match v {
        Value::Int(i) => {
            let _ = write!(out, "int({i})");
        }
        Value::Float(f) => {
            out.push_str("float(");
            crate::py::format::write_repr(out, *f);
            out.push(')');
        }
        Value::Str(s) => {
            out.push_str("str(");
            out.push_str(s);
            out.push(')');
        }
        Value::Bool(b) => {
            let _ = write!(out, "bool({b})");
        }
        Value::None => out.push_str("none"),
        Value::Expr(e) => write_canonical(e, out),
    }
}
