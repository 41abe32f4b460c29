//! The server side: accept connections, decode frames, call a [`Handler`], write responses.
//!
//! The accept loop bounds connections twice: `connections_max` in all, and
//! `connections_per_peer_max` from one IP address, so one peer cannot lock everyone else out.
//! A refused connection is closed at once and logged with its peer (at a bounded rate).
//!
//! Each connection (`connection.rs`) has one reader loop and one writer task. The reader takes an
//! in-flight permit before reading the next frame, so at most `in_flight_max` requests per
//! connection are being handled at once and a client sending faster than we answer is slowed
//! down by TCP itself (backpressure) rather than by a growing queue. Responses go out as they
//! complete, in any order.
//!
//! A frame that does not decode is answered with a format error (39 = 30) when its MTI can be
//! read and it is a request; otherwise it is dropped and counted. Neither closes the connection;
//! `malformed_streak_max` of them in a row do. So do a lost frame boundary (unreadable or
//! oversize length prefix), an I/O error, the idle timeout and the frame read deadline.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use iso8583::{Envelope, Message, Mti, Spec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::codec::FramedWrite;

use crate::codec::FrameCodec;
use crate::error::TransportError;
use crate::log_budget::LogBudget;
use crate::peers::PeerSlots;
pub use crate::stats::{ServerStats, StatsSnapshot};

use crate::limits::{
    ACCEPT_RETRY_DELAY_MS, CONNECTIONS_PER_PEER_MAX_DEFAULT, FRAME_READ_TIMEOUT_MS_DEFAULT, IDLE_TIMEOUT_MS_DEFAULT,
    KEEPALIVE_IDLE_MS_DEFAULT, MALFORMED_STREAK_MAX_DEFAULT, REFUSED_LOG_INTERVAL_MS, REFUSED_LOGS_PER_INTERVAL,
    WRITE_TIMEOUT_MS,
};
pub use crate::limits::{CONNECTIONS_MAX_DEFAULT, IN_FLIGHT_MAX_DEFAULT, WRITE_QUEUE_MAX_DEFAULT};

/// Pause after a failed accept (for example out of file descriptors), so the loop does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(ACCEPT_RETRY_DELAY_MS);
/// Fields echoed in a format-error response, when the malformed request let us read them.
const FORMAT_ERROR_ECHO: [u8; 5] = [7, 11, 32, 41, 42];
/// Response code of a format error.
const FORMAT_ERROR_CODE: &str = "30";

/// Application logic: a request in, maybe a response out (`None` sends nothing, e.g. for advices
/// answered later or for responses the server receives).
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, envelope: Envelope, message: Message) -> impl Future<Output = Option<(Envelope, Message)>> + Send;
}

/// Where connections come from: a TCP listener, or an in-memory/simulated one.
pub trait Listener: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// The peer's address, for the per-peer limit and log lines; `None` where there is none
    /// (in-memory streams), and such connections only count toward the global limit.
    fn peer_addr(_stream: &Self::Stream) -> Option<SocketAddr> {
        None
    }

    /// Turn on TCP keepalive (probes after `idle` without traffic) where there is TCP.
    fn set_keepalive(_stream: &Self::Stream, _idle: Duration) -> io::Result<()> {
        Ok(())
    }
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<tokio::net::TcpStream> {
        let (stream, _) = tokio::net::TcpListener::accept(self).await?;
        // Small request/response messages: do not wait to coalesce.
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn peer_addr(stream: &tokio::net::TcpStream) -> Option<SocketAddr> {
        stream.peer_addr().ok()
    }

    fn set_keepalive(stream: &tokio::net::TcpStream, idle: Duration) -> io::Result<()> {
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(Duration::from_millis(crate::limits::KEEPALIVE_INTERVAL_MS));
        socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Requests handled concurrently per connection.
    pub in_flight_max: usize,
    /// Encoded responses queued for the writer per connection.
    pub write_queue_max: usize,
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub connections_max: usize,
    /// Connections served at once from one peer IP address (when the listener knows it).
    pub connections_per_peer_max: usize,
    /// No complete frame, and nothing in flight, for this long closes the connection.
    pub idle_timeout_ms: u64,
    /// A frame whose first byte arrived must be complete within this long (slowloris).
    pub frame_read_timeout_ms: u64,
    /// TCP keepalive idle time on accepted connections (listeners that have TCP underneath).
    pub keepalive_idle_ms: u64,
    /// Malformed frames in a row that close the connection (one malformed frame never does).
    pub malformed_streak_max: u32,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            in_flight_max: IN_FLIGHT_MAX_DEFAULT,
            write_queue_max: WRITE_QUEUE_MAX_DEFAULT,
            connections_max: CONNECTIONS_MAX_DEFAULT,
            connections_per_peer_max: CONNECTIONS_PER_PEER_MAX_DEFAULT,
            idle_timeout_ms: IDLE_TIMEOUT_MS_DEFAULT,
            frame_read_timeout_ms: FRAME_READ_TIMEOUT_MS_DEFAULT,
            keepalive_idle_ms: KEEPALIVE_IDLE_MS_DEFAULT,
            malformed_streak_max: MALFORMED_STREAK_MAX_DEFAULT,
        }
    }
}

