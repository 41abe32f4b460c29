//! Receipts as a terminal prints them: snapshots in both languages, the copies, PIN and
//! signature, reprint, original transaction, the 32-column bound and the masked card number.
//!
//! Snapshots live in `tests/snapshots/*.txt`. After a deliberate change to the layout, rewrite
//! them with `CARDNET_UPDATE_SNAPSHOTS=1 cargo test -p cardnet-receipt` and read the diff.

use std::path::PathBuf;

use proptest::prelude::*;
use receipt::{
    Amount, CardNumber, DateTime, EntryMode, Lang, PRINTER_COLUMNS, Receipt, ReceiptCopy, TransactionType,
    display_width, render, render_lines,
};

const PAN: &str = "6224242900000113";

fn sale() -> Receipt {
    Receipt {
        merchant_name: "北京朝阳大悦城星巴克咖啡有限公司(朝阳北路店)".to_owned(),
        merchant_id: "898110048160001".to_owned(),
        terminal_id: "10000019".to_owned(),
        operator: "01".to_owned(),
        card_number: CardNumber::new(PAN),
        card_organization: "CUP".to_owned(),
        transaction: TransactionType::Sale,
        entry_mode: EntryMode::Chip,
        batch: 1,
        trace: 123,
        rrn: "143012000123".to_owned(),
        auth_code: "A1B2C3".to_owned(),
        date_time: DateTime { year: 2025, month: 6, day: 1, hour: 14, minute: 3, second: 22 },
        amount: Amount::cny(12_500),
        debit_balance: false,
        pin_verified: false,
        copy: ReceiptCopy::Merchant,
        reprint: false,
        original_trace: None,
        original_rrn: None,
        original_auth_code: None,
    }
}

fn void() -> Receipt {
    Receipt {
        merchant_name: "STARBUCKS COFFEE BEIJING JOY CITY CHAOYANG".to_owned(),
        transaction: TransactionType::Void,
        entry_mode: EntryMode::Swipe,
        trace: 124,
        rrn: "143012000124".to_owned(),
        auth_code: "A1B2C4".to_owned(),
        pin_verified: true,
        copy: ReceiptCopy::Cardholder,
        original_trace: Some(123),
        original_rrn: Some("143012000123".to_owned()),
        ..sale()
    }
}

fn refund() -> Receipt {
    Receipt {
        transaction: TransactionType::Refund,
        entry_mode: EntryMode::Keyed,
        trace: 125,
        rrn: "143012000125".to_owned(),
        auth_code: String::new(),
        amount: Amount::cny(3_000),
        reprint: true,
        original_trace: Some(123),
        original_rrn: Some("143012000123".to_owned()),
        ..sale()
    }
}

fn balance() -> Receipt {
    Receipt {
        merchant_name: "便利店".to_owned(),
        transaction: TransactionType::Balance,
        entry_mode: EntryMode::Contactless,
        auth_code: String::new(),
        amount: Amount::cny(98_765_432),
        pin_verified: true,
        copy: ReceiptCopy::Cardholder,
        ..sale()
    }
}

fn completion() -> Receipt {
    Receipt {
        merchant_name: "Grand Hotel".to_owned(),
        transaction: TransactionType::Completion,
        amount: Amount::cny(88_800),
        original_trace: Some(98),
        original_auth_code: Some("654321".to_owned()),
        ..sale()
    }
}

/// Compare `actual` with `tests/snapshots/{name}.txt`, or rewrite the file when
/// `CARDNET_UPDATE_SNAPSHOTS=1`.
fn check_snapshot(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "snapshots", &format!("{name}.txt")].iter().collect();
    if std::env::var("CARDNET_UPDATE_SNAPSHOTS").is_ok_and(|value| value == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}; write it with CARDNET_UPDATE_SNAPSHOTS=1", path.display()));
    if actual != expected {
        // 1-based, as an editor counts; past the shorter text when one is a prefix of the other.
        let first_difference = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or(actual.lines().count().min(expected.lines().count()))
            + 1;
        panic!(
            "{name} differs from {} (first different line: {first_difference}; rerun with \
             CARDNET_UPDATE_SNAPSHOTS=1 if the change is meant)\n--- expected\n{expected}--- actual\n{actual}",
            path.display()
        );
    }
}

