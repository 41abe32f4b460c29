//! Track data as it leaves the terminal: enciphered under the TDK when the sign-on gave one
//! (key scheme 004, reference §2 fields 35/36 and 53.3), else as read with `D` for `=`.

use super::*;

impl Terminal {
    /// Field 35's value for `track2`, and whether it is enciphered.
    pub(super) fn track_field(&self, track2: &str) -> Result<(String, bool)> {
        match self.keys.as_ref().and_then(|keys| keys.tdk.as_ref()) {
            Some(tdk) => Ok((hsm::track::encrypt(tdk.expose(), track2)?, true)),
            None => Ok((track2.replace('=', "D"), false)),
        }
    }
}

/// Field 53: 53.1 PIN format (2: ISO 0 with the PAN; 0 without a PIN), 53.2 algorithm (6:
/// TDES), 53.3 track data enciphered under the TDK (1) or not (0), then 13 zeros.
pub(super) fn security_control(pin: bool, track_encrypted: bool) -> String {
    format!("{}6{}0000000000000", if pin { 2 } else { 0 }, u8::from(track_encrypted))
}
