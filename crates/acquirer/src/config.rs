//! The acquirer's configuration: who it is, where terminals connect, its database, the switch
//! and the zone keys it shares with it, and the **POS profile** — what acquirers vary in the
//! UnionPay POS interface (docs/acquirer.md §1).
//!
//! [`AcquirerConfig`] is the file as written (TOML, key blocks as text); [`Settings`] is the
//! checked form the core runs on. [`AcquirerConfig::load`] reads, resolves relative paths
//! against the file's folder and checks, so a bad file is refused at start.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use host::toml_text::{quote, quote_list};
use host::{config_file, paths};
use hsm::mac::Padding;
use hsm::{KeyType, MacAlgorithm, SignOnScheme, WrappedKey};
use iso8583::{Header, Spec};
use serde::Deserialize;

use crate::limits::{
    BIN_PREFIX_DIGITS_MAX, CONFIG_BYTES_MAX, INSTITUTION_ID_LEN, REVERSAL_ATTEMPTS_MAX_DEFAULT,
    REVERSAL_PENDING_MAX_DEFAULT, REVERSAL_RETRY_DELAY_MS_MIN_DEFAULT, SWITCH_TIMEOUT_MS_DEFAULT,
    SWITCH_TIMEOUT_MS_MAX,
};

/// A configuration that cannot be used: what and where, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "acquirer config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn error(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// The acquirer's configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquirerConfig {
    /// The acquirer's 11-digit member id: field 32 toward the switch (and in 0810/0210 to
    /// terminals).
    pub institution_id: String,
    /// Where terminals connect, `host:port`.
    pub listen: String,
    /// Bounds of the terminal-facing server (`[server]`, docs/operations.md).
    #[serde(default)]
    pub server: host::ServerLimits,
    /// Where the admin endpoint listens (`[admin]`, docs/operations.md); none by default.
    #[serde(default)]
    pub admin: host::AdminSection,
    /// `sqlite:PATH` (relative to the config file), `sqlite::memory:`, or `postgres://…#schema`.
    /// The merchants registry keeps its tables (`merchants_*`) in the same database.
    #[serde(default = "default_database")]
    pub database: String,
    /// The software HSM's local master key: 64 hex digits.
    pub lmk_file: PathBuf,
    /// The acquirer's data encryption key (a DEK key block under the LMK): queued network
    /// reversals carry the PAN and are encrypted under it at rest.
    pub dek: String,
    /// ISO 4217 numeric currency of the acquirer's terminals (field 49), such as `156`.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// ISO 3166 alpha-2 country in field 43.
    #[serde(default = "default_country")]
    pub country: String,
    pub switch: SwitchLink,
    #[serde(default)]
    pub reversals: ReversalConfig,
    #[serde(default)]
    pub pos: PosProfile,
    /// The acquirer's ledger (merchant payables, fee income, payouts): `sqlite:PATH` (relative
    /// to the config file) or `postgres://…#schema`; its own store, as the issuer's.
    #[serde(default = "default_ledger")]
    pub ledger: String,
    /// Merchant settlement (`[settlement]`, crate::settlement_config).
    #[serde(default)]
    pub settlement: crate::settlement_config::SettlementConfig,
    /// The risk engine inside the authorization (`[risk]`, crate::risk_engine); none: the
    /// merchant's daily limit only.
    #[serde(default)]
    pub risk: Option<RiskConfig>,
    /// The merchants registry's own settings (`[merchants]`: merchant id prefix, allowed MCCs,
    /// limits), read by `merchants::RegistryConfig` from this same file; accepted here so the
    /// one file serves both. `to_toml` does not write it: the registry's section is its owner's.
    #[serde(default)]
    pub merchants: Option<merchants::MerchantSettings>,
}

/// `[risk]`: the rule file the acquirer's risk engine runs (`cardnet risk rules check FILE`
/// validates one; crates/risk/examples/rules.toml documents every rule kind). The file is read
/// again when it changes, without a restart; a file that does not parse leaves the rules as
/// they were (and says why in the log).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Relative to the configuration file.
    pub rules: PathBuf,
}

fn default_ledger() -> String {
    "sqlite:acquirer-ledger.db".to_owned()
}

fn default_database() -> String {
    "sqlite:acquirer.db".to_owned()
}

fn default_currency() -> String {
    "156".to_owned()
}

fn default_country() -> String {
    "CN".to_owned()
}

