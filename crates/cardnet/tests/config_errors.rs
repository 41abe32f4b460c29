//! Configuration mistakes a person makes when starting a party: a listen address another
//! process holds, and a TOML file that does not parse. Both are bad input (exit 2), on one
//! line that says where: the address, or `FILE:LINE:COLUMN`.

mod common;

use std::path::{Path, PathBuf};

use common::{cardnet, fresh_dir, json};

/// The value of `key` in the file at `path` set to `value` (every line starting `key = `).
fn set_key(path: &Path, key: &str, value: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let prefix = format!("{key} = ");
    let lines: Vec<String> =
        text.lines().map(|l| if l.starts_with(&prefix) { format!("{prefix}{value}") } else { l.to_owned() }).collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// A config for each party written by its `init`, as (party, path).
fn configs(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let path = |v: serde_json::Value| PathBuf::from(v["config"].as_str().unwrap());
    let switch = dir.join("switch");
    json(&cardnet(&["switch", "init", "--dir", switch.to_str().unwrap(), "--json"]));
    let issuer = json(&cardnet(&["issuer", "init", "--dir", dir.join("issuer").to_str().unwrap(), "--json"]));
    let acquirer = json(&cardnet(&["acquirer", "init", "--dir", dir.join("acquirer").to_str().unwrap(), "--json"]));
    vec![("switch", switch.join("switch.toml")), ("issuer", path(issuer)), ("acquirer", path(acquirer))]
}

#[test]
fn a_listen_address_in_use_is_named_and_exits_2() {
    let dir = fresh_dir("config-errors", "in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    for (party, config) in configs(&dir) {
        set_key(&config, "listen", &format!("\"{address}\""));
        let output = cardnet(&["serve", party, "--config", config.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{party}: {stderr}");
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(last.contains(&address) && last.contains("in use"), "{party}: {stderr}");
    }
    drop(taken);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_toml_syntax_error_names_file_line_and_column() {
    let dir = fresh_dir("config-errors", "syntax");
    for (party, config) in configs(&dir) {
        let text = std::fs::read_to_string(&config).unwrap();
        // An unterminated string on line 3.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.insert(2, "oops = \"unterminated".to_owned());
        std::fs::write(&config, lines.join("\n") + "\n").unwrap();
        let output = cardnet(&["serve", party, "--config", config.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{party}: {stderr}");
        let expected = format!("{}:3:", config.display());
        assert!(stderr.contains(&expected), "{party}: {stderr} should say {expected}");
        assert_eq!(stderr.trim().lines().count(), 1, "{party}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_terminal_configuration_syntax_error_names_file_line_and_column() {
    let dir = fresh_dir("config-errors", "terminal");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("terminal.toml");
    std::fs::write(&config, "terminal_id = \"POS00001\"\n[[operators]]\npassword = \"123456\nnumber = \"00\"\n")
        .unwrap();
    let output = cardnet(&["pos", "run", "--terminal-config", config.to_str().unwrap(), "--json", "sign-on"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:3:", config.display())), "{stderr}");
    assert!(!stderr.contains("123456"), "the parser's excerpt shows no value: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
