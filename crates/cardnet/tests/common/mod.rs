//! What the binary's process-level tests share: running `cardnet`, and a whole network set up
//! with the CLI (`cardnet network init`, a card, a merchant through review, two terminals with a
//! known TMK) whose parties run as separate `cardnet serve` processes.

// Each test crate uses part of this module.
#![allow(dead_code)]

pub mod parties;
pub mod till;
pub mod up;
pub mod webdriver;

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;

pub fn cardnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardnet")).args(args).stdin(Stdio::null()).output().unwrap()
}

pub fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Processes whose command line names `dir` (the bench's parties run `serve … --config DIR/…`).
pub fn processes_naming(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(&needle) {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// A fresh folder under the system temp dir, named after the test crate and case.
pub fn fresh_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cardnet-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every file under `dir` (recursively) whose name ends in `.extension`.
pub fn files_under(dir: &std::path::Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                found.push(path);
            }
        }
    }
    found
}

/// The two components of the terminals' TMK, injected with `terminal add --import-components`.
pub const TMK_COMPONENTS: (&str, &str) = ("11111111111111112222222222222222", "33333333333333334444444444444444");

/// The clear TMK: the components XORed.
pub fn tmk_clear() -> Vec<u8> {
    let mut tmk = iso8583::hex::decode(TMK_COMPONENTS.0).unwrap();
    for (byte, other) in tmk.iter_mut().zip(iso8583::hex::decode(TMK_COMPONENTS.1).unwrap()) {
        *byte ^= other;
    }
    tmk
}

/// A network configured through the CLI, not yet running.
pub struct ProcessNetwork {
    pub dir: PathBuf,
    /// What `network init --json` printed.
    pub init: serde_json::Value,
    pub issuer_a: String,
    pub issuer_b: String,
    pub switch_config: String,
    pub acquirer_config: String,
    /// A debit card at issuer A with 500.00, as `issuer card issue --json` printed it.
    pub card: serde_json::Value,
    pub merchant_id: String,
    /// Where each party listens once started (issuer A, issuer B, switch, acquirer): the
    /// addresses they printed (`parties`).
    bound: OnceLock<Vec<String>>,
}

impl ProcessNetwork {
    /// `network init`, a card (issued before the issuer runs: one process per SQLite ledger
    /// file), a merchant through review, and terminals POS00001 and POS00002 with the known TMK.
    pub fn set_up(prefix: &str) -> ProcessNetwork {
        let dir = fresh_dir(prefix, "network");
        // The default ports are only text in the files: every party listens on port 0 (`parties`).
        let init = json(&cardnet(&["network", "init", "--dir", dir.to_str().unwrap(), "--json"]));
        let text = |value: &serde_json::Value| value.as_str().unwrap().to_owned();
        let issuer_a = text(&init["issuers"][0]["config"]);
        let issuer_b = text(&init["issuers"][1]["config"]);
        let switch_config = text(&init["switch"]["config"]);
        let acquirer_config = text(&init["acquirer"]["config"]);
        let issue =
            ["issuer", "card", "issue", "--config", &issuer_a, "--product", "debit", "--balance", "50000", "--json"];
        let card = json(&cardnet(&issue));
        let config = acquirer_config.as_str();
        let apply: Vec<&str> = vec![
            "merchant",
            "apply",
            "--config",
            config,
            "--name",
            "Cardnet Coffee",
            "--licence",
            "91350200776049653A",
            "--legal-rep",
            "Li Lei",
            "--mcc",
            "5812",
            "--city",
            "Shanghai",
            "--country",
            "CN",
            "--bank-code",
            "102100",
            "--account",
            "6222020200112233445",
            "--volume",
            "50000000",
            "--json",
        ];
        json(&cardnet(&apply));
        let review = ["merchant", "review", "--config", config, "--application", "1", "--approve", "--reason", "ok"];
        json(&cardnet(&[&review[..], &["--reviewer", "Wang Fang", "--json"]].concat()));
        let activate = ["merchant", "activate", "--config", config, "--application", "1", "--mdr-debit-bp", "50"];
        let merchant = json(&cardnet(&[&activate[..], &["--mdr-credit-bp", "60", "--cycle", "t1", "--json"]].concat()));
        let merchant_id = text(&merchant["merchant"]["merchant_id"]);
        let components = format!("{},{}", TMK_COMPONENTS.0, TMK_COMPONENTS.1);
        // Two terminals of the merchant: each keeps its own trace numbers.
        for terminal in ["POS00001", "POS00002"] {
            let add = ["terminal", "add", "--config", config, "--merchant", &merchant_id, "--terminal", terminal];
            json(&cardnet(&[&add[..], &["--import-components", &components, "--json"]].concat()));
        }
        let network = ProcessNetwork {
            dir,
            init,
            issuer_a,
            issuer_b,
            switch_config,
            acquirer_config,
            card,
            merchant_id,
            bound: OnceLock::new(),
        };
        for (config, configured) in network.configs().iter().zip(network.configured_addresses()) {
            parties::listen_on_port_zero(std::path::Path::new(config), &configured);
        }
        network
    }

