//! The switch's configuration: who it is, where it listens, its database, its members with
//! their zone keys and stand-in limits, and the BIN table.
//!
//! [`SwitchConfig`] is the file as written (TOML, key blocks as text); [`Directory`] is the
//! checked form the switch runs on (key blocks parsed, roles known, BIN table sorted for
//! longest-prefix routing). [`SwitchConfig::load`] reads, resolves relative paths against the
//! file's folder and checks, so a bad file is refused at start with a message that names the
//! member or BIN at fault, never later in the middle of a transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;

use domain::Pan;
use std::path::{Path, PathBuf};

use host::toml_text::quote;
use host::{config_file, paths};
use hsm::{KeyType, WrappedKey};
use serde::Deserialize;

use crate::eod_config::{CardKindConfig, FeesConfig};
use crate::limits::{
    ADVICE_ATTEMPTS_MAX_DEFAULT, ADVICE_EXPIRY_MS_DEFAULT, ADVICE_PENDING_MAX_DEFAULT,
    ADVICE_RETRY_DELAY_MS_MIN_DEFAULT, BIN_PREFIX_LEN_MAX, BIN_PREFIX_LEN_MIN, BINS_MAX, CONFIG_BYTES_MAX,
    INSTITUTION_ID_LEN, ISSUER_TIMEOUT_MS_DEFAULT, ISSUER_TIMEOUT_MS_MAX, KEY_CHANGE_INTERVAL_MS_MIN,
    KEY_GRACE_MS_DEFAULT, KEY_GRACE_MS_MAX, MEMBER_NAME_LEN_MAX, MEMBERS_MAX,
};

/// A configuration that cannot be used: what and where, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "switch config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn error(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// The switch's configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchConfig {
    /// The switch's own 11-digit institution id: field 33 on the issuer leg, 32/33 of its 0800s.
    pub institution_id: String,
    /// Where acquirers connect, `host:port` (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Bounds of the listening server (`[server]`, docs/operations.md).
    #[serde(default)]
    pub server: host::ServerLimits,
    /// Where the admin endpoint listens (`[admin]`, docs/operations.md); none by default.
    #[serde(default)]
    pub admin: host::AdminSection,
    /// `sqlite:PATH` (the default, relative to the config file), `sqlite::memory:`, or
    /// `postgres://…#schema`.
    #[serde(default = "default_database")]
    pub database: String,
    /// The settlement ledger (net settlement between members, `cardnet switch settle`):
    /// `sqlite:PATH` (the default, relative to the config file) or `postgres://…#schema`. A
    /// separate store from `database`, as the issuer's ledger is from its database.
    #[serde(default = "default_ledger")]
    pub ledger: String,
    /// The software HSM's local master key: 64 hex digits (a real HSM replaces the file).
    pub lmk_file: PathBuf,
    /// The switch's data encryption key (a DEK key block under the LMK): the keyed hash that
    /// stands for a card in the stand-in counters, and the encryption of queued advices (which
    /// carry the PAN the issuer needs) at rest.
    pub dek: String,
    /// How long the switch waits for an issuer before standing in or answering 98.
    #[serde(default = "default_issuer_timeout_ms")]
    pub issuer_timeout_ms: u64,
    /// The daily cut-off, a local time with its UTC offset (`"23:00 +08:00"`): a transaction at
    /// or after it belongs to the next business date (field 15). Default `00:00 +00:00`
    /// ([`crate::eod_config`]).
    #[serde(default)]
    pub cutoff: Option<String>,
    /// The older form of `cutoff`: minutes after 00:00 UTC. Still read; refused with `cutoff`.
    #[serde(default)]
    pub settlement_cutover_minute: Option<u32>,
    /// `[fees]`: interchange by card kind and the network fee (default China 2016).
    #[serde(default)]
    pub fees: FeesConfig,
    /// After a key change on an issuer link, the ZPK or ZAK it replaced is still accepted this
    /// long (answers to requests the switch sent just before it switched over).
    #[serde(default = "default_key_grace_ms")]
    pub key_grace_ms: u64,
    #[serde(default)]
    pub advices: AdviceConfig,
    #[serde(default)]
    pub members: Vec<MemberConfig>,
    #[serde(default)]
    pub bins: Vec<BinConfig>,
}

