//! Data protection under a data encryption key (DEK): authenticated encryption of stored
//! values (an issuer's card numbers) and a keyed hash to find a record without decrypting.
//!
//! From the one DEK (AES, 16/24/32 bytes) three keys are derived with the NIST SP 800-108
//! counter-mode KDF over AES-CMAC, each for one purpose, so no key is ever used for two:
//! `ENC` (AES-CTR), `MAC` (AES-CMAC tag, encrypt-then-MAC) and `HASH` (AES-CMAC as a keyed,
//! deterministic hash). The sealed form is
//!
//! ```text
//! version (1 byte, 0x01) ‖ IV (16 random bytes) ‖ AES-CTR ciphertext ‖ tag (16 bytes)
//! tag = AES-CMAC_MAC(version ‖ IV ‖ ciphertext)
//! ```
//!
//! CTR keeps the length (no padding to get wrong) and the tag is checked, in constant time,
//! before anything is decrypted. Clear values are [`Secret`]s; errors never carry them.

use zeroize::Zeroizing;

use crate::cipher::{Cipher, xor_in_place};
use crate::error::{Error, Result};
use crate::mac;
use crate::secret::Secret;

/// The first byte of a sealed value: the layout above. A new layout takes a new number.
pub const SEALED_VERSION: u8 = 0x01;
/// Bytes of the random IV (one AES block).
pub const IV_LEN: usize = 16;
/// Bytes of the authentication tag (a full AES-CMAC).
pub const TAG_LEN: usize = 16;
/// Bytes of a keyed hash (a full AES-CMAC).
pub const HASH_LEN: usize = 16;
/// Largest clear value sealed in one call: stored records are small (a PAN, a name); the bound
/// keeps a caller's mistake from encrypting megabytes inside the module.
pub const DATA_BYTES_MAX: usize = 4096;
/// Bytes a sealed value adds to its clear value.
pub const SEALED_OVERHEAD: usize = 1 + IV_LEN + TAG_LEN;

/// The purpose labels of the derived keys (SP 800-108 "Label").
const LABEL_ENCRYPT: &[u8] = b"cardnet DEK ENC";
const LABEL_MAC: &[u8] = b"cardnet DEK MAC";
const LABEL_HASH: &[u8] = b"cardnet DEK HASH";

fn aes_dek(dek: &[u8]) -> Result<Cipher> {
    if !matches!(dek.len(), 16 | 24 | 32) {
        return Err(Error::key_length("data encryption key (AES)", "16, 24 or 32", dek.len()));
    }
    Cipher::aes(dek)
}

/// A key of the DEK's length for `label`: SP 800-108 counter mode with AES-CMAC as the PRF,
/// `K(i) = CMAC(DEK, [i]₈ ‖ label ‖ 0x00 ‖ [L]₁₆)` for i = 1, 2, … concatenated and cut to L bits.
fn derive(dek: &[u8], label: &[u8]) -> Result<Secret> {
    let cipher = aes_dek(dek)?;
    let bits = u16::try_from(dek.len() * 8).unwrap_or(u16::MAX);
    let mut out = Zeroizing::new(Vec::with_capacity(dek.len() + 16));
    let mut counter = 1u8;
    while out.len() < dek.len() {
        let mut input = Vec::with_capacity(label.len() + 4);
        input.push(counter);
        input.extend_from_slice(label);
        input.push(0x00);
        input.extend_from_slice(&bits.to_be_bytes());
        out.extend_from_slice(&mac::cmac(&cipher, &input));
        counter += 1;
    }
    Ok(Secret::new(&out[..dek.len()]))
}

/// Counter blocks encrypted in one call by [`ctr`]: enough for the AES unit's pipeline (a
/// sealed journal record or message is 10–100 blocks).
const CTR_BLOCKS_AT_ONCE: usize = 8;

