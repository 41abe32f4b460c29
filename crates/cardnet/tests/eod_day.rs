//! Issue 13's end-to-end acceptance: a business day through the real processes (`cardnet serve`
//! for two issuers, the switch and the acquirer; `cardnet pos run` as the terminal) with every
//! transaction type — chip, swipe and tap sales, a void, a partial refund, a pre-authorization
//! completed for less, a pre-authorization voided, an answer lost on its way to the terminal and
//! reversed by it, a completion the switch stood in for while bank B was down (its advice
//! delivered once B was back) — settled at the terminal, then `cardnet eod run` over the network folder:
//! the switch closes the date and clears it, settles the banks, each issuer posts its file, the
//! acquirer pays its merchant, and reconciliation reads every source afresh.
//!
//! The parties run on the system clock, so the date is closed early at the switch while the
//! network runs (`cardnet switch close-date --early`, an operator's forced cut-over); a sale after
//! it is a late item: it belongs to the next date, marked late, and that date goes through end of
//! day too.

#![cfg(unix)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::till::{Till, WAIT};
use common::{ProcessNetwork, cardnet, json};
use serde_json::Value;
use testnet::relay::{FrameRelay, Mode};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn approved(outcome: &Value, amount_minor: u64) {
    assert_eq!((&outcome["approved"], &outcome["response_code"]), (&Value::Bool(true), &"00".into()), "{outcome}");
    assert_eq!(outcome["amount_minor"], amount_minor, "{outcome}");
}

/// The switch's database URL (its configuration, resolved).
fn switch_database(config: &str) -> String {
    switch::SwitchConfig::load(std::path::Path::new(config)).unwrap().database
}

/// The one detail record of `date`'s acquirer clearing file whose card starts with `bin` and
/// whose amount is `amount_minor`.
fn clearing_detail(dir: &std::path::Path, date: &str, bin: &str, amount_minor: u64) -> clearing::ClearingRecord {
    let file = dir.join("clearing").join(date).join(format!("clearing-{}.txt", testnet::net::ACQUIRER_ID));
    let (_, records, _) =
        clearing::file::read_all(std::io::BufReader::new(std::fs::File::open(file).unwrap())).unwrap();
    let mut found = records.into_iter().filter(|r| r.pan_masked.starts_with(bin) && r.amount_minor == amount_minor);
    let record = found.next().expect("the record");
    assert!(found.next().is_none(), "one record");
    record
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("text: {value}")).to_owned()
}

