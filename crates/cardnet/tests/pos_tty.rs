//! `cardnet pos` (the interactive terminal UI) driven in a pseudo-terminal through a sale, against
//! the real network processes (`cardnet network init`, then `cardnet serve issuer|switch|acquirer`
//! as in party_cli.rs). The pty comes from `script(1)` (`script -qfec CMD /dev/null`); keys go in
//! on its stdin with pauses, the screen comes back on its stdout. Skipped loudly when `script` is
//! not installed.
//!
//! The terminal signs on by itself at power-on (no sign-on key), the chip card is inserted (its
//! ARQC goes in field 55 and the chip checks the issuer's ARPC), the PIN is typed on the pad, and
//! the card file's transaction counter is one higher afterwards.

#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ProcessNetwork, cardnet, json};

fn script_available() -> bool {
    Command::new("script")
        .args(["-qfec", "true", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The screen text without escape sequences (CSI and OSC), for searching.
fn strip_ansi(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.peek() == Some(&'\\')) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The text without blanks. ratatui redraws only the cells that changed, so a blank that was
/// already blank is skipped with a cursor move and never reaches the wire: screen text is
/// searched with the blanks taken out of both sides.
fn without_blanks(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The chip's application transaction counter as the card file holds it (0 for a new card).
fn card_file_atc(card_file: &str) -> u64 {
    let text = std::fs::read_to_string(card_file).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(value["icc_master_key_ac"].is_string(), "the card file holds a chip card");
    value["atc"].as_u64().unwrap_or(0)
}

/// Whether `digits` occurs in `text` as a whole run of digits (not inside a longer number).
fn has_digit_run(text: &str, digits: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit()).any(|run| run == digits)
}

struct Tty {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Tty {
    fn spawn(command: &str) -> Tty {
        let mut child = Command::new("script")
            .args(["-qfec", command, "/dev/null"])
            .env("TERM", "xterm-256color")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        for mut pipe in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            });
        }
        Tty { child, output }
    }

    fn text(&self) -> String {
        strip_ansi(&self.output.lock().unwrap())
    }

    /// Wait until the screen has shown `what` (blanks aside) since `from` bytes of output.
    fn wait_for(&self, what: &str, from: usize, timeout: Duration) -> bool {
        let what = without_blanks(what);
        let start = Instant::now();
        while start.elapsed() < timeout {
            let seen = without_blanks(&strip_ansi(self.output.lock().unwrap().get(from..).unwrap_or_default()));
            if seen.contains(&what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn len(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    /// Keys as the terminal sends them, one write each, with a pause after.
    fn keys(&mut self, keys: &[&str]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        for key in keys {
            stdin.write_all(key.as_bytes()).unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn interactive_pos_sells_in_a_pseudo_terminal() {
    if !script_available() {
        eprintln!("SKIPPED: script(1) not available");
        println!("SKIPPED: script(1) not available");
        return;
    }
    let network = ProcessNetwork::set_up("pos-tty");
    let dir = network.dir.clone();
    let issuer_a = network.issuer_a.clone();
    let card = network.card.clone();
    let pan = card["pan"].as_str().unwrap().to_owned();
    let pin = card["pin"].as_str().unwrap().to_owned();
    let masked_pan = format!("{}{}{}", &pan[..6], "*".repeat(pan.len() - 10), &pan[pan.len() - 4..]);
    // POS00001 checks that the network is up; POS00002 runs the UI and has never signed on.
    let mut servers = network.start();
    let (probe_config, probe_card_file) = network.terminal_files("POS00001");
    let (terminal_config, card_file) = network.terminal_files("POS00002");

    // The network is up when a scripted balance inquiry (it holds nothing; the card swiped as a
    // fallback, so its chip counter stays) is answered 00: the acquirer listens and the switch has signed on
    // to the issuers.
    let base = ["pos", "run", "--terminal-config", &probe_config, "--operator", "01", "--password", "1111"];
    let mut ready = String::new();
    for _ in 0..150 {
        let output =
            cardnet(&[&base[..], &["--json", "balance", "--card-file", &probe_card_file, "--chip-fails"]].concat());
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        ready = format!("{value} {}", String::from_utf8_lossy(&output.stderr));
        if value["response_code"] == "00" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ready.contains("\"response_code\":\"00\""), "the network answers a balance inquiry: {ready}");
    let atc_before = card_file_atc(&card_file);

    // The UI in a pty of 100 x 40.
    let command = format!(
        "stty rows 40 cols 100; exec '{}' pos --terminal-config '{terminal_config}' --operator 01 --password 1111 \
         --cards '{card_file}' --lang en",
        env!("CARGO_BIN_EXE_cardnet")
    );
    let mut tty = Tty::spawn(&command);
    assert!(tty.wait_for("cardnet POS", 0, Duration::from_secs(30)), "the screen is drawn: {}", tty.text());
    // Power-on: the terminal signs on by itself, with the progress screen up, then the menu.
    let signing_on = tty.wait_for("Sign on: waiting for the host", 0, Duration::from_secs(30));
    assert!(signing_on, "the power-on sign-on shows its progress: {}", tty.text());
    let signed_on = tty.wait_for("Power-on sign-on: APPROVED 00", 0, Duration::from_secs(60));
    assert!(signed_on, "the terminal signs on at power-on: {}", tty.text());
    std::thread::sleep(Duration::from_millis(300));
    // Sale (2), 25.00, the card inserted (the card screen's first entry mode), the PIN, Enter.
    let mark = tty.len();
    tty.keys(&["2", "2", "5", "0", "0", "\r"]);
    assert!(tty.wait_for("Entry [insert]", mark, Duration::from_secs(10)), "the card screen: {}", tty.text());
    let mark = tty.len();
    tty.keys(&["\r"]);
    assert!(tty.wait_for("Cardholder: enter PIN", mark, Duration::from_secs(10)), "the PIN pad: {}", tty.text());
    let pin_keys: Vec<String> = pin.chars().map(String::from).collect();
    tty.keys(&pin_keys.iter().map(String::as_str).collect::<Vec<_>>());
    let before_enter = tty.len();
    tty.keys(&["\r"]);
    let approved = tty.wait_for("APPROVED 00", before_enter, Duration::from_secs(90));
    assert!(approved, "the sale is approved on screen: {}", tty.text());
    // The slip: the card number masked, read from the chip (/I).
    let slip = tty.wait_for(&format!("CARD NO: {masked_pan} /I"), before_enter, Duration::from_secs(10));
    assert!(slip, "the slip shows the masked card number, inserted: {}", tty.text());
    // Back to the menu, then Esc quits (Ctrl-C if the Esc was read as the start of a sequence).
    tty.keys(&["\r"]);
    std::thread::sleep(Duration::from_millis(300));
    tty.keys(&["\u{1b}"]);
    let mut exit = tty.wait_exit(Duration::from_secs(5));
    if exit.is_none() {
        tty.keys(&["\u{3}"]);
        exit = tty.wait_exit(Duration::from_secs(30));
    }
    let raw = tty.output.lock().unwrap().clone();
    let text = strip_ansi(&raw);
    let exit = exit.unwrap_or_else(|| panic!("cardnet pos quits: {text}"));
    assert!(exit.success(), "cardnet pos exits 0: {exit:?}: {text}");

    // Nothing on the screen ever showed the full card number or the PIN.
    let raw_text = String::from_utf8_lossy(&raw);
    assert!(!raw_text.contains(&pan) && !text.contains(&pan), "no full PAN on the screen");
    assert!(!has_digit_run(&raw_text, &pin) && !has_digit_run(&text, &pin), "no PIN on the screen");

    let stopped = servers.stop();
    assert!(stopped.iter().all(|s| s.success()), "a graceful stop: {stopped:?}");
    let list = json(&cardnet(&["issuer", "card", "list", "--config", &issuer_a, "--json"]));
    assert_eq!(list["cards"][0]["available_minor"], 50_000 - 2_500, "the sale is held at the issuer");
    // One cryptogram left the chip, and its counter was written back to the card file.
    assert_eq!(card_file_atc(&card_file), atc_before + 1, "the card file's ATC went up by one");
    let _ = std::fs::remove_dir_all(&dir);
}
