//! Response codes (field 39) as UnionPay and ISO 8583:1987 use them
//! (`../shared/reference/unionpay-pos-8583.md` §7).

pub const APPROVED: &str = "00";
pub const INVALID_MERCHANT: &str = "03";
pub const DO_NOT_HONOUR: &str = "05";
pub const INVALID_TRANSACTION: &str = "12";
pub const INVALID_AMOUNT: &str = "13";
pub const INVALID_CARD: &str = "14";
pub const NO_SUCH_ISSUER: &str = "15";
pub const ORIGINAL_NOT_FOUND: &str = "25";
pub const FORMAT_ERROR: &str = "30";
pub const NOT_SUPPORTED: &str = "40";
pub const LOST_CARD: &str = "41";
pub const STOLEN_CARD: &str = "43";
/// A chip card read from its stripe without a fallback signalled: use the chip. UnionPay's
/// code for it (the chip migration's "请使用芯片"); ISO 8583:1987 leaves 45 to the networks.
pub const USE_CHIP: &str = "45";
pub const INSUFFICIENT_FUNDS: &str = "51";
pub const EXPIRED_CARD: &str = "54";
pub const INCORRECT_PIN: &str = "55";
pub const NOT_PERMITTED_CARD: &str = "57";
pub const CARD_VERIFICATION_ERROR: &str = "59";
pub const AMOUNT_LIMIT: &str = "61";
pub const RESTRICTED_CARD: &str = "62";
pub const AMOUNT_DIFFERS: &str = "64";
pub const COUNT_LIMIT: &str = "65";
pub const LATE_RESPONSE: &str = "68";
pub const PIN_TRIES_EXCEEDED: &str = "75";
pub const ISSUER_DOWN: &str = "91";
pub const DUPLICATE: &str = "94";
pub const SYSTEM_MALFUNCTION: &str = "96";
pub const ISSUER_TIMEOUT: &str = "98";
pub const MAC_ERROR: &str = "A0";

/// Whether `reason` (field 39 of an 0400/0420) says the sender reverses because it has no
/// usable answer (98 timed out, 68 too late): it never acted on the original, so even a
/// transaction that is not reversible (a refund) may be undone without books differing.
pub fn is_timeout_reason(reason: Option<&str>) -> bool {
    matches!(reason, Some(ISSUER_TIMEOUT | LATE_RESPONSE))
}

/// Whether `code` approves.
pub fn is_approved(code: &str) -> bool {
    code == APPROVED
}

/// A short English meaning of `code`, for logs, receipts and `--json` output.
pub fn meaning(code: &str) -> &'static str {
    match code {
        APPROVED => "approved",
        "01" => "refer to issuer",
        INVALID_MERCHANT => "invalid merchant",
        "04" => "pick up card",
        DO_NOT_HONOUR => "do not honour",
        INVALID_TRANSACTION => "invalid transaction",
        INVALID_AMOUNT => "invalid amount",
        INVALID_CARD => "invalid card number",
        NO_SUCH_ISSUER => "no such issuer",
        ORIGINAL_NOT_FOUND => "original transaction not found",
        FORMAT_ERROR => "format error",
        NOT_SUPPORTED => "function not supported",
        LOST_CARD => "lost card",
        STOLEN_CARD => "stolen card",
        USE_CHIP => "chip card: use the chip",
        INSUFFICIENT_FUNDS => "insufficient funds",
        EXPIRED_CARD => "expired card",
        INCORRECT_PIN => "incorrect PIN",
        NOT_PERMITTED_CARD => "not permitted for this card",
        "58" => "not permitted at this terminal",
        CARD_VERIFICATION_ERROR => "card verification error",
        AMOUNT_LIMIT => "amount limit exceeded",
        RESTRICTED_CARD => "restricted card",
        AMOUNT_DIFFERS => "amount differs from original",
        COUNT_LIMIT => "count limit exceeded",
        LATE_RESPONSE => "response received too late",
        PIN_TRIES_EXCEEDED => "PIN tries exceeded",
        "77" => "batch mismatch, sign on again",
        ISSUER_DOWN => "issuer or switch inoperative",
        "92" => "routing error",
        DUPLICATE => "duplicate transmission",
        SYSTEM_MALFUNCTION => "system malfunction",
        "97" => "terminal not registered",
        ISSUER_TIMEOUT => "issuer timeout",
        "99" => "PIN format error",
        MAC_ERROR => "MAC error",
        _ => "unknown response code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meanings() {
        assert_eq!(meaning(INSUFFICIENT_FUNDS), "insufficient funds");
        assert_eq!(meaning("ZZ"), "unknown response code");
        assert!(is_approved("00") && !is_approved("05"));
    }
}
