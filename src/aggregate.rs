//! etsy-exact StatsD aggregation. API contract; implementation lands next.

use crate::config::StatsdConfig;
use crate::protocol::statsd::{Kind, Sample};

/// Per-shard aggregator: `partials` (this interval, any key) and `owned` (persistent state of owned keys).
pub struct Aggregator {
    series: usize,
}

/// etsy's internal counters, never deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Internal {
    PacketsReceived,
    MetricsReceived,
    BadLinesSeen,
}

/// `max_series` would be exceeded: the new name was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// One interval's partial aggregates for a set of keys.
#[derive(Default)]
pub struct Partials {
    _keys: Vec<Box<[u8]>>,
}

/// What one shard's flush contributes to the process-wide self-metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlushSummary {
    pub num_stats: u64,
    pub calculation_ms: f64,
}

/// Process-wide values etsy emits once per flush.
#[derive(Debug, Clone, Copy, Default)]
pub struct Globals {
    pub num_stats: u64,
    pub calculation_ms: f64,
    pub processing_ms: f64,
    pub timestamp_lag: Option<f64>,
    pub last_exception: i64,
    pub last_flush: i64,
    pub flush_time_ms: f64,
    pub flush_length: u64,
}

impl Aggregator {
    pub fn new(cfg: &StatsdConfig) -> Self {
        let _ = cfg;
        Self { series: 0 }
    }

    pub fn ingest(&mut self, s: &Sample<'_>) -> Result<(), Overflow> {
        let _ = s;
        Ok(())
    }

    pub fn add_internal(&mut self, which: Internal, n: f64) {
        let _ = (which, n);
    }

    pub fn take_partials(
        &mut self,
        shards: usize,
        owner: impl Fn(&[u8]) -> usize,
    ) -> Vec<Partials> {
        let _ = owner;
        (0..shards).map(|_| Partials::default()).collect()
    }

    pub fn merge(&mut self, p: Partials) {
        drop(p);
    }

    pub fn flush(&mut self, emit: &mut impl FnMut(&[u8], f64)) -> FlushSummary {
        let _ = emit;
        FlushSummary::default()
    }

    pub fn view(&self, kind: Kind) -> Vec<(String, String)> {
        let _ = kind;
        Vec::new()
    }

    pub fn delete(&mut self, kind: Kind, pattern: &str) -> Vec<String> {
        let _ = (kind, pattern);
        Vec::new()
    }

    pub fn series(&self) -> usize {
        self.series
    }
}

/// Emit the process-wide self-metrics (numStats, graphiteStats, processing_time, timestamp_lag).
pub fn emit_globals(cfg: &StatsdConfig, g: &Globals, emit: &mut impl FnMut(&[u8], f64)) {
    let _ = (cfg, g, emit);
}
