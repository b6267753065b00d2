//! One load run: build the pool, read the server's count, send, read the count again.
//!
//! Contract: the pool is fully rendered and the baseline count settled before the first
//! packet leaves; the progress callback runs on the calling thread about once a second while
//! the senders run; the returned [`Report`] says what was sent and, when verification was
//! asked, what the server says it received and the loss (sent − received) / sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::carbon::{CarbonCounter, CarbonError};
use crate::net;
use crate::observe::{self, HostReport, HostSample, ProcSample, ServerReport};
use crate::payload::{PayloadError, Pool, PoolSpec};
use crate::send::{self, SendError, SendPlan, Totals};
use crate::verify::{self, RealClock, VerifyError};

/// Why a run failed.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Carbon(#[from] CarbonError),
}

/// How to learn what the server received.
#[derive(Debug, Clone)]
pub enum Verify {
    None,
    /// `stats` on the admin port, field `messages.metrics_received`.
    Admin(SocketAddr),
    /// Listen for the server's graphite flushes and sum `metric`.
    Carbon {
        listen: SocketAddr,
        metric: String,
    },
    /// Like `Carbon`, with a listener already running (so its port is known beforehand).
    CarbonListening(Arc<CarbonCounter>),
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub pool: PoolSpec,
    pub send: SendPlan,
    pub verify: Verify,
    /// A count is settled when unchanged this long (admin verification).
    pub settle_quiet: Duration,
    /// Longest wait for a count to settle (or for an idle flush, carbon verification).
    pub settle_max: Duration,
    /// The server's process, to report its CPU time and memory for the run.
    pub server_pid: Option<u32>,
}

/// Once-a-second view of a run.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub elapsed: Duration,
    pub totals: Totals,
    /// Lines per second over the last interval.
    pub lines_per_s: f64,
}

/// The server's side of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// `none`, `admin` or `carbon`.
    pub method: &'static str,
    /// Admin address or carbon listen address.
    pub source: Option<SocketAddr>,
    pub before: Option<u64>,
    pub after: Option<u64>,
    /// Lines the server counted during the run.
    pub received: Option<u64>,
    /// (sent − received) / sent × 100.
    pub loss_pct: Option<f64>,
    /// Whether the counts settled (or an idle flush arrived) within the limit.
    pub settled: bool,
    pub note: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub protocol: &'static str,
    pub target: SocketAddr,
    pub threads: usize,
    pub names: u64,
    pub mix: String,
    pub per_packet: u32,
    pub batch: usize,
    pub rate_requested: f64,
    pub seed: u64,
    pub pool_lines: u64,
    pub pool_bytes: usize,
    pub pool_build_s: f64,
    pub lines_sent: u64,
    pub datagrams: u64,
    pub bytes: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    pub lines_per_s: f64,
    pub verify: VerifyReport,
    pub server: ServerReport,
    pub host: HostReport,
}