fn default_database() -> String {
    "sqlite:switch.db".to_owned()
}

/// The settlement ledger of a configuration that names none.
pub const DEFAULT_LEDGER: &str = "sqlite:switch-ledger.db";

fn default_ledger() -> String {
    DEFAULT_LEDGER.to_owned()
}

fn default_issuer_timeout_ms() -> u64 {
    ISSUER_TIMEOUT_MS_DEFAULT
}

fn default_key_grace_ms() -> u64 {
    KEY_GRACE_MS_DEFAULT
}

/// Store-and-forward of advices (0420 reversals, 0120/0220 stand-in and acquirer advices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdviceConfig {
    /// Attempts after which an advice is Dead (kept for an operator).
    pub attempts_max: u32,
    /// Wait after the first failed attempt; doubles per failure up to 5 minutes.
    pub retry_delay_ms_min: u64,
    /// Pending advices held at most, all issuers together.
    pub pending_max: u64,
    /// An advice undelivered this long after it was queued goes Dead.
    pub expiry_ms: u64,
}

impl Default for AdviceConfig {
    fn default() -> AdviceConfig {
        AdviceConfig {
            attempts_max: ADVICE_ATTEMPTS_MAX_DEFAULT,
            retry_delay_ms_min: ADVICE_RETRY_DELAY_MS_MIN_DEFAULT,
            pending_max: ADVICE_PENDING_MAX_DEFAULT,
            expiry_ms: ADVICE_EXPIRY_MS_DEFAULT,
        }
    }
}

impl AdviceConfig {
    pub fn saf_config(&self) -> saf::SafConfig {
        saf::SafConfig {
            attempts_max: self.attempts_max,
            retry_delay_ms_min: self.retry_delay_ms_min,
            pending_max: self.pending_max,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Connects to the switch and sends requests (field 32).
    Acquirer,
    /// The switch connects to it and routes card BINs to it (field 100).
    Issuer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Acquirer => "acquirer",
            Role::Issuer => "issuer",
        }
    }
}

/// A member of the network. One set of zone keys per member serves both directions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// 11-digit member id (field 32 of an acquirer, field 100 of an issuer).
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// `host:port` of an issuer's host, which the switch connects to.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Zone master key (key block under the LMK): the KEK for key changes with this member.
    pub zmk: String,
    /// Zone PIN key: PIN blocks (field 52) on this member's link. On an issuer link it is the
    /// initial key: once the switch has changed it (0800/101), the newest key in the database is
    /// used. An acquirer link keeps this one.
    pub zpk: String,
    /// Zone MAC key: field 128 on this member's link. Initial on an issuer link, like `zpk`.
    pub zak: String,
    /// For an issuer: how often the switch changes the link's ZPK and ZAK (0800/101), in
    /// milliseconds; 0 (the default) = only on demand.
    #[serde(default)]
    pub key_change_interval_ms: u64,
    /// Stand-in processing for an issuer.
    #[serde(default)]
    pub stip: Option<StipConfig>,
}

/// Transactions the switch may approve on an issuer's behalf when the issuer cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StipKind {
    Purchase,
    PreAuth,
    Completion,
}

impl StipKind {
    pub fn name(self) -> &'static str {
        match self {
            StipKind::Purchase => "purchase",
            StipKind::PreAuth => "pre-auth",
            StipKind::Completion => "completion",
        }
    }
}

