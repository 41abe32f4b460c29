//! The TCP driver: the acquirer core on tokio.
//!
//! * Terminals connect to a `transport::Server` on the POS profile's spec (cup-pos: length,
//!   TPDU, 6-byte header). Each message goes through [`Acquirer::on_terminal_request`]; a
//!   forwarded one goes to the switch and its answer (or its absence) back through the core.
//! * One `transport::Session` to the switch: the acquirer connects, signs on as its member id
//!   (0800/001), echoes when idle and reconnects with bounded backoff. A request while the
//!   session is not signed on is answered 91 at once (nothing went out, nothing to reverse).
//! * One delivery loop sends due network reversals (0420/0421) oldest first whenever the session
//!   is ready: woken by a queued reversal or the session coming up, else every poll interval.
//!
//! The core is synchronous and does durable database work (the PostgreSQL client must not run
//! on a runtime worker), so every call into it runs on tokio's blocking pool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use host::LinkFailure;
use iso8583::{Envelope, Message};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use transport::{Handler, Institution, Server, ServerConfig, Session, SessionConfig, SessionState};

use crate::engine::{Acquirer, NetworkFailure, Step};
use crate::error::{AcquirerError, Result};
use crate::limits::{REVERSAL_BATCH_MAX, REVERSAL_POLL_INTERVAL_MS};

/// How the driver runs: the transport's bounds and timers.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Bounds of the terminal-facing server.
    pub server: ServerConfig,
    pub session_backoff_ms_min: u64,
    pub session_backoff_ms_max: u64,
    pub echo_idle_ms: u64,
    pub echo_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// How often the delivery loop looks for due reversals when nothing woke it.
    pub reversal_poll_interval_ms: u64,
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
            reversal_poll_interval_ms: REVERSAL_POLL_INTERVAL_MS,
        }
    }
}

/// Connects to the switch's `host:port`, resolving the name on every attempt.
pub use host::EndpointConnector;

/// Run a core call on the blocking pool; `None` only if it panicked (logged).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    host::blocking("acquirer", work).await
}

/// What a link failure means on the link to the switch.
fn network_failure(failure: LinkFailure) -> NetworkFailure {
    match failure {
        LinkFailure::Unavailable => NetworkFailure::Unavailable,
        LinkFailure::Timeout => NetworkFailure::Timeout,
        LinkFailure::LinkLost => NetworkFailure::LinkLost,
    }
}

/// The terminal-facing handler.
struct TerminalHandler {
    acquirer: Acquirer,
    session: Session,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
}

impl Handler for TerminalHandler {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let acquirer = self.acquirer.clone();
        let now_ms = self.clock.now_ms();
        let step = blocking(move || acquirer.on_terminal_request(envelope, message, now_ms)).await?;
        let reply = match step {
            Step::Ignore => return None,
            Step::Respond(reply) => reply,
            Step::Forward(forward) => {
                let forward = *forward;
                let answer =
                    host::request_if_ready(&self.session, &forward.network_request).await.map_err(network_failure);
                let acquirer = self.acquirer.clone();
                let now_ms = self.clock.now_ms();
                let pending = forward.pending;
                blocking(move || match answer {
                    Ok(response) => acquirer.on_network_response(pending, response, now_ms),
                    Err(failure) => acquirer.on_network_failure(pending, failure, now_ms),
                })
                .await?
            }
        };
        if reply.reversal_queued {
            self.wake.notify_one();
        }
        Some((reply.envelope, reply.response))
    }
}