pub(crate) struct Inner<H> {
    pub(crate) spec: Arc<Spec>,
    pub(crate) handler: H,
    pub(crate) config: ServerConfig,
    pub(crate) stats: Arc<ServerStats>,
    pub(crate) shutdown: watch::Sender<bool>,
    peers: Arc<PeerSlots>,
    /// Every open connection's write queue, by connection number: where [`Server::push`] sends.
    pub(crate) connections: std::sync::Mutex<std::collections::HashMap<u64, mpsc::Sender<Bytes>>>,
    pub(crate) next_connection: std::sync::atomic::AtomicU64,
}

impl<H> Inner<H> {
    pub(crate) fn open_connections(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, mpsc::Sender<Bytes>>> {
        // One insert or remove at a time: a panic cannot leave the map half changed.
        self.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An ISO 8583 server. Cheap to clone; clones share handler, counters and shutdown.
pub struct Server<H> {
    pub(crate) inner: Arc<Inner<H>>,
}

impl<H> Clone for Server<H> {
    fn clone(&self) -> Server<H> {
        Server { inner: Arc::clone(&self.inner) }
    }
}

impl<H: Handler> Server<H> {
    pub fn new(spec: Arc<Spec>, handler: H, config: ServerConfig) -> Server<H> {
        let config = ServerConfig {
            in_flight_max: config.in_flight_max.max(1),
            write_queue_max: config.write_queue_max.max(1),
            connections_max: config.connections_max.max(1),
            connections_per_peer_max: config.connections_per_peer_max.max(1),
            idle_timeout_ms: config.idle_timeout_ms.max(1),
            frame_read_timeout_ms: config.frame_read_timeout_ms.max(1),
            keepalive_idle_ms: config.keepalive_idle_ms.max(1),
            malformed_streak_max: config.malformed_streak_max.max(1),
        };
        let (shutdown, _) = watch::channel(false);
        let peers = PeerSlots::new(config.connections_per_peer_max);
        Server {
            inner: Arc::new(Inner {
                spec,
                handler,
                config,
                stats: Arc::default(),
                shutdown,
                peers,
                connections: std::sync::Mutex::default(),
                next_connection: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Send `message` in `envelope` on every open connection, as a request of the server's own
    /// (a network's cut-over, say): queued behind each connection's answers, never waiting — a
    /// connection whose write queue is full is skipped. Its answers come back to the handler
    /// like any message. Returns how many connections it was queued on.
    pub fn push(&self, envelope: &Envelope, message: &Message) -> Result<usize, TransportError> {
        let frame = Bytes::from(iso8583::encode_framed(message, envelope).map_err(TransportError::Codec)?);
        let queues: Vec<mpsc::Sender<Bytes>> = self.inner.open_connections().values().cloned().collect();
        Ok(queues.iter().filter(|queue| queue.try_send(frame.clone()).is_ok()).count())
    }

    pub fn stats(&self) -> &ServerStats {
        &self.inner.stats
    }

    /// The counters, shared: for a task that reports them while the server runs.
    pub fn stats_handle(&self) -> Arc<ServerStats> {
        Arc::clone(&self.inner.stats)
    }

    /// Stop accepting and reading; in-flight requests are finished and answered, then every
    /// connection closes and [`Server::serve`] returns.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Accept connections until [`Server::shutdown`], then drain them.
    pub async fn serve<L: Listener>(&self, mut listener: L) {
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut connections = JoinSet::new();
        let mut refused_log = LogBudget::new(Duration::from_millis(REFUSED_LOG_INTERVAL_MS), REFUSED_LOGS_PER_INTERVAL);
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                accepted = listener.accept() => match accepted {
                    Ok(stream) => {
                        if let Err(limit) = self.admit::<L>(stream, &mut connections) {
                            let verdict = refused_log.event(tokio::time::Instant::now());
                            if let Some((count, over)) = verdict.summary {
                                crate::log::refused_summary(count, over);
                            }
                            if verdict.log {
                                crate::log::refused(limit.peer, limit.name);
                            }
                        }
                    }
                    Err(_) => {
                        self.inner.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                    }
                },
                // Reap finished connections so the set does not grow with closed ones.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        while connections.join_next().await.is_some() {}
    }

    /// Serve `stream` unless a connection limit is reached (then it is closed by dropping it):
    /// the global `connections_max`, then `connections_per_peer_max` for its IP address.
    fn admit<L: Listener>(&self, stream: L::Stream, connections: &mut JoinSet<()>) -> Result<(), Refused> {
        let inner = &self.inner;
        let peer = L::peer_addr(&stream);
        if connections.len() >= inner.config.connections_max {
            inner.stats.refused_connections.fetch_add(1, Ordering::Relaxed);
            return Err(Refused { peer, name: "global" });
        }
        let slot = match peer {
            Some(address) => match inner.peers.take(address.ip()) {
                Some(slot) => Some(slot),
                None => {
                    inner.stats.refused_per_peer.fetch_add(1, Ordering::Relaxed);
                    return Err(Refused { peer, name: "per-peer" });
                }
            },
            None => None,
        };
        // Keepalive only finds dead peers sooner; a socket that refuses it is still served.
        if let Err(error) = L::set_keepalive(&stream, Duration::from_millis(inner.config.keepalive_idle_ms)) {
            tracing::debug!(target: "cardnet::transport", peer = %crate::log::peer(peer), %error, "no TCP keepalive");
        }
        let server = self.clone();
        connections.spawn(async move {
            let _slot = slot;
            server.serve_peer(stream, peer).await;
        });
        Ok(())
    }
}

/// A connection closed on accept: who, and which limit.
struct Refused {
    peer: Option<SocketAddr>,
    name: &'static str,
}

/// Resolves once shutdown is requested (or the server is gone). Returns nothing so no watch
/// guard is held across an await.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// How the writer of a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteEnd {
    /// The queue closed: everything queued was written.
    Drained,
    /// The socket failed.
    Failed,
    /// The peer did not take our bytes for [`WRITE_TIMEOUT_MS`].
    TimedOut,
}

/// Write queued frames, flushing only when the queue is momentarily empty so bursts of responses
/// share system calls. Every write is bounded by [`WRITE_TIMEOUT_MS`]: a peer that stops reading
/// ends the writer, and the reader notices the closed queue and closes the connection.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut sink: FramedWrite<W, FrameCodec>,
    mut queue: mpsc::Receiver<Bytes>,
) -> WriteEnd {
    let limit = Duration::from_millis(WRITE_TIMEOUT_MS);
    let bounded = |result: Result<Result<(), TransportError>, tokio::time::error::Elapsed>| match result {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(WriteEnd::Failed),
        Err(_) => Some(WriteEnd::TimedOut),
    };
    while let Some(frame) = queue.recv().await {
        if let Some(end) = bounded(tokio::time::timeout(limit, sink.feed(frame)).await) {
            return end;
        }
        // Let the tasks woken with this frame's — the other answers of the party's batch — queue
        // theirs before the write, so one system call carries them all.
        tokio::task::yield_now().await;
        while let Ok(frame) = queue.try_recv() {
            if let Some(end) = bounded(tokio::time::timeout(limit, sink.feed(frame)).await) {
                return end;
            }
        }
        if let Some(end) = bounded(tokio::time::timeout(limit, sink.flush()).await) {
            return end;
        }
    }
    let _ = tokio::time::timeout(limit, sink.close()).await;
    WriteEnd::Drained
}

/// The format-error response to a frame that did not decode: response MTI, the echo fields that
/// were decoded before the error, 39 = 30. `None` when the MTI is unreadable or not a request.
pub fn format_error(spec: &Arc<Spec>, frame: &[u8]) -> Option<Bytes> {
    let (envelope, body, offset) = spec.framing.unwrap(frame).ok()?;
    let mut partial = Message::new(Arc::clone(spec), Mti::ZERO);
    // Fields decoded before the error stay in `partial`; the error itself is why we are here.
    let _ = iso8583::codec::decode_into(body, &mut partial, offset);
    if partial.mti() == Mti::ZERO || !partial.mti().is_request() {
        return None;
    }
    let mut response = partial.response(&FORMAT_ERROR_ECHO).ok()?;
    response.set_str(39, FORMAT_ERROR_CODE).ok()?;
    iso8583::encode_framed(&response, &envelope.response()).ok().map(Bytes::from)
}
