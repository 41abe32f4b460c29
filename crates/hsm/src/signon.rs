//! UnionPay POS sign-on keys (unionpay-pos-8583.md §4): at each sign-on the host issues fresh
//! working keys encrypted under the terminal's TMK (ECB), each followed by a 4-byte check value
//! (the first 4 bytes of E_K(0⁸) under the clear key), in field 62:
//!
//! | 60.3 | field 62 | layout |
//! |---|---|---|
//! | `001` | 24 bytes | PIK(8) KCV(4) MAK(8) KCV(4): single-DES keys |
//! | `003` | 40 bytes | PIK(16) KCV(4) MAK(8)+00×8 KCV(4): double-length PIK, single-DES MAK |
//! | `004` | 60 bytes | the `003` layout, then TDK(16) KCV(4) |
//!
//! The host side lives in [`SecurityModule::issue_terminal_keys`](crate::SecurityModule); the
//! terminal side, [`load_terminal_keys`], decrypts field 62 with the terminal's clear TMK (a
//! terminal is its own secure device) and refuses keys whose check values do not match.

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::keys::{KeyAlgorithm, WrappedKey};
use crate::mac;
use crate::secret::Secret;

/// Bytes of a sign-on check value.
pub const SIGN_ON_KCV_LEN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOnScheme {
    /// `001`: single DES PIK and MAK.
    Single,
    /// `003`: double-length PIK, single-DES MAK.
    Double,
    /// `004`: as `003`, plus a double-length track data key.
    DoubleWithTdk,
}

impl SignOnScheme {
    /// From the sign-on request's 60.3 network management code.
    pub fn from_code(code: &str) -> Result<SignOnScheme> {
        match code {
            "001" => Ok(SignOnScheme::Single),
            "003" => Ok(SignOnScheme::Double),
            "004" => Ok(SignOnScheme::DoubleWithTdk),
            _ => Err(Error::input("sign-on key scheme (60.3)", "must be 001, 003 or 004")),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            SignOnScheme::Single => "001",
            SignOnScheme::Double => "003",
            SignOnScheme::DoubleWithTdk => "004",
        }
    }

    /// Length of field 62 in this scheme.
    pub fn field62_len(self) -> usize {
        match self {
            SignOnScheme::Single => 24,
            SignOnScheme::Double => 40,
            SignOnScheme::DoubleWithTdk => 60,
        }
    }

    pub fn pik_algorithm(self) -> KeyAlgorithm {
        match self {
            SignOnScheme::Single => KeyAlgorithm::Des,
            _ => KeyAlgorithm::Tdes2,
        }
    }

    pub fn has_tdk(self) -> bool {
        self == SignOnScheme::DoubleWithTdk
    }
}

/// What the host keeps and sends after issuing sign-on keys.
#[derive(Debug, Clone)]
pub struct TerminalKeys {
    /// Field 62 of the 0810: keys under the TMK with check values.
    pub field62: Vec<u8>,
    /// The same keys under the LMK, for the acquirer's terminal registry.
    pub pik: WrappedKey,
    pub mak: WrappedKey,
    pub tdk: Option<WrappedKey>,
}

/// Clear working keys inside a terminal, after sign-on.
#[derive(Debug, Clone)]
pub struct TerminalWorkingKeys {
    pub pik: Secret,
    /// 8 bytes: the UnionPay MAK is single DES in every scheme.
    pub mak: Secret,
    pub tdk: Option<Secret>,
}

/// The sign-on check value: the first 4 bytes of E_K(0⁸), DES or TDES by key length.
pub fn sign_on_kcv(key: &[u8]) -> Result<[u8; SIGN_ON_KCV_LEN]> {
    let mut block = [0u8; 8];
    Cipher::tdes(key)?.encrypt_block(&mut block);
    let mut kcv = [0u8; SIGN_ON_KCV_LEN];
    kcv.copy_from_slice(&block[..SIGN_ON_KCV_LEN]);
    Ok(kcv)
}

