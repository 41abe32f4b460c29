//! Block ciphers by key size, and the modes payment cryptography uses (ECB, CBC). Each
//! cipher's key schedule is zeroized on drop (`des_tables::DesKey`'s own drop; the `zeroize`
//! feature of `aes`). DES and TDES (EDE) run on [`crate::des_tables`].

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};

use crate::des_tables::DesKey;

use crate::error::{Error, Result};

/// The two families of block cipher a payment construction is defined over: DES/TDES (8-byte
/// blocks: PIN block formats 0–3, tracks, PVV, the retail and UnionPay MACs) or AES (16-byte
/// blocks: PIN block format 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Tdes,
    Aes,
}

pub enum Cipher {
    Des(DesKey),
    /// K1, K2 (K3 = K1).
    Tdes2(Box<[DesKey; 2]>),
    Tdes3(Box<[DesKey; 3]>),
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Cipher::Des(_) => "DES",
            Cipher::Tdes2(_) => "TDES-2key",
            Cipher::Tdes3(_) => "TDES-3key",
            Cipher::Aes128(_) => "AES-128",
            Cipher::Aes192(_) => "AES-192",
            Cipher::Aes256(_) => "AES-256",
        };
        write!(f, "Cipher({name})")
    }
}

macro_rules! with_aes {
    ($self:expr, $c:ident => $body:expr) => {
        match $self {
            Cipher::Aes128($c) => $body,
            Cipher::Aes192($c) => $body,
            Cipher::Aes256($c) => $body,
            Cipher::Des(_) | Cipher::Tdes2(_) | Cipher::Tdes3(_) => unreachable!("AES only"),
        }
    };
}

/// The schedule of the 8 bytes of a DES key at `at` in `key` (the caller checked the length).
pub(crate) fn des_key(key: &[u8], at: usize) -> DesKey {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&key[at..at + 8]);
    let schedule = DesKey::new(bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    schedule
}

fn block64(block: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(block);
    u64::from_be_bytes(bytes)
}

impl Cipher {
    /// DES (8 bytes), 2-key TDES (16) or 3-key TDES (24), chosen by key length.
    pub fn tdes(key: &[u8]) -> Result<Cipher> {
        let bad = || Error::key_length("TDES", "8, 16 or 24", key.len());
        Ok(match key.len() {
            8 => Cipher::Des(des_key(key, 0)),
            16 => Cipher::Tdes2(Box::new([des_key(key, 0), des_key(key, 8)])),
            24 => Cipher::Tdes3(Box::new([des_key(key, 0), des_key(key, 8), des_key(key, 16)])),
            _ => return Err(bad()),
        })
    }

    /// Single DES only.
    pub fn des(key: &[u8]) -> Result<Cipher> {
        if key.len() != 8 {
            return Err(Error::key_length("DES", "8", key.len()));
        }
        Cipher::tdes(key)
    }

    /// AES-128, -192 or -256, chosen by key length.
    pub fn aes(key: &[u8]) -> Result<Cipher> {
        let bad = || Error::key_length("AES", "16, 24 or 32", key.len());
        Ok(match key.len() {
            16 => Cipher::Aes128(Aes128::new_from_slice(key).map_err(|_| bad())?),
            24 => Cipher::Aes192(Aes192::new_from_slice(key).map_err(|_| bad())?),
            32 => Cipher::Aes256(Aes256::new_from_slice(key).map_err(|_| bad())?),
            _ => return Err(bad()),
        })
    }

    pub fn block_size(&self) -> usize {
        match self {
            Cipher::Des(_) | Cipher::Tdes2(_) | Cipher::Tdes3(_) => 8,
            _ => 16,
        }
    }

    pub fn is_aes(&self) -> bool {
        self.block_size() == 16
    }

