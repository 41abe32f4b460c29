//! Development and test set-ups: a working configuration with fresh keys.
//!
//! Everything here uses one software HSM (one LMK) for every party, so the test acting as an
//! acquirer and the fake issuers hold the very same zone keys the switch has in its
//! configuration ([`DevNetwork::keys`]), the ZMK included: an issuer configured with these
//! keys (`issuer::dev::config_with_link_keys`) takes the working keys the switch sends it under
//! that ZMK (0800/101). Real members would share the ZMK in a key ceremony instead.

use std::collections::HashMap;
use std::path::Path;

use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, WrappedKey};

use crate::config::{AdviceConfig, BinConfig, MemberConfig, Role, StipConfig, StipKind, SwitchConfig};
use crate::limits::{ISSUER_TIMEOUT_MS_DEFAULT, KEY_GRACE_MS_DEFAULT};

/// The switch's institution id in development set-ups.
pub const SWITCH_ID: &str = "90000000001";
/// A development acquirer.
pub const ACQUIRER_ID: &str = "10000000344";
/// A development issuer and its BIN.
pub const ISSUER_ID: &str = "20000000455";
pub const ISSUER_BIN: &str = "622424";
/// A second development issuer and its BIN.
pub const ISSUER2_ID: &str = "20000000566";
pub const ISSUER2_BIN: &str = "621234";
/// The development stand-in currency (CNY).
pub const CURRENCY: &str = "156";
/// Bytes of the software HSM's LMK.
const LMK_LEN: usize = hsm::soft::LMK_LEN;

/// The zone keys of one member, under the shared development LMK.
#[derive(Clone)]
pub struct MemberKeys {
    pub zmk: WrappedKey,
    pub zpk: WrappedKey,
    pub zak: WrappedKey,
}

impl std::fmt::Debug for MemberKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemberKeys(zmk {}, zpk {}, zak {})", self.zmk.kcv(), self.zpk.kcv(), self.zak.kcv())
    }
}

impl MemberKeys {
    /// Fresh double-length TDES zone keys (X9.19 MACs and format 0 PIN blocks need TDES).
    pub fn generate(hsm: &dyn SecurityModule) -> hsm::Result<MemberKeys> {
        Ok(MemberKeys {
            zmk: hsm.generate_key(KeyType::Zmk, KeyAlgorithm::Tdes2)?,
            zpk: hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2)?,
            zak: hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2)?,
        })
    }
}

/// Stand-in limits used by the development set-ups.
pub fn stip(enabled: bool) -> StipConfig {
    StipConfig {
        enabled,
        currency: CURRENCY.to_owned(),
        amount_max_minor: 50_000,
        daily_amount_max_minor: 100_000,
        daily_count_max: 3,
        kinds: vec![StipKind::Purchase, StipKind::PreAuth, StipKind::Completion],
        with_pin: false,
    }
}

/// One member to put in a development configuration.
#[derive(Debug, Clone)]
pub struct DevMember {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub endpoint: Option<String>,
    pub bins: Vec<String>,
    pub stip: Option<StipConfig>,
}

impl DevMember {
    pub fn acquirer(id: &str, name: &str) -> DevMember {
        DevMember {
            id: id.to_owned(),
            name: name.to_owned(),
            roles: vec![Role::Acquirer],
            endpoint: None,
            bins: Vec::new(),
            stip: None,
        }
    }

    pub fn issuer(id: &str, name: &str, endpoint: &str, bins: &[&str], stip: Option<StipConfig>) -> DevMember {
        DevMember {
            id: id.to_owned(),
            name: name.to_owned(),
            roles: vec![Role::Issuer],
            endpoint: Some(endpoint.to_owned()),
            bins: bins.iter().map(|b| (*b).to_owned()).collect(),
            stip,
        }
    }
}

/// A generated configuration and the keys every member shares with the switch.
#[derive(Debug, Clone)]
pub struct DevNetwork {
    pub config: SwitchConfig,
    /// Member id → its zone keys (the same blocks as in `config`).
    pub keys: HashMap<String, MemberKeys>,
}

impl DevNetwork {
    pub fn keys(&self, member: &str) -> Option<&MemberKeys> {
        self.keys.get(member)
    }
}

/// A configuration for `members` with fresh keys from `hsm`, listening on `listen`, with its
/// database at `database` and the LMK file named `lmk_file` (written separately, see
/// `hsm::soft::write_lmk_file`).
pub fn network(
    hsm: &dyn SecurityModule,
    listen: &str,
    database: &str,
    lmk_file: &Path,
    members: &[DevMember],
) -> hsm::Result<DevNetwork> {
    let mut keys = HashMap::new();
    let mut member_configs = Vec::with_capacity(members.len());
    let mut bins = Vec::new();
    for member in members {
        let member_keys = MemberKeys::generate(hsm)?;
        member_configs.push(MemberConfig {
            id: member.id.clone(),
            name: member.name.clone(),
            roles: member.roles.clone(),
            endpoint: member.endpoint.clone(),
            zmk: member_keys.zmk.block().to_owned(),
            zpk: member_keys.zpk.block().to_owned(),
            zak: member_keys.zak.block().to_owned(),
            key_change_interval_ms: 0,
            stip: member.stip.clone(),
        });
        for prefix in &member.bins {
            bins.push(BinConfig { prefix: prefix.clone(), issuer: member.id.clone(), card_kind: Default::default() });
        }
        keys.insert(member.id.clone(), member_keys);
    }
    let dek = hsm.generate_key(KeyType::Dek, KeyAlgorithm::Aes256)?;
    let config = SwitchConfig {
        institution_id: SWITCH_ID.to_owned(),
        listen: listen.to_owned(),
        server: host::ServerLimits::default(),
        admin: host::AdminSection::default(),
        database: database.to_owned(),
        ledger: crate::config::DEFAULT_LEDGER.to_owned(),
        lmk_file: lmk_file.to_owned(),
        dek: dek.block().to_owned(),
        issuer_timeout_ms: ISSUER_TIMEOUT_MS_DEFAULT,
        cutoff: Some(crate::eod_config::CUTOFF_DEFAULT.to_owned()),
        settlement_cutover_minute: None,
        fees: Default::default(),
        key_grace_ms: KEY_GRACE_MS_DEFAULT,
        advices: AdviceConfig::default(),
        members: member_configs,
        bins,
    };
    Ok(DevNetwork { config, keys })
}

/// The usual development network: one acquirer, one issuer (BIN 622424, stand-in enabled) at
/// `issuer_endpoint`.
pub fn standard(
    hsm: &dyn SecurityModule,
    listen: &str,
    database: &str,
    lmk_file: &Path,
    issuer_endpoint: &str,
) -> hsm::Result<DevNetwork> {
    network(
        hsm,
        listen,
        database,
        lmk_file,
        &[
            DevMember::acquirer(ACQUIRER_ID, "Dev Acquirer"),
            DevMember::issuer(ISSUER_ID, "Dev Issuer", issuer_endpoint, &[ISSUER_BIN], Some(stip(true))),
        ],
    )
}

/// A fresh random LMK (for a new development set-up).
pub fn generate_lmk() -> hsm::Result<Secret> {
    Secret::random(LMK_LEN)
}
