//! The target expression grammar of graphite-web 1.1.10 (`render/grammar_unsafe.py`, a
//! pyparsing grammar), reimplemented as a packrat-free PEG with byte positions.
//!
//! pyparsing's `MatchFirst` is a PEG ordered choice: the first alternative that matches is
//! kept, and a later failure does not retry the others. This parser follows the same order,
//! so it accepts exactly the strings graphite accepts, with the same tree:
//!
//! ```text
//! expression := (template | call | path) ( ws? '|' ws? call )*
//! call       := name ws? '(' ( args ( ',' kwargs )? )? ')'      name = [A-Za-z_][A-Za-z0-9_]*
//! args       := !kwarg arg ( ',' !kwarg arg )*                  positional first
//! kwargs     := kwarg ( ',' kwarg )*                            kwarg = name ws? '=' arg
//! arg        := bool | number | none | string | inf | expression
//! number     := (sci | float | int) followed by ',' ')' or end of line
//!               int = -?[0-9]+   float = -?[0-9]+.[0-9]+   sci = (float|int)[eE]int
//! bool       := true | false (any case, whole word)   none := none   inf := inf (any case)
//! string     := '...' | "..."   (no raw newline; `\x` escapes and doubled quotes are kept
//!               verbatim: the value is the text between the quotes, as graphite does)
//! path       := element ( '.' element )*   (no whitespace inside)
//! element    := ( chars | '{' chars ( ',' chars )* '}' )+
//! chars      := ( printable ASCII except (){},.'"\| | '\' one of (){},.'"\|= )+
//! template   := 'template' '(' (call | path) ( ',' literals | ',' literal-kwargs )? ')'
//! ```
//!
//! Whitespace (space, tab, CR, LF) may appear between tokens, never inside a path. A pipe
//! `x | f(a)` is the call `f(x, a)`: the piped expression becomes the first argument.
//!
//! Deviation: pyparsing stops at the first character it cannot use and graphite silently
//! ignores the rest (`a.b,c.d` fetches `a.b`); [`parse`] rejects trailing text with the
//! position, while [`parse_prefix`] keeps graphite's behaviour and returns where it stopped.
//!
//! Errors report the farthest position any alternative reached and what would have been
//! accepted there. Nesting (calls inside calls, and each pipe, which nests the expression
//! before it one call deeper) is limited to [`MAX_DEPTH`] and total work to a budget linear
//! in the input, so no input can overflow the stack or take exponential time.

mod ast;

pub use ast::*;

use ast::expr_span;
use std::borrow::Cow;

/// Parses a whole target; trailing text other than whitespace is an error.
pub fn parse(target: &str) -> Result<Expr<'_>, ParseError> {
    parse_with(target, Options::default())
}

/// [`parse`] with explicit options.
pub fn parse_with(target: &str, options: Options) -> Result<Expr<'_>, ParseError> {
    let (mut p, start) = Parser::begin(target, options)?;
    match p.expression(start, 0) {
        Ok((expr, end)) => {
            let end = p.skip_ws(end);
            if end == target.len() {
                Ok(expr)
            } else {
                p.fail::<()>(end, Expected::PIPE.union(Expected::END)).ok();
                Err(p.error())
            }
        }
        Err(()) => Err(p.error()),
    }
}

/// Parses the longest expression at the start of `target`, as graphite does, and returns
/// it with the byte offset where parsing stopped (anything after it is ignored by graphite).
pub fn parse_prefix(target: &str, options: Options) -> Result<(Expr<'_>, usize), ParseError> {
    let (mut p, start) = Parser::begin(target, options)?;
    p.expression(start, 0).map_err(|()| p.error())
}

type Res<T> = Result<(T, usize), ()>;

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    options: Options,
    far_pos: usize,
    far_expected: Expected,
    hard: Option<ParseError>,
    budget: usize,
}

const SYMBOLS: &[u8] = b"(){},.'\"\\|";

