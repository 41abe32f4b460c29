//! Request/response pairs per second over loopback TCP: a client with many requests in flight
//! against a server with an echo handler, `network` spec, a realistic 0200.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iso8583::{Envelope, Message, Mti, Spec};
use transport::{Client, ClientConfig, Handler, Server, ServerConfig};

/// Requests in flight at once (per connection).
const IN_FLIGHT: usize = 256;
/// Client connections.
const CONNECTIONS: usize = 2;
/// Pairs per measured iteration.
const PAIRS_PER_ITERATION: usize = CONNECTIONS * IN_FLIGHT * 200;
/// Pairs in the one plain measurement printed before criterion runs.
const PAIRS_PRINTED: usize = CONNECTIONS * IN_FLIGHT * 200;

struct Echo;

impl Handler for Echo {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let mut response = message.response(&[2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49]).ok()?;
        response.set_str(39, "00").ok()?;
        Some((envelope.response(), response))
    }
}

fn request(spec: &Arc<Spec>, stan: u32) -> Message {
    let mut m = Message::new(Arc::clone(spec), Mti::parse("0200").unwrap());
    m.set_str(2, "4761739001010010").unwrap();
    m.set_str(3, "000000").unwrap();
    m.set_str(4, "000000012345").unwrap();
    m.set_str(7, "1121231500").unwrap();
    m.set_str(11, &format!("{:06}", stan % 1_000_000)).unwrap();
    m.set_str(12, "231500").unwrap();
    m.set_str(13, "1121").unwrap();
    m.set_str(32, "123456").unwrap();
    m.set_str(37, "123456789012").unwrap();
    m.set_str(41, "TERM0001").unwrap();
    m.set_str(42, "MERCHANT0000001").unwrap();
    m.set_str(49, "840").unwrap();
    m
}

async fn run(clients: &[Client], spec: &Arc<Spec>, pairs: usize) {
    let per_task = pairs / (clients.len() * IN_FLIGHT);
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for t in 0..IN_FLIGHT {
            let client = client.clone();
            let spec = Arc::clone(spec);
            tasks.push(tokio::spawn(async move {
                for i in 0..per_task {
                    // Distinct STANs among concurrent requests on one connection.
                    let stan = ((c * IN_FLIGHT + t) * 1000 + i % 1000) as u32;
                    let message = request(&spec, stan);
                    let response = client.request(&message).await.unwrap();
                    assert_eq!(response.get_str(39), Some("00"));
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
}

fn loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let spec = iso8583::builtin::network();
    let (clients, _events): (Vec<Client>, Vec<_>) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = Server::new(Arc::clone(&spec), Echo, ServerConfig::default());
        tokio::spawn(async move { server.serve(listener).await });
        let mut clients = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..CONNECTIONS {
            let stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let config =
                ClientConfig { in_flight_max: IN_FLIGHT, timeout: Duration::from_secs(10), ..Default::default() };
            let (client, events) = Client::connect(stream, Arc::clone(&spec), config).unwrap();
            clients.push(client);
            // Kept for the whole run: nothing should arrive, but a closed channel would hide it.
            receivers.push(events);
        }
        (clients, receivers)
    });

    // One plain measurement, printed, for the report.
    let started = Instant::now();
    runtime.block_on(run(&clients, &spec, PAIRS_PRINTED));
    let rate = PAIRS_PRINTED as f64 / started.elapsed().as_secs_f64();
    println!("loopback: {rate:.0} pairs/s ({PAIRS_PRINTED} pairs, {IN_FLIGHT} in flight x {CONNECTIONS} connections)");

    let mut group = c.benchmark_group("transport");
    group.throughput(Throughput::Elements(PAIRS_PER_ITERATION as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("loopback_0200_pairs", |b| {
        b.iter(|| runtime.block_on(run(&clients, &spec, PAIRS_PER_ITERATION)))
    });
    group.finish();
}

criterion_group!(benches, loopback);
criterion_main!(benches);
