//! `lonsdaleite cluster rebalance`: move the series a ring no longer places here.
//!
//! Contract. Given the ring (the same options as `whereis`), which member this node is
//! (`--self`) and the data directory, every untagged whisper file under
//! `<data-dir>/whisper` is placed by the ring; a series placed on another member moves
//! there, in batches per owner:
//!
//! 1. **Read** the file, every archive, each only for the time no finer archive covers
//!    ([`points`]); with `--http` naming this node, the finest archive is read through
//!    this node's render API instead (`local=1`: the file merged with the running
//!    server's write-back cache), so points not yet written are moved too.
//! 2. **Send** the points that hold a value as carbon plaintext to the owner's carbon port
//!    (`HOST:PORT` of its `--node`), values in their shortest exact text. A gap is never
//!    sent, so a point the owner already has there stays (whisper-merge semantics); where
//!    both have a point, ours wins, as whisper-merge's source does.
//! 3. **Verify** through the owner's render API (`--http NODE=URL`, default
//!    `http://HOST:8080`): `format=msgpack&local=1&noCache=1` with this run's `now`, asked
//!    again until every point is found or `--verify-timeout` passes. The finest archive's
//!    points must come back exact, the others present (see [`points::plan_checks`]).
//! 4. **Remove** the local file, and its parent directories that are left empty, only
//!    once verified; with `--admin`, the running local server is then told to `forget`
//!    the names, so its `/metrics/find` stops listing them. A series that fails any step
//!    is kept, named on stderr with the reason, counted, and the exit status is 1.
//!
//! Not moved: tagged series (files under `whisper/_tagged/` are named by a hash of the
//! series name; they are counted and reported, and stay); points timestamped after `now`
//! (no reader shows them) and NaN values (carbon drops NaN lines); rings with
//! replication (not supported: each series has one owner here).
//!
//! Output: stdout gets `NAME -> OWNER` for each series moved (with `--dry-run`, each that
//! would move); stderr gets progress once a second, one line per failure, and a summary.

mod local;
pub mod points;
mod remote;

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::node::Node;
use super::ring::{Hash, Implementation, Ring};
use super::whereis::{parse_node, Locator};
use crate::config::{parse_duration, Config};
use crate::storage::whisper::{read_header, Header};
use local::Series;
use points::{Point, Skipped};
use remote::{Carbon, Render};

/// Shown after `--help`.
pub(crate) const REBALANCE_HELP: &str = "\
Adding a node (carbon-c-relay in front, carbon_ch):
  1. start the new node and add it to the relay's cluster line; reload the relay
     (new points now go to their new owners);
  2. on each old node, list what moves, then move it:
       lonsdaleite cluster rebalance --ring carbon_ch \\
         --node 10.0.0.1:2003=a --node 10.0.0.2:2003=b --node 10.0.0.3:2003=c \\
         --self 10.0.0.1:2003=a --data-dir /var/lib/lonsdaleite --dry-run
       ... the same without --dry-run
The --node list is the relay's new cluster line, in its order. Each owner's render API
is http://HOST:8080 unless --http says otherwise, e.g.
  --http 10.0.0.2:2003=b=http://10.0.0.2:8081
Giving --http for --self as well reads points still in this node's running server's
cache (through its render API, local=1), and --admin 127.0.0.1:8126 makes that server
forget the names moved (otherwise /metrics/find lists them until it restarts).";

