//! The built-in web page at `/`: metric tree, graph composer and saved dashboards.

use std::path::Path;

/// Routes of the web page and its dashboard API, merged into the query thread's router.
/// `db_path` is the SQLite database shared with the events (`<data-dir>/lonsdaleite.sqlite`).
pub fn router(db_path: &Path) -> axum::Router {
    let _ = db_path;
    axum::Router::new()
}