/// Runs one load run.
pub fn run(cfg: &RunConfig, progress: &mut dyn FnMut(&Progress)) -> Result<Report, RunError> {
    let t = Instant::now();
    let pool = Arc::new(Pool::build(&cfg.pool)?);
    let pool_build_s = t.elapsed().as_secs_f64();

    let mut vr = VerifyReport {
        method: "none",
        ..VerifyReport::default()
    };
    let carbon = match &cfg.verify {
        Verify::Carbon { listen, metric } => Some(Arc::new(CarbonCounter::start(*listen, metric)?)),
        Verify::CarbonListening(c) => Some(Arc::clone(c)),
        Verify::None | Verify::Admin(_) => None,
    };
    let mut carbon_mark = 0;
    if let Verify::Admin(addr) = &cfg.verify {
        vr.method = "admin";
        vr.source = Some(*addr);
        vr.before = admin_settled(*addr, cfg, &mut vr)?;
    }
    if let Some(c) = &carbon {
        vr.method = "carbon";
        vr.source = Some(c.addr());
        if !c.wait_idle(c.mark(), cfg.settle_max) {
            vr.note = Some(format!(
                "no flush with `{} 0` arrived within {:?} before the run; \
                 the count may include earlier traffic",
                c.metric(),
                cfg.settle_max
            ));
        }
        carbon_mark = c.mark();
    }

    let udp_port = cfg.send.protocol.is_udp().then_some(cfg.send.target.port());
    let drops_before = udp_port.and_then(net::udp_drops);
    let proc_before = cfg.server_pid.map(observe::sample);
    let host_before = Window::now(cfg.server_pid);
    let sending = send::start(&cfg.send, &pool)?;
    let start = sending.start();
    let mut last = (start, 0u64);
    let mut tick = start + Duration::from_secs(1);
    while !sending.is_finished() {
        let now = Instant::now();
        if now >= tick {
            let totals = sending.totals();
            let dt = (now - last.0).as_secs_f64();
            progress(&Progress {
                elapsed: now - start,
                totals,
                lines_per_s: (totals.lines - last.1) as f64 / dt,
            });
            last = (now, totals.lines);
            tick += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20).min(tick.saturating_duration_since(now)));
    }
    let (totals, elapsed) = sending.join()?;
    let host = host_before.report(&Window::now(cfg.server_pid));

    if let Verify::Admin(addr) = &cfg.verify {
        if vr.before.is_some() {
            vr.after = admin_settled(*addr, cfg, &mut vr)?;
        }
    }
    if let Some(c) = &carbon {
        let end_mark = c.mark();
        vr.settled = c.wait_idle(end_mark, cfg.settle_max);
        if !vr.settled {
            vr.note = Some(format!(
                "no flush with `{} 0` arrived within {:?} after the run; \
                 the server may still be working through its backlog",
                c.metric(),
                cfg.settle_max
            ));
        }
        vr.received = Some(c.sum_since(carbon_mark));
    }
    if let (Some(b), Some(a)) = (vr.before, vr.after) {
        vr.received = Some(a.saturating_sub(b));
    }
    if let Some(r) = vr.received {
        if totals.lines > 0 {
            vr.loss_pct = Some((totals.lines as f64 - r as f64) / totals.lines as f64 * 100.0);
        }
        if r > totals.lines {
            vr.note = Some(
                "the server counted more lines than were sent: another client is sending to it"
                    .into(),
            );
        }
    }

    let secs = elapsed.as_secs_f64();
    let mut server = ServerReport {
        pid: cfg.server_pid,
        kernel_drops: match (drops_before, udp_port.and_then(net::udp_drops)) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        },
        absorbed_lines_per_s: vr.received.filter(|_| secs > 0.0).map(|r| r as f64 / secs),
        ..ServerReport::default()
    };
    if let (Some(pid), Some(before)) = (cfg.server_pid, proc_before) {
        server_usage(
            &mut server,
            pid,
            before,
            vr.received.unwrap_or(totals.lines),
        );
    }
    Ok(Report {
        protocol: cfg.send.protocol.name(),
        target: cfg.send.target,
        threads: cfg.send.threads,
        names: cfg.pool.names,
        mix: if cfg.send.protocol == crate::payload::Protocol::CarbonTcp {
            "carbon".into()
        } else {
            cfg.pool.mix.to_string()
        },
        per_packet: cfg.pool.per_packet,
        batch: cfg.send.batch,
        rate_requested: cfg.send.rate,
        seed: cfg.pool.seed,
        pool_lines: pool.lines(),
        pool_bytes: pool.bytes().len(),
        pool_build_s,
        lines_sent: totals.lines,
        datagrams: totals.datagrams,
        bytes: totals.bytes,
        errors: totals.errors,
        elapsed_s: secs,
        lines_per_s: if secs > 0.0 {
            totals.lines as f64 / secs
        } else {
            0.0
        },
        verify: vr,
        server,
        host,
    })
}

/// The machine, this process and the server at one instant.
struct Window {
    at: Instant,
    host: Option<HostSample>,
    own: Option<ProcSample>,
    server: Option<ProcSample>,
}

