//! The order in which `CPython` iterates `set(list_of_ints)`.
//!
//! Why: whisper's `update_many` propagates each touched lower interval in the iteration
//! order of a Python `set`. When the lower archive is still empty, the first interval
//! propagated becomes its base point, so the order decides the file's bytes (for example
//! `{1699999500, 1699999800}` iterates 1699999800 first in an 8-slot table).
//!
//! Contract: for non-negative integers below 2^61 − 1 (whose hash is the value itself),
//! [`iteration_order`] returns the distinct values in the order `CPython` 3.11's
//! `setobject.c` yields them for a set built by adding the values one by one: open
//! addressing over a power-of-two table starting at 8 slots, up to 9 linear probes then
//! perturbed probing (`i = 5i + 1 + perturb`, `perturb >>= 5`), and a resize to the
//! smallest power of two above `4·used` (`2·used` past 50 000 entries) when
//! `fill·5 ≥ mask·3`, re-inserting in table order. Values outside that range (never
//! produced by whisper's slot arithmetic on valid timestamps) fall back to ascending order.
//! The order is the same in `CPython` 3.10 to 3.13 (checked on 3000 random sets).

const MIN_SIZE: usize = 8;
const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;
/// Python's hash modulus for ints: 2^61 − 1.
const HASH_MODULUS: i64 = (1 << 61) - 1;

/// Finds the slot for `hash` in `table` (which has no deleted entries): the first empty
/// slot of the probe sequence, or the slot already holding `hash`.
fn probe(table: &[Option<i64>], hash: usize) -> usize {
    let mask = table.len() - 1;
    let mut perturb = hash;
    let mut i = hash & mask;
    loop {
        let probes = if i + LINEAR_PROBES <= mask {
            LINEAR_PROBES
        } else {
            0
        };
        for (j, entry) in table.iter().enumerate().skip(i).take(probes + 1) {
            match entry {
                None => return j,
                Some(v) if *v as usize == hash => return j,
                Some(_) => {}
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = i.wrapping_mul(5).wrapping_add(1).wrapping_add(perturb) & mask;
    }
}

/// The distinct `values` in `CPython`'s `set` iteration order (see the module doc).
pub fn iteration_order(values: &[i64]) -> Vec<i64> {
    if values.iter().any(|&v| !(0..HASH_MODULUS).contains(&v)) {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        return sorted;
    }
    let mut table: Vec<Option<i64>> = vec![None; MIN_SIZE];
    let mut used = 0_usize;
    for &v in values {
        let slot = probe(&table, v as usize);
        if table[slot].is_some() {
            continue;
        }
        table[slot] = Some(v);
        used += 1;
        let mask = table.len() - 1;
        // without deletions `fill == used`
        if used * 5 >= mask * 3 {
            let min_used = if used > 50_000 { used * 2 } else { used * 4 };
            let mut size = MIN_SIZE;
            while size <= min_used {
                size <<= 1;
            }
            let mut bigger: Vec<Option<i64>> = vec![None; size];
            for old in table.iter().flatten() {
                let s = probe(&bigger, *old as usize);
                bigger[s] = Some(*old);
            }
            table = bigger;
        }
    }
    table.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orders printed by `CPython` 3.11 for `list(set(xs))`.
    #[test]
    fn matches_cpython() {
        assert_eq!(
            iteration_order(&[1_699_999_500, 1_699_999_800]),
            [1_699_999_800, 1_699_999_500]
        );
        assert_eq!(iteration_order(&[3, 1, 2, 1]), [1, 2, 3]);
        assert_eq!(iteration_order(&[8, 0, 16]), [8, 0, 16]);
        assert_eq!(iteration_order(&[]), Vec::<i64>::new());
    }
}
