//! The in-memory paged image a whisper update runs over, and the merging of its writes.
//!
//! Contract:
//! - A [`PagedImage`] is a file as the pure whisper algorithms see it
//!   ([`ReadAt`]/[`WriteAt`]): pages fetched from the file (`clean`, borrowed from the
//!   open-file set), this run's writes laid over them (dirty pages), and zeros for the
//!   absent pages of a file created here. A read of a byte not known notes its page as
//!   missing and reads zeros: the run is then discarded, the pages fetched and the run
//!   repeated, so a run that noted nothing missing is final. Bytes the run itself wrote
//!   are known without a fetch.
//! - The image never does I/O and never reads past the file's length.
//! - [`coalesce`] merges a run's writes, in order, into disjoint runs (the later write
//!   wins where they overlap); [`bridge`] joins neighbouring runs over known bytes when
//!   that dirties no other page: the bytes written are exactly the bytes the run's writes
//!   leave, in fewer writes.
//! - Pages are [`PAGE`] bytes, the last one of a file possibly shorter ([`page_len`]).

use std::collections::BTreeSet;
use std::io;

use hashbrown::HashMap;

use crate::storage::whisper::{ReadAt, WriteAt};

/// Page size of the in-memory image and of the cached pages.
pub(super) const PAGE: u64 = 4096;

/// Merge writes made in order into disjoint runs: where they overlap the later write
/// wins, and writes that touch or overlap become one run.
pub(super) fn coalesce(writes: &[(u64, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    let mut ranges: Vec<(u64, u64)> = writes
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(o, b)| (*o, *o + b.len() as u64))
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut bufs: Vec<Vec<u8>> = merged
        .iter()
        .map(|&(s, e)| vec![0; (e - s) as usize])
        .collect();
    for (offset, bytes) in writes {
        if bytes.is_empty() {
            continue;
        }
        let k = merged.partition_point(|r| r.0 <= *offset) - 1;
        let at = (offset - merged[k].0) as usize;
        bufs[k][at..at + bytes.len()].copy_from_slice(bytes);
    }
    merged.into_iter().map(|r| r.0).zip(bufs).collect()
}

/// Join neighbouring writes (sorted, disjoint) whose pages touch or are next to each
/// other, filling the bytes between them with what the file holds there (`known`: `None`
/// when not all of it is known; then they stay apart). The joined write dirties no page
/// the separate ones would not, and one write costs less than two: on ext4 io_uring hands
/// every buffered write to a worker thread.
pub(super) fn bridge(
    runs: Vec<(u64, Vec<u8>)>,
    known: impl Fn(u64, usize) -> Option<Vec<u8>>,
) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = Vec::with_capacity(runs.len());
    for (offset, bytes) in runs {
        if let Some((start, joined)) = out.last_mut() {
            let end = *start + joined.len() as u64;
            let last_page = (end - 1) / PAGE;
            if offset / PAGE <= last_page + 1 {
                if let Some(gap) = known(end, (offset - end) as usize) {
                    joined.extend_from_slice(&gap);
                    joined.extend_from_slice(&bytes);
                    continue;
                }
            }
        }
        out.push((offset, bytes));
    }
    out
}

/// Lay `data` written at `offset` over the cached pages it touches.
pub(super) fn patch_pages(pages: &mut HashMap<u64, Vec<u8>>, offset: u64, data: &[u8]) {
    for (p, in_page, at) in page_spans(offset, data.len()) {
        if let Some(page) = pages.get_mut(&p) {
            if in_page.end <= page.len() {
                page[in_page].copy_from_slice(&data[at]);
            }
        }
    }
}

/// A page written by this run: its bytes, and which of them are known (`None`: all of
/// them, the page was fetched; otherwise one bit per byte this run wrote).
struct DirtyPage {
    bytes: Vec<u8>,
    known: Option<Vec<u64>>,
}

impl DirtyPage {
    fn knows(&self, r: &std::ops::Range<usize>) -> bool {
        self.known
            .as_ref()
            .is_none_or(|k| r.clone().all(|b| k[b / 64] & (1 << (b % 64)) != 0))
    }

    fn write(&mut self, r: std::ops::Range<usize>, data: &[u8]) {
        if let Some(k) = &mut self.known {
            for b in r.clone() {
                k[b / 64] |= 1 << (b % 64);
            }
        }
        self.bytes[r].copy_from_slice(data);
    }
}

/// The file as the whisper algorithms see it: fetched pages, the writes of this run laid
/// over them, and the pages that were needed but not known yet.
pub struct PagedImage<'a> {
    clean: &'a HashMap<u64, Vec<u8>>,
    /// Pages absent from `clean` are zeros (a file created here).
    zero_absent: bool,
    dirty: HashMap<u64, DirtyPage>,
    len: u64,
    missing: BTreeSet<u64>,
    writes: Vec<(u64, Vec<u8>)>,
}

impl<'a> PagedImage<'a> {
    pub(super) fn new(clean: &'a HashMap<u64, Vec<u8>>, len: u64, zero_absent: bool) -> Self {
        Self {
            clean,
            zero_absent,
            dirty: HashMap::new(),
            len,
            missing: BTreeSet::new(),
            writes: Vec::new(),
        }
    }

    /// The pages this run needed but did not know (empty: the run is final).
    pub(super) fn missing(&self) -> &BTreeSet<u64> {
        &self.missing
    }

