//! DES (FIPS 46-3) by tables, for the hot path: every authorization takes about eight X9.19
//! MACs (25 DES blocks each over a 0200) and a few PIN blocks across the parties, and the
//! bit-by-bit permutations of a generic implementation were the largest single cost in the
//! network's profile. Here every permutation is a handful of table lookups built at compile
//! time from the standard's tables (initial and final permutation, PC-1, PC-2, the S-boxes
//! merged with P), so the code is the standard's tables plus table lookups; the tests check it
//! against the RustCrypto `des` crate on random keys and blocks and against the published
//! vectors through every MAC and PIN test of this crate.
//!
//! Round keys are zeroized on drop (they are key material).

use zeroize::Zeroize;

/// Initial permutation: output bit i (1-based, bit 1 the most significant) is input bit IP[i].
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32,
    24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47,
    39, 31, 23, 15, 7,
];
/// Final permutation (the inverse of IP).
const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21,
    61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, 34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9,
    49, 17, 57, 25,
];
/// Permuted choice 1: the key's 56 bits (parity bits dropped), C then D.
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, 63, 55,
    47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];
/// Permuted choice 2: a round key's 48 bits from C‖D.
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52, 31, 37, 47, 55, 30,
    40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
/// Left rotations of C and D before each round.
const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
/// The permutation P after the S-boxes.
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4,
    25,
];
/// The eight S-boxes, four rows of sixteen each.
const S: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8, 4,
        1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5, 0,
        14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1, 13,
        6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9, 10,
        6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6, 4,
        2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8, 9,
        14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6, 1,
        4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2, 7,
        11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// A bit permutation of a `BYTES`-byte value (bit 1 its most significant) into `out_bits` as one
/// table per input byte: the permuted value is the OR of `table[i][byte i]` over the input's
/// bytes (PC-2 reads C‖D as 56 bits: 7 bytes).
const fn byte_tables<const BYTES: usize>(map: &[u8], out_bits: u32) -> [[u64; 256]; BYTES] {
    let mut tables = [[0u64; 256]; BYTES];
    let mut out = 0;
    while out < map.len() {
        let source = map[out] as u32 - 1; // 0-based from the most significant input bit
        let byte = (source / 8) as usize;
        let bit_in_byte = 7 - source % 8;
        let mut value = 0;
        while value < 256 {
            if (value >> bit_in_byte) & 1 == 1 {
                tables[byte][value] |= 1u64 << (out_bits - 1 - out as u32);
            }
            value += 1;
        }
        out += 1;
    }
    tables
}

static IP_TABLES: [[u64; 256]; 8] = byte_tables(&IP, 64);
static FP_TABLES: [[u64; 256]; 8] = byte_tables(&FP, 64);
static PC1_TABLES: [[u64; 256]; 8] = byte_tables(&PC1, 56);
static PC2_TABLES: [[u64; 256]; 7] = byte_tables(&PC2, 48);

/// S-box `b` merged with P: for a 6-bit input, the 32-bit output of P applied to the S-box's
/// four bits in their place.
const fn sp_tables() -> [[u32; 64]; 8] {
    let mut tables = [[0u32; 64]; 8];
    let mut b = 0;
    while b < 8 {
        let mut x = 0;
        while x < 64 {
            // Row from the outer bits, column from the middle four.
            let row = ((x >> 4) & 2) | (x & 1);
            let column = (x >> 1) & 0xf;
            let s = S[b][row * 16 + column] as u32;
            // The S-box output's place before P: bits 4b+1..4b+4 (1-based, MSB first).
            let before = s << (28 - 4 * b as u32);
            let mut after = 0u32;
            let mut i = 0;
            while i < 32 {
                let source = P[i] as u32 - 1;
                if (before >> (31 - source)) & 1 == 1 {
                    after |= 1 << (31 - i as u32);
                }
                i += 1;
            }
            tables[b][x] = after;
            x += 1;
        }
        b += 1;
    }
    tables
}

static SP: [[u32; 64]; 8] = sp_tables();

/// `value`'s low `8 × BYTES` bits permuted by `tables`.
fn permute<const BYTES: usize>(tables: &[[u64; 256]; BYTES], value: u64) -> u64 {
    let in_bits = 8 * BYTES as u32;
    let mut out = 0;
    for (i, table) in tables.iter().enumerate() {
        let byte = (value >> (in_bits - 8 - 8 * i as u32)) & 0xff;
        out |= table[byte as usize];
    }
    out
}

/// One DES key's sixteen round keys, each as two words laid out like the expansion they are
/// XORed with (see [`DesKey::f`]): the 6-bit chunks of S-boxes 1, 3, 5, 7 at bits 26, 18, 10, 2
/// of the first, those of S-boxes 8, 2, 4, 6 at the same places of the second.
pub struct DesKey {
    rounds: [[u32; 2]; 16],
}

impl Drop for DesKey {
    fn drop(&mut self) {
        for round in &mut self.rounds {
            round.zeroize();
        }
    }
}

