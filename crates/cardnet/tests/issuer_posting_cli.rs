//! `cardnet issuer post-clearing | postings | holds` as an operator runs them at end of day:
//! a clearing file the switch wrote is posted once (a second run says `already_posted`), a
//! damaged file is refused whole with exit 2 naming its line, and the posting result lists
//! what each record became.
//!
//! Needs the clearing file's writer and reader (issue 13's clearing-file work).

mod common;

use common::{cardnet, fresh_dir, json};
use issuer::clearing::file::{Form, Header, Writer};
use issuer::clearing::{BusinessDate, CardKind, ClearingRecord, TxnCode};

const NETWORK: &str = "90000000001";
const DATE: &str = "2025-03-15";

fn record(pan: &str, reference: u64, amount: u64) -> ClearingRecord {
    ClearingRecord {
        date: BusinessDate::parse(DATE).unwrap(),
        reference,
        code: TxnCode::Purchase,
        acquirer: "10000000344".parse().unwrap(),
        issuer: issuer::dev::ISSUER_ID.parse().unwrap(),
        stan: Some("000042".parse().unwrap()),
        transmission_time: "0315120000".into(),
        // Never sent to this issuer: posted by force on the card its masked PAN names.
        issuer_stan: Some("000042".parse().unwrap()),
        issuer_time: "0315120000".into(),
        pan_masked: iso8583::mask::mask_pan(pan),
        card_hash: "ab".repeat(20),
        card_kind: CardKind::Debit,
        amount_minor: amount,
        currency: issuer::dev::CURRENCY.parse().unwrap(),
        mcc: "5411".into(),
        terminal_id: Some("TERM0001".parse().unwrap()),
        merchant_id: Some("898440154110001".parse().unwrap()),
        rrn: Some("507412000042".parse().unwrap()),
        auth_code: "123456".into(),
        original_stan: None,
        original_time: String::new(),
        original_reference: 0,
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        settlement_minor: amount as i64,
        stand_in: false,
        late: false,
    }
}

#[test]
fn a_clearing_file_is_posted_once_and_listed() {
    let dir = fresh_dir("issuer-posting", "cli");
    let init = json(&cardnet(&["issuer", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = init["config"].as_str().unwrap().to_owned();
    let issue = ["issuer", "card", "issue", "--config", &config, "--product", "debit", "--balance", "10000", "--json"];
    let card = json(&cardnet(&issue));
    let pan = card["pan"].as_str().unwrap().to_owned();

    let holds = json(&cardnet(&["issuer", "holds", "--config", &config, "--json"]));
    assert_eq!(holds["holds"].as_array().unwrap().len(), 0);
    let expired = json(&cardnet(&["issuer", "holds", "--config", &config, "--expired", "--json"]));
    assert_eq!(expired["expired_holds"].as_array().unwrap().len(), 0);

    let file = dir.join("clearing-20000000455-20250315.txt");
    let header = Header {
        network: NETWORK.into(),
        member: issuer::dev::ISSUER_ID.into(),
        date: BusinessDate::parse(DATE).unwrap(),
    };
    let mut writer = Writer::new(std::fs::File::create(&file).unwrap(), Form::FixedWidth, &header).unwrap();
    writer.write(&record(&pan, 1, 2_500)).unwrap();
    writer.finish().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&pan), "no full PAN in the file");

    let post = ["issuer", "post-clearing", "--config", &config, file.to_str().unwrap(), "--json"];
    let report = json(&cardnet(&post));
    assert_eq!(report["force_posted"], 1, "{report}");
    assert_eq!(report["force_posted_minor"], 2_500);
    assert_eq!((report["records"].as_u64(), report["already_posted"].as_bool()), (Some(1), Some(false)));
    let again = json(&cardnet(&post));
    assert_eq!(again["already_posted"], true);
    let list = json(&cardnet(&["issuer", "card", "list", "--config", &config, "--json"]));
    assert_eq!(list["cards"][0]["ledger_balance_minor"], 7_500, "posted once");

    let postings = json(&cardnet(&["issuer", "postings", "--config", &config, "--date", DATE, "--json"]));
    assert_eq!(postings["records"], 1);
    assert_eq!(postings["postings"][0]["outcome"], "force_posted");
    assert_eq!(postings["postings"][0]["pan"], iso8583::mask::mask_pan(&pan));

    // A damaged file: refused whole, exit 2, its line named; nothing more posted.
    let damaged = dir.join("damaged.txt");
    std::fs::write(&damaged, text.replacen("2500", "2600", 1)).unwrap();
    let output = cardnet(&["issuer", "post-clearing", "--config", &config, damaged.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line "), "{}", String::from_utf8_lossy(&output.stderr));
    let list = json(&cardnet(&["issuer", "card", "list", "--config", &config, "--json"]));
    assert_eq!(list["cards"][0]["ledger_balance_minor"], 7_500);
    let bad_date = cardnet(&["issuer", "postings", "--config", &config, "--date", "2025-02-30"]);
    assert_eq!(bad_date.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
