//! A whole network in this process, on loopback TCP: the switch and two issuer banks run by
//! their production servers (`switch::server::SwitchServer`, `issuer::server::serve`), each
//! party on its own database (SQLite files, or PostgreSQL schemas), configured by the key
//! ceremony ([`crate::ceremony::generate`]). `cardnet demo` and `cardnet bench network` run on
//! it; the integration tests too (through `testnet`).
//!
//! Development only, and why that is acceptable here: one software HSM (one LMK) serves every
//! party, because one process plays every member and there is nobody to keep a key from; in
//! production each member has its own HSM. The switch reaches each issuer through a
//! [`FaultProxy`] (a plain TCP relay the demo slows or cuts to show stand-in and time-outs),
//! never through a changed party. Reconnect timers are short (50–500 ms) so a restarted party is
//! reached again within a second.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use clock::{Clock, SystemClock};
use hsm::{Secret, SecurityModule, SoftHsm};
use issuer::{Issuer, IssuerConfig};
use network::request::Acceptor;
use switch::Switch;
use switch::config::SwitchConfig;
use switch::dev::MemberKeys;
use switch::server::{ServerOptions, SwitchServer};
use tokio::sync::oneshot;

use crate::card::SimCard;
use crate::ceremony::generate;
use crate::error::{ProvisionError, Result, fail};
use crate::layout::{ACQUIRER_ID, CURRENCY};
use crate::link::{AcquirerLink, LinkError};
use crate::proxy::FaultProxy;

/// The address every party binds: loopback, a port the kernel picks.
const ANY_PORT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
/// What the link's requests wait beyond the switch's issuer timeout: the switch always answers
/// first.
const LINK_TIMEOUT_MARGIN_MS: u64 = 5_000;
/// The merchant the acquirer link's requests come from (field 42, 18, 43).
const LINK_MERCHANT_ID: &str = "898440154110001";
const LINK_MCC: &str = "5411";
const LINK_NAME_LOCATION: &str = "CARDNET COFFEE           SHANGHAI     CN";

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

