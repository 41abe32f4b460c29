//! Every command in README.md and docs/*.md runs as written: the ```sh blocks of each document,
//! in order, in one `bash` session in an empty folder, with `cardnet` on the PATH being the
//! binary under test. A command that fails (non-zero exit, or longer than `COMMAND_WAIT`) fails
//! the test with its document, line and output; so does a placeholder (`...`, `C1,C2`) that
//! could not run, a party left running at the end, or a `serve` that does not log to a file.
//!
//! What the test changes, all of it listed here:
//!
//! * `REWRITES`: `cargo run … --` becomes `cardnet` (the binary is built already).
//! * `NOT_RUN`: commands that cannot run inside a test, with the reason.
//! * `SMALLER`: the ledger benchmark with fewer transfers (a million take minutes in a debug
//!   build; `docs/benchmarks.md` has the release build's figures), the demo's short day.
//! * Ports. The documents use 127.0.0.1:9100–9103, which tests must not (another run, or a
//!   person's quickstart, may hold them). After each command every configuration file in the
//!   folder that says `listen = "127.0.0.1:P"` is set to port 0; when a documented `cardnet
//!   serve … > LOG 2>&1 &` starts, the test reads the address the party logs and points every
//!   configuration that names the documented address at it (`common::parties`). The commands
//!   themselves are never changed for ports.

#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use common::parties;

/// One command's limit (the demo takes seconds; the smaller ledger benchmark too).
const COMMAND_WAIT: Duration = Duration::from_secs(120);

const REWRITES: [(&str, &str); 4] = [
    ("cargo run --release -q -- ", "cardnet "),
    ("cargo run --release -- ", "cardnet "),
    ("cargo run -q -- ", "cardnet "),
    ("cargo run -- ", "cardnet "),
];

/// Commands not run, by how they start, and why.
const NOT_RUN: [(&str, &str); 5] = [
    ("cargo test", "the suite this test is part of"),
    ("bash bench/run.sh", "the codec benchmarks take minutes and install Python packages"),
    ("QUICK=1 bash bench/run.sh", "the codec benchmarks install Python packages"),
    ("cargo bench", "criterion benchmarks take minutes"),
    ("bench/.venv/bin/python", "made by bench/run.sh"),
];

const SMALLER: [(&str, &str); 2] = [
    ("cardnet bench ledger", "cardnet bench ledger --accounts 1000 --transfers 20000"),
    // The day of 50 terminals takes a minute or two in a debug build; `--fast` is the same day, shorter.
    ("cardnet demo ", "cardnet demo --fast --exit "),
];

/// What a command must not contain: text standing for something the reader fills in.
const PLACEHOLDERS: [&str; 5] = ["...", "…", "COMPONENT1", "C1,C2", " [--"];

/// A command of a document: its first line's number and its text (continuation lines kept).
struct DocCommand {
    line: usize,
    text: String,
}

/// The commands of every ```sh block, in order; comment-only lines left out.
fn commands(markdown: &str) -> Vec<DocCommand> {
    let mut found = Vec::new();
    let mut in_block = false;
    let mut current: Option<DocCommand> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim();
        if !in_block {
            in_block = trimmed == "```sh";
            continue;
        }
        if trimmed == "```" {
            in_block = false;
            continue;
        }
        match &mut current {
            Some(command) => {
                command.text.push('\n');
                command.text.push_str(line);
            }
            None if trimmed.is_empty() || trimmed.starts_with('#') => continue,
            None => current = Some(DocCommand { line: index + 1, text: line.to_owned() }),
        }
        if !line.ends_with('\\') {
            found.extend(current.take());
        }
    }
    found
}

/// The command without its trailing comments (a ` #` outside quotes ends the code on a line).
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let (mut single, mut double) = (false, false);
        let mut previous = ' ';
        for c in line.chars() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double && previous.is_whitespace() => break,
                _ => {}
            }
            code.push(c);
            previous = c;
        }
        code.push('\n');
    }
    code
}

