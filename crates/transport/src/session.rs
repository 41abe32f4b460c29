//! A managed client connection: connect, sign on, report ready, keep the link alive, reconnect.
//!
//! [`Session`] owns one [`Client`] at a time, made from a [`Connector`] (TCP, TLS, or an in-memory
//! pipe in tests). Its life is published on a `watch` channel of [`SessionState`]s:
//!
//! `Connecting → SigningOn → Ready → (link lost) → Backoff { attempt } → Connecting → …`
//!
//! * **Ready means signed on.** The session is `Ready` only after an 0800/001 is answered with
//!   39 = 00; [`Session::request`] waits for `Ready` within its timeout. (jPOS pain point: no
//!   ready indicator.)
//! * **No echo storms.** An 0800/301 echo goes out only after the link has been idle (no request
//!   sent or answered) for `echo_idle`, one at a time from the supervisor task, so at most one is
//!   ever outstanding. An echo that is not answered within `echo_timeout` means the link is dead:
//!   it is dropped and reconnected, not echoed again.
//! * **Bounded backoff.** After a failed connect or sign-on, or a lost link, the session waits
//!   `min(backoff_max, backoff_min · 2^(attempt-1))` with jitter (between half and all of it)
//!   before reconnecting. A successful sign-on resets the attempt count.
//! * **Graceful close** ([`Session::close`]) sends an 0800/002 sign-off when the link is up.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iso8583::{Message, Spec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{Client, ClientConfig, UnmatchedEvent};
use crate::error::TransportError;
use crate::netmgmt::{self, Institution, NetworkCode};

/// Shortest pause before reconnecting (first attempt, before jitter).
pub const BACKOFF_MS_MIN: u64 = 100;
/// Longest pause before reconnecting.
pub const BACKOFF_MS_MAX: u64 = 30_000;
/// Idle time after which an echo test is sent.
pub const ECHO_IDLE_MS: u64 = 60_000;
/// Time an echo test (and a sign-on) may take before the link is considered dead.
pub const ECHO_TIMEOUT_MS: u64 = 10_000;
/// Time a connect plus sign-on may take.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Time a sign-off may take on close.
pub const SIGN_OFF_TIMEOUT_MS: u64 = 2_000;

/// Where streams come from: TCP, TLS, or an in-memory pipe.
pub trait Connector: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn connect(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Connects over TCP to a fixed address, with `TCP_NODELAY`.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    pub addr: SocketAddr,
}

impl Connector for TcpConnector {
    type Stream = tokio::net::TcpStream;

    async fn connect(&self) -> io::Result<tokio::net::TcpStream> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Opening the stream.
    Connecting,
    /// Stream open, 0800/001 sent, waiting for the approval.
    SigningOn,
    /// Signed on: requests go out.
    Ready,
    /// Waiting before reconnect attempt `attempt` (1 after the first failure).
    Backoff { attempt: u32 },
    /// Closed by [`Session::close`] (or the session was dropped).
    Closed,
}