/// One issuer bank of the running network.
pub struct LocalIssuer {
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

/// The running network.
pub struct LocalNetwork {
    pub options: NetworkOptions,
    pub hsm: Arc<SoftHsm>,
    pub clock: Arc<dyn Clock>,
    pub switch_config: SwitchConfig,
    pub switch: Option<SwitchServer>,
    pub issuers: Vec<LocalIssuer>,
    pub acquirer_keys: MemberKeys,
    /// PostgreSQL schemas made for this network (dropped at shutdown).
    schemas: Mutex<Vec<String>>,
}

/// Run blocking party-core work (database calls) from async code: the PostgreSQL client must
/// not run on a runtime worker thread. Needs the multi-threaded runtime.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

/// A fresh store named `name`: a SQLite file in `options.dir`, or a PostgreSQL schema (dropped
/// first if an earlier run of this process id left it, recorded in `schemas` to drop at the end).
fn store_url(options: &NetworkOptions, schemas: &Mutex<Vec<String>>, name: &str) -> String {
    match &options.postgres_url {
        Some(url) => {
            let schema = format!("localnet_{}_{name}", std::process::id());
            // Nothing to drop is the usual case: the schema is made on first open.
            let _ = blocking(|| sqlstore::drop_postgres_schema(url, &schema));
            schemas.lock().unwrap_or_else(PoisonError::into_inner).push(schema.clone());
            format!("{url}#{schema}")
        }
        None => format!("sqlite:{}", options.dir.join(format!("{name}.db")).display()),
    }
}

impl LocalNetwork {
    /// Build the keys and configurations, start both issuers (behind their proxies) and the switch.
    pub async fn start(options: NetworkOptions) -> Result<LocalNetwork> {
        std::fs::create_dir_all(&options.dir).map_err(fail(&format!("create {}", options.dir.display())))?;
        let lmk = Secret::random(hsm::soft::LMK_LEN).map_err(fail("LMK"))?;
        let lmk_file = options.dir.join("lmk.hex");
        hsm::soft::write_lmk_file(&lmk_file, &lmk).map_err(fail("write the LMK file"))?;
        let hsm = Arc::new(SoftHsm::new(lmk).map_err(fail("HSM"))?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let schemas = Mutex::new(Vec::new());
        let switch_database = store_url(&options, &schemas, "switch");
        let mut stores = |id: &str| store_url(&options, &schemas, &format!("issuer{id}"));
        // The switch's endpoints are set to the proxies below, once they listen.
        let any = ANY_PORT.to_string();
        let generated =
            blocking(|| generate(1, &*hsm, &lmk_file, &switch_database, &mut stores, &any, |_| any.clone()))?;
        let mut switch_config = generated.switch;
        switch_config.issuer_timeout_ms = options.issuer_timeout_ms;

        let mut issuers = Vec::with_capacity(generated.issuers.len());
        for (id, bin, mut config) in generated.issuers {
            config.listen = ANY_PORT.to_string();
            let issuer = Arc::new(
                blocking(|| Issuer::open(&config, Arc::clone(&hsm) as Arc<dyn SecurityModule>, Arc::clone(&clock)))
                    .map_err(fail(&format!("open issuer {id}")))?,
            );
            let (address, stop, task) = serve_issuer(Arc::clone(&issuer)).await?;
            let proxy = FaultProxy::start(ANY_PORT, address).await.map_err(fail("start the proxy"))?;
            if let Some(member) = switch_config.members.iter_mut().find(|m| m.id == id) {
                member.endpoint = Some(proxy.address().to_string());
            }
            issuers.push(LocalIssuer { id, bin, config, issuer, address, proxy, stop: Some(stop), task: Some(task) });
        }
        let acquirer_keys = generated.acquirer_keys;
        let mut network =
            LocalNetwork { options, hsm, clock, switch_config, switch: None, issuers, acquirer_keys, schemas };
        network.start_switch().await?;
        Ok(network)
    }

    /// Short timers: reconnects within 50–500 ms, advices polled every 50 ms.
    fn switch_options() -> ServerOptions {
        ServerOptions {
            session_backoff_ms_min: 50,
            session_backoff_ms_max: 500,
            connect_timeout_ms: 1_000,
            advice_poll_interval_ms: 50,
            ..ServerOptions::default()
        }
    }

    /// Open the switch over its database and serve (again, after [`LocalNetwork::stop_switch`]).
    pub async fn start_switch(&mut self) -> Result<SocketAddr> {
        let switch = blocking(|| Switch::open(&self.switch_config, Arc::clone(&self.hsm) as Arc<dyn SecurityModule>))
            .map_err(fail("open the switch"))?;
        let server = SwitchServer::start(switch, Arc::clone(&self.clock), Self::switch_options())
            .await
            .map_err(fail("start the switch"))?;
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

    pub fn switch_address(&self) -> Result<SocketAddr> {
        self.switch.as_ref().map(SwitchServer::local_addr).ok_or_else(|| ProvisionError::input("the switch is stopped"))
    }

    /// Issuer bank `index` ([`crate::layout::ISSUER_A`] or `ISSUER_B`).
    pub fn bank(&self, index: usize) -> Result<&LocalIssuer> {
        self.issuers.get(index).ok_or_else(|| ProvisionError::input(format!("no issuer {index} on this network")))
    }

    /// The issuer core of bank `index` (its journal, balances, card management).
    pub fn issuer(&self, index: usize) -> Result<&Issuer> {
        self.bank(index).map(|bank| &*bank.issuer)
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
    pub async fn link(&self, terminal: &str) -> std::result::Result<AcquirerLink, LinkError> {
        let acceptor = Acceptor {
            acquirer: ACQUIRER_ID.parse().map_err(|e| LinkError::Network(network::Error::from(e)))?,
            terminal: terminal.parse().map_err(|e| LinkError::Network(network::Error::from(e)))?,
            merchant: LINK_MERCHANT_ID.parse().map_err(|e| LinkError::Network(network::Error::from(e)))?,
            mcc: LINK_MCC.to_owned(),
            name_location: LINK_NAME_LOCATION.to_owned(),
        };
        let address = self.switch_address().map_err(|e| LinkError::Io(std::io::Error::other(e.to_string())))?;
        AcquirerLink::connect(
            address,
            Arc::clone(&self.hsm) as Arc<dyn SecurityModule>,
            self.acquirer_keys.zak.clone(),
            self.acquirer_keys.zpk.clone(),
            acceptor,
            CURRENCY,
            Arc::clone(&self.clock),
            self.switch_config.issuer_timeout_ms + LINK_TIMEOUT_MARGIN_MS,
        )
        .await
    }

    /// Issue a card of `product` at issuer `index`, funded with `balance_minor` (debit), and
    /// personalise it: the demo's cardholder gets the card and its PIN mailer.
    pub fn issue(&self, index: usize, product: &str, balance_minor: Option<u64>) -> Result<SimCard> {
        let issuer = self.issuer(index)?;
        let card = blocking(|| issuer.issue_card(product, balance_minor)).map_err(fail("issue a card"))?;
        SimCard::from_issued(&card).map_err(fail("personalise the card"))
    }

    /// Stop issuer `index`'s server (its database stays).
    pub async fn stop_issuer(&mut self, index: usize) {
        if let Some(issuer) = self.issuers.get_mut(index) {
            if let Some(stop) = issuer.stop.take() {
                // The server may have stopped already: nothing left to tell.
                let _ = stop.send(());
            }
            if let Some(task) = issuer.task.take() {
                // A task that panicked is stopped all the same.
                let _ = task.await;
            }
        }
    }

    /// Reopen issuer `index` from its databases and serve on a port the kernel picks (its old
    /// one may be someone else's by now); its proxy, which the switch connects to, follows.
    pub async fn start_issuer(&mut self, index: usize) -> Result<()> {
        let hsm = Arc::clone(&self.hsm) as Arc<dyn SecurityModule>;
        let clock = Arc::clone(&self.clock);
        let issuer = self
            .issuers
            .get_mut(index)
            .ok_or_else(|| ProvisionError::input(format!("no issuer {index} on this network")))?;
        let reopened =
            Arc::new(blocking(|| Issuer::open(&issuer.config, hsm, clock)).map_err(fail("reopen the issuer"))?);
        let (address, stop, task) = serve_issuer(Arc::clone(&reopened)).await?;
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
        store_url(&self.options, &self.schemas, name)
    }

    /// Stop everything and drop the PostgreSQL schemas this network made.
    pub async fn shutdown(mut self) {
        self.stop_switch().await;
        for index in 0..self.issuers.len() {
            self.stop_issuer(index).await;
        }
        if let Some(url) = &self.options.postgres_url {
            let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(PoisonError::into_inner));
            for schema in &schemas {
                // Best effort: a schema left behind is dropped by the next run of this id.
                let _ = blocking(|| sqlstore::drop_postgres_schema(url, schema));
            }
        }
    }
}

type Served = (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>);

/// Serve `issuer` with its production driver on a port the kernel picks.
async fn serve_issuer(issuer: Arc<Issuer>) -> Result<Served> {
    let listener = tokio::net::TcpListener::bind(ANY_PORT).await.map_err(fail("bind the issuer"))?;
    let bound = listener.local_addr().map_err(fail("the issuer's address"))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        issuer::server::serve(issuer, listener, async {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        })
        .await;
    });
    Ok((bound, stop, task))
}
