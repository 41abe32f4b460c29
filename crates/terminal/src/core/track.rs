//! Track data as it leaves the terminal: enciphered under the TDK when the sign-on gave one
//! (key scheme 004, reference §2 fields 35/36 and 53.3), else as read with `D` for `=`.

use super::*;

impl Terminal {
    /// Field 35's value for `track2`, and whether it is enciphered.
    pub(super) fn track_field(&self, track2: &str) -> Result<(String, bool)> {
        match self.keys.as_ref().and_then(|keys| keys.encrypt_track(track2)) {
            Some(enciphered) => Ok((enciphered?, true)),
            None => Ok((track2.replace('=', "D"), false)),
        }
    }
}
