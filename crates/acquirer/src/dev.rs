//! Development and test set-ups: an acquirer configuration with fresh keys.
//!
//! The switch's development configuration (`switch::dev`) already has an acquirer member
//! (`switch::dev::ACQUIRER_ID`) with zone keys under the shared development LMK;
//! [`config_with_switch_keys`] takes those keys so the acquirer and the switch agree on them.
//! [`config`] generates fresh ones (a real acquirer gets its ZMK in a key ceremony with the
//! switch and its ZPK/ZAK under it).

use std::path::{Path, PathBuf};

use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, SoftHsm, WrappedKey};

use crate::config::{AcquirerConfig, ConfigError, PosProfile, ReversalConfig, SwitchLink};
use crate::limits::SWITCH_TIMEOUT_MS_DEFAULT;

/// The development acquirer's member id (the one the development switch knows).
pub const ACQUIRER_ID: &str = "10000000344";
pub const CURRENCY: &str = "156";
/// Where a development acquirer listens and where it finds the development switch.
pub const LISTEN: &str = "127.0.0.1:9300";
pub const SWITCH_ENDPOINT: &str = "127.0.0.1:9100";
/// Files `generate` writes.
pub const CONFIG_FILE: &str = "acquirer.toml";
pub const LMK_FILE: &str = "lmk.hex";
pub const DATABASE_FILE: &str = "acquirer.db";

/// The zone keys shared with the switch.
#[derive(Clone)]
pub struct SwitchKeys {
    pub zmk: WrappedKey,
    pub zpk: WrappedKey,
    pub zak: WrappedKey,
}

impl std::fmt::Debug for SwitchKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SwitchKeys(zmk {}, zpk {}, zak {})", self.zmk.kcv(), self.zpk.kcv(), self.zak.kcv())
    }
}

impl SwitchKeys {
    /// Fresh double-length TDES zone keys.
    pub fn generate(hsm: &dyn SecurityModule) -> hsm::Result<SwitchKeys> {
        Ok(SwitchKeys {
            zmk: hsm.generate_key(KeyType::Zmk, KeyAlgorithm::Tdes2)?,
            zpk: hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2)?,
            zak: hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2)?,
        })
    }
}

/// A configuration with the given switch keys and a fresh DEK from `hsm`.
pub fn config_with_switch_keys(
    hsm: &dyn SecurityModule,
    keys: &SwitchKeys,
    institution_id: &str,
    listen: &str,
    switch_endpoint: &str,
    database: &str,
    lmk_file: &Path,
) -> Result<AcquirerConfig, String> {
    let dek = hsm.generate_key(KeyType::Dek, KeyAlgorithm::Aes256).map_err(|e| e.to_string())?;
    let config = AcquirerConfig {
        institution_id: institution_id.to_owned(),
        listen: listen.to_owned(),
        server: host::ServerLimits::default(),
        admin: host::AdminSection::default(),
        database: database.to_owned(),
        lmk_file: lmk_file.to_owned(),
        dek: dek.block().to_owned(),
        currency: CURRENCY.to_owned(),
        country: "CN".to_owned(),
        switch: SwitchLink {
            endpoint: switch_endpoint.to_owned(),
            timeout_ms: SWITCH_TIMEOUT_MS_DEFAULT,
            zmk: keys.zmk.block().to_owned(),
            zpk: keys.zpk.block().to_owned(),
            zak: keys.zak.block().to_owned(),
        },
        reversals: ReversalConfig::default(),
        pos: PosProfile::default(),
        ledger: "sqlite:acquirer-ledger.db".to_owned(),
        settlement: crate::settlement_config::SettlementConfig::default(),
        risk: None,
        merchants: None,
    };
    config.validate().map_err(|e: ConfigError| e.to_string())?;
    Ok(config)
}

/// A configuration with fresh keys (switch keys included).
pub fn config(hsm: &dyn SecurityModule, database: &str, lmk_file: &Path) -> Result<AcquirerConfig, String> {
    let keys = SwitchKeys::generate(hsm).map_err(|e| e.to_string())?;
    config_with_switch_keys(hsm, &keys, ACQUIRER_ID, LISTEN, SWITCH_ENDPOINT, database, lmk_file)
}

/// What [`generate`] made.
#[derive(Debug)]
pub struct DevAcquirer {
    /// The configuration with absolute paths.
    pub config: AcquirerConfig,
    pub config_path: PathBuf,
    pub lmk_path: PathBuf,
    pub hsm: SoftHsm,
}

/// A development acquirer in `dir` (created if missing): `lmk.hex`, `acquirer.toml` with
/// relative paths, `acquirer.db` beside it on first open. Refuses to overwrite unless `force`.
pub fn generate(dir: &Path, force: bool) -> Result<DevAcquirer, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config_path = dir.join(CONFIG_FILE);
    let lmk_path = dir.join(LMK_FILE);
    for path in [&config_path, &lmk_path] {
        if path.exists() && !force {
            return Err(format!("{} exists (use --force to replace it)", path.display()));
        }
    }
    let lmk = Secret::random(hsm::soft::LMK_LEN).map_err(|e| e.to_string())?;
    let hsm = SoftHsm::new(lmk.clone()).map_err(|e| e.to_string())?;
    let written = config(&hsm, &format!("sqlite:{DATABASE_FILE}"), Path::new(LMK_FILE))?;
    hsm::soft::write_lmk_file(&lmk_path, &lmk).map_err(|e| e.to_string())?;
    host::write_private(&config_path, written.to_toml().as_bytes())
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let mut config = written;
    config.resolve_paths(dir);
    Ok(DevAcquirer { config, config_path, lmk_path, hsm })
}
