//! `lonsdaleite whisper …`: the operator commands of whisper 1.1.10's scripts.
//!
//! Each subcommand takes the arguments of the script it is named after
//! (`whisper-info.py`, `whisper-fetch.py`, `whisper-dump.py`, `whisper-create.py`,
//! `whisper-update.py`, `whisper-resize.py`, `whisper-set-aggregation-method.py`,
//! `whisper-merge.py`, `whisper-fill.py`) and prints the same text on stdout, so scripts
//! written against whisper's tools keep working. Errors go to stderr as `[ERROR] …` with
//! exit status 1, where the scripts would raise `SystemExit` (or crash with a traceback).
//! Only this shell reads the clock: `--now` overrides it, and the whisper algorithms get
//! `now` as an argument.

mod clock;
mod fill;
mod pyfmt;
mod pyparse;
mod resize;

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::whisper::file::{self, Preallocate};
use super::whisper::{parse_retention, read_header_lenient, AggregationMethod, Header, POINT_SIZE};
use pyfmt::{percent_f, percent_g, repr};

/// `lonsdaleite whisper` arguments.
#[derive(Debug, clap::Args)]
pub struct WhisperArgs {
    /// Use this Unix time as "now" instead of the clock (ours; the scripts have no such flag).
    #[arg(long, global = true, allow_hyphen_values = true)]
    pub now: Option<i64>,
    /// The operation.
    #[command(subcommand)]
    pub command: WhisperCommand,
}

/// The subcommands, one per whisper script.
#[derive(Debug, clap::Subcommand)]
pub enum WhisperCommand {
    /// Print a file's header (`whisper-info.py path [field]`).
    Info {
        /// The whisper file.
        path: PathBuf,
        /// Print only this field (aggregationMethod, maxRetention, xFilesFactor, archives, fileSize).
        field: Option<String>,
        /// Output results in JSON form.
        #[arg(long)]
        json: bool,
    },
    /// Print the points of a time range (`whisper-fetch.py`).
    Fetch {
        /// The whisper file.
        path: PathBuf,
        /// Unix epoch time of the beginning of the interval (default: 24 hours ago).
        #[arg(long = "from", allow_hyphen_values = true)]
        from: Option<i64>,
        /// Unix epoch time of the end of the interval (default: now).
        #[arg(long, allow_hyphen_values = true)]
        until: Option<i64>,
        /// Output results in JSON form.
        #[arg(long)]
        json: bool,
        /// Show human-readable timestamps instead of unix times.
        #[arg(long)]
        pretty: bool,
        /// Time format to use with --pretty; see strftime(3).
        #[arg(short = 't', long = "time-format")]
        time_format: Option<String>,
        /// Drop `nulls`, `zeroes` or both (`empty`).
        #[arg(long, value_parser = ["zeroes", "nulls", "empty"])]
        drop: Option<String>,
    },
    /// Print the header and every slot (`whisper-dump.py`).
    Dump {
        /// The whisper file.
        path: PathBuf,
        /// Show human-readable timestamps instead of unix times.
        #[arg(long)]
        pretty: bool,
        /// Time format to use with --pretty; see strftime(3).
        #[arg(short = 't', long = "time-format")]
        time_format: Option<String>,
        /// Print `timestamp:value` lines only (the input format of `update`).
        #[arg(short = 'r', long)]
        raw: bool,
    },
    /// Create a file (`whisper-create.py path precision:retention…`).
    Create {
        /// The path, then one or more archives such as `10s:6h 1m:7d` (with --estimate: archives only).
        #[arg(required = true, num_args = 1..)]
        args: Vec<String>,
        /// Fraction of known points needed to propagate.
        #[arg(
            long = "xFilesFactor",
            default_value_t = 0.5,
            allow_hyphen_values = true
        )]
        x_files_factor: f64,
        /// Aggregation method (`average`, `sum`, `last`, `max`, `min`, `avg_zero`, `absmax`, `absmin`).
        #[arg(long = "aggregationMethod", default_value = "average")]
        aggregation_method: String,
        /// Replace an existing file.
        #[arg(long)]
        overwrite: bool,
        /// Print the size the archives need instead of creating a file.
        #[arg(long)]
        estimate: bool,
        /// Create the file sparse.
        #[arg(long)]
        sparse: bool,
        /// Reserve the file's blocks with fallocate.
        #[arg(long)]
        fallocate: bool,
    },
    /// Write points (`whisper-update.py path ts:value…`; one point is an update, several an `update_many`; none: read lines from stdin; `N:` means now).
    Update {
        /// The whisper file.
        path: PathBuf,
        /// `timestamp:value` pairs.
        #[arg(allow_hyphen_values = true)]
        points: Vec<String>,
    },
    /// Change a file's archives, keeping its data (`whisper-resize.py`).
    Resize {
        /// The whisper file.
        path: PathBuf,
        /// The new archives, e.g. `1m:7d 1h:2y`.
        #[arg(required = true, num_args = 1..)]
        retentions: Vec<String>,
        /// Change the xFilesFactor.
        #[arg(long = "xFilesFactor", allow_hyphen_values = true)]
        x_files_factor: Option<f64>,
        /// Change the aggregation method.
        #[arg(long = "aggregationMethod")]
        aggregation_method: Option<String>,
        /// Accepted for compatibility (whisper-resize.py ignores it too).
        #[arg(long)]
        force: bool,
        /// Write the result to this file and leave the original alone.
        #[arg(long)]
        newfile: Option<PathBuf>,
        /// Delete the .bak file after success.
        #[arg(long)]
        nobackup: bool,
        /// Aggregate old points into the new archives' steps.
        #[arg(long)]
        aggregate: bool,
    },
    /// Change the aggregation method and optionally the xFilesFactor (`whisper-set-aggregation-method.py`).
    SetAggregationMethod {
        /// The whisper file.
        path: PathBuf,
        /// The new method.
        method: String,
        /// The new xFilesFactor.
        x_files_factor: Option<String>,
    },
    /// Copy the points of one file into another with the same archives (`whisper-merge.py`).
    Merge {
        /// Source file.
        from_path: PathBuf,
        /// Destination file.
        to_path: PathBuf,
        /// Beginning of the interval, unix timestamp (default: epoch).
        #[arg(long = "from", allow_hyphen_values = true)]
        from: Option<i64>,
        /// End of the interval, unix timestamp (default: now).
        #[arg(long, allow_hyphen_values = true)]
        until: Option<i64>,
    },
    /// Copy points from `src` into the gaps of `dst` (`whisper-fill.py`).
    Fill {
        /// Source file.
        src: PathBuf,
        /// Destination file.
        dst: PathBuf,
        /// Hold an exclusive lock on `dst` while filling.
        #[arg(long)]
        lock: bool,
    },
}

