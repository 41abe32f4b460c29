//! Hostile connections against the real `cardnet serve` processes (issuer, switch, acquirer),
//! each with small `[server]` bounds so every wait is short:
//!
//! * one peer (127.0.0.2) trying to hold the global limit gets only its per-peer share, and
//!   another peer (127.0.0.1) is still served — at the acquirer, a real `cardnet pos run`;
//! * an idle connection and a slowloris frame are closed, the log naming the peer;
//! * one malformed frame does not close a connection, a stream of garbage does, and the log
//!   holds a few lines for it, not one per frame;
//! * `cardnet stats --config FILE --json` shows the counters the server writes.
//!
//! Every wait is bounded; the parties of a test start together and are killed however it ends.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ProcessNetwork, cardnet, json};
use iso8583::{Envelope, Message, Spec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(15);
const CONNECTIONS_MAX: usize = 16;
const PER_PEER_MAX: usize = 4;
/// The idle timeout of the test that waits for it; the others use [`IDLE_TIMEOUT_MS_LONG`] so
/// that connections they hold stay open however slow the machine is.
const IDLE_TIMEOUT_MS: u64 = 2_000;
const IDLE_TIMEOUT_MS_LONG: u64 = 120_000;
const FRAME_READ_TIMEOUT_MS: u64 = 300;
const MALFORMED_STREAK_MAX: u32 = 8;
const STATS_INTERVAL_MS: u64 = 200;
/// The hostile peer's source address; terminals and members connect from 127.0.0.1.
const HOSTILE: &str = "127.0.0.2";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Issuer,
    Switch,
    Acquirer,
}

/// One `cardnet serve` process, its log (stderr) collected as it comes.
struct Party {
    kind: Kind,
    config: String,
    address: SocketAddr,
    log: Arc<Mutex<String>>,
    child: Child,
}

