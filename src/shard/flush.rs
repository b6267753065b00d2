//! The flush side of a shard: numbered rounds on wall-clock boundaries, shared by every
//! shard.
//!
//! Each round, a shard hands the partial aggregates of names it does not own to their
//! owners in one batch per peer ([`MeshMsg::Partials`]), merges what it receives, emits
//! the points of the names it owns (to the forwarder as plaintext lines, to storage as
//! points), and reports a [`FlushSummary`] to shard 0, which emits etsy's process-wide
//! statistics. On shutdown every shard keeps running rounds without waiting for the timer
//! until a round in which every shard said `last`, so partials received late by one shard
//! still reach their owner before it exits.
//!
//! Restarts lose no interval and write no boundary twice: a shutdown round that comes
//! before its boundary (the usual case) moves partials to their owners but does not
//! flush; the shard then saves everything it holds with the first boundary it has not
//! flushed ([`super::statefile`]). At start, a saved interval whose boundary is not after
//! the boundary the first round starts from is flushed first under its own boundary; one
//! whose boundary is still ahead carries on and is flushed with the rest of the interval.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::stats::ShardCounters;
use super::{statefile, udp, State};
use crate::aggregate::snapshot::Snapshot;
use crate::aggregate::{emit_globals, FlushCursor, FlushSummary, Globals, Internal, Partials};
use crate::config::Config;
use crate::protocol::number::write_js_number;
use crate::protocol::statsd::{BadLine, Sample, Value};
use crate::route::forward::{FlushReport, Output};
use crate::route::Router;
use crate::shutdown::{Shutdown, PEER_CHECK};
use crate::storage::intake::PointRouter;

/// Keys merged or flushed per slice before the shard lets its receive loops run.
const SLICE: usize = 2048;

/// Messages between shards.
pub enum MeshMsg {
    /// Round `round`'s partial aggregates for names the receiver owns, from shard `from`.
    Partials {
        from: usize,
        round: u64,
        last: bool,
        partials: Partials,
    },
    /// Round `round`'s totals for shard 0, from shard `from`.
    Summary {
        from: usize,
        round: u64,
        summary: FlushSummary,
    },
}

impl MeshMsg {
    fn from(&self) -> usize {
        match self {
            MeshMsg::Partials { from, .. } | MeshMsg::Summary { from, .. } => *from,
        }
    }
}

/// The test hook that makes a shard fail: `LONSDALEITE_FAILPOINT=shard-panic:<id>` makes
/// shard `id` panic at its first flush round (tests/hostile.rs checks that the others
/// drain and the process exits non-zero).
const FAILPOINT: &str = "LONSDALEITE_FAILPOINT";

