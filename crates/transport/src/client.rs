//! The client side: one connection, many requests in flight, responses matched by key.
//!
//! The key defaults to the response MTI's first three digits (version, class, function: 0200 and
//! 0210 both give "021"), the STAN (field 11) and the originator (field 32 for the `network`
//! spec, field 41 otherwise); [`ClientConfig::match_key`] replaces it. At most `in_flight_max`
//! requests are pending; further calls wait for a slot, and the request timeout covers that wait,
//! so callers see backpressure as latency and then as [`TransportError::Timeout`], never as
//! unbounded memory. A response that matches nothing (late after a timeout, or unsolicited) goes
//! to a bounded channel of [`UnmatchedEvent`]s; if that channel is full the event is counted in
//! [`Client::unmatched_dropped`], so nothing disappears without a trace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use iso8583::{Envelope, Message, Spec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::codec::FrameCodec;
use crate::error::TransportError;

/// Default bound on pending requests per connection.
pub const IN_FLIGHT_MAX_DEFAULT: usize = 256;
/// Default bound on encoded requests waiting for the writer.
pub const WRITE_QUEUE_MAX_DEFAULT: usize = 256;
/// Default bound on unmatched events waiting for the application.
pub const UNMATCHED_QUEUE_MAX_DEFAULT: usize = 1024;
/// Default request timeout.
pub const TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// What pairs a response with its request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchKey {
    /// Version, class and function digits of the response MTI.
    pub mti_class: [u8; 3],
    pub stan: Vec<u8>,
    pub originator: Vec<u8>,
}

/// Computes the key of a request or of a response; `None` when it cannot.
pub type MatchKeyFn = Arc<dyn Fn(&Message) -> Option<MatchKey> + Send + Sync>;

/// The default key: response MTI class + field 11 + `originator_field`.
pub fn default_match_key(originator_field: u8) -> MatchKeyFn {
    Arc::new(move |message: &Message| {
        let mti = message.mti();
        let response = if mti.is_request() { mti.response()? } else { mti };
        let digits = response.as_bytes();
        Some(MatchKey {
            mti_class: [digits[0], digits[1], digits[2]],
            stan: message.get(11)?.to_vec(),
            originator: message.get(originator_field)?.to_vec(),
        })
    })
}

/// The default key for a spec: field 32 (acquirer) on `network`, field 41 (terminal) elsewhere.
pub fn default_match_key_for(spec: &Spec) -> MatchKeyFn {
    default_match_key(if spec.name == "network" { 32 } else { 41 })
}

#[derive(Clone)]
pub struct ClientConfig {
    pub in_flight_max: usize,
    pub write_queue_max: usize,
    pub unmatched_queue_max: usize,
    pub timeout: Duration,
    /// `None`: [`default_match_key_for`] the spec.
    pub match_key: Option<MatchKeyFn>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            in_flight_max: IN_FLIGHT_MAX_DEFAULT,
            write_queue_max: WRITE_QUEUE_MAX_DEFAULT,
            unmatched_queue_max: UNMATCHED_QUEUE_MAX_DEFAULT,
            timeout: TIMEOUT_DEFAULT,
            match_key: None,
        }
    }
}

/// Something the peer sent that no pending request was waiting for.
#[derive(Debug)]
pub enum UnmatchedEvent {
    /// A decoded message with no pending request: a response after its request timed out, a
    /// duplicate, or a message the peer initiated (e.g. an 0800 echo test).
    Unmatched { envelope: Envelope, message: Message },
    /// A frame that did not decode (the codec error names field and offset, never values).
    Undecodable { error: iso8583::Error },
}

type Pending = HashMap<MatchKey, (u64, oneshot::Sender<Message>)>;

struct Shared {
    pending: Mutex<Pending>,
    closed: AtomicBool,
    unmatched_dropped: AtomicU64,
    next_id: AtomicU64,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock cannot leave the map inconsistent (single operations).
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fail every pending request: dropping their senders wakes them with ConnectionClosed.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.pending().clear();
    }
}

/// A client over one connection. Cheap to clone; the connection closes when every clone is gone.
#[derive(Clone)]
pub struct Client {
    spec: Arc<Spec>,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    requests: mpsc::Sender<Bytes>,
    match_key: MatchKeyFn,
    timeout: Duration,
}

/// Removes a pending entry when a request ends for any reason (including its future being dropped).
struct PendingGuard<'a> {
    shared: &'a Shared,
    key: MatchKey,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = self.shared.pending();
        if pending.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            pending.remove(&self.key);
        }
    }
}

