//! End-to-end: server and client over `tokio::io::duplex` and loopback TCP.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{purchase as request, spec};
use iso8583::{Envelope, Message, Mti};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use transport::{Client, ClientConfig, Handler, Server, ServerConfig, TransportError, UnmatchedEvent};

const ECHO: [u8; 7] = [3, 4, 7, 11, 32, 41, 42];

/// Echo handler; STANs from 900000 sleep longer than any test timeout, STANs below 100 are delayed
/// in reverse order so responses go out of order. Counts concurrency.
#[derive(Default)]
struct Echo {
    now: AtomicUsize,
    peak: AtomicUsize,
}

#[derive(Clone)]
struct Shared(Arc<Echo>);

impl Handler for Shared {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let now = self.0.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.peak.fetch_max(now, Ordering::SeqCst);
        let stan = message.get_u64(11).unwrap_or(0);
        let delay = match stan {
            900_000.. => Duration::from_millis(300),
            0..100 => Duration::from_millis(2 * (100 - stan)),
            _ => Duration::from_millis(20),
        };
        tokio::time::sleep(delay).await;
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        let mut response = message.response(&ECHO).ok()?;
        response.set_str(39, "00").ok()?;
        Some((envelope.response(), response))
    }
}

/// Wait (bounded) until `condition` holds, instead of sleeping a guessed time.
async fn until(condition: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
}

fn config(timeout_ms: u64) -> ClientConfig {
    ClientConfig { timeout: Duration::from_millis(timeout_ms), ..Default::default() }
}

/// A server on a duplex pipe; returns the server, its handler and the client end of the pipe.
fn duplex_server(config: ServerConfig) -> (Server<Shared>, Arc<Echo>, tokio::io::DuplexStream) {
    let echo = Arc::new(Echo::default());
    let server = Server::new(spec(), Shared(Arc::clone(&echo)), config);
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let s = server.clone();
    tokio::spawn(async move { s.serve_connection(server_end).await });
    (server, echo, client_end)
}

#[tokio::test]
async fn request_response_over_duplex() {
    let (_server, _, stream) = duplex_server(ServerConfig::default());
    let (client, _events) = Client::connect(stream, spec(), config(1000)).unwrap();
    let response = client.request(&request(1234)).await.unwrap();
    assert_eq!(response.mti().as_str(), "0210");
    assert_eq!(response.get_str(39), Some("00"));
    assert_eq!(response.get_str(11), Some("001234"));
    assert_eq!(client.pending(), 0);
}

#[tokio::test]
async fn concurrent_requests_matched_out_of_order() {
    let (_server, echo, stream) = duplex_server(ServerConfig::default());
    let (client, mut events) = Client::connect(stream, spec(), config(2000)).unwrap();
    let mut tasks = Vec::new();
    for stan in 0..50u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { (stan, client.request(&request(stan)).await) }));
    }
    for task in tasks {
        let (stan, response) = task.await.unwrap();
        let response = response.unwrap();
        assert_eq!(response.get_u64(11), Some(u64::from(stan)));
    }
    assert!(echo.peak.load(Ordering::SeqCst) > 1, "requests were handled concurrently");
    assert!(events.try_recv().is_err(), "nothing unmatched");
}

#[tokio::test]
async fn timeout_then_late_response_is_an_event() {
    let (_server, _, stream) = duplex_server(ServerConfig::default());
    let (client, mut events) = Client::connect(stream, spec(), config(50)).unwrap();
    let error = client.request(&request(999_999)).await.unwrap_err();
    assert!(matches!(error, TransportError::Timeout), "{error}");
    assert_eq!(client.pending(), 0);
    let event = tokio::time::timeout(Duration::from_secs(2), events.recv()).await.unwrap().unwrap();
    match event {
        UnmatchedEvent::Unmatched { message, .. } => assert_eq!(message.get_str(11), Some("999999")),
        other => panic!("unexpected {other:?}"),
    }
    // The connection still works.
    assert!(client.request(&request(1000)).await.is_ok());
}

/// A raw framed 0200 whose field 4 holds letters (n 12): decodes up to field 3, then fails.
fn malformed_frame() -> Vec<u8> {
    let mut good = request(4321);
    good.set_str(4, "000000001000").unwrap();
    let mut frame = iso8583::encode_framed(&good, &Envelope::default()).unwrap();
    // Field 4 is the 12 bytes after MTI(4) + bitmap(8) + field 3 (6), after the 2-byte prefix.
    let at = 2 + 4 + 8 + 6;
    frame[at..at + 12].copy_from_slice(b"ABCDEFGHIJKL");
    frame
}

async fn read_frame(stream: &mut tokio::io::DuplexStream) -> Vec<u8> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await.unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut body).await.unwrap();
    [&prefix[..], &body].concat()
}

