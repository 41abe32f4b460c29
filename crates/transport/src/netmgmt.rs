//! Network management on the `network` dialect: 0800 requests (sign-on, sign-off, key change,
//! echo test) and their 0810 answers.
//!
//! A request carries field 7 (transmission date and time, MMDDhhmmss, UTC), 11 (STAN), 32
//! (acquiring institution), optionally 33 (forwarding institution) and 70 (the network
//! management information code). The answer copies 7, 11, 32, 33 and 70 and sets 39. A server
//! [`Handler`] can delegate 0800s to [`answer`], or wrap itself in [`NetMgmt`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use iso8583::{Envelope, Message, Mti, Spec};

use crate::server::Handler;

/// MTI of a network management request.
pub const MTI_REQUEST: &str = "0800";
/// MTI of a network management response.
pub const MTI_RESPONSE: &str = "0810";
/// Fields an 0810 copies from its 0800.
pub const ECHO_FIELDS: [u8; 5] = [7, 11, 32, 33, 70];
/// Response code of an approved network management request.
pub const APPROVED: &str = "00";

/// Field 70 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkCode {
    /// 001
    SignOn,
    /// 002
    SignOff,
    /// 101
    KeyChange,
    /// 301
    Echo,
}

impl NetworkCode {
    /// The three digits of field 70.
    pub fn code(self) -> &'static str {
        match self {
            NetworkCode::SignOn => "001",
            NetworkCode::SignOff => "002",
            NetworkCode::KeyChange => "101",
            NetworkCode::Echo => "301",
        }
    }

    pub fn parse(code: &str) -> Option<NetworkCode> {
        match code {
            "001" => Some(NetworkCode::SignOn),
            "002" => Some(NetworkCode::SignOff),
            "101" => Some(NetworkCode::KeyChange),
            "301" => Some(NetworkCode::Echo),
            _ => None,
        }
    }

    /// The code of a network management message (0800 or 0810), if it is one.
    pub fn of(message: &Message) -> Option<NetworkCode> {
        let mti = message.mti();
        if mti.as_str() != MTI_REQUEST && mti.as_str() != MTI_RESPONSE {
            return None;
        }
        NetworkCode::parse(message.get_str(70)?)
    }
}

/// Who sends network management requests: field 32 and, optionally, field 33.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institution {
    pub acquirer: String,
    pub forwarding: Option<String>,
}

impl Institution {
    pub fn new(acquirer: impl Into<String>) -> Institution {
        Institution { acquirer: acquirer.into(), forwarding: None }
    }
}

/// `time` as MMDDhhmmss in UTC (field 7).
pub fn transmission_time(time: SystemTime) -> String {
    let ms = time.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    clock::UtcDateTime::from_ms(ms).mmddhhmmss()
}

/// An 0800 with `code`, STAN `stan` (taken modulo 1 000 000) and transmission time now.
pub fn request(spec: &Arc<Spec>, code: NetworkCode, stan: u32, from: &Institution) -> iso8583::Result<Message> {
    request_at(spec, code, stan, from, &transmission_time(SystemTime::now()))
}

/// An 0800 with an explicit field 7 (MMDDhhmmss).
pub fn request_at(
    spec: &Arc<Spec>,
    code: NetworkCode,
    stan: u32,
    from: &Institution,
    transmission: &str,
) -> iso8583::Result<Message> {
    let mti = Mti::parse(MTI_REQUEST)?;
    let mut message = Message::new(Arc::clone(spec), mti);
    message.set_str(7, transmission)?;
    message.set_str(11, &format!("{:06}", stan % 1_000_000))?;
    message.set_str(32, &from.acquirer)?;
    if let Some(forwarding) = &from.forwarding {
        message.set_str(33, forwarding)?;
    }
    message.set_str(70, code.code())?;
    Ok(message)
}

/// Whether `message` is an 0800 this module answers.
pub fn is_request(message: &Message) -> bool {
    message.mti().as_str() == MTI_REQUEST
}

/// The 0810 answer to an 0800 with response code `response_code`; `None` if `message` is not an
/// 0800. Field 70 values this module does not know are answered too (the code is echoed).
pub fn answer_with(message: &Message, response_code: &str) -> Option<Message> {
    if !is_request(message) {
        return None;
    }
    let mut response = message.response(&ECHO_FIELDS).ok()?;
    response.set_str(39, response_code).ok()?;
    Some(response)
}

/// The approving 0810 (39 = 00) to an 0800; `None` if `message` is not an 0800.
pub fn answer(message: &Message) -> Option<Message> {
    answer_with(message, APPROVED)
}

/// Whether `response` is an approved 0810 (39 = 00).
pub fn is_approved(response: &Message) -> bool {
    response.mti().as_str() == MTI_RESPONSE && response.get_str(39) == Some(APPROVED)
}

/// A [`Handler`] that answers 0800s itself (39 = 00) and passes everything else to `inner`.
#[derive(Debug, Clone)]
pub struct NetMgmt<H> {
    pub inner: H,
}

impl<H: Handler> Handler for NetMgmt<H> {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        if is_request(&message) {
            return answer(&message).map(|response| (envelope.response(), response));
        }
        self.inner.handle(envelope, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn transmission_time_is_mmddhhmmss_utc() {
        // 2026-11-21 23:15:07 UTC
        let time = UNIX_EPOCH + Duration::from_secs(1_795_302_907);
        assert_eq!(transmission_time(time), "1121231507");
        assert_eq!(transmission_time(UNIX_EPOCH), "0101000000");
        // 2024-02-29 12:00:00 UTC (leap day)
        assert_eq!(transmission_time(UNIX_EPOCH + Duration::from_secs(1_709_208_000)), "0229120000");
    }

    #[test]
    fn request_and_answer() {
        let spec = iso8583::builtin::network();
        let from = Institution { acquirer: "123456".into(), forwarding: Some("654321".into()) };
        let request = request_at(&spec, NetworkCode::Echo, 1_000_042, &from, "1121231507").unwrap();
        assert_eq!(request.mti().as_str(), "0800");
        assert_eq!(request.get_str(7), Some("1121231507"));
        assert_eq!(request.get_str(11), Some("000042"));
        assert_eq!(request.get_str(32), Some("123456"));
        assert_eq!(request.get_str(33), Some("654321"));
        assert_eq!(NetworkCode::of(&request), Some(NetworkCode::Echo));
        let response = answer(&request).unwrap();
        assert_eq!(response.mti().as_str(), "0810");
        for field in ECHO_FIELDS {
            assert_eq!(response.get(field), request.get(field), "field {field}");
        }
        assert!(is_approved(&response));
        assert!(answer(&response).is_none(), "an 0810 is not answered");
        let declined = answer_with(&request, "91").unwrap();
        assert!(!is_approved(&declined));
        // Round trip through the codec.
        let bytes = response.encode().unwrap();
        assert!(!bytes.is_empty());
    }

    #[test]
    fn codes_round_trip() {
        for code in [NetworkCode::SignOn, NetworkCode::SignOff, NetworkCode::KeyChange, NetworkCode::Echo] {
            assert_eq!(NetworkCode::parse(code.code()), Some(code));
        }
        assert_eq!(NetworkCode::parse("999"), None);
    }
}
