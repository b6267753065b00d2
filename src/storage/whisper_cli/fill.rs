//! `fill`: whisper-fill.py's gap filling.
//!
//! Contract: walk `dst`'s archives from the shortest retention to the longest; in each,
//! fetch from `now - retention` to where the previous archive started, and for every gap
//! (a run of `None` **or 0.0** values, as the script tests `not v`) longer than one step,
//! copy `src`'s points for `[gap start - step, gap end)` into `dst` with `update_many`,
//! taking them from `src`'s finest archive that still covers each part of the range.
//!
//! The script mixes integer timestamps with `time.time()` floats. The float is `now` plus
//! a fraction, so we keep times in half seconds: an integer `t` is `2t`, a clock-derived
//! `now - r + fraction` is `2(now - r) + 1`. Every comparison the script makes then comes
//! out as it does in Python, and `int()` is a floor division by two.

use std::os::fd::AsRawFd;
use std::path::Path;

use super::{Failure, Outcome};
use crate::storage::whisper::file;

/// A time in half seconds (see the module doc).
type Half = i64;

fn whole(t: i64) -> Half {
    2 * t
}

/// `time.time() - r`: just after the integer `now - r`.
fn clock_minus(now: i64, r: i64) -> Half {
    2 * (now - r) + 1
}

/// Python's `int(x)` for a (positive) time.
fn int(t: Half) -> i64 {
    t.div_euclid(2)
}

/// (start, end, step, values) of a fetch, as the script unpacks it.
type Window = (i64, i64, i64, Vec<Option<f64>>);

fn fetch_known(path: &Path, from: Half, until: Half, now: i64) -> Result<Window, Failure> {
    let r = file::fetch(path, int(from), Some(int(until)), now, None)?
        .ok_or_else(|| Failure::error("cannot unpack non-iterable NoneType object"))?;
    Ok((r.from, r.until, r.step, r.values))
}

/// whisper-fill.py's `fill(src, dst, tstart, tstop)`.
fn fill(src: &Path, dst: &Path, tstart: Half, mut tstop: Half, now: i64) -> Outcome {
    let header = file::info(src)?;
    let mut archives = header.archives.clone();
    archives.sort_by_key(crate::storage::whisper::ArchiveInfo::retention);
    let src_time = whole(now - i64::from(header.max_retention));
    if tstart < src_time && tstop < src_time {
        return Ok(());
    }
    for a in &archives {
        let rtime = clock_minus(now, a.retention());
        if tstop <= rtime {
            continue;
        }
        let until = tstop;
        let from = if rtime > tstart { rtime } else { tstart };
        let (start, end, step, values) = fetch_known(src, from, until, now)?;
        let mut points: Vec<(i64, f64)> = (0..)
            .map(|i| start + i * step)
            .take_while(|&t| t < end)
            .zip(values)
            .filter_map(|(t, v)| v.map(|v| (t, v)))
            .collect();
        points.reverse();
        file::update_many(dst, &points, now)?;
        tstop = from;
        if tstart == tstop {
            return Ok(());
        }
    }
    Ok(())
}

/// `not v` for an optional float: `None` and ±0.0 are falsy, NaN is truthy.
fn falsy(v: Option<f64>) -> bool {
    v.is_none_or(|x| x == 0.0)
}

/// whisper-fill.py's `fill_archives(src, dst, time.time())`.
pub(super) fn run(src: &Path, dst: &Path, lock: bool, now: i64) -> Outcome {
    let lock_file = if lock {
        Some(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(dst)?,
        )
    } else {
        None
    };
    if let Some(f) = &lock_file {
        // SAFETY: the descriptor is owned by `f`, which outlives the call.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Failure::error(std::io::Error::last_os_error()));
        }
    }
    let header = file::info(dst)?;
    let mut archives = header.archives.clone();
    archives.sort_by_key(crate::storage::whisper::ArchiveInfo::retention);
    let mut start_from: Half = clock_minus(now, 0);
    for a in &archives {
        let from_time = clock_minus(now, a.retention());
        if from_time >= start_from {
            continue;
        }
        let (mut start, end, step, values) = fetch_known(dst, from_time, start_from, now)?;
        // `gapstart` is an int timestamp or None; 0 is falsy like None.
        let mut gap: Option<i64> = None;
        let open = |g: Option<i64>| g.is_some_and(|g| g != 0);
        for v in values {
            if falsy(v) && !open(gap) {
                gap = Some(start);
            } else if !falsy(v) && open(gap) {
                let g = gap.unwrap_or(0);
                if start - g > i64::from(a.seconds_per_point) {
                    fill(src, dst, whole(g - step), whole(start), now)?;
                }
                gap = None;
            } else if open(gap) && start == end - step {
                let g = gap.unwrap_or(0);
                fill(src, dst, whole(g - step), whole(start), now)?;
            }
            start += step;
        }
        start_from = from_time;
    }
    drop(lock_file);
    Ok(())
}
