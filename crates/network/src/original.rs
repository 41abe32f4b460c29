//! Field 90, original data elements: how a reversal, void or completion names the message it
//! refers to. Per leg (docs/network-flows.md §1): each sender names what *it* sent.

use iso8583::Message;

use crate::error::{Error, Result, required};

/// Digits of an institution id in 90.4 and 90.5.
pub const INSTITUTION_DIGITS: usize = 11;
/// Characters of field 90.
pub const FIELD_90_LEN: usize = 42;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginalData {
    /// 90.1: the original MTI.
    pub mti: String,
    /// 90.2: the original field 11.
    pub stan: String,
    /// 90.3: the original field 7.
    pub transmission_time: String,
    /// 90.4: the original field 32, zero-filled on the left to 11 digits.
    pub acquirer: String,
    /// 90.5: the original field 33, zero-filled, or 11 zeros.
    pub forwarder: String,
}

fn institution(value: Option<&str>, field: u8) -> Result<String> {
    let value = value.unwrap_or("");
    if value.len() > INSTITUTION_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Invalid { field, reason: "institution id must be up to 11 digits" });
    }
    Ok(format!("{value:0>INSTITUTION_DIGITS$}"))
}

impl OriginalData {
    /// What field 90 would say about `request` (its MTI, 11, 7, 32, 33).
    pub fn of_request(request: &Message) -> Result<OriginalData> {
        Ok(OriginalData {
            mti: request.mti().as_str().to_owned(),
            stan: required(request, 11)?.to_owned(),
            transmission_time: required(request, 7)?.to_owned(),
            acquirer: institution(Some(required(request, 32)?), 32)?,
            forwarder: institution(request.get_str(33), 33)?,
        })
    }

    /// Field 90 of `message`.
    pub fn from_field90(message: &Message) -> Result<OriginalData> {
        let value = required(message, 90)?;
        if value.len() != FIELD_90_LEN || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Invalid { field: 90, reason: "must be 42 digits" });
        }
        Ok(OriginalData {
            mti: value[0..4].to_owned(),
            stan: value[4..10].to_owned(),
            transmission_time: value[10..20].to_owned(),
            acquirer: value[20..31].to_owned(),
            forwarder: value[31..42].to_owned(),
        })
    }

    /// Write field 90 of `message`.
    pub fn set_field90(&self, message: &mut Message) -> Result<()> {
        message.set_str(90, &self.field90())?;
        Ok(())
    }

    pub fn field90(&self) -> String {
        format!("{}{}{}{}{}", self.mti, self.stan, self.transmission_time, self.acquirer, self.forwarder)
    }

    /// The key a receiver files the original under: what identifies one request of one sender
    /// (11, 7, 32, 33), without the MTI, so a repeat (0201) finds its 0200.
    pub fn lookup_key(&self) -> String {
        format!("{}:{}:{}:{}", self.stan, self.transmission_time, self.acquirer, self.forwarder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::Mti;

    #[test]
    fn the_example_of_network_spec() {
        let mut original = Message::new(iso8583::builtin::network(), Mti::parse("0200").unwrap());
        original.set_str(7, "0315063023").unwrap();
        original.set_str(11, "118204").unwrap();
        original.set_str(32, "10000000344").unwrap();
        original.set_str(33, "90000000001").unwrap();
        let data = OriginalData::of_request(&original).unwrap();
        assert_eq!(data.field90(), "020011820403150630231000000034490000000001");
        let mut reversal = Message::new(iso8583::builtin::network(), Mti::parse("0420").unwrap());
        data.set_field90(&mut reversal).unwrap();
        assert_eq!(reversal.get_path("90.2").unwrap(), Some(&b"118204"[..]));
        assert_eq!(OriginalData::from_field90(&reversal).unwrap(), data);
        assert_eq!(data.lookup_key(), "118204:0315063023:10000000344:90000000001");
    }

    #[test]
    fn short_ids_are_zero_filled_and_missing_33_is_zeros() {
        let mut m = Message::new(iso8583::builtin::network(), Mti::parse("0100").unwrap());
        m.set_str(7, "0101000000").unwrap();
        m.set_str(11, "000001").unwrap();
        m.set_str(32, "344").unwrap();
        let data = OriginalData::of_request(&m).unwrap();
        assert_eq!(data.acquirer, "00000000344");
        assert_eq!(data.forwarder, "00000000000");
        m.remove(11);
        assert_eq!(OriginalData::of_request(&m), Err(Error::Missing { field: 11 }));
    }
}
