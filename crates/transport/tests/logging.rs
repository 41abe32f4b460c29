//! One log line per message exchange, with the PAN masked and nothing secret in it.

mod common;

use std::time::Duration;

use common::Captured;

use iso8583::{Envelope, Message, Mti};
use transport::{Client, ClientConfig, Handler, Server, ServerConfig};

struct Approve;

impl Handler for Approve {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let mut response = message.response(&[2, 3, 4, 7, 11, 32, 41]).ok()?;
        response.set_str(37, "123456789012").ok()?;
        response.set_str(39, "00").ok()?;
        Some((envelope.response(), response))
    }
}

#[tokio::test]
async fn a_line_per_exchange_with_the_pan_masked_and_no_secrets() {
    let captured = Captured::default();
    // The test runtime is single-threaded, so the server's tasks log on this thread too.
    let _guard = captured.install();

    let spec = iso8583::builtin::network();
    let server = Server::new(spec.clone(), Approve, ServerConfig::default());
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_connection(server_end).await });
    let (client, _events) = Client::connect(
        client_end,
        spec.clone(),
        ClientConfig { timeout: Duration::from_secs(2), ..Default::default() },
    )
    .unwrap();

    let mut request = Message::new(spec.clone(), Mti::parse("0200").unwrap());
    request.set_str(2, "6224242900000113").unwrap();
    request.set_str(3, "000000").unwrap();
    request.set_str(4, "000000001000").unwrap();
    request.set_str(7, "1121231500").unwrap();
    request.set_str(11, "004711").unwrap();
    request.set_str(32, "123456").unwrap();
    request.set_str(35, "6224242900000113=28062013949031013").unwrap();
    request.set_str(41, "TERM0001").unwrap();
    request.set(52, &[0x3D, 0x87, 0xC8, 0xB8, 0xFA, 0x17, 0xC6, 0x7C]).unwrap();
    let response = client.request(&request).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"));

    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|line| line.contains("message")).collect();
    assert_eq!(lines.len(), 1, "one line per exchange: {text}");
    let line = lines[0];
    for expected in
        ["mti=\"0200\"", "stan=\"004711\"", "rrn=\"123456789012\"", "rc=\"00\"", "622424******0113", "latency_us="]
    {
        assert!(line.contains(expected), "{expected} missing from {line}");
    }
    for secret in ["6224242900000113", "28062013949031013", "3D87C8B8", "3d87c8b8"] {
        assert!(!text.contains(secret), "{secret} leaked into the log: {text}");
    }
}
