//! A party's admin endpoint: `/metrics` (the registry's page), `/healthz` (200 while the
//! process runs) and `/readyz` (200 when the party says it is ready, else 503 and one line
//! saying why). Bound like the parties' own servers: at most [`ADMIN_CONNECTIONS_MAX`]
//! connections, each closed [`ADMIN_CONNECTION_MS_MAX`] after it was accepted whatever it is
//! doing (a slow or idle client cannot hold a slot), request bodies refused beyond
//! [`ADMIN_BODY_BYTES_MAX`] (every route is a GET).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::routing::get;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::registry::Registry;
use crate::text::CONTENT_TYPE;

/// What a party logs before its admin address (`cardnet PARTY: admin on http://ADDR`): how
/// `cardnet up`, the demo and the console find a party that listens on a port the kernel picked.
pub const LOG_MARKER: &str = "admin on http://";

/// The admin address in a party's log: the last line with [`LOG_MARKER`] (a restart logs anew).
pub fn address_in_log(log: &str) -> Option<SocketAddr> {
    log.lines().rev().find_map(|line| line.split_once(LOG_MARKER)).and_then(|(_, rest)| rest.trim().parse().ok())
}

/// Admin connections served at once; more wait in the listen backlog.
pub const ADMIN_CONNECTIONS_MAX: usize = 16;
/// Longest an admin connection lives, from accept (a scrape takes milliseconds).
pub const ADMIN_CONNECTION_MS_MAX: u64 = 10_000;
/// Largest request body read (none is expected).
pub const ADMIN_BODY_BYTES_MAX: usize = 1_024;

/// Whether a party can take traffic: `Err` says why not in one line.
pub trait Readiness: Send + Sync {
    fn ready(&self) -> Result<(), String>;
}

/// The running endpoint; it stops when dropped.
pub struct Admin {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Admin {
    /// The bound address (`127.0.0.1:0` picks a free port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bind `listen` and serve the endpoint on the current runtime; a bind failure names the address.
pub async fn start(
    listen: SocketAddr,
    registry: &'static Registry,
    readiness: Arc<dyn Readiness>,
) -> io::Result<Admin> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("admin endpoint: cannot listen on {listen}: {e}")))?;
    let local_addr = listener.local_addr()?;
    let router = Router::new()
        .route("/metrics", get(move || async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], registry.render()) }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || async move {
                match readiness.ready() {
                    Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
                    Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", one_line(&reason))),
                }
            }),
        )
        .layer(DefaultBodyLimit::max(ADMIN_BODY_BYTES_MAX));
    let listener = BoundedListener { listener, slots: Arc::new(Semaphore::new(ADMIN_CONNECTIONS_MAX)) };
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "admin endpoint stopped");
        }
    });
    Ok(Admin { local_addr, task })
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// A TCP listener handing out at most `ADMIN_CONNECTIONS_MAX` connections at once.
struct BoundedListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
}

impl axum::serve::Listener for BoundedListener {
    type Io = Bounded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Bounded, SocketAddr) {
        loop {
            // The semaphore is never closed; should it be, serve without a slot rather than spin.
            let permit = Arc::clone(&self.slots).acquire_owned().await.ok();
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let deadline = Box::pin(tokio::time::sleep(Duration::from_millis(ADMIN_CONNECTION_MS_MAX)));
                    return (Bounded { stream, deadline, _permit: permit }, peer);
                }
                Err(error) => {
                    // Out of descriptors and the like: wait a little instead of a hot loop.
                    tracing::warn!(%error, "admin endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// A connection that fails every read and write once its deadline passed, and gives its slot
/// back when dropped.
struct Bounded {
    stream: TcpStream,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Bounded {
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "admin connection deadline")
}

impl AsyncRead for Bounded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Bounded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::probe::get;

    struct Switchable(AtomicBool);

    impl Readiness for Switchable {
        fn ready(&self) -> Result<(), String> {
            if self.0.load(Ordering::Relaxed) { Ok(()) } else { Err("link issuer-1 not signed on\nsecond".into()) }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_metrics_health_and_readiness() {
        let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
        registry.counter("cardnet_probe_total", "Probes.", &["party"]).with(&["issuer"]).add(7);
        let ready = Arc::new(Switchable(AtomicBool::new(false)));
        let admin =
            start("127.0.0.1:0".parse().unwrap(), registry, Arc::clone(&ready) as Arc<dyn Readiness>).await.unwrap();
        let address = admin.local_addr();
        let (metrics, health, not_ready, missing) = tokio::task::spawn_blocking(move || {
            (get(address, "/metrics"), get(address, "/healthz"), get(address, "/readyz"), get(address, "/nothing"))
        })
        .await
        .unwrap();
        let (status, body) = metrics.unwrap();
        assert_eq!(status, 200);
        let page = crate::parse::parse(&body).unwrap();
        assert_eq!(page.value("cardnet_probe_total", &[("party", "issuer")]), Some(7.0));
        assert_eq!(health.unwrap(), (200, "ok\n".to_owned()));
        assert_eq!(not_ready.unwrap(), (503, "not ready: link issuer-1 not signed on second\n".to_owned()));
        assert_eq!(missing.unwrap().0, 404);
        ready.0.store(true, Ordering::Relaxed);
        let now_ready = tokio::task::spawn_blocking(move || get(address, "/readyz")).await.unwrap();
        assert_eq!(now_ready.unwrap(), (200, "ready\n".to_owned()));
    }

    /// A client that connects and says nothing (slowloris) loses its slot at the connection
    /// deadline. Tokio's clock is paused: the deadline passes as soon as everything waits.
    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_at_its_deadline() {
        use tokio::io::AsyncReadExt;
        let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
        let ready = Arc::new(Switchable(AtomicBool::new(true)));
        let admin = start("127.0.0.1:0".parse().unwrap(), registry, ready).await.unwrap();
        let mut silent = tokio::net::TcpStream::connect(admin.local_addr()).await.unwrap();
        let started = tokio::time::Instant::now();
        let mut byte = [0u8; 1];
        let limit = Duration::from_millis(ADMIN_CONNECTION_MS_MAX * 3);
        let closed = tokio::time::timeout(limit, silent.read(&mut byte)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "closed, not left open: {closed:?}");
        assert!(started.elapsed() >= Duration::from_millis(ADMIN_CONNECTION_MS_MAX), "not before its deadline");
    }
}
