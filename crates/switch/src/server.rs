//! The production driver: the switch core behind the party contract (`crate::party`) in a
//! `host::Pipeline` — one core thread deciding batches, one commit per batch, answers after it.
//!
//! * Acquirers connect to a `transport::Server` wrapped in `transport::NetMgmt` (0800 sign-on,
//!   echo and sign-off answered); each request goes into the pipeline and, when forwarded, to
//!   the issuer's session, its answer (or its absence) back through the pipeline.
//! * One `transport::Session` per issuer: the switch connects, signs on, echoes when idle and
//!   reconnects with bounded backoff. A request for an issuer whose session is not signed on is
//!   answered at once (stand-in or 91), not held.
//! * One delivery loop per issuer (the pipeline's) sends due advices, oldest first, whenever
//!   the session is ready: woken by an enqueue or the session coming up, else every
//!   [`ADVICE_POLL_INTERVAL_MS`] (retries come due with time).
//! * Key changes (0800/101, [`crate::linkkeys`]) go over the issuer's session, one at a time per
//!   link: on demand ([`SwitchServer::change_key`]) and from one schedule per issuer, which
//!   changes each key `key_change_interval_ms` after it was activated (the configuration's keys
//!   count from the start; 0 = never), offers a pending key (an unanswered change's) again as soon
//!   as the session is ready, and waits [`KEY_CHANGE_RETRY_MS`] after a failed attempt.
//!
//! Operator calls outside the contract (key changes, closing a date) run on tokio's blocking
//! pool; the database makes them wait for a batch's commit.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use host::{Link, Pipeline, PipelineHandler};
use hsm::SecurityModule;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use transport::{Institution, NetMgmt, Server, ServerConfig, Session, SessionConfig, SessionState};

use crate::config::SwitchConfig;
use crate::engine::Switch;
use crate::error::SwitchError;
use crate::limits::{ADVICE_POLL_INTERVAL_MS, KEY_CHANGE_RETRY_MS, KEY_SCHEDULE_POLL_MS_MAX};
use crate::linkkeys::{KeyChangeOutcome, WorkingKey};

/// How the driver runs: the transport's bounds and timers, and the advice poll interval.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Bounds of the acquirer-facing server (connections, in-flight requests, write queues).
    pub server: ServerConfig,
    /// Reconnect backoff of the issuer sessions.
    pub session_backoff_ms_min: u64,
    pub session_backoff_ms_max: u64,
    /// Idle time before an echo test on an issuer session, and how long the echo (and a
    /// sign-on) may take.
    pub echo_idle_ms: u64,
    pub echo_timeout_ms: u64,
    /// Time a connect plus sign-on to an issuer may take.
    pub connect_timeout_ms: u64,
    /// How often a delivery loop looks for due advices when nothing woke it.
    pub advice_poll_interval_ms: u64,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            server: ServerConfig::default(),
            session_backoff_ms_min: transport::session::BACKOFF_MS_MIN,
            session_backoff_ms_max: transport::session::BACKOFF_MS_MAX,
            echo_idle_ms: transport::session::ECHO_IDLE_MS,
            echo_timeout_ms: transport::session::ECHO_TIMEOUT_MS,
            connect_timeout_ms: transport::session::CONNECT_TIMEOUT_MS,
            advice_poll_interval_ms: ADVICE_POLL_INTERVAL_MS,
        }
    }
}

/// Connects to an issuer's `host:port`, resolving the name on every attempt.
pub use host::EndpointConnector;

/// One issuer's link: the pipeline's link (session and delivery bell) and the lock that keeps
/// its key changes one at a time.
struct IssuerLink {
    link: Link,
    key_change: tokio::sync::Mutex<()>,
}

impl IssuerLink {
    fn ready(&self) -> bool {
        host::link::is_ready(&self.link.session)
    }
}

/// Run a core call on the blocking pool; `None` only if it panicked (logged).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    host::blocking("switch", work).await
}