    /// The schedules of a DES or TDES cipher's 8-byte key parts, in order (K1, K2[, K3]);
    /// `None` for AES. The MACs that run on DES schedules directly take them from here.
    pub(crate) fn des_parts(&self) -> Option<&[DesKey]> {
        match self {
            Cipher::Des(key) => Some(std::slice::from_ref(key)),
            Cipher::Tdes2(keys) => Some(&keys[..]),
            Cipher::Tdes3(keys) => Some(&keys[..]),
            Cipher::Aes128(_) | Cipher::Aes192(_) | Cipher::Aes256(_) => None,
        }
    }

    pub fn family(&self) -> Family {
        if self.is_aes() { Family::Aes } else { Family::Tdes }
    }

    /// `Ok` if this cipher is of `family`, else [`Error::Unsupported`]: the `_with` functions
    /// take a cipher made elsewhere and refuse one of the other family (whose block size their
    /// construction does not have) rather than panic on it.
    pub(crate) fn check_family(&self, family: Family) -> Result<()> {
        match (family, self.family()) {
            (Family::Aes, Family::Tdes) => Err(Error::Unsupported("a DES or TDES cipher where AES is needed")),
            (Family::Tdes, Family::Aes) => Err(Error::Unsupported("an AES cipher where DES or TDES is needed")),
            _ => Ok(()),
        }
    }

    /// Encrypt 16-byte blocks in place in one call (AES only): the processor's AES unit works
    /// on several independent blocks at once, where a call per block waits for each.
    pub(crate) fn encrypt_aes_blocks(&self, blocks: &mut [[u8; 16]]) {
        let blocks = aes::Block::cast_slice_from_core_mut(blocks);
        with_aes!(self, c => c.encrypt_blocks(blocks));
    }

    /// Encrypt one block in place. `block` must be exactly one block long.
    pub fn encrypt_block(&self, block: &mut [u8]) {
        assert_eq!(block.len(), self.block_size(), "encrypt_block takes exactly one block");
        let out = match self {
            Cipher::Des(k) => k.encrypt(block64(block)),
            // EDE: encrypt under K1, decrypt under K2, encrypt under K3 (= K1 for two keys).
            Cipher::Tdes2(k) => k[0].encrypt(k[1].decrypt(k[0].encrypt(block64(block)))),
            Cipher::Tdes3(k) => k[2].encrypt(k[1].decrypt(k[0].encrypt(block64(block)))),
            _ => {
                with_aes!(self, c => {
                    let clear: &[u8] = block;
                    let mut array = clear.try_into().unwrap_or_default();
                    c.encrypt_block(&mut array);
                    block.copy_from_slice(&array);
                });
                return;
            }
        };
        block.copy_from_slice(&out.to_be_bytes());
    }

    /// Decrypt one block in place.
    pub fn decrypt_block(&self, block: &mut [u8]) {
        assert_eq!(block.len(), self.block_size(), "decrypt_block takes exactly one block");
        let out = match self {
            Cipher::Des(k) => k.decrypt(block64(block)),
            Cipher::Tdes2(k) => k[0].decrypt(k[1].encrypt(k[0].decrypt(block64(block)))),
            Cipher::Tdes3(k) => k[0].decrypt(k[1].encrypt(k[2].decrypt(block64(block)))),
            _ => {
                with_aes!(self, c => {
                    let clear: &[u8] = block;
                    let mut array = clear.try_into().unwrap_or_default();
                    c.decrypt_block(&mut array);
                    block.copy_from_slice(&array);
                });
                return;
            }
        };
        block.copy_from_slice(&out.to_be_bytes());
    }

    fn check_aligned(&self, data: &[u8]) -> Result<()> {
        if !data.len().is_multiple_of(self.block_size()) {
            return Err(Error::input(
                "data",
                format!("length {} is not a multiple of {}", data.len(), self.block_size()),
            ));
        }
        Ok(())
    }

    /// Data aligned and IV one block: the block size.
    fn check_cbc(&self, iv: &[u8], data: &[u8]) -> Result<usize> {
        self.check_aligned(data)?;
        let size = self.block_size();
        if iv.len() != size {
            return Err(Error::input("IV", format!("must be {size} bytes")));
        }
        Ok(size)
    }

