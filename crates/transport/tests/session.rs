//! The managed session: sign-on before ready, reconnect with backoff, idle echo without storms.
//! Most tests run on paused tokio time over in-memory pipes to an in-process `Server`; one runs
//! over loopback TCP on the real clock.

mod common;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{purchase, spec};
use iso8583::{Envelope, Message};
use tokio::sync::watch;
use tokio::time::Instant;
use transport::netmgmt::{self, NetworkCode};
use transport::session::SessionStats;
use transport::{
    ClientConfig, Connector, Handler, Institution, Server, ServerConfig, Session, SessionConfig, SessionState,
    TcpConnector, TransportError,
};

/// What the test server saw and how it behaves.
#[derive(Default)]
struct Peer {
    sign_ons: AtomicUsize,
    sign_offs: AtomicUsize,
    echoes: AtomicUsize,
    financial: AtomicUsize,
    /// Answer sign-ons with 91 instead of 00.
    refuse_sign_on: AtomicBool,
    /// Do not answer echo tests.
    mute_echo: AtomicBool,
    /// Echo tests unanswered at the moment (checked for storms).
    echo_outstanding: AtomicUsize,
    echo_outstanding_peak: AtomicUsize,
}

#[derive(Clone)]
struct PeerHandler(Arc<Peer>);

impl Handler for PeerHandler {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let peer = &self.0;
        match NetworkCode::of(&message) {
            Some(NetworkCode::SignOn) => {
                peer.sign_ons.fetch_add(1, Ordering::SeqCst);
                let code = if peer.refuse_sign_on.load(Ordering::SeqCst) { "91" } else { "00" };
                return netmgmt::answer_with(&message, code).map(|m| (envelope.response(), m));
            }
            Some(NetworkCode::SignOff) => {
                peer.sign_offs.fetch_add(1, Ordering::SeqCst);
            }
            Some(NetworkCode::Echo) => {
                peer.echoes.fetch_add(1, Ordering::SeqCst);
                let now = peer.echo_outstanding.fetch_add(1, Ordering::SeqCst) + 1;
                peer.echo_outstanding_peak.fetch_max(now, Ordering::SeqCst);
                if peer.mute_echo.load(Ordering::SeqCst) {
                    // Never answered; the connection's shutdown drops this future.
                    std::future::pending::<()>().await;
                }
                peer.echo_outstanding.fetch_sub(1, Ordering::SeqCst);
            }
            Some(NetworkCode::KeyChange | NetworkCode::CutOver) | None => {}
        }
        if netmgmt::is_request(&message) {
            return netmgmt::answer(&message).map(|m| (envelope.response(), m));
        }
        peer.financial.fetch_add(1, Ordering::SeqCst);
        let mut response = message.response(&[3, 4, 7, 11, 32, 41]).ok()?;
        response.set_str(39, "00").ok()?;
        Some((envelope.response(), response))
    }
}

/// An in-memory network: each connect gets a fresh pipe to the current server. `restart` drops
/// every open connection; `down` refuses connects.
struct Net {
    peer: Arc<Peer>,
    server: Mutex<Server<PeerHandler>>,
    down: AtomicBool,
    connects: AtomicUsize,
    /// Time of every connect attempt, refused ones included.
    attempts: Mutex<Vec<Instant>>,
}

impl Net {
    fn new() -> Arc<Net> {
        let peer = Arc::new(Peer::default());
        let server = Server::new(spec(), PeerHandler(Arc::clone(&peer)), ServerConfig::default());
        Arc::new(Net {
            peer,
            server: Mutex::new(server),
            down: AtomicBool::new(false),
            connects: AtomicUsize::new(0),
            attempts: Mutex::new(Vec::new()),
        })
    }

    fn restart(&self) {
        let fresh = Server::new(spec(), PeerHandler(Arc::clone(&self.peer)), ServerConfig::default());
        let old = std::mem::replace(&mut *self.server.lock().unwrap(), fresh);
        old.shutdown();
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.restart();
        }
    }
}

#[derive(Clone)]
struct PipeConnector(Arc<Net>);

impl Connector for PipeConnector {
    type Stream = tokio::io::DuplexStream;

    async fn connect(&self) -> io::Result<tokio::io::DuplexStream> {
        self.0.attempts.lock().unwrap().push(Instant::now());
        if self.0.down.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "down"));
        }
        self.0.connects.fetch_add(1, Ordering::SeqCst);
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let server = self.0.server.lock().unwrap().clone();
        tokio::spawn(async move { server.serve_connection(server_end).await });
        Ok(client_end)
    }
}