/// `lonsdaleite cluster rebalance`.
#[derive(Debug, clap::Args)]
pub struct RebalanceArgs {
    /// The ring type, as the relay's `cluster` line names it.
    #[arg(long, value_enum, value_name = "RING")]
    pub ring: Hash,
    /// A member, `HOST[:PORT][=INSTANCE]`, in the relay's config order (the new ring,
    /// this node included). HOST:PORT is where the member takes carbon plaintext.
    #[arg(long = "node", value_name = "HOST[:PORT][=INSTANCE]", required = true, value_parser = parse_node)]
    pub nodes: Vec<Node>,
    /// Which of the --node members this node is, spelled as in its --node.
    #[arg(long = "self", value_name = "HOST[:PORT][=INSTANCE]", value_parser = parse_node)]
    pub self_node: Node,
    /// Whose placement: carbon-c-relay 3.7 (Debian's, amd64), or carbon 1.1's carbon-relay.
    #[arg(
        long = "impl",
        value_enum,
        value_name = "IMPL",
        default_value = "carbon-c-relay"
    )]
    pub implementation: Implementation,
    /// Hash each name as given, as `carbon-c-relay -t` does, instead of after the relay
    /// daemon's rewrite (see `cluster whereis --help`).
    #[arg(long)]
    pub as_is: bool,
    /// The data directory (whisper files under `DIR/whisper`) [default: the config's
    /// `data_dir`, else ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The server's TOML config file, to take `data_dir` from (as `serve --config`).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A member's render API, `NODE=URL`, NODE spelled as in its --node and URL
    /// `http://HOST[:PORT][/PREFIX]`; repeat per member [default: `http://HOST:8080`]. Given
    /// for --self, this node's running server is read too (points in its cache).
    #[arg(long = "http", value_name = "NODE=URL", value_parser = parse_http)]
    pub http: Vec<(Node, String)>,
    /// The local server's admin address (HOST:PORT): after removing files, tell it to
    /// `forget` the names so its /metrics/find stops listing them.
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<String>,
    /// List `NAME -> OWNER` for every series that would move, and a count; send nothing,
    /// remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Series sent per batch before their points are verified.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
    /// How long to wait for a batch's points to show on the owner before its unverified
    /// series are reported as failed (and kept).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub verify_timeout: Duration,
    /// At most this many series per second (0: as fast as the owners take them).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_rate: u32,
}

fn parse_http(spec: &str) -> Result<(Node, String), String> {
    let at = spec
        .find("=http://")
        .or_else(|| spec.find("=https://"))
        .ok_or_else(|| {
            format!("`{spec}`: expected NODE=URL, e.g. 10.0.0.2:2003=b=http://10.0.0.2:8080")
        })?;
    let node = Node::parse(&spec[..at]).map_err(|e| e.to_string())?;
    let url = remote::parse_base(&spec[at + 1..])?;
    Ok((node, url))
}

/// Writes a line to stderr with the command's prefix.
macro_rules! note {
    ($($arg:tt)*) => {
        eprintln!("lonsdaleite cluster rebalance: {}", format_args!($($arg)*))
    };
}

/// Runs `lonsdaleite cluster rebalance`.
pub fn run(args: &RebalanceArgs) -> ExitCode {
    let plan = match Setup::new(args) {
        Ok(p) => p,
        Err(e) => {
            note!("{e}");
            return ExitCode::from(2);
        }
    };
    plan.run(args)
}

/// Everything decided before the first file is read.
struct Setup {
    locator: Locator,
    me: usize,
    root: PathBuf,
    urls: Vec<String>,
    /// This node's render API, when `--http` names it.
    local_url: Option<String>,
}

impl Setup {
    fn new(args: &RebalanceArgs) -> Result<Self, String> {
        let ring = Ring::new(args.implementation, args.ring, args.nodes.clone(), 1)
            .map_err(|e| e.to_string())?;
        let me = args
            .nodes
            .iter()
            .position(|n| *n == args.self_node)
            .ok_or_else(|| {
                format!(
                    "--self {} is not one of the --node members; spell it as its --node",
                    args.self_node
                )
            })?;
        let mut urls: Vec<String> = args
            .nodes
            .iter()
            .map(|n| {
                let host = if n.host.contains(':') {
                    format!("[{}]", n.host)
                } else {
                    n.host.clone()
                };
                format!("http://{host}:8080")
            })
            .collect();
        let mut local_url = None;
        for (node, url) in &args.http {
            let i = args.nodes.iter().position(|n| n == node).ok_or_else(|| {
                format!("--http {node}: not one of the --node members; spell it as its --node")
            })?;
            urls[i].clone_from(url);
            if i == me {
                local_url = Some(url.clone());
            }
        }
        let data_dir = match (&args.data_dir, &args.config) {
            (Some(d), _) => d.clone(),
            (None, Some(c)) => Config::load(c).map_err(|e| e.to_string())?.data_dir,
            (None, None) => Config::embedded().data_dir,
        };
        let root = data_dir.join(crate::storage::layout::WHISPER_DIR);
        if !root.is_dir() {
            return Err(format!(
                "no whisper directory at {}: give the server's --data-dir (or --config)",
                root.display()
            ));
        }
        let locator = Locator::new(ring, args.as_is);
        for w in locator.warnings() {
            note!("warning: {w}");
        }
        Ok(Self {
            locator,
            me,
            root,
            urls,
            local_url,
        })
    }

