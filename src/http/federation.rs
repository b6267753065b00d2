//! The values of graphite-web 1.1's cluster protocol, as a member answers a frontend
//! (`/metrics/find/?local=1&format=pickle|msgpack`, `/render/?local=1&format=…`) and as
//! a frontend reads them back.
//!
//! - A find answer is a list of [`FindNode`]: `{'path', 'is_leaf'}`, and for a leaf
//!   `'intervals'`, the time ranges the member holds (`metrics/views.py` `pickle_nodes`,
//!   `msgpack_nodes`). Pickled, the intervals are graphite's `IntervalSet` of `Interval`
//!   objects, as graphite-web pickles them; in msgpack a list of `[start, end]` pairs.
//! - A render answer is a list of one dict per series (`TimeSeries.getInfo`): `name`,
//!   `start`, `end`, `step`, `values` (`None` for gaps), `pathExpression` (the target as
//!   sent), `valuesPerPoint`, `consolidationFunc`, `xFilesFactor`.
//!
//! The encoders are [`super::pickle`] and [`super::msgpack`]; the content types are
//! [`PICKLE`] and [`MSGPACK`] (a frontend decodes msgpack only when the content type is
//! exactly [`MSGPACK`], pickle otherwise).

/// Content type of a pickled answer.
pub const PICKLE: &str = "application/pickle";
/// Content type of a msgpack answer; graphite-web's frontend compares it exactly.
pub const MSGPACK: &str = "application/x-msgpack";

/// One node of a find answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FindNode {
    pub path: String,
    pub is_leaf: bool,
    /// `(start, end)` in seconds (floats, as graphite-web's whisper reader gives them:
    /// `now - maxRetention` to the file's mtime). Only leaves carry any.
    pub intervals: Vec<(f64, f64)>,
}

/// What a leaf's interval is made of, read from its whisper file as graphite-web's
/// whisper finder reads it (`whisper.info` and `os.stat`), with one `open`, one `fstat` and
/// one read of the file's first bytes: the largest retention of its archives in seconds
/// (`None` when the header cannot be read) and its mtime in seconds (`None` without a
/// file).
pub fn file_interval_parts(path: &std::path::Path) -> (Option<f64>, Option<f64>) {
    use crate::storage::whisper::{read_header, ReadAt};

    /// The file's first bytes (a header of up to 41 archives), the rest read from the file.
    struct Head<'a> {
        file: &'a std::fs::File,
        bytes: [u8; 512],
        len: usize,
    }
    impl ReadAt for Head<'_> {
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            match start.checked_add(buf.len()).filter(|&end| end <= self.len) {
                Some(end) => {
                    buf.copy_from_slice(&self.bytes[start..end]);
                    Ok(())
                }
                None => std::os::unix::fs::FileExt::read_exact_at(self.file, buf, offset),
            }
        }
    }

    let Ok(file) = std::fs::File::open(path) else {
        return (None, None);
    };
    let mtime = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    let mut head = Head {
        file: &file,
        bytes: [0; 512],
        len: 0,
    };
    while head.len < head.bytes.len() {
        match std::os::unix::fs::FileExt::read_at(
            &file,
            &mut head.bytes[head.len..],
            head.len as u64,
        ) {
            Ok(0) => break,
            Ok(n) => head.len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let retention = read_header(&mut head)
        .ok()
        .map(|h| f64::from(h.max_retention));
    (retention, mtime)
}