/// The flush side of a shard.
pub(super) struct Flusher {
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
    /// The stop flag and the peers that failed.
    signals: Arc<Shutdown>,
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
    #[expect(
        clippy::too_many_arguments,
        reason = "the flush side's world, handed over once by run()"
    )]
    pub(super) fn new(
        id: usize,
        config: Arc<Config>,
        peers: Vec<mpsc::Sender<MeshMsg>>,
        inbox: mpsc::Receiver<MeshMsg>,
        output: Output,
        state: Rc<RefCell<State>>,
        inode: Option<u64>,
        points: Option<Rc<PointRouter>>,
        signals: Arc<Shutdown>,
    ) -> Self {
        Self {
            id,
            router: Router::new(peers.len()),
            config,
            peers,
            inbox,
            stash: VecDeque::new(),
            output,
            state,
            inode,
            reported: ShardCounters::new(BadLine::ALL.len()),
            last_ts: None,
            points,
            pending: None,
            signals,
        }
    }

    /// Take back the saved state, run rounds from `epoch` until every shard said `last`
    /// (after `shutdown`), then save what is left for the next start.
    pub(super) async fn run(mut self, epoch: Duration, saved: Vec<Snapshot>) {
        let interval = self.config.statsd.flush_interval;
        let boundary = |round: u64| epoch + interval * u32::try_from(round).unwrap_or(u32::MAX);
        self.restore(saved, epoch).await;
        let failpoint =
            std::env::var(FAILPOINT).is_ok_and(|v| v == format!("shard-panic:{}", self.id));
        let mut round = 0u64;
        loop {
            round += 1;
            let due = boundary(round);
            let last = wait_until(due, &self.signals).await;
            assert!(
                !failpoint,
                "{FAILPOINT}=shard-panic:{}: panicking as asked",
                self.id
            );
            // A shutdown round before its boundary does not flush (the interval is saved
            // instead); neither does any round after one that did not.
            let save = last && (self.pending.is_some() || crate::clock::now() < due);
            if save && self.pending.is_none() {
                self.pending = Some(due);
            }
            let ts = crate::clock::flush_timestamp(due);
            if self.round(round, ts, last, save).await {
                break;
            }
        }
        self.save(self.pending.unwrap_or(boundary(round + 1)), interval);
    }

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
                let msg = MeshMsg::Partials {
                    from: self.id,
                    round,
                    last,
                    partials,
                };
                let send = self.peers[to].send(msg);
                let _ = self.signals.unless_failed(to, send).await;
            }
        }
        let mut all_last = last;
        let mut heard = self.heard();
        loop {
            match self.next_msg(round, true, &mut heard).await {
                Some(MeshMsg::Partials { last, partials, .. }) => {
                    all_last &= last;
                    self.merge(partials).await;
                }
                Some(MeshMsg::Summary { .. }) => {}
                None => break,
            }
        }
        // A peer that is gone (failed, or ended) sends nothing more: this is the last round.
        all_last |= heard.iter().any(|h| !h);
        let (summary, mut out) = if save {
            (FlushSummary::default(), Flushed::new(ts, false))
        } else {
            self.flush_owned(ts).await
        };
        if self.id == 0 {
            let mut total = summary;
            let mut heard = self.heard();
            while let Some(m) = self.next_msg(round, false, &mut heard).await {
                if let MeshMsg::Summary { summary, .. } = m {
                    total.num_stats += summary.num_stats;
                    total.calculation_ms += summary.calculation_ms;
                }
            }
            if !save {
                self.emit_globals(&total, started, &mut out);
            }
        } else {
            let msg = MeshMsg::Summary {
                from: self.id,
                round,
                summary,
            };
            let _ = self.signals.unless_failed(0, self.peers[0].send(msg)).await;
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

    /// Who a round's messages are awaited from: every peer (this shard marked heard).
    fn heard(&self) -> Vec<bool> {
        (0..self.peers.len()).map(|p| p == self.id).collect()
    }

    /// The next message of `round` (partials or summary) from a peer not `heard` yet,
    /// stashing ones for later rounds; `None` once every peer is heard, has failed, or
    /// the channel is closed (those left unheard are gone).
    async fn next_msg(
        &mut self,
        round: u64,
        partials: bool,
        heard: &mut [bool],
    ) -> Option<MeshMsg> {
        let wanted = |m: &MeshMsg| match m {
            MeshMsg::Partials { round: r, .. } => partials && *r == round,
            MeshMsg::Summary { round: r, .. } => !partials && *r == round,
        };
        loop {
            if let Some(m) = self
                .stash
                .iter()
                .position(wanted)
                .and_then(|i| self.stash.remove(i))
            {
                heard[m.from()] = true;
                return Some(m);
            }
            let waiting = |p: usize| !heard[p] && !self.signals.has_failed(p);
            if !(0..heard.len()).any(waiting) {
                return None;
            }
            let inbox = &mut self.inbox;
            let next = futures_lite::future::or(async { Some(inbox.recv().await) }, async {
                glommio::timer::sleep(PEER_CHECK).await;
                None
            })
            .await;
            match next {
                Some(Some(m)) => self.stash.push_back(m),
                Some(None) => return None,
                None => {} // look again whether a peer failed
            }
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

/// Append one Graphite plaintext line `name value ts\n`, the value written as etsy writes it.
pub fn push_line(out: &mut Vec<u8>, name: &[u8], value: f64, ts: i64) {
    out.extend_from_slice(name);
    out.push(b' ');
    write_js_number(out, value);
    out.push(b' ');
    out.extend_from_slice(ts.to_string().as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

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
