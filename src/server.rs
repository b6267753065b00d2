//! Start-up wiring and the shutdown path.
//!
//! `serve`: config → preflight → bind every listener ([`listeners`]) → announce them on
//! stdout → [`run`]: build the shard mesh once ([`crate::shard::links::mesh`]), load the
//! StatsD state the last run saved, start one pinned glommio executor per shard, the
//! start-up scan of the names on disk, the query thread ([`crate::http`]) and the side
//! thread (`side`: admin interface, forwarder, signals); then wait for the shards.
//!
//! Shutdown order (SIGTERM or SIGINT): the flag is set; every shard runs its final
//! rounds, saves its unfinished StatsD interval, drains its cache to disk and exits; the
//! forwarder, whose senders the shards held, then delivers its backlog (up to 10 s) and
//! the process exits 0.

pub mod admin;
pub mod listeners;
pub mod logging;
pub mod running;
mod side;

pub use side::Signals;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::Config;
use crate::route::forward::{ForwardStats, Output};
use crate::server::admin::AdminState;
use crate::shard::{ShardParams, ShardSockets};
use crate::shutdown::Shutdown;
use crate::storage::rules::StorageRules;
use crate::storage::stats::StoreStats;

/// Threads of each shard's blocking pool, where whisper files are opened and created. A
/// create with `storage.sync_creates` waits about a millisecond in fsync; with several
/// threads those waits overlap (and the file system commits them together) instead of
/// queueing behind one thread.
const BLOCKING_THREADS: usize = 8;
pub use listeners::{bind, Listeners};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot bind {what} on {addr}: {source}. Is another server using it? Pick another with {flag}.")]
    Bind {
        what: &'static str,
        addr: String,
        flag: &'static str,
        source: std::io::Error,
    },
    #[error("cannot create the data directory {path}: {source}. Set another with --data-dir.")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start shard {shard}: {message}")]
    Shard { shard: usize, message: String },
    #[error("cannot start the side thread: {0}")]
    Side(std::io::Error),
    #[error("storage rules: {0}. Fix the file, or set storage.conf_dir to another directory.")]
    Rules(#[from] crate::storage::rules::RulesError),
    #[error("{0}")]
    Journal(String),
}

/// The storage rules, when storage is on: from the config directory, built-in otherwise.
fn storage_rules(cfg: &Config) -> Result<Option<StorageRules>, ServerError> {
    if !cfg.storage.enabled {
        return Ok(None);
    }
    let rules = match cfg.storage_conf_dir() {
        Some(dir) => StorageRules::load(&dir)?,
        None => StorageRules::defaults()?,
    };
    for (file, w) in &rules.warnings {
        tracing::warn!(file = %file.display(), "{w}");
    }
    Ok(Some(rules))
}

/// CPUs this process may run on (for pinning shards).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data (an array of integers), for which all zeroes is a
    // valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity fills the set through a valid pointer of the size we pass.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw mut set) };
    if rc != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads the set we own, with an index below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Run the server until `shutdown` is triggered (signals also trigger it). Blocks.