impl DesKey {
    pub fn new(key: [u8; 8]) -> DesKey {
        const MASK28: u64 = (1 << 28) - 1;
        let cd = permute(&PC1_TABLES, u64::from_be_bytes(key));
        let (mut c, mut d) = (cd >> 28, cd & MASK28);
        let mut rounds = [[0u32; 2]; 16];
        for (round, shift) in rounds.iter_mut().zip(SHIFTS) {
            c = ((c << shift) | (c >> (28 - shift))) & MASK28;
            d = ((d << shift) | (d >> (28 - shift))) & MASK28;
            let mut k = permute(&PC2_TABLES, (c << 28) | d);
            let chunk = |j: u32| ((k >> (42 - 6 * j)) & 0x3f) as u32;
            *round = [
                chunk(0) << 26 | chunk(2) << 18 | chunk(4) << 10 | chunk(6) << 2,
                chunk(7) << 26 | chunk(1) << 18 | chunk(3) << 10 | chunk(5) << 2,
            ];
            k.zeroize();
        }
        DesKey { rounds }
    }

    /// The round function. E(R)'s eight 6-bit chunks are windows of R rotated right by one:
    /// those of S-boxes 1, 3, 5, 7 sit at bits 26, 18, 10, 2 of it, apart from each other, and
    /// those of 8, 2, 4, 6 at the same bits once it is rotated right by four more — so each half
    /// takes its round key in one XOR and its four chunks by shift and mask, and the S-boxes
    /// merged with P give the output.
    fn f(r: u32, k: &[u32; 2]) -> u32 {
        let x = r.rotate_right(1);
        let odd = x ^ k[0];
        let even = x.rotate_right(4) ^ k[1];
        let chunk = |t: u32, at: u32| ((t >> at) & 0x3f) as usize;
        SP[0][chunk(odd, 26)]
            | SP[2][chunk(odd, 18)]
            | SP[4][chunk(odd, 10)]
            | SP[6][chunk(odd, 2)]
            | SP[7][chunk(even, 26)]
            | SP[1][chunk(even, 18)]
            | SP[3][chunk(even, 10)]
            | SP[5][chunk(even, 2)]
    }

    /// The sixteen rounds and the final swap, between IP and FP.
    fn rounds(&self, ip: u64, decrypt: bool) -> u64 {
        let (mut l, mut r) = ((ip >> 32) as u32, ip as u32);
        for i in 0..16 {
            let k = if decrypt { &self.rounds[15 - i] } else { &self.rounds[i] };
            let next = l ^ DesKey::f(r, k);
            l = r;
            r = next;
        }
        (u64::from(r) << 32) | u64::from(l)
    }

    fn crypt(&self, block: u64, decrypt: bool) -> u64 {
        permute(&FP_TABLES, self.rounds(permute(&IP_TABLES, block), decrypt))
    }

    /// CBC-MAC with a zero IV over `blocks`: the last cipher block. IP and FP are bit
    /// permutations, so IP(c ⊕ m) = IP(c) ⊕ IP(m) and IP(FP(x)) = x: the chain runs between them,
    /// each block's IP is off the chain's critical path, and only the result passes FP — the
    /// chain's length is sixteen rounds a block instead of sixteen rounds and two permutations.
    pub fn cbc_mac(&self, blocks: impl Iterator<Item = u64>) -> u64 {
        let mut chain = 0;
        for block in blocks {
            chain = self.rounds(chain ^ permute(&IP_TABLES, block), false);
        }
        permute(&FP_TABLES, chain)
    }

    pub fn encrypt(&self, block: u64) -> u64 {
        self.crypt(block, false)
    }

    pub fn decrypt(&self, block: u64) -> u64 {
        self.crypt(block, true)
    }
}

#[cfg(test)]
mod tests {
    use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

    use super::DesKey;

    /// A small deterministic generator (xorshift), so a failure names its case.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn the_fips_example() {
        // FIPS 46 / the classic worked example: key 133457799BBCDFF1, 0123456789ABCDEF.
        let key = DesKey::new(0x1334_5779_9BBC_DFF1u64.to_be_bytes());
        assert_eq!(key.encrypt(0x0123_4567_89AB_CDEF), 0x85E8_1354_0F0A_B405);
        assert_eq!(key.decrypt(0x85E8_1354_0F0A_B405), 0x0123_4567_89AB_CDEF);
    }

    /// The chain between IP and FP gives what block-by-block CBC under `encrypt` gives.
    #[test]
    fn cbc_mac_is_the_cbc_chain() {
        let mut state = 0x0123_4567_89AB_CDEFu64;
        for blocks in 0..40 {
            let key = DesKey::new(next(&mut state).to_be_bytes());
            let data: Vec<u64> = (0..blocks).map(|_| next(&mut state)).collect();
            let expected = data.iter().fold(0, |chain, block| key.encrypt(chain ^ block));
            assert_eq!(key.cbc_mac(data.iter().copied()), expected, "{blocks} blocks");
        }
    }

    #[test]
    fn agrees_with_the_rustcrypto_des_crate() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for case in 0..2_000 {
            let (key, block) = (next(&mut state).to_be_bytes(), next(&mut state).to_be_bytes());
            let ours = DesKey::new(key);
            let theirs = des::Des::new_from_slice(&key).unwrap();
            let mut expected = block.into();
            theirs.encrypt_block(&mut expected);
            let got = ours.encrypt(u64::from_be_bytes(block)).to_be_bytes();
            assert_eq!(got.as_slice(), expected.as_slice(), "encrypt, case {case}");
            let mut back = expected;
            theirs.decrypt_block(&mut back);
            assert_eq!(
                ours.decrypt(u64::from_be_bytes(got)).to_be_bytes().as_slice(),
                back.as_slice(),
                "decrypt, case {case}"
            );
        }
    }
}
