//! The shutdown signal shared by the shards and the side thread.
//!
//! Shards poll [`Shutdown::is_set`] between waits (every few tens of milliseconds), so
//! the flag needs no waker and works under glommio, tokio and plain threads alike.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once; never cleared.
#[derive(Debug, Default)]
pub struct Shutdown(AtomicBool);

impl Shutdown {
    /// Ask everything to stop (flush, drain, exit).
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
