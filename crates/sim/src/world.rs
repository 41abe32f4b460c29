//! The simulated network's parties, stood up as `cardnet demo` stands them (the key ceremony of
//! `provision::ceremony`, the development layout: a switch, an acquirer member, issuers A and B;
//! the acquirer host with its merchant onboarded through the registry and its terminals
//! registered, each installed from the TMK components the registry handed out) but as bare
//! cores on SQLite files in a folder of their own — no servers, no sockets. The LMK and every
//! key come from the run's seed through `hsm::entropy`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use acquirer::{Acquirer, AcquirerConfig};
use clock::ManualClock;
use hsm::{Secret, SecurityModule, SoftHsm};
use issuer::Issuer;
use merchants::{NewTerminal, Registry};
use switch::Switch;
use terminal::{Terminal, TerminalConfig};

use crate::pos;

/// Memory-backed storage, where the system has it.
const MEMORY_DIR: &str = "/dev/shm";
/// The LMK file in the run folder (every party's configuration names it).
const LMK_FILE: &str = "lmk.hex";
/// Terminals one run installs at most.
pub const TERMINALS_MAX: usize = 64;

/// A folder removed when the run ends.
pub struct RunDir(PathBuf);

impl RunDir {
    /// A fresh folder named by the process, the seed and a counter (two runs of one seed in one
    /// process do not share it), in memory-backed storage where there is some (`/dev/shm`): a
    /// run's parties commit thousands of times, and a crash in the simulation loses memory, not
    /// the disk, so waiting for the disk's syncs tests nothing. Else the system's temporary folder.
    pub fn new(seed: u64) -> Result<RunDir, String> {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shm = Path::new(MEMORY_DIR);
        let parent = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let path = parent.join(format!("cardnet-sim-{}-{seed}-{run}", std::process::id()));
        // A folder left by an earlier process of this id is stale.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
        Ok(RunDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    fn url(&self, name: &str) -> String {
        format!("sqlite:{}", self.0.join(format!("{name}.db")).display())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // Best effort: a folder left behind is only disk space in the temporary folder.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct World {
    pub hsm: Arc<SoftHsm>,
    pub clock: ManualClock,
    pub switch_config: switch::config::SwitchConfig,
    pub issuer_configs: Vec<issuer::IssuerConfig>,
    pub switch: Arc<Switch>,
    /// (institution id, core), A then B.
    pub issuers: Vec<(String, Arc<Issuer>)>,
    pub acquirer_config: AcquirerConfig,
    pub acquirer: Arc<Acquirer>,
    /// Each installed terminal's configuration (its journal in the run folder).
    pub terminals: Vec<TerminalConfig>,
}

impl World {
    /// Generate the keys and configurations and open every core. Must run inside the run's
    /// `hsm::entropy::with_source`, or the keys are not the seed's.
    pub fn build(dir: &RunDir, clock: &ManualClock, timeouts: &Timeouts, terminals: usize) -> Result<World, String> {
        let mut lmk = vec![0u8; hsm::soft::LMK_LEN];
        hsm::entropy::fill(&mut lmk).map_err(|e| e.to_string())?;
        let lmk = Secret::from_vec(lmk);
        // End of day opens every party from its configuration file, which names this file.
        hsm::soft::write_lmk_file(&dir.path().join(LMK_FILE), &lmk).map_err(|e| e.to_string())?;
        let hsm = Arc::new(SoftHsm::new(lmk).map_err(|e| e.to_string())?);
        let mut stores = |id: &str| dir.url(&format!("issuer{id}"));
        let configs = provision::ceremony::generate(
            1,
            &*hsm,
            &dir.path().join(LMK_FILE),
            &dir.url("switch"),
            &mut stores,
            "127.0.0.1:0",
            |id| format!("sim-{id}:1"),
        )
        .map_err(|e| e.to_string())?;
        let mut switch_config = configs.switch;
        switch_config.issuer_timeout_ms = timeouts.issuer_ms;
        let module = || Arc::clone(&hsm) as Arc<dyn SecurityModule>;
        let switch = Arc::new(Switch::open(&switch_config, module()).map_err(|e| format!("open the switch: {e}"))?);
        let mut issuers = Vec::with_capacity(configs.issuers.len());
        let mut issuer_configs = Vec::with_capacity(configs.issuers.len());
        for (id, _bin, config) in configs.issuers {
            let issuer = Issuer::open(&config, module(), Arc::new(clock.clone()))
                .map_err(|e| format!("open issuer {id}: {e}"))?;
            issuers.push((id, Arc::new(issuer)));
            issuer_configs.push(config);
        }
        let keys = acquirer::dev::SwitchKeys {
            zmk: configs.acquirer_keys.zmk,
            zpk: configs.acquirer_keys.zpk,
            zak: configs.acquirer_keys.zak,
        };
        let mut acquirer_config = acquirer::dev::config_with_switch_keys(
            &*hsm,
            &keys,
            provision::layout::ACQUIRER_ID,
            "127.0.0.1:0",
            "sim-switch:1",
            &dir.url("acquirer"),
            &dir.path().join(LMK_FILE),
        )?;
        acquirer_config.switch.timeout_ms = timeouts.acquirer_ms;
        let (acquirer, terminals) = onboard(dir, &acquirer_config, &hsm, clock, terminals, timeouts.terminal_ms)?;
        Ok(World {
            hsm,
            clock: clock.clone(),
            switch_config,
            issuer_configs,
            switch,
            issuers,
            acquirer_config,
            acquirer,
            terminals,
        })
    }

    /// Open the acquirer host again from its database (a restart after a crash).
    pub fn reopen_acquirer(&self) -> Result<Arc<Acquirer>, String> {
        open_acquirer(&self.acquirer_config, &self.hsm, &self.clock).map(|(acquirer, _)| acquirer)
    }

    /// Power terminal `index` on from its files, its cashier logged in, on the run's clock.
    pub fn power_on(&self, index: usize) -> Result<Terminal, String> {
        let config = self.terminals.get(index).ok_or("no such terminal")?.clone();
        let mut terminal = Terminal::open(config).map_err(|e| format!("power a terminal on: {e}"))?;
        terminal
            .log_in(pos::CASHIER, &Secret::new(pos::CASHIER_PASSWORD.as_bytes()))
            .map_err(|e| format!("log in at a terminal: {e}"))?;
        terminal.set_clock(Arc::new(self.clock.clone()));
        Ok(terminal)
    }

    /// Open the switch again from its database (a restart after a crash).
    pub fn reopen_switch(&self) -> Result<Arc<Switch>, String> {
        let hsm = Arc::clone(&self.hsm) as Arc<dyn SecurityModule>;
        Switch::open(&self.switch_config, hsm).map(Arc::new).map_err(|e| format!("reopen the switch: {e}"))
    }

    /// Open issuer `index` again from its database (a restart after a crash).
    pub fn reopen_issuer(&self, index: usize) -> Result<Arc<Issuer>, String> {
        let config = self.issuer_configs.get(index).ok_or("no such issuer")?;
        let hsm = Arc::clone(&self.hsm) as Arc<dyn SecurityModule>;
        Issuer::open(config, hsm, Arc::new(self.clock.clone()))
            .map(Arc::new)
            .map_err(|e| format!("reopen an issuer: {e}"))
    }

    /// Issue a funded debit card at issuer `index` and personalise it for its holder.
    pub fn issue(&self, index: usize, balance_minor: u64) -> Result<provision::card::SimCard, String> {
        self.issue_profiled(index, CardProfile::Good, balance_minor)
    }
}

/// What a card's issuer does with it: the cards a run issues to be declined, and the answer
/// each must get (never an approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CardProfile {
    /// Funded, active, valid for years: approved with its PIN.
    Good,
    /// Valid until a month before the run's day: 54.
    Expired,
    /// Reported lost: 41.
    Lost,
    /// Blocked by its issuer: 62.
    Blocked,
    /// Active with nothing on it: 51.
    NoFunds,
}

impl CardProfile {
    /// The profiles of the cards a run issues to be declined, one of each per issuer.
    pub const DECLINING: [CardProfile; 4] =
        [CardProfile::Expired, CardProfile::Lost, CardProfile::Blocked, CardProfile::NoFunds];

    /// Field 39 its issuer answers a purchase with its PIN; `None`: approved.
    pub fn decline_code(self) -> Option<&'static str> {
        match self {
            CardProfile::Good => None,
            CardProfile::Expired => Some(network::codes::EXPIRED_CARD),
            CardProfile::Lost => Some(network::codes::LOST_CARD),
            CardProfile::Blocked => Some(network::codes::RESTRICTED_CARD),
            CardProfile::NoFunds => Some(network::codes::INSUFFICIENT_FUNDS),
        }
    }
}

/// The expiry (YYMM) of the run's expired cards: the month before the run starts
/// (`run::START_MS`, November 2026).
const EXPIRED_YYMM: &str = "2610";

impl World {
    /// Issue a card of `profile` at issuer `index` (a good one with `balance_minor`; one set up
    /// to be declined as its profile says) and personalise it for its holder.
    pub fn issue_profiled(
        &self,
        index: usize,
        profile: CardProfile,
        balance_minor: u64,
    ) -> Result<provision::card::SimCard, String> {
        let (id, issuer) = self.issuers.get(index).ok_or("no such issuer")?;
        let (balance, expiry) = match profile {
            CardProfile::NoFunds => (None, None),
            CardProfile::Expired => (Some(balance_minor), Some(EXPIRED_YYMM)),
            _ => (Some(balance_minor), None),
        };
        let card = issuer
            .issue_card_expiring(issuer::dev::DEBIT_PRODUCT, balance, expiry)
            .map_err(|e| format!("issue a card at {id}: {e}"))?;
        let status = match profile {
            CardProfile::Lost => Some(issuer::CardStatus::Lost),
            CardProfile::Blocked => Some(issuer::CardStatus::Blocked),
            _ => None,
        };
        if let Some(status) = status {
            issuer
                .set_status(&issuer::CardRef::Id(card.card_id), status)
                .map_err(|e| format!("set a card's status at {id}: {e}"))?;
        }
        provision::card::SimCard::from_issued(&card).map_err(|e| format!("personalise a card: {e}"))
    }
}

/// How long each party waits for the next one.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The switch waits for an issuer.
    pub issuer_ms: u64,
    /// The acquirer host waits for the switch.
    pub acquirer_ms: u64,
    /// A terminal waits for the acquirer.
    pub terminal_ms: u64,
}