/// The running switch: its listener, issuer sessions and delivery loops.
pub struct SwitchServer {
    local_addr: SocketAddr,
    switch: Switch,
    server: Server<NetMgmt<PipelineHandler<Switch>>>,
    links: Arc<HashMap<String, IssuerLink>>,
    clock: Arc<dyn Clock>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Rings the cut-over task ([`crate::cutover`]) when this server closed a date.
    cutover_wake: Arc<Notify>,
    /// For `/readyz`: the core runs and every issuer link is signed on.
    readiness: Arc<dyn host::Readiness>,
}

impl SwitchServer {
    /// Bind the configured listen address, start a session to every issuer and a delivery loop
    /// each, and serve acquirers.
    pub async fn start(
        switch: Switch,
        clock: Arc<dyn Clock>,
        options: ServerOptions,
    ) -> Result<SwitchServer, SwitchError> {
        let directory = switch.directory();
        let listener = host::listen::bind(directory.listen).await?;
        let local_addr = listener.local_addr()?;
        let spec = Arc::clone(switch.spec());
        let institution = Institution {
            acquirer: directory.institution_id.clone(),
            forwarding: Some(directory.institution_id.clone()),
        };
        let mut links = HashMap::new();
        for issuer in directory.issuers() {
            let Some(endpoint) = issuer.endpoint.clone() else { continue };
            let mut config = SessionConfig::new(Arc::clone(&spec), institution.clone());
            config.client.timeout = Duration::from_millis(directory.issuer_timeout_ms);
            config.backoff_ms_min = options.session_backoff_ms_min;
            config.backoff_ms_max = options.session_backoff_ms_max;
            config.echo_idle_ms = options.echo_idle_ms;
            config.echo_timeout_ms = options.echo_timeout_ms;
            config.connect_timeout_ms = options.connect_timeout_ms;
            let session = Session::start(EndpointConnector { endpoint }, config);
            let link = IssuerLink { link: Link::new(session), key_change: tokio::sync::Mutex::new(()) };
            links.insert(issuer.id.clone(), link);
        }
        let links = Arc::new(links);
        let (stop, _) = watch::channel(false);
        let pipeline_links = links.iter().map(|(id, link)| (id.clone(), link.link.clone())).collect();
        let pipeline = Pipeline::start(Arc::new(switch.clone()), pipeline_links, Arc::clone(&clock))?;
        let mut tasks = pipeline.spawn_loops(&switch, options.advice_poll_interval_ms, &stop.subscribe());
        let readiness = pipeline.readiness();
        for issuer in directory.issuers() {
            if links.contains_key(&issuer.id) {
                tasks.push(tokio::spawn(schedule_key_changes(
                    switch.clone(),
                    Arc::clone(&links),
                    issuer.id.clone(),
                    issuer.key_change_interval_ms,
                    Arc::clone(&clock),
                    stop.subscribe(),
                )));
            }
        }
        let server = Server::new(spec, NetMgmt { inner: pipeline.handler() }, options.server);
        let cutover_wake = Arc::new(Notify::new());
        let cutover_links = links
            .iter()
            .map(|(member, link)| crate::cutover::CutOverLink {
                member: member.clone(),
                session: link.link.session.clone(),
            })
            .collect();
        let pushing = server.clone();
        let push: crate::cutover::PushToAcquirers =
            Arc::new(move |request| pushing.push(&iso8583::Envelope::default(), request).unwrap_or(0));
        tasks.push(tokio::spawn(crate::cutover::announce(
            switch.clone(),
            cutover_links,
            push,
            Arc::clone(&clock),
            Arc::clone(&cutover_wake),
            stop.subscribe(),
        )));
        let serving = server.clone();
        tasks.push(tokio::spawn(async move { serving.serve(listener).await }));
        tracing::info!(%local_addr, issuers = links.len(), "switch: serving");
        Ok(SwitchServer { local_addr, switch, server, links, clock, stop, tasks, cutover_wake, readiness })
    }

