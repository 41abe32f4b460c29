//! The working-key cache inside [`SoftHsm`](crate::SoftHsm): a key block under the LMK is
//! unwrapped (AES-CMAC check and AES decryption) once, and later operations on the same block
//! take the clear key and its verified header facts from here. One authorization costs about 17
//! key uses across the network (a MAC per hop, PIN translation, CVV, the card-number hash…);
//! without the cache each is a full unwrap.
//!
//! * Key: the block's own authenticator (its trailing MAC, 32 hex digits for version D) finds
//!   the entry, and the whole block is compared byte for byte before an entry counts as a hit.
//!   Only blocks whose MAC verified under the LMK are ever inserted, so a tampered block (any
//!   byte changed, MAC kept or not) is never a hit: it goes through the full unwrap and fails
//!   there. The maps use `std`'s randomly keyed SipHash, so nobody can aim collisions at a
//!   shard.
//! * Bound: at most [`KEY_CACHE_ENTRIES_MAX`] entries (fewer when the module is built with a
//!   smaller bound; 0 turns the cache off), split over up to [`KEY_CACHE_SHARDS_MAX`] shards, each
//!   behind its own lock held only for a map lookup and a reference-count increment.
//! * Eviction: CLOCK (second chance) per shard. A hit sets the entry's referenced bit; a full
//!   shard's hand sweeps its slots, clearing set bits, and replaces the first entry whose bit is
//!   clear. A hit is O(1); an insert is O(1) amortized and at most two sweeps of one shard.
//! * Zeroization: entries hold the clear key as an `Arc<OpenedKey>` whose [`Secret`] zeroizes on
//!   drop. Eviction, `forget`, `clear` and dropping the cache release the
//!   cache's reference; the bytes are zeroized at once, or when an operation still using that
//!   key returns.
//! * `Debug` shows counts only.
//!
//! What the cache does not do: decide what a key may be used for. It hands back the role, usage
//! and algorithm read from the authenticated header when the block was first opened, and
//! `SoftHsm::open` checks them against each operation on a hit exactly as on a miss.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::cipher::{Cipher, Family};
use crate::data::{self, Sealer};
use crate::des_tables::DesKey;
use crate::error::Result;
use crate::keys::{KeyAlgorithm, KeyType};
use crate::secret::Secret;

/// Most working keys one module keeps open: the default bound of [`SoftHsm`](crate::SoftHsm)'s
/// cache and the ceiling of `SoftHsm::with_key_cache_entries`. About 400 bytes each (the key
/// block, the clear key and map overhead), so 3 MiB at most; enough for the switch's and an
/// issuer's zone and card keys and an acquirer's keys of a few thousand terminals.
pub const KEY_CACHE_ENTRIES_MAX: usize = 8_192;

/// Most shards (locks) a cache is split into: more than the cores that share one module, so two
/// threads rarely wait on the same lock.
pub const KEY_CACHE_SHARDS_MAX: usize = 16;

/// Fewest entries a shard is given: a small cache stays in one shard, so its eviction order is
/// the exact CLOCK order over all its entries.
pub const KEY_CACHE_SHARD_ENTRIES_MIN: usize = 64;

/// Hex digits of a version D key block's MAC, the cache's lookup key.
const AUTHENTICATOR_HEX_LEN: usize = 32;

