//! The whole network on loopback: a switch, two issuers (each behind a [`FaultProxy`]) and the
//! keys an acquirer shares with the switch. Every party runs its production code: the
//! `switch::server` and `issuer::server` drivers over real TCP, databases on disk (or
//! PostgreSQL schemas).
//!
//! One software HSM (one LMK) serves every party here for brevity; in production each member
//! has its own HSM. The switch and each issuer share the link's ZMK, under which the switch
//! sends new working keys (0800/101, `SwitchServer::change_key`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clock::{Clock, SystemClock};
use hsm::{Secret, SecurityModule, SoftHsm};
use issuer::{Issuer, IssuerConfig};
use network::request::Acceptor;
use switch::Switch;
use switch::config::SwitchConfig;
use switch::dev::{DevMember, MemberKeys};
use switch::server::{ServerOptions, SwitchServer};
use tokio::sync::oneshot;

use crate::acquirer::{AcquirerLink, LinkError};
use crate::card::SimCard;
use crate::proxy::FaultProxy;

pub const SWITCH_ID: &str = switch::dev::SWITCH_ID;
pub const ACQUIRER_ID: &str = switch::dev::ACQUIRER_ID;
pub const CURRENCY: &str = "156";
/// Issuer A: BIN 622424, no stand-in.
pub const ISSUER_A: usize = 0;
/// Issuer B: BIN 6224249 (a longer prefix inside A's range, so routing must take the longest
/// match), stand-in enabled.
pub const ISSUER_B: usize = 1;
/// The issuers' institution ids, A then B.
pub const ISSUER_IDS: [&str; 2] = [ISSUERS[0].0, ISSUERS[1].0];
/// Their BINs (each issuer's credit cards under `issuer::dev::credit_bin` of it).
pub const ISSUER_BINS: [&str; 2] = [ISSUERS[0].1, ISSUERS[1].1];
const ISSUERS: [(&str, &str, &str); 2] = [("20000000455", "622424", "Bank A"), ("20000000566", "6224249", "Bank B")];

/// How to build the network.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Where the SQLite databases and the LMK file go.
    pub dir: PathBuf,
    /// The switch waits this long for an issuer.
    pub issuer_timeout_ms: u64,
    /// A PostgreSQL URL: every party's database becomes a schema there instead of a file.
    pub postgres_url: Option<String>,
}