#[test]
fn a_business_day_through_end_of_day_leaves_every_party_agreeing() {
    let network = ProcessNetwork::set_up("eod-day");
    let credit = network.issue_card("credit", None, None);
    // A credit card at bank B, for whom the switch stands in (its link down: no PIN, limits).
    let issue = ["issuer", "card", "issue", "--config", &network.issuer_b, "--product", "credit", "--json"];
    let b_card = json(&cardnet(&issue));
    let mut servers = network.start();
    assert!(network.wait_listening(WAIT), "every party listens");
    let date = clearing::BusinessDate::of_utc_ms(now_ms());
    let relay = FrameRelay::start(&network.acquirer_listen()).unwrap();
    let (config, debit_file) = network.terminal_files_via("POS00001", relay.address(), 5_000);
    let credit_file = network.dir.join("credit.json");
    std::fs::write(&credit_file, credit.to_string()).unwrap();
    let credit_file = credit_file.display().to_string();
    let b_file = network.dir.join("bank-b.json");
    std::fs::write(&b_file, b_card.to_string()).unwrap();
    let b_file = b_file.display().to_string();
    let mut till = Till::new(config);
    till.run(&["sign-on"]);
    till.wait_ready(&debit_file);

    // Sales by chip, swipe (the chip failed) and tap; the swipe voided; part of the chip refunded.
    let chip = till.run(&["sale", "--amount", "100.00", "--card-file", &debit_file, "--entry", "chip"]);
    approved(&chip, 10_000);
    let swipe =
        till.run(&["sale", "--amount", "50.00", "--card-file", &debit_file, "--entry", "swipe", "--chip-fails"]);
    approved(&swipe, 5_000);
    let tap = till.run(&["sale", "--amount", "30.00", "--card-file", &credit_file, "--entry", "tap"]);
    approved(&tap, 3_000);
    approved(&till.supervised(&["void", "--trace", &text(&swipe["trace"])]), 5_000);
    let refund = ["refund", "--amount", "20.00", "--trace", &text(&chip["trace"]), "--card-file", &debit_file];
    approved(&till.supervised(&[&refund[..], &["--chip-fails"]].concat()), 2_000);
    // A pre-authorization completed for less; another voided.
    let hotel = till.run(&["pre-auth", "--amount", "80.00", "--card-file", &credit_file, "--entry", "tap"]);
    approved(&hotel, 8_000);
    approved(&till.run(&["completion", "--trace", &text(&hotel["trace"]), "--amount", "60.00"]), 6_000);
    let deposit = till.run(&["pre-auth", "--amount", "10.00", "--card-file", &debit_file, "--entry", "chip"]);
    approved(&deposit, 1_000);
    approved(&till.supervised(&["pre-auth-void", "--trace", &text(&deposit["trace"])]), 1_000);
    // Bank B down: the switch stands in for a completion (no PIN) and queues its advice; B back
    // on its address, the advice delivered, B's card shows the completion.
    let car = till.run(&["pre-auth", "--amount", "50.00", "--card-file", &b_file, "--entry", "tap"]);
    approved(&car, 5_000);
    network.stop_party(&mut servers, 1);
    let stood_in = till.run(&["completion", "--trace", &text(&car["trace"]), "--amount", "30.00"]);
    approved(&stood_in, 3_000);
    network.restart_party(&mut servers, 1);
    let b_id = b_card["card_id"].as_i64().unwrap();
    let b_start = b_card["available_minor"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let list = json(&cardnet(&["issuer", "card", "list", "--config", &network.issuer_b, "--json"]));
        let card = list["cards"].as_array().unwrap().iter().find(|c| c["card_id"] == b_id).cloned().unwrap();
        if card["available_minor"].as_i64() == Some(b_start - 3_000) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the stand-in advice never reached bank B: {card}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // An approval lost on its way to the terminal: the next run reverses it first.
    relay.set(Mode::CutNextAnswer);
    let lost = till.run(&["sale", "--amount", "40.00", "--card-file", &debit_file, "--entry", "chip"]);
    assert_eq!(text(&lost["reversal_pending"]), "98", "{lost}");
    approved(&till.run(&["sale", "--amount", "5.00", "--card-file", &credit_file, "--entry", "tap"]), 500);
    let settled = till.supervised(&["settle"]);
    assert_eq!(settled["domestic_balanced"], true, "{settled}");
    // Let the acquirer's network reversal reach the switch and the issuer before the cut-over.
    std::thread::sleep(Duration::from_secs(2));

    // The operator closes the date now; a sale after it is late: the next date's.
    let dir = network.dir.display().to_string();
    let day = date.to_string();
    let next_day = date.next().to_string();
    let closed = json(&cardnet(&[
        "switch",
        "close-date",
        "--config",
        &network.switch_config,
        "--date",
        &day,
        "--early",
        "--json",
    ]));
    assert_eq!(closed["outcome"], "closed", "{closed}");
    let late = till.run(&["sale", "--amount", "12.00", "--card-file", &credit_file, "--entry", "tap"]);
    approved(&late, 1_200);
    let settled = till.supervised(&["settle"]);
    assert_eq!(settled["domestic_balanced"], true, "{settled}");
    // End of day refuses to run under a serving party (bank B, restarted on its address).
    let early = cardnet(&["eod", "run", "--dir", &dir, "--date", &day, "--json"]);
    assert_eq!(early.status.code(), Some(2), "{early:?}");
    assert!(String::from_utf8_lossy(&early.stderr).contains("is running"), "{early:?}");
    for exit in servers.stop() {
        assert!(exit.success(), "a graceful stop: {exit:?}");
    }

    let eod = json(&cardnet(&["eod", "run", "--dir", &dir, "--date", &day, "--json"]));
    let steps = &eod["steps"];
    assert_eq!(steps["cutoff"]["status"], "already_done", "closed by the operator: {eod}");
    for step in ["clearing", "settlement", "issuer_posting", "merchant_settlement", "reconciliation"] {
        assert_eq!(steps[step]["status"], "done", "{step}: {eod}");
    }
    // Ten records (each in its acquirer's and its issuer's file); the late sale is not among them.
    assert_eq!((&steps["clearing"]["records"], &steps["clearing"]["file_records"]), (&10.into(), &20.into()), "{eod}");

    // Bank B's clearing file: the stand-in completion, flagged.
    let b_csv =
        std::fs::read_to_string(network.dir.join("clearing").join(&day).join("clearing-20000000566.csv")).unwrap();
    let columns: Vec<&str> = b_csv.lines().find(|l| l.starts_with("record_type")).unwrap().split(',').collect();
    let stand_in = columns.iter().position(|c| *c == "stand_in").expect("a stand_in column");
    let b_records: Vec<Vec<&str>> =
        b_csv.lines().filter(|l| l.starts_with("D,")).map(|l| l.split(',').collect()).collect();
    assert_eq!(b_records.len(), 1, "{b_csv}");
    assert_eq!((b_records[0][3], b_records[0][stand_in]), ("CMP", "Y"), "{b_csv}");

    // Net positions sum to zero (one currency).
    let members = eod["members"].as_array().expect("members");
    assert!(members.len() >= 3, "acquirer, issuers and the network: {eod}");
    let sum: i64 = members.iter().map(|m| m["net_minor"].as_i64().unwrap()).sum();
    assert_eq!(sum, 0, "{eod}");

    // The merchant: gross − voids − refunds − MDR (debit 0.50 %, credit 0.60 %) = net.
    let merchants = eod["merchants"].as_array().expect("merchants");
    assert_eq!(merchants.len(), 1, "{eod}");
    let merchant = &merchants[0];
    let (gross, fee, net) = (
        merchant["gross_minor"].as_i64().unwrap(),
        merchant["fee_minor"].as_i64().unwrap(),
        merchant["net_minor"].as_i64().unwrap(),
    );
    // Cleared purchases: chip 100.00 (debit), tap 30.00 + 5.00 (credit), completions 60.00 and
    // 30.00 (credit, the second by stand-in); the void, the pre-authorization void and the
    // reversal cancel theirs; the refund gives back no fee.
    let expected_fee = (10_000 * 50 + 5_000) / 10_000
        + (3_000 * 60 + 5_000) / 10_000
        + (500 * 60 + 5_000) / 10_000
        + (6_000 * 60 + 5_000) / 10_000
        + (3_000 * 60 + 5_000) / 10_000;
    assert_eq!(fee, expected_fee, "{merchant}");
    assert_eq!(net, 10_000 + 3_000 + 500 + 6_000 + 3_000 - 2_000 - expected_fee, "{merchant}");
    assert!(gross >= net + fee, "{merchant}");
    assert_eq!(steps["merchant_settlement"]["tie_ok"], true, "payouts + fee income = the acquirer's position: {eod}");

    // Every approval ended once: the issuer posted the live purchases, nothing forced, nothing
    // duplicated, no hold left standing.
    let posting = &steps["issuer_posting"];
    for issuer in posting["issuers"].as_array().unwrap() {
        let outcomes = &issuer["outcomes"];
        for bad in ["force_posted", "duplicate", "state_mismatch", "unmatched", "rejected"] {
            assert!(outcomes.get(bad).is_none(), "{bad}: {issuer}");
        }
    }

    // Reconciliation matched everything.
    let recon = &eod["reconciliation"];
    assert_eq!(recon["unmatched"], 0, "{recon}");
    assert!(recon["matched"].as_u64().unwrap() > 0, "{recon}");

    // Each step again: safe, and says so.
    let again = json(&cardnet(&["eod", "run", "--dir", &dir, "--date", &day, "--json"]));
    for step in ["cutoff", "clearing", "settlement", "issuer_posting", "merchant_settlement"] {
        assert_eq!(again["steps"][step]["status"], "already_done", "{step}: {again}");
    }
    assert_eq!(again["members"], eod["members"]);

    // An exception (差错) found on the closed date — say the merchant's customer was charged for
    // the 5.00 tap sale twice at the till — resolved by a credit adjustment: it clears on the
    // next open date as its own record and moves money back through every ledger.
    let db = switch::settlement::open_database(&switch_database(&network.switch_config)).unwrap();
    let tap_record = clearing_detail(&network.dir, &day, "622424", 500);
    let opened = switch::disputes::open_exceptions(
        &db,
        &[switch::disputes::NewException {
            date,
            class: switch::disputes::ExceptionClass::AmountMismatch,
            record: switch::disputes::ExceptionRecord::from_clearing(&tap_record),
            note: "the cardholder was charged twice at the till".into(),
        }],
        "test",
        now_ms(),
    )
    .unwrap();
    let id = opened[0].id.to_string();
    let resolve = ["dispute", "resolve", &id, "--config", &network.switch_config, "--action", "credit_adjustment"];
    let resolved =
        json(&cardnet(&[&resolve[..], &["--by", "ops", "--reason", "refund the double charge", "--json"]].concat()));
    assert_eq!(resolved["clearing_record"]["date"], next_day, "the next open date: {resolved}");
    assert_eq!(resolved["clearing_record"]["code"], "CAJ", "{resolved}");

    // The next date: the late sale, cleared marked late, and the adjustment, through end of day.
    let next = json(&cardnet(&["eod", "run", "--dir", &dir, "--date", &next_day, "--early", "--json"]));
    assert_eq!(next["steps"]["clearing"]["records"], 2, "the late sale and the adjustment: {next}");
    assert_eq!(next["reconciliation"]["unmatched"], 0, "{next}");
    let resolutions = &next["steps"]["reconciliation"]["resolutions"];
    assert_eq!((&resolutions["records"], &resolutions["unmatched"]), (&1.into(), &0.into()), "{next}");
    // The merchant gives the double charge back; the issuer credits the card.
    assert_eq!(next["merchants"][0]["adjustments_minor"], -500, "{next}");
    let b_posting = &next["steps"]["issuer_posting"]["issuers"][0]["outcomes"];
    assert_eq!(b_posting["credited"]["moved_minor"], 500, "{next}");
    let sum: i64 = next["members"].as_array().unwrap().iter().map(|m| m["net_minor"].as_i64().unwrap()).sum();
    assert_eq!(sum, 0, "{next}");
    let file = network.dir.join("clearing").join(&next_day).join(format!("clearing-{}.csv", testnet::net::ACQUIRER_ID));
    let csv = std::fs::read_to_string(&file).unwrap();
    let header: Vec<&str> = csv.lines().find(|l| l.starts_with("record_type")).unwrap().split(',').collect();
    let late_column = header.iter().position(|c| *c == "late").expect("a late column");
    let detail: Vec<&str> = csv.lines().find(|l| l.starts_with("D,")).unwrap().split(',').collect();
    assert_eq!(detail[late_column], "Y", "the sale after the cut-over is late: {csv}");
    // Both dates cleared: no hold left standing at the issuer.
    let holds = json(&cardnet(&["issuer", "holds", "--config", &network.issuer_a, "--json"]));
    assert_eq!(holds["holds"].as_array().map(Vec::len), Some(0), "no hold left: {holds}");
    let _ = std::fs::remove_dir_all(&network.dir);
}
