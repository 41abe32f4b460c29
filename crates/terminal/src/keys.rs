//! The terminal's own secure device: its TMK from a hex file, checked by check value, and the
//! storage key derived from it that seals everything the terminal keeps on disk.

use std::path::Path;

use hsm::Secret;
use hsm::cipher::Cipher;

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
