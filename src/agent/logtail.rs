//! `lonsdaleite logtail`: log files → metrics, the Logster + logtail2 role.
//!
//! Contract:
//! - Each file is followed from a saved offset ([`follow`]): rotation by
//!   rename and truncation are detected, only whole lines are read, and the
//!   offset is saved (one state file per file and parser in `--state-dir`)
//!   after the interval's metrics were handed to the output, so a restart
//!   neither counts a line twice nor skips one.
//! - Every line goes to the built-in parser (`--parser`, [`parsers`]) and to
//!   the user rules (`--rules`, [`rules`]); a line neither knows is counted
//!   and reported once per interval and file, with the first such line
//!   (unless `--quiet-unmatched`). Several files feed the same parser and
//!   rules: their lines add up to one set of metrics per interval.
//! - Per interval the metrics are written as statsd lines to `--statsd-host`
//!   (default) or carbon lines to `--graphite-host`, named
//!   `<prefix>.<name>.<suffix>`; `--dry-run` prints them to stdout instead.
//! - Two ways to run: `--once` reads what was written since the last run,
//!   sends and exits (Logster's cron style: the first run only records where
//!   the files end, unless `--from-start`; the interval is the time since the
//!   previous run, at least 1 s); without it, it keeps running and
//!   reads every `--interval`, aligned to the wall clock.
//! - Trouble with one file (unreadable, vanished) or one rule (bad regex) is
//!   named on stderr and the rest keeps working.

pub mod follow;
pub mod metric;
pub mod parsers;
pub mod rules;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::clock;

use crate::agent::sender::{CarbonSender, UdpSender};
use crate::config::parse_duration;
use follow::{FollowError, Follower};
use metric::Metric;
use parsers::{Parser, ParserKind};
use rules::Rules;

/// Default directory for the offset (state) files.
pub const DEFAULT_STATE_DIR: &str = "/var/tmp/lonsdaleite-logtail";

/// Where metrics go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputKind {
    /// Statsd lines over UDP to --statsd-host.
    Statsd,
    /// Carbon plaintext over TCP to --graphite-host.
    #[value(alias = "graphite")]
    Carbon,
}

/// `lonsdaleite logtail` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The usual Logster call
  logster -p servers.myhost.postfix --output=statsd --statsd-host=statsd:8125 PostfixLogster /var/log/mail.log
becomes
  lonsdaleite logtail --once --parser postfix -p servers.myhost.postfix --statsd-host statsd:8125 /var/log/mail.log
(or leave out --once to keep running and read every --interval).")]
pub struct LogtailArgs {
    /// Log files to follow.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Built-in parser with Logster's metric names.
    #[arg(long, value_enum)]
    pub parser: Option<ParserKind>,
    /// TOML file of user rules (`[[rule]]` regex, metric, type, value).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Put in front of every metric name, e.g. servers.myhost.postfix.
    #[arg(
        short = 'p',
        long,
        visible_alias = "metric-prefix",
        value_name = "PREFIX",
        default_value = "",
        hide_default_value = true
    )]
    pub prefix: String,
    /// Put after every metric name.
    #[arg(
        short = 'x',
        long,
        visible_alias = "metric-suffix",
        value_name = "SUFFIX",
        default_value = "",
        hide_default_value = true
    )]
    pub suffix: String,
    /// statsd (UDP) or carbon (TCP plaintext).
    #[arg(short = 'o', long, value_enum, default_value = "statsd")]
    pub output: OutputKind,
    /// Statsd server for --output statsd.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8125")]
    pub statsd_host: String,
    /// Carbon receiver for --output carbon.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:2003")]
    pub graphite_host: String,
    /// Directory of the offset files, one per log file and parser.
    #[arg(short = 's', long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Time between reads when running continuously; aligned to the wall clock.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Read what was written since the last run, send, save the offsets, exit.
    #[arg(long)]
    pub once: bool,
    /// For a file without saved offset: read it from the start rather than from its end.
    #[arg(long)]
    pub from_start: bool,
    /// Print the lines that would be sent to stdout; offsets are not saved.
    #[arg(short = 'd', long)]
    pub dry_run: bool,
    /// Do not report lines that no parser or rule knows (useful for postfix and
    /// log4j, which count only some lines of their logs).
    #[arg(long)]
    pub quiet_unmatched: bool,
    /// log4j: the levels to count, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        default_value = "WARN,ERROR,FATAL"
    )]
    pub log_levels: Vec<String>,
}

