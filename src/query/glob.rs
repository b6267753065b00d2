//! graphite's metric name globbing (graphite-web 1.1.10 `finders/standard.py`,
//! `finders/__init__.py`, Python 3.11 `fnmatch`) and the in-memory name index that answers
//! `/metrics/find`, `/metrics/expand` and the path expressions of `/render`.
//!
//! A pattern has its backslashes removed and is split on `.`; no wildcard crosses a dot.
//! Each node pattern is brace-expanded first (innermost `{...}` without nested braces,
//! leftmost first, alternatives split on `,`, empty ones allowed, unbalanced braces
//! literal), then each variant is an `fnmatch` pattern, case-sensitive: `*` any run, `?`
//! one character, `[abc]`, `[a-z]`, `[!a-z]` (negation; `[^` is a literal `^`), `]` first
//! in a class is literal, a `[` without a closing `]` is literal, reversed ranges are
//! dropped as Python does (`[z-a]` never matches). A node pattern that is exactly `**`
//! matches zero or more nodes; a trailing `**` matches every node below (graphite's
//! globstar).
//!
//! [`NameIndex`] is a trie of nodes. A node is a leaf if the name ending there was
//! inserted, and a branch if longer names continue below it; it can be both, and `find`
//! then reports both, as graphite does for a directory next to a `.wsp` file of the same
//! name. Results are sorted by path. A node written with an escaped wildcard (`b\*`) is
//! reported as written, as graphite's finder does.
//!
//! Work is bounded by what is *tried*, not by what is found: every brace variant produced
//! (`{,}{,}…` makes 2^n variants that collapse to one) and every (index node, node
//! pattern) test of a walk, including each node a `**` enumerates, is one candidate
//! charged to the request's [`Budget`] (`http.max_glob_candidates`), whose ticks also see
//! the request's deadline and stop signal.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use crate::query::budget::{Budget, Exceeded};
use crate::query::eval::Limits;

/// Most distinct variants one node pattern may expand to.
pub const MAX_VARIANTS: usize = 4096;
/// Most bytes the distinct variants of one node pattern may hold together.
pub const MAX_VARIANT_BYTES: usize = 1 << 20;
/// Longest node pattern (a stored node name is at most 255 bytes; braces listing many
/// alternatives make longer patterns).
pub const MAX_NODE_BYTES: usize = 64 << 10;
/// Most `{` in one node pattern (each brace group expanded is one level of recursion).
pub const MAX_GROUPS: usize = 1024;

/// Why a pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error(
        "pattern node {node} expands to more than {MAX_VARIANTS} alternatives \
         (or more than {MAX_VARIANT_BYTES} bytes of them)"
    )]
    TooManyVariants { node: usize },
    #[error("pattern node {node} is longer than {MAX_NODE_BYTES} bytes")]
    TooLong { node: usize },
    #[error("pattern node {node} has more than {MAX_GROUPS} braces")]
    TooManyBraces { node: usize },
    /// The request's budget ran out (too many candidates tried) or it was stopped.
    #[error("{0}")]
    Budget(Exceeded),
}

impl From<Exceeded> for GlobError {
    fn from(e: Exceeded) -> Self {
        GlobError::Budget(e)
    }
}

/// The budget of a walk made outside a request: [`Budget::new`]'s default candidates.
fn default_budget() -> Budget {
    Budget::new(Limits::default())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Char(char),
    /// `?` or a negated empty class `[!]`-like: any one character.
    Any,
    Star,
    /// A character class; `items` are inclusive ranges.
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
    /// A class that can match nothing (`[z-a]`).
    Never,
}

