//! Hostile connections: one peer cannot take every slot, idle and slowloris connections are
//! closed, garbage is logged at a bounded rate and a connection sending only garbage is closed,
//! and each of these leaves a log line naming the peer and a counter.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Approve, Captured, purchase, spec};
use iso8583::Envelope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use transport::{Server, ServerConfig};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(5);

fn request_frame(stan: u32) -> Vec<u8> {
    iso8583::encode_framed(&purchase(stan), &Envelope::default()).unwrap()
}

/// A frame whose body does not decode and has no readable MTI: dropped and counted.
const GARBAGE: [u8; 5] = [0, 3, b'x', b'y', b'z'];

async fn read_frame<S: AsyncReadExt + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// A request answered 00 on `stream`.
async fn served<S: AsyncReadExt + AsyncWriteExt + Unpin>(stream: &mut S, stan: u32) -> bool {
    if stream.write_all(&request_frame(stan)).await.is_err() {
        return false;
    }
    match tokio::time::timeout(WAIT, read_frame(stream)).await {
        Ok(Ok(body)) => iso8583::decode(&spec(), &body).is_ok_and(|m| m.get_str(39) == Some("00")),
        _ => false,
    }
}

/// The server closed `stream` (EOF or reset) within `within`.
async fn closed<S: AsyncReadExt + Unpin>(stream: &mut S, within: Duration) -> bool {
    let mut rest = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut rest)).await.is_ok()
}

async fn connect_from(source: &str, address: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(address).await.unwrap()
}

async fn until(condition: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the condition held in time");
}

fn duplex_server(config: ServerConfig) -> (Server<Approve>, tokio::io::DuplexStream) {
    let server = Server::new(spec(), Approve, config);
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_connection(server_end).await });
    (server, client_end)
}

#[tokio::test]
async fn one_peer_holding_the_global_limit_leaves_another_peer_served() {
    let log = Captured::default();
    let _guard = log.install();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = ServerConfig { connections_max: 8, connections_per_peer_max: 3, ..ServerConfig::default() };
    let server = Server::new(spec(), Approve, config);
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve(listener).await })
    };
    // The hostile peer tries to take every one of the 8 slots.
    let mut hostile = Vec::new();
    for _ in 0..8 {
        hostile.push(connect_from("127.0.0.2", address).await);
    }
    let mut kept = 0;
    for (stan, stream) in (1..).zip(hostile.iter_mut()) {
        if served(stream, stan).await {
            kept += 1;
        }
    }
    assert_eq!(kept, 3, "only connections_per_peer_max of one peer's connections are served");
    until(|| server.stats().refused_per_peer.load(std::sync::atomic::Ordering::Relaxed) == 5).await;
    // Another peer is still served while the hostile peer holds its share.
    let mut terminal = connect_from("127.0.0.1", address).await;
    assert!(served(&mut terminal, 100).await, "another peer is served");
    let text = log.text();
    let refused = text.lines().filter(|l| l.contains("refused") && l.contains("127.0.0.2")).count();
    assert!(refused >= 1, "refused connections are logged with the peer: {text}");
    assert!(text.contains("per-peer"), "the reason is named: {text}");
    server.shutdown();
    drop(hostile);
    drop(terminal);
    tokio::time::timeout(WAIT, serving).await.unwrap().unwrap();
    let text = log.text();
    assert!(text.lines().any(|l| l.contains("closed") && l.contains("127.0.0.1")), "closes name the peer: {text}");
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    let _guard = Captured::default().install();
    let config = ServerConfig { idle_timeout_ms: 1_000, ..ServerConfig::default() };
    let (server, mut busy) = duplex_server(config);
    let (_, mut idle) = {
        let (client_end, server_end) = tokio::io::duplex(1024);
        let serving = server.clone();
        tokio::spawn(async move { serving.serve_connection(server_end).await });
        ((), client_end)
    };
    let started = tokio::time::Instant::now();
    // The busy connection sends a request every 600 ms: never idle for 1 s.
    for stan in 1..=4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(served(&mut busy, stan).await, "a busy connection stays open");
    }
    assert!(closed(&mut idle, WAIT).await, "the idle connection was closed");
    assert!(started.elapsed() >= Duration::from_millis(1_000));
    assert_eq!(server.stats().timed_out_idle.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(served(&mut busy, 5).await);
}

