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
mod read;
mod resize;
mod write;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::whisper::file::{self, Preallocate};
use super::whisper::{parse_retention, AggregationMethod};
use read::{dump, fetch, info, FetchOptions};
use write::{create, estimate_size, set_aggregation_method, update};

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
    crate::clock::now().as_secs() as i64
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

fn parse_archives(defs: &[String]) -> Result<Vec<(u32, u32)>, Failure> {
    defs.iter()
        .map(|d| parse_retention(d).map_err(Failure::from))
        .collect()
}
