//! `cardnet backup` and `cardnet restore` of a party's database (issue 17): a backup taken
//! while the issuer serves, a restore refused while it serves, a damaged backup refused, and a
//! restore bringing back the state of the backup (a card issued after it is gone).

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{cardnet, fresh_dir, json, parties};

fn cards(config: &str) -> usize {
    json(&cardnet(&["issuer", "card", "list", "--config", config, "--json"]))["cards"].as_array().unwrap().len()
}

fn refused(args: &[&str], why: &str) {
    let output = cardnet(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(why), "{args:?}: {stderr}");
}

#[test]
fn a_backup_taken_while_serving_restores_the_old_state_once_stopped() {
    let dir = fresh_dir("backup", "issuer");
    json(&cardnet(&["issuer", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = dir.join("issuer.toml").display().to_string();
    parties::listen_on_port_zero(std::path::Path::new(&config), "127.0.0.1:9200");
    json(&cardnet(&["issuer", "card", "issue", "--config", &config, "--product", "debit", "--json"]));

    let log = dir.join("issuer.log");
    let (mut issuer, bound) = parties::serve("issuer", &config, &log);
    assert!(bound.is_some(), "{}", std::fs::read_to_string(&log).unwrap_or_default());

    // Online: the backup is taken while the issuer runs.
    let backup = dir.join("issuer.backup");
    let backup_path = backup.to_str().unwrap();
    let copied = json(&cardnet(&["backup", "--config", &config, "--out", backup_path, "--json"]));
    assert_eq!(copied["party"], "issuer");
    assert_eq!(copied["bytes"].as_u64(), Some(std::fs::metadata(&backup).unwrap().len()));
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    refused(&["backup", "--config", &config, "--out", backup_path], "exists");
    let other = dir.join("other.backup");
    let ledger = ["backup", "--config", &config, "--out", other.to_str().unwrap(), "--store", "ledger"];
    refused(&ledger, "the issuer's ledger is in its database");
    refused(&["restore", "--config", &config, "--from", backup_path, "--force"], "stop it before restoring");
    refused(&["serve", "issuer", "--config", &config], "another `cardnet serve` runs");

    let _ = Command::new("kill").args(["-TERM", &issuer.id().to_string()]).status();
    assert!(issuer.wait().unwrap().success());
    json(&cardnet(&["issuer", "card", "issue", "--config", &config, "--product", "debit", "--json"]));
    assert_eq!(cards(&config), 2);

    let damaged = dir.join("damaged.backup");
    let mut bytes = std::fs::read(&backup).unwrap();
    bytes.truncate(bytes.len() / 3);
    bytes[100..200].fill(0xA5);
    std::fs::write(&damaged, bytes).unwrap();
    refused(&["restore", "--config", &config, "--from", damaged.to_str().unwrap(), "--force"], "not a sound backup");
    refused(&["restore", "--config", &config, "--from", backup_path], "--force replaces it");
    assert_eq!(cards(&config), 2, "nothing replaced by a refused restore");

    let restored = json(&cardnet(&["restore", "--config", &config, "--from", backup_path, "--force", "--json"]));
    assert_eq!(restored["integrity"], "ok");
    assert_eq!(cards(&config), 1, "the card issued after the backup is gone");
}

#[test]
fn a_postgres_party_is_told_to_use_pg_dump() {
    let dir = fresh_dir("backup", "postgres");
    json(&cardnet(&["issuer", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = dir.join("issuer.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("sqlite:issuer.db", "postgres://cardnet@localhost/cardnet#issuer_a")).unwrap();
    let config = config.to_str().unwrap();
    refused(&["backup", "--config", config, "--out", "unused.backup"], "pg_dump --format=custom --schema=issuer_a");
    refused(&["restore", "--config", config, "--from", "unused.backup"], "pg_restore");
    refused(
        &["backup", "--config", dir.join("lmk.hex").to_str().unwrap(), "--out", "x"],
        "not a switch, issuer or acquirer",
    );
}
