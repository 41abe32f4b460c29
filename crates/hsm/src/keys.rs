//! Key roles and wrapped keys.
//!
//! Every key a [`SecurityModule`](crate::SecurityModule) manages travels and rests as a
//! [`WrappedKey`]: a TR-31 version D key block under the module's local master key. The block's
//! header — authenticated by the block MAC — carries the key's TR-31 usage, algorithm, mode of
//! use, exportability, its cardnet role (optional block `10`) and its check value (optional block
//! `KC`), so a stored key cannot be re-labelled (a ZAK passed off as a ZPK) without the MAC
//! failing, and its check value can be shown without opening it.

use std::fmt;

use crate::error::{Error, Result};
use crate::tr31::{self, Header, Version};

/// What a key is for, in cardnet's terms. Operations accept only the roles they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Zone master key: the KEK two members exchange working keys under.
    Zmk,
    /// Terminal master key: the KEK working keys are loaded into one terminal under.
    Tmk,
    /// Terminal PIN key (the UnionPay PIK): PIN blocks from a terminal.
    Tpk,
    /// Zone PIN key: PIN blocks between members.
    Zpk,
    /// Terminal MAC key (the UnionPay MAK).
    Tak,
    /// Zone MAC key.
    Zak,
    /// Terminal data key (track data encryption, the UnionPay TDK).
    Tdk,
    /// DUKPT base derivation key.
    Bdk,
    /// Card verification key (CVV, CVV2, iCVV).
    Cvk,
    /// PIN verification key (Visa PVV, IBM 3624).
    Pvk,
    /// EMV issuer master key for application cryptograms.
    ImkAc,
    /// Data encryption key (AES): the issuer's card records at rest ([`SecurityModule::encrypt_data`],
    /// `decrypt_data`, `keyed_hash`).
    ///
    /// [`SecurityModule::encrypt_data`]: crate::SecurityModule::encrypt_data
    Dek,
}

impl KeyType {
    pub const ALL: [KeyType; 12] = [
        KeyType::Zmk,
        KeyType::Tmk,
        KeyType::Tpk,
        KeyType::Zpk,
        KeyType::Tak,
        KeyType::Zak,
        KeyType::Tdk,
        KeyType::Bdk,
        KeyType::Cvk,
        KeyType::Pvk,
        KeyType::ImkAc,
        KeyType::Dek,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeyType::Zmk => "ZMK",
            KeyType::Tmk => "TMK",
            KeyType::Tpk => "TPK",
            KeyType::Zpk => "ZPK",
            KeyType::Tak => "TAK",
            KeyType::Zak => "ZAK",
            KeyType::Tdk => "TDK",
            KeyType::Bdk => "BDK",
            KeyType::Cvk => "CVK",
            KeyType::Pvk => "PVK",
            KeyType::ImkAc => "IMK-AC",
            KeyType::Dek => "DEK",
        }
    }

    pub fn from_name(name: &str) -> Result<KeyType> {
        KeyType::ALL.into_iter().find(|key_type| key_type.name().eq_ignore_ascii_case(name)).ok_or_else(|| {
            Error::input(
                "key type",
                format!("{name:?} is not one of ZMK TMK TPK ZPK TAK ZAK TDK BDK CVK PVK IMK-AC DEK"),
            )
        })
    }

    /// The TR-31 key usage this role is stored with.
    pub fn tr31_usage(self) -> [u8; 2] {
        match self {
            KeyType::Zmk | KeyType::Tmk => tr31::usage::KEK,
            KeyType::Tpk | KeyType::Zpk => tr31::usage::PIN_ENCRYPTION,
            // The UnionPay terminal MAC is not an ISO 9797-1 algorithm; M0 (TDES MAC) is the
            // closest TR-31 usage.
            KeyType::Tak => tr31::usage::MAC_ISO16609,
            KeyType::Zak => tr31::usage::MAC_ALG3,
            // Both protect data; the role block (10) tells them apart under the LMK.
            KeyType::Tdk | KeyType::Dek => tr31::usage::DATA_ENCRYPTION,
            KeyType::Bdk => tr31::usage::BDK,
            KeyType::Cvk => tr31::usage::CVK,
            KeyType::Pvk => tr31::usage::PIN_VERIFICATION,
            KeyType::ImkAc => tr31::usage::EMV_MK_AC,
        }
    }

    /// The TR-31 mode of use this role is stored with.
    pub fn tr31_mode(self) -> u8 {
        match self {
            KeyType::Zmk | KeyType::Tmk | KeyType::Tpk | KeyType::Zpk | KeyType::Tdk | KeyType::Dek => {
                tr31::mode::ENCRYPT_DECRYPT
            }
            KeyType::Tak | KeyType::Zak | KeyType::Cvk | KeyType::Pvk => tr31::mode::GENERATE_VERIFY,
            KeyType::Bdk | KeyType::ImkAc => tr31::mode::DERIVE,
        }
    }

    /// Whether the key may leave the module under a KEK. Derivation keys stay in, and so does
    /// the DEK: with it a stolen card table could be read and searched; it is backed up as its
    /// key block under the LMK, never in a form another module could open.
    pub fn exportable(self) -> bool {
        !matches!(self, KeyType::Bdk | KeyType::ImkAc | KeyType::Dek)
    }

    /// Key encryption keys: they protect other keys in transit.
    pub fn is_kek(self) -> bool {
        matches!(self, KeyType::Zmk | KeyType::Tmk)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The cipher family and size of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Single DES, 8 bytes: only for legacy UnionPay terminals (sign-on scheme 001).
    Des,
    Tdes2,
    Tdes3,
    Aes128,
    Aes192,
    Aes256,
}