/// A key opened from its LMK key block: the clear bytes and what the authenticated header said
/// about them. Zeroized when the last holder (the cache, or an operation in flight) drops it.
pub(crate) struct OpenedKey {
    /// The cardnet role from optional block `10`.
    pub(crate) role: KeyType,
    /// The TR-31 key usage of the header.
    pub(crate) usage: [u8; 2],
    /// The algorithm, checked against the key's length when the block was opened.
    pub(crate) algorithm: KeyAlgorithm,
    clear: Secret,
    /// The key's cipher (`Cipher::tdes` for a DES or TDES key, `Cipher::aes` for an AES one),
    /// made at its first use: a MAC, PIN block, PVV or track under a cached key then costs no
    /// key schedule. Two or three schedules were a tenth of a MAC over a network message, and
    /// the schedules built per PIN translation, PVV check and track were 1.5 % of the
    /// acquirer's CPU and 1.2 % of the issuer's. Zeroized on drop with the key: `DesKey` clears
    /// its round keys in its own `Drop`, and the `aes` types theirs (the crate's `zeroize`
    /// feature, on in the workspace).
    cipher: OnceLock<Cipher>,
    /// A DEK's sealing keys and its keyed-hash cipher, derived at first use for the same reason
    /// (each derivation is an AES key expansion and a CMAC). Zeroized on drop with the key.
    sealer: OnceLock<Sealer>,
    hasher: OnceLock<Cipher>,
}

impl OpenedKey {
    pub(crate) fn new(role: KeyType, usage: [u8; 2], algorithm: KeyAlgorithm, clear: Secret) -> OpenedKey {
        OpenedKey {
            role,
            usage,
            algorithm,
            clear,
            cipher: OnceLock::new(),
            sealer: OnceLock::new(),
            hasher: OnceLock::new(),
        }
    }

    /// The key's cipher by its algorithm (see the field), made once.
    pub(crate) fn cipher(&self) -> Result<&Cipher> {
        if let Some(cipher) = self.cipher.get() {
            return Ok(cipher);
        }
        let clear = self.clear.expose();
        let cipher = if self.algorithm.is_aes() { Cipher::aes(clear)? } else { Cipher::tdes(clear)? };
        Ok(self.cipher.get_or_init(|| cipher))
    }

    /// The kept cipher if it is the one a byte-key function of `family` builds from these
    /// bytes (`Cipher::tdes` or `Cipher::aes`): only then may it stand in for them.
    /// `None` otherwise: an AES key handed to a TDES construction (PIN block formats 0–3, a
    /// track, a PVV) has its bytes made into a TDES cipher there, or refused, and the caller
    /// must take that path so the result or error is what it always was.
    pub(crate) fn cipher_as(&self, family: Family) -> Option<&Cipher> {
        let own = if self.algorithm.is_aes() { Family::Aes } else { Family::Tdes };
        if own != family {
            return None;
        }
        self.cipher().ok()
    }

    /// `with(kept cipher)` when [`OpenedKey::cipher_as`] has one for `family`, else `by_bytes(the
    /// clear key)`: the two are the `_with` and byte-key forms of one function.
    pub(crate) fn run<T>(
        &self,
        family: Family,
        with: impl FnOnce(&Cipher) -> Result<T>,
        by_bytes: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<T> {
        match self.cipher_as(family) {
            Some(cipher) => with(cipher),
            None => by_bytes(self.clear.expose()),
        }
    }

    /// The schedules of the key's 8-byte parts, in order, from its kept cipher; `None` for an
    /// AES key.
    pub(crate) fn des_parts(&self) -> Option<&[DesKey]> {
        self.cipher_as(Family::Tdes).and_then(Cipher::des_parts)
    }

    /// The sealing keys of this key as a DEK ([`Sealer::new`]'s errors if it is not one).
    pub(crate) fn sealer(&self) -> Result<&Sealer> {
        if let Some(sealer) = self.sealer.get() {
            return Ok(sealer);
        }
        let sealer = Sealer::new(self.clear.expose())?;
        Ok(self.sealer.get_or_init(|| sealer))
    }

    /// The keyed-hash cipher of this key as a DEK ([`data::hash_cipher`]).
    pub(crate) fn hasher(&self) -> Result<&Cipher> {
        if let Some(hasher) = self.hasher.get() {
            return Ok(hasher);
        }
        let hasher = data::hash_cipher(self.clear.expose())?;
        Ok(self.hasher.get_or_init(|| hasher))
    }

    pub(crate) fn expose(&self) -> &[u8] {
        self.clear.expose()
    }

    pub(crate) fn len(&self) -> usize {
        self.clear.len()
    }
}

impl fmt::Debug for OpenedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenedKey({} {}, {:?})", self.role, self.algorithm.name(), self.clear)
    }
}

