//! Requests as the rest of the network builds them (`network::request`, the acquirer side's
//! builders), for every entry mode, answered by the issuer: the conventions agree.

mod common;

use common::{ACQUIRER, Backend, Harness, IMK_AC, h};
use hsm::emv::Scheme;
use network::request::{Acceptor, CardInput, EntryMode, TransactionRequest};
use network::{OriginalData, TransactionKind, codes};

fn acceptor() -> Acceptor {
    Acceptor {
        acquirer: ACQUIRER.parse().unwrap(),
        terminal: "TERM0001".parse().unwrap(),
        merchant: "898440154110001".parse().unwrap(),
        mcc: "5411".into(),
        name_location: "CARDNET COFFEE           SHANGHAI     CN".into(),
    }
}

/// Field 55 as a PBOC-style card writes it: 9F26, 9F27, then the ARQC input tags in the
/// order of `network::emv::ARQC_DATA_TAGS` (the IAD whole).
fn field55(pan: &str, psn: &str, atc: u16, amount: u64) -> (Vec<u8>, [u8; 8]) {
    let values: [(&[u8], Vec<u8>); 11] = [
        (&[0x9F, 0x02], h(&format!("{amount:012}"))),
        (&[0x9F, 0x03], vec![0; 6]),
        (&[0x9F, 0x1A], h("0156")),
        (&[0x95], vec![0; 5]),
        (&[0x5F, 0x2A], h("0156")),
        (&[0x9A], h("250315")),
        (&[0x9C], vec![0]),
        (&[0x9F, 0x37], h("01020304")),
        (&[0x82], h("7C00")),
        (&[0x9F, 0x36], atc.to_be_bytes().to_vec()),
        (&[0x9F, 0x10], h("07010103A00000")),
    ];
    let data: Vec<u8> = values.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let result = hsm::emv::arqc(Scheme::Common, &h(IMK_AC), pan, psn, &atc.to_be_bytes(), None, &data).unwrap();
    let mut tlv = Vec::new();
    iso8583::tlv::write_element(&[0x9F, 0x26], &result.arqc, &mut tlv);
    iso8583::tlv::write_element(&[0x9F, 0x27], &[0x80], &mut tlv);
    for (tag, value) in &values {
        iso8583::tlv::write_element(tag, value, &mut tlv);
    }
    (tlv, result.arqc)
}

#[test]
fn requests_built_by_network_request_are_answered_for_every_entry_mode() {
    let h = Harness::new(Backend::Sqlite).unwrap();
    let card = h.debit_card(100_000);
    let spec = iso8583::builtin::network();
    let acceptor = acceptor();
    let mut atc = 0u16;
    let mut build = |kind: TransactionKind, entry: EntryMode, amount: u64, original: Option<&OriginalData>| {
        let mut input = CardInput { entry: Some(entry), ..CardInput::new(card.pan) };
        input.pin_block = Some(h.pin_block(card.pan.as_str(), &card.pin));
        match entry {
            EntryMode::Keyed => input.expiry_yymm = Some(card.expiry_yymm.clone()),
            EntryMode::Swipe | EntryMode::Fallback => input.track2 = Some(card.track2.clone()),
            EntryMode::Chip | EntryMode::Contactless => {
                atc += 1;
                input.track2 = Some(card.chip_track2.clone());
                input.sequence_number = Some(format!("0{}", card.card_sequence));
                input.icc_data = Some(field55(card.pan.as_str(), &card.card_sequence, atc, amount).0);
            }
        }
        let stan = h.next_stan();
        let rrn = network::time::rrn(h.now_ms(), &stan);
        let request = TransactionRequest {
            kind,
            acceptor: &acceptor,
            card: &input,
            amount_minor: amount,
            currency: "156",
            stan: stan.parse().unwrap(),
            rrn: rrn.parse().unwrap(),
            now_ms: h.now_ms(),
            original,
        };
        let mut message = network::request::build(&spec, &request).unwrap();
        network::mac::sign(&*h.hsm, &h.zak, &mut message).unwrap();
        message
    };
    for entry in [EntryMode::Keyed, EntryMode::Swipe, EntryMode::Chip, EntryMode::Contactless] {
        let request = build(TransactionKind::Purchase, entry, 1_000, None);
        let response = h.send(&request);
        assert_eq!(response.get_str(39), Some(codes::APPROVED), "{entry:?}");
        assert_eq!(response.has(55), entry.is_chip(), "{entry:?}: an ARPC answers a chip");
    }
    assert_eq!(h.available(&card), 96_000);
    let balance = build(TransactionKind::BalanceInquiry, EntryMode::Chip, 0, None);
    let response = h.send(&balance);
    assert_eq!(response.get_str(39), Some(codes::APPROVED));
    assert!(response.get_str(54).unwrap().contains("0002156C000000096000"));

    // Pre-authorization, completion, and a reversal built by `reversal_of`.
    let preauth = build(TransactionKind::PreAuthorization, EntryMode::Chip, 5_000, None);
    assert_eq!(h.send(&preauth).get_str(39), Some(codes::APPROVED));
    let original = OriginalData::of_request(&preauth).unwrap();
    let completion = build(TransactionKind::Completion, EntryMode::Keyed, 4_000, Some(&original));
    assert_eq!(h.send(&completion).get_str(39), Some(codes::APPROVED));
    assert_eq!(h.ledger_balance(&card), 96_000);
    let purchase = build(TransactionKind::Purchase, EntryMode::Swipe, 3_000, None);
    assert_eq!(h.send(&purchase).get_str(39), Some(codes::APPROVED));
    let mut reversal = network::request::reversal_of(&purchase, &h.next_stan(), h.now_ms(), None).unwrap();
    network::mac::sign(&*h.hsm, &h.zak, &mut reversal).unwrap();
    assert_eq!(h.send(&reversal).get_str(39), Some(codes::APPROVED));
    assert_eq!(h.available(&card), 92_000);
    h.issuer.check_ledger().unwrap();
}
