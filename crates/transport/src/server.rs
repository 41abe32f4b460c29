//! The server side: accept connections, decode frames, call a [`Handler`], write responses.
//!
//! Each connection has one reader loop and one writer task. The reader takes an in-flight permit
//! before reading the next frame, so at most `in_flight_max` requests per connection are being
//! handled at once and a client sending faster than we answer is slowed down by TCP itself
//! (backpressure) rather than by a growing queue. Responses go out as they complete, in any order.
//!
//! A frame that does not decode is answered with a format error (39 = 30) when its MTI can be
//! read and it is a request; otherwise it is dropped and counted. Neither closes the connection.
//! Only a lost frame boundary (unreadable or oversize length prefix) or an I/O error does.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use iso8583::{Envelope, Message, Mti, Spec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::FrameCodec;
pub use crate::stats::{ServerStats, StatsSnapshot};

use crate::limits::{
    ACCEPT_RETRY_DELAY_MS, CONNECTIONS_PER_PEER_MAX_DEFAULT, FRAME_READ_TIMEOUT_MS_DEFAULT, IDLE_TIMEOUT_MS_DEFAULT,
    KEEPALIVE_IDLE_MS_DEFAULT, MALFORMED_STREAK_MAX_DEFAULT,
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

struct Inner<H> {
    spec: Arc<Spec>,
    handler: H,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    shutdown: watch::Sender<bool>,
}

/// An ISO 8583 server. Cheap to clone; clones share handler, counters and shutdown.
pub struct Server<H> {
    inner: Arc<Inner<H>>,
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
        Server { inner: Arc::new(Inner { spec, handler, config, stats: Arc::default(), shutdown }) }
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
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                accepted = listener.accept() => match accepted {
                    Ok(stream) if connections.len() >= self.inner.config.connections_max => {
                        self.inner.stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                        drop(stream);
                    }
                    Ok(stream) => {
                        let server = self.clone();
                        connections.spawn(async move { server.serve_connection(stream).await });
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

    /// Serve one connection until the peer closes it, it fails, or the server shuts down.
    pub async fn serve_connection<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let inner = &self.inner;
        inner.stats.connections.fetch_add(1, Ordering::Relaxed);
        let codec = match FrameCodec::new(inner.spec.framing.clone()) {
            Ok(codec) => codec,
            Err(_) => {
                inner.stats.connection_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let (read_half, write_half) = tokio::io::split(stream);
        let mut reader = FramedRead::new(read_half, codec.clone());
        let (responses, queue) = mpsc::channel::<Bytes>(inner.config.write_queue_max);
        let writer = tokio::spawn(write_loop(FramedWrite::new(write_half, codec), queue));
        let permits = Arc::new(Semaphore::new(inner.config.in_flight_max));
        let mut shutdown = inner.shutdown.subscribe();
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                _ = stopped(&mut shutdown) => break,
            };
            let frame = tokio::select! {
                frame = reader.next() => frame,
                _ = stopped(&mut shutdown) => break,
            };
            match frame {
                None => break,
                Some(Err(_)) => {
                    inner.stats.connection_errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(Ok(frame)) => {
                    let server = self.clone();
                    let responses = responses.clone();
                    tokio::spawn(async move {
                        if let Some(response) = server.respond(&frame).await {
                            // A closed writer means the connection is gone; nothing to answer.
                            if responses.send(response).await.is_ok() {
                                server.inner.stats.responses.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        drop(permit);
                    });
                }
            }
        }
        // Drain: every permit back means every in-flight request has queued its response.
        let all = u32::try_from(inner.config.in_flight_max).unwrap_or(u32::MAX);
        let _ = permits.acquire_many(all).await;
        drop(responses);
        let _ = writer.await;
    }

    async fn respond(&self, frame: &[u8]) -> Option<Bytes> {
        let inner = &self.inner;
        match iso8583::decode_framed(&inner.spec, frame) {
            Ok((envelope, message)) => {
                inner.stats.requests.fetch_add(1, Ordering::Relaxed);
                let started = std::time::Instant::now();
                let request = tracing::enabled!(tracing::Level::INFO).then(|| message.clone());
                let answer = inner.handler.handle(envelope, message).await;
                if let Some(request) = &request {
                    crate::log::exchange(request, answer.as_ref().map(|(_, m)| m), started.elapsed());
                }
                let (envelope, message) = answer?;
                match iso8583::encode_framed(&message, &envelope) {
                    Ok(frame) => Some(Bytes::from(frame)),
                    Err(_) => {
                        inner.stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
            Err(error) => match format_error(&inner.spec, frame) {
                Some(response) => {
                    inner.stats.format_errors.fetch_add(1, Ordering::Relaxed);
                    crate::log::malformed(&error, true);
                    Some(response)
                }
                None => {
                    inner.stats.dropped_frames.fetch_add(1, Ordering::Relaxed);
                    crate::log::malformed(&error, false);
                    None
                }
            },
        }
    }
}

/// Resolves once shutdown is requested (or the server is gone). Returns nothing so no watch
/// guard is held across an await.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Write queued frames, flushing only when the queue is momentarily empty so bursts of responses
/// share system calls.
async fn write_loop<W: AsyncWrite + Unpin>(mut sink: FramedWrite<W, FrameCodec>, mut queue: mpsc::Receiver<Bytes>) {
    while let Some(frame) = queue.recv().await {
        if sink.feed(frame).await.is_err() {
            return;
        }
        while let Ok(frame) = queue.try_recv() {
            if sink.feed(frame).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
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