#[tokio::test]
async fn malformed_request_gets_format_error_and_connection_survives() {
    let (server, _, mut stream) = duplex_server(ServerConfig::default());
    stream.write_all(&malformed_frame()).await.unwrap();
    let (_, response) = iso8583::decode_framed(&spec(), &read_frame(&mut stream).await).unwrap();
    assert_eq!(response.mti().as_str(), "0210");
    assert_eq!(response.get_str(39), Some("30"));
    assert_eq!(server.stats().format_errors.load(Ordering::SeqCst), 1);

    // Garbage with no readable MTI: dropped and counted, connection kept.
    stream.write_all(&[0, 3, b'x', b'y', b'z']).await.unwrap();
    let good = iso8583::encode_framed(&request(7), &Envelope::default()).unwrap();
    stream.write_all(&good).await.unwrap();
    let (_, response) = iso8583::decode_framed(&spec(), &read_frame(&mut stream).await).unwrap();
    assert_eq!(response.get_str(39), Some("00"));
    assert_eq!(server.stats().dropped_frames.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn format_error_echoes_fields_read_before_the_error() {
    // Field 41 comes after the broken field 4, field 3 before: make the break later instead.
    let mut bad = request(55);
    bad.set_str(42, "MERCHANT0000001").unwrap();
    let mut frame = iso8583::encode_framed(&bad, &Envelope::default()).unwrap();
    let len = frame.len();
    // Field 42 (ans 15) is last; truncate it and fix the length prefix.
    frame.truncate(len - 5);
    let declared = u16::try_from(frame.len() - 2).unwrap().to_be_bytes();
    frame[..2].copy_from_slice(&declared);
    let response = transport::server::format_error(&spec(), &frame).unwrap();
    let (_, response) = iso8583::decode_framed(&spec(), &response).unwrap();
    assert_eq!(response.get_str(39), Some("30"));
    assert_eq!(response.get_str(11), Some("000055"));
    assert_eq!(response.get_str(41), Some("TERM0001"));
    assert_eq!(response.get_str(32), Some("123456"));
}

#[tokio::test]
async fn hostile_length_prefix_closes_only_that_connection() {
    let (server, _, mut stream) = duplex_server(ServerConfig::default());
    stream.write_all(&[0xFF, 0xFF, 0, 0]).await.unwrap();
    let mut rest = Vec::new();
    // The server closes its end: read sees EOF.
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert_eq!(server.stats().connection_errors.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn server_in_flight_bound_is_respected() {
    let (_server, echo, stream) =
        duplex_server(ServerConfig { in_flight_max: 4, write_queue_max: 4, ..ServerConfig::default() });
    let (client, _events) = Client::connect(stream, spec(), config(5000)).unwrap();
    let mut tasks = Vec::new();
    for stan in 1000..1040u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.request(&request(stan)).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(echo.peak.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn client_in_flight_bound_waits_within_timeout() {
    let (_server, echo, stream) = duplex_server(ServerConfig::default());
    let config = ClientConfig { in_flight_max: 2, timeout: Duration::from_secs(5), ..Default::default() };
    let (client, _events) = Client::connect(stream, spec(), config).unwrap();
    let mut tasks = Vec::new();
    for stan in 2000..2010u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.request(&request(stan)).await }));
    }
    until(|| client.pending() == 2).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(client.pending() <= 2);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(echo.peak.load(Ordering::SeqCst) <= 2);

    // With every slot held, a further request times out while waiting for a slot.
    let config = ClientConfig { in_flight_max: 1, timeout: Duration::from_millis(50), ..Default::default() };
    let (_server, _, stream) = duplex_server(ServerConfig::default());
    let (client, _events) = Client::connect(stream, spec(), config).unwrap();
    let slow = {
        let client = client.clone();
        tokio::spawn(async move { client.request(&request(999_999)).await })
    };
    until(|| client.pending() == 1).await;
    assert!(matches!(client.request(&request(3000)).await, Err(TransportError::Timeout)));
    assert!(matches!(slow.await.unwrap(), Err(TransportError::Timeout)));
}

#[tokio::test]
async fn duplicate_key_in_flight_is_refused() {
    let (_server, _, stream) = duplex_server(ServerConfig::default());
    let (client, _events) = Client::connect(stream, spec(), config(2000)).unwrap();
    let first = {
        let client = client.clone();
        tokio::spawn(async move { client.request(&request(5000)).await })
    };
    until(|| client.pending() == 1).await;
    assert!(matches!(client.request(&request(5000)).await, Err(TransportError::DuplicateKey)));
    assert!(first.await.unwrap().is_ok());
}

#[tokio::test]
async fn connection_loss_fails_pending_requests() {
    let (client_end, server_end) = tokio::io::duplex(4096);
    let (client, _events) = Client::connect(client_end, spec(), config(5000)).unwrap();
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.request(&request(6000)).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(server_end);
    let error = pending.await.unwrap().unwrap_err();
    assert!(matches!(error, TransportError::ConnectionClosed), "{error}");
    assert!(matches!(client.request(&request(6001)).await, Err(TransportError::ConnectionClosed)));
}

#[tokio::test]
async fn tcp_loopback_and_graceful_shutdown_drains() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let echo = Arc::new(Echo::default());
    let server = Server::new(spec(), Shared(Arc::clone(&echo)), ServerConfig::default());
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve(listener).await })
    };
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (client, _events) = Client::connect(stream, spec(), config(5000)).unwrap();
    assert_eq!(client.request(&request(1)).await.unwrap().get_str(39), Some("00"));

    // Requests in flight (20 ms each) when shutdown starts still get their responses.
    let mut tasks = Vec::new();
    for stan in 7000..7020u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.request(&request(stan)).await }));
    }
    until(|| echo.now.load(Ordering::SeqCst) == 20).await;
    server.shutdown();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().get_str(39), Some("00"));
    }
    tokio::time::timeout(Duration::from_secs(2), serving).await.unwrap().unwrap();
    // After shutdown the connection is closed and new connections are refused or closed.
    assert!(client.request(&request(8000)).await.is_err());
}

