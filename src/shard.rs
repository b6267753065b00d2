//! A shard: one pinned glommio executor that receives, aggregates, flushes and writes.
//!
//! Each shard owns its `SO_REUSEPORT` UDP socket (batched receive, see [`udp`]), accepts
//! its share of TCP StatsD and carbon connections, keeps an [`Aggregator`] of what it
//! received this interval, and, with storage on, the write-back cache and whisper files
//! of the series it owns. Nothing is shared with other shards except messages, over the
//! channels built once at start ([`links`]).
//!
//! - `receive`: the StatsD receivers (UDP, unix datagram, TCP) feeding `State`.
//! - [`carbon`], [`balance`]: the carbon plaintext and pickle receivers, and how TCP
//!   connections are spread over the shards.
//! - `flush`: the flush rounds on wall-clock boundaries, and the StatsD interval saved at
//!   shutdown and restored at start ([`statefile`]).
//! - `control`: requests from the admin interface and the query thread.
//!
//! Counted here: packets, lines, bad lines by reason, series-cap overflow, truncated
//! datagrams, over-long TCP lines, batches sent, kernel UDP drops ([`stats`]).

pub mod balance;
pub mod carbon;
mod control;
mod flush;
pub mod links;
mod receive;
pub mod statefile;
pub mod stats;
pub mod udp;

use std::cell::RefCell;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::Task;
use tokio::sync::mpsc;

use crate::aggregate::snapshot::Snapshot;
use crate::aggregate::Aggregator;
use crate::config::{Config, JournalLevel, Preallocation};
use crate::protocol::statsd::{BadLine, ParseOptions, Parser};
use crate::route::forward::Output;
use crate::shutdown::Shutdown;
use crate::storage::drain::{writer_loop, WriterOptions};
use crate::storage::index::{NameFeed, NameSink};
use crate::storage::intake::{intake, PointBatch, PointRouter};
use crate::storage::journal::{self, Journal};
use crate::storage::rules::{RulesSource, StorageRules};
use crate::storage::shard_store::ShardStore;
use crate::storage::stats::StoreStats;
use crate::storage::whisper::file::Preallocate;
use crate::storage::writer::{open_files_limit, Writer};
pub use control::Control;
pub use flush::MeshMsg;
pub use links::ShardLinks;
use stats::ShardCounters;

/// Sockets of one shard, bound by the server before the shard starts.
pub struct ShardSockets {
    pub udp: std::net::UdpSocket,
    pub tcp: Option<std::net::TcpListener>,
    /// Unix datagram socket path (bound by the shard itself; glommio cannot adopt one).
    pub unix: Option<std::path::PathBuf>,
    pub carbon_tcp: Option<std::net::TcpListener>,
    pub carbon_udp: Option<std::net::UdpSocket>,
    pub pickle_tcp: Option<std::net::TcpListener>,
}

/// Everything a shard needs, handed over by the server.
pub struct ShardParams {
    pub id: usize,
    pub config: Arc<Config>,
    pub sockets: ShardSockets,
    /// This shard's ends of the channels between shards ([`links::mesh`]).
    pub links: ShardLinks,
    pub output: Output,
    pub shutdown: Arc<Shutdown>,
    /// The wall-clock boundary before round 1 (shared by all shards).
    pub epoch: Duration,
    /// Storage rules when flushed points are written to whisper files.
    pub storage: Option<StorageRules>,
    /// Every shard's storage counters (index = shard id); shard 0 reports them all.
    pub store_stats: Vec<Arc<StoreStats>>,
    /// Where new names are reported for the query thread's index (None: no HTTP API).
    pub names: Option<NameFeed>,
    /// The StatsD state saved by the previous run for keys this shard owns, in ascending
    /// boundary order ([`statefile::load`]).
    pub restored: Vec<Snapshot>,
}

/// What a shard received this interval, and how it parses: the hot path's state.
struct State {
    parser: Parser,
    agg: Aggregator,
    counters: ShardCounters,
    debug: Option<Vec<u8>>,
    /// A flush is in progress: owned keys must not be deleted until it ends.
    flushing: bool,
}

