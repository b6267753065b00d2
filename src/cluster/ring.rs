//! Which member owns a metric: the consistent-hash rings of carbon-c-relay 3.7 and of
//! carbon 1.1, computed as they compute them.
//!
//! A [`Ring`] is built once from the members in config order and answers
//! [`Ring::owners`] for any key, with no I/O and no state beyond the ring. The key is the
//! bytes the implementation hashes (for carbon-c-relay's daemon, the name after its intake,
//! up to the first `;`: see [`super::intake`]). Owners are indexes into [`Ring::nodes`],
//! the first being where the metric goes, further ones its replicas.
//!
//! The algorithms, with their exact key texts:
//! - **carbon-c-relay `carbon_ch`** (`relay`): 100 points a member at
//!   `md5("('HOST', 'INSTANCE'):i")[0..2]` as a big-endian `u16`, `None` unquoted for a
//!   member without instance, the port not in the key, the text cut at 255 bytes. Points
//!   are sorted by (position, host, instance with no-instance last); where positions tie,
//!   the first of them takes all (later members lose that point). A key goes to the first
//!   point at or after `md5(key)[0..2]`, wrapping.
//! - **carbon-c-relay `fnv1a_ch`**: 100 points a member at `fold(fnv1a_32("i-HOST:PORT"))`,
//!   or `fold(fnv1a_32("i-INSTANCE"))` when the member has an instance (host and port then
//!   play no part), `fold(h) = (h >> 16) ^ (h & 0xffff)`; ties sorted by host then port,
//!   the first taking all; the key's position is `fold(fnv1a_32(key))`.
//! - **carbon-c-relay `jump_fnv1a_ch`**: one bucket per member; members with an instance
//!   first, ordered by instance (numerically when both are whole numbers), then the others
//!   in config order; bucket = Lamping–Veach jump hash of `fnv1a_64(key)`. Each replica
//!   rehashes with an xorshift and draws from the buckets left.
//! - **carbon 1.1 `carbon_ch`** (`carbon`): the same points as the relay's, but added
//!   member by member in config order, a position already taken moving up by one until
//!   free (past 65535 if need be). So a tie goes to the member listed first, and the
//!   later one keeps a point one further on.
//! - **carbon 1.1 `fnv1a_ch`**: points at `fold(fnv1a_32("i-INSTANCE"))`, `INSTANCE` being
//!   `None` for a member without one (so such members all share one set of keys and
//!   shift past each other), with the same +1 rule; published FNV-1a on the UTF-8 bytes.
//!
//! In carbon-c-relay (amd64), FNV-1a widens key bytes as signed `char`s ([`Widen`]).
//! The relay's `replication N` walks on from the owner's point to the next distinct
//! members; carbon's `REPLICATION_FACTOR` does the same but, with its default
//! `DIVERSE_REPLICAS = True`, skips members on a host already chosen.

mod carbon;
mod relay;

use std::fmt;

pub use carbon::{str_repr as python_str_repr, tuple_repr as carbon_node_key};
pub use relay::{instance_text as relay_instance_text, jump_bucket};

use super::fnv::Widen;
use super::node::Node;

/// The hash ring types, named as carbon-c-relay's config names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Hash {
    /// carbon's MD5 ring (carbon-c-relay `carbon_ch`, carbon `ROUTER_HASH_TYPE = carbon_ch`).
    #[value(name = "carbon_ch")]
    CarbonCh,
    /// An FNV-1a ring (carbon-c-relay `fnv1a_ch`, carbon `fnv1a_ch`: different keys).
    #[value(name = "fnv1a_ch")]
    Fnv1aCh,
    /// carbon-c-relay's jump consistent hash over FNV-1a (no carbon equivalent).
    #[value(name = "jump_fnv1a_ch")]
    JumpFnv1aCh,
}

impl Hash {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Self::CarbonCh => "carbon_ch",
            Self::Fnv1aCh => "fnv1a_ch",
            Self::JumpFnv1aCh => "jump_fnv1a_ch",
        }
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whose placement to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Implementation {
    /// carbon-c-relay 3.7 (Debian's package, amd64).
    #[value(name = "carbon-c-relay")]
    CarbonCRelay,
    /// carbon 1.1 (carbon-relay, carbon-aggregator), `lib/carbon/hashing.py`.
    #[value(name = "carbon")]
    Carbon,
}

impl Implementation {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::CarbonCRelay => "carbon-c-relay",
            Self::Carbon => "carbon",
        }
    }
}

/// Points a member gets on the `carbon_ch` and `fnv1a_ch` rings (both implementations).
pub const REPLICA_POINTS: usize = 100;

/// carbon-c-relay's limit on a ring's members (`CONN_DESTS_SIZE`).
pub const RELAY_MAX_NODES: usize = 64;

/// carbon-c-relay's limit on `replication` (an `unsigned char`, at least 1).
pub const RELAY_MAX_REPLICAS: usize = 255;

/// Why a ring cannot be built; each says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    #[error("a ring needs at least one --node")]
    NoNodes,
    #[error("{count} nodes: carbon-c-relay allows at most {RELAY_MAX_NODES} in one cluster")]
    TooManyNodes { count: usize },
    #[error("replicas must be at least 1")]
    NoReplicas,
    #[error("{replicas} replicas for {nodes} node(s): carbon-c-relay allows 1 to {RELAY_MAX_REPLICAS}, and no more than there are nodes")]
    TooManyReplicas { replicas: usize, nodes: usize },
    #[error("{replicas} replicas, but only {owning} node(s) own points on this carbon-c-relay ring (carbon-c-relay would loop forever); give the nodes distinct keys")]
    TooFewOwners { replicas: usize, owning: usize },
    #[error("node {0} is listed twice")]
    DuplicateNode(String),
    #[error("carbon has ({host}, {instance}) twice: \"destination instance already configured\"")]
    DuplicateCarbonKey { host: String, instance: String },
    #[error(
        "carbon 1.1 has no jump_fnv1a_ch (its ROUTER_HASH_TYPE is carbon_ch, fnv1a_ch or mmh3_ch)"
    )]
    NoCarbonJump,
}

