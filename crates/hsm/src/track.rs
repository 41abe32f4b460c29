//! UnionPay track encryption under the TDK (key scheme 004; reference
//! `unionpay-pos-8583.md` §2, fields 35/36): of a track written as digits with `D` (or `=`) as
//! the separator, the 16 digits — 8 bytes packed — that end one digit before the last are
//! enciphered with TDES-ECB under the TDK and written back as 16 hex digits; the rest stays as
//! it was, and the sender sets 53.3 = 1. For a track 2 of a 16-digit PAN that covers
//! everything after the expiry's first two digits (expiry, service code, PVV, CVV); the PAN
//! itself stays readable, as on every acquirer that uses this scheme.
//!
//! The terminal (its own secure device) calls [`encrypt`] with its clear TDK; the acquirer's
//! HSM calls [`decrypt`] inside `SecurityModule::decrypt_track`.

use crate::cipher::{Cipher, Family};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Hex digits enciphered: one TDES block.
const WINDOW_DIGITS: usize = 16;
/// The shortest track that has a window: 16 digits, ending one before the last.
pub const TRACK_DIGITS_MIN: usize = iso8583::mask::ENCIPHERED_TRACK_TAIL;
/// The longest track (track 3, field 36).
pub const TRACK_DIGITS_MAX: usize = 104;

/// `track` with its window enciphered under `tdk` (16 or 24 bytes). Digits out are uppercase;
/// a `=` separator is written `D`, as field 35 carries it.
pub fn encrypt(tdk: &[u8], track: &str) -> Result<String> {
    encrypt_with(&Cipher::tdes(tdk)?, track)
}

/// [`encrypt`] under the TDK's cipher made already: the terminal keeps it from sign-on (a TDES
/// key schedule per transaction was part of the ~5 % the load generator's virtual terminals
/// spent on key schedules).
pub fn encrypt_with(tdk: &Cipher, track: &str) -> Result<String> {
    transform(tdk, track, true).map(|secret| String::from_utf8_lossy(secret.expose()).into_owned())
}

/// The clear track of [`encrypt`]'s output (separator `D`).
pub fn decrypt(tdk: &[u8], track: &str) -> Result<Secret> {
    decrypt_with(&Cipher::tdes(tdk)?, track)
}

/// [`decrypt`] under the TDK's cipher made already (the HSM keeps it with the cached key).
pub fn decrypt_with(tdk: &Cipher, track: &str) -> Result<Secret> {
    transform(tdk, track, false)
}

fn transform(cipher: &Cipher, track: &str, encrypt: bool) -> Result<Secret> {
    cipher.check_family(Family::Tdes)?;
    let length = track.len();
    if !(TRACK_DIGITS_MIN..=TRACK_DIGITS_MAX).contains(&length) {
        return Err(Error::input(
            "track",
            format!("{TRACK_DIGITS_MIN} to {TRACK_DIGITS_MAX} characters are needed, not {length}"),
        ));
    }
    let mut digits = Secret::from_vec(track.to_ascii_uppercase().replace('=', "D").into_bytes());
    if !digits.expose().iter().all(u8::is_ascii_hexdigit) {
        return Err(Error::input("track", "only digits, A-F and the separator = or D"));
    }
    let start = length - TRACK_DIGITS_MIN;
    let window = &digits.expose()[start..start + WINDOW_DIGITS];
    let mut block = Secret::from_vec(hex_to_bytes(window));
    let mut bytes = block.expose().to_vec();
    if encrypt {
        cipher.encrypt_block(&mut bytes);
    } else {
        cipher.decrypt_block(&mut bytes);
    }
    block = Secret::from_vec(bytes);
    let mut out = digits.expose().to_vec();
    for (i, byte) in block.expose().iter().enumerate() {
        out[start + 2 * i] = HEX[usize::from(byte >> 4)];
        out[start + 2 * i + 1] = HEX[usize::from(byte & 0x0F)];
    }
    digits = Secret::from_vec(out);
    Ok(digits)
}

const HEX: [u8; 16] = *b"0123456789ABCDEF";

/// Field 53 of a UnionPay POS request: 53.1 PIN format (2: ISO 0 with the PAN; 0 without a
/// PIN), 53.2 algorithm (6: TDES), 53.3 track data enciphered under the TDK (1) or not (0),
/// then 13 zeros.
pub fn security_control(pin_present: bool, track_enciphered: bool) -> String {
    format!("{}6{}0000000000000", if pin_present { 2 } else { 0 }, u8::from(track_enciphered))
}

/// Pairs of (checked) hex digits as bytes.
fn hex_to_bytes(digits: &[u8]) -> Vec<u8> {
    let value = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
    digits.chunks(2).map(|pair| value(pair[0]) << 4 | value(pair[1])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TDK: [u8; 16] =
        [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10];

    /// Known answer: the window `8032011456712300` enciphered by OpenSSL
    /// (`openssl enc -des-ede -nopad -K 0123456789ABCDEFFEDCBA9876543210`) is `6B0EA077FAD84371`.
    #[test]
    fn the_window_one_digit_before_the_end_is_enciphered() {
        let track = "6224241234567890=280320114567123000";
        let encrypted = encrypt(&TDK, track).unwrap();
        assert_eq!(encrypted, "6224241234567890D26B0EA077FAD843710");
        assert_eq!(decrypt(&TDK, &encrypted).unwrap().expose(), b"6224241234567890D280320114567123000");
    }

    #[test]
    fn short_long_and_foreign_tracks_are_refused_without_their_digits() {
        for track in ["6224241234567890", &"1".repeat(TRACK_DIGITS_MAX + 1), "6224241234567890=2803201X456712300"] {
            let error = encrypt(&TDK, track).unwrap_err().to_string();
            assert!(!error.contains("622424"), "{error}");
        }
        assert!(encrypt(&[0u8; 5], "6224241234567890=280320114567123000").is_err());
    }
}
