//! `cardnet switch close-date` and the refusals of `cardnet switch clearing`, as processes: a
//! date closes only after its cut-off, once; clearing refuses a date that is not closed (exit 2,
//! naming it). The files themselves: `switch_clearing_files_cli.rs`.

mod common;

use common::{cardnet, fresh_dir, json};

#[test]
fn a_date_closes_once_after_its_cut_off_and_clearing_refuses_an_open_one() {
    let dir = fresh_dir("switch-eod", "close-date");
    json(&cardnet(&["switch", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = dir.join("switch.toml");
    let config = config.to_str().unwrap();

    // Far in the future: its cut-off has not passed.
    let refused = cardnet(&["switch", "close-date", "--config", config, "--date", "2099-01-01", "--json"]);
    assert_eq!(refused.status.code(), Some(2));
    let answer: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(answer["outcome"], "refused");
    assert!(answer["reason"].as_str().unwrap().contains("cut-off (00:00 +00:00)"), "{answer}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("2099-01-01"));

    let clearing = cardnet(&["switch", "clearing", "--config", config, "--date", "2020-02-03", "--json"]);
    assert_eq!(clearing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&clearing.stderr);
    assert!(stderr.contains("2020-02-03 is not closed"), "{stderr}");

    let closed = json(&cardnet(&["switch", "close-date", "--config", config, "--date", "2020-02-03", "--json"]));
    assert_eq!(closed["outcome"], "closed");
    assert!(closed["closed_ms"].as_u64().unwrap() > 0);
    let again = json(&cardnet(&["switch", "close-date", "--config", config, "--date", "2020-02-03", "--json"]));
    assert_eq!(again["outcome"], "already_closed");
    assert_eq!(again["closed_ms"], closed["closed_ms"], "a closed date never changes");
    let text = cardnet(&["switch", "close-date", "--config", config, "--date", "2020-02-03"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("2020-02-03: already closed"));

    let bad = cardnet(&["switch", "close-date", "--config", config, "--date", "2020-02-30"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--date"));
    let _ = std::fs::remove_dir_all(&dir);
}