/// A built ring.
#[derive(Clone, Debug)]
pub struct Ring {
    implementation: Implementation,
    hash: Hash,
    replicas: usize,
    nodes: Vec<Node>,
    layout: Layout,
}

/// Where the members sit.
#[derive(Clone, Debug)]
enum Layout {
    /// Points sorted by position; positions may repeat (carbon-c-relay), then every point
    /// of a run names the run's first member.
    Points(Vec<Point>),
    /// Jump hash buckets: bucket i is member `buckets[i]`.
    Buckets(Vec<usize>),
}

/// One point of a positional ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    /// 0–65535, or above for carbon's shifted points.
    pos: u32,
    /// Index into the members.
    node: usize,
}

impl Ring {
    /// Builds `hash` as `implementation` does from `nodes` in config order, placing each
    /// key on `replicas` members.
    pub fn new(
        implementation: Implementation,
        hash: Hash,
        nodes: Vec<Node>,
        replicas: usize,
    ) -> Result<Self, RingError> {
        if nodes.is_empty() {
            return Err(RingError::NoNodes);
        }
        if replicas == 0 {
            return Err(RingError::NoReplicas);
        }
        let layout = match implementation {
            Implementation::CarbonCRelay => {
                if nodes.len() > RELAY_MAX_NODES {
                    return Err(RingError::TooManyNodes { count: nodes.len() });
                }
                if replicas > nodes.len() || replicas > RELAY_MAX_REPLICAS {
                    return Err(RingError::TooManyReplicas {
                        replicas,
                        nodes: nodes.len(),
                    });
                }
                for (i, n) in nodes.iter().enumerate() {
                    if nodes[..i]
                        .iter()
                        .any(|m| m.host == n.host && m.port == n.port)
                    {
                        return Err(RingError::DuplicateNode(n.address()));
                    }
                }
                let layout = relay::layout(hash, &nodes);
                let owning = owning_count(&layout, nodes.len());
                if owning < replicas {
                    return Err(RingError::TooFewOwners { replicas, owning });
                }
                layout
            }
            Implementation::Carbon => {
                for (i, n) in nodes.iter().enumerate() {
                    if nodes[..i]
                        .iter()
                        .any(|m| m.host == n.host && m.instance == n.instance)
                    {
                        return Err(RingError::DuplicateCarbonKey {
                            host: n.host.clone(),
                            instance: n.instance.clone().unwrap_or_else(|| "None".into()),
                        });
                    }
                }
                carbon::layout(hash, &nodes)?
            }
        };
        Ok(Self {
            implementation,
            hash,
            replicas,
            nodes,
            layout,
        })
    }

    /// The members, in the order given.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The ring type.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Whose placement this is.
    pub fn implementation(&self) -> Implementation {
        self.implementation
    }

    /// How many owners [`Ring::owners`] names (carbon may name fewer: see there).
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// The member that owns `key` (the first of [`Ring::owners`]).
    pub fn owner(&self, key: &[u8]) -> usize {
        let mut out = Vec::with_capacity(self.replicas);
        self.owners(key, &mut out);
        out[0]
    }

    /// Replaces `out` with the members that get `key`, owner first. carbon-c-relay always
    /// names `replicas` distinct members; carbon names fewer when fewer distinct hosts
    /// are on the ring (its `DIVERSE_REPLICAS`).
    pub fn owners(&self, key: &[u8], out: &mut Vec<usize>) {
        out.clear();
        match (&self.layout, self.implementation) {
            (Layout::Points(points), Implementation::CarbonCRelay) => {
                relay::walk(points, relay::position(self.hash, key), self.replicas, out);
            }
            (Layout::Points(points), Implementation::Carbon) => {
                carbon::walk(points, &self.nodes, self.hash, key, self.replicas, out);
            }
            (Layout::Buckets(buckets), _) => relay::jump_owners(buckets, key, self.replicas, out),
        }
    }

    /// Members that own no point, so never a metric: carbon-c-relay gives a tied position
    /// to one member only, and two members with the same key text (`carbon_ch` members on
    /// one host without instances, `fnv1a_ch` members with the same instance) tie on all
    /// of their points. Always empty for jump and for carbon's rings.
    pub fn idle_nodes(&self) -> Vec<usize> {
        match &self.layout {
            Layout::Points(points) => (0..self.nodes.len())
                .filter(|n| !points.iter().any(|p| p.node == *n))
                .collect(),
            Layout::Buckets(_) => Vec::new(),
        }
    }
}

/// Members owning at least one point or bucket.
fn owning_count(layout: &Layout, nodes: usize) -> usize {
    match layout {
        Layout::Points(points) => {
            let mut seen = vec![false; nodes];
            for p in points {
                seen[p.node] = true;
            }
            seen.iter().filter(|s| **s).count()
        }
        Layout::Buckets(b) => b.len(),
    }
}

/// The index of the first point at or after `pos`, wrapping to 0 past the end (both
/// implementations' lookup: the relay's binary search, carbon's `bisect_left`).
fn first_at_or_after(points: &[Point], pos: u32) -> usize {
    let i = points.partition_point(|p| p.pos < pos);
    if i == points.len() {
        0
    } else {
        i
    }
}

/// How carbon-c-relay (amd64) widens key bytes in FNV-1a.
const RELAY_WIDEN: Widen = Widen::SignedChar;

#[cfg(test)]
mod tests;