/// The link to the switch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchLink {
    /// `host:port` of the switch.
    pub endpoint: String,
    /// How long the acquirer waits for the switch's answer before it answers the terminal 98
    /// and reverses toward the network.
    #[serde(default = "default_switch_timeout_ms")]
    pub timeout_ms: u64,
    /// Zone keys shared with the switch, TR-31 blocks under the LMK.
    pub zmk: String,
    pub zpk: String,
    pub zak: String,
}

fn default_switch_timeout_ms() -> u64 {
    SWITCH_TIMEOUT_MS_DEFAULT
}

/// Store-and-forward of network reversals (0420/0421).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReversalConfig {
    pub attempts_max: u32,
    pub retry_delay_ms_min: u64,
    pub pending_max: u64,
}

impl Default for ReversalConfig {
    fn default() -> ReversalConfig {
        ReversalConfig {
            attempts_max: REVERSAL_ATTEMPTS_MAX_DEFAULT,
            retry_delay_ms_min: REVERSAL_RETRY_DELAY_MS_MIN_DEFAULT,
            pending_max: REVERSAL_PENDING_MAX_DEFAULT,
        }
    }
}

impl ReversalConfig {
    pub fn saf_config(&self) -> saf::SafConfig {
        saf::SafConfig {
            attempts_max: self.attempts_max,
            retry_delay_ms_min: self.retry_delay_ms_min,
            pending_max: self.pending_max,
        }
    }
}

/// Layout of the sign-on response's field 62 (reference §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Field62Layout {
    /// 24/40/60 bytes: PIK KCV MAK(+00×8) KCV [TDK KCV], as the HSM issues them.
    #[default]
    Standard,
    /// A private tagged layout some POSPs use (reference §4, S2): `01`+MAK+KCV, `02`+PIK+KCV,
    /// then `03`+TDK+KCV, each key as it is under the TMK (the MAK without zero fill).
    Tagged,
}

/// The terminal MAC (field 64), reference §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PosMacAlgorithm {
    /// The UnionPay "ECB" MAC: 8 ASCII hex characters.
    #[default]
    CupEcb,
    /// X9.9: single-DES CBC-MAC, zero IV, zero padding (8 bytes).
    X99,
    /// X9.19 retail MAC; needs a double-length MAK, which the standard sign-on layouts never
    /// issue (their MAK is single DES), so it suits only acquirers whose terminals load one.
    X919,
}

impl PosMacAlgorithm {
    pub fn hsm_algorithm(self) -> MacAlgorithm {
        match self {
            PosMacAlgorithm::CupEcb => MacAlgorithm::CupEcb,
            PosMacAlgorithm::X99 => MacAlgorithm::Alg1(Padding::Method1),
            PosMacAlgorithm::X919 => MacAlgorithm::Alg3(Padding::Method1),
        }
    }
}

/// Which bytes the MAC covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MacScope {
    /// MTI through field 63, bitmap included with bit 64 set (reference §5, S1 `CalMAC`).
    #[default]
    MtiToField63,
    /// The fields only: as above without the MTI and the bitmap (some acquirers' variant).
    FieldsOnly,
}

/// What acquirers vary in the POS interface.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PosProfile {
    /// The codec spec of the terminal side: a built-in name (`cup-pos`), or a spec file (TOML or
    /// JSON, relative to this file; `cardnet iso8583 spec cup-pos` prints one to adapt) for an
    /// acquirer whose field 60 subfields, field 62 or framing differ.
    pub spec: String,
    /// Swap the TPDU's destination and source in replies (reference §1, S2).
    pub tpdu_swap: bool,
    /// A fixed 6-byte header (12 hex digits) for replies; empty = echo the terminal's header.
    /// Either way the host sets the processing-requirement nibble.
    pub response_header: String,
    /// Sign-on key schemes (60.3) this acquirer issues; others are answered 40.
    pub key_schemes: Vec<String>,
    pub field62: Field62Layout,
    pub mac_algorithm: PosMacAlgorithm,
    pub mac_scope: MacScope,
    /// MTIs whose requests and responses carry field 64 (reference §5: financial messages,
    /// reversals and advices; never 0800/0820/0500/0320).
    pub mac_messages: Vec<String>,
    /// Card organisation sent in 63.1 of responses and counted as domestic in settlement.
    pub card_organisation: String,
    /// Other organisations by BIN prefix (`[pos.card_organisations]`, `"4" = "VIS"`): the
    /// longest prefix of the card number names the organisation in 63.1, and settlement counts
    /// every organisation but `card_organisation` as foreign (reference §6).
    pub card_organisations: std::collections::BTreeMap<String, String>,
    /// Card kinds by BIN prefix (`[pos.card_kinds]`, `"622588" = "credit"`): the longest prefix
    /// names the kind the merchant's discount rate is taken for; `debit` when none matches.
    pub card_kinds: std::collections::BTreeMap<String, String>,
}

