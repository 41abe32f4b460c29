//! `cardnet acquirer settle` and `cardnet acquirer notices` as a user runs them: one JSON object
//! with units in the keys, a rerun that says it changed nothing, exit 2 on bad input. The
//! settlement arithmetic itself is tested in crates/acquirer/tests/merchant_settlement.rs.

mod common;

use common::{cardnet, fresh_dir, json};

#[test]
fn settle_reports_reruns_and_refuses_bad_input() {
    let dir = fresh_dir("acq-settle", "cli");
    let init = cardnet(&["acquirer", "init", "--dir", dir.to_str().unwrap(), "--json"]);
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let config = dir.join("acquirer.toml");
    let config = config.to_str().unwrap();
    let settle = |extra: &[&str]| {
        let mut args = vec!["acquirer", "settle", "--config", config];
        args.extend_from_slice(extra);
        cardnet(&args)
    };
    let first = json(&settle(&["--date", "2026-03-02", "--json"]));
    assert_eq!(first["business_date"], "2026-03-02");
    assert_eq!(first["cycle"], "final");
    assert_eq!(first["already_settled"], false);
    assert!(first["merchants"].as_array().unwrap().is_empty() && first["totals"].is_array());
    assert!(first["tie_ok"].is_null(), "no clearing file, no tie");
    let again = json(&settle(&["--date", "2026-03-02", "--json"]));
    assert_eq!(again["already_settled"], true);
    assert_eq!(again["run_id"], first["run_id"]);
    assert!(dir.join("merchant-settlement").join("2026-03-02").is_dir());
    let text = settle(&["--date", "2026-03-02"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("already settled"));
    for bad in [
        vec!["--date", "2026-02-30"],
        vec!["--date", "2026-03-02", "--cycle", "11:00"],
        vec!["--date", "2026-03-02", "--cycle", "noon"],
        vec!["--date", "2026-03-02", "--clearing", "/nonexistent/clearing.txt"],
    ] {
        let output = settle(&bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stdout.is_empty() && !output.stderr.is_empty(), "{bad:?}");
    }
    let notices = json(&cardnet(&["acquirer", "notices", "--config", config, "--retry", "--json"]));
    assert!(notices["notices"].as_array().unwrap().is_empty());
    assert_eq!(notices["delivery"]["attempted"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
