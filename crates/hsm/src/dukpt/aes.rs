//! AES DUKPT, host side (ANSI X9.24-3:2017): the initial key from the BDK, the transaction
//! derivation key for a KSN, and working keys of any usage and type.
//!
//! Every derivation is `Derive(KDK, usage, algorithm, length, data)`: AES-ECB under the KDK
//! of 16-byte derivation data blocks `01 ‖ i ‖ usage ‖ algorithm ‖ length in bits ‖ data`
//! for i = 1, 2, …, concatenated and truncated to the length.

use std::fmt;
use std::str::FromStr;

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// An AES DUKPT KSN is 12 bytes: an 8-byte initial key ID and a 32-bit counter.
pub const KSN_LEN: usize = 12;
/// X9.24-3: a counter has at most 16 one-bits.
pub const MAX_COUNTER_ONES: u32 = 16;

/// A key serial number: initial key ID (4-byte BDK ID ‖ 4-byte derivation ID) ‖ counter.
/// Always 12 bytes with a counter of at most 16 one-bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AesKsn([u8; KSN_LEN]);

impl AesKsn {
    /// From 12 bytes. Rejects other lengths and counters with more than 16 one-bits.
    pub fn new(bytes: &[u8]) -> Result<AesKsn> {
        let array: [u8; KSN_LEN] = bytes.try_into().map_err(|_| {
            Error::input("KSN", format!("an AES DUKPT KSN is {KSN_LEN} bytes (24 hex digits), got {}", bytes.len()))
        })?;
        let ksn = AesKsn(array);
        let ones = ksn.counter().count_ones();
        if ones > MAX_COUNTER_ONES {
            return Err(Error::input(
                "KSN",
                format!(
                    "transaction counter {:08X} has {ones} one-bits; X9.24-3 allows at most {MAX_COUNTER_ONES}",
                    ksn.counter()
                ),
            ));
        }
        Ok(ksn)
    }

    /// From 24 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<AesKsn> {
        let bytes = iso8583::hex::decode(text.trim()).map_err(|e| Error::input("KSN", e.to_string()))?;
        AesKsn::new(&bytes)
    }

    /// From an 8-byte initial key ID and a counter.
    pub fn from_parts(initial_key_id: &[u8], counter: u32) -> Result<AesKsn> {
        if initial_key_id.len() != 8 {
            return Err(Error::input("initial key ID", format!("must be 8 bytes, got {}", initial_key_id.len())));
        }
        let mut bytes = [0u8; KSN_LEN];
        bytes[..8].copy_from_slice(initial_key_id);
        bytes[8..].copy_from_slice(&counter.to_be_bytes());
        AesKsn::new(&bytes)
    }

    pub fn as_bytes(&self) -> &[u8; KSN_LEN] {
        &self.0
    }

    /// The 8-byte initial key ID.
    pub fn initial_key_id(&self) -> [u8; 8] {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.0[..8]);
        id
    }

    /// The 32-bit transaction counter.
    pub fn counter(&self) -> u32 {
        u32::from_be_bytes([self.0[8], self.0[9], self.0[10], self.0[11]])
    }

    /// Derivation data for keys below the initial key: the derivation ID (rightmost 4 bytes of
    /// the initial key ID) ‖ `counter`.
    fn data_for(&self, counter: u32) -> [u8; 8] {
        let mut data = [0u8; 8];
        data[..4].copy_from_slice(&self.0[4..8]);
        data[4..].copy_from_slice(&counter.to_be_bytes());
        data
    }
}

impl FromStr for AesKsn {
    type Err = Error;

    fn from_str(text: &str) -> Result<AesKsn> {
        AesKsn::from_hex(text)
    }
}

impl fmt::Display for AesKsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&iso8583::hex::encode(&self.0))
    }
}

impl fmt::Debug for AesKsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AesKsn({self})")
    }
}

/// Key types, with their X9.24-3 algorithm codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Tdes2,
    Tdes3,
    Aes128,
    Aes192,
    Aes256,
}

