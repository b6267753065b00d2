//! Sender threads: each owns one socket (its own source port) and cycles through the shared
//! pool from its own offset.
//!
//! Contract: everything a thread needs (socket, `mmsghdr`s, cumulative line and byte tables)
//! is built before the start barrier; after it, the loop only paces, sends and counts. A
//! `--count` run attempts exactly `count` lines in total (the last packet of a thread is cut
//! to a line boundary when needed); a failed send counts one error per packet and skips it, so
//! a run always ends. Counters are published with relaxed stores by their one writer thread,
//! once per send call, for the progress reporter.

use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::net::SendBatch;
use crate::payload::{Pool, Protocol};

/// Why sending could not start or a sender failed.
#[derive(Debug, Error)]
pub enum SendError {
    #[error("cannot open a {protocol} socket to {target}: {source}")]
    Connect {
        protocol: &'static str,
        target: SocketAddr,
        source: io::Error,
    },
    #[error("cannot start sender thread {thread}: {source}")]
    Spawn { thread: usize, source: io::Error },
    #[error("sender thread {0} panicked")]
    Panicked(usize),
}

/// How to send.
#[derive(Debug, Clone)]
pub struct SendPlan {
    pub target: SocketAddr,
    pub protocol: Protocol,
    /// Sender threads, each with its own socket.
    pub threads: usize,
    /// Lines per second over all threads; 0 = as fast as possible.
    pub rate: f64,
    /// Lines to attempt over all threads.
    pub count: Option<u64>,
    /// Time limit.
    pub duration: Option<Duration>,
    /// Packets per system call: datagrams per `sendmmsg` (1 = plain `send`), or packets per
    /// TCP write.
    pub batch: usize,
    /// UDP sockets (source ports) per thread, used in turn, one send call each; more flows
    /// spread the load over a server's `SO_REUSEPORT` sockets, which the kernel picks by a hash
    /// of the addresses and ports.
    pub sockets: usize,
}

/// What was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Lines the kernel accepted.
    pub lines: u64,
    /// Datagrams (UDP) or packets written (TCP) the kernel accepted.
    pub datagrams: u64,
    pub bytes: u64,
    /// Failed send calls (each skips one packet).
    pub errors: u64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.lines += o.lines;
        self.datagrams += o.datagrams;
        self.bytes += o.bytes;
        self.errors += o.errors;
    }
}

/// One thread's counters, on their own cache line; written only by that thread.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Shared {
    lines: AtomicU64,
    datagrams: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    done: AtomicBool,
}

impl Shared {
    fn publish(&self, t: &Totals) {
        self.lines.store(t.lines, Ordering::Relaxed);
        self.datagrams.store(t.datagrams, Ordering::Relaxed);
        self.bytes.store(t.bytes, Ordering::Relaxed);
        self.errors.store(t.errors, Ordering::Relaxed);
    }

