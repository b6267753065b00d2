//! Wiring: binds the listeners, starts one pinned glommio executor per shard and the
//! side thread (tokio: admin interface, forwarder, signals), and runs the shutdown path.
//!
//! Shutdown order (SIGTERM or SIGINT): the flag is set; every shard runs its final
//! flush rounds (see `shard`) and exits; the forwarder, whose senders the shards held,
//! then delivers its backlog (up to 10 s) and the process exits 0.

pub mod admin;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::route::forward::{ForwardStats, Forwarder, Output};
use crate::server::admin::AdminState;
use crate::shard::shutdown::Shutdown;
use crate::shard::{ShardParams, ShardSockets};
use crate::storage::rules::StorageRules;
use crate::storage::stats::StoreStats;

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

/// Bound sockets, ready to hand to the shards and the side thread.
pub struct Listeners {
    pub statsd_udp: Vec<std::net::UdpSocket>,
    pub statsd_tcp: Vec<std::net::TcpListener>,
    /// Path of the StatsD unix datagram socket, checked bindable; shard 0 binds it.
    pub statsd_unix: Option<std::path::PathBuf>,
    pub admin: std::net::TcpListener,
    /// Carbon plaintext: one TCP listener and one UDP socket per shard (reuse-port).
    pub carbon_tcp: Vec<std::net::TcpListener>,
    pub carbon_udp: Vec<std::net::UdpSocket>,
    /// Carbon pickle: one TCP listener per shard.
    pub pickle_tcp: Vec<std::net::TcpListener>,
    /// The Graphite HTTP API (query thread), unless off.
    pub http: Option<std::net::TcpListener>,
}

impl Listeners {
    /// The `listening <name> <proto> <addr>` lines, one per listener.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(a) = self.statsd_udp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening statsd udp {a}"));
        }
        if let Some(a) = self.statsd_tcp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening statsd tcp {a}"));
        }
        if let Some(p) = &self.statsd_unix {
            out.push(format!("listening statsd unix {}", p.display()));
        }
        if let Some(a) = self.carbon_tcp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening carbon tcp {a}"));
        }
        if let Some(a) = self.carbon_udp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening carbon udp {a}"));
        }
        if let Some(a) = self.pickle_tcp.first().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening pickle tcp {a}"));
        }
        if let Some(a) = self.http.as_ref().and_then(|s| s.local_addr().ok()) {
            out.push(format!("listening http tcp {a}"));
        }
        // Last, so a script may stop reading at the admin line.
        if let Ok(a) = self.admin.local_addr() {
            out.push(format!("listening admin tcp {a}"));
        }
        out
    }
}

fn reuseport_socket(addr: SocketAddr, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(false).ok();
    }
    Ok(s)
}

/// Ask for a receive queue of `bytes` so a shard busy for a moment (a flush) loses no
/// datagram. The kernel caps `SO_RCVBUF` at `net.core.rmem_max`; as root `SO_RCVBUFFORCE`
/// passes the cap. A smaller grant is logged with the fix.
fn deep_receive_buffer(sk: &Socket, bytes: usize, what: &str) {
    let _ = sk.set_recv_buffer_size(bytes);
    // The kernel reports twice the usable size (it counts its bookkeeping).
    let granted = sk.recv_buffer_size().unwrap_or(0) / 2;
    if granted >= bytes {
        return;
    }
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid pointer to a local
    // c_int, on a descriptor `sk` owns for the whole call.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(sk),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::from_ref(&want).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let granted = sk.recv_buffer_size().unwrap_or(0) / 2;
    if rc != 0 || granted < bytes {
        tracing::warn!(
            what,
            wanted = bytes,
            granted,
            "UDP receive buffer capped by net.core.rmem_max: bursts (e.g. during a flush) may be dropped; \
             install tuning/sysctl.d/60-lonsdaleite.conf or run as root"
        );
    }
}

