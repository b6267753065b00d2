//! Forwarding flushed points to a Graphite receiver (etsy's graphite backend, made durable).
//!
//! Shards hand each flush's plaintext lines to an [`Output`]; the [`Forwarder`] task on
//! the side thread keeps ONE persistent TCP connection to the target, reconnects with
//! exponential backoff (100 ms up to 10 s), and holds what could not be sent in a
//! backlog bounded in bytes. When the backlog is full the OLDEST chunks are dropped and
//! counted (points and bytes), so the newest data survives an outage. A failed write is
//! retried whole on the next connection (carbon overwrites a repeated point, so a
//! partial duplicate is harmless).
//!
//! Counted: flushes and bytes sent, failures (`last_exception`), points dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::config::{ForwardConfig, ForwardProtocol};

/// Shared results of the forwarder, read by shard 0 for etsy's graphiteStats and by the admin.
#[derive(Debug, Default)]
pub struct ForwardStats {
    /// Unix time of the last failure; 0 = never.
    pub last_exception: AtomicI64,
    /// Unix time of the last successful send; 0 = never.
    pub last_flush: AtomicI64,
    /// Milliseconds the last send took.
    pub flush_time_ms: AtomicU64,
    /// Bytes in the last send.
    pub flush_length: AtomicU64,
    /// Sends that failed (connect or write).
    pub failures: AtomicU64,
    /// Points dropped because the backlog was full.
    pub dropped_points: AtomicU64,
    /// Bytes waiting in the backlog.
    pub backlog_bytes: AtomicU64,
}

/// What shard 0 reports as `graphiteStats.*` (values of the previous flush, as etsy).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlushReport {
    pub last_exception: i64,
    pub last_flush: i64,
    pub flush_time_ms: f64,
    pub flush_length: u64,
    /// Sends that failed so far (each is retried).
    pub failures: u64,
    /// Points dropped so far because the backlog was full.
    pub dropped_points: u64,
    /// Bytes waiting to be sent.
    pub backlog_bytes: u64,
}

/// Where a shard sends each flush's lines. Cheap to clone; sends never block.
#[derive(Clone)]
pub struct Output {
    forward: Option<mpsc::UnboundedSender<Vec<u8>>>,
    stats: Arc<ForwardStats>,
    start: i64,
}

impl Output {
    /// An output that forwards through `tx` (or discards, when `None`).
    pub fn new(forward: Option<mpsc::UnboundedSender<Vec<u8>>>, stats: Arc<ForwardStats>) -> Self {
        Self {
            forward,
            stats,
            start: crate::clock::now().as_secs() as i64,
        }
    }

    /// Hand over one flush's plaintext lines.
    pub fn send(&self, lines: Vec<u8>) {
        if lines.is_empty() {
            return;
        }
        if let Some(tx) = &self.forward {
            let _ = tx.send(lines);
        }
    }

    /// The previous send's results. Before any send, `last_flush` is the start time (etsy).
    pub fn report(&self) -> FlushReport {
        let s = &self.stats;
        let last_flush = s.last_flush.load(Ordering::Relaxed);
        FlushReport {
            last_exception: s.last_exception.load(Ordering::Relaxed),
            last_flush: if last_flush == 0 {
                self.start
            } else {
                last_flush
            },
            flush_time_ms: s.flush_time_ms.load(Ordering::Relaxed) as f64,
            flush_length: s.flush_length.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            dropped_points: s.dropped_points.load(Ordering::Relaxed),
            backlog_bytes: s.backlog_bytes.load(Ordering::Relaxed),
        }
    }
}

