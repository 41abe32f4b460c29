//! The acquirer host on a [`TestNetwork`], as the acquirer and terminal end-to-end tests use it:
//! a merchant onboarded through `merchants::Registry` (apply, review, activate), terminal
//! POS00001 with a TMK injected from two known components, and `acquirer::AcquirerServer`
//! signed on to the network's switch; and the configuration of a terminal with that TMK. Used
//! by the tests and by `cardnet demo`: every step's failure is an error naming the step.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use acquirer::dev::SwitchKeys;
use acquirer::{Acquirer, AcquirerServer, ServerOptions, TerminalDirectory};
use hsm::{Secret, SecurityModule};
use merchants::{
    Application, Decision, DiscountRate, FeePlan, MerchantSettings, MerchantTerms, NewTerminal, Registry,
    SettlementAccount, SettlementCycle, TmkImport, TmkSource,
};
use terminal::TerminalConfig;
use terminal::config::OperatorSeed;

use crate::net::{ACQUIRER_ID, TestNetwork, blocking, fail};

/// The two components of the terminal's TMK (key injection).
pub const TMK_A: [u8; 16] = [0x11; 16];
pub const TMK_B: [u8; 16] = [0x22; 16];
/// The merchant's business name.
pub const MERCHANT_NAME: &str = "Cardnet Coffee";

/// The clear TMK: the components XORed (what the terminal holds).
pub fn tmk_clear() -> Secret {
    let bytes: Vec<u8> = TMK_A.iter().zip(TMK_B.iter()).map(|(a, b)| a ^ b).collect();
    Secret::from_vec(bytes)
}

/// A business licence number with a valid GB 32100-2015 check character.
pub fn licence(n: u32) -> String {
    let first17 = format!("91440101{n:09}");
    // The first 17 characters are digits: the check character always exists.
    let check = merchants::licence::check_character(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// The running acquirer and the ids it was set up with.
pub struct AcquirerHost {
    pub server: AcquirerServer,
    pub terminal_id: String,
    pub merchant_id: String,
    /// The configuration it runs with (listening on port 0: the address is `server.local_addr()`),
    /// for a caller that writes it out, as `cardnet demo --dir` does.
    pub config: acquirer::AcquirerConfig,
}

/// Onboard a merchant and a terminal through the registry and start the acquirer host.
pub async fn start(net: &TestNetwork, switch_timeout_ms: u64) -> Result<AcquirerHost, String> {
    let dir = net.options.dir.clone();
    let db_url = net.store_url("acquirer");
    let db = blocking(|| sqlstore::Database::open(&db_url)).map_err(|e| fail("acquirer database")(&e))?;
    let hsm = Arc::clone(&net.hsm) as Arc<dyn SecurityModule>;
    let settings = MerchantSettings {
        merchant_id_prefix: "8984401".into(),
        allowed_mccs: vec!["5411".into(), "5812".into()],
        ..MerchantSettings::default()
    };
    let registry =
        blocking(|| Registry::open_with_settings(db.clone(), Arc::clone(&hsm), Arc::clone(&net.clock), settings))
            .map_err(|e| fail("merchant registry")(&e))?;
    let application = Application {
        business_name: "Cardnet Coffee".into(),
        licence_no: licence(7),
        legal_representative: "Li Si".into(),
        mcc: "5812".into(),
        city: "Shanghai".into(),
        country: "CN".into(),
        settlement: SettlementAccount { bank_code: "102290000001".into(), account_no: "6222021000000007".into() },
        expected_monthly_volume_minor: 50_000_000,
    };
    let merchant_id = blocking(|| -> Result<String, String> {
        let applied = registry.apply(&application).map_err(|e| fail("merchant application")(&e))?;
        registry
            .review(applied.application_id, Decision::Approve, "documents in order", "Wang Wu")
            .map_err(|e| fail("merchant review")(&e))?;
        let terms = MerchantTerms {
            fee_plan: FeePlan {
                debit: DiscountRate { rate_bp: 50, cap_minor: Some(2_000) },
                credit: DiscountRate { rate_bp: 60, cap_minor: None },
            },
            cycle: SettlementCycle::T1,
            single_max_minor: Some(1_000_000),
            daily_max_minor: Some(10_000_000),
        };
        Ok(registry.activate(applied.application_id, &terms).map_err(|e| fail("merchant activation")(&e))?.merchant_id)
    })?;
    let terminal_id = "POS00001".to_owned();
    blocking(|| {
        let source = TmkSource::Import(TmkImport::Components(vec![Secret::new(&TMK_A), Secret::new(&TMK_B)]));
        let new = NewTerminal { terminal_id: terminal_id.clone(), model: Some("PAX A920".into()), serial: None };
        registry.add_terminal(&merchant_id, &new, &source).map_err(|e| fail("terminal installation")(&e))
    })?;
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
    .map_err(|e| fail("acquirer configuration")(&e))?;
    config.switch.timeout_ms = switch_timeout_ms;
    let directory: Arc<dyn TerminalDirectory> = Arc::new(registry);
    let acquirer =
        blocking(|| Acquirer::with_database(&config, hsm, db, directory)).map_err(|e| fail("open the acquirer")(&e))?;
    let options = ServerOptions {
        session_backoff_ms_min: 50,
        session_backoff_ms_max: 500,
        connect_timeout_ms: 1_000,
        reversal_poll_interval_ms: 50,
        ..ServerOptions::default()
    };
    let server = AcquirerServer::start(acquirer, Arc::clone(&net.clock), options)
        .await
        .map_err(|e| fail("start the acquirer")(&e))?;
    let mut state = server.switch_state();
    let ready = tokio::time::timeout(Duration::from_secs(5), async {
        while *state.borrow_and_update() != transport::SessionState::Ready {
            if state.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    if ready.is_err() || *state.borrow() != transport::SessionState::Ready {
        return Err("the acquirer could not sign on to the switch within 5 s".into());
    }
    Ok(AcquirerHost { server, terminal_id, merchant_id, config })
}

impl AcquirerHost {
    /// The configuration of this host's terminal reaching it at `primary`: the TMK from the
    /// injected components in `dir/terminal/tmk.hex`, the journal beside it, supervisor 00
    /// (123456) and cashier 01 (1111).
    pub fn terminal_config(&self, dir: &Path, primary: &str) -> Result<TerminalConfig, String> {
        let dir: PathBuf = dir.join("terminal");
        std::fs::create_dir_all(&dir).map_err(|e| fail("terminal folder")(&e))?;
        let tmk = tmk_clear();
        host::write_private(&dir.join("tmk.hex"), iso8583::hex::encode(tmk.expose()).as_bytes())
            .map_err(|e| fail("TMK file")(&e))?;
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
            tmk_kcv: terminal::keys::tmk_kcv(&tmk).map_err(|e| fail("TMK check value")(&e))?,
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
        config.check().map_err(|e| fail("terminal configuration")(&e))?;
        Ok(config)
    }
}

/// The terminal's wait for an answer: above the acquirer's switch timeout in the tests (3 s),
/// so the acquirer's 98 reaches the terminal before the terminal gives up.
const TERMINAL_TIMEOUT_MS: u64 = 8_000;