    fn read(&self) -> Totals {
        Totals {
            lines: self.lines.load(Ordering::Relaxed),
            datagrams: self.datagrams.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// A run in progress.
pub struct Sending {
    handles: Vec<JoinHandle<Instant>>,
    shared: Arc<Vec<Shared>>,
    start: Instant,
}

impl Sending {
    /// The clock's start (all threads passed the barrier).
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Totals so far.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in self.shared.iter() {
            t.add(&s.read());
        }
        t
    }

    /// Whether every thread has stopped.
    pub fn is_finished(&self) -> bool {
        self.shared.iter().all(|s| s.done.load(Ordering::Acquire))
    }

    /// Waits for the threads; returns the totals and the time from start to the last stop.
    pub fn join(self) -> Result<(Totals, Duration), SendError> {
        let mut last = self.start;
        for (i, h) in self.handles.into_iter().enumerate() {
            let end = h.join().map_err(|_| SendError::Panicked(i))?;
            last = last.max(end);
        }
        let mut t = Totals::default();
        for s in self.shared.iter() {
            t.add(&s.read());
        }
        Ok((t, last - self.start))
    }
}

enum Socket {
    /// One or more connected sockets, each with its own source port.
    Udp(Vec<UdpSocket>),
    Tcp(TcpStream),
}

fn open(plan: &SendPlan) -> Result<Socket, SendError> {
    let err = |source| SendError::Connect {
        protocol: plan.protocol.name(),
        target: plan.target,
        source,
    };
    if plan.protocol.is_udp() {
        let local: SocketAddr = if plan.target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let mut v = Vec::with_capacity(plan.sockets.max(1));
        for _ in 0..plan.sockets.max(1) {
            let s = UdpSocket::bind(local).map_err(err)?;
            s.connect(plan.target).map_err(err)?;
            v.push(s);
        }
        Ok(Socket::Udp(v))
    } else {
        let s = TcpStream::connect_timeout(&plan.target, Duration::from_secs(5)).map_err(err)?;
        Ok(Socket::Tcp(s))
    }
}

/// Share `i` of `n` when `total` is split as evenly as possible.
fn share(total: u64, i: usize, n: usize) -> u64 {
    let n = n as u64;
    let i = i as u64;
    total / n + u64::from(i < total % n)
}

/// Opens the sockets, builds each thread's state, then starts every thread at once.
pub fn start(plan: &SendPlan, pool: &Arc<Pool>) -> Result<Sending, SendError> {
    let threads = plan.threads.max(1);
    let shared: Arc<Vec<Shared>> = Arc::new((0..threads).map(|_| Shared::default()).collect());
    let barrier = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let socket = open(plan)?;
        let worker = Worker {
            plan: plan.clone(),
            pool: Arc::clone(pool),
            shared: Arc::clone(&shared),
            index: t,
            budget: plan.count.map(|c| share(c, t, threads)),
            rate: plan.rate / threads as f64,
            first: t * pool.packets().len() / threads,
        };
        let b = Arc::clone(&barrier);
        let h = std::thread::Builder::new()
            .name(format!("loadgen-send-{t}"))
            .spawn(move || worker.run(socket, &b))
            .map_err(|source| SendError::Spawn { thread: t, source })?;
        handles.push(h);
    }
    barrier.wait();
    let start = Instant::now();
    Ok(Sending {
        handles,
        shared,
        start,
    })
}

struct Worker {
    plan: SendPlan,
    pool: Arc<Pool>,
    shared: Arc<Vec<Shared>>,
    index: usize,
    budget: Option<u64>,
    rate: f64,
    first: usize,
}

/// The per-thread way of putting packets `pos..pos + n` on the wire.
enum Wire {
    Mmsg(SendBatch, Rotation),
    Udp(Rotation),
    Tcp(Option<TcpStream>),
}

/// UDP sockets used in turn, one send call each.
struct Rotation {
    sockets: Vec<UdpSocket>,
    next: usize,
}

impl Rotation {
    fn new(sockets: Vec<UdpSocket>) -> Self {
        Self { sockets, next: 0 }
    }

