//! Outbound TCP to a member's `host:port`.

use std::io;

use transport::Connector;

/// Connects over TCP to `host:port`, resolving the name on every attempt (a member's address
/// may move while the host runs), with Nagle off (one small message per exchange).
#[derive(Debug, Clone)]
pub struct EndpointConnector {
    pub endpoint: String,
}

impl Connector for EndpointConnector {
    type Stream = tokio::net::TcpStream;

    async fn connect(&self) -> io::Result<tokio::net::TcpStream> {
        let stream = tokio::net::TcpStream::connect(self.endpoint.as_str()).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connects_to_a_listener_by_name() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connector = EndpointConnector { endpoint: format!("localhost:{port}") };
        let (stream, accepted) = tokio::join!(connector.connect(), listener.accept());
        let stream = stream.unwrap();
        assert!(stream.nodelay().unwrap());
        assert_eq!(accepted.unwrap().0.local_addr().unwrap(), stream.peer_addr().unwrap());
    }

    #[tokio::test]
    async fn a_closed_port_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = listener.local_addr().unwrap().to_string();
        drop(listener);
        assert!(EndpointConnector { endpoint }.connect().await.is_err());
    }
}
