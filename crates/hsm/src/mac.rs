//! MACs: ISO 9797-1 algorithm 1 (CBC-MAC; X9.9 with single DES), algorithm 3 (the X9.19
//! retail MAC), CMAC (AES and TDES, NIST SP 800-38B), the UnionPay POS "ECB" MAC, and a
//! constant-time compare for verification.

use subtle::ConstantTimeEq;

use crate::cipher::{Cipher, xor_in_place};
use crate::error::{Error, Result};

/// ISO 9797-1 padding methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Zero bytes to a block boundary; nothing if aligned; empty data becomes one zero block.
    Method1,
    /// `80` then zero bytes; always adds at least one byte.
    Method2,
    /// A block holding the data's bit length (big-endian), then method 1.
    Method3,
}

impl Padding {
    pub fn from_number(number: u8) -> Result<Padding> {
        match number {
            1 => Ok(Padding::Method1),
            2 => Ok(Padding::Method2),
            3 => Ok(Padding::Method3),
            _ => Err(Error::input("padding", "must be 1, 2 or 3")),
        }
    }
}

/// `data` padded to a multiple of `block` bytes.
pub fn pad(data: &[u8], block: usize, padding: Padding) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2 * block);
    match padding {
        Padding::Method1 => {
            out.extend_from_slice(data);
            let fill = (block - data.len() % block) % block;
            out.resize(out.len() + fill, 0);
            if out.is_empty() {
                out.resize(block, 0);
            }
        }
        Padding::Method2 => {
            out.extend_from_slice(data);
            out.push(0x80);
            let fill = (block - out.len() % block) % block;
            out.resize(out.len() + fill, 0);
        }
        Padding::Method3 => {
            let bits = (data.len() as u64) * 8;
            let mut length_block = vec![0u8; block];
            let bytes = bits.to_be_bytes();
            let take = bytes.len().min(block);
            length_block[block - take..].copy_from_slice(&bytes[bytes.len() - take..]);
            out.extend_from_slice(&length_block);
            out.extend_from_slice(&pad(data, block, Padding::Method1));
        }
    }
    out
}

/// CBC-MAC with a zero IV over padded data: ISO 9797-1 algorithm 1. The full last block is
/// returned; callers truncate (X9.9 takes the left 4 bytes).
pub fn cbc_mac(cipher: &Cipher, data: &[u8], padding: Padding) -> Vec<u8> {
    let size = cipher.block_size();
    let padded = pad(data, size, padding);
    let mut chain = vec![0u8; size];
    for block in padded.chunks_exact(size) {
        xor_in_place(&mut chain, block);
        cipher.encrypt_block(&mut chain);
    }
    chain
}

/// ISO 9797-1 algorithm 3 (ANSI X9.19 retail MAC) with a double-length key `KL‖KR`:
/// CBC under DES(KL), then `DES_KL(DES⁻¹_KR(H))`. 8 bytes.
pub fn retail_mac(key: &[u8], data: &[u8], padding: Padding) -> Result<[u8; 8]> {
    if key.len() != 16 {
        return Err(Error::key_length("ISO 9797-1 algorithm 3", "16", key.len()));
    }
    let left = Cipher::des(&key[..8])?;
    let right = Cipher::des(&key[8..])?;
    let mut mac = [0u8; 8];
    mac.copy_from_slice(&cbc_mac(&left, data, padding));
    right.decrypt_block(&mut mac);
    left.encrypt_block(&mut mac);
    Ok(mac)
}

/// CMAC (NIST SP 800-38B): AES (16-byte MAC) or TDES (8-byte MAC) by the cipher's block size.
pub fn cmac(cipher: &Cipher, data: &[u8]) -> Vec<u8> {
    let size = cipher.block_size();
    let rb: u8 = if size == 16 { 0x87 } else { 0x1B };
    let mut l = vec![0u8; size];
    cipher.encrypt_block(&mut l);
    let k1 = double(&l, rb);
    let k2 = double(&k1, rb);
    let complete = !data.is_empty() && data.len().is_multiple_of(size);
    let blocks = if data.is_empty() { 1 } else { data.len().div_ceil(size) };
    let mut chain = vec![0u8; size];
    for index in 0..blocks {
        let start = index * size;
        let end = (start + size).min(data.len());
        let mut block = vec![0u8; size];
        block[..end - start].copy_from_slice(&data[start..end]);
        if index + 1 == blocks {
            if complete {
                xor_in_place(&mut block, &k1);
            } else {
                block[end - start] = 0x80;
                xor_in_place(&mut block, &k2);
            }
        }
        xor_in_place(&mut chain, &block);
        cipher.encrypt_block(&mut chain);
    }
    chain
}

