//! The message type indicator: four digits, version, class, function, origin.

use std::fmt;

use crate::error::{Error, Location, Reason, Result};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

impl Mti {
    /// `0000`, a placeholder.
    pub const ZERO: Mti = Mti(*b"0000");

    pub fn new(digits: [u8; 4]) -> Result<Mti> {
        match digits.iter().position(|b| !b.is_ascii_digit()) {
            Some(index) => {
                Err(Error::new(Location::Mti, Some(index), Reason::BadCharacter { index, expected: "a digit" }))
            }
            None => Ok(Mti(digits)),
        }
    }

    pub fn parse(text: &str) -> Result<Mti> {
        let digits: [u8; 4] = text
            .as_bytes()
            .try_into()
            .map_err(|_| Error::new(Location::Mti, None, Reason::LengthMismatch { expected: 4, actual: text.len() }))?;
        Mti::new(digits)
    }

    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Invariant: all four bytes are ASCII digits (checked in `new`).
        std::str::from_utf8(&self.0).unwrap_or("????")
    }

    /// Second digit: 1 authorization, 2 financial, 3 file action, 4 reversal, 5 reconciliation,
    /// 6 administrative, 8 network management.
    pub fn class(&self) -> u8 {
        self.0[1] - b'0'
    }

    /// Third digit: 0 request, 1 request response, 2 advice, 3 advice response,
    /// 4 notification, 5 notification acknowledgement.
    pub fn function(&self) -> u8 {
        self.0[2] - b'0'
    }

    /// Fourth digit: 0 acquirer, 1 acquirer repeat, 2 issuer, 3 issuer repeat, ...
    pub fn origin(&self) -> u8 {
        self.0[3] - b'0'
    }

    pub fn is_request(&self) -> bool {
        matches!(self.function(), 0 | 2 | 4)
    }

    pub fn is_response(&self) -> bool {
        matches!(self.function(), 1 | 3 | 5)
    }

    pub fn is_advice(&self) -> bool {
        matches!(self.function(), 2 | 3)
    }

    /// A repeat (xxx1, xxx3): sent again because no response came.
    pub fn is_repeat(&self) -> bool {
        self.origin() % 2 == 1
    }

    /// The MTI of the response to this request: 0200 → 0210, 0221 → 0230, 0420 → 0430.
    pub fn response(&self) -> Option<Mti> {
        if !self.is_request() {
            return None;
        }
        let mut digits = self.0;
        digits[2] += 1;
        digits[3] -= self.origin() % 2;
        Some(Mti(digits))
    }

    /// The repeat form of this request: 0200 → 0201, 0420 → 0421.
    pub fn repeat(&self) -> Option<Mti> {
        if !self.is_request() || self.is_repeat() {
            return None;
        }
        let mut digits = self.0;
        digits[3] += 1;
        Some(Mti(digits))
    }

    /// The request this response answers (origin digit as the non-repeat form).
    pub fn request(&self) -> Option<Mti> {
        if !self.is_response() {
            return None;
        }
        let mut digits = self.0;
        digits[2] -= 1;
        Some(Mti(digits))
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_and_repeat_helpers() {
        let pairs = [
            ("0100", "0110"),
            ("0200", "0210"),
            ("0201", "0210"),
            ("0220", "0230"),
            ("0221", "0230"),
            ("0400", "0410"),
            ("0420", "0430"),
            ("0500", "0510"),
            ("0800", "0810"),
            ("0820", "0830"),
        ];
        for (request, response) in pairs {
            let mti = Mti::parse(request).unwrap();
            assert!(mti.is_request());
            assert_eq!(mti.response().unwrap().as_str(), response);
            assert!(Mti::parse(response).unwrap().is_response());
        }
        assert_eq!(Mti::parse("0210").unwrap().response(), None);
        assert_eq!(Mti::parse("0420").unwrap().repeat().unwrap().as_str(), "0421");
        assert!(Mti::parse("0421").unwrap().is_repeat());
        assert!(Mti::parse("0220").unwrap().is_advice());
        assert_eq!(Mti::parse("0210").unwrap().request().unwrap().as_str(), "0200");
        assert!(Mti::parse("02A0").is_err());
        assert!(Mti::parse("020").is_err());
    }
}
