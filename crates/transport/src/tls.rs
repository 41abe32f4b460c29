//! TLS and mutual TLS for both sides, with rustls on the `ring` provider.
//!
//! * [`server_config`] builds a rustls server configuration; with `client_roots` it requires and
//!   verifies a client certificate (mutual TLS).
//! * [`TlsListener`] wraps any [`Listener`] (TCP, in-memory) and hands the [`Server`] only
//!   connections whose handshake succeeded within [`HANDSHAKE_TIMEOUT_MS`]; failed handshakes are
//!   counted and skipped, they do not make the server back off.
//! * [`client_config`] builds a client configuration (trust roots, optional client certificate)
//!   and [`TlsConnector`] wraps any session [`Connector`].
//!
//! Handshakes in [`TlsListener::accept`] run one at a time, bounded by the handshake timeout.
//!
//! [`Server`]: crate::server::Server

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::server::Listener;
use crate::session::Connector;

pub use rustls;

/// Time a TLS handshake may take, on either side.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `chain` (leaf first) with `key`. With `client_roots`,
/// clients must present a certificate chaining to one of them (mutual TLS).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<RootCertStore>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let builder = ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_roots {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|error| rustls::Error::General(error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(builder.with_single_cert(chain, key)?))
}

/// A client configuration trusting `roots`; with `identity` (chain, key) it presents a client
/// certificate for mutual TLS.
pub fn client_config(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A [`Listener`] that completes a TLS handshake on each accepted stream.
pub struct TlsListener<L> {
    inner: L,
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    handshake_failures: Arc<AtomicU64>,
}

impl<L: Listener> TlsListener<L> {
    pub fn new(inner: L, config: Arc<ServerConfig>) -> TlsListener<L> {
        TlsListener {
            inner,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            handshake_timeout: Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
            handshake_failures: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn with_handshake_timeout(mut self, timeout: Duration) -> TlsListener<L> {
        self.handshake_timeout = timeout;
        self
    }

    /// Handshakes that failed or timed out (for example a client without a certificate under
    /// mutual TLS). Readable while the server runs.
    pub fn handshake_failures(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.handshake_failures)
    }
}

impl<L: Listener> Listener for TlsListener<L> {
    type Stream = tokio_rustls::server::TlsStream<L::Stream>;

    async fn accept(&mut self) -> io::Result<Self::Stream> {
        loop {
            let stream = self.inner.accept().await?;
            match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream)).await {
                Ok(Ok(stream)) => return Ok(stream),
                _ => {
                    self.handshake_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn peer_addr(stream: &Self::Stream) -> Option<std::net::SocketAddr> {
        L::peer_addr(stream.get_ref().0)
    }

    fn set_keepalive(stream: &Self::Stream, idle: Duration) -> io::Result<()> {
        L::set_keepalive(stream.get_ref().0, idle)
    }
}

/// A session [`Connector`] that completes a TLS handshake over `inner`'s stream, verifying the
/// server as `server_name`.
pub struct TlsConnector<C> {
    inner: C,
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    handshake_timeout: Duration,
}

impl<C: Connector> TlsConnector<C> {
    pub fn new(inner: C, config: Arc<ClientConfig>, server_name: ServerName<'static>) -> TlsConnector<C> {
        TlsConnector {
            inner,
            connector: tokio_rustls::TlsConnector::from(config),
            server_name,
            handshake_timeout: Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
        }
    }
}

impl<C: Connector> Connector for TlsConnector<C> {
    type Stream = tokio_rustls::client::TlsStream<C::Stream>;

    async fn connect(&self) -> io::Result<Self::Stream> {
        let stream = self.inner.connect().await?;
        let handshake = self.connector.connect(self.server_name.clone(), stream);
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
        }
    }
}
