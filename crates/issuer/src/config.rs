//! The issuer host's configuration: who it is, where it listens, its database, its keys,
//! its currency and rules, and its card products.
//!
//! [`IssuerConfig`] is the file as written (TOML, key blocks as text); [`Settings`] is the
//! checked form the host runs on (key blocks parsed and their roles checked, products by
//! name). [`IssuerConfig::load`] reads, resolves relative paths against the file's folder and
//! checks, so a bad file is refused at start with a message that names the setting at fault.
//!
//! ```toml
//! institution_id = "20000000455"
//! listen = "127.0.0.1:9200"
//! database = "sqlite:issuer.db"          # or "postgres://user@host/db#issuer"; holds the ledger too
//! lmk_file = "lmk.hex"                   # the software HSM's LMK; a real HSM replaces it
//! currency = "156"
//! pin_tries_max = 3
//! preauth_hold_days = 7
//! purchase_hold_days = 30
//! business_day_utc_offset_minutes = 480
//! key_grace_ms = 60000                   # the replaced ZPK/ZAK still accepted this long
//!
//! [keys]                                 # TR-31 key blocks under the LMK
//! switch_zmk = "…"                       # the KEK the switch sends new ZPKs/ZAKs under
//! switch_zpk = "D0144P0TB00E0200…"
//! switch_zak = "…"
//! pvk = "…"
//! pvk_index = 1
//! decimalization_table = "0123456789012345"   # IBM 3624 products only
//! cvk = "…"
//! imk_ac = "…"
//! dek = "…"
//!
//! [[products]]
//! name = "debit"
//! kind = "debit"
//! bin = "622424"
//! daily_amount_limit_minor = 500000
//! daily_count_limit = 20
//! pin_required = true
//! ```

pub use crate::policy::ChipSwipe;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use host::toml_text::{quote, quote_list};
use host::{config_file, paths};
use hsm::{KeyType, SoftHsm, WrappedKey};
use serde::Deserialize;

use crate::error::{IssuerError, Result};
use crate::limits::{
    BIN_LEN_MAX, BIN_LEN_MIN, BUSINESS_DAY_OFFSET_MINUTES_MAX, CARD_VALIDITY_MONTHS_DEFAULT, CARD_VALIDITY_MONTHS_MAX,
    CONFIG_BYTES_MAX, DECIMALIZATION_TABLE_DIGITS, EXCLUDED_PREFIXES_MAX, HOLD_DAYS_MAX, INSTITUTION_ID_LEN,
    KEY_GRACE_MS_DEFAULT, KEY_GRACE_MS_MAX, PAN_LEN_DEFAULT, PAN_LEN_MAX, PAN_LEN_MIN, PIN_LENGTH_DEFAULT,
    PIN_TRIES_MAX_DEFAULT, PIN_TRIES_MAX_LIMIT, PREAUTH_HOLD_DAYS_DEFAULT, PRODUCT_NAME_LEN_MAX, PRODUCTS_MAX,
    PURCHASE_HOLD_DAYS_DEFAULT,
};

