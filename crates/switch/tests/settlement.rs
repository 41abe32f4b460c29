//! Net settlement at the switch, on SQLite and (with CARDNET_TEST_PG) PostgreSQL: positions
//! sum to zero and reach the settlement ledger, the multilateral net settlement account returns
//! to zero, statements add up across dates, a date settles once, totals are exact.

mod eod_support;

use std::collections::BTreeMap;

use clearing::TxnCode;
use eod_support::*;
use switch::settlement::{self, SettlementError, SettlementReport};

fn member<'a>(report: &'a SettlementReport, id: &str, currency: &str) -> &'a settlement::MemberSettlement {
    report.members.iter().find(|m| m.member == id && m.currency == currency).unwrap()
}

fn balance(place_ledger: &mut settlement::SettlementLedger, id: u128) -> i128 {
    place_ledger.lookup_accounts(&[id]).unwrap()[0].credit_balance()
}

#[test]
fn hand_computed_positions_post_to_the_ledger_and_sum_to_zero() {
    for place in Place::all("hand") {
        let db = place.db();
        let mut ledger = place.ledger();
        let d = date("2026-11-21");
        // A ¥100.00 purchase (interchange 35, network fee 3 each side) and a ¥20.00 refund
        // (interchange 7 back, network fee 1 back) between ACQ1 and ISS1.
        let records = vec![
            record(d, 1, TxnCode::Purchase, ACQ1, ISS1, 10_000, CNY, 35, 3),
            record(d, 2, TxnCode::Refund, ACQ1, ISS1, 2_000, CNY, 7, 1),
        ];
        let report = settlement::settle(&db, &mut ledger, d, NETWORK, records).unwrap();
        assert!(!report.already_settled);
        // Purchase: s = 10000 − 35 = 9965; refund: s = −2000 + 7 = −1993; Σs = 7972.
        // Network fees: 3 − 1 = 2 per side. Acquirer 7972 − 2, issuer −7972 − 2, network 4.
        assert_eq!(member(&report, ACQ1, CNY).net_minor, 7_970, "{}", place.name());
        assert_eq!(member(&report, ISS1, CNY).net_minor, -7_974);
        assert_eq!(member(&report, NETWORK, CNY).net_minor, 4);
        assert_eq!(member(&report, ACQ1, CNY).receivable_minor, 8_000);
        assert_eq!(member(&report, ISS1, CNY).payable_minor, 8_000);
        assert_eq!(member(&report, ISS1, CNY).interchange_minor, 28);
        assert_eq!(member(&report, ACQ1, CNY).interchange_minor, -28);
        assert_eq!(member(&report, ACQ1, CNY).network_fee_minor, -2);
        assert_eq!(report.sum_minor(), 0);
        let totals = &report.totals[0];
        assert_eq!((totals.records, totals.debit_total_minor, totals.credit_total_minor), (2, 10_000, 2_000));
        assert_eq!((totals.receives_minor, totals.pays_minor, totals.network_fee_income_minor), (7_974, 7_974, 4));
        // The ledger: each account moved by its position; the net settlement account is flat.
        let acq = settlement::member_account_id(ACQ1, CNY).unwrap();
        let iss = settlement::member_account_id(ISS1, CNY).unwrap();
        let fees = settlement::fee_income_account_id(NETWORK, CNY).unwrap();
        let mns = settlement::multilateral_net_account_id(CNY).unwrap();
        assert_eq!(balance(&mut ledger, acq), 7_970);
        assert_eq!(balance(&mut ledger, iss), -7_974);
        assert_eq!(balance(&mut ledger, fees), 4);
        let net = ledger.lookup_accounts(&[mns]).unwrap()[0];
        assert_eq!((net.debits_posted, net.credits_posted), (7_974, 7_974));
        let transfer = ledger.lookup_transfers(&[settlement::transfer_id(d, ISS1, CNY)]).unwrap();
        assert_eq!(transfer[0].transfer.amount, 7_974);
        assert_eq!((transfer[0].transfer.debit_account_id, transfer[0].transfer.credit_account_id), (iss, mns));
    }
}

