//! DUKPT, host side: [`tdes`] (ANSI X9.24-1:2009, 10-byte KSN) and [`aes`] (ANSI
//! X9.24-3:2017, 12-byte KSN). [`dukpt`] picks one by the KSN's length.

pub mod aes;
pub mod tdes;

pub use self::aes::{AesKsn, KeyType, KeyUsage};
pub use self::tdes::{Ksn, Usage};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The working key the CLI asks for, in terms common to both schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkingUsage {
    /// TDES: the PIN variant. AES: PIN encryption.
    Pin,
    /// TDES: the MAC request variant. AES: MAC generation.
    Mac,
    /// TDES: the data request key. AES: data encryption.
    Data,
}

/// BDK and KSN to `(initial key, working key)`: TDES DUKPT for a 10-byte KSN (IPEK, 2-key
/// TDES working key), AES DUKPT for a 12-byte KSN (IK, working key of type `working`, by
/// default the BDK's type: AES-128, -192 or -256 by its length).
pub fn dukpt(bdk: &[u8], ksn: &[u8], usage: WorkingUsage, working: Option<KeyType>) -> Result<(Secret, Secret)> {
    match ksn.len() {
        tdes::KSN_LEN => {
            if working.is_some_and(|kind| kind != KeyType::Tdes2) {
                return Err(Error::input("working key type", "TDES DUKPT working keys are always 2-key TDES"));
            }
            let usage = match usage {
                WorkingUsage::Pin => Usage::Pin,
                WorkingUsage::Mac => Usage::MacRequest,
                WorkingUsage::Data => Usage::DataRequest,
            };
            tdes::derive(bdk, &Ksn::new(ksn)?, usage)
        }
        aes::KSN_LEN => {
            let bdk_type = KeyType::for_bdk(bdk.len())?;
            let usage = match usage {
                WorkingUsage::Pin => KeyUsage::PinEncryption,
                WorkingUsage::Mac => KeyUsage::MacGenerate,
                WorkingUsage::Data => KeyUsage::DataEncrypt,
            };
            aes::derive(bdk, &AesKsn::new(ksn)?, usage, working.unwrap_or(bdk_type))
        }
        other => {
            Err(Error::input("KSN", format!("must be 10 bytes (TDES DUKPT) or 12 bytes (AES DUKPT), got {other}")))
        }
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
    fn picks_the_scheme_by_ksn_length() {
        let bdk = h("0123456789ABCDEFFEDCBA9876543210");
        let (ipek, pin) = dukpt(&bdk, &h("FFFF9876543210E00001"), WorkingUsage::Pin, None).unwrap();
        assert_eq!(hex::encode(ipek.expose()), "6AC292FAA1315B4D858AB3A3D7D5933A");
        assert_eq!(hex::encode(pin.expose()), "042666B49184CF5C68DE9628D0397B36");
        let same = dukpt(&bdk, &h("FFFF9876543210E00001"), WorkingUsage::Pin, Some(KeyType::Tdes2)).unwrap();
        assert_eq!(same.1, pin);

        let bdk = h("FEDCBA9876543210F1F1F1F1F1F1F1F1");
        let (ik, pin) = dukpt(&bdk, &h("123456789012345600000001"), WorkingUsage::Pin, None).unwrap();
        assert_eq!(hex::encode(ik.expose()), "1273671EA26AC29AFA4D1084127652A1");
        assert_eq!(hex::encode(pin.expose()), "AF8CB133A78F8DC2D1359F18527593FB");
        let (_, mac) = dukpt(&bdk, &h("123456789012345600000001"), WorkingUsage::Mac, None).unwrap();
        assert_eq!(hex::encode(mac.expose()), "A2DC23DE6FDE0824A2BC321E08E4B8B7");
        let (_, data) = dukpt(&bdk, &h("123456789012345600000001"), WorkingUsage::Data, None).unwrap();
        assert_eq!(hex::encode(data.expose()), "A35C412EFD41FDB98B69797C02DCD08F");
    }

    #[test]
    fn rejects_bad_inputs() {
        let bdk = [0x11; 16];
        assert!(dukpt(&bdk, &[0; 11], WorkingUsage::Pin, None).unwrap_err().to_string().contains("10 bytes"));
        assert!(dukpt(&bdk, &[0; 10], WorkingUsage::Pin, Some(KeyType::Aes128)).is_err());
        assert!(dukpt(&[0x11; 24], &[0; 10], WorkingUsage::Pin, None).is_err());
        assert!(dukpt(&[0x11; 8], &[0; 12], WorkingUsage::Pin, None).is_err());
        assert!(dukpt(&bdk, &[0; 12], WorkingUsage::Pin, Some(KeyType::Aes256)).is_err());
        let mut ksn = [0u8; 12];
        ksn[8..].copy_from_slice(&0x0001_FFFFu32.to_be_bytes());
        assert!(dukpt(&bdk, &ksn, WorkingUsage::Pin, None).is_err());
    }
}