impl State {
    /// The hot path: every line of one datagram or TCP read.
    fn ingest_lines(&mut self, data: &[u8]) {
        self.counters.packets += 1;
        for line in data.split(|&b| b == b'\n') {
            self.ingest_line(line);
        }
    }

    fn ingest_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        let Self {
            parser,
            agg,
            counters,
            debug,
            ..
        } = self;
        counters.lines += 1;
        if let Some(pattern) = debug {
            let key = line.split(|&b| b == b':').next().unwrap_or(line);
            if glob_match(pattern, key) {
                eprintln!("debug: {}", String::from_utf8_lossy(line));
            }
        }
        parser.parse_line(line, |r| match r {
            Ok(sample) => {
                if agg.ingest(&sample).is_err() {
                    counters.series_overflow += 1;
                }
            }
            Err(reason) => {
                counters.bad_lines += 1;
                if let Some(i) = BadLine::ALL.iter().position(|b| *b == reason) {
                    counters.bad_by_reason[i] += 1;
                }
            }
        });
    }
}

impl State {
    fn new(cfg: &crate::config::StatsdConfig) -> Self {
        Self {
            parser: Parser::new(ParseOptions {
                sanitize: cfg.key_name_sanitize,
                sort_tags: cfg.sort_tags,
            }),
            agg: Aggregator::new(cfg),
            counters: ShardCounters::new(BadLine::ALL.len()),
            debug: (!cfg.debug.is_empty()).then(|| cfg.debug.as_bytes().to_vec()),
            flushing: false,
        }
    }
}

/// Run one shard until shutdown. Call inside the shard's glommio executor.
pub async fn run(p: ShardParams) {
    let ShardParams {
        id,
        config,
        sockets,
        links,
        output,
        shutdown,
        epoch,
        storage,
        store_stats,
        names,
        restored,
    } = p;
    let state = Rc::new(RefCell::new(State::new(&config.statsd)));
    let inode = receive::socket_inode(&sockets.udp);
    let _statsd = spawn_statsd_receivers(&config, sockets.udp, sockets.tcp, sockets.unix, &state);
    // The journal is replayed here, before the carbon receivers and the flush start.
    let storage = match storage {
        Some(rules) => Some(
            Storage::start(
                id,
                &config,
                rules,
                store_stats[id].clone(),
                names,
                (links.point_peers, links.point_inbox),
                shutdown.clone(),
            )
            .await,
        ),
        None => None,
    };
    let _control = glommio::spawn_local(control::control_loop(
        links.control,
        state.clone(),
        storage.as_ref().map(|s| s.points.store().clone()),
    ));
    let carbon_tasks = storage.as_ref().map(|s| {
        carbon::spawn_receivers(
            id,
            &config,
            sockets.carbon_tcp,
            sockets.carbon_udp,
            sockets.pickle_tcp,
            links.carbon_handoff,
            links.pickle_handoff,
            &s.points,
            &store_stats,
        )
    });
    let flusher = flush::Flusher::new(
        id,
        config,
        links.peers,
        links.inbox,
        output,
        state,
        inode,
        storage.as_ref().map(|s| s.points.clone()),
        shutdown,
    );
    flusher.run(epoch, restored).await;
    // Every point of the final round is routed; once all shards drop their senders the
    // intake ends, and the writer drains what is left to disk.
    drop(carbon_tasks);
    if let Some(storage) = storage {
        storage.stop().await;
    }
}

/// Start the StatsD receivers on the shard's sockets; they run until the shard ends.
fn spawn_statsd_receivers(
    config: &Config,
    udp: std::net::UdpSocket,
    tcp: Option<std::net::TcpListener>,
    unix: Option<std::path::PathBuf>,
    state: &Rc<RefCell<State>>,
) -> Vec<Task<()>> {
    let cfg = &config.statsd;
    // SAFETY: the fd comes from a std socket we own and give up here (into_raw_fd), so
    // glommio's socket becomes its only owner and closes it once.
    let udp = unsafe { glommio::net::UdpSocket::from_raw_fd(udp.into_raw_fd()) };
    let mut tasks = vec![glommio::spawn_local(receive::udp_loop(
        udp,
        cfg.max_datagram,
        state.clone(),
    ))];
    if let Some(l) = tcp {
        // SAFETY: as above, ownership of the listening fd moves to glommio.
        let l = unsafe { glommio::net::TcpListener::from_raw_fd(l.into_raw_fd()) };
        let (max_line, state) = (cfg.max_line_length, state.clone());
        tasks.push(glommio::spawn_local(receive::accept_loop(
            l,
            "statsd tcp",
            move |s| receive::tcp_conn(s, max_line, state.clone()),
        )));
    }
    if let Some(path) = unix {
        let _ = std::fs::remove_file(&path);
        match glommio::net::UnixDatagram::bind(&path) {
            Ok(u) => tasks.push(glommio::spawn_local(receive::unix_loop(
                u,
                cfg.max_datagram,
                state.clone(),
            ))),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "statsd unix socket: cannot bind");
            }
        }
    }
    tasks
}