    /// The socket for this call; the next call gets the next one.
    fn take(&mut self) -> &UdpSocket {
        let i = self.next;
        self.next = if i + 1 >= self.sockets.len() {
            0
        } else {
            i + 1
        };
        &self.sockets[i]
    }
}

impl Worker {
    fn run(self, socket: Socket, barrier: &Barrier) -> Instant {
        // Everything below until the barrier is set-up, outside the measured time.
        let pool = Arc::clone(&self.pool);
        let packets = pool.packets();
        let mut cum_lines = Vec::with_capacity(packets.len() + 1);
        let mut cum_bytes = Vec::with_capacity(packets.len() + 1);
        let (mut lines_so_far, mut bytes_so_far) = (0u64, 0u64);
        cum_lines.push(0);
        cum_bytes.push(0);
        for p in packets {
            lines_so_far += u64::from(p.lines);
            bytes_so_far += p.len as u64;
            cum_lines.push(lines_so_far);
            cum_bytes.push(bytes_so_far);
        }
        let per_packet = packets.first().map_or(1, |p| u64::from(p.lines.max(1)));
        let mut wire = match socket {
            Socket::Udp(s) if self.plan.batch > 1 => {
                Wire::Mmsg(SendBatch::new(Arc::clone(&pool)), Rotation::new(s))
            }
            Socket::Udp(s) => Wire::Udp(Rotation::new(s)),
            Socket::Tcp(s) => Wire::Tcp(Some(s)),
        };
        // Under a rate limit, send about a millisecond of traffic per call so bursts stay small.
        let batch = if self.rate > 0.0 {
            ((self.rate / 1000.0 / per_packet as f64) as usize).clamp(1, self.plan.batch.max(1))
        } else {
            self.plan.batch.max(1)
        };
        let npk = packets.len();
        let me = &self.shared[self.index];
        let mut pos = self.first % npk.max(1);
        let mut budget = self.budget;
        let mut attempted = 0u64;
        let mut t = Totals::default();

        barrier.wait();
        let start = Instant::now();
        let end = self.plan.duration.map(|d| start + d);
        while npk > 0 && budget != Some(0) {
            let now = Instant::now();
            if end.is_some_and(|e| now >= e) {
                break;
            }
            if self.rate > 0.0 {
                let due = start + Duration::from_secs_f64(attempted as f64 / self.rate);
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            let mut n = batch.min(npk - pos);
            if let Some(left) = budget {
                // whole packets that fit in the budget; else a cut packet to end exactly
                while n > 0 && cum_lines[pos + n] - cum_lines[pos] > left {
                    n -= 1;
                }
                if n == 0 {
                    let k = left as u32;
                    let len = pool.prefix_len(pos, k);
                    let data = &pool.packet(pos)[..len];
                    match wire.send_bytes(data, &self.plan) {
                        Ok(()) => {
                            t.lines += left;
                            t.datagrams += 1;
                            t.bytes += len as u64;
                        }
                        Err(_) => t.errors += 1,
                    }
                    me.publish(&t);
                    break;
                }
            }
            match wire.send(&pool, pos, n, &self.plan) {
                Ok(k) => {
                    let lines = cum_lines[pos + k] - cum_lines[pos];
                    t.lines += lines;
                    t.datagrams += k as u64;
                    t.bytes += cum_bytes[pos + k] - cum_bytes[pos];
                    attempted += lines;
                    budget = budget.map(|b| b - lines);
                    pos += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    let lines = cum_lines[pos + 1] - cum_lines[pos];
                    t.errors += 1;
                    attempted += lines;
                    budget = budget.map(|b| b - lines);
                    pos += 1;
                }
            }
            if pos == npk {
                pos = 0;
            }
            me.publish(&t);
        }
        let stop = Instant::now();
        me.publish(&t);
        me.done.store(true, Ordering::Release);
        stop
    }
}

impl Wire {
    /// Sends packets `pos..pos + n`; returns how many left (at least one on `Ok`).
    fn send(&mut self, pool: &Pool, pos: usize, n: usize, plan: &SendPlan) -> io::Result<usize> {
        match self {
            Wire::Mmsg(batch, r) => match batch.send(r.take().as_raw_fd(), pos, n)? {
                0 => Err(io::Error::from(io::ErrorKind::WriteZero)),
                k => Ok(k),
            },
            Wire::Udp(r) => r.take().send(pool.packet(pos)).map(|_| 1),
            Wire::Tcp(_) => {
                let first = pool.packets()[pos];
                let last = pool.packets()[pos + n - 1];
                let data = &pool.bytes()[first.start..last.start + last.len];
                self.send_bytes(data, plan).map(|()| n)
            }
        }
    }

    /// Sends one buffer (a datagram, or bytes on the stream); a broken TCP stream is replaced
    /// by a new connection on the next call.
    fn send_bytes(&mut self, data: &[u8], plan: &SendPlan) -> io::Result<()> {
        match self {
            Wire::Mmsg(_, r) | Wire::Udp(r) => r.take().send(data).map(|_| ()),
            Wire::Tcp(slot) => {
                if slot.is_none() {
                    match TcpStream::connect_timeout(&plan.target, Duration::from_secs(1)) {
                        Ok(s) => *slot = Some(s),
                        Err(e) => {
                            std::thread::sleep(Duration::from_millis(100));
                            return Err(e);
                        }
                    }
                }
                let r = slot.as_mut().map_or(Ok(()), |s| s.write_all(data));
                if r.is_err() {
                    *slot = None;
                }
                r
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for total in [0u64, 1, 7, 100, 101] {
            for n in 1..5 {
                let s: u64 = (0..n).map(|i| share(total, i, n)).sum();
                assert_eq!(s, total);
            }
        }
    }
}