/// Stand-in (STIP) limits of one issuer. Amounts are minor units of `currency`; a transaction
/// in another currency is never stood in for (the limits would mean nothing).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StipConfig {
    #[serde(default)]
    pub enabled: bool,
    /// ISO 4217 numeric currency the limits are in (field 49).
    pub currency: String,
    /// Largest amount of one stood-in transaction.
    pub amount_max_minor: u64,
    /// Largest total stood in for one card per UTC day.
    pub daily_amount_max_minor: u64,
    /// Most transactions stood in for one card per UTC day.
    pub daily_count_max: u64,
    /// Which transactions may be stood in for.
    pub kinds: Vec<StipKind>,
    /// Whether a transaction with a PIN block (52) may be stood in for. The switch cannot
    /// verify a PIN (it holds no PIN verification key), so by default it does not approve one.
    #[serde(default)]
    pub with_pin: bool,
}

/// One BIN table entry: card numbers starting with `prefix` go to `issuer`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinConfig {
    pub prefix: String,
    pub issuer: String,
    /// `"debit"` (the default) or `"credit"`: which interchange rate the card's records pay.
    #[serde(default)]
    pub card_kind: CardKindConfig,
}

impl SwitchConfig {
    /// Read, parse and check a TOML file. Relative paths in it (the LMK file, a SQLite
    /// database) are taken from the file's folder, so a config works wherever it is run from.
    pub fn load(path: &Path) -> Result<SwitchConfig, ConfigError> {
        let text = config_file::read(path, CONFIG_BYTES_MAX).map_err(error)?;
        let mut config: SwitchConfig = config_file::parse_toml_file(path, &text).map_err(error)?;
        config.validate().map_err(|e| error(format!("{}: {}", path.display(), e.0)))?;
        config.resolve_paths(config_file::folder(path));
        Ok(config)
    }

    /// Parse and check TOML text (paths stay as written).
    pub fn parse(text: &str) -> Result<SwitchConfig, ConfigError> {
        let config: SwitchConfig = config_file::parse_toml(text).map_err(error)?;
        config.validate()?;
        Ok(config)
    }