/// A shard's storage tasks: the intake of points from peers, the writer task, and the
/// journal task.
struct Storage {
    points: Rc<PointRouter>,
    intake: Task<()>,
    writing: Task<()>,
    journal: Option<(Rc<Journal>, Task<()>)>,
}

impl Storage {
    /// Start the writer, replay the journal into the cache, then take points in.
    async fn start(
        id: usize,
        config: &Config,
        rules: StorageRules,
        stats: Arc<StoreStats>,
        names: Option<NameFeed>,
        (point_peers, point_inbox): (Vec<mpsc::Sender<PointBatch>>, mpsc::Receiver<PointBatch>),
        signals: Arc<Shutdown>,
    ) -> Self {
        let st = &config.storage;
        let shards = point_peers.len();
        let store = ShardStore::new(st.cache_bytes, stats.clone());
        if let Some(feed) = names {
            let _ = store.names.set(NameSink::new(feed));
        }
        let writer = Writer::new(config.data_dir.join("whisper"), rules)
            .with_create_limit(st.max_creates_per_minute)
            .with_open_files(open_files_limit(st.open_files, shards), st.page_cache_bytes)
            .with_sync_creates(st.sync_creates)
            .with_preallocate(match st.preallocate {
                Preallocation::Fallocate => Preallocate::Fallocate,
                Preallocation::Zeros => Preallocate::Zeros,
                Preallocation::Sparse => Preallocate::Sparse,
            });
        let opts = WriterOptions {
            batch: st.write_batch,
            drain_timeout: st.drain_timeout,
            rules: config.storage_conf_dir().map(RulesSource::new),
            rules_every: st.rules_check_interval,
            signals: signals.clone(),
        };
        let writing = glommio::spawn_local(writer_loop(store.clone(), writer, opts));
        // Segments are replayed even with the journal now off (a run with it on left
        // them); they go once their points are written.
        let dir = journal::shard_dir(&config.data_dir, id);
        let replayed = journal::replay(&dir, id, &store).await;
        let journal =
            (st.journal != JournalLevel::Off || !replayed.on_disk.is_empty()).then(|| {
                let j = Journal::new(dir, (id, shards), st, &replayed, stats);
                if st.journal != JournalLevel::Off {
                    let _ = store.journal.set(j.clone());
                }
                let task = glommio::spawn_local(journal::journal_loop(j.clone(), store.clone()));
                (j, task)
            });
        let intake = glommio::spawn_local(intake(
            store.clone(),
            point_inbox,
            id,
            shards,
            signals.clone(),
        ));
        let points = PointRouter::new(store, id, point_peers, signals);
        Self {
            points,
            intake,
            writing,
            journal,
        }
    }

    /// Send what is pending to the peers, let their intakes end, drain the cache, and
    /// end the journal (its segments go when the cache was wholly written).
    async fn stop(self) {
        self.points.close().await;
        self.intake.await;
        self.points.store().stopping.set(true);
        self.writing.await;
        if let Some((j, task)) = self.journal {
            j.close();
            task.await;
        }
    }
}

/// Shell-style glob on bytes: `*` any run, `?` any one byte.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match(b"api.*", b"api.login"));
        assert!(glob_match(b"*.login", b"api.login"));
        assert!(glob_match(b"a?i.*n", b"api.login"));
        assert!(!glob_match(b"db.*", b"api.login"));
        assert!(glob_match(b"*", b""));
    }
}