/// What the cache has done since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyCacheStats {
    /// Entries held now.
    pub entries: usize,
    /// The bound (0: the cache is off).
    pub entries_max: usize,
    /// Opens served from the cache.
    pub hits: u64,
    /// Opens that unwrapped the key block (not in the cache, or the cache is off).
    pub misses: u64,
    /// Entries replaced because their shard was full.
    pub evictions: u64,
    /// Entries dropped by `forget` or `clear` (a key change).
    pub forgotten: u64,
}

/// The bounded, sharded map from key blocks to opened keys. See the module documentation.
pub(crate) struct KeyCache {
    shards: Vec<Mutex<Shard>>,
    router: RandomState,
    entries_max: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    forgotten: AtomicU64,
}

impl KeyCache {
    /// A cache of at most `entries_max` entries (capped at [`KEY_CACHE_ENTRIES_MAX`]); 0 makes
    /// one that holds nothing.
    pub(crate) fn new(entries_max: usize) -> KeyCache {
        let entries_max = entries_max.min(KEY_CACHE_ENTRIES_MAX);
        let count = if entries_max == 0 {
            0
        } else {
            (entries_max / KEY_CACHE_SHARD_ENTRIES_MIN).clamp(1, KEY_CACHE_SHARDS_MAX)
        };
        // Spread the bound exactly: the first `entries_max % count` shards take one more.
        let shards = (0..count)
            .map(|index| {
                let capacity = entries_max / count + usize::from(index < entries_max % count);
                Mutex::new(Shard::new(capacity))
            })
            .collect();
        KeyCache {
            shards,
            router: RandomState::new(),
            entries_max,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            forgotten: AtomicU64::new(0),
        }
    }

    /// The opened key of exactly this block, if it is held.
    pub(crate) fn get(&self, block: &str) -> Option<Arc<OpenedKey>> {
        let found = self.shard(block).and_then(|shard| lock(shard).get(block));
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keep `key`, opened from `block` whose MAC the caller has just verified under the LMK.
    pub(crate) fn insert(&self, block: &str, key: Arc<OpenedKey>) {
        let Some(shard) = self.shard(block) else { return };
        let evicted = lock(shard).insert(block, key);
        if evicted.is_some() {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        // Dropped (and zeroized, unless an operation still holds it) outside the lock.
        drop(evicted);
    }

    /// Drop the entry of this block, if any (its key was replaced or withdrawn).
    pub(crate) fn forget(&self, block: &str) -> bool {
        let Some(shard) = self.shard(block) else { return false };
        let removed = lock(shard).remove(block);
        let found = removed.is_some();
        if found {
            self.forgotten.fetch_add(1, Ordering::Relaxed);
        }
        drop(removed);
        found
    }

    /// Drop every entry.
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let slots = lock(shard).take_all();
            self.forgotten.fetch_add(slots.len() as u64, Ordering::Relaxed);
            drop(slots);
        }
    }

    pub(crate) fn stats(&self) -> KeyCacheStats {
        KeyCacheStats {
            entries: self.shards.iter().map(|shard| lock(shard).slots.len()).sum(),
            entries_max: self.entries_max,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            forgotten: self.forgotten.load(Ordering::Relaxed),
        }
    }

    fn shard(&self, block: &str) -> Option<&Mutex<Shard>> {
        if self.shards.is_empty() {
            return None;
        }
        let hash = self.router.hash_one(authenticator(block));
        // The remainder is below the shard count, so it fits a usize.
        self.shards.get((hash % self.shards.len() as u64) as usize)
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        f.debug_struct("KeyCache")
            .field("entries", &stats.entries)
            .field("entries_max", &stats.entries_max)
            .field("hits", &stats.hits)
            .field("misses", &stats.misses)
            .field("evictions", &stats.evictions)
            .finish()
    }
}

