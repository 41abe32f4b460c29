//! Crash safety under load (issue 14): `cardnet bench e2e --kill PARTY` SIGKILLs each party in
//! turn in the middle of an open-loop load, starts it again at once, and then checks every
//! purchase a terminal saw approved against the issuers. A party answers only after the commit
//! of the batch that decided it (`host::Pipeline`), so a kill -9 may lose answers but never an
//! approval a terminal saw: each is held exactly once at its issuer, and both ledgers balance.

mod common;

use common::{cardnet, fresh_dir, processes_naming};

/// Kill `party` under a small load and check the bench's verdict; the run's JSON is printed on
/// failure, the network is kept in a folder for a look.
fn kill_under_load(party: &str) {
    let dir = fresh_dir("kill-under-load", party);
    let dir_text = dir.to_str().unwrap();
    let args = ["bench", "e2e", "--duration", "6", "--rate", "100", "--terminals", "10", "--kill", party];
    let output = cardnet(&[&args[..], &["--dir", dir_text, "--json"]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kill {party}: the bench failed (network kept in {dir_text}): {stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["killed"], party, "{report}");
    let at_s = report["killed_at_s"].as_f64().unwrap_or(-1.0);
    assert!((2.5..4.0).contains(&at_s), "killed half way through the 6 s window: {report}");
    assert_eq!(report["violations"], 0, "kill {party}: approvals not held exactly once: {report}");
    let verified = report["verified_approvals"].as_u64().unwrap_or(0);
    assert!(verified > 0, "kill {party}: nothing approved to check: {report}");
    // The reversals of answers lost in the kill reached the issuers before the check.
    assert_eq!(report["saf_pending_after_wait"], 0, "kill {party}: {report}");
    let left = processes_naming(&dir);
    assert!(left.is_empty(), "kill {party}: parties still running after the bench: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(target_os = "linux")]
#[test]
fn killing_issuer_a_under_load_loses_no_approval() {
    kill_under_load("issuer-a");
}

#[cfg(target_os = "linux")]
#[test]
fn killing_issuer_b_under_load_loses_no_approval() {
    kill_under_load("issuer-b");
}

#[cfg(target_os = "linux")]
#[test]
fn killing_the_switch_under_load_loses_no_approval() {
    kill_under_load("switch");
}

#[cfg(target_os = "linux")]
#[test]
fn killing_the_acquirer_under_load_loses_no_approval() {
    kill_under_load("acquirer");
}

#[test]
fn kill_options_are_checked() {
    for args in [
        &["bench", "e2e", "--kill", "nobody"][..],
        &["bench", "e2e", "--kill-at", "1"],
        &["bench", "e2e", "--duration", "4", "--kill", "switch", "--kill-at", "4"],
        &["bench", "e2e", "--rate", "1000", "--terminals", "2", "--kill", "switch"],
    ] {
        let output = cardnet(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}
