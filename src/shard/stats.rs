//! Per-shard counters: plain fields on the hot path (no atomics), read at flush and by
//! the admin interface through the shard's control channel.

/// Running totals of one shard since start.
#[derive(Debug, Clone, Default)]
pub struct ShardCounters {
    /// Datagrams and TCP reads received (etsy's packets_received).
    pub packets: u64,
    /// Non-empty lines received (etsy's metrics_received).
    pub lines: u64,
    /// Lines (or values of multi-value lines) dropped as malformed.
    pub bad_lines: u64,
    /// `bad_lines` split by reason, indexed like `BadLine::ALL`.
    pub bad_by_reason: Vec<u64>,
    /// Samples dropped because the series cap was reached.
    pub series_overflow: u64,
    /// Datagrams cut by the kernel because they exceeded `max_datagram`.
    pub truncated_datagrams: u64,
    /// TCP lines dropped for exceeding `max_line_length`.
    pub tcp_lines_too_long: u64,
    /// Partial-aggregate batches sent to other shards.
    pub batches_sent: u64,
    /// Kernel receive-queue drops on this shard's UDP socket.
    pub kernel_drops: u64,
    /// Unix time (seconds) of the last line received; 0 = never.
    pub last_msg_seen: u64,
}

impl ShardCounters {
    /// Zeroed counters with room for `reasons` bad-line reasons.
    pub fn new(reasons: usize) -> Self {
        Self {
            bad_by_reason: vec![0; reasons],
            ..Self::default()
        }
    }

    /// Add another shard's totals (for the admin view of the whole server).
    pub fn add(&mut self, o: &ShardCounters) {
        self.packets += o.packets;
        self.lines += o.lines;
        self.bad_lines += o.bad_lines;
        if self.bad_by_reason.len() < o.bad_by_reason.len() {
            self.bad_by_reason.resize(o.bad_by_reason.len(), 0);
        }
        for (a, b) in self.bad_by_reason.iter_mut().zip(&o.bad_by_reason) {
            *a += b;
        }
        self.series_overflow += o.series_overflow;
        self.truncated_datagrams += o.truncated_datagrams;
        self.tcp_lines_too_long += o.tcp_lines_too_long;
        self.batches_sent += o.batches_sent;
        self.kernel_drops += o.kernel_drops;
        self.last_msg_seen = self.last_msg_seen.max(o.last_msg_seen);
    }
}
