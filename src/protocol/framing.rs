//! Newline framing for stream transports (TCP StatsD, carbon plaintext).
//!
//! [`LineFramer`] takes bytes as they arrive, hands out complete lines (without the
//! `\n`, and without a trailing `\r`), keeps a partial line across reads, and enforces a
//! line-length cap: a line longer than the cap is skipped up to its newline and counted
//! in [`LineFramer::too_long`]; the lines around it are unaffected. Memory held is at
//! most the cap plus one read.

/// Splits a byte stream into lines with a length cap.
#[derive(Debug)]
pub struct LineFramer {
    pending: Vec<u8>,
    max_line: usize,
    /// True while skipping the rest of an over-long line.
    discarding: bool,
    /// Lines dropped because they exceeded the cap.
    pub too_long: u64,
}

impl LineFramer {
    /// A framer that accepts lines of at most `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            pending: Vec::new(),
            max_line,
            discarding: false,
            too_long: 0,
        }
    }

    /// Feed `data`; `on_line` is called once per complete line, in order.
    pub fn push(&mut self, mut data: &[u8], mut on_line: impl FnMut(&[u8])) {
        while let Some(nl) = find_newline(data) {
            let (head, rest) = (&data[..nl], &data[nl + 1..]);
            data = rest;
            if self.discarding {
                self.discarding = false;
                continue;
            }
            if self.pending.is_empty() {
                if head.len() > self.max_line {
                    self.too_long += 1;
                } else {
                    on_line(trim_cr(head));
                }
            } else if self.pending.len() + head.len() > self.max_line {
                self.pending.clear();
                self.too_long += 1;
            } else {
                self.pending.extend_from_slice(head);
                let line = std::mem::take(&mut self.pending);
                on_line(trim_cr(&line));
                self.pending = line;
                self.pending.clear();
            }
        }
        if data.is_empty() || self.discarding {
            return;
        }
        if self.pending.len() + data.len() > self.max_line {
            self.pending.clear();
            self.discarding = true;
            self.too_long += 1;
        } else {
            self.pending.extend_from_slice(data);
        }
    }

    /// At end of stream: the unterminated last line, if any. Deliberately kept: carbon-cache
    /// 1.1.7 (Twisted's `LineOnlyReceiver`) and etsy statsd 0.9's TCP server both leave it
    /// in their buffer and drop it at close; a sender that closes without a final newline
    /// loses nothing here (docs/carbon.md lists the difference).
    pub fn finish(&mut self, mut on_line: impl FnMut(&[u8])) {
        if !self.discarding && !self.pending.is_empty() {
            on_line(trim_cr(&self.pending));
        }
        self.pending.clear();
        self.discarding = false;
    }
}

/// The index of the first `\n`, eight bytes at a time: a byte of `w ^ 0x0a0a…` is zero
/// where `w` holds a `\n`, and `(x - 0x0101…) & !x & 0x8080…` sets the high bit of the
/// first zero byte of `x` (borrows only mark bytes above it), the lowest one in
/// little-endian order.
fn find_newline(data: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut words = data.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(word);
        let x = u64::from_le_bytes(b) ^ (ONES * u64::from(b'\n'));
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| at + p)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(chunks: &[&[u8]], cap: usize) -> (Vec<Vec<u8>>, u64) {
        let mut f = LineFramer::new(cap);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, |l| out.push(l.to_vec()));
        }
        f.finish(|l| out.push(l.to_vec()));
        (out, f.too_long)
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let (out, long) = frame(&[b"a:1|c\nb:", b"2|c\r\nc:3", b"|c"], 100);
        assert_eq!(
            out,
            vec![b"a:1|c".to_vec(), b"b:2|c".to_vec(), b"c:3|c".to_vec()]
        );
        assert_eq!(long, 0);
    }

    #[test]
    fn over_long_line_is_dropped_and_counted_neighbours_kept() {
        let (out, long) = frame(&[b"ok:1|c\n", b"xxxxxxxxxxxx", b"xxxxxxx\nafter:1|c\n"], 10);
        assert_eq!(out, vec![b"ok:1|c".to_vec(), b"after:1|c".to_vec()]);
        assert_eq!(long, 1);
        let (out, long) = frame(&[b"0123456789ABC\nz:1|c\n"], 10);
        assert_eq!(out, vec![b"z:1|c".to_vec()]);
        assert_eq!(long, 1);
    }

    proptest! {
        /// However the stream is cut into reads, the lines are the same as splitting the whole.
        #[test]
        fn chunking_does_not_change_lines(text in "[a-z:|\n]{0,200}", cuts in proptest::collection::vec(0usize..200, 0..8)) {
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points { chunks.push(&bytes[last..p]); last = p; }
            chunks.push(&bytes[last..]);
            let (got, _) = frame(&chunks, 1000);
            let mut want: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            if want.last().is_some_and(Vec::is_empty) { want.pop(); }
            prop_assert_eq!(got, want);
        }

        /// The word-at-a-time search finds the same newline as a byte-by-byte one, with
        /// bytes around `\n` (0x09, 0x0b, 0x8a) that trip naive bit tricks.
        #[test]
        fn find_newline_is_position(bytes in proptest::collection::vec(
            proptest::sample::select(vec![0u8, 9, 10, 11, 0x0a ^ 0x80, 0x80, 0xff, b'a']), 0..40)) {
            prop_assert_eq!(find_newline(&bytes), bytes.iter().position(|&b| b == b'\n'));
        }
    }
}
