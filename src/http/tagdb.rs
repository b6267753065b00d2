//! The in-memory tag index (graphite-web's `TagDB`, `tags/base.py` and
//! `tags/localdatabase.py`): which tagged series exist, and which match a set of
//! `seriesByTag` expressions.
//!
//! Series enter it when a shard first caches a point of a tagged name (`name;k=v`), and
//! through `/tags/tagSeries`. Every series has the `name` tag. Expressions are
//! `tag=spec`, `tag!=spec`, `tag=~regex` and `tag!=~regex` (the regex anchored at the
//! start of the value); a series lacking a tag is tested as if its value were empty, and at
//! least one expression must not match the empty value.
//!
//! With [`TagDb::open`] the series are also kept in SQLite (table `tagged_series` of
//! `<data-dir>/lonsdaleite.sqlite`, [`crate::http::sqlite`]), so a restart knows the tagged
//! series on disk, whose file names are hashes the start-up scan
//! ([`crate::storage::index`]) cannot turn back into names. The query thread keeps it
//! beside the name index and reads it through [`crate::http::source::Storage::tags`],
//! which first takes in the tagged names the shards reported.

use std::collections::{BTreeMap, BTreeSet};

use crate::query::series::parse_tags;

/// Why a tag request failed (graphite answers these with HTTP 400 `{"error": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("Invalid tagspec {0}")]
    Spec(String),
    #[error("Invalid regex in tagspec {spec}: {message}")]
    Regex { spec: String, message: String },
    #[error("At least one tagspec must not match the empty string")]
    OnlyEmpty,
    #[error("Invalid tagged series name {name:?}: {message}")]
    Name { name: String, message: String },
}

/// One parsed expression.
#[derive(Debug, Clone)]
enum Test {
    Eq(String),
    Ne(String),
    Match(regex::Regex),
    NoMatch(regex::Regex),
}

impl Test {
    fn matches(&self, value: &str) -> bool {
        match self {
            Test::Eq(s) => value == s,
            Test::Ne(s) => value != s,
            Test::Match(r) => r.is_match(value),
            Test::NoMatch(r) => !r.is_match(value),
        }
    }
}

/// A parsed tag expression: the tag it tests and how.
#[derive(Debug, Clone)]
pub struct Expr {
    pub tag: String,
    test: Test,
}

