//! Requests from the side thread (admin interface) and the query thread to a shard,
//! answered between the shard's other tasks: views and deletes of its StatsD tables, its
//! counters, and the points still in its storage cache.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::stats::ShardCounters;
use super::State;
use crate::protocol::statsd::Kind;
use crate::storage::shard_store::ShardStore;

/// Requests from the admin interface to a shard.
pub enum Control {
    /// Dump one kind's table.
    View {
        kind: Kind,
        reply: oneshot::Sender<Vec<(String, String)>>,
    },
    /// Delete keys of one kind (exact, or `prefix.*`).
    Delete {
        kind: Kind,
        pattern: String,
        reply: oneshot::Sender<Vec<String>>,
    },
    /// Running totals.
    Counters {
        reply: oneshot::Sender<ShardCounters>,
    },
    /// The cached (not yet written) points of each name, sorted, one per timestamp
    /// (the query thread merges them into what it reads from the files). Empty lists
    /// when storage is off.
    Cached {
        names: Vec<String>,
        reply: crossbeam_channel::Sender<Vec<Vec<(i64, f64)>>>,
    },
}

/// Answer requests until the server drops the sender.
pub(super) async fn control_loop(
    mut rx: mpsc::Receiver<Control>,
    state: Rc<RefCell<State>>,
    store: Option<Rc<ShardStore>>,
) {
    while let Some(req) = rx.recv().await {
        // A delete moves table slots; wait for a flush in progress to finish first.
        while matches!(req, Control::Delete { .. }) && state.borrow().flushing {
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        let mut st = state.borrow_mut();
        match req {
            Control::View { kind, reply } => {
                let _ = reply.send(st.agg.view(kind));
            }
            Control::Delete {
                kind,
                pattern,
                reply,
            } => {
                let _ = reply.send(st.agg.delete(kind, &pattern));
            }
            Control::Counters { reply } => {
                let _ = reply.send(st.counters.clone());
            }
            Control::Cached { names, reply } => {
                let points = match &store {
                    Some(store) => store.pending(&names),
                    None => vec![Vec::new(); names.len()],
                };
                let _ = reply.send(points);
            }
        }
    }
}
