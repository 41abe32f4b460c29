//! One connection: the reader loop with its deadlines and its garbage bound, and how it ends.
//!
//! * Idle timeout: no complete frame, and no request in flight, for `idle_timeout_ms` closes
//!   the connection (an idle echo every 60 s keeps a healthy session well inside the default).
//! * Read deadline: once the first byte of a frame has arrived, the frame must be complete
//!   within `frame_read_timeout_ms` — a client trickling bytes (slowloris) is closed.
//! * Write timeout: a peer that does not take our answers for `WRITE_TIMEOUT_MS` ends the
//!   writer; the reader sees the closed queue and closes the connection (a client sending
//!   requests and never reading would otherwise hold its slot and in-flight permits forever).
//! * Garbage: one malformed frame is answered or dropped and the connection lives on, but
//!   `malformed_streak_max` in a row without a well-formed one closes it. Malformed frames are
//!   logged through a [`LogBudget`]: the first, then one summary line per interval.
//!
//! Every close is logged with the peer's address and the reason.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use iso8583::{Envelope, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::FrameCodec;
use crate::error::TransportError;
use crate::limits::MALFORMED_LOG_INTERVAL_MS;
use crate::log_budget::LogBudget;
use crate::server::{Handler, Server, WriteEnd, format_error, stopped, write_loop};

/// Why a connection ended.
#[derive(Debug)]
enum Close {
    PeerClosed,
    Shutdown,
    IdleTimeout,
    FrameReadTimeout,
    /// The frame boundary was lost (unreadable or oversize length prefix) or the socket failed.
    Failed(TransportError),
    Garbage(u32),
    /// The writer ended before the reader: the peer stopped reading (or its socket failed).
    WriterGone,
    WriteTimeout,
}

/// What waiting for the next frame gave.
enum Next {
    Frame(Bytes),
    End(Close),
}

/// When the current wait ends: the idle deadline from the last complete frame, or the read
/// deadline from the first byte of a frame still incomplete.
struct Deadlines {
    idle: Duration,
    frame: Duration,
    last_frame: Instant,
    frame_started: Option<Instant>,
}

/// Counts a connection as open for as long as it lives.
struct OpenGauge<'a>(&'a AtomicU64);