    /// The parties' configuration files, in start order: issuer A, issuer B, switch, acquirer.
    fn configs(&self) -> [&str; 4] {
        [&self.issuer_a, &self.issuer_b, &self.switch_config, &self.acquirer_config]
    }

    /// The addresses `network init` wrote (the files name them until the parties run).
    fn configured_addresses(&self) -> Vec<String> {
        let init = &self.init;
        [
            &init["issuers"][0]["listen"],
            &init["issuers"][1]["listen"],
            &init["switch"]["listen"],
            &init["acquirer"]["listen"],
        ]
        .into_iter()
        .map(|value| value.as_str().unwrap_or_else(|| panic!("a listen address in {init}")).to_owned())
        .collect()
    }

    /// Where terminals connect (once started).
    pub fn acquirer_listen(&self) -> String {
        self.listen_addresses()[3].clone()
    }

    /// A terminal application's folder for `terminal_id` (the network started: the acquirer's
    /// address is the one it bound): its TMK file, `terminal.toml`
    /// (supervisor 00/123456, cashier 01/1111) and the card file; returns (config, card file).
    pub fn terminal_files(&self, terminal_id: &str) -> (String, String) {
        self.terminal_files_at(terminal_id, &self.acquirer_listen())
    }

    /// [`ProcessNetwork::terminal_files`] with the primary host at `primary`.
    fn terminal_files_at(&self, terminal_id: &str, primary: &str) -> (String, String) {
        let folder = self.dir.join(format!("terminal-{terminal_id}"));
        std::fs::create_dir_all(&folder).unwrap();
        let tmk = tmk_clear();
        std::fs::write(folder.join("tmk.hex"), iso8583::hex::encode(&tmk)).unwrap();
        let tmk_kcv = iso8583::hex::encode(&hsm::kcv::kcv_tdes(&tmk).unwrap()[..3]);
        let config = format!(
            "terminal_id = \"{terminal_id}\"\nmerchant_id = \"{}\"\nprimary = \"{}\"\n\
             tmk_file = \"tmk.hex\"\ntmk_kcv = \"{tmk_kcv}\"\njournal = \"terminal.db\"\nkey_scheme = \"004\"\n\
             [[operators]]\nnumber = \"00\"\nrole = \"supervisor\"\npassword = \"123456\"\n\
             [[operators]]\nnumber = \"01\"\nrole = \"cashier\"\npassword = \"1111\"\n",
            self.merchant_id, primary
        );
        std::fs::write(folder.join("terminal.toml"), config).unwrap();
        std::fs::write(folder.join("card.json"), self.card.to_string()).unwrap();
        (folder.join("terminal.toml").display().to_string(), folder.join("card.json").display().to_string())
    }

    /// Every party as its own `cardnet serve` process, its log lines in `DIR/logs/NAME.log`;
    /// returns once each listens.
    pub fn start(&self) -> Servers {
        self.start_logged(&self.dir.join("logs"))
    }

    /// As [`ProcessNetwork::start`], each party's stderr (its log lines) in `logs/NAME.log`
    /// (issuer-a, issuer-b, switch, acquirer).
    pub fn start_logged(&self, logs: &std::path::Path) -> Servers {
        self.start_with(logs, &[])
    }

    /// As [`ProcessNetwork::start_logged`], every `cardnet serve` given `extra` arguments too
    /// (`--admin-listen 127.0.0.1:0`, `--log-format json`).
    pub fn start_with(&self, logs: &std::path::Path, extra: &[&str]) -> Servers {
        std::fs::create_dir_all(logs).unwrap();
        let mut servers = Servers(Vec::new());
        let mut bound = Vec::new();
        for (((name, party), config), configured) in PARTIES.iter().zip(self.configs()).zip(self.configured_addresses())
        {
            let log = logs.join(format!("{name}.log"));
            let child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
                .args(["serve", party, "--config", config])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
                .spawn()
                .unwrap();
            servers.0.push(child);
            let child = servers.0.last_mut().unwrap();
            let address = parties::wait_bound(&log, || child.try_wait().ok().flatten().is_some());
            let address = address.unwrap_or_else(|| {
                panic!("{name} never said where it listens: {}", std::fs::read_to_string(&log).unwrap_or_default())
            });
            // Whoever connects to this party (started after it) finds it at its bound address.
            parties::point_at(&self.dir, &configured, &address);
            bound.push(address);
        }
        assert!(self.bound.set(bound).is_ok(), "the network was started twice");
        servers
    }
}

/// The running parties; killed however the test ends.
pub struct Servers(Vec<Child>);