    fn run(mut self, args: &RebalanceArgs) -> ExitCode {
        let started = Instant::now();
        let walk = local::walk(&self.root);
        let total_local = walk.series.len();
        let mut moving: Vec<(Series, usize)> = Vec::new();
        let mut unplaced = 0usize;
        for s in walk.series {
            match self.locator.owner(s.name.as_bytes()) {
                Ok(o) if o == self.me => {}
                Ok(o) => moving.push((s, o)),
                Err(e) => {
                    note!("{e}; kept");
                    unplaced += 1;
                }
            }
        }
        if walk.skipped > 0 {
            note!(
                "{} entries under {} could not be read or are not UTF-8 names: left alone",
                walk.skipped,
                self.root.display()
            );
        }
        if walk.tagged > 0 {
            note!(
                "{} tagged series (files under {}/_tagged) are not moved: rebalance does not move tagged series yet",
                walk.tagged,
                self.root.display()
            );
        }
        if args.dry_run {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let mut result = Ok(());
            for (s, o) in &moving {
                result = writeln!(out, "{} -> {}", s.name, self.locator.label(*o));
                if result.is_err() {
                    break;
                }
            }
            if let Err(e) = result.and_then(|()| out.flush()) {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    note!("{e}");
                    return ExitCode::from(1);
                }
            }
            note!(
                "dry run: {} of {} local series would move ({} stay, {} tagged not moved, {} without placement); nothing sent or removed",
                moving.len(),
                total_local,
                total_local - moving.len() - unplaced,
                walk.tagged,
                unplaced
            );
            return ExitCode::SUCCESS;
        }

        let local = match self.local_url.as_deref().map(Render::new).transpose() {
            Ok(r) => r,
            Err(e) => {
                note!("{e}");
                return ExitCode::from(1);
            }
        };
        if local.is_none() {
            note!(
                "reading files only: points still in a running server's cache are not moved (give --http for --self to read them too)"
            );
        }
        let mut mover = Mover {
            args,
            root: &self.root,
            local,
            admin: args.admin.clone(),
            stats: Stats {
                total: moving.len(),
                ..Stats::default()
            },
            started,
            last_progress: Instant::now(),
        };
        // Per owner, in the order of the ring's members.
        let mut by_owner: Vec<Vec<Series>> = vec![Vec::new(); self.urls.len()];
        for (s, o) in moving {
            by_owner[o].push(s);
        }
        for (owner, series) in by_owner.into_iter().enumerate() {
            if series.is_empty() {
                continue;
            }
            let node = &args.nodes[owner];
            let label = self.locator.label(owner).to_owned();
            mover.move_to(node, &label, &self.urls[owner], &series);
        }
        mover.finish(walk.tagged, unplaced)
    }
}

/// Running totals.
#[derive(Debug, Default)]
struct Stats {
    total: usize,
    moved: usize,
    failed: usize,
    points: u64,
    nan: usize,
    expired: usize,
}

/// One series on its way.
struct Item<'a> {
    series: &'a Series,
    header: Header,
    points: Vec<Point>,
}

/// Moves batches and keeps the totals.
struct Mover<'a> {
    args: &'a RebalanceArgs,
    root: &'a Path,
    local: Option<Render>,
    admin: Option<String>,
    stats: Stats,
    started: Instant,
    last_progress: Instant,
}