/// Build field 62 from clear keys already encrypted under the TMK: used by the module, which
/// hands in (encrypted key, KCV) pairs.
pub(crate) fn field62(
    scheme: SignOnScheme,
    pik: (&[u8], [u8; 4]),
    mak: (&[u8], [u8; 4]),
    tdk: Option<(&[u8], [u8; 4])>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(scheme.field62_len());
    out.extend_from_slice(pik.0);
    out.extend_from_slice(&pik.1);
    out.extend_from_slice(mak.0);
    if scheme != SignOnScheme::Single {
        out.extend_from_slice(&[0u8; 8]); // the MAK slot is 16 bytes; its second half is zero fill
    }
    out.extend_from_slice(&mak.1);
    if let (SignOnScheme::DoubleWithTdk, Some(tdk)) = (scheme, tdk) {
        out.extend_from_slice(tdk.0);
        out.extend_from_slice(&tdk.1);
    }
    debug_assert_eq!(out.len(), scheme.field62_len());
    out
}

/// Terminal side: decrypt field 62 under the clear TMK and check every key's check value.
pub fn load_terminal_keys(tmk: &Secret, scheme: SignOnScheme, field62: &[u8]) -> Result<TerminalWorkingKeys> {
    if field62.len() != scheme.field62_len() {
        return Err(Error::input(
            "field 62",
            format!("{} bytes, but sign-on scheme {} sends {}", field62.len(), scheme.code(), scheme.field62_len()),
        ));
    }
    let cipher = Cipher::tdes(tmk.expose())?;
    let pik_len = scheme.pik_algorithm().key_len();
    let (pik_part, rest) = field62.split_at(pik_len + SIGN_ON_KCV_LEN);
    let pik = open_key(&cipher, &pik_part[..pik_len], &pik_part[pik_len..], "PIK check value")?;
    let mak_slot = if scheme == SignOnScheme::Single { 8 } else { 16 };
    let (mak_part, rest) = rest.split_at(mak_slot + SIGN_ON_KCV_LEN);
    if mak_part[8..mak_slot].iter().any(|&b| b != 0) {
        return Err(Error::input("field 62", "the MAK slot's second half is not zero fill"));
    }
    let mak = open_key(&cipher, &mak_part[..8], &mak_part[mak_slot..], "MAK check value")?;
    let tdk = match scheme {
        SignOnScheme::DoubleWithTdk => Some(open_key(&cipher, &rest[..16], &rest[16..20], "TDK check value")?),
        _ => None,
    };
    Ok(TerminalWorkingKeys { pik, mak, tdk })
}

fn open_key(tmk: &Cipher, encrypted: &[u8], kcv: &[u8], what: &'static str) -> Result<Secret> {
    let mut clear = encrypted.to_vec();
    tmk.ecb_decrypt(&mut clear)?;
    let key = Secret::from_vec(clear);
    let expected = sign_on_kcv(key.expose())?;
    mac::verify(&expected, kcv).map_err(|_| Error::Verification(what))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::hex;

    #[test]
    fn the_reference_keys_load_and_a_wrong_check_value_is_refused() {
        // unionpay-pos-8583.md §5: TMK 44…44, PIK and MAK under it, KCVs computed there.
        let tmk = Secret::new(&[0x44; 16]);
        let field =
            hex::decode("84C5491C3834928E7B26B5409A942BCF6EB8E4EEC9E3E3B489B520FE0000000000000000666CB203").unwrap();
        let keys = load_terminal_keys(&tmk, SignOnScheme::Double, &field).unwrap();
        assert_eq!(hex::encode(keys.pik.expose()), "4567C298FB0B045DAB54BF499E10EFCD");
        assert_eq!(hex::encode(keys.mak.expose()), "7F52E3201FDF045E");
        let mut tampered = field.clone();
        tampered[39] ^= 1;
        assert_eq!(
            load_terminal_keys(&tmk, SignOnScheme::Double, &tampered).unwrap_err(),
            Error::Verification("MAK check value")
        );
        tampered = field.clone();
        tampered[0] ^= 1;
        assert_eq!(
            load_terminal_keys(&tmk, SignOnScheme::Double, &tampered).unwrap_err(),
            Error::Verification("PIK check value")
        );
        assert!(load_terminal_keys(&tmk, SignOnScheme::Single, &field).is_err(), "wrong length for 001");
    }
}
