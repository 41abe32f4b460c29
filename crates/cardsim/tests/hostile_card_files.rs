//! Card files come from outside (hand-edited, truncated, another tool's JSON): whatever they
//! hold, loading answers a card or an error naming the field, never a panic; and a chip card
//! that loads always computes a well-formed field 55.

use cardsim::{CardError, ChipCard, SimCard, TerminalData, TransactionType};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        "[0-9]{0,24}".prop_map(serde_json::Value::from),
        "[0-9A-Fa-f]{0,40}".prop_map(serde_json::Value::from),
        ".{0,30}".prop_map(serde_json::Value::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_card_object_loads_or_is_refused_by_name(
        pan in text(), expiry in text(), track2 in text(), chip_track2 in text(),
        sequence in text(), key in text(), atc in text(), pin in text(),
    ) {
        let value = serde_json::json!({
            "pan": pan, "expiry": expiry, "track2": track2, "chip_track2": chip_track2,
            "card_sequence": sequence, "icc_master_key_ac": key, "atc": atc, "pin": pin,
        });
        match SimCard::from_json(&value) {
            Ok(mut card) => {
                let debug = format!("{card:?}");
                prop_assert!(!debug.contains(card.pan().as_str()), "{}", debug);
                let terminal = TerminalData {
                    amount_minor: 100,
                    currency: "156".into(),
                    country: "156".into(),
                    date_yymmdd: "261122".into(),
                    transaction_type: TransactionType::Goods,
                    unpredictable_number: [1, 2, 3, 4],
                };
                match card.generate_ac(&terminal) {
                    Ok(field55) => prop_assert!(iso8583::tlv::validate(&field55).is_ok()),
                    // A stripe card, or a key that is not a TDES key: refused, not a panic.
                    Err(CardError::NoChip | CardError::Security(_)) => {}
                    Err(other) => prop_assert!(false, "{other}"),
                }
            }
            Err(CardError::File(message)) => prop_assert!(message.contains('"'), "{message}"),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    /// Well-shaped chip cards with any key, counter and terminal data: a field 55 that parses,
    /// whose ATC is the stored one plus one, or a named refusal (the counter exhausted, data
    /// that does not fit).
    #[test]
    fn well_shaped_chip_cards_always_answer(
        pan in "6224[0-9]{12}", psn in "[0-9]{2}", key in "[0-9A-F]{32}", atc in 0u32..=65_535,
        amount_minor in 0u64..2_000_000_000_000, date in "[0-9]{6}",
    ) {
        let value = serde_json::json!({
            "pan": pan, "expiry": "3012", "track2": format!("{pan}=3012"), "chip_track2": format!("{pan}=3012"),
            "card_sequence": psn, "icc_master_key_ac": key, "atc": atc,
        });
        let mut card = SimCard::from_json(&value).unwrap();
        let terminal = TerminalData {
            amount_minor,
            currency: "156".into(),
            country: "156".into(),
            date_yymmdd: date,
            transaction_type: TransactionType::Balance,
            unpredictable_number: [9; 4],
        };
        match card.generate_ac(&terminal) {
            Ok(field55) => {
                let expected = u16::try_from(atc + 1).unwrap().to_be_bytes();
                prop_assert_eq!(iso8583::tlv::find(&field55, &[0x9F, 0x36]).unwrap(), Some(&expected[..]));
            }
            Err(CardError::Security(message)) => prop_assert!(atc == 65_535, "{}", message),
            Err(CardError::Input(what)) => prop_assert!(amount_minor > 999_999_999_999, "{}", what),
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}
