//! The card number. Held inline (no allocation) and shown masked everywhere a person could
//! look: `Debug` and `Display` print the first 6 and last 4 digits only. The clear number
//! comes out only through [`Pan::as_str`] / [`Pan::digits`], for the few places that need it
//! (the HSM's PIN blocks and keyed hashes, field 2 on the wire, the card's own store).

use std::fmt;
use std::str::FromStr;

use crate::ParseError;
use crate::text::{Text, is_n};

/// Shortest and longest PAN (ISO/IEC 7812).
pub const PAN_DIGITS_MIN: usize = 12;
pub const PAN_DIGITS_MAX: usize = 19;

/// Digits shown at each end of a masked PAN.
const SHOWN_FIRST: usize = 6;
const SHOWN_LAST: usize = 4;

/// A primary account number: 12 to 19 digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pan(Text<PAN_DIGITS_MAX>);

impl Pan {
    /// Check `text`: 12 to 19 ASCII digits. The error never carries the number.
    pub fn new(text: &str) -> Result<Pan, ParseError> {
        Text::checked("PAN", text, PAN_DIGITS_MIN, is_n, "must be 12 to 19 digits").map(Pan)
    }

    /// The clear number, for field 2, the HSM and keyed hashes. Never for a person.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The clear number (the same as [`Pan::as_str`]; the name reads better at the HSM).
    pub fn digits(&self) -> &str {
        self.0.as_str()
    }

    pub fn len(&self) -> usize {
        self.0.as_bytes().len()
    }

    /// Never true: a PAN has at least 12 digits (here for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The issuer identification number: the first 6 digits.
    pub fn bin(&self) -> &str {
        &self.as_str()[..SHOWN_FIRST]
    }

    /// The last 4 digits (receipts, the cardholder's view).
    pub fn last4(&self) -> &str {
        &self.as_str()[self.len() - SHOWN_LAST..]
    }

    /// First 6, `*` for every hidden digit, last 4: `622424******0113`.
    pub fn masked(&self) -> MaskedPan {
        let mut bytes = *b"*******************";
        let len = self.len();
        bytes[..SHOWN_FIRST].copy_from_slice(self.bin().as_bytes());
        bytes[len - SHOWN_LAST..len].copy_from_slice(self.last4().as_bytes());
        MaskedPan { bytes, len: len as u8 }
    }
}

/// Runs of this many digits in free text are taken for card numbers by
/// [`mask_card_numbers`] (12 digits is also an RRN's length: those are left alone).
pub const FREE_TEXT_PAN_DIGITS: std::ops::RangeInclusive<usize> = 13..=PAN_DIGITS_MAX;

/// `text` with every run of [`FREE_TEXT_PAN_DIGITS`] digits masked as a card number is (first
/// 6, `*` for every hidden digit, last 4): for text a person reads whose writer may not have
/// masked it (a driver's message on the terminal's screen, a party's log line in the console).
pub fn mask_card_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if FREE_TEXT_PAN_DIGITS.contains(&run.len()) {
            out.push_str(&run[..SHOWN_FIRST]);
            out.extend(std::iter::repeat_n('*', run.len() - SHOWN_FIRST - SHOWN_LAST));
            out.push_str(&run[run.len() - SHOWN_LAST..]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A PAN's masked form, inline; `Display` and [`MaskedPan::as_str`] give the text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaskedPan {
    bytes: [u8; PAN_DIGITS_MAX],
    len: u8,
}

impl MaskedPan {
    pub fn as_str(&self) -> &str {
        // Digits and '*' only: always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Masked: a `Debug` of any struct holding a `Pan` never shows the number.
impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

/// Masked, like `Debug`: formatting a PAN into text for a person shows 6 + 4 digits.
impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.masked(), f)
    }
}

impl FromStr for Pan {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Pan, ParseError> {
        Pan::new(text)
    }
}

impl TryFrom<&str> for Pan {
    type Error = ParseError;
    fn try_from(text: &str) -> Result<Pan, ParseError> {
        Pan::new(text)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn card_number_length_runs_in_free_text_are_masked() {
        assert_eq!(super::mask_card_numbers("pan=6222021234567890123 ok"), "pan=622202*********0123 ok");
        let text = "stan 000123 rrn 000000500001 at 1796464800000";
        assert_eq!(super::mask_card_numbers(text), "stan 000123 rrn 000000500001 at 179646***0000");
        assert_eq!(super::mask_card_numbers("12345678901234567890"), "12345678901234567890", "20 digits: no card");
    }

    use super::*;

    const CLEAR: &str = "6224242900000113";

    #[test]
    fn lengths() {
        assert!(Pan::new("622424290000").is_ok(), "12 digits");
        assert!(Pan::new("6224242900000000113").is_ok(), "19 digits");
        assert!(Pan::new("62242429000").is_err(), "11 digits");
        assert!(Pan::new("62242429000000001130").is_err(), "20 digits");
        assert!(Pan::new("").is_err());
    }

    #[test]
    fn characters_and_an_error_without_the_number() {
        for bad in ["622424290000011A", "6224 242900000113", "６２２４２４２９０００００１１３", "-224242900000113"]
        {
            let error = Pan::new(bad).unwrap_err();
            assert_eq!(error.to_string(), "PAN: must be 12 to 19 digits");
        }
    }

    #[test]
    fn masking_and_parts() {
        let pan = Pan::new(CLEAR).unwrap();
        assert_eq!(pan.masked().as_str(), "622424******0113");
        assert_eq!(Pan::new("622424290000").unwrap().masked().as_str(), "622424**0000");
        assert_eq!(Pan::new("6224242900000000113").unwrap().masked().as_str(), "622424*********0113");
        assert_eq!(pan.bin(), "622424");
        assert_eq!(pan.last4(), "0113");
        assert_eq!(pan.as_str(), CLEAR);
        assert_eq!(pan.digits(), CLEAR);
        assert_eq!(pan.len(), 16);
    }

    #[test]
    fn debug_and_display_never_show_the_clear_number() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            pan: Pan,
            other: Option<Pan>,
        }
        let pan = Pan::new(CLEAR).unwrap();
        let shown = [
            format!("{pan:?}"),
            format!("{pan:#?}"),
            format!("{pan}"),
            format!("{:?}", Holder { pan, other: Some(pan) }),
            pan.to_string(),
        ];
        for text in shown {
            assert!(!text.contains(CLEAR) && !text.contains("290000"), "{text}");
            assert!(text.contains("622424******0113"), "{text}");
        }
    }

    #[test]
    fn parses_through_the_traits() {
        assert_eq!(CLEAR.parse::<Pan>().unwrap(), Pan::try_from(CLEAR).unwrap());
    }
}
