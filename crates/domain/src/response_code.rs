//! Response codes (field 39) as UnionPay and ISO 8583:1987 use them
//! (`../shared/reference/unionpay-pos-8583.md` §7): the named codes and their meanings, in
//! one table for every party.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

/// A field 39 value: two letters or digits, any of them (a peer may answer a code this table
/// does not name; it is carried, and its meaning is "unknown response code").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResponseCode([u8; 2]);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $meaning:literal;)*) => {
        impl ResponseCode {
            $($(#[$doc])* pub const $name: ResponseCode = ResponseCode::known($code);)*
        }

        /// Every named code with its meaning.
        const TABLE: &[(ResponseCode, &str)] = &[$((ResponseCode::$name, $meaning),)*];
    };
}

codes! {
    APPROVED = "00", "approved";
    REFER_TO_ISSUER = "01", "refer to issuer";
    INVALID_MERCHANT = "03", "invalid merchant";
    PICK_UP = "04", "pick up card";
    DO_NOT_HONOUR = "05", "do not honour";
    /// A terminal's own verdict on an answer it cannot trust (one that does not match its
    /// request, an ARPC the card refused): the reason of the reversal it then sends.
    ERROR = "06", "error";
    INVALID_TRANSACTION = "12", "invalid transaction";
    INVALID_AMOUNT = "13", "invalid amount";
    INVALID_CARD = "14", "invalid card number";
    NO_SUCH_ISSUER = "15", "no such issuer";
    ORIGINAL_NOT_FOUND = "25", "original transaction not found";
    FORMAT_ERROR = "30", "format error";
    NOT_SUPPORTED = "40", "function not supported";
    LOST_CARD = "41", "lost card";
    STOLEN_CARD = "43", "stolen card";
    /// A chip card read from its stripe without a fallback signalled: use the chip. UnionPay's
    /// code for it (the chip migration's "请使用芯片"); ISO 8583:1987 leaves 45 to the networks.
    USE_CHIP = "45", "chip card: use the chip";
    INSUFFICIENT_FUNDS = "51", "insufficient funds";
    EXPIRED_CARD = "54", "expired card";
    INCORRECT_PIN = "55", "incorrect PIN";
    NOT_PERMITTED_CARD = "57", "not permitted for this card";
    NOT_PERMITTED_TERMINAL = "58", "not permitted at this terminal";
    CARD_VERIFICATION_ERROR = "59", "card verification error";
    AMOUNT_LIMIT = "61", "amount limit exceeded";
    RESTRICTED_CARD = "62", "restricted card";
    AMOUNT_DIFFERS = "64", "amount differs from original";
    COUNT_LIMIT = "65", "count limit exceeded";
    LATE_RESPONSE = "68", "response received too late";
    PIN_TRIES_EXCEEDED = "75", "PIN tries exceeded";
    BATCH_MISMATCH = "77", "batch mismatch, sign on again";
    ISSUER_DOWN = "91", "issuer or switch inoperative";
    ROUTING_ERROR = "92", "routing error";
    DUPLICATE = "94", "duplicate transmission";
    SYSTEM_MALFUNCTION = "96", "system malfunction";
    TERMINAL_NOT_REGISTERED = "97", "terminal not registered";
    ISSUER_TIMEOUT = "98", "issuer timeout";
    PIN_FORMAT_ERROR = "99", "PIN format error";
    MAC_ERROR = "A0", "MAC error";
}

const UNKNOWN: &str = "unknown response code";

impl ResponseCode {
    /// For the table above only: its literals are two letters or digits.
    const fn known(code: &str) -> ResponseCode {
        let bytes = code.as_bytes();
        ResponseCode([bytes[0], bytes[1]])
    }

    /// Check `text`: exactly two ASCII letters or digits.
    pub fn new(text: &str) -> Result<ResponseCode, ParseError> {
        match text.as_bytes() {
            &[a, b] if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => Ok(ResponseCode([a, b])),
            _ => Err(ParseError::new("response code", "must be 2 letters or digits")),
        }
    }

    /// The wire form, field 39.
    pub const fn as_str(&self) -> &str {
        // Two ASCII letters or digits: always UTF-8.
        match std::str::from_utf8(&self.0) {
            Ok(text) => text,
            Err(_) => "",
        }
    }

    pub fn is_approved(self) -> bool {
        self == ResponseCode::APPROVED
    }

    /// Whether a reversal with this reason (field 39 of an 0400/0420) says the sender had no
    /// usable answer (98 timed out, 68 too late): it never acted on the original.
    pub fn is_timeout(self) -> bool {
        matches!(self, ResponseCode::ISSUER_TIMEOUT | ResponseCode::LATE_RESPONSE)
    }

    /// A short English meaning, for logs, receipts and `--json` output.
    pub fn meaning(self) -> &'static str {
        TABLE.iter().find(|(code, _)| *code == self).map_or(UNKNOWN, |(_, meaning)| meaning)
    }
}

impl FromStr for ResponseCode {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<ResponseCode, ParseError> {
        ResponseCode::new(text)
    }
}

impl TryFrom<&str> for ResponseCode {
    type Error = ParseError;
    fn try_from(text: &str) -> Result<ResponseCode, ParseError> {
        ResponseCode::new(text)
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseCode({})", self.as_str())
    }
}

impl PartialEq<str> for ResponseCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ResponseCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        assert_eq!(ResponseCode::INSUFFICIENT_FUNDS.meaning(), "insufficient funds");
        assert_eq!(ResponseCode::MAC_ERROR.as_str(), "A0");
        assert_eq!(ResponseCode::new("ZZ").unwrap().meaning(), UNKNOWN);
        assert!(ResponseCode::APPROVED.is_approved() && !ResponseCode::DO_NOT_HONOUR.is_approved());
        assert!(ResponseCode::ISSUER_TIMEOUT.is_timeout() && !ResponseCode::ISSUER_DOWN.is_timeout());
        let mut seen = std::collections::HashSet::new();
        for (code, meaning) in TABLE {
            assert!(seen.insert(*code), "{code} twice");
            assert_eq!(ResponseCode::new(code.as_str()).unwrap(), *code);
            assert_ne!(*meaning, UNKNOWN);
        }
    }

    #[test]
    fn lengths_and_characters() {
        for bad in ["", "0", "000", "0-", " 0", "é"] {
            assert_eq!(ResponseCode::new(bad).unwrap_err().what, "response code", "{bad:?}");
        }
        assert_eq!("a0".parse::<ResponseCode>().unwrap().as_str(), "a0");
    }
}
