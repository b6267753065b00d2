//! The commands that create or change files: `create` (and `--estimate`), `update`,
//! `set-aggregation-method` (whisper-create.py, whisper-update.py,
//! whisper-set-aggregation-method.py).

use std::io::{BufRead, Write};
use std::path::Path;

use super::{method_named, parse_archives, Failure, Outcome};
use crate::py::parse as pyparse;
use crate::storage::whisper::file::{self, Preallocate};

/// whisper-create.py's `byte_format`.
fn byte_format(num: f64) -> String {
    let mut n = num;
    for unit in ["bytes", "KB", "MB"] {
        if n < 1024.0 {
            return format!("{n:.3}{unit}");
        }
        n /= 1024.0;
    }
    format!("{n:.3}GB")
}

pub(super) fn estimate_size(args: &[String], out: &mut dyn Write) -> Outcome {
    let defs: Vec<String> = match args {
        [one] if one.find(',').is_some_and(|i| i > 0) => {
            one.split(',').map(str::to_owned).collect()
        }
        _ => args.to_vec(),
    };
    let archives = parse_archives(&defs)?;
    let mut total_points: u64 = 0;
    for (i, (precision, points)) in archives.iter().enumerate() {
        writeln!(
            out,
            "Archive {i}: {points} points of {precision}s precision"
        )?;
        total_points += u64::from(*points);
    }
    let size = 16 + archives.len() as u64 * 12 + total_points * 12;
    let disk_size = size.div_ceil(4096) * 4096;
    writeln!(
        out,
        "\nEstimated Whisper DB Size: {} ({disk_size} bytes on disk with 4k blocks)\n",
        byte_format(size as f64)
    )?;
    for x in [1_u64, 5, 10, 50, 100, 500] {
        writeln!(
            out,
            "Estimated storage requirement for {x}k metrics: {}",
            byte_format((x * 1000 * disk_size) as f64)
        )?;
    }
    Ok(())
}

pub(super) fn create(
    args: &[String],
    xff: f64,
    method: &str,
    overwrite: bool,
    prealloc: Preallocate,
    out: &mut dyn Write,
) -> Outcome {
    let [path, defs @ ..] = args else {
        return Err(Failure::error(
            "a path and at least one archive are required",
        ));
    };
    if defs.is_empty() {
        return Err(Failure::error(
            "a path and at least one archive are required",
        ));
    }
    let path = Path::new(path);
    let archives = parse_archives(defs)?;
    if overwrite && path.exists() {
        writeln!(out, "Overwriting existing file: {}", path.display())?;
        std::fs::remove_file(path)?;
    }
    file::create(path, &archives, xff, method_named(method)?, prealloc)?;
    let size = std::fs::metadata(path)?.len();
    writeln!(out, "Created: {} ({size} bytes)", path.display())?;
    Ok(())
}

/// Parses whisper-update's `timestamp:value` arguments (`N:` = now).
fn parse_points(items: &[String], now: i64) -> Result<Vec<(i64, f64)>, Failure> {
    items
        .iter()
        .map(|item| {
            let item = item.replace("N:", &format!("{now}:"));
            let parts: Vec<&str> = item.split(':').collect();
            let [ts, value] = parts[..] else {
                return Err(Failure::error(format!(
                    "invalid datapoint {:?}: expected timestamp:value",
                    item.trim_end()
                )));
            };
            let ts = pyparse::int(ts)
                .ok_or_else(|| Failure::error(format!("invalid timestamp {:?}", ts.trim_end())))?;
            let value = pyparse::float(value.as_bytes()).ok_or_else(|| {
                Failure::error(format!(
                    "could not convert string to float: {:?}",
                    value.trim_end()
                ))
            })?;
            Ok((ts, value))
        })
        .collect()
}

pub(super) fn update(path: &Path, items: &[String], now: i64) -> Outcome {
    let items: Vec<String> = if items.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<std::io::Result<_>>()?
    } else {
        items.to_vec()
    };
    let points = parse_points(&items, now)?;
    match points[..] {
        [(ts, value)] => file::update(path, value, ts, now)?,
        _ => file::update_many(path, &points, now)?,
    }
    Ok(())
}

pub(super) fn set_aggregation_method(
    path: &Path,
    method: &str,
    xff: Option<&str>,
    out: &mut dyn Write,
) -> Outcome {
    if !path.exists() {
        return Err(Failure::bare(format!(
            "[ERROR] File '{}' does not exist!\n\nUsage: lonsdaleite whisper set-aggregation-method PATH <average|sum|last|max|min|avg_zero|absmax|absmin> [xFilesFactor]",
            path.display()
        )));
    }
    let xff = match xff {
        None => None,
        Some(s) => Some(
            pyparse::float(s.as_bytes())
                .ok_or_else(|| Failure::error(format!("Invalid xFilesFactor {s}, not a float")))?,
        ),
    };
    let (old, _) = file::set_aggregation(path, Some(method_named(method)?), xff)?;
    writeln!(
        out,
        "Updated aggregation method: {} ({old} -> {method})",
        path.display()
    )?;
    Ok(())
}