/// The parties in start order: (log name, `serve` role).
const PARTIES: [(&str, &str); 4] =
    [("issuer-a", "issuer"), ("issuer-b", "issuer"), ("switch", "switch"), ("acquirer", "acquirer")];

impl ProcessNetwork {
    /// Stop party `index` (SIGTERM, as an operator would) and leave it down.
    pub fn stop_party(&self, servers: &mut Servers, index: usize) {
        let child = &mut servers.0[index];
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(child.wait().unwrap().success(), "{} stopped cleanly", PARTIES[index].0);
    }

    /// Start party `index` again where it listened before (those who connect to it keep its
    /// address), its log lines appended to its log.
    pub fn restart_party(&self, servers: &mut Servers, index: usize) {
        let (name, role) = PARTIES[index];
        let config = self.configs()[index];
        let bound = &self.listen_addresses()[index];
        let text = std::fs::read_to_string(config).unwrap();
        std::fs::write(config, text.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{bound}\""))).unwrap();
        let log = self.dir.join("logs").join(format!("{name}.restarted.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
            .args(["serve", role, "--config", config])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        servers.0[index] = child;
        let child = &mut servers.0[index];
        let address = parties::wait_bound(&log, || child.try_wait().ok().flatten().is_some());
        assert_eq!(
            address.as_deref(),
            Some(bound.as_str()),
            "{name} back at {bound}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Servers {
    /// The process id of party `index` (0 issuer A, 1 issuer B, 2 switch, 3 acquirer).
    pub fn pid(&self, index: usize) -> u32 {
        self.0[index].id()
    }

    /// SIGTERM to each (a graceful stop), then their exit statuses.
    pub fn stop(&mut self) -> Vec<ExitStatus> {
        for child in &mut self.0 {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        }
        self.0.drain(..).map(|mut child| child.wait().unwrap()).collect()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl ProcessNetwork {
    /// Another card at issuer A, as `issuer card issue --json` prints it: `product` debit or
    /// credit, an opening balance for a debit card, an expiry YYMM for a test card (one in the
    /// past is declined 54). Only while the issuer is not running (one process per ledger file).
    pub fn issue_card(&self, product: &str, balance_minor: Option<u64>, expiry: Option<&str>) -> serde_json::Value {
        let mut args = vec!["issuer", "card", "issue", "--config", self.issuer_a.as_str(), "--product", product];
        let balance = balance_minor.map(|b| b.to_string());
        if let Some(balance) = &balance {
            args.extend(["--balance", balance.as_str()]);
        }
        if let Some(expiry) = expiry {
            args.extend(["--expiry", expiry]);
        }
        args.push("--json");
        json(&cardnet(&args))
    }

    /// Issuer A's cards as `issuer card list --json` prints them (masked). It only reads the
    /// issuer's SQLite files, so it works while `serve issuer` runs too.
    pub fn card_list(&self) -> serde_json::Value {
        json(&cardnet(&["issuer", "card", "list", "--config", &self.issuer_a, "--json"]))
    }

    /// The available balance of issuer A's card `card_id` (from `issuer card list`).
    pub fn available(&self, card_id: i64) -> i64 {
        let list = self.card_list();
        let cards = list["cards"].as_array().expect("a card list");
        let card = cards.iter().find(|c| c["card_id"] == card_id).unwrap_or_else(|| panic!("card {card_id}: {list}"));
        card["available_minor"].as_i64().expect("available_minor")
    }

    /// [`ProcessNetwork::terminal_files`] with the terminal's primary host at `primary` (a relay
    /// in front of the acquirer, say) and a response timeout of `timeout_ms`.
    pub fn terminal_files_via(&self, terminal_id: &str, primary: &str, timeout_ms: u64) -> (String, String) {
        // The network need not be started by `start`: a test that starts its own parties
        // names the address it wants.
        let (config, card) = self.terminal_files_at(terminal_id, primary);
        let text = std::fs::read_to_string(&config).unwrap();
        let from = format!("primary = \"{primary}\"\n");
        assert!(text.contains(&from), "{text}");
        let to = format!("primary = \"{primary}\"\ntimeout_ms = {timeout_ms}\nconnect_timeout_ms = 2000\n");
        std::fs::write(&config, text.replacen(&from, &to, 1)).unwrap();
        (config, card)
    }

    /// Every listening address of the running network: both issuers, the switch, the acquirer.
    pub fn listen_addresses(&self) -> Vec<String> {
        self.bound.get().expect("start the network first: the parties choose their ports").clone()
    }

    /// Wait until every party accepts TCP connections (`start` returns once each has bound);
    /// false after `timeout`.
    pub fn wait_listening(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        for address in self.listen_addresses() {
            while std::net::TcpStream::connect(&address).is_err() {
                if std::time::Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        true
    }
}