impl KeyType {
    /// The algorithm code in the derivation data.
    pub fn code(self) -> u16 {
        match self {
            KeyType::Tdes2 => 0x0000,
            KeyType::Tdes3 => 0x0001,
            KeyType::Aes128 => 0x0002,
            KeyType::Aes192 => 0x0003,
            KeyType::Aes256 => 0x0004,
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            KeyType::Tdes2 | KeyType::Aes128 => 16,
            KeyType::Tdes3 | KeyType::Aes192 => 24,
            KeyType::Aes256 => 32,
        }
    }

    /// Key length in bits, as written in the derivation data.
    pub fn bits(self) -> u16 {
        // At most 256: always fits.
        (self.key_len() * 8) as u16
    }

    pub fn is_aes(self) -> bool {
        matches!(self, KeyType::Aes128 | KeyType::Aes192 | KeyType::Aes256)
    }

    /// The type of an AES DUKPT BDK (or initial or derivation key) of `len` bytes.
    pub fn for_bdk(len: usize) -> Result<KeyType> {
        match len {
            16 => Ok(KeyType::Aes128),
            24 => Ok(KeyType::Aes192),
            32 => Ok(KeyType::Aes256),
            _ => Err(Error::key_length("AES DUKPT BDK", "16, 24 or 32", len)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyType::Tdes2 => "TDES-2key",
            KeyType::Tdes3 => "TDES-3key",
            KeyType::Aes128 => "AES-128",
            KeyType::Aes192 => "AES-192",
            KeyType::Aes256 => "AES-256",
        }
    }
}

/// Key usages, with their X9.24-3 codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    KeyEncryption,
    PinEncryption,
    MacGenerate,
    MacVerify,
    MacBoth,
    DataEncrypt,
    DataDecrypt,
    DataBoth,
    KeyDerivation,
    KeyDerivationInitial,
}

impl KeyUsage {
    /// The key usage code in the derivation data.
    pub fn code(self) -> u16 {
        match self {
            KeyUsage::KeyEncryption => 0x0002,
            KeyUsage::PinEncryption => 0x1000,
            KeyUsage::MacGenerate => 0x2000,
            KeyUsage::MacVerify => 0x2001,
            KeyUsage::MacBoth => 0x2002,
            KeyUsage::DataEncrypt => 0x3000,
            KeyUsage::DataDecrypt => 0x3001,
            KeyUsage::DataBoth => 0x3002,
            KeyUsage::KeyDerivation => 0x8000,
            KeyUsage::KeyDerivationInitial => 0x8001,
        }
    }
}

