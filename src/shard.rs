//! A shard: one pinned glommio executor that receives, aggregates and flushes.
//!
//! Each shard owns its `SO_REUSEPORT` UDP socket (batched receive, see [`udp`]), accepts
//! its share of TCP StatsD connections, and keeps an [`Aggregator`] of what it received
//! this interval. Nothing is shared with other shards except messages.
//!
//! Flush (every interval, on wall-clock boundaries; every shard runs the same numbered
//! rounds): each shard hands the partial aggregates of names it does not own to their
//! owners in one batch per peer ([`MeshMsg::Partials`]), merges what it receives, emits
//! the points of the names it owns, and reports a [`Summary`] to shard 0, which emits
//! etsy's process-wide statistics. On shutdown every shard keeps running rounds without
//! waiting for the timer until a round in which every shard said `last`, so partials
//! received late by one shard still reach their owner before it exits.
//!
//! Restarts lose no interval and write no boundary twice: a shutdown round that comes
//! before its boundary (the usual case) moves partials to their owners but does not
//! flush; the shard then saves everything it holds with the first boundary it has not
//! flushed ([`statefile`]). At start, a saved interval whose boundary is not after the
//! boundary the first round starts from is flushed first under its own boundary; one
//! whose boundary is still ahead carries on and is flushed with the rest of the interval.
//!
//! Counted here: packets, lines, bad lines by reason, series-cap overflow, truncated
//! datagrams, over-long TCP lines, batches sent, kernel UDP drops.

pub mod balance;
pub mod carbon;
pub mod shutdown;
pub mod statefile;
pub mod stats;
pub mod udp;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

use crate::aggregate::snapshot::Snapshot;
use crate::aggregate::{
    emit_globals, Aggregator, FlushCursor, FlushSummary, Globals, Internal, Partials,
};

/// Keys merged or flushed per slice before the shard lets its receive loops run.
const SLICE: usize = 2048;
use crate::config::Config;
use crate::protocol::framing::LineFramer;
use crate::protocol::number::write_js_number;
use crate::protocol::statsd::{BadLine, Kind, ParseOptions, Parser, Sample, Value};
use crate::route::forward::{FlushReport, Output};
use crate::route::Router;
use crate::shard::shutdown::Shutdown;
use crate::storage::intake::{PointBatch, PointRouter};
use crate::storage::rules::StorageRules;
use crate::storage::shard_store::ShardStore;
use crate::storage::stats::StoreStats;
use crate::storage::whisper::file::Preallocate;
use crate::storage::writer::Writer;
use stats::ShardCounters;

/// Messages between shards.
pub enum MeshMsg {
    /// Round `round`'s partial aggregates for names the receiver owns.
    Partials {
        round: u64,
        last: bool,
        partials: Partials,
    },
    /// Round `round`'s totals for shard 0.
    Summary { round: u64, summary: FlushSummary },
}

/// Requests from the admin interface to a shard.
pub enum Control {
    /// Dump one kind's table.
    View {
        kind: Kind,
        reply: oneshot::Sender<Vec<(String, String)>>,
    },
    /// Delete keys of one kind (exact, or `prefix.*`).
    Delete {
        kind: Kind,
        pattern: String,
        reply: oneshot::Sender<Vec<String>>,
    },
    /// Running totals.
    Counters {
        reply: oneshot::Sender<ShardCounters>,
    },
    /// The cached (not yet written) points of each name, sorted, one per timestamp
    /// (the query thread merges them into what it reads from the files). Empty lists
    /// when storage is off.
    Cached {
        names: Vec<String>,
        reply: crossbeam_channel::Sender<Vec<Vec<(i64, f64)>>>,
    },
}

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
    /// Senders to every shard's mesh inbox (index = shard id; own entry unused).
    pub peers: Vec<mpsc::Sender<MeshMsg>>,
    pub inbox: mpsc::Receiver<MeshMsg>,
    pub control: mpsc::Receiver<Control>,
    pub output: Output,
    pub shutdown: Arc<Shutdown>,
    /// The wall-clock boundary before round 1 (shared by all shards).
    pub epoch: Duration,
    /// Storage rules when flushed points are written to whisper files.
    pub storage: Option<StorageRules>,
    /// Senders to every shard's point intake (index = shard id; own entry unused).
    pub point_peers: Vec<mpsc::Sender<PointBatch>>,
    pub point_inbox: mpsc::Receiver<PointBatch>,
    /// Every shard's storage counters (index = shard id); shard 0 reports them all.
    pub store_stats: Vec<Arc<StoreStats>>,
    /// Where new names are reported for the query thread's index (None: no HTTP API).
    pub names: Option<crate::storage::index::NameFeed>,
    /// This shard's ends of the carbon plaintext and pickle hand-off meshes.
    pub carbon_handoff: Option<balance::Handoff>,
    pub pickle_handoff: Option<balance::Handoff>,
    /// The StatsD state saved by the previous run for keys this shard owns, in ascending
    /// boundary order ([`statefile::load`]).
    pub restored: Vec<Snapshot>,
}

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

