//! How the card was read: one set for the terminal, its screen and slip, the acquirer, the
//! network and the issuer's policy, with field 22's first two digits in both dialects.
//!
//! The POS dialect (`cup-pos`) reads a stripe as `02` and signals a fallback swipe — a chip
//! card's stripe after its chip could not be read — with `02` plus 60.5 = `2`; the network
//! dialect reads a stripe as `90` and has its own code for the fallback, `80` (ISO 8583:
//! magnetic stripe, chip fallback), so the issuer can tell it from a plain swipe of a chip card.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryMode {
    /// Typed in by hand (manual entry).
    Keyed,
    /// Magnetic stripe.
    Swipe,
    /// Contact chip (inserted).
    Chip,
    /// Contactless chip (tapped, 挥卡).
    Contactless,
    /// The stripe of a chip card after its chip could not be read: checked as a stripe.
    Fallback,
}

impl EntryMode {
    pub const ALL: [EntryMode; 5] =
        [EntryMode::Keyed, EntryMode::Swipe, EntryMode::Chip, EntryMode::Contactless, EntryMode::Fallback];

    /// Field 22 digits 1–2 in the network dialect.
    pub fn network_code(self) -> &'static str {
        match self {
            EntryMode::Keyed => "01",
            EntryMode::Swipe => "90",
            EntryMode::Chip => "05",
            EntryMode::Contactless => "07",
            EntryMode::Fallback => "80",
        }
    }

    /// Field 22 digits 1–2 in the POS dialect (a fallback is a swipe there; 60.5 tells it).
    pub fn pos_code(self) -> &'static str {
        match self {
            EntryMode::Keyed => "01",
            EntryMode::Swipe | EntryMode::Fallback => "02",
            EntryMode::Chip => "05",
            EntryMode::Contactless => "07",
        }
    }

    /// From field 22's first two digits in either dialect (`02` and `90` are both a swipe).
    pub fn from_code(code: &str) -> Option<EntryMode> {
        match code {
            "01" => Some(EntryMode::Keyed),
            "02" | "90" => Some(EntryMode::Swipe),
            "05" => Some(EntryMode::Chip),
            "07" => Some(EntryMode::Contactless),
            "80" => Some(EntryMode::Fallback),
            _ => None,
        }
    }

    /// The name journals keep and commands read: `keyed`, `swipe`, `chip`, `tap`, `fallback`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryMode::Keyed => "keyed",
            EntryMode::Swipe => "swipe",
            EntryMode::Chip => "chip",
            EntryMode::Contactless => "tap",
            EntryMode::Fallback => "fallback",
        }
    }

    /// Whether the chip was read (contact or contactless): its cryptogram is there to check.
    pub fn is_chip(self) -> bool {
        matches!(self, EntryMode::Chip | EntryMode::Contactless)
    }
}

impl FromStr for EntryMode {
    type Err = ParseError;
    /// [`EntryMode::as_str`]'s names, and the words a cashier or an operator also uses:
    /// `manual`, `insert`, `contactless`.
    fn from_str(text: &str) -> Result<EntryMode, ParseError> {
        match text {
            "keyed" | "manual" => Ok(EntryMode::Keyed),
            "swipe" => Ok(EntryMode::Swipe),
            "chip" | "insert" => Ok(EntryMode::Chip),
            "tap" | "contactless" => Ok(EntryMode::Contactless),
            "fallback" => Ok(EntryMode::Fallback),
            _ => Err(ParseError::new("entry mode", "must be swipe, chip, tap, keyed or fallback")),
        }
    }
}

impl TryFrom<&str> for EntryMode {
    type Error = ParseError;
    fn try_from(text: &str) -> Result<EntryMode, ParseError> {
        text.parse()
    }
}

impl fmt::Display for EntryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_both_dialects_read_back() {
        for mode in EntryMode::ALL {
            assert_eq!(EntryMode::from_code(mode.network_code()), Some(mode));
            assert_eq!(mode.as_str().parse::<EntryMode>().unwrap(), mode);
        }
        assert_eq!(EntryMode::from_code(EntryMode::Swipe.pos_code()), Some(EntryMode::Swipe));
        assert_eq!(EntryMode::Fallback.pos_code(), "02", "a fallback is a swipe in the POS dialect");
        assert_eq!(EntryMode::from_code("03"), None);
        assert_eq!(EntryMode::from_code(""), None);
    }

    #[test]
    fn names_and_aliases() {
        assert_eq!("insert".parse::<EntryMode>().unwrap(), EntryMode::Chip);
        assert_eq!("contactless".parse::<EntryMode>().unwrap(), EntryMode::Contactless);
        assert_eq!("manual".parse::<EntryMode>().unwrap(), EntryMode::Keyed);
        assert_eq!("wave".parse::<EntryMode>().unwrap_err().what, "entry mode");
        assert!(EntryMode::Contactless.is_chip() && !EntryMode::Fallback.is_chip());
    }
}