/// AES-CTR over `data` in place, the counter block starting at `iv` and incremented as one
/// 128-bit big-endian number; the keystream made [`CTR_BLOCKS_AT_ONCE`] blocks at a time.
fn ctr(cipher: &Cipher, iv: &[u8; IV_LEN], data: &mut [u8]) {
    let mut counter = u128::from_be_bytes(*iv);
    let mut keystream = Zeroizing::new([[0u8; IV_LEN]; CTR_BLOCKS_AT_ONCE]);
    for chunk in data.chunks_mut(IV_LEN * CTR_BLOCKS_AT_ONCE) {
        let blocks = chunk.len().div_ceil(IV_LEN);
        for block in &mut keystream[..blocks] {
            *block = counter.to_be_bytes();
            counter = counter.wrapping_add(1);
        }
        cipher.encrypt_aes_blocks(&mut keystream[..blocks]);
        for (piece, block) in chunk.chunks_mut(IV_LEN).zip(keystream.iter()) {
            xor_in_place(piece, &block[..piece.len()]);
        }
    }
}

/// The two keys sealing and opening under one DEK, derived once ([`Sealer::new`]): for a caller
/// that seals and opens many values under the same DEK (a terminal's journal records), which
/// [`seal`] and [`open`] would derive again on every call. The keys are zeroized on drop (the
/// ciphers' own drop); `Debug` names no key.
pub struct Sealer {
    /// AES-CTR under the `ENC` key.
    encrypt: Cipher,
    /// AES-CMAC tags under the `MAC` key.
    mac: Cipher,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// The sealing keys of the clear `dek` (AES, 16, 24 or 32 bytes).
    pub fn new(dek: &[u8]) -> Result<Sealer> {
        let encrypt_key = derive(dek, LABEL_ENCRYPT)?;
        let mac_key = derive(dek, LABEL_MAC)?;
        Ok(Sealer { encrypt: Cipher::aes(encrypt_key.expose())?, mac: Cipher::aes(mac_key.expose())? })
    }

    /// [`seal`] under this DEK.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut iv = [0u8; IV_LEN];
        crate::entropy::fill(&mut iv)?;
        self.seal_with_iv(plaintext, iv)
    }

    /// [`seal_with_iv`] under this DEK: for known-answer tests only.
    pub fn seal_with_iv(&self, plaintext: &[u8], iv: [u8; IV_LEN]) -> Result<Vec<u8>> {
        if plaintext.len() > DATA_BYTES_MAX {
            return Err(Error::input("data", format!("at most {DATA_BYTES_MAX} bytes are sealed at once")));
        }
        let mut sealed = Vec::with_capacity(plaintext.len() + SEALED_OVERHEAD);
        sealed.push(SEALED_VERSION);
        sealed.extend_from_slice(&iv);
        sealed.extend_from_slice(plaintext);
        ctr(&self.encrypt, &iv, &mut sealed[1 + IV_LEN..]);
        let tag = mac::cmac(&self.mac, &sealed);
        sealed.extend_from_slice(&tag);
        Ok(sealed)
    }

    /// [`open`] under this DEK.
    pub fn open(&self, sealed: &[u8]) -> Result<Secret> {
        if sealed.len() < SEALED_OVERHEAD || sealed.len() > DATA_BYTES_MAX + SEALED_OVERHEAD {
            return Err(Error::input(
                "sealed data",
                format!("must be {SEALED_OVERHEAD} to {} bytes", DATA_BYTES_MAX + SEALED_OVERHEAD),
            ));
        }
        if sealed[0] != SEALED_VERSION {
            return Err(Error::input("sealed data", "unknown version"));
        }
        let (authenticated, received) = sealed.split_at(sealed.len() - TAG_LEN);
        let expected = mac::cmac(&self.mac, authenticated);
        mac::verify(&expected, received).map_err(|_| Error::Verification("data tag"))?;
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&authenticated[1..1 + IV_LEN]);
        let mut clear = authenticated[1 + IV_LEN..].to_vec();
        ctr(&self.encrypt, &iv, &mut clear);
        Ok(Secret::from_vec(clear))
    }
}

/// Seal `plaintext` under the clear `dek` with a fresh random IV.
pub fn seal(dek: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    Sealer::new(dek)?.seal(plaintext)
}

