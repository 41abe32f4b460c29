//! `cardnet switch settle` over real clearing files (DIR/YYYY-MM-DD/clearing-<member>.csv as
//! `cardnet switch clearing` writes them): each record once, from its acquirer's file; JSON per
//! member with `net_minor`, `sum_minor` = 0; a rerun is `already_settled`; owner-only reports.
//!
//! Needs `clearing::file::Writer` and `Reader` (implemented on the clearing-file branch): run
//! after the merge.

mod common;

use std::path::Path;

use clearing::file::{Form, Header, Writer};
use clearing::{BusinessDate, CardKind, ClearingRecord, TxnCode};
use common::{cardnet, json};

const ACQ: &str = switch::dev::ACQUIRER_ID;
const ISS: &str = switch::dev::ISSUER_ID;

fn record(
    date: BusinessDate,
    reference: u64,
    code: TxnCode,
    amount_minor: u64,
    interchange: i64,
    fee: i64,
) -> ClearingRecord {
    let direction = code.direction();
    ClearingRecord {
        date,
        reference,
        code,
        acquirer: ACQ.parse().unwrap(),
        issuer: ISS.parse().unwrap(),
        stan: Some(format!("{reference:06}").parse().unwrap()),
        transmission_time: "1121100000".into(),
        issuer_stan: Some(format!("{:06}", reference + 500).parse().unwrap()),
        issuer_time: "1121100001".into(),
        pan_masked: "622424******0113".into(),
        card_hash: "ab".repeat(16),
        card_kind: CardKind::Debit,
        amount_minor,
        currency: "156".parse().unwrap(),
        mcc: "5411".into(),
        terminal_id: Some("T0000001".parse().unwrap()),
        merchant_id: Some("M00000000000001".parse().unwrap()),
        rrn: Some(format!("{reference:012}").parse().unwrap()),
        auth_code: "123456".into(),
        original_stan: None,
        original_time: String::new(),
        original_reference: 0,
        interchange_fee_minor: direction * interchange,
        network_fee_minor: direction * fee,
        settlement_minor: direction * amount_minor as i64 - direction * interchange,
        stand_in: false,
        late: false,
    }
}

/// One member's file of `records` (those it is a party to), as `switch clearing` writes it.
fn write_file(folder: &Path, member: &str, date: BusinessDate, records: &[ClearingRecord]) {
    std::fs::create_dir_all(folder).unwrap();
    let file = std::fs::File::create(folder.join(format!("clearing-{member}.csv"))).unwrap();
    let header = Header { network: switch::dev::SWITCH_ID.into(), member: member.into(), date };
    let mut writer = Writer::new(std::io::BufWriter::new(file), Form::Csv, &header).unwrap();
    for r in records.iter().filter(|r| r.acquirer == member || r.issuer == member) {
        writer.write(r).unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn settle_reads_each_record_once_and_settles_the_date_once() {
    let dir = common::fresh_dir("switch-settle", "files");
    let init = json(&cardnet(&["switch", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = init["config"].as_str().unwrap().to_owned();
    let date = BusinessDate::parse("2026-11-21").unwrap();
    let records =
        vec![record(date, 1, TxnCode::Purchase, 10_000, 35, 3), record(date, 2, TxnCode::Refund, 2_000, 7, 1)];
    let folder = dir.join("clearing").join("2026-11-21");
    write_file(&folder, ACQ, date, &records);
    write_file(&folder, ISS, date, &records);
    let first = json(&cardnet(&["switch", "settle", "--config", &config, "--date", "2026-11-21", "--json"]));
    assert_eq!(first["sum_minor"], 0);
    assert_eq!(first["already_settled"], false);
    let net = |report: &serde_json::Value, member: &str| {
        report["members"].as_array().unwrap().iter().find(|m| m["member"] == member).unwrap()["net_minor"]
            .as_i64()
            .unwrap()
    };
    // Read once (from the acquirer's file): 9965 − 1993 = 7972, fees 2 per side.
    assert_eq!((net(&first, ACQ), net(&first, ISS), net(&first, switch::dev::SWITCH_ID)), (7_970, -7_974, 4));
    assert_eq!(first["members"][0]["currency"], "156");
    let again = json(&cardnet(&["switch", "settle", "--config", &config, "--date", "2026-11-21", "--json"]));
    assert_eq!(again["already_settled"], true);
    assert_eq!(net(&again, ACQ), 7_970);
    let report = dir.join("settlement").join("2026-11-21").join("settlement-report.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&report).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let text = cardnet(&["switch", "settle", "--config", &config, "--date", "2026-11-21"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("settled before"));
    // A record whose acquirer has no file is refused, and nothing is settled.
    let lonely = dir.join("clearing").join("2026-11-22");
    let next = date.next();
    write_file(&lonely, ISS, next, &[record(next, 3, TxnCode::Purchase, 500, 2, 0)]);
    let refused = cardnet(&["switch", "settle", "--config", &config, "--date", "2026-11-22"]);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("has no clearing file"));
    let _ = std::fs::remove_dir_all(dir);
}
