//! `cardnet demo`, the business day, with real processes (issue 17): a small day (six
//! terminals, a dozen transactions each, both issuers stopped for a while) goes through end of
//! day with every bank's ledger balanced, the banks' net positions summing to zero, every
//! terminal settled and reconciliation fully matched; the mix shows sales by chip, tap and
//! swipe, follow-ups and declines; the temporary folder is gone afterwards.

#![cfg(unix)]

mod common;

use std::process::{Command, Stdio};

#[test]
fn a_small_business_day_settles_and_reconciles() {
    let tmp = common::fresh_dir("demo-day", "tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(["demo", "--terminals", "6", "--transactions", "12", "--seed", "7", "--json"])
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let day = common::json(&output);
    assert_eq!(day["transactions_total"], 72, "{day}");
    assert_eq!(day["terminals_settled"], 6, "{day}");
    assert_eq!(day["ledgers_balanced"], true);
    assert_eq!(day["reconciliation"]["unmatched"], 0, "{}", day["reconciliation"]);
    assert!(day["reconciliation"]["matched"].as_u64().unwrap() > 0);
    let positions: i64 =
        day["net_positions"].as_array().unwrap().iter().map(|m| m["net_minor"].as_i64().unwrap()).sum();
    assert_eq!(positions, 0, "what the banks pay is what they receive: {}", day["net_positions"]);
    assert!(day["approved"].as_u64().unwrap() >= 36, "most of the day approved: {day}");
    let kinds: std::collections::BTreeSet<&str> =
        day["transactions"].as_array().unwrap().iter().map(|r| r["transaction"].as_str().unwrap()).collect();
    assert!(kinds.len() >= 6, "a counter's mix: {kinds:?}");
    // Each acquirer's payouts tie to its own position at the switch.
    let merchant_settlement = &day["end_of_day"]["steps"]["merchant_settlement"];
    assert_eq!(merchant_settlement["tie_ok"], true, "{merchant_settlement}");
    let acquirers = merchant_settlement["acquirers"].as_array().unwrap();
    assert_eq!(acquirers.len(), 2, "{merchant_settlement}");
    assert!(acquirers.iter().all(|a| a["tie_ok"] == true), "{merchant_settlement}");
    let payouts = day["merchant_payouts"].as_array().unwrap();
    assert!(!payouts.is_empty() && day["fees_minor"].as_i64().unwrap() > 0, "{day}");
    // Every party's /metrics, scraped and parsed at the end of the day, moved with it.
    for party in ["issuer-a", "issuer-b", "switch", "acquirer"] {
        let figures = &day["metrics"][party];
        assert!(figures["responses_total"].as_u64().unwrap_or(0) > 0, "{party}: {figures}");
        assert!(figures["approvals_total"].as_u64().unwrap_or(0) > 0, "{party}: {figures}");
        assert!(figures["batches_total"].as_u64().unwrap_or(0) > 0, "{party}: {figures}");
    }
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "the demo's temporary folder is removed");
    let _ = std::fs::remove_dir_all(&tmp);
}
