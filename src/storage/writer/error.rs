//! Why a series could not be written, and the class each failure is counted and logged
//! under.
//!
//! Contract: every failure of a series' write is one [`WriteError`] carrying the file's
//! path where there is one. [`WriteError::cause`] maps it to one of a fixed set of short
//! classes (the drop and retry reasons the drain task counts and logs); only `name` is
//! final ([`WriteError::is_retryable`]): the disk, not the data, is the problem in every
//! other class, so the points wait in the cache. [`WriteError::CreateDeferred`] is not a
//! failure but the create-rate limit at work.

use std::io;
use std::path::PathBuf;

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

impl WriteError {
    /// A short class for counting and rate-limited logging: `enospc`, `eacces`, `eio`,
    /// `corrupt`, `name`, `other`. `name` covers a name the file system refuses as too
    /// long (an element over 255 bytes, or a path over 4096): carbon cannot store it
    /// either, and no retry helps.
    pub fn cause(&self) -> &'static str {
        let os = |e: &io::Error| match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => "enospc",
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => "eacces",
            Some(libc::EIO) => "eio",
            Some(libc::ENAMETOOLONG) => "name",
            _ => "other",
        };
        match self {
            WriteError::Layout(_) | WriteError::Name => "name",
            WriteError::CreateDeferred => "deferred",
            WriteError::Io { source, .. } => os(source),
            WriteError::Whisper { source, .. } => match source {
                WhisperError::Io { source, .. } => os(source),
                _ => "corrupt",
            },
        }
    }

    /// True when retrying later can succeed (the disk, not the data, is the problem).
    pub fn is_retryable(&self) -> bool {
        self.cause() != "name"
    }
}
