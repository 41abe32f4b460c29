//! Parties as processes on ports the kernel picks. A port cannot be handed from a test to a
//! child process, so each party is configured with `listen = "127.0.0.1:0"`, started, and its
//! bound address read from the line `cardnet serve` logs when it listens; then every
//! configuration that pointed at the party (the switch's issuer endpoints, the acquirer's switch,
//! the acquirer link file, a terminal's host) is pointed at that address before the next party
//! starts. Start order follows the connections: issuers, switch, acquirer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a party may take to listen.
pub const LISTEN_WAIT: Duration = Duration::from_secs(30);

/// The address in a `cardnet serve` line: "… listening on ADDR …" (issuer, switch) or
/// "… listening for terminals on ADDR …" (acquirer).
pub fn bound_address(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let rest = &line[line.find("listening")?..];
        let rest = &rest[rest.find(" on ")? + 4..];
        rest.split_whitespace().next().map(|address| address.trim_end_matches([',', ';']).to_owned())
    })
}

/// Wait until the party logging to `log` says where it listens; `None` after `LISTEN_WAIT` or
/// once `exited` says the process is gone.
pub fn wait_bound(log: &Path, mut exited: impl FnMut() -> bool) -> Option<String> {
    let deadline = Instant::now() + LISTEN_WAIT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(address) = bound_address(&text) {
            return Some(address);
        }
        if Instant::now() > deadline || exited() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Set `listen = "<configured>"` in `config` to port 0.
pub fn listen_on_port_zero(config: &Path, configured: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let from = format!("listen = \"{configured}\"");
    assert!(text.contains(&from), "{} has no {from}", config.display());
    std::fs::write(config, text.replace(&from, "listen = \"127.0.0.1:0\"")).unwrap();
}

/// Every TOML file under `dir` (terminal folders included).
pub fn toml_files(dir: &Path) -> Vec<PathBuf> {
    super::files_under(dir, "toml")
}

/// Point every configuration under `dir` that names `configured` (quoted, the whole address)
/// at `bound`.
pub fn point_at(dir: &Path, configured: &str, bound: &str) {
    let files = toml_files(dir);
    let (from, to) = (format!("\"{configured}\""), format!("\"{bound}\""));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains(&from) {
            std::fs::write(&file, text.replace(&from, &to)).unwrap();
        }
    }
}

/// `cardnet serve ROLE --config CONFIG` on its own, its stderr in `log`: the process and the
/// address it said it bound (`None` if it never did).
pub fn serve(role: &str, config: &str, log: &Path) -> (std::process::Child, Option<String>) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cardnet"))
        .args(["serve", role, "--config", config])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let address = wait_bound(log, || child.try_wait().ok().flatten().is_some());
    (child, address)
}