impl Drop for OpenGauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<H: Handler> Server<H> {
    /// Serve one connection until the peer closes it, it fails, breaks a bound, or the server
    /// shuts down. A stream without a peer address (in memory) is logged as `-`.
    pub async fn serve_connection<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_peer(stream, None).await;
    }

    pub(crate) async fn serve_peer<S>(&self, stream: S, peer: Option<SocketAddr>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let inner = &self.inner;
        inner.stats.connections.fetch_add(1, Ordering::Relaxed);
        inner.stats.connections_open.fetch_add(1, Ordering::Relaxed);
        let _open = OpenGauge(&inner.stats.connections_open);
        let codec = match FrameCodec::new(inner.spec.framing.clone()) {
            Ok(codec) => codec,
            Err(_) => {
                inner.stats.connection_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let started = Instant::now();
        let (read_half, write_half) = tokio::io::split(stream);
        let mut reader = FramedRead::new(read_half, codec.clone());
        let (responses, queue) = mpsc::channel::<Bytes>(inner.config.write_queue_max);
        let number = inner.next_connection.fetch_add(1, Ordering::Relaxed);
        inner.open_connections().insert(number, responses.clone());
        let permits = Arc::new(Semaphore::new(inner.config.in_flight_max));
        let mut writer = tokio::spawn(write_loop(FramedWrite::new(write_half, codec), queue));
        let mut close = self.read_loop(&mut reader, &responses, &permits, peer).await;
        let writer_ended = matches!(close, Close::WriterGone);
        if writer_ended && (&mut writer).await.unwrap_or(WriteEnd::Failed) == WriteEnd::TimedOut {
            close = Close::WriteTimeout;
        }
        self.count_close(&close);
        tracing::info!(
            target: "cardnet::transport",
            peer = %crate::log::peer(peer),
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "connection closed: {}",
            reason(&close)
        );
        // Drain: every permit back means every in-flight request has queued its response.
        let all = u32::try_from(inner.config.in_flight_max).unwrap_or(u32::MAX);
        let _ = permits.acquire_many(all).await;
        inner.open_connections().remove(&number);
        drop(responses);
        if !writer_ended {
            let _ = writer.await;
        }
    }

    /// Read frames and hand them out until the connection ends; say why.
    async fn read_loop<R: AsyncRead + Unpin>(
        &self,
        reader: &mut FramedRead<R, FrameCodec>,
        responses: &mpsc::Sender<Bytes>,
        permits: &Arc<Semaphore>,
        peer: Option<SocketAddr>,
    ) -> Close {
        let inner = &self.inner;
        let mut shutdown = inner.shutdown.subscribe();
        let mut deadlines = Deadlines {
            idle: Duration::from_millis(inner.config.idle_timeout_ms),
            frame: Duration::from_millis(inner.config.frame_read_timeout_ms),
            last_frame: Instant::now(),
            frame_started: None,
        };
        let mut malformed_log = LogBudget::new(Duration::from_millis(MALFORMED_LOG_INTERVAL_MS), 1);
        let mut streak = 0u32;
        let in_flight_max = inner.config.in_flight_max;
        let close = loop {
            let permit = tokio::select! {
                permit = Arc::clone(permits).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break Close::Shutdown,
                },
                _ = stopped(&mut shutdown) => break Close::Shutdown,
                () = responses.closed() => break Close::WriterGone,
            };
            // This loop holds one permit while it reads; any other taken one is a request in flight.
            let busy = || permits.available_permits() + 1 < in_flight_max;
            let next = tokio::select! {
                next = next_frame(reader, &mut deadlines, busy) => next,
                _ = stopped(&mut shutdown) => break Close::Shutdown,
                () = responses.closed() => break Close::WriterGone,
            };
            let frame = match next {
                Next::Frame(frame) => frame,
                Next::End(close) => break close,
            };
            let response = match iso8583::decode_framed(&inner.spec, &frame) {
                Ok((envelope, message)) => {
                    streak = 0;
                    inner.stats.requests.fetch_add(1, Ordering::Relaxed);
                    Outgoing::Answer(envelope, message)
                }
                Err(error) => {
                    streak = streak.saturating_add(1);
                    self.malformed(&frame, &error, &mut malformed_log, peer)
                }
            };
            if !matches!(response, Outgoing::Nothing) {
                let server = self.clone();
                let responses = responses.clone();
                tokio::spawn(async move {
                    if let Some(response) = server.outgoing(response).await {
                        // A closed writer means the connection is gone; nothing to answer.
                        if responses.send(response).await.is_ok() {
                            server.inner.stats.responses.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    drop(permit);
                });
            }
            if streak >= inner.config.malformed_streak_max {
                break Close::Garbage(streak);
            }
        };
        if let Some((count, over)) = malformed_log.take_suppressed(Instant::now()) {
            crate::log::malformed_summary(peer, count, over);
        }
        close
    }

    /// A frame that did not decode: counted, logged within the budget, answered 39 = 30 when
    /// its MTI can be read and it is a request.
    fn malformed(
        &self,
        frame: &[u8],
        error: &iso8583::Error,
        log: &mut LogBudget,
        peer: Option<SocketAddr>,
    ) -> Outgoing {
        let stats = &self.inner.stats;
        let response = format_error(&self.inner.spec, frame);
        let counter = if response.is_some() { &stats.format_errors } else { &stats.dropped_frames };
        counter.fetch_add(1, Ordering::Relaxed);
        let verdict = log.event(Instant::now());
        if let Some((count, over)) = verdict.summary {
            crate::log::malformed_summary(peer, count, over);
        }
        if verdict.log {
            crate::log::malformed(peer, error, response.is_some());
        }
        response.map_or(Outgoing::Nothing, Outgoing::Ready)
    }

    /// The bytes to send for one frame read.
    async fn outgoing(&self, outgoing: Outgoing) -> Option<Bytes> {
        match outgoing {
            Outgoing::Answer(envelope, message) => self.answer(envelope, message).await,
            Outgoing::Ready(bytes) => Some(bytes),
            Outgoing::Nothing => None,
        }
    }

    /// Hand a well-formed request to the handler, log the exchange, encode the answer.
    async fn answer(&self, envelope: Envelope, message: Message) -> Option<Bytes> {
        let inner = &self.inner;
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

    fn count_close(&self, close: &Close) {
        let stats = &self.inner.stats;
        let counter = match close {
            Close::PeerClosed | Close::Shutdown => return,
            Close::IdleTimeout => &stats.timed_out_idle,
            Close::FrameReadTimeout => &stats.timed_out_read,
            Close::Failed(_) => &stats.connection_errors,
            Close::Garbage(_) => &stats.closed_garbage,
            Close::WriterGone => &stats.connection_errors,
            Close::WriteTimeout => &stats.timed_out_write,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a frame read leads to: a request for the handler, a ready answer (format error), or
/// nothing (a frame that could not be answered).
enum Outgoing {
    Answer(Envelope, Message),
    Ready(Bytes),
    Nothing,
}

/// The reason as the log line words it.
fn reason(close: &Close) -> String {
    match close {
        Close::PeerClosed => "closed by the peer".into(),
        Close::Shutdown => "server shutting down".into(),
        Close::IdleTimeout => "idle timeout".into(),
        Close::FrameReadTimeout => "frame read timeout (a frame started and did not complete)".into(),
        Close::Failed(error) => format!("failed: {error}"),
        Close::Garbage(streak) => format!("garbage: {streak} malformed frames in a row"),
        Close::WriterGone => "failed while writing".into(),
        Close::WriteTimeout => "write timeout (the peer does not read its answers)".into(),
    }
}

/// The next complete frame, or why there is none: end of stream, a framing or socket error,
/// the idle deadline (only while nothing is in flight: `busy`), or the frame read deadline.
/// Cancel-safe: the partial frame stays in `reader`'s buffer and its start in `deadlines`.
async fn next_frame<R: AsyncRead + Unpin>(
    reader: &mut FramedRead<R, FrameCodec>,
    deadlines: &mut Deadlines,
    busy: impl Fn() -> bool,
) -> Next {
    let sleep = tokio::time::sleep_until(deadlines.last_frame + deadlines.idle);
    tokio::pin!(sleep);
    poll_fn(|cx| {
        match reader.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                deadlines.last_frame = Instant::now();
                deadlines.frame_started = None;
                return Poll::Ready(Next::Frame(frame));
            }
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Next::End(Close::Failed(error))),
            Poll::Ready(None) => return Poll::Ready(Next::End(Close::PeerClosed)),
            Poll::Pending => {}
        }
        let now = Instant::now();
        if deadlines.frame_started.is_none() && !reader.read_buffer().is_empty() {
            deadlines.frame_started = Some(now);
        }
        loop {
            let (deadline, on_expiry) = match deadlines.frame_started {
                Some(started) => (started + deadlines.frame, Close::FrameReadTimeout),
                None => (deadlines.last_frame + deadlines.idle, Close::IdleTimeout),
            };
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if matches!(on_expiry, Close::IdleTimeout) && busy() {
                // Waiting for our own answers is not idleness: count from now.
                deadlines.last_frame = now;
                continue;
            }
            return Poll::Ready(Next::End(on_expiry));
        }
    })
    .await
}
