//! `--sink`: a UDP receiver that only drains and counts, to measure the sender alone.
//!
//! Contract: counts datagrams, bytes and StatsD lines (newline-separated, a trailing newline
//! does not start a line) received on one socket, until the time limit or the line count is
//! reached. The rate is lines over the time from the first to the last datagram, so idle time
//! before the sender starts does not dilute it. Kernel drops on the port (receive buffer
//! overflows) are read from `/proc/net/udp` before and after.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::net::{self, RecvBatch};

/// Why the sink failed.
#[derive(Debug, Error)]
pub enum SinkError {
    #[error("cannot bind the sink to {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("receiving on {addr}: {source}")]
    Recv { addr: SocketAddr, source: io::Error },
}

/// When to stop.
#[derive(Debug, Clone, Copy)]
pub struct SinkPlan {
    pub duration: Option<Duration>,
    /// Stop once this many lines arrived.
    pub count: Option<u64>,
}

/// What arrived.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SinkReport {
    pub addr: Option<SocketAddr>,
    pub datagrams: u64,
    pub lines: u64,
    pub bytes: u64,
    /// First to last datagram.
    pub elapsed_s: f64,
    pub lines_per_s: f64,
    /// Receive-buffer drops on the port during the run (`/proc/net/udp`), if readable.
    pub kernel_drops: Option<u64>,
    /// Receive buffer the kernel granted, bytes.
    pub recv_buffer: usize,
}

/// A bound sink socket.
pub struct Sink {
    socket: UdpSocket,
    addr: SocketAddr,
    recv_buffer: usize,
}

impl Sink {
    /// Binds `addr` (port 0 picks one) and asks for a 32 MiB receive buffer.
    pub fn bind(addr: SocketAddr) -> Result<Self, SinkError> {
        let err = |source| SinkError::Bind { addr, source };
        let socket = UdpSocket::bind(addr).map_err(err)?;
        let local = socket.local_addr().map_err(err)?;
        let recv_buffer = net::set_recv_buffer(socket.as_raw_fd(), 32 << 20).map_err(err)?;
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(err)?;
        Ok(Self {
            socket,
            addr: local,
            recv_buffer,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drains until `plan` says stop; calls `progress` about once a second.
    pub fn run(
        &self,
        plan: SinkPlan,
        progress: &mut dyn FnMut(&SinkReport),
    ) -> Result<SinkReport, SinkError> {
        let drops_before = net::udp_drops(self.addr.port());
        let mut batch = RecvBatch::new(64, 65_536);
        let mut r = SinkReport {
            addr: Some(self.addr),
            recv_buffer: self.recv_buffer,
            ..SinkReport::default()
        };
        let t0 = Instant::now();
        let mut first: Option<Instant> = None;
        let mut next_report = t0 + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            if plan.duration.is_some_and(|d| now - t0 >= d)
                || plan.count.is_some_and(|c| r.lines >= c)
            {
                break;
            }
            if now >= next_report {
                next_report += Duration::from_secs(1);
                progress(&r);
            }
            match batch.recv(self.socket.as_raw_fd()) {
                Ok(n) => {
                    let last = Instant::now();
                    first.get_or_insert(last);
                    for i in 0..n {
                        let d = batch.datagram(i);
                        r.datagrams += 1;
                        r.bytes += d.len() as u64;
                        r.lines += count_lines(d);
                    }
                    let span = first.map_or(0.0, |f| (last - f).as_secs_f64());
                    r.elapsed_s = span;
                    r.lines_per_s = if span > 0.0 {
                        r.lines as f64 / span
                    } else {
                        0.0
                    };
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(source) => {
                    return Err(SinkError::Recv {
                        addr: self.addr,
                        source,
                    })
                }
            }
        }
        r.kernel_drops = match (drops_before, net::udp_drops(self.addr.port())) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        Ok(r)
    }
}

/// StatsD lines in a datagram: newline-separated, empty lines not counted.
pub fn count_lines(d: &[u8]) -> u64 {
    d.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_non_empty_lines() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a:1|c"), 1);
        assert_eq!(count_lines(b"a:1|c\nb:2|c"), 2);
        assert_eq!(count_lines(b"a:1|c\nb:2|c\n"), 2);
        assert_eq!(count_lines(b"a:1|c\n\n\nb:2|c\n"), 2);
    }

    #[test]
    fn sink_counts_what_arrives_and_stops_at_count() {
        let sink = Sink::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        for _ in 0..10 {
            tx.send_to(b"a:1|c\nb:2|ms", sink.addr()).expect("send");
        }
        let r = sink
            .run(
                SinkPlan {
                    duration: Some(Duration::from_secs(10)),
                    count: Some(20),
                },
                &mut |_| {},
            )
            .expect("run");
        assert_eq!((r.datagrams, r.lines, r.bytes), (10, 20, 120));
    }
}