/// The issuer's configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer's own 11-digit institution id (field 100 the switch routes to it with).
    pub institution_id: String,
    /// Where the switch connects, `host:port`.
    pub listen: String,
    /// Bounds of the listening server (`[server]`, docs/operations.md).
    #[serde(default)]
    pub server: host::ServerLimits,
    /// Where the admin endpoint listens (`[admin]`, docs/operations.md); none by default.
    #[serde(default)]
    pub admin: host::AdminSection,
    /// The card database, authorization journal and ledger (money): `sqlite:PATH` (relative to
    /// the config file), `sqlite::memory:`, or `postgres://…#schema`. The ledger's tables live
    /// here beside the journal, so an authorization's hold and its journal row are one commit.
    #[serde(default = "default_database")]
    pub database: String,
    /// A separate ledger store (`sqlite:PATH` or `postgres://…#schema`), as configurations
    /// before the ledger moved into `database` named it. Absent (the default, and what
    /// `cardnet issuer init` writes): the ledger is in `database`. Present: that store is still
    /// opened and used as before — every movement its own commit, ahead of the journal's — so
    /// an existing ledger keeps its money; it is not copied into `database`
    /// (docs/operations.md).
    #[serde(default)]
    pub ledger: Option<String>,
    /// The software HSM's local master key, 64 hex digits. Development only: a production
    /// issuer uses a hardware or cloud HSM behind the same `SecurityModule` calls, and this
    /// setting goes away.
    pub lmk_file: PathBuf,
    /// ISO 4217 numeric code of the card accounts (field 49), such as `156` for CNY. One
    /// currency, one ledger.
    pub currency: String,
    /// Wrong PINs in a row after which the PIN is blocked (75) until an unblock.
    #[serde(default = "default_pin_tries_max")]
    pub pin_tries_max: u32,
    /// Days a pre-authorization holds funds before the ledger releases the hold.
    #[serde(default = "default_preauth_hold_days")]
    pub preauth_hold_days: u32,
    /// Days a purchase holds funds if clearing never posts it.
    #[serde(default = "default_purchase_hold_days")]
    pub purchase_hold_days: u32,
    /// The issuer's business day (daily limits, expiry month) starts at midnight of UTC plus
    /// this many minutes (480 for UTC+8).
    #[serde(default)]
    pub business_day_utc_offset_minutes: i32,
    /// After the switch changes a working key of the link (0800/101), the key it replaced is
    /// still accepted this long (MACs and PIN blocks of messages already on their way).
    #[serde(default = "default_key_grace_ms")]
    pub key_grace_ms: u64,
    pub keys: KeysConfig,
    #[serde(default)]
    pub products: Vec<ProductConfig>,
    /// The risk engine's card view inside the authorization (`[risk]`); none: the cards' own
    /// daily limits only.
    #[serde(default)]
    pub risk: Option<RiskConfig>,
}

/// Key blocks (TR-31, under the LMK).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Zone master key shared with the switch: the KEK new ZPKs and ZAKs arrive under in a key
    /// change (0800/101).
    pub switch_zmk: String,
    /// Zone PIN key of the link to the switch: field 52 arrives under it. The initial key: once
    /// the switch has changed it, the newest key in the database is used.
    pub switch_zpk: String,
    /// Zone MAC key of the link to the switch: field 128 both ways. Initial, like `switch_zpk`.
    pub switch_zak: String,
    /// PIN verification key (Visa PVV).
    pub pvk: String,
    /// The PVK's index, one digit, written into track 2 (PVKI).
    #[serde(default = "default_pvk_index")]
    pub pvk_index: u8,
    /// The decimalization table of IBM 3624 PIN offsets (16 decimal digits; products with
    /// `pin_verification = "ibm3624"`).
    #[serde(default = "default_decimalization_table")]
    pub decimalization_table: String,
    /// Card verification key (CVV, CVV2, iCVV).
    pub cvk: String,
    /// EMV issuer master key for application cryptograms.
    pub imk_ac: String,
    /// Data encryption key (AES): card numbers and stored responses at rest, and the keyed
    /// hash a card is found by.
    pub dek: String,
}

/// Key blocks are encrypted, but there is no reason to print them.
impl fmt::Debug for KeysConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeysConfig").field("pvk_index", &self.pvk_index).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProductKind {
    /// The cardholder's own money: funded, spent down, never below zero.
    Debit,
    /// A credit line: the account is credited with the limit at issue and spent down.
    Credit,
}

impl ProductKind {
    pub fn name(self) -> &'static str {
        match self {
            ProductKind::Debit => "debit",
            ProductKind::Credit => "credit",
        }
    }

    pub fn from_name(name: &str) -> Option<ProductKind> {
        match name {
            "debit" => Some(ProductKind::Debit),
            "credit" => Some(ProductKind::Credit),
            _ => None,
        }
    }
}

