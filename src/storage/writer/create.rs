//! Opening a series' whisper file, and creating a missing one atomically.
//!
//! Contract:
//! - [`open_or_create`] opens the file at a series' path for reading and writing, and
//!   creates it when it is missing and a schema is given. It blocks: the writer runs it
//!   on glommio's blocking pool, one trip per file.
//! - A new file appears whole or not at all: the whole image is written to a temporary
//!   file in the same directory, then renamed without replacing anything
//!   ([`create_atomically`]), so a crash or a full disk never leaves a truncated `.wsp`,
//!   and a file that appeared meanwhile is left alone (and opened). Like whisper and
//!   carbon, nothing is fsynced.
//! - The temporary name ([`temp_name`]) is short and fixed in form, at most
//!   [`MAX_TEMP_NAME`] bytes, so every file name the file system takes can be created,
//!   and hidden from carbon's and graphite-web's listings.
//! - What is opened or created comes with its (device, inode) and length ([`file_id`]),
//!   so the writer notices a file replaced under the same path.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::WriteError;
use crate::storage::rules::NewFile;
use crate::storage::whisper::{file, file::Preallocate, Header, WhisperError};

/// A file just created: open for reading and writing, with its header, its (device,
/// inode) and its length, so the writer neither reopens nor reads it.
#[derive(Debug)]
pub struct NewFileOpen {
    pub file: std::fs::File,
    pub header: Header,
    pub id: (u64, u64),
    pub len: u64,
}

/// How a new file is made: how its space is reserved, and whether it is synced to disk
/// before it takes its name (so a power loss leaves the complete file or none: without
/// the sync, the rename may reach the disk before the bytes do, and a zero-filled
/// `.wsp` would remain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    pub preallocate: Preallocate,
    pub sync: bool,
}

impl From<Preallocate> for CreateOptions {
    /// Synced: the safe choice.
    fn from(preallocate: Preallocate) -> Self {
        Self {
            preallocate,
            sync: true,
        }
    }
}

/// A new series' file, as [`create_atomically`] left it.
#[derive(Debug)]
pub enum Created {
    /// The file was created.
    New(NewFileOpen),
    /// A file appeared under the path meanwhile; it was left alone.
    Existed,
}

/// What [`open_or_create`] found at a series' path.
#[derive(Debug)]
pub enum Opened {
    /// The file exists; it is open for reading and writing, with its (device, inode) and
    /// its length.
    Existing {
        file: std::fs::File,
        id: (u64, u64),
        len: u64,
    },
    /// It did not exist and was created.
    New(NewFileOpen),
    /// It does not exist, and creating it was not asked for.
    Missing,
}

