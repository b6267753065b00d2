//! The target grammar against graphite-web 1.1.10's own parser.
//!
//! `tests/data/query/grammar.jsonl` was made by `gen_grammar.py` from graphite-web's
//! `grammar_unsafe.py` (pyparsing 3.3): for each target, the tree graphite's evaluator sees
//! (`prefix`, null if pyparsing raises) and whether the whole string parses (`full`).

use lonsdaleite::query::grammar::{self, Options, ParseErrorKind};
use proptest::prelude::*;

#[derive(serde::Deserialize)]
struct Case {
    target: String,
    prefix: Option<String>,
    full: bool,
}

fn cases() -> Vec<Case> {
    let text = include_str!("data/query/grammar.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("valid case"))
        .collect()
}

/// Every case: `parse_prefix` builds graphite's tree (or fails where graphite fails), and
/// `parse` accepts exactly the targets graphite parses completely, with the same tree.
#[test]
fn agrees_with_graphite_web() {
    let cases = cases();
    assert!(cases.len() > 100);
    let mut failures = Vec::new();
    for c in &cases {
        let prefix = grammar::parse_prefix(&c.target, Options::default())
            .ok()
            .map(|(e, _)| grammar::canonical(&e));
        if prefix != c.prefix {
            failures.push(format!(
                "{:?}: prefix {prefix:?}, graphite {:?}",
                c.target, c.prefix
            ));
        }
        let full = grammar::parse(&c.target);
        if full.is_ok() != c.full {
            failures.push(format!(
                "{:?}: full {full:?}, graphite {}",
                c.target, c.full
            ));
        }
        if let Ok(e) = full {
            assert_eq!(Some(grammar::canonical(&e)), c.prefix, "{:?}", c.target);
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Errors name the byte where the target stops making sense and what was expected there.
#[test]
fn error_positions_and_messages() {
    let mut bad = Vec::new();
    for (target, position, message) in [
        (
            "sumSeries(a.b",
            13,
            "expected ')', ',' or '|' but found end of target",
        ),
        (
            "target1,target2",
            7,
            "expected '(', '|' or end of target but found ','",
        ),
        (
            "f(a,)",
            4,
            "expected an argument or a keyword argument but found ')'",
        ),
        (
            "f('abc",
            6,
            "expected a closing quote but found end of target",
        ),
        ("a.", 2, "expected a metric path but found end of target"),
        ("{a,}", 3, "expected a metric path but found '}'"),
        (
            "a\\x",
            2,
            "expected one of (){},.'\"\\|= after '\\' but found 'x'",
        ),
        (
            "a.b|",
            4,
            "expected a function call but found end of target",
        ),
    ] {
        let e = grammar::parse(target).unwrap_err();
        let got = (e.position, e.kind.to_string());
        if got != (position, message.to_owned()) {
            bad.push(format!("{target:?}: {got:?}"));
        }
        assert_eq!(e.to_string(), format!("{} at byte {}", got.1, got.0));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn limits_are_errors_not_crashes() {
    let deep = format!("{}a{}", "f(".repeat(100), ")".repeat(100));
    assert_eq!(
        grammar::parse(&deep).unwrap_err().kind,
        ParseErrorKind::TooDeep
    );
    let ok = format!("{}a{}", "f(".repeat(60), ")".repeat(60));
    assert!(grammar::parse(&ok).is_ok());
    // keyword arguments nested 40 deep are parsed once each, not 2^40 times
    let kw_deep = format!("{}a{}", "f(a, k=".repeat(40), ")".repeat(40));
    assert!(grammar::parse(&kw_deep).is_ok());
    let nasty = "template(".repeat(40);
    let kind = grammar::parse(&nasty).unwrap_err().kind;
    assert!(
        matches!(
            kind,
            ParseErrorKind::TooComplex | ParseErrorKind::Unexpected { .. }
        ),
        "{kind:?}"
    );
    assert_eq!(
        grammar::parse("f(99999999999999999999)").unwrap_err().kind,
        ParseErrorKind::IntegerOutOfRange
    );
}

#[test]
fn spans_point_into_the_source() {
    let src = "alias( sumSeries(a.b.*) , 'x y' )";
    let grammar::Expr::Call(call) = grammar::parse(src).unwrap() else {
        panic!()
    };
    assert_eq!(call.span.text(src), src);
    assert_eq!(call.args[0].span.text(src), "sumSeries(a.b.*)");
    assert_eq!(call.args[1].span.text(src), "'x y'");
    let mut paths = Vec::new();
    let src = "seriesByTag('a=b')|f(x.y, g(z))";
    let expr = grammar::parse(src).unwrap();
    expr.path_expressions(src, &mut paths);
    assert_eq!(paths, ["seriesByTag('a=b')", "x.y", "z"]);
}

#[test]
fn utf8_metrics_option() {
    assert!(grammar::parse("a.é").is_err());
    let e = grammar::parse_with("a.é.b", Options { utf8_metrics: true }).unwrap();
    assert_eq!(grammar::canonical(&e), "path(a.é.b)");
}

proptest! {
    /// The parser never panics, and an accepted target re-parses from its canonical
    /// spans: every span is a valid slice of the input.
    #[test]
    fn never_panics(s in "\\PC{0,60}") {
        if let Ok(e) = grammar::parse(&s) {
            let span = e.span();
            prop_assert!(span.end <= s.len());
            prop_assert!(s.is_char_boundary(span.start) && s.is_char_boundary(span.end));
        }
        let _ = grammar::parse_prefix(&s, Options { utf8_metrics: true });
    }

    /// Same on inputs made of the grammar's own characters, where deep structure appears.
    #[test]
    fn never_panics_on_grammar_soup(s in "[a-c(),.'\"|={}\\[\\]\\\\ 0-9eE+-]{0,80}") {
        let _ = grammar::parse(&s);
        let _ = grammar::parse_prefix(&s, Options::default());
    }
}
