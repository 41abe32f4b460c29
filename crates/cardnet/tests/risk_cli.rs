//! `cardnet risk …` and `cardnet bench risk` as an operator runs them: the shipped rule file
//! checks, a broken one is refused with its line (exit 2); alerts recorded through the library
//! are listed, shown, assigned and closed, the transition table's refusals exit 2; the bench
//! prints one JSON object with its keys (values checked for sense, never for speed).

mod common;

use common::{cardnet, json};
use risk::cases::{EntityKind, NewAlert, Party};
use risk::cases_store::Cases;

fn examples_rules() -> String {
    format!("{}/../risk/examples/rules.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_shipped_rule_file_checks() {
    let out = json(&cardnet(&["risk", "rules", "check", &examples_rules(), "--json"]));
    assert_eq!(out["valid"], true);
    let ids = out["rule_ids"].as_array().unwrap();
    assert_eq!(out["rules"].as_u64().unwrap() as usize, ids.len());
    assert!(ids.iter().any(|id| id == "card_burst"), "{out}");
    let plain = cardnet(&["risk", "rules", "check", &examples_rules()]);
    assert!(plain.status.success());
    assert!(String::from_utf8_lossy(&plain.stdout).contains("card_burst"));
}

#[test]
fn a_broken_rule_file_is_refused_with_its_line() {
    let dir = common::fresh_dir("risk-cli", "broken");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.toml");
    let text = "currency = \"CNY\"\ndecline_score = 100\nalert_score = 50\n\n[[rule]]\nid = \"burst\"\n\
                kind = \"velocity\"\nentity = \"card\"\nmeasure = \"count\"\nwindow = \"5q\"\nthreshold = 3\n\
                score = 10\nreason = \"velocity\"\n";
    std::fs::write(&file, text).unwrap();
    let out = cardnet(&["risk", "rules", "check", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:10:", file.display())), "{stderr}");
    assert!(out.stdout.is_empty());
    let missing = cardnet(&["risk", "rules", "check", dir.join("none.toml").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

fn alert(created_ms: u64, reference: &str) -> NewAlert {
    NewAlert {
        created_ms,
        party: Party::Acquirer,
        entity_kind: EntityKind::Card,
        entity: "key-0123456789abcdef".into(),
        pan_masked: Some("622424******0113".into()),
        reference: reference.into(),
        verdict: "decline".into(),
        response_code: Some("65".into()),
        fired_json: r#"[{"rule":"card_burst","observed":5,"bound":5,"score":60,"reason":"velocity","decline":"65"}]"#
            .into(),
        score: 60,
    }
}

#[test]
fn alerts_are_listed_assigned_and_closed_and_the_table_refuses_the_rest() {
    let dir = common::fresh_dir("risk-cli", "alerts");
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("risk.db").display());
    let cases = Cases::open(&url).unwrap();
    let first = cases.record_alert(&alert(1_000, "rrn=632510000001")).unwrap();
    let second = cases.record_alert(&alert(2_000, "rrn=632510000002")).unwrap();
    drop(cases);
    let run = |args: &[&str]| cardnet(&[args, &["--database", &url, "--json"]].concat());

    let listed = json(&run(&["risk", "alerts", "list"]));
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["alerts"][0]["id"], second, "newest first");
    assert_eq!(listed["alerts"][0]["fired"][0]["rule"], "card_burst");

    let first_s = first.to_string();
    let assigned = json(&run(&["risk", "alerts", "assign", &first_s, "--to", "ana", "--note", "burst on one card"]));
    assert_eq!(assigned["alert"]["status"], "investigating");
    assert_eq!(assigned["alert"]["assignee"], "ana");
    let mine = json(&run(&["risk", "alerts", "list", "--assignee", "ana"]));
    assert_eq!(mine["count"], 1);

    let closed = json(&run(&["risk", "alerts", "close", &first_s, "--fraud", "--by", "ana", "--note", "confirmed"]));
    assert_eq!(closed["alert"]["status"], "closed_fraud");
    let again = run(&["risk", "alerts", "close", &first_s, "--not-fraud", "--by", "ana"]);
    assert_eq!(again.status.code(), Some(2), "closing twice must be refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not allowed"));
    let reassign = run(&["risk", "alerts", "assign", &first_s, "--to", "bo"]);
    assert_eq!(reassign.status.code(), Some(2), "a closed alert was assigned");

    let shown = json(&run(&["risk", "alerts", "show", &first_s]));
    let actions: Vec<&str> = shown["audit"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["created", "assign", "close_fraud"]);
    assert_eq!(shown["audit"][2]["note"], "confirmed");

    let open = json(&run(&["risk", "alerts", "list", "--status", "open"]));
    assert_eq!(open["count"], 1);
    assert_eq!(open["alerts"][0]["id"], second);

    for bad in [
        vec!["risk", "alerts", "show", "999"],
        vec!["risk", "alerts", "list", "--status", "closed"],
        vec!["risk", "alerts", "list", "--limit", "0"],
        vec!["risk", "alerts", "close", "2", "--by", "ana"],
        vec!["risk", "alerts", "assign", "2", "--to", "ana", "--note", "pan 6224240000000113"],
    ] {
        let out = run(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let nowhere = cardnet(&["risk", "alerts", "list", "--database", dir.join("none.db").to_str().unwrap()]);
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(!dir.join("none.db").exists(), "a missing database was created");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_risk_prints_one_json_object_with_its_keys() {
    let out = json(&cardnet(&["bench", "risk", "--cards", "10000", "--evaluations", "10000", "--json"]));
    for key in ["latency_us_p50", "latency_us_p99", "latency_us_max", "evaluations_per_s", "memory_bytes"] {
        assert!(out[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {out}");
    }
    assert_eq!(out["cards_tracked"], 10_000);
    assert_eq!(out["evaluations"], 10_000);
    assert_eq!(out["rules"], 50);
    let bad = cardnet(&["bench", "risk", "--evaluations", "0", "--json"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = cardnet(&["bench", "risk", "--cards", "many"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `count` sales on one card, ten seconds apart, as events lines.
fn burst(count: u64) -> String {
    (0..count)
        .map(|i| {
            format!(
                "{{\"card\":\"key-00ab00cd00ef0012\",\"bin\":\"622424\",\"terminal\":\"T0000001\",\
                 \"merchant\":\"M00000000000001\",\"mcc\":5411,\"amount_minor\":1000,\"currency\":\"CNY\",\
                 \"kind\":\"purchase\",\"at_ms\":{}}}\n",
                1_764_892_800_000 + i * 10_000
            )
        })
        .collect()
}

#[test]
fn backtest_reports_what_a_candidate_would_alert_and_names_a_bad_line() {
    let dir = common::fresh_dir("risk-cli", "backtest");
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events.jsonl");
    // The shipped card_burst rule: six sales on one card in ten minutes.
    for (count, alerts) in [(5, 0), (6, 1)] {
        std::fs::write(&events, burst(count)).unwrap();
        let out = json(&cardnet(&[
            "risk",
            "backtest",
            "--rules",
            &examples_rules(),
            "--events",
            events.to_str().unwrap(),
            "--json",
        ]));
        assert_eq!(out["events"], count);
        assert_eq!(out["current"]["alerts"], 0);
        assert_eq!(
            out["candidate"]["alerts"].as_u64().unwrap() + out["candidate"]["declines"].as_u64().unwrap(),
            alerts
        );
        let burst_rule = out["candidate"]["by_rule"].as_array().unwrap().iter().find(|r| r["rule"] == "card_burst");
        assert_eq!(burst_rule.unwrap()["fired"], alerts, "{out}");
    }
    std::fs::write(&events, format!("{}{{\"card\":\"6224240000000113\"}}\n", burst(2))).unwrap();
    let bad = cardnet(&["risk", "backtest", "--rules", &examples_rules(), "--events", events.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("events.jsonl:3:"), "{stderr}");
    assert!(!stderr.contains("6224240000000113"), "the card number was echoed: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aml_writes_the_day_reports_as_owner_only_csv_files() {
    let dir = common::fresh_dir("risk-cli", "aml");
    std::fs::create_dir_all(&dir).unwrap();
    let line = |card: &str, amount: u64, minute: u64| {
        format!(
            "{{\"card\":\"{card}\",\"merchant\":\"898310048161234\",\"amount_minor\":{amount},\"currency\":\"CNY\",\
             \"at_ms\":{},\"kind\":\"purchase\",\"reference\":\"rrn=63251000{minute:04}\"}}\n",
            1_764_892_800_000 + minute * 60_000
        )
    };
    let text = [
        line("622424******0113", 5_000_000, 1),
        line("622424******0113", 4_999_999, 2),
        line("622848******4242", 4_600_000, 3),
        line("622848******4242", 4_700_000, 4),
        line("622848******4242", 4_800_000, 5),
    ]
    .concat();
    let transactions = dir.join("day.jsonl");
    std::fs::write(&transactions, text).unwrap();
    let out_dir = dir.join("reports");
    let args = |day: &str| {
        vec![
            "risk".to_string(),
            "aml".into(),
            "--transactions".into(),
            transactions.display().to_string(),
            "--day".into(),
            day.into(),
            "--out".into(),
            out_dir.display().to_string(),
            "--json".into(),
        ]
    };
    let run = |day: &str| cardnet(&args(day).iter().map(String::as_str).collect::<Vec<_>>());
    let out = json(&run("2025-12-05"));
    assert_eq!((out["transactions"].as_u64(), out["suspicious_rows"].as_u64()), (Some(5), Some(1)));
    // One single at the threshold (card 0113), and card 4242's day adding up.
    assert_eq!(out["large_value_rows"], 2, "{out}");
    let large = std::fs::read_to_string(out["large_value_file"].as_str().unwrap()).unwrap();
    assert!(large.lines().nth(1).unwrap().starts_with("single,622424******0113,898310048161234,purchase,5000000,"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out["suspicious_file"].as_str().unwrap()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    let other_day = json(&run("2025-12-06"));
    assert_eq!((other_day["large_value_rows"].as_u64(), other_day["skipped_outside_day"].as_u64()), (Some(0), Some(5)));
    assert_eq!(run("2025-12-32").status.code(), Some(2));
    std::fs::write(&transactions, line("6224240000000113", 1, 1)).unwrap();
    let clear = run("2025-12-05");
    assert_eq!(clear.status.code(), Some(2), "a clear card number was accepted");
    assert!(!String::from_utf8_lossy(&clear.stderr).contains("6224240000000113"));
    let _ = std::fs::remove_dir_all(&dir);
}