    pub fn ecb_encrypt(&self, data: &mut [u8]) -> Result<()> {
        self.check_aligned(data)?;
        for block in data.chunks_exact_mut(self.block_size()) {
            self.encrypt_block(block);
        }
        Ok(())
    }

    pub fn ecb_decrypt(&self, data: &mut [u8]) -> Result<()> {
        self.check_aligned(data)?;
        for block in data.chunks_exact_mut(self.block_size()) {
            self.decrypt_block(block);
        }
        Ok(())
    }

    /// CBC encrypt in place with `iv` (one block).
    pub fn cbc_encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<()> {
        let size = self.check_cbc(iv, data)?;
        let mut chain = iv.to_vec();
        for block in data.chunks_exact_mut(size) {
            xor_in_place(block, &chain);
            self.encrypt_block(block);
            chain.copy_from_slice(block);
        }
        Ok(())
    }

    /// CBC decrypt in place with `iv` (one block).
    pub fn cbc_decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<()> {
        let size = self.check_cbc(iv, data)?;
        let mut chain = iv.to_vec();
        let mut next = vec![0u8; size];
        for block in data.chunks_exact_mut(size) {
            next.copy_from_slice(block);
            self.decrypt_block(block);
            xor_in_place(block, &chain);
            chain.copy_from_slice(&next);
        }
        Ok(())
    }
}

/// `target ^= other`, over the shorter of the two.
pub fn xor_in_place(target: &mut [u8], other: &[u8]) {
    for (t, o) in target.iter_mut().zip(other) {
        *t ^= o;
    }
}

/// `a XOR b` (same length).
pub fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Set odd parity on every byte (DES key convention; EMV derived keys require it).
pub fn set_odd_parity(key: &mut [u8]) {
    for byte in key {
        let ones = (*byte & 0xFE).count_ones();
        *byte = (*byte & 0xFE) | u8::from(ones % 2 == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::hex;

    #[test]
    fn tdes_and_aes_known_answers() {
        let key = hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let mut block = [0u8; 8];
        Cipher::tdes(&key).unwrap().encrypt_block(&mut block);
        assert_eq!(hex::encode(&block[..3]), "08D7B4");
        // FIPS-197 C.1: AES-128.
        let key = hex::decode("000102030405060708090A0B0C0D0E0F").unwrap();
        let mut block = hex::decode("00112233445566778899AABBCCDDEEFF").unwrap();
        let aes = Cipher::aes(&key).unwrap();
        aes.encrypt_block(&mut block);
        assert_eq!(hex::encode(&block), "69C4E0D86A7B0430D8CDB78070B4C55A");
        aes.decrypt_block(&mut block);
        assert_eq!(hex::encode(&block), "00112233445566778899AABBCCDDEEFF");
    }

    #[test]
    fn cbc_round_trips_and_lengths_are_checked() {
        let cipher = Cipher::tdes(&[0x11; 16]).unwrap();
        let mut data = b"sixteen bytes!!!".to_vec();
        cipher.cbc_encrypt(&[0; 8], &mut data).unwrap();
        assert_ne!(&data, b"sixteen bytes!!!");
        cipher.cbc_decrypt(&[0; 8], &mut data).unwrap();
        assert_eq!(&data, b"sixteen bytes!!!");
        assert!(cipher.ecb_encrypt(&mut [0; 7]).is_err());
        assert!(Cipher::tdes(&[0; 15]).is_err());
        assert!(Cipher::aes(&[0; 8]).is_err());
        assert!(Cipher::des(&[0; 16]).is_err());
    }

    #[test]
    fn odd_parity() {
        let mut key = [0x00, 0x01, 0xFE, 0xFF];
        set_odd_parity(&mut key);
        assert_eq!(key, [0x01, 0x01, 0xFE, 0xFE]);
    }
}