/// Run one shard until shutdown. Call inside the shard's glommio executor.
pub async fn run(p: ShardParams) {
    let cfg = &p.config.statsd;
    let state = Rc::new(RefCell::new(State {
        parser: Parser::new(ParseOptions {
            sanitize: cfg.key_name_sanitize,
            sort_tags: cfg.sort_tags,
        }),
        agg: Aggregator::new(cfg),
        counters: ShardCounters::new(BadLine::ALL.len()),
        debug: (!cfg.debug.is_empty()).then(|| cfg.debug.as_bytes().to_vec()),
        flushing: false,
    }));
    let inode = socket_inode(&p.sockets.udp);
    // SAFETY: the fd comes from a std socket we own and give up here (into_raw_fd), so
    // glommio's socket becomes its only owner and closes it once.
    let udp = unsafe { glommio::net::UdpSocket::from_raw_fd(p.sockets.udp.into_raw_fd()) };
    let _udp_task = glommio::spawn_local(udp_loop(udp, cfg.max_datagram, state.clone()));
    let _tcp_task = p.sockets.tcp.map(|l| {
        // SAFETY: as above, ownership of the listening fd moves to glommio.
        let l = unsafe { glommio::net::TcpListener::from_raw_fd(l.into_raw_fd()) };
        let (max_line, state) = (cfg.max_line_length, state.clone());
        glommio::spawn_local(accept_loop(l, "statsd tcp", move |s| {
            tcp_conn(s, max_line, state.clone())
        }))
    });
    let _unix_task = p.sockets.unix.and_then(|path| {
        let _ = std::fs::remove_file(&path);
        match glommio::net::UnixDatagram::bind(&path) {
            Ok(u) => Some(glommio::spawn_local(unix_loop(u, cfg.max_datagram, state.clone()))),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "statsd unix socket: cannot bind");
                None
            }
        }
    });
    let store = p.storage.map(|rules| {
        let st = &p.config.storage;
        let store = ShardStore::new(st.cache_bytes, p.store_stats[p.id].clone());
        if let Some(feed) = &p.names {
            let _ = store
                .names
                .set(crate::storage::index::NameSink::new(feed.clone()));
        }
        let intake =
            glommio::spawn_local(crate::storage::intake::intake(store.clone(), p.point_inbox));
        let writer = Writer::new(p.config.data_dir.join("whisper"), rules)
            .with_create_limit(st.max_creates_per_minute)
            .with_open_files(
                crate::storage::writer::open_files_limit(st.open_files, p.peers.len()),
                st.page_cache_bytes,
            )
            .with_preallocate(match st.preallocate {
                crate::config::Preallocation::Fallocate => Preallocate::Fallocate,
                crate::config::Preallocation::Zeros => Preallocate::Zeros,
                crate::config::Preallocation::Sparse => Preallocate::Sparse,
            });
        let opts = crate::storage::drain::WriterOptions {
            batch: st.write_batch,
            drain_timeout: st.drain_timeout,
            rules: p
                .config
                .storage_conf_dir()
                .map(crate::storage::rules::RulesSource::new),
            rules_every: st.rules_check_interval,
        };
        let writing = glommio::spawn_local(crate::storage::drain::writer_loop(
            store.clone(),
            writer,
            opts,
        ));
        let points = PointRouter::new(store.clone(), p.id, p.point_peers);
        (points, intake, writing)
    });
    let _control_task = glommio::spawn_local(control_loop(
        p.control,
        state.clone(),
        store.as_ref().map(|s| s.0.store().clone()),
    ));
    let mut carbon_tasks = Vec::new();
    if let Some((points, _, _)) = &store {
        if let (Some(l), Some(handoff)) = (p.sockets.carbon_tcp, p.carbon_handoff) {
            // SAFETY: ownership of the listening fd moves to glommio (into_raw_fd).
            let l = unsafe { glommio::net::TcpListener::from_raw_fd(l.into_raw_fd()) };
            let points = points.clone();
            carbon_tasks.push(glommio::spawn_local(balance::accept_loop(
                l,
                "carbon tcp",
                p.id,
                p.store_stats.clone(),
                handoff,
                move |s| carbon::tcp_conn(s, points.clone()),
            )));
        }
        if let Some(u) = p.sockets.carbon_udp {
            // SAFETY: ownership of the socket fd moves to glommio (into_raw_fd).
            let u = unsafe { glommio::net::UdpSocket::from_raw_fd(u.into_raw_fd()) };
            carbon_tasks.push(glommio::spawn_local(carbon::udp_loop(u, points.clone())));
        }
        if let (Some(l), Some(handoff)) = (p.sockets.pickle_tcp, p.pickle_handoff) {
            // SAFETY: ownership of the listening fd moves to glommio (into_raw_fd).
            let l = unsafe { glommio::net::TcpListener::from_raw_fd(l.into_raw_fd()) };
            let points = points.clone();
            carbon_tasks.push(glommio::spawn_local(balance::accept_loop(
                l,
                "carbon pickle",
                p.id,
                p.store_stats.clone(),
                handoff,
                move |s| carbon::pickle_conn(s, points.clone()),
            )));
        }
        carbon_tasks.push(glommio::spawn_local(carbon::batch_ticker(points.clone())));
        if p.id == 0 {
            carbon_tasks.push(glommio::spawn_local(carbon::self_metrics(
                points.clone(),
                p.store_stats.clone(),
                carbon::agent_host(&p.config.carbon.hostname),
                p.config.carbon.metric_interval,
            )));
        }
    }

    let mut flusher = Flusher {
        id: p.id,
        pending: None,
        router: Router::new(p.peers.len()),
        config: p.config.clone(),
        peers: p.peers,
        inbox: p.inbox,
        stash: VecDeque::new(),
        output: p.output,
        state,
        inode,
        reported: ShardCounters::new(BadLine::ALL.len()),
        last_ts: None,
        points: store.as_ref().map(|s| s.0.clone()),
    };
    let interval = cfg.flush_interval;
    flusher.restore(p.restored, p.epoch).await;
    let mut round = 0u64;
    loop {
        round += 1;
        let due = p.epoch + interval * u32::try_from(round).unwrap_or(u32::MAX);
        let last = wait_until(due, &p.shutdown).await;
        // A shutdown round before its boundary does not flush (the interval is saved
        // instead); neither does any round after one that did not.
        let save = last && (flusher.pending.is_some() || crate::clock::now() < due);
        if save && flusher.pending.is_none() {
            flusher.pending = Some(due);
        }
        let ts = crate::clock::flush_timestamp(due);
        if flusher.round(round, ts, last, save).await {
            break;
        }
    }
    let next = p.epoch + interval * u32::try_from(round + 1).unwrap_or(u32::MAX);
    flusher.save(flusher.pending.unwrap_or(next), interval);
    // Every point of the final round is routed; once all shards drop their senders the
    // intake ends, and the writer drains what is left to disk.
    drop(flusher);
    drop(carbon_tasks);
    if let Some((points, intake, writing)) = store {
        points.close().await;
        intake.await;
        points.store().stopping.set(true);
        writing.await;
    }
}