    /// Make relative paths relative to `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        paths::resolve_path(base, &mut self.lmk_file);
        paths::resolve_sqlite_url(base, &mut self.database);
        paths::resolve_sqlite_url(base, &mut self.ledger);
    }

    /// Check everything; the checked form is [`Directory::new`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        Directory::new(self).map(|_| ())
    }

    /// The cut-off this file asks for (the default when it names none, midnight UTC for a bad
    /// one: [`SwitchConfig::validate`] refuses those before use).
    pub fn cutoff_resolved(&self) -> clearing::CutOff {
        crate::eod_config::resolve_cutoff(self.cutoff.as_deref(), self.settlement_cutover_minute)
            .unwrap_or_else(|_| clearing::CutOff::new(0, 0).unwrap_or_else(|_| unreachable!("midnight UTC")))
    }

    /// The file form, with comments, for `cardnet switch init` (key blocks are encrypted under
    /// the LMK, so writing them is safe).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        out.push_str("# cardnet switch configuration (docs/network-flows.md section 4).\n");
        out.push_str(&format!("institution_id = {}\n", quote(&self.institution_id)));
        out.push_str(&format!("listen = {}\n", quote(&self.listen)));
        out.push_str("# sqlite:PATH (relative to this file), or postgres://user@host/db#schema\n");
        out.push_str(&format!("database = {}\n", quote(&self.database)));
        out.push_str("# The settlement ledger (net settlement): sqlite:PATH or postgres://user@host/db#schema\n");
        out.push_str(&format!("ledger = {}\n", quote(&self.ledger)));
        out.push_str("# The software HSM's local master key (64 hex digits). Keep it secret.\n");
        out.push_str(&format!("lmk_file = {}\n", quote(&self.lmk_file.display().to_string())));
        out.push_str("# The switch's DEK under the LMK: card keys for stand-in limits, advices at rest.\n");
        out.push_str(&format!("dek = {}\n", quote(&self.dek)));
        out.push_str(&format!("issuer_timeout_ms = {}\n", self.issuer_timeout_ms));
        out.push_str("# The daily cut-off, local time and UTC offset: the business date (field 15) moves on.\n");
        out.push_str(&format!("cutoff = {}\n", quote(&self.cutoff_resolved().to_string())));
        out.push_str("# After a key change on an issuer link, the replaced ZPK/ZAK is still accepted this long.\n");
        out.push_str(&format!("key_grace_ms = {}\n", self.key_grace_ms));
        out.push_str("\n[advices]\n");
        out.push_str(&format!("attempts_max = {}\n", self.advices.attempts_max));
        out.push_str(&format!("retry_delay_ms_min = {}\n", self.advices.retry_delay_ms_min));
        out.push_str(&format!("pending_max = {}\n", self.advices.pending_max));
        out.push_str(&format!("expiry_ms = {}\n", self.advices.expiry_ms));
        for member in &self.members {
            out.push_str("\n[[members]]\n");
            out.push_str(&format!("id = {}\n", quote(&member.id)));
            out.push_str(&format!("name = {}\n", quote(&member.name)));
            let roles: Vec<String> = member.roles.iter().map(|r| quote(r.name())).collect();
            out.push_str(&format!("roles = [{}]\n", roles.join(", ")));
            if let Some(endpoint) = &member.endpoint {
                out.push_str(&format!("endpoint = {}\n", quote(endpoint)));
            }
            out.push_str("# Zone keys as TR-31 key blocks under the LMK (an issuer link's zpk/zak are the\n");
            out.push_str("# initial ones: the switch changes them under the zmk, the newest in its database wins).\n");
            out.push_str(&format!("zmk = {}\n", quote(&member.zmk)));
            out.push_str(&format!("zpk = {}\n", quote(&member.zpk)));
            out.push_str(&format!("zak = {}\n", quote(&member.zak)));
            if member.key_change_interval_ms > 0 {
                out.push_str("# Milliseconds between key changes of the link's ZPK and ZAK (0 = on demand only).\n");
                out.push_str(&format!("key_change_interval_ms = {}\n", member.key_change_interval_ms));
            }
            if let Some(stip) = &member.stip {
                out.push_str("\n[members.stip]\n");
                out.push_str(&format!("enabled = {}\n", stip.enabled));
                out.push_str(&format!("currency = {}\n", quote(&stip.currency)));
                out.push_str(&format!("amount_max_minor = {}\n", stip.amount_max_minor));
                out.push_str(&format!("daily_amount_max_minor = {}\n", stip.daily_amount_max_minor));
                out.push_str(&format!("daily_count_max = {}\n", stip.daily_count_max));
                let kinds: Vec<String> = stip.kinds.iter().map(|k| quote(k.name())).collect();
                out.push_str(&format!("kinds = [{}]\n", kinds.join(", ")));
                out.push_str(&format!("with_pin = {}\n", stip.with_pin));
            }
        }
        for bin in &self.bins {
            out.push_str("\n[[bins]]\n");
            out.push_str(&format!("prefix = {}\n", quote(&bin.prefix)));
            out.push_str(&format!("issuer = {}\n", quote(&bin.issuer)));
            out.push_str(&format!("card_kind = {}\n", quote(bin.card_kind.name())));
        }
        out.push_str(&self.fees.to_toml());
        out.push_str(&self.server.to_toml());
        out.push_str(&self.admin.to_toml());
        out
    }
}

/// A member as the switch runs with it: keys parsed, roles as flags.
#[derive(Clone)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub acquirer: bool,
    pub issuer: bool,
    pub endpoint: Option<String>,
    pub zmk: WrappedKey,
    /// The configured ZPK and ZAK: the acquirer link's keys, and an issuer link's initial ones
    /// (the switch's link key state has the ones in use, see [`crate::linkkeys`]).
    pub zpk: WrappedKey,
    pub zak: WrappedKey,
    /// Milliseconds between scheduled key changes of an issuer link; 0 = on demand only.
    pub key_change_interval_ms: u64,
    /// Present only when enabled.
    pub stip: Option<StipConfig>,
}

