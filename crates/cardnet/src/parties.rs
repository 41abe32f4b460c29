//! The parties as separate `cardnet serve` processes, as in production (`cardnet up`, `cardnet
//! bench e2e`). Either each listens where its configuration says ([`Listen::Configured`]), or on
//! a port the kernel picks ([`Listen::PortZero`]): its configuration is set to `127.0.0.1:0`, the
//! party is started, its bound address is read from the line `cardnet serve` logs when it
//! listens, and every configuration that named the party (the switch's issuer endpoints, the
//! acquirer's switch, the link file, its own `listen`) is pointed at that address before the
//! next party starts — so between runs every file names every party where it last listened.
//! Start order follows the connections: issuers, switch, acquirer. A port found free and
//! released could be taken before the party binds it; port 0 cannot.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli_error::CliError;

/// How long a party may take to say where it listens.
const LISTEN_WAIT_MS_MAX: u64 = 30_000;
/// How often a party's log is read while waiting for it to listen.
const LISTEN_POLL_MS: u64 = 20;
/// How long a party may take to stop after SIGTERM before it is killed.
const STOP_WAIT_MS_MAX: u64 = 10_000;
/// Configuration files looked through when a party's address is rewritten.
const CONFIG_FILES_MAX: usize = 64;

/// One party to start: its name (log file and report), `serve` role and configuration file.
pub struct PartySpec {
    pub name: String,
    pub role: &'static str,
    pub config: PathBuf,
}

/// Where the parties listen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Listen {
    /// Where each configuration says.
    Configured,
    /// On a port the kernel picks, the configurations pointed at it.
    PortZero,
}

/// How many times a killed party is started again when its address is not free yet (a
/// connection of the kill's moment may hold the port a little longer).
const RESTART_ATTEMPTS_MAX: u32 = 5;
/// Pause between those attempts.
const RESTART_RETRY_MS: u64 = 200;

/// The process ids of every party this process started and has not stopped: what an
/// interrupted command kills before it exits without unwinding.
static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn running(change: impl FnOnce(&mut Vec<u32>)) {
    if let Ok(mut pids) = RUNNING.lock() {
        change(&mut pids);
    }
}

/// SIGKILL to every party still running (an interrupted `cardnet demo`, which then exits).
pub fn kill_all_running() {
    running(|pids| {
        for pid in pids.drain(..) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    });
}

/// The running parties; stopped (SIGTERM, then SIGKILL) and waited for however the bench ends.
pub struct Parties {
    running: Vec<(String, Child)>,
    /// Per party, in start order: its `serve` role, configuration and bound address (a
    /// restarted party must listen there again: the others, and the terminals, connect to it).
    started: Vec<Started>,
    logs: PathBuf,
}

struct Started {
    role: &'static str,
    config: PathBuf,
    bound: String,
}

/// A party killed (SIGKILL) under load and started again.
#[derive(Clone, Debug)]
pub struct Struck {
    pub name: String,
    /// When the SIGKILL was sent.
    pub at: Instant,
    /// From the SIGKILL until the new process listened again.
    pub down_ms: u64,
}

impl Parties {
    /// Start each party in order, each on port 0, waiting until it listens; the configurations
    /// under `dir` are pointed at each bound address. On failure the ones started are stopped.
    pub fn start(
        exe: &Path,
        dir: &Path,
        specs: &[PartySpec],
        listen: Listen,
    ) -> Result<(Parties, Vec<String>), CliError> {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let mut parties = Parties { running: Vec::new(), started: Vec::new(), logs: logs.clone() };
        let mut bound = Vec::with_capacity(specs.len());
        for spec in specs {
            let configured = read_listen(&spec.config)?;
            if listen == Listen::PortZero {
                set_listen(&spec.config, PORT_ZERO)?;
            }
            let log_path = logs.join(format!("{}.log", spec.name));
            let child = spawn(exe, &spec.name, spec.role, &spec.config, &log_path)?;
            parties.running.push((spec.name.clone(), child));
            let index = parties.running.len() - 1;
            let address = parties.wait_bound(index, &log_path)?;
            if listen == Listen::PortZero {
                point_at(dir, &configured, &address)?;
                set_listen(&spec.config, &address)?;
            }
            parties.started.push(Started { role: spec.role, config: spec.config.clone(), bound: address.clone() });
            bound.push(address);
        }
        Ok((parties, bound))
    }

