//! `cardnet merchant …` and `cardnet terminal …` end to end through the binary: onboarding
//! (apply → review → activate), a rejected application whose every check and reason shows in
//! `merchant show --json`, terminals with generated and injected TMKs, account changes,
//! suspension, and the one-line errors with exit status 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, SoftHsm};
use serde_json::Value;

/// A test LMK (development only).
const LMK_HEX: &str = "00112233445566778899AABBCCDDEEFF0123456789ABCDEFFEDCBA9876543210";
/// Published unified social credit codes with valid check characters.
const LICENCE_A: &str = "91350200776049653A";
const LICENCE_B: &str = "91440101MA5CJQ4N59";
/// LICENCE_A with a wrong check character.
const LICENCE_BAD: &str = "91350200776049653B";

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("cardnet_merchant_cli_{name}_{}_{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An acquirer configuration as the POS host would write it: the registry reads `database`,
/// `lmk_file` and `[merchants]` and ignores the rest.
fn write_config(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("lmk.hex"), format!("{LMK_HEX}\n")).unwrap();
    let config = dir.join("acquirer.toml");
    std::fs::write(
        &config,
        "acquirer_id = \"10000000001\"\nlisten = \"127.0.0.1:0\"\ndatabase = \"sqlite:acquirer.db\"\nlmk_file = \"lmk.hex\"\n\n\
         [merchants]\nmerchant_id_prefix = \"8984401\"\nallowed_mccs = [\"5411\", \"5812\"]\n\
         sanctioned_names = [\"Evil Corp\"]\n",
    )
    .unwrap();
    config
}

fn cardnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardnet")).args(args).output().unwrap()
}