/// Open the whisper file at `path` for reading and writing; when it does not exist and
/// `create` gives its schema, create it with [`create_atomically`] (a file that appeared
/// meanwhile is opened instead). Blocking: the writer runs it on glommio's blocking pool,
/// one trip per file, where an io_uring open would itself run on an io_uring worker (opens
/// block) and a missing file would then take a second trip to be created.
pub fn open_or_create(
    path: &Path,
    create: Option<(&NewFile, CreateOptions)>,
) -> Result<Opened, WriteError> {
    let io = |source: io::Error| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
    };
    let existing = |file: std::fs::File| {
        let (id, len) = identity(&file.metadata().map_err(io)?);
        Ok(Opened::Existing { file, id, len })
    };
    match open() {
        Ok(file) => return existing(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let Some((new, options)) = create else {
        return Ok(Opened::Missing);
    };
    match create_atomically(path, new, options) {
        Ok(Created::New(created)) => Ok(Opened::New(created)),
        Ok(Created::Existed) => existing(open().map_err(io)?),
        Err(source) => Err(WriteError::Whisper {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Create `path` for a new series through a temporary file in the same directory and a
/// rename that never replaces a file, creating directories, so no reader ever sees a
/// partial file and a file that appeared meanwhile is left alone. Like whisper and
/// carbon, nothing is fsynced.
///
/// The temporary file is [`temp_name`]: short whatever the final name, so any file name
/// the file system takes (255 bytes) can be created. The usual case costs one open, one
/// write, the reservation and one rename: the directory is created only when the open
/// says it is missing, and a temporary file of the same name, left by a crash of a
/// process with this id, is removed only when the open meets it.
pub fn create_atomically(
    path: &Path,
    new: &NewFile,
    options: impl Into<CreateOptions>,
) -> Result<Created, WhisperError> {
    static CREATES: AtomicU64 = AtomicU64::new(0);
    let n = CREATES.fetch_add(1, Ordering::Relaxed);
    create_through(path, &temp_name(std::process::id(), n), new, options.into())
}

/// The longest [`temp_name`]: `.lonsdaleite-` (13), a `u32` (10), `-` (1), a `u64` (20),
/// `.tmp` (4).
pub const MAX_TEMP_NAME: usize = 48;

/// The name of create number `n` of process `pid` while it is being written:
/// `.lonsdaleite-<pid>-<n>.tmp`, at most [`MAX_TEMP_NAME`] bytes. Unique among the
/// creates in progress on the host (a process numbers its own), hidden from carbon's and
/// graphite-web's listings (a leading `.`, no `.wsp`).
pub fn temp_name(pid: u32, n: u64) -> String {
    format!(".lonsdaleite-{pid}-{n}.tmp")
}

/// The process that wrote the temporary file `file_name`, if it is one of ours: a
/// [`temp_name`], or `.<name>.wsp.<pid>.tmp` as versions before it named them. A crash
/// leaves such files behind; the start-up scan removes those of other processes.
pub fn temp_owner(file_name: &str) -> Option<u32> {
    let body = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let pid = if let Some(rest) = body.strip_prefix("lonsdaleite-") {
        rest.split_once('-')?.0
    } else {
        let (stem, pid) = body.rsplit_once('.')?;
        Path::new(stem)
            .extension()
            .is_some_and(|x| x == "wsp")
            .then_some(pid)?
    };
    pid.parse().ok()
}

/// [`create_atomically`] through the temporary file `tmp_name` in `path`'s directory.
fn create_through(
    path: &Path,
    tmp_name: &str,
    new: &NewFile,
    options: CreateOptions,
) -> Result<Created, WhisperError> {
    let io = |source: io::Error| WhisperError::Io {
        path: path.display().to_string(),
        source,
    };
    let header =
        crate::storage::whisper::header_for(&new.archives, new.x_files_factor, new.method)?;
    let dir = path
        .parent()
        .ok_or_else(|| io(io::Error::other("whisper path has no directory")))?;
    let tmp = dir.join(tmp_name);
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
    };
    let mut file = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            open().map_err(io)?
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&tmp).map_err(io)?;
            open().map_err(io)?
        }
        Err(e) => return Err(io(e)),
    };
    file::fill_new(&mut file, &tmp, &header, options.preallocate)?;
    if options.sync {
        // The bytes and the reserved size on disk before the name: after a power loss the
        // name is either absent (the temporary file is removed at the next start) or
        // names the complete file.
        file.sync_all().map_err(io)?;
    }
    match rename_no_replace(&tmp, path) {
        Ok(()) => {
            let (id, len) = identity(&file.metadata().map_err(io)?);
            Ok(Created::New(NewFileOpen {
                file,
                header,
                id,
                len,
            }))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == io::ErrorKind::AlreadyExists {
                Ok(Created::Existed)
            } else {
                Err(io(e))
            }
        }
    }
}

/// Rename `from` to `to` unless `to` exists (`AlreadyExists` then). On a file system
/// without `RENAME_NOREPLACE` the check and the rename are two steps.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
    };
    let (cf, ct) = (c(from)?, c(to)?);
    // SAFETY: both pointers are NUL-terminated strings that outlive the call; renameat2
    // only reads them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(e);
    }
    if to.exists() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    std::fs::rename(from, to)
}

/// (device, inode) and length of the file at `path`.
pub(super) fn file_id(path: &Path) -> io::Result<((u64, u64), u64)> {
    Ok(identity(&std::fs::metadata(path)?))
}

