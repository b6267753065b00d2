//! The files a writer keeps open between rounds, with what is known of their contents,
//! and the process's open-file limit that bounds them.
//!
//! Contract:
//! - [`OpenFiles`] owns the open files (glommio `BufferedFile`s), each with its (device,
//!   inode) and length at open, its header once read, and the pages read from it. It
//!   counts the bytes of those pages ([`OpenFiles::page_bytes`]) and closes the least
//!   recently used files first ([`OpenFiles::evict`]).
//! - A file's cached pages equal the file as long as nobody else writes it: every write
//!   the writer makes is laid over them ([`OpenFiles::patch`]). A file created here knows
//!   its data region without reading it (every page absent from the cache is zeros).
//! - [`OpenFiles::revalidate`] looks a file up again by path: a file replaced (another
//!   inode or length) is closed, the others forget their header and pages, so edits by
//!   other tools are seen within the revalidation interval ([`REVALIDATE`]).
//! - [`open_files_limit`] sizes the set per shard from `RLIMIT_NOFILE`, raising the soft
//!   limit to the hard one once per process.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use glommio::io::BufferedFile;
use hashbrown::HashMap;

use super::create::file_id;
use super::paged::{page_len, page_spans, patch_pages};
use crate::storage::whisper::Header;

/// How often a file kept open is looked up again by path (see `OpenFiles::revalidate`).
pub const REVALIDATE: Duration = Duration::from_secs(10);
/// Default of `storage.page_cache_bytes`.
pub const DEFAULT_PAGE_CACHE_BYTES: usize = 64 << 20;

/// A file kept open, with what is known of its contents.
pub(super) struct OpenFile {
    pub(super) file: BufferedFile,
    /// (device, inode) at open, to notice a file replaced under the same path.
    pub(super) id: (u64, u64),
    pub(super) len: u64,
    pub(super) header: Option<Header>,
    /// Pages read from the file, updated with every write made to it since.
    pub(super) pages: HashMap<u64, Vec<u8>>,
    /// Every page not in `pages` holds zeros: the file was created here, so its data
    /// region is known without reading it. Cleared when `pages` is forgotten.
    pub(super) zero_absent: bool,
    /// When the path was last looked up.
    checked: Instant,
    /// Position in the recency order.
    tick: u64,
}

impl OpenFile {
    /// A file just opened, with its identity and length; `header` is given for a file
    /// created here, whose pages are then known (the header page as created, every other
    /// page zeros).
    pub(super) fn new(
        file: BufferedFile,
        id: (u64, u64),
        len: u64,
        header: Option<Header>,
    ) -> Self {
        let mut pages = HashMap::new();
        let mut zero_absent = false;
        if let Some(h) = &header {
            // The header page as created; every other page is zeros.
            let mut first = h.encode();
            let n = page_len(len, 0);
            if first.len() <= n {
                first.resize(n, 0);
                pages.insert(0, first);
                zero_absent = true;
            }
        }
        Self {
            file,
            id,
            len,
            zero_absent,
            header,
            pages,
            checked: Instant::now(),
            tick: 0,
        }
    }

    fn page_bytes(&self) -> usize {
        self.pages.values().map(Vec::len).sum()
    }
}

/// The files kept open, least recently used first out.
#[derive(Default)]
pub(super) struct OpenFiles {
    pub(super) map: HashMap<Box<[u8]>, OpenFile>,
    order: BTreeMap<u64, Box<[u8]>>,
    tick: u64,
    page_bytes: usize,
}

impl OpenFiles {
    /// Bytes of pages held for the open files.
    pub(super) fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    /// Mark `name` as the most recently used.
    pub(super) fn touch(&mut self, name: &[u8]) {
        if let Some(f) = self.map.get_mut(name) {
            self.order.remove(&f.tick);
            self.tick += 1;
            f.tick = self.tick;
            self.order.insert(self.tick, name.into());
        }
    }

