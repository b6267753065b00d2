//! Following one log file from a saved offset, like logtail2.
//!
//! Contract:
//! - The [`Position`] of a file is its device and inode, the byte offset of
//!   the first line not yet read, and a fingerprint (length and FNV-1a hash)
//!   of its first bytes (up to 128). Only whole lines are read: a last line
//!   without its newline stays unread until the newline arrives, so a line is
//!   never split between two reads.
//! - [`Follower::read_new`] reads the lines past the position and moves it:
//!   - same inode, not shorter than the offset, same first bytes: the lines
//!     after the offset;
//!   - same inode but shorter, or other first bytes: truncated (copytruncate)
//!     or replaced; read from the start;
//!   - another inode at the path (rotated by rename): the rest of the old
//!     file, found by its inode among the files of the same directory
//!     (`mail.log.1`, `mail.log-20261125`, …), then the new file from the
//!     start; if the old file is gone (compressed, deleted) its unread rest
//!     is lost and said so;
//!   - nothing at the path: the rest of the old file if it can be found; the
//!     position is kept and the file is read again once it reappears.
//! - Not detectable: a file truncated and written again up to at least the
//!   old offset, with the same first bytes, between two reads (its new lines
//!   up to the old offset are skipped); two rotations between two reads (the
//!   middle file is not read).
//! - [`save_state`] / [`load_state`]: the position is stored as a small text
//!   file, written to a temporary name and renamed, so a crash leaves the old
//!   or the new state, never half of one. The caller saves after it has sent
//!   the metrics of the lines read, so a restart neither counts a line twice
//!   nor skips one (a crash between sending and saving counts those lines again).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bytes at the start of a file that identify it across truncation.
const HEAD: u64 = 128;

/// Where reading stopped in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub dev: u64,
    pub inode: u64,
    pub offset: u64,
    /// Bytes covered by `head_hash` (≤ 128, ≤ offset).
    pub head_len: u64,
    pub head_hash: u64,
    /// Unix seconds when the position was saved (0 when never saved).
    pub saved_at: u64,
}

/// What one [`Follower::read_new`] did besides reading lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadReport {
    /// Whole lines read.
    pub lines: u64,
    /// Things worth telling the operator (rotation, truncation, lost data).
    pub notes: Vec<String>,
}

/// A file that cannot be read now; the position is kept.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("{}: vanished (no such file); waiting for it to come back", path.display())]
    Vanished { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn head_of(file: &mut File, len: u64) -> std::io::Result<(u64, u64)> {
    let mut buf = Vec::with_capacity(len as usize);
    file.seek(SeekFrom::Start(0))?;
    file.by_ref().take(len).read_to_end(&mut buf)?;
    Ok((buf.len() as u64, fnv1a(&buf)))
}

/// Reads whole lines of `file` from `offset`; returns the offset after the last whole line.
fn read_lines(
    file: &mut File,
    offset: u64,
    on_line: &mut dyn FnMut(&str),
    lines: &mut u64,
) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(offset))?;
    let mut r = BufReader::with_capacity(64 * 1024, file);
    let mut buf = Vec::new();
    let mut pos = offset;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Ok(pos);
        }
        pos += n as u64;
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        on_line(&String::from_utf8_lossy(&buf));
        *lines += 1;
    }
}

/// Opens `path` and reads its whole lines from `offset`, updating `pos`.
fn read_from(
    path: &Path,
    pos: &mut Position,
    on_line: &mut dyn FnMut(&str),
    lines: &mut u64,
) -> std::io::Result<()> {
    let mut f = File::open(path)?;
    pos.offset = read_lines(&mut f, pos.offset, on_line, lines)?;
    let (len, hash) = head_of(&mut f, pos.offset.min(HEAD))?;
    pos.head_len = len;
    pos.head_hash = hash;
    Ok(())
}