#[tokio::test(start_paused = true)]
async fn a_slowloris_frame_is_closed_by_the_read_deadline() {
    let log = Captured::default();
    let _guard = log.install();
    let config = ServerConfig { idle_timeout_ms: 60_000, frame_read_timeout_ms: 500, ..ServerConfig::default() };
    let (server, mut stream) = duplex_server(config);
    let frame = request_frame(1);
    let started = tokio::time::Instant::now();
    // One byte every 100 ms: the 60 s idle timeout would never fire, the frame deadline does.
    let mut sent = 0;
    for byte in &frame {
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    assert!(sent < frame.len(), "the frame never completed");
    assert!(closed(&mut stream, WAIT).await);
    assert!(started.elapsed() < Duration::from_secs(2), "closed by the 500 ms deadline: {:?}", started.elapsed());
    assert_eq!(server.stats().timed_out_read.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(log.text().contains("frame read timeout"), "{}", log.text());
}

#[tokio::test]
async fn one_malformed_frame_keeps_the_connection_only_garbage_closes_it() {
    let _guard = Captured::default().install();
    let config = ServerConfig { malformed_streak_max: 4, ..ServerConfig::default() };
    let (server, mut stream) = duplex_server(config);
    // Three malformed frames, then a good one: answered, the streak starts again.
    for _ in 0..3 {
        stream.write_all(&GARBAGE).await.unwrap();
    }
    assert!(served(&mut stream, 1).await, "a few malformed frames do not close a connection");
    for _ in 0..3 {
        stream.write_all(&GARBAGE).await.unwrap();
    }
    assert!(served(&mut stream, 2).await);
    // Nothing but garbage: closed at the fourth in a row.
    for _ in 0..4 {
        let _ = stream.write_all(&GARBAGE).await;
    }
    assert!(closed(&mut stream, WAIT).await, "a connection sending only garbage is closed");
    assert_eq!(server.stats().closed_garbage.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(server.stats().dropped_frames.load(std::sync::atomic::Ordering::Relaxed), 10);
}

#[tokio::test(start_paused = true)]
async fn malformed_frames_are_logged_once_then_summarised_per_interval() {
    let log = Captured::default();
    let _guard = log.install();
    let config = ServerConfig { malformed_streak_max: 100_000, ..ServerConfig::default() };
    let (server, mut stream) = duplex_server(config);
    for _ in 0..1_000 {
        stream.write_all(&GARBAGE).await.unwrap();
    }
    until(|| server.stats().dropped_frames.load(std::sync::atomic::Ordering::Relaxed) == 1_000).await;
    let warnings = |text: &str| text.lines().filter(|l| l.contains("WARN")).count();
    assert_eq!(warnings(&log.text()), 1, "the first malformed frame only: {}", log.text());
    // After the interval, the next malformed frame brings one summary of what was not logged,
    // and is itself the first (logged) of the new interval: at most two lines per interval.
    tokio::time::sleep(Duration::from_millis(transport::limits::MALFORMED_LOG_INTERVAL_MS)).await;
    stream.write_all(&GARBAGE).await.unwrap();
    until(|| server.stats().dropped_frames.load(std::sync::atomic::Ordering::Relaxed) == 1_001).await;
    let text = log.text();
    assert_eq!(warnings(&text), 3, "{text}");
    assert!(text.contains("999 malformed frames"), "a summary with the count: {text}");
    assert!(served(&mut stream, 1).await, "the connection lives on");
}

#[tokio::test]
async fn accepted_tcp_connections_get_keepalive() {
    use transport::Listener;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let _client = TcpStream::connect(address).await.unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    let idle = Duration::from_secs(7);
    <tokio::net::TcpListener as Listener>::set_keepalive(&accepted, idle).unwrap();
    let socket = socket2::SockRef::from(&accepted);
    assert!(socket.keepalive().unwrap());
    assert_eq!(socket.tcp_keepalive_time().unwrap(), idle);
    assert_eq!(<tokio::net::TcpListener as Listener>::peer_addr(&accepted), accepted.peer_addr().ok());
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_its_answers_is_closed() {
    let _guard = Captured::default().install();
    let config = ServerConfig { in_flight_max: 4, write_queue_max: 4, ..ServerConfig::default() };
    let server = Server::new(spec(), Approve, config);
    // A small pipe: the answers fill it at once, and this client never reads them.
    let (mut client_end, server_end) = tokio::io::duplex(256);
    let serving = server.clone();
    let connection = tokio::spawn(async move { serving.serve_connection(server_end).await });
    let frames: Vec<u8> = (1..=64).flat_map(request_frame).collect();
    let _ = tokio::time::timeout(WAIT, client_end.write_all(&frames)).await;
    let write_timeout = Duration::from_millis(transport::limits::WRITE_TIMEOUT_MS);
    tokio::time::timeout(write_timeout * 2, connection).await.expect("the connection ended").unwrap();
    assert_eq!(server.stats().timed_out_write.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(server.stats().connections_open.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(client_end);
}