/// Key blocks are encrypted, but there is no reason to print them: ids, roles and check values.
impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("acquirer", &self.acquirer)
            .field("issuer", &self.issuer)
            .field("endpoint", &self.endpoint)
            .field("zpk_kcv", &self.zpk.kcv())
            .field("zak_kcv", &self.zak.kcv())
            .field("key_change_interval_ms", &self.key_change_interval_ms)
            .field("stip", &self.stip)
            .finish()
    }
}

/// The checked configuration: members by id and the BIN table.
#[derive(Debug, Clone)]
pub struct Directory {
    pub institution_id: String,
    pub listen: SocketAddr,
    pub issuer_timeout_ms: u64,
    /// The daily cut-off (local time, explicit zone).
    pub cutoff: clearing::CutOff,
    /// Interchange and network fees of the clearing records.
    pub fees: clearing::FeeSchedule,
    pub key_grace_ms: u64,
    pub advices: AdviceConfig,
    pub dek: WrappedKey,
    members: HashMap<String, Member>,
    /// Prefix → issuer id and card kind. Routing tries the longest prefix first.
    bins: BTreeMap<String, (String, clearing::CardKind)>,
    /// Distinct prefix lengths present, longest first (routing tries only these).
    prefix_lens: Vec<usize>,
}

fn is_institution_id(id: &str) -> bool {
    id.len() == INSTITUTION_ID_LEN && id.bytes().all(|b| b.is_ascii_digit())
}

fn zone_key(member: &str, name: &str, block: &str, expected: KeyType) -> Result<WrappedKey, ConfigError> {
    let key = WrappedKey::from_block(block.trim())
        .map_err(|e| error(format!("member {member}: {name} is not a key block under the LMK: {e}")))?;
    if key.key_type() != expected {
        return Err(error(format!(
            "member {member}: {name} is a {} key block, a {} is needed",
            key.key_type().name(),
            expected.name()
        )));
    }
    Ok(key)
}

fn check_stip(member: &str, stip: &StipConfig) -> Result<(), ConfigError> {
    let currency_ok = stip.currency.len() == 3 && stip.currency.bytes().all(|b| b.is_ascii_digit());
    if !currency_ok {
        return Err(error(format!("member {member}: stip.currency must be an ISO 4217 numeric code (3 digits)")));
    }
    if stip.enabled {
        if stip.kinds.is_empty() {
            return Err(error(format!("member {member}: stip is enabled but stip.kinds is empty")));
        }
        if stip.amount_max_minor == 0 || stip.daily_amount_max_minor == 0 || stip.daily_count_max == 0 {
            return Err(error(format!(
                "member {member}: stip limits must be above 0 when stip is enabled (set enabled = false instead)"
            )));
        }
        if stip.amount_max_minor > stip.daily_amount_max_minor {
            return Err(error(format!("member {member}: stip.amount_max_minor is above stip.daily_amount_max_minor")));
        }
        // Limits are summed in i64 columns.
        if i64::try_from(stip.daily_amount_max_minor).is_err() || i64::try_from(stip.daily_count_max).is_err() {
            return Err(error(format!("member {member}: stip limits above 2^63-1")));
        }
    }
    let distinct: HashSet<StipKind> = stip.kinds.iter().copied().collect();
    if distinct.len() != stip.kinds.len() {
        return Err(error(format!("member {member}: stip.kinds names a kind twice")));
    }
    Ok(())
}