#[test]
fn snapshots() {
    let cases: [(&str, Receipt); 5] = [
        ("sale", sale()),
        ("void", void()),
        ("refund", refund()),
        ("balance", balance()),
        ("completion", completion()),
    ];
    for (name, receipt) in cases {
        for (lang, suffix) in [(Lang::Zh, "zh"), (Lang::En, "en")] {
            check_snapshot(&format!("{name}_{suffix}"), &render(&receipt, lang));
        }
    }
}

#[test]
fn render_is_the_lines_joined() {
    for lang in [Lang::Zh, Lang::En] {
        let lines = render_lines(&sale(), lang);
        assert_eq!(render(&sale(), lang), lines.iter().map(|line| format!("{line}\n")).collect::<String>());
        assert!(lines.iter().all(|line| !line.ends_with(' ')), "trailing spaces");
    }
}

#[test]
fn merchant_and_cardholder_copies_differ_only_in_the_copy_line() {
    let merchant = sale();
    let cardholder = Receipt { copy: ReceiptCopy::Cardholder, ..sale() };
    for (lang, merchant_label, cardholder_label) in
        [(Lang::Zh, "商户存根", "持卡人存根"), (Lang::En, "MERCHANT COPY", "CARDHOLDER COPY")]
    {
        let merchant_lines = render_lines(&merchant, lang);
        let cardholder_lines = render_lines(&cardholder, lang);
        assert_eq!(merchant_lines.len(), cardholder_lines.len());
        let differing: Vec<usize> =
            (0..merchant_lines.len()).filter(|&i| merchant_lines[i] != cardholder_lines[i]).collect();
        assert_eq!(differing, [1]);
        assert_eq!(merchant_lines[1].trim(), merchant_label);
        assert_eq!(cardholder_lines[1].trim(), cardholder_label);
    }
}

#[test]
fn pin_or_signature_line() {
    let signed = sale();
    let pin = Receipt { pin_verified: true, ..sale() };
    for (lang, pin_text, signature_text) in
        [(Lang::Zh, "密码验证", "持卡人签名"), (Lang::En, "PIN VERIFIED", "CARDHOLDER SIGNATURE")]
    {
        let with_signature = render(&signed, lang);
        assert!(with_signature.contains(signature_text));
        assert!(with_signature.contains(&"_".repeat(PRINTER_COLUMNS)));
        assert!(!with_signature.contains(pin_text));
        let with_pin = render(&pin, lang);
        assert!(with_pin.contains(pin_text));
        assert!(!with_pin.contains(signature_text));
        assert!(!with_pin.contains('_'));
    }
}

#[test]
fn reprint_marker() {
    let reprint = Receipt { reprint: true, ..sale() };
    assert!(render(&reprint, Lang::Zh).contains("重打印"));
    assert!(render(&reprint, Lang::En).contains("REPRINT"));
    assert!(!render(&sale(), Lang::Zh).contains("重打印"));
    assert!(!render(&sale(), Lang::En).contains("REPRINT"));
}

#[test]
fn void_and_refund_show_the_original_transaction() {
    for receipt in [void(), refund()] {
        let en = render(&receipt, Lang::En);
        assert!(en.contains("ORIG VOUCHER NO:") && en.contains("000123"), "{en}");
        assert!(en.lines().any(|line| line.starts_with("ORIG REF NO:") && line.ends_with("143012000123")), "{en}");
        assert!(en.contains("RMB -"), "money back prints negative: {en}");
        let zh = render(&receipt, Lang::Zh);
        assert!(zh.lines().any(|line| line.starts_with("原凭证号:") && line.ends_with("000123")), "{zh}");
        assert!(zh.lines().any(|line| line.starts_with("原参考号:") && line.ends_with("143012000123")), "{zh}");
    }
    let plain = render(&sale(), Lang::En);
    assert!(!plain.contains("ORIG"));
}

#[test]
fn empty_fields_leave_their_line_out() {
    let en = render(&refund(), Lang::En);
    assert!(!en.contains("AUTH NO:"), "{en}");
    assert!(render(&sale(), Lang::En).contains("AUTH NO:"));
}

#[test]
fn balance_has_no_acknowledgement() {
    let zh = render(&balance(), Lang::Zh);
    assert!(zh.contains("余额:") && !zh.contains("本人确认"), "{zh}");
    assert!(render(&sale(), Lang::Zh).contains("本人确认以上交易"));
}