/// One card product: what a card issued under it gets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductConfig {
    pub name: String,
    pub kind: ProductKind,
    /// The BIN (leading PAN digits) cards of this product are issued under.
    pub bin: String,
    /// Digits of the PAN, check digit included.
    #[serde(default = "default_pan_length")]
    pub pan_length: usize,
    /// Longer prefixes inside `bin` that this product must not issue under: ranges of the
    /// BIN the network routes to someone else (the switch routes by longest prefix, so a card
    /// numbered there would never reach this issuer).
    #[serde(default)]
    pub excluded_prefixes: Vec<String>,
    /// Approved purchases and pre-authorizations per business day: total amount (61 above it)
    /// and count (65 above it). Copied onto each card at issue.
    pub daily_amount_limit_minor: u64,
    pub daily_count_limit: u32,
    /// The credit line of a credit card (credited to its account at issue); 0 for debit.
    #[serde(default)]
    pub credit_limit_minor: u64,
    /// Whether purchases, pre-authorizations and balance inquiries need a PIN (55 without).
    #[serde(default = "default_true")]
    pub pin_required: bool,
    /// Digits of the PIN issued with the card.
    #[serde(default = "default_pin_length")]
    pub pin_length: usize,
    /// Months from the month of issue to the expiry month.
    #[serde(default = "default_validity_months")]
    pub validity_months: u32,
    /// The track 2 service code (`201`: chip card, normal authorization, PIN if the terminal
    /// can take it).
    #[serde(default = "default_service_code")]
    pub service_code: String,
    /// How the PIN is verified: `pvv` (Visa PVV on the card's record and track) or `ibm3624`
    /// (an IBM 3624 offset as long as the PIN, under the same PVK, with the account number as
    /// validation data and `keys.decimalization_table`).
    #[serde(default)]
    pub pin_verification: PinMethod,
    /// A chip card swiped without fallback: `decline` (45, the default) or `allow`
    /// (`policy.rs`).
    #[serde(default)]
    pub chip_swipe: ChipSwipe,
}

/// How an issued card's PIN is verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinMethod {
    /// Visa PVV (4 digits) with the PVK index.
    #[default]
    Pvv,
    /// IBM 3624 offset.
    Ibm3624,
}

impl PinMethod {
    pub fn name(self) -> &'static str {
        match self {
            PinMethod::Pvv => "pvv",
            PinMethod::Ibm3624 => "ibm3624",
        }
    }

    pub fn from_name(name: &str) -> Option<PinMethod> {
        match name {
            "pvv" => Some(PinMethod::Pvv),
            "ibm3624" => Some(PinMethod::Ibm3624),
            _ => None,
        }
    }
}

fn default_database() -> String {
    "sqlite:issuer.db".to_owned()
}
fn default_pin_tries_max() -> u32 {
    PIN_TRIES_MAX_DEFAULT
}
fn default_preauth_hold_days() -> u32 {
    PREAUTH_HOLD_DAYS_DEFAULT
}
fn default_purchase_hold_days() -> u32 {
    PURCHASE_HOLD_DAYS_DEFAULT
}
fn default_key_grace_ms() -> u64 {
    KEY_GRACE_MS_DEFAULT
}
fn default_decimalization_table() -> String {
    crate::limits::DECIMALIZATION_TABLE_DEFAULT.to_owned()
}
fn default_pvk_index() -> u8 {
    1
}
fn default_pan_length() -> usize {
    PAN_LEN_DEFAULT
}
fn default_true() -> bool {
    true
}
fn default_pin_length() -> usize {
    PIN_LENGTH_DEFAULT
}
fn default_validity_months() -> u32 {
    CARD_VALIDITY_MONTHS_DEFAULT
}
fn default_service_code() -> String {
    "201".to_owned()
}

fn digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

/// `[risk]`: the rule file the issuer's risk engine runs (`crates/risk/examples/rules.toml`
/// documents every rule kind), read again when it changes; a changed file that does not parse
/// is refused and the running rules stay.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Relative to the configuration file.
    pub rules: PathBuf,
}

