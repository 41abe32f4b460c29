//! `cardnet bench e2e` end to end: a tiny load through the parties as separate processes, the
//! JSON's figures, approvals, and no party left running afterwards.

mod common;

use std::path::Path;

use common::{cardnet, fresh_dir, json, processes_naming};

fn tiny_load(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let dir_text = dir.to_str().unwrap();
    let mut args = vec!["bench", "e2e", "--duration", "2", "--warmup", "1", "--rate", "50", "--terminals", "4"];
    args.extend(["--merchants", "2", "--chip-percent", "30", "--tap-percent", "20", "--dir", dir_text, "--json"]);
    args.extend(extra);
    json(&cardnet(&args))
}

fn check_report(report: &serde_json::Value, dir: &Path) {
    for key in [
        "offered_per_s",
        "authorizations_per_s",
        "latency_ms_p50",
        "latency_ms_p99",
        "latency_ms_p999",
        "latency_ms_max",
        "timeouts",
        "cores",
    ] {
        assert!(report[key].is_number(), "{key} in {report}");
    }
    let codes = report["response_codes"].as_object().expect("response_codes");
    assert!(codes.get("00").and_then(|n| n.as_u64()).is_some_and(|n| n > 0), "approvals: {report}");
    let cpu = report["cpu_us_per_authorization"].as_object().expect("cpu_us_per_authorization");
    for party in ["issuer-a", "issuer-b", "switch", "acquirer", "generator"] {
        assert!(cpu.contains_key(party), "{party} in {report}");
    }
    // Every party journals each authorization and answers it: write calls, and bytes to storage
    // (zero only where the bench's folder is on a tmpfs, which keeps no such count).
    if std::path::Path::new("/proc/self/io").exists() {
        let written = report["disk_write_bytes_per_authorization"].as_object().expect("disk_write_bytes");
        let calls = report["write_calls_per_authorization"].as_object().expect("write_calls");
        for party in ["issuer-a", "issuer-b", "switch", "acquirer"] {
            assert!(written[party].as_f64().is_some(), "{party}'s bytes written: {report}");
            assert!(calls[party].as_f64().is_some_and(|n| n > 0.0), "{party} made no write: {report}");
        }
    }
    // 50 per second for 2 s: about 100 due, each with an outcome (an answer, or the terminal's
    // own 98 after its 5 s timeout on a machine too busy to answer in time).
    let due = report["purchases_due"].as_u64().unwrap();
    assert!((90..=110).contains(&due), "{report}");
    let outcomes = report["answered"].as_u64().unwrap() + report["timeouts"].as_u64().unwrap();
    assert_eq!(outcomes, due, "{report}");
    let p50 = report["latency_ms_p50"].as_f64().unwrap();
    let max = report["latency_ms_max"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= max, "{report}");
    assert_eq!(report["parties_killed"], serde_json::json!([]), "every party stopped on SIGTERM: {report}");
    let left = processes_naming(dir);
    assert!(left.is_empty(), "parties still running after the bench: {left:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_tiny_load_is_approved_end_to_end_and_leaves_no_party_running() {
    let dir = fresh_dir("bench-e2e", "sqlite");
    let report = tiny_load(&dir, &["--verify"]);
    assert_eq!(report["backend"], "sqlite");
    // --verify: every approval a terminal saw is held exactly once at its issuer.
    assert_eq!(report["violations"], 0, "{report}");
    assert!(report["verified_approvals"].as_u64().is_some_and(|n| n > 0), "{report}");
    assert_eq!(report["merchants"], 2);
    check_report(&report, &dir);
    // The network it ran on is kept with --dir: the parties' SQLite files and their logs.
    assert!(dir.join("switch.db").exists() && dir.join("logs").join("acquirer.log").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(target_os = "linux")]
#[test]
fn every_party_on_postgres() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set; bench e2e with every party on PostgreSQL not run");
        return;
    };
    let dir = fresh_dir("bench-e2e", "postgres");
    let report = tiny_load(&dir, &["--pg-url", &url]);
    assert_eq!(report["backend"], "postgres");
    check_report(&report, &dir);
    assert!(!dir.join("switch.db").exists(), "no SQLite file with --pg-url");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_rates_and_mixes_are_bad_input() {
    for args in [
        &["bench", "e2e", "--rate", "0"][..],
        &["bench", "e2e", "--terminals", "1"],
        &["bench", "e2e", "--terminals", "4", "--merchants", "5"],
        &["bench", "e2e", "--chip-percent", "80", "--tap-percent", "30"],
    ] {
        let output = cardnet(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}
