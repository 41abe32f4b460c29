//! The scripted terminal (`cardnet pos run --json`) the process-level days drive: each run's
//! output kept, so a test can look for card numbers in all of it.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cardnet;

pub const CASHIER: [&str; 4] = ["--operator", "01", "--password", "1111"];
pub const SUPERVISOR_PASSWORD: &str = "123456";
/// How long the network may take to come up, and an advice or reversal to reach the issuer.
pub const WAIT: Duration = Duration::from_secs(30);
pub const POLL: Duration = Duration::from_millis(150);

// ---- the terminal, scripted ------------------------------------------------------------------

/// `cardnet pos run` with one terminal configuration; every run's stdout and stderr kept so the
/// test can look for card numbers in all of it.
pub struct Till {
    pub config: String,
    pub outputs: Vec<String>,
}

impl Till {
    pub fn new(config: String) -> Till {
        Till { config, outputs: Vec::new() }
    }

    /// `pos run --terminal-config … --operator 01 --password 1111 [--supervisor-password …]
    /// --json ARGS`, its output kept.
    pub fn output(&mut self, supervisor: bool, args: &[&str]) -> Output {
        let mut all = vec!["pos", "run", "--terminal-config", self.config.as_str()];
        all.extend(CASHIER);
        if supervisor {
            all.extend(["--supervisor-password", SUPERVISOR_PASSWORD]);
        }
        all.push("--json");
        all.extend(args);
        let output = cardnet(&all);
        // What the terminal printed (not the command line, which may carry a typed card number).
        let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        self.outputs.push(printed);
        output
    }

    /// A run that must succeed (exit 0, one JSON object).
    pub fn run(&mut self, args: &[&str]) -> Value {
        let output = self.output(false, args);
        parse(args, &output)
    }

    /// A run with the supervisor's password too (void, refund, pre-auth void, settle).
    pub fn supervised(&mut self, args: &[&str]) -> Value {
        let output = self.output(true, args);
        parse(args, &output)
    }

    /// Swipe balance inquiries until one is approved: the acquirer is up, its session to the
    /// switch is, and the switch's to the issuer (the processes start in any order).
    pub fn wait_ready(&mut self, card_file: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            // A chip card's stripe: a fallback, as after a chip that cannot be read.
            let output = self.output(false, &["balance", "--card-file", card_file, "--chip-fails"]);
            let answer: Option<Value> = serde_json::from_slice(&output.stdout).ok();
            if output.status.success()
                && let Some(answer) = answer
                && answer["response_code"] == "00"
            {
                return answer;
            }
            assert!(Instant::now() < deadline, "the network never answered: {}", self.outputs.join("\n"));
            std::thread::sleep(POLL);
        }
    }

    /// Every run's output: none carries one of `pans`.
    pub fn assert_masked(&self, pans: &[&str]) {
        for text in &self.outputs {
            for pan in pans {
                assert!(!text.contains(pan), "a full card number in:\n{text}");
            }
        }
    }
}

pub fn parse(args: &[&str], output: &Output) -> Value {
    assert!(
        output.status.success(),
        "pos run {args:?}: {:?}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("pos run {args:?}: {e}: {}", String::from_utf8_lossy(&output.stdout)))
}
