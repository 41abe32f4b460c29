//! The production driver: the acquirer core behind the party contract (`crate::party`) in a
//! `host::Pipeline` — one core thread deciding batches, one commit per batch, answers after it.
//!
//! * Terminals connect to a `transport::Server` on the POS profile's spec (cup-pos: length,
//!   TPDU, 6-byte header). Each message goes into the pipeline; a forwarded one goes to the
//!   switch and its answer (or its absence) back through the pipeline.
//! * One `transport::Session` to the switch: the acquirer connects, signs on as its member id
//!   (0800/001), echoes when idle and reconnects with bounded backoff. A request while the
//!   session is not signed on is answered 91 at once (nothing went out, nothing to reverse).
//! * The pipeline's delivery loop sends due network reversals (0420/0421) oldest first whenever
//!   the session is ready: woken by a queued reversal or the session coming up, else every poll
//!   interval.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use host::{Link, Pipeline, PipelineHandler};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use transport::{Institution, Server, ServerConfig, Session, SessionConfig, SessionState};

use crate::engine::Acquirer;
use crate::error::{AcquirerError, Result};
use crate::limits::REVERSAL_POLL_INTERVAL_MS;
use crate::party::SWITCH_LINK;

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

/// The running acquirer host.
pub struct AcquirerServer {
    local_addr: SocketAddr,
    acquirer: Acquirer,
    server: Server<PipelineHandler<Acquirer>>,
    session: Session,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// For `/readyz`: the core runs and the switch link is signed on.
    readiness: Arc<dyn host::Readiness>,
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
        let link = Link::new(session.clone());
        let wake = Arc::clone(&link.wake);
        let (stop, _) = watch::channel(false);
        let links = std::iter::once((SWITCH_LINK.to_owned(), link)).collect();
        let pipeline = Pipeline::start(Arc::new(acquirer.clone()), links, clock)?;
        let mut tasks = pipeline.spawn_loops(&acquirer, options.reversal_poll_interval_ms, &stop.subscribe());
        let readiness = pipeline.readiness();
        let server = Server::new(Arc::clone(acquirer.spec()), pipeline.handler(), options.server);
        let serving = server.clone();
        tasks.push(tokio::spawn(async move { serving.serve(listener).await }));
        tracing::info!(%local_addr, switch = %acquirer.settings().switch_endpoint, "acquirer: serving terminals");
        Ok(AcquirerServer { local_addr, acquirer, server, session, wake, stop, tasks, readiness })
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

    /// The same counters, shared (for a metrics collector that outlives this borrow).
    pub fn stats_handle(&self) -> Arc<transport::ServerStats> {
        self.server.stats_handle()
    }

    /// Whether the acquirer can take traffic (the admin endpoint's `/readyz`).
    pub fn readiness(&self) -> Arc<dyn host::Readiness> {
        Arc::clone(&self.readiness)
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