/// The file of the same directory as `path` with device `dev` and inode `inode`.
fn find_inode(path: &Path, dev: u64, inode: u64) -> Option<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let base = path.file_name()?.to_string_lossy().into_owned();
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    // Names that start like the log (mail.log.1, mail.log-2026…) first.
    candidates.sort_by_key(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&base))
    });
    candidates.into_iter().find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.dev() == dev && m.ino() == inode)
    })
}

/// One followed file.
#[derive(Debug)]
pub struct Follower {
    pub path: PathBuf,
    pub pos: Option<Position>,
}

impl Follower {
    pub fn new(path: PathBuf, pos: Option<Position>) -> Self {
        Self { path, pos }
    }

    /// Sets the position to the current end of the file (the last whole line).
    pub fn seek_end(&mut self) -> Result<(), FollowError> {
        let unreadable = |source| FollowError::Unreadable {
            path: self.path.clone(),
            source,
        };
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FollowError::Vanished {
                    path: self.path.clone(),
                })
            }
            Err(e) => return Err(unreadable(e)),
        };
        let m = f.metadata().map_err(unreadable)?;
        let mut pos = Position {
            dev: m.dev(),
            inode: m.ino(),
            offset: 0,
            head_len: 0,
            head_hash: fnv1a(&[]),
            saved_at: 0,
        };
        // Skip whole lines without looking at them.
        let mut n = 0;
        pos.offset = read_lines(&mut f, 0, &mut |_| {}, &mut n).map_err(unreadable)?;
        (pos.head_len, pos.head_hash) =
            head_of(&mut f, pos.offset.min(HEAD)).map_err(unreadable)?;
        self.pos = Some(pos);
        Ok(())
    }

    /// Reads the whole lines written since the last call; see the module doc.
    pub fn read_new(&mut self, on_line: &mut dyn FnMut(&str)) -> Result<ReadReport, FollowError> {
        let path = self.path.clone();
        let mut report = ReadReport::default();
        let unreadable = |source| FollowError::Unreadable {
            path: path.clone(),
            source,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(unreadable(e)),
        };
        let saved_at = self.pos.map_or(0, |p| p.saved_at);
        let fresh = |m: &std::fs::Metadata| Position {
            dev: m.dev(),
            inode: m.ino(),
            offset: 0,
            head_len: 0,
            head_hash: fnv1a(&[]),
            saved_at,
        };
        let mut pos = match (self.pos, &meta) {
            (None, None) => return Err(FollowError::Vanished { path }),
            (None, Some(m)) => fresh(m),
            (Some(old), Some(m)) if (m.dev(), m.ino()) == (old.dev, old.inode) => {
                let mut p = old;
                let shorter = m.len() < old.offset;
                let replaced = !shorter
                    && old.head_len > 0
                    && File::open(&path)
                        .and_then(|mut f| head_of(&mut f, old.head_len))
                        .map_err(unreadable)?
                        != (old.head_len, old.head_hash);
                if shorter || replaced {
                    report.notes.push(format!(
                        "{}: {}; reading it from the start",
                        path.display(),
                        if shorter {
                            "truncated"
                        } else {
                            "replaced (other first bytes)"
                        }
                    ));
                    p.offset = 0;
                }
                p
            }
            (Some(old), m) => {
                // Rotated away (or gone): finish the old file if it is still around.
                let mut finished = old;
                match find_inode(&path, old.dev, old.inode) {
                    Some(rotated) => {
                        let before = report.lines;
                        read_from(&rotated, &mut finished, on_line, &mut report.lines)
                            .map_err(|source| FollowError::Unreadable {
                                path: rotated.clone(),
                                source,
                            })?;
                        if m.is_some() {
                            report.notes.push(format!(
                                "{}: rotated; read {} more lines from {}, now reading the new file",
                                path.display(),
                                report.lines - before,
                                rotated.display()
                            ));
                        }
                    }
                    None if m.is_some() => report.notes.push(format!(
                        "{}: rotated and the previous file is gone; lines written to it after offset {} are lost",
                        path.display(),
                        old.offset
                    )),
                    None => {}
                }
                if let Some(m) = m {
                    fresh(m)
                } else {
                    self.pos = Some(finished);
                    return if report.lines > 0 {
                        Ok(report)
                    } else {
                        Err(FollowError::Vanished { path })
                    };
                }
            }
        };
        read_from(&path, &mut pos, on_line, &mut report.lines).map_err(unreadable)?;
        self.pos = Some(pos);
        Ok(report)
    }
}