#[derive(Clone)]
pub struct SessionConfig {
    pub spec: Arc<Spec>,
    /// Fields 32 and 33 of the network management requests.
    pub institution: Institution,
    /// Configuration of each connection's client; its `timeout` is also the time
    /// [`Session::request`] waits for `Ready` plus the response.
    pub client: ClientConfig,
    pub backoff_ms_min: u64,
    pub backoff_ms_max: u64,
    pub echo_idle_ms: u64,
    pub echo_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

impl SessionConfig {
    pub fn new(spec: Arc<Spec>, institution: Institution) -> SessionConfig {
        SessionConfig {
            spec,
            institution,
            client: ClientConfig::default(),
            backoff_ms_min: BACKOFF_MS_MIN,
            backoff_ms_max: BACKOFF_MS_MAX,
            echo_idle_ms: ECHO_IDLE_MS,
            echo_timeout_ms: ECHO_TIMEOUT_MS,
            connect_timeout_ms: CONNECT_TIMEOUT_MS,
        }
    }
}

/// The backoff ceiling before attempt `attempt` (1-based): `min · 2^(attempt-1)`, capped at `max`.
pub fn backoff_ceiling_ms(attempt: u32, min: u64, max: u64) -> u64 {
    let shift = attempt.saturating_sub(1).min(32);
    min.max(1).saturating_mul(1u64 << shift).min(max.max(min))
}

/// The pause before attempt `attempt`: uniformly between half the ceiling and the ceiling, so
/// many clients cut off at once do not reconnect in lockstep.
pub fn backoff_ms(attempt: u32, min: u64, max: u64, random: u64) -> u64 {
    let ceiling = backoff_ceiling_ms(attempt, min, max);
    let half = ceiling / 2;
    half + random % (ceiling - half + 1)
}

/// Counters, readable while the session runs.
#[derive(Debug, Default)]
pub struct SessionStats {
    /// Connections opened (successful connects).
    pub connects: AtomicU64,
    /// Sign-ons approved.
    pub sign_ons: AtomicU64,
    /// Echo tests sent.
    pub echoes: AtomicU64,
    /// Echo tests unanswered in time (each one dropped the link).
    pub echo_failures: AtomicU64,
    /// Messages from the peer that matched no request (ignored by the session).
    pub unmatched: AtomicU64,
    /// Network management requests the peer sent (answered 0810 by the session).
    pub peer_requests: AtomicU64,
    /// Cut-overs (0800, 70 = 201) received.
    pub cutovers: AtomicU64,
}

struct Shared {
    config: SessionConfig,
    state: watch::Sender<SessionState>,
    client: Mutex<Option<Client>>,
    /// Last request sent or answered, or link up; the echo timer counts from here.
    activity: Mutex<Instant>,
    stan: AtomicU32,
    stats: SessionStats,
    close: watch::Sender<bool>,
    /// The business date (`MMDD`) of the peer's last cut-over.
    business_date: Mutex<Option<String>>,
}

impl Shared {
    fn client(&self) -> MutexGuard<'_, Option<Client>> {
        self.client.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn touch(&self) {
        *self.activity.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
    }

    fn last_activity(&self) -> Instant {
        *self.activity.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next_stan(&self) -> u32 {
        // STANs 000001..=999999.
        self.stan.fetch_add(1, Ordering::Relaxed) % 999_999 + 1
    }

    fn netmgmt(&self, code: NetworkCode) -> Result<Message, TransportError> {
        netmgmt::request(&self.config.spec, code, self.next_stan(), &self.config.institution)
            .map_err(TransportError::Codec)
    }
}

/// A managed, self-healing client connection. Cheap to clone; [`Session::close`] stops it.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    _stop: Arc<StopOnDrop>,
}

/// Stops the supervisor (without waiting for a sign-off answer) when the last clone is dropped.
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

impl Session {
    /// Start connecting in the background; watch [`Session::state`] or call [`Session::ready`].
    pub fn start<C: Connector>(connector: C, config: SessionConfig) -> Session {
        let (state, _) = watch::channel(SessionState::Connecting);
        let (close, _) = watch::channel(false);
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let shared = Arc::new(Shared {
            config,
            state,
            client: Mutex::new(None),
            activity: Mutex::new(Instant::now()),
            stan: AtomicU32::new(seed % 999_999),
            stats: SessionStats::default(),
            close,
            business_date: Mutex::new(None),
        });
        let stop = Arc::new(StopOnDrop(shared.close.clone()));
        let task = tokio::spawn(supervise(connector, Arc::clone(&shared), u64::from(seed) | 1));
        Session { shared, task: Arc::new(Mutex::new(Some(task))), _stop: stop }
    }

    /// The current state and its changes.
    pub fn state(&self) -> watch::Receiver<SessionState> {
        self.shared.state.subscribe()
    }

    pub fn stats(&self) -> &SessionStats {
        &self.shared.stats
    }

