//! The terminal's configuration file (TOML). Relative paths are resolved against the file's
//! directory.
//!
//! ```toml
//! terminal_id = "POS00001"
//! merchant_id = "898440158120001"
//! merchant_name = "Cardnet Coffee"  # optional: the slip's name until a parameter download
//! primary = "127.0.0.1:7001"
//! backup = "127.0.0.1:7002"          # optional
//! tmk_file = "tmk.hex"               # 32 hex digits, mode 0600
//! tmk_kcv = "A1B2C3"                 # 6 hex digits, as the key-injection slip shows
//! journal = "terminal.db"            # SQLite, created if missing
//! key_scheme = "004"                 # 60.3: 004 (tracks enciphered), 003 or 001; 003 if absent
//! timeout_ms = 30000
//! connect_timeout_ms = 3000
//! reversal_attempts_max = 3
//! batch_limit = 500                  # records in a batch before it must be settled (1-999)
//! [[operators]]                      # seeds an empty journal only; change them afterwards
//! number = "00"
//! role = "supervisor"
//! password_hash = "…"                # 32 hex digits, written by `cardnet pos init`
//! ```
//!
//! A seed's `password_hash` is a keyed hash under the terminal's storage key (`seeds.rs`). A
//! hand-written `password = "123456"` is accepted once: the terminal hashes it at power-on and
//! rewrites the file without it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Result, TerminalError};

/// Default wait for a response (the acquirer's own switch timeout is 30 s; a terminal waits
/// about as long before it reverses).
pub const TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// Default wait for a TCP connection to a host before trying the next one.
pub const CONNECT_TIMEOUT_MS_DEFAULT: u64 = 3_000;
/// Default tries of a pending reversal on each occasion it must be sent.
pub const REVERSAL_ATTEMPTS_MAX_DEFAULT: u32 = 3;
/// Records a batch holds before the terminal insists on settlement: 500, as real terminals
/// are commonly set up.
pub const BATCH_LIMIT_DEFAULT: u32 = 500;
/// The most a batch limit may be: field 48's counts have three digits (reference §6), so a
/// batch of 1,000 would report its count as 000.
pub const BATCH_LIMIT_MAX: u32 = 999;
/// Longest merchant name kept for slips (the parameter download's items are at most 99).
pub const MERCHANT_NAME_CHARS_MAX: usize = 99;
/// The TPDU and header a cardnet terminal sends (reference §1 examples).
pub const TPDU_HEX_DEFAULT: &str = "6000060000";
pub const HEADER_HEX_DEFAULT: &str = "603100311003";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSeed {
    pub number: String,
    /// `supervisor` or `cashier`.
    pub role: String,
    /// A clear password (older files): replaced by `password_hash` at the next power-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The keyed hash of the password (hex), as `cardnet pos init` writes it.
    #[serde(default)]
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    pub terminal_id: String,
    pub merchant_id: String,
    /// The name printed on slips until the host's parameter download (0800/360) gives one.
    #[serde(default)]
    pub merchant_name: Option<String>,
    pub primary: String,
    #[serde(default)]
    pub backup: Option<String>,
    pub tmk_file: PathBuf,
    pub tmk_kcv: String,
    pub journal: PathBuf,
    #[serde(default = "scheme_default")]
    pub key_scheme: String,
    #[serde(default = "timeout_default")]
    pub timeout_ms: u64,
    #[serde(default = "connect_timeout_default")]
    pub connect_timeout_ms: u64,
    #[serde(default = "attempts_default")]
    pub reversal_attempts_max: u32,
    /// Records in the open batch at which new transactions are refused until it is settled.
    #[serde(default = "batch_limit_default")]
    pub batch_limit: u32,
    #[serde(default = "tpdu_default")]
    pub tpdu: String,
    #[serde(default = "header_default")]
    pub header: String,
    #[serde(default)]
    pub operators: Vec<OperatorSeed>,
    /// The file this was read from ([`TerminalConfig::load`]): where the operators' seeds are
    /// rewritten (clear passwords hashed, a changed password's hash replaced).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

fn scheme_default() -> String {
    "003".into()
}
fn timeout_default() -> u64 {
    TIMEOUT_MS_DEFAULT
}
fn connect_timeout_default() -> u64 {
    CONNECT_TIMEOUT_MS_DEFAULT
}
fn attempts_default() -> u32 {
    REVERSAL_ATTEMPTS_MAX_DEFAULT
}
fn batch_limit_default() -> u32 {
    BATCH_LIMIT_DEFAULT
}
fn tpdu_default() -> String {
    TPDU_HEX_DEFAULT.into()
}
fn header_default() -> String {
    HEADER_HEX_DEFAULT.into()
}

impl TerminalConfig {
    /// Read and check a configuration file; paths in it become relative to its directory.
    pub fn load(path: &Path) -> Result<TerminalConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            TerminalError::Config(format!("{}: {e} (write one: see the terminal crate's config docs)", path.display()))
        })?;
        // `FILE:LINE:COLUMN: message` on one line: the parser's excerpt could show a value.
        let mut config: TerminalConfig =
            host::config_file::parse_toml_file(path, &text).map_err(TerminalError::Config)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.tmk_file.is_relative() {
            config.tmk_file = base.join(&config.tmk_file);
        }
        if config.journal.is_relative() {
            config.journal = base.join(&config.journal);
        }
        config.check()?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Field formats the host would refuse, caught before the first message.
    pub fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(TerminalError::Config(m.to_owned()));
        if self.terminal_id.len() != 8 || !self.terminal_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return bad("terminal_id: 8 letters or digits (field 41)");
        }
        if self.merchant_id.len() != 15 || !self.merchant_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return bad("merchant_id: 15 letters or digits (field 42)");
        }
        if self.merchant_name.as_ref().is_some_and(|n| n.chars().count() > MERCHANT_NAME_CHARS_MAX) {
            return Err(TerminalError::Config(format!("merchant_name: at most {MERCHANT_NAME_CHARS_MAX} characters")));
        }
        if hsm::SignOnScheme::from_code(&self.key_scheme).is_err() {
            return bad("key_scheme: 001, 003 or 004");
        }
        if self.timeout_ms == 0 || self.connect_timeout_ms == 0 || self.reversal_attempts_max == 0 {
            return bad("timeout_ms, connect_timeout_ms and reversal_attempts_max must be above 0");
        }
        if !(1..=BATCH_LIMIT_MAX).contains(&self.batch_limit) {
            return Err(TerminalError::Config(format!(
                "batch_limit: 1 to {BATCH_LIMIT_MAX} (field 48 counts a batch in three digits)"
            )));
        }
        if iso8583::Tpdu::from_hex(&self.tpdu).is_err() || iso8583::Header::from_hex(&self.header).is_err() {
            return bad("tpdu: 10 hex digits; header: 12 hex digits");
        }
        Ok(())
    }
}
