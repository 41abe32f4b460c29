//! Keys the engine tracks: a card is known only by a keyed 64-bit hash of its PAN (and its
//! BIN, which is printed on every receipt anyway), so neither the store, a decision nor a
//! `Debug` line ever holds a clear PAN. Terminals and merchants are hashed the same way so
//! every table is keyed by a `u64`.
//!
//! The hash is SipHash-2-4, written out here rather than taken from `std` because std's
//! `DefaultHasher` is allowed to change between Rust releases, and a PAN hash written in a
//! rule file's block list must mean the same card after an upgrade.

use std::fmt;

use domain::{MerchantId, Pan, TerminalId};

/// Digits of the PAN kept for BIN block lists: the longest BIN (ISO/IEC 7812-1:2017).
pub const BIN_DIGITS_MAX: usize = 8;

/// A keyed hash of card numbers and ids. The key is the party's own secret so its hashes
/// cannot be matched against another party's or brute-forced from a BIN and a Luhn digit
/// without it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHasher {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher(..)")
    }
}

/// The first digits of a card number, for BIN block lists.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Bin {
    digits: [u8; BIN_DIGITS_MAX],
    len: u8,
}

impl Bin {
    /// The BIN's digits (up to 8; fewer when the PAN's own digits ran out).
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }

    /// A BIN from its digits (1 to 8 ASCII digits), as a journal or an events file keeps it.
    pub fn from_digits(text: &str) -> Option<Bin> {
        if text.is_empty() || text.len() > BIN_DIGITS_MAX || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut bin = Bin::default();
        bin.digits[..text.len()].copy_from_slice(text.as_bytes());
        bin.len = text.len() as u8;
        Some(bin)
    }

    /// True when this BIN begins with `prefix` (an ASCII digit string of a block list).
    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        self.as_bytes().starts_with(prefix)
    }
}

/// A card as the engine knows it: the keyed hash of its PAN and its BIN. `Debug` shows
/// only these, never the number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CardKey {
    pub hash: u64,
    pub bin: Bin,
}

impl CardKey {
    /// A card's key as a journal keeps it: the keyed hash ([`KeyHasher::pan_hash`]) and the
    /// card number's first digits (a masked PAN's first six will do). Digits past
    /// [`BIN_DIGITS_MAX`] and anything after the first non-digit are ignored.
    pub fn from_parts(hash: u64, first_digits: &[u8]) -> CardKey {
        let mut bin = Bin::default();
        for byte in first_digits.iter().take(BIN_DIGITS_MAX).take_while(|b| b.is_ascii_digit()) {
            bin.digits[usize::from(bin.len)] = *byte;
            bin.len += 1;
        }
        CardKey { hash, bin }
    }
}

impl KeyHasher {
    pub fn new(key: [u8; 16]) -> KeyHasher {
        let (k0, k1) = key.split_at(8);
        KeyHasher { k0: u64::from_le_bytes(to8(k0)), k1: u64::from_le_bytes(to8(k1)) }
    }

    /// A card's key: the hash of its digits and its first (up to 8) digits.
    pub fn card(&self, pan: &Pan) -> CardKey {
        let digits = pan.digits().as_bytes();
        let mut bin = Bin::default();
        let len = digits.len().min(BIN_DIGITS_MAX);
        bin.digits[..len].copy_from_slice(&digits[..len]);
        bin.len = len as u8;
        CardKey { hash: self.pan_hash(pan), bin }
    }

    /// The hash a rule file's `pan_hashes` list holds (as 16 hex digits).
    pub fn pan_hash(&self, pan: &Pan) -> u64 {
        self.hash(b'P', pan.digits().as_bytes())
    }

    pub fn terminal(&self, id: &TerminalId) -> u64 {
        self.hash(b'T', id.as_str().as_bytes())
    }

    pub fn merchant(&self, id: &MerchantId) -> u64 {
        self.hash(b'M', id.as_str().as_bytes())
    }

    /// The key of a card at one merchant. Mixed (not hashed again with the key) because
    /// both halves are already keyed hashes.
    pub fn card_at_merchant(card: u64, merchant: u64) -> u64 {
        mix(card ^ mix(merchant.rotate_left(29)))
    }

    /// SipHash-2-4 of a domain tag then `data`: the tag keeps a terminal id that happens to
    /// be digits from colliding with a PAN.
    fn hash(&self, tag: u8, data: &[u8]) -> u64 {
        let mut s = Sip::new(self.k0, self.k1);
        let total = data.len() + 1;
        let mut block = [0u8; 8];
        let mut filled = 1;
        block[0] = tag;
        for &byte in data {
            block[filled] = byte;
            filled += 1;
            if filled == 8 {
                s.compress(u64::from_le_bytes(block));
                filled = 0;
            }
        }
        let mut last = [0u8; 8];
        last[..filled].copy_from_slice(&block[..filled]);
        last[7] = total as u8;
        s.compress(u64::from_le_bytes(last));
        s.finish()
    }
}

fn to8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    out
}

/// A 64-bit finaliser (splitmix64's), for keys that are already uniform hashes.
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

struct Sip {
    v: [u64; 4],
}

impl Sip {
    fn new(k0: u64, k1: u64) -> Sip {
        Sip {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    fn round(&mut self) {
        let v = &mut self.v;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.round();
        self.v[0] ^= m;
    }

    fn finish(mut self) -> u64 {
        self.v[2] ^= 0xff;
        for _ in 0..4 {
            self.round();
        }
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SipHash-2-4 of the reference paper's key 00..0f; `hash` prepends a tag byte, so feed
    /// the tag as the message's first byte: message 00..0e (15 bytes) = tag 0x00 + 01..0e.
    #[test]
    fn siphash_matches_the_reference_vector() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let hasher = KeyHasher::new(key);
        let data: Vec<u8> = (1..15).collect();
        // Reference output for the 15-byte message 00 01 .. 0e (Aumasson & Bernstein, vectors.h).
        assert_eq!(hasher.hash(0, &data), u64::from_le_bytes([0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1]));
        // The 1-byte message 00.
        assert_eq!(hasher.hash(0, &[]), u64::from_le_bytes([0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74]));
    }

    #[test]
    fn card_key_keeps_the_bin_and_not_the_number() {
        let hasher = KeyHasher::new([7; 16]);
        let pan = Pan::new("4123456789012345").unwrap();
        let key = hasher.card(&pan);
        assert_eq!(key.bin.as_bytes(), b"41234567");
        assert!(key.bin.starts_with(b"412345") && !key.bin.starts_with(b"5"));
        let shown = format!("{key:?}");
        assert!(!shown.contains("89012345"), "{shown}");
        assert_ne!(hasher.pan_hash(&pan), KeyHasher::new([8; 16]).pan_hash(&pan), "keyed");
        let terminal = TerminalId::new("4123456789012345".get(..8).unwrap()).unwrap();
        assert_ne!(hasher.terminal(&terminal), hasher.hash(b'P', b"41234567"), "domain tag");
    }
}
