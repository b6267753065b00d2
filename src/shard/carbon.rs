//! A shard's carbon receivers: plaintext lines over TCP and UDP, pickle over TCP.
//!
//! Every point is routed by [`PointRouter`] to the shard that owns its series (straight
//! into this shard's cache when it is the owner). Malformed lines are dropped and
//! counted; the connection is kept. A TCP reader pauses while this shard's cache is
//! nearly full, and waits when a peer's channel is full, so a fast sender is slowed down
//! rather than its points dropped; UDP cannot be slowed, and what the kernel drops there
//! is counted by the kernel.

use std::os::fd::{FromRawFd as _, IntoRawFd as _};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::Task;

use super::balance::{self, Handoff};
use crate::config::Config;

use crate::protocol::carbon::{datagram_lines, parse_line, MAX_LINE};
use crate::protocol::framing::LineFramer;
use crate::protocol::tagged::normalize;
use crate::protocol::unpickle::{decode, split_frame, Limits, PickleError};
use crate::storage::intake::PointRouter;
use crate::storage::stats::{bump, total, StatField, StoreStats};

/// Start the carbon receivers on the shard's sockets (plaintext TCP and UDP, pickle TCP),
/// the batch ticker, and on shard 0 carbon's self-metrics; they run until dropped.
#[expect(
    clippy::too_many_arguments,
    reason = "the sockets and hand-off ends the server bound for this shard"
)]
pub fn spawn_receivers(
    id: usize,
    config: &Config,
    tcp: Option<std::net::TcpListener>,
    udp: Option<std::net::UdpSocket>,
    pickle: Option<std::net::TcpListener>,
    tcp_handoff: Handoff,
    pickle_handoff: Handoff,
    points: &Rc<PointRouter>,
    all_stats: &[Arc<StoreStats>],
) -> Vec<Task<()>> {
    let mut tasks = Vec::new();
    if let Some(l) = tcp {
        // SAFETY: ownership of the listening fd moves to glommio (into_raw_fd).
        let l = unsafe { glommio::net::TcpListener::from_raw_fd(l.into_raw_fd()) };
        let points = points.clone();
        tasks.push(glommio::spawn_local(balance::accept_loop(
            l,
            "carbon tcp",
            id,
            all_stats.to_vec(),
            tcp_handoff,
            move |s| tcp_conn(s, points.clone()),
        )));
    }
    if let Some(u) = udp {
        // SAFETY: ownership of the socket fd moves to glommio (into_raw_fd).
        let u = unsafe { glommio::net::UdpSocket::from_raw_fd(u.into_raw_fd()) };
        tasks.push(glommio::spawn_local(udp_loop(u, points.clone())));
    }
    let limits = Limits {
        max_message: config.carbon.pickle_max_message,
        max_expansion: config.carbon.pickle_max_expansion,
        ..Limits::default()
    };
    if let Some(l) = pickle {
        // SAFETY: ownership of the listening fd moves to glommio (into_raw_fd).
        let l = unsafe { glommio::net::TcpListener::from_raw_fd(l.into_raw_fd()) };
        let points = points.clone();
        tasks.push(glommio::spawn_local(balance::accept_loop(
            l,
            "carbon pickle",
            id,
            all_stats.to_vec(),
            pickle_handoff,
            move |s| pickle_conn(s, points.clone(), limits),
        )));
    }
    tasks.push(glommio::spawn_local(batch_ticker(points.clone())));
    if id == 0 {
        tasks.push(glommio::spawn_local(self_metrics(
            points.clone(),
            all_stats.to_vec(),
            agent_host(&config.carbon.hostname),
            config.carbon.metric_interval,
        )));
    }
    tasks
}

fn now_secs() -> i64 {
    crate::clock::now().as_secs() as i64
}

/// Route one parsed point; true when a peer batch is full.
fn accept_line(
    points: &PointRouter,
    line: &[u8],
    now: i64,
    received: &mut u64,
    bad: &mut u64,
) -> bool {
    if let Ok(p) = parse_line(line, now) {
        *received += 1;
        add_point(points, &p.name, p.timestamp, p.value)
    } else {
        *bad += 1;
        false
    }
}

