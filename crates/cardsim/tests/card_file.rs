//! Cards from card files: fields checked with clear errors, the ATC written back before each
//! cryptogram and never repeated across loads.

use std::path::PathBuf;

use cardsim::{CardError, ChipCard, SimCard, TerminalData, TransactionType};
use hsm::Secret;

const IMK: [u8; 16] = [0x3C; 16];
const PAN: &str = "6224240000000012";

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cardsim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn card_json(pan: &str) -> serde_json::Value {
    let mk = hsm::emv::icc_master_key(&IMK, pan, "01").unwrap();
    serde_json::json!({
        "card_id": 7,
        "product": "debit",
        "pan": pan,
        "expiry": "3012",
        "pin": "246810",
        "track2": format!("{pan}=30121011234512345678"),
        "chip_track2": format!("{pan}=30121011234599995678"),
        "card_sequence": "01",
        "icc_master_key_ac": iso8583::hex::encode(mk.expose()),
        "atc": 4,
        "available_minor": 10000,
    })
}

fn terminal() -> TerminalData {
    TerminalData {
        amount_minor: 500,
        currency: "156".into(),
        country: "156".into(),
        date_yymmdd: "261122".into(),
        transaction_type: TransactionType::Goods,
        unpredictable_number: [9, 8, 7, 6],
    }
}

fn stored_atc(path: &std::path::Path, index: usize) -> u64 {
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let card = if value.is_array() { &value[index] } else { &value };
    card["atc"].as_u64().unwrap()
}

