//! Delivery of agent output: carbon plaintext over TCP, statsd lines over UDP.
//!
//! Contract:
//! - [`CarbonSender`] keeps one TCP connection and a bounded backlog of lines.
//!   Lines handed to [`CarbonSender::send`] join the backlog; the backlog is
//!   written in order, and only removed once the write succeeded. When the
//!   peer is gone the connection is dropped and retried on the next call.
//!   A connection the peer has closed is noticed before writing (a write to
//!   it would succeed once and lose the batch) and replaced.
//!   When the backlog is over its bound the **oldest** lines are dropped and
//!   counted in [`CarbonSender::dropped`]. A write that fails half-way keeps
//!   every line, so a line may arrive twice (carbon keeps the last value per
//!   timestamp, so a repeat is harmless) but is never lost silently.
//! - [`UdpSender`] packs newline-separated lines into datagrams of at most
//!   `packet_size` bytes (one line per datagram if a line is longer), the
//!   multi-metric packets every statsd accepts.
//! - Lines are passed without their trailing newline; the sender adds it.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// How long to wait for a TCP connect or a blocked write before giving up until the next call.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a batch could not be delivered (the lines stay queued for a [`CarbonSender`]).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot resolve `{addr}`: {source}")]
    Resolve {
        addr: String,
        source: std::io::Error,
    },
    #[error("`{addr}` resolves to no address")]
    NoAddress { addr: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("sending to {addr} failed: {source}")]
    Write {
        addr: String,
        source: std::io::Error,
    },
}

fn resolve(addr: &str) -> Result<SocketAddr, SendError> {
    let mut addrs = addr
        .to_socket_addrs()
        .map_err(|source| SendError::Resolve {
            addr: addr.to_owned(),
            source,
        })?;
    addrs.next().ok_or_else(|| SendError::NoAddress {
        addr: addr.to_owned(),
    })
}

/// Carbon plaintext sender with reconnect and a bounded backlog.
#[derive(Debug)]
pub struct CarbonSender {
    addr: String,
    stream: Option<TcpStream>,
    backlog: VecDeque<String>,
    max_backlog: usize,
    dropped: u64,
}

impl CarbonSender {
    /// A sender for `addr` (`host:port`) that queues at most `max_backlog` lines while the peer is away.
    pub fn new(addr: &str, max_backlog: usize) -> Self {
        Self {
            addr: addr.to_owned(),
            stream: None,
            backlog: VecDeque::new(),
            max_backlog: max_backlog.max(1),
            dropped: 0,
        }
    }

    /// Lines dropped so far because the backlog was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Lines waiting to be delivered.
    pub fn queued(&self) -> usize {
        self.backlog.len()
    }

    /// Queues `lines` and tries to deliver the whole backlog.
    pub fn send<I>(&mut self, lines: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = String>,
    {
        self.backlog.extend(lines);
        while self.backlog.len() > self.max_backlog {
            self.backlog.pop_front();
            self.dropped += 1;
        }
        self.flush()
    }

    /// Writes the backlog; on failure the connection is closed and the lines stay queued.
    pub fn flush(&mut self) -> Result<(), SendError> {
        if self.backlog.is_empty() {
            return Ok(());
        }
        if self.stream.as_ref().is_some_and(peer_closed) {
            // A write to a socket the peer has closed would still succeed once and lose the batch.
            self.stream = None;
        }
        if self.stream.is_none() {
            let sa = resolve(&self.addr)?;
            let stream = TcpStream::connect_timeout(&sa, IO_TIMEOUT).map_err(|source| {
                SendError::Connect {
                    addr: self.addr.clone(),
                    source,
                }
            })?;
            // A failure here only leaves the default (blocking) timeouts; not worth failing the send.
            let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
        }
        let mut buf = Vec::with_capacity(self.backlog.iter().map(|l| l.len() + 1).sum());
        for line in &self.backlog {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        match stream.write_all(&buf).and_then(|()| stream.flush()) {
            Ok(()) => {
                self.backlog.clear();
                Ok(())
            }
            Err(source) => {
                self.stream = None;
                Err(SendError::Write {
                    addr: self.addr.clone(),
                    source,
                })
            }
        }
    }
}

/// True when the peer has closed the connection (end of stream or a pending error).
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 1];
    let closed = match stream.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    closed || stream.set_nonblocking(false).is_err()
}

/// Statsd sender: newline-separated lines packed into UDP datagrams.
#[derive(Debug)]
pub struct UdpSender {
    addr: String,
    packet_size: usize,
}