/// One document's shell session, in its own folder and process group (killed at the end with
/// whatever it left running).
struct Session {
    doc: String,
    dir: PathBuf,
    bash: Child,
    /// Dropped first at the end: bash then sees end of input.
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: PathBuf,
    /// Configuration file → the address it was written with; documented address → bound one.
    configured: BTreeMap<PathBuf, String>,
    bound: BTreeMap<String, String>,
}

impl Session {
    fn start(doc: &str) -> Session {
        let base = common::fresh_dir("docs", &doc.replace(['/', '.'], "-"));
        let (dir, bin) = (base.join("work"), base.join("bin"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_cardnet"), bin.join("cardnet")).unwrap();
        let stderr = base.join("stderr.log");
        let mut bash = Command::new("bash")
            .arg("--noprofile")
            .arg("--norc")
            .current_dir(&dir)
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .process_group(0)
            .spawn()
            .unwrap();
        let stdin = bash.stdin.take().unwrap();
        let stdout = bash.stdout.take().unwrap();
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if send.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let mut session = Session {
            doc: doc.to_owned(),
            dir,
            bash,
            stdin: Some(stdin),
            lines,
            stderr,
            configured: BTreeMap::new(),
            bound: BTreeMap::new(),
        };
        // Unset variables and failures inside pipelines are errors, as a careful reader would
        // notice them.
        let (status, printed) = session.run("set -u -o pipefail");
        assert_eq!(status, 0, "{printed}");
        session
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("the session is open");
        writeln!(stdin, "{text}\necho \"@@done $?\"").unwrap();
        stdin.flush().unwrap();
    }

    /// Run one command; its exit status and what it printed.
    fn run(&mut self, text: &str) -> (i32, String) {
        let stderr_before = std::fs::metadata(&self.stderr).map(|m| m.len()).unwrap_or(0) as usize;
        self.send(text);
        let deadline = Instant::now() + COMMAND_WAIT;
        let mut printed = String::new();
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => match line.strip_prefix("@@done ") {
                    Some(status) => {
                        let errors = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                        printed.push_str(errors.get(stderr_before..).unwrap_or(""));
                        return (status.trim().parse().unwrap_or(-1), printed);
                    }
                    None => {
                        printed.push_str(&line);
                        printed.push('\n');
                    }
                },
                Err(RecvTimeoutError::Timeout) => panic!("{}: `{text}` ran longer than {COMMAND_WAIT:?}", self.doc),
                Err(RecvTimeoutError::Disconnected) => panic!("{}: bash ended during `{text}`: {printed}", self.doc),
            }
        }
    }