    /// The address acquirers connect to (the port chosen when the config said `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// The acquirer-facing server's counters.
    pub fn stats(&self) -> &transport::ServerStats {
        self.server.stats()
    }

    /// The same counters, shared (for a metrics collector that outlives this borrow).
    pub fn stats_handle(&self) -> Arc<transport::ServerStats> {
        self.server.stats_handle()
    }

    /// Whether the switch can take traffic (the admin endpoint's `/readyz`).
    pub fn readiness(&self) -> Arc<dyn host::Readiness> {
        Arc::clone(&self.readiness)
    }

    /// The state of the session to `issuer` (and its changes).
    pub fn issuer_state(&self, issuer: &str) -> Option<watch::Receiver<SessionState>> {
        self.links.get(issuer).map(|link| link.link.session.state())
    }

    /// Close `date` on this server's clock ([`Switch::close_business_date`]); when it closes,
    /// the cut-over (0800/201) goes to the signed-on issuer links at once.
    pub async fn close_business_date(&self, date: clearing::BusinessDate) -> Result<crate::CloseOutcome, SwitchError> {
        let (switch, now_ms) = (self.switch.clone(), self.clock.now_ms());
        let outcome = blocking(move || switch.close_business_date(date, now_ms))
            .await
            .ok_or_else(|| SwitchError::Internal("closing a date panicked".into()))??;
        self.cutover_wake.notify_one();
        Ok(outcome)
    }

    /// Ask `issuer`'s delivery loop to look for due advices now.
    pub fn wake_delivery(&self, issuer: &str) {
        if let Some(link) = self.links.get(issuer) {
            link.link.wake.notify_one();
        }
    }

    /// Change `issuer`'s `key` now (0800/101 over its session), after any change already under
    /// way on that link. [`SwitchError::LinkDown`] when the session is not signed on (nothing is
    /// sent); otherwise what became of the change.
    pub async fn change_key(&self, issuer: &str, key: WorkingKey) -> Result<KeyChangeOutcome, SwitchError> {
        let link = self.links.get(issuer).ok_or_else(|| SwitchError::LinkDown(issuer.to_owned()))?;
        change_key(&self.switch, link, issuer, key, self.clock.as_ref()).await
    }

    /// Change the ZPK and then the ZAK of every issuer link now (an operator's "re-key all",
    /// `cardnet serve switch` on SIGUSR1), in the order of the issuers' ids; each change as
    /// [`SwitchServer::change_key`] makes it. A link that is down is reported, not waited for.
    pub async fn change_all_keys(&self) -> Vec<(String, WorkingKey, Result<KeyChangeOutcome, SwitchError>)> {
        let mut issuers: Vec<&String> = self.links.keys().collect();
        issuers.sort();
        let mut outcomes = Vec::with_capacity(issuers.len() * WorkingKey::ALL.len());
        for issuer in issuers {
            for key in WorkingKey::ALL {
                outcomes.push((issuer.clone(), key, self.change_key(issuer, key).await));
            }
        }
        outcomes
    }

    /// Stop accepting, answer what is in flight, stop delivering, sign off from the issuers.
    pub async fn shutdown(self) {
        self.server.shutdown();
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
        for link in self.links.values() {
            link.link.session.close().await;
        }
    }
}

/// One key change over `link`'s session, serialized with the others on that link.
async fn change_key(
    switch: &Switch,
    link: &IssuerLink,
    issuer: &str,
    key: WorkingKey,
    clock: &dyn Clock,
) -> Result<KeyChangeOutcome, SwitchError> {
    let _one_at_a_time = link.key_change.lock().await;
    if !link.ready() {
        return Err(SwitchError::LinkDown(issuer.to_owned()));
    }
    let now_ms = clock.now_ms();
    let begun = {
        let (switch, issuer) = (switch.clone(), issuer.to_owned());
        blocking(move || switch.begin_key_change(&issuer, key, now_ms)).await
    };
    let change = begun.ok_or_else(|| SwitchError::Internal("a key change panicked".into()))??;
    let answer = link.link.session.request(&change.request).await;
    let now_ms = clock.now_ms();
    let switch = switch.clone();
    blocking(move || match answer {
        Ok(response) => switch.key_change_answered(&change, &response, now_ms),
        Err(error) => {
            tracing::info!(issuer = %change.issuer, key = %change.key, %error, "switch: key change not answered");
            switch.key_change_failed(&change, now_ms)
        }
    })
    .await
    .ok_or_else(|| SwitchError::Internal("a key change panicked".into()))?
}