    /// Keep `f` open as `name`, the most recently used; returns the file it replaces.
    pub(super) fn insert(&mut self, name: &[u8], f: OpenFile) -> Option<BufferedFile> {
        let old = self.remove(name);
        self.page_bytes += f.page_bytes();
        self.map.insert(name.into(), f);
        self.touch(name);
        old
    }

    /// Forget `name`; returns its file, to be closed.
    pub(super) fn remove(&mut self, name: &[u8]) -> Option<BufferedFile> {
        let f = self.map.remove(name)?;
        self.order.remove(&f.tick);
        self.page_bytes -= f.page_bytes();
        Some(f.file)
    }

    /// Forget what is known of a file's contents (it is read again when needed).
    fn forget_contents(&mut self, name: &[u8]) {
        if let Some(f) = self.map.get_mut(name) {
            self.page_bytes -= f.page_bytes();
            f.pages.clear();
            f.header = None;
            f.zero_absent = false;
        }
    }

    /// Look `name`, open from `path`, up again if it was last looked up `every` or longer
    /// before `now`: a file replaced under the path is forgotten and returned, to be
    /// closed (it is opened again); a file still there forgets its header and pages.
    pub(super) fn revalidate(
        &mut self,
        name: &[u8],
        path: &Path,
        every: Duration,
        now: Instant,
    ) -> Option<BufferedFile> {
        let f = self.map.get_mut(name)?;
        if now.duration_since(f.checked) < every {
            return None;
        }
        match file_id(path) {
            Ok((id, len)) if id == f.id && len == f.len => {
                f.checked = now;
                self.forget_contents(name);
                None
            }
            _ => self.remove(name),
        }
    }

    /// Apply a write made to `name` to its known pages (and, for a file whose absent
    /// pages are zeros, to the zero page it turns into a known one).
    pub(super) fn patch(&mut self, name: &[u8], offset: u64, data: &[u8]) {
        let Some(f) = self.map.get_mut(name) else {
            return;
        };
        if f.zero_absent {
            for (p, _, _) in page_spans(offset, data.len()) {
                if !f.pages.contains_key(&p) {
                    let n = page_len(f.len, p);
                    f.pages.insert(p, vec![0; n]);
                    self.page_bytes += n;
                }
            }
        }
        patch_pages(&mut f.pages, offset, data);
    }

    /// Keep page `page` of `name` as read from the file.
    pub(super) fn add_page(&mut self, name: &[u8], page: u64, bytes: Vec<u8>) {
        if let Some(f) = self.map.get_mut(name) {
            self.page_bytes += bytes.len();
            if let Some(old) = f.pages.insert(page, bytes) {
                self.page_bytes -= old.len();
            }
        }
    }

    /// Close the least recently used files until at most `max_open` are open and their
    /// pages fit in `page_budget`.
    pub(super) fn evict(&mut self, max_open: usize, page_budget: usize) -> Vec<BufferedFile> {
        let mut out = Vec::new();
        while self.map.len() > max_open || self.page_bytes > page_budget {
            let Some((_, name)) = self.order.pop_first() else {
                break;
            };
            if let Some(f) = self.map.remove(&name) {
                self.page_bytes -= f.page_bytes();
                out.push(f.file);
            }
        }
        out
    }
}

/// Files a shard keeps open: `configured`, or when 0 a quarter of the process's open-file
/// limit shared by `shards`, between 16 and 8192. The soft limit is first raised to the
/// hard one (once per process), as servers that keep many files open do.
pub fn open_files_limit(configured: usize, shards: usize) -> usize {
    static RAISED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    if configured > 0 {
        return configured;
    }
    let soft = *RAISED.get_or_init(raise_nofile_limit);
    ((soft / 4) as usize / shards.max(1)).clamp(16, 8192)
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
fn raise_nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid, exclusive pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut r) } != 0 {
        return 1024;
    }
    if r.rlim_cur < r.rlim_max {
        let want = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        // SAFETY: setrlimit reads one valid `rlimit`; raising the soft limit up to the hard
        // one needs no privilege and affects only this process.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const want) } == 0 {
            r.rlim_cur = r.rlim_max;
        }
    }
    r.rlim_cur
}
