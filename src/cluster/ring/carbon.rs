//! carbon 1.1's rings (`lib/carbon/hashing.py` `ConsistentHashRing`, `routers.py`
//! `ConsistentHashingRouter`), as carbon-relay and carbon-aggregator run them on Python 3.
//!
//! Members are added in config order; each of a member's 100 points takes its hashed
//! position, or, when a point already sits there, the next free position above (a
//! shifted point may pass 65535 and still owns the keys above the last point below it).
//! Positions are therefore unique, and a key goes to the first point at or after its
//! position, wrapping.

use std::collections::HashSet;

use super::{first_at_or_after, Hash, Layout, Point, RingError, REPLICA_POINTS};
use crate::cluster::fnv::{fnv1a_32, fold_16, Widen};
use crate::cluster::md5;
use crate::cluster::node::Node;

/// The points of `hash` over `nodes` (config order, duplicates already refused).
pub(super) fn layout(hash: Hash, nodes: &[Node]) -> Result<Layout, RingError> {
    if hash == Hash::JumpFnv1aCh {
        return Err(RingError::NoCarbonJump);
    }
    let mut taken = HashSet::with_capacity(nodes.len() * REPLICA_POINTS);
    let mut points = Vec::with_capacity(nodes.len() * REPLICA_POINTS);
    for (n, node) in nodes.iter().enumerate() {
        for i in 0..REPLICA_POINTS {
            let key = match hash {
                // "%s:%d" % ((server, instance), i): the tuple's repr.
                Hash::CarbonCh => format!("{}:{i}", tuple_repr(node)),
                // "%d-%s" % (i, instance): str(None) when there is none.
                _ => format!("{i}-{}", node.instance.as_deref().unwrap_or("None")),
            };
            let mut pos = position(hash, key.as_bytes());
            while !taken.insert(pos) {
                pos += 1;
            }
            points.push(Point { pos, node: n });
        }
    }
    points.sort_by_key(|p| p.pos);
    Ok(Layout::Points(points))
}

/// A key's position: `int(md5(key).hexdigest()[:4], 16)` for `carbon_ch`, the folded
/// FNV-1a of the UTF-8 bytes for `fnv1a_ch`.
fn position(hash: Hash, key: &[u8]) -> u32 {
    match hash {
        Hash::CarbonCh => {
            let d = md5::digest(key);
            u32::from(u16::from_be_bytes([d[0], d[1]]))
        }
        Hash::Fnv1aCh | Hash::JumpFnv1aCh => u32::from(fold_16(fnv1a_32(key, Widen::Unsigned))),
    }
}

/// The owners of `key`: `ConsistentHashRing.get_nodes` (from the first point at or after
/// the key's position, each member once, stopping one point short of a full lap) filtered
/// as `ConsistentHashingRouter.getDestinations` does with `DIVERSE_REPLICAS = True`
/// (a member on a host already chosen is skipped), up to `replicas`.
pub(super) fn walk(
    points: &[Point],
    nodes: &[Node],
    hash: Hash,
    key: &[u8],
    replicas: usize,
    out: &mut Vec<usize>,
) {
    let mut hosts: Vec<&str> = Vec::with_capacity(replicas);
    let mut take = |n: usize, out: &mut Vec<usize>| {
        let host = nodes[n].host.as_str();
        if !hosts.contains(&host) {
            hosts.push(host);
            out.push(n);
        }
        out.len() >= replicas
    };
    // get_nodes yields the only member first when there is one (and walks on after).
    if nodes.len() == 1 && take(0, out) {
        return;
    }
    let len = points.len();
    let mut index = first_at_or_after(points, position(hash, key));
    let last = (index + len - 1) % len;
    let mut seen: Vec<usize> = Vec::with_capacity(nodes.len());
    while seen.len() < nodes.len() && index != last {
        let n = points[index].node;
        if !seen.contains(&n) {
            seen.push(n);
            if take(n, out) {
                return;
            }
        }
        index = (index + 1) % len;
    }
}

/// Python's `repr((server, instance))`: `('10.0.0.1', 'a')`, `('10.0.0.1', None)`.
pub fn tuple_repr(node: &Node) -> String {
    let instance = match &node.instance {
        Some(i) => str_repr(i),
        None => "None".to_owned(),
    };
    format!("({}, {instance})", str_repr(&node.host))
}

/// Python 3's `repr(str)`: single quotes unless the text holds a `'` and no `"`;
/// backslash, the quote, `\t`, `\n`, `\r` escaped; other control characters as `\xNN`;
/// non-ASCII kept unless Python counts it unprintable (C1 controls, the Unicode spaces
/// and line separators, format characters and private use below: `\xNN`, `\uNNNN` or
/// `\UNNNNNNNN`). Code points unassigned in Python's Unicode tables are kept, where
/// Python would escape them.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' || c == '\x7f' => push_code(&mut out, 'x', 2, c),
            c if c.is_ascii() || python_printable(c) => out.push(c),
            c if u32::from(c) <= 0xff => push_code(&mut out, 'x', 2, c),
            c if u32::from(c) <= 0xffff => push_code(&mut out, 'u', 4, c),
            c => push_code(&mut out, 'U', 8, c),
        }
    }
    out.push(quote);
    out
}

/// `\` `kind` and the code point in `width` hex digits.
fn push_code(out: &mut String, kind: char, width: usize, c: char) {
    out.push('\\');
    out.push(kind);
    let hex = format!("{:0width$x}", u32::from(c));
    out.push_str(&hex);
}

/// Whether Python's `str.isprintable` holds for a non-ASCII character: false for the
/// assigned characters Python 3.11 counts unprintable (checked against its
/// `unicodedata` over every code point), true for all others.
fn python_printable(c: char) -> bool {
    !matches!(c as u32,
        0x80..=0xa0 | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x1680
        | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f | 0x3000
        | 0x890..=0x891 | 0x8e2 | 0xe000..=0xf8ff | 0xfeff | 0xfff9..=0xfffb | 0x110bd
        | 0x110cd | 0x13430..=0x13438 | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001
        | 0xe0020..=0xe007f | 0xf0000..=0x0010_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(spec: &str) -> Node {
        Node::parse(spec).unwrap()
    }

    #[test]
    fn tuple_reprs() {
        assert_eq!(tuple_repr(&node("10.0.0.1=a")), "('10.0.0.1', 'a')");
        assert_eq!(tuple_repr(&node("10.0.0.1:2004")), "('10.0.0.1', None)");
        assert_eq!(tuple_repr(&node("[::1]=007")), "('::1', '007')");
    }

    /// Values from Python 3.11's `repr`.
    #[test]
    fn str_reprs() {
        assert_eq!(str_repr("a"), "'a'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("both'\""), "'both\\'\"'");
        assert_eq!(str_repr("back\\slash"), "'back\\\\slash'");
        assert_eq!(str_repr("t\tn\nr\r\x01\x7f"), "'t\\tn\\nr\\r\\x01\\x7f'");
        assert_eq!(str_repr("ü€"), "'ü€'");
        assert_eq!(
            str_repr("\u{a0}\u{ad}\u{200b}\u{e000}"),
            "'\\xa0\\xad\\u200b\\ue000'"
        );
        assert_eq!(str_repr("\u{f0000}"), "'\\U000f0000'");
    }
}