    /// This run's writes, in the order made.
    pub(super) fn take_writes(&mut self) -> Vec<(u64, Vec<u8>)> {
        std::mem::take(&mut self.writes)
    }
}

/// Bytes of page `p` of a file `len` bytes long (the last page may be short).
pub(super) fn page_len(len: u64, p: u64) -> usize {
    PAGE.min(len - p * PAGE) as usize
}

/// The pieces of the byte range `offset..offset + len` page by page: (page number, range
/// within that page, range within the caller's buffer).
pub(super) fn page_spans(
    offset: u64,
    len: usize,
) -> impl Iterator<Item = (u64, std::ops::Range<usize>, std::ops::Range<usize>)> {
    let end = offset + len as u64;
    let mut pos = offset;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let in_page = (pos % PAGE) as usize;
        let take = ((PAGE - pos % PAGE).min(end - pos)) as usize;
        let at = (pos - offset) as usize;
        let span = (pos / PAGE, in_page..in_page + take, at..at + take);
        pos += take as u64;
        Some(span)
    })
}

/// What a [`PagedImage`] knows of some bytes within one page.
enum Known<'p> {
    /// The page holding them.
    Page(&'p [u8]),
    /// They are zeros (a page of a file created here, not written yet).
    Zeros,
    /// Not known: the page must be fetched.
    Unknown,
}

impl PagedImage<'_> {
    /// What is known of the bytes `in_page` of page `p`: this run's writes first, then
    /// the fetched page, then zeros for a file created here.
    fn known(&self, p: u64, in_page: &std::ops::Range<usize>) -> Known<'_> {
        match self.dirty.get(&p) {
            Some(d) if d.knows(in_page) => Known::Page(&d.bytes),
            Some(_) => Known::Unknown,
            None => match self.clean.get(&p) {
                Some(c) => Known::Page(c),
                None if self.zero_absent => Known::Zeros,
                None => Known::Unknown,
            },
        }
    }

    /// The bytes at `offset..offset + len` if all of them are known, without noting
    /// anything as missing.
    pub(super) fn known_bytes(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        if offset + len as u64 > self.len {
            return None;
        }
        let mut out = vec![0; len];
        for (p, in_page, at) in page_spans(offset, len) {
            match self.known(p, &in_page) {
                Known::Page(page) => out[at].copy_from_slice(&page[in_page]),
                Known::Zeros => {}
                Known::Unknown => return None,
            }
        }
        Some(out)
    }
}

impl ReadAt for PagedImage<'_> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the whisper file",
            ));
        }
        for (p, in_page, at) in page_spans(offset, buf.len()) {
            let dst = &mut buf[at];
            match self.known(p, &in_page) {
                Known::Page(page) => dst.copy_from_slice(&page[in_page]),
                Known::Zeros => dst.fill(0),
                Known::Unknown => {
                    // Not known yet: note it and go on with zeros; this run's result is
                    // discarded and the run repeated once the page is here.
                    self.missing.insert(p);
                    dst.fill(0);
                }
            }
        }
        Ok(())
    }
}

impl WriteAt for PagedImage<'_> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset + data.len() as u64;
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write past the end of the whisper file",
            ));
        }
        self.writes.push((offset, data.to_vec()));
        let (clean, len, zero_absent) = (self.clean, self.len, self.zero_absent);
        for (p, in_page, at) in page_spans(offset, data.len()) {
            let page = self.dirty.entry(p).or_insert_with(|| {
                if let Some(c) = clean.get(&p) {
                    DirtyPage {
                        bytes: c.clone(),
                        known: None,
                    }
                } else {
                    let n = page_len(len, p);
                    DirtyPage {
                        bytes: vec![0; n],
                        known: (!zero_absent).then(|| vec![0; n.div_ceil(64)]),
                    }
                }
            });
            page.write(in_page, &data[at]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_merge_in_order_into_disjoint_runs() {
        let w = |o: u64, b: &[u8]| (o, b.to_vec());
        let merged = coalesce(&[
            w(10, b"aaaa"),
            w(12, b"bb"),
            w(14, b"cc"),
            w(30, b"x"),
            w(11, b"Z"),
        ]);
        assert_eq!(merged, vec![w(10, b"aZbbcc"), w(30, b"x")]);
    }

    #[test]
    fn neighbouring_writes_join_over_known_bytes_without_dirtying_another_page() {
        let page = PAGE as usize;
        let file: Vec<u8> = (0..4 * page).map(|i| (i % 251) as u8).collect();
        let known = |o: u64, n: usize| Some(file[o as usize..o as usize + n].to_vec());
        let w = |o: usize, b: &[u8]| (o as u64, b.to_vec());
        // Same page, and the next page: joined, the gaps filled from the file.
        let joined = bridge(vec![w(10, b"ab"), w(100, b"cd"), w(page + 5, b"ef")], known);
        let mut want = file[10..page + 7].to_vec();
        want[..2].copy_from_slice(b"ab");
        want[90..92].copy_from_slice(b"cd");
        want[page - 5..].copy_from_slice(b"ef");
        assert_eq!(joined, vec![(10, want)]);
        // A whole page between them: joining would dirty it, so they stay apart.
        let apart = vec![w(10, b"ab"), w(2 * page + 1, b"cd")];
        assert_eq!(bridge(apart.clone(), known), apart);
        // The bytes between are not known: apart.
        let unknown = vec![w(10, b"ab"), w(page + 1, b"cd")];
        assert_eq!(bridge(unknown.clone(), |_, _| None), unknown);
    }
}
