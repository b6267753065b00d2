//! Ordered key tables: the storage under every aggregate table.
//!
//! A [`KeyTable`] maps a key (bytes) to a value, hashed once per lookup with a fixed-seed
//! ahash ([`hash_key`], identical on every shard so an [`Entry`] keeps its hash when it
//! moves between shards). It remembers insertion order, which is etsy's emission order
//! (JavaScript objects iterate in insertion order). Deleted slots become holes that are
//! compacted once they outnumber the live entries.
//!
//! Invariant: `index` holds exactly the positions of the live (`Some`) slots.

use hashbrown::HashTable;

/// The fixed seeds of the table hash (any constants; they only need to be the same everywhere).
static HASHER: ahash::RandomState = ahash::RandomState::with_seeds(
    0x6c6f_6e73_6461_6c65,
    0x6974_6520_7374_6174,
    0x7364_2061_6767_7265,
    0x6761_7465_206b_6579,
);

/// The hash used by every aggregate table.
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// One key with its hash and value.
#[derive(Debug, Clone)]
pub(crate) struct Entry<V> {
    pub key: Box<[u8]>,
    pub hash: u64,
    pub value: V,
}

/// An insertion-ordered hash table keyed by bytes.
#[derive(Debug)]
pub(crate) struct KeyTable<V> {
    slots: Vec<Option<Entry<V>>>,
    index: HashTable<u32>,
    dead: usize,
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            index: HashTable::new(),
            dead: 0,
        }
    }
}

impl<V> KeyTable<V> {
    /// Live entries.
    pub fn len(&self) -> usize {
        self.slots.len() - self.dead
    }

    /// Position of `key`, if present.
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| {
                slots[i as usize].as_ref().is_some_and(|e| *e.key == *key)
            })
            .map(|&i| i as usize)
    }

    /// The value of `key`, if present.
    pub fn get(&self, hash: u64, key: &[u8]) -> Option<&V> {
        let pos = self.find(hash, key)?;
        self.slots
            .get(pos)
            .and_then(Option::as_ref)
            .map(|e| &e.value)
    }

    /// The value at a position returned by [`find`](Self::find) or [`insert`](Self::insert).
    pub fn value_mut(&mut self, pos: usize) -> Option<&mut V> {
        self.slots
            .get_mut(pos)
            .and_then(Option::as_mut)
            .map(|e| &mut e.value)
    }

    /// Insert a key known to be absent; returns its position.
    pub fn insert(&mut self, entry: Entry<V>) -> usize {
        let pos = self.slots.len();
        let hash = entry.hash;
        self.slots.push(Some(entry));
        let slots = &self.slots;
        self.index
            .insert_unique(hash, pos as u32, |&i| slot_hash(slots, i));
        pos
    }

    /// The value of `key`, inserting `make()` when absent and `room()` allows a new key.
    /// `None`: the key is absent and there is no room.
    pub fn upsert(
        &mut self,
        hash: u64,
        key: &[u8],
        room: impl FnOnce() -> bool,
        make: impl FnOnce() -> V,
    ) -> Option<&mut V> {
        let pos = match self.find(hash, key) {
            Some(p) => p,
            None if room() => self.insert(Entry {
                key: key.into(),
                hash,
                value: make(),
            }),
            None => return None,
        };
        self.value_mut(pos)
    }

    /// Remove the entry at `pos` (deletes go through [`retain`](Self::retain); this is
    /// the single-entry form the tests use to exercise compaction).
    #[cfg(test)]
    pub fn remove(&mut self, pos: usize) -> Option<Entry<V>> {
        let entry = self.slots.get_mut(pos)?.take()?;
        if let Ok(found) = self.index.find_entry(entry.hash, |&i| i as usize == pos) {
            found.remove();
        }
        self.dead += 1;
        if self.dead > 32 && self.dead > self.len() {
            self.retain(|_| true);
        }
        Some(entry)
    }

    /// Keep the entries for which `keep` returns true (it may change them), in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Entry<V>) -> bool) {
        let before = self.slots.len();
        self.slots.retain_mut(|s| s.as_mut().is_some_and(&mut keep));
        if self.slots.len() != before || self.dead > 0 {
            self.dead = 0;
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        self.index.clear();
        let slots = &self.slots;
        for (pos, slot) in slots.iter().enumerate() {
            if let Some(e) = slot {
                self.index
                    .insert_unique(e.hash, pos as u32, |&i| slot_hash(slots, i));
            }
        }
    }

    /// Slot positions, live or not: `0..slot_count()` walks the table in insertion order
    /// (with [`at`](Self::at)); positions stay valid until an entry is removed.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The entry at a slot position, if live.
    pub fn at_mut(&mut self, pos: usize) -> Option<&mut Entry<V>> {
        self.slots.get_mut(pos).and_then(Option::as_mut)
    }

    /// Live entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry<V>> {
        self.slots.iter().flatten()
    }

    /// Live entries in insertion order, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry<V>> {
        self.slots.iter_mut().flatten()
    }

    /// Remove and return every entry in insertion order; the table keeps its capacity.
    pub fn drain(&mut self) -> impl Iterator<Item = Entry<V>> + '_ {
        self.index.clear();
        self.dead = 0;
        self.slots.drain(..).flatten()
    }
}

fn slot_hash<V>(slots: &[Option<Entry<V>>], i: u32) -> u64 {
    slots[i as usize].as_ref().map_or(0, |e| e.hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(t: &mut KeyTable<u32>, k: &str, v: u32) {
        *t.upsert(hash_key(k.as_bytes()), k.as_bytes(), || true, || 0)
            .unwrap() += v;
    }

    fn keys(t: &KeyTable<u32>) -> Vec<String> {
        t.iter()
            .map(|e| String::from_utf8(e.key.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn keeps_order_through_removes_and_compaction() {
        let mut t = KeyTable::default();
        for i in 0..100 {
            put(&mut t, &format!("k{i}"), i);
        }
        for i in (0..100).filter(|i| i % 3 != 0) {
            let pos = t
                .find(
                    hash_key(format!("k{i}").as_bytes()),
                    format!("k{i}").as_bytes(),
                )
                .unwrap();
            assert_eq!(t.remove(pos).unwrap().value, i);
        }
        assert_eq!(t.len(), 34);
        let want: Vec<String> = (0..100)
            .filter(|i| i % 3 == 0)
            .map(|i| format!("k{i}"))
            .collect();
        assert_eq!(keys(&t), want);
        for i in 0..100 {
            let k = format!("k{i}");
            assert_eq!(
                t.find(hash_key(k.as_bytes()), k.as_bytes()).is_some(),
                i % 3 == 0,
                "{k}"
            );
        }
        put(&mut t, "k3", 1);
        assert_eq!(t.iter().find(|e| &*e.key == b"k3").unwrap().value, 4);
        t.retain(|e| e.value % 2 == 0);
        assert!(t.iter().all(|e| e.value % 2 == 0));
        let n = t.len();
        assert_eq!(t.drain().count(), n);
        assert_eq!(t.len(), 0);
        assert!(t.find(hash_key(b"k0"), b"k0").is_none());
    }
}