#[tokio::test]
async fn full_event_channel_counts_dropped_unmatched() {
    let (_server, _, stream) = duplex_server(ServerConfig::default());
    let config = ClientConfig { timeout: Duration::from_millis(50), unmatched_queue_max: 1, ..Default::default() };
    let (client, mut events) = Client::connect(stream, spec(), config).unwrap();
    let (first, second) = (request(900_001), request(900_002));
    let (a, b) = tokio::join!(client.request(&first), client.request(&second));
    assert!(matches!(a, Err(TransportError::Timeout)) && matches!(b, Err(TransportError::Timeout)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(matches!(events.try_recv(), Ok(UnmatchedEvent::Unmatched { .. })));
    assert_eq!(client.unmatched_dropped(), 1);
}

#[tokio::test]
async fn unsolicited_and_undecodable_messages_are_events() {
    let (mut server_end, client_end) = tokio::io::duplex(4096);
    let (_client, mut events) = Client::connect(client_end, spec(), config(1000)).unwrap();
    let mut echo_test = Message::new(spec(), Mti::parse("0800").unwrap());
    echo_test.set_str(7, "1121231500").unwrap();
    echo_test.set_str(11, "000001").unwrap();
    server_end.write_all(&iso8583::encode_framed(&echo_test, &Envelope::default()).unwrap()).await.unwrap();
    server_end.write_all(&[0, 2, b'?', b'?']).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(1), events.recv()).await.unwrap().unwrap();
    assert!(matches!(first, UnmatchedEvent::Unmatched { message, .. } if message.mti().as_str() == "0800"));
    let second = tokio::time::timeout(Duration::from_secs(1), events.recv()).await.unwrap().unwrap();
    assert!(matches!(second, UnmatchedEvent::Undecodable { .. }));
}

#[test]
fn default_match_key_pairs_request_and_response() {
    let key = transport::client::default_match_key_for(&spec());
    let request = request(42);
    let mut response = request.response(&ECHO).unwrap();
    response.set_str(39, "00").unwrap();
    let request_key = key(&request).unwrap();
    assert_eq!(request_key.mti_class, *b"021");
    assert_eq!(Some(request_key), key(&response));
    let mut other_acquirer = response.clone();
    other_acquirer.set_str(32, "654321").unwrap();
    assert_ne!(key(&request), key(&other_acquirer));
    let mut no_stan = request.clone();
    no_stan.remove(11);
    assert!(key(&no_stan).is_none());
}

#[tokio::test(start_paused = true)]
async fn timeouts_follow_the_injected_clock() {
    // Time is paused and jumps ahead only when every task is idle: deterministic, no real waiting.
    let (_server, _, stream) = duplex_server(ServerConfig::default());
    let (client, mut events) = Client::connect(stream, spec(), config(100)).unwrap();
    let started = tokio::time::Instant::now();
    assert!(matches!(client.request(&request(900_010)).await, Err(TransportError::Timeout)));
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    let late = events.recv().await.unwrap();
    assert!(matches!(late, UnmatchedEvent::Unmatched { message, .. } if message.get_str(11) == Some("900010")));
    assert_eq!(started.elapsed(), Duration::from_millis(300));
}

#[tokio::test]
async fn connections_beyond_the_bound_are_closed_on_accept() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let echo = Arc::new(Echo::default());
    let server_config = ServerConfig { connections_max: 1, ..ServerConfig::default() };
    let server = Server::new(spec(), Shared(Arc::clone(&echo)), server_config);
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve(listener).await })
    };
    let first = tokio::net::TcpStream::connect(address).await.unwrap();
    let (client, _events) = Client::connect(first, spec(), config(5000)).unwrap();
    assert_eq!(client.request(&request(1)).await.unwrap().get_str(39), Some("00"));
    let second = tokio::net::TcpStream::connect(address).await.unwrap();
    let (refused, _events) = Client::connect(second, spec(), config(2000)).unwrap();
    assert!(refused.request(&request(2)).await.is_err(), "the second connection is closed");
    until(|| server.stats().refused_connections.load(Ordering::SeqCst) == 1).await;
    // The first connection is unaffected.
    assert_eq!(client.request(&request(3)).await.unwrap().get_str(39), Some("00"));
    server.shutdown();
    tokio::time::timeout(Duration::from_secs(2), serving).await.unwrap().unwrap();
}
