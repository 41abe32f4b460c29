//! Binding a party's listen address. A bind that fails (the port is taken, the address is not
//! this machine's, a privileged port) is a configuration mistake: the error names the address,
//! so the person who wrote the configuration knows which line to change.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// A listen address that could not be bound, and why.
#[derive(Debug)]
pub struct ListenError {
    pub address: SocketAddr,
    source: io::Error,
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.source.kind() {
            io::ErrorKind::AddrInUse => "the address is in use by another process".to_owned(),
            io::ErrorKind::AddrNotAvailable => "the address is not one of this machine's".to_owned(),
            _ => self.source.to_string(),
        };
        write!(f, "cannot listen on {}: {why}", self.address)
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Bind a TCP listener on `address`; a failure keeps its `io::ErrorKind` and carries a
/// [`ListenError`] naming the address (find it with [`listen_error`]).
pub async fn bind(address: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| io::Error::new(source.kind(), ListenError { address, source }))
}

/// The [`ListenError`] inside an I/O error from [`bind`], if it is one.
pub fn listen_error(error: &io::Error) -> Option<&ListenError> {
    error.get_ref()?.downcast_ref::<ListenError>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_address_is_named() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let error = bind(address).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(listen_error(&error).unwrap().address, address);
        assert_eq!(error.to_string(), format!("cannot listen on {address}: the address is in use by another process"));
        assert!(listen_error(&io::Error::other("x")).is_none());
    }
}