impl Mover<'_> {
    fn fail(&mut self, name: &str, owner: &str, why: &str) {
        note!("{name} -> {owner}: {why}; kept");
        self.stats.failed += 1;
    }

    fn move_to(&mut self, node: &Node, label: &str, url: &str, series: &[Series]) {
        let render = match Render::new(url) {
            Ok(r) => r,
            Err(e) => {
                for s in series {
                    self.fail(&s.name, label, &format!("no HTTP client: {e}"));
                }
                return;
            }
        };
        let mut carbon: Option<Carbon> = None;
        for batch in series.chunks(self.args.batch as usize) {
            let batch_started = Instant::now();
            if carbon.is_none() {
                match Carbon::connect(&node.address()) {
                    Ok(c) => carbon = Some(c),
                    Err(e) => {
                        for s in batch {
                            self.fail(
                                &s.name,
                                label,
                                &format!(
                                    "cannot connect to its carbon port {}: {e}",
                                    node.address()
                                ),
                            );
                        }
                        continue;
                    }
                }
            }
            let Some(conn) = carbon.as_mut() else {
                continue;
            };
            let items = self.read_batch(batch, label);
            if items.is_empty() {
                continue;
            }
            if let Err(e) = send(conn, &items) {
                carbon = None;
                for it in &items {
                    self.fail(
                        &it.series.name,
                        label,
                        &format!("sending to {} failed: {e}", node.address()),
                    );
                }
                continue;
            }
            let results = verify(&render, &items, self.args.verify_timeout);
            let mut removed = Vec::new();
            for (it, result) in items.iter().zip(results) {
                match result {
                    Ok(expired) => match local::remove(&it.series.path, self.root) {
                        Ok(()) => {
                            self.stats.moved += 1;
                            self.stats.points += it.points.len() as u64;
                            self.stats.expired += expired;
                            println!("{} -> {label}", it.series.name);
                            removed.push(it.series.name.as_str());
                        }
                        Err(e) => self.fail(
                            &it.series.name,
                            label,
                            &format!(
                                "moved and verified, but {} could not be removed: {e}",
                                it.series.path.display()
                            ),
                        ),
                    },
                    Err(why) => self.fail(&it.series.name, label, &why),
                }
            }
            if let Some(addr) = &self.admin {
                if let Err(e) = forget(addr, &removed) {
                    note!("admin {addr}: forget failed: {e} (the server lists the moved names until it restarts)");
                    self.admin = None;
                }
            }
            self.progress(false);
            self.pace(batch.len(), batch_started);
        }
    }

    /// Reads a batch's files (and this node's cache, when asked); a series that cannot be
    /// read fails here.
    fn read_batch<'s>(&mut self, batch: &'s [Series], label: &str) -> Vec<Item<'s>> {
        let now = unix_now();
        let mut items = Vec::with_capacity(batch.len());
        for s in batch {
            if s.name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                self.fail(
                    &s.name,
                    label,
                    "the name holds whitespace, which carbon plaintext cannot carry",
                );
                continue;
            }
            let mut skipped = Skipped::default();
            match read_file(&s.path, now, &mut skipped) {
                Ok((header, points)) => {
                    self.stats.nan += skipped.nan;
                    items.push(Item {
                        series: s,
                        header,
                        points,
                    });
                }
                Err(e) => self.fail(
                    &s.name,
                    label,
                    &format!("cannot read {}: {e}", s.path.display()),
                ),
            }
        }
        if let Some(local) = &self.local {
            let failed = overlay_cache(local, &mut items, now);
            let base = local.base().to_owned();
            let mut keep = Vec::with_capacity(items.len());
            for it in items {
                match failed.get(it.series.name.as_str()) {
                    Some(e) => self.fail(
                        &it.series.name,
                        label,
                        &format!("cannot read it from this node's render API {base}: {e}"),
                    ),
                    None => keep.push(it),
                }
            }
            items = keep;
        }
        for it in &mut items {
            it.points.sort_by_key(|p| p.ts);
        }
        items
    }

    fn progress(&mut self, last: bool) {
        if !last && self.last_progress.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_progress = Instant::now();
        let s = &self.stats;
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        note!(
            "{}/{} series, {} points, {} failed, {:.0} series/s, {:.0} points/s",
            s.moved + s.failed,
            s.total,
            s.points,
            s.failed,
            s.moved as f64 / secs,
            s.points as f64 / secs
        );
    }

    /// Sleeps so that `--max-rate` holds.
    fn pace(&self, series: usize, since: Instant) {
        if self.args.max_rate == 0 {
            return;
        }
        let want = Duration::from_secs_f64(series as f64 / f64::from(self.args.max_rate));
        if let Some(rest) = want.checked_sub(since.elapsed()) {
            std::thread::sleep(rest);
        }
    }

    fn finish(mut self, tagged: usize, unplaced: usize) -> ExitCode {
        self.progress(true);
        let s = &self.stats;
        let secs = self.started.elapsed().as_secs_f64();
        note!(
            "moved {} series ({} points) in {:.2} s ({:.1} series/s, {:.0} points/s); {} failed and kept; {} tagged not moved; {} without placement; {} NaN values not sent; {} points expired while checking",
            s.moved,
            s.points,
            secs,
            s.moved as f64 / secs.max(1e-9),
            s.points as f64 / secs.max(1e-9),
            s.failed,
            tagged,
            unplaced,
            s.nan,
            s.expired
        );
        if s.failed > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    crate::clock::now().as_secs() as i64
}