pub struct TestIssuer {
    pub id: String,
    pub bin: String,
    pub config: IssuerConfig,
    pub issuer: Arc<Issuer>,
    /// Where the issuer listens.
    pub address: SocketAddr,
    /// What the switch connects to.
    pub proxy: FaultProxy,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub struct TestNetwork {
    pub options: NetworkOptions,
    pub hsm: Arc<SoftHsm>,
    pub clock: Arc<dyn Clock>,
    pub switch_config: SwitchConfig,
    pub switch: Option<SwitchServer>,
    pub issuers: Vec<TestIssuer>,
    pub acquirer_keys: MemberKeys,
    /// PostgreSQL schemas made for this network (dropped at shutdown).
    schemas: std::sync::Mutex<Vec<String>>,
}

/// Run blocking party-core work (database calls) from async code: the PostgreSQL client must
/// not run on a runtime worker thread. Needs the multi-threaded runtime.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

pub(crate) fn fail(what: &str) -> impl Fn(&dyn std::fmt::Display) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl TestNetwork {
    /// Build the keys and configurations, start both issuers (behind their proxies) and the switch.
    pub async fn start(options: NetworkOptions) -> Result<TestNetwork, String> {
        std::fs::create_dir_all(&options.dir).map_err(|e| fail("create the directory")(&e))?;
        let lmk = Secret::random(hsm::soft::LMK_LEN).map_err(|e| fail("LMK")(&e))?;
        let lmk_file = options.dir.join("lmk.hex");
        hsm::soft::write_lmk_file(&lmk_file, &lmk).map_err(|e| fail("LMK file")(&e))?;
        let hsm = Arc::new(SoftHsm::new(lmk).map_err(|e| fail("HSM")(&e))?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut schemas = Vec::new();
        let mut store = |name: &str| -> String {
            match &options.postgres_url {
                Some(url) => {
                    let schema = format!("testnet_{}_{name}", std::process::id());
                    let _ = blocking(|| sqlstore::drop_postgres_schema(url, &schema));
                    schemas.push(schema.clone());
                    format!("{url}#{schema}")
                }
                None => format!("sqlite:{}", options.dir.join(format!("{name}.db")).display()),
            }
        };

        let switch_database = store("switch");
        let mut stores = |id: &str| (store(&format!("issuer{id}")), store(&format!("ledger{id}")));
        let generated = blocking(|| {
            generate(&*hsm, &lmk_file, &switch_database, &mut stores, "127.0.0.1:0", |_| "127.0.0.1:1".to_owned())
        })?;
        let mut switch_config = generated.switch;
        switch_config.issuer_timeout_ms = options.issuer_timeout_ms;
        let acquirer_keys = generated.acquirer_keys;

        let mut issuers = Vec::with_capacity(ISSUERS.len());
        for (id, bin, mut config) in generated.issuers {
            config.listen = "127.0.0.1:0".to_owned();
            let issuer = Arc::new(
                blocking(|| Issuer::open(&config, Arc::clone(&hsm) as Arc<dyn SecurityModule>, Arc::clone(&clock)))
                    .map_err(|e| fail("open issuer")(&e))?,
            );
            let (address, stop, task) =
                serve_issuer(Arc::clone(&issuer), "127.0.0.1:0".parse().map_err(|_| "address")?).await?;
            let proxy = FaultProxy::start("127.0.0.1:0".parse().map_err(|_| "address")?, address)
                .await
                .map_err(|e| fail("proxy")(&e))?;
            if let Some(member) = switch_config.members.iter_mut().find(|m| m.id == id) {
                member.endpoint = Some(proxy.address().to_string());
            }
            issuers.push(TestIssuer { id, bin, config, issuer, address, proxy, stop: Some(stop), task: Some(task) });
        }
        let schemas = std::sync::Mutex::new(schemas);
        let mut network =
            TestNetwork { options, hsm, clock, switch_config, switch: None, issuers, acquirer_keys, schemas };
        network.start_switch().await?;
        Ok(network)
    }

    /// Short timers so tests run quickly: reconnects within 50–500 ms, advices polled every 50 ms.
    fn switch_options() -> ServerOptions {
        ServerOptions {
            session_backoff_ms_min: 50,
            session_backoff_ms_max: 500,
            connect_timeout_ms: 1_000,
            advice_poll_interval_ms: 50,
            ..ServerOptions::default()
        }
    }

    /// Open the switch over its database and serve (again, after [`TestNetwork::stop_switch`]).
    pub async fn start_switch(&mut self) -> Result<SocketAddr, String> {
        let switch = blocking(|| Switch::open(&self.switch_config, Arc::clone(&self.hsm) as Arc<dyn SecurityModule>))
            .map_err(|e| fail("open switch")(&e))?;
        let server = SwitchServer::start(switch, Arc::clone(&self.clock), Self::switch_options())
            .await
            .map_err(|e| fail("start switch")(&e))?;
        let address = server.local_addr();
        // A restarted switch listens where the first one did, so acquirers reconnect to the same place.
        self.switch_config.listen = address.to_string();
        self.switch = Some(server);
        Ok(address)
    }

    /// Stop the switch (graceful: in-flight requests answered, sessions signed off).
    pub async fn stop_switch(&mut self) {
        if let Some(server) = self.switch.take() {
            server.shutdown().await;
        }
    }

    pub fn switch(&self) -> Option<&SwitchServer> {
        self.switch.as_ref()
    }

    pub fn switch_address(&self) -> Result<SocketAddr, String> {
        self.switch.as_ref().map(SwitchServer::local_addr).ok_or_else(|| "the switch is stopped".to_owned())
    }

    /// Wait until the switch's session to issuer `index` is signed on (or `timeout_ms` passes).
    pub async fn wait_issuer_ready(&self, index: usize, timeout_ms: u64) -> bool {
        let (Some(server), Some(issuer)) = (self.switch.as_ref(), self.issuers.get(index)) else { return false };
        let Some(mut state) = server.issuer_state(&issuer.id) else { return false };
        let ready = async {
            loop {
                if *state.borrow_and_update() == transport::SessionState::Ready {
                    return;
                }
                if state.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), ready).await.is_ok()
    }

    /// The acquirer's link to the switch, for the terminal `terminal`.
    pub async fn link(&self, terminal: &str) -> Result<AcquirerLink, LinkError> {
        let acceptor = Acceptor {
            acquirer: ACQUIRER_ID.to_owned(),
            terminal: terminal.to_owned(),
            merchant: "898440154110001".to_owned(),
            mcc: "5411".to_owned(),
            name_location: "CARDNET COFFEE           SHANGHAI     CN".to_owned(),
        };
        let address = self.switch_address().map_err(|e| LinkError::Io(std::io::Error::other(e)))?;
        AcquirerLink::connect(
            address,
            Arc::clone(&self.hsm) as Arc<dyn SecurityModule>,
            self.acquirer_keys.zak.clone(),
            self.acquirer_keys.zpk.clone(),
            acceptor,
            CURRENCY,
            Arc::clone(&self.clock),
            // Longer than the switch's issuer timeout: the switch always answers first.
            self.switch_config.issuer_timeout_ms + 5_000,
        )
        .await
    }

    /// Issue a card of `product` at issuer `index`, funded with `balance_minor` (debit).
    pub fn issue(&self, index: usize, product: &str, balance_minor: Option<u64>) -> Result<SimCard, String> {
        let issuer = self.issuers.get(index).ok_or("no such issuer")?;
        let card =
            blocking(|| issuer.issuer.issue_card(product, balance_minor)).map_err(|e| fail("issue a card")(&e))?;
        SimCard::from_issued(&card).map_err(|e| fail("personalise the card")(&e))
    }

    /// The issuer core of issuer `index` (its journal, balances, card management).
    pub fn issuer(&self, index: usize) -> &Issuer {
        &self.issuers[index].issuer
    }

    /// Stop issuer `index`'s server (its database stays).
    pub async fn stop_issuer(&mut self, index: usize) {
        if let Some(issuer) = self.issuers.get_mut(index) {
            if let Some(stop) = issuer.stop.take() {
                let _ = stop.send(());
            }
            if let Some(task) = issuer.task.take() {
                let _ = task.await;
            }
        }
    }

    /// Reopen issuer `index` from its databases and serve on a port the kernel picks (its old
    /// one may be someone else's by now); its proxy, which the switch connects to, follows.
    pub async fn start_issuer(&mut self, index: usize) -> Result<(), String> {
        let hsm = Arc::clone(&self.hsm) as Arc<dyn SecurityModule>;
        let clock = Arc::clone(&self.clock);
        let issuer = self.issuers.get_mut(index).ok_or("no such issuer")?;
        let reopened =
            Arc::new(blocking(|| Issuer::open(&issuer.config, hsm, clock)).map_err(|e| fail("reopen issuer")(&e))?);
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let (address, stop, task) = serve_issuer(Arc::clone(&reopened), any_port).await?;
        issuer.proxy.set_target(address);
        issuer.address = address;
        issuer.issuer = reopened;
        issuer.stop = Some(stop);
        issuer.task = Some(task);
        Ok(())
    }

    /// A fresh store for another party on this network, named `name`: a SQLite file in the
    /// network's folder, or a PostgreSQL schema (dropped first if left over, and at shutdown).
    pub fn store_url(&self, name: &str) -> String {
        match &self.options.postgres_url {
            Some(url) => {
                let schema = format!("testnet_{}_{name}", std::process::id());
                let _ = blocking(|| sqlstore::drop_postgres_schema(url, &schema));
                self.schemas.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(schema.clone());
                format!("{url}#{schema}")
            }
            None => format!("sqlite:{}", self.options.dir.join(format!("{name}.db")).display()),
        }
    }

    /// Stop everything and drop the PostgreSQL schemas this network made.
    pub async fn shutdown(mut self) {
        self.stop_switch().await;
        for index in 0..self.issuers.len() {
            self.stop_issuer(index).await;
        }
        if let Some(url) = &self.options.postgres_url {
            let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            for schema in &schemas {
                let _ = blocking(|| sqlstore::drop_postgres_schema(url, schema));
            }
        }
    }
}

/// The configurations of a whole network sharing one LMK: the switch with an acquirer member
/// and the two issuers (A: BIN 622424, no stand-in; B: BIN 6224249, stand-in), each issuer's
/// link keys (ZMK, ZPK, ZAK) the same blocks as the switch's.
pub struct NetworkConfigs {
    pub switch: SwitchConfig,
    /// (institution id, BIN, configuration) per issuer.
    pub issuers: Vec<(String, String, IssuerConfig)>,
    /// The acquirer member's zone keys with the switch.
    pub acquirer_keys: MemberKeys,
}

/// Generate a network's configurations with fresh keys from `hsm`. `stores(id)` gives an
/// issuer's (database, ledger) URLs; `issuer_endpoint(id)` where the switch reaches it.
pub fn generate(
    hsm: &dyn SecurityModule,
    lmk_file: &Path,
    switch_database: &str,
    stores: &mut dyn FnMut(&str) -> (String, String),
    switch_listen: &str,
    issuer_endpoint: impl Fn(&str) -> String,
) -> Result<NetworkConfigs, String> {
    let mut members = vec![DevMember::acquirer(ACQUIRER_ID, "Test Acquirer")];
    for (index, (id, bin, name)) in ISSUERS.iter().enumerate() {
        let stip = switch::dev::stip(index == ISSUER_B);
        members.push(DevMember::issuer(id, name, &issuer_endpoint(id), &[bin], Some(stip)));
    }
    let mut dev = switch::dev::network(hsm, switch_listen, switch_database, lmk_file, &members)
        .map_err(|e| fail("switch keys")(&e))?;
    // Each issuer's credit cards have their own prefix: the card kind the fees go by.
    for (id, bin, _) in ISSUERS {
        dev.config.bins.push(switch::BinConfig {
            prefix: issuer::dev::credit_bin(bin),
            issuer: id.to_owned(),
            card_kind: switch::CardKindConfig::Credit,
        });
    }
    let acquirer_keys = dev.keys(ACQUIRER_ID).cloned().ok_or("no acquirer keys")?;
    let mut issuers = Vec::with_capacity(ISSUERS.len());
    for (id, bin, _) in ISSUERS {
        let keys = dev.keys(id).ok_or("no issuer keys")?;
        // The ZMK too: the switch sends the link's new ZPKs and ZAKs under it (0800/101).
        let link = issuer::dev::LinkKeys { zmk: keys.zmk.clone(), zpk: keys.zpk.clone(), zak: keys.zak.clone() };
        // The ledger lives in the issuer's database (one commit per authorization): the second
        // store `stores` names is not used.
        let (database, _ledger) = stores(id);
        let mut config = issuer::dev::config_with_link_keys(hsm, &link, id, bin, &database, None, lmk_file)
            .map_err(|e| fail("issuer config")(&e))?;
        // A's range contains B's longer BIN: A must never number a card the switch routes to B.
        let inner: Vec<String> = ISSUERS
            .iter()
            .map(|(_, other, _)| *other)
            .filter(|other| other.len() > bin.len() && other.starts_with(bin))
            .map(str::to_owned)
            .collect();
        for product in &mut config.products {
            let inside: Vec<String> = inner.iter().filter(|p| p.starts_with(&product.bin)).cloned().collect();
            product.excluded_prefixes.extend(inside);
        }
        issuers.push((id.to_owned(), bin.to_owned(), config));
    }
    Ok(NetworkConfigs { switch: dev.config, issuers, acquirer_keys })
}

type Served = (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>);

async fn serve_issuer(issuer: Arc<Issuer>, address: SocketAddr) -> Result<Served, String> {
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| fail("bind issuer")(&e))?;
    let bound = listener.local_addr().map_err(|e| fail("issuer address")(&e))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        issuer::server::serve(issuer, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    Ok((bound, stop, task))
}
