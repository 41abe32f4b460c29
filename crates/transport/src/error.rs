//! Transport errors. Like the codec's, they never carry field values (no PAN in logs).

use std::fmt;

#[derive(Debug)]
pub enum TransportError {
    /// The socket failed.
    Io(std::io::Error),
    /// The byte stream cannot be split into frames (for example a hostile length prefix); the
    /// connection is closed because the frame boundary is lost.
    Framing(iso8583::Error),
    /// A message could not be encoded or decoded.
    Codec(iso8583::Error),
    /// No response within the request timeout (this includes waiting for an in-flight slot).
    Timeout,
    /// The connection closed (or was lost) before the response came.
    ConnectionClosed,
    /// The matching key could not be computed from the request (missing MTI response, STAN or
    /// originator).
    NoMatchKey,
    /// A request with the same matching key is already in flight.
    DuplicateKey,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Io(error) => write!(f, "i/o error: {error}"),
            TransportError::Framing(error) => write!(f, "framing error, closing the connection: {error}"),
            TransportError::Codec(error) => write!(f, "codec error: {error}"),
            TransportError::Timeout => f.write_str("no response within the request timeout"),
            TransportError::ConnectionClosed => f.write_str("the connection closed before the response came"),
            TransportError::NoMatchKey => {
                f.write_str("cannot compute the matching key of the request (MTI, STAN or originator missing)")
            }
            TransportError::DuplicateKey => f.write_str("a request with the same matching key is already in flight"),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Io(error) => Some(error),
            TransportError::Framing(error) | TransportError::Codec(error) => Some(error),
            _ => None,
        }
    }
}

impl From<std::io::Error> for TransportError {
    fn from(error: std::io::Error) -> TransportError {
        TransportError::Io(error)
    }
}