impl Default for PosProfile {
    fn default() -> PosProfile {
        PosProfile {
            spec: "cup-pos".to_owned(),
            tpdu_swap: true,
            response_header: String::new(),
            key_schemes: vec!["001".to_owned(), "003".to_owned(), "004".to_owned()],
            field62: Field62Layout::Standard,
            mac_algorithm: PosMacAlgorithm::CupEcb,
            mac_scope: MacScope::MtiToField63,
            mac_messages: ["0100", "0110", "0200", "0210", "0220", "0230", "0400", "0410"]
                .iter()
                .map(|m| (*m).to_owned())
                .collect(),
            card_organisation: "CUP".to_owned(),
            card_organisations: std::collections::BTreeMap::new(),
            card_kinds: std::collections::BTreeMap::new(),
        }
    }
}

impl AcquirerConfig {
    /// Read, parse and check a TOML file; relative paths are taken from the file's folder.
    pub fn load(path: &Path) -> Result<AcquirerConfig, ConfigError> {
        let text = config_file::read(path, CONFIG_BYTES_MAX).map_err(error)?;
        let in_file = |e: ConfigError| error(format!("{}: {}", path.display(), e.0));
        let mut config: AcquirerConfig = config_file::parse_toml_file(path, &text).map_err(error)?;
        // Checked after the paths are resolved: a spec file is read relative to this file.
        config.resolve_paths(config_file::folder(path));
        config.validate().map_err(in_file)?;
        Ok(config)
    }

    /// Parse and check TOML text (paths stay as written).
    pub fn parse(text: &str) -> Result<AcquirerConfig, ConfigError> {
        let config: AcquirerConfig = config_file::parse_toml(text).map_err(error)?;
        config.validate()?;
        Ok(config)
    }

    /// Make relative paths relative to `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        paths::resolve_path(base, &mut self.lmk_file);
        paths::resolve_sqlite_url(base, &mut self.database);
        paths::resolve_sqlite_url(base, &mut self.ledger);
        paths::resolve_path(base, &mut self.settlement.output_dir);
        if let Some(risk) = &mut self.risk {
            paths::resolve_path(base, &mut risk.rules);
        }
        if iso8583::builtin::by_name(&self.pos.spec).is_err() {
            let mut spec_path = PathBuf::from(&self.pos.spec);
            paths::resolve_path(base, &mut spec_path);
            self.pos.spec = spec_path.display().to_string();
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        Settings::new(self).map(|_| ())
    }