/// A shard's lock. A thread that panicked while holding it left the shard consistent (no
/// method below can panic halfway through an update), so a poisoned lock is used as it is.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The block's trailing MAC (the whole block if it is shorter, which no version D block is).
fn authenticator(block: &str) -> &str {
    block.get(block.len().saturating_sub(AUTHENTICATOR_HEX_LEN)..).unwrap_or(block)
}

struct Slot {
    block: Box<str>,
    key: Arc<OpenedKey>,
    /// CLOCK's second-chance bit: set by a hit, cleared by the passing hand.
    referenced: bool,
}

/// One lock's worth of entries: a map from authenticator to slot, and the slots the CLOCK hand
/// walks.
struct Shard {
    index: HashMap<Box<str>, usize>,
    slots: Vec<Slot>,
    hand: usize,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Shard {
        Shard { index: HashMap::with_capacity(capacity), slots: Vec::with_capacity(capacity), hand: 0, capacity }
    }

    /// Empty the shard (its capacity stays), handing back the slots to drop outside the lock.
    fn take_all(&mut self) -> Vec<Slot> {
        self.index.clear();
        self.hand = 0;
        std::mem::take(&mut self.slots)
    }

    fn get(&mut self, block: &str) -> Option<Arc<OpenedKey>> {
        let position = *self.index.get(authenticator(block))?;
        let slot = self.slots.get_mut(position)?;
        // Same authenticator is not enough: every byte must be the block that was verified.
        if *slot.block != *block {
            return None;
        }
        slot.referenced = true;
        Some(Arc::clone(&slot.key))
    }

    /// Insert, returning the slot evicted to make room, if any.
    fn insert(&mut self, block: &str, key: Arc<OpenedKey>) -> Option<Slot> {
        if self.capacity == 0 {
            return None;
        }
        let authenticator = authenticator(block);
        let fresh = Slot { block: block.into(), key, referenced: false };
        if let Some(&position) = self.index.get(authenticator) {
            let slot = self.slots.get_mut(position)?;
            // Two threads opened the same block at once: the first entry stays.
            if *slot.block == *block {
                return None;
            }
            // Two verified blocks sharing a MAC (never seen; 2^-128): the newer takes the slot.
            return Some(std::mem::replace(slot, fresh));
        }
        if self.slots.len() < self.capacity {
            self.index.insert(authenticator.into(), self.slots.len());
            self.slots.push(fresh);
            return None;
        }
        let victim = self.victim();
        let old = std::mem::replace(self.slots.get_mut(victim)?, fresh);
        self.index.remove(self::authenticator(&old.block));
        self.index.insert(authenticator.into(), victim);
        Some(old)
    }

    /// CLOCK: the first slot from the hand whose referenced bit is clear, clearing set bits on
    /// the way. Two sweeps at most: after one, every bit is clear.
    fn victim(&mut self) -> usize {
        let count = self.slots.len();
        for _ in 0..2 * count {
            let position = self.hand;
            self.hand = (self.hand + 1) % count;
            match self.slots.get_mut(position) {
                Some(slot) if slot.referenced => slot.referenced = false,
                _ => return position,
            }
        }
        self.hand
    }