    /// SIGKILL to party `name` (no chance to finish anything: what a power cut does), then the
    /// same `serve` started again at once on its configuration, listening at the address it had.
    /// Its new log is `logs/NAME.restarted.log`.
    pub fn kill_and_restart(&mut self, exe: &Path, name: &str) -> Result<Struck, CliError> {
        let index = self
            .running
            .iter()
            .position(|(running, _)| running == name)
            .ok_or_else(|| CliError::Failure(format!("--kill: no party {name} is running")))?;
        let started =
            self.started.get(index).ok_or_else(|| CliError::Failure(format!("--kill: the {name} never listened")))?;
        let (role, config, bound) = (started.role, started.config.clone(), started.bound.clone());
        // Port 0 would give it a new port: the acquirer's switch, the switch's issuers and the
        // terminals all name the old one.
        set_listen(&config, &bound)?;
        let at = Instant::now();
        let child = &mut self.running[index].1;
        child.kill().map_err(|e| CliError::Failure(format!("--kill: SIGKILL to the {name}: {e}")))?;
        let _ = child.wait();
        let log = self.logs.join(format!("{name}.restarted.log"));
        let mut last_error = String::new();
        for _ in 0..RESTART_ATTEMPTS_MAX {
            self.running[index].1 = spawn(exe, name, role, &config, &log)?;
            match self.wait_bound(index, &log) {
                Ok(address) if address == bound => {
                    let down_ms = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
                    return Ok(Struck { name: name.to_owned(), at, down_ms });
                }
                Ok(address) => {
                    return Err(CliError::Failure(format!(
                        "--kill: the {name} came back at {address}, not at {bound}"
                    )));
                }
                Err(error) => {
                    // Not listening: make sure this attempt's process is gone before the next.
                    let child = &mut self.running[index].1;
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = error.to_string();
                }
            }
            std::thread::sleep(Duration::from_millis(RESTART_RETRY_MS));
        }
        Err(CliError::Failure(format!(
            "--kill: the {name} did not come back at {bound} in {RESTART_ATTEMPTS_MAX} starts: {last_error}"
        )))
    }

    /// Party `index`'s bound address from its log, or why it never came.
    fn wait_bound(&mut self, index: usize, log: &Path) -> Result<String, CliError> {
        let deadline = Instant::now() + Duration::from_millis(LISTEN_WAIT_MS_MAX);
        let Some((name, child)) = self.running.get_mut(index) else {
            return Err(CliError::Failure("no party started".into()));
        };
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(address) = bound_address(&text) {
                return Ok(address);
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let last = text.lines().last().unwrap_or("(nothing logged)").to_owned();
                let why =
                    exited.map_or(format!("no listening line in {LISTEN_WAIT_MS_MAX} ms"), |s| format!("exited ({s})"));
                return Err(CliError::Failure(format!(
                    "the network did not come up: the {name} {why}; its log {} ends: {last}",
                    log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(LISTEN_POLL_MS));
        }
    }

    /// Start `exe args…` beside the parties (the console), everything it prints in
    /// `logs/NAME.log`, stopped with them; returns once it prints `marker` (e.g. "console on
    /// http://"), with what follows it on that line.
    pub fn start_beside(&mut self, exe: &Path, name: &str, args: &[&str], marker: &str) -> Result<String, CliError> {
        let log = self.logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()
            .map_err(|e| CliError::Failure(format!("starting the {name}: {e}")))?;
        let pid = child.id();
        running(|pids| pids.push(pid));
        self.running.push((name.to_owned(), child));
        let deadline = Instant::now() + Duration::from_millis(LISTEN_WAIT_MS_MAX);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(found) =
                text.lines().find_map(|line| line.split_once(marker).map(|(_, rest)| rest.trim().to_owned()))
            {
                return Ok(found);
            }
            let exited = self.running.last_mut().and_then(|(_, child)| child.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let last = text.lines().last().unwrap_or("(nothing printed)").to_owned();
                return Err(CliError::Failure(format!(
                    "the {name} did not start: its log {} ends: {last}",
                    log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(LISTEN_POLL_MS));
        }
    }

    /// A party that has exited on its own, with its status, if any has.
    pub fn exited(&mut self) -> Option<(String, std::process::ExitStatus)> {
        self.running.iter_mut().find_map(|(name, child)| child.try_wait().ok().flatten().map(|s| (name.clone(), s)))
    }

    /// Where the parties' logs are (`NAME.log`).
    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// Where each party serves its admin endpoint (`/metrics`, `/healthz`, `/readyz`), in start
    /// order, read from the line `cardnet serve` logs (`admin on http://ADDR`); `None` for a
    /// party without one (its configuration has no `[admin] listen`).
    pub fn admin_addresses(&self) -> Vec<(String, Option<String>)> {
        self.running
            .iter()
            .map(|(name, _)| {
                let log = std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default();
                (name.clone(), metrics::admin::address_in_log(&log).map(|a| a.to_string()))
            })
            .collect()
    }

    /// Every party's (name, process id), in start order.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.running.iter().map(|(name, child)| (name.clone(), child.id())).collect()
    }

    /// SIGTERM to each (a graceful stop, as an operator does), then SIGKILL to any still
    /// running after `STOP_WAIT_MS_MAX`; every one waited for. Returns the names of those that
    /// had to be killed.
    pub fn stop(&mut self) -> Vec<String> {
        for (_, child) in &self.running {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + Duration::from_millis(STOP_WAIT_MS_MAX);
        let mut killed = Vec::new();
        for (name, mut child) in self.running.drain(..) {
            let pid = child.id();
            running(|pids| pids.retain(|p| *p != pid));
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(LISTEN_POLL_MS)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        killed.push(name);
                        break;
                    }
                }
            }
        }
        killed
    }
}

impl Drop for Parties {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Start `cardnet serve ROLE --config CONFIG`, its stderr (its log lines) into `log`.
fn spawn(exe: &Path, name: &str, role: &str, config: &Path, log: &Path) -> Result<Child, CliError> {
    let file = std::fs::File::create(log)?;
    let child = Command::new(exe)
        .args(["serve", role, "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .map_err(|e| CliError::Failure(format!("starting the {name}: {e}")))?;
    let pid = child.id();
    running(|pids| pids.push(pid));
    Ok(child)
}

/// The address in a `cardnet serve` line: "… listening on ADDR …" (issuer, switch) or
/// "… listening for terminals on ADDR …" (acquirer).
fn bound_address(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let rest = &line[line.find("listening")?..];
        let rest = &rest[rest.find(" on ")? + 4..];
        rest.split_whitespace().next().map(|address| address.trim_end_matches([',', ';']).to_owned())
    })
}

/// What a configuration's `listen` is set to for the kernel to pick the port.
const PORT_ZERO: &str = "127.0.0.1:0";

/// The top-level `listen = "…"` of a party's configuration (before any `[section]`).
fn listen_line(text: &str) -> Option<(usize, &str)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with('[') {
            return None;
        }
        if let Some(value) = line.trim().strip_prefix("listen = \"").and_then(|rest| rest.strip_suffix('"')) {
            return Some((offset, value));
        }
        offset += line.len();
    }
    None
}

