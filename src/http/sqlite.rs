//! The server's SQLite file, `<data-dir>/lonsdaleite.sqlite` ([`path`]), and how a store
//! opens it ([`open`]).
//!
//! Three stores keep tables in it, each through a connection of its own and with its own
//! schema, created by the store: the events ([`crate::http::eventdb`], table `events`),
//! the tag index ([`crate::http::tagdb`], `tagged_series`) and the saved dashboards
//! ([`crate::http::dashboarddb`], `dashboards`). Every connection gets the same settings:
//!
//! - journal mode WAL (a setting of the file, kept across opens): readers and the writer
//!   do not wait for each other;
//! - a busy timeout of [`BUSY_TIMEOUT`]: a statement that finds another connection's write
//!   lock waits that long before it fails.
//!
//! A store may set more on its own connection (the tag index syncs less often, see there).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// The file name of the database under the data directory.
pub const FILE_NAME: &str = "lonsdaleite.sqlite";

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the database of the data directory `data_dir` is.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Opens (creating if needed) the database file `path` with the shared settings.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    configure(Connection::open(path)?)
}

/// An in-memory database with the shared settings (tests).
pub fn open_in_memory() -> rusqlite::Result<Connection> {
    configure(Connection::open_in_memory()?)
}

fn configure(conn: Connection) -> rusqlite::Result<Connection> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // An in-memory database answers "memory": it has no file to log beside.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_is_in_wal_mode_with_the_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        assert!(file.ends_with("lonsdaleite.sqlite"));
        let first = open(&file).unwrap();
        let second = open(&file).unwrap();
        for conn in [&first, &second] {
            let mode: String = conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            let ms: i64 = conn
                .pragma_query_value(None, "busy_timeout", |r| r.get(0))
                .unwrap();
            assert_eq!(ms, 5000);
        }
        open_in_memory().unwrap();
    }
}