/// Route a point under carbon's normal form of its name (tags sorted, so tag order
/// never splits a series); a name whose tags are invalid is kept as sent, as carbon does.
fn add_point(points: &PointRouter, name: &[u8], ts: i64, value: f64) -> bool {
    match normalize(name) {
        Ok(normal) => points.add_received(&normal, ts, value),
        Err(e) => {
            tracing::debug!(error = %e, name = %String::from_utf8_lossy(name), "carbon: invalid tags, name kept as sent");
            points.add_received(name, ts, value)
        }
    }
}

/// Count what a read gave. With a journal, a point counts as received once its owner has
/// journaled it (the owner counts it then), not here.
fn count(points: &PointRouter, received: u64, bad: u64) {
    let stats = &points.store().stats;
    if !points.store().journaled() {
        bump(&stats.metrics_received, received);
    }
    bump(&stats.bad_lines, bad);
}

/// Frame `data` (one read of a plaintext stream) into lines and route every point; count
/// the received and bad lines. Returns true when some peer's batch is full (then call
/// [`PointRouter::send_full`]).
pub fn receive(points: &PointRouter, framer: &mut LineFramer, data: &[u8], now: i64) -> bool {
    let (mut received, mut bad, mut full) = (0, 0, false);
    let before = framer.too_long;
    framer.push(data, |line| {
        full |= accept_line(points, line, now, &mut received, &mut bad);
    });
    bad += framer.too_long - before;
    count(points, received, bad);
    full
}

/// One plaintext TCP connection (accepted by [`balance::accept_loop`]).
pub async fn tcp_conn(mut stream: glommio::net::TcpStream, points: Rc<PointRouter>) {
    let mut framer = LineFramer::new(MAX_LINE);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        wait_while_cache_is_full(&points).await;
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let full = receive(&points, &mut framer, &buf[..n], now_secs());
        if full {
            points.send_full().await;
        }
    }
    let (mut received, mut bad) = (0, 0);
    let now = now_secs();
    framer.finish(|line| {
        accept_line(&points, line, now, &mut received, &mut bad);
    });
    count(&points, received, bad);
}

