//! Response codes (field 39) as UnionPay and ISO 8583:1987 use them
//! (`../shared/reference/unionpay-pos-8583.md` §7), in their wire form: the table and the
//! meanings are `domain::ResponseCode`'s; these are its named codes as field 39 text.

use domain::ResponseCode;

pub const APPROVED: &str = ResponseCode::APPROVED.as_str();
pub const INVALID_MERCHANT: &str = ResponseCode::INVALID_MERCHANT.as_str();
pub const DO_NOT_HONOUR: &str = ResponseCode::DO_NOT_HONOUR.as_str();
pub const INVALID_TRANSACTION: &str = ResponseCode::INVALID_TRANSACTION.as_str();
pub const INVALID_AMOUNT: &str = ResponseCode::INVALID_AMOUNT.as_str();
pub const INVALID_CARD: &str = ResponseCode::INVALID_CARD.as_str();
pub const NO_SUCH_ISSUER: &str = ResponseCode::NO_SUCH_ISSUER.as_str();
pub const ORIGINAL_NOT_FOUND: &str = ResponseCode::ORIGINAL_NOT_FOUND.as_str();
pub const FORMAT_ERROR: &str = ResponseCode::FORMAT_ERROR.as_str();
pub const NOT_SUPPORTED: &str = ResponseCode::NOT_SUPPORTED.as_str();
pub const LOST_CARD: &str = ResponseCode::LOST_CARD.as_str();
pub const STOLEN_CARD: &str = ResponseCode::STOLEN_CARD.as_str();
/// A chip card's stripe without a fallback: use the chip ([`ResponseCode::USE_CHIP`]).
pub const USE_CHIP: &str = ResponseCode::USE_CHIP.as_str();
pub const INSUFFICIENT_FUNDS: &str = ResponseCode::INSUFFICIENT_FUNDS.as_str();
pub const EXPIRED_CARD: &str = ResponseCode::EXPIRED_CARD.as_str();
pub const INCORRECT_PIN: &str = ResponseCode::INCORRECT_PIN.as_str();
pub const NOT_PERMITTED_CARD: &str = ResponseCode::NOT_PERMITTED_CARD.as_str();
pub const CARD_VERIFICATION_ERROR: &str = ResponseCode::CARD_VERIFICATION_ERROR.as_str();
pub const AMOUNT_LIMIT: &str = ResponseCode::AMOUNT_LIMIT.as_str();
pub const RESTRICTED_CARD: &str = ResponseCode::RESTRICTED_CARD.as_str();
pub const AMOUNT_DIFFERS: &str = ResponseCode::AMOUNT_DIFFERS.as_str();
pub const COUNT_LIMIT: &str = ResponseCode::COUNT_LIMIT.as_str();
pub const LATE_RESPONSE: &str = ResponseCode::LATE_RESPONSE.as_str();
pub const PIN_TRIES_EXCEEDED: &str = ResponseCode::PIN_TRIES_EXCEEDED.as_str();
pub const ISSUER_DOWN: &str = ResponseCode::ISSUER_DOWN.as_str();
pub const DUPLICATE: &str = ResponseCode::DUPLICATE.as_str();
pub const SYSTEM_MALFUNCTION: &str = ResponseCode::SYSTEM_MALFUNCTION.as_str();
pub const ISSUER_TIMEOUT: &str = ResponseCode::ISSUER_TIMEOUT.as_str();
pub const MAC_ERROR: &str = ResponseCode::MAC_ERROR.as_str();

/// Whether `reason` (field 39 of an 0400/0420) says the sender reverses because it has no
/// usable answer (98 timed out, 68 too late): it never acted on the original, so even a
/// transaction that is not reversible (a refund) may be undone without books differing.
pub fn is_timeout_reason(reason: Option<&str>) -> bool {
    reason.and_then(|code| ResponseCode::new(code).ok()).is_some_and(ResponseCode::is_timeout)
}

/// Whether `code` approves.
pub fn is_approved(code: &str) -> bool {
    code == APPROVED
}

/// A short English meaning of `code`, for logs, receipts and `--json` output.
pub fn meaning(code: &str) -> &'static str {
    ResponseCode::new(code).map_or("unknown response code", ResponseCode::meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meanings() {
        assert_eq!(meaning(INSUFFICIENT_FUNDS), "insufficient funds");
        assert_eq!(meaning("ZZ"), "unknown response code");
        assert_eq!(meaning("0"), "unknown response code");
        assert_eq!((MAC_ERROR, USE_CHIP), ("A0", "45"));
        assert!(is_timeout_reason(Some("98")) && is_timeout_reason(Some("68")) && !is_timeout_reason(Some("91")));
        assert!(!is_timeout_reason(None));
        assert!(is_approved("00") && !is_approved("05"));
    }
}
