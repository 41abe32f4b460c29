//! `cardnet up` as a process: started on port 0 in a folder, its JSON summary read, stopped with
//! Ctrl-C (SIGINT) however a test ends; the seeded terminals driven with `cardnet pos run`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running `cardnet up`, interrupted (Ctrl-C) however the test ends, so that a failed
/// assertion leaves no party running.
pub struct Up(Option<Child>);

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

/// `cardnet up --dir DIR --port 0 --json` and the JSON object it prints once the network is up.
pub fn up(dir: &std::path::Path) -> (Up, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(["up", "--dir", dir.to_str().unwrap(), "--port", "0", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let running = Up(Some(child));
    let summary: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (running, summary)
}

/// Ctrl-C (SIGINT) to `cardnet up`: it stops every party and exits 0.
pub fn stop(mut running: Up, dir: &std::path::Path) {
    let mut child = running.0.take().unwrap();
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success(), "cardnet up stops cleanly on Ctrl-C");
    let left = super::processes_naming(dir);
    assert!(left.is_empty(), "parties left running: {left:?}");
}

/// `cardnet pos run` at seeded `terminal` of DIR/terminals, operator 01.
pub fn pos(dir: &std::path::Path, terminal: &str, args: &[&str]) -> Value {
    let terminals = dir.join("terminals");
    let base = ["pos", "run", "--dir", terminals.to_str().unwrap(), "--terminal", terminal];
    super::json(&super::cardnet(&[&base[..], &["--operator", "01", "--password", "1111"], args, &["--json"]].concat()))
}
