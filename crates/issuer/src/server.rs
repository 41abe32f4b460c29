//! The production driver: the issuer core behind the party contract (`crate::party`) in a
//! `host::Pipeline` — one core thread deciding the switch's requests in batches, one commit per
//! batch, the answers after it. 0800 network management (sign-on, echo) is answered by
//! [`transport::NetMgmt`], which passes key changes (0800/101) on to the core: only the core
//! holds the link's keys. Expired holds are released on the pipeline's timer; shutdown drains
//! in-flight requests before returning. Generic over `transport::Listener` (TCP, TLS,
//! in-memory).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use clock::SystemClock;
use host::{Pipeline, PipelineHandler};
use tokio::sync::watch;
use transport::{Listener, NetMgmt, Server, ServerConfig, ServerStats};

use crate::issuer::Issuer;

/// How often nothing-to-do loops look (the issuer has none: no outbound links).
const POLL_INTERVAL_MS: u64 = 1_000;

/// A server for `issuer` over a started pipeline: its handler wrapped in network management.
fn server(pipeline: &Pipeline<Issuer>, config: ServerConfig) -> Server<NetMgmt<PipelineHandler<Issuer>>> {
    Server::new(iso8583::builtin::network(), NetMgmt { inner: pipeline.handler() }, config)
}

fn pipeline(issuer: &Arc<Issuer>) -> std::io::Result<Pipeline<Issuer>> {
    Pipeline::start(Arc::clone(issuer), Default::default(), Arc::new(SystemClock))
}

/// Serve `listener` until `shutdown` resolves, then stop accepting, answer what is in flight
/// and return.
pub async fn serve<L: Listener>(issuer: Arc<Issuer>, listener: L, shutdown: impl Future<Output = ()>) {
    match pipeline(&issuer) {
        Ok(pipeline) => {
            let server = server(&pipeline, ServerConfig::default());
            run(server, pipeline, issuer, listener, shutdown).await;
        }
        Err(error) => tracing::error!(%error, "issuer: cannot start its core thread"),
    }
}

/// [`serve`] with a server already built (its bounds chosen, its counters shared).
async fn run<L: Listener>(
    server: Server<NetMgmt<PipelineHandler<Issuer>>>,
    pipeline: Pipeline<Issuer>,
    issuer: Arc<Issuer>,
    listener: L,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopped) = watch::channel(false);
    let loops = pipeline.spawn_loops(&issuer, POLL_INTERVAL_MS, &stopped);
    drop(pipeline);
    let serving = server.serve(listener);
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => {}
        () = shutdown => {
            server.shutdown();
            serving.await;
        }
    }
    stop.send_replace(true);
    for task in loops {
        let _ = task.await;
    }
}

/// Bind `address`, tell `on_listening` the bound address (port 0 picks one), the server's
/// counters and the issuer's readiness (`/readyz`), and serve with `config`'s bounds until
/// `shutdown`.
pub async fn bind_and_serve(
    issuer: Arc<Issuer>,
    address: SocketAddr,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
    on_listening: impl FnOnce(SocketAddr, Arc<ServerStats>, Arc<dyn host::Readiness>),
) -> std::io::Result<()> {
    let listener = host::listen::bind(address).await?;
    let pipeline = pipeline(&issuer)?;
    let server = server(&pipeline, config);
    on_listening(listener.local_addr()?, server.stats_handle(), pipeline.readiness());
    run(server, pipeline, issuer, listener, shutdown).await;
    Ok(())
}