/// Reads a file's header and the points of every archive's span at `now`.
fn read_file(path: &Path, now: i64, skipped: &mut Skipped) -> Result<(Header, Vec<Point>), String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let header = read_header(&mut file).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut data = Vec::new();
    for span in points::spans(&header, now) {
        let a = header.archives[span.archive];
        data.resize(a.size() as usize, 0);
        file.read_exact_at(&mut data, u64::from(a.offset))
            .map_err(|e| format!("archive {}: {e}", span.archive))?;
        points::select(&a, &data, &span, &mut out, skipped);
    }
    Ok((header, out))
}

/// Lays this node's render API's view of each item's finest archive (the file merged
/// with the server's cache) over the points read; returns the names it failed for.
fn overlay_cache(local: &Render, items: &mut [Item<'_>], now: i64) -> HashMap<String, String> {
    let mut failed = HashMap::new();
    // Group by the finest span (same archive layout, same window).
    let mut groups: HashMap<(u32, i64, i64), Vec<usize>> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        if let Some(s) = points::spans(&it.header, now).first() {
            groups
                .entry((it.header.archives[s.archive].points, s.step, s.after))
                .or_default()
                .push(i);
        }
    }
    for ((_, step, after), members) in groups {
        let names: Vec<&str> = members
            .iter()
            .map(|&i| items[i].series.name.as_str())
            .collect();
        // Two steps inside the archive, so the server reads the same one.
        let (found, errors) = local.fetch(&names, after + 2 * step, now, now);
        failed.extend(errors);
        for i in members {
            let it = &mut items[i];
            let Some(span) = points::spans(&it.header, now).first().copied() else {
                continue;
            };
            if let Some(a) = found.get(&it.series.name) {
                points::overlay(&mut it.points, &span, a.start, a.step, &a.values);
            }
        }
    }
    failed
}

/// Sends every item's points and flushes.
fn send(conn: &mut Carbon, items: &[Item<'_>]) -> io::Result<()> {
    let w = conn.writer();
    for it in items {
        for p in &it.points {
            points::write_line(w, &it.series.name, p)?;
        }
    }
    conn.flush()
}

/// An item's index and the checks of one of its archives.
type ItemChecks<'a> = (usize, &'a [points::Check]);