impl Tok {
    fn matches(&self, c: char) -> bool {
        match self {
            Tok::Char(x) => *x == c,
            Tok::Any => true,
            Tok::Star | Tok::Never => false,
            Tok::Class { negated, items } => {
                items.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// One `fnmatch` pattern (one brace variant of one node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fnmatch {
    toks: Vec<Tok>,
    literal: Option<String>,
}

impl Fnmatch {
    /// Compiles a pattern as Python 3.11's `fnmatch.translate` does.
    pub fn new(pattern: &str) -> Self {
        let pat: Vec<char> = pattern.chars().collect();
        let toks = translate(&pat);
        let literal = toks
            .iter()
            .map(|t| if let Tok::Char(c) = t { Some(*c) } else { None })
            .collect::<Option<String>>();
        Self { toks, literal }
    }

    /// The exact name if the pattern has no wildcard.
    pub fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        if let Some(l) = &self.literal {
            return l == name;
        }
        let toks = &self.toks;
        let (mut t, mut n) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            let c = name[n..].chars().next().unwrap_or('\0');
            if t < toks.len() {
                if toks[t] == Tok::Star {
                    star = Some((t, n));
                    t += 1;
                    continue;
                }
                if toks[t].matches(c) {
                    t += 1;
                    n += c.len_utf8();
                    continue;
                }
            }
            match star {
                Some((st, sn)) => {
                    let skipped = name[sn..].chars().next().map_or(1, char::len_utf8);
                    t = st + 1;
                    n = sn + skipped;
                    star = Some((st, n));
                }
                None => return false,
            }
        }
        toks[t..].iter().all(|x| *x == Tok::Star)
    }
}

/// `fnmatch.translate`, producing tokens instead of a regular expression.
fn translate(pat: &[char]) -> Vec<Tok> {
    let n = pat.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = pat[i];
        i += 1;
        match c {
            '*' => {
                if out.last() != Some(&Tok::Star) {
                    out.push(Tok::Star);
                }
            }
            '?' => out.push(Tok::Any),
            '[' => {
                let mut j = i;
                if j < n && pat[j] == '!' {
                    j += 1;
                }
                if j < n && pat[j] == ']' {
                    j += 1;
                }
                while j < n && pat[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    out.push(Tok::Char('['));
                } else {
                    out.push(class(pat, i, j));
                    i = j + 1;
                }
            }
            _ => out.push(Tok::Char(c)),
        }
    }
    out
}

/// A bracket expression `pat[i..j]` (between `[` and `]`), built the way
/// `fnmatch.translate` builds the regex class and then read as `re` reads it.
fn class(pat: &[char], open: usize, close: usize) -> Tok {
    let (i, j) = (open, close);
    let content = &pat[i..j];
    // The regex class text, as a list of (char, escaped) pairs.
    let mut stuff: Vec<(char, bool)> = Vec::new();
    if content.contains(&'-') {
        let mut chunks: Vec<Vec<char>> = Vec::new();
        let mut start = i;
        let mut k = if pat[i] == '!' { i + 2 } else { i + 1 };
        while let Some(found) = (k..j).find(|&x| pat[x] == '-') {
            chunks.push(pat[start..found].to_vec());
            start = found + 1;
            k = found + 3;
        }
        let last = pat[start..j].to_vec();
        if last.is_empty() {
            if let Some(prev) = chunks.last_mut() {
                prev.push('-');
            }
        } else {
            chunks.push(last);
        }
        // remove empty (reversed) ranges
        let mut k = chunks.len().saturating_sub(1);
        while k > 0 {
            let reversed = match (chunks[k - 1].last(), chunks[k].first()) {
                (Some(lo), Some(hi)) => lo > hi,
                _ => false,
            };
            if reversed {
                let tail: Vec<char> = chunks[k][1..].to_vec();
                chunks[k - 1].pop();
                chunks[k - 1].extend(tail);
                chunks.remove(k);
            }
            k -= 1;
        }
        for (idx, chunk) in chunks.iter().enumerate() {
            if idx > 0 {
                stuff.push(('-', false));
            }
            stuff.extend(chunk.iter().map(|&c| (c, c == '-' || c == '\\')));
        }
    } else {
        stuff.extend(content.iter().map(|&c| (c, c == '\\')));
    }
    for item in &mut stuff {
        if matches!(item.0, '&' | '~' | '|') {
            item.1 = true;
        }
    }
    if stuff.is_empty() {
        return Tok::Never;
    }
    if stuff == [('!', false)] {
        return Tok::Any;
    }
    let mut negated = false;
    let mut body: &[(char, bool)] = &stuff;
    if stuff[0] == ('!', false) {
        negated = true;
        body = &stuff[1..];
    }
    // `re` class parsing: a range is `x-y`; a `-` before the end is literal.
    let mut items = Vec::new();
    let mut p = 0;
    while p < body.len() {
        let lo = body[p].0;
        if body.get(p + 1) == Some(&('-', false)) && p + 2 < body.len() {
            let hi = body[p + 2].0;
            if hi < lo {
                return Tok::Never; // `re.error: bad character range`
            }
            items.push((lo, hi));
            p += 3;
        } else {
            items.push((lo, lo));
            p += 1;
        }
    }
    Tok::Class { negated, items }
}

