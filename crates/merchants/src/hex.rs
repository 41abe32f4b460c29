//! Upper-case hex for key components, encrypted keys and the LMK file.

const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0F)]));
    }
    out
}

/// `None` for an odd length or a character that is not a hex digit (either case).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    bytes.chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::encode(&[0x01, 0xAB]), "01AB");
        assert_eq!(super::decode("01ab"), Some(vec![0x01, 0xAB]));
        assert_eq!(super::decode("0"), None);
        assert_eq!(super::decode("0G"), None);
    }
}
