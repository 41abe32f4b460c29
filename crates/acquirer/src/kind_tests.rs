//! The kind table walked against docs/acquirer.md §2 and the reference's §3 table.

use iso8583::{Message, Mti};
use network::OriginalData;
use network::request::{Acceptor, CardInput, TransactionRequest};

use super::*;

/// docs/acquirer.md §2's name of each kind (its table's first column starts with it).
fn doc_label(kind: PosKind) -> &'static str {
    match kind {
        PosKind::Balance => "balance",
        PosKind::Purchase => "purchase",
        PosKind::Void => "void",
        PosKind::Refund => "refund",
        PosKind::PreAuth => "pre-auth",
        PosKind::PreAuthVoid => "pre-auth void",
        PosKind::CompletionRequest => "completion request",
        PosKind::CompletionAdvice => "completion advice",
        PosKind::CompletionVoid => "completion void",
    }
}

/// The reference's §3 rows of the kinds the host supports, as written there (Txn, MTI, F3, 25,
/// 60.1, 60.3, Rev.): `/work/shared/reference/unionpay-pos-8583.md`, outside the repository, so
/// transcribed; where the file is present the transcription is checked against it.
const REFERENCE_ROWS: [(PosKind, &str); 9] = [
    (PosKind::Balance, "| Balance 余额查询 | 0200/0210 | 310000 | 00 | 01 | 000 | no |"),
    (PosKind::Purchase, "| Purchase 消费 | 0200/0210 | 000000 | 00 | 22 | 000 | yes |"),
    (PosKind::Void, "| Void 消费撤销 | 0200/0210 | 200000 | 00 | 23 | 000 | yes |"),
    (PosKind::Refund, "| Refund 退货 | **0220/0230** | 200000 | 00 | 25 | 000 | no |"),
    (PosKind::PreAuth, "| Pre-auth 预授权 | 0100/0110 | 030000 | 06 | 10 | 000 | yes |"),
    (PosKind::PreAuthVoid, "| Pre-auth void | 0100/0110 | 200000 | 06 | 11 | 000 | yes |"),
    (PosKind::CompletionRequest, "| Completion request 完成请求 | 0200/0210 | 000000 | 06 | 20 | 000 | yes |"),
    (PosKind::CompletionVoid, "| Completion void | 0200/0210 | 200000 | 06 | 21 | 000 | yes |"),
    (PosKind::CompletionAdvice, "| Completion advice 完成通知 | 0220/0230 | 000000 | 06 | 24 | 000 | no |"),
];

const DOCS: &str = include_str!("../../../docs/acquirer.md");

/// The cells of a markdown table row, trimmed.
fn cells(line: &str) -> Vec<String> {
    line.trim().trim_matches('|').split('|').map(|c| c.trim().replace("**", "")).collect()
}