/// Bind every listener of `cfg` for `shards` shards. Port 0 picks one free port, shared by all shards.
pub fn bind(cfg: &Config, shards: usize) -> Result<Listeners, ServerError> {
    let s = &cfg.statsd;
    let bind_err = |what, addr: SocketAddr, flag| {
        move |source| ServerError::Bind {
            what,
            addr: addr.to_string(),
            flag,
            source,
        }
    };
    let (statsd_udp, statsd_tcp) = bind_pair(s.addr, shards, true, s.tcp, s.recv_buffer, &STATSD)
        .map_err(|(what, source)| ServerError::Bind {
        what,
        addr: s.addr.to_string(),
        flag: "--statsd-addr",
        source,
    })?;
    let statsd_unix = if s.unix_socket.is_empty() {
        None
    } else {
        let _ = std::fs::remove_file(&s.unix_socket);
        drop(
            std::os::unix::net::UnixDatagram::bind(&s.unix_socket).map_err(|source| {
                ServerError::Bind {
                    what: "statsd unix socket",
                    addr: s.unix_socket.clone(),
                    flag: "statsd.unix_socket in the config",
                    source,
                }
            })?,
        );
        Some(std::path::PathBuf::from(&s.unix_socket))
    };
    let admin = std::net::TcpListener::bind(cfg.admin.addr).map_err(bind_err(
        "admin",
        cfg.admin.addr,
        "--admin-addr",
    ))?;
    let (mut carbon_tcp, mut carbon_udp) = (Vec::new(), Vec::new());
    if let Ok(addr) = cfg.carbon.addr.parse::<SocketAddr>() {
        (carbon_udp, carbon_tcp) = bind_pair(
            addr,
            shards,
            cfg.carbon.udp,
            true,
            cfg.statsd.recv_buffer,
            &CARBON,
        )
        .map_err(|(what, source)| ServerError::Bind {
            what,
            addr: addr.to_string(),
            flag: "--carbon-addr",
            source,
        })?;
    }
    let mut pickle_tcp = Vec::new();
    if let Ok(mut addr) = cfg.carbon.pickle_addr.parse::<SocketAddr>() {
        pickle_tcp = tcp_listeners(&mut addr, shards).map_err(bind_err(
            "pickle tcp",
            addr,
            "--pickle-addr",
        ))?;
    }
    let http = match cfg.http.addr.parse::<SocketAddr>() {
        Ok(addr) => Some(std::net::TcpListener::bind(addr).map_err(bind_err(
            "http",
            addr,
            "--http-addr",
        ))?),
        Err(_) => None,
    };
    Ok(Listeners {
        statsd_udp,
        statsd_tcp,
        statsd_unix,
        admin,
        carbon_tcp,
        carbon_udp,
        pickle_tcp,
        http,
    })
}

type UdpTcp = (Vec<std::net::UdpSocket>, Vec<std::net::TcpListener>);

/// How a service's sockets are named in logs and bind errors.
struct Labels {
    name: &'static str,
    udp: &'static str,
    tcp: &'static str,
}

const STATSD: Labels = Labels {
    name: "statsd",
    udp: "statsd udp",
    tcp: "statsd tcp",
};

const CARBON: Labels = Labels {
    name: "carbon",
    udp: "carbon udp",
    tcp: "carbon tcp",
};

/// One UDP socket and/or one TCP listener per shard, all on one port number (reuse-port).
///
/// With port 0 the kernel picks a port free for UDP (or for TCP when there is no UDP),
/// but the other protocol's port of that number may be taken, possibly by another
/// reuse-port listener we would then share it with. So a plain probe socket checks the
/// number first, and a taken number is given back and another one tried.
/// On error, returns which socket (`labels.udp` or `labels.tcp`) failed.
fn bind_pair(
    addr: SocketAddr,
    shards: usize,
    udp: bool,
    tcp: bool,
    recv_buffer: usize,
    labels: &Labels,
) -> Result<UdpTcp, (&'static str, std::io::Error)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut at = addr;
        let mut udps = Vec::with_capacity(shards);
        if udp {
            for _ in 0..shards {
                let sock = (|| {
                    let sk = reuseport_socket(at, Type::DGRAM, Protocol::UDP)?;
                    deep_receive_buffer(&sk, recv_buffer, labels.name);
                    sk.bind(&at.into())?;
                    sk.set_nonblocking(true)?;
                    Ok(std::net::UdpSocket::from(sk))
                })()
                .map_err(|e| (labels.udp, e))?;
                at = sock.local_addr().map_err(|e| (labels.udp, e))?;
                udps.push(sock);
            }
        }
        if !tcp {
            return Ok((udps, Vec::new()));
        }
        let retry = addr.port() == 0 && udp && attempt < 64;
        if retry {
            // Held only for this check; the reuse-port listeners bind right after.
            match std::net::TcpListener::bind(at) {
                Ok(probe) => drop(probe),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err((labels.tcp, e)),
            }
        }
        match tcp_listeners(&mut at, shards) {
            Ok(tcps) => return Ok((udps, tcps)),
            Err(e) if retry && e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err((labels.tcp, e)),
        }
    }
}

