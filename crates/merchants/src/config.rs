//! What the registry reads from the acquirer's configuration file.
//!
//! The file belongs to the acquirer host (`crates/acquirer` defines all of it); the registry
//! reads two of its keys and its own `[merchants]` table, and ignores the rest:
//!
//! ```toml
//! database = "sqlite:acquirer.db"        # or "postgres://user@host/db#acquirer"; shared with the POS host
//! lmk_file = "lmk.hex"                   # the software HSM's LMK, 64 hex digits
//!
//! [merchants]
//! merchant_id_prefix = "8984401"         # 3-digit acquirer code + 4-digit area code
//! allowed_mccs = ["5411", "5812", "5999"]
//! sanctioned_names = ["Example Sanctioned Trading Co"]
//! single_max_minor_default = 5000000     # per-merchant limits when activation names none
//! daily_max_minor_default = 50000000
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use host::config_file::{self, one_line};
use host::paths;
use hsm::SoftHsm;
use serde::Deserialize;

use crate::error::{MerchantError, Result};
use crate::limits::{
    ALLOWED_MCCS_MAX, AMOUNT_MAX_MINOR, CONFIG_BYTES_MAX, MCC_LEN, MERCHANT_ID_PREFIX_LEN, SANCTIONED_NAMES_MAX,
    TEXT_CHARS_MAX,
};

/// The merchant id prefix of a development acquirer: acquirer `898`, area `4401` (the
/// example merchant `898440154110001` of docs/network-spec.md).
pub const MERCHANT_ID_PREFIX_DEFAULT: &str = "8984401";
/// Merchant categories accepted when the configuration names none: everyday retail and
/// services (supermarkets, restaurants, fast food, department stores, clothing, electronics,
/// drugstores, miscellaneous retail, taxis, hotels).
pub const ALLOWED_MCCS_DEFAULT: [&str; 10] =
    ["5411", "5812", "5814", "5311", "5691", "5732", "5912", "5999", "4121", "7011"];
/// Per-merchant limits when activation names none: 50 000.00 a transaction, 500 000.00 a day.
pub const SINGLE_MAX_MINOR_DEFAULT: u64 = 5_000_000;
pub const DAILY_MAX_MINOR_DEFAULT: u64 = 50_000_000;

/// The two keys of the acquirer's file the registry needs, and its `[merchants]` table.
/// Unknown keys are ignored: the rest of the file is the POS host's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistryConfig {
    /// `sqlite:PATH` (relative to the config file), `sqlite::memory:`, or `postgres://…#schema`.
    #[serde(default = "default_database")]
    pub database: String,
    /// The software HSM's local master key, 64 hex digits. Development only.
    pub lmk_file: PathBuf,
    #[serde(default)]
    pub merchants: MerchantSettings,
}

/// The registry's own settings (`[merchants]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantSettings {
    /// The first 7 digits of every merchant id this acquirer assigns.
    #[serde(default = "default_prefix")]
    pub merchant_id_prefix: String,
    /// Merchant category codes an application may name.
    #[serde(default = "default_mccs")]
    pub allowed_mccs: Vec<String>,
    /// Names no merchant or legal representative may have (compared ignoring case and spaces).
    #[serde(default)]
    pub sanctioned_names: Vec<String>,
    #[serde(default = "default_single_max")]
    pub single_max_minor_default: u64,
    #[serde(default = "default_daily_max")]
    pub daily_max_minor_default: u64,
}

impl Default for MerchantSettings {
    fn default() -> MerchantSettings {
        MerchantSettings {
            merchant_id_prefix: default_prefix(),
            allowed_mccs: default_mccs(),
            sanctioned_names: Vec::new(),
            single_max_minor_default: SINGLE_MAX_MINOR_DEFAULT,
            daily_max_minor_default: DAILY_MAX_MINOR_DEFAULT,
        }
    }
}

fn default_database() -> String {
    "sqlite:acquirer.db".to_owned()
}
fn default_prefix() -> String {
    MERCHANT_ID_PREFIX_DEFAULT.to_owned()
}
fn default_mccs() -> Vec<String> {
    ALLOWED_MCCS_DEFAULT.iter().map(|&mcc| mcc.to_owned()).collect()
}
fn default_single_max() -> u64 {
    SINGLE_MAX_MINOR_DEFAULT
}
fn default_daily_max() -> u64 {
    DAILY_MAX_MINOR_DEFAULT
}

pub(crate) fn digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

