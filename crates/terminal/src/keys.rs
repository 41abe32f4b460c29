//! The terminal's own secure device: its TMK from a hex file, checked by check value, the
//! storage key derived from it that seals everything the terminal keeps on disk, and the
//! working keys of the last sign-on as the transactions use them ([`WorkingKeys`]).

use std::path::Path;

use hsm::Secret;
use hsm::cipher::Cipher;
use hsm::pinblock::PinFormat;
use hsm::signon::{SignOnScheme, TerminalWorkingKeys};

use crate::{Result, TerminalError};

/// Bytes of the derived storage key (an AES-256 key for `hsm::data::seal`).
pub const STORAGE_KEY_BYTES: usize = 32;
/// The fixed blocks enciphered under the TMK to derive the storage key: a label and a counter,
/// so the storage key is independent of any working key the host issues (those are random).
const STORAGE_LABEL: [u8; 7] = *b"CNTERMS";

/// Read a TMK written as 32 (or 16/48) hex digits, whitespace ignored. The error names the
/// file, never the key.
pub fn read_tmk_file(path: &Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TerminalError::Config(format!("TMK file {}: {e}", path.display())))?;
    let digits: String = text.split_whitespace().collect();
    let bytes = iso8583::hex::decode(&digits)
        .map_err(|_| TerminalError::Config(format!("TMK file {}: not hex", path.display())))?;
    let key = Secret::from_vec(bytes);
    if ![8, 16, 24].contains(&key.len()) {
        return Err(TerminalError::Config(format!(
            "TMK file {}: a DES or TDES key is 16, 32 or 48 hex digits",
            path.display()
        )));
    }
    Ok(key)
}

/// The TMK's check value: 6 hex digits (E_K(0⁸), first 3 bytes), as key-injection slips show it.
pub fn tmk_kcv(tmk: &Secret) -> Result<String> {
    Ok(iso8583::hex::encode(&hsm::kcv::kcv_tdes(tmk.expose())?).to_uppercase())
}

/// The storage key: TDES-ECB under the TMK of four label blocks.
pub fn storage_key(tmk: &Secret) -> Result<Secret> {
    let cipher = Cipher::tdes(tmk.expose())?;
    let mut out = Vec::with_capacity(STORAGE_KEY_BYTES);
    for counter in 0..(STORAGE_KEY_BYTES / 8) as u8 {
        let mut block = [0u8; 8];
        block[..7].copy_from_slice(&STORAGE_LABEL);
        block[7] = counter;
        cipher.encrypt_block(&mut block);
        out.extend_from_slice(&block);
    }
    Ok(Secret::from_vec(out))
}

/// Bytes of the MAK: the UnionPay MAK is single DES in every sign-on scheme.
const MAK_BYTES: usize = 8;
/// Bytes of the TDK (2-key TDES, sign-on scheme 004).
const TDK_BYTES: usize = 16;

/// The working keys of the last sign-on, each as its cipher, made once when the keys are
/// installed (at sign-on, or at power-on from the sealed copy): building the DES and TDES key
/// schedules again for every MAC, PIN block and track (`Cipher::tdes` and `DesKey::new`) was
/// about 5 % of the load generator's virtual terminals. The clear bytes are not kept here (the
/// sealed copy on disk is what survives a restart); each cipher's key schedule is zeroized on
/// drop (`hsm`'s `DesKey`), as the `Secret`s it was made from are. `Debug` names no key.
pub struct WorkingKeys {
    pik: Cipher,
    mak: Cipher,
    tdk: Option<Cipher>,
}

impl WorkingKeys {
    /// The ciphers of a sign-on's clear keys (DES or TDES by length, as the byte-key functions
    /// of `hsm` build them).
    pub fn install(keys: &TerminalWorkingKeys) -> Result<WorkingKeys> {
        Ok(WorkingKeys {
            pik: Cipher::tdes(keys.pik.expose())?,
            mak: Cipher::tdes(keys.mak.expose())?,
            tdk: keys.tdk.as_ref().map(|tdk| Cipher::tdes(tdk.expose())).transpose()?,
        })
    }

    /// Field 52: `pin` in an ISO format 0 block under the PIK.
    pub fn pin_block(&self, pin: &Secret, pan: &str) -> Result<Vec<u8>> {
        Ok(hsm::pinblock::encrypt_pin_with(PinFormat::Iso0, &self.pik, pin, Some(pan))?)
    }

    /// Field 64: the UnionPay ECB MAC of `mab` under the MAK.
    pub fn mac(&self, mab: &[u8]) -> Result<[u8; 8]> {
        Ok(hsm::mac::cup_ecb_mac_with(&self.mak, mab)?)
    }

    /// Field 35 enciphered under the TDK; `None` when the sign-on gave no TDK.
    pub fn encrypt_track(&self, track2: &str) -> Option<Result<String>> {
        self.tdk.as_ref().map(|tdk| Ok(hsm::track::encrypt_with(tdk, track2)?))
    }
}

impl std::fmt::Debug for WorkingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkingKeys({:?}, {:?}, TDK {:?})", self.pik, self.mak, self.tdk)
    }
}

/// PIK ‖ MAK [‖ TDK] as sealed on disk back into working keys.
pub(crate) fn split_keys(scheme: SignOnScheme, clear: &[u8]) -> Result<TerminalWorkingKeys> {
    let pik_len = scheme.pik_algorithm().key_len();
    let bad = || TerminalError::Store("stored working keys have the wrong length".into());
    let pik = clear.get(..pik_len).ok_or_else(bad)?;
    let mak = clear.get(pik_len..pik_len + MAK_BYTES).ok_or_else(bad)?;
    let tdk = if scheme.has_tdk() {
        let tdk_at = pik_len + MAK_BYTES;
        Some(Secret::new(clear.get(tdk_at..tdk_at + TDK_BYTES).ok_or_else(bad)?))
    } else {
        None
    };
    Ok(TerminalWorkingKeys { pik: Secret::new(pik), mak: Secret::new(mak), tdk })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_keys_debug_names_no_key() {
        let keys = TerminalWorkingKeys {
            pik: Secret::new(&[0xAB; 16]),
            mak: Secret::new(&[0xAB; 8]),
            tdk: Some(Secret::new(&[0xAB; 16])),
        };
        let shown = format!("{:?}", WorkingKeys::install(&keys).unwrap());
        assert_eq!(shown, "WorkingKeys(Cipher(TDES-2key), Cipher(DES), TDK Some(Cipher(TDES-2key)))");
    }
}
