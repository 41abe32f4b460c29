//! The acquirer host on a [`LocalNetwork`]: a merchant onboarded through `merchants::Registry`
//! (apply, review, activate), terminal POS00001 installed with its TMK, and
//! `acquirer::AcquirerServer` (the production driver) signed on to the network's switch; and
//! the configuration of a terminal holding that TMK. `cardnet demo` runs it, and the acquirer
//! and terminal end-to-end tests (through `testnet`): every step's failure is an error naming
//! the step.
//!
//! The TMK: the registry generates it in the acquirer's HSM and hands it out as two clear
//! components ([`TmkSource::Generate`]), or imports components a test already holds. The
//! components stay in [`AcquirerHost`] (zeroized `Secret`s, never shown) only until the
//! terminal's configuration is written: the terminal is its own secure device and holds its TMK
//! in an owner-only file, as a real one holds it in its PIN pad.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use acquirer::dev::SwitchKeys;
use acquirer::{Acquirer, AcquirerServer, ServerOptions, TerminalDirectory};
use hsm::{Secret, SecurityModule};
use merchants::{
    Application, Decision, DiscountRate, FeePlan, MerchantSettings, MerchantTerms, NewTerminal, Registry,
    SettlementAccount, SettlementCycle, TmkExport, TmkImport, TmkSource,
};
use terminal::TerminalConfig;
use terminal::config::OperatorSeed;

use crate::error::{ProvisionError, Result, fail};
use crate::layout::ACQUIRER_ID;
use crate::local::{LocalNetwork, blocking};

/// The merchant's business name.
pub const MERCHANT_NAME: &str = "Cardnet Coffee";
/// The terminal the host installs.
pub const TERMINAL_ID: &str = "POS00001";
/// Components a generated TMK is handed out in (one per key custodian).
const TMK_COMPONENTS: usize = 2;
/// How long the acquirer may take to sign on to the switch.
const SIGN_ON_WAIT_MS: u64 = 5_000;

/// A TMK generated in the acquirer's HSM and handed out as components (a new installation).
pub fn generated_tmk() -> TmkSource {
    TmkSource::Generate(TmkExport::Components(TMK_COMPONENTS))
}

/// The terminal's side of key injection: the components XORed (what a key loading device
/// writes into the PIN pad). Empty without components.
fn tmk_of(components: &[Secret]) -> Secret {
    let length = components.first().map_or(0, Secret::len);
    let mut tmk = vec![0u8; length];
    for component in components {
        for (byte, part) in tmk.iter_mut().zip(component.expose()) {
            *byte ^= part;
        }
    }
    Secret::from_vec(tmk)
}