#[test]
fn the_table_is_in_kind_order_and_names_are_unique() {
    for (index, kind) in PosKind::ALL.into_iter().enumerate() {
        assert_eq!(KINDS[index].kind, kind, "row {index}");
        assert_eq!(PosKind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(PosKind::from_name("top-up"), None);
}

#[test]
fn the_table_walks_against_the_reference() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference/unionpay-pos-8583.md");
    let reference = std::fs::read_to_string(file).ok();
    for (kind, line) in REFERENCE_ROWS {
        if let Some(text) = &reference {
            assert!(text.lines().any(|l| l.starts_with(line)), "{line} is the reference's");
        }
        let cells = cells(line);
        let row = kind.row();
        assert_eq!(&cells[1][..4], row.mti, "{kind:?}: MTI");
        assert_eq!(&cells[2][..2], row.processing, "{kind:?}: 3");
        assert_eq!(cells[3] == "06", row.preauth, "{kind:?}: 25");
        assert_eq!(cells[6] == "yes", row.reversible, "{kind:?}: reversible");
    }
    assert_eq!(REFERENCE_ROWS.len(), KINDS.len(), "every kind has its reference row");
}

/// A network request for `kind` as the acquirer builds it: the network's builder, then the
/// table's MTI.
fn network_request(kind: PosKind) -> Message {
    let acceptor = Acceptor {
        acquirer: "12345678".parse().unwrap(),
        terminal: "30000001".parse().unwrap(),
        merchant: "123456789012345".parse().unwrap(),
        mcc: "5411".into(),
        name_location: "SHOP".into(),
    };
    let card = CardInput {
        pan: "6212345678901234".parse().unwrap(),
        entry: None,
        expiry_yymm: None,
        track2: None,
        sequence_number: None,
        icc_data: None,
        pin_block: None,
    };
    let original = OriginalData {
        mti: "0200".into(),
        stan: "000001".into(),
        transmission_time: "1204120000".into(),
        acquirer: "00012345678".into(),
        forwarder: "00000000000".into(),
    };
    let request = TransactionRequest {
        kind: kind.network_kind(),
        acceptor: &acceptor,
        card: &card,
        amount_minor: 100,
        currency: "156",
        stan: "000002".parse().unwrap(),
        rrn: "000000000002".parse().unwrap(),
        now_ms: 1_700_000_000_000,
        original: (!kind.original_kinds().is_empty()).then_some(&original),
    };
    let mut message = network::request::build(&iso8583::builtin::network(), &request).unwrap();
    kind.row().network.set_mti(&mut message).unwrap();
    message
}

#[test]
fn the_table_walks_against_the_docs() {
    let rows: Vec<&str> = DOCS.lines().filter(|l| l.starts_with("| ")).collect();
    let mut field3_of_completion = None;
    for row in KINDS.iter().rev() {
        let condition = if row.preauth { "06" } else { "00" };
        let pos = format!("{} {} {}xxxx {condition}", doc_label(row.kind), row.mti, row.processing);
        let found: Vec<&&str> = rows.iter().filter(|l| cells(l)[0].starts_with(&pos)).collect();
        assert_eq!(found.len(), 1, "docs/acquirer.md §2 has one row {pos:?}");
        let network = cells(found[0])[1].clone();
        let message = network_request(row.kind);
        assert!(network.starts_with(row.network.mti), "{pos}: network MTI {network}");
        assert_eq!(message.mti().as_str(), row.network.mti, "{pos}: the request built");
        let field3 = message.get_str(3).unwrap().to_owned();
        if row.kind == PosKind::CompletionRequest {
            field3_of_completion = Some(field3.clone());
        }
        if network.contains("same") {
            // "0220, same": the completion request's leg as an advice (checked below).
            assert_eq!(row.kind, PosKind::CompletionAdvice);
            continue;
        }
        assert_eq!(network.get(5..11), Some(field3.as_str()), "{pos}: network 3");
        assert_eq!(network.contains(", 90"), !row.original_kinds.is_empty(), "{pos}: names an original");
    }
    let advice = network_request(PosKind::CompletionAdvice);
    assert_eq!(advice.get_str(3).map(str::to_owned), field3_of_completion);
}

#[test]
fn classify_reads_mti_processing_and_condition() {
    let message = |mti: &str, processing: &str, condition: Option<&str>| {
        let mut m = Message::new(iso8583::builtin::cup_pos(), Mti::parse(mti).unwrap());
        m.set_str(3, processing).unwrap();
        if let Some(condition) = condition {
            m.set_str(25, condition).unwrap();
        }
        m
    };
    for row in &KINDS {
        let processing = format!("{}0000", row.processing);
        let condition = if row.preauth { "06" } else { "00" };
        assert_eq!(classify(&message(row.mti, &processing, Some(condition))), Some(row.kind));
        if !row.preauth {
            assert_eq!(classify(&message(row.mti, &processing, None)), Some(row.kind), "25 absent: 00");
        }
    }
    // Top-up (25 = 60) and offline/adjust (0220 000000 00) are not supported: answered 40.
    assert_eq!(classify(&message("0100", "030000", Some("60"))), None);
    assert_eq!(classify(&message("0220", "000000", Some("00"))), None);
    let no_processing = Message::new(iso8583::builtin::cup_pos(), Mti::parse("0200").unwrap());
    assert_eq!(classify(&no_processing), None, "no field 3");
}

#[test]
fn the_properties_the_decisions_read() {
    let with = |f: fn(PosKind) -> bool| PosKind::ALL.into_iter().filter(|k| f(*k)).collect::<Vec<_>>();
    assert_eq!(
        with(PosKind::reversed_on_timeout),
        [
            PosKind::Purchase,
            PosKind::Void,
            PosKind::Refund,
            PosKind::PreAuth,
            PosKind::PreAuthVoid,
            PosKind::CompletionRequest,
            PosKind::CompletionVoid
        ]
    );
    assert_eq!(with(PosKind::is_advice), [PosKind::CompletionAdvice]);
    assert_eq!(
        with(PosKind::takes_money),
        [PosKind::Purchase, PosKind::PreAuth, PosKind::CompletionRequest, PosKind::CompletionAdvice]
    );
    assert_eq!(with(PosKind::is_debit), [PosKind::Purchase, PosKind::CompletionRequest, PosKind::CompletionAdvice]);
    assert_eq!(with(PosKind::is_credit), [PosKind::Void, PosKind::Refund, PosKind::CompletionVoid]);
}