/// graphite's `expand_braces`: every variant of `s` (a set, returned sorted).
pub fn expand_braces(s: &str) -> Result<Vec<String>, GlobError> {
    expand_braces_within(s, &default_budget())
}

/// [`expand_braces`], each variant produced (the intermediate ones too) charged to
/// `budget` as one candidate.
pub fn expand_braces_within(s: &str, budget: &Budget) -> Result<Vec<String>, GlobError> {
    // Each level of the recursion expands one group and holds one string as long as `s`.
    if s.len() > MAX_NODE_BYTES {
        return Err(GlobError::TooLong { node: 0 });
    }
    if s.bytes().filter(|&b| b == b'{').count() > MAX_GROUPS {
        return Err(GlobError::TooManyBraces { node: 0 });
    }
    let mut out = Variants::default();
    expand_into(s, &mut out, budget)?;
    if out.set.len() > MAX_VARIANTS || out.bytes > MAX_VARIANT_BYTES {
        return Err(GlobError::TooManyVariants { node: 0 });
    }
    Ok(out.set.into_iter().collect())
}

/// The distinct variants found so far and their total length.
#[derive(Default)]
struct Variants {
    set: BTreeSet<String>,
    bytes: usize,
}

fn expand_into(s: &str, out: &mut Variants, budget: &Budget) -> Result<(), GlobError> {
    budget.try_candidates(1)?;
    if out.set.len() > MAX_VARIANTS || out.bytes > MAX_VARIANT_BYTES {
        return Err(GlobError::TooManyVariants { node: 0 });
    }
    // leftmost `{` followed by non-brace characters and `}`
    let bytes = s.as_bytes();
    let mut found = None;
    for (open, _) in s.match_indices('{') {
        let close = bytes[open + 1..]
            .iter()
            .position(|&b| b == b'{' || b == b'}');
        if let Some(off) = close {
            if bytes[open + 1 + off] == b'}' {
                found = Some((open, open + 1 + off));
                break;
            }
        }
    }
    match found {
        Some((open, close)) => {
            for alt in s[open + 1..close].split(',') {
                let variant = format!("{}{alt}{}", &s[..open], &s[close + 1..]);
                expand_into(&variant, out, budget)?;
            }
        }
        None => {
            if out.set.insert(s.to_owned()) {
                out.bytes += s.len();
            }
        }
    }
    Ok(())
}

/// One node of a dotted pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodePattern {
    /// `**`: zero or more nodes.
    GlobStar,
    /// The brace variants of the node, each an `fnmatch` pattern.
    Variants(Vec<Fnmatch>),
}

impl NodePattern {
    fn new(node: &str, index: usize, budget: &Budget) -> Result<Self, GlobError> {
        let variants = expand_braces_within(node, budget).map_err(|e| match e {
            GlobError::TooManyVariants { .. } => GlobError::TooManyVariants { node: index },
            GlobError::TooLong { .. } => GlobError::TooLong { node: index },
            GlobError::TooManyBraces { .. } => GlobError::TooManyBraces { node: index },
            other @ GlobError::Budget(_) => other,
        })?;
        if variants.len() == 1 && variants[0] == "**" {
            return Ok(Self::GlobStar);
        }
        Ok(Self::Variants(
            variants.iter().map(|v| Fnmatch::new(v)).collect(),
        ))
    }

    /// Whether one node name matches (a globstar matches any single node).
    pub fn matches(&self, node: &str) -> bool {
        match self {
            Self::GlobStar => true,
            Self::Variants(vs) => vs.iter().any(|v| v.matches(node)),
        }
    }
}

/// A compiled dotted pattern such as `servers.web*.{cpu,mem}.[0-9]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    nodes: Vec<NodePattern>,
}

impl Pattern {
    /// Compiles `pattern` (backslashes removed, as graphite's finder does).
    pub fn new(pattern: &str) -> Result<Self, GlobError> {
        Self::compile(pattern, &default_budget())
    }

