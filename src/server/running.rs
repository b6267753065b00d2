//! `<data-dir>/lonsdaleite.running`: present while a server runs on the data directory.
//!
//! Made at start and removed after a clean stop (SIGTERM/SIGINT: the caches drained and
//! the StatsD interval saved). Found at start, it says the previous run died (SIGKILL, an
//! OOM kill, a power loss): the StatsD interval it had in progress, at most one
//! `flush_interval` of aggregates, is lost (it is never journaled), and admin `stats`
//! reports it as `statsd.lost_intervals: 1` for the life of this run.

use std::path::{Path, PathBuf};

/// The marker's name under the data directory.
pub const FILE: &str = "lonsdaleite.running";

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Mark the data directory as in use; true when the previous run did not stop cleanly.
pub fn begin(data_dir: &Path) -> bool {
    let marker = path(data_dir);
    let unclean = marker.exists();
    if unclean {
        tracing::warn!(
            marker = %marker.display(),
            "the previous run did not stop cleanly (SIGKILL, OOM kill or power loss): its StatsD interval in progress (at most one flush_interval) is lost; carbon points are lost too unless storage.journal is on (admin stats: statsd.lost_intervals)"
        );
    }
    if let Err(e) = std::fs::write(&marker, std::process::id().to_string()) {
        tracing::warn!(marker = %marker.display(), error = %e, "cannot write the run marker; a crash of this run will not be reported at the next start");
    }
    unclean
}

/// The run stopped cleanly: remove the marker.
pub fn end(data_dir: &Path) {
    let marker = path(data_dir);
    if let Err(e) = std::fs::remove_file(&marker) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(marker = %marker.display(), error = %e, "cannot remove the run marker; the next start will report a crash that did not happen");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_left_behind_is_reported_once_removed_it_is_not() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!begin(dir.path()));
        // The run dies: the marker stays.
        assert!(begin(dir.path()));
        end(dir.path());
        assert!(!begin(dir.path()));
    }
}
