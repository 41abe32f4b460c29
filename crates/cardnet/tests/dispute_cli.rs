//! `cardnet dispute list|show|resolve` as an operator runs them: one JSON object with `--json`,
//! the audit trail in `show`, the transition table's refusals and bad input with exit 2.

mod common;

use clearing::{BusinessDate, CardKind};
use common::{cardnet, json};
use switch::disputes::{self, ExceptionClass, ExceptionRecord, NewException};

/// A switch set up with `switch init`, and two exceptions opened as reconciliation opens them.
fn switch_with_exceptions(name: &str) -> (std::path::PathBuf, String) {
    let dir = common::fresh_dir("dispute-cli", name);
    let init = json(&cardnet(&["switch", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = init["config"].as_str().unwrap().to_owned();
    let loaded = switch::SwitchConfig::load(std::path::Path::new(&config)).unwrap();
    let db = switch::settlement::open_database(&loaded.database).unwrap();
    let found = BusinessDate::parse("2026-11-21").unwrap();
    let record = |reference: u64, amount_minor: u64| ExceptionRecord {
        reference,
        acquirer: switch::dev::ACQUIRER_ID.parse().unwrap(),
        issuer: switch::dev::ISSUER_ID.parse().unwrap(),
        amount_minor,
        currency: "156".parse().unwrap(),
        stan: Some("000123".parse().unwrap()),
        transmission_time: "1121100000".into(),
        issuer_stan: Some("000456".parse().unwrap()),
        issuer_time: "1121100001".into(),
        rrn: Some("632510000123".parse().unwrap()),
        auth_code: "123456".into(),
        pan_masked: "622424******0113".into(),
        card_hash: "ab".repeat(16),
        card_kind: CardKind::Debit,
        mcc: "5411".into(),
        terminal_id: Some("T0000001".parse().unwrap()),
        merchant_id: Some("M00000000000001".parse().unwrap()),
    };
    let new = [
        NewException {
            date: found,
            class: ExceptionClass::AmountMismatch,
            record: record(11, 10_000),
            note: "host 100.00, issuer 90.00".into(),
        },
        NewException {
            date: found,
            class: ExceptionClass::MissingAtTerminal,
            record: record(12, 2_500),
            note: String::new(),
        },
    ];
    disputes::open_exceptions(&db, &new, "recon", 1_795_255_200_000).unwrap();
    (dir, config)
}

#[test]
fn an_operator_lists_shows_and_resolves_exceptions() {
    let (dir, config) = switch_with_exceptions("cycle");
    let listed = json(&cardnet(&["dispute", "list", "--config", &config, "--json"]));
    assert_eq!(listed["count"], 2);
    let first = &listed["exceptions"][0];
    assert_eq!((first["class"].as_str(), first["status"].as_str()), (Some("amount_mismatch"), Some("open")));
    assert_eq!(first["amount_minor"], 10_000);
    let id = first["id"].as_u64().unwrap().to_string();

    let resolve = |args: &[&str]| {
        let mut all = vec!["dispute", "resolve", id.as_str(), "--config", config.as_str(), "--by", "ops-wang"];
        all.extend_from_slice(args);
        cardnet(&all)
    };
    let cb = json(&resolve(&[
        "--action",
        "chargeback",
        "--reason",
        "cardholder disputes",
        "--amount",
        "1000",
        "--clearing-date",
        "2026-11-23",
        "--json",
    ]));
    assert_eq!((cb["status"].as_str(), cb["amount_minor"].as_u64()), (Some("chargeback_cycle"), Some(1_000)));
    assert_eq!(cb["clearing_record"]["code"], "CHB");
    assert_eq!(cb["clearing_record"]["settlement_minor"], -1_000);
    assert_eq!(cb["clearing_record"]["date"], "2026-11-23");
    // Not in the table: a second chargeback before any representment.
    let refused = resolve(&["--action", "second_chargeback", "--reason", "again", "--clearing-date", "2026-11-23"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("not allowed") && stderr.contains("representment"), "{stderr}");
    let rp = json(&resolve(&[
        "--action",
        "representment",
        "--reason",
        "signed receipt",
        "--clearing-date",
        "2026-11-24",
        "--json",
    ]));
    assert_eq!(rp["clearing_record"]["settlement_minor"], 1_000);
    let shown = json(&cardnet(&["dispute", "show", &id, "--config", &config, "--json"]));
    let actions: Vec<&str> = shown["audit"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["opened", "chargeback", "representment"]);
    assert_eq!(shown["audit"][1]["by"], "ops-wang");
    assert_eq!(shown["audit"][1]["reason"], "cardholder disputes");
    assert_eq!(shown["pan_masked"], "622424******0113");
    let text = cardnet(&["dispute", "show", &id, "--config", &config]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("representment by ops-wang"));
    // The other one is written off; the lists by status follow.
    let other = listed["exceptions"][1]["id"].as_u64().unwrap().to_string();
    let off = cardnet(&[
        "dispute",
        "resolve",
        &other,
        "--config",
        &config,
        "--action",
        "write_off",
        "--by",
        "ops",
        "--reason",
        "below threshold",
        "--json",
    ]);
    assert_eq!(json(&off)["clearing_record"], serde_json::Value::Null);
    let resolved = json(&cardnet(&["dispute", "list", "--config", &config, "--status", "resolved", "--json"]));
    assert_eq!(resolved["count"], 1);
    let open =
        json(&cardnet(&["dispute", "list", "--config", &config, "--status", "open", "--date", "2026-11-21", "--json"]));
    assert_eq!(open["exceptions"][0]["status"], "chargeback_cycle");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let (dir, config) = switch_with_exceptions("bad");
    for args in [
        vec!["dispute", "list", "--config", config.as_str(), "--status", "pending"],
        vec!["dispute", "list", "--config", config.as_str(), "--date", "2026-02-30"],
        vec!["dispute", "show", "99", "--config", config.as_str()],
        vec!["dispute", "show", "x", "--config", config.as_str()],
        vec![
            "dispute",
            "resolve",
            "1",
            "--config",
            config.as_str(),
            "--action",
            "refund",
            "--by",
            "a",
            "--reason",
            "b",
        ],
        vec!["dispute", "resolve", "1", "--config", config.as_str(), "--action", "write_off", "--by", "a"],
        vec![
            "dispute",
            "resolve",
            "1",
            "--config",
            config.as_str(),
            "--action",
            "write_off",
            "--by",
            "a",
            "--reason",
            "b",
            "--amount",
            "5",
        ],
        vec![
            "dispute",
            "resolve",
            "1",
            "--config",
            config.as_str(),
            "--action",
            "chargeback",
            "--by",
            "a",
            "--reason",
            "b",
            "--amount",
            "10001",
            "--clearing-date",
            "2026-11-22",
        ],
        vec![
            "dispute",
            "resolve",
            "1",
            "--config",
            config.as_str(),
            "--action",
            "chargeback",
            "--by",
            "a",
            "--reason",
            "b",
            "--clearing-date",
            "2026-11-21",
        ],
        vec!["dispute", "list", "--config", "/nonexistent/switch.toml"],
    ] {
        let output = cardnet(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(!output.stderr.is_empty());
    }
    let untouched = json(&cardnet(&["dispute", "show", "1", "--config", &config, "--json"]));
    assert_eq!(untouched["audit"].as_array().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}
