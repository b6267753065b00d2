//! Past one host: where a relay places each metric, computed as the relay computes it.
//!
//! lonsdaleite does not build its own cluster. Carbon lines are spread over the nodes by
//! a consistent-hashing relay the Graphite world already runs (carbon-c-relay, or carbon's
//! own carbon-relay), and this module answers the question every operation on such a
//! cluster starts with: which node owns this name? The answer must be the relay's to the
//! bit, so the rings are reimplemented from the relays' algorithms and checked against
//! placements the real tools printed (`tests/cluster_ring.rs`, vectors made by
//! `tests/data/cluster/gen_vectors.sh`).
//!
//! What is here (pure: no I/O, no runtime, no clock), then the command shell:
//! - [`node`]: a member as the relay's config spells it, `HOST[:PORT][=INSTANCE]`.
//! - [`ring`]: the rings: carbon-c-relay 3.7's `carbon_ch`, `fnv1a_ch` and
//!   `jump_fnv1a_ch`, carbon 1.1's `carbon_ch` and `fnv1a_ch`; the exact key texts are in
//!   its module doc.
//! - [`intake`]: carbon-c-relay's daemon rewrites a name before it routes it, and hashes
//!   the name part of a tagged series only; this is that rewrite.
//! - [`md5`], [`fnv`]: the two hashes, FNV-1a with the relay's signed-`char` widening.
//! - [`hashring`]: etsy statsd's `proxy.js` ring (npm `hashring` 3.2.0), where the StatsD
//!   cluster proxy sends each line.
//! - [`member`]: a federation member as graphite-web's `CLUSTER_SERVERS` spells it
//!   (`[cluster] servers`); the fan-out itself is on the query side
//!   (`crate::http::federation_client`).
//! - [`whereis`]: `lonsdaleite cluster whereis`.
//! - [`rebalance`]: `lonsdaleite cluster rebalance`: the local series a ring places on
//!   another member are sent to it, verified through its render API, then removed here.
//! - [`cli`]: the `cluster` subcommands' clap shell.
//!
//! `whereis`, `rebalance` and `cli` are the only modules here that read or write anything.
//!
//! Not built yet (issue 14): `whereis` does not offer the `proxy.js` ring yet;
//! `rebalance` does not move tagged series. `docs/cluster.md` tells what exists and what
//! is planned.

pub mod cli;
pub mod fnv;
pub mod hashring;
pub mod intake;
pub mod md5;
pub mod member;
pub mod node;
pub mod rebalance;
pub mod ring;
pub mod whereis;

pub use node::{Node, NodeError};
pub use ring::{Hash, Implementation, Ring, RingError};
