//! Where points go: which shard owns a series name, and ([`forward`]) the Graphite
//! forwarder that relays every flush to another carbon.
//!
//! The owner of a name is `hash(name) % shards`, with ahash under fixed seeds so the
//! owner is the same on every run and every shard. The owner holds the name's StatsD
//! aggregate, its write-back cache and its whisper file.

pub mod forward;

/// Fixed seeds: ownership must be stable across restarts.
const SEEDS: [u64; 4] = [
    0x6c6f_6e73_6461_6c65,
    0x6974_6520_7368_6172,
    0x6473_2062_7920_6e61,
    0x6d65_2068_6173_6821,
];

/// The fixed-seed hasher used for ownership.
pub fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(SEEDS[0], SEEDS[1], SEEDS[2], SEEDS[3])
}

/// Routes names to shards.
#[derive(Clone)]
pub struct Router {
    hasher: ahash::RandomState,
    shards: usize,
}

impl Router {
    /// A router over `shards` shards (at least one).
    pub fn new(shards: usize) -> Self {
        Self {
            hasher: hasher(),
            shards: shards.max(1),
        }
    }

    /// The shard that owns `name`.
    pub fn owner(&self, name: &[u8]) -> usize {
        if self.shards == 1 {
            return 0;
        }
        (self.hasher.hash_one(name) % self.shards as u64) as usize
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_stable_and_in_range() {
        let a = Router::new(4);
        let b = Router::new(4);
        let mut seen = [0usize; 4];
        for i in 0..1000 {
            let name = format!("api.host{i}.latency");
            let o = a.owner(name.as_bytes());
            assert_eq!(o, b.owner(name.as_bytes()));
            seen[o] += 1;
        }
        assert!(seen.iter().all(|&n| n > 150), "uneven spread {seen:?}");
        assert_eq!(Router::new(1).owner(b"x"), 0);
    }
}