#[test]
fn a_generated_day_settles_with_exact_totals_in_two_currencies() {
    for place in Place::all("day") {
        let db = place.db();
        let mut ledger = place.ledger();
        let d = date("2026-11-22");
        let records = day(d, 1, 3_000, 7);
        // The expectation, computed here from the records independently of the crate.
        let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut debit: BTreeMap<String, u64> = BTreeMap::new();
        for r in &records {
            *expected.entry((r.acquirer.to_string(), r.currency.as_str().to_owned())).or_default() +=
                r.settlement_minor - r.network_fee_minor;
            *expected.entry((r.issuer.to_string(), r.currency.as_str().to_owned())).or_default() +=
                -r.settlement_minor - r.network_fee_minor;
            *expected.entry((NETWORK.to_owned(), r.currency.as_str().to_owned())).or_default() +=
                2 * r.network_fee_minor;
            if r.code.direction() > 0 {
                *debit.entry(r.currency.as_str().to_owned()).or_default() += r.amount_minor;
            }
        }
        let report = settlement::settle(&db, &mut ledger, d, NETWORK, records.clone()).unwrap();
        let got: BTreeMap<(String, String), i64> =
            report.members.iter().map(|m| ((m.member.clone(), m.currency.clone()), m.net_minor)).collect();
        assert_eq!(got, expected, "{}", place.name());
        for t in &report.totals {
            assert_eq!(t.sum_minor, 0);
            assert_eq!(t.receives_minor, t.pays_minor);
            assert_eq!(t.debit_total_minor, debit[&t.currency]);
            let in_currency: Vec<_> = report.members.iter().filter(|m| m.currency == t.currency).collect();
            assert_eq!(in_currency.iter().map(|m| m.net_minor).sum::<i64>(), 0);
            let mns = settlement::multilateral_net_account_id(&t.currency).unwrap();
            let net = ledger.lookup_accounts(&[mns]).unwrap()[0];
            assert_eq!(net.debits_posted, net.credits_posted, "back to zero");
            assert_eq!(net.credits_posted as i64, t.pays_minor);
        }
        assert_eq!(report.totals.iter().map(|t| t.records).sum::<u64>(), 3_000);
        // The ledger's own invariant: per ledger, debits equal credits.
        for totals in ledger::Store::ledger_totals(ledger.store()).unwrap() {
            assert_eq!(totals.debits_posted, totals.credits_posted);
        }
    }
}

#[test]
fn statements_close_at_opening_plus_movement_across_dates() {
    for place in Place::all("statements") {
        let db = place.db();
        let mut ledger = place.ledger();
        let d1 = date("2026-11-21");
        let d2 = d1.next();
        let first = settlement::settle(&db, &mut ledger, d1, NETWORK, day(d1, 1, 400, 1)).unwrap();
        let second = settlement::settle(&db, &mut ledger, d2, NETWORK, day(d2, 1, 400, 2)).unwrap();
        for statement in first.statements() {
            assert_eq!(statement.opening_minor, 0, "first date opens at zero");
            assert_eq!(statement.closing_minor, statement.opening_minor + statement.movement_minor);
        }
        for statement in second.statements() {
            assert_eq!(statement.closing_minor, statement.opening_minor + statement.movement_minor);
            let before = first
                .statements()
                .into_iter()
                .find(|s| s.member == statement.member && s.currency == statement.currency);
            assert_eq!(statement.opening_minor, before.map_or(0, |s| s.closing_minor), "{}", place.name());
            let id = if statement.member == NETWORK {
                settlement::fee_income_account_id(NETWORK, &statement.currency).unwrap()
            } else {
                settlement::member_account_id(&statement.member, &statement.currency).unwrap()
            };
            assert_eq!(balance(&mut ledger, id), i128::from(statement.closing_minor), "the bank agrees");
        }
        assert_eq!(settlement::settled_dates(&db).unwrap(), vec![d1, d2]);
    }
}