pub fn run(
    cfg: Config,
    mut listeners: Listeners,
    shutdown: &Arc<Shutdown>,
    signals: Signals,
) -> Result<(), ServerError> {
    let cfg = Arc::new(cfg);
    let shards = listeners.statsd_udp.len();
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| ServerError::DataDir {
        path: cfg.data_dir.display().to_string(),
        source,
    })?;
    let storage = storage_rules(&cfg)?;
    let unclean_start = running::begin(&cfg.data_dir);
    let data_dir = cfg.data_dir.clone();
    if storage.is_some() {
        // Also with the journal off: segments left by a run with it on are replayed.
        crate::storage::journal::check_layout(&cfg.data_dir, shards)
            .map_err(ServerError::Journal)?;
    }
    let store_stats: Vec<Arc<StoreStats>> = (0..shards).map(|_| Arc::default()).collect();
    let forward_stats = Arc::new(ForwardStats::default());
    let (fwd_tx, fwd_rx) = if cfg.forward.addr.is_empty() {
        (None, None)
    } else {
        let (tx, rx) = mpsc::unbounded_channel();
        (Some(tx), Some(rx))
    };
    let (name_feed, name_rx) = if listeners.http.is_some() {
        let (feed, rx) = crate::storage::index::NameFeed::new();
        (Some(feed), Some(rx))
    } else {
        (None, None)
    };
    watch_panics(shutdown.clone());
    let (links, controls) = crate::shard::links::mesh(shards);
    let started = Started {
        config: cfg.clone(),
        output: Output::new(fwd_tx, forward_stats.clone()),
        shutdown: shutdown.clone(),
        storage: storage.clone(),
        store_stats: store_stats.clone(),
        names: name_feed.clone(),
    };
    let handles = start_shards(&started, listeners.shard_sockets(), links)?;
    drop(started);

    let admin = AdminState {
        shards: controls,
        config: cfg.clone(),
        forward: forward_stats.clone(),
        healthy: AtomicBool::new(true),
        started: crate::clock::now().as_secs(),
        storage: if storage.is_some() {
            store_stats
        } else {
            Vec::new()
        },
        index: Arc::default(),
        unclean_start,
    };
    scan_names_on_disk(&cfg, &admin);
    let http = match (listeners.http, name_rx) {
        (Some(listener), Some(rx)) => Some(
            crate::http::spawn(
                listener,
                crate::http::Setup {
                    config: cfg.clone(),
                    shards: admin.shards.clone(),
                    rules: storage,
                    index: admin.index.clone(),
                    names: rx,
                    names_dropped: name_feed.map(|f| f.dropped).unwrap_or_default(),
                },
                shutdown.clone(),
            )
            .map_err(ServerError::Side)?,
        ),
        _ => None,
    };
    let side = side::spawn(
        signals,
        listeners.admin,
        admin,
        cfg,
        fwd_rx,
        forward_stats,
        shutdown.clone(),
    )?;

    let mut result = Ok(());
    for (id, h) in handles.into_iter().enumerate() {
        if let Err(e) = h.join() {
            shutdown.trigger();
            result = Err(ServerError::Shard {
                shard: id,
                message: e.to_string(),
            });
        }
    }
    shutdown.trigger();
    let _ = side.join();
    if let Some(h) = http {
        let _ = h.join();
    }
    if result.is_ok() {
        // The caches are drained and the StatsD interval saved: a clean stop.
        running::end(&data_dir);
    }
    result
}

/// A panic is logged; a panic on a shard's thread also marks the shard failed and stops
/// the server: the other shards stop waiting for it, run their last rounds and drain
/// their caches, and `run` returns the failure (exit status 1) instead of the process
/// running half-alive. Panics elsewhere (a query's task) are logged only.
fn watch_panics(shutdown: Arc<Shutdown>) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        // glommio names a shard's thread `shard-<id>-<executor>`.
        let shard = name
            .strip_prefix("shard-")
            .and_then(|n| n.split('-').next());
        if let Some(id) = shard.and_then(|n| n.parse().ok()) {
            tracing::error!(
                shard = id,
                panic = %info,
                "a shard panicked: stopping the server; the other shards drain their caches"
            );
            shutdown.shard_failed(id);
        } else {
            tracing::error!(thread = name, panic = %info, "panic");
        }
        default(info);
    }));
}

/// What every shard is handed besides its own sockets and links.
struct Started {
    config: Arc<Config>,
    output: Output,
    shutdown: Arc<Shutdown>,
    storage: Option<StorageRules>,
    store_stats: Vec<Arc<StoreStats>>,
    names: Option<crate::storage::index::NameFeed>,
}