/// One reuse-port TCP listener per shard on `addr`; port 0 becomes the port of the first.
fn tcp_listeners(
    addr: &mut SocketAddr,
    shards: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(shards);
    for _ in 0..shards {
        let sk = reuseport_socket(*addr, Type::STREAM, Protocol::TCP)?;
        sk.bind(&(*addr).into())?;
        sk.listen(1024)?;
        let l = std::net::TcpListener::from(sk);
        *addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// CPUs this process may run on (for pinning shards).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it through a valid pointer
    // of the size we pass.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
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
pub fn run(cfg: Config, listeners: Listeners, shutdown: &Arc<Shutdown>) -> Result<(), ServerError> {
    let cfg = Arc::new(cfg);
    let shards = listeners.statsd_udp.len();
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| ServerError::DataDir {
        path: cfg.data_dir.display().to_string(),
        source,
    })?;

    let forward_stats = Arc::new(ForwardStats::default());
    let (fwd_tx, fwd_rx) = if cfg.forward.addr.is_empty() {
        (None, None)
    } else {
        let (tx, rx) = mpsc::unbounded_channel();
        (Some(tx), Some(rx))
    };
    let output = Output::new(fwd_tx, forward_stats.clone());

    let mut inbox_tx = Vec::with_capacity(shards);
    let mut inbox_rx = Vec::with_capacity(shards);
    let mut control_tx = Vec::with_capacity(shards);
    let mut control_rx = Vec::with_capacity(shards);
    let mut point_tx = Vec::with_capacity(shards);
    let mut point_rx = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (t, r) = mpsc::channel(4 * shards.max(4));
        point_tx.push(t);
        point_rx.push(r);
        let (t, r) = mpsc::channel(4 * shards.max(4));
        inbox_tx.push(t);
        inbox_rx.push(r);
        let (t, r) = mpsc::channel(64);
        control_tx.push(t);
        control_rx.push(r);
    }

    let interval = cfg.statsd.flush_interval;
    let epoch = crate::clock::next_boundary(crate::clock::now(), interval).saturating_sub(interval);
    let cpus = allowed_cpus();
    let mut udp = listeners.statsd_udp.into_iter();
    let mut tcp = listeners.statsd_tcp.into_iter();
    let mut unix = listeners.statsd_unix;
    let mut carbon_tcp = listeners.carbon_tcp.into_iter();
    let mut carbon_udp = listeners.carbon_udp.into_iter();
    let mut pickle_tcp = listeners.pickle_tcp.into_iter();
    let mut handles = Vec::with_capacity(shards);
    let storage = storage_rules(&cfg)?;
    let store_stats: Vec<Arc<StoreStats>> = (0..shards).map(|_| Arc::default()).collect();
    let mut point_rx = point_rx.into_iter();
    let mut carbon_handoff = crate::shard::balance::mesh(shards).into_iter();
    let mut pickle_handoff = crate::shard::balance::mesh(shards).into_iter();
    let (name_feed, name_rx) = if listeners.http.is_some() {
        let (feed, rx) = crate::storage::index::NameFeed::new();
        (Some(feed), Some(rx))
    } else {
        (None, None)
    };
    // The StatsD state the previous run saved, each key handed to its owner under this
    // run's shard count; the shards take it back before they receive anything.
    let key_router = crate::route::Router::new(shards);
    let mut saved = crate::shard::statefile::load(&cfg.data_dir, shards, |k| key_router.owner(k));
    if saved.keys > 0 {
        tracing::info!(
            keys = saved.keys,
            "statsd: restoring the state saved at the last shutdown"
        );
    }
    let mut restored = std::mem::take(&mut saved.per_shard).into_iter();
    for (id, (inbox, control)) in inbox_rx.into_iter().zip(control_rx).enumerate() {
        let params = ShardParams {
            id,
            config: cfg.clone(),
            sockets: ShardSockets {
                udp: udp.next().expect("one udp socket per shard"),
                tcp: tcp.next(),
                unix: if id == 0 { unix.take() } else { None },
                carbon_tcp: carbon_tcp.next(),
                carbon_udp: carbon_udp.next(),
                pickle_tcp: pickle_tcp.next(),
            },
            peers: inbox_tx.clone(),
            inbox,
            control,
            output: output.clone(),
            shutdown: shutdown.clone(),
            epoch,
            storage: storage.clone(),
            point_peers: point_tx.clone(),
            point_inbox: point_rx.next().expect("one point inbox per shard"),
            store_stats: store_stats.clone(),
            names: name_feed.clone(),
            carbon_handoff: carbon_handoff.next(),
            pickle_handoff: pickle_handoff.next(),
            restored: restored.next().unwrap_or_default(),
        };
        let placement = if cpus.is_empty() {
            glommio::Placement::Unbound
        } else {
            glommio::Placement::Fixed(cpus[id % cpus.len()])
        };
        let h = glommio::LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(cfg.shard_io_memory)
            .spawn(move || crate::shard::run(params))
            .map_err(|e| ServerError::Shard {
                shard: id,
                message: e.to_string(),
            })?;
        handles.push(h);
    }
    drop(inbox_tx);
    drop(point_tx);
    drop(output);
    // Every shard holds its part of the saved state now and saves it again at shutdown.
    saved.consume();

    let admin = AdminState {
        shards: control_tx,
        config: cfg.clone(),
        forward: forward_stats.clone(),
        healthy: AtomicBool::new(true),
        started: crate::clock::now().as_secs(),
        storage: if storage.is_some() {
            store_stats.clone()
        } else {
            Vec::new()
        },
        index: Arc::default(),
    };
    // The names already on disk, scanned off the shards so ingest never waits for it.
    {
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
                    seconds = report.elapsed.as_secs_f64(),
                    "indexed the whisper files on disk"
                );
                if let Ok(mut s) = slot.lock() {
                    *s = Some((index, report));
                }
            });
    }
    let http = match (listeners.http, name_rx) {
        (Some(listener), Some(rx)) => Some(
            crate::http::spawn(
                listener,
                crate::http::Setup {
                    config: cfg.clone(),
                    shards: admin.shards.clone(),
                    rules: storage.clone(),
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
    let side = side_thread(
        listeners.admin,
        admin,
        cfg.clone(),
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
    result
}

fn side_thread(
    admin_listener: std::net::TcpListener,
    admin: AdminState,
    cfg: Arc<Config>,
    fwd_rx: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    forward_stats: Arc<ForwardStats>,
    shutdown: Arc<Shutdown>,
) -> Result<std::thread::JoinHandle<()>, ServerError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Side)?;
    // Register signal handlers before any listener is announced, so an early SIGTERM is caught.
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _guard = rt.enter();
        (
            signal(SignalKind::terminate()).map_err(ServerError::Side)?,
            signal(SignalKind::interrupt()).map_err(ServerError::Side)?,
        )
    };
    admin_listener
        .set_nonblocking(true)
        .map_err(ServerError::Side)?;
    std::thread::Builder::new()
        .name("side".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(admin_listener) else {
                    tracing::error!("admin: cannot use the bound listener");
                    shutdown.trigger();
                    return;
                };
                let admin_task =
                    tokio::spawn(crate::server::admin::serve(listener, Arc::new(admin)));
                let fwd_task = fwd_rx.map(|rx| {
                    tokio::spawn(
                        Forwarder::new(cfg.forward.clone(), rx, forward_stats)
                            .run(Duration::from_secs(10)),
                    )
                });
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM: flushing and stopping"),
                        _ = int.recv() => tracing::info!("SIGINT: flushing and stopping"),
                    }
                    stop.trigger();
                });
                while !shutdown.is_set() {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                if let Some(t) = fwd_task {
                    let _ = t.await;
                }
                admin_task.abort();
            });
        })
        .map_err(ServerError::Side)
}