    /// [`Pattern::new`], the brace variants charged to `budget`.
    pub fn compile(pattern: &str, budget: &Budget) -> Result<Self, GlobError> {
        let clean = pattern.replace('\\', "");
        let nodes = clean
            .split('.')
            .enumerate()
            .map(|(i, node)| NodePattern::new(node, i, budget))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { nodes })
    }

    /// The node patterns in order.
    pub fn nodes(&self) -> &[NodePattern] {
        &self.nodes
    }

    /// Whether a full dotted name matches.
    pub fn matches(&self, name: &str) -> bool {
        let parts: Vec<&str> = name.split('.').collect();
        match_parts(&self.nodes, &parts)
    }
}

fn match_parts(pats: &[NodePattern], parts: &[&str]) -> bool {
    match pats.split_first() {
        None => parts.is_empty(),
        Some((NodePattern::GlobStar, [])) => !parts.is_empty(),
        Some((NodePattern::GlobStar, rest)) => {
            (0..=parts.len()).any(|skip| match_parts(rest, &parts[skip..]))
        }
        Some((p, rest)) => match parts.split_first() {
            Some((first, tail)) => p.matches(first) && match_parts(rest, tail),
            None => false,
        },
    }
}

/// A `/metrics/find` result: a leaf (a stored series) or a branch (has nodes below).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FindMatch {
    pub path: String,
    pub is_leaf: bool,
}

#[derive(Debug, Default, Clone)]
struct Node {
    children: BTreeMap<Box<str>, Node>,
    leaf: bool,
}

/// Every known metric name as a trie of nodes.
#[derive(Debug, Default, Clone)]
pub struct NameIndex {
    root: Node,
    leaves: usize,
}

impl NameIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of names (leaves).
    pub fn len(&self) -> usize {
        self.leaves
    }

    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// Adds a name; returns true if it was new. Names with an empty node (`a..b`, `.a`)
    /// are refused (false): no whisper file can have them.
    pub fn insert(&mut self, name: &str) -> bool {
        if name.split('.').any(str::is_empty) {
            return false;
        }
        let mut node = &mut self.root;
        for part in name.split('.') {
            node = node.children.entry(part.into()).or_default();
        }
        let added = !node.leaf;
        node.leaf = true;
        self.leaves += usize::from(added);
        added
    }

    /// Whether `name` was inserted.
    pub fn contains(&self, name: &str) -> bool {
        let mut node = &self.root;
        for part in name.split('.') {
            match node.children.get(part) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.leaf
    }

    /// Removes a name; branches left empty are pruned. Returns true if it was present.
    pub fn remove(&mut self, name: &str) -> bool {
        let parts: Vec<&str> = name.split('.').collect();
        let removed = remove_rec(&mut self.root, &parts);
        self.leaves -= usize::from(removed);
        removed
    }

    /// `/metrics/find`: every leaf and branch whose path matches, sorted by path with a
    /// branch before a leaf of the same path.
    pub fn find(&self, pattern: &str) -> Result<Vec<FindMatch>, GlobError> {
        self.find_compiled(pattern, &Pattern::new(pattern)?, &default_budget())
    }

    /// [`NameIndex::find`] within a request's budget.
    pub fn find_within(&self, pattern: &str, budget: &Budget) -> Result<Vec<FindMatch>, GlobError> {
        self.find_compiled(pattern, &Pattern::compile(pattern, budget)?, budget)
    }

    /// [`NameIndex::find`] of a pattern compiled from `pattern` (compile it before taking
    /// the index's lock: its brace expansion may be the costly part).
    pub fn find_compiled(
        &self,
        pattern: &str,
        compiled: &Pattern,
        budget: &Budget,
    ) -> Result<Vec<FindMatch>, GlobError> {
        let mut out = Vec::new();
        let mut prefix = String::new();
        find_rec(&self.root, &compiled.nodes, &mut prefix, &mut out, budget)?;
        let escaped = escaped_fields(pattern);
        if !escaped.is_empty() {
            let clean = pattern.replace('\\', "");
            let clean_parts: Vec<&str> = clean.split('.').collect();
            for m in &mut out {
                let mut nodes: Vec<&str> = m.path.split('.').collect();
                for &i in &escaped {
                    if i < nodes.len() && i < clean_parts.len() {
                        nodes[i] = clean_parts[i];
                    }
                }
                m.path = nodes.join(".");
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path).then(a.is_leaf.cmp(&b.is_leaf)));
        out.dedup();
        Ok(out)
    }

    /// `/metrics/expand`: the sorted, de-duplicated paths that match (leaves only if asked).
    pub fn expand(&self, pattern: &str, leaves_only: bool) -> Result<Vec<String>, GlobError> {
        self.expand_compiled(
            pattern,
            &Pattern::new(pattern)?,
            leaves_only,
            &default_budget(),
        )
    }

    /// [`NameIndex::expand`] of a compiled pattern within a request's budget.
    pub fn expand_compiled(
        &self,
        pattern: &str,
        compiled: &Pattern,
        leaves_only: bool,
        budget: &Budget,
    ) -> Result<Vec<String>, GlobError> {
        let mut paths: Vec<String> = self
            .find_compiled(pattern, compiled, budget)?
            .into_iter()
            .filter(|m| m.is_leaf || !leaves_only)
            .map(|m| m.path)
            .collect();
        paths.dedup();
        Ok(paths)
    }

    /// The series a render path expression names: the matching leaves, sorted.
    pub fn leaves(&self, pattern: &str) -> Result<Vec<String>, GlobError> {
        self.expand(pattern, true)
    }

    /// Every name, sorted (`/metrics/index.json`).
    pub fn all(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.leaves);
        let mut prefix = String::new();
        all_rec(&self.root, &mut prefix, &mut out);
        out
    }
}

