//! carbon-c-relay 3.7's rings (`consistent-hash.c`), as the Debian amd64 build runs them.
//!
//! Ring building follows the relay step by step where the result depends on it: the key
//! texts are formatted into a 256-byte buffer (so cut at 255 bytes), the points are
//! sorted with glibc's `qsort` (a stable top-down merge sort, reproduced in [`msort`] so
//! that even the relay's inconsistent instance comparison orders members the same), and
//! after sorting each run of equal positions is handed to its first point's member.

use std::cmp::Ordering;

use super::{first_at_or_after, Hash, Layout, Point, RELAY_WIDEN, REPLICA_POINTS};
use crate::cluster::fnv::{fnv1a_32, fnv1a_64, fold_16};
use crate::cluster::md5;
use crate::cluster::node::Node;

/// The relay formats ring keys with `snprintf` into `char buf[256]`.
const KEY_MAX: usize = 255;

/// The points or buckets of `hash` over `nodes` (config order).
pub(super) fn layout(hash: Hash, nodes: &[Node]) -> Layout {
    match hash {
        Hash::CarbonCh => {
            let mut points = Vec::with_capacity(nodes.len() * REPLICA_POINTS);
            for (n, node) in nodes.iter().enumerate() {
                let instance = node.instance.as_deref().map(instance_text);
                for i in 0..REPLICA_POINTS {
                    let key = match &instance {
                        Some(inst) => format!("('{}', '{inst}'):{i}", node.host),
                        None => format!("('{}', None):{i}", node.host),
                    };
                    points.push(Point {
                        pos: carbon_position(cut(key.as_bytes())),
                        node: n,
                    });
                }
            }
            msort(&mut points, &|l, r| {
                l.pos.cmp(&r.pos).then_with(|| {
                    let (a, b) = (&nodes[l.node], &nodes[r.node]);
                    let inst = |n: &Node| n.instance.as_deref().map(instance_text);
                    a.host.as_bytes().cmp(b.host.as_bytes()).then_with(|| {
                        match (inst(a), inst(b)) {
                            (None, None) => Ordering::Equal,
                            (None, Some(_)) => Ordering::Greater,
                            (Some(_), None) => Ordering::Less,
                            (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
                        }
                    })
                })
            });
            Layout::Points(first_takes_run(points))
        }
        Hash::Fnv1aCh => {
            let mut points = Vec::with_capacity(nodes.len() * REPLICA_POINTS);
            for (n, node) in nodes.iter().enumerate() {
                let instance = node.instance.as_deref().map(instance_text);
                for i in 0..REPLICA_POINTS {
                    let key = match &instance {
                        Some(inst) => format!("{i}-{inst}"),
                        None => format!("{i}-{}:{}", node.host, node.port),
                    };
                    points.push(Point {
                        pos: fnv_position(cut(key.as_bytes())),
                        node: n,
                    });
                }
            }
            msort(&mut points, &|l, r| {
                let (a, b) = (&nodes[l.node], &nodes[r.node]);
                l.pos
                    .cmp(&r.pos)
                    .then_with(|| a.host.as_bytes().cmp(b.host.as_bytes()))
                    .then_with(|| a.port.cmp(&b.port))
            });
            Layout::Points(first_takes_run(points))
        }
        Hash::JumpFnv1aCh => {
            let mut buckets: Vec<usize> = (0..nodes.len()).collect();
            msort(
                &mut buckets,
                &|&l, &r| match (&nodes[l].instance, &nodes[r].instance) {
                    (None, None) => l.cmp(&r),
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(a), Some(b)) => jump_instance_order(&instance_text(a), &instance_text(b)),
                },
            );
            Layout::Buckets(buckets)
        }
    }
}

