//! `cardnet issuer card list|block|unblock` as an operator uses them: the card id `card list`
//! shows is enough to block a card (a person never sees the full number again), and they work
//! while `cardnet serve issuer` runs on the same SQLite files (WAL: readers and short writes
//! beside the running host).

mod common;

use std::process::{Command, Stdio};

use common::{cardnet, fresh_dir, json};

#[cfg(unix)]
#[test]
fn cards_are_listed_blocked_and_unblocked_by_id_while_the_issuer_runs() {
    let dir = fresh_dir("issuer-cards", "running");
    let init = json(&cardnet(&["issuer", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = init["config"].as_str().unwrap().to_owned();
    let issue = ["issuer", "card", "issue", "--config", &config, "--product", "debit", "--balance", "100", "--json"];
    let card = json(&cardnet(&issue));
    let card_id = card["card_id"].as_i64().unwrap().to_string();
    // Port 0: the issuer says where it listens on stderr, which the test reads from a file.
    common::parties::listen_on_port_zero(std::path::Path::new(&config), "127.0.0.1:9200");
    let log_path = dir.join("issuer.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(["serve", "issuer", "--config", &config])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let listening = common::parties::wait_bound(&log_path, || false);
    assert!(listening.is_some(), "the issuer listens");

    let list = json(&cardnet(&["issuer", "card", "list", "--config", &config, "--json"]));
    assert_eq!(list["cards"][0]["card_id"].as_i64().unwrap().to_string(), card_id);
    let plain = String::from_utf8_lossy(&cardnet(&["issuer", "card", "list", "--config", &config]).stdout).into_owned();
    assert!(plain.contains(&format!("{card_id:>6}")), "the plain list shows the id: {plain}");
    let block =
        |action: &str, by: &[&str]| cardnet(&[&["issuer", "card", action, "--config", &config][..], by].concat());
    let blocked = json(&block("block", &["--card-id", &card_id, "--json"]));
    assert_eq!(blocked["status"], "blocked");
    let unblocked = json(&block("unblock", &["--card-id", &card_id, "--json"]));
    assert_eq!(unblocked["status"], "active");
    // By number still works; an unknown id, or neither, is bad input.
    assert_eq!(json(&block("block", &["--pan", card["pan"].as_str().unwrap(), "--json"]))["status"], "blocked");
    for by in [&["--card-id", "999999"][..], &[], &["--card-id", "x1"]] {
        let output = block("unblock", by);
        assert_eq!(output.status.code(), Some(2), "{by:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}
