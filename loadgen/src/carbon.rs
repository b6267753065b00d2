//! A tiny Graphite plaintext receiver that reads a server's own count of received lines.
//!
//! For servers whose admin port does not print `metrics_received` (etsy statsd), point the
//! server's graphite backend at this listener: every flush carries the lines it processed in
//! that interval, e.g. `stats_counts.statsd.metrics_received 1234 1700000000`.
//!
//! Contract: [`CarbonCounter`] records, in arrival order, the value of every line whose name is
//! the watched metric (one observation per flush) and counts all lines it read. A run takes a
//! mark before sending; what the server received since is the sum of the observations after
//! the mark. "Idle" means an observation of 0 arrived after a mark: a whole flush interval in
//! which the server processed nothing, so its socket buffers are empty.

use std::io::{self, BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use thiserror::Error;

/// Why the listener could not start.
#[derive(Debug, Error)]
pub enum CarbonError {
    #[error("cannot listen for the server's graphite flushes on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

#[derive(Debug, Default)]
struct State {
    observations: Vec<u64>,
    lines: u64,
}

/// The running receiver; stops accepting when dropped.
#[derive(Debug)]
pub struct CarbonCounter {
    addr: SocketAddr,
    metric: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl CarbonCounter {
    /// Listens on `addr` and counts observations of `metric`.
    pub fn start(addr: SocketAddr, metric: &str) -> Result<Self, CarbonError> {
        let listener =
            TcpListener::bind(addr).map_err(|source| CarbonError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| CarbonError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| CarbonError::Bind { addr, source })?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, metric) = (Arc::clone(&state), Arc::clone(&stop), metric.to_owned());
        let m = metric.clone();
        std::thread::Builder::new()
            .name("loadgen-carbon".into())
            .spawn(move || accept_loop(&listener, &st, &sp, &m))
            .map_err(|source| CarbonError::Bind { addr, source })?;
        Ok(Self {
            addr: local,
            metric: metric.clone(),
            state,
            stop,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn with<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The watched metric.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// The number of observations so far (a mark).
    pub fn mark(&self) -> usize {
        self.with(|s| s.observations.len())
    }

    /// Sum of the observations after `mark`.
    pub fn sum_since(&self, mark: usize) -> u64 {
        self.with(|s| s.observations.get(mark..).unwrap_or(&[]).iter().sum())
    }

    /// Observations after `mark`.
    pub fn observations_since(&self, mark: usize) -> Vec<u64> {
        self.with(|s| s.observations.get(mark..).unwrap_or(&[]).to_vec())
    }

    /// All lines read, of any name.
    pub fn lines(&self) -> u64 {
        self.with(|s| s.lines)
    }

    /// Waits until an observation of 0 arrives after `mark`, at most `max`. True if it did.
    pub fn wait_idle(&self, mark: usize, max: Duration) -> bool {
        let t0 = Instant::now();
        loop {
            if self.with(|s| s.observations.get(mark..).unwrap_or(&[]).contains(&0)) {
                return true;
            }
            if t0.elapsed() >= max {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for CarbonCounter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn accept_loop(listener: &TcpListener, state: &Arc<Mutex<State>>, stop: &AtomicBool, metric: &str) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (st, m) = (Arc::clone(state), metric.to_owned());
                // A connection lives until the server closes it (etsy: after each flush).
                let _ = std::thread::Builder::new()
                    .name("loadgen-carbon-conn".into())
                    .spawn(move || read_flushes(stream, &st, &m));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn read_flushes(stream: TcpStream, state: &Mutex<State>, metric: &str) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = Vec::new();
    let mut lines = 0u64;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        lines += 1;
        if let Some(v) = observation(&line, metric) {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            s.observations.push(v);
            s.lines += lines;
            lines = 0;
        } else if lines >= 4096 {
            state.lock().unwrap_or_else(PoisonError::into_inner).lines += lines;
            lines = 0;
        }
    }
    state.lock().unwrap_or_else(PoisonError::into_inner).lines += lines;
}

/// The value of a plaintext line `name value timestamp` if `name` is `metric`.
pub fn observation(line: &[u8], metric: &str) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_ascii_whitespace();
    if parts.next()? != metric {
        return None;
    }
    let v: f64 = parts.next()?.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| v.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const M: &str = "stats_counts.statsd.metrics_received";

    #[test]
    fn parses_only_the_watched_metric() {
        assert_eq!(
            observation(format!("{M} 42 1700000000\n").as_bytes(), M),
            Some(42)
        );
        assert_eq!(
            observation(b"stats.statsd.metrics_received 4.2 1\n", M),
            None
        );
        assert_eq!(observation(format!("{M} -1 1\n").as_bytes(), M), None);
        assert_eq!(observation(format!("{M}\n").as_bytes(), M), None);
    }

    #[test]
    fn sums_flushes_after_a_mark_and_detects_idle() {
        let c = CarbonCounter::start("127.0.0.1:0".parse().expect("addr"), M).expect("start");
        let flush = |v: u64| {
            let mut s = TcpStream::connect(c.addr()).expect("connect");
            write!(s, "stats.other 1 1\n{M} {v} 1\nstats.more 2 1\n").expect("write");
        };
        flush(5);
        // wait for the first observation to land
        let t0 = Instant::now();
        while c.mark() < 1 && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let m = c.mark();
        assert_eq!(m, 1);
        flush(10);
        flush(7);
        assert!(!c.wait_idle(m, Duration::from_millis(200)));
        flush(0);
        assert!(c.wait_idle(m, Duration::from_secs(5)));
        assert_eq!(c.sum_since(m), 17);
        assert_eq!(c.observations_since(m).len(), 3);
        let t0 = Instant::now();
        while c.lines() < 12 && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(c.lines(), 12);
    }
}
