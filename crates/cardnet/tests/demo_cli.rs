//! `cardnet demo --tour` (the guided tour in one process) and its folder: the temp folder
//! removed however the demo ends (done, failed, Ctrl-C or SIGTERM), a `--dir` that holds
//! something refused unless `--force`, and every party's configuration written into `--dir`.
//! The business day (`cardnet demo` without `--tour`) is tests/demo_day.rs.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cardnet, fresh_dir, json};

/// The demo runs in about five seconds; an interrupted one must be gone well within this.
const WAIT: Duration = Duration::from_secs(60);

/// The demo with `TMPDIR` pointed at `tmp`, so what it leaves in "the system temp dir" is seen.
fn demo_in(tmp: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cardnet"));
    command.args(["demo", "--tour"]).args(args).env("TMPDIR", tmp).stdin(Stdio::null());
    command
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn the_demo_removes_its_temp_folder() {
    let tmp = fresh_dir("demo", "tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let output = demo_in(&tmp, &["--json"]).output().unwrap();
    let value = json(&output);
    assert_eq!(value["ledgers_balanced"], true);
    assert_eq!(entries(&tmp), Vec::<String>::new(), "the demo left its folder behind");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_dir_gets_every_partys_configuration_and_is_not_reused_without_force() {
    let dir = fresh_dir("demo", "dir");
    let dir_arg = dir.to_str().unwrap();
    let value = json(&cardnet(&["demo", "--tour", "--json", "--dir", dir_arg]));
    let configs: Vec<&str> = value["configs"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for file in
        ["switch.toml", "issuer-20000000455.toml", "issuer-20000000566.toml", "acquirer.toml", "terminal/terminal.toml"]
    {
        let path = dir.join(file);
        assert!(path.is_file(), "{} is missing", path.display());
        assert!(configs.contains(&path.to_str().unwrap()), "{file} not named in {configs:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file} holds keys: owner-only");
        }
    }
    // The day went through end of day: the banks' positions sum to zero, the merchant's payout
    // ties to the acquirer's position, every cleared item posted against its hold — the
    // stand-in approval too, once its advice reached bank B — and reconciliation matched all.
    let eod = &value["end_of_day"];
    let sum: i64 = eod["members"].as_array().unwrap().iter().map(|m| m["net_minor"].as_i64().unwrap()).sum();
    assert_eq!(sum, 0, "{eod}");
    assert_eq!(eod["steps"]["merchant_settlement"]["tie_ok"], true, "{eod}");
    assert_eq!(eod["reconciliation"]["unmatched"], 0, "{eod}");
    for issuer in eod["steps"]["issuer_posting"]["issuers"].as_array().unwrap() {
        for bad in ["force_posted", "duplicate", "state_mismatch", "unmatched", "rejected"] {
            assert!(issuer["outcomes"].get(bad).is_none(), "{bad}: {issuer}");
        }
        assert!(issuer["outcomes"]["posted"]["records"].as_u64().unwrap_or(0) >= 1, "{issuer}");
    }
    // The terminal's operators only as keyed hashes, never a clear password.
    let terminal_toml = std::fs::read_to_string(dir.join("terminal/terminal.toml")).unwrap();
    assert!(!terminal_toml.contains("password =") && terminal_toml.contains("password_hash"), "{terminal_toml}");
    // The configurations open the databases with the CLI, as the README says.
    let cards = json(&cardnet(&[
        "issuer",
        "card",
        "list",
        "--config",
        &format!("{dir_arg}/issuer-20000000455.toml"),
        "--json",
    ]));
    assert!(!cards["cards"].as_array().unwrap().is_empty(), "{cards}");
    let merchants = json(&cardnet(&["merchant", "list", "--config", &format!("{dir_arg}/acquirer.toml"), "--json"]));
    assert_eq!(merchants["entries"].as_array().unwrap().len(), 1, "{merchants}");
    let journal = cardnet(&[
        "pos",
        "run",
        "--terminal-config",
        &format!("{dir_arg}/terminal/terminal.toml"),
        "--password",
        "1111",
        "--json",
        "journal",
    ]);
    assert!(journal.status.success(), "{}", String::from_utf8_lossy(&journal.stderr));

    // A second run into the same folder is refused (exit 2), the first run's files kept.
    let again = cardnet(&["demo", "--tour", "--json", "--dir", dir_arg]);
    assert_eq!(again.status.code(), Some(2), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(dir.join("switch.toml").is_file());
    // With --force it starts afresh.
    let forced = json(&cardnet(&["demo", "--tour", "--json", "--force", "--dir", dir_arg]));
    assert_eq!(forced["ledgers_balanced"], true);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGINT (Ctrl-C) or SIGTERM in the middle of the demo: it says so and removes its folder.
#[cfg(unix)]
#[test]
fn an_interrupted_demo_says_so_and_cleans_up() {
    for signal in ["-INT", "-TERM"] {
        let tmp = fresh_dir("demo", &format!("interrupt{signal}"));
        std::fs::create_dir_all(&tmp).unwrap();
        let mut child = demo_in(&tmp, &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // The first line comes once the network is up (its folder made): interrupt it then.
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
        assert!(first.starts_with("cardnet demo:"), "{first}");
        assert_eq!(entries(&tmp).len(), 1, "the demo's folder");
        Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the demo did not stop within {WAIT:?} of {signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let expected = if signal == "-INT" { 130 } else { 143 };
        assert_eq!(status.code(), Some(expected), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted") && stderr.contains("removed"), "{signal}: {stderr}");
        assert_eq!(entries(&tmp), Vec::<String>::new(), "{signal}: the demo left its folder behind");
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