impl KeyAlgorithm {
    pub fn key_len(self) -> usize {
        match self {
            KeyAlgorithm::Des => 8,
            KeyAlgorithm::Tdes2 | KeyAlgorithm::Aes128 => 16,
            KeyAlgorithm::Tdes3 | KeyAlgorithm::Aes192 => 24,
            KeyAlgorithm::Aes256 => 32,
        }
    }

    pub fn is_aes(self) -> bool {
        matches!(self, KeyAlgorithm::Aes128 | KeyAlgorithm::Aes192 | KeyAlgorithm::Aes256)
    }

    pub fn tr31_algorithm(self) -> u8 {
        match self {
            KeyAlgorithm::Des => tr31::algorithm::DES,
            KeyAlgorithm::Tdes2 | KeyAlgorithm::Tdes3 => tr31::algorithm::TDES,
            _ => tr31::algorithm::AES,
        }
    }

    /// The algorithm of a key of `len` bytes in TR-31 family `algorithm`.
    pub fn from_tr31(algorithm: u8, len: usize) -> Result<KeyAlgorithm> {
        match (algorithm, len) {
            (tr31::algorithm::DES, 8) => Ok(KeyAlgorithm::Des),
            (tr31::algorithm::TDES, 16) => Ok(KeyAlgorithm::Tdes2),
            (tr31::algorithm::TDES, 24) => Ok(KeyAlgorithm::Tdes3),
            (tr31::algorithm::AES, 16) => Ok(KeyAlgorithm::Aes128),
            (tr31::algorithm::AES, 24) => Ok(KeyAlgorithm::Aes192),
            (tr31::algorithm::AES, 32) => Ok(KeyAlgorithm::Aes256),
            _ => Err(Error::KeyBlock(format!("algorithm {} with a {len}-byte key", algorithm as char))),
        }
    }

