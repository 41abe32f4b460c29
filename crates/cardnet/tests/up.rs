//! `cardnet up` with real processes (issue 17): the first start writes and seeds the network
//! through the real paths and runs every party as its own process; a seeded terminal signs on
//! and sells with a seeded card and its PIN; `cardnet up cards` lists the cards masked; Ctrl-C
//! stops every party; the second start comes up on the same data without seeding again.

#![cfg(unix)]

mod common;

use std::path::Path;

use common::up::{stop, up};
use serde_json::Value;

fn pos(dir: &Path, args: &[&str]) -> Value {
    common::up::pos(dir, "POS00001", args)
}

#[test]
fn up_seeds_runs_and_stops_the_whole_network() {
    let dir = common::fresh_dir("up", "data");
    let (child, summary) = up(&dir);
    let names: Vec<&str> = summary["parties"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["issuer-a", "issuer-b", "switch", "acquirer", "acquirer-b"], "{summary}");
    let acquirers: std::collections::BTreeSet<&str> =
        summary["merchants"].as_array().unwrap().iter().map(|m| m["acquirer"].as_str().unwrap()).collect();
    assert_eq!(acquirers.len(), 2, "merchants at both acquirers: {summary}");
    assert_eq!(summary["merchants"].as_array().unwrap().len(), 4, "{summary}");
    assert_eq!(summary["terminals"].as_array().unwrap().len(), 8, "{summary}");
    for party in summary["parties"].as_array().unwrap() {
        let admin = party["admin"].as_str().unwrap_or_else(|| panic!("no admin endpoint: {party}"));
        let address = admin.trim_start_matches("http://").parse().unwrap();
        let (status, _) = metrics::probe::get(address, "/healthz").unwrap();
        assert_eq!(status, 200, "{party}");
    }

    // The console beside the parties: its /metrics covers the whole network.
    let console = summary["console"].as_str().unwrap().trim_start_matches("http://").parse().unwrap();
    assert_eq!(metrics::probe::get(console, "/login").unwrap().0, 200);
    let (status, page) = metrics::probe::get(console, "/metrics").unwrap();
    assert_eq!(status, 200);
    let page = metrics::parse::parse(&page).unwrap();
    for party in ["issuer-a", "issuer-b", "switch", "acquirer", "acquirer-b"] {
        assert_eq!(page.value("cardnet_console_party_up", &[("instance", party)]), Some(1.0), "{party}");
        assert!(page.value("cardnet_batches_total", &[("instance", party)]).is_some(), "{party}'s own series");
    }
    let users = summary["console_users"].as_array().unwrap();
    assert_eq!(users.len(), 5, "an operator and one per merchant: {users:?}");
    let cards = common::json(&common::cardnet(&["up", "cards", "--dir", dir.to_str().unwrap(), "--json"]));
    let cards = cards["cards"].as_array().unwrap().clone();
    assert_eq!(cards.len(), 12, "six cards at each of two issuers");
    let first = &cards[0];
    assert!(first["pan"].as_str().unwrap().contains("******"), "masked unless --show-pan: {first}");
    let card_file = first["card_file"].as_str().unwrap().to_owned();
    let pin = first["pin"].as_str().unwrap().to_owned();

    assert_eq!(pos(&dir, &["sign-on"])["response_code"], "00");
    let sale = pos(&dir, &["sale", "--amount", "12.50", "--card-file", &card_file, "--entry", "chip", "--pin", &pin]);
    assert_eq!(sale["response_code"], "00", "{sale}");
    stop(child, &dir);

    // The second start: the same network, not seeded again; the sale is in the open batch.
    let (child, again) = up(&dir);
    assert_eq!(again["merchants"], summary["merchants"]);
    let journal = pos(&dir, &["journal"]);
    assert!(journal.to_string().contains(sale["rrn"].as_str().unwrap()), "{journal}");
    let balance = pos(&dir, &["balance", "--card-file", &card_file, "--entry", "chip", "--pin", &pin]);
    assert_eq!(balance["response_code"], "00", "the network answers after a restart: {balance}");
    stop(child, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_folder_with_an_unfinished_first_start_is_refused() {
    let dir = common::fresh_dir("up", "unfinished");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("switch.toml"), "").unwrap();
    let out = common::cardnet(&["up", "--dir", dir.to_str().unwrap(), "--port", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not finish"), "{out:?}");
    let bad = common::cardnet(&["up", "--dir", dir.to_str().unwrap(), "--database-url", "mysql://x"]);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