impl Client {
    /// Start a client over `stream`: spawns a reader and a writer task. Returns the client and the
    /// receiver of unmatched events.
    pub fn connect<S>(
        stream: S,
        spec: Arc<Spec>,
        config: ClientConfig,
    ) -> Result<(Client, mpsc::Receiver<UnmatchedEvent>), TransportError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let codec = FrameCodec::new(spec.framing.clone())?;
        let (read_half, write_half) = tokio::io::split(stream);
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::with_capacity(config.in_flight_max)),
            closed: AtomicBool::new(false),
            unmatched_dropped: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        });
        let match_key = config.match_key.clone().unwrap_or_else(|| default_match_key_for(&spec));
        let (requests, queue) = mpsc::channel(config.write_queue_max.max(1));
        let (events, unmatched) = mpsc::channel(config.unmatched_queue_max.max(1));
        tokio::spawn(write_loop(FramedWrite::new(write_half, codec.clone()), queue, Arc::clone(&shared)));
        tokio::spawn(read_loop(
            FramedRead::new(read_half, codec),
            Arc::clone(&spec),
            Arc::clone(&shared),
            Arc::clone(&match_key),
            events,
        ));
        let client = Client {
            spec,
            shared,
            slots: Arc::new(Semaphore::new(config.in_flight_max.max(1))),
            requests,
            match_key,
            timeout: config.timeout,
        };
        Ok((client, unmatched))
    }

    /// Responses that matched nothing and were dropped because the event channel was full.
    pub fn unmatched_dropped(&self) -> u64 {
        self.shared.unmatched_dropped.load(Ordering::Relaxed)
    }

    /// Requests currently waiting for a response.
    pub fn pending(&self) -> usize {
        self.shared.pending().len()
    }

    pub fn spec(&self) -> &Arc<Spec> {
        &self.spec
    }

    /// Send `message` in `envelope` without waiting for anything back: an answer to a request
    /// the peer initiated. Fails if the connection is gone or its queue stays full past the
    /// request timeout.
    pub async fn send(&self, envelope: &Envelope, message: &Message) -> Result<(), TransportError> {
        let frame = Bytes::from(iso8583::encode_framed(message, envelope).map_err(TransportError::Codec)?);
        match tokio::time::timeout(self.timeout, self.requests.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(TransportError::ConnectionClosed),
            Err(_) => Err(TransportError::Timeout),
        }
    }

    /// Send `message` with an empty envelope and wait for its response.
    pub async fn request(&self, message: &Message) -> Result<Message, TransportError> {
        self.request_with(&Envelope::default(), message).await
    }

    /// Send `message` in `envelope` and wait for its response, at most the configured timeout
    /// (waiting for an in-flight slot included).
    pub async fn request_with(&self, envelope: &Envelope, message: &Message) -> Result<Message, TransportError> {
        let key = (self.match_key)(message).ok_or(TransportError::NoMatchKey)?;
        let frame = Bytes::from(iso8583::encode_framed(message, envelope).map_err(TransportError::Codec)?);
        match tokio::time::timeout(self.timeout, self.exchange(key, frame)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout),
        }
    }

    async fn exchange(&self, key: MatchKey, frame: Bytes) -> Result<Message, TransportError> {
        let _slot = self.slots.acquire().await.map_err(|_| TransportError::ConnectionClosed)?;
        let (sender, receiver) = oneshot::channel();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut pending = self.shared.pending();
            if self.shared.closed.load(Ordering::SeqCst) {
                return Err(TransportError::ConnectionClosed);
            }
            if pending.contains_key(&key) {
                return Err(TransportError::DuplicateKey);
            }
            pending.insert(key.clone(), (id, sender));
        }
        let _guard = PendingGuard { shared: &self.shared, key, id };
        self.requests.send(frame).await.map_err(|_| TransportError::ConnectionClosed)?;
        receiver.await.map_err(|_| TransportError::ConnectionClosed)
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut sink: FramedWrite<W, FrameCodec>,
    mut queue: mpsc::Receiver<Bytes>,
    shared: Arc<Shared>,
) {
    use futures_util::SinkExt;
    'outer: while let Some(frame) = queue.recv().await {
        if sink.feed(frame).await.is_err() {
            break;
        }
        // Let the other requests of the party's batch, woken with this one, queue theirs before
        // the write: one system call carries them all.
        tokio::task::yield_now().await;
        while let Ok(frame) = queue.try_recv() {
            if sink.feed(frame).await.is_err() {
                break 'outer;
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
    shared.close();
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: FramedRead<R, FrameCodec>,
    spec: Arc<Spec>,
    shared: Arc<Shared>,
    match_key: MatchKeyFn,
    events: mpsc::Sender<UnmatchedEvent>,
) {
    // Ends on EOF, an I/O error or a lost frame boundary; pending requests then fail.
    while let Some(Ok(frame)) = reader.next().await {
        let event = match iso8583::decode_framed(&spec, &frame) {
            Ok((envelope, message)) => {
                let waiter = match_key(&message).and_then(|key| shared.pending().remove(&key));
                match waiter {
                    Some((_, sender)) => match sender.send(message) {
                        Ok(()) => continue,
                        // The request gave up between our lookup and now: it is late.
                        Err(message) => UnmatchedEvent::Unmatched { envelope, message },
                    },
                    None => UnmatchedEvent::Unmatched { envelope, message },
                }
            }
            Err(error) => UnmatchedEvent::Undecodable { error },
        };
        if events.try_send(event).is_err() {
            shared.unmatched_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    shared.close();
}
