//! Convenience functions over paths: whisper's module-level API (`create`, `info`,
//! `update`, `update_many`, `fetch`, `setAggregationMethod`, `merge`) on real files.
//!
//! These open the file for the one call (like whisper) and run the pure algorithms on a
//! `std::fs::File` through `pread`/`pwrite`. Errors name the file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::{
    archive_fetch, archive_update_many, create::header_for, read_header, AggregationMethod,
    FetchResult, Header, ReadAt, Result, WhisperError, WriteAt,
};

fn open(path: &Path, write: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .map_err(|source| WhisperError::Io {
            path: path.display().to_string(),
            source,
        })
}

/// How `create` reserves the data region (whisper's `sparse` / `useFallocate` flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Preallocate {
    /// Write zeros (whisper's default, 16 KiB at a time).
    #[default]
    Zeros,
    /// Leave a hole: the file has its full length but no blocks (`sparse=True`).
    Sparse,
    /// `posix_fallocate` the data region (`useFallocate=True`).
    Fallocate,
}

/// Creates a new file (refusing an existing path) holding the header and an all-zero
/// data region reserved as `prealloc` says. A half-written file is removed on error.
pub fn create(
    path: &Path,
    archives: &[(u32, u32)],
    xff: f64,
    method: AggregationMethod,
    prealloc: Preallocate,
) -> Result<Header> {
    let header = header_for(archives, xff, method)?;
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(WhisperError::InvalidConfiguration(format!(
                "File {} already exists!",
                path.display()
            )))
        }
        Err(source) => {
            return Err(WhisperError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    fill_new(&mut file, path, &header, prealloc)?;
    Ok(header)
}

/// Write a whisper file with `header` into `file`, new and empty, opened for writing at
/// `path`: the header and an all-zero data region reserved as `prealloc` says. On error
/// the path is removed.
pub fn fill_new(
    file: &mut File,
    path: &Path,
    header: &Header,
    prealloc: Preallocate,
) -> Result<()> {
    let written = (|| -> std::io::Result<()> {
        if prealloc == Preallocate::Fallocate {
            // The whole file first, then the header over its start: the same bytes as
            // whisper's header-then-fallocate, and ext4 spends about a fifth less on it
            // (bench/e2e/create-cost.sh; bench/RESULTS.md).
            let len = libc::off_t::try_from(header.file_size()).map_err(std::io::Error::other)?;
            // SAFETY: the descriptor belongs to `file`, which is open for the whole call.
            let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
            if rc != 0 {
                return Err(std::io::Error::from_raw_os_error(rc));
            }
            file.write_all(&header.encode())?;
        } else {
            file.write_all(&header.encode())?;
            let mut remaining = header.file_size() - header.size();
            if prealloc == Preallocate::Sparse {
                file.set_len(header.file_size())?;
            } else {
                let zeros = [0_u8; 16384];
                while remaining > 0 {
                    let n = remaining.min(zeros.len() as u64) as usize;
                    file.write_all(&zeros[..n])?;
                    remaining -= n as u64;
                }
            }
        }
        // whisper does not fsync unless its AUTOFLUSH flag is set; neither do we.
        file.flush()
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(path);
        return Err(WhisperError::Io {
            path: path.display().to_string(),
            source,
        });
    }
    Ok(())
}

/// Whisper's `info`: the validated header.
pub fn info(path: &Path) -> Result<Header> {
    read_header(&mut open(path, false)?).map_err(|e| e.with_path(path))
}

/// Whisper's `update(path, value, timestamp, now)`.
pub fn update(path: &Path, value: f64, timestamp: i64, now: i64) -> Result<()> {
    super::update(&mut open(path, true)?, value, timestamp, now).map_err(|e| e.with_path(path))
}

/// Whisper's `update_many(path, points, now)`.
pub fn update_many(path: &Path, points: &[(i64, f64)], now: i64) -> Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    super::update_many(&mut open(path, true)?, points, now).map_err(|e| e.with_path(path))
}

/// Whisper's `fetch(path, from, until, now, archiveToSelect)`.
pub fn fetch(
    path: &Path,
    from: i64,
    until: Option<i64>,
    now: i64,
    archive_to_select: Option<&str>,
) -> Result<Option<FetchResult>> {
    super::fetch(&mut open(path, false)?, from, until, now, archive_to_select)
        .map_err(|e| e.with_path(path))
}

/// Whisper's `setAggregationMethod` / `setXFilesFactor`: returns the old pair.
pub fn set_aggregation(
    path: &Path,
    method: Option<AggregationMethod>,
    xff: Option<f64>,
) -> Result<(AggregationMethod, f32)> {
    super::set_aggregation(&mut open(path, true)?, method, xff).map_err(|e| e.with_path(path))
}

/// Whisper's `file_merge` on two stores: copies every known point of `src` into `dst`,
/// archive by archive (longest retention last), within `[time_from, time_to]`.
pub fn merge_stores<R: ReadAt + ?Sized, W: WriteAt + ?Sized>(
    src: &mut R,
    dst: &mut W,
    names: (&str, &str),
    time_from: Option<i64>,
    time_to: Option<i64>,
    now: i64,
) -> Result<()> {
    let header_from = read_header(src)?;
    let header_to = read_header(dst)?;
    if header_from.archives != header_to.archives {
        return Err(WhisperError::ArchivesDiffer {
            from: names.0.to_owned(),
            to: names.1.to_owned(),
        });
    }
    let until = time_to.unwrap_or(now);
    let from = time_from.unwrap_or(0);
    if until < from {
        return Err(WhisperError::MergeRange { from, until });
    }
    let mut order: Vec<usize> = (0..header_from.archives.len()).collect();
    order.sort_by_key(|&i| header_from.archives[i].retention());
    for idx in order {
        let archive = header_from.archives[idx];
        let oldest = now - archive.retention();
        if until < oldest {
            continue;
        }
        let r = archive_fetch(src, &archive, from.max(oldest), until)?;
        let points: Vec<(i64, f64)> = (0..)
            .map(|i| r.from + i * r.step)
            .take_while(|&t| t < r.until)
            .zip(r.values.iter())
            .filter_map(|(t, v)| v.map(|v| (t, v)))
            .collect();
        if !points.is_empty() {
            archive_update_many(dst, &header_to, idx, &points)?;
        }
    }
    Ok(())
}

/// Whisper's `merge(path_from, path_to, time_from, time_to, now)`.
pub fn merge(
    from: &Path,
    to: &Path,
    time_from: Option<i64>,
    time_to: Option<i64>,
    now: i64,
) -> Result<()> {
    let mut src = open(from, false)?;
    let mut dst = open(to, true)?;
    let names = (from.display().to_string(), to.display().to_string());
    merge_stores(
        &mut src,
        &mut dst,
        (&names.0, &names.1),
        time_from,
        time_to,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_refuses_existing_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wsp");
        create(
            &p,
            &[(60, 5), (300, 3)],
            0.5,
            AggregationMethod::Sum,
            Preallocate::Zeros,
        )
        .unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 136);
        assert!(matches!(
            create(
                &p,
                &[(60, 5)],
                0.5,
                AggregationMethod::Sum,
                Preallocate::Zeros
            ),
            Err(WhisperError::InvalidConfiguration(_))
        ));
        let now = 1_700_000_000;
        update_many(&p, &[(now, 1.0), (now - 60, 2.0)], now).unwrap();
        update(&p, 3.0, now - 120, now).unwrap();
        let r = fetch(&p, now - 180, None, now, None).unwrap().unwrap();
        assert_eq!(r.values, vec![Some(3.0), Some(2.0), Some(1.0)]);
        let q = dir.path().join("b.wsp");
        create(
            &q,
            &[(60, 5), (300, 3)],
            0.5,
            AggregationMethod::Sum,
            Preallocate::Sparse,
        )
        .unwrap();
        assert_eq!(std::fs::read(&q).unwrap(), {
            let mut v = std::fs::read(&p).unwrap();
            v[40..].fill(0);
            v
        });
        merge(&p, &q, None, None, now).unwrap();
        for arch in ["60", "300"] {
            assert_eq!(
                fetch(&p, now - 900, None, now, Some(arch)).unwrap(),
                fetch(&q, now - 900, None, now, Some(arch)).unwrap(),
                "{arch}"
            );
        }
    }
}
