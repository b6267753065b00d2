//! etsy statsd's `proxy.js` ring: where the StatsD cluster proxy sends each line.
//!
//! `proxy.js` (npm `statsd@0.9.0`) builds npm `hashring` 3.2.0 over its healthy nodes,
//! each named `"host:port"` (the StatsD port, as written in its config) with weight 100,
//! MD5, and `replicas: 0` (which `hashring` raises to 1). It hashes the text of each line
//! before the line's first `:` and sends the line to the owner. As `hashring` builds it:
//!
//! - every node gets `floor(weight / total × 40 × nodes)` points, computed in binary
//!   floating point left to right; with equal weights that is 40, except where the
//!   rounding falls just short (7 nodes: 39);
//! - point `i` of a node sits at the first four bytes of `md5("host:port-i")` read as a
//!   little-endian `u32`;
//! - points are sorted by position, stable (a tie keeps config order), and a key goes to
//!   the first point at or above the little-endian `u32` of its own MD5, wrapping to the
//!   first point past the end;
//! - node names are map keys: a node listed twice is one node;
//! - strings are hashed as UTF-8; `proxy.js` decodes each datagram as UTF-8 first, so an
//!   invalid byte sequence is hashed as U+FFFD (Rust's lossy decoding replaces the same
//!   maximal subparts).
//!
//! A node that fails `proxy.js`'s health check leaves the ring, which is then rebuilt
//! from the nodes left: build a [`ProxyRing`] of those.
//!
//! Checked against placements `hashring` itself printed (`tests/cluster_ring.rs`,
//! `tests/data/cluster/proxy.txt`, made by `gen_proxy_vectors.sh`).

use std::borrow::Cow;

use super::md5;

/// `hashring`'s default virtual nodes per server (`vnode count`).
const VNODES: f64 = 40.0;

/// The weight `proxy.js` gives every node.
const WEIGHT: f64 = 100.0;

/// Why a proxy ring cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyRingError {
    #[error("a ring needs at least one --node")]
    NoNodes,
    #[error("node {0:?} is not HOST:PORT as in proxy.js's config (nodes: [{{host, port}}])")]
    NotHostPort(String),
}

/// `proxy.js`'s ring over its nodes.
#[derive(Clone, Debug)]
pub struct ProxyRing {
    /// `host:port`, in config order, each once.
    nodes: Vec<String>,
    /// (position, node index), sorted by position, ties in config order.
    points: Vec<(u32, usize)>,
}

impl ProxyRing {
    /// Builds the ring over `nodes` (`host:port`, in the order of `proxy.js`'s `nodes`).
    pub fn new<S: AsRef<str>>(nodes: &[S]) -> Result<Self, ProxyRingError> {
        let mut names: Vec<String> = Vec::with_capacity(nodes.len());
        for n in nodes {
            let n = n.as_ref();
            match n.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                _ => return Err(ProxyRingError::NotHostPort(n.to_owned())),
            }
            if !names.iter().any(|m| m == n) {
                names.push(n.to_owned());
            }
        }
        if names.is_empty() {
            return Err(ProxyRingError::NoNodes);
        }
        let per_node = points_per_node(names.len());
        let mut points = Vec::with_capacity(per_node * names.len());
        for (index, name) in names.iter().enumerate() {
            for i in 0..per_node {
                let d = md5::digest(format!("{name}-{i}").as_bytes());
                points.push((position(&d), index));
            }
        }
        // Stable: equal positions keep config order, as JavaScript's sort does.
        points.sort_by_key(|p| p.0);
        Ok(Self {
            nodes: names,
            points,
        })
    }

    /// The nodes, in config order (a repeated one once).
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The node that gets the lines whose key (see [`line_key`]) is `key`.
    pub fn owner(&self, key: &[u8]) -> usize {
        let text: Cow<'_, str> = String::from_utf8_lossy(key);
        let pos = position(&md5::digest(text.as_bytes()));
        let i = self.points.partition_point(|p| p.0 < pos);
        self.points.get(i).unwrap_or(&self.points[0]).1
    }
}

/// Points each node gets when `nodes` nodes of equal weight share the ring: `hashring`'s
/// `floor(percentage × vnodes × servers)` in `f64`, evaluated in its order.
pub fn points_per_node(nodes: usize) -> usize {
    let n = nodes as f64;
    let percentage = WEIGHT / (WEIGHT * n);
    // Truncation is the point: JavaScript's Math.floor of a small positive number.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let points = (percentage * VNODES * n).floor() as usize;
    points
}

/// The part of a StatsD line `proxy.js` hashes: everything before the first `:` (the
/// whole line when it has none).
pub fn line_key(line: &[u8]) -> &[u8] {
    line.iter()
        .position(|&b| b == b':')
        .map_or(line, |i| &line[..i])
}

/// `hashring`'s position of a digest: its first four bytes, little-endian.
fn position(d: &[u8; 16]) -> u32 {
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_per_node_follows_the_float_rounding() {
        let got: Vec<usize> = (1..=12).map(points_per_node).collect();
        assert_eq!(got, [40, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40]);
    }

    #[test]
    fn the_key_is_the_text_before_the_first_colon() {
        assert_eq!(line_key(b"api.login:1|c"), b"api.login");
        assert_eq!(line_key(b"a:b:1|c"), b"a");
        assert_eq!(line_key(b"nocolon"), b"nocolon");
        assert_eq!(line_key(b":1|c"), b"");
    }

    #[test]
    fn a_repeated_node_is_one_node() {
        let r = ProxyRing::new(&["a:1", "b:2", "a:1"]).unwrap();
        assert_eq!(r.nodes(), ["a:1", "b:2"]);
        assert_eq!(r.points.len(), 80);
    }

    #[test]
    fn nodes_must_be_host_port() {
        for bad in ["a", "a:", ":1", "a:x", "a:70000"] {
            assert!(
                matches!(ProxyRing::new(&[bad]), Err(ProxyRingError::NotHostPort(_))),
                "{bad}"
            );
        }
        assert_eq!(
            ProxyRing::new::<&str>(&[]).unwrap_err(),
            ProxyRingError::NoNodes
        );
    }

    #[test]
    fn a_key_past_the_last_point_wraps_to_the_first() {
        let r = ProxyRing::new(&["a:1", "b:2", "c:3"]).unwrap();
        let last = r.points.last().unwrap().0;
        let first_owner = r.points[0].1;
        // Find a key hashing above the last point (a few thousand tries at most).
        let key = (0..1_000_000)
            .map(|i| format!("k{i}"))
            .find(|k| position(&md5::digest(k.as_bytes())) > last)
            .unwrap();
        assert_eq!(r.owner(key.as_bytes()), first_owner);
    }

    #[test]
    fn invalid_utf8_is_hashed_as_the_replacement_character() {
        let r = ProxyRing::new(&["a:1", "b:2", "c:3", "d:4"]).unwrap();
        assert_eq!(r.owner(b"x\xffy"), r.owner("x\u{fffd}y".as_bytes()));
    }
}