/// Where `config` says its party listens.
pub fn read_listen(config: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(config)?;
    listen_line(&text)
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| CliError::Failure(format!("{} has no top-level listen = \"…\"", config.display())))
}

/// Set the top-level `listen` of `config` to `address`.
fn set_listen(config: &Path, address: &str) -> Result<(), CliError> {
    let text = std::fs::read_to_string(config)?;
    let Some((offset, value)) = listen_line(&text) else {
        return Err(CliError::Failure(format!("{} has no top-level listen = \"…\"", config.display())));
    };
    let start = offset + text[offset..].find(value).unwrap_or(0);
    let mut changed = text.clone();
    changed.replace_range(start..start + value.len(), address);
    std::fs::write(config, changed)?;
    Ok(())
}

/// Point every configuration (TOML) directly under `dir` that names `configured` (quoted, the
/// whole address) at `bound`.
fn point_at(dir: &Path, configured: &str, bound: &str) -> Result<(), CliError> {
    let (from, to) = (format!("\"{configured}\""), format!("\"{bound}\""));
    for path in toml_files(dir)? {
        let text = std::fs::read_to_string(&path)?;
        if text.contains(&from) {
            std::fs::write(&path, text.replace(&from, &to))?;
        }
    }
    Ok(())
}

/// The TOML files directly under `dir` (what `network init` wrote).
pub fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten().take(CONFIG_FILES_MAX) {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            found.push(path);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_address_is_read_from_each_partys_line() {
        let issuer = "cardnet issuer 20000000455: listening on 127.0.0.1:40001 (Ctrl-C stops)";
        assert_eq!(bound_address(issuer).as_deref(), Some("127.0.0.1:40001"));
        let acquirer = "x\ncardnet acquirer 1 listening for terminals on 127.0.0.1:40004 (switch a); Ctrl-C stops it";
        assert_eq!(bound_address(acquirer).as_deref(), Some("127.0.0.1:40004"));
        assert_eq!(bound_address("starting\n"), None);
        let admin = "cardnet switch: admin on http://127.0.0.1:40100\ncardnet switch 1 listening on 127.0.0.1:40001";
        assert_eq!(metrics::admin::address_in_log(admin), "127.0.0.1:40100".parse().ok());
        assert_eq!(metrics::admin::address_in_log(acquirer), None);
    }

    #[test]
    fn only_the_top_level_listen_is_read_and_set() {
        let dir = std::env::temp_dir().join(format!("cardnet-parties-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("switch.toml");
        let text = "id = \"1\"\nlisten = \"127.0.0.1:9100\"\n[[members]]\nlisten = \"127.0.0.1:9101\"\n";
        std::fs::write(&config, text).unwrap();
        assert_eq!(read_listen(&config).unwrap(), "127.0.0.1:9100");
        set_listen(&config, "127.0.0.1:40000").unwrap();
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text.replace("9100", "40000"));
        std::fs::write(&config, "[server]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        assert!(read_listen(&config).is_err(), "a listen inside a section is not the party's");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