/// Change `issuer`'s keys every `interval_ms` (0: never on a schedule) while the switch runs, and
/// offer a pending key again — one whose 0800/101 went unanswered, by the schedule or on demand —
/// as soon as the link is up (see the module notes).
async fn schedule_key_changes(
    switch: Switch,
    links: Arc<HashMap<String, IssuerLink>>,
    issuer: String,
    interval_ms: u64,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(link) = links.get(&issuer) else { return };
    let started_ms = clock.now_ms();
    let mut state = link.link.session.state();
    // Earliest time of the next attempt per key, after a failed one.
    let mut retry_at_ms: HashMap<WorkingKey, u64> = HashMap::new();
    loop {
        if *stop.borrow() {
            break;
        }
        // Seen: only a later change of the session's state wakes the wait below.
        state.borrow_and_update();
        let now_ms = clock.now_ms();
        let mut due = None;
        let mut next_ms = now_ms.saturating_add(KEY_SCHEDULE_POLL_MS_MAX);
        for status in switch.link_keys(&issuer) {
            let scheduled_ms = if status.pending_kcv.is_some() {
                now_ms
            } else if interval_ms == 0 {
                u64::MAX
            } else {
                status.activated_ms.unwrap_or(started_ms).saturating_add(interval_ms)
            };
            let at_ms = scheduled_ms.max(retry_at_ms.get(&status.key).copied().unwrap_or(0));
            if at_ms <= now_ms && due.is_none() {
                due = Some(status.key);
            }
            next_ms = next_ms.min(at_ms);
        }
        if let Some(key) = due
            && link.ready()
        {
            match change_key(&switch, link, &issuer, key, clock.as_ref()).await {
                Ok(KeyChangeOutcome::Activated { .. }) => {
                    retry_at_ms.remove(&key);
                }
                Ok(outcome) => {
                    tracing::warn!(issuer, %key, %outcome, "switch: scheduled key change did not take; retrying later");
                    retry_at_ms.insert(key, clock.now_ms().saturating_add(KEY_CHANGE_RETRY_MS));
                }
                Err(error) => {
                    tracing::warn!(issuer, %key, %error, "switch: scheduled key change failed; retrying later");
                    retry_at_ms.insert(key, clock.now_ms().saturating_add(KEY_CHANGE_RETRY_MS));
                }
            }
            continue;
        }
        // Not due: sleep until the next time. Due while the link is down: until the session's
        // state changes (a link coming up lets the change go). Either way the stop ends it.
        let wait_ms = if due.is_some() { KEY_SCHEDULE_POLL_MS_MAX } else { next_ms.saturating_sub(now_ms) };
        let wait = Duration::from_millis(wait_ms.clamp(1, KEY_SCHEDULE_POLL_MS_MAX));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = state.changed() => if changed.is_err() { break },
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
}

/// Run a switch from its configuration until `shutdown` resolves.
pub async fn run(
    config: SwitchConfig,
    hsm: Arc<dyn SecurityModule>,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SwitchError> {
    let switch = blocking(move || Switch::open(&config, hsm))
        .await
        .ok_or_else(|| SwitchError::Internal("opening the switch panicked".into()))??;
    let server = SwitchServer::start(switch, clock, ServerOptions::default()).await?;
    shutdown.await;
    server.shutdown().await;
    Ok(())
}