    /// A DES-family key of `len` bytes.
    pub fn tdes_for_len(len: usize) -> Result<KeyAlgorithm> {
        match len {
            8 => Ok(KeyAlgorithm::Des),
            16 => Ok(KeyAlgorithm::Tdes2),
            24 => Ok(KeyAlgorithm::Tdes3),
            _ => Err(Error::key_length("TDES", "8, 16 or 24", len)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Des => "des",
            KeyAlgorithm::Tdes2 => "tdes2",
            KeyAlgorithm::Tdes3 => "tdes3",
            KeyAlgorithm::Aes128 => "aes128",
            KeyAlgorithm::Aes192 => "aes192",
            KeyAlgorithm::Aes256 => "aes256",
        }
    }

    pub fn from_name(name: &str) -> Result<KeyAlgorithm> {
        [
            KeyAlgorithm::Des,
            KeyAlgorithm::Tdes2,
            KeyAlgorithm::Tdes3,
            KeyAlgorithm::Aes128,
            KeyAlgorithm::Aes192,
            KeyAlgorithm::Aes256,
        ]
        .into_iter()
        .find(|algorithm| algorithm.name() == name)
        .ok_or_else(|| Error::input("key algorithm", "must be des, tdes2, tdes3, aes128, aes192 or aes256"))
    }
}

/// The proprietary optional block that binds a key's cardnet role into its key block.
pub(crate) const ROLE_BLOCK: [u8; 2] = *b"10";
/// The X9.143 optional block holding the wrapped key's check value.
pub(crate) const KCV_BLOCK: [u8; 2] = *b"KC";

/// A key under the module's local master key: a TR-31 version D key block. Safe to store in a
/// database or log (it is encrypted and authenticated); only the module that holds the LMK can
/// use it. Role and check value are read from the (authenticated) header.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    block: String,
    key_type: KeyType,
    algorithm: u8,
    kcv: String,
}

impl WrappedKey {
    /// Read a stored key block. Only the header is parsed here; the module checks the MAC
    /// whenever it opens the key.
    pub fn from_block(block: impl Into<String>) -> Result<WrappedKey> {
        let block = block.into();
        let header = Header::parse(&block)?;
        if header.version != Version::D {
            return Err(Error::KeyBlock("keys under the LMK are version D key blocks".into()));
        }
        let role = header
            .optional_block(ROLE_BLOCK)
            .ok_or_else(|| Error::KeyBlock("no cardnet key role (optional block 10)".into()))?;
        let key_type = KeyType::from_name(role).map_err(|_| Error::KeyBlock("unknown cardnet key role".into()))?;
        if header.key_usage != key_type.tr31_usage() {
            return Err(Error::KeyBlock(format!("usage {} does not match role {key_type}", header.key_usage_str())));
        }
        let kcv = header
            .optional_block(KCV_BLOCK)
            .and_then(|data| data.get(2..))
            .ok_or_else(|| Error::KeyBlock("no check value (optional block KC)".into()))?
            .to_owned();
        Ok(WrappedKey { algorithm: header.algorithm, block, key_type, kcv })
    }

    pub fn block(&self) -> &str {
        &self.block
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The check value as stored: legacy TDES KCV (6 hex digits) for DES-family keys, AES-CMAC
    /// KCV (10 hex digits) for AES keys.
    pub fn kcv(&self) -> &str {
        &self.kcv
    }

    /// `T`, `D` or `A` (TR-31 algorithm code).
    pub fn tr31_algorithm(&self) -> u8 {
        self.algorithm
    }

    pub fn is_aes(&self) -> bool {
        self.algorithm == tr31::algorithm::AES
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey({} {}, KCV {})", self.key_type, self.algorithm as char, self.kcv)
    }
}

impl fmt::Display for WrappedKey {
    /// The key block itself (encrypted; what a database stores).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_usages_are_distinct_where_they_must_be() {
        for key_type in KeyType::ALL {
            assert_eq!(KeyType::from_name(key_type.name()).unwrap(), key_type);
        }
        assert!(KeyType::from_name("LMK").is_err());
        assert_ne!(KeyType::Zak.tr31_usage(), KeyType::Zpk.tr31_usage());
        assert!(!KeyType::Bdk.exportable());
        assert!(!KeyType::Dek.exportable());
        assert_eq!(KeyType::from_name("dek").unwrap(), KeyType::Dek);
        assert_eq!(KeyType::Dek.tr31_usage(), *b"D0");
        assert_eq!(KeyAlgorithm::from_name("aes256").unwrap().key_len(), 32);
        assert_eq!(KeyAlgorithm::from_tr31(b'T', 16).unwrap(), KeyAlgorithm::Tdes2);
        assert!(KeyAlgorithm::from_tr31(b'T', 32).is_err());
    }
}