/// Run, expect success and exactly one JSON object on stdout.
fn json(args: &[&str]) -> Value {
    let output = cardnet(args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.trim().lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Run, expect exit status 2 and one line on stderr.
fn bad_input(args: &[&str]) -> String {
    let output = cardnet(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    stderr
}

fn apply(config: &str, name: &str, licence: &str, account: &str, mcc: &str) -> Value {
    json(&[
        "merchant",
        "apply",
        "--config",
        config,
        "--name",
        name,
        "--licence",
        licence,
        "--legal-rep",
        "Li Si",
        "--mcc",
        mcc,
        "--city",
        "Shanghai",
        "--country",
        "CN",
        "--bank-code",
        "102290000001",
        "--account",
        account,
        "--volume",
        "50000000",
        "--json",
    ])
}

fn xor(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0u8; parts[0].len()];
    for part in parts {
        for (o, p) in out.iter_mut().zip(part) {
            *o ^= p;
        }
    }
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn kcv(key: &[u8]) -> String {
    upper_hex(&hsm::kcv::kcv_tdes(key).unwrap())
}

#[test]
fn onboarding_rejection_and_terminals() {
    let dir = temp_dir("flow");
    let config_path = write_config(&dir);
    let config = config_path.to_str().unwrap();

    // A good application passes every check and waits for review.
    let applied = apply(config, "Cardnet Coffee", LICENCE_A, "6222021000000001", "5812");
    let application = &applied["application"];
    assert_eq!(application["status"], "applied");
    let checks = application["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 6);
    assert!(checks.iter().all(|c| c["passed"] == true && c["reason"].as_str().is_some_and(|r| !r.is_empty())));
    assert!(applied["merchant"].is_null());
    let app_id = application["application_id"].as_i64().unwrap().to_string();

    // A bad one is recorded, rejected, and shows every check's reason.
    let rejected = apply(config, "  EVIL corp", LICENCE_BAD, "6222021000000001", "7995");
    let rejected_id = rejected["application"]["application_id"].as_i64().unwrap().to_string();
    let shown = json(&["merchant", "show", "--config", config, "--application", &rejected_id, "--json"]);
    let application = &shown["application"];
    assert_eq!(application["status"], "rejected");
    let failed: Vec<&str> =
        application["checks_failed"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(failed, ["licence-format", "mcc-allowed", "duplicate-account", "sanctioned-name"]);
    let reason = |check: &str| {
        application["checks"].as_array().unwrap().iter().find(|c| c["check"] == check).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(reason("licence-format").contains("check character B is wrong"), "{}", reason("licence-format"));
    assert_eq!(reason("mcc-allowed"), "MCC 7995 is not in the allowed list");
    assert!(reason("duplicate-account").contains(&format!("application {app_id}")));
    assert_eq!(reason("sanctioned-name"), "business name on the sanctioned names list");
    assert_eq!(reason("required-fields"), "every required field is present and well-formed");
    let trail = shown["trail"].as_array().unwrap();
    assert!(trail.iter().any(|e| e["event"] == "rejected"
        && e["actor"] == "system"
        && e["reason"].as_str().unwrap().contains("licence-format")));
    // A rejected application cannot be approved.
    bad_input(&[
        "merchant",
        "review",
        "--config",
        config,
        "--application",
        &rejected_id,
        "--approve",
        "--reason",
        "ok",
        "--reviewer",
        "Wang Wu",
    ]);
    // The text form works too.
    let text = cardnet(&["merchant", "show", "--config", config, "--application", &rejected_id]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("FAIL  licence-format"));

    // Review and activate.
    let reviewed = json(&[
        "merchant",
        "review",
        "--config",
        config,
        "--application",
        &app_id,
        "--approve",
        "--reason",
        "documents and site visit in order",
        "--reviewer",
        "Wang Wu",
        "--json",
    ]);
    assert_eq!(reviewed["application"]["status"], "approved");
    assert_eq!(reviewed["application"]["review"]["reviewer"], "Wang Wu");
    let activated = json(&[
        "merchant",
        "activate",
        "--config",
        config,
        "--application",
        &app_id,
        "--mdr-debit-bp",
        "50",
        "--cap-debit",
        "2000",
        "--mdr-credit-bp",
        "60",
        "--cycle",
        "t1",
        "--single-max",
        "1000000",
        "--json",
    ]);
    let merchant = &activated["merchant"];
    let mid = merchant["merchant_id"].as_str().unwrap().to_owned();
    assert_eq!(mid, "898440158120001");
    assert_eq!(merchant["status"], "active");
    assert_eq!(merchant["fee_plan"]["debit"]["rate_bp"], 50);
    assert_eq!(merchant["fee_plan"]["debit"]["cap_minor"], 2000);
    assert!(merchant["fee_plan"]["credit"]["cap_minor"].is_null());
    assert_eq!(merchant["settlement_cycle"], "t1");
    assert_eq!(merchant["limits"]["single_max_minor"], 1_000_000);

    // Terminals: generated in 3 components (they XOR to the KCV), injected from components,
    // generated under a KEK.
    let added = json(&[
        "terminal",
        "add",
        "--config",
        config,
        "--merchant",
        &mid,
        "--terminal",
        "10000001",
        "--tmk-components",
        "3",
        "--model",
        "PAX A920",
        "--json",
    ]);
    assert_eq!(added["terminal"]["status"], "installed");
    assert_eq!(added["terminal"]["batch_no"], "000001");
    let components: Vec<Vec<u8>> = added["tmk"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let clear = hex(c["component"].as_str().unwrap());
            assert_eq!(c["kcv"].as_str().unwrap(), kcv(&clear));
            clear
        })
        .collect();
    assert_eq!(components.len(), 3);
    assert_eq!(kcv(&xor(&components)), added["tmk"]["kcv"].as_str().unwrap());
    assert_eq!(added["terminal"]["tmk_kcv"], added["tmk"]["kcv"]);

    let c1 = "0123456789ABCDEFFEDCBA9876543210";
    let c2 = "1111111111111111FFFFFFFFFFFFFFFF";
    let injected = json(&[
        "terminal",
        "add",
        "--config",
        config,
        "--merchant",
        &mid,
        "--terminal",
        "10000002",
        "--import-components",
        &format!("{c1},{c2}"),
        "--json",
    ]);
    assert_eq!(injected["tmk"]["kcv"].as_str().unwrap(), kcv(&xor(&[hex(c1), hex(c2)])));
    assert!(injected["tmk"]["components"].as_array().unwrap().is_empty());

    let lmk = SoftHsm::new(Secret::from_vec(hex(LMK_HEX))).unwrap();
    let kek = lmk.generate_key(KeyType::Zmk, KeyAlgorithm::Tdes2).unwrap();
    let under = json(&[
        "terminal",
        "add",
        "--config",
        config,
        "--merchant",
        &mid,
        "--terminal",
        "10000003",
        "--tmk-under-kek",
        kek.block(),
        "--json",
    ]);
    assert_eq!(under["tmk"]["under_kek"]["kek_kcv"].as_str().unwrap(), kek.kcv());
    let encrypted = under["tmk"]["under_kek"]["encrypted"].as_str().unwrap().to_owned();
    let imported = json(&[
        "terminal",
        "add",
        "--config",
        config,
        "--merchant",
        &mid,
        "--terminal",
        "10000004",
        "--import-under-kek",
        &encrypted,
        "--kek",
        kek.block(),
        "--json",
    ]);
    assert_eq!(imported["tmk"]["kcv"], under["tmk"]["kcv"]);

    // Bad terminal ids and key input: one line, exit 2, no key material in the message.
    bad_input(&["terminal", "add", "--config", config, "--merchant", &mid, "--terminal", "1234567"]);
    let stderr = bad_input(&[
        "terminal",
        "add",
        "--config",
        config,
        "--merchant",
        &mid,
        "--terminal",
        "10000005",
        "--import-components",
        &format!("{c1},ZZ{c2}"),
    ]);
    assert!(!stderr.contains(c1) && !stderr.contains(c2), "{stderr}");

    let listed = json(&["terminal", "list", "--config", config, "--merchant", &mid, "--json"]);
    assert_eq!(listed["terminals"].as_array().unwrap().len(), 4);
    let disabled = json(&["terminal", "disable", "--config", config, "--terminal", "10000004", "--json"]);
    assert_eq!(disabled["status"], "disabled");

    // Clear components are nowhere in the database.
    let database = std::fs::read(dir.join("acquirer.db")).unwrap_or_default();
    let wal = std::fs::read(dir.join("acquirer.db-wal")).unwrap_or_default();
    for component in components.iter().map(|c| upper_hex(c)).chain([c1.to_owned(), c2.to_owned()]) {
        for bytes in [&database, &wal] {
            assert!(!bytes.windows(component.len()).any(|w| w == component.as_bytes()));
        }
    }

    // An account change: pending keeps the old account, approval switches it.
    let change = json(&[
        "merchant",
        "change-account",
        "--config",
        config,
        "--merchant",
        &mid,
        "--bank-code",
        "103100000026",
        "--account",
        "6228480012345678",
        "--json",
    ]);
    assert_eq!(change["status"], "pending");
    let change_id = change["change_id"].as_i64().unwrap().to_string();
    let shown = json(&["merchant", "show", "--config", config, "--merchant", &mid, "--json"]);
    assert_eq!(shown["merchant"]["settlement_account"]["account_no"], "6222021000000001");
    let approved = json(&[
        "merchant",
        "review-change",
        "--config",
        config,
        "--change",
        &change_id,
        "--approve",
        "--reason",
        "bank letter checked",
        "--reviewer",
        "Zhao Liu",
        "--json",
    ]);
    assert_eq!(approved["status"], "approved");
    let shown = json(&["merchant", "show", "--config", config, "--merchant", &mid, "--json"]);
    assert_eq!(shown["merchant"]["settlement_account"]["account_no"], "6228480012345678");
    assert_eq!(shown["account_history"].as_array().unwrap().len(), 2);
    assert_eq!(shown["terminals"].as_array().unwrap().len(), 4);

    // Suspension blocks new terminals.
    // Voids from any lane (a multi-lane store), and back to the original terminal only.
    let base = ["merchant", "voids", "--config", config, "--merchant", &mid, "--json", "--from"];
    assert_eq!(json(&[&base[..], &["any"]].concat())["void_any_terminal"], true);
    assert_eq!(json(&[&base[..], &["original"]].concat())["void_any_terminal"], false);
    let suspended =
        json(&["merchant", "suspend", "--config", config, "--merchant", &mid, "--reason", "risk review", "--json"]);
    assert_eq!(suspended["status"], "suspended");
    let stderr = bad_input(&["terminal", "add", "--config", config, "--merchant", &mid, "--terminal", "10000009"]);
    assert!(stderr.contains("suspended"), "{stderr}");

    // Lists by status.
    let rejected_list = json(&["merchant", "list", "--config", config, "--status", "rejected", "--json"]);
    assert_eq!(rejected_list["entries"].as_array().unwrap().len(), 1);
    let suspended_list = json(&["merchant", "list", "--config", config, "--status", "suspended", "--json"]);
    assert_eq!(suspended_list["entries"][0]["merchant_id"], mid.as_str());
    bad_input(&["merchant", "list", "--config", config, "--status", "sleeping"]);

    // A second merchant of another category.
    let second = apply(config, "Cardnet Market", LICENCE_B, "6222021000000002", "5411");
    assert_eq!(second["application"]["status"], "applied");

    // Unknown ids and missing arguments: exit 2.
    bad_input(&["merchant", "show", "--config", config, "--merchant", "898440199999999"]);
    bad_input(&["merchant", "show", "--config", config, "--application", "999"]);
    let usage = cardnet(&["merchant", "show", "--config", config]);
    assert_eq!(usage.status.code(), Some(2));
    bad_input(&["merchant", "show", "--config", dir.join("missing.toml").to_str().unwrap(), "--application", "1"]);
    let _ = std::fs::remove_dir_all(&dir);
}
