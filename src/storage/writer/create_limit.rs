//! carbon's `MAX_CREATES_PER_MINUTE` as a token bucket.
//!
//! Contract: the bucket holds at most one minute's worth of creates (the burst) and
//! refills continuously at `per_minute`; [`CreateLimit::take`] spends one create when at
//! least one is there. It reads the monotonic clock and owns nothing else.

use std::time::Instant;

/// carbon's `MAX_CREATES_PER_MINUTE` as a token bucket (a burst of one minute's worth).
#[derive(Debug)]
pub(super) struct CreateLimit {
    per_minute: f64,
    tokens: f64,
    last: Instant,
}

impl CreateLimit {
    /// A full bucket of `per_minute` creates (more than 0).
    pub(super) fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute),
            tokens: f64::from(per_minute),
            last: Instant::now(),
        }
    }

    /// Spend one create if the bucket holds one; false when the create must wait.
    pub(super) fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() / 60.0 * self.per_minute;
        self.tokens = (self.tokens + refill).min(self.per_minute);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_one_minutes_worth_then_waits() {
        let mut limit = CreateLimit::new(3);
        assert!((0..3).all(|_| limit.take()));
        assert!(!limit.take());
    }
}