/// The instance as the relay keeps it: an instance made only of digits is a number to
/// its config lexer, read with `atoi` and printed back with `%d` (`007` is `7`; past
/// `i64::MAX` `strtol` saturates, and the `int` keeps the low 32 bits).
pub fn instance_text(instance: &str) -> String {
    if instance.is_empty() || !instance.bytes().all(|b| b.is_ascii_digit()) {
        return instance.to_owned();
    }
    let value = instance.bytes().fold(0i64, |v, d| {
        v.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    (value as i32).to_string()
}

/// The jump ring's order of two instances: as numbers when both parse whole as `strtol`
/// numbers (compared as `(int)(l - r)`), else byte-wise.
fn jump_instance_order(l: &str, r: &str) -> Ordering {
    if let (Some(a), Some(b)) = (strtol_whole(l), strtol_whole(r)) {
        return (a.wrapping_sub(b) as i32).cmp(&0);
    }
    l.as_bytes().cmp(r.as_bytes())
}

/// `strtol(s, &end, 10)` when `*end == '\0'` afterwards: leading whitespace, an optional
/// sign, at least one digit (or the empty string, which is 0), saturating at the `long`
/// range.
fn strtol_whole(s: &str) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits
        .bytes()
        .fold(0i128, |v, d| (v * 10 + i128::from(d - b'0')).min(1 << 64));
    let value = if negative { -magnitude } else { magnitude };
    Some(value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

fn cut(key: &[u8]) -> &[u8] {
    &key[..key.len().min(KEY_MAX)]
}

/// `carbon_ch`'s position of a key: the first two bytes of its MD5.
fn carbon_position(key: &[u8]) -> u32 {
    let d = md5::digest(key);
    u32::from(u16::from_be_bytes([d[0], d[1]]))
}

/// `fnv1a_ch`'s position of a key, FNV-1a with the relay's byte widening.
fn fnv_position(key: &[u8]) -> u32 {
    u32::from(fold_16(fnv1a_32(key, RELAY_WIDEN)))
}

/// A key's position on a `carbon_ch` or `fnv1a_ch` ring.
pub(super) fn position(hash: Hash, key: &[u8]) -> u32 {
    match hash {
        Hash::CarbonCh => carbon_position(key),
        Hash::Fnv1aCh | Hash::JumpFnv1aCh => fnv_position(key),
    }
}

/// After sorting, every point of a run of equal positions names the run's first member
/// (so the lookup, whichever point of the run it lands on, answers that member).
fn first_takes_run(mut points: Vec<Point>) -> Vec<Point> {
    for i in 1..points.len() {
        if points[i].pos == points[i - 1].pos {
            points[i].node = points[i - 1].node;
        }
    }
    points
}

/// The owner and replicas: from the first point at or after `pos`, the next distinct
/// members, wrapping. The ring must hold at least `replicas` distinct members.
pub(super) fn walk(points: &[Point], pos: u32, replicas: usize, out: &mut Vec<usize>) {
    let mut t = first_at_or_after(points, pos);
    while out.len() < replicas {
        let node = points[t].node;
        if !out.contains(&node) {
            out.push(node);
        }
        t = (t + 1) % points.len();
    }
}

/// `jump_fnv1a_ch`: the jump bucket of `fnv1a_64(key)`; for each further replica the
/// hash is stirred (xorshift and a multiply) and the chosen bucket replaced by the last.
pub(super) fn jump_owners(buckets: &[usize], key: &[u8], replicas: usize, out: &mut Vec<usize>) {
    let mut left = buckets.to_vec();
    let mut hash = fnv1a_64(key, RELAY_WIDEN);
    loop {
        let j = jump_bucket(hash, left.len());
        out.push(left[j]);
        if out.len() == replicas {
            return;
        }
        hash ^= hash >> 12;
        hash ^= hash << 25;
        hash ^= hash >> 27;
        hash = hash.wrapping_mul(2_685_821_657_736_338_717);
        let last = left.len() - 1;
        left[j] = left[last];
        left.truncate(last);
    }
}

/// Lamping and Veach's jump consistent hash, with the relay's floating-point steps.
pub fn jump_bucket(mut key: u64, buckets: usize) -> usize {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < buckets as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as usize
}

/// glibc's `qsort` as Debian 12 runs it for these arrays (`msort_with_tmp`): split at
/// `n / 2`, sort both halves, merge taking from the left while `cmp(left, right) <= 0`.
/// Stable, and it gives the relay's order even where the comparison is not a total order.
fn msort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering) {
    let mut tmp = Vec::with_capacity(v.len());
    msort_with_tmp(v, &mut tmp, cmp);
}

fn msort_with_tmp<T: Copy>(v: &mut [T], tmp: &mut Vec<T>, cmp: &impl Fn(&T, &T) -> Ordering) {
    if v.len() <= 1 {
        return;
    }
    let n1 = v.len() / 2;
    {
        let (a, b) = v.split_at_mut(n1);
        msort_with_tmp(a, tmp, cmp);
        msort_with_tmp(b, tmp, cmp);
    }
    tmp.clear();
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < v.len() {
        if cmp(&v[i], &v[j]).is_le() {
            tmp.push(v[i]);
            i += 1;
        } else {
            tmp.push(v[j]);
            j += 1;
        }
    }
    tmp.extend_from_slice(&v[i..n1]);
    let merged = tmp.len();
    v[..merged].copy_from_slice(tmp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_text_is_the_lexers() {
        assert_eq!(instance_text("a"), "a");
        assert_eq!(instance_text("007"), "7");
        assert_eq!(instance_text("0"), "0");
        assert_eq!(instance_text("7a"), "7a");
        assert_eq!(instance_text("-1"), "-1");
        assert_eq!(instance_text("2147483648"), "-2147483648");
        assert_eq!(instance_text("4294967297"), "1");
        // strtol saturates at LONG_MAX, whose low 32 bits are all ones.
        assert_eq!(instance_text("99999999999999999999"), "-1");
    }

    #[test]
    fn strtol_whole_numbers() {
        assert_eq!(strtol_whole("10"), Some(10));
        assert_eq!(strtol_whole(" -3"), Some(-3));
        assert_eq!(strtol_whole("+4"), Some(4));
        assert_eq!(strtol_whole(""), Some(0));
        assert_eq!(strtol_whole("1a"), None);
        assert_eq!(strtol_whole("-"), None);
        assert_eq!(strtol_whole(" "), None);
        assert_eq!(strtol_whole("99999999999999999999"), Some(i64::MAX));
    }

    #[test]
    fn jump_instances_sort_numerically_then_by_bytes() {
        assert_eq!(jump_instance_order("9", "10"), Ordering::Less);
        assert_eq!(jump_instance_order("10", "a"), Ordering::Less);
        assert_eq!(jump_instance_order("b", "a"), Ordering::Greater);
        assert_eq!(jump_instance_order("1", "01"), Ordering::Equal);
        // (int)(3000000000 - 0) is negative: the relay puts 3000000000 before 0.
        assert_eq!(jump_instance_order("3000000000", "0"), Ordering::Less);
    }

    /// The merge sort is stable and takes the left element on ties.
    #[test]
    fn msort_is_stable() {
        let mut v: Vec<(u8, u8)> = vec![(2, 0), (1, 1), (2, 2), (1, 3), (0, 4), (2, 5), (1, 6)];
        msort(&mut v, &|a, b| a.0.cmp(&b.0));
        assert_eq!(v, [(0, 4), (1, 1), (1, 3), (1, 6), (2, 0), (2, 2), (2, 5)]);
    }

    /// Jump hash: every bucket count gives a bucket below it, and growing the count only
    /// ever moves a key to the new bucket.
    #[test]
    fn jump_moves_only_to_new_buckets() {
        for key in [0u64, 1, 0xdead_beef, u64::MAX, 0x1234_5678_9abc_def0] {
            let mut prev = jump_bucket(key, 1);
            assert_eq!(prev, 0);
            for n in 2..=64 {
                let b = jump_bucket(key, n);
                assert!(b < n);
                assert!(
                    b == prev || b == n - 1,
                    "key {key:#x}: {prev} -> {b} at {n}"
                );
                prev = b;
            }
        }
    }

    #[test]
    fn keys_are_cut_at_255_bytes() {
        let long = vec![b'x'; 300];
        assert_eq!(cut(&long).len(), 255);
        assert_eq!(cut(b"short"), b"short");
    }
}
