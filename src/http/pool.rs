//! The query workers: the work of `/render` and `/metrics/*` (parsing targets, glob walks,
//! reading files, functions, encoding the response) runs on tokio's blocking threads, off
//! the query thread's runtime, so that one heavy request never delays `/version`, the
//! accept loop or a cheap request.
//!
//! At most `http.max_concurrent_queries` run at once (0: half the cores, at least 2); at
//! most `http.max_queued_queries` more wait for a slot, each no longer than its own
//! deadline (`http.timeout`, counted from its arrival). A request past the queue is refused
//! at once with 503 ([`Refused::Full`]). A running query sees a [`Cancel`]: the server
//! stopping, or its client gone (the handler's future dropped), ends it at its next check
//! (see [`crate::query::budget`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::query::budget::Stop;
use crate::shutdown::Shutdown;

/// How often a waiting request looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(25);

/// The slots and the queue (see the module documentation).
pub struct Pool {
    slots: Arc<Semaphore>,
    size: usize,
    max_queued: usize,
    queued: AtomicUsize,
}

/// Why a request's work was not run (each a 503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Every slot busy and the queue full.
    Full { running: usize, queued: usize },
    /// The deadline passed while waiting for a slot.
    Deadline,
    /// The server is stopping.
    Stopping,
    /// The work panicked outside its own guard (a bug): HTTP 500.
    Failed(String),
}

impl Refused {
    /// The HTTP status and message of the refusal.
    pub fn message(&self) -> String {
        match self {
            Refused::Full { running, queued } => format!(
                "too many queries: {running} running and {queued} waiting \
                 (http.max_concurrent_queries, http.max_queued_queries); retry later"
            ),
            Refused::Deadline => "the request waited for a free query worker longer than its \
                                  time limit (http.timeout, http.max_concurrent_queries)"
                .to_string(),
            Refused::Stopping => "the server is stopping".to_string(),
            Refused::Failed(what) => format!("internal error while answering: {what}"),
        }
    }
}

/// What a running query asks whether to stop: the server's stop flag and its client's.
#[derive(Clone)]
pub struct Cancel {
    shutdown: Arc<Shutdown>,
    gone: Arc<AtomicBool>,
}

impl Cancel {
    /// Why the query must stop now, if it must.
    pub fn stop(&self) -> Option<Stop> {
        if self.shutdown.is_set() {
            Some(Stop::Stopping)
        } else if self.gone.load(Ordering::Relaxed) {
            Some(Stop::Gone)
        } else {
            None
        }
    }
}

/// Sets the client's flag if dropped armed: the handler's future was dropped before the
/// work ended (hyper drops it when the connection closes).
struct GoneOnDrop(Option<Arc<AtomicBool>>);

impl Drop for GoneOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Takes one place in the queue back when dropped.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits until the stop flag is set.
async fn stopped(shutdown: &Shutdown) {
    while !shutdown.is_set() {
        tokio::time::sleep(STOP_POLL).await;
    }
}

/// The slots a `max_concurrent_queries` of 0 gives: half the cores, at least 2 (so that
/// one heavy request leaves a slot for the others).
pub fn default_size() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    (cores / 2).max(2)
}

impl Pool {
    /// `size` slots (0: [`default_size`]) and a queue of `max_queued`.
    pub fn new(size: usize, max_queued: usize) -> Self {
        let size = if size == 0 { default_size() } else { size };
        Self {
            slots: Arc::new(Semaphore::new(size)),
            size,
            max_queued,
            queued: AtomicUsize::new(0),
        }
    }

    /// The number of slots.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `work` on a blocking thread once a slot is free (see the module
    /// documentation); `work` gets the request's [`Cancel`].
    pub async fn run<T, F>(
        &self,
        deadline: Instant,
        shutdown: &Arc<Shutdown>,
        work: F,
    ) -> Result<T, Refused>
    where
        F: FnOnce(Cancel) -> T + Send + 'static,
        T: Send + 'static,
    {
        if shutdown.is_set() {
            return Err(Refused::Stopping);
        }
        let permit = if let Ok(p) = self.slots.clone().try_acquire_owned() {
            p
        } else {
            let queued = self.queued.fetch_add(1, Ordering::Relaxed);
            let _place = Queued(&self.queued);
            if queued >= self.max_queued {
                return Err(Refused::Full {
                    running: self.size,
                    queued,
                });
            }
            tokio::select! {
                p = self.slots.clone().acquire_owned() => p.map_err(|_| Refused::Stopping)?,
                () = tokio::time::sleep_until(deadline.into()) => return Err(Refused::Deadline),
                () = stopped(shutdown) => return Err(Refused::Stopping),
            }
        };
        let gone = Arc::new(AtomicBool::new(false));
        let cancel = Cancel {
            shutdown: shutdown.clone(),
            gone: gone.clone(),
        };
        let mut guard = GoneOnDrop(Some(gone));
        let handle = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work(cancel)
        });
        let result = handle.await;
        guard.0 = None;
        result.map_err(|e| Refused::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_full_queue_refuses_and_the_deadline_ends_a_wait() {
        rt().block_on(async {
            let pool = Arc::new(Pool::new(1, 1));
            let stop = Arc::new(Shutdown::default());
            let far = Instant::now() + Duration::from_secs(10);
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            // One running (until told), one waiting: the third is refused.
            let (p, s) = (pool.clone(), stop.clone());
            let running = tokio::spawn(async move {
                p.run(far, &s, move |_| {
                    let _ = rx.recv();
                })
                .await
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (p, s) = (pool.clone(), stop.clone());
            let waiting = tokio::spawn(async move {
                let soon = Instant::now() + Duration::from_millis(100);
                p.run(soon, &s, |_| ()).await
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            let refused = pool.run(far, &stop, |_| ()).await;
            assert!(matches!(refused, Err(Refused::Full { running: 1, .. })));
            assert_eq!(waiting.await.unwrap(), Err(Refused::Deadline));
            tx.send(()).unwrap();
            assert_eq!(running.await.unwrap(), Ok(()));
            assert_eq!(pool.run(far, &stop, |_| 7).await, Ok(7));
        });
    }

    #[test]
    fn work_sees_the_stop_flag() {
        rt().block_on(async {
            let pool = Pool::new(2, 0);
            let stop = Arc::new(Shutdown::default());
            let far = Instant::now() + Duration::from_secs(10);
            let s = stop.clone();
            let stopped = pool
                .run(far, &stop, move |cancel| {
                    s.trigger();
                    cancel.stop()
                })
                .await;
            assert_eq!(stopped, Ok(Some(Stop::Stopping)));
            assert_eq!(pool.run(far, &stop, |_| ()).await, Err(Refused::Stopping));
        });
    }
}
