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
}
