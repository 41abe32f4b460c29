//! A development network's folder as `cardnet network init` writes it (and `cardnet demo --dir`
//! keeps it): `switch.toml`, `acquirer.toml`, one `issuer-<id>.toml` per bank. End of day finds
//! every party's configuration there, and writes the day's files beside them:
//! `clearing/DATE/` (the switch's clearing files), `settlement/DATE/` (the switch's report and the
//! settlement bank's statements; the acquirer's payouts and statements) and `recon/DATE/`.

use std::path::{Path, PathBuf};

use crate::EodError;

pub const SWITCH_FILE: &str = "switch.toml";
pub const ACQUIRER_FILE: &str = "acquirer.toml";
const ISSUER_PREFIX: &str = "issuer-";
/// A further acquirer's configuration: `acquirer-<digits>.toml` (not its `-link` file).
const ACQUIRER_PREFIX: &str = "acquirer-";
const TOML_SUFFIX: &str = ".toml";
/// How long a probe of a party's address waits: loopback answers at once.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(300);
/// A network folder holds a handful of files; more entries than this is not one.
const ENTRIES_MAX: usize = 10_000;

/// The id in a further acquirer's file name `acquirer-<id>.toml`.
fn acquirer_id_of(path: &Path) -> String {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    name.strip_prefix(ACQUIRER_PREFIX).unwrap_or(name).to_owned()
}

/// The file name of issuer `id`'s configuration in a network folder.
pub fn issuer_file_name(id: &str) -> String {
    format!("{ISSUER_PREFIX}{id}{TOML_SUFFIX}")
}

/// The configurations of one network.
#[derive(Debug, Clone)]
pub struct NetDir {
    pub dir: PathBuf,
    pub switch: PathBuf,
    pub acquirer: PathBuf,
    /// Every acquirer's configuration: `acquirer.toml` first, then each `acquirer-<id>.toml` by id.
    pub acquirers: Vec<PathBuf>,
    /// (issuer id, its configuration), ordered by id.
    pub issuers: Vec<(String, PathBuf)>,
}

impl NetDir {
    /// Find the configurations in `dir`; a folder without a switch, an acquirer or any issuer is
    /// refused (bad input) naming what is missing.
    pub fn open(dir: &Path) -> Result<NetDir, EodError> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| EodError::bad_input(format!("--dir {}: {e}", dir.display())))?;
        let mut issuers = Vec::new();
        let mut more_acquirers = Vec::new();
        for entry in entries.take(ENTRIES_MAX) {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name.strip_prefix(ACQUIRER_PREFIX).and_then(|rest| rest.strip_suffix(TOML_SUFFIX))
                && !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
            {
                more_acquirers.push(dir.join(name));
            }
            if let Some(id) = name.strip_prefix(ISSUER_PREFIX).and_then(|rest| rest.strip_suffix(TOML_SUFFIX))
                && !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
            {
                issuers.push((id.to_owned(), dir.join(name)));
            }
        }
        issuers.sort();
        let switch = dir.join(SWITCH_FILE);
        let acquirer = dir.join(ACQUIRER_FILE);
        let missing = |what: &str| {
            EodError::bad_input(format!(
                "--dir {}: no {what} (a folder written by `cardnet network init`?)",
                dir.display()
            ))
        };
        if !switch.is_file() {
            return Err(missing(SWITCH_FILE));
        }
        if !acquirer.is_file() {
            return Err(missing(ACQUIRER_FILE));
        }
        if issuers.is_empty() {
            return Err(missing("issuer-<id>.toml"));
        }
        more_acquirers.sort();
        let acquirers = std::iter::once(acquirer.clone()).chain(more_acquirers).collect();
        Ok(NetDir { dir: dir.to_path_buf(), switch, acquirer, acquirers, issuers })
    }

    /// Where the switch writes a date's clearing files (`clearing/` beside switch.toml).
    pub fn clearing_root(&self) -> PathBuf {
        self.dir.join("clearing")
    }

    /// Each party of the folder (`switch`, `acquirer`, `issuer <id>`) with its configuration
    /// and its fixed address (`None` for port 0: known only to the running party).
    pub fn parties(&self) -> Result<Vec<PartyAddress>, EodError> {
        let mut parties = vec![PartyAddress {
            party: "switch".into(),
            config: self.switch.clone(),
            address: listen_of(&self.switch)?,
        }];
        for (index, path) in self.acquirers.iter().enumerate() {
            // The first acquirer is "acquirer"; a further one names its id.
            let party = match index {
                0 => "acquirer".to_owned(),
                _ => format!("acquirer {}", acquirer_id_of(path)),
            };
            parties.push(PartyAddress { party, config: path.clone(), address: listen_of(path)? });
        }
        for (id, path) in &self.issuers {
            parties.push(PartyAddress {
                party: format!("issuer {id}"),
                config: path.clone(),
                address: listen_of(path)?,
            });
        }
        Ok(parties)
    }

    /// Refuse to run while a party serves: an issuer's ledger and the parties' journals belong
    /// to their running process, and end of day writes to them. A party configured on port 0
    /// cannot be found this way (its address is known only to itself).
    pub fn check_stopped(&self) -> Result<(), EodError> {
        for party in self.parties()? {
            let Some(address) = party.address else { continue };
            if answers(address) {
                let name = party.party.split(' ').next().unwrap_or_default();
                return Err(EodError::bad_input(format!(
                    "the {name} of {} is running (something answers at {address}): stop the parties before end of day",
                    party.config.display()
                )));
            }
        }
        Ok(())
    }

    pub fn recon_dir(&self, date: clearing::BusinessDate) -> PathBuf {
        self.dir.join("recon").join(date.to_string())
    }
}

/// A party of a network folder and where it listens.
#[derive(Debug, Clone)]
pub struct PartyAddress {
    pub party: String,
    pub config: PathBuf,
    pub address: Option<std::net::SocketAddr>,
}

/// Whether something accepts a TCP connection at `address` within [`PROBE_TIMEOUT`].
pub fn answers(address: std::net::SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&address, PROBE_TIMEOUT).is_ok()
}

/// The `listen = "host:port"` of a party's TOML file, unless it is port 0 or not an address.
fn listen_of(path: &Path) -> Result<Option<std::net::SocketAddr>, EodError> {
    let text = std::fs::read_to_string(path).map_err(|e| EodError::bad_input(format!("{}: {e}", path.display())))?;
    let listen = text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("listen")?.trim_start().strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned())
    });
    Ok(listen.and_then(|l| l.parse::<std::net::SocketAddr>().ok()).filter(|a| a.port() != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_acquirer_of_the_folder_is_found_first_one_first_link_files_not() {
        let dir = std::env::temp_dir().join(format!("cardnet-eod-netdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for file in [
            "switch.toml",
            "acquirer.toml",
            "acquirer-link.toml",
            "acquirer-10000000788.toml",
            "acquirer-10000000788-link.toml",
            "issuer-20000000455.toml",
        ] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        let net = NetDir::open(&dir).unwrap();
        assert_eq!(net.acquirers, [dir.join("acquirer.toml"), dir.join("acquirer-10000000788.toml")]);
        assert_eq!(net.acquirer, dir.join("acquirer.toml"));
        std::fs::remove_file(dir.join("acquirer.toml")).unwrap();
        assert!(NetDir::open(&dir).is_err(), "the first acquirer is required");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