/// A name as the sanctions check compares it: lower case, without any white space.
pub fn normalize_name(name: &str) -> String {
    name.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

impl MerchantSettings {
    /// Check every setting; errors name the setting.
    pub fn validate(&self) -> Result<()> {
        if !digits(&self.merchant_id_prefix, MERCHANT_ID_PREFIX_LEN) {
            return Err(MerchantError::config(format!(
                "merchants.merchant_id_prefix must be {MERCHANT_ID_PREFIX_LEN} digits (acquirer code + area code)"
            )));
        }
        if self.allowed_mccs.len() > ALLOWED_MCCS_MAX {
            return Err(MerchantError::config(format!("merchants.allowed_mccs: more than {ALLOWED_MCCS_MAX}")));
        }
        if let Some(bad) = self.allowed_mccs.iter().find(|mcc| !digits(mcc, MCC_LEN)) {
            return Err(MerchantError::config(format!(
                "merchants.allowed_mccs: {:?} is not {MCC_LEN} digits",
                one_line(bad)
            )));
        }
        if self.sanctioned_names.len() > SANCTIONED_NAMES_MAX {
            return Err(MerchantError::config(format!("merchants.sanctioned_names: more than {SANCTIONED_NAMES_MAX}")));
        }
        if let Some(position) = self
            .sanctioned_names
            .iter()
            .position(|name| normalize_name(name).is_empty() || name.chars().count() > TEXT_CHARS_MAX)
        {
            return Err(MerchantError::config(format!(
                "merchants.sanctioned_names: entry {} is empty or longer than {TEXT_CHARS_MAX} characters",
                position + 1
            )));
        }
        for (name, value) in [
            ("single_max_minor_default", self.single_max_minor_default),
            ("daily_max_minor_default", self.daily_max_minor_default),
        ] {
            if value == 0 || value > AMOUNT_MAX_MINOR {
                return Err(MerchantError::config(format!("merchants.{name} must be 1 to {AMOUNT_MAX_MINOR}")));
            }
        }
        Ok(())
    }

    pub(crate) fn allowed_mcc_set(&self) -> BTreeSet<&str> {
        self.allowed_mccs.iter().map(String::as_str).collect()
    }

    pub(crate) fn sanctioned_set(&self) -> BTreeSet<String> {
        self.sanctioned_names.iter().map(|name| normalize_name(name)).collect()
    }
}

impl RegistryConfig {
    /// Read and check the acquirer's TOML file. Relative paths (the LMK file, a SQLite
    /// database) are taken from the file's folder.
    pub fn load(path: &Path) -> Result<RegistryConfig> {
        let text = config_file::read(path, CONFIG_BYTES_MAX).map_err(MerchantError::config)?;
        let shown = path.display();
        let mut config = RegistryConfig::parse(&text).map_err(|e| MerchantError::config(format!("{shown}: {e}")))?;
        config.resolve_paths(config_file::folder(path));
        Ok(config)
    }

    /// Parse and check TOML text (paths stay as written).
    pub fn parse(text: &str) -> Result<RegistryConfig> {
        let config: RegistryConfig = config_file::parse_toml(text).map_err(MerchantError::config)?;
        config.merchants.validate()?;
        Ok(config)
    }

    /// Make relative paths relative to `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        paths::resolve_path(base, &mut self.lmk_file);
        paths::resolve_sqlite_url(base, &mut self.database);
    }

    /// The software HSM over the LMK file. Development only.
    pub fn soft_hsm(&self) -> Result<SoftHsm> {
        load_lmk_file(&self.lmk_file)
    }
}

/// The software HSM over the LMK in `path` (64 hex digits, surrounding white space ignored).
/// Errors name the file, never its contents.
pub fn load_lmk_file(path: &Path) -> Result<SoftHsm> {
    SoftHsm::from_lmk_file(path).map_err(|e| MerchantError::config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_keys_and_ignores_the_rest() {
        let config = RegistryConfig::parse(
            "listen = \"127.0.0.1:9300\"\ndatabase = \"sqlite:a.db\"\nlmk_file = \"lmk.hex\"\n[profile]\ntpdu = \"60\"\n\
             [merchants]\nallowed_mccs = [\"5411\"]\nsanctioned_names = [\"Bad  Co\"]\n",
        )
        .unwrap();
        assert_eq!(config.merchants.allowed_mccs, ["5411"]);
        assert_eq!(config.merchants.merchant_id_prefix, MERCHANT_ID_PREFIX_DEFAULT);
        let mut config = config;
        config.resolve_paths(Path::new("/etc/acq"));
        assert_eq!(config.database, "sqlite:/etc/acq/a.db");
        assert_eq!(config.lmk_file, Path::new("/etc/acq/lmk.hex"));
        let bad = RegistryConfig::parse("lmk_file = \"x\"\n[merchants]\nmerchant_id_prefix = \"12\"\n");
        assert!(bad.unwrap_err().to_string().contains("merchant_id_prefix"));
        let typo = RegistryConfig::parse("lmk_file = \"x\"\n[merchants]\nallowed_mcc = []\n");
        assert!(typo.is_err(), "unknown keys inside [merchants] are refused");
        assert_eq!(normalize_name(" Bad\u{3000}co "), "badco");
    }
}
