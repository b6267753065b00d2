//! The evaluator's [`Source`] on a frontend: this node's own data plus every member's
//! (`[cluster] servers`), merged as graphite-web 1.1.10 merges them.
//!
//! As graphite-web's frontend, no find is sent before a render: before evaluating,
//! every path expression of the request's targets is sent to every member in one render
//! request (`/render/?local=1&format=msgpack&target=P1&target=P2…`,
//! [`FederatedSource::prefetch`], graphite-web's `prefetchData`), and the names a path
//! expression finds are this node's and the members'. A path expression the prefetch did
//! not cover (inside `template(…)`, with an escape) is sent when evaluated; a function
//! that reads another window (`timeShift`, a moving window's bootstrap) asks the members
//! again for that window. `seriesByTag(…)` is
//! passed to the members as a target too (to a member marked `noTags`, the names this
//! node's tag index resolves it to).
//!
//! Merging (`render/datalib.py` `_merge_results` with `REMOTE_STORE_MERGE_RESULTS`): this
//! node's series first, then the members' in `[cluster] servers` order; a series whose
//! name is already there fills the `None` slots of the first when both have as many
//! values, and replaces it when they differ in length and the first has gaps; series come
//! out sorted by name.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use super::federation_client::Cluster;
use crate::query::budget::Budget;
use crate::query::eval::{EvalError, Source};
use crate::query::grammar::{Expr, Value};
use crate::query::series::Series;

/// What one find or `seriesByTag` found.
struct Found {
    /// The target the members were sent.
    target: String,
    /// This node's names for it.
    local: Vec<String>,
    /// The window the members answered for, and their series (taken by the fetch that
    /// reads them: a second fetch of the same names asks the members again).
    window: (i64, i64, i64),
    remote: Option<Vec<Vec<Series>>>,
    /// The names returned (sorted union).
    names: Vec<String>,
}

/// A request's source on a frontend.
pub struct FederatedSource<'a> {
    pub local: &'a dyn Source,
    pub cluster: &'a Cluster,
    /// The request's window and `now`, which members are asked for first.
    pub window: (i64, i64, i64),
    /// The request's deadline: no member is waited for past it.
    pub deadline: Instant,
    found: Mutex<Vec<Found>>,
    /// The members' series of each path expression [`Self::prefetch`] sent (grouped by
    /// the `pathExpression` each series comes back with), and how many times the targets
    /// hold it: the last find of it takes the series, the ones before get a copy.
    prefetched: Mutex<HashMap<String, (Vec<Series>, usize)>>,
}

/// The path expressions of `expr` a member can be sent as they are: not those inside
/// `template(…)` (filled in later) nor `seriesByTag(…)` (asked when evaluated), nor
/// one with an escape (its text here has the escape removed).
fn path_expressions(expr: &Expr<'_>, out: &mut BTreeMap<String, usize>) {
    match expr {
        Expr::Path(p) if !p.text.contains('\\') => {
            *out.entry(p.text.to_string()).or_default() += 1;
        }
        Expr::Path(_) | Expr::Template(_) => {}
        Expr::Call(c) if c.name == "seriesByTag" => {}
        Expr::Call(c) => {
            for arg in c.args.iter().chain(c.kwargs.iter().map(|k| &k.value)) {
                if let Value::Expr(e) = &arg.value {
                    path_expressions(e, out);
                }
            }
        }
    }
}

impl<'a> FederatedSource<'a> {
    pub fn new(
        local: &'a dyn Source,
        cluster: &'a Cluster,
        window: (i64, i64, i64),
        deadline: Instant,
    ) -> Self {
        Self {
            local,
            cluster,
            window,
            deadline,
            found: Mutex::new(Vec::new()),
            prefetched: Mutex::new(HashMap::new()),
        }
    }

    /// graphite-web's `prefetchData`: every path expression of `targets` is sent to each
    /// member in one render request over the request's window, so that evaluating the
    /// targets asks no member again for it. A target that does not parse is left to the
    /// evaluation to report.
    pub fn prefetch(&self, targets: &[&str]) {
        let mut patterns = BTreeMap::new();
        for t in targets {
            if let Ok(expr) = crate::query::grammar::parse(t) {
                path_expressions(&expr, &mut patterns);
            }
        }
        if patterns.is_empty() {
            return;
        }
        let list: Vec<String> = patterns.keys().cloned().collect();
        let (start, end, now) = self.window;
        let answers = self
            .cluster
            .render(|_| list.clone(), start, end, now, self.deadline);
        let mut by_pattern: HashMap<String, (Vec<Series>, usize)> = patterns
            .into_iter()
            .map(|(p, uses)| (p, (Vec::new(), uses)))
            .collect();
        for s in answers.into_iter().flatten() {
            if let Some((group, _)) = by_pattern.get_mut(&s.path_expression) {
                group.push(s);
            }
        }
        *self
            .prefetched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = by_pattern;
    }

