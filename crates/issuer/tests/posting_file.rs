//! Posting a clearing file from disk (crate::posting_file), written by `clearing::file::Writer`
//! as the switch writes it: both forms post, a second posting changes nothing, a file that does
//! not check (or is another member's) is refused whole with its line, and nothing is posted.
//!
//! Needs the clearing file's reader and writer (issue 13's clearing-file work); on SQLite and
//! (when CARDNET_TEST_PG is set) PostgreSQL.

mod common;

use clearing::file::{Form, Header, Writer};
use clearing::{BusinessDate, CardKind, ClearingRecord, TxnCode};
use common::{ACQUIRER, Backend, CURRENCY, Harness, SWITCH};
use issuer::PostingOutcome;
use network::codes;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(a_file_posts_once_in_either_form, a_file_that_does_not_check_is_refused_whole);

const ISSUER: &str = "20000000455";

fn record(h: &Harness, message: &iso8583::Message, code: TxnCode, amount: u64, reference: u64) -> ClearingRecord {
    ClearingRecord {
        date: BusinessDate::of_utc_ms(h.now_ms()),
        reference,
        code,
        acquirer: ACQUIRER.parse().unwrap(),
        issuer: ISSUER.parse().unwrap(),
        stan: Some(message.get_str(11).unwrap().parse().unwrap()),
        transmission_time: message.get_str(7).unwrap().into(),
        issuer_stan: Some(message.get_str(11).unwrap().parse().unwrap()),
        issuer_time: message.get_str(7).unwrap().into(),
        pan_masked: iso8583::mask::mask_pan(message.get_str(2).unwrap()),
        card_hash: "ab".repeat(20),
        card_kind: CardKind::Debit,
        amount_minor: amount,
        currency: CURRENCY.parse().unwrap(),
        mcc: "5411".into(),
        terminal_id: Some("TERM0001".parse().unwrap()),
        merchant_id: Some("898440154110001".parse().unwrap()),
        rrn: Some(message.get_str(37).unwrap_or("").parse().unwrap()),
        auth_code: "123456".into(),
        original_stan: None,
        original_time: String::new(),
        original_reference: 0,
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        settlement_minor: code.direction() * amount as i64,
        stand_in: false,
        late: false,
    }
}

fn write_file(h: &Harness, form: Form, member: &str, records: &[ClearingRecord], name: &str) -> std::path::PathBuf {
    // Unique per test run: the two backends' tests run in parallel in one process.
    static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("cardnet_posting_{}_{name}_{n}_{}", std::process::id(), h.now_ms()));
    let header = Header { network: SWITCH.into(), member: member.into(), date: BusinessDate::of_utc_ms(h.now_ms()) };
    let mut writer = Writer::new(std::fs::File::create(&path).unwrap(), form, &header).unwrap();
    for record in records {
        writer.write(record).unwrap();
    }
    writer.finish().unwrap();
    path
}

fn approved(h: &Harness, request: iso8583::Message) -> iso8583::Message {
    assert_eq!(h.send(&request).get_str(39), Some(codes::APPROVED));
    request
}

fn a_file_posts_once_in_either_form(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let a = approved(&h, h.purchase(&card, 1_000).pin(&h, &card).sign(&h));
    let b = approved(&h, h.purchase(&card, 2_000).pin(&h, &card).sign(&h));
    let fixed = write_file(&h, Form::FixedWidth, ISSUER, &[record(&h, &a, TxnCode::Purchase, 1_000, 1)], "fixed");
    let csv = write_file(&h, Form::Csv, ISSUER, &[record(&h, &b, TxnCode::Purchase, 1_500, 2)], "csv");
    let first = h.issuer.post_clearing_file(&fixed).unwrap();
    assert_eq!((first.count(PostingOutcome::Posted), first.already_posted), (1, false));
    let second = h.issuer.post_clearing_file(&csv).unwrap();
    assert_eq!(second.moved_minor(PostingOutcome::Posted), 1_500);
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (47_500, 47_500));
    let again = h.issuer.post_clearing_file(&fixed).unwrap();
    assert!(again.already_posted);
    assert_eq!(h.ledger_balance(&card), 47_500);
    for path in [fixed, csv] {
        let _ = std::fs::remove_file(path);
    }
    h.issuer.check_ledger().unwrap();
}

fn a_file_that_does_not_check_is_refused_whole(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let a = approved(&h, h.purchase(&card, 1_000).pin(&h, &card).sign(&h));
    let records = [record(&h, &a, TxnCode::Purchase, 1_000, 1), record(&h, &a, TxnCode::Chargeback, 1_000, 2)];
    let path = write_file(&h, Form::FixedWidth, ISSUER, &records, "damaged");
    // One digit of the first record changed: the trailer's checksum no longer matches.
    let mut text = std::fs::read_to_string(&path).unwrap();
    let second_line = text.find('\n').unwrap() + 1;
    let at = second_line + text[second_line..].find(|c: char| c.is_ascii_digit()).unwrap();
    let digit = text.as_bytes()[at];
    text.replace_range(at..at + 1, if digit == b'9' { "8" } else { "9" });
    std::fs::write(&path, text).unwrap();
    let error = h.issuer.post_clearing_file(&path).unwrap_err();
    assert!(error.is_bad_input(), "{error}");
    assert!(error.to_string().contains("line "), "names the line: {error}");
    let other = write_file(&h, Form::Csv, "20000000999", &records, "other");
    let error = h.issuer.post_clearing_file(&other).unwrap_err();
    assert!(error.is_bad_input() && error.to_string().contains("20000000999"), "{error}");
    // Nothing of either was posted.
    assert!(h.issuer.posting_results(BusinessDate::of_utc_ms(h.now_ms())).unwrap().is_empty());
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (50_000, 49_000));
    for path in [path, other] {
        let _ = std::fs::remove_file(path);
    }
}