/// [`seal`] with a given IV: for known-answer tests only. An IV must never repeat under one DEK.
pub fn seal_with_iv(dek: &[u8], plaintext: &[u8], iv: [u8; IV_LEN]) -> Result<Vec<u8>> {
    Sealer::new(dek)?.seal_with_iv(plaintext, iv)
}

/// Check the tag of a sealed value and decrypt it; `Error::Verification("data tag")` if the
/// value was altered, sealed under another key, or is not a sealed value at all.
pub fn open(dek: &[u8], sealed: &[u8]) -> Result<Secret> {
    Sealer::new(dek)?.open(sealed)
}

/// A deterministic keyed hash of `data` (16 bytes): equal inputs give equal hashes under one
/// DEK, so a record can be found by it, and without the DEK it cannot be computed, so a
/// stolen table cannot be searched by guessing (a PAN has too few unknown digits for a plain
/// hash to protect it).
pub fn keyed_hash(dek: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    keyed_hash_with(&hash_cipher(dek)?, data)
}

/// The cipher of [`keyed_hash`] under the clear `dek`: AES under its derived `HASH` key.
pub(crate) fn hash_cipher(dek: &[u8]) -> Result<Cipher> {
    let hash_key = derive(dek, LABEL_HASH)?;
    Cipher::aes(hash_key.expose())
}

