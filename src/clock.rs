//! Wall-clock access and flush alignment.
//!
//! Flushes happen at wall-clock multiples of the interval (10 s → :00, :10, :20 …), so
//! every shard and every restart flush on the same boundaries. The arithmetic is pure;
//! only [`now`] reads the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch.
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The first multiple of `interval` strictly after `now`.
pub fn next_boundary(now: Duration, interval: Duration) -> Duration {
    let i = interval.as_nanos().max(1);
    let n = now.as_nanos();
    let next = (n / i + 1) * i;
    Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
}

/// etsy's flush timestamp: the flush time rounded to whole seconds.
pub fn flush_timestamp(at: Duration) -> i64 {
    (at.as_secs_f64()).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_aligned() {
        let ten = Duration::from_secs(10);
        assert_eq!(
            next_boundary(Duration::from_millis(1_700_000_003_500), ten),
            Duration::from_secs(1_700_000_010)
        );
        assert_eq!(
            next_boundary(Duration::from_secs(1_700_000_010), ten),
            Duration::from_secs(1_700_000_020)
        );
        assert_eq!(
            next_boundary(Duration::from_millis(1_250), Duration::from_millis(500)),
            Duration::from_millis(1_500)
        );
        assert_eq!(
            flush_timestamp(Duration::from_millis(1_700_000_010_400)),
            1_700_000_010
        );
    }
}