/// The running acquirer host.
pub struct AcquirerServer {
    local_addr: SocketAddr,
    acquirer: Acquirer,
    server: Server<TerminalHandler>,
    session: Session,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl AcquirerServer {
    /// Bind the configured listen address, start the session to the switch and the reversal
    /// delivery loop, and serve terminals.
    pub async fn start(acquirer: Acquirer, clock: Arc<dyn Clock>, options: ServerOptions) -> Result<AcquirerServer> {
        let settings = acquirer.settings();
        let listener = host::listen::bind(settings.listen).await?;
        let local_addr = listener.local_addr()?;
        let mut config =
            SessionConfig::new(Arc::clone(acquirer.network_spec()), Institution::new(settings.institution_id.clone()));
        config.client.timeout = Duration::from_millis(settings.switch_timeout_ms);
        config.backoff_ms_min = options.session_backoff_ms_min;
        config.backoff_ms_max = options.session_backoff_ms_max;
        config.echo_idle_ms = options.echo_idle_ms;
        config.echo_timeout_ms = options.echo_timeout_ms;
        config.connect_timeout_ms = options.connect_timeout_ms;
        let session = Session::start(EndpointConnector { endpoint: settings.switch_endpoint.clone() }, config);
        let wake = Arc::new(Notify::new());
        let (stop, _) = watch::channel(false);
        let poll = Duration::from_millis(options.reversal_poll_interval_ms.max(1));
        let mut tasks = Vec::with_capacity(2);
        tasks.push(tokio::spawn(deliver(
            acquirer.clone(),
            session.clone(),
            Arc::clone(&wake),
            Arc::clone(&clock),
            poll,
            stop.subscribe(),
        )));
        let handler =
            TerminalHandler { acquirer: acquirer.clone(), session: session.clone(), wake: Arc::clone(&wake), clock };
        let server = Server::new(Arc::clone(acquirer.spec()), handler, options.server);
        let serving = server.clone();
        tasks.push(tokio::spawn(async move { serving.serve(listener).await }));
        tracing::info!(%local_addr, switch = %acquirer.settings().switch_endpoint, "acquirer: serving terminals");
        Ok(AcquirerServer { local_addr, acquirer, server, session, wake, stop, tasks })
    }

    /// The address terminals connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn acquirer(&self) -> &Acquirer {
        &self.acquirer
    }

    pub fn stats(&self) -> &transport::ServerStats {
        self.server.stats()
    }

    /// The state of the session to the switch.
    pub fn switch_state(&self) -> watch::Receiver<SessionState> {
        self.session.state()
    }

    /// Ask the delivery loop to look for due reversals now.
    pub fn wake_delivery(&self) {
        self.wake.notify_one();
    }

    /// Stop accepting, answer what is in flight, stop delivering, sign off from the switch.
    pub async fn shutdown(self) {
        self.server.shutdown();
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.session.close().await;
    }
}

/// Deliver network reversals while the host runs.
async fn deliver(
    acquirer: Acquirer,
    session: Session,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut state = session.state();
    let mut state_open = true;
    loop {
        if *stop.borrow() {
            break;
        }
        let ready = *state.borrow_and_update() == SessionState::Ready;
        if ready && deliver_due(&acquirer, &session, clock.as_ref()).await {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            changed = state.changed(), if state_open => state_open = changed.is_ok(),
            _ = tokio::time::sleep(poll) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
}

/// Send what is due, oldest first, stopping at the first one not acknowledged. `true` when a
/// whole batch was acknowledged (more may be due).
async fn deliver_due(acquirer: &Acquirer, session: &Session, clock: &dyn Clock) -> bool {
    let now_ms = clock.now_ms();
    let due = {
        let acquirer = acquirer.clone();
        blocking(move || acquirer.due_reversals(now_ms)).await
    };
    let due = match due {
        Some(Ok(due)) => due,
        Some(Err(error)) => {
            tracing::error!(%error, "acquirer: cannot read due reversals");
            return false;
        }
        None => return false,
    };
    let full = due.len() == REVERSAL_BATCH_MAX;
    for reversal in due {
        let result = session.request(&reversal.message).await;
        let now_ms = clock.now_ms();
        let acquirer = acquirer.clone();
        let acknowledged = blocking(move || match result {
            Ok(response) => acquirer.reversal_answered(&reversal, &response, now_ms).unwrap_or_else(|error| {
                tracing::error!(%error, "acquirer: cannot record a reversal answer");
                false
            }),
            Err(error) => {
                tracing::info!(reversal = reversal.id, %error, "acquirer: reversal unanswered");
                if let Err(error) = acquirer.reversal_failed(&reversal, now_ms) {
                    tracing::error!(%error, "acquirer: cannot record a reversal failure");
                }
                false
            }
        })
        .await
        .unwrap_or(false);
        if !acknowledged {
            return false;
        }
    }
    full
}

/// Run an acquirer until `shutdown` resolves.
pub async fn run(
    acquirer: Acquirer,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::result::Result<(), AcquirerError> {
    let server = AcquirerServer::start(acquirer, clock, ServerOptions::default()).await?;
    shutdown.await;
    server.shutdown().await;
    Ok(())
}
