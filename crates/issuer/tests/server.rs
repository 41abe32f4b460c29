//! The TCP driver: network management and requests over a real socket, then a graceful stop.

mod common;

use std::sync::Arc;

use common::{Backend, Harness, SWITCH};
use transport::netmgmt::{self, Institution, NetworkCode};
use transport::{Client, ClientConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_sign_on_echo_and_requests_then_stops() {
    let h = Harness::new(Backend::Sqlite).unwrap();
    let card = h.debit_card(10_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(issuer::server::serve(Arc::clone(&h.issuer), listener, async {
        let _ = stopped.await;
    }));

    let spec = iso8583::builtin::network();
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (client, _unmatched) = Client::connect(stream, spec.clone(), ClientConfig::default()).unwrap();
    let from = Institution::new(SWITCH);
    for (stan, code) in [(1, NetworkCode::SignOn), (2, NetworkCode::Echo)] {
        let request = netmgmt::request(&spec, code, stan, &from).unwrap();
        let response = client.request(&request).await.unwrap();
        assert!(netmgmt::is_approved(&response), "{code:?}");
    }

    let purchase = h.purchase(&card, 2_500).pin(&h, &card).sign(&h);
    let response = client.request(&purchase).await.unwrap();
    assert_eq!(response.mti().as_str(), "0210");
    assert_eq!(response.get_str(39), Some("00"));
    network::mac::verify(&*h.hsm, &h.zak, &response).unwrap();
    // A bad MAC over the wire: A0.
    let mut tampered = h.purchase(&card, 100).pin(&h, &card).sign(&h);
    tampered.set_str(4, "000000000101").unwrap();
    assert_eq!(client.request(&tampered).await.unwrap().get_str(39), Some("A0"));

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server).await.unwrap().unwrap();
    assert_eq!(h.available(&card), 7_500);
}

/// A key change over the socket reaches the core through `transport::NetMgmt` (which answers
/// sign-on and echo itself) and is taken; the next request uses the new ZAK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_change_over_tcp_reaches_the_core() {
    use hsm::{KeyAlgorithm, KeyType, SecurityModule};
    let h = Harness::new(Backend::Sqlite).unwrap();
    let card = h.debit_card(10_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(issuer::server::serve(Arc::clone(&h.issuer), listener, async {
        let _ = stopped.await;
    }));
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (client, _unmatched) = Client::connect(stream, iso8583::builtin::network(), ClientConfig::default()).unwrap();

    let new = h.hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap();
    let change = h.key_change(netmgmt::WorkingKey::Zak, &new, &h.zak);
    let response = client.request(&change).await.unwrap();
    assert_eq!((response.mti().as_str(), response.get_str(39)), ("0810", Some("00")));
    network::mac::verify(&*h.hsm, &h.zak, &response).unwrap();
    assert!(netmgmt::check_value_matches(response.get(96).unwrap(), new.kcv()));

    let purchase = h.purchase(&card, 1_000).pin(&h, &card).sign_with(&h, &new);
    let response = client.request(&purchase).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"));
    network::mac::verify(&*h.hsm, &new, &response).unwrap();

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server).await.unwrap().unwrap();
}