/// A failed command: the message printed after `[ERROR] ` (or alone when `bare`).
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    bare: bool,
}

impl Failure {
    fn error(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            bare: false,
        }
    }

    fn bare(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            bare: true,
        }
    }
}

impl From<super::whisper::WhisperError> for Failure {
    fn from(e: super::whisper::WhisperError) -> Self {
        Self::error(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::error(e)
    }
}

type Outcome = Result<(), Failure>;

/// Runs one whisper command, printing to stdout/stderr.
pub fn run(args: &WhisperArgs) -> ExitCode {
    let now = args.now.unwrap_or_else(wall_clock);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = execute(&args.command, now, &mut out);
    let flushed = out.flush();
    match result {
        Ok(()) if flushed.is_ok() || is_broken_pipe(flushed.as_ref().err()) => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(1),
        Err(f) => {
            if f.message.is_empty() {
                // already reported on stdout, as the script does
            } else if f.bare {
                eprintln!("{}", f.message);
            } else {
                eprintln!("[ERROR] {}", f.message);
            }
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: Option<&std::io::Error>) -> bool {
    e.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs `command` at time `now`, writing what the script prints to `out`.
pub(crate) fn execute(command: &WhisperCommand, now: i64, out: &mut dyn Write) -> Outcome {
    match command {
        WhisperCommand::Info { path, field, json } => info(path, field.as_deref(), *json, out),
        WhisperCommand::Fetch {
            path,
            from,
            until,
            json,
            pretty,
            time_format,
            drop,
        } => {
            let opts = FetchOptions {
                from: from.unwrap_or(now - 86_400),
                until: until.unwrap_or(now),
                json: *json,
                pretty: *pretty,
                time_format: time_format.as_deref(),
                drop: drop.as_deref(),
            };
            fetch(path, &opts, now, out)
        }
        WhisperCommand::Dump {
            path,
            pretty,
            time_format,
            raw,
        } => dump(path, *pretty, time_format.as_deref(), *raw, out),
        WhisperCommand::Create {
            args,
            x_files_factor,
            aggregation_method,
            overwrite,
            estimate,
            sparse,
            fallocate,
        } => {
            if *estimate {
                return estimate_size(args, out);
            }
            let prealloc = if *fallocate {
                Preallocate::Fallocate
            } else if *sparse {
                Preallocate::Sparse
            } else {
                Preallocate::Zeros
            };
            create(
                args,
                *x_files_factor,
                aggregation_method,
                *overwrite,
                prealloc,
                out,
            )
        }
        WhisperCommand::Update { path, points } => update(path, points, now),
        WhisperCommand::Resize {
            path,
            retentions,
            x_files_factor,
            aggregation_method,
            force: _,
            newfile,
            nobackup,
            aggregate,
        } => {
            let opts = resize::Options {
                x_files_factor: *x_files_factor,
                aggregation_method: aggregation_method.as_deref(),
                newfile: newfile.as_deref(),
                nobackup: *nobackup,
                aggregate: *aggregate,
            };
            resize::run(path, retentions, &opts, now, out)
        }
        WhisperCommand::SetAggregationMethod {
            path,
            method,
            x_files_factor,
        } => set_aggregation_method(path, method, x_files_factor.as_deref(), out),
        WhisperCommand::Merge {
            from_path,
            to_path,
            from,
            until,
        } => {
            for p in [from_path, to_path] {
                if !p.exists() {
                    return Err(Failure::error(format!(
                        "File \"{}\" does not exist!",
                        p.display()
                    )));
                }
            }
            file::merge(from_path, to_path, *from, *until, now)?;
            Ok(())
        }
        WhisperCommand::Fill { src, dst, lock } => fill::run(src, dst, *lock, now),
    }
}

fn method_named(name: &str) -> Result<AggregationMethod, Failure> {
    AggregationMethod::from_name(name)
        .ok_or_else(|| Failure::error(format!("Unrecognized aggregation method: {name}")))
}

/// Python's `str(dict)` of one archive, in whisper's key order.
fn archive_dict_repr(a: &super::whisper::ArchiveInfo) -> String {
    format!(
        "{{'offset': {}, 'secondsPerPoint': {}, 'points': {}, 'retention': {}, 'size': {}}}",
        a.offset,
        a.seconds_per_point,
        a.points,
        a.retention(),
        a.size()
    )
}

fn info(path: &Path, field: Option<&str>, json: bool, out: &mut dyn Write) -> Outcome {
    let header = file::info(path)?;
    let file_size = std::fs::metadata(path)?.len();
    let xff = repr(header.xff());
    let scalar = [
        (
            "aggregationMethod",
            header.aggregation_method.name().to_owned(),
        ),
        ("maxRetention", header.max_retention.to_string()),
        ("xFilesFactor", xff.clone()),
    ];
    if let Some(field) = field {
        let value = match field {
            "archives" => {
                let items: Vec<String> = header.archives.iter().map(archive_dict_repr).collect();
                format!("[{}]", items.join(", "))
            }
            "fileSize" => file_size.to_string(),
            other => {
                if let Some((_, v)) = scalar.iter().find(|(k, _)| *k == other) {
                    v.clone()
                } else {
                    writeln!(
                        out,
                        "Unknown field \"{other}\". Valid fields are aggregationMethod,maxRetention,xFilesFactor,archives,fileSize"
                    )?;
                    return Err(Failure::bare(String::new()));
                }
            }
        };
        writeln!(out, "{value}")?;
        return Ok(());
    }
    if json {
        let mut s = String::from("{\n");
        let _ = writeln!(
            s,
            "  \"aggregationMethod\": \"{}\",",
            header.aggregation_method.name()
        );
        let _ = writeln!(s, "  \"maxRetention\": {},", header.max_retention);
        let xff_json = if header.xff().is_nan() {
            "NaN".to_owned()
        } else {
            xff
        };
        let _ = writeln!(s, "  \"xFilesFactor\": {xff_json},");
        if header.archives.is_empty() {
            s.push_str("  \"archives\": [],\n");
        } else {
            s.push_str("  \"archives\": [\n");
            let items: Vec<String> = header
                .archives
                .iter()
                .map(|a| {
                    format!(
                        "    {{\n      \"offset\": {},\n      \"secondsPerPoint\": {},\n      \"points\": {},\n      \"retention\": {},\n      \"size\": {}\n    }}",
                        a.offset,
                        a.seconds_per_point,
                        a.points,
                        a.retention(),
                        a.size()
                    )
                })
                .collect();
            s.push_str(&items.join(",\n"));
            s.push_str("\n  ],\n");
        }
        let _ = writeln!(s, "  \"fileSize\": {file_size}");
        s.push('}');
        writeln!(out, "{s}")?;
        return Ok(());
    }
    for (k, v) in &scalar {
        writeln!(out, "{k}: {v}")?;
    }
    writeln!(out, "fileSize: {file_size}")?;
    writeln!(out)?;
    for (i, a) in header.archives.iter().enumerate() {
        writeln!(out, "Archive {i}")?;
        writeln!(out, "offset: {}", a.offset)?;
        writeln!(out, "secondsPerPoint: {}", a.seconds_per_point)?;
        writeln!(out, "points: {}", a.points)?;
        writeln!(out, "retention: {}", a.retention())?;
        writeln!(out, "size: {}", a.size())?;
        writeln!(out)?;
    }
    Ok(())
}

struct FetchOptions<'a> {
    from: i64,
    until: i64,
    json: bool,
    pretty: bool,
    time_format: Option<&'a str>,
    drop: Option<&'a str>,
}

fn time_string(t: i64, pretty: bool, time_format: Option<&str>) -> String {
    match (pretty, time_format) {
        (false, _) => t.to_string(),
        (true, Some(f)) => clock::strftime(f, t),
        (true, None) => clock::ctime(t),
    }
}

fn fetch(path: &Path, o: &FetchOptions<'_>, now: i64, out: &mut dyn Write) -> Outcome {
    let Some(r) = file::fetch(path, o.from, Some(o.until), now, None)? else {
        return Err(Failure::bare("No data in selected timerange"));
    };
    let values: Vec<Option<f64>> = match o.drop {
        // Python: `x != 0` keeps None and NaN; `x is not None`; both.
        Some("zeroes") => r
            .values
            .iter()
            .copied()
            .filter(|v| v.is_none_or(|x| x != 0.0))
            .collect(),
        Some("nulls") => r.values.iter().flatten().map(|&x| Some(x)).collect(),
        Some("empty") => r
            .values
            .iter()
            .copied()
            .filter(|v| v.is_some_and(|x| x != 0.0))
            .collect(),
        _ => r.values.clone(),
    };
    if o.json {
        let list = pyfmt::list_repr(&values).replace("None", "null");
        writeln!(
            out,
            "{{\n    \"start\" : {},\n    \"end\" : {},\n    \"step\" : {},\n    \"values\" : {list}\n  }}",
            r.from, r.until, r.step
        )?;
        return Ok(());
    }
    let mut t = r.from;
    for v in values {
        let value = v.map_or_else(|| "None".to_owned(), percent_f);
        writeln!(out, "{}\t{value}", time_string(t, o.pretty, o.time_format))?;
        t += r.step;
    }
    Ok(())
}

fn dump(
    path: &Path,
    pretty: bool,
    time_format: Option<&str>,
    raw: bool,
    out: &mut dyn Write,
) -> Outcome {
    if !path.exists() {
        return Err(Failure::error(format!(
            "File \"{}\" does not exist!",
            path.display()
        )));
    }
    let mut bytes = std::fs::read(path)?;
    let header: Header = read_header_lenient(&mut bytes)?;
    if !raw {
        writeln!(out, "Meta data:")?;
        writeln!(out, "  aggregation method: {}", header.aggregation_method)?;
        writeln!(out, "  max retention: {}", header.max_retention)?;
        writeln!(out, "  xFilesFactor: {}", percent_g(header.xff(), 6))?;
        writeln!(out)?;
        for (i, a) in header.archives.iter().enumerate() {
            writeln!(out, "Archive {i} info:")?;
            writeln!(out, "  offset: {}", a.offset)?;
            writeln!(out, "  seconds per point: {}", a.seconds_per_point)?;
            writeln!(out, "  points: {}", a.points)?;
            writeln!(out, "  retention: {}", a.retention())?;
            writeln!(out, "  size: {}", a.size())?;
            writeln!(out)?;
        }
    }
    for (i, a) in header.archives.iter().enumerate() {
        if !raw {
            writeln!(out, "Archive {i} data:")?;
        }
        let mut offset = u64::from(a.offset);
        for point in 0..a.points {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let Some(chunk) = bytes.get(start..start.saturating_add(POINT_SIZE as usize)) else {
                return Err(Failure::error(format!(
                    "{}: archive {i} point {point} lies beyond the end of the file",
                    path.display()
                )));
            };
            let (ts, value) = super::whisper::decode_point(chunk);
            if raw {
                writeln!(out, "{ts}:{}", percent_g(value, 35))?;
            } else {
                let g = percent_g(value, 35);
                writeln!(
                    out,
                    "{point}: {}, {g:>10}",
                    time_string(ts, pretty, time_format)
                )?;
            }
            offset += POINT_SIZE;
        }
    }
    Ok(())
}

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

fn parse_archives(defs: &[String]) -> Result<Vec<(u32, u32)>, Failure> {
    defs.iter()
        .map(|d| parse_retention(d).map_err(Failure::from))
        .collect()
}

fn estimate_size(args: &[String], out: &mut dyn Write) -> Outcome {
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

fn create(
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
            let ts = pyparse::py_int(ts)
                .ok_or_else(|| Failure::error(format!("invalid timestamp {:?}", ts.trim_end())))?;
            let value = pyparse::py_float(value).ok_or_else(|| {
                Failure::error(format!(
                    "could not convert string to float: {:?}",
                    value.trim_end()
                ))
            })?;
            Ok((ts, value))
        })
        .collect()
}

fn update(path: &Path, items: &[String], now: i64) -> Outcome {
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

fn set_aggregation_method(
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
            pyparse::py_float(s)
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