/// (device, inode) and length, as a file's metadata gives them.
fn identity(m: &std::fs::Metadata) -> ((u64, u64), u64) {
    use std::os::unix::fs::MetadataExt as _;
    ((m.dev(), m.ino()), m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::writer::tests::rules;

    /// A file name of 255 bytes is created (its temporary name is short); one of 256 is
    /// refused by the file system as a name error, which no retry mends.
    #[test]
    fn the_longest_file_name_is_created_and_a_longer_one_is_a_name_error() {
        let dir = tempfile::tempdir().unwrap();
        let new = rules().for_metric("a.b");
        let fits = dir.path().join(format!("a/{}.wsp", "x".repeat(251)));
        assert!(matches!(
            open_or_create(&fits, Some((&new, Preallocate::Fallocate.into()))).unwrap(),
            Opened::New(_)
        ));
        assert_eq!(file::info(&fits).unwrap().archives.len(), 3);
        let long = dir.path().join(format!("a/{}.wsp", "x".repeat(252)));
        let Err(e) = open_or_create(&long, Some((&new, Preallocate::Fallocate.into()))) else {
            panic!("a 256-byte file name was created");
        };
        assert_eq!(e.cause(), "name", "{e}");
        assert!(!e.is_retryable());
        assert_eq!(temp_name(u32::MAX, u64::MAX).len(), MAX_TEMP_NAME);
    }

    #[test]
    fn open_or_create_opens_what_exists_and_creates_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let new = rules().for_metric("a.b");
        let path = dir.path().join("a/b.wsp");
        assert!(matches!(open_or_create(&path, None), Ok(Opened::Missing)));
        assert!(!path.exists());
        let Ok(Opened::New(NewFileOpen { header, len, .. })) =
            open_or_create(&path, Some((&new, Preallocate::Fallocate.into())))
        else {
            panic!("not created");
        };
        assert_eq!(len, header.file_size());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        let Ok(Opened::Existing { id, len: l2, .. }) =
            open_or_create(&path, Some((&new, Preallocate::Fallocate.into())))
        else {
            panic!("not opened");
        };
        assert_eq!((id, l2), file_id(&path).unwrap());
        // Not a file we may open: an error naming the path, nothing created.
        let blocked = dir.path().join("a/b.wsp/c.wsp");
        let e = open_or_create(&blocked, Some((&new, Preallocate::Fallocate.into()))).unwrap_err();
        assert!(e.to_string().contains("b.wsp/c.wsp"), "{e}");
    }

    #[test]
    fn create_makes_directories_replaces_a_stale_temp_file_and_never_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let new = rules().for_metric("a.b.c");
        let path = dir.path().join("a/b/c.wsp");
        // The directories are missing, and a crash of a process with our id left a temp file.
        let Created::New(NewFileOpen {
            file,
            header,
            id,
            len,
        }) = create_atomically(&path, &new, Preallocate::Fallocate).unwrap()
        else {
            panic!("a new path must be created");
        };
        drop(file);
        let stale_name = temp_name(std::process::id(), u64::MAX);
        let stale = dir.path().join("a/b").join(&stale_name);
        std::fs::write(&stale, b"half a file").unwrap();
        let other = dir.path().join("a/b/d.wsp");
        assert!(matches!(
            create_through(&other, &stale_name, &new, Preallocate::Zeros.into()).unwrap(),
            Created::New(_)
        ));
        assert!(!stale.exists(), "the stale temp file is gone");
        // Same bytes as whisper's create, and what was reported is what is on disk.
        let reference = dir.path().join("ref.wsp");
        file::create(
            &reference,
            &new.archives,
            new.x_files_factor,
            new.method,
            Preallocate::Zeros,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes == std::fs::read(&reference).unwrap());
        assert!(bytes == std::fs::read(&other).unwrap());
        assert_eq!(header, file::info(&path).unwrap());
        assert_eq!((id, len), file_id(&path).unwrap());
        // A file already at the path is left as it is.
        std::fs::write(&path, b"someone else's").unwrap();
        assert!(matches!(
            create_atomically(&path, &new, Preallocate::Fallocate).unwrap(),
            Created::Existed
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| Path::new(n).extension().is_some_and(|e| e == "tmp"))
            .collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
    }

    #[test]
    fn temporary_files_are_recognised_with_their_process() {
        assert_eq!(temp_owner(&temp_name(1234, 7)), Some(1234));
        assert_eq!(temp_owner(".user.wsp.1234.tmp"), Some(1234));
        assert_eq!(temp_owner(".a.b.wsp.99.tmp"), Some(99));
        for other in [
            "user.wsp",
            ".user.wsp",
            ".user.1234.tmp",
            "x.tmp",
            ".lonsdaleite-x-1.tmp",
            ".wsp.tmp",
        ] {
            assert_eq!(temp_owner(other), None, "{other}");
        }
    }
}