impl Party {
    fn start(kind: Kind, config: &str) -> Party {
        let name = match kind {
            Kind::Issuer => "issuer",
            Kind::Switch => "switch",
            Kind::Acquirer => "acquirer",
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_cardnet"))
            .args(["serve", name, "--config", config])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (listening, address) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let collected = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("cardnet ") && line.contains("listening") {
                    let bound = line.split(" on ").nth(1).and_then(|rest| rest.split_whitespace().next());
                    let _ = listening.send(bound.unwrap_or_default().to_owned());
                }
                let mut log = collected.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let address =
            address.recv_timeout(WAIT).unwrap_or_else(|_| panic!("{name} listening: {}", log.lock().unwrap()));
        Party { kind, config: config.to_owned(), address: address.parse().unwrap(), log, child }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait (bounded) for a log line holding every one of `parts`.
    fn wait_log(&self, parts: &[&str]) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.log().lines().any(|line| parts.iter().all(|part| line.contains(part))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Set `key = value` in the config file (the line `init` wrote for it).
fn set(config: &str, settings: &[(&str, String)]) {
    let mut text = std::fs::read_to_string(config).unwrap();
    for (key, value) in settings {
        let prefix = format!("{key} = ");
        let line = text.lines().find(|line| line.starts_with(&prefix)).unwrap_or_else(|| panic!("{key} in {config}"));
        text = text.replacen(line, &format!("{prefix}{value}"), 1);
    }
    std::fs::write(config, text).unwrap();
}

/// The network's configurations with listen on port 0 and small server bounds; issuer A, the
/// switch and the acquirer started.
fn start(prefix: &str, idle_timeout_ms: u64) -> (ProcessNetwork, Vec<Party>) {
    let network = ProcessNetwork::set_up(prefix);
    let mut parties = Vec::new();
    for (kind, config) in [
        (Kind::Issuer, &network.issuer_a),
        (Kind::Switch, &network.switch_config),
        (Kind::Acquirer, &network.acquirer_config),
    ] {
        set(
            config,
            &[
                ("listen", "\"127.0.0.1:0\"".into()),
                ("connections_max", CONNECTIONS_MAX.to_string()),
                ("connections_per_peer_max", PER_PEER_MAX.to_string()),
                ("idle_timeout_ms", idle_timeout_ms.to_string()),
                ("frame_read_timeout_ms", FRAME_READ_TIMEOUT_MS.to_string()),
                ("malformed_streak_max", MALFORMED_STREAK_MAX.to_string()),
                ("stats_interval_ms", STATS_INTERVAL_MS.to_string()),
            ],
        );
        parties.push(Party::start(kind, config));
    }
    (network, parties)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn connect_from(source: &str, address: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    tokio::time::timeout(WAIT, socket.connect(address)).await.unwrap().unwrap()
}

/// A sign-on the party answers: 0800/001 on the network dialect, or a terminal's cup-pos 0800.
fn sign_on(kind: Kind, merchant_id: &str) -> (Arc<Spec>, Vec<u8>) {
    if kind == Kind::Acquirer {
        let tmk = hsm::Secret::new(&common::tmk_clear());
        let mut terminal = testnet::pos::PosTerminal::new("POS00002", merchant_id, tmk);
        let request = terminal.sign_on_request(hsm::SignOnScheme::Double).unwrap();
        return (Arc::clone(&terminal.spec), iso8583::encode_framed(&request, &terminal.envelope).unwrap());
    }
    let spec = iso8583::builtin::network();
    let institution = transport::Institution::new("90000000001");
    let request = transport::netmgmt::request(&spec, transport::NetworkCode::SignOn, 1, &institution).unwrap();
    (spec, iso8583::encode_framed(&request, &Envelope::default()).unwrap())
}

/// Send `frame` and read one answer (bounded); `None` if the connection closed or nothing came.
async fn exchange(stream: &mut TcpStream, spec: &Arc<Spec>, frame: &[u8]) -> Option<Message> {
    stream.write_all(frame).await.ok()?;
    let read = async {
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).await.ok()?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut body).await.ok()?;
        iso8583::decode_framed(spec, &[&prefix[..], &body].concat()).ok().map(|(_, message)| message)
    };
    tokio::time::timeout(WAIT, read).await.ok().flatten()
}

/// A frame whose body does not decode (no readable MTI): dropped and counted.
const GARBAGE: [u8; 5] = [0, 3, b'x', b'y', b'z'];

/// One malformed frame, then `good` on the same connection: answered or not.
async fn malformed_then_answered(stream: &mut TcpStream, spec: &Arc<Spec>, good: &[u8]) -> bool {
    stream.write_all(&GARBAGE).await.is_ok() && exchange(stream, spec, good).await.is_some()
}

/// Whether the server closed `stream` within `within` (EOF or reset), and when.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut rest)).await.ok().map(|_| started.elapsed())
}

#[test]
fn one_peer_holding_the_global_limit_leaves_another_peers_terminal_served() {
    let (network, parties) = start("hostile-peer", IDLE_TIMEOUT_MS_LONG);
    for party in &parties {
        let runtime = runtime();
        let (refused, mut held) = runtime.block_on(async {
            // The hostile peer asks for every slot the server has.
            let mut checks = tokio::task::JoinSet::new();
            for _ in 0..CONNECTIONS_MAX {
                let mut stream = connect_from(HOSTILE, party.address).await;
                checks.spawn(async move {
                    let closed = closed_within(&mut stream, Duration::from_millis(1_000)).await.is_some();
                    (closed, stream)
                });
            }
            let mut refused = 0;
            let mut held = Vec::new();
            while let Some(Ok((closed, stream))) = checks.join_next().await {
                if closed {
                    refused += 1;
                } else {
                    held.push(stream);
                }
            }
            (refused, held)
        });
        assert_eq!(held.len(), PER_PEER_MAX, "{:?}: one peer keeps only its share; {}", party.kind, party.log());
        assert_eq!(refused, CONNECTIONS_MAX - PER_PEER_MAX);
        // Another peer, while the hostile one still holds its connections.
        if party.kind == Kind::Acquirer {
            let (terminal_config, _) =
                network.terminal_files_via("POS00001", &party.address.to_string(), WAIT.as_millis() as u64);
            let signed_on = json(&cardnet(&[
                "pos",
                "run",
                "--terminal-config",
                &terminal_config,
                "--operator",
                "01",
                "--password",
                "1111",
                "--json",
                "sign-on",
            ]));
            assert_eq!(signed_on["response_code"], "00", "the terminal is served: {signed_on}");
        } else {
            let (spec, frame) = sign_on(party.kind, &network.merchant_id);
            let answer = runtime.block_on(async {
                let mut member = connect_from("127.0.0.1", party.address).await;
                exchange(&mut member, &spec, &frame).await
            });
            let answer = answer.unwrap_or_else(|| panic!("{:?} answers another peer: {}", party.kind, party.log()));
            assert_eq!(answer.mti().as_str(), "0810");
        }
        // The hostile peer's share is still open and served: it was held all along.
        let (spec, frame) = sign_on(party.kind, &network.merchant_id);
        let answered = runtime.block_on(async {
            let mut answered = 0;
            for stream in &mut held {
                answered += usize::from(exchange(stream, &spec, &frame).await.is_some());
            }
            answered
        });
        assert_eq!(answered, PER_PEER_MAX, "{:?}: the hostile peer's share stayed open", party.kind);
        assert!(
            party.wait_log(&["connection refused", HOSTILE, "per-peer"]),
            "{:?}: refusals are logged with the peer: {}",
            party.kind,
            party.log()
        );
        drop(held);
    }
}

#[test]
fn idle_and_slowloris_connections_are_closed_and_logged() {
    let (_network, parties) = start("hostile-idle", IDLE_TIMEOUT_MS);
    let runtime = runtime();
    runtime.block_on(async {
        let mut checks = tokio::task::JoinSet::new();
        for party in &parties {
            let (kind, address) = (party.kind, party.address);
            // Idle: connected, nothing sent.
            checks.spawn(async move {
                let mut idle = connect_from(HOSTILE, address).await;
                let closed = closed_within(&mut idle, WAIT).await;
                let closed = closed.unwrap_or_else(|| panic!("{kind:?}: the idle connection was never closed"));
                assert!(
                    closed >= Duration::from_millis(IDLE_TIMEOUT_MS - 100),
                    "{kind:?}: not before the idle timeout"
                );
            });
            // Slowloris: a length prefix of 257, then the body one byte every 100 ms.
            checks.spawn(async move {
                let mut slow = connect_from(HOSTILE, address).await;
                let started = Instant::now();
                let mut trickled = 0;
                while trickled < 40 && slow.write_all(&[1]).await.is_ok() {
                    trickled += 1;
                    if closed_within(&mut slow, Duration::from_millis(100)).await.is_some() {
                        break;
                    }
                }
                let elapsed = started.elapsed();
                assert!(trickled < 40, "{kind:?}: a trickled frame was never closed");
                assert!(
                    elapsed < Duration::from_millis(IDLE_TIMEOUT_MS),
                    "{kind:?}: closed by the read deadline, {elapsed:?}"
                );
            });
        }
        while let Some(result) = checks.join_next().await {
            result.unwrap();
        }
    });
    for party in &parties {
        for reason in ["idle timeout", "frame read timeout"] {
            assert!(
                party.wait_log(&["connection closed", reason, HOSTILE]),
                "{:?}: {reason}: {}",
                party.kind,
                party.log()
            );
        }
    }
}

#[test]
fn garbage_closes_a_connection_and_its_log_stays_small() {
    let (network, parties) = start("hostile-garbage", IDLE_TIMEOUT_MS_LONG);
    let runtime = runtime();
    for party in &parties {
        let (spec, good) = sign_on(party.kind, &network.merchant_id);
        runtime.block_on(async {
            let mut stream = connect_from(HOSTILE, party.address).await;
            let answered = malformed_then_answered(&mut stream, &spec, &good).await;
            assert!(answered, "{:?}: one malformed frame does not close a connection", party.kind);
            // Nothing but garbage: closed, however much more is sent.
            let garbage: Vec<u8> = GARBAGE.repeat(2_000);
            let _ = stream.write_all(&garbage).await;
            assert!(
                closed_within(&mut stream, WAIT).await.is_some(),
                "{:?}: a garbage connection is closed",
                party.kind
            );
        });
        assert!(party.wait_log(&["connection closed", "garbage", HOSTILE]), "{:?}: {}", party.kind, party.log());
        let log = party.log();
        let malformed = log.lines().filter(|line| line.contains("malformed") && !line.contains("server stats")).count();
        assert!(malformed <= 3, "{:?}: {malformed} log lines for one garbage connection: {log}", party.kind);
    }
}

#[test]
fn the_stats_command_shows_each_servers_counters() {
    let (network, parties) = start("hostile-stats", IDLE_TIMEOUT_MS_LONG);
    let runtime = runtime();
    for party in &parties {
        let (spec, good) = sign_on(party.kind, &network.merchant_id);
        let held = runtime.block_on(async {
            let mut held = Vec::new();
            for _ in 0..=PER_PEER_MAX {
                held.push(connect_from(HOSTILE, party.address).await);
            }
            assert!(malformed_then_answered(held.first_mut().unwrap(), &spec, &good).await);
            held
        });
        // The server rewrites its stats file every interval: wait for one with these counts.
        let deadline = Instant::now() + WAIT;
        let stats = loop {
            let output = cardnet(&["stats", "--config", &party.config, "--json"]);
            let stats: Option<serde_json::Value> = serde_json::from_slice(&output.stdout).ok();
            if let Some(stats) = stats
                && stats["connections_refused_peer_total"] == 1
                && stats["frames_malformed_total"] == 1
            {
                break stats;
            }
            assert!(Instant::now() < deadline, "{:?}: {}", party.kind, String::from_utf8_lossy(&output.stderr));
            std::thread::sleep(Duration::from_millis(STATS_INTERVAL_MS));
        };
        assert_eq!(stats["connections_open"], PER_PEER_MAX as u64, "{stats}");
        assert_eq!(stats["connections_refused_total"], 1);
        assert!(stats["requests_total"].as_u64().unwrap() >= 1);
        assert!(stats["age_ms"].as_u64().unwrap() < WAIT.as_millis() as u64, "{stats}");
        assert_eq!(stats["listen"], party.address.to_string());
        let text = cardnet(&["stats", "--config", &party.config]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("connections_refused_peer_total: 1"), "{text}");
        assert!(party.wait_log(&["server stats", "connections_refused_peer_total=1"]), "{}", party.log());
        drop(held);
    }
    // No stats file, no server: one line, exit 2.
    let missing = cardnet(&["stats", "--config", "/nonexistent/issuer.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}
