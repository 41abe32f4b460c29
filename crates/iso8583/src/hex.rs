//! Uppercase hex, the way payment engineers write bytes.

const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0F) as usize] as char);
    }
    out
}

/// Append the uppercase hex of `bytes` to `out` as ASCII.
pub fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 0x0F) as usize]);
    }
}

/// Value of one hex digit (either case).
pub fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Value of one uppercase hex digit: what the codec writes, and so all it accepts on the wire
/// (accepting `a` and writing back `A` would break byte-exact round trips).
pub fn nibble_upper(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Where hex text goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    OddLength,
    NotHex { index: usize },
}

impl std::fmt::Display for HexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HexError::OddLength => write!(f, "odd number of hex digits"),
            HexError::NotHex { index } => write!(f, "character {index} is not a hex digit"),
        }
    }
}

impl std::error::Error for HexError {}

pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    decode_into(text.as_bytes(), &mut out)?;
    Ok(out)
}

/// Decode hex text (either case) and append the bytes to `out`.
pub fn decode_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), HexError> {
    decode_with(text, out, nibble)
}

/// Decode uppercase hex text only, appending the bytes to `out`.
pub fn decode_upper_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), HexError> {
    decode_with(text, out, nibble_upper)
}

fn decode_with(text: &[u8], out: &mut Vec<u8>, nibble: fn(u8) -> Option<u8>) -> Result<(), HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength);
    }
    out.reserve(text.len() / 2);
    for (index, pair) in text.chunks_exact(2).enumerate() {
        let high = nibble(pair[0]).ok_or(HexError::NotHex { index: 2 * index })?;
        let low = nibble(pair[1]).ok_or(HexError::NotHex { index: 2 * index + 1 })?;
        out.push(high << 4 | low);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        assert_eq!(encode(&[0x00, 0xAB, 0x9f]), "00AB9F");
        assert_eq!(decode("00ab9F").unwrap(), vec![0x00, 0xAB, 0x9F]);
        assert_eq!(decode("ABC"), Err(HexError::OddLength));
        assert_eq!(decode("0G"), Err(HexError::NotHex { index: 1 }));
    }
}
