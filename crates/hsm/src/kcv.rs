//! Key check values: the short fingerprint shown for a key when it is imported, generated or
//! exported, so two parties can confirm they hold the same key without revealing it.
//!
//! * [`KcvMethod::Tdes`]: `E_K(00…00)` with DES or TDES (by key length), leftmost 3 bytes. The
//!   UnionPay sign-on (field 62) carries the leftmost 4 bytes: take them from [`kcv_full`].
//! * [`KcvMethod::AesCmac`] / [`KcvMethod::TdesCmac`] (ANSI X9.24-1:2017 A.3, TR-31/X9.143 `KC`
//!   and `KP` blocks): the CMAC of one all-zero block, leftmost 5 bytes (many displays show 3).
//! * [`KcvMethod::AesEcbLegacy`]: AES-ECB of 16 zero bytes, leftmost 3 bytes. Not the standard
//!   AES check value; offered only to recognise values produced by tools that use it.

use subtle::ConstantTimeEq;

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::mac::cmac;

/// How a key check value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KcvMethod {
    /// `E_K(0^8)` under DES (8-byte key) or TDES (16 or 24 bytes); leftmost 3 bytes.
    Tdes,
    /// AES-CMAC of 16 zero bytes (AES-128/192/256); leftmost 5 bytes.
    AesCmac,
    /// TDES-CMAC of 8 zero bytes (8, 16 or 24-byte key); leftmost 5 bytes.
    TdesCmac,
    /// AES-ECB of 16 zero bytes; leftmost 3 bytes. Recognise-only: not the X9.24 AES KCV.
    AesEcbLegacy,
}

impl KcvMethod {
    /// The number of bytes a check value of this method conventionally shows.
    pub fn truncated_len(self) -> usize {
        match self {
            KcvMethod::Tdes | KcvMethod::AesEcbLegacy => 3,
            KcvMethod::AesCmac | KcvMethod::TdesCmac => 5,
        }
    }

    fn cipher(self, key: &[u8]) -> Result<Cipher> {
        match self {
            KcvMethod::Tdes | KcvMethod::TdesCmac => Cipher::tdes(key),
            KcvMethod::AesCmac | KcvMethod::AesEcbLegacy => Cipher::aes(key),
        }
    }
}

/// The untruncated check block: `E_K(0^8)` (8 bytes) for [`KcvMethod::Tdes`], the full CMAC
/// (16 or 8 bytes) for the CMAC methods, `AES_K(0^16)` for [`KcvMethod::AesEcbLegacy`].
pub fn kcv_full(key: &[u8], method: KcvMethod) -> Result<Vec<u8>> {
    let cipher = method.cipher(key)?;
    let zeros = vec![0u8; cipher.block_size()];
    Ok(match method {
        KcvMethod::Tdes | KcvMethod::AesEcbLegacy => {
            let mut block = zeros;
            cipher.encrypt_block(&mut block);
            block
        }
        KcvMethod::AesCmac | KcvMethod::TdesCmac => cmac(&cipher, &zeros),
    })
}

/// The check value, truncated to the method's conventional length ([`KcvMethod::truncated_len`]).
pub fn kcv(key: &[u8], method: KcvMethod) -> Result<Vec<u8>> {
    let mut full = kcv_full(key, method)?;
    full.truncate(method.truncated_len());
    Ok(full)
}

/// Legacy DES/TDES check value: leftmost 3 bytes of `E_K(0^8)`.
pub fn kcv_tdes(key: &[u8]) -> Result<Vec<u8>> {
    kcv(key, KcvMethod::Tdes)
}

/// AES check value (X9.24-1:2017 A.3): leftmost 5 bytes of the AES-CMAC of 16 zero bytes.
pub fn kcv_aes(key: &[u8]) -> Result<Vec<u8>> {
    kcv(key, KcvMethod::AesCmac)
}

/// Check a received check value of any length from 2 bytes up to the full block against the
/// key (tools show 2, 3, 4 or 5 bytes).
pub fn verify_kcv(key: &[u8], method: KcvMethod, received: &[u8]) -> Result<()> {
    let full = kcv_full(key, method)?;
    if received.len() < 2 || received.len() > full.len() {
        return Err(Error::input("check value", format!("must be 2 to {} bytes", full.len())));
    }
    if bool::from(full[..received.len()].ct_eq(received)) {
        Ok(())
    } else {
        Err(Error::Verification("key check value"))
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
    fn known_answers() {
        let key = h("3F419E1CB7079442AA37474C2EFBF8B8");
        assert_eq!(hex::encode(&kcv_tdes(&key).unwrap()), "57C409");
        assert_eq!(hex::encode(&kcv_aes(&key).unwrap()), "08793E25AB");
        assert_eq!(hex::encode(&kcv(&key, KcvMethod::TdesCmac).unwrap()), "C66363F72B");
        assert_eq!(hex::encode(&kcv(&key, KcvMethod::AesEcbLegacy).unwrap()), "E5E07C");
        assert_eq!(hex::encode(&kcv_full(&h("0123456789ABCDEF"), KcvMethod::Tdes).unwrap()), "D5D44FF720683D0D");
        assert_eq!(kcv_full(&key, KcvMethod::AesCmac).unwrap().len(), 16);
        assert_eq!(kcv_full(&key, KcvMethod::TdesCmac).unwrap().len(), 8);
    }

    #[test]
    fn unionpay_four_byte_kcv() {
        let full = kcv_full(&h("7F52E3201FDF045E"), KcvMethod::Tdes).unwrap();
        assert_eq!(hex::encode(&full[..4]), "666CB203");
        verify_kcv(&h("7F52E3201FDF045E"), KcvMethod::Tdes, &h("666CB203")).unwrap();
    }

    #[test]
    fn verification_and_lengths() {
        let key = h("0123456789ABCDEFFEDCBA9876543210");
        verify_kcv(&key, KcvMethod::Tdes, &h("08D7")).unwrap();
        verify_kcv(&key, KcvMethod::Tdes, &h("08D7B4")).unwrap();
        assert_eq!(verify_kcv(&key, KcvMethod::Tdes, &h("08D7B5")), Err(Error::Verification("key check value")));
        assert!(matches!(verify_kcv(&key, KcvMethod::Tdes, &h("08")), Err(Error::Input { .. })));
        assert!(matches!(verify_kcv(&key, KcvMethod::Tdes, &[0; 9]), Err(Error::Input { .. })));
    }

    #[test]
    fn wrong_key_lengths_are_key_length_errors() {
        for (len, method) in [
            (15, KcvMethod::Tdes),
            (32, KcvMethod::Tdes),
            (8, KcvMethod::AesCmac),
            (20, KcvMethod::AesCmac),
            (0, KcvMethod::TdesCmac),
            (8, KcvMethod::AesEcbLegacy),
        ] {
            let error = kcv(&vec![0x11; len], method).unwrap_err();
            assert!(matches!(error, Error::KeyLength { actual, .. } if actual == len), "{method:?} {len}: {error}");
            assert!(error.is_bad_input());
        }
    }
}