    /// The file form, with comments, for `cardnet acquirer init` (key blocks are under the LMK).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        out.push_str("# cardnet acquirer host configuration (docs/acquirer.md).\n");
        out.push_str(&format!("institution_id = {}\n", quote(&self.institution_id)));
        out.push_str("# Where POS terminals connect (cup-pos framing: length, TPDU, 6-byte header).\n");
        out.push_str(&format!("listen = {}\n", quote(&self.listen)));
        out.push_str("# sqlite:PATH (relative to this file), or postgres://user@host/db#schema\n");
        out.push_str(&format!("database = {}\n", quote(&self.database)));
        out.push_str("# The ledger of merchant payables and fee income: sqlite:PATH or postgres://...#schema\n");
        out.push_str(&format!("ledger = {}\n", quote(&self.ledger)));
        out.push_str("# The software HSM's local master key (64 hex digits). Keep it secret.\n");
        out.push_str(&format!("lmk_file = {}\n", quote(&self.lmk_file.display().to_string())));
        out.push_str("# DEK under the LMK: queued network reversals at rest.\n");
        out.push_str(&format!("dek = {}\n", quote(&self.dek)));
        out.push_str(&format!("currency = {}\n", quote(&self.currency)));
        out.push_str(&format!("country = {}\n", quote(&self.country)));
        out.push_str("\n[switch]\n");
        out.push_str(&format!("endpoint = {}\n", quote(&self.switch.endpoint)));
        out.push_str(&format!("timeout_ms = {}\n", self.switch.timeout_ms));
        out.push_str("# Zone keys shared with the switch, TR-31 key blocks under the LMK.\n");
        out.push_str(&format!("zmk = {}\n", quote(&self.switch.zmk)));
        out.push_str(&format!("zpk = {}\n", quote(&self.switch.zpk)));
        out.push_str(&format!("zak = {}\n", quote(&self.switch.zak)));
        out.push_str("\n[reversals]\n");
        out.push_str(&format!("attempts_max = {}\n", self.reversals.attempts_max));
        out.push_str(&format!("retry_delay_ms_min = {}\n", self.reversals.retry_delay_ms_min));
        out.push_str(&format!("pending_max = {}\n", self.reversals.pending_max));
        let pos = &self.pos;
        out.push_str("\n# The POS profile: what this acquirer's terminals expect (docs/acquirer.md section 1).\n");
        out.push_str("[pos]\n");
        out.push_str(&format!("spec = {}\n", quote(&pos.spec)));
        out.push_str(&format!("tpdu_swap = {}\n", pos.tpdu_swap));
        out.push_str("# 12 hex digits, or empty to echo the terminal's header.\n");
        out.push_str(&format!("response_header = {}\n", quote(&pos.response_header)));
        out.push_str(&format!("key_schemes = {}\n", quote_list(&pos.key_schemes)));
        out.push_str("# standard (24/40/60 bytes) or tagged\n");
        out.push_str(&format!("field62 = {}\n", quote(field62_name(pos.field62))));
        out.push_str("# cup-ecb, x99 or x919\n");
        out.push_str(&format!("mac_algorithm = {}\n", quote(mac_name(pos.mac_algorithm))));
        out.push_str("# mti-to-field63 or fields-only\n");
        out.push_str(&format!("mac_scope = {}\n", quote(scope_name(pos.mac_scope))));
        out.push_str(&format!("mac_messages = {}\n", quote_list(&pos.mac_messages)));
        out.push_str(&format!("card_organisation = {}\n", quote(&pos.card_organisation)));
        out.push_str("# Other card organisations by BIN prefix, counted as foreign in settlement.\n");
        out.push_str("[pos.card_organisations]\n");
        for (prefix, organisation) in &pos.card_organisations {
            out.push_str(&format!("{} = {}\n", quote(prefix), quote(organisation)));
        }
        out.push_str(
            "# Card kinds by BIN prefix (debit or credit) for the merchant discount rate; debit by default.\n",
        );
        out.push_str("[pos.card_kinds]\n");
        for (prefix, kind) in &pos.card_kinds {
            out.push_str(&format!("{} = {}\n", quote(prefix), quote(kind)));
        }
        out.push_str(&self.server.to_toml());
        out.push_str(&self.admin.to_toml());
        if let Some(risk) = &self.risk {
            out.push_str("# The risk engine's rule file (read again when it changes).\n[risk]\n");
            out.push_str(&format!("rules = {}\n", quote(&risk.rules.display().to_string())));
        }
        out
    }
}

fn field62_name(layout: Field62Layout) -> &'static str {
    match layout {
        Field62Layout::Standard => "standard",
        Field62Layout::Tagged => "tagged",
    }
}

fn mac_name(algorithm: PosMacAlgorithm) -> &'static str {
    match algorithm {
        PosMacAlgorithm::CupEcb => "cup-ecb",
        PosMacAlgorithm::X99 => "x99",
        PosMacAlgorithm::X919 => "x919",
    }
}

fn scope_name(scope: MacScope) -> &'static str {
    match scope {
        MacScope::MtiToField63 => "mti-to-field63",
        MacScope::FieldsOnly => "fields-only",
    }
}

fn key(name: &str, block: &str, expected: KeyType) -> Result<WrappedKey, ConfigError> {
    let key = WrappedKey::from_block(block.trim())
        .map_err(|e| error(format!("{name} is not a key block under the LMK: {e}")))?;
    if key.key_type() != expected {
        return Err(error(format!("{name} is a {} key block, a {} is needed", key.key_type().name(), expected.name())));
    }
    Ok(key)
}

fn digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