#[test]
fn resettling_a_date_moves_nothing_and_says_already_settled() {
    for place in Place::all("resettle") {
        let db = place.db();
        let mut ledger = place.ledger();
        let d = date("2026-11-21");
        let records = day(d, 1, 200, 3);
        let first = settlement::settle(&db, &mut ledger, d, NETWORK, records.clone()).unwrap();
        let acq = settlement::member_account_id(ACQ1, CNY).unwrap();
        let before = ledger.lookup_accounts(&[acq]).unwrap()[0];
        let again = settlement::settle(&db, &mut ledger, d, NETWORK, records.clone()).unwrap();
        assert!(again.already_settled, "{}", place.name());
        assert_eq!(again.members, first.members);
        assert_eq!(again.totals, first.totals);
        assert_eq!(ledger.lookup_accounts(&[acq]).unwrap()[0], before, "nothing moved twice");
        // Other records for a settled date are refused, not posted.
        let mut changed = records.clone();
        changed[0].amount_minor += 1;
        changed[0].settlement_minor += changed[0].code.direction();
        let refused = settlement::settle(&db, &mut ledger, d, NETWORK, changed).unwrap_err();
        assert!(matches!(refused, SettlementError::Conflict(_)), "{refused}");
        assert_eq!(ledger.lookup_accounts(&[acq]).unwrap()[0], before);
        // A fresh switch database over the same ledger (the ledger committed, the table did not:
        // a crash between the two) finds the date's transfers and moves nothing again.
        drop(db);
        let other = Place::sqlite(&format!("resettle-fresh-{}", place.name()));
        let fresh_db = other.db();
        let recovered = settlement::settle(&fresh_db, &mut ledger, d, NETWORK, records).unwrap();
        assert!(!recovered.already_settled);
        assert_eq!(ledger.lookup_accounts(&[acq]).unwrap()[0], before, "no second movement");
        for (a, b) in recovered.members.iter().zip(&first.members) {
            assert_eq!(
                (a.net_minor, a.opening_minor, a.closing_minor),
                (b.net_minor, b.opening_minor, b.closing_minor)
            );
        }
    }
}

#[test]
fn bad_records_are_refused_by_reference_and_nothing_posts() {
    let place = Place::sqlite("bad");
    let db = place.db();
    let mut ledger = place.ledger();
    let d = date("2026-11-21");
    let cases: Vec<(Vec<clearing::ClearingRecord>, &str)> = vec![
        (
            vec![record(d.next(), 9, TxnCode::Purchase, ACQ1, ISS1, 100, CNY, 0, 0)],
            "record 9 of 2026-11-21: it is of date 2026-11-22",
        ),
        (vec![record(d, 9, TxnCode::Purchase, "101", ISS1, 100, CNY, 0, 0)], "acquirer \"101\""),
        (vec![record(d, 9, TxnCode::Purchase, ACQ1, NETWORK, 100, CNY, 0, 0)], "issuer is the network"),
        (
            vec![
                record(d, 9, TxnCode::Purchase, ACQ1, ISS1, 100, CNY, 0, 0),
                record(d, 9, TxnCode::Purchase, ACQ1, ISS1, 100, CNY, 0, 0),
            ],
            "record 9 appears twice",
        ),
        (vec![record(d, 9, TxnCode::Purchase, ACQ1, ISS1, 10_000_000_000_000, CNY, 0, 0)], "above 999999999999"),
        (
            vec![clearing::ClearingRecord {
                settlement_minor: i64::MIN,
                ..record(d, 9, TxnCode::Purchase, ACQ1, ISS1, 100, CNY, 0, 0)
            }],
            "above 999999999999",
        ),
    ];
    for (records, expected) in cases {
        let error = settlement::settle(&db, &mut ledger, d, NETWORK, records).unwrap_err();
        assert!(matches!(error, SettlementError::Input(_)), "{error}");
        assert!(error.to_string().contains(expected), "{error} lacks {expected:?}");
    }
    assert!(!settlement::is_settled(&db, d).unwrap());
    assert!(ledger.lookup_accounts(&[settlement::multilateral_net_account_id(CNY).unwrap()]).unwrap().is_empty());
}

