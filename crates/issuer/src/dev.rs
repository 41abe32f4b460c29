//! Development and test set-ups: a complete issuer configuration with fresh keys.
//!
//! Every key is generated in (or given to) one software HSM, so a test acting as the switch
//! can build requests with the very same ZPK and ZAK the issuer holds. Real members share the
//! ZMK in a key ceremony and the switch sends working keys under it (0800/101);
//! [`config_with_link_keys`] takes the link keys, ZMK included, from outside (a development
//! switch generated under the same LMK).

use std::path::{Path, PathBuf};

use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, SoftHsm, WrappedKey};

use crate::config::{IssuerConfig, KeysConfig, ProductConfig, ProductKind};
use crate::error::{IssuerError, Result};
use crate::limits::{
    CARD_VALIDITY_MONTHS_DEFAULT, KEY_GRACE_MS_DEFAULT, PAN_LEN_DEFAULT, PIN_LENGTH_DEFAULT, PIN_TRIES_MAX_DEFAULT,
    PREAUTH_HOLD_DAYS_DEFAULT, PURCHASE_HOLD_DAYS_DEFAULT,
};

/// The development issuer's institution id and BIN (the ones the development switch routes).
pub const ISSUER_ID: &str = "20000000455";
pub const ISSUER_BIN: &str = "622424";
/// The development currency (CNY).
pub const CURRENCY: &str = "156";
/// Product names of the development configuration.
pub const DEBIT_PRODUCT: &str = "debit";
pub const CREDIT_PRODUCT: &str = "credit";
/// The development products' limits.
pub const DAILY_AMOUNT_LIMIT_MINOR: u64 = 500_000;
pub const DAILY_COUNT_LIMIT: u32 = 20;
pub const CREDIT_LIMIT_MINOR: u64 = 1_000_000;
/// Where a development issuer listens by default.
pub const LISTEN: &str = "127.0.0.1:9200";
/// File names `generate` writes in its folder.
pub const CONFIG_FILE: &str = "issuer.toml";
pub const LMK_FILE: &str = "lmk.hex";
pub const DATABASE_FILE: &str = "issuer.db";

/// The zone keys of the issuer's link to the switch: the ZMK the switch sends new working keys
/// under, and the initial ZPK and ZAK.
#[derive(Clone)]
pub struct LinkKeys {
    pub zmk: WrappedKey,
    pub zpk: WrappedKey,
    pub zak: WrappedKey,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinkKeys(zmk {}, zpk {}, zak {})", self.zmk.kcv(), self.zpk.kcv(), self.zak.kcv())
    }
}

impl LinkKeys {
    /// Fresh double-length TDES zone keys (format 0 PIN blocks and X9.19 MACs need TDES).
    pub fn generate(hsm: &dyn SecurityModule) -> hsm::Result<LinkKeys> {
        Ok(LinkKeys {
            zmk: hsm.generate_key(KeyType::Zmk, KeyAlgorithm::Tdes2)?,
            zpk: hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2)?,
            zak: hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2)?,
        })
    }
}

/// The BIN of the development credit product inside an issuer's `bin`: its own prefix, so the
/// switch's and the acquirer's BIN tables can tell the card kind (interchange and MDR differ).
pub fn credit_bin(bin: &str) -> String {
    format!("{bin}5")
}

/// The two development products under `bin`: a debit card and a credit card (under
/// [`credit_bin`], which the debit product never numbers), PIN required.
pub fn products(bin: &str) -> Vec<ProductConfig> {
    let credit = credit_bin(bin);
    let product = |name: &str, kind: ProductKind, credit_limit_minor: u64| ProductConfig {
        name: name.to_owned(),
        kind,
        bin: if kind == ProductKind::Credit { credit.clone() } else { bin.to_owned() },
        pan_length: PAN_LEN_DEFAULT,
        excluded_prefixes: if kind == ProductKind::Credit { Vec::new() } else { vec![credit.clone()] },
        daily_amount_limit_minor: DAILY_AMOUNT_LIMIT_MINOR,
        daily_count_limit: DAILY_COUNT_LIMIT,
        credit_limit_minor,
        pin_required: true,
        pin_length: PIN_LENGTH_DEFAULT,
        validity_months: CARD_VALIDITY_MONTHS_DEFAULT,
        service_code: "201".to_owned(),
        pin_verification: crate::config::PinMethod::Pvv,
        // The in-process development network's tests and demo swipe these chip cards at
        // network level to exercise the stripe's CVV and PVV; the configurations written for
        // deployment (`issuer init`, `network init`) decline, the default: see
        // `decline_chip_swipes`.
        chip_swipe: crate::config::ChipSwipe::Allow,
    };
    vec![
        product(DEBIT_PRODUCT, ProductKind::Debit, 0),
        product(CREDIT_PRODUCT, ProductKind::Credit, CREDIT_LIMIT_MINOR),
    ]
}

