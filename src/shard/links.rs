//! The channels between shards, built once at start (as glommio's sharding example
//! builds its mesh): every shard gets one [`ShardLinks`] with its inboxes and a sender to
//! every peer's, and the server keeps the senders of the control channels.
//!
//! All are bounded: a full peer makes the sender wait (back-pressure, never an unbounded
//! queue), and messages carry batches, never one line each.

use tokio::sync::mpsc;

use super::balance::{self, Handoff};
use super::control::Control;
use super::flush::MeshMsg;
use crate::storage::intake::PointBatch;

/// One shard's ends of the mesh.
pub struct ShardLinks {
    /// Senders to every shard's flush inbox (index = shard id; own entry unused).
    pub peers: Vec<mpsc::Sender<MeshMsg>>,
    /// Flush-round messages from the peers.
    pub inbox: mpsc::Receiver<MeshMsg>,
    /// Requests from the admin interface and the query thread.
    pub control: mpsc::Receiver<Control>,
    /// Senders to every shard's point intake (index = shard id; own entry unused).
    pub point_peers: Vec<mpsc::Sender<PointBatch>>,
    /// Points the peers route to this shard's cache.
    pub point_inbox: mpsc::Receiver<PointBatch>,
    /// Carbon plaintext and pickle connections handed over by the peers.
    pub carbon_handoff: Handoff,
    pub pickle_handoff: Handoff,
}

/// The mesh for `shards` shards: entry `i` is shard `i`'s ends; the second value holds
/// the senders of every shard's control channel (index = shard id).
pub fn mesh(shards: usize) -> (Vec<ShardLinks>, Vec<mpsc::Sender<Control>>) {
    let depth = 4 * shards.max(4);
    let (peers, inboxes): (Vec<_>, Vec<_>) = (0..shards).map(|_| mpsc::channel(depth)).unzip();
    let (point_peers, point_inboxes): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| mpsc::channel(depth)).unzip();
    let (controls, control_inboxes): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| mpsc::channel(64)).unzip();
    let links = inboxes
        .into_iter()
        .zip(point_inboxes)
        .zip(control_inboxes)
        .zip(balance::mesh(shards).into_iter().zip(balance::mesh(shards)))
        .map(
            |(((inbox, point_inbox), control), (carbon_handoff, pickle_handoff))| ShardLinks {
                peers: peers.clone(),
                inbox,
                control,
                point_peers: point_peers.clone(),
                point_inbox,
                carbon_handoff,
                pickle_handoff,
            },
        )
        .collect();
    (links, controls)
}
