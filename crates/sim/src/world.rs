//! The simulated network's parties, stood up as `cardnet demo` stands them (the key ceremony of
//! `provision::ceremony`, the development layout: a switch, an acquirer member, issuers A and B)
//! but as bare cores on SQLite files in a folder of their own — no servers, no sockets. The LMK
//! and every key come from the run's seed through `hsm::entropy`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clock::ManualClock;
use hsm::{Secret, SecurityModule, SoftHsm};
use issuer::Issuer;
use network::request::Acceptor;
use switch::Switch;
use switch::dev::MemberKeys;

/// Where the workload's acquirer says its requests come from (fields 41, 42, 18, 43).
const TERMINAL_ID: &str = "SIM00001";
const MERCHANT_ID: &str = "898440154110001";
const MCC: &str = "5411";
const NAME_LOCATION: &str = "CARDNET SIM STORE        SHANGHAI     CN";

/// A folder removed when the run ends.
pub struct RunDir(PathBuf);

impl RunDir {
    /// A fresh folder under the system's temporary one, named by the process, the seed and a
    /// counter (two runs of one seed in one process do not share it).
    pub fn new(seed: u64) -> Result<RunDir, String> {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("cardnet-sim-{}-{seed}-{run}", std::process::id()));
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
    pub acquirer_keys: MemberKeys,
    pub acceptor: Acceptor,
}

impl World {
    /// Generate the keys and configurations and open every core. Must run inside the run's
    /// `hsm::entropy::with_source`, or the keys are not the seed's.
    pub fn build(dir: &RunDir, clock: &ManualClock, issuer_timeout_ms: u64) -> Result<World, String> {
        let mut lmk = vec![0u8; hsm::soft::LMK_LEN];
        hsm::entropy::fill(&mut lmk).map_err(|e| e.to_string())?;
        let hsm = Arc::new(SoftHsm::new(Secret::from_vec(lmk)).map_err(|e| e.to_string())?);
        let mut stores = |id: &str| dir.url(&format!("issuer{id}"));
        let configs = provision::ceremony::generate(
            &*hsm,
            &dir.path().join("lmk.hex"),
            &dir.url("switch"),
            &mut stores,
            "127.0.0.1:0",
            |id| format!("sim-{id}:1"),
        )
        .map_err(|e| e.to_string())?;
        let mut switch_config = configs.switch;
        switch_config.issuer_timeout_ms = issuer_timeout_ms;
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
        let parse = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
        let acceptor = Acceptor {
            acquirer: provision::layout::ACQUIRER_ID.parse().map_err(|e| parse("acquirer id", &e))?,
            terminal: TERMINAL_ID.parse().map_err(|e| parse("terminal id", &e))?,
            merchant: MERCHANT_ID.parse().map_err(|e| parse("merchant id", &e))?,
            mcc: MCC.to_owned(),
            name_location: NAME_LOCATION.to_owned(),
        };
        Ok(World {
            hsm,
            clock: clock.clone(),
            switch_config,
            issuer_configs,
            switch,
            issuers,
            acquirer_keys: configs.acquirer_keys,
            acceptor,
        })
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
        let (id, issuer) = self.issuers.get(index).ok_or("no such issuer")?;
        let card = issuer
            .issue_card(issuer::dev::DEBIT_PRODUCT, Some(balance_minor))
            .map_err(|e| format!("issue a card at {id}: {e}"))?;
        provision::card::SimCard::from_issued(&card).map_err(|e| format!("personalise a card: {e}"))
    }
}