/// Set every product to decline a chip card swiped without fallback (45), the default a
/// configuration file gets: what `issuer init` and `network init` write.
pub fn decline_chip_swipes(config: &mut IssuerConfig) {
    for product in &mut config.products {
        product.chip_swipe = crate::config::ChipSwipe::Decline;
    }
}

/// A configuration with fresh keys from `hsm` and the given link keys. `database` is a store
/// URL (the ledger lives in it); `ledger`, a separate ledger store as older configurations
/// had (`None` for new ones); `lmk_file` is only recorded (see `hsm::soft::write_lmk_file`).
pub fn config_with_link_keys(
    hsm: &dyn SecurityModule,
    link: &LinkKeys,
    institution_id: &str,
    bin: &str,
    database: &str,
    ledger: Option<&str>,
    lmk_file: &Path,
) -> Result<IssuerConfig> {
    let key = |key_type: KeyType, algorithm: KeyAlgorithm| -> Result<String> {
        Ok(hsm.generate_key(key_type, algorithm)?.block().to_owned())
    };
    let config = IssuerConfig {
        institution_id: institution_id.to_owned(),
        listen: LISTEN.to_owned(),
        server: host::ServerLimits::default(),
        admin: host::AdminSection::default(),
        database: database.to_owned(),
        ledger: ledger.map(str::to_owned),
        lmk_file: lmk_file.to_owned(),
        currency: CURRENCY.to_owned(),
        pin_tries_max: PIN_TRIES_MAX_DEFAULT,
        preauth_hold_days: PREAUTH_HOLD_DAYS_DEFAULT,
        purchase_hold_days: PURCHASE_HOLD_DAYS_DEFAULT,
        business_day_utc_offset_minutes: 0,
        key_grace_ms: KEY_GRACE_MS_DEFAULT,
        keys: KeysConfig {
            switch_zmk: link.zmk.block().to_owned(),
            switch_zpk: link.zpk.block().to_owned(),
            switch_zak: link.zak.block().to_owned(),
            pvk: key(KeyType::Pvk, KeyAlgorithm::Tdes2)?,
            pvk_index: 1,
            decimalization_table: crate::limits::DECIMALIZATION_TABLE_DEFAULT.to_owned(),
            cvk: key(KeyType::Cvk, KeyAlgorithm::Tdes2)?,
            imk_ac: key(KeyType::ImkAc, KeyAlgorithm::Tdes2)?,
            dek: key(KeyType::Dek, KeyAlgorithm::Aes256)?,
        },
        products: products(bin),
        risk: None,
    };
    config.validate()?;
    Ok(config)
}

/// A configuration with fresh keys (link keys included) from `hsm`.
pub fn config(
    hsm: &dyn SecurityModule,
    institution_id: &str,
    bin: &str,
    database: &str,
    ledger: Option<&str>,
    lmk_file: &Path,
) -> Result<IssuerConfig> {
    let link = LinkKeys::generate(hsm)?;
    config_with_link_keys(hsm, &link, institution_id, bin, database, ledger, lmk_file)
}

/// What [`generate`] made.
#[derive(Debug)]
pub struct DevIssuer {
    /// The configuration with absolute paths (as [`IssuerConfig::load`] would give it).
    pub config: IssuerConfig,
    pub config_path: PathBuf,
    pub hsm: SoftHsm,
}

/// A complete development issuer in `dir` (created if missing): a fresh LMK in `lmk.hex`, a
/// configuration in `issuer.toml` (relative paths, so the folder can move), the database
/// `issuer.db` (cards, journal and ledger) beside it (created on first open). Refuses to overwrite
/// an existing configuration.
pub fn generate(institution_id: &str, bin: &str, dir: &Path) -> Result<DevIssuer> {
    std::fs::create_dir_all(dir)?;
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        return Err(IssuerError::input(format!("{} exists; not overwriting it", config_path.display())));
    }
    let lmk = Secret::random(hsm::soft::LMK_LEN)?;
    let hsm = SoftHsm::new(lmk.clone())?;
    let mut written = config(&hsm, institution_id, bin, &format!("sqlite:{DATABASE_FILE}"), None, Path::new(LMK_FILE))?;
    decline_chip_swipes(&mut written);
    hsm::soft::write_lmk_file(&dir.join(LMK_FILE), &lmk)?;
    host::write_private(&config_path, written.to_toml().as_bytes())?;
    let mut config = written;
    config.resolve_paths(dir);
    Ok(DevIssuer { config, config_path, hsm })
}
