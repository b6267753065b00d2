//! Positional byte access the whisper algorithms run on.
//!
//! [`ReadAt::read_at`] fills the whole buffer or fails (`UnexpectedEof` for a short file);
//! [`WriteAt::write_at`] writes all bytes. A file written past EOF grows (as it does under
//! whisper); an in-memory `Vec<u8>` image refuses writes past its end, which only a
//! corrupt header asks for. Implemented for `Vec<u8>` (in memory),
//! `std::fs::File` (`pread`/`pwrite`, no shared cursor) and [`SeekStore`] over any
//! `Read + Write + Seek`.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// Positional reads.
pub trait ReadAt {
    /// Reads exactly `buf.len()` bytes starting at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// Positional writes.
pub trait WriteAt: ReadAt {
    /// Writes all of `data` starting at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
}

fn past_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "write past the end of the in-memory whisper image",
    )
}

fn short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the whisper data",
    )
}

impl ReadAt for [u8] {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| short())?;
        let end = start.checked_add(buf.len()).ok_or_else(short)?;
        let src = self.get(start..end).ok_or_else(short)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.as_mut_slice().read_at(offset, buf)
    }
}

impl WriteAt for Vec<u8> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| past_end())?;
        let end = start.checked_add(data.len()).ok_or_else(past_end)?;
        // A whisper file never grows after create; only a corrupt header points past the
        // end, and an in-memory image refuses rather than allocating what it claims.
        let dst = self.get_mut(start..end).ok_or_else(past_end)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

impl ReadAt for std::fs::File {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl WriteAt for std::fs::File {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, data, offset)
    }
}

/// Adapts any `Read + Seek` (and `Write`) stream, e.g. a `Cursor<Vec<u8>>`.
#[derive(Debug)]
pub struct SeekStore<T>(pub T);

impl<T: Read + Seek> ReadAt for SeekStore<T> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.read_exact(buf)
    }
}

impl<T: Read + Write + Seek> WriteAt for SeekStore<T> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.write_all(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_reads_and_writes_exactly_within_its_length() {
        let mut v = vec![1_u8, 2, 3];
        let mut b = [0_u8; 2];
        v.read_at(1, &mut b).unwrap();
        assert_eq!(b, [2, 3]);
        assert_eq!(
            v.read_at(2, &mut b).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        v.write_at(2, &[9]).unwrap();
        assert_eq!(v, [1, 2, 9]);
        assert!(v.write_at(3, &[9]).is_err());
        assert_eq!(v, [1, 2, 9]);
    }

    #[test]
    fn seek_store_matches_vec() {
        let mut s = SeekStore(io::Cursor::new(vec![0_u8; 4]));
        s.write_at(2, &[7, 8, 9]).unwrap();
        let mut b = [0_u8; 5];
        s.read_at(0, &mut b).unwrap();
        assert_eq!(b, [0, 0, 7, 8, 9]);
    }
}
