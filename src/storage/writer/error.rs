//! Why a series could not be written, and the class each failure is counted and logged
//! under.
//!
//! Contract: every failure of a series' write is one [`WriteError`] carrying the file's
//! path where there is one. [`WriteError::cause`] maps it to one of a fixed set of short
//! classes (the drop and retry reasons the drain task counts and logs), and
//! [`WriteError::disposition`] says what becomes of the points: retried while the disk is
//! the problem, kept for a new file when the old one is damaged, dropped when no retry
//! can mend it. [`WriteError::CreateDeferred`] is not a failure but the create-rate limit
//! at work.

use std::io;
use std::path::{Path, PathBuf};

use crate::storage::layout::LayoutError;
use crate::storage::whisper::WhisperError;

/// Why a series could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("metric name is not valid UTF-8")]
    Name,
    #[error("{path}: {source}")]
    Whisper { path: PathBuf, source: WhisperError },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Not an error: the file does not exist yet and the create-rate limit is reached;
    /// the points wait in the cache.
    #[error("create-rate limit reached")]
    CreateDeferred,
}

/// What the drain task does with a series whose write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The disk, not the data, is the problem: the points wait in the cache and the write
    /// is retried with back-off (`enospc`, `eacces`, `emfile`, `eio`, `other`).
    Retry,
    /// The file is damaged (`corrupt`): it is moved to the quarantine directory and the
    /// points wait for the new file the next write creates.
    Quarantine,
    /// No retry can mend it (`name`, `einval`, `enotdir`, `efbig`): the series' points are
    /// dropped and counted under their cause.
    Drop,
}

impl WriteError {
    /// The causes whose points are dropped ([`Disposition::Drop`]), in a stable order: the
    /// counters `storage.dropped.<cause>`.
    pub const DROP_CAUSES: [&'static str; 4] = ["name", "einval", "enotdir", "efbig"];

    /// A short class for counting and rate-limited logging: `enospc`, `eacces`, `emfile`,
    /// `eio`, `corrupt`, `name`, `einval`, `enotdir`, `efbig`, `other`. `name` covers a
    /// name the file system refuses as too long (an element over 255 bytes, or a path
    /// over 4096): carbon cannot store it either.
    pub fn cause(&self) -> &'static str {
        let os = |e: &io::Error| match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => "enospc",
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => "eacces",
            Some(libc::EMFILE | libc::ENFILE) => "emfile",
            Some(libc::EIO) => "eio",
            Some(libc::ENAMETOOLONG) => "name",
            Some(libc::EINVAL) => "einval",
            Some(libc::ENOTDIR | libc::EISDIR | libc::ELOOP) => "enotdir",
            Some(libc::EFBIG) => "efbig",
            _ => "other",
        };
        match self {
            WriteError::Layout(_) | WriteError::Name => "name",
            WriteError::CreateDeferred => "deferred",
            WriteError::Io { source, .. } => os(source),
            WriteError::Whisper { source, .. } => match source {
                WhisperError::Io { source, .. } => os(source),
                WhisperError::Corrupt(_) => "corrupt",
                // A file whisper would not make from the rules, or an update it refuses:
                // the same again on every retry.
                _ => "einval",
            },
        }
    }

    /// What to do with the series (see [`Disposition`]).
    pub fn disposition(&self) -> Disposition {
        match self.cause() {
            "corrupt" => Disposition::Quarantine,
            c if Self::DROP_CAUSES.contains(&c) => Disposition::Drop,
            _ => Disposition::Retry,
        }
    }

    /// True when retrying later can succeed (the disk, not the data, is the problem).
    pub fn is_retryable(&self) -> bool {
        self.disposition() != Disposition::Drop
    }

    /// The damaged file, for [`Disposition::Quarantine`].
    pub fn path(&self) -> Option<&Path> {
        match self {
            WriteError::Whisper { path, .. } | WriteError::Io { path, .. } => Some(path),
            _ => None,
        }
    }
}
