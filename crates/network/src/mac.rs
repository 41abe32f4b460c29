//! Field 128: the MAC of every network message, with the ZAK of the link it travels on.
//!
//! ANSI X9.19 retail MAC (ISO 9797-1 algorithm 3, padding method 1, double-length key) over the
//! body from the first byte of the MTI to the last byte before field 128, bitmaps included with
//! bit 128 set (docs/network-spec.md, field 128). 128 is the dialect's last field, so the MAC
//! input is the encoded body minus its last 8 bytes.

use hsm::{MacAlgorithm, SecurityModule, WrappedKey, mac::Padding};
use iso8583::Message;

use crate::error::{Error, Result};

/// The field that carries the MAC.
pub const MAC_FIELD: u8 = 128;
/// Bytes in field 128.
pub const MAC_BYTES: usize = 8;
/// The algorithm of every network link.
pub const ALGORITHM: MacAlgorithm = MacAlgorithm::Alg3(Padding::Method1);

/// The MAC input of `message` as it would be sent: its encoding with 128 present, minus 128.
fn mac_input(message: &Message) -> Result<Vec<u8>> {
    let mut body = message.encode()?;
    let len =
        body.len().checked_sub(MAC_BYTES).ok_or(Error::Invalid { field: MAC_FIELD, reason: "message too short" })?;
    body.truncate(len);
    Ok(body)
}

/// Set field 128 of `message` to its MAC under `zak`.
pub fn sign(hsm: &dyn SecurityModule, zak: &WrappedKey, message: &mut Message) -> Result<()> {
    // Bit 128 must be set in the bitmap the MAC covers: put a placeholder in first.
    message.set(MAC_FIELD, &[0u8; MAC_BYTES])?;
    let input = mac_input(message)?;
    let mac = hsm.generate_mac(zak, ALGORITHM, &input).map_err(|e| Error::Hsm(e.to_string()))?;
    message.set(MAC_FIELD, &mac)?;
    Ok(())
}

/// Check field 128 of `message` under `zak`: [`Error::Mac`] when it is absent or wrong.
pub fn verify(hsm: &dyn SecurityModule, zak: &WrappedKey, message: &Message) -> Result<()> {
    let Some(mac) = message.get(MAC_FIELD) else {
        return Err(Error::Mac);
    };
    if mac.len() != MAC_BYTES {
        return Err(Error::Mac);
    }
    let input = mac_input(message)?;
    match hsm.verify_mac(zak, ALGORITHM, &input, mac) {
        Ok(()) => Ok(()),
        Err(hsm::Error::Verification(_)) => Err(Error::Mac),
        Err(other) => Err(Error::Hsm(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsm::{KeyAlgorithm, KeyType, SoftHsm};
    use iso8583::Mti;

    fn message() -> Message {
        let mut m = Message::new(iso8583::builtin::network(), Mti::parse("0200").unwrap());
        m.set_str(2, "6224242900000113").unwrap();
        m.set_str(3, "000000").unwrap();
        m.set_str(4, "000000012500").unwrap();
        m.set_str(11, "118204").unwrap();
        m.set_str(32, "10000000344").unwrap();
        m
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let hsm = SoftHsm::generate().unwrap();
        let zak = hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap();
        let other = hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap();
        let mut m = message();
        assert_eq!(verify(&hsm, &zak, &m), Err(Error::Mac), "no 128 is a MAC failure");
        sign(&hsm, &zak, &mut m).unwrap();
        verify(&hsm, &zak, &m).unwrap();
        assert_eq!(verify(&hsm, &other, &m), Err(Error::Mac));
        // Through the wire and back: still verifies.
        let back = iso8583::decode(m.spec(), &m.encode().unwrap()).unwrap();
        verify(&hsm, &zak, &back).unwrap();
        // Any change of a covered field breaks it.
        m.set_str(4, "000000012501").unwrap();
        assert_eq!(verify(&hsm, &zak, &m), Err(Error::Mac));
    }
}
