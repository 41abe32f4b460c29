//! Field 55 as the issuer and the card simulator read it: which tags the ARQC covers, in
//! which order, and the response's tag 91 (docs/network-flows.md §2).
//!
//! cardnet cards use the EMV common session key (`hsm::emv::Scheme::Common`, UnionPay PBOC
//! style) and compute the ARQC over the values of [`ARQC_DATA_TAGS`] concatenated in that
//! order (the CDOL1 data of a typical PBOC card, then the ATC and the whole issuer
//! application data).

use iso8583::Message;

use crate::error::{Error, Result};

const FIELD: u8 = 55;

/// The tags whose values, in this order, are the ARQC input.
pub const ARQC_DATA_TAGS: [&str; 11] = ["9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37", "82", "9F36", "9F10"];

/// What the issuer needs from field 55 to verify the cryptogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipData {
    /// 9F26, the application cryptogram.
    pub arqc: [u8; 8],
    /// 9F36, the application transaction counter.
    pub atc: [u8; 2],
    /// 9F37, the unpredictable number.
    pub unpredictable_number: Vec<u8>,
    /// 9F02, the amount the card authorised, minor units (n12 BCD).
    pub amount_authorised_minor: u64,
    /// 5F2A, the transaction currency the card signed, ISO 4217 numeric (3 digits).
    pub currency: String,
    /// The ARQC input: [`ARQC_DATA_TAGS`] values concatenated.
    pub data: Vec<u8>,
}

fn tag<'a>(message: &'a Message, tag: &'static str) -> Result<&'a [u8]> {
    message
        .get_path(&format!("55.{tag}"))
        .map_err(|_| Error::Invalid { field: FIELD, reason: "not BER-TLV" })?
        .ok_or(Error::Invalid { field: FIELD, reason: "a tag the ARQC needs is missing" })
}

/// Read the chip data of `message` (field 55).
pub fn chip_data(message: &Message) -> Result<ChipData> {
    if !message.has(FIELD) {
        return Err(Error::Missing { field: FIELD });
    }
    let arqc: [u8; 8] = tag(message, "9F26")?
        .try_into()
        .map_err(|_| Error::Invalid { field: FIELD, reason: "9F26 must be 8 bytes" })?;
    let atc: [u8; 2] = tag(message, "9F36")?
        .try_into()
        .map_err(|_| Error::Invalid { field: FIELD, reason: "9F36 must be 2 bytes" })?;
    let mut data = Vec::with_capacity(64);
    for name in ARQC_DATA_TAGS {
        data.extend_from_slice(tag(message, name)?);
    }
    let amount_authorised_minor = bcd_digits(tag(message, "9F02")?, 12)
        .and_then(|digits| digits.parse().ok())
        .ok_or(Error::Invalid { field: FIELD, reason: "9F02 must be 12 BCD digits" })?;
    let currency = bcd_digits(tag(message, "5F2A")?, 4)
        .map(|digits| digits[1..].to_owned())
        .ok_or(Error::Invalid { field: FIELD, reason: "5F2A must be 4 BCD digits" })?;
    Ok(ChipData {
        arqc,
        atc,
        unpredictable_number: tag(message, "9F37")?.to_vec(),
        amount_authorised_minor,
        currency,
        data,
    })
}

/// The decimal digits of packed BCD `bytes` when there are exactly `digits` of them.
fn bcd_digits(bytes: &[u8], digits: usize) -> Option<String> {
    if bytes.len() * 2 != digits {
        return None;
    }
    let mut text = String::with_capacity(digits);
    for nibble in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        if nibble > 9 {
            return None;
        }
        text.push(char::from(b'0' + nibble));
    }
    Some(text)
}

/// The authorization response code for ARPC method 1: the two ASCII characters of field 39.
pub fn arc(response_code: &str) -> [u8; 2] {
    let bytes = response_code.as_bytes();
    [bytes.first().copied().unwrap_or(b'0'), bytes.get(1).copied().unwrap_or(b'0')]
}

/// Tag 91 (issuer authentication data) for ARPC method 1: ARPC ‖ ARC.
pub fn issuer_authentication_data(arpc: &[u8], arc: [u8; 2]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arpc.len() + 2);
    out.extend_from_slice(arpc);
    out.extend_from_slice(&arc);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use iso8583::Mti;

    #[test]
    fn reads_the_tags_in_order() {
        let mut m = Message::new(iso8583::builtin::network(), Mti::parse("0200").unwrap());
        let values: [(&str, &[u8]); 12] = [
            ("9F26", &[1, 2, 3, 4, 5, 6, 7, 8]),
            ("9F02", &[0, 0, 0, 0, 1, 0]),
            ("9F03", &[0; 6]),
            ("9F1A", &[1, 0x56]),
            ("95", &[0; 5]),
            ("5F2A", &[1, 0x56]),
            ("9A", &[0x26, 0x11, 0x21]),
            ("9C", &[0]),
            ("9F37", &[9, 9, 9, 9]),
            ("82", &[0x7C, 0]),
            ("9F36", &[0, 7]),
            ("9F10", &[7, 1, 1, 3, 0xA0, 0, 0]),
        ];
        for (name, value) in values {
            m.set_path(&format!("55.{name}"), value).unwrap();
        }
        let chip = chip_data(&m).unwrap();
        assert_eq!(chip.arqc, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(chip.atc, [0, 7]);
        let expected: Vec<u8> = values[1..].iter().flat_map(|(_, v)| v.iter().copied()).collect();
        assert_eq!(chip.data, expected);
        assert_eq!((chip.amount_authorised_minor, chip.currency.as_str()), (100, "156"));
        m.set_path("55.9F02", &[0, 0, 0, 0, 0x1A, 0]).unwrap();
        assert!(matches!(chip_data(&m), Err(Error::Invalid { field: 55, reason }) if reason.contains("9F02")));
        m.set_path("55.9F02", &[0, 0, 0, 0, 1]).unwrap();
        assert!(matches!(chip_data(&m), Err(Error::Invalid { field: 55, reason }) if reason.contains("9F02")));
        m.set_path("55.9F02", &[0, 0, 0, 0, 1, 0]).unwrap();
        m.remove_path("55.9F37").unwrap();
        assert!(matches!(chip_data(&m), Err(Error::Invalid { field: 55, .. })));
        assert_eq!(arc("05"), *b"05");
    }
}
