//! TLS and mutual TLS over loopback TCP with rcgen certificates (rustls, ring provider).
#![cfg(feature = "tls")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Approve, purchase, spec};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use transport::session::Connector;
use transport::tls::rustls::RootCertStore;
use transport::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use transport::tls::{TlsConnector, TlsListener, client_config, server_config};
use transport::{
    Client, ClientConfig, Institution, NetMgmt, Server, ServerConfig, Session, SessionConfig, TcpConnector,
    TransportError,
};

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A CA, a server certificate for "localhost" and a client certificate, both issued by the CA.
struct Pki {
    roots: RootCertStore,
    server: Identity,
    client: Identity,
}

fn copy((chain, key): &Identity) -> Identity {
    (chain.clone(), key.clone_key())
}

fn leaf(name: &str, issuer: &CertifiedIssuer<'_, KeyPair>) -> Identity {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_string()]).unwrap().signed_by(&key, issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (vec![cert.der().clone()], key)
}

fn pki() -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    Pki { server: leaf("localhost", &ca), client: leaf("acquirer.test", &ca), roots }
}

/// A TLS server on loopback; returns its address, server and handshake failure counter.
async fn tls_server(pki: &Pki, mutual: bool) -> (std::net::SocketAddr, Server<NetMgmt<Approve>>, Arc<AtomicU64>) {
    let (chain, key) = copy(&pki.server);
    let config = server_config(chain, key, mutual.then(|| pki.roots.clone())).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener::new(tcp, config).with_handshake_timeout(Duration::from_secs(5));
    let failures = listener.handshake_failures();
    let server = Server::new(spec(), NetMgmt { inner: Approve }, ServerConfig::default());
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    (addr, server, failures)
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

fn client_timeout() -> ClientConfig {
    ClientConfig { timeout: Duration::from_secs(5), ..Default::default() }
}

#[tokio::test]
async fn tls_request_response_and_session() {
    let pki = pki();
    let (addr, server, failures) = tls_server(&pki, false).await;
    let connector =
        TlsConnector::new(TcpConnector { addr }, client_config(pki.roots.clone(), None).unwrap(), localhost());
    // A plain client over one TLS stream.
    let stream = connector.connect().await.unwrap();
    let (client, _events) = Client::connect(stream, spec(), client_timeout()).unwrap();
    let response = client.request(&purchase(1)).await.unwrap();
    assert_eq!(response.mti().as_str(), "0210");
    assert_eq!(response.get_str(39), Some("00"));
    // A managed session over TLS: signs on through the server's NetMgmt.
    let mut config = SessionConfig::new(spec(), Institution::new("123456"));
    config.client = client_timeout();
    let session = Session::start(connector, config);
    session.ready().await.unwrap();
    assert_eq!(session.request(&purchase(2)).await.unwrap().get_str(39), Some("00"));
    session.close().await;
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    server.shutdown();
}

#[tokio::test]
async fn mutual_tls_accepts_a_client_certificate() {
    let pki = pki();
    let (addr, server, failures) = tls_server(&pki, true).await;
    let config = client_config(pki.roots.clone(), Some(copy(&pki.client))).unwrap();
    let connector = TlsConnector::new(TcpConnector { addr }, config, localhost());
    let stream = connector.connect().await.unwrap();
    let (client, _events) = Client::connect(stream, spec(), client_timeout()).unwrap();
    assert_eq!(client.request(&purchase(3)).await.unwrap().get_str(39), Some("00"));
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    server.shutdown();
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_certificate() {
    let pki = pki();
    let (addr, server, failures) = tls_server(&pki, true).await;
    let connector =
        TlsConnector::new(TcpConnector { addr }, client_config(pki.roots.clone(), None).unwrap(), localhost());
    // With TLS 1.3 the client may finish its side of the handshake before the server refuses;
    // then the first request fails instead of the connect.
    if let Ok(stream) = connector.connect().await {
        let (client, _events) = Client::connect(stream, spec(), client_timeout()).unwrap();
        let error = client.request(&purchase(4)).await.unwrap_err();
        assert!(matches!(error, TransportError::ConnectionClosed), "{error}");
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        while failures.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(server.stats().requests.load(Ordering::SeqCst), 0);
    assert_eq!(server.stats().connections.load(Ordering::SeqCst), 0, "never handed to the server");
    server.shutdown();
}

#[tokio::test]
async fn tls_client_refuses_an_untrusted_server() {
    let pki = pki();
    let (addr, server, _) = tls_server(&pki, false).await;
    let other = pki_roots_of_another_ca();
    let connector = TlsConnector::new(TcpConnector { addr }, client_config(other, None).unwrap(), localhost());
    assert!(connector.connect().await.is_err());
    server.shutdown();
}

fn pki_roots_of_another_ca() -> RootCertStore {
    pki().roots
}