/// Waits until the owner shows every item's points, or `timeout` passes. Per item:
/// `Ok(points expired while checking)` or why it failed.
fn verify(render: &Render, items: &[Item<'_>], timeout: Duration) -> Vec<Result<usize, String>> {
    let deadline = Instant::now() + timeout;
    let mut results: Vec<Option<Result<usize, String>>> = vec![None; items.len()];
    let mut last_missing: Vec<String> = vec![String::new(); items.len()];
    let mut pause = Duration::from_millis(20);
    loop {
        let now = unix_now();
        let pending: Vec<usize> = (0..items.len()).filter(|&i| results[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let plans: HashMap<usize, points::Plan> = pending
            .iter()
            .map(|&i| {
                (
                    i,
                    points::plan_checks(&items[i].header, &items[i].points, now),
                )
            })
            .collect();
        // Requests by (archive layout, archive): one window for all its items.
        let mut groups: HashMap<(u32, u32), Vec<ItemChecks<'_>>> = HashMap::new();
        for (&i, plan) in &plans {
            for (archive, checks) in &plan.groups {
                let a = items[i].header.archives[*archive];
                groups
                    .entry((a.seconds_per_point, a.points))
                    .or_default()
                    .push((i, checks));
            }
        }
        let mut missing: HashMap<usize, usize> = HashMap::new();
        let mut errors: HashMap<usize, String> = HashMap::new();
        for members in groups.values() {
            let all: Vec<points::Check> = members
                .iter()
                .flat_map(|(_, c)| c.iter().copied())
                .collect();
            let Some((from, until)) = points::window(&all) else {
                continue;
            };
            let names: Vec<&str> = members
                .iter()
                .map(|&(i, _)| items[i].series.name.as_str())
                .collect();
            let (found, failed) = render.fetch(&names, from, until, now);
            let failed: HashMap<String, String> = failed.into_iter().collect();
            for &(i, checks) in members {
                let name = items[i].series.name.as_str();
                if let Some(e) = failed.get(name) {
                    errors.insert(i, e.clone());
                    continue;
                }
                let bad = match found.get(name) {
                    Some(a) => points::check(checks, a.start, a.step, &a.values),
                    None => checks.len(),
                };
                *missing.entry(i).or_default() += bad;
            }
        }
        let out_of_time = Instant::now() >= deadline;
        for &i in &pending {
            let bad = missing.get(&i).copied().unwrap_or(0);
            if let Some(e) = errors.get(&i) {
                last_missing[i] = format!("the owner's render API {} answered: {e}", render.base());
            } else if bad == 0 {
                results[i] = Some(Ok(plans[&i].expired));
                continue;
            } else {
                let checked: usize = plans[&i].groups.iter().map(|(_, c)| c.len()).sum();
                last_missing[i] = format!(
                    "{bad} of {checked} points sent not found on the owner ({}) within {timeout:?}",
                    render.base()
                );
            }
            if out_of_time {
                results[i] = Some(Err(std::mem::take(&mut last_missing[i])));
            }
        }
        if out_of_time {
            break;
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(500));
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not verified".into())))
        .collect()
}

/// Tells the local server's admin interface to forget `names` (files already removed).
fn forget(addr: &str, names: &[&str]) -> io::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    for chunk in names.chunks(100) {
        let mut line = String::from("forget");
        for n in chunk {
            line.push(' ');
            line.push_str(n);
        }
        line.push('\n');
        conn.write_all(line.as_bytes())?;
        let mut reply = String::new();
        reader.read_line(&mut reply)?;
        if !reply.starts_with("forgot:") {
            return Err(io::Error::other(format!(
                "unexpected answer {:?} (a server without the forget command?)",
                reply.trim_end()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_mappings_parse() {
        let (n, u) = parse_http("127.0.0.2:2003=a=http://127.0.0.2:8081/").unwrap();
        assert_eq!(n, Node::parse("127.0.0.2:2003=a").unwrap());
        assert_eq!(u, "http://127.0.0.2:8081");
        let (n, u) = parse_http("[::1]:2003=http://[::1]:8080").unwrap();
        assert_eq!(n.host, "::1");
        assert_eq!(u, "http://[::1]:8080");
        assert!(parse_http("127.0.0.2:2003=a").is_err());
        assert!(parse_http("=http://h").is_err());
        assert!(parse_http("h=https://h").unwrap_err().contains("https"));
    }
}