/// Derivation data block `i` (from 1): `01 ‖ i ‖ usage ‖ algorithm ‖ bits ‖ data`.
pub fn derivation_data(block: u8, usage: KeyUsage, key_type: KeyType, data: &[u8; 8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[0] = 0x01;
    out[1] = block;
    out[2..4].copy_from_slice(&usage.code().to_be_bytes());
    out[4..6].copy_from_slice(&key_type.code().to_be_bytes());
    out[6..8].copy_from_slice(&key_type.bits().to_be_bytes());
    out[8..].copy_from_slice(data);
    out
}

/// `Derive(KDK, usage, type, data)`: a key of `key_type`'s length.
fn derive_key(kdk: &[u8], usage: KeyUsage, key_type: KeyType, data: &[u8; 8]) -> Result<Secret> {
    let cipher = Cipher::aes(kdk)?;
    let len = key_type.key_len();
    let mut out = Vec::with_capacity(len.div_ceil(16) * 16);
    for block in 1..=len.div_ceil(16) {
        // At most 2 blocks: always fits.
        let mut input = derivation_data(block as u8, usage, key_type, data);
        cipher.encrypt_block(&mut input);
        out.extend_from_slice(&input);
    }
    out.truncate(len);
    Ok(Secret::from_vec(out))
}

/// A derivation key of `bdk_type`: the type must be AES and the key must be that long.
fn check_derivation_key(what: &'static str, key: &[u8], bdk_type: KeyType) -> Result<()> {
    if !bdk_type.is_aes() {
        return Err(Error::input("BDK type", "AES DUKPT derivation keys are AES-128, AES-192 or AES-256"));
    }
    if key.len() != bdk_type.key_len() {
        let expected = match bdk_type {
            KeyType::Aes192 => "24",
            KeyType::Aes256 => "32",
            _ => "16",
        };
        return Err(Error::key_length(what, expected, key.len()));
    }
    Ok(())
}

/// The initial key (IK) of a device: `Derive(BDK, 8001, type(BDK), IKID)`. The BDK type
/// follows its length (16, 24, 32 bytes: AES-128, -192, -256).
pub fn initial_key(bdk: &[u8], initial_key_id: &[u8]) -> Result<Secret> {
    let bdk_type = KeyType::for_bdk(bdk.len())?;
    let data: [u8; 8] = initial_key_id
        .try_into()
        .map_err(|_| Error::input("initial key ID", format!("must be 8 bytes, got {}", initial_key_id.len())))?;
    derive_key(bdk, KeyUsage::KeyDerivationInitial, bdk_type, &data)
}

/// The transaction derivation key for `ksn` from the initial key `ik` (of `bdk_type`): for
/// each counter bit from the top, if set, set it in a working counter and derive
/// `K = Derive(K, 8000, type(BDK), derivation ID ‖ working counter)`.
pub fn transaction_key(ik: &[u8], bdk_type: KeyType, ksn: &AesKsn) -> Result<Secret> {
    check_derivation_key("AES DUKPT initial key", ik, bdk_type)?;
    let counter = ksn.counter();
    let mut working_counter = 0u32;
    let mut key = Secret::new(ik);
    for bit in (0..32).rev() {
        let mask = 1u32 << bit;
        if counter & mask == 0 {
            continue;
        }
        working_counter |= mask;
        key = derive_key(key.expose(), KeyUsage::KeyDerivation, bdk_type, &ksn.data_for(working_counter))?;
    }
    Ok(key)
}

/// A working key of `usage` and `key_type` from a transaction derivation key:
/// `Derive(txn, usage, key_type, derivation ID ‖ counter)`. An AES working key may not be
/// longer than the BDK (an AES-256 key from an AES-128 BDK); TDES working keys are allowed
/// under every BDK.
pub fn working_key(
    transaction_key: &[u8],
    bdk_type: KeyType,
    usage: KeyUsage,
    key_type: KeyType,
    ksn: &AesKsn,
) -> Result<Secret> {
    check_derivation_key("AES DUKPT transaction key", transaction_key, bdk_type)?;
    if key_type.is_aes() && key_type.key_len() > bdk_type.key_len() {
        return Err(Error::input(
            "working key type",
            format!("an {} working key cannot be derived from an {} BDK", key_type.name(), bdk_type.name()),
        ));
    }
    derive_key(transaction_key, usage, key_type, &ksn.data_for(ksn.counter()))
}

/// BDK and KSN to `(initial key, working key of usage and type)`.
pub fn derive(bdk: &[u8], ksn: &AesKsn, usage: KeyUsage, key_type: KeyType) -> Result<(Secret, Secret)> {
    let bdk_type = KeyType::for_bdk(bdk.len())?;
    let ik = initial_key(bdk, &ksn.initial_key_id())?;
    let transaction = transaction_key(ik.expose(), bdk_type, ksn)?;
    let working = working_key(transaction.expose(), bdk_type, usage, key_type, ksn)?;
    Ok((ik, working))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::hex;

    const BDK: &str = "FEDCBA9876543210F1F1F1F1F1F1F1F1";

    fn h(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    #[test]
    fn x9_24_3_known_answers() {
        let ksn = AesKsn::from_hex("123456789012345600000001").unwrap();
        let ik = initial_key(&h(BDK), &ksn.initial_key_id()).unwrap();
        assert_eq!(hex::encode(ik.expose()), "1273671EA26AC29AFA4D1084127652A1");
        let txn = transaction_key(ik.expose(), KeyType::Aes128, &ksn).unwrap();
        assert_eq!(hex::encode(txn.expose()), "4F21B565BAD9835E112B6465635EAE44");
        let data = derivation_data(1, KeyUsage::PinEncryption, KeyType::Aes128, &ksn.data_for(1));
        assert_eq!(hex::encode(&data), "01011000000200809012345600000001");
        let (_, pin) = derive(&h(BDK), &ksn, KeyUsage::PinEncryption, KeyType::Aes128).unwrap();
        assert_eq!(hex::encode(pin.expose()), "AF8CB133A78F8DC2D1359F18527593FB");
    }

    #[test]
    fn ksn_parsing() {
        let ksn: AesKsn = "12345678901234560001fffe".parse().unwrap();
        assert_eq!(ksn.counter(), 0x1FFFE);
        assert_eq!(ksn.initial_key_id(), [0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56]);
        assert_eq!(ksn.to_string(), "12345678901234560001FFFE");
        assert_eq!(format!("{ksn:?}"), "AesKsn(12345678901234560001FFFE)");
        assert_eq!(AesKsn::from_parts(&h("1234567890123456"), 0x1FFFE).unwrap(), ksn);
        assert!(AesKsn::from_parts(&h("12345678901234"), 1).is_err());
    }

    #[test]
    fn bad_ksn_lengths_and_hex_are_rejected() {
        for text in ["", "FFFF9876543210E00001", "12345678901234560000000100", "1234567890123456000000011"] {
            let error = AesKsn::from_hex(text).unwrap_err();
            assert!(error.is_bad_input(), "{text}: {error}");
        }
        assert!(AesKsn::from_hex("1234567890123456000000X1").unwrap_err().to_string().contains("not a hex digit"));
        assert!(AesKsn::new(&[0; 10]).unwrap_err().to_string().contains("12 bytes"));
    }

    #[test]
    fn counters_with_more_than_sixteen_ones_are_rejected() {
        assert!(AesKsn::from_hex("1234567890123456FFFF0000").is_ok());
        let error = AesKsn::from_hex("12345678901234560001FFFF").unwrap_err();
        assert!(error.to_string().contains("17 one-bits"), "{error}");
        assert!(AesKsn::from_hex("1234567890123456FFFFFFFF").is_err());
        assert!(AesKsn::from_parts(&[0xFF; 8], 0x0001_FFFF).is_err());
    }

    #[test]
    fn key_types_and_lengths_are_checked() {
        let ksn = AesKsn::from_hex("123456789012345600000001").unwrap();
        assert!(initial_key(&[0; 8], &ksn.initial_key_id()).is_err());
        assert!(initial_key(&h(BDK), &[0; 7]).is_err());
        assert!(transaction_key(&[0; 16], KeyType::Tdes2, &ksn).is_err());
        assert!(transaction_key(&[0; 16], KeyType::Aes256, &ksn).is_err());
        // Working keys: AES no longer than the BDK; TDES always.
        let txn = [0u8; 16];
        let error = working_key(&txn, KeyType::Aes128, KeyUsage::PinEncryption, KeyType::Aes256, &ksn).unwrap_err();
        assert!(error.to_string().contains("AES-256"), "{error}");
        assert!(working_key(&txn, KeyType::Aes128, KeyUsage::PinEncryption, KeyType::Aes192, &ksn).is_err());
        assert_eq!(
            working_key(&txn, KeyType::Aes128, KeyUsage::PinEncryption, KeyType::Tdes3, &ksn).unwrap().len(),
            24
        );
        assert_eq!(working_key(&txn, KeyType::Aes128, KeyUsage::DataBoth, KeyType::Tdes2, &ksn).unwrap().len(), 16);
        let txn = [0u8; 32];
        assert_eq!(working_key(&txn, KeyType::Aes256, KeyUsage::MacBoth, KeyType::Aes192, &ksn).unwrap().len(), 24);
    }

    #[test]
    fn codes() {
        let data = derivation_data(2, KeyUsage::KeyDerivationInitial, KeyType::Aes256, &[0x12; 8]);
        assert_eq!(hex::encode(&data), "01028001000401001212121212121212");
        let data = derivation_data(1, KeyUsage::KeyEncryption, KeyType::Tdes3, &[0; 8]);
        assert_eq!(hex::encode(&data[..8]), "01010002000100C0");
    }
}
