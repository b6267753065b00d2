//! Reading back what the server counted, from its admin port (etsy's management protocol).
//!
//! Contract: [`fetch_stats`] sends `stats\n` and returns the reply up to (not including) the
//! line `END`. [`parse_metrics_received`] finds `messages.metrics_received: N` in it
//! (lonsdaleite prints it; etsy statsd does not, hence the `Option`). [`settle`] polls a
//! counter until it has not changed for a quiet period, with an upper bound, so a count is
//! read only after the server has drained its socket buffers. Time comes from a [`Clock`],
//! so the settling rule is tested without sleeping.

use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use thiserror::Error;

/// Largest `stats` reply accepted.
const MAX_REPLY: usize = 1 << 20;

/// Why the admin port could not be read.
#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("cannot connect to the admin port {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("reading `stats` from the admin port {addr}: {source}")]
    Io { addr: SocketAddr, source: io::Error },
    #[error("the admin port {addr} closed before the `END` line of the `stats` reply")]
    NoEnd { addr: SocketAddr },
    #[error("the `stats` reply from {addr} exceeds {MAX_REPLY} bytes without an `END` line")]
    TooLong { addr: SocketAddr },
}

/// Sends `stats` to the admin port and returns the reply's lines before `END`.
pub fn fetch_stats(addr: SocketAddr, timeout: Duration) -> Result<String, VerifyError> {
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| VerifyError::Connect { addr, source })?;
    let io = |source| VerifyError::Io { addr, source };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    (&stream).write_all(b"stats\n").map_err(io)?;
    let mut reader = BufReader::new(&stream);
    let mut reply = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(io)? == 0 {
            return Err(VerifyError::NoEnd { addr });
        }
        if line.trim_end_matches(['\r', '\n']) == "END" {
            break;
        }
        reply.push_str(&line);
        if reply.len() > MAX_REPLY {
            return Err(VerifyError::TooLong { addr });
        }
    }
    // Tell the server we are done, as a polite client would; errors here do not matter.
    let _ = (&stream).write_all(b"quit\n");
    Ok(reply)
}

/// The value of `messages.metrics_received: N` in a `stats` reply, if present.
pub fn parse_metrics_received(reply: &str) -> Option<u64> {
    reply.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim() != "messages.metrics_received" {
            return None;
        }
        let v = value.trim();
        v.parse::<u64>().ok().or_else(|| {
            v.parse::<f64>()
                .ok()
                .filter(|f| *f >= 0.0)
                .map(|f| f as u64)
        })
    })
}

/// Time for [`settle`]: real or simulated.
pub trait Clock {
    /// Time since an arbitrary origin.
    fn now(&self) -> Duration;
    fn sleep(&self, d: Duration);
}

/// The system's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct RealClock(Instant);

impl RealClock {
    pub fn new() -> Self {
        Self(Instant::now())
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Result of [`settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub value: u64,
    /// False when `max` passed while the value was still changing.
    pub settled: bool,
}

/// Polls `poll` every `every` until its value has stayed the same for `quiet`, or `max` has
/// passed since the first poll.
pub fn settle<E>(
    mut poll: impl FnMut() -> Result<u64, E>,
    clock: &impl Clock,
    quiet: Duration,
    max: Duration,
    every: Duration,
) -> Result<Settled, E> {
    let t0 = clock.now();
    let mut last = poll()?;
    let mut since = t0;
    loop {
        let now = clock.now();
        if now.saturating_sub(since) >= quiet {
            return Ok(Settled {
                value: last,
                settled: true,
            });
        }
        if now.saturating_sub(t0) >= max {
            return Ok(Settled {
                value: last,
                settled: false,
            });
        }
        clock.sleep(every);
        let v = poll()?;
        if v != last {
            last = v;
            since = clock.now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct FakeClock(Cell<Duration>);
    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            self.0.get()
        }
        fn sleep(&self, d: Duration) {
            self.0.set(self.0.get() + d);
        }
    }

    const LONSDALEITE: &str = "uptime: 12\nmessages.last_msg_seen: 0\n\
        messages.bad_lines_seen: 3\nmessages.metrics_received: 123456\n\
        graphite.last_flush: 2\n";
    const ETSY: &str = "uptime: 12\nmessages.last_msg_seen: 0\nmessages.bad_lines_seen: 0\n\
        graphite.last_flush: 1\ngraphite.last_exception: 1700000000\n";

    #[test]
    fn finds_metrics_received_or_reports_its_absence() {
        assert_eq!(parse_metrics_received(LONSDALEITE), Some(123_456));
        assert_eq!(parse_metrics_received(ETSY), None);
        assert_eq!(
            parse_metrics_received("messages.metrics_received: 7.0\r\n"),
            Some(7)
        );
        assert_eq!(parse_metrics_received("messages.metrics_received: x"), None);
    }

    #[test]
    fn settles_after_a_quiet_period() {
        let clock = FakeClock(Cell::new(Duration::ZERO));
        let values = [1u64, 5, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9];
        let mut i = 0;
        let s = settle(
            || {
                i += 1;
                Ok::<_, ()>(values[(i - 1).min(values.len() - 1)])
            },
            &clock,
            Duration::from_secs(1),
            Duration::from_secs(10),
            Duration::from_millis(100),
        )
        .expect("no error");
        assert_eq!(
            s,
            Settled {
                value: 9,
                settled: true
            }
        );
        // last change at 200 ms, quiet for 1 s after it
        assert_eq!(clock.now(), Duration::from_millis(1200));
    }

    #[test]
    fn gives_up_at_max_while_still_changing() {
        let clock = FakeClock(Cell::new(Duration::ZERO));
        let mut v = 0;
        let s = settle(
            || {
                v += 1;
                Ok::<_, ()>(v)
            },
            &clock,
            Duration::from_secs(1),
            Duration::from_secs(3),
            Duration::from_millis(100),
        )
        .expect("no error");
        assert!(!s.settled);
        assert_eq!(s.value, 31);
    }

    #[test]
    fn reads_stats_from_a_fake_admin_port() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (s, _) = l.accept().expect("accept");
            let mut r = BufReader::new(&s);
            let mut cmd = String::new();
            r.read_line(&mut cmd).expect("read");
            assert_eq!(cmd, "stats\n");
            (&s).write_all(LONSDALEITE.as_bytes()).expect("write");
            (&s).write_all(b"END\n\n").expect("write");
        });
        let reply = fetch_stats(addr, Duration::from_secs(5)).expect("stats");
        assert_eq!(reply, LONSDALEITE);
        server.join().expect("server");
    }

    #[test]
    fn a_reply_without_end_is_an_error() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (s, _) = l.accept().expect("accept");
            let mut cmd = String::new();
            BufReader::new(&s).read_line(&mut cmd).expect("read");
            (&s).write_all(b"uptime: 1\n").expect("write");
        });
        let r = fetch_stats(addr, Duration::from_secs(5));
        assert!(matches!(r, Err(VerifyError::NoEnd { .. })), "{r:?}");
        server.join().expect("server");
    }
}