    /// Every `listen` in the folder's configurations on port 0 (remembering what it said), and
    /// every configuration pointed at the parties started so far.
    fn sync_ports(&mut self) {
        for file in parties::toml_files(&self.dir) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let listen = text.lines().find_map(|l| l.strip_prefix("listen = \"")?.strip_suffix('"').map(str::to_owned));
            if let Some(address) = listen.filter(|a| !a.ends_with(":0")) {
                parties::listen_on_port_zero(&file, &address);
                self.configured.insert(file.canonicalize().unwrap(), address);
            }
        }
        for (documented, bound) in &self.bound {
            parties::point_at(&self.dir, documented, bound);
        }
    }

    /// After `cardnet serve … --config F > LOG 2>&1 &`: where the party listens, from its log.
    fn party_started(&mut self, code: &str, line: usize) {
        let words: Vec<&str> = code.split_whitespace().collect();
        let after = |flag: &str| words.iter().position(|w| *w == flag).and_then(|i| words.get(i + 1)).copied();
        let config = after("--config").unwrap_or_else(|| panic!("{}:{line}: serve without --config", self.doc));
        let log = after(">").unwrap_or_else(|| {
            panic!("{}:{line}: a party in the background must log to its own file (`> logs/NAME.log 2>&1 &`)", self.doc)
        });
        let (config, log) = (self.dir.join(config), self.dir.join(log));
        let documented = self.configured.get(&config.canonicalize().unwrap()).cloned();
        let documented =
            documented.unwrap_or_else(|| panic!("{}:{line}: {} names no listen address", self.doc, config.display()));
        let bound = parties::wait_bound(&log, || false).unwrap_or_else(|| {
            panic!(
                "{}:{line}: the party never listened: {}",
                self.doc,
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        self.bound.insert(documented.clone(), bound.clone());
        parties::point_at(&self.dir, &documented, &bound);
    }

    /// Run the document's commands; what was not run, with why.
    fn run_document(&mut self, markdown: &str) -> Vec<String> {
        let mut skipped = Vec::new();
        for command in commands(markdown) {
            let mut text = command.text.clone();
            for (from, to) in REWRITES {
                text = text.replace(from, to);
            }
            for (from, to) in SMALLER {
                text = text.replace(from, to);
            }
            let code = code_of(&text);
            let place = format!("{}:{}", self.doc, command.line);
            if let Some((_, why)) = NOT_RUN.iter().find(|(start, _)| code.trim_start().starts_with(start)) {
                skipped.push(format!("{place}: `{}` ({why})", code.trim()));
                continue;
            }
            if code.contains("--backend postgres") && std::env::var("CARDNET_TEST_PG").is_err() {
                skipped.push(format!("{place}: `{}` (needs CARDNET_TEST_PG)", code.trim()));
                continue;
            }
            if let Some(placeholder) = PLACEHOLDERS.iter().find(|p| code.contains(*p)) {
                panic!("{place}: `{}` holds the placeholder {placeholder:?}: write what runs", code.trim());
            }
            let (status, printed) = self.run(&text);
            assert_eq!(status, 0, "{place}: `{}` exited with {status}:\n{printed}", command.text);
            // Shown with the test's output when it fails (or with --nocapture).
            println!("{place}: $ {}\n{printed}", command.text);
            if code.contains("cardnet serve ") {
                self.party_started(&code, command.line);
            }
            self.sync_ports();
        }
        let (_, running) = self.run("jobs -r");
        assert!(running.trim().is_empty(), "{}: parties still running at the end (a stop step?): {running}", self.doc);
        for file in parties::toml_files(&self.dir) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for port in 9100..=9103 {
                assert!(!text.contains(&format!("127.0.0.1:{port}\"")), "{} still names :{port}", file.display());
            }
        }
        skipped
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The whole group: bash and whatever a failed document left in the background.
        drop(self.stdin.take());
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.bash.id())]).status();
        let _ = self.bash.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(self.dir.parent().unwrap());
        }
    }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run `doc` (relative to the repository) and report what was left out.
fn run_doc(doc: &str) {
    let markdown = std::fs::read_to_string(repository().join(doc)).unwrap();
    assert!(!commands(&markdown).is_empty(), "{doc} has no ```sh commands");
    let mut session = Session::start(doc);
    for skipped in session.run_document(&markdown) {
        println!("not run: {skipped}");
    }
}

#[test]
fn readme_commands_run_as_written() {
    run_doc("README.md");
}

#[test]
fn quickstart_commands_run_as_written() {
    run_doc("docs/quickstart.md");
}

/// Every other document with commands, found by looking, so a new one is covered too.
#[test]
fn other_docs_commands_run_as_written() {
    let mut docs: Vec<String> = std::fs::read_dir(repository().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| format!("docs/{}", e.file_name().to_string_lossy()))
        .filter(|name| name.ends_with(".md") && name != "docs/quickstart.md")
        .collect();
    docs.sort();
    for doc in docs {
        let markdown = std::fs::read_to_string(repository().join(&doc)).unwrap();
        if !commands(&markdown).is_empty() {
            run_doc(&doc);
        }
    }
}

#[test]
fn commands_are_read_with_their_continuation_lines() {
    let markdown = "text\n```sh\n# a comment\nfirst --a \\\n  --b   # why\n\nsecond\n```\n```toml\nnot = 1\n```\n";
    let found = commands(markdown);
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].line, found[0].text.as_str()), (4, "first --a \\\n  --b   # why"));
    assert_eq!(code_of(&found[0].text), "first --a \\\n  --b   \n");
    assert_eq!(code_of("echo '# not a comment' \"#\" x#y # yes"), "echo '# not a comment' \"#\" x#y \n");
}