impl UdpSender {
    /// A sender to `addr` (`host:port`) whose datagrams hold at most `packet_size` bytes.
    pub fn new(addr: &str, packet_size: usize) -> Self {
        Self {
            addr: addr.to_owned(),
            packet_size: packet_size.max(1),
        }
    }

    /// Sends every line; returns the number of datagrams sent.
    pub fn send(&self, lines: &[String]) -> Result<usize, SendError> {
        let target = resolve(&self.addr)?;
        let local: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let write_err = |source| SendError::Write {
            addr: self.addr.clone(),
            source,
        };
        let socket = UdpSocket::bind(local).map_err(write_err)?;
        let mut sent = 0;
        for packet in pack(lines, self.packet_size) {
            socket
                .send_to(packet.as_bytes(), target)
                .map_err(write_err)?;
            sent += 1;
        }
        Ok(sent)
    }
}

/// Joins lines with `\n` into packets of at most `size` bytes; a longer line travels alone.
pub fn pack(lines: &[String], size: usize) -> Vec<String> {
    let mut packets = Vec::new();
    let mut cur = String::new();
    for line in lines {
        if !cur.is_empty() && cur.len() + 1 + line.len() > size {
            packets.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push('\n');
        }
        cur.push_str(line);
    }
    if !cur.is_empty() {
        packets.push(cur);
    }
    packets
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn lines(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("a.b.{i} {i} 100")).collect()
    }

    #[test]
    fn pack_respects_size_and_order() {
        let ls = lines(30);
        let packets = pack(&ls, 64);
        assert!(packets.iter().all(|p| p.len() <= 64));
        let back: Vec<&str> = packets.iter().flat_map(|p| p.split('\n')).collect();
        assert_eq!(back, ls.iter().map(String::as_str).collect::<Vec<_>>());
        // A line longer than the packet size still goes out, alone.
        let long = vec!["x".repeat(100), "y".into()];
        assert_eq!(pack(&long, 10), vec!["x".repeat(100), "y".into()]);
    }

    #[test]
    fn carbon_delivers_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut s = CarbonSender::new(&addr, 100);
        s.send(lines(3)).unwrap();
        drop(s);
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert_eq!(got, "a.b.0 0 100\na.b.1 1 100\na.b.2 2 100\n");
    }

    #[test]
    fn carbon_keeps_bounded_backlog_until_peer_returns() {
        // Reserve a port, then close it so connects are refused.
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let mut s = CarbonSender::new(&addr.to_string(), 4);
        assert!(s.send(lines(3)).is_err());
        assert!(s.send(lines(3)).is_err());
        assert_eq!(s.queued(), 4);
        assert_eq!(s.dropped(), 2);
        // The peer comes back on the same port: the newest 4 lines arrive, oldest first.
        let Ok(listener) = TcpListener::bind(addr) else {
            return; // port taken by someone else meanwhile; nothing more to check
        };
        s.flush().unwrap();
        assert_eq!(s.queued(), 0);
        drop(s);
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert_eq!(got, "a.b.2 2 100\na.b.0 0 100\na.b.1 1 100\na.b.2 2 100\n");
    }

    /// Accepts one connection within 10 s.
    fn accept(l: &TcpListener) -> TcpStream {
        l.set_nonblocking(true).unwrap();
        let end = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match l.accept() {
                Ok((c, _)) => {
                    c.set_nonblocking(false).unwrap();
                    return c;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < end, "no connection");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn carbon_reconnects_when_the_peer_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut s = CarbonSender::new(&addr, 100);
        s.send(lines(1)).unwrap();
        let mut first = accept(&listener);
        let mut buf = [0u8; 12];
        first.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"a.b.0 0 100\n");
        drop(first); // the receiver restarts
        s.send(lines(2)).unwrap();
        drop(s);
        let mut got = String::new();
        accept(&listener).read_to_string(&mut got).unwrap();
        assert_eq!(got, "a.b.0 0 100\na.b.1 1 100\n");
    }

    #[test]
    fn udp_sends_all_lines() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let addr = sock.local_addr().unwrap().to_string();
        let ls = lines(50);
        let n = UdpSender::new(&addr, 200).send(&ls).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..n {
            let len = sock.recv(&mut buf).unwrap();
            got.extend(
                std::str::from_utf8(&buf[..len])
                    .unwrap()
                    .split('\n')
                    .map(str::to_owned),
            );
        }
        assert_eq!(got, ls);
    }
}
