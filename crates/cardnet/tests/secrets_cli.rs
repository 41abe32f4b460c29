//! What the commands leave on disk and on the wire (issue 12): every file `network init`,
//! `switch init` and `pos init` write owner-only, new set-ups on key scheme 004 (track 2
//! enciphered under the TDK), no clear password in `terminal.toml`.

mod common;

use std::path::Path;

use common::{cardnet, fresh_dir, json};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file directly in `dir` is owner-only.
#[cfg(unix)]
fn assert_owner_only(dir: &Path) {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            seen += 1;
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    assert!(seen > 0, "files in {}", dir.display());
}

#[cfg(unix)]
#[test]
fn network_init_writes_owner_only_files_and_an_acquirer_issuing_only_scheme_004() {
    let dir = fresh_dir("secrets-cli", "network");
    // Nothing listens: the configurations' default ports are only written, never bound.
    json(&cardnet(&["network", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    assert_owner_only(&dir);
    let acquirer = std::fs::read_to_string(dir.join("acquirer.toml")).unwrap();
    assert!(acquirer.contains("key_schemes = [\"004\"]"), "{acquirer}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn switch_init_writes_an_owner_only_config() {
    let dir = fresh_dir("secrets-cli", "switch");
    json(&cardnet(&["switch", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    assert_owner_only(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pos_init_sets_up_scheme_004_with_hashed_passwords() {
    let dir = fresh_dir("secrets-cli", "pos-init");
    let output = cardnet(&[
        "pos",
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--terminal",
        "POS00077",
        "--merchant",
        "898440158120001",
        "--host",
        "127.0.0.1:1",
        "--tmk-components",
        "0123456789ABCDEFFEDCBA9876543210,1111111111111111AAAAAAAAAAAAAAAA",
        "--supervisor-password",
        "902468",
        "--json",
    ]);
    json(&output);
    let text = std::fs::read_to_string(dir.join("POS00077/terminal.toml")).unwrap();
    assert!(text.contains("key_scheme = \"004\""), "{text}");
    assert!(!text.contains("902468") && !text.contains("password ="), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