/// Load the StatsD state the last run saved (each key handed to its owner under this
/// run's shard count), then start one pinned executor per shard. The saved files are
/// removed once every shard holds its part; each saves it again at shutdown.
fn start_shards(
    s: &Started,
    sockets: Vec<ShardSockets>,
    links: Vec<crate::shard::ShardLinks>,
) -> Result<Vec<glommio::ExecutorJoinHandle<()>>, ServerError> {
    let shards = links.len();
    let interval = s.config.statsd.flush_interval;
    // The boundary before round 1, shared by all shards.
    let epoch = crate::clock::next_boundary(crate::clock::now(), interval).saturating_sub(interval);
    let key_router = crate::route::Router::new(shards);
    let mut saved =
        crate::shard::statefile::load(&s.config.data_dir, shards, |k| key_router.owner(k));
    if saved.keys > 0 {
        tracing::info!(
            keys = saved.keys,
            "statsd: restoring the state saved at the last shutdown"
        );
    }
    let restored = std::mem::take(&mut saved.per_shard);
    let cpus = allowed_cpus();
    let mut handles = Vec::with_capacity(shards);
    for (id, ((sockets, links), restored)) in
        sockets.into_iter().zip(links).zip(restored).enumerate()
    {
        let params = ShardParams {
            id,
            config: s.config.clone(),
            sockets,
            links,
            output: s.output.clone(),
            shutdown: s.shutdown.clone(),
            epoch,
            storage: s.storage.clone(),
            store_stats: s.store_stats.clone(),
            names: s.names.clone(),
            restored,
        };
        let placement = if cpus.is_empty() {
            glommio::Placement::Unbound
        } else {
            glommio::Placement::Fixed(cpus[id % cpus.len()])
        };
        let h = glommio::LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(s.config.shard_io_memory)
            .blocking_thread_pool_placement(glommio::PoolPlacement::Unbound(BLOCKING_THREADS))
            .spawn(move || crate::shard::run(params))
            .map_err(|e| ServerError::Shard {
                shard: id,
                message: e.to_string(),
            })?;
        handles.push(h);
    }
    saved.consume();
    Ok(handles)
}

/// The names already on disk, scanned on a thread of its own so ingest never waits for
/// it; the result lands in the admin state's index slot (shared with the query thread).
fn scan_names_on_disk(cfg: &Config, admin: &AdminState) {
    let slot = admin.index.clone();
    let dir = cfg.data_dir.join("whisper");
    let _ = std::thread::Builder::new()
        .name("index-scan".into())
        .spawn(move || {
            let (index, report) = crate::storage::index::scan(&dir);
            tracing::info!(
                series = report.series,
                tagged_files = report.tagged,
                directories = report.directories,
                skipped = report.skipped,
                temporary_files_removed = report.temp_removed,
                seconds = report.elapsed.as_secs_f64(),
                "indexed the whisper files on disk"
            );
            // A holder that panicked leaves the slot usable: the scan is not thrown away.
            let mut s = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *s = Some((index, report));
        });
}

/// `lonsdaleite serve`: config → preflight → bind → announce → run → exit code.
pub fn main(args: &crate::cli::ServeArgs) -> ExitCode {
    let cfg = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lonsdaleite: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = logging::parse(&cfg.log_level) {
        eprintln!("lonsdaleite: {e}. Fix it in the config file.");
        return ExitCode::from(2);
    }
    logging::init(&cfg.log_level);
    let signals = match Signals::register() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lonsdaleite: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Bad storage rules are a configuration error: say so before binding anything.
    if let Err(e) = storage_rules(&cfg) {
        eprintln!("lonsdaleite: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = crate::sys::preflight(&cfg) {
        eprintln!("lonsdaleite: {e}");
        return ExitCode::from(3);
    }
    let shards = cfg.shard_count();
    let listeners = match bind(&cfg, shards) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lonsdaleite: {e}");
            return ExitCode::from(4);
        }
    };
    let shutdown = Arc::new(Shutdown::default());
    let lines = listeners.describe();
    tracing::info!(shards, flush_interval = ?cfg.statsd.flush_interval, data_dir = %cfg.data_dir.display(), "starting");
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
    drop(out);
    match run(cfg, listeners, &shutdown, signals) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lonsdaleite: {e}");
            ExitCode::FAILURE
        }
    }
}
