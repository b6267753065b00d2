//! The signals every thread shares: the stop flag, a counter of reload requests (SIGHUP),
//! and the shards that failed (panicked), so the others neither wait on them nor send to
//! them.
//!
//! Shards poll [`Shutdown::is_set`] between waits (every few tens of milliseconds), and
//! their writer compares [`Shutdown::reloads`] with the count it last saw, so neither
//! needs a waker and both work under glommio, tokio and plain threads alike.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How often a shard waiting on a peer looks whether that peer failed.
pub const PEER_CHECK: Duration = Duration::from_millis(100);

/// The stop flag (set once, never cleared), the reload counter, and the shards that
/// failed (panicked).
#[derive(Debug, Default)]
pub struct Shutdown {
    stop: AtomicBool,
    reloads: AtomicU64,
    failed: Mutex<Vec<usize>>,
}

impl Shutdown {
    /// Ask everything to stop (flush, drain, exit).
    pub fn trigger(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Ask for what can be reloaded to be read again (storage rules).
    pub fn request_reload(&self) {
        self.reloads.fetch_add(1, Ordering::SeqCst);
    }

    /// Reloads requested so far.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::SeqCst)
    }

    /// Shard `id` failed (panicked): the others stop waiting for it, and everything stops.
    pub fn shard_failed(&self, id: usize) {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(id);
        self.trigger();
    }

    /// Whether shard `id` failed.
    pub fn has_failed(&self, id: usize) -> bool {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&id)
    }

    /// Whether any shard failed.
    pub fn any_failed(&self) -> bool {
        !self
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    /// `fut`'s output, or `None` if shard `peer` fails first (a send to, or a wait on, a
    /// peer that panicked would never end). Call on a shard (glommio's timer).
    pub async fn unless_failed<T>(&self, peer: usize, fut: impl Future<Output = T>) -> Option<T> {
        futures_lite::future::or(async { Some(fut.await) }, async {
            while !self.has_failed(peer) {
                glommio::timer::sleep(PEER_CHECK).await;
            }
            None
        })
        .await
    }
}
