//! `resize`: whisper-resize.py's procedure and messages.
//!
//! Contract: read every old archive (coarsest first) over its full retention, create
//! `<path>.tmp` (or `--newfile`) with the new archives, then either write the known old
//! points with `update_many`, coarsest archive first so finer data overwrites coarser
//! (default), or (`--aggregate`) merge the old archives into one series and aggregate it
//! into each new archive's steps with the file's method and xFilesFactor. Without
//! `--newfile` the original becomes `<path>.bak` and the new file takes its name.
//! The quirks of the script are kept: the aggregated windows start at
//! `now - retention + now % step`, the merged series is searched with `bisect_left` even
//! where it is not sorted, and the diagnostic lines are printed as the script prints them.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{method_named, parse_archives, Failure, Outcome};
use crate::storage::whisper::file::{self, Preallocate};
use crate::storage::whisper::{ArchiveInfo, FetchResult};

/// Options of `resize` besides the path and archives.
pub(super) struct Options<'a> {
    pub x_files_factor: Option<f64>,
    pub aggregation_method: Option<&'a str>,
    pub newfile: Option<&'a Path>,
    pub nobackup: bool,
    pub aggregate: bool,
}

/// `zip(range(start, end, step), values)`: stops at the shorter of the two.
fn points_of(r: &FetchResult) -> Vec<(i64, Option<f64>)> {
    (0..)
        .map(|i| r.from + i * r.step)
        .take_while(|&t| t < r.until)
        .zip(r.values.iter().copied())
        .collect()
}