    fn remove(&mut self, block: &str) -> Option<Slot> {
        let authenticator = authenticator(block);
        let position = *self.index.get(authenticator)?;
        if self.slots.get(position).is_none_or(|slot| *slot.block != *block) {
            return None;
        }
        self.index.remove(authenticator);
        let removed = self.slots.swap_remove(position);
        // The last slot moved into the hole: point its index entry there.
        if let Some(moved) = self.slots.get(position)
            && let Some(entry) = self.index.get_mut(self::authenticator(&moved.block))
        {
            *entry = position;
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
        Some(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Weak;

    use super::*;

    fn key(byte: u8) -> Arc<OpenedKey> {
        Arc::new(OpenedKey::new(KeyType::Zak, *b"M3", KeyAlgorithm::Tdes2, Secret::new(&[byte; 16])))
    }

    /// A block-shaped string whose last 32 characters (the authenticator) end in `n`.
    fn block(n: u32) -> String {
        format!("D0112M3TC00E0200{}{n:032X}", "0".repeat(64))
    }

    /// The kept cipher stands in for the bytes only where the byte path builds that cipher:
    /// `Cipher::tdes` of a DES or TDES key, `Cipher::aes` of an AES key; made once.
    #[test]
    fn the_kept_cipher_is_offered_only_for_its_own_family() {
        let opened = |algorithm: KeyAlgorithm| {
            OpenedKey::new(KeyType::Zpk, *b"P0", algorithm, Secret::new(&vec![0x5A; algorithm.key_len()]))
        };
        for algorithm in [KeyAlgorithm::Des, KeyAlgorithm::Tdes2, KeyAlgorithm::Tdes3] {
            let key = opened(algorithm);
            let kept = key.cipher_as(Family::Tdes).unwrap();
            assert!(std::ptr::eq(kept, key.cipher_as(Family::Tdes).unwrap()), "made once");
            assert_eq!(format!("{kept:?}"), format!("{:?}", Cipher::tdes(key.expose()).unwrap()));
            assert_eq!(key.des_parts().unwrap().len(), algorithm.key_len() / 8);
            assert!(key.cipher_as(Family::Aes).is_none(), "{algorithm:?} is no AES key");
            let via = key.run(Family::Tdes, |_| Ok("kept"), |_| Ok("bytes"));
            assert_eq!(via, Ok("kept"));
        }
        for algorithm in [KeyAlgorithm::Aes128, KeyAlgorithm::Aes192, KeyAlgorithm::Aes256] {
            let key = opened(algorithm);
            assert!(key.cipher_as(Family::Tdes).is_none() && key.des_parts().is_none(), "{algorithm:?}");
            assert!(key.cipher_as(Family::Aes).unwrap().is_aes());
            let via = key.run(
                Family::Tdes,
                |_| Ok("kept"),
                |bytes| Ok(if bytes.len() == algorithm.key_len() { "bytes" } else { "?" }),
            );
            assert_eq!(via, Ok("bytes"), "{algorithm:?} in a TDES construction takes its bytes");
        }
    }

    #[test]
    fn a_hit_needs_every_byte_of_the_block() {
        let cache = KeyCache::new(4);
        cache.insert(&block(1), key(1));
        assert_eq!(cache.get(&block(1)).unwrap().expose(), &[1; 16]);
        // Same authenticator, one header byte changed: not a hit.
        let altered = block(1).replacen("M3", "P0", 1);
        assert!(cache.get(&altered).is_none());
        assert_eq!(cache.stats().hits, 1);
        assert_eq!(cache.stats().misses, 1);
    }

    #[test]
    fn clock_evicts_an_unreferenced_entry_at_the_bound() {
        let cache = KeyCache::new(3);
        assert_eq!(cache.shards.len(), 1, "a small cache is one shard");
        for n in 1..=3 {
            cache.insert(&block(n), key(n as u8));
        }
        // Block 1 is used again: its second chance makes block 2 the victim.
        assert!(cache.get(&block(1)).is_some());
        cache.insert(&block(4), key(4));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.evictions), (3, 1));
        assert!(cache.get(&block(2)).is_none());
        for n in [1, 3, 4] {
            assert!(cache.get(&block(n)).is_some(), "block {n}");
        }
        // Many more inserts never pass the bound.
        for n in 5..100 {
            cache.insert(&block(n), key(n as u8));
            assert!(cache.stats().entries <= 3);
        }
        assert_eq!(cache.stats().evictions, 1 + 95);
    }

    #[test]
    fn the_bound_holds_across_shards() {
        let cache = KeyCache::new(1_000);
        assert!(cache.shards.len() > 1);
        for n in 0..5_000 {
            cache.insert(&block(n), key(n as u8));
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 1_000, "every shard full, none over");
        assert_eq!(stats.evictions, 4_000);
        assert_eq!(KeyCache::new(usize::MAX).stats().entries_max, KEY_CACHE_ENTRIES_MAX);
    }

    /// The cache's reference is the only one: once it is gone the `OpenedKey` has been dropped,
    /// and its `Secret` (ZeroizeOnDrop) zeroized.
    fn held_only_by_the_cache(cache: &KeyCache, n: u32) -> Weak<OpenedKey> {
        let opened = key(n as u8);
        let weak = Arc::downgrade(&opened);
        cache.insert(&block(n), opened);
        assert!(weak.upgrade().is_some());
        weak
    }

    #[test]
    fn entries_are_dropped_on_forget_clear_eviction_and_drop() {
        let cache = KeyCache::new(2);
        let forgotten = held_only_by_the_cache(&cache, 1);
        assert!(cache.forget(&block(1)));
        assert!(forgotten.upgrade().is_none(), "forget drops the clear key");
        assert!(!cache.forget(&block(1)));
        assert!(cache.get(&block(1)).is_none());

        let evicted = held_only_by_the_cache(&cache, 2);
        let _kept = held_only_by_the_cache(&cache, 3);
        let _newest = held_only_by_the_cache(&cache, 4);
        assert!(evicted.upgrade().is_none(), "eviction drops the clear key");

        let cleared = [held_only_by_the_cache(&cache, 5), held_only_by_the_cache(&cache, 6)];
        cache.clear();
        assert!(cleared.iter().all(|weak| weak.upgrade().is_none()), "clear drops every clear key");
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().forgotten, 3);

        let dropped = held_only_by_the_cache(&cache, 7);
        drop(cache);
        assert!(dropped.upgrade().is_none(), "dropping the cache drops the clear keys");
    }

