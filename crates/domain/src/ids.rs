//! The identifiers of a transaction's parties and of its retrieval: fixed-form ISO 8583 text
//! held inline. Trailing spaces are padding (fields 41 and 42 arrive space-padded) and are
//! dropped on construction, so `"POS1    "` and `"POS1"` are one terminal.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;
use crate::text::{Text, is_an, is_ans, is_n};

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal, $len:expr, $min:expr, $allowed:expr, $reason:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Text<{ $len }>);

        impl $name {
            /// Most characters the field holds.
            pub const LEN_MAX: usize = $len;

            /// Check `text` (trailing padding spaces dropped first).
            pub fn new(text: &str) -> Result<$name, ParseError> {
                Text::checked($what, text.trim_end_matches(' '), $min, $allowed, $reason).map($name)
            }

            /// The text without padding, as stored and as compared.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The text space-padded to [`Self::LEN_MAX`], as a fixed-length field carries it.
            pub fn padded(&self) -> [u8; $len] {
                let mut out = [b' '; $len];
                out[..self.0.as_bytes().len()].copy_from_slice(self.0.as_bytes());
                out
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(text: &str) -> Result<$name, ParseError> {
                $name::new(text)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ParseError;
            fn try_from(text: &str) -> Result<$name, ParseError> {
                $name::new(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.as_str() == other.as_str()
            }
        }
    };
}

identifier!(
    /// Retrieval reference number (field 37, an 12). Journals and files from outside may
    /// carry a shorter one, which is kept as given.
    Rrn, "RRN", 12, 1, is_an, "must be 1 to 12 letters or digits"
);

identifier!(
    /// Card acceptor terminal id (field 41, ans 8).
    TerminalId, "terminal id", 8, 1, is_ans, "must be 1 to 8 printable characters"
);

identifier!(
    /// Card acceptor (merchant) id (field 42, ans 15).
    MerchantId, "merchant id", 15, 1, is_ans, "must be 1 to 15 printable characters"
);

identifier!(
    /// A member institution's id (fields 32, 33, 100: n ..11).
    InstitutionId, "institution id", 11, 1, is_n, "must be 1 to 11 digits"
);

impl InstitutionId {
    /// Institution `0`, which no member is given: the value a record holds before a reader
    /// fills it field by field (a line without an institution is refused, so it never leaves
    /// the reader).
    pub const UNSET: InstitutionId = InstitutionId(Text::digit(0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_institution_is_a_valid_id() {
        assert_eq!(InstitutionId::UNSET, InstitutionId::new("0").unwrap());
    }

    #[test]
    fn rrn_bounds() {
        assert_eq!(Rrn::new("507406000002").unwrap().as_str(), "507406000002");
        assert_eq!(Rrn::new("1").unwrap().as_str(), "1");
        for bad in ["", "5074060000021", "50740600000-", "5074 6000002"] {
            assert_eq!(Rrn::new(bad).unwrap_err().what, "RRN", "{bad:?}");
        }
    }

    #[test]
    fn terminal_id_padding_and_bounds() {
        let padded = TerminalId::new("POS1    ").unwrap();
        assert_eq!(padded, TerminalId::new("POS1").unwrap());
        assert_eq!(padded.as_str(), "POS1");
        assert_eq!(&padded.padded(), b"POS1    ");
        assert_eq!(TerminalId::new("POS00001").unwrap().as_str(), "POS00001");
        assert!(TerminalId::new("POS000012").is_err());
        assert!(TerminalId::new("").is_err());
        assert!(TerminalId::new("POS\u{7}").is_err());
        assert!(TerminalId::new("终端").is_err());
        assert_eq!(format!("{:?}", padded), "\"POS1\"");
    }

    #[test]
    fn merchant_id_bounds() {
        assert_eq!(MerchantId::new("898440154110001").unwrap().as_str(), "898440154110001");
        assert!(MerchantId::new("8984401541100012").is_err());
        assert_eq!(&MerchantId::new("M1").unwrap().padded(), b"M1             ");
    }

    #[test]
    fn institution_id_bounds() {
        assert_eq!(InstitutionId::new("10000000344").unwrap().as_str(), "10000000344");
        assert!(InstitutionId::new("100000003441").is_err());
        assert!(InstitutionId::new("1000000034A").is_err());
        assert!(InstitutionId::new("").is_err());
        assert!(InstitutionId::new("7").is_ok());
        assert_eq!("10000000344".parse::<InstitutionId>().unwrap(), "10000000344");
    }
}
