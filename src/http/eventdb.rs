//! Graphite events (graphite-web's `events` app) in SQLite: table `events` of
//! `<data-dir>/lonsdaleite.sqlite` ([`crate::http::sqlite`]), which the tag index and the
//! saved dashboards share, each with a connection of its own. The routes are in
//! [`crate::http::events`]; `events()` in render targets reads here too.
//!
//! An event is `when` (Unix seconds), `what`, `data` and a set of tags. Tags are given
//! as a list or a string; a string is split as django-tagging does (on commas if it has
//! any, else on spaces), and the stored tags are unique and sorted.

use std::path::Path;

use rusqlite::{params, Connection};

/// Why an events operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("events database: {0}")]
    Db(#[from] rusqlite::Error),
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub when: i64,
    pub what: String,
    pub data: String,
    pub tags: Vec<String>,
}

/// Which events a tag filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSet {
    /// Events having every listed tag (graphite's default and `set=intersection`).
    All,
    /// Events having any listed tag (`set=union`).
    Any,
}

/// The events table.
pub struct Events {
    conn: Connection,
}

/// django-tagging's `parse_tag_input`, simplified: split on commas when there are any,
/// else on whitespace; trim, drop empties, unique, sorted.
pub fn parse_tags(input: &str) -> Vec<String> {
    let parts: Vec<&str> = if input.contains(',') {
        input.split(',').collect()
    } else {
        input.split_whitespace().collect()
    };
    let mut tags: Vec<String> = parts
        .into_iter()
        .map(|t| t.trim().trim_matches('"').to_string())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

impl Events {
    /// Opens (creating if needed) the database file `path`
    /// ([`crate::http::sqlite::open`]) and the `events` table.
    pub fn open(path: &Path) -> Result<Self, EventsError> {
        Self::with_connection(crate::http::sqlite::open(path)?)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Self, EventsError> {
        Self::with_connection(crate::http::sqlite::open_in_memory()?)
    }

    fn with_connection(conn: Connection) -> Result<Self, EventsError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 \"when\" INTEGER NOT NULL,
                 what TEXT NOT NULL,
                 data TEXT NOT NULL,
                 tags TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS events_when ON events(\"when\");",
        )?;
        Ok(Self { conn })
    }

    /// Stores an event; returns its id.
    pub fn add(
        &self,
        when: i64,
        what: &str,
        data: &str,
        tags: &[String],
    ) -> Result<i64, EventsError> {
        self.conn.execute(
            "INSERT INTO events (\"when\", what, data, tags) VALUES (?1, ?2, ?3, ?4)",
            params![when, what, data, tags.join(" ")],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// One event by id.
    pub fn get(&self, id: i64) -> Result<Option<Event>, EventsError> {
        let mut st = self
            .conn
            .prepare("SELECT id, \"when\", what, data, tags FROM events WHERE id = ?1")?;
        let mut rows = st.query_map(params![id], row_event)?;
        Ok(rows.next().transpose()?)
    }

    /// Events with `from <= when <= until` having the tags (`set` says all or any; no
    /// tags: every event), by `when` then id.
    pub fn find(
        &self,
        from: i64,
        until: i64,
        tags: &[String],
        set: TagSet,
    ) -> Result<Vec<Event>, EventsError> {
        let mut st = self.conn.prepare(
            "SELECT id, \"when\", what, data, tags FROM events
             WHERE \"when\" >= ?1 AND \"when\" <= ?2 ORDER BY \"when\", id",
        )?;
        let rows = st.query_map(params![from, until], row_event)?;
        let mut out = Vec::new();
        for e in rows {
            let e = e?;
            let keep = tags.is_empty()
                || match set {
                    TagSet::All => tags.iter().all(|t| e.tags.contains(t)),
                    TagSet::Any => tags.iter().any(|t| e.tags.contains(t)),
                };
            if keep {
                out.push(e);
            }
        }
        Ok(out)
    }
}

fn row_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let tags: String = r.get(4)?;
    Ok(Event {
        id: r.get(0)?,
        when: r.get(1)?,
        what: r.get(2)?,
        data: r.get(3)?,
        tags: tags.split_whitespace().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_filter() {
        let ev = Events::in_memory().unwrap();
        assert_eq!(parse_tags("tag1 "), ["tag1"]);
        assert_eq!(parse_tags("b a,c"), ["b a", "c"]);
        let a = ev
            .add(100, "deploy", "", &parse_tags("deploy web"))
            .unwrap();
        ev.add(50, "db", "x", &parse_tags("db")).unwrap();
        ev.add(200, "late", "", &[]).unwrap();
        let all = ev.find(0, 1000, &[], TagSet::All).unwrap();
        assert_eq!(
            all.iter().map(|e| e.when).collect::<Vec<_>>(),
            [50, 100, 200]
        );
        let web = ev.find(0, 1000, &["web".into()], TagSet::All).unwrap();
        assert_eq!(web.len(), 1);
        assert_eq!(web[0].tags, ["deploy", "web"]);
        let both = ev
            .find(0, 1000, &["web".into(), "db".into()], TagSet::All)
            .unwrap();
        assert!(both.is_empty());
        let any = ev
            .find(0, 150, &["web".into(), "db".into()], TagSet::Any)
            .unwrap();
        assert_eq!(any.len(), 2);
        assert_eq!(ev.get(a).unwrap().unwrap().what, "deploy");
        assert!(ev.get(99).unwrap().is_none());
    }
}
