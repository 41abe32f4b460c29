//! A request over an outbound link (a `transport::Session`) and what its failure means for the
//! money: whether the other side may have received it.

use iso8583::Message;
use transport::{Session, SessionState, TransportError};

/// Why a request over a link got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFailure {
    /// Not sent: the session was not signed on, or the request was refused before it left.
    Unavailable,
    /// Sent, and no answer within the timeout: the other side may have acted on it.
    Timeout,
    /// Sent (or maybe sent), and the link dropped before the answer: the other side may have
    /// acted on it.
    LinkLost,
}

impl LinkFailure {
    /// Whether the other side may have received the request (and acted on it): only a request
    /// that never left is known not to have been.
    pub fn maybe_delivered(self) -> bool {
        !matches!(self, LinkFailure::Unavailable)
    }

    /// The failure a transport error stands for.
    pub fn of(error: &TransportError) -> LinkFailure {
        match error {
            TransportError::Timeout => LinkFailure::Timeout,
            TransportError::ConnectionClosed | TransportError::Io(_) | TransportError::Framing(_) => {
                LinkFailure::LinkLost
            }
            TransportError::Codec(_) | TransportError::NoMatchKey | TransportError::DuplicateKey => {
                LinkFailure::Unavailable
            }
        }
    }
}

/// Whether `session` is signed on now.
pub fn is_ready(session: &Session) -> bool {
    *session.state().borrow() == SessionState::Ready
}

/// Send `request` over `session` if it is signed on now; a session that is not is
/// [`LinkFailure::Unavailable`] at once (the request is not held until it comes up).
pub async fn request_if_ready(session: &Session, request: &Message) -> Result<Message, LinkFailure> {
    if !is_ready(session) {
        return Err(LinkFailure::Unavailable);
    }
    session.request(request).await.map_err(|error| LinkFailure::of(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_after_sending_may_have_been_delivered() {
        assert_eq!(LinkFailure::of(&TransportError::Timeout), LinkFailure::Timeout);
        assert_eq!(LinkFailure::of(&TransportError::ConnectionClosed), LinkFailure::LinkLost);
        assert_eq!(LinkFailure::of(&TransportError::Io(std::io::ErrorKind::BrokenPipe.into())), LinkFailure::LinkLost);
        assert_eq!(LinkFailure::of(&TransportError::NoMatchKey), LinkFailure::Unavailable);
        assert_eq!(LinkFailure::of(&TransportError::DuplicateKey), LinkFailure::Unavailable);
        assert!(!LinkFailure::Unavailable.maybe_delivered());
        assert!(LinkFailure::Timeout.maybe_delivered() && LinkFailure::LinkLost.maybe_delivered());
    }
}