#[test]
fn amounts() {
    assert_eq!(Amount::cny(12_500).to_string(), "RMB 125.00");
    assert_eq!(Amount::cny(5).to_string(), "RMB 0.05");
    assert_eq!(Amount::cny(0).to_string(), "RMB 0.00");
    assert_eq!(Amount::cny(999_999_999_999).to_string(), "RMB 9999999999.99");
    assert_eq!(Amount::cny(u64::MAX).to_string(), "RMB 184467440737095516.15");
    assert_eq!(Amount { minor: 1_000, currency: 392 }.to_string(), "JPY 1000");
    assert_eq!(Amount { minor: 1_050, currency: 840 }.to_string(), "USD 10.50");
    assert_eq!(Amount { minor: 1_050, currency: 999 }.to_string(), "999 10.50");
    assert_eq!(Amount { minor: 1_050, currency: 8 }.to_string(), "008 10.50");
    // The largest amount still fits beside its label.
    let big = Receipt { amount: Amount::cny(u64::MAX), transaction: TransactionType::Refund, ..sale() };
    assert!(render_lines(&big, Lang::En).iter().any(|line| line.ends_with("RMB -184467440737095516.15")));
}

/// Issue 12 point 5's neighbour: a balance inquiry of an overdrawn account prints its debit
/// balance with a minus sign, not as if the money were there.
#[test]
fn a_debit_balance_prints_with_a_minus_sign() {
    let balance = Receipt { transaction: TransactionType::Balance, amount: Amount::cny(500), ..sale() };
    let lines = render_lines(&Receipt { debit_balance: true, ..balance.clone() }, Lang::En);
    assert!(lines.iter().any(|line| line.starts_with("BALANCE:") && line.ends_with("RMB -5.00")), "{lines:?}");
    let lines = render_lines(&balance, Lang::En);
    assert!(lines.iter().any(|line| line.starts_with("BALANCE:") && line.ends_with("RMB 5.00")), "{lines:?}");
}

#[test]
fn card_numbers() {
    assert_eq!(CardNumber::new(PAN).masked(), "622424******0113");
    assert_eq!(CardNumber::new("6224 2429 0000 0113").masked(), "622424******0113");
    assert_eq!(CardNumber::new("6224-2429-0000-0113").masked(), "622424******0113");
    assert_eq!(CardNumber::new("6224242900000000113").masked(), "622424*********0113");
    assert_eq!(CardNumber::new("6224242900000113D2806").masked(), "*".repeat(19));
    assert_eq!(CardNumber::new("12345678901234567890").masked(), "*".repeat(19));
    assert_eq!(CardNumber::new("123456").masked(), "******");
    assert_eq!(CardNumber::new("").masked(), "");
    assert!(!format!("{:?}", sale()).contains(PAN), "Debug shows only the masked number");
}

#[test]
fn a_kept_masked_number_reads_back_and_never_shows_more() {
    for pan in [PAN, "6224242900000000113", "0006224242900000113", "123456", ""] {
        let masked = CardNumber::new(pan);
        assert_eq!(CardNumber::from_masked(masked.masked()), masked, "{pan}");
    }
    // A full number, or one with more digits showing than masking leaves, is masked again.
    assert_eq!(CardNumber::from_masked(PAN).masked(), "622424******0113");
    assert_eq!(CardNumber::from_masked("62242429****0113").masked(), "622424******0113");
    assert_eq!(CardNumber::from_masked("123456").masked(), "******");
    assert_eq!(CardNumber::from_masked("6224242900000113D2806").masked(), "*".repeat(19));
    assert_eq!(CardNumber::from_masked("622424-*****0113").masked(), "*".repeat(16));
}

#[test]
fn languages_parse() {
    assert_eq!("zh".parse::<Lang>(), Ok(Lang::Zh));
    assert_eq!("EN".parse::<Lang>(), Ok(Lang::En));
    assert!("fr".parse::<Lang>().is_err());
}

#[test]
fn control_characters_cannot_break_the_layout() {
    let receipt = Receipt {
        merchant_name: "ACME\nFAKE LINE\r\u{202E}REVERSED\u{0}".to_owned(),
        terminal_id: "1000\n0019".to_owned(),
        ..sale()
    };
    for lang in [Lang::Zh, Lang::En] {
        let text = render(&receipt, lang);
        assert!(text.contains("ACME FAKE LINE REVERSED"), "{text}");
        assert!(!text.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202E}'));
        assert_eq!(text.lines().count(), render_lines(&receipt, lang).len());
    }
}