impl IssuerConfig {
    /// Read, parse and check a TOML file. Relative paths in it (the LMK file, SQLite
    /// databases) are taken from the file's folder, so a config works wherever it is run from.
    pub fn load(path: &Path) -> Result<IssuerConfig> {
        let shown = path.display();
        let text = config_file::read(path, CONFIG_BYTES_MAX).map_err(IssuerError::config)?;
        let mut config: IssuerConfig = config_file::parse_toml_file(path, &text).map_err(IssuerError::config)?;
        config.validate().map_err(|e| IssuerError::config(format!("{shown}: {e}")))?;
        config.resolve_paths(config_file::folder(path));
        Ok(config)
    }

    /// Parse and check TOML text (paths stay as written).
    pub fn parse(text: &str) -> Result<IssuerConfig> {
        let config: IssuerConfig = config_file::parse_toml(text).map_err(IssuerError::config)?;
        config.validate()?;
        Ok(config)
    }

    /// Make relative paths relative to `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        paths::resolve_path(base, &mut self.lmk_file);
        paths::resolve_sqlite_url(base, &mut self.database);
        if let Some(ledger) = &mut self.ledger {
            paths::resolve_sqlite_url(base, ledger);
        }
        if let Some(risk) = &mut self.risk {
            paths::resolve_path(base, &mut risk.rules);
        }
    }

    /// Check everything; the checked form is [`Settings::new`].
    pub fn validate(&self) -> Result<()> {
        Settings::new(self).map(|_| ())
    }

    /// The software HSM over the LMK file (64 hex digits, [`SoftHsm::from_lmk_file`]); a
    /// file that cannot be used is a configuration error naming it. Development only.
    pub fn soft_hsm(&self) -> Result<SoftHsm> {
        SoftHsm::from_lmk_file(&self.lmk_file).map_err(|e| IssuerError::config(e.to_string()))
    }

    /// The file form, with comments, for `cardnet issuer init` (key blocks are encrypted
    /// under the LMK, so writing them is safe).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line("# cardnet issuer host configuration (docs/network-flows.md sections 1-3).".into());
        line(format!("institution_id = {}", quote(&self.institution_id)));
        line(format!("listen = {}", quote(&self.listen)));
        line("# sqlite:PATH (relative to this file), or postgres://user@host/db#schema. It holds the".into());
        line("# cards, the journal and the ledger: an authorization is one commit.".into());
        line(format!("database = {}", quote(&self.database)));
        if let Some(ledger) = &self.ledger {
            line("# A separate ledger store (an older configuration): each movement commits there first.".into());
            line(format!("ledger = {}", quote(ledger)));
        }
        line("# The software HSM's local master key (64 hex digits). Keep it secret; a real HSM replaces it.".into());
        line(format!("lmk_file = {}", quote(&self.lmk_file.display().to_string())));
        line("# ISO 4217 numeric currency of the card accounts (field 49).".into());
        line(format!("currency = {}", quote(&self.currency)));
        line(format!("pin_tries_max = {}", self.pin_tries_max));
        line(format!("preauth_hold_days = {}", self.preauth_hold_days));
        line(format!("purchase_hold_days = {}", self.purchase_hold_days));
        line("# Daily limits count per business day, which starts at UTC midnight plus this offset.".into());
        line(format!("business_day_utc_offset_minutes = {}", self.business_day_utc_offset_minutes));
        line("# After a key change from the switch, the replaced ZPK/ZAK is still accepted this long.".into());
        line(format!("key_grace_ms = {}", self.key_grace_ms));
        line(String::new());
        line("# TR-31 key blocks under the LMK. switch_zpk and switch_zak are the initial link keys: the".into());
        line("# switch changes them under switch_zmk, and the newest key in the database is used.".into());
        line("[keys]".into());
        line(format!("switch_zmk = {}", quote(&self.keys.switch_zmk)));
        line(format!("switch_zpk = {}", quote(&self.keys.switch_zpk)));
        line(format!("switch_zak = {}", quote(&self.keys.switch_zak)));
        line(format!("pvk = {}", quote(&self.keys.pvk)));
        line(format!("pvk_index = {}", self.keys.pvk_index));
        line(format!("decimalization_table = {}", quote(&self.keys.decimalization_table)));
        line(format!("cvk = {}", quote(&self.keys.cvk)));
        line(format!("imk_ac = {}", quote(&self.keys.imk_ac)));
        line(format!("dek = {}", quote(&self.keys.dek)));
        for product in &self.products {
            line(String::new());
            line("[[products]]".into());
            line(format!("name = {}", quote(&product.name)));
            line(format!("kind = {}", quote(product.kind.name())));
            line(format!("bin = {}", quote(&product.bin)));
            line(format!("pan_length = {}", product.pan_length));
            if !product.excluded_prefixes.is_empty() {
                line(format!("excluded_prefixes = {}", quote_list(&product.excluded_prefixes)));
            }
            line(format!("daily_amount_limit_minor = {}", product.daily_amount_limit_minor));
            line(format!("daily_count_limit = {}", product.daily_count_limit));
            line(format!("credit_limit_minor = {}", product.credit_limit_minor));
            line(format!("pin_required = {}", product.pin_required));
            line(format!("pin_length = {}", product.pin_length));
            line(format!("validity_months = {}", product.validity_months));
            line(format!("service_code = {}", quote(&product.service_code)));
            line(format!("pin_verification = {}", quote(product.pin_verification.name())));
            line(format!("chip_swipe = {}", quote(product.chip_swipe.name())));
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

/// The keys the host runs with, parsed and checked for their roles.
#[derive(Clone)]
pub struct Keys {
    pub switch_zmk: WrappedKey,
    /// The link's initial ZPK and ZAK (see [`KeysConfig`]).
    pub switch_zpk: WrappedKey,
    pub switch_zak: WrappedKey,
    pub pvk: WrappedKey,
    pub pvk_index: u8,
    pub decimalization_table: String,
    pub cvk: WrappedKey,
    pub imk_ac: WrappedKey,
    pub dek: WrappedKey,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("switch_zmk", &self.switch_zmk)
            .field("switch_zpk", &self.switch_zpk)
            .field("switch_zak", &self.switch_zak)
            .field("pvk", &self.pvk)
            .field("pvk_index", &self.pvk_index)
            .field("cvk", &self.cvk)
            .field("imk_ac", &self.imk_ac)
            .field("dek", &self.dek)
            .finish()
    }
}