/// Python's `bisect.bisect_left(a, x, lo)`, exactly (also on unsorted input).
fn bisect_left(a: &[i64], x: i64, lo: usize) -> usize {
    let (mut lo, mut hi) = (lo, a.len());
    while lo < hi {
        let mid = usize::midpoint(lo, hi);
        if a[mid] < x {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn py_list_ints(v: &[i64]) -> String {
    let items: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// Python's `repr(range(a, b, c))`.
fn range_repr(a: i64, b: i64, c: i64) -> String {
    if c == 1 {
        format!("range({a}, {b})")
    } else {
        format!("range({a}, {b}, {c})")
    }
}

pub(super) fn run(
    path: &Path,
    defs: &[String],
    o: &Options<'_>,
    now: i64,
    out: &mut dyn Write,
) -> Outcome {
    if !path.exists() {
        return Err(Failure::bare(format!(
            "[ERROR] File '{}' does not exist!\n\nUsage: lonsdaleite whisper resize PATH timePerPoint:timeToStore [timePerPoint:timeToStore]*",
            path.display()
        )));
    }
    let info = file::info(path)?;
    let new_archives = parse_archives(defs)?;
    let mut old_archives: Vec<ArchiveInfo> = info.archives.clone();
    // lowest precision first; stable like Python's sort
    old_archives.sort_by_key(|a| std::cmp::Reverse(a.seconds_per_point));
    let xff = o.x_files_factor.unwrap_or_else(|| info.xff());
    let method = match o.aggregation_method {
        Some(name) => method_named(name)?,
        None => info.aggregation_method,
    };
    writeln!(out, "Retrieving all data from the archives")?;
    let mut data = Vec::with_capacity(old_archives.len());
    for a in &old_archives {
        let from = now - a.retention() + i64::from(a.seconds_per_point);
        let r = file::fetch(path, from, Some(now), now, None)?
            .ok_or_else(|| Failure::error("cannot unpack non-iterable NoneType object"))?;
        data.push((*a, r));
    }
    let tmpfile = PathBuf::from(format!("{}.tmp", path.display()));
    let newfile = if let Some(p) = o.newfile {
        p.to_path_buf()
    } else {
        if tmpfile.exists() {
            writeln!(
                out,
                "Removing previous temporary database file: {}",
                tmpfile.display()
            )?;
            std::fs::remove_file(&tmpfile)?;
        }
        tmpfile.clone()
    };
    writeln!(out, "Creating new whisper database: {}", newfile.display())?;
    file::create(&newfile, &new_archives, xff, method, Preallocate::Zeros)?;
    let size = std::fs::metadata(&newfile)?.len();
    writeln!(out, "Created: {} ({size} bytes)", newfile.display())?;

    if o.aggregate {
        writeln!(out, "Migrating data with aggregation...")?;
        let mut by_precision: Vec<&(ArchiveInfo, FetchResult)> = data.iter().collect();
        by_precision.sort_by_key(|(a, _)| a.seconds_per_point);
        let mut all: Vec<(i64, Option<f64>)> = Vec::new();
        for (_, r) in by_precision {
            let mut newest_first = points_of(r);
            newest_first.reverse();
            if let Some(&(last_ts, _)) = all.last() {
                let slice_end = newest_first
                    .iter()
                    .position(|&(t, _)| t < last_ts)
                    .unwrap_or(0);
                all.extend_from_slice(&newest_first[slice_end..]);
            } else {
                all.extend(newest_first);
            }
        }
        all.reverse();
        let old_ts: Vec<i64> = all.iter().map(|p| p.0).collect();
        let old_values: Vec<Option<f64>> = all.iter().map(|p| p.1).collect();
        writeln!(out, "oldtimestamps: {}", py_list_ints(&old_ts))?;
        let new_info = file::info(&newfile)?;
        for a in &new_info.archives {
            let step = i64::from(a.seconds_per_point);
            let from = now - a.retention() + now.rem_euclid(step);
            let until = now + now.rem_euclid(step) + step;
            writeln!(out, "({from},{until},{step})")?;
            writeln!(
                out,
                "timepoints_to_update: {}",
                range_repr(from, until, step)
            )?;
            let times: Vec<i64> = (from..until)
                .step_by(usize::try_from(step).unwrap_or(1))
                .collect();
            let mut points = Vec::new();
            for w in times.windows(2) {
                let left = bisect_left(&old_ts, w[0], 0);
                let right = bisect_left(&old_ts, w[1], left);
                let window = old_values.get(left..right).unwrap_or(&[]);
                if window.is_empty() {
                    continue;
                }
                let known: Vec<f64> = window.iter().flatten().copied().collect();
                if !known.is_empty() && known.len() as f64 / window.len() as f64 >= xff {
                    points.push((w[0], method.aggregate(&known, window)));
                }
            }
            file::update_many(&newfile, &points, now)?;
        }
    } else {
        writeln!(out, "Migrating data without aggregation...")?;
        for (_, r) in &data {
            let points: Vec<(i64, f64)> = points_of(r)
                .into_iter()
                .filter_map(|(t, v)| v.map(|v| (t, v)))
                .collect();
            file::update_many(&newfile, &points, now)?;
        }
    }
    if o.newfile.is_some() {
        return Ok(());
    }
    let backup = PathBuf::from(format!("{}.bak", path.display()));
    writeln!(out, "Renaming old database to: {}", backup.display())?;
    std::fs::rename(path, &backup)?;
    writeln!(out, "Renaming new database to: {}", path.display())?;
    if let Err(e) = std::fs::rename(&tmpfile, path) {
        writeln!(out, "\nOperation failed, restoring backup")?;
        std::fs::rename(&backup, path)?;
        return Err(Failure::error(e));
    }
    if o.nobackup {
        writeln!(out, "Unlinking backup: {}", backup.display())?;
        std::fs::remove_file(&backup)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisect_matches_python_on_unsorted_lists() {
        // bisect.bisect_left([5, 1, 7, 3], 4) == 2 in CPython
        assert_eq!(bisect_left(&[5, 1, 7, 3], 4, 0), 2);
        assert_eq!(bisect_left(&[1, 2, 2, 3], 2, 0), 1);
        assert_eq!(bisect_left(&[1, 2, 3], 9, 1), 3);
        assert_eq!(range_repr(0, 10, 1), "range(0, 10)");
        assert_eq!(range_repr(0, 10, 5), "range(0, 10, 5)");
    }
}