/// The acquirer host over its database, with the merchants registry on the same database as its
/// terminal directory.
fn open_acquirer(
    config: &AcquirerConfig,
    hsm: &Arc<SoftHsm>,
    clock: &ManualClock,
) -> Result<(Arc<Acquirer>, Arc<Registry>), String> {
    let db = sqlstore::Database::open(&config.database).map_err(|e| format!("the acquirer's database: {e}"))?;
    let module = Arc::clone(hsm) as Arc<dyn SecurityModule>;
    let settings = provision::acquirer_host::merchant_settings();
    let registry = Registry::open_with_settings(db.clone(), Arc::clone(&module), Arc::new(clock.clone()), settings)
        .map_err(|e| format!("the merchants registry: {e}"))?;
    let registry = Arc::new(registry);
    let directory = Arc::clone(&registry) as Arc<dyn acquirer::TerminalDirectory>;
    let acquirer =
        Acquirer::with_database(config, module, db, directory).map_err(|e| format!("open the acquirer: {e}"))?;
    Ok((Arc::new(acquirer), registry))
}

/// Open the acquirer, onboard the development merchant and register `count` terminals, each
/// installed in the run folder from its TMK's components (what `cardnet pos init` does).
fn onboard(
    dir: &RunDir,
    config: &AcquirerConfig,
    hsm: &Arc<SoftHsm>,
    clock: &ManualClock,
    count: usize,
    timeout_ms: u64,
) -> Result<(Arc<Acquirer>, Vec<TerminalConfig>), String> {
    let (acquirer, registry) = open_acquirer(config, hsm, clock)?;
    let merchant_id = provision::acquirer_host::onboard_merchant(&registry).map_err(|e| e.to_string())?;
    let mut terminals = Vec::with_capacity(count);
    for index in 0..count.min(TERMINALS_MAX) {
        let terminal_id = format!("SIM{:05}", index + 1);
        let new = NewTerminal { terminal_id: terminal_id.clone(), model: None, serial: None };
        let (_, delivery) = registry
            .add_terminal(&merchant_id, &new, &provision::acquirer_host::generated_tmk())
            .map_err(|e| format!("register terminal {terminal_id}: {e}"))?;
        let components: Vec<Secret> = delivery.components.into_iter().map(|c| c.component).collect();
        let installation = terminal::install::Installation {
            terminal_id: terminal_id.clone(),
            merchant_id: merchant_id.clone(),
            merchant_name: None,
            primary: "sim-acquirer:1".into(),
            backup: None,
            key_scheme: hsm::SignOnScheme::DoubleWithTdk.code().to_owned(),
            operators: vec![
                (pos::SUPERVISOR.into(), "supervisor".into(), pos::SUPERVISOR_PASSWORD.into()),
                (pos::CASHIER.into(), "cashier".into(), pos::CASHIER_PASSWORD.into()),
            ],
        };
        let installed = terminal::install::install(&dir.path().join("pos"), &installation, &components)
            .map_err(|e| format!("install terminal {terminal_id}: {e}"))?;
        let mut terminal = TerminalConfig::load(&installed.config_path)
            .map_err(|e| format!("terminal {terminal_id}'s configuration: {e}"))?;
        terminal.timeout_ms = timeout_ms;
        terminals.push(terminal);
    }
    Ok((acquirer, terminals))
}