    #[test]
    fn an_operation_in_flight_keeps_its_key_until_it_returns() {
        let cache = KeyCache::new(2);
        let weak = held_only_by_the_cache(&cache, 1);
        let in_use = cache.get(&block(1)).unwrap();
        assert!(cache.forget(&block(1)));
        assert_eq!(in_use.expose(), &[1; 16]);
        drop(in_use);
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn the_same_block_inserted_twice_is_one_entry() {
        let cache = KeyCache::new(4);
        let first = held_only_by_the_cache(&cache, 1);
        cache.insert(&block(1), key(1));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.evictions), (1, 0));
        assert!(first.upgrade().is_some(), "the first entry stays");
    }

    #[test]
    fn remove_keeps_the_index_consistent() {
        let cache = KeyCache::new(8);
        for n in 1..=5 {
            cache.insert(&block(n), key(n as u8));
        }
        assert!(cache.forget(&block(2)));
        for n in [1, 3, 4, 5] {
            assert_eq!(cache.get(&block(n)).unwrap().expose(), &[n as u8; 16], "block {n}");
        }
        assert!(!cache.forget(&block(1).replacen("M3", "P0", 1)), "forget needs the exact block too");
        assert!(cache.get(&block(1)).is_some());
    }

    #[test]
    fn a_disabled_cache_holds_nothing() {
        let cache = KeyCache::new(0);
        cache.insert(&block(1), key(1));
        assert!(cache.get(&block(1)).is_none());
        assert!(!cache.forget(&block(1)));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.entries_max, stats.misses), (0, 0, 1));
    }

    #[test]
    fn debug_shows_counts_only() {
        let cache = KeyCache::new(4);
        cache.insert(&block(1), key(0xAB));
        let shown = format!("{cache:?}");
        assert!(shown.contains("entries: 1") && shown.contains("entries_max: 4"), "{shown}");
        assert!(!shown.contains("AB") && !shown.contains("171"), "{shown}");
        let opened = format!("{:?}", key(0xAB));
        assert!(!opened.contains("AB,") && !opened.contains("171"), "{opened}");
    }
}
