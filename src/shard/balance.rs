//! Spreading carbon TCP connections over the shards.
//!
//! Every shard listens on the same port (reuse-port), and the kernel picks the listener
//! by a hash of the connection's addresses. With the few long-lived connections carbon
//! senders keep (relays, agents, a load generator), that often puts two busy connections
//! on one shard while another parses nothing: with two connections and two shards, half
//! the time. So a shard that accepts a connection while another shard serves fewer hands
//! it over (glommio's `shared_accept`, then `bind_to_executor` on the shard that serves
//! it); each connection is still read by one shard, in order.
//!
//! The count per shard is [`StoreStats::connections`]: raised when a shard is chosen,
//! lowered when the connection ends. Two shards accepting at the same moment may both
//! choose the same one; the next accept evens it out.

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::{AcceptedTcpStream, TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::storage::stats::StoreStats;

/// One shard's end of a service's hand-off mesh.
pub struct Handoff {
    /// Connections other shards hand to this one.
    inbox: mpsc::Receiver<AcceptedTcpStream>,
    /// Senders to every shard's inbox (index = shard id; own entry unused).
    peers: Vec<mpsc::Sender<AcceptedTcpStream>>,
}

/// A hand-off mesh for `shards` shards: entry `i` is shard `i`'s end.
pub fn mesh(shards: usize) -> Vec<Handoff> {
    let (tx, rx): (Vec<_>, Vec<_>) = (0..shards).map(|_| mpsc::channel(64)).unzip();
    rx.into_iter()
        .map(|inbox| Handoff {
            inbox,
            peers: tx.clone(),
        })
        .collect()
}

/// The shard that serves a new connection accepted by `me`: the one serving the fewest,
/// `me` when it is among them (no hand-off then).
pub fn pick(me: usize, open: &[u64]) -> usize {
    (0..open.len())
        .min_by_key(|&i| (open[i], i != me))
        .unwrap_or(me)
}

/// Lowers the serving shard's count when its connection ends, however the task ends.
struct Open(Arc<StoreStats>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accept connections on `listener` for shard `me` forever, each served by `serve` on
/// the shard [`pick`] chooses; also serve the connections other shards hand over. A
/// failed accept (e.g. out of file descriptors) is logged and retried after a pause.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    what: &'static str,
    me: usize,
    stats: Vec<Arc<StoreStats>>,
    handoff: Handoff,
    serve: F,
) where
    F: Fn(TcpStream) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let serve = Rc::new(serve);
    let here = stats[me].clone();
    let spawn = {
        let serve = serve.clone();
        move |accepted: AcceptedTcpStream| {
            let (serve, open) = (serve.clone(), Open(here.clone()));
            glommio::spawn_local(async move {
                let _open = open;
                serve(accepted.bind_to_executor()).await;
            })
            .detach();
        }
    };
    let Handoff { mut inbox, peers } = handoff;
    let spawn_handed = spawn.clone();
    glommio::spawn_local(async move {
        while let Some(accepted) = inbox.recv().await {
            spawn_handed(accepted);
        }
    })
    .detach();
    loop {
        let accepted = match listener.shared_accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, what, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let open: Vec<u64> = stats
            .iter()
            .map(|s| s.connections.load(Ordering::Relaxed))
            .collect();
        let to = pick(me, &open);
        stats[to].connections.fetch_add(1, Ordering::Relaxed);
        if to == me {
            spawn(accepted);
            continue;
        }
        if let Err(returned) = peers[to].send(accepted).await {
            // That shard is stopping: serve the connection here.
            stats[to].connections.fetch_sub(1, Ordering::Relaxed);
            stats[me].connections.fetch_add(1, Ordering::Relaxed);
            spawn(returned.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_goes_to_the_shard_serving_the_fewest_and_stays_when_tied() {
        assert_eq!(pick(0, &[0, 0]), 0);
        assert_eq!(pick(1, &[0, 0]), 1);
        assert_eq!(pick(0, &[1, 0]), 1);
        assert_eq!(pick(1, &[1, 0]), 1);
        assert_eq!(pick(2, &[3, 1, 2, 1]), 1);
        assert_eq!(pick(3, &[3, 1, 2, 1]), 3);
        assert_eq!(pick(0, &[5]), 0);
    }
}
