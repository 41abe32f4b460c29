//! The switch over real TCP: acquirers through `transport::Client`, issuers as
//! `transport::Server`s answering with the fake issuer of `common`. Timeouts are short real
//! times (paused tokio time would fire them while a socket is merely waiting for bytes).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clock::{Clock, SystemClock};
use common::*;
use iso8583::{Envelope, Message};
use switch::{ServerOptions, SwitchServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use transport::{Client, ClientConfig, Handler, NetMgmt, Server, ServerConfig, SessionState};

/// The switch's wait for an issuer in these tests.
const ISSUER_TIMEOUT_MS: u64 = 400;
/// How long a test waits for something that should happen quickly.
const WAIT: Duration = Duration::from_secs(10);

fn options() -> ServerOptions {
    ServerOptions {
        session_backoff_ms_min: 20,
        session_backoff_ms_max: 200,
        connect_timeout_ms: 1_000,
        echo_timeout_ms: 1_000,
        advice_poll_interval_ms: 50,
        ..ServerOptions::default()
    }
}

/// What the fake issuer does, adjustable while it runs.
#[derive(Default)]
struct Behaviour {
    /// Sleep this long before answering a 0100/0200.
    delay_requests_ms: u64,
    /// Leave this many advices (x120, x220, x420 and repeats) unanswered.
    ignore_advices: usize,
    /// MTIs received (network management excluded).
    seen: Vec<String>,
}

#[derive(Clone)]
struct FakeIssuer {
    net: Arc<Net>,
    issuer: &'static str,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Handler for FakeIssuer {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let (delay_ms, ignore) = {
            let mut behaviour = self.behaviour.lock().unwrap();
            behaviour.seen.push(message.mti().to_string());
            let advice = message.mti().is_advice() || message.mti().class() == 4;
            let ignore = advice && behaviour.ignore_advices > 0;
            if ignore {
                behaviour.ignore_advices -= 1;
            }
            (if advice { 0 } else { behaviour.delay_requests_ms }, ignore)
        };
        if ignore {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        Some((envelope.response(), self.net.issuer_answer(self.issuer, &message)))
    }
}

struct RunningIssuer {
    server: Server<NetMgmt<FakeIssuer>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl RunningIssuer {
    async fn start(net: &Arc<Net>, issuer: &'static str, listener: tokio::net::TcpListener) -> RunningIssuer {
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let fake = FakeIssuer { net: Arc::clone(net), issuer, behaviour: Arc::clone(&behaviour) };
        let server = Server::new(iso8583::builtin::network(), NetMgmt { inner: fake }, ServerConfig::default());
        let serving = server.clone();
        tokio::spawn(async move { serving.serve(listener).await });
        RunningIssuer { server, behaviour }
    }

    fn seen(&self) -> Vec<String> {
        self.behaviour.lock().unwrap().seen.clone()
    }

    fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }
}

/// A port the kernel picked, held but not listening (connections to it are refused) until
/// `listen`: an issuer that is down now and comes back at the same address, with no window in
/// which anyone else could take the port.
struct Reserved {
    socket: tokio::net::TcpSocket,
    port: u16,
}

fn reserve() -> Reserved {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    Reserved { socket, port }
}

fn listen(reserved: Reserved) -> tokio::net::TcpListener {
    reserved.socket.listen(1024).unwrap()
}

/// A network whose issuers live at the given ports.
fn net(name: &str, issuer_port: u16, issuer2_port: u16) -> Arc<Net> {
    Arc::new(Net::with(Backend::sqlite(name), |config| {
        config.issuer_timeout_ms = ISSUER_TIMEOUT_MS;
        config.advices.retry_delay_ms_min = 50;
        for member in &mut config.members {
            if member.id == ISSUER {
                member.endpoint = Some(format!("127.0.0.1:{issuer_port}"));
            }
            if member.id == ISSUER2 {
                member.endpoint = Some(format!("127.0.0.1:{issuer2_port}"));
            }
        }
    }))
}

async fn start_switch(net: &Net) -> SwitchServer {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    SwitchServer::start(net.switch(), clock, options()).await.unwrap()
}