/// The state file of `log` for `key` (the parser or rules name) in `dir`:
/// `<dir>/<key><absolute log path with / as ->.state`, as Logster names its state files.
pub fn state_path(dir: &Path, key: &str, log: &Path) -> PathBuf {
    let abs = std::path::absolute(log).unwrap_or_else(|_| log.to_path_buf());
    let safe = abs.to_string_lossy().replace('/', "-");
    dir.join(format!("{key}{safe}.state"))
}

/// Reads a state file; `Ok(None)` when there is none.
pub fn load_state(path: &Path) -> Result<Option<Position>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read state file {}: {e}", path.display())),
    };
    let mut p = Position {
        dev: 0,
        inode: 0,
        offset: 0,
        head_len: 0,
        head_hash: 0,
        saved_at: 0,
    };
    let mut seen = 0;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(' ') else {
            continue;
        };
        let v: u64 = v
            .trim()
            .parse()
            .map_err(|_| format!("state file {}: bad value in `{line}`", path.display()))?;
        let slot = match k {
            "dev" => &mut p.dev,
            "inode" => &mut p.inode,
            "offset" => &mut p.offset,
            "head_len" => &mut p.head_len,
            "head_hash" => &mut p.head_hash,
            "saved_at" => &mut p.saved_at,
            _ => continue,
        };
        *slot = v;
        seen += 1;
    }
    if seen < 6 {
        return Err(format!(
            "state file {} is incomplete; delete it to start again",
            path.display()
        ));
    }
    Ok(Some(p))
}