/// graphite's `find_escaped_pattern_fields`: the nodes of the raw pattern where one of
/// `*?[{` is first found right after a backslash. The finder reports those nodes as written
/// (backslashes removed) instead of the names they matched, so `a.b\*` finds `a.b*`.
fn escaped_fields(pattern: &str) -> Vec<usize> {
    pattern
        .split('.')
        .enumerate()
        .filter(|(_, part)| {
            ['*', '?', '[', '{'].iter().any(|&c| {
                part.find(c)
                    .is_some_and(|i| i > 0 && part.as_bytes()[i - 1] == b'\\')
            })
        })
        .map(|(i, _)| i)
        .collect()
}

fn remove_rec(node: &mut Node, parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        let was = node.leaf;
        node.leaf = false;
        return was;
    };
    let Some(child) = node.children.get_mut(*first) else {
        return false;
    };
    let removed = remove_rec(child, rest);
    if removed && !child.leaf && child.children.is_empty() {
        node.children.remove(*first);
    }
    removed
}

fn push_node(prefix: &mut String, name: &str) -> usize {
    let mark = prefix.len();
    if !prefix.is_empty() {
        prefix.push('.');
    }
    prefix.push_str(name);
    mark
}

fn all_rec(node: &Node, prefix: &mut String, out: &mut Vec<String>) {
    for (name, child) in &node.children {
        let mark = push_node(prefix, name);
        if child.leaf {
            out.push(prefix.clone());
        }
        all_rec(child, prefix, out);
        prefix.truncate(mark);
    }
}

/// Every node at depth >= 0 below `node` (itself first), with its path; each one a
/// candidate.
fn descendants<'n>(
    node: &'n Node,
    prefix: &mut String,
    out: &mut Vec<(String, &'n Node)>,
    budget: &Budget,
) -> Result<(), GlobError> {
    budget.try_candidates(1)?;
    out.push((prefix.clone(), node));
    for (name, child) in &node.children {
        let mark = push_node(prefix, name);
        descendants(child, prefix, out, budget)?;
        prefix.truncate(mark);
    }
    Ok(())
}