/// Route glommio's `log` records and our `tracing` events to stderr.
pub fn init_logging() {
    let _ = tracing_log::LogTracer::init();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `lonsdaleite serve`: config → preflight → bind → announce → run → exit code.
pub fn main(args: &crate::cli::ServeArgs) -> ExitCode {
    init_logging();
    let cfg = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lonsdaleite: {e}");
            return ExitCode::from(2);
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
    match run(cfg, listeners, &shutdown) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lonsdaleite: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_never_shares_a_tcp_number_another_listener_holds() {
        // Reuse-port TCP listeners of this process (same uid, so the kernel would let a
        // reuse-port bind join them) on kernel-chosen numbers with nothing on UDP.
        let held: Vec<std::net::TcpListener> = (0..500)
            .map(|_| {
                let sk =
                    reuseport_socket("127.0.0.1:0".parse().unwrap(), Type::STREAM, Protocol::TCP)
                        .unwrap();
                sk.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
                    .unwrap();
                sk.listen(8).unwrap();
                sk.into()
            })
            .collect();
        let taken: std::collections::HashSet<u16> = held
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        // Each round's UDP number falls on a held one with odds of about 500 in 28,000.
        for _ in 0..200 {
            let (udp, tcp) = bind_pair(
                "127.0.0.1:0".parse().unwrap(),
                2,
                true,
                true,
                1 << 16,
                &STATSD,
            )
            .unwrap();
            assert_eq!((udp.len(), tcp.len()), (2, 2));
            let port = udp[0].local_addr().unwrap().port();
            assert!(!taken.contains(&port), "shared TCP port {port}");
            for p in udp.iter().map(|s| s.local_addr().unwrap().port()) {
                assert_eq!(p, port);
            }
            for p in tcp.iter().map(|l| l.local_addr().unwrap().port()) {
                assert_eq!(p, port);
            }
        }
    }
}
