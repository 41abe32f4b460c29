//! One log line per message exchange, for operators: MTI, STAN, RRN, response code, latency,
//! and the PAN masked (first 6, last 4; from track 2 when there is no field 2). Nothing else from the message is logged: no track data,
//! PIN blocks, keys or MACs can reach a log through here.

use std::time::Duration;

use iso8583::Message;

/// Log a request the server answered (or chose not to answer: `response` is `None`).
pub(crate) fn exchange(request: &Message, response: Option<&Message>, latency: Duration) {
    let pan = logged_pan(request);
    let text = |message: &Message, field: u8| message.get_str(field).unwrap_or("").to_owned();
    tracing::info!(
        target: "cardnet::transport",
        mti = request.mti().as_str(),
        stan = text(request, 11),
        rrn = response.map_or_else(|| text(request, 37), |r| text(r, 37)),
        response_mti = response.map_or_else(String::new, |r| r.mti().to_string()),
        rc = response.map_or_else(String::new, |r| text(r, 39)),
        pan = pan.as_str(),
        latency_us = latency.as_micros() as u64,
        "message"
    );
}

/// The request's PAN, masked: field 2, or track 2 before its separator (a swiped or chip sale
/// from a POS terminal carries no field 2); empty when there is none.
fn logged_pan(request: &Message) -> String {
    iso8583::mask::request_pan(request).map(|pan| iso8583::mask::mask_pan(&pan)).unwrap_or_default()
}

/// Log a frame that did not decode: who sent it, where and why (the error never carries field
/// values).
pub(crate) fn malformed(peer_address: Option<std::net::SocketAddr>, error: &iso8583::Error, answered: bool) {
    tracing::warn!(target: "cardnet::transport", peer = %peer(peer_address), error = %error, answered, "malformed message");
}

/// The peer as log lines show it: its address, or `-` for a stream without one (in memory).
pub(crate) fn peer(peer: Option<std::net::SocketAddr>) -> String {
    peer.map_or_else(|| "-".to_owned(), |address| address.to_string())
}

/// A connection closed on accept: which limit, and who.
pub(crate) fn refused(peer_address: Option<std::net::SocketAddr>, limit: &str) {
    tracing::warn!(target: "cardnet::transport", peer = %peer(peer_address), limit, "connection refused: {limit} limit reached");
}

/// Refused connections counted but not logged one by one.
pub(crate) fn refused_summary(count: u64, over: Duration) {
    tracing::warn!(target: "cardnet::transport", count, "{count} more connections refused in the last {} s", over.as_secs().max(1));
}

/// Malformed frames on one connection counted but not logged one by one.
pub(crate) fn malformed_summary(peer_address: Option<std::net::SocketAddr>, count: u64, over: Duration) {
    tracing::warn!(
        target: "cardnet::transport",
        peer = %peer(peer_address),
        count,
        "peer {}: {count} malformed frames in the last {} s",
        peer(peer_address),
        over.as_secs().max(1)
    );
}

#[cfg(test)]
mod tests {
    use iso8583::{Message, Mti};

    use super::logged_pan;

    fn sale(fields: &[(u8, &str)]) -> Message {
        let mut message = Message::new(iso8583::builtin::cup_pos(), Mti::parse("0200").unwrap());
        for (field, value) in fields {
            message.set_str(*field, value).unwrap();
        }
        message
    }

    #[test]
    fn the_pan_is_masked_from_field_2_or_track_2() {
        assert_eq!(logged_pan(&sale(&[(2, "6224242900000113")])), "622424******0113");
        let track = "6224242900000113D28062013949031013";
        assert_eq!(logged_pan(&sale(&[(35, track)])), "622424******0113", "a swiped sale has no field 2");
        // Enciphered (53.3 = 1): the digits before the 17 enciphered ones, when the separator
        // is among them; otherwise nothing rather than cipher digits.
        let enciphered = "6224242900000113D26B0EA077FAD843710";
        assert_eq!(logged_pan(&sale(&[(35, enciphered), (53, "0610000000000000")])), "622424******0113");
        let short = "6224242900000113D2806201";
        assert_eq!(logged_pan(&sale(&[(35, short), (53, "0610000000000000")])), "");
        assert_eq!(logged_pan(&sale(&[(3, "000000")])), "");
    }
}