/// The checked configuration the core runs on.
#[derive(Clone)]
pub struct Settings {
    pub institution_id: String,
    pub listen: SocketAddr,
    pub currency: String,
    pub country: String,
    pub dek: WrappedKey,
    pub switch_endpoint: String,
    pub switch_timeout_ms: u64,
    pub zmk: WrappedKey,
    pub zpk: WrappedKey,
    pub zak: WrappedKey,
    pub reversals: ReversalConfig,
    /// The risk engine's rule file, when configured.
    pub risk_rules: Option<PathBuf>,
    pub spec: Arc<Spec>,
    pub tpdu_swap: bool,
    pub response_header: Option<Header>,
    pub key_schemes: Vec<SignOnScheme>,
    pub field62: Field62Layout,
    pub mac_algorithm: PosMacAlgorithm,
    pub mac_scope: MacScope,
    pub mac_messages: Vec<String>,
    pub card_organisation: String,
    /// (BIN prefix, organisation), longest prefix first.
    pub card_organisations: Vec<(String, String)>,
    /// (BIN prefix, kind), longest prefix first.
    pub card_kinds: Vec<(String, clearing::CardKind)>,
}

/// Key blocks are encrypted, but there is no reason to print them: check values only.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("institution_id", &self.institution_id)
            .field("listen", &self.listen)
            .field("switch_endpoint", &self.switch_endpoint)
            .field("zpk_kcv", &self.zpk.kcv())
            .field("zak_kcv", &self.zak.kcv())
            .field("key_schemes", &self.key_schemes)
            .field("mac_algorithm", &self.mac_algorithm)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub fn new(config: &AcquirerConfig) -> Result<Settings, ConfigError> {
        if !digits(&config.institution_id, INSTITUTION_ID_LEN) {
            return Err(error(format!("institution_id must be {INSTITUTION_ID_LEN} digits")));
        }
        let listen: SocketAddr = config
            .listen
            .parse()
            .map_err(|_| error(format!("listen {:?} is not an address such as 127.0.0.1:9300", config.listen)))?;
        config.server.check().map_err(error)?;
        if config.database.trim().is_empty() {
            return Err(error("database is empty"));
        }
        if !digits(&config.currency, 3) {
            return Err(error("currency must be an ISO 4217 numeric code (3 digits)"));
        }
        if config.country.len() != 2 || !config.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(error("country must be 2 capital letters (ISO 3166 alpha-2)"));
        }
        let switch = &config.switch;
        if !has_port(&switch.endpoint) {
            return Err(error(format!("switch.endpoint {:?} is not host:port", switch.endpoint)));
        }
        if switch.timeout_ms == 0 || switch.timeout_ms > SWITCH_TIMEOUT_MS_MAX {
            return Err(error(format!("switch.timeout_ms must be 1 to {SWITCH_TIMEOUT_MS_MAX}")));
        }
        let r = &config.reversals;
        if r.attempts_max == 0 || r.pending_max == 0 {
            return Err(error("reversals.attempts_max and pending_max must be above 0"));
        }
        let pos = &config.pos;
        let spec = match iso8583::builtin::by_name(&pos.spec) {
            Ok(spec) => spec,
            Err(_) => Arc::new(Spec::from_path(Path::new(&pos.spec)).map_err(|e| {
                error(format!("pos.spec {:?} is neither a built-in spec nor a spec file: {e}", pos.spec))
            })?),
        };
        if spec.field(64).is_none() || spec.field(60).is_none() || spec.field(62).is_none() {
            return Err(error("pos.spec must define fields 60, 62 and 64 (a UnionPay POS spec)"));
        }
        let response_header = if pos.response_header.trim().is_empty() {
            None
        } else {
            let header = Header::from_hex(pos.response_header.trim())
                .map_err(|_| error("pos.response_header must be hex digits (12 for the UnionPay header)"))?;
            if header.as_bytes().len() != 6 {
                return Err(error("pos.response_header must be 6 bytes (12 hex digits)"));
            }
            Some(header)
        };
        if pos.key_schemes.is_empty() {
            return Err(error("pos.key_schemes is empty (001, 003, 004)"));
        }
        let mut key_schemes = Vec::with_capacity(pos.key_schemes.len());
        for code in &pos.key_schemes {
            let scheme = SignOnScheme::from_code(code)
                .map_err(|_| error(format!("pos.key_schemes: {code:?} is not 001, 003 or 004")))?;
            if key_schemes.contains(&scheme) {
                return Err(error(format!("pos.key_schemes names {code} twice")));
            }
            key_schemes.push(scheme);
        }
        for mti in &pos.mac_messages {
            if !digits(mti, 4) {
                return Err(error(format!("pos.mac_messages: {mti:?} is not an MTI")));
            }
            if matches!(&mti[..2], "08" | "05" | "03") {
                return Err(error(format!("pos.mac_messages: {mti} never carries a MAC (reference section 5)")));
            }
        }
        let organisation_ok = |org: &str| org.len() == 3 && org.bytes().all(|b| b.is_ascii_alphanumeric());
        let org = &pos.card_organisation;
        if !organisation_ok(org) {
            return Err(error("pos.card_organisation must be 3 letters, such as CUP"));
        }
        let mut card_organisations = Vec::with_capacity(pos.card_organisations.len());
        for (prefix, organisation) in &pos.card_organisations {
            if prefix.is_empty() || prefix.len() > BIN_PREFIX_DIGITS_MAX || !digits(prefix, prefix.len()) {
                return Err(error(format!(
                    "pos.card_organisations: {prefix:?} is not a BIN prefix (1 to {BIN_PREFIX_DIGITS_MAX} digits)"
                )));
            }
            if !organisation_ok(organisation) {
                return Err(error(format!("pos.card_organisations: {organisation:?} must be 3 letters, such as VIS")));
            }
            card_organisations.push((prefix.clone(), organisation.clone()));
        }
        card_organisations.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let mut card_kinds = Vec::with_capacity(pos.card_kinds.len());
        for (prefix, kind) in &pos.card_kinds {
            if prefix.is_empty() || prefix.len() > BIN_PREFIX_DIGITS_MAX || !digits(prefix, prefix.len()) {
                return Err(error(format!(
                    "pos.card_kinds: {prefix:?} is not a BIN prefix (1 to {BIN_PREFIX_DIGITS_MAX} digits)"
                )));
            }
            let kind = clearing::CardKind::from_name(kind)
                .ok_or_else(|| error(format!("pos.card_kinds: {kind:?} must be debit or credit")))?;
            card_kinds.push((prefix.clone(), kind));
        }
        card_kinds.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        if config.ledger.trim().is_empty() {
            return Err(error("ledger is empty"));
        }
        config.settlement.check()?;
        Ok(Settings {
            institution_id: config.institution_id.clone(),
            listen,
            currency: config.currency.clone(),
            country: config.country.clone(),
            dek: key("dek", &config.dek, KeyType::Dek)?,
            switch_endpoint: switch.endpoint.clone(),
            switch_timeout_ms: switch.timeout_ms,
            zmk: key("switch.zmk", &switch.zmk, KeyType::Zmk)?,
            zpk: key("switch.zpk", &switch.zpk, KeyType::Zpk)?,
            zak: key("switch.zak", &switch.zak, KeyType::Zak)?,
            reversals: config.reversals,
            risk_rules: config.risk.as_ref().map(|r| r.rules.clone()),
            spec,
            tpdu_swap: pos.tpdu_swap,
            response_header,
            key_schemes,
            field62: pos.field62,
            mac_algorithm: pos.mac_algorithm,
            mac_scope: pos.mac_scope,
            mac_messages: pos.mac_messages.clone(),
            card_organisation: org.clone(),
            card_organisations,
            card_kinds,
        })
    }

    /// The card organisation of the card `pan`: the longest configured BIN prefix's, else the
    /// acquirer's own (`card_organisation`).
    pub fn organisation_of(&self, pan: &str) -> &str {
        self.card_organisations
            .iter()
            .find(|(prefix, _)| pan.starts_with(prefix.as_str()))
            .map_or(self.card_organisation.as_str(), |(_, organisation)| organisation.as_str())
    }

    /// The kind of the card `pan` (the longest configured BIN prefix's; debit when none).
    pub fn card_kind_of(&self, pan: &str) -> clearing::CardKind {
        self.card_kinds
            .iter()
            .find(|(prefix, _)| pan.starts_with(prefix.as_str()))
            .map_or(clearing::CardKind::Debit, |(_, kind)| *kind)
    }

    /// Whether messages of `mti` carry field 64. A repeat (0401, 0201…) carries it when its
    /// first send does: a repeat must not be a way around the MAC.
    pub fn carries_mac(&self, mti: &str) -> bool {
        let first_send = iso8583::Mti::parse(mti).ok().map(|m| {
            let mut digits = *m.as_bytes();
            if m.is_repeat() {
                digits[3] -= 1;
            }
            digits
        });
        self.mac_messages.iter().any(|m| m == mti || first_send.is_some_and(|first| m.as_bytes() == &first[..]))
    }
}

/// `host:port` with a numeric port.
fn has_port(endpoint: &str) -> bool {
    match endpoint.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}