/// Receive plaintext datagrams.
pub async fn udp_loop(sock: glommio::net::UdpSocket, points: Rc<PointRouter>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = match sock.recv_from(&mut buf).await {
            Ok((n, _)) => n,
            Err(e) => {
                tracing::warn!(error = %e, "carbon udp: receive failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (mut received, mut bad, mut full) = (0, 0, false);
        let now = now_secs();
        for line in datagram_lines(&buf[..n]) {
            full |= accept_line(&points, line, now, &mut received, &mut bad);
        }
        count(&points, received, bad);
        if full {
            points.send_full().await;
        }
    }
}

/// Send partially filled peer batches regularly, so a slow trickle of points is not held.
pub async fn batch_ticker(points: Rc<PointRouter>) {
    loop {
        glommio::timer::sleep(Duration::from_millis(100)).await;
        points.send_all().await;
    }
}

/// carbon's self-metrics, every `interval` (aligned), from every shard's counters:
/// `carbon.agents.<host>.{metricsReceived, committedPoints, updateOperations,
/// pointsPerUpdate, avgUpdateTime, creates, errors, cache.size, cache.queues,
/// cache.overflow}`, stored like any other series. Run on shard 0 only.
pub async fn self_metrics(
    points: Rc<PointRouter>,
    all: Vec<Arc<StoreStats>>,
    host: String,
    interval: Duration,
) {
    let mut last = [0u64; 7];
    loop {
        let now = crate::clock::now();
        let due = crate::clock::next_boundary(now, interval);
        glommio::timer::sleep(due.saturating_sub(now)).await;
        let ts = due.as_secs() as i64;
        let sum = |f: StatField| total(&all, f);
        let totals = [
            sum(|s| &s.metrics_received),
            sum(|s| &s.committed_points),
            sum(|s| &s.update_operations),
            sum(|s| &s.update_micros),
            sum(|s| &s.creates),
            sum(|s| &s.errors),
            sum(|s| &s.cache_overflow),
        ];
        let d: Vec<f64> = totals
            .iter()
            .zip(last)
            .map(|(t, l)| t.saturating_sub(l) as f64)
            .collect();
        last = totals;
        let (received, committed, updates, micros, creates, errors, overflow) =
            (d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
        let mut out = vec![
            ("metricsReceived", received),
            ("committedPoints", committed),
            ("updateOperations", updates),
            ("creates", creates),
            ("errors", errors),
            ("cache.size", sum(|s| &s.cache_size) as f64),
            ("cache.queues", sum(|s| &s.cache_queues) as f64),
            ("cache.overflow", overflow),
        ];
        if updates > 0.0 {
            out.push(("pointsPerUpdate", committed / updates));
            out.push(("avgUpdateTime", micros / 1e6 / updates));
        }
        let mut full = false;
        for (name, v) in out {
            let key = format!("carbon.agents.{host}.{name}");
            full |= points.add(key.as_bytes(), ts, v);
        }
        if full {
            points.send_full().await;
        }
        points.send_all().await;
    }
}

/// The host name carbon would use in `carbon.agents.<host>`: dots become underscores.
pub fn agent_host(configured: &str) -> String {
    let raw = if configured.is_empty() {
        crate::sys::hostname()
    } else {
        configured.to_owned()
    };
    raw.replace('.', "_")
}

/// One pickle connection (accepted by [`balance::accept_loop`]): length-prefixed
/// messages. A message that is not a valid pickle of the accepted subset is dropped whole
/// and counted; an oversized one closes the connection, as carbon does.
pub async fn pickle_conn(
    mut stream: glommio::net::TcpStream,
    points: Rc<PointRouter>,
    limits: Limits,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        wait_while_cache_is_full(&points).await;
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let tally = receive_messages(&points, &mut buf, &limits);
        count(&points, tally.received, tally.bad);
        if tally.full {
            points.send_full().await;
        }
        if tally.close {
            return;
        }
    }
}

/// What a read of a pickle connection gave.
#[derive(Default)]
struct Tally {
    received: u64,
    bad: u64,
    /// Some peer's batch is full.
    full: bool,
    /// The connection must be closed (a frame over the size limit).
    close: bool,
}

/// Route the points of every whole message at the front of `buf`, and remove those
/// messages from it.
fn receive_messages(points: &PointRouter, buf: &mut Vec<u8>, limits: &Limits) -> Tally {
    let mut tally = Tally::default();
    let mut used = 0;
    loop {
        let refused = match split_frame(&buf[used..], limits.max_message) {
            Ok(Some((body, consumed))) => {
                used += consumed;
                receive_message(points, body, limits, &mut tally).err()
            }
            Ok(None) => break,
            Err(e) => Some(e),
        };
        if let Some(e) = refused {
            tally.bad += 1;
            count_refusal(points, &e);
            if e.closes_connection() {
                tracing::warn!(error = %e, "carbon pickle: message refused, closing the connection");
                tally.close = true;
                break;
            }
            tracing::debug!(error = %e, "carbon pickle: message rejected");
        }
    }
    buf.drain(..used);
    tally
}

/// Route the points of one message (an element that gives no point counts as one bad
/// line); a message that does not decode is returned for the caller to count.
fn receive_message(
    points: &PointRouter,
    body: &[u8],
    limits: &Limits,
    tally: &mut Tally,
) -> Result<(), PickleError> {
    for item in decode(body, now_secs(), limits)? {
        match item {
            Ok(p) => {
                tally.received += 1;
                tally.full |= add_point(points, &p.name, p.timestamp, p.value);
            }
            Err(_) => tally.bad += 1,
        }
    }
    Ok(())
}

/// Count a refused message under its reason (`carbon.pickle.<reason>` in admin stats).
fn count_refusal(points: &PointRouter, e: &PickleError) {
    if let Some(i) = PickleError::NAMES.iter().position(|n| *n == e.name()) {
        bump(&points.store().stats.pickle_refused[i], 1);
    }
}

/// A TCP reader stops reading while this shard's cache is nearly full, so the sender is
/// slowed down rather than its points dropped.
async fn wait_while_cache_is_full(points: &PointRouter) {
    while points.store().should_pause() {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
}
