//! The TCP driver: the issuer core behind a `transport` server. Each request runs on tokio's
//! blocking pool (the core does synchronous database, ledger and HSM calls, which must not
//! stall the reactor); 0800 network management (sign-on, echo) is answered by
//! [`transport::NetMgmt`], which passes key changes (0800/101) on to the core: only the core
//! holds the link's keys; expired holds are released on a timer; shutdown drains in-flight
//! requests before returning.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use iso8583::{Envelope, Message};
use transport::{Handler, Listener, NetMgmt, Server, ServerConfig, ServerStats};

use crate::issuer::Issuer;
use crate::limits::EXPIRY_SWEEP_INTERVAL_MS;

/// The `transport` handler over an [`Issuer`].
#[derive(Debug, Clone)]
pub struct IssuerHandler {
    issuer: Arc<Issuer>,
}

impl IssuerHandler {
    pub fn new(issuer: Arc<Issuer>) -> IssuerHandler {
        IssuerHandler { issuer }
    }
}

impl Handler for IssuerHandler {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let issuer = Arc::clone(&self.issuer);
        // A panic in the core (a bug) loses this one answer, not the connection: the switch
        // times out and reverses, as for any unanswered request.
        let response = tokio::task::spawn_blocking(move || issuer.handle(&message)).await.ok()??;
        Some((envelope.response(), response))
    }
}

/// A server for `issuer`: its handler wrapped in network management.
pub fn server(issuer: Arc<Issuer>, config: ServerConfig) -> Server<NetMgmt<IssuerHandler>> {
    Server::new(iso8583::builtin::network(), NetMgmt { inner: IssuerHandler::new(issuer) }, config)
}

/// Serve `listener` until `shutdown` resolves, then stop accepting, answer what is in flight
/// and return. Expired holds are released every [`EXPIRY_SWEEP_INTERVAL_MS`].
pub async fn serve<L: Listener>(issuer: Arc<Issuer>, listener: L, shutdown: impl Future<Output = ()>) {
    let server = server(Arc::clone(&issuer), ServerConfig::default());
    run(server, issuer, listener, shutdown).await;
}

/// [`serve`] with a server already built (its bounds chosen, its counters shared).
async fn run<L: Listener>(
    server: Server<NetMgmt<IssuerHandler>>,
    issuer: Arc<Issuer>,
    listener: L,
    shutdown: impl Future<Output = ()>,
) {
    let serving = server.serve(listener);
    tokio::pin!(serving);
    tokio::pin!(shutdown);
    let mut sweep = tokio::time::interval(Duration::from_millis(EXPIRY_SWEEP_INTERVAL_MS));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut serving => return,
            () = &mut shutdown => {
                server.shutdown();
                serving.await;
                return;
            }
            _ = sweep.tick() => {
                let issuer = Arc::clone(&issuer);
                match tokio::task::spawn_blocking(move || issuer.expire_holds()).await {
                    Ok(Ok(0)) | Err(_) => {}
                    Ok(Ok(count)) => tracing::info!(count, "issuer: expired holds released"),
                    Ok(Err(error)) => tracing::warn!(%error, "issuer: releasing expired holds failed"),
                }
            }
        }
    }
}

/// Bind `address`, tell `on_listening` the bound address (port 0 picks one) and the server's
/// counters, and serve with `config`'s bounds until `shutdown`.
pub async fn bind_and_serve(
    issuer: Arc<Issuer>,
    address: SocketAddr,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
    on_listening: impl FnOnce(SocketAddr, Arc<ServerStats>),
) -> std::io::Result<()> {
    let listener = host::listen::bind(address).await?;
    let server = server(Arc::clone(&issuer), config);
    on_listening(listener.local_addr()?, server.stats_handle());
    run(server, issuer, listener, shutdown).await;
    Ok(())
}