#[test]
fn card_digits_in_another_field_are_masked() {
    let receipt = Receipt {
        merchant_name: format!("SHOP {PAN}"),
        rrn: PAN.to_owned(),
        original_rrn: Some(format!("9{PAN}9")),
        ..sale()
    };
    for lang in [Lang::Zh, Lang::En] {
        assert_no_full_pan(&render(&receipt, lang), PAN);
    }
}

/// No run of 13 or more digits on the slip contains the card number, not even when a wrapped
/// value is read across its line breaks.
fn assert_no_full_pan(text: &str, pan: &str) {
    for joined in [text.to_owned(), text.replace('\n', "")] {
        for run in joined.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() >= 13) {
            assert!(!run.contains(pan), "full card number on the slip:\n{text}");
        }
    }
}

fn assert_fits(lines: &[String]) {
    for line in lines {
        assert!(display_width(line) <= PRINTER_COLUMNS, "{} columns: {line:?}", display_width(line));
    }
}

/// Merchant names as they come: Chinese, long ASCII words, mixed, with spaces and punctuation.
fn merchant_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\u{4e00}-\u{9fa5}]{0,40}",
        "[A-Z]{0,80}",
        "[A-Za-z0-9 ()&.,-]{0,80}",
        "[\u{4e00}-\u{9fa5}A-Za-z0-9 （）·，]{0,60}",
        any::<String>(),
    ]
}

fn transaction() -> impl Strategy<Value = TransactionType> {
    prop_oneof![
        Just(TransactionType::Sale),
        Just(TransactionType::Void),
        Just(TransactionType::Refund),
        Just(TransactionType::PreAuth),
        Just(TransactionType::PreAuthVoid),
        Just(TransactionType::Completion),
        Just(TransactionType::CompletionAdvice),
        Just(TransactionType::CompletionVoid),
        Just(TransactionType::Balance),
    ]
}

proptest! {
    #[test]
    fn every_line_fits_the_paper(
        name in merchant_name(),
        minor in 0u64..=999_999_999_999,
        currency in prop_oneof![Just(156u16), Just(392u16), any::<u16>()],
        transaction in transaction(),
        pin_verified in any::<bool>(),
        reprint in any::<bool>(),
        operator in "[0-9]{0,40}",
        org in "[A-Z]{0,40}",
        original_rrn in proptest::option::of("[0-9A-Z]{0,40}"),
    ) {
        let receipt = Receipt {
            merchant_name: name,
            operator,
            card_organization: org,
            transaction,
            amount: Amount { minor, currency },
            pin_verified,
            reprint,
            original_trace: original_rrn.as_ref().map(|_| 999_999),
            original_rrn,
            ..sale()
        };
        for lang in [Lang::Zh, Lang::En] {
            let lines = render_lines(&receipt, lang);
            assert_fits(&lines);
            // The whole amount is on the slip, right-aligned on its line.
            let number = receipt.amount.number();
            prop_assert!(lines.iter().any(|line| line.ends_with(&number)), "{number} missing: {lines:?}");
        }
    }

    #[test]
    fn no_full_card_number(
        pan in "[1-9][0-9]{12,18}",
        name in merchant_name(),
        entry_mode in prop_oneof![Just(EntryMode::Swipe), Just(EntryMode::Chip), Just(EntryMode::Contactless), Just(EntryMode::Keyed)],
        leak in any::<bool>(),
    ) {
        // Half the time the card's digits are also put where they do not belong.
        let merchant_name = if leak { format!("{name}{pan}") } else { name };
        let receipt = Receipt {
            merchant_name,
            card_number: CardNumber::new(&pan),
            entry_mode,
            rrn: if leak { pan.clone() } else { "143012000123".to_owned() },
            ..sale()
        };
        for lang in [Lang::Zh, Lang::En] {
            let text = render(&receipt, lang);
            assert_no_full_pan(&text, &pan);
            let masked = format!("{}{}{}", &pan[..6], "*".repeat(pan.len() - 10), &pan[pan.len() - 4..]);
            prop_assert!(text.contains(&masked));
        }
    }
}