    /// The business date (`MMDD`, field 15) the peer announced in its last cut-over, if any.
    pub fn business_date(&self) -> Option<String> {
        self.shared.business_date.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Wait until the session is `Ready` (signed on). Fails with `ConnectionClosed` if it closes.
    pub async fn ready(&self) -> Result<(), TransportError> {
        let mut state = self.state();
        let reached = state
            .wait_for(|s| matches!(s, SessionState::Ready | SessionState::Closed))
            .await
            .map(|s| *s)
            .map_err(|_| TransportError::ConnectionClosed)?;
        match reached {
            SessionState::Ready => Ok(()),
            _ => Err(TransportError::ConnectionClosed),
        }
    }

    /// Send a request once the session is ready and wait for its response; waiting for `Ready`
    /// and for the response share the client timeout.
    pub async fn request(&self, message: &Message) -> Result<Message, TransportError> {
        let timeout = self.shared.config.client.timeout;
        match tokio::time::timeout(timeout, self.request_when_ready(message)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout),
        }
    }

    async fn request_when_ready(&self, message: &Message) -> Result<Message, TransportError> {
        loop {
            self.ready().await?;
            let client = self.shared.client().clone();
            // The link may have dropped between the state change and now: wait again.
            let Some(client) = client else { continue };
            self.shared.touch();
            let result = client.request(message).await;
            self.shared.touch();
            return result;
        }
    }