#[test]
fn a_chip_card_continues_its_atc_across_loads_and_the_issuer_verifies_each_arqc() {
    let dir = dir("atc");
    let path = dir.join("card.json");
    std::fs::write(&path, card_json(PAN).to_string()).unwrap();
    let mut card = SimCard::load(&path).unwrap();
    assert!(card.has_chip());
    assert_eq!(card.sequence_number().as_deref(), Some("001"));
    assert_eq!(card.pin().map(Secret::expose), Some(&b"246810"[..]));
    assert!(!card.label.contains("available") && !card.label.contains("100.00"), "no balance: {}", card.label);
    assert!(!format!("{card:?}").contains(PAN));
    let first = card.generate_ac(&terminal()).unwrap();
    assert_eq!(card.atc(), Some(5));
    assert_eq!(stored_atc(&path, 0), 5, "the ATC is on file before the cryptogram leaves");
    // A new load (the next `cardnet pos run`) goes on from 5.
    let mut again = SimCard::load(&path).unwrap();
    let second = again.generate_ac(&terminal()).unwrap();
    assert_eq!(stored_atc(&path, 0), 6);
    for (field55, atc) in [(&first, 5u16), (&second, 6u16)] {
        let arqc = iso8583::tlv::find(field55, &[0x9F, 0x26]).unwrap().unwrap();
        assert_eq!(iso8583::tlv::find(field55, &[0x9F, 0x36]).unwrap(), Some(&atc.to_be_bytes()[..]));
        let mut data = Vec::new();
        for tag in network::emv::ARQC_DATA_TAGS {
            let tag = iso8583::tlv::parse_tag(tag).unwrap();
            data.extend_from_slice(iso8583::tlv::find(field55, &tag).unwrap().unwrap());
        }
        hsm::emv::verify_arqc(hsm::emv::Scheme::Common, &IMK, PAN, "01", &atc.to_be_bytes(), None, &data, arqc)
            .unwrap();
    }
    // No ARPC yet for `again`'s first card-less state: a card that made no ARQC refuses.
    assert!(!card.external_authenticate(&[0; 10]).unwrap(), "a wrong ARPC is refused");
    assert!(!card.external_authenticate(&[0; 10]).unwrap(), "and the ARQC is spent");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn in_a_file_of_several_cards_only_the_used_one_moves() {
    let dir = dir("array");
    let path = dir.join("cards.json");
    let other = "6224240000000020";
    std::fs::write(&path, serde_json::json!([card_json(other), card_json(PAN)]).to_string()).unwrap();
    let mut cards = SimCard::load_all(&path).unwrap();
    assert_eq!(cards.len(), 2);
    cards[1].generate_ac(&terminal()).unwrap();
    assert_eq!((stored_atc(&path, 0), stored_atc(&path, 1)), (4, 5));
    assert!(matches!(SimCard::load(&path), Err(CardError::File(m)) if m.contains("2 cards")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_card_files_are_refused_naming_the_field() {
    let dir = dir("bad");
    let path = dir.join("card.json");
    let cases: [(serde_json::Value, &str); 5] = [
        (serde_json::json!({"expiry": "3012"}), "no \"pan\""),
        (serde_json::json!({"pan": "12AB"}), "not a card number"),
        (
            {
                let mut v = card_json(PAN);
                v["icc_master_key_ac"] = "XYZ".into();
                v
            },
            "not hex",
        ),
        (
            {
                let mut v = card_json(PAN);
                v["card_sequence"] = "1".into();
                v
            },
            "two digits",
        ),
        (
            {
                let mut v = card_json(PAN);
                v["atc"] = 70000.into();
                v
            },
            "\"atc\"",
        ),
    ];
    for (value, expected) in cases {
        std::fs::write(&path, value.to_string()).unwrap();
        match SimCard::load(&path) {
            Err(CardError::File(message)) => assert!(message.contains(expected), "{message} lacks {expected}"),
            other => panic!("{value}: {other:?}"),
        }
    }
    std::fs::write(&path, "not json").unwrap();
    assert!(matches!(SimCard::load(&path), Err(CardError::File(m)) if m.contains("not JSON")));
    std::fs::write(&path, "42").unwrap();
    assert!(matches!(SimCard::load(&path), Err(CardError::File(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stripe_card_has_no_chip() {
    let mut value = card_json(PAN);
    value.as_object_mut().unwrap().remove("icc_master_key_ac");
    let mut card = SimCard::from_json(&value).unwrap();
    assert!(!card.has_chip());
    assert!(matches!(card.generate_ac(&terminal()), Err(CardError::NoChip)));
}

/// The issuer's ARPC (computed from the IMK as the issuer's HSM does) is accepted, and only
/// then does the second GENERATE AC give a TC: the AC over the same data and the ARC, CID 40.
#[test]
fn an_authenticated_issuer_answer_completes_with_a_tc() {
    let value = card_json(PAN);
    let mut card = SimCard::from_json(&value).unwrap();
    assert!(card.complete_transaction(*b"00").is_err(), "no ARQC yet");
    let field55 = card.generate_ac(&terminal()).unwrap();
    let arqc: [u8; 8] = iso8583::tlv::find(&field55, &[0x9F, 0x26]).unwrap().unwrap().try_into().unwrap();
    let mut data = Vec::new();
    for tag in network::emv::ARQC_DATA_TAGS {
        data.extend_from_slice(iso8583::tlv::find(&field55, &iso8583::tlv::parse_tag(tag).unwrap()).unwrap().unwrap());
    }
    let atc = 5u16.to_be_bytes();
    let issuer = hsm::emv::verify_arqc(hsm::emv::Scheme::Common, &IMK, PAN, "01", &atc, None, &data, &arqc).unwrap();
    let arpc = hsm::emv::arpc_method1(issuer.session_key.expose(), &arqc, *b"00").unwrap();
    let mut tag91 = arpc.to_vec();
    tag91.extend_from_slice(b"00");
    assert!(card.external_authenticate(&tag91).unwrap());
    let tc_field55 = card.complete_transaction(*b"00").unwrap();
    assert_eq!(iso8583::tlv::find(&tc_field55, &[0x9F, 0x27]).unwrap(), Some(&[0x40u8][..]));
    let mut tc_data = data.clone();
    tc_data.extend_from_slice(b"00");
    let expected =
        hsm::emv::application_cryptogram(issuer.session_key.expose(), &tc_data, hsm::mac::Padding::Method2).unwrap();
    assert_eq!(iso8583::tlv::find(&tc_field55, &[0x9F, 0x26]).unwrap(), Some(&expected[..]));
    assert_ne!(expected, arqc);
    assert!(card.complete_transaction(*b"00").is_err(), "one TC per authenticated answer");
}

/// Two runs using one card file at once (two threads, each with its own load of the card)
/// never use the same transaction counter, and the file ends at the highest.
#[test]
fn concurrent_users_of_one_card_file_never_share_an_atc() {
    const EACH: usize = 25;
    let dir = dir("concurrent");
    let path = dir.join("card.json");
    std::fs::write(&path, card_json(PAN).to_string()).unwrap();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut card = SimCard::load(&path).unwrap();
                (0..EACH)
                    .map(|_| {
                        let field55 = card.generate_ac(&terminal()).unwrap();
                        let atc = iso8583::tlv::find(&field55, &[0x9F, 0x36]).unwrap().unwrap().to_vec();
                        u16::from_be_bytes([atc[0], atc[1]])
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let mut used: Vec<u16> = runs.into_iter().flat_map(|run| run.join().unwrap()).collect();
    used.sort_unstable();
    let expected: Vec<u16> = (5..5 + 2 * EACH as u16).collect();
    assert_eq!(used, expected, "every counter once, none skipped");
    assert_eq!(stored_atc(&path, 0), u64::from(4 + 2 * EACH as u16));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A chip that does not answer (`"chip_fails": true`, or set by a test): the reader's first
/// contact fails, GENERATE AC too, and the ATC does not move.
#[test]
fn a_failing_chip_does_not_answer_the_reader() {
    let dir = dir("chip-fails");
    let path = dir.join("card.json");
    let mut json = card_json(PAN);
    json["chip_fails"] = serde_json::Value::Bool(true);
    std::fs::write(&path, json.to_string()).unwrap();
    let mut card = SimCard::load(&path).unwrap();
    assert!(matches!(card.read_chip(), Err(CardError::ChipUnreadable)));
    assert!(matches!(card.generate_ac(&terminal()), Err(CardError::ChipUnreadable)));
    assert_eq!(stored_atc(&path, 0), 4, "nothing left the chip");
    card.set_chip_fails(false);
    card.read_chip().unwrap();
    card.generate_ac(&terminal()).unwrap();
    assert_eq!(stored_atc(&path, 0), 5);
    // A stripe-only card has no chip to read; a bad value is refused naming the field.
    assert!(matches!(SimCard::stripe(PAN, "3012", "", None).unwrap().read_chip(), Err(CardError::NoChip)));
    json["chip_fails"] = serde_json::Value::String("yes".into());
    let error = SimCard::from_json(&json).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("chip_fails"), "{error}");
}
