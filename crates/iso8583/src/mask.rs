//! Masking for anything a person can see: PANs show the first 6 and last 4 digits, tracks
//! show the masked PAN and nothing after the separator, everything else marked sensitive is
//! replaced by `*`. Masking keeps the length, so a masked dump still shows how long a value is.

use crate::spec::Mask;

/// Mask a value shown as text (digits, track characters, or hex of binary data).
pub fn mask_text(text: &str, mask: Mask) -> String {
    match mask {
        Mask::None => text.to_owned(),
        Mask::All => "*".repeat(text.chars().count()),
        Mask::Pan => mask_pan(text),
        Mask::Track => {
            let separator = text.find(['D', '=', '^']);
            match separator {
                Some(index) => {
                    let (pan, rest) = text.split_at(index);
                    format!("{}{}{}", mask_pan(pan), &rest[..1], "*".repeat(rest.chars().count() - 1))
                }
                None => "*".repeat(text.chars().count()),
            }
        }
    }
}

/// First 6 and last 4 digits visible. Leading zero fill (a PAN right-aligned in a wider
/// field) is kept visible and not counted; a PAN of 10 digits or fewer is hidden entirely.
pub fn mask_pan(text: &str) -> String {
    let fill = text.len() - text.trim_start_matches('0').len();
    let pan = &text[fill..];
    if pan.len() <= 10 || !pan.is_ascii() {
        return format!("{}{}", &text[..fill], "*".repeat(pan.chars().count()));
    }
    format!("{}{}{}{}", &text[..fill], &pan[..6], "*".repeat(pan.len() - 10), &pan[pan.len() - 4..])
}

/// Characters at the end of a track that a UnionPay terminal may have enciphered under its
/// TDK (key scheme 004: 16 digits ending one before the last; 53.3 = 1).
pub const ENCIPHERED_TRACK_TAIL: usize = 17;

/// The PAN a track starts with: the digits before its separator (`D`, `=`), looked for only
/// in the first `len - enciphered_tail` characters (the rest may be cipher digits). `None`
/// when no separator is there.
pub fn track_pan(track: &str, enciphered_tail: usize) -> Option<&str> {
    let clear = track.get(..track.len().saturating_sub(enciphered_tail))?;
    let end = clear.find(['D', 'd', '='])?;
    let pan = &clear[..end];
    (!pan.is_empty() && pan.bytes().all(|b| b.is_ascii_digit())).then_some(pan)
}

/// The card number of a request: field 2, else the PAN of track 2 (field 35), minding 53.3 =
/// 1 (the track enciphered under a UnionPay TDK). For logs, reversals and lookups, never shown
/// unmasked.
pub fn request_pan(message: &crate::Message) -> Option<String> {
    if let Some(pan) = message.get_str(2) {
        return Some(pan.to_owned());
    }
    let track = message.get_str(35)?;
    // Parsed once: this runs for every message a party logs or journals.
    static TRACK_ENCIPHERED: std::sync::LazyLock<Option<crate::Path>> =
        std::sync::LazyLock::new(|| crate::Path::parse("53.3").ok());
    let flag = TRACK_ENCIPHERED.as_ref().and_then(|path| message.lookup(path).ok().flatten());
    let enciphered = flag == Some(b"1".as_slice());
    track_pan(track, if enciphered { ENCIPHERED_TRACK_TAIL } else { 0 }).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pans_tracks_and_all() {
        assert_eq!(mask_pan("6224242900000113"), "622424******0113");
        assert_eq!(mask_pan("00006224242900000113"), "0000622424******0113");
        assert_eq!(mask_pan("1234567890"), "**********");
        assert_eq!(mask_text("6224242900000113D28062013949031013", Mask::Track), "622424******0113D*****************");
        assert_eq!(mask_text("3D87C8B8FA17C67C", Mask::All), "****************");
        assert_eq!(mask_text("abc", Mask::None), "abc");
        assert_eq!(mask_text("4761739001010010=", Mask::Track), "476173******0010=");
    }

    #[test]
    fn a_requests_pan_is_field_2_else_track_2_minding_53_3() {
        let mut message = crate::Message::new(crate::builtin::cup_pos(), crate::Mti::parse("0200").unwrap());
        // A separator only within the last 17 characters: clear, a PAN; enciphered, none.
        message.set_str(35, "6224242900000113D2806201").unwrap();
        message.set_str(53, "2600000000000000").unwrap();
        assert_eq!(request_pan(&message).as_deref(), Some("6224242900000113"));
        message.set_str(53, "2610000000000000").unwrap();
        assert_eq!(request_pan(&message), None, "53.3 = 1: the tail is cipher digits");
        message.set_str(35, "6224242900000113D26B0EA077FAD843710").unwrap();
        assert_eq!(request_pan(&message).as_deref(), Some("6224242900000113"));
        message.set_str(2, "6224242900000121").unwrap();
        assert_eq!(request_pan(&message).as_deref(), Some("6224242900000121"), "field 2 first");
    }

    #[test]
    fn track_pans_come_only_from_the_clear_part() {
        assert_eq!(track_pan("6224242900000113D28062013949031013", 0), Some("6224242900000113"));
        assert_eq!(track_pan("6224242900000113=2806", 0), Some("6224242900000113"));
        assert_eq!(track_pan("6224242900000113D26B0EA077FAD843710", ENCIPHERED_TRACK_TAIL), Some("6224242900000113"));
        assert_eq!(track_pan("6224242900000113D2806201", ENCIPHERED_TRACK_TAIL), None);
        assert_eq!(track_pan("D2806", 0), None);
        assert_eq!(track_pan("62242429", 0), None);
    }
}
