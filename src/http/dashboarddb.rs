//! The saved dashboards: one row per name in the `dashboards` table of the server's SQLite
//! file ([`crate::http::sqlite`], shared with the events and the tag index, which have
//! their own connections). The state is stored as compact JSON text, as graphite-web does.
//! The web page's dashboard API ([`crate::http::webui`]) reads and writes it.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension};

/// The dashboards table behind one connection.
pub struct Dashboards {
    conn: Mutex<Connection>,
}

impl Dashboards {
    /// Opens (creating if needed) the database file ([`crate::http::sqlite::open`]) and the
    /// `dashboards` table.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = crate::http::sqlite::open(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS dashboards (
                 name  TEXT PRIMARY KEY NOT NULL,
                 state TEXT NOT NULL
             )",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back
        // an unfinished statement by itself.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores `state` under `name`, replacing what was there.
    pub fn save(&self, name: &str, state: &str) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO dashboards (name, state) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET state = excluded.state",
            (name, state),
        )?;
        Ok(())
    }

    /// The state saved under `name`, if any.
    pub fn load(&self, name: &str) -> rusqlite::Result<Option<String>> {
        self.conn()
            .query_row(
                "SELECT state FROM dashboards WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()
    }

    /// Every saved name, sorted.
    pub fn names(&self) -> rusqlite::Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM dashboards ORDER BY name")?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        rows.collect()
    }

    /// Removes `name`; false when there was no such dashboard.
    pub fn delete(&self, name: &str) -> rusqlite::Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM dashboards WHERE name = ?1", [name])?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_replace_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lonsdaleite.sqlite");
        let db = Dashboards::open(&path).unwrap();
        db.save("b", "{\"x\":1}").unwrap();
        db.save("a", "{}").unwrap();
        db.save("b", "{\"x\":2}").unwrap();
        assert_eq!(db.names().unwrap(), ["a", "b"]);
        assert_eq!(db.load("b").unwrap().as_deref(), Some("{\"x\":2}"));
        assert!(db.delete("a").unwrap());
        assert!(!db.delete("a").unwrap());
        assert_eq!(db.load("a").unwrap(), None);
        // A second connection on the same file (as the events have) sees the rows.
        let other = Dashboards::open(&path).unwrap();
        assert_eq!(other.names().unwrap(), ["b"]);
    }
}
