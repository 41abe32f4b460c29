//! The business licence number: the unified social credit code (统一社会信用代码) of
//! GB 32100-2015.
//!
//! 18 characters from a 31-character alphabet (digits and capitals without I, O, S, V, Z):
//! registration authority (1), organisation kind (1), administrative area (6 digits, GB/T 2260),
//! organisation code (9), check character (1). The check character is
//! `31 − (Σ value(cᵢ) × wᵢ mod 31)` (31 written as `0`) over the first 17 characters, with the
//! weights `wᵢ = 3ⁱ mod 31`: 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28.

use crate::limits::LICENCE_LEN;

/// The code's alphabet; a character's value is its position.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// The modulus of the check character (the alphabet's size).
const MODULUS: u32 = 31;
/// Weights of characters 1 to 17.
const WEIGHTS: [u32; LICENCE_LEN - 1] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
/// Characters 3 to 8 are the administrative area code: digits only.
const AREA_CODE: std::ops::Range<usize> = 2..8;

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).and_then(|position| u32::try_from(position).ok())
}

/// The check character the first 17 characters call for; `None` when one of them is outside
/// the alphabet.
pub fn check_character(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != LICENCE_LEN - 1 {
        return None;
    }
    let mut sum = 0u32;
    for (&c, weight) in bytes.iter().zip(WEIGHTS) {
        sum += value(c)? * weight;
    }
    let check = (MODULUS - sum % MODULUS) % MODULUS;
    ALPHABET.get(usize::try_from(check).ok()?).map(|&c| char::from(c))
}

/// Why `licence` is not a well-formed unified social credit code, or `Ok` with what was
/// checked. The reason names positions and rules, never the whole number.
pub fn validate(licence: &str) -> Result<(), String> {
    let bytes = licence.as_bytes();
    if licence.chars().count() != LICENCE_LEN {
        return Err(format!("must be {LICENCE_LEN} characters, has {}", licence.chars().count()));
    }
    if let Some(position) = bytes.iter().position(|&c| value(c).is_none()) {
        return Err(format!(
            "character {} is not allowed (digits and capital letters except I, O, S, V, Z)",
            position + 1
        ));
    }
    if let Some(position) = bytes[AREA_CODE].iter().position(|c| !c.is_ascii_digit()) {
        return Err(format!("character {} must be a digit (characters 3-8 are the area code)", position + 3));
    }
    let expected =
        check_character(&licence[..LICENCE_LEN - 1]).ok_or_else(|| "characters outside the alphabet".to_owned())?;
    let given = char::from(bytes[LICENCE_LEN - 1]);
    if given != expected {
        return Err(format!("check character {given} is wrong (GB 32100-2015 gives {expected})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_check() {
        // Codes of registered companies, as printed on their licences.
        for code in ["91350200776049653A", "91440101MA5CJQ4N59", "913502000728319549", "91350100M000100Y43"] {
            assert_eq!(validate(code), Ok(()), "{code}");
        }
    }

    #[test]
    fn wrong_codes_say_why() {
        assert!(validate("91350200776049653B").unwrap_err().contains("check character B is wrong"));
        assert!(validate("9135020077604965").unwrap_err().contains("18 characters"));
        assert!(validate("91350200776O49653A").unwrap_err().contains("character 12"));
        assert!(validate("9135A200776049653A").unwrap_err().contains("must be a digit"));
        // A zero sum gives check 0, not the 32nd character.
        assert_eq!(check_character("00000000000000000"), Some('0'));
    }
}
