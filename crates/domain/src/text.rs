//! Short ASCII text held inline: the storage under every identifier type, so that carrying
//! one costs no allocation on the hot path.

/// Up to `N` ASCII bytes; only ever built from text its owner checked to be ASCII.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Text<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

impl<const N: usize> Text<N> {
    /// `text` when it is `min..=N` bytes each accepted by `allowed`; the errors name `what`.
    pub(crate) fn checked(
        what: &'static str,
        text: &str,
        min: usize,
        allowed: fn(u8) -> bool,
        reason: &'static str,
    ) -> Result<Text<N>, crate::ParseError> {
        if text.len() < min || text.len() > N || !text.bytes().all(allowed) {
            return Err(crate::ParseError::new(what, reason));
        }
        let mut bytes = [0u8; N];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        // N is at most 19 for every type here, so the length fits a byte.
        Ok(Text { bytes, len: text.len() as u8 })
    }

    /// The one-character text `digit` (an ASCII digit): what a constant can be built from.
    pub(crate) const fn digit(digit: u8) -> Text<N> {
        let mut bytes = [0u8; N];
        bytes[0] = b'0' + digit % 10;
        Text { bytes, len: 1 }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Built only from checked ASCII, so always UTF-8; "" keeps this free of a panic path.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// ISO 8583 `ans`: printable ASCII, space included.
pub(crate) fn is_ans(b: u8) -> bool {
    b.is_ascii_graphic() || b == b' '
}

pub(crate) fn is_an(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

pub(crate) fn is_n(b: u8) -> bool {
    b.is_ascii_digit()
}