fn say(msg: impl std::fmt::Display) {
    eprintln!("lonsdaleite logtail: {msg}");
}

/// Takes an exclusive lock on `path` (created if missing), held while the file stays open.
fn lock(path: &Path) -> Result<File, String> {
    use std::os::fd::AsRawFd;
    let f =
        File::create(path).map_err(|e| format!("cannot create lock {}: {e}", path.display()))?;
    // SAFETY: flock(2) on a file descriptor we own and keep open; no memory is passed.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(format!(
            "{} is locked: another logtail follows the same file with the same parser",
            path.display()
        ));
    }
    Ok(f)
}

/// Where the lines of one interval go.
enum Output {
    Stdout(OutputKind),
    Statsd(UdpSender),
    Carbon(CarbonSender),
}

impl Output {
    fn new(args: &LogtailArgs) -> Self {
        match (args.dry_run, args.output) {
            (true, kind) => Output::Stdout(kind),
            (false, OutputKind::Statsd) => Output::Statsd(UdpSender::new(&args.statsd_host, 1432)),
            (false, OutputKind::Carbon) => {
                Output::Carbon(CarbonSender::new(&args.graphite_host, 100_000))
            }
        }
    }

    /// Sends the interval's metrics; `false` if they could not be handed over.
    fn emit(&mut self, metrics: &[Metric], args: &LogtailArgs, now: u64) -> bool {
        let (p, s) = (args.prefix.as_str(), args.suffix.as_str());
        match self {
            Output::Stdout(kind) => {
                let lines = match kind {
                    OutputKind::Statsd => metric::statsd_lines(metrics, p, s),
                    OutputKind::Carbon => metric::carbon_lines(metrics, p, s, now),
                };
                let mut out = std::io::stdout().lock();
                lines.iter().all(|l| writeln!(out, "{l}").is_ok()) && out.flush().is_ok()
            }
            Output::Statsd(u) => match u.send(&metric::statsd_lines(metrics, p, s)) {
                Ok(_) => true,
                Err(e) => {
                    say(e);
                    false
                }
            },
            Output::Carbon(c) => match c.send(metric::carbon_lines(metrics, p, s, now)) {
                Ok(()) => true,
                Err(e) => {
                    say(format_args!("{e} ({} lines queued)", c.queued()));
                    false
                }
            },
        }
    }
}

/// One followed file with its state file and the last problem reported for it.
struct Tracked {
    follower: Follower,
    state: PathBuf,
    _lock: File,
    last_error: Option<String>,
}

/// The parser, the rules, and what one interval read.
struct Pipeline {
    parser: Option<Box<dyn Parser>>,
    rules: Option<Rules>,
    quiet_unmatched: bool,
}