/// The forwarding task: one connection, a bounded backlog.
pub struct Forwarder {
    cfg: ForwardConfig,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    stats: Arc<ForwardStats>,
    backlog: VecDeque<Vec<u8>>,
    backlog_bytes: usize,
    conn: Option<TcpStream>,
    backoff: Duration,
    retry_at: Option<Instant>,
    logged_at: Option<Instant>,
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl Forwarder {
    /// A forwarder for `cfg` reading chunks from `rx`.
    pub fn new(
        cfg: ForwardConfig,
        rx: mpsc::UnboundedReceiver<Vec<u8>>,
        stats: Arc<ForwardStats>,
    ) -> Self {
        Self {
            cfg,
            rx,
            stats,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            conn: None,
            backoff: MIN_BACKOFF,
            retry_at: None,
            logged_at: None,
        }
    }

    /// Run until every sender is gone, then try to deliver the backlog for up to `drain`.
    pub async fn run(mut self, drain: Duration) {
        loop {
            let wait = self
                .retry_at
                .map(|t| t.saturating_duration_since(Instant::now()));
            tokio::select! {
                chunk = self.rx.recv() => match chunk {
                    Some(c) => self.enqueue(c),
                    None => break,
                },
                () = sleep_opt(wait) => { self.retry_at = None; }
            }
            if self.retry_at.is_none() {
                self.send_backlog().await;
            }
        }
        let deadline = Instant::now() + drain;
        while !self.backlog.is_empty() && Instant::now() < deadline {
            if let Some(t) = self.retry_at.take() {
                tokio::time::sleep_until(t.min(deadline).into()).await;
            }
            self.send_backlog().await;
        }
        if !self.backlog.is_empty() {
            let points: usize = self.backlog.iter().map(|c| count_lines(c)).sum();
            self.stats
                .dropped_points
                .fetch_add(points as u64, Ordering::Relaxed);
            tracing::error!(points, target = %self.cfg.addr, "forward: target unreachable at shutdown; points not delivered");
        }
        if let Some(mut c) = self.conn.take() {
            let _ = c.shutdown().await;
        }
    }

    fn enqueue(&mut self, chunk: Vec<u8>) {
        self.backlog_bytes += chunk.len();
        self.backlog.push_back(chunk);
        while self.backlog_bytes > self.cfg.backlog_bytes && self.backlog.len() > 1 {
            if let Some(old) = self.backlog.pop_front() {
                self.backlog_bytes -= old.len();
                let points = count_lines(&old) as u64;
                self.stats
                    .dropped_points
                    .fetch_add(points, Ordering::Relaxed);
                tracing::warn!(points, "forward: backlog full, dropped the oldest points");
            }
        }
        self.stats
            .backlog_bytes
            .store(self.backlog_bytes as u64, Ordering::Relaxed);
    }

    async fn send_backlog(&mut self) {
        while let Some(chunk) = self.backlog.pop_front() {
            let started = Instant::now();
            let payload = match self.cfg.protocol {
                ForwardProtocol::Plaintext => None,
                ForwardProtocol::Pickle => Some(crate::protocol::pickle::from_plaintext(&chunk)),
            };
            let bytes = payload.as_deref().unwrap_or(&chunk);
            let result = match self.conn.as_mut() {
                Some(c) => c.write_all(bytes).await,
                None => match connect(&self.cfg.addr).await {
                    Ok(mut c) => {
                        let r = c.write_all(bytes).await;
                        self.conn = Some(c);
                        r
                    }
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(()) => {
                    self.backlog_bytes -= chunk.len();
                    let s = &self.stats;
                    s.last_flush
                        .store(crate::clock::now().as_secs() as i64, Ordering::Relaxed);
                    s.flush_time_ms
                        .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    s.flush_length.store(bytes.len() as u64, Ordering::Relaxed);
                    s.backlog_bytes
                        .store(self.backlog_bytes as u64, Ordering::Relaxed);
                    self.backoff = MIN_BACKOFF;
                }
                Err(e) => {
                    self.backlog.push_front(chunk);
                    self.conn = None;
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .last_exception
                        .store(crate::clock::now().as_secs() as i64, Ordering::Relaxed);
                    if self
                        .logged_at
                        .is_none_or(|t| t.elapsed() > Duration::from_secs(60))
                    {
                        self.logged_at = Some(Instant::now());
                        tracing::warn!(target = %self.cfg.addr, error = %e, backlog_bytes = self.backlog_bytes,
                            "forward: cannot send to graphite; keeping points and retrying");
                    }
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    return;
                }
            }
        }
    }
}

async fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let c = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    c.set_nodelay(true)?;
    Ok(c)
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

fn count_lines(chunk: &[u8]) -> usize {
    chunk.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn cfg(addr: String, backlog_bytes: usize) -> ForwardConfig {
        ForwardConfig {
            addr,
            protocol: ForwardProtocol::Plaintext,
            backlog_bytes,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn delivers_in_order_over_one_connection() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(ForwardStats::default());
        let task = tokio::spawn(
            Forwarder::new(cfg(addr, 1 << 20), rx, stats.clone()).run(Duration::from_secs(2)),
        );
        tx.send(b"a 1 10\n".to_vec()).unwrap();
        tx.send(b"b 2 10\n".to_vec()).unwrap();
        let (mut sock, _) = l.accept().await.unwrap();
        drop(tx);
        task.await.unwrap();
        let mut got = String::new();
        sock.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "a 1 10\nb 2 10\n");
        assert_eq!(stats.failures.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn outage_keeps_newest_within_budget_and_retries() {
        // Reserve a port, then close it so the first connects fail.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(ForwardStats::default());
        let task = tokio::spawn(
            Forwarder::new(cfg(addr.clone(), 16), rx, stats.clone()).run(Duration::from_secs(5)),
        );
        tx.send(b"old 1 10\n".to_vec()).unwrap();
        tx.send(b"mid 2 10\n".to_vec()).unwrap();
        tx.send(b"new 3 10\n".to_vec()).unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(stats.failures.load(Ordering::Relaxed) >= 1);
        let l = tokio::net::TcpListener::bind(&addr).await.unwrap();
        drop(tx);
        let (mut sock, _) = l.accept().await.unwrap();
        task.await.unwrap();
        let mut got = String::new();
        sock.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "new 3 10\n", "only the newest chunk fits in 16 bytes");
        assert_eq!(stats.dropped_points.load(Ordering::Relaxed), 2);
    }
}