fn config() -> SessionConfig {
    let mut config = SessionConfig::new(spec(), Institution::new("123456"));
    config.client = ClientConfig { timeout: Duration::from_millis(5_000), ..Default::default() };
    config.backoff_ms_min = 100;
    config.backoff_ms_max = 1_600;
    config.echo_idle_ms = 1_000;
    config.echo_timeout_ms = 500;
    config
}

async fn wait_state(state: &mut watch::Receiver<SessionState>, want: SessionState) {
    tokio::time::timeout(Duration::from_secs(600), state.wait_for(|s| *s == want)).await.unwrap().unwrap();
}

/// Record every state the session goes through.
fn record(session: &Session) -> Arc<Mutex<Vec<SessionState>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut state = session.state();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            log.lock().unwrap().push(*state.borrow_and_update());
            if state.changed().await.is_err() {
                break;
            }
        }
    });
    seen
}

fn sign_ons(stats: &SessionStats) -> u64 {
    stats.sign_ons.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn ready_only_after_sign_on() {
    let net = Net::new();
    net.peer.refuse_sign_on.store(true, Ordering::SeqCst);
    let session = Session::start(PipeConnector(Arc::clone(&net)), config());
    let seen = record(&session);
    let mut state = session.state();
    // A refused sign-on is a failure: backoff, not ready.
    wait_state(&mut state, SessionState::Backoff { attempt: 1 }).await;
    assert!(net.peer.sign_ons.load(Ordering::SeqCst) >= 1);
    assert!(!seen.lock().unwrap().contains(&SessionState::Ready));
    // A request waits for Ready and fails at its timeout while sign-on is refused.
    let started = Instant::now();
    assert!(matches!(session.request(&purchase(1)).await, Err(TransportError::Timeout)));
    assert_eq!(started.elapsed(), Duration::from_millis(5_000));
    assert_eq!(net.peer.financial.load(Ordering::SeqCst), 0);
    net.peer.refuse_sign_on.store(false, Ordering::SeqCst);
    let response = session.request(&purchase(2)).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"));
    let states = seen.lock().unwrap().clone();
    let ready = states.iter().position(|s| *s == SessionState::Ready).unwrap();
    assert_eq!(states[ready - 1], SessionState::SigningOn, "{states:?}");
    assert_eq!(sign_ons(session.stats()), 1);
    session.close().await;
    assert_eq!(*session.state().borrow(), SessionState::Closed);
    assert_eq!(net.peer.sign_offs.load(Ordering::SeqCst), 1, "sign-off on graceful close");
}

#[tokio::test(start_paused = true)]
async fn server_restart_reconnects_and_is_ready_again() {
    let net = Net::new();
    let session = Session::start(PipeConnector(Arc::clone(&net)), config());
    session.ready().await.unwrap();
    assert!(session.request(&purchase(1)).await.is_ok());
    let mut state = session.state();
    net.restart();
    wait_state(&mut state, SessionState::Backoff { attempt: 1 }).await;
    wait_state(&mut state, SessionState::Ready).await;
    assert_eq!(net.connects.load(Ordering::SeqCst), 2);
    assert_eq!(net.peer.sign_ons.load(Ordering::SeqCst), 2);
    assert!(session.request(&purchase(2)).await.is_ok());
    session.close().await;
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_and_is_capped() {
    let net = Net::new();
    let session = Session::start(PipeConnector(Arc::clone(&net)), config());
    session.ready().await.unwrap();
    let mut state = session.state();
    net.set_down(true);
    wait_state(&mut state, SessionState::Backoff { attempt: 9 }).await;
    let attempts = net.attempts.lock().unwrap().clone();
    // attempts[0] is the first (successful) connect; then one refused attempt per backoff.
    let gaps: Vec<u64> = attempts.windows(2).skip(1).map(|w| (w[1] - w[0]).as_millis() as u64).collect();
    assert!(gaps.len() >= 7, "{gaps:?}");
    for (i, gap) in gaps.iter().enumerate() {
        // Gap i follows failure i + 2 (the lost link was failure 1): ceiling 100 · 2^(i+1), cap 1600.
        let ceiling = (100u64 << (i + 1)).min(1_600);
        assert!(*gap >= ceiling / 2 && *gap <= ceiling, "gap {i} = {gap} ms, ceiling {ceiling}: {gaps:?}");
    }
    assert!(gaps[5..].iter().all(|gap| *gap <= 1_600), "capped: {gaps:?}");
    net.set_down(false);
    wait_state(&mut state, SessionState::Ready).await;
    session.close().await;
}

#[tokio::test(start_paused = true)]
async fn idle_echo_once_per_idle_period_and_not_during_traffic() {
    let net = Net::new();
    let session = Session::start(PipeConnector(Arc::clone(&net)), config());
    session.ready().await.unwrap();
    let ready_at = Instant::now();
    // Traffic every 400 ms for 4 s: the link is never idle for 1 s, so no echo.
    for stan in 0..10 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(session.request(&purchase(stan)).await.is_ok());
    }
    assert_eq!(net.peer.echoes.load(Ordering::SeqCst), 0, "no echo while traffic flows");
    // Idle for 10.5 s after the last request: one echo per second of idleness, not more.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let echoes = net.peer.echoes.load(Ordering::SeqCst);
    assert_eq!(echoes, 10, "one echo per idle period (elapsed {:?})", ready_at.elapsed());
    assert_eq!(net.peer.echo_outstanding_peak.load(Ordering::SeqCst), 1);
    assert_eq!(session.stats().echo_failures.load(Ordering::SeqCst), 0);
    assert_eq!(net.connects.load(Ordering::SeqCst), 1, "no reconnect");
    session.close().await;
}

#[tokio::test(start_paused = true)]
async fn unanswered_echo_reconnects_without_storm() {
    let net = Net::new();
    let session = Session::start(PipeConnector(Arc::clone(&net)), config());
    session.ready().await.unwrap();
    net.peer.mute_echo.store(true, Ordering::SeqCst);
    let mut state = session.state();
    let started = Instant::now();
    wait_state(&mut state, SessionState::Backoff { attempt: 1 }).await;
    // Idle 1 s, then the echo times out after 500 ms: the link is dropped, not echoed again.
    assert_eq!(started.elapsed(), Duration::from_millis(1_500));
    assert_eq!(net.peer.echoes.load(Ordering::SeqCst), 1);
    assert_eq!(net.peer.echo_outstanding_peak.load(Ordering::SeqCst), 1);
    assert_eq!(session.stats().echo_failures.load(Ordering::SeqCst), 1);
    net.peer.mute_echo.store(false, Ordering::SeqCst);
    wait_state(&mut state, SessionState::Ready).await;
    assert_eq!(net.connects.load(Ordering::SeqCst), 2);
    session.close().await;
}

// SO_REUSEPORT (below) is a Unix socket option.
#[cfg(unix)]
#[tokio::test]
async fn tcp_loopback_restart() {
    let peer = Arc::new(Peer::default());
    // The peer comes back on the same address. A second socket bound to it (SO_REUSEPORT) but
    // not listening holds the port meanwhile, so nobody else can take it between the stop and
    // the restart; until it listens, connections are refused as if nothing were there.
    let socket = || {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseport(true).unwrap();
        socket
    };
    let first = socket();
    first.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = first.local_addr().unwrap();
    let later = socket();
    later.bind(addr).unwrap();
    let listener = first.listen(1024).unwrap();
    let server = Server::new(spec(), PeerHandler(Arc::clone(&peer)), ServerConfig::default());
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve(listener).await }
    });
    let mut config = config();
    config.backoff_ms_min = 10;
    config.backoff_ms_max = 50;
    let session = Session::start(TcpConnector { addr }, config);
    session.ready().await.unwrap();
    assert!(session.request(&purchase(1)).await.is_ok());
    let mut state = session.state();
    server.shutdown();
    serving.await.unwrap();
    wait_state(&mut state, SessionState::Backoff { attempt: 1 }).await;
    // Restart on the same address.
    let listener = later.listen(1024).unwrap();
    let server = Server::new(spec(), PeerHandler(Arc::clone(&peer)), ServerConfig::default());
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve(listener).await }
    });
    wait_state(&mut state, SessionState::Ready).await;
    assert!(session.request(&purchase(2)).await.is_ok());
    assert_eq!(peer.sign_ons.load(Ordering::SeqCst), 2);
    session.close().await;
    assert_eq!(peer.sign_offs.load(Ordering::SeqCst), 1);
    server.shutdown();
    serving.await.unwrap();
}