/// Sleep until the wall clock reaches `due`, waking early on shutdown. Returns true on shutdown.
async fn wait_until(due: Duration, shutdown: &Shutdown) -> bool {
    loop {
        if shutdown.is_set() {
            return true;
        }
        let now = crate::clock::now();
        if now >= due {
            return false;
        }
        glommio::timer::sleep(due.saturating_sub(now).min(Duration::from_millis(25))).await;
    }
}

async fn udp_loop(sock: glommio::net::UdpSocket, slot: usize, state: Rc<RefCell<State>>) {
    let mut batch = udp::BatchRecv::new(slot);
    let fd = sock.as_raw_fd();
    let mut probe = [0u8; 1];
    loop {
        match batch.recv(fd) {
            Ok(0) => {
                // Nothing waiting: sleep in io_uring until a datagram arrives.
                if let Err(e) = sock.peek_from(&mut probe).await {
                    tracing::warn!(error = %e, "statsd udp: waiting for data failed");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
            }
            Ok(n) => {
                {
                    let mut st = state.borrow_mut();
                    for i in 0..n {
                        let (d, cut) = batch.datagram(i);
                        if cut {
                            st.counters.truncated_datagrams += 1;
                            st.ingest_lines(udp::whole_lines(d));
                        } else {
                            st.ingest_lines(d);
                        }
                    }
                    st.counters.last_msg_seen = crate::clock::now().as_secs();
                }
                glommio::yield_if_needed().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "statsd udp: receive failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn unix_loop(sock: glommio::net::UnixDatagram, slot: usize, state: Rc<RefCell<State>>) {
    let mut buf = vec![0u8; slot];
    loop {
        match sock.recv(&mut buf).await {
            Ok(n) => {
                let mut st = state.borrow_mut();
                st.ingest_lines(&buf[..n]);
                st.counters.last_msg_seen = crate::clock::now().as_secs();
            }
            Err(e) => {
                tracing::warn!(error = %e, "statsd unix socket: receive failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Accept TCP connections forever, each served by its own task made by `serve`; a failed
/// accept (e.g. out of file descriptors) is logged and retried after a pause.
pub(crate) async fn accept_loop<F, Fut>(
    listener: glommio::net::TcpListener,
    what: &'static str,
    mut serve: F,
) where
    F: FnMut(glommio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(serve(stream)).detach();
            }
            Err(e) => {
                tracing::warn!(error = %e, what, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tcp_conn(mut stream: glommio::net::TcpStream, max_line: usize, state: Rc<RefCell<State>>) {
    let mut framer = LineFramer::new(max_line);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut st = state.borrow_mut();
        st.counters.packets += 1;
        let before = framer.too_long;
        framer.push(&buf[..n], |line| st.ingest_line(line));
        st.counters.tcp_lines_too_long += framer.too_long - before;
        st.counters.last_msg_seen = crate::clock::now().as_secs();
    }
    let mut st = state.borrow_mut();
    framer.finish(|line| st.ingest_line(line));
}

async fn control_loop(
    mut rx: mpsc::Receiver<Control>,
    state: Rc<RefCell<State>>,
    store: Option<Rc<ShardStore>>,
) {
    while let Some(req) = rx.recv().await {
        // A delete moves table slots; wait for a flush in progress to finish first.
        while matches!(req, Control::Delete { .. }) && state.borrow().flushing {
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        let mut st = state.borrow_mut();
        match req {
            Control::View { kind, reply } => {
                let _ = reply.send(st.agg.view(kind));
            }
            Control::Delete {
                kind,
                pattern,
                reply,
            } => {
                let _ = reply.send(st.agg.delete(kind, &pattern));
            }
            Control::Counters { reply } => {
                let _ = reply.send(st.counters.clone());
            }
            Control::Cached { names, reply } => {
                let points = match &store {
                    Some(store) => store.pending(&names),
                    None => vec![Vec::new(); names.len()],
                };
                let _ = reply.send(points);
            }
        }
    }
}

/// The flush side of a shard.
struct Flusher {
    id: usize,
    router: Router,
    config: Arc<Config>,
    peers: Vec<mpsc::Sender<MeshMsg>>,
    inbox: mpsc::Receiver<MeshMsg>,
    /// Messages that arrived for a later round (a peer ran ahead).
    stash: VecDeque<MeshMsg>,
    output: Output,
    state: Rc<RefCell<State>>,
    inode: Option<u64>,
    /// Counter values already reported as self-metrics.
    reported: ShardCounters,
    last_ts: Option<i64>,
    points: Option<Rc<PointRouter>>,
    /// Set by the first shutdown round that saved instead of flushing: the boundary of
    /// the interval the owned state now holds.
    pending: Option<Duration>,
}

/// What one flush produced, all stamped `ts`: plaintext lines for the forwarder, and
/// points for storage when storing.
struct Flushed {
    ts: i64,
    storing: bool,
    lines: Vec<u8>,
    points: Vec<(Box<[u8]>, f64)>,
}

impl Flushed {
    fn new(ts: i64, storing: bool) -> Self {
        Self {
            ts,
            storing,
            lines: Vec::with_capacity(64 * 1024),
            points: Vec::new(),
        }
    }

    fn emit(&mut self, name: &[u8], value: f64) {
        push_line(&mut self.lines, name, value, self.ts);
        if self.storing {
            self.points.push((name.into(), value));
        }
    }
}

impl Flusher {
    /// One flush round. With `save`, partials still move to their owners but nothing is
    /// flushed (a shutdown before the boundary). Returns true when every shard said
    /// `last` (time to exit).
    async fn round(&mut self, round: u64, ts: i64, last: bool, save: bool) -> bool {
        let started = Instant::now();
        let shards = self.peers.len();
        let outgoing = {
            let state = self.state.clone();
            let mut st = state.borrow_mut();
            if let Some(d) = self.inode.and_then(udp::kernel_drops) {
                st.counters.kernel_drops = d;
            }
            self.report_self_metrics(&mut st);
            st.agg.take_partials(shards, |k| self.router.owner(k))
        };
        for (to, partials) in outgoing.into_iter().enumerate() {
            if to == self.id {
                self.merge(partials).await;
            } else {
                self.state.borrow_mut().counters.batches_sent += 1;
                // A peer only stops reading after a round in which we said `last`.
                let _ = self.peers[to]
                    .send(MeshMsg::Partials {
                        round,
                        last,
                        partials,
                    })
                    .await;
            }
        }
        let mut all_last = last;
        for _ in 1..shards {
            match self.next_msg(round, true).await {
                Some(MeshMsg::Partials { last, partials, .. }) => {
                    all_last &= last;
                    self.merge(partials).await;
                }
                _ => all_last = true, // a peer is gone: nothing more will come
            }
        }
        let (summary, mut out) = if save {
            (FlushSummary::default(), Flushed::new(ts, false))
        } else {
            self.flush_owned(ts).await
        };
        if self.id == 0 {
            let mut total = summary;
            for _ in 1..shards {
                if let Some(MeshMsg::Summary { summary, .. }) = self.next_msg(round, false).await {
                    total.num_stats += summary.num_stats;
                    total.calculation_ms += summary.calculation_ms;
                }
            }
            if !save {
                self.emit_globals(&total, started, &mut out);
            }
        } else {
            let _ = self.peers[0]
                .send(MeshMsg::Summary { round, summary })
                .await;
        }
        if !save {
            self.last_ts = Some(ts);
            self.deliver(out).await;
        }
        all_last
    }

    /// Emit every owned key with timestamp `ts`, in slices, yielding in between so the
    /// receive loops keep draining the sockets while a flush of a million names is
    /// computed.
    async fn flush_owned(&mut self, ts: i64) -> (FlushSummary, Flushed) {
        let mut out = Flushed::new(ts, self.points.is_some());
        let mut emit = |name: &[u8], value: f64| out.emit(name, value);
        self.state.borrow_mut().flushing = true;
        let mut cursor = FlushCursor::default();
        let summary = loop {
            let step = self
                .state
                .borrow_mut()
                .agg
                .flush_step(&mut cursor, SLICE, &mut emit);
            if let Some(summary) = step {
                break summary;
            }
            glommio::yield_if_needed().await;
        };
        self.state.borrow_mut().flushing = false;
        (summary, out)
    }

    /// Shard 0: etsy's process-wide statistics for this round.
    fn emit_globals(&self, total: &FlushSummary, started: Instant, out: &mut Flushed) {
        let ts = out.ts;
        let report: FlushReport = self.output.report();
        let g = Globals {
            num_stats: total.num_stats,
            calculation_ms: total.calculation_ms,
            processing_ms: started.elapsed().as_secs_f64() * 1000.0,
            timestamp_lag: self
                .last_ts
                .map(|prev| (ts - prev) as f64 - self.config.statsd.flush_interval.as_secs_f64()),
            last_exception: report.last_exception,
            last_flush: report.last_flush,
            flush_time_ms: report.flush_time_ms,
            flush_length: report.flush_length,
            forward_failures: report.failures,
            forward_dropped_points: report.dropped_points,
            forward_backlog_bytes: report.backlog_bytes,
        };
        emit_globals(&self.config.statsd, &g, &mut |name, value| {
            out.emit(name, value);
        });
    }

    /// Hand a flush's lines to the forwarder and its points to their owners' storage.
    async fn deliver(&mut self, out: Flushed) {
        self.output.send(out.lines);
        if let Some(router) = &self.points {
            for (name, value) in &out.points {
                if router.add(name, out.ts, *value) {
                    router.send_full().await;
                }
            }
            router.send_all().await;
        }
    }

    /// Take back the state the previous run saved (keys this shard owns under the current
    /// shard count). An interval whose boundary is not after `epoch` (the boundary before
    /// this run's first round) is flushed now under that boundary, as it would have been;
    /// one still ahead stays in the owned state and goes out with the next flush. Deciding
    /// by `epoch`, not by the clock, keeps the two apart when a start straddles a boundary.
    async fn restore(&mut self, saved: Vec<Snapshot>, epoch: Duration) {
        for snap in saved {
            let boundary = Duration::from_millis(snap.boundary_ms);
            let keys = snap.len();
            self.state.borrow_mut().agg.restore(snap);
            let passed = boundary <= epoch;
            let ts = crate::clock::flush_timestamp(boundary);
            tracing::info!(
                shard = self.id,
                keys,
                boundary = ts,
                "statsd: restored the interval saved at the last shutdown{}",
                if passed {
                    "; its boundary has passed, flushing it now"
                } else {
                    "; it goes out with the next flush"
                }
            );
            if passed {
                let (_, out) = self.flush_owned(ts).await;
                self.deliver(out).await;
            }
        }
    }

    /// Save everything this shard holds (at shutdown, after the last round) as the
    /// interval ending at `boundary`, for the next start.
    fn save(&mut self, boundary: Duration, interval: Duration) {
        let state = self.state.clone();
        let mut st = state.borrow_mut();
        // What arrived since the last round's counters were taken belongs to it too.
        self.report_self_metrics(&mut st);
        let snap = st.agg.snapshot(
            u64::try_from(boundary.as_millis()).unwrap_or(u64::MAX),
            u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
        );
        let keys = snap.len();
        match statefile::save(&self.config.data_dir, self.id, &snap) {
            Ok((path, bytes)) => tracing::info!(
                shard = self.id,
                keys,
                bytes,
                boundary = crate::clock::flush_timestamp(boundary),
                file = %path.display(),
                "statsd: saved the unfinished interval for the next start"
            ),
            Err(e) => tracing::error!(
                shard = self.id,
                keys,
                error = %e,
                dir = %self.config.data_dir.join(statefile::DIR).display(),
                "statsd: cannot save the unfinished interval; it is lost (check that the data directory is writable)"
            ),
        }
    }

    /// Merge a peer's (or our own) partials in slices, yielding in between.
    async fn merge(&self, mut partials: Partials) {
        while !self.state.borrow_mut().agg.merge_some(&mut partials, SLICE) {
            glommio::yield_if_needed().await;
        }
    }

    /// The next message of `round` (partials or summary), stashing ones for later rounds.
    async fn next_msg(&mut self, round: u64, partials: bool) -> Option<MeshMsg> {
        let wanted = |m: &MeshMsg| match m {
            MeshMsg::Partials { round: r, .. } => partials && *r == round,
            MeshMsg::Summary { round: r, .. } => !partials && *r == round,
        };
        if let Some(i) = self.stash.iter().position(wanted) {
            return self.stash.remove(i);
        }
        loop {
            let m = self.inbox.recv().await?;
            if wanted(&m) {
                return Some(m);
            }
            self.stash.push_back(m);
        }
    }

    /// Feed this interval's receive counters into the aggregator as etsy's internal
    /// counters plus lonsdaleite's own per-shard and per-reason counters.
    fn report_self_metrics(&mut self, st: &mut State) {
        let c = st.counters.clone();
        let r = &self.reported;
        let delta = |now: u64, before: u64| now.saturating_sub(before) as f64;
        st.agg
            .add_internal(Internal::PacketsReceived, delta(c.packets, r.packets));
        st.agg
            .add_internal(Internal::MetricsReceived, delta(c.lines, r.lines));
        st.agg
            .add_internal(Internal::BadLinesSeen, delta(c.bad_lines, r.bad_lines));
        let id = self.id;
        let ps = String::from_utf8_lossy(st.agg.stats_prefix()).into_owned();
        let mut counter = |name: String, v: f64| {
            if v > 0.0 {
                st.agg.ingest_self(&Sample {
                    key: format!("{ps}{name}").as_bytes(),
                    value: Value::Counter(v),
                });
            }
        };
        for (i, reason) in BadLine::ALL.iter().enumerate() {
            counter(
                format!("bad_lines.{}", reason.name()),
                delta(c.bad_by_reason[i], r.bad_by_reason[i]),
            );
        }
        counter(
            "dropped.series_overflow".into(),
            delta(c.series_overflow, r.series_overflow),
        );
        counter(
            "dropped.truncated_datagrams".into(),
            delta(c.truncated_datagrams, r.truncated_datagrams),
        );
        counter(
            "dropped.tcp_lines_too_long".into(),
            delta(c.tcp_lines_too_long, r.tcp_lines_too_long),
        );
        counter(format!("shard.{id}.lines"), delta(c.lines, r.lines));
        counter(
            format!("shard.{id}.batches_sent"),
            delta(c.batches_sent, r.batches_sent),
        );
        counter(
            format!("shard.{id}.udp_kernel_drops"),
            delta(c.kernel_drops, r.kernel_drops),
        );
        let series = st.agg.series() as f64;
        st.agg.ingest_self(&Sample {
            key: format!("{ps}shard.{id}.series").as_bytes(),
            value: Value::Gauge {
                value: series,
                delta: false,
            },
        });
        self.reported = c;
    }
}

/// Append one Graphite plaintext line `name value ts\n`, the value written as etsy writes it.
pub fn push_line(out: &mut Vec<u8>, name: &[u8], value: f64, ts: i64) {
    out.extend_from_slice(name);
    out.push(b' ');
    write_js_number(out, value);
    out.push(b' ');
    out.extend_from_slice(ts.to_string().as_bytes());
    out.push(b'\n');
}

/// Inode of a socket (to find its row in /proc/net/udp).
fn socket_inode(s: &std::net::UdpSocket) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd()))
        .ok()
        .map(|m| m.ino())
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

    #[test]
    fn plaintext_line() {
        let mut out = Vec::new();
        push_line(&mut out, b"stats.cnt", 6.0, 1_700_000_000);
        push_line(&mut out, b"stats.timers.a.std", 2.872_281_323_269_014_3, 1);
        assert_eq!(
            out,
            b"stats.cnt 6 1700000000\nstats.timers.a.std 2.8722813232690143 1\n"
        );
    }
}