#[test]
fn an_empty_date_settles_with_nothing_to_move() {
    let place = Place::sqlite("empty");
    let db = place.db();
    let mut ledger = place.ledger();
    let d = date("2026-11-21");
    let report = settlement::settle(&db, &mut ledger, d, NETWORK, Vec::new()).unwrap();
    assert!(report.members.is_empty() && report.totals.is_empty());
    assert!(settlement::is_settled(&db, d).unwrap());
    assert!(settlement::settle(&db, &mut ledger, d, NETWORK, Vec::new()).unwrap().already_settled);
}

#[test]
fn report_and_statement_files_are_owner_only_and_add_up() {
    let place = Place::sqlite("files");
    let db = place.db();
    let mut ledger = place.ledger();
    let d = date("2026-11-21");
    let report = settlement::settle(&db, &mut ledger, d, NETWORK, day(d, 1, 50, 5)).unwrap();
    let out = place.dir().join("settlement").join(d.to_string());
    let written = settlement::write_settlement_files(&report, &out).unwrap();
    assert_eq!(written.len(), 2 + 2 * report.members.len());
    for path in &written {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{}", path.display());
        }
        assert!(!std::fs::read_to_string(path).unwrap().contains("6224242900000113"), "no full PAN");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("settlement-report.json")).unwrap()).unwrap();
    assert_eq!(json["sum_minor"], 0);
    let members = json["members"].as_array().unwrap();
    assert_eq!(members.len(), report.members.len());
    assert_eq!(members.iter().map(|m| m["net_minor"].as_i64().unwrap()).sum::<i64>(), 0);
    let csv = std::fs::read_to_string(out.join(format!("statement-{ACQ1}-{CNY}.csv"))).unwrap();
    let line: Vec<i64> = csv.lines().nth(1).unwrap().split(',').skip(3).map(|v| v.parse().unwrap()).collect();
    assert_eq!(line[2], line[0] + line[1], "closing = opening + movement");
    let text = std::fs::read_to_string(out.join("settlement-report.txt")).unwrap();
    assert!(text.contains(ACQ1) && text.contains("sum 0"), "{text}");
    // A rerun (already settled) writes the same bytes.
    let again = settlement::settle(&db, &mut ledger, d, NETWORK, day(d, 1, 50, 5)).unwrap();
    let before = std::fs::read(out.join("settlement-report.json")).unwrap();
    settlement::write_settlement_files(&again, &out).unwrap();
    assert_eq!(std::fs::read(out.join("settlement-report.json")).unwrap(), before);
}

#[test]
fn a_reading_error_midway_settles_nothing() {
    let place = Place::sqlite("readerror");
    let db = place.db();
    let mut ledger = place.ledger();
    let d = date("2026-11-21");
    let mut read: Vec<Result<clearing::ClearingRecord, String>> = day(d, 1, 100, 9).into_iter().map(Ok).collect();
    read.insert(60, Err("clearing-00000000201.csv: line 62: bad checksum".into()));
    let error = settlement::settle_read(&db, &mut ledger, d, NETWORK, read).unwrap_err();
    assert!(error.to_string().contains("line 62: bad checksum"), "{error}");
    assert!(!settlement::is_settled(&db, d).unwrap());
    let mns = settlement::multilateral_net_account_id(CNY).unwrap();
    assert!(ledger.lookup_accounts(&[mns]).unwrap().is_empty(), "the ledger was not touched");
}