/// Left shift by one bit, XOR `rb` into the last byte if the top bit fell out.
fn double(block: &[u8], rb: u8) -> Vec<u8> {
    let mut out = vec![0u8; block.len()];
    let mut carry = 0u8;
    for index in (0..block.len()).rev() {
        out[index] = (block[index] << 1) | carry;
        carry = block[index] >> 7;
    }
    if carry == 1 {
        let last = out.len() - 1;
        out[last] ^= rb;
    }
    out
}

/// The UnionPay POS "ECB" MAC over a MAB (MTI through field 63): XOR the zero-padded blocks,
/// write the result as 16 uppercase hex characters, encrypt the first 8, XOR with the last 8,
/// encrypt again, and keep the first 8 hex characters of the result as ASCII: the 8 bytes of
/// field 64. DES for an 8-byte MAK, TDES for 16 bytes.
pub fn cup_ecb_mac(mak: &[u8], mab: &[u8]) -> Result<[u8; 8]> {
    let cipher = Cipher::tdes(mak)?;
    if cipher.block_size() != 8 || mak.len() == 24 {
        return Err(Error::key_length("UnionPay ECB MAC", "8 or 16", mak.len()));
    }
    let mut folded = [0u8; 8];
    for block in mab.chunks(8) {
        xor_in_place(&mut folded, block);
    }
    let text = iso8583::hex::encode(&folded);
    let (high, low) = text.as_bytes().split_at(8);
    let mut e = [0u8; 8];
    e.copy_from_slice(high);
    cipher.encrypt_block(&mut e);
    xor_in_place(&mut e, low);
    cipher.encrypt_block(&mut e);
    let mut field = [0u8; 8];
    field.copy_from_slice(&iso8583::hex::encode(&e).as_bytes()[..8]);
    Ok(field)
}

/// Compare a received MAC with the expected one in constant time.
pub fn verify(expected: &[u8], received: &[u8]) -> Result<()> {
    if expected.len() == received.len() && bool::from(expected.ct_eq(received)) {
        Ok(())
    } else {
        Err(Error::Verification("MAC"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::hex;

    fn h(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    #[test]
    fn padding_methods() {
        assert_eq!(pad(&[], 8, Padding::Method1), vec![0; 8]);
        assert_eq!(pad(&[1; 8], 8, Padding::Method1), vec![1; 8]);
        assert_eq!(pad(&[1; 8], 8, Padding::Method2).len(), 16);
        assert_eq!(pad(&[1], 8, Padding::Method2), [1, 0x80, 0, 0, 0, 0, 0, 0]);
        assert_eq!(pad(&[1], 8, Padding::Method3), [0, 0, 0, 0, 0, 0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn retail_mac_and_cmac_known_answers() {
        let key = h("0123456789ABCDEFFEDCBA9876543210");
        let mac = retail_mac(&key, b"Now is the time for all ", Padding::Method1).unwrap();
        assert_eq!(hex::encode(&mac), "A1C72E74EA3FA9B6");
        let aes = Cipher::aes(&h("2B7E151628AED2A6ABF7158809CF4F3C")).unwrap();
        assert_eq!(hex::encode(&cmac(&aes, &[])), "BB1D6929E95937287FA37D129B756746");
        assert_eq!(
            hex::encode(&cmac(&aes, &h("6BC1BEE22E409F96E93D7E117393172A"))),
            "070A16B46B4D4144F79BDD9DD04A287C"
        );
    }

    #[test]
    fn cup_mac_and_verify() {
        let field = cup_ecb_mac(&h("2222222222222222"), &h("1234567890ABCDEFABCDEF1234567890")).unwrap();
        assert_eq!(&field, b"E267B6E2");
        verify(b"E267B6E2", &field).unwrap();
        assert_eq!(verify(b"E267B6E3", &field), Err(Error::Verification("MAC")));
        assert!(verify(b"E267B6", &field).is_err());
        assert!(cup_ecb_mac(&[0; 24], b"x").is_err());
    }
}
