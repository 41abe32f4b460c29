//! A fixed-size hash index from a key (already a keyed hash) to its slot in a table.
//!
//! Written here rather than taken from `std` because a table's memory must not grow: std's
//! `HashMap` leaves tombstones on removal and, with a table kept full by eviction, grows
//! (allocates, in the authorization path) to clear them. This one is open addressing with
//! linear probing and backward-shift deletion, so it never holds tombstones; it is sized
//! once at twice the table's capacity (load at most 1/2), and a key and its slot share one
//! 16-byte entry, so a lookup is usually one cache line.

use crate::key::mix;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    key: u64,
    slot: u32,
}

const VACANT: Entry = Entry { key: 0, slot: EMPTY };

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SlotIndex {
    entries: Vec<Entry>,
    mask: usize,
    len: usize,
    capacity: usize,
}

impl SlotIndex {
    /// An index for up to `capacity` keys (capacity < 2^31).
    pub fn new(capacity: usize) -> SlotIndex {
        let size = (capacity.max(1) * 2).next_power_of_two();
        SlotIndex { entries: vec![VACANT; size], mask: size - 1, len: 0, capacity }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// Write every page now (see `Store::prefault`).
    pub fn prefault(&mut self) {
        self.entries.iter_mut().step_by(256).for_each(|e| *e = VACANT);
    }

    fn home(&self, key: u64) -> usize {
        (mix(key) as usize) & self.mask
    }

    /// Read the line `key` would be looked up in, and nothing else: done for several keys
    /// at once before the lookups, it lets their cache misses overlap.
    pub fn touch(&self, key: u64) -> u64 {
        self.entries[self.home(key)].key
    }

    pub fn get(&self, key: u64) -> Option<u32> {
        let mut at = self.home(key);
        loop {
            let entry = self.entries[at];
            if entry.slot == EMPTY {
                return None;
            }
            if entry.key == key {
                return Some(entry.slot);
            }
            at = (at + 1) & self.mask;
        }
    }

    /// Map `key` to `slot`. Returns false (and changes nothing) when the index already holds
    /// its capacity of keys; the table evicts before inserting, so that is a caller's bug.
    pub fn insert(&mut self, key: u64, slot: u32) -> bool {
        let mut at = self.home(key);
        loop {
            let entry = &mut self.entries[at];
            if entry.slot == EMPTY {
                if self.len == self.capacity {
                    return false;
                }
                *entry = Entry { key, slot };
                self.len += 1;
                return true;
            }
            if entry.key == key {
                entry.slot = slot;
                return true;
            }
            at = (at + 1) & self.mask;
        }
    }

    /// Remove `key`, shifting back the entries after it so no probe chain is broken.
    pub fn remove(&mut self, key: u64) {
        let mut at = self.home(key);
        loop {
            let entry = self.entries[at];
            if entry.slot == EMPTY {
                return;
            }
            if entry.key == key {
                break;
            }
            at = (at + 1) & self.mask;
        }
        let mut hole = at;
        let mut next = (hole + 1) & self.mask;
        while self.entries[next].slot != EMPTY {
            let home = self.home(self.entries[next].key);
            // Move the entry into the hole if its home is not between the hole and it.
            if (next.wrapping_sub(home) & self.mask) >= (next.wrapping_sub(hole) & self.mask) {
                self.entries[hole] = self.entries[next];
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
        self.entries[hole] = VACANT;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_hash_map_under_churn() {
        let mut index = SlotIndex::new(64);
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut rng = crate::bench::SplitMix::new(5);
        for step in 0..200_000u32 {
            // Few distinct keys (and small ones) so chains, wrap-around and reuse happen.
            let key = rng.below(150);
            if model.len() < 64 && rng.below(2) == 0 {
                assert!(index.insert(key, step));
                model.insert(key, step);
            } else {
                index.remove(key);
                model.remove(&key);
            }
            assert_eq!(index.len(), model.len());
            let probe = rng.below(150);
            assert_eq!(index.get(probe), model.get(&probe).copied(), "step {step}");
        }
        let memory = index.memory_bytes();
        assert_eq!(memory, 128 * 16, "never grows");
    }

    #[test]
    fn refuses_beyond_capacity() {
        let mut index = SlotIndex::new(2);
        assert!(index.insert(1, 0) && index.insert(2, 1) && index.insert(2, 5));
        assert!(!index.insert(3, 2));
        assert_eq!((index.get(2), index.get(3), index.len()), (Some(5), None, 2));
    }
}