fn key(name: &str, block: &str, expected: KeyType) -> Result<WrappedKey> {
    let key = WrappedKey::from_block(block.trim())
        .map_err(|e| IssuerError::config(format!("keys.{name} is not a key block under the LMK: {e}")))?;
    if key.key_type() != expected {
        return Err(IssuerError::config(format!(
            "keys.{name} is a {} key block, a {} is needed",
            key.key_type().name(),
            expected.name()
        )));
    }
    Ok(key)
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub institution_id: String,
    pub listen: SocketAddr,
    pub database: String,
    /// A separate ledger store; `None`: the ledger is in `database`.
    pub ledger: Option<String>,
    pub currency: String,
    /// The ledger partition of `currency` (its numeric value).
    pub ledger_id: u32,
    /// The risk engine's rule file, when configured.
    pub risk_rules: Option<PathBuf>,
    pub pin_tries_max: u32,
    pub preauth_hold_seconds: u32,
    pub purchase_hold_seconds: u32,
    pub business_day_offset_ms: i64,
    pub key_grace_ms: u64,
    pub keys: Keys,
    pub products: BTreeMap<String, ProductConfig>,
}

impl Settings {
    pub fn new(config: &IssuerConfig) -> Result<Settings> {
        let bad = |message: String| Err(IssuerError::config(message));
        if !digits(&config.institution_id, INSTITUTION_ID_LEN) {
            return bad(format!("institution_id must be {INSTITUTION_ID_LEN} digits"));
        }
        let Ok(listen) = config.listen.parse::<SocketAddr>() else {
            return bad(format!("listen {:?} is not an address such as 127.0.0.1:9200", config.listen));
        };
        config.server.check().map_err(IssuerError::config)?;
        if config.database.trim().is_empty() {
            return bad("database must name a store".into());
        }
        if let Some(ledger) = &config.ledger {
            if ledger.trim().is_empty() {
                return bad("ledger, when given, must name a separate store (or leave it out)".into());
            }
            if ledger.trim() == config.database.trim() {
                return bad("ledger names the database itself: leave it out (the ledger lives in database)".into());
            }
        }
        if !digits(&config.currency, 3) || config.currency == "000" {
            return bad("currency must be an ISO 4217 numeric code (3 digits, such as 156)".into());
        }
        let ledger_id = config.currency.parse::<u32>().map_err(|_| IssuerError::config("currency is not a number"))?;
        if !(1..=PIN_TRIES_MAX_LIMIT).contains(&config.pin_tries_max) {
            return bad(format!("pin_tries_max must be 1 to {PIN_TRIES_MAX_LIMIT}"));
        }
        for (name, days) in
            [("preauth_hold_days", config.preauth_hold_days), ("purchase_hold_days", config.purchase_hold_days)]
        {
            if !(1..=HOLD_DAYS_MAX).contains(&days) {
                return bad(format!("{name} must be 1 to {HOLD_DAYS_MAX}"));
            }
        }
        if config.business_day_utc_offset_minutes.abs() > BUSINESS_DAY_OFFSET_MINUTES_MAX {
            return bad(format!("business_day_utc_offset_minutes must be within ±{BUSINESS_DAY_OFFSET_MINUTES_MAX}"));
        }
        if config.key_grace_ms > KEY_GRACE_MS_MAX {
            return bad(format!("key_grace_ms must be at most {KEY_GRACE_MS_MAX}"));
        }
        if config.keys.pvk_index > 9 {
            return bad("keys.pvk_index must be one digit (0 to 9)".into());
        }
        if !digits(&config.keys.decimalization_table, DECIMALIZATION_TABLE_DIGITS) {
            return bad(format!("keys.decimalization_table must be {DECIMALIZATION_TABLE_DIGITS} decimal digits"));
        }
        let keys = Keys {
            switch_zmk: key("switch_zmk", &config.keys.switch_zmk, KeyType::Zmk)?,
            switch_zpk: key("switch_zpk", &config.keys.switch_zpk, KeyType::Zpk)?,
            switch_zak: key("switch_zak", &config.keys.switch_zak, KeyType::Zak)?,
            pvk: key("pvk", &config.keys.pvk, KeyType::Pvk)?,
            pvk_index: config.keys.pvk_index,
            decimalization_table: config.keys.decimalization_table.clone(),
            cvk: key("cvk", &config.keys.cvk, KeyType::Cvk)?,
            imk_ac: key("imk_ac", &config.keys.imk_ac, KeyType::ImkAc)?,
            dek: key("dek", &config.keys.dek, KeyType::Dek)?,
        };
        if !keys.dek.is_aes() {
            return bad("keys.dek must be an AES key".into());
        }
        if config.products.len() > PRODUCTS_MAX {
            return bad(format!("more than {PRODUCTS_MAX} products"));
        }
        let mut products = BTreeMap::new();
        for (index, product) in config.products.iter().enumerate() {
            check_product(index, product)?;
            if products.insert(product.name.clone(), product.clone()).is_some() {
                return bad(format!("products: {:?} is named twice", product.name));
            }
        }
        Ok(Settings {
            institution_id: config.institution_id.clone(),
            listen,
            database: config.database.clone(),
            ledger: config.ledger.clone(),
            currency: config.currency.clone(),
            ledger_id,
            risk_rules: config.risk.as_ref().map(|r| r.rules.clone()),
            pin_tries_max: config.pin_tries_max,
            preauth_hold_seconds: config.preauth_hold_days * crate::limits::SECONDS_PER_DAY,
            purchase_hold_seconds: config.purchase_hold_days * crate::limits::SECONDS_PER_DAY,
            business_day_offset_ms: i64::from(config.business_day_utc_offset_minutes) * 60_000,
            key_grace_ms: config.key_grace_ms,
            keys,
            products,
        })
    }
}