/// An argument written at `start..end`, and the position after it.
fn spanned(value: Value<'_>, start: usize, end: usize) -> (Arg<'_>, usize) {
    (
        Arg {
            value,
            span: Span { start, end },
        },
        end,
    )
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Parser<'a> {
    fn new(s: &'a str, options: Options) -> Self {
        Self {
            s,
            b: s.as_bytes(),
            options,
            far_pos: 0,
            far_expected: Expected::default(),
            hard: None,
            budget: 20_000 + 200 * s.len(),
        }
    }

    /// A parser for `target` and the position of its first non-blank byte; a blank target
    /// is an error.
    fn begin(target: &'a str, options: Options) -> Result<(Self, usize), ParseError> {
        let p = Parser::new(target, options);
        let start = p.skip_ws(0);
        if start == target.len() {
            return Err(ParseError {
                position: start,
                kind: ParseErrorKind::Empty,
            });
        }
        Ok((p, start))
    }

    fn error(&self) -> ParseError {
        if let Some(e) = self.hard {
            return e;
        }
        ParseError {
            position: self.far_pos,
            kind: ParseErrorKind::Unexpected {
                expected: self.far_expected,
                found: self.s.get(self.far_pos..).and_then(|r| r.chars().next()),
            },
        }
    }

    /// Records that `expected` would have matched at `pos`; always returns `Err`.
    fn fail<T>(&mut self, pos: usize, expected: Expected) -> Result<T, ()> {
        if pos > self.far_pos {
            self.far_pos = pos;
            self.far_expected = expected;
        } else if pos == self.far_pos {
            self.far_expected = self.far_expected.union(expected);
        }
        Err(())
    }

    fn hard_fail<T>(&mut self, position: usize, kind: ParseErrorKind) -> Result<T, ()> {
        if self.hard.is_none() {
            self.hard = Some(ParseError { position, kind });
        }
        Err(())
    }

    /// Spends one unit of work; fails hard once the budget is gone.
    fn tick(&mut self, pos: usize) -> Result<(), ()> {
        if self.hard.is_some() {
            return Err(());
        }
        if self.budget == 0 {
            return self.hard_fail(pos, ParseErrorKind::TooComplex);
        }
        self.budget -= 1;
        Ok(())
    }

    fn skip_ws(&self, mut pos: usize) -> usize {
        while pos < self.b.len() && is_ws(self.b[pos]) {
            pos += 1;
        }
        pos
    }

    fn peek(&self, pos: usize) -> Option<u8> {
        self.b.get(pos).copied()
    }

    /// Skips whitespace and matches one byte.
    fn punct(&mut self, pos: usize, c: u8, expected: Expected) -> Result<usize, ()> {
        let pos = self.skip_ws(pos);
        if self.peek(pos) == Some(c) {
            Ok(pos + 1)
        } else {
            self.fail(pos, expected)
        }
    }

    fn ident(&self, pos: usize) -> Option<usize> {
        if !self.peek(pos).is_some_and(is_ident_start) {
            return None;
        }
        let mut end = pos + 1;
        while self.peek(end).is_some_and(is_ident) {
            end += 1;
        }
        Some(end)
    }

    fn expression(&mut self, pos: usize, depth: usize) -> Res<Expr<'a>> {
        self.tick(pos)?;
        if depth > MAX_DEPTH {
            return self.hard_fail(pos, ParseErrorKind::TooDeep);
        }
        let (mut expr, mut end) = self.primary(pos, depth)?;
        // pipes: ws? '|' ws? call; each one nests the expression one call deeper
        let mut pipes = 0;
        while let Ok(after_bar) = self.punct(end, b'|', Expected::PIPE) {
            let call_pos = self.skip_ws(after_bar);
            pipes += 1;
            if depth + pipes > MAX_DEPTH {
                return self.hard_fail(call_pos, ParseErrorKind::TooDeep);
            }
            let Ok((mut call, call_end)) = self.call(call_pos, depth + pipes) else {
                if self.hard.is_some() {
                    return Err(());
                }
                // ZeroOrMore: a '|' not followed by a call ends the expression before it
                self.fail::<()>(call_pos, Expected::FUNCTION).ok();
                break;
            };
            let input_span = expr_span(&expr);
            let input = Arg {
                value: Value::Expr(expr),
                span: input_span,
            };
            call.args.insert(0, input);
            call.piped = true;
            expr = Expr::Call(call);
            end = call_end;
        }
        Ok((expr, end))
    }

    fn primary(&mut self, pos: usize, depth: usize) -> Res<Expr<'a>> {
        let pos = self.skip_ws(pos);
        if let Ok((t, end)) = self.template(pos, depth) {
            return Ok((Expr::Template(t), end));
        }
        if self.hard.is_some() {
            return Err(());
        }
        if let Ok((c, end)) = self.call(pos, depth + 1) {
            return Ok((Expr::Call(c), end));
        }
        if self.hard.is_some() {
            return Err(());
        }
        let (p, end) = self.path(pos)?;
        Ok((Expr::Path(p), end))
    }

    fn call(&mut self, pos: usize, depth: usize) -> Res<Call<'a>> {
        self.tick(pos)?;
        if depth > MAX_DEPTH {
            return self.hard_fail(pos, ParseErrorKind::TooDeep);
        }
        let pos = self.skip_ws(pos);
        let Some(name_end) = self.ident(pos) else {
            return self.fail(pos, Expected::FUNCTION);
        };
        let name = &self.s[pos..name_end];
        let mut at = self.punct(name_end, b'(', Expected::OPEN_PAREN)?;
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        // Optional(args + Optional(comma + kwargs))
        if self.kwarg(at, depth, false).is_err() {
            if self.hard.is_some() {
                return Err(());
            }
            if let Ok((first, e)) = self.arg(at, depth) {
                args.push(first);
                at = e;
                // ZeroOrMore(',' ~kwarg arg); a keyword argument ends the positional ones and
                // is kept as the first of Optional(',' kwargs) (parsing it once, not twice)
                let mut first_kwarg = None;
                while let Ok(after_comma) = self.punct(at, b',', Expected::COMMA) {
                    match self.kwarg(after_comma, depth, false) {
                        Ok(kw) => {
                            first_kwarg = Some(kw);
                            break;
                        }
                        Err(()) if self.hard.is_some() => return Err(()),
                        Err(()) => {}
                    }
                    let Ok((a, e)) = self.arg(after_comma, depth) else {
                        if self.hard.is_some() {
                            return Err(());
                        }
                        break;
                    };
                    args.push(a);
                    at = e;
                }
                if let Some((first, e)) = first_kwarg {
                    let (list, e) = self.kwarg_rest(first, e, depth, false)?;
                    kwargs = list;
                    at = e;
                }
            } else if self.hard.is_some() {
                return Err(());
            }
        } else {
            // A call cannot start with a keyword argument in graphite's grammar.
            let kw_pos = self.skip_ws(at);
            self.fail::<()>(kw_pos, Expected::POSITIONAL_FIRST).ok();
        }
        let end = self.punct(at, b')', Expected::CLOSE_PAREN.union(Expected::COMMA))?;
        let span = Span { start: pos, end };
        Ok((
            Call {
                name,
                args,
                kwargs,
                span,
                piped: false,
            },
            end,
        ))
    }

    fn kwarg_list(&mut self, pos: usize, depth: usize, literal: bool) -> Res<Vec<KwArg<'a>>> {
        let (first, at) = self.kwarg(pos, depth, literal)?;
        self.kwarg_rest(first, at, depth, literal)
    }

    /// The keyword arguments after the first: `(',' kwarg)*`.
    fn kwarg_rest(
        &mut self,
        first: KwArg<'a>,
        mut at: usize,
        depth: usize,
        literal: bool,
    ) -> Res<Vec<KwArg<'a>>> {
        let mut list = vec![first];
        while let Ok(after_comma) = self.punct(at, b',', Expected::COMMA) {
            let Ok((k, e)) = self.kwarg(after_comma, depth, literal) else {
                if self.hard.is_some() {
                    return Err(());
                }
                break;
            };
            list.push(k);
            at = e;
        }
        Ok((list, at))
    }

    fn kwarg(&mut self, pos: usize, depth: usize, literal: bool) -> Res<KwArg<'a>> {
        let pos = self.skip_ws(pos);
        let Some(name_end) = self.ident(pos) else {
            return self.fail(pos, Expected::KEYWORD_ARGUMENT);
        };
        let after_eq = self.punct(name_end, b'=', Expected::EQUALS)?;
        let (value, end) = if literal {
            self.literal(after_eq)?
        } else {
            self.arg(after_eq, depth)?
        };
        let kw = KwArg {
            name: &self.s[pos..name_end],
            name_span: Span {
                start: pos,
                end: name_end,
            },
            value,
        };
        Ok((kw, end))
    }

    fn arg(&mut self, pos: usize, depth: usize) -> Res<Arg<'a>> {
        let pos = self.skip_ws(pos);
        if let Some((b, end)) = self
            .keyword(pos, "true")
            .map(|e| (true, e))
            .or_else(|| self.keyword(pos, "false").map(|e| (false, e)))
        {
            return Ok(spanned(Value::Bool(b), pos, end));
        }
        match self.number(pos) {
            Ok(r) => return Ok(r),
            Err(()) if self.hard.is_some() => return Err(()),
            Err(()) => {}
        }
        if let Some(end) = self.keyword(pos, "none") {
            return Ok(spanned(Value::None, pos, end));
        }
        if let Some(r) = self.string(pos) {
            return Ok(r);
        }
        if let Some(end) = self.keyword(pos, "inf") {
            return Ok(spanned(Value::Float(f64::INFINITY), pos, end));
        }
        let Ok((e, end)) = self.expression(pos, depth) else {
            if self.hard.is_none() {
                self.fail::<()>(pos, Expected::ARGUMENT).ok();
            }
            return Err(());
        };
        Ok(spanned(Value::Expr(e), pos, end))
    }

    /// A number or a string (template arguments).
    fn literal(&mut self, pos: usize) -> Res<Arg<'a>> {
        let pos = self.skip_ws(pos);
        match self.number(pos) {
            Ok(r) => return Ok(r),
            Err(()) if self.hard.is_some() => return Err(()),
            Err(()) => {}
        }
        if let Some(r) = self.string(pos) {
            return Ok(r);
        }
        self.fail(pos, Expected::LITERAL)
    }

    /// pyparsing's `CaselessKeyword`: the word in any case, not followed by `[A-Za-z0-9_$]`.
    fn keyword(&self, pos: usize, word: &str) -> Option<usize> {
        let end = pos + word.len();
        let text = self.b.get(pos..end)?;
        if !text.eq_ignore_ascii_case(word.as_bytes()) {
            return None;
        }
        match self.peek(end) {
            Some(c) if is_ident(c) || c == b'$' => None,
            _ => Some(end),
        }
    }

    fn digits(&self, pos: usize) -> Option<usize> {
        let mut end = pos;
        while self.peek(end).is_some_and(|c| c.is_ascii_digit()) {
            end += 1;
        }
        (end > pos).then_some(end)
    }

    /// `-?[0-9]+`
    fn int_token(&self, pos: usize) -> Option<usize> {
        let start = if self.peek(pos) == Some(b'-') {
            pos + 1
        } else {
            pos
        };
        self.digits(start)
    }

    /// `-?[0-9]+\.[0-9]+`
    fn float_token(&self, pos: usize) -> Option<usize> {
        let int_end = self.int_token(pos)?;
        if self.peek(int_end) != Some(b'.') {
            return None;
        }
        self.digits(int_end + 1)
    }

    /// `(float | int) [eE] int`
    fn sci_token(&self, pos: usize) -> Option<usize> {
        let mantissa_end = self.float_token(pos).or_else(|| self.int_token(pos))?;
        if !matches!(self.peek(mantissa_end), Some(b'e' | b'E')) {
            return None;
        }
        self.int_token(mantissa_end + 1)
    }

    /// pyparsing's `FollowedBy(",") ^ FollowedBy(")") ^ FollowedBy(LineEnd())`.
    fn after_number(&self, pos: usize) -> bool {
        let p = self.skip_ws(pos);
        if matches!(self.peek(p), Some(b',' | b')')) {
            return true;
        }
        let mut q = pos;
        while matches!(self.peek(q), Some(b' ' | b'\t' | b'\r')) {
            q += 1;
        }
        matches!(self.peek(q), None | Some(b'\n'))
    }

    fn number(&mut self, pos: usize) -> Res<Arg<'a>> {
        let ends_here = |end: &usize| self.after_number(*end);
        let float_end = self
            .sci_token(pos)
            .filter(ends_here)
            .or_else(|| self.float_token(pos).filter(ends_here));
        if let Some(end) = float_end {
            let value = self.s[pos..end].parse::<f64>().map_err(|_| ())?;
            return Ok(spanned(Value::Float(value), pos, end));
        }
        if let Some(end) = self.int_token(pos).filter(ends_here) {
            return match self.s[pos..end].parse::<i64>() {
                Ok(v) => Ok(spanned(Value::Int(v), pos, end)),
                Err(_) => self.hard_fail(pos, ParseErrorKind::IntegerOutOfRange),
            };
        }
        Err(())
    }

    /// pyparsing's `quotedString`: the regex `"(?:[^"\n\r\\]|""|\\(?:[^x]|x[0-9a-fA-F]+))*`
    /// (greedy, no backtracking into it) followed by the closing quote.
    fn string(&mut self, pos: usize) -> Option<(Arg<'a>, usize)> {
        let quote = self.peek(pos).filter(|&q| q == b'"' || q == b'\'')?;
        let mut at = pos + 1;
        loop {
            match self.peek(at) {
                Some(c) if c == quote => {
                    if self.peek(at + 1) == Some(quote) {
                        at += 2;
                    } else {
                        break;
                    }
                }
                Some(b'\n' | b'\r') | None => break,
                Some(b'\\') => match self.peek(at + 1) {
                    Some(b'x') => {
                        let mut e = at + 2;
                        while self.peek(e).is_some_and(|c| c.is_ascii_hexdigit()) {
                            e += 1;
                        }
                        if e == at + 2 {
                            break;
                        }
                        at = e;
                    }
                    Some(_) => {
                        // one whole character after the backslash
                        let ch_len = self.s[at + 1..].chars().next().map_or(1, char::len_utf8);
                        at += 1 + ch_len;
                    }
                    None => break,
                },
                Some(_) => {
                    at += self.s[at..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        if self.peek(at) == Some(quote) {
            let end = at + 1;
            let value = Value::Str(&self.s[pos + 1..at]);
            Some(spanned(value, pos, end))
        } else {
            self.fail::<()>(at, Expected::CLOSE_QUOTE).ok();
            None
        }
    }

    fn template(&mut self, pos: usize, depth: usize) -> Res<Template<'a>> {
        let pos = self.skip_ws(pos);
        if !self.s[pos..].starts_with("template") {
            return Err(());
        }
        let at = self.punct(pos + "template".len(), b'(', Expected::OPEN_PAREN)?;
        let inner_pos = self.skip_ws(at);
        let (inner, mut at) = match self.call(inner_pos, depth + 1) {
            Ok((c, e)) => (Expr::Call(c), e),
            Err(()) if self.hard.is_some() => return Err(()),
            Err(()) => {
                let (p, e) = self.path(inner_pos)?;
                (Expr::Path(p), e)
            }
        };
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        if let Ok(after_comma) = self.punct(at, b',', Expected::COMMA) {
            // litargs | litkwargs
            if let Ok((list, e)) = self.literal_list(after_comma) {
                args = list;
                at = e;
            } else if let Ok((list, e)) = self.kwarg_list(after_comma, depth, true) {
                kwargs = list;
                at = e;
            } else if self.hard.is_some() {
                return Err(());
            }
        }
        let end = self.punct(at, b')', Expected::CLOSE_PAREN)?;
        let t = Template {
            inner: Box::new(inner),
            args,
            kwargs,
            span: Span { start: pos, end },
        };
        Ok((t, end))
    }

    /// `delimitedList(~litkwarg + litarg)`
    fn literal_list(&mut self, pos: usize) -> Res<Vec<Arg<'a>>> {
        if self.kwarg(pos, 0, true).is_ok() {
            return Err(());
        }
        let (first, mut at) = self.literal(pos)?;
        let mut list = vec![first];
        while let Ok(after_comma) = self.punct(at, b',', Expected::COMMA) {
            if self.kwarg(after_comma, 0, true).is_ok() {
                break;
            }
            let Ok((a, e)) = self.literal(after_comma) else {
                break;
            };
            list.push(a);
            at = e;
        }
        Ok((list, at))
    }

    /// A character allowed unescaped in a path: printable ASCII except graphite's symbols,
    /// or (with `utf8_metrics`) any non-ASCII character that is neither a control nor space.
    fn metric_char(&self, pos: usize) -> Option<usize> {
        let c = self.peek(pos)?;
        if c.is_ascii() {
            return (c.is_ascii_graphic() && !SYMBOLS.contains(&c)).then_some(pos + 1);
        }
        if !self.options.utf8_metrics {
            return None;
        }
        let ch = self.s[pos..].chars().next()?;
        (!ch.is_whitespace() && !ch.is_control()).then(|| pos + ch.len_utf8())
    }

    /// `partialPathElem`: one or more metric characters or escapes; appends the unescaped
    /// text to `out`.
    fn partial(&mut self, pos: usize, out: &mut String) -> Option<usize> {
        let mut at = pos;
        loop {
            if let Some(e) = self.metric_char(at) {
                out.push_str(&self.s[at..e]);
                at = e;
            } else if self.peek(at) == Some(b'\\') {
                match self.peek(at + 1) {
                    Some(c) if SYMBOLS.contains(&c) || c == b'=' => {
                        out.push(c as char);
                        at += 2;
                    }
                    _ => {
                        self.fail::<()>(at + 1, Expected::ESCAPED).ok();
                        break;
                    }
                }
            } else {
                break;
            }
        }
        (at > pos).then_some(at)
    }

    /// `{partial,partial,...}`
    fn brace(&mut self, pos: usize, out: &mut String) -> Option<usize> {
        if self.peek(pos) != Some(b'{') {
            return None;
        }
        let mark = out.len();
        out.push('{');
        let mut at = pos + 1;
        loop {
            if let Some(e) = self.partial(at, out) {
                at = e;
            } else {
                self.fail::<()>(at, Expected::PATH).ok();
                out.truncate(mark);
                return None;
            }
            if self.peek(at) == Some(b',') {
                out.push(',');
                at += 1;
            } else {
                break;
            }
        }
        if self.peek(at) == Some(b'}') {
            out.push('}');
            Some(at + 1)
        } else {
            self.fail::<()>(at, Expected::CLOSE_BRACE.union(Expected::COMMA))
                .ok();
            out.truncate(mark);
            None
        }
    }

    fn element(&mut self, pos: usize, out: &mut String) -> Option<usize> {
        let mut at = pos;
        loop {
            if let Some(e) = self.partial(at, out) {
                at = e;
            } else if let Some(e) = self.brace(at, out) {
                at = e;
            } else {
                break;
            }
        }
        (at > pos).then_some(at)
    }

    fn path(&mut self, pos: usize) -> Res<PathExpr<'a>> {
        let pos = self.skip_ws(pos);
        let mut text = String::new();
        let Some(mut at) = self.element(pos, &mut text) else {
            return self.fail(pos, Expected::PATH);
        };
        while self.peek(at) == Some(b'.') {
            let mark = text.len();
            text.push('.');
            if let Some(e) = self.element(at + 1, &mut text) {
                at = e;
            } else {
                self.fail::<()>(at + 1, Expected::PATH).ok();
                text.truncate(mark);
                break;
            }
        }
        let raw = &self.s[pos..at];
        let text = if raw == text {
            Cow::Borrowed(raw)
        } else {
            Cow::Owned(text)
        };
        Ok((
            PathExpr {
                text,
                span: Span {
                    start: pos,
                    end: at,
                },
            },
            at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        canonical(&parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}")))
    }

    /// A pipe nests the expression before it one call deeper: a chain of pipes is as deep
    /// as the calls it makes, so it is bounded like nested calls (evaluating or dropping a
    /// tree 100 000 calls deep would overflow the stack).
    #[test]
    fn pipes_count_towards_the_depth() {
        let within = format!("a{}", "|f()".repeat(MAX_DEPTH - 2));
        assert!(parse(&within).is_ok());
        let inside = format!(
            "g({}a{}){}",
            "h(".repeat(10),
            ")".repeat(10),
            "|f()".repeat(MAX_DEPTH - 12)
        );
        assert!(parse(&inside).is_ok());
        for deep in [
            format!("a{}", "|f()".repeat(MAX_DEPTH + 1)),
            format!("a{}", "|f()".repeat(100_000)),
            format!(
                "g({}a{}){}",
                "h(".repeat(10),
                ")".repeat(10),
                "|f()".repeat(MAX_DEPTH)
            ),
            format!("{}a{}", "sum(".repeat(100_000), ")".repeat(100_000)),
        ] {
            assert_eq!(parse(&deep).unwrap_err().kind, ParseErrorKind::TooDeep);
        }
    }

    #[test]
    fn paths_and_globs() {
        assert_eq!(c("a.b*.{c,d}.[0-9]"), "path(a.b*.{c,d}.[0-9])");
        assert_eq!(
            c("  servers.web-1.cpu;tag=v  "),
            "path(servers.web-1.cpu;tag=v)"
        );
        assert_eq!(c(r"a\(b\).c\,d"), "path(a(b).c,d)");
    }

    #[test]
    fn calls_and_values() {
        assert_eq!(
            c("test(1, 1.0, 1e3, True, false, None, none, inf, INF)"),
            "call(test;int(1);float(1.0);float(1000.0);bool(true);bool(false);none;none;\
             float(inf);float(inf))"
        );
        assert_eq!(
            c("f(a, 'x', \"y\", k=-2.5e-1)"),
            "call(f;path(a);str(x);str(y);kw(k=float(-0.25)))"
        );
    }

    #[test]
    fn pipes_are_nested_calls() {
        assert_eq!(
            c("a.b|sumSeries()|alias(\"x\")"),
            c("alias(sumSeries(a.b),\"x\")")
        );
        let e = parse("a.b | f(1)").unwrap();
        let Expr::Call(call) = &e else { panic!() };
        assert!(call.piped);
        assert_eq!(call.span, Span { start: 6, end: 10 });
        assert_eq!(e.span(), Span { start: 0, end: 10 });
    }

    #[test]
    fn errors_name_position() {
        let e = parse("sumSeries(a.b").unwrap_err();
        assert_eq!(e.position, 13);
        assert_eq!(
            e.to_string(),
            "expected ')', ',' or '|' but found end of target at byte 13"
        );
        let e = parse("a.b,c").unwrap_err();
        assert_eq!(e.position, 3);
        assert_eq!(parse("  ").unwrap_err().kind, ParseErrorKind::Empty);
    }
}