/// [`keyed_hash`] with its cipher made already ([`hash_cipher`]).
pub(crate) fn keyed_hash_with(hasher: &Cipher, data: &[u8]) -> Result<Vec<u8>> {
    if data.len() > DATA_BYTES_MAX {
        return Err(Error::input("data", format!("at most {DATA_BYTES_MAX} bytes are hashed at once")));
    }
    Ok(mac::cmac(hasher, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEK: [u8; 32] = [0x11; 32];

    #[test]
    fn seal_and_open_round_trip_for_every_length() {
        for len in [0, 1, 15, 16, 17, 19, 64, DATA_BYTES_MAX] {
            let clear: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&DEK, &clear).unwrap();
            assert_eq!(sealed.len(), len + SEALED_OVERHEAD);
            if len >= 16 {
                assert!(!sealed.windows(16).any(|w| w == &clear[..16]), "the clear value does not appear");
            }
            assert_eq!(open(&DEK, &sealed).unwrap().expose(), &clear[..]);
        }
        assert!(seal(&DEK, &vec![0; DATA_BYTES_MAX + 1]).is_err());
    }

    #[test]
    fn every_flipped_bit_and_a_wrong_key_fail_the_tag() {
        let sealed = seal(&DEK, b"6224242900000113").unwrap();
        for index in 1..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[index] ^= 0x01;
            assert_eq!(open(&DEK, &tampered).unwrap_err(), Error::Verification("data tag"), "byte {index}");
        }
        assert_eq!(open(&[0x22; 32], &sealed).unwrap_err(), Error::Verification("data tag"));
        let mut version = sealed.clone();
        version[0] = 0x02;
        assert!(open(&DEK, &version).unwrap_err().is_bad_input());
        assert!(open(&DEK, &sealed[..SEALED_OVERHEAD - 1]).is_err());
    }

    #[test]
    fn a_sealer_seals_and_opens_as_the_functions_do() {
        let sealer = Sealer::new(&DEK).unwrap();
        let sealed = sealer.seal_with_iv(b"6224242900000113", [7; 16]).unwrap();
        assert_eq!(sealed, seal_with_iv(&DEK, b"6224242900000113", [7; 16]).unwrap());
        assert_eq!(open(&DEK, &sealer.seal(b"record").unwrap()).unwrap().expose(), b"record");
        assert_eq!(sealer.open(&seal(&DEK, b"record").unwrap()).unwrap().expose(), b"record");
        let other = Sealer::new(&[0x22; 32]).unwrap();
        assert_eq!(other.open(&sealed).unwrap_err(), Error::Verification("data tag"));
        assert!(Sealer::new(&DEK[..8]).unwrap_err().is_bad_input());
        assert_eq!(format!("{sealer:?}"), "Sealer { .. }");
    }

    #[test]
    fn fresh_ivs_make_every_seal_different() {
        assert_ne!(seal(&DEK, b"same").unwrap(), seal(&DEK, b"same").unwrap());
        // A fixed IV is deterministic (known-answer tests only).
        assert_eq!(seal_with_iv(&DEK, b"same", [7; 16]).unwrap(), seal_with_iv(&DEK, b"same", [7; 16]).unwrap());
    }

    #[test]
    fn keyed_hash_is_deterministic_and_depends_on_key_and_data() {
        let hash = keyed_hash(&DEK, b"6224242900000113").unwrap();
        assert_eq!(hash.len(), HASH_LEN);
        assert_eq!(hash, keyed_hash(&DEK, b"6224242900000113").unwrap());
        assert_ne!(hash, keyed_hash(&DEK, b"6224242900000114").unwrap());
        assert_ne!(hash, keyed_hash(&[0x22; 32], b"6224242900000113").unwrap());
        // The derived keys are separate: the hash is not the tag or the keystream.
        assert_ne!(derive(&DEK, LABEL_HASH).unwrap(), derive(&DEK, LABEL_MAC).unwrap());
        assert_ne!(derive(&DEK, LABEL_ENCRYPT).unwrap(), derive(&DEK, LABEL_MAC).unwrap());
        assert!(keyed_hash(&DEK[..8], b"x").unwrap_err().is_bad_input());
    }

    /// SP 800-38A F.5.1 (CTR-AES128.Encrypt), the four blocks and every prefix of them: the
    /// keystream made several blocks at a time is the standard's, block by block.
    #[test]
    fn ctr_matches_sp_800_38a() {
        let hex = |text: &str| -> Vec<u8> {
            (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
        };
        let cipher = Cipher::aes(&hex("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
        let iv: [u8; IV_LEN] = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
        let plain = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172a",
            "ae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52ef",
            "f69f2445df4f9b17ad2b417be66c3710"
        ));
        let cipher_text = hex(concat!(
            "874d6191b620e3261bef6864990db6ce",
            "9806f66b7970fdff8617187bb9fffdff",
            "5ae4df3edbd5d35e5b4f09020db03eab",
            "1e031dda2fbe03d1792170a0f3009cee"
        ));
        for len in 0..=plain.len() {
            let mut data = plain[..len].to_vec();
            ctr(&cipher, &iv, &mut data);
            assert_eq!(data, cipher_text[..len], "{len} bytes");
        }
    }

    /// Longer than one call's blocks, from counters that carry: the same bytes as one block
    /// at a time.
    #[test]
    fn ctr_in_several_blocks_at_once_is_ctr_block_by_block() {
        let cipher = Cipher::aes(&DEK).unwrap();
        for iv in [[0u8; IV_LEN], [0xFF; IV_LEN], {
            let mut iv = [0x5A; IV_LEN];
            iv[10..].fill(0xFF);
            iv
        }] {
            let data: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
            let mut expected = data.clone();
            let mut counter = u128::from_be_bytes(iv);
            for piece in expected.chunks_mut(IV_LEN) {
                let mut block = counter.to_be_bytes();
                cipher.encrypt_block(&mut block);
                xor_in_place(piece, &block[..piece.len()]);
                counter = counter.wrapping_add(1);
            }
            for len in [0, 1, 16, 17, 127, 128, 129, 255, 256, 300] {
                let mut got = data[..len].to_vec();
                ctr(&cipher, &iv, &mut got);
                assert_eq!(got, expected[..len], "{len} bytes");
            }
        }
    }

    #[test]
    fn the_counter_carries_across_bytes() {
        // An IV whose low bytes are all FF: the second block's counter carries, and the
        // stream still decrypts (no panic on the increment).
        let mut iv = [0u8; 16];
        iv[8..].fill(0xFF);
        let sealed = seal_with_iv(&DEK, &[0xAB; 40], iv).unwrap();
        assert_eq!(open(&DEK, &sealed).unwrap().expose(), &[0xAB; 40][..]);
        let sealed = seal_with_iv(&DEK, &[0xCD; 40], [0xFF; 16]).unwrap();
        assert_eq!(open(&DEK, &sealed).unwrap().expose(), &[0xCD; 40][..]);
    }
}
