//! The terminal-side MAC (field 64) and the sign-on field 62 layout, as the POS profile says
//! (reference §4–§5, docs/acquirer.md §1).

use hsm::{SecurityModule, SignOnScheme, WrappedKey};
use iso8583::Message;

use crate::config::{Field62Layout, MacScope, Settings};

/// The field that carries the terminal MAC.
pub const MAC_FIELD: u8 = 64;
/// Bytes in field 64.
pub const MAC_BYTES: usize = 8;
/// The MTI (2 BCD bytes) and primary bitmap (8 bytes) at the start of a cup-pos body.
const MTI_AND_BITMAP_BYTES: usize = 2 + 8;

/// Why a MAC could not be checked or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacError {
    /// Absent, of the wrong length, or not the expected value.
    Mismatch,
    /// The message could not be encoded or the HSM refused the key.
    Failed(String),
}

/// The MAB of `message` as it would be sent: its encoding with 64 present, minus 64 (the
/// dialect's last field), narrowed to the profile's scope.
fn mac_input(settings: &Settings, message: &Message) -> Result<Vec<u8>, MacError> {
    let mut body = message.encode().map_err(|e| MacError::Failed(e.to_string()))?;
    let len = body.len().checked_sub(MAC_BYTES).ok_or(MacError::Mismatch)?;
    body.truncate(len);
    if settings.mac_scope == MacScope::FieldsOnly {
        if body.len() < MTI_AND_BITMAP_BYTES {
            return Err(MacError::Mismatch);
        }
        body.drain(..MTI_AND_BITMAP_BYTES);
    }
    Ok(body)
}

/// Set field 64 of `message` to its MAC under the terminal's MAK.
pub fn sign(
    hsm: &dyn SecurityModule,
    settings: &Settings,
    mak: &WrappedKey,
    message: &mut Message,
) -> Result<(), MacError> {
    // Bit 64 must be set in the bitmap the MAC covers: a placeholder first.
    message.set(MAC_FIELD, &[0u8; MAC_BYTES]).map_err(|e| MacError::Failed(e.to_string()))?;
    let input = mac_input(settings, message)?;
    let mac = hsm
        .generate_mac(mak, settings.mac_algorithm.hsm_algorithm(), &input)
        .map_err(|e| MacError::Failed(e.to_string()))?;
    let mac = mac.get(..MAC_BYTES).ok_or_else(|| MacError::Failed("short MAC".into()))?;
    message.set(MAC_FIELD, mac).map_err(|e| MacError::Failed(e.to_string()))
}

/// Check field 64 of `message` under the terminal's MAK.
pub fn verify(
    hsm: &dyn SecurityModule,
    settings: &Settings,
    mak: &WrappedKey,
    message: &Message,
) -> Result<(), MacError> {
    let Some(mac) = message.get(MAC_FIELD) else { return Err(MacError::Mismatch) };
    if mac.len() != MAC_BYTES {
        return Err(MacError::Mismatch);
    }
    let input = mac_input(settings, message)?;
    let expected = hsm
        .generate_mac(mak, settings.mac_algorithm.hsm_algorithm(), &input)
        .map_err(|e| MacError::Failed(e.to_string()))?;
    let expected = expected.get(..MAC_BYTES).ok_or(MacError::Mismatch)?;
    hsm::mac::verify(expected, mac).map_err(|_| MacError::Mismatch)
}

/// Field 62 of the 0810 in the profile's layout, from the HSM's standard bytes.
pub fn field62(layout: Field62Layout, scheme: SignOnScheme, standard: &[u8]) -> Option<Vec<u8>> {
    match layout {
        Field62Layout::Standard => Some(standard.to_vec()),
        Field62Layout::Tagged => {
            if standard.len() != scheme.field62_len() {
                return None;
            }
            let pik_len = scheme.pik_algorithm().key_len();
            let kcv = hsm::signon::SIGN_ON_KCV_LEN;
            let pik = standard.get(..pik_len + kcv)?;
            let mak_slot = if scheme == SignOnScheme::Single { 8 } else { 16 };
            let mak_start = pik_len + kcv;
            let mak = standard.get(mak_start..mak_start + 8)?;
            let mak_kcv = standard.get(mak_start + mak_slot..mak_start + mak_slot + kcv)?;
            let mut out = Vec::with_capacity(standard.len() + 3);
            out.extend_from_slice(b"01");
            out.extend_from_slice(mak);
            out.extend_from_slice(mak_kcv);
            out.extend_from_slice(b"02");
            out.extend_from_slice(pik);
            if scheme.has_tdk() {
                let tdk_start = mak_start + mak_slot + kcv;
                out.extend_from_slice(b"03");
                out.extend_from_slice(standard.get(tdk_start..tdk_start + 16 + kcv)?);
            }
            Some(out)
        }
    }
}