fn check_product(index: usize, product: &ProductConfig) -> Result<()> {
    let name = &product.name;
    let bad = |message: String| Err(IssuerError::config(format!("products[{index}] ({name}): {message}")));
    if name.is_empty()
        || name.len() > PRODUCT_NAME_LEN_MAX
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IssuerError::config(format!(
            "products[{index}]: name must be 1 to {PRODUCT_NAME_LEN_MAX} letters, digits, - or _"
        )));
    }
    if !(PAN_LEN_MIN..=PAN_LEN_MAX).contains(&product.pan_length) {
        return bad(format!("pan_length must be {PAN_LEN_MIN} to {PAN_LEN_MAX}"));
    }
    let bin_ok =
        (BIN_LEN_MIN..=BIN_LEN_MAX).contains(&product.bin.len()) && product.bin.bytes().all(|b| b.is_ascii_digit());
    // At least 5 account digits between the BIN and the check digit, so a BIN holds 10^5 cards.
    if !bin_ok || product.bin.len() + 6 > product.pan_length {
        return bad(format!("bin must be {BIN_LEN_MIN} to {BIN_LEN_MAX} digits, 6 fewer than pan_length"));
    }
    if product.excluded_prefixes.len() > EXCLUDED_PREFIXES_MAX {
        return bad(format!("at most {EXCLUDED_PREFIXES_MAX} excluded_prefixes"));
    }
    for prefix in &product.excluded_prefixes {
        let inside = prefix.len() > product.bin.len()
            && prefix.len() < product.pan_length
            && prefix.starts_with(&product.bin)
            && prefix.bytes().all(|b| b.is_ascii_digit());
        if !inside {
            return bad(format!("excluded prefix {prefix:?} must be digits that extend the BIN"));
        }
    }
    if product.daily_amount_limit_minor == 0 || product.daily_count_limit == 0 {
        return bad("daily limits must be above 0".into());
    }
    if i64::try_from(product.daily_amount_limit_minor).is_err() || i64::try_from(product.credit_limit_minor).is_err() {
        return bad("amounts must be below 2^63".into());
    }
    match product.kind {
        ProductKind::Credit if product.credit_limit_minor == 0 => {
            return bad("a credit product needs credit_limit_minor".into());
        }
        ProductKind::Debit if product.credit_limit_minor != 0 => {
            return bad("credit_limit_minor is for credit products".into());
        }
        _ => {}
    }
    if !(hsm::card::PIN_LENGTH_MIN..=hsm::card::PIN_LENGTH_MAX).contains(&product.pin_length) {
        return bad(format!("pin_length must be {} to {}", hsm::card::PIN_LENGTH_MIN, hsm::card::PIN_LENGTH_MAX));
    }
    if !(1..=CARD_VALIDITY_MONTHS_MAX).contains(&product.validity_months) {
        return bad(format!("validity_months must be 1 to {CARD_VALIDITY_MONTHS_MAX}"));
    }
    if !digits(&product.service_code, 3) || product.service_code == "999" {
        return bad("service_code must be 3 digits (999 is reserved for the iCVV)".into());
    }
    // Track 2 holds PAN = YYMM, service code, PVKI, the offset (as long as the PIN) and the CVV.
    let track2_len = product.pan_length + 12 + product.pin_length;
    if product.pin_verification == PinMethod::Ibm3624 && track2_len > crate::cards::TRACK2_LEN_MAX {
        return bad(format!(
            "an ibm3624 product's track 2 would be {track2_len} characters (at most {}): shorten pin_length",
            crate::cards::TRACK2_LEN_MAX
        ));
    }
    Ok(())
}