impl Window {
    fn now(server_pid: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            host: observe::host_sample().ok(),
            own: observe::sample(std::process::id()).ok(),
            server: server_pid.and_then(|p| observe::sample(p).ok()),
        }
    }

    /// CPU use from `self` to `end`, split into server, sender and the rest.
    fn report(&self, end: &Window) -> HostReport {
        let tck = observe::ticks_per_second() as f64;
        let ticks = |a: u64, b: u64| b.saturating_sub(a) as f64 / tck;
        let ns = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e9;
        let (busy, steal) = match (self.host, end.host) {
            (Some(a), Some(b)) => (Some(ticks(a.busy, b.busy)), Some(ticks(a.steal, b.steal))),
            _ => (None, None),
        };
        let pair = |x: Option<ProcSample>, y: Option<ProcSample>| x.zip(y);
        let own = pair(self.own, end.own);
        let server = pair(self.server, end.server);
        let sender_cpu = own.map(|(a, b)| ticks(a.cpu_ticks, b.cpu_ticks));
        let server_cpu = server.map(|(a, b)| ticks(a.cpu_ticks, b.cpu_ticks));
        let others = match (busy, sender_cpu) {
            (Some(b), Some(s)) => Some((b - s - server_cpu.unwrap_or(0.0)).max(0.0)),
            _ => None,
        };
        HostReport {
            window_s: (end.at - self.at).as_secs_f64(),
            busy_cpu_s: busy,
            sender_cpu_s: sender_cpu,
            server_cpu_s: server_cpu,
            others_cpu_s: others,
            server_runq_wait_s: server.map(|(a, b)| ns(a.runq_wait_ns, b.runq_wait_ns)),
            sender_runq_wait_s: own.map(|(a, b)| ns(a.runq_wait_ns, b.runq_wait_ns)),
            steal_cpu_s: steal,
        }
    }
}

/// Fills CPU and memory from a sample taken before sending and one taken now.
fn server_usage(
    server: &mut ServerReport,
    pid: u32,
    before: std::io::Result<ProcSample>,
    lines: u64,
) {
    match (before, observe::sample(pid)) {
        (Ok(b), Ok(a)) => {
            let cpu_s =
                a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / observe::ticks_per_second() as f64;
            server.cpu_s = Some(cpu_s);
            server.cpu_s_per_m_lines = (lines > 0).then(|| cpu_s / lines as f64 * 1e6);
            server.rss_kb = Some(a.rss_kb);
            server.hwm_kb = Some(a.hwm_kb);
        }
        (Err(e), _) | (_, Err(e)) => {
            server.note = Some(format!("cannot read /proc/{pid}: {e}"));
        }
    }
}

/// Reads `messages.metrics_received` until it settles. `None` (with a note) when the server
/// does not print it.
fn admin_settled(
    addr: SocketAddr,
    cfg: &RunConfig,
    vr: &mut VerifyReport,
) -> Result<Option<u64>, VerifyError> {
    let timeout = Duration::from_secs(5);
    let first = verify::fetch_stats(addr, timeout)?;
    if verify::parse_metrics_received(&first).is_none() {
        vr.note = Some(
            "the admin `stats` reply has no `messages.metrics_received` line (etsy statsd does \
             not print one); reporting only what was sent. For etsy, use --verify-carbon."
                .into(),
        );
        return Ok(None);
    }
    let s = verify::settle(
        || {
            verify::fetch_stats(addr, timeout)
                .map(|r| verify::parse_metrics_received(&r).unwrap_or(0))
        },
        &RealClock::new(),
        cfg.settle_quiet,
        cfg.settle_max,
        Duration::from_millis(100),
    )?;
    vr.settled = s.settled;
    if !s.settled {
        vr.note = Some(format!(
            "messages.metrics_received was still changing after {:?}",
            cfg.settle_max
        ));
    }
    Ok(Some(s.value))
}