    /// Sign off (0800/002) if signed on, close the link and stop reconnecting.
    pub async fn close(&self) {
        self.shared.close.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn supervise<C: Connector>(connector: C, shared: Arc<Shared>, mut random: u64) {
    let mut close = shared.close.subscribe();
    let mut attempt: u32 = 0;
    loop {
        if *close.borrow() {
            break;
        }
        shared.state.send_replace(SessionState::Connecting);
        let connect_timeout = Duration::from_millis(shared.config.connect_timeout_ms);
        let link = tokio::select! {
            _ = closed(&mut close) => break,
            result = tokio::time::timeout(connect_timeout, connect_and_sign_on(&connector, &shared)) => match result {
                Ok(Ok(link)) => Some(link),
                _ => None,
            },
        };
        if let Some((client, events)) = link {
            attempt = 0;
            shared.stats.sign_ons.fetch_add(1, Ordering::Relaxed);
            let graceful = run_ready(&shared, &mut close, client, events).await;
            if graceful {
                break;
            }
        }
        attempt = attempt.saturating_add(1);
        shared.state.send_replace(SessionState::Backoff { attempt });
        random = xorshift(random);
        let pause = backoff_ms(attempt, shared.config.backoff_ms_min, shared.config.backoff_ms_max, random);
        tokio::select! {
            _ = closed(&mut close) => break,
            _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
        }
    }
    *shared.client() = None;
    shared.state.send_replace(SessionState::Closed);
}

type Link = (Client, mpsc::Receiver<UnmatchedEvent>);

async fn connect_and_sign_on<C: Connector>(connector: &C, shared: &Shared) -> Result<Link, TransportError> {
    let stream = connector.connect().await?;
    shared.stats.connects.fetch_add(1, Ordering::Relaxed);
    let (client, events) = Client::connect(stream, Arc::clone(&shared.config.spec), shared.config.client.clone())?;
    shared.state.send_replace(SessionState::SigningOn);
    let sign_on = shared.netmgmt(NetworkCode::SignOn)?;
    let echo_timeout = Duration::from_millis(shared.config.echo_timeout_ms);
    let response =
        tokio::time::timeout(echo_timeout, client.request(&sign_on)).await.map_err(|_| TransportError::Timeout)??;
    if !netmgmt::is_approved(&response) {
        return Err(TransportError::ConnectionClosed);
    }
    Ok((client, events))
}

/// Serve requests on a signed-on link until it is lost (`false`) or the session is closed
/// (`true`, after a sign-off).
async fn run_ready(
    shared: &Shared,
    close: &mut watch::Receiver<bool>,
    client: Client,
    mut events: mpsc::Receiver<UnmatchedEvent>,
) -> bool {
    *shared.client() = Some(client.clone());
    shared.touch();
    shared.state.send_replace(SessionState::Ready);
    let idle = Duration::from_millis(shared.config.echo_idle_ms);
    let echo_timeout = Duration::from_millis(shared.config.echo_timeout_ms);
    let graceful = loop {
        let due = shared.last_activity() + idle;
        tokio::select! {
            _ = closed(close) => {
                if let Ok(sign_off) = shared.netmgmt(NetworkCode::SignOff) {
                    let _ = tokio::time::timeout(Duration::from_millis(SIGN_OFF_TIMEOUT_MS), client.request(&sign_off)).await;
                }
                break true;
            }
            event = events.recv() => match event {
                // The reader ended: the link is gone.
                None => break false,
                Some(UnmatchedEvent::Unmatched { envelope, message }) if netmgmt::is_request(&message) => {
                    answer_peer(shared, &client, &envelope, &message).await;
                }
                Some(_) => {
                    shared.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                }
            },
            _ = tokio::time::sleep_until(due) => {
                // Traffic since the timer was set pushes the echo back.
                if shared.last_activity() + idle > Instant::now() {
                    continue;
                }
                let Ok(echo) = shared.netmgmt(NetworkCode::Echo) else { break false };
                shared.stats.echoes.fetch_add(1, Ordering::Relaxed);
                // Awaited here, in the only task that sends echoes: never two outstanding.
                match tokio::time::timeout(echo_timeout, client.request(&echo)).await {
                    Ok(Ok(_)) => shared.touch(),
                    _ => {
                        shared.stats.echo_failures.fetch_add(1, Ordering::Relaxed);
                        break false;
                    }
                }
            }
        }
    };
    *shared.client() = None;
    // Dropping the last clone of the client closes the connection.
    drop(client);
    graceful
}

/// A network management request the peer initiated (the network's cut-over, an echo test):
/// answered 0810 with 00; a cut-over's new business date (field 15) kept for
/// [`Session::business_date`].
async fn answer_peer(shared: &Shared, client: &Client, envelope: &iso8583::Envelope, request: &Message) {
    shared.stats.peer_requests.fetch_add(1, Ordering::Relaxed);
    shared.touch();
    if NetworkCode::of(request) == Some(NetworkCode::CutOver) {
        shared.stats.cutovers.fetch_add(1, Ordering::Relaxed);
        let date = request.get_str(15).map(str::to_owned);
        tracing::info!(target: "cardnet::transport", date = date.as_deref().unwrap_or("-"), "cut-over: a new business date");
        *shared.business_date.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = date;
    }
    let Some(answer) = netmgmt::answer(request) else { return };
    if let Err(error) = client.send(envelope, &answer).await {
        tracing::warn!(target: "cardnet::transport", %error, "cannot answer the peer's network management request");
    }
}

/// Resolves once close is requested (or the session is gone).
async fn closed(close: &mut watch::Receiver<bool>) {
    let _ = close.wait_for(|stop| *stop).await;
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ceiling_ms(1, 100, 1000), 100);
        assert_eq!(backoff_ceiling_ms(2, 100, 1000), 200);
        assert_eq!(backoff_ceiling_ms(4, 100, 1000), 800);
        assert_eq!(backoff_ceiling_ms(5, 100, 1000), 1000);
        assert_eq!(backoff_ceiling_ms(u32::MAX, 100, 1000), 1000);
        let mut random = 1;
        for attempt in 1..40 {
            random = xorshift(random);
            let pause = backoff_ms(attempt, 100, 1000, random);
            let ceiling = backoff_ceiling_ms(attempt, 100, 1000);
            assert!(pause >= ceiling / 2 && pause <= ceiling, "{attempt}: {pause}");
        }
    }
}