/// A business licence number with a valid GB 32100-2015 check character.
pub fn licence(n: u32) -> String {
    let first17 = format!("91440101{n:09}");
    // The first 17 characters are digits: the check character always exists.
    let check = merchants::licence::check_character(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// The development acquirer's `[merchants]` settings: its merchant id prefix and MCCs.
pub fn merchant_settings() -> MerchantSettings {
    MerchantSettings {
        merchant_id_prefix: "8984401".into(),
        allowed_mccs: vec!["5411".into(), "5812".into()],
        ..MerchantSettings::default()
    }
}

/// Onboard the development merchant ([`MERCHANT_NAME`]) through `registry`: applied for,
/// reviewed, activated with its fee plan and limits; its merchant id.
pub fn onboard_merchant(registry: &Registry) -> Result<String> {
    let application = Application {
        business_name: MERCHANT_NAME.into(),
        licence_no: licence(7),
        legal_representative: "Li Si".into(),
        mcc: "5812".into(),
        city: "Shanghai".into(),
        country: "CN".into(),
        settlement: SettlementAccount { bank_code: "102290000001".into(), account_no: "6222021000000007".into() },
        expected_monthly_volume_minor: 50_000_000,
    };
    let applied = registry.apply(&application).map_err(fail("merchant application"))?;
    registry
        .review(applied.application_id, Decision::Approve, "documents in order", "Wang Wu")
        .map_err(fail("merchant review"))?;
    let terms = MerchantTerms {
        fee_plan: FeePlan {
            debit: DiscountRate { rate_bp: 50, cap_minor: Some(2_000) },
            credit: DiscountRate { rate_bp: 60, cap_minor: None },
        },
        cycle: SettlementCycle::T1,
        single_max_minor: Some(1_000_000),
        daily_max_minor: Some(10_000_000),
    };
    Ok(registry.activate(applied.application_id, &terms).map_err(fail("merchant activation"))?.merchant_id)
}

/// The running acquirer and the ids it was set up with.
pub struct AcquirerHost {
    pub server: AcquirerServer,
    pub terminal_id: String,
    pub merchant_id: String,
    /// The configuration it runs with (listening on port 0: the address is `server.local_addr()`),
    /// for a caller that writes it out, as `cardnet demo --dir` does.
    pub config: acquirer::AcquirerConfig,
    /// The terminal's TMK components, until its configuration is written.
    tmk_components: Vec<Secret>,
}

/// Onboard a merchant and terminal [`TERMINAL_ID`] (its TMK from `tmk`) through the registry and
/// start the acquirer host.
pub async fn start(net: &LocalNetwork, switch_timeout_ms: u64, tmk: TmkSource) -> Result<AcquirerHost> {
    let dir = net.options.dir.clone();
    let db_url = net.store_url("acquirer");
    let db = blocking(|| sqlstore::Database::open(&db_url)).map_err(fail("acquirer database"))?;
    let hsm = Arc::clone(&net.hsm) as Arc<dyn SecurityModule>;
    let registry = blocking(|| {
        Registry::open_with_settings(db.clone(), Arc::clone(&hsm), Arc::clone(&net.clock), merchant_settings())
    })
    .map_err(fail("merchant registry"))?;
    let merchant_id = blocking(|| onboard_merchant(&registry))?;
    let terminal_id = TERMINAL_ID.to_owned();
    let (_, delivery) = blocking(|| {
        let new = NewTerminal { terminal_id: terminal_id.clone(), model: Some("PAX A920".into()), serial: None };
        registry.add_terminal(&merchant_id, &new, &tmk).map_err(fail("terminal installation"))
    })?;
    // The components the terminal is injected with: the caller's, or the ones just generated.
    let tmk_components = match tmk {
        TmkSource::Import(TmkImport::Components(components)) => components,
        _ => delivery.components.into_iter().map(|c| c.component).collect(),
    };
    if tmk_components.is_empty() {
        return Err(ProvisionError::input(
            "the terminal's TMK must come as components (the demo's terminal is injected with them)",
        ));
    }
    let keys = SwitchKeys {
        zmk: net.acquirer_keys.zmk.clone(),
        zpk: net.acquirer_keys.zpk.clone(),
        zak: net.acquirer_keys.zak.clone(),
    };
    let mut config = acquirer::dev::config_with_switch_keys(
        hsm.as_ref(),
        &keys,
        ACQUIRER_ID,
        "127.0.0.1:0",
        &net.switch_address()?.to_string(),
        &db_url,
        &dir.join("lmk.hex"),
    )
    .map_err(fail("acquirer configuration"))?;
    config.switch.timeout_ms = switch_timeout_ms;
    let directory: Arc<dyn TerminalDirectory> = Arc::new(registry);
    let acquirer =
        blocking(|| Acquirer::with_database(&config, hsm, db, directory)).map_err(fail("open the acquirer"))?;
    let options = ServerOptions {
        session_backoff_ms_min: 50,
        session_backoff_ms_max: 500,
        connect_timeout_ms: 1_000,
        reversal_poll_interval_ms: 50,
        ..ServerOptions::default()
    };
    let server =
        AcquirerServer::start(acquirer, Arc::clone(&net.clock), options).await.map_err(fail("start the acquirer"))?;
    let mut state = server.switch_state();
    let ready = tokio::time::timeout(Duration::from_millis(SIGN_ON_WAIT_MS), async {
        while *state.borrow_and_update() != transport::SessionState::Ready {
            if state.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    if ready.is_err() || *state.borrow() != transport::SessionState::Ready {
        return Err(ProvisionError::failed(
            "start the acquirer",
            format!("no sign-on to the switch within {SIGN_ON_WAIT_MS} ms"),
        ));
    }
    Ok(AcquirerHost { server, terminal_id, merchant_id, config, tmk_components })
}

impl AcquirerHost {
    /// The configuration of this host's terminal reaching it at `primary`: the TMK from the
    /// injected components in `dir/terminal/tmk.hex` (owner-only), the journal beside it,
    /// supervisor 00 (123456) and cashier 01 (1111): the demo's well-known passwords, which
    /// the terminal keeps only as keyed hashes once it powers on from its file.
    pub fn terminal_config(&self, dir: &Path, primary: &str) -> Result<TerminalConfig> {
        let dir: PathBuf = dir.join("terminal");
        std::fs::create_dir_all(&dir).map_err(fail("terminal folder"))?;
        let tmk = tmk_of(&self.tmk_components);
        let tmk_hex = Secret::from_vec(iso8583::hex::encode(tmk.expose()).into_bytes());
        host::write_private(&dir.join("tmk.hex"), tmk_hex.expose()).map_err(fail("TMK file"))?;
        let seed = |number: &str, role: &str, password: &str| OperatorSeed {
            number: number.into(),
            role: role.into(),
            password: Some(password.into()),
            password_hash: None,
        };
        let config = TerminalConfig {
            terminal_id: self.terminal_id.clone(),
            merchant_id: self.merchant_id.clone(),
            merchant_name: None,
            primary: primary.to_owned(),
            backup: None,
            tmk_file: dir.join("tmk.hex"),
            tmk_kcv: terminal::keys::tmk_kcv(&tmk).map_err(fail("TMK check value"))?,
            journal: dir.join("terminal.db"),
            key_scheme: "003".into(),
            timeout_ms: TERMINAL_TIMEOUT_MS,
            connect_timeout_ms: 1_000,
            reversal_attempts_max: 3,
            batch_limit: terminal::config::BATCH_LIMIT_DEFAULT,
            tpdu: terminal::config::TPDU_HEX_DEFAULT.into(),
            header: terminal::config::HEADER_HEX_DEFAULT.into(),
            operators: vec![seed("00", "supervisor", "123456"), seed("01", "cashier", "1111")],
            // Held in memory only: the clear seeds are hashed when the terminal powers on.
            source: None,
        };
        config.check().map_err(fail("terminal configuration"))?;
        Ok(config)
    }
}

/// The terminal's wait for an answer: above the acquirer's switch timeout (3 s in the tests,
/// 3 s in the demo), so the acquirer's 98 reaches the terminal before the terminal gives up.
const TERMINAL_TIMEOUT_MS: u64 = 8_000;