impl Expr {
    /// Parses `tag(=|!=|=~|!=~)spec` (graphite's `^([^;!=]+)(!?=~?)([^;]*)$`).
    pub fn parse(spec: &str) -> Result<Self, TagError> {
        let bad = || TagError::Spec(spec.to_string());
        let op_at = spec.find(['!', '=']).ok_or_else(bad)?;
        let tag = &spec[..op_at];
        if tag.is_empty() || tag.contains(';') {
            return Err(bad());
        }
        let rest = &spec[op_at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("!=~") {
            ("!=~", v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            ("!=", v)
        } else if let Some(v) = rest.strip_prefix("=~") {
            ("=~", v)
        } else if let Some(v) = rest.strip_prefix('=') {
            ("=", v)
        } else {
            return Err(bad());
        };
        if value.contains(';') {
            return Err(bad());
        }
        let regex = || {
            let anchored = if value.starts_with('^') {
                value.to_string()
            } else {
                format!("^(?:{value})")
            };
            regex::Regex::new(&anchored).map_err(|e| TagError::Regex {
                spec: spec.to_string(),
                message: e.to_string(),
            })
        };
        let test = match op {
            "=" => Test::Eq(value.to_string()),
            "!=" => Test::Ne(value.to_string()),
            "=~" => Test::Match(regex()?),
            _ => Test::NoMatch(regex()?),
        };
        Ok(Expr {
            tag: tag.to_string(),
            test,
        })
    }

    fn matches_empty(&self) -> bool {
        self.test.matches("")
    }

    fn matches(&self, tags: &[(String, String)]) -> bool {
        let value = tags
            .iter()
            .find(|(k, _)| *k == self.tag)
            .map_or("", |(_, v)| v.as_str());
        self.test.matches(value)
    }
}

/// Every known series with its tags (see the module documentation).
#[derive(Debug, Default)]
pub struct TagDb {
    series: BTreeMap<String, Vec<(String, String)>>,
    /// tag → value → number of series.
    values: BTreeMap<String, BTreeMap<String, usize>>,
    /// Where series are remembered across restarts.
    db: Option<rusqlite::Connection>,
}

/// The canonical form of a series name (carbon's `TaggedSeries.parse(path).path`).
pub fn canonical(path: &str) -> Result<String, TagError> {
    let normal =
        crate::protocol::tagged::normalize(path.as_bytes()).map_err(|e| TagError::Name {
            name: path.to_string(),
            message: e.to_string(),
        })?;
    Ok(String::from_utf8_lossy(&normal).into_owned())
}

impl TagDb {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tag index remembered in the SQLite file `path` (created if needed,
    /// [`crate::http::sqlite::open`]), loaded with the series stored there.
    ///
    /// Its connection syncs at checkpoints only (`synchronous = NORMAL`): a crash of the
    /// machine may lose the last names stored (a series the shards write is reported again
    /// when it is next written).
    pub fn open(path: &std::path::Path) -> rusqlite::Result<Self> {
        let conn = crate::http::sqlite::open(path)?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS tagged_series (path TEXT PRIMARY KEY);",
        )?;
        let mut db = TagDb::new();
        {
            let mut st = conn.prepare("SELECT path FROM tagged_series")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            for path in rows {
                let _ = db.insert(&path?);
            }
        }
        db.db = Some(conn);
        Ok(db)
    }

    /// Adds many series in one transaction (the shards' new names); bad names are skipped.
    pub fn add_all<'a>(&mut self, paths: impl IntoIterator<Item = &'a str>) {
        let mut new = Vec::new();
        for p in paths {
            if let Ok((name, true)) = self.insert(p) {
                new.push(name);
            }
        }
        self.remember(&new);
    }

    fn remember(&mut self, names: &[String]) {
        let Some(conn) = self.db.as_mut() else {
            return;
        };
        if names.is_empty() {
            return;
        }
        let stored = (|| {
            let tx = conn.transaction()?;
            {
                let mut st =
                    tx.prepare_cached("INSERT OR IGNORE INTO tagged_series (path) VALUES (?1)")?;
                for n in names {
                    st.execute([n])?;
                }
            }
            tx.commit()
        })();
        if let Err(e) = stored {
            tracing::warn!(error = %e, "tagged series not remembered in the database");
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Adds a series (`/tags/tagSeries`); returns its canonical name.
    pub fn add(&mut self, path: &str) -> Result<String, TagError> {
        let (name, new) = self.insert(path)?;
        if new {
            self.remember(std::slice::from_ref(&name));
        }
        Ok(name)
    }

    /// Adds a series in memory; returns its canonical name and whether it is new.
    fn insert(&mut self, path: &str) -> Result<(String, bool), TagError> {
        let name = canonical(path)?;
        let new = !self.series.contains_key(&name);
        if new {
            let tags = parse_tags(&name);
            for (k, v) in &tags {
                *self
                    .values
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default() += 1;
            }
            self.series.insert(name.clone(), tags);
        }
        Ok((name, new))
    }

    /// Removes a series (`/tags/delSeries`); true if it was there.
    pub fn remove(&mut self, path: &str) -> bool {
        let Ok(name) = canonical(path) else {
            return false;
        };
        let Some(tags) = self.series.remove(&name) else {
            return false;
        };
        if let Some(conn) = &self.db {
            if let Err(e) = conn.execute("DELETE FROM tagged_series WHERE path = ?1", [&name]) {
                tracing::warn!(error = %e, "deleted tagged series still in the database");
            }
        }
        for (k, v) in tags {
            if let Some(values) = self.values.get_mut(&k) {
                if let Some(n) = values.get_mut(&v) {
                    *n -= 1;
                    if *n == 0 {
                        values.remove(&v);
                    }
                }
                if values.is_empty() {
                    self.values.remove(&k);
                }
            }
        }
        true
    }

    /// Whether the canonical `name` is known.
    pub fn contains(&self, name: &str) -> bool {
        self.series.contains_key(name)
    }

    /// Series matching every expression, sorted (`/tags/findSeries`, `seriesByTag`).
    pub fn find(&self, exprs: &[&str]) -> Result<Vec<String>, TagError> {
        let parsed = exprs
            .iter()
            .map(|e| Expr::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.iter().all(Expr::matches_empty) {
            return Err(TagError::OnlyEmpty);
        }
        Ok(self
            .series
            .iter()
            .filter(|(_, tags)| parsed.iter().all(|e| e.matches(tags)))
            .map(|(name, _)| name.clone())
            .collect())
    }

    /// Tag names, sorted, those matching `filter` (anchored at the start), at most `limit`.
    pub fn tags(&self, filter: Option<&regex::Regex>, limit: Option<usize>) -> Vec<String> {
        self.values
            .keys()
            .filter(|t| filter.is_none_or(|r| r.is_match(t)))
            .take(limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }

    /// `(value, series count)` of one tag, sorted by value.
    pub fn values(
        &self,
        tag: &str,
        filter: Option<&regex::Regex>,
        limit: Option<usize>,
    ) -> Vec<(String, usize)> {
        self.values
            .get(tag)
            .map(|values| {
                values
                    .iter()
                    .filter(|(v, _)| filter.is_none_or(|r| r.is_match(v)))
                    .take(limit.unwrap_or(usize::MAX))
                    .map(|(v, n)| (v.clone(), *n))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `/tags/autoComplete/tags`.
    pub fn complete_tags(
        &self,
        exprs: &[&str],
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, TagError> {
        if exprs.is_empty() {
            return Ok(self
                .values
                .keys()
                .filter(|t| t.starts_with(prefix))
                .take(limit)
                .cloned()
                .collect());
        }
        let searched: BTreeSet<String> = exprs
            .iter()
            .map(|e| Expr::parse(e).map(|x| x.tag))
            .collect::<Result<_, _>>()?;
        // graphite keeps the `limit` smallest over every matching series.
        let mut out = BTreeSet::new();
        for path in self.find(exprs)? {
            for (tag, _) in &self.series[&path] {
                if searched.contains(tag) || !tag.starts_with(prefix) {
                    continue;
                }
                out.insert(tag.clone());
                if out.len() > limit {
                    out.pop_last();
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// `/tags/autoComplete/values`.
    pub fn complete_values(
        &self,
        exprs: &[&str],
        tag: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, TagError> {
        if exprs.is_empty() {
            return Ok(self
                .values
                .get(tag)
                .into_iter()
                .flat_map(|v| v.keys())
                .filter(|v| v.starts_with(prefix))
                .take(limit)
                .cloned()
                .collect());
        }
        let mut out = BTreeSet::new();
        for path in self.find(exprs)? {
            let Some((_, v)) = self.series[&path].iter().find(|(k, _)| k == tag) else {
                continue;
            };
            // graphite keeps the `limit` smallest over every matching series.
            if v.starts_with(prefix) {
                out.insert(v.clone());
                if out.len() > limit {
                    out.pop_last();
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> TagDb {
        let mut db = TagDb::new();
        for p in [
            "disk.used;rack=a1;datacenter=dc1;server=web01",
            "disk.used;rack=a2;datacenter=dc1;server=web02",
            "disk.used;datacenter=dc2;server=web03",
            "cpu.load;server=web01",
        ] {
            db.add(p).unwrap();
        }
        db
    }

    #[test]
    fn canonical_names_and_find() {
        let db = db();
        assert!(db.contains("disk.used;datacenter=dc1;rack=a1;server=web01"));
        assert_eq!(
            db.find(&["name=disk.used", "rack=~a"]).unwrap(),
            [
                "disk.used;datacenter=dc1;rack=a1;server=web01",
                "disk.used;datacenter=dc1;rack=a2;server=web02"
            ]
        );
        // A missing tag is the empty value: rack= finds series without a rack.
        assert_eq!(
            db.find(&["name=disk.used", "rack="]).unwrap(),
            ["disk.used;datacenter=dc2;server=web03"]
        );
        assert_eq!(
            db.find(&["server=~web0[12]", "name!=cpu.load"])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(db.find(&["server!=~web"]), Err(TagError::OnlyEmpty));
        assert!(matches!(db.find(&["bad"]), Err(TagError::Spec(_))));
        assert!(matches!(db.find(&["a=~("]), Err(TagError::Regex { .. })));
    }

    #[test]
    fn remembered_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.sqlite");
        {
            let mut db = TagDb::open(&file).unwrap();
            db.add_all(["a;x=1", "b;y=2", "bad;=", "a;x=1"]);
            db.add("c;z=3").unwrap();
            assert!(db.remove("b;y=2"));
        }
        let db = TagDb::open(&file).unwrap();
        assert_eq!(db.find(&["name=~."]).unwrap(), ["a;x=1", "c;z=3"]);
    }

    #[test]
    fn lists_and_completion() {
        let mut db = db();
        assert_eq!(
            db.tags(None, None),
            ["datacenter", "name", "rack", "server"]
        );
        assert_eq!(
            db.values("datacenter", None, None),
            [("dc1".to_string(), 2), ("dc2".to_string(), 1)]
        );
        assert_eq!(
            db.complete_tags(&["name=disk.used"], "", 100).unwrap(),
            ["datacenter", "rack", "server"]
        );
        assert_eq!(db.complete_tags(&[], "s", 100).unwrap(), ["server"]);
        assert_eq!(
            db.complete_values(&["name=disk.used"], "server", "web0", 2)
                .unwrap(),
            ["web01", "web02"]
        );
        assert!(db.remove("cpu.load;server=web01"));
        assert_eq!(db.values("server", None, None).len(), 3);
        assert_eq!(db.len(), 3);
    }
}
