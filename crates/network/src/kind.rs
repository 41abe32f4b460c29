//! Which transaction a message is: MTI class, processing code (field 3 digits 1–2) and POS
//! condition code (field 25), as the table in docs/network-flows.md §1 fixes them.

use iso8583::Message;

pub use domain::TransactionKind;

use crate::error::{Error, Result, required};

/// POS condition code of the pre-authorization family.
pub const CONDITION_PREAUTH: &str = "06";
/// POS condition code of normal presentment.
pub const CONDITION_NORMAL: &str = "00";

/// The transaction `message` carries. Errors name field 3 or 25 (answer 30 or 12) or the MTI.
pub fn classify(message: &Message) -> Result<TransactionKind> {
    let mti = message.mti();
    let class = mti.class();
    if class == 4 {
        return Ok(TransactionKind::Reversal);
    }
    if !(class == 1 || class == 2) || mti.is_response() {
        return Err(Error::UnexpectedMti { mti: mti.as_str().to_owned() });
    }
    let processing = required(message, 3)?;
    let transaction = processing.get(..2).ok_or(Error::Invalid { field: 3, reason: "shorter than 6 digits" })?;
    let condition = message.get_str(25).unwrap_or(CONDITION_NORMAL);
    let authorization = class == 1;
    let kind = match (transaction, authorization, condition) {
        ("31", _, _) => TransactionKind::BalanceInquiry,
        ("03", true, _) => TransactionKind::PreAuthorization,
        ("00", false, CONDITION_PREAUTH) => TransactionKind::Completion,
        ("00", false, _) => TransactionKind::Purchase,
        ("02", true, _) => TransactionKind::PreAuthorizationVoid,
        ("02", false, CONDITION_PREAUTH) => TransactionKind::CompletionVoid,
        ("02", false, _) => TransactionKind::Void,
        ("20", false, _) => TransactionKind::Refund,
        ("03" | "00" | "20", _, _) => {
            return Err(Error::Invalid { field: 3, reason: "transaction type not allowed with this MTI class" });
        }
        _ => return Err(Error::Invalid { field: 3, reason: "transaction type not supported" }),
    };
    Ok(kind)
}

/// Whether `message` is a stand-in advice: an 0120/0121/0220/0221 that already carries the
/// decision (39) made on the issuer's behalf.
pub fn is_stand_in_advice(message: &Message) -> bool {
    let mti = message.mti();
    matches!(mti.class(), 1 | 2) && mti.function() == 2 && message.has(39)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::Mti;

    fn message(mti: &str, processing: &str, condition: Option<&str>) -> Message {
        let mut m = Message::new(iso8583::builtin::network(), Mti::parse(mti).unwrap());
        m.set_str(3, processing).unwrap();
        if let Some(c) = condition {
            m.set_str(25, c).unwrap();
        }
        m
    }

    #[test]
    fn the_table_of_network_flows() {
        let cases = [
            ("0100", "310000", None, TransactionKind::BalanceInquiry),
            ("0200", "310000", None, TransactionKind::BalanceInquiry),
            ("0200", "000000", Some("00"), TransactionKind::Purchase),
            ("0100", "030000", Some("06"), TransactionKind::PreAuthorization),
            ("0200", "000000", Some("06"), TransactionKind::Completion),
            ("0220", "000000", Some("06"), TransactionKind::Completion),
            ("0200", "020000", Some("00"), TransactionKind::Void),
            ("0100", "020000", Some("06"), TransactionKind::PreAuthorizationVoid),
            ("0200", "020000", Some("06"), TransactionKind::CompletionVoid),
            ("0200", "200000", None, TransactionKind::Refund),
            ("0420", "000000", None, TransactionKind::Reversal),
            ("0421", "030000", None, TransactionKind::Reversal),
            ("0120", "030000", None, TransactionKind::PreAuthorization),
        ];
        for (mti, processing, condition, kind) in cases {
            assert_eq!(classify(&message(mti, processing, condition)), Ok(kind), "{mti} {processing}");
        }
    }

    #[test]
    fn what_is_refused() {
        assert!(matches!(classify(&message("0200", "990000", None)), Err(Error::Invalid { field: 3, .. })));
        assert!(matches!(classify(&message("0100", "000000", None)), Err(Error::Invalid { field: 3, .. })));
        assert!(matches!(classify(&message("0210", "000000", None)), Err(Error::UnexpectedMti { .. })));
        let no_processing = Message::new(iso8583::builtin::network(), Mti::parse("0200").unwrap());
        assert_eq!(classify(&no_processing), Err(Error::Missing { field: 3 }));
    }

    #[test]
    fn stand_in_advices_carry_39() {
        let mut advice = message("0120", "030000", None);
        assert!(!is_stand_in_advice(&advice));
        advice.set_str(39, "00").unwrap();
        assert!(is_stand_in_advice(&advice));
        let mut request = message("0100", "030000", None);
        request.set_str(39, "00").unwrap();
        assert!(!is_stand_in_advice(&request));
    }
}