async fn acquirer(switch: &SwitchServer) -> Client {
    let stream = tokio::net::TcpStream::connect(switch.local_addr()).await.unwrap();
    let config = ClientConfig { timeout: Duration::from_secs(5), ..ClientConfig::default() };
    Client::connect(stream, iso8583::builtin::network(), config).unwrap().0
}

async fn ready(switch: &SwitchServer, issuer: &str) {
    let mut state = switch.issuer_state(issuer).unwrap();
    tokio::time::timeout(WAIT, state.wait_for(|s| *s == SessionState::Ready)).await.unwrap().unwrap();
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pending_advices(switch: &SwitchServer, issuer: &str) -> (u64, u64) {
    let counts = switch.switch().journal().advice_counts(issuer).unwrap();
    (counts.pending, counts.done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_errors_and_a_malformed_frame_over_tcp() {
    let (issuer_port, unused) = (reserve(), reserve());
    let net = net("tcp-approval", issuer_port.port, unused.port);
    let issuer = RunningIssuer::start(&net, ISSUER, listen(issuer_port)).await;
    let switch = start_switch(&net).await;
    ready(&switch, ISSUER).await;
    let client = acquirer(&switch).await;

    // Network management is answered by the switch itself.
    let from = transport::Institution::new(ACQUIRER);
    let sign_on = transport::netmgmt::request(client.spec(), transport::NetworkCode::SignOn, 1, &from).unwrap();
    assert!(transport::netmgmt::is_approved(&client.request(&sign_on).await.unwrap()));

    let request = net.purchase_with_pin(PAN, 12_500, 1, PIN);
    let response = client.request(&request).await.unwrap();
    assert_eq!(code(&response), "00", "PIN translated and verified by the issuer");
    assert_eq!(response.get(11), request.get(11));
    assert_eq!(response.get(7), request.get(7));
    net.verify(ACQUIRER, &response).unwrap();
    assert_eq!(issuer.seen(), ["0200"]);

    assert_eq!(code(&client.request(&request).await.unwrap()), "94");
    let mut tampered = net.purchase(PAN, 100, 2);
    tampered.set_str(4, "000000000999").unwrap();
    assert_eq!(code(&client.request(&tampered).await.unwrap()), "A0");
    assert_eq!(code(&client.request(&net.purchase(NO_BIN_PAN, 100, 3)).await.unwrap()), "15");
    assert_eq!(issuer.seen(), ["0200"], "nothing refused reached the issuer");

    // A frame that does not decode is answered 30 and the connection carries on.
    let mut raw = tokio::net::TcpStream::connect(switch.local_addr()).await.unwrap();
    let mut body = b"0200".to_vec();
    body.extend_from_slice(&[0x40, 0, 0, 0, 0, 0, 0, 0]); // field 2 only
    body.extend_from_slice(b"X9"); // not a length
    raw.write_all(&(body.len() as u16).to_be_bytes()).await.unwrap();
    raw.write_all(&body).await.unwrap();
    assert_eq!(code(&read_frame(&mut raw).await), "30");
    let good = net.purchase(PAN, 300, 4);
    raw.write_all(&iso8583::encode_framed(&good, &Envelope::default()).unwrap()).await.unwrap();
    let answer = read_frame(&mut raw).await;
    assert_eq!((answer.mti().as_str(), code(&answer)), ("0210", "00"));
    assert_eq!(switch.stats().format_errors.load(std::sync::atomic::Ordering::Relaxed), 1);

    switch.shutdown().await;
    issuer.server.shutdown();
}

async fn read_frame(stream: &mut tokio::net::TcpStream) -> Message {
    let mut len = [0u8; 2];
    tokio::time::timeout(WAIT, stream.read_exact(&mut len)).await.unwrap().unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).await.unwrap();
    iso8583::decode(&iso8583::builtin::network(), &body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_down_stands_in_and_the_advice_is_repeated_when_it_comes_back() {
    let (issuer_port, unused) = (reserve(), reserve());
    let net = net("tcp-down", issuer_port.port, unused.port);
    let switch = start_switch(&net).await;
    let client = acquirer(&switch).await;

    // Nobody at the issuer's address: answered at once, stood in within limits, 91 beyond.
    let preauth = net.request("0100", "030000", PAN, 20_000, 10);
    let started = std::time::Instant::now();
    let response = client.request(&preauth).await.unwrap();
    assert_eq!(code(&response), "00");
    assert!(response.get_str(38).unwrap().starts_with('S'));
    assert!(started.elapsed() < Duration::from_millis(ISSUER_TIMEOUT_MS), "not held for the timeout");
    assert_eq!(code(&client.request(&net.purchase(PAN, 90_000, 11)).await.unwrap()), "91");
    assert_eq!(pending_advices(&switch, ISSUER), (1, 0));

    // The issuer comes back and ignores the first advice: 0120, then 0121 until acknowledged.
    let issuer = RunningIssuer::start(&net, ISSUER, listen(issuer_port)).await;
    issuer.set(|b| b.ignore_advices = 1);
    eventually("the advice acknowledged", || pending_advices(&switch, ISSUER) == (0, 1)).await;
    assert_eq!(issuer.seen(), ["0120", "0121"]);

    switch.shutdown().await;
    issuer.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_issuer_gets_98_and_one_reversal() {
    let (unused, issuer2_port) = (reserve(), reserve());
    let net = net("tcp-slow", unused.port, issuer2_port.port);
    let issuer = RunningIssuer::start(&net, ISSUER2, listen(issuer2_port)).await;
    issuer.set(|b| b.delay_requests_ms = 3 * ISSUER_TIMEOUT_MS);
    let switch = start_switch(&net).await;
    ready(&switch, ISSUER2).await;
    let client = acquirer(&switch).await;

    let response = client.request(&net.purchase(ISSUER2_PAN, 7_000, 20)).await.unwrap();
    assert_eq!(code(&response), "98");
    eventually("the reversal acknowledged", || pending_advices(&switch, ISSUER2) == (0, 1)).await;
    // The late 0210 arrives after the reversal went out; nothing more is sent.
    tokio::time::sleep(Duration::from_millis(4 * ISSUER_TIMEOUT_MS)).await;
    assert_eq!(issuer.seen(), ["0200", "0420"]);
    assert_eq!(pending_advices(&switch, ISSUER2), (0, 1));

    switch.shutdown().await;
    issuer.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquirer_reversal_repeated_reaches_the_issuer_once() {
    let (issuer_port, unused) = (reserve(), reserve());
    let net = net("tcp-reversal", issuer_port.port, unused.port);
    let issuer = RunningIssuer::start(&net, ISSUER, listen(issuer_port)).await;
    let switch = start_switch(&net).await;
    ready(&switch, ISSUER).await;
    let client = acquirer(&switch).await;

    let original = net.purchase(PAN, 4_000, 30);
    assert_eq!(code(&client.request(&original).await.unwrap()), "00");
    let reversal = net.referring("0420", "000000", &original, 31);
    for _ in 0..3 {
        let response = client.request(&reversal).await.unwrap();
        assert_eq!((response.mti().as_str(), code(&response)), ("0430", "00"));
    }
    eventually("the reversal acknowledged", || pending_advices(&switch, ISSUER) == (0, 1)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(issuer.seen(), ["0200", "0420"]);

    switch.shutdown().await;
    issuer.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_advices_are_delivered_after_a_restart() {
    let (issuer_port, unused) = (reserve(), reserve());
    let net = net("tcp-restart", issuer_port.port, unused.port);
    {
        let switch = start_switch(&net).await;
        let client = acquirer(&switch).await;
        for stan in [40, 41] {
            assert_eq!(code(&client.request(&net.purchase(PAN2, 1_000, stan)).await.unwrap()), "00");
        }
        assert_eq!(pending_advices(&switch, ISSUER), (2, 0));
        switch.shutdown().await;
    }
    // The issuer is back, and so is the switch, a new one over the same database.
    let issuer = RunningIssuer::start(&net, ISSUER, listen(issuer_port)).await;
    let switch = start_switch(&net).await;
    eventually("both advices acknowledged", || pending_advices(&switch, ISSUER) == (0, 2)).await;
    assert_eq!(issuer.seen(), ["0220", "0220"]);

    switch.shutdown().await;
    issuer.server.shutdown();
}
