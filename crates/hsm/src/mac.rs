//! MACs: ISO 9797-1 algorithm 1 (CBC-MAC; X9.9 with single DES), algorithm 3 (the X9.19
//! retail MAC), CMAC (AES and TDES, NIST SP 800-38B), the UnionPay POS "ECB" MAC, and a
//! constant-time compare for verification.

use subtle::ConstantTimeEq;

use crate::cipher::{Cipher, des_key, xor_in_place};
use crate::des_tables::DesKey;
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

/// `data` padded by `padding` (as [`pad`] does for 8-byte blocks), as big-endian 8-byte words,
/// without copying it.
fn blocks8(data: &[u8], padding: Padding) -> impl Iterator<Item = u64> + '_ {
    let whole = data.chunks_exact(8);
    let rest = whole.remainder();
    let length = (padding == Padding::Method3).then(|| (data.len() as u64).wrapping_mul(8));
    let tail = match padding {
        // A remainder is shorter than a block, so the marker has its place.
        Padding::Method2 => Some(word8(rest) | 0x80 << (56 - 8 * rest.len())),
        Padding::Method1 | Padding::Method3 => (!rest.is_empty() || data.is_empty()).then(|| word8(rest)),
    };
    length.into_iter().chain(whole.map(word8)).chain(tail)
}

/// Up to 8 bytes as a big-endian word, zero-filled on the right.
fn word8(bytes: &[u8]) -> u64 {
    let mut block = [0u8; 8];
    block[..bytes.len()].copy_from_slice(bytes);
    u64::from_be_bytes(block)
}

/// ISO 9797-1 algorithm 3 (ANSI X9.19 retail MAC) with a double-length key `KL‖KR`:
/// CBC under DES(KL), then `DES_KL(DES⁻¹_KR(H))`. 8 bytes.
pub fn retail_mac(key: &[u8], data: &[u8], padding: Padding) -> Result<[u8; 8]> {
    if key.len() != 16 {
        return Err(Error::key_length("ISO 9797-1 algorithm 3", "16", key.len()));
    }
    let (left, right) = (des_key(key, 0), des_key(key, 8));
    Ok(retail_mac_des(&left, &right, data, padding))
}

/// [`retail_mac`] with KL's and KR's schedules made already (the HSM keeps them with an open
/// key).
pub(crate) fn retail_mac_des(left: &DesKey, right: &DesKey, data: &[u8], padding: Padding) -> [u8; 8] {
    let chain = left.cbc_mac(blocks8(data, padding));
    left.encrypt(right.decrypt(chain)).to_be_bytes()
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
        // A block on the stack (AES's 16 bytes hold either size): no allocation per block.
        let mut buffer = [0u8; 16];
        let block = &mut buffer[..size];
        block[..end - start].copy_from_slice(&data[start..end]);
        if index + 1 == blocks {
            if complete {
                xor_in_place(block, &k1);
            } else {
                block[end - start] = 0x80;
                xor_in_place(block, &k2);
            }
        }
        xor_in_place(&mut chain, block);
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
    if !matches!(mak.len(), 8 | 16) {
        return Err(Error::key_length("UnionPay ECB MAC", "8 or 16", mak.len()));
    }
    cup_ecb_mac_with(&Cipher::tdes(mak)?, mab)
}

/// [`cup_ecb_mac`] under the MAK's cipher made already (DES or 2-key TDES; anything else is
/// refused): a terminal keeps it from sign-on, so a MAC costs no key schedule (with the PIN
/// block's, ~5 % of the load generator's virtual terminals went to key schedules).
pub fn cup_ecb_mac_with(mak: &Cipher, mab: &[u8]) -> Result<[u8; 8]> {
    match mak.des_parts() {
        Some(parts @ ([_] | [_, _])) => Ok(cup_ecb_mac_des(parts, mab)),
        _ => Err(Error::Unsupported("the UnionPay ECB MAC takes a DES or 2-key TDES MAK")),
    }
}

/// [`cup_ecb_mac`] with the MAK's schedules made already: one (DES) or two (2-key TDES, EDE).
pub(crate) fn cup_ecb_mac_des(mak: &[DesKey], mab: &[u8]) -> [u8; 8] {
    debug_assert!(matches!(mak.len(), 1 | 2), "a DES or 2-key TDES MAK");
    let encrypt = |block: u64| match mak {
        [k1, k2] => k1.encrypt(k2.decrypt(k1.encrypt(block))),
        _ => mak.iter().fold(block, |block, key| key.encrypt(block)),
    };
    let folded = mab.chunks(8).fold(0u64, |folded, block| folded ^ word8(block));
    let text = iso8583::hex::encode(&folded.to_be_bytes());
    let (high, low) = text.as_bytes().split_at(8);
    let e = encrypt(encrypt(word8(high)) ^ word8(low));
    let mut field = [0u8; 8];
    field.copy_from_slice(&iso8583::hex::encode(&e.to_be_bytes()).as_bytes()[..8]);
    field
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

    /// The words the MACs chain over are the blocks [`pad`] makes, for every padding and length.
    #[test]
    fn blocks8_are_the_padded_blocks() {
        let data: Vec<u8> = (1..=40u8).collect();
        for padding in [Padding::Method1, Padding::Method2, Padding::Method3] {
            for len in 0..=data.len() {
                let expected: Vec<u64> = pad(&data[..len], 8, padding)
                    .chunks_exact(8)
                    .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
                    .collect();
                assert_eq!(blocks8(&data[..len], padding).collect::<Vec<_>>(), expected, "{padding:?}, {len} bytes");
            }
        }
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
        // Under the MAK's cipher made once: the same field; no 3-key TDES or AES MAK.
        let mak = Cipher::tdes(&h("2222222222222222")).unwrap();
        assert_eq!(&cup_ecb_mac_with(&mak, &h("1234567890ABCDEFABCDEF1234567890")).unwrap(), b"E267B6E2");
        for other in [Cipher::tdes(&[0x22; 24]).unwrap(), Cipher::aes(&[0x22; 16]).unwrap()] {
            assert!(matches!(cup_ecb_mac_with(&other, b"x"), Err(Error::Unsupported(_))), "{other:?}");
        }
    }
}