/// Writes a state file atomically (temporary file, then rename).
pub fn save_state(path: &Path, p: &Position) -> std::io::Result<()> {
    let tmp = path.with_extension("state.tmp");
    let text = format!(
        "lonsdaleite-logtail 1\ndev {}\ninode {}\noffset {}\nhead_len {}\nhead_hash {}\nsaved_at {}\n",
        p.dev, p.inode, p.offset, p.head_len, p.head_hash, p.saved_at
    );
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    fn read(f: &mut Follower) -> (Vec<String>, ReadReport) {
        let mut got = Vec::new();
        let r = f.read_new(&mut |l| got.push(l.to_owned())).unwrap();
        (got, r)
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("a.log");
        append(&log, "one\ntw");
        let mut f = Follower::new(log.clone(), None);
        assert_eq!(read(&mut f).0, ["one"]);
        append(&log, "o\r\nthree\n");
        assert_eq!(read(&mut f).0, ["two", "three"]);
        assert!(read(&mut f).0.is_empty());
    }

    #[test]
    fn rotation_by_rename_reads_the_rest_of_the_old_file() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("a.log");
        append(&log, "1\n2\n");
        let mut f = Follower::new(log.clone(), None);
        assert_eq!(read(&mut f).0, ["1", "2"]);
        append(&log, "3\n");
        std::fs::rename(&log, d.path().join("a.log.1")).unwrap();
        append(&log, "4\n");
        let (lines, r) = read(&mut f);
        assert_eq!(lines, ["3", "4"]);
        assert!(r.notes[0].contains("rotated"), "{:?}", r.notes);
    }

    #[test]
    fn truncation_reads_from_the_start() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("a.log");
        append(&log, "aaaa\nbbbb\n");
        let mut f = Follower::new(log.clone(), None);
        read(&mut f);
        std::fs::write(&log, "c\n").unwrap();
        let (lines, r) = read(&mut f);
        assert_eq!(lines, ["c"]);
        assert!(r.notes[0].contains("truncated"));
        // Truncated, then grown past the old offset before we looked: the first bytes tell.
        std::fs::write(&log, "dddddddddddddddd\n").unwrap();
        let (lines, r) = read(&mut f);
        assert_eq!(lines, ["dddddddddddddddd"]);
        assert!(r.notes[0].contains("replaced"));
    }

    #[test]
    fn vanished_file_keeps_its_position() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("a.log");
        append(&log, "1\n");
        let mut f = Follower::new(log.clone(), None);
        read(&mut f);
        std::fs::remove_file(&log).unwrap();
        assert!(matches!(
            f.read_new(&mut |_| {}),
            Err(FollowError::Vanished { .. })
        ));
        append(&log, "2\n");
        let (lines, r) = read(&mut f);
        assert_eq!(lines, ["2"]);
        // A new inode ("gone"), or the old inode number reused for the new file ("replaced").
        assert!(!r.notes.is_empty());
    }

    #[test]
    fn state_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let p = Position {
            dev: 1,
            inode: 2,
            offset: 3,
            head_len: 4,
            head_hash: u64::MAX,
            saved_at: 6,
        };
        let sp = state_path(d.path(), "postfix", Path::new("/var/log/mail.log"));
        assert!(sp.ends_with("postfix-var-log-mail.log.state"));
        assert_eq!(load_state(&sp).unwrap(), None);
        save_state(&sp, &p).unwrap();
        assert_eq!(load_state(&sp).unwrap(), Some(p));
        std::fs::write(&sp, "dev 1\n").unwrap();
        assert!(load_state(&sp).unwrap_err().contains("incomplete"));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append(String),
        Read,
        Rotate,
        Truncate,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => "[ab\n]{0,12}".prop_map(Op::Append),
            3 => Just(Op::Read),
            1 => Just(Op::Rotate),
            1 => Just(Op::Truncate),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever is appended, however the reads fall between the writes, and
        /// with rotations (one per read at most) and truncations (between two
        /// reads) in between, the lines read are exactly the whole lines of each
        /// file's content, in order: none twice, none skipped, none split.
        #[test]
        fn reads_every_whole_line_once(ops in proptest::collection::vec(op(), 0..40)) {
            let d = tempfile::tempdir().unwrap();
            let log = d.path().join("a.log");
            std::fs::write(&log, "").unwrap();
            let mut f = Follower::new(log.clone(), None);
            let mut got: Vec<String> = Vec::new();
            let mut want: Vec<String> = Vec::new();
            let mut content = String::new();
            let mut generations = 0;
            let read = |f: &mut Follower, got: &mut Vec<String>| {
                f.read_new(&mut |l| got.push(l.to_owned())).unwrap();
            };
            let whole = |c: &str| -> Vec<String> {
                let mut v: Vec<String> = c.split('\n').map(str::to_owned).collect();
                v.pop(); // the part after the last newline is not a line (yet)
                v
            };
            for op in ops {
                match op {
                    Op::Append(t) => {
                        append(&log, &t);
                        content.push_str(&t);
                    }
                    Op::Read => read(&mut f, &mut got),
                    Op::Rotate => {
                        read(&mut f, &mut got);
                        generations += 1;
                        std::fs::rename(&log, d.path().join(format!("a.log.{generations}"))).unwrap();
                        std::fs::write(&log, "").unwrap();
                        want.extend(whole(&content));
                        content.clear();
                    }
                    Op::Truncate => {
                        // copytruncate, seen by a read before the file grows again
                        // (see the module doc for the case it cannot see).
                        read(&mut f, &mut got);
                        std::fs::write(&log, "").unwrap();
                        read(&mut f, &mut got);
                        want.extend(whole(&content));
                        content.clear();
                    }
                }
            }
            read(&mut f, &mut got);
            want.extend(whole(&content));
            proptest::prop_assert_eq!(got, want);
        }
    }
}