impl Directory {
    pub fn new(config: &SwitchConfig) -> Result<Directory, ConfigError> {
        if !is_institution_id(&config.institution_id) {
            return Err(error(format!("institution_id must be {INSTITUTION_ID_LEN} digits")));
        }
        let listen: SocketAddr = config
            .listen
            .parse()
            .map_err(|_| error(format!("listen {:?} is not an address such as 127.0.0.1:9100", config.listen)))?;
        config.server.check().map_err(error)?;
        if config.database.trim().is_empty() {
            return Err(error("database is empty"));
        }
        if config.ledger.trim().is_empty() || config.ledger.trim() == config.database.trim() {
            return Err(error("ledger must name a store of its own (not empty, not the database)"));
        }
        if config.issuer_timeout_ms == 0 || config.issuer_timeout_ms > ISSUER_TIMEOUT_MS_MAX {
            return Err(error(format!("issuer_timeout_ms must be 1 to {ISSUER_TIMEOUT_MS_MAX}")));
        }
        let cutoff = crate::eod_config::resolve_cutoff(config.cutoff.as_deref(), config.settlement_cutover_minute)?;
        let fees = config.fees.schedule()?;
        if config.key_grace_ms > KEY_GRACE_MS_MAX {
            return Err(error(format!("key_grace_ms must be at most {KEY_GRACE_MS_MAX}")));
        }
        if config.advices.attempts_max == 0 || config.advices.pending_max == 0 || config.advices.expiry_ms == 0 {
            return Err(error("advices.attempts_max, pending_max and expiry_ms must be above 0"));
        }
        let dek = WrappedKey::from_block(config.dek.trim())
            .map_err(|e| error(format!("dek is not a key block under the LMK: {e}")))?;
        if dek.key_type() != KeyType::Dek {
            return Err(error(format!("dek is a {} key block, a DEK is needed", dek.key_type().name())));
        }
        if config.members.len() > MEMBERS_MAX {
            return Err(error(format!("more than {MEMBERS_MAX} members")));
        }
        let mut members = HashMap::with_capacity(config.members.len());
        for (index, raw) in config.members.iter().enumerate() {
            if !is_institution_id(&raw.id) {
                return Err(error(format!("members[{index}]: id must be {INSTITUTION_ID_LEN} digits")));
            }
            let id = raw.id.as_str();
            if id == config.institution_id {
                return Err(error(format!("member {id}: has the switch's own institution_id")));
            }
            if raw.name.trim().is_empty() || raw.name.len() > MEMBER_NAME_LEN_MAX {
                return Err(error(format!("member {id}: name must be 1 to {MEMBER_NAME_LEN_MAX} characters")));
            }
            if raw.roles.is_empty() {
                return Err(error(format!("member {id}: roles is empty (acquirer, issuer or both)")));
            }
            let roles: HashSet<Role> = raw.roles.iter().copied().collect();
            if roles.len() != raw.roles.len() {
                return Err(error(format!("member {id}: roles names a role twice")));
            }
            let acquirer = roles.contains(&Role::Acquirer);
            let issuer = roles.contains(&Role::Issuer);
            match (&raw.endpoint, issuer) {
                (None, true) => return Err(error(format!("member {id}: an issuer needs an endpoint (host:port)"))),
                (Some(endpoint), _) if !has_port(endpoint) => {
                    return Err(error(format!("member {id}: endpoint {endpoint:?} is not host:port")));
                }
                _ => {}
            }
            let stip = match &raw.stip {
                Some(_) if !issuer => {
                    return Err(error(format!("member {id}: stip is set but the member is not an issuer")));
                }
                Some(stip) => {
                    check_stip(id, stip)?;
                    stip.enabled.then(|| stip.clone())
                }
                None => None,
            };
            if raw.key_change_interval_ms > 0 {
                if !issuer {
                    return Err(error(format!(
                        "member {id}: key_change_interval_ms is set but the member is not an issuer (the switch \
                         changes keys on its issuer links)"
                    )));
                }
                if raw.key_change_interval_ms < KEY_CHANGE_INTERVAL_MS_MIN {
                    return Err(error(format!(
                        "member {id}: key_change_interval_ms must be 0 (never) or at least {KEY_CHANGE_INTERVAL_MS_MIN}"
                    )));
                }
            }
            let member = Member {
                id: id.to_owned(),
                name: raw.name.clone(),
                acquirer,
                issuer,
                endpoint: raw.endpoint.clone(),
                zmk: zone_key(id, "zmk", &raw.zmk, KeyType::Zmk)?,
                zpk: zone_key(id, "zpk", &raw.zpk, KeyType::Zpk)?,
                zak: zone_key(id, "zak", &raw.zak, KeyType::Zak)?,
                key_change_interval_ms: raw.key_change_interval_ms,
                stip,
            };
            if members.insert(id.to_owned(), member).is_some() {
                return Err(error(format!("member {id}: the id appears twice")));
            }
        }
        if config.bins.len() > BINS_MAX {
            return Err(error(format!("more than {BINS_MAX} BIN entries")));
        }
        let mut bins = BTreeMap::new();
        for bin in &config.bins {
            let prefix = bin.prefix.as_str();
            let len_ok = (BIN_PREFIX_LEN_MIN..=BIN_PREFIX_LEN_MAX).contains(&prefix.len());
            if !len_ok || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error(format!(
                    "BIN {prefix:?}: a prefix is {BIN_PREFIX_LEN_MIN} to {BIN_PREFIX_LEN_MAX} digits"
                )));
            }
            match members.get(&bin.issuer) {
                None => return Err(error(format!("BIN {prefix}: issuer {} is not a member", bin.issuer))),
                Some(member) if !member.issuer => {
                    return Err(error(format!("BIN {prefix}: member {} does not have the issuer role", bin.issuer)));
                }
                Some(_) => {}
            }
            if let Some((other, _)) = bins.insert(prefix.to_owned(), (bin.issuer.clone(), bin.card_kind.kind())) {
                return Err(error(format!(
                    "BIN {prefix}: the prefix appears twice (issuers {other} and {})",
                    bin.issuer
                )));
            }
        }
        let mut prefix_lens: Vec<usize> = bins.keys().map(String::len).collect::<HashSet<_>>().into_iter().collect();
        prefix_lens.sort_unstable_by(|a, b| b.cmp(a));
        Ok(Directory {
            institution_id: config.institution_id.clone(),
            listen,
            issuer_timeout_ms: config.issuer_timeout_ms,
            cutoff,
            fees,
            key_grace_ms: config.key_grace_ms,
            advices: config.advices,
            dek,
            members,
            bins,
            prefix_lens,
        })
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.get(id)
    }

    /// An acquirer by field 32, if it is a member with the acquirer role.
    pub fn acquirer(&self, id: &str) -> Option<&Member> {
        self.members.get(id).filter(|m| m.acquirer)
    }

    /// An issuer by id, if it is a member with the issuer role.
    pub fn issuer(&self, id: &str) -> Option<&Member> {
        self.members.get(id).filter(|m| m.issuer)
    }

    /// Members with the issuer role, sorted by id.
    pub fn issuers(&self) -> Vec<&Member> {
        let mut issuers: Vec<&Member> = self.members.values().filter(|m| m.issuer).collect();
        issuers.sort_by(|a, b| a.id.cmp(&b.id));
        issuers
    }

    /// The issuer of the longest BIN prefix of `pan`, if any.
    pub fn route(&self, pan: &Pan) -> Option<&Member> {
        let pan = pan.as_str();
        self.prefix_lens
            .iter()
            .filter_map(|&len| pan.get(..len))
            .find_map(|prefix| self.bins.get(prefix))
            .and_then(|(issuer, _)| self.issuer(issuer))
    }

    /// The card kind of `pan` by its longest BIN prefix; debit when no prefix matches (or when
    /// only a masked PAN's first six digits are known and no prefix of six or fewer matches).
    pub fn card_kind(&self, pan: &str) -> clearing::CardKind {
        self.prefix_lens
            .iter()
            .filter_map(|&len| pan.get(..len).filter(|p| p.bytes().all(|b| b.is_ascii_digit())))
            .find_map(|prefix| self.bins.get(prefix))
            .map_or(clearing::CardKind::Debit, |(_, kind)| *kind)
    }

    /// Members with the acquirer role, sorted by id.
    pub fn acquirers(&self) -> Vec<&Member> {
        let mut acquirers: Vec<&Member> = self.members.values().filter(|m| m.acquirer).collect();
        acquirers.sort_by(|a, b| a.id.cmp(&b.id));
        acquirers
    }
}

/// `host:port` with a numeric port (the host is resolved when the switch connects).
fn has_port(endpoint: &str) -> bool {
    match endpoint.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}