fn find_rec(
    node: &Node,
    pats: &[NodePattern],
    prefix: &mut String,
    out: &mut Vec<FindMatch>,
    budget: &Budget,
) -> Result<(), GlobError> {
    let Some((first, rest)) = pats.split_first() else {
        return Ok(());
    };
    match first {
        NodePattern::GlobStar => {
            let mut roots = Vec::new();
            descendants(node, prefix, &mut roots, budget)?;
            let any = [NodePattern::Variants(vec![Fnmatch::new("*")])];
            let rest: &[NodePattern] = if rest.is_empty() { &any } else { rest };
            for (mut path, n) in roots {
                find_rec(n, rest, &mut path, out, budget)?;
            }
        }
        NodePattern::Variants(variants) => {
            let mut visit = |name: &str, child: &Node, prefix: &mut String| {
                let mark = push_node(prefix, name);
                if rest.is_empty() {
                    if !child.children.is_empty() {
                        out.push(FindMatch {
                            path: prefix.clone(),
                            is_leaf: false,
                        });
                    }
                    if child.leaf {
                        out.push(FindMatch {
                            path: prefix.clone(),
                            is_leaf: true,
                        });
                    }
                } else {
                    find_rec(child, rest, prefix, out, budget)?;
                }
                prefix.truncate(mark);
                Ok::<(), GlobError>(())
            };
            // Variants without a wildcard are looked up, each one candidate (brace
            // variants are sorted and distinct, so each child is visited once).
            let literals: Option<Vec<&str>> = variants.iter().map(Fnmatch::literal).collect();
            if let Some(literals) = literals {
                for lit in literals {
                    budget.try_candidates(1)?;
                    if let Some(child) = node.children.get(lit) {
                        visit(lit, child, prefix)?;
                    }
                }
                return Ok(());
            }
            for (name, child) in &node.children {
                let mut tried = 0;
                let hit = variants.iter().any(|v| {
                    tried += 1;
                    v.matches(name)
                });
                budget.try_candidates(tried)?;
                if hit {
                    visit(name, child, prefix)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_basics() {
        let m = |p: &str, n: &str| Fnmatch::new(p).matches(n);
        assert!(m("*", ""));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abbbd"));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[^a]", "^"));
        assert!(m("[]]", "]"));
        assert!(m("[", "["));
        assert!(!m("[z-a]", "m"));
        assert!(m("é*", "éa"));
    }

    /// Work is bounded by the candidates tried, not the results: `{,}` × 30 has 2^30
    /// variants and one distinct result; globstars enumerate the index again per `**`.
    #[test]
    fn walks_are_bounded_by_the_candidates_they_try() {
        let product = format!("{}x", "{,}".repeat(30));
        let budget = Budget::new(Limits::default()).with_candidates(Some(100_000));
        let e = expand_braces_within(&product, &budget).unwrap_err();
        assert!(e.to_string().contains("http.max_glob_candidates"), "{e}");
        assert!(expand_braces(&"{,}".repeat(5)).is_ok());

        let mut index = NameIndex::new();
        for i in 0..200 {
            index.insert(&format!("a.b{}.c{}.d", i % 10, i));
        }
        let stars = ["**"; 8].join(".");
        let budget = Budget::new(Limits::default()).with_candidates(Some(100_000));
        let e = index.find_within(&stars, &budget).unwrap_err();
        assert!(matches!(e, GlobError::Budget(Exceeded::Size { .. })), "{e}");
        // A pattern of literal alternatives looks each one up.
        let budget = Budget::new(Limits::default()).with_candidates(Some(20));
        let found = index.find_within("a.b{1,2}.c11.d", &budget).unwrap();
        assert_eq!(found.len(), 1);

        // Too many braces or bytes in one node is refused before any expansion.
        let braces = "{a}".repeat(MAX_GROUPS + 1);
        assert_eq!(
            expand_braces(&braces),
            Err(GlobError::TooManyBraces { node: 0 })
        );
        let long = format!("{{{}}}", "x,".repeat(MAX_NODE_BYTES));
        assert_eq!(
            index.find(&format!("a.{long}")),
            Err(GlobError::TooLong { node: 1 })
        );
    }

    /// A walk stops once the request must (its deadline passed, the server stopping).
    #[test]
    fn walks_see_the_stop_probe() {
        let mut index = NameIndex::new();
        for i in 0..2000 {
            index.insert(&format!("s.n{i}"));
        }
        let budget = Budget::new(Limits::default())
            .with_probe(|| Some(crate::query::budget::Stop::Stopping));
        let e = index.find_within("s.*", &budget).unwrap_err();
        assert!(matches!(e, GlobError::Budget(Exceeded::Stopped(_))), "{e}");
    }

    #[test]
    fn braces() {
        assert_eq!(expand_braces("{a,b}c").unwrap(), vec!["ac", "bc"]);
        assert_eq!(expand_braces("{a,{b,c}}").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(expand_braces("x{,y}").unwrap(), vec!["x", "xy"]);
        assert_eq!(expand_braces("{a").unwrap(), vec!["{a"]);
    }
}