impl Pipeline {
    /// Reads every file's new lines into the parser and rules; reports trouble on stderr.
    fn read(&mut self, files: &mut [Tracked]) {
        for t in files.iter_mut() {
            let (mut lines, mut unmatched) = (0u64, 0u64);
            let mut first: Option<String> = None;
            let (parser, rules) = (&mut self.parser, &mut self.rules);
            let r = t.follower.read_new(&mut |line| {
                lines += 1;
                let a = parser.as_mut().is_some_and(|p| p.parse_line(line));
                let b = rules.as_mut().is_some_and(|r| r.parse_line(line));
                if !(a || b) {
                    unmatched += 1;
                    if first.is_none() {
                        first = Some(line.chars().take(200).collect());
                    }
                }
            });
            match r {
                Ok(report) => {
                    t.last_error = None;
                    for n in report.notes {
                        say(n);
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    if t.last_error.as_deref() != Some(msg.as_str()) {
                        say(&msg);
                    }
                    t.last_error = Some(msg);
                    if !matches!(e, FollowError::Vanished { .. }) {
                        continue;
                    }
                }
            }
            if unmatched > 0 && !self.quiet_unmatched {
                say(format_args!(
                    "{}: {unmatched} of {lines} lines matched no rule (first: {:?})",
                    t.follower.path.display(),
                    first.unwrap_or_default()
                ));
            }
        }
    }

    fn take(&mut self, duration: f64) -> Vec<Metric> {
        let mut m = self
            .parser
            .as_mut()
            .map(|p| p.take_metrics(duration))
            .unwrap_or_default();
        if let Some(r) = self.rules.as_mut() {
            for (rule, n) in r.take_bad_values() {
                say(format_args!(
                    "{rule}: {n} lines had a value that is not a number"
                ));
            }
            m.extend(r.take_metrics());
        }
        m
    }
}

fn save_all(files: &mut [Tracked], now: u64) {
    for t in files.iter_mut() {
        if let Some(pos) = t.follower.pos.as_mut() {
            pos.saved_at = now;
            if let Err(e) = follow::save_state(&t.state, pos) {
                say(format_args!("cannot save {}: {e}", t.state.display()));
            }
        }
    }
}

/// Sets up parser, rules, state and locks; `Err` is the exit code after a message.
fn setup(args: &LogtailArgs) -> Result<(Pipeline, Vec<Tracked>), ExitCode> {
    let fail = |msg: String| {
        say(msg);
        ExitCode::from(2)
    };
    let parser = match args.parser {
        Some(k) => Some(parsers::new(k, &args.log_levels).map_err(fail)?),
        None => None,
    };
    let rules = match &args.rules {
        Some(path) => {
            let (rules, errors) = Rules::load(path).map_err(|e| fail(e.to_string()))?;
            for e in errors {
                say(format_args!(
                    "{}: {e}; this rule is left out",
                    path.display()
                ));
            }
            Some(rules)
        }
        None => None,
    };
    if parser.is_none() && rules.as_ref().is_none_or(Rules::is_empty) {
        return Err(fail(
            "nothing to count: give --parser, or --rules with at least one working rule".into(),
        ));
    }
    let pipeline = Pipeline {
        parser,
        rules,
        quiet_unmatched: args.quiet_unmatched,
    };
    std::fs::create_dir_all(&args.state_dir).map_err(|e| {
        fail(format!(
            "cannot create --state-dir {}: {e}",
            args.state_dir.display()
        ))
    })?;
    let key = args.parser.map_or("rules", ParserKind::name);
    let mut files = Vec::new();
    for path in &args.files {
        let state = follow::state_path(&args.state_dir, key, path);
        let lock = lock(&state.with_extension("lock")).map_err(fail)?;
        let pos = follow::load_state(&state).map_err(fail)?;
        files.push(Tracked {
            follower: Follower::new(path.clone(), pos),
            state,
            _lock: lock,
            last_error: None,
        });
    }
    Ok((pipeline, files))
}

/// Positions files without saved state at their end (unless `--from-start`).
fn start_positions(args: &LogtailArgs, files: &mut [Tracked]) {
    if args.from_start {
        return;
    }
    for t in files.iter_mut().filter(|t| t.follower.pos.is_none()) {
        if let Err(e) = t.follower.seek_end() {
            say(&e);
            t.last_error = Some(e.to_string());
        }
    }
}

/// Runs the log tailer.
pub fn run(args: &LogtailArgs) -> ExitCode {
    let (mut pipeline, mut files) = match setup(args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut output = Output::new(args);

    if args.once {
        let now = clock::now().as_secs();
        let oldest = files
            .iter()
            .filter_map(|t| t.follower.pos.map(|p| p.saved_at))
            .min();
        if oldest.is_none() && !args.from_start {
            start_positions(args, &mut files);
            if !args.dry_run {
                save_all(&mut files, now);
            }
            say("first run: recorded where the files end; the next run reports what is written after that");
            return ExitCode::SUCCESS;
        }
        start_positions(args, &mut files);
        // Logster's duration: the time since the previous run saved its state; two
        // runs within one second count as 1 s apart rather than dividing by zero.
        let duration = oldest.map_or(args.interval.as_secs_f64(), |t| {
            now.saturating_sub(t).max(1) as f64
        });
        pipeline.read(&mut files);
        let metrics = pipeline.take(duration);
        if !output.emit(&metrics, args, now) {
            return ExitCode::FAILURE;
        }
        if !args.dry_run {
            save_all(&mut files, now);
        }
        return ExitCode::SUCCESS;
    }

    start_positions(args, &mut files);
    let mut last = Instant::now();
    loop {
        let now = clock::now();
        let next = clock::next_boundary(now, args.interval);
        std::thread::sleep(next.saturating_sub(now));
        let at = Instant::now();
        let duration = at.duration_since(last).as_secs_f64();
        last = at;
        pipeline.read(&mut files);
        let metrics = pipeline.take(duration);
        // A failed carbon send stays in the sender's backlog; statsd is fire and forget.
        output.emit(&metrics, args, next.as_secs());
        if !args.dry_run {
            save_all(&mut files, next.as_secs());
        }
    }
}