    fn found(&self) -> std::sync::MutexGuard<'_, Vec<Found>> {
        self.found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks the members for `target` over `window` (`tag_names`: what a member without
    /// tags is sent instead).
    fn ask(
        &self,
        target: &str,
        tag_names: Option<&[String]>,
        window: (i64, i64, i64),
    ) -> Vec<Vec<Series>> {
        let (start, end, now) = window;
        self.cluster.render(
            |m| match tag_names {
                Some(names) if m.no_tags => names.to_vec(),
                _ => vec![target.to_string()],
            },
            start,
            end,
            now,
            self.deadline,
        )
    }

    fn remember(&self, target: String, local: Vec<String>, tag: bool) -> Vec<String> {
        let prefetched = {
            let mut all = self
                .prefetched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match all.get_mut(&target) {
                Some((series, uses)) if *uses > 1 => {
                    *uses -= 1;
                    Some(series.clone())
                }
                Some(_) => all.remove(&target).map(|(series, _)| series),
                None => None,
            }
        };
        let remote = match prefetched {
            Some(series) => vec![series],
            None => self.ask(&target, tag.then_some(&local[..]), self.window),
        };
        let mut names: Vec<String> = local
            .iter()
            .cloned()
            .chain(remote.iter().flatten().map(|s| s.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        self.found().push(Found {
            target,
            local,
            window: self.window,
            remote: Some(remote),
            names: names.clone(),
        });
        names
    }
}

/// Merges series as graphite-web's `_merge_results` does (see the module documentation);
/// the result is sorted by name.
pub fn merge(series: impl IntoIterator<Item = Series>) -> Vec<Series> {
    let mut by_name: BTreeMap<String, Series> = BTreeMap::new();
    for s in series {
        let Some(known) = by_name.get_mut(&s.name) else {
            by_name.insert(s.name.clone(), s);
            continue;
        };
        let gaps = known.values.iter().filter(|v| v.is_none()).count();
        if gaps == 0 || s.values.is_empty() {
            continue;
        }
        if s.values.len() == known.values.len() {
            for i in 0..s.values.len() {
                if known.values[i].is_none() && s.values[i].is_some() {
                    known.values[i] = s.values[i];
                    if s.is_int(i) {
                        let n = known.values.len();
                        known.ints.get_or_insert_with(|| vec![false; n])[i] = true;
                    }
                }
            }
        } else {
            *known = s;
        }
    }
    by_name.into_values().collect()
}

impl Source for FederatedSource<'_> {
    fn find(&self, pattern: &str) -> Result<Vec<String>, EvalError> {
        let local = self.local.find(pattern)?;
        Ok(self.remember(pattern.to_string(), local, false))
    }

    fn fetch(
        &self,
        names: &[String],
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<Vec<Series>, EvalError> {
        let window = (start, end, now);
        let known = {
            let mut found = self.found();
            // The latest find of these names whose series are still there, else any.
            let i = found
                .iter()
                .rposition(|f| f.names == names && f.remote.is_some())
                .or_else(|| found.iter().rposition(|f| f.names == names));
            i.map(|i| {
                let f = &mut found[i];
                let remote = if f.window == window {
                    f.remote.take()
                } else {
                    None
                };
                (f.target.clone(), f.local.clone(), remote)
            })
        };
        let (local_names, remote) = match known {
            Some((_, local, Some(remote))) => (local, remote),
            Some((target, local, None)) => {
                let tag = target.starts_with("seriesByTag(");
                let remote = self.ask(&target, tag.then_some(&local[..]), window);
                (local, remote)
            }
            None => {
                // Names that no find gave (a caller of its own): asked by name.
                let remote =
                    self.cluster
                        .render(|_| names.to_vec(), start, end, now, self.deadline);
                (names.to_vec(), remote)
            }
        };
        let mine = self.local.fetch(&local_names, start, end, now)?;
        let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        Ok(merge(
            mine.into_iter()
                .chain(remote.into_iter().flatten())
                .filter(|s| wanted.contains(s.name.as_str())),
        ))
    }

    fn series_by_tag(&self, expressions: &[String]) -> Result<Vec<String>, EvalError> {
        let local = self.local.series_by_tag(expressions)?;
        let target = format!(
            "seriesByTag({})",
            expressions
                .iter()
                .map(|e| format!("'{}'", e.replace('\\', "\\\\").replace('\'', "\\'")))
                .collect::<Vec<_>>()
                .join(",")
        );
        Ok(self.remember(target, local, true))
    }

    fn events(&self, tags: &[String], start: i64, end: i64) -> Result<Vec<i64>, EvalError> {
        self.local.events(tags, start, end)
    }

    fn budget(&self) -> Option<&Budget> {
        self.local.budget()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, values: &[Option<f64>]) -> Series {
        Series::new(name, 0, 10 * values.len() as i64, 10, values.to_vec())
    }

    /// graphite's rules: gaps filled from an equal-length copy, a copy of another length
    /// replaces one with gaps, a complete one is kept; sorted by name.
    #[test]
    fn merges_as_graphite() {
        let out = merge([
            s("b", &[Some(1.0), None, None]),
            s("a", &[Some(5.0)]),
            s("b", &[Some(9.0), Some(2.0), None]),
            s("a", &[Some(6.0), Some(7.0)]),
            s("b", &[None, None, Some(3.0)]),
            s("c", &[None]),
            s("c", &[None, Some(4.0)]),
        ]);
        let got: Vec<(&str, Vec<Option<f64>>)> = out
            .iter()
            .map(|s| (s.name.as_str(), s.values.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", vec![Some(5.0)]),
                ("b", vec![Some(1.0), Some(2.0), Some(3.0)]),
                ("c", vec![None, Some(4.0)]),
            ]
        );
    }
}
