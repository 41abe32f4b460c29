//! Reading a text value's bytes as characters (for dumps and JSON) and back. The wire bytes
//! never change: a value shown as text must turn back into exactly the same bytes, or it is
//! shown as hex instead.

use crate::spec::Charset;

/// The value as text in `charset`, or `None` when it is not valid text there or would not
/// turn back into the same bytes.
pub fn to_text(value: &[u8], charset: Charset) -> Option<String> {
    match charset {
        Charset::Utf8 => std::str::from_utf8(value).ok().map(str::to_owned),
        Charset::Gbk => {
            let text = encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(value)?;
            let (bytes, _, had_errors) = encoding_rs::GBK.encode(&text);
            (!had_errors && bytes == value).then(|| text.into_owned())
        }
    }
}

/// The bytes of `text` in `charset`; an error names the first character it cannot carry.
pub fn from_text(text: &str, charset: Charset) -> Result<Vec<u8>, String> {
    match charset {
        Charset::Utf8 => Ok(text.as_bytes().to_vec()),
        Charset::Gbk => {
            let (bytes, _, had_errors) = encoding_rs::GBK.encode(text);
            if had_errors {
                let bad = text.chars().find(|c| encoding_rs::GBK.encode(&c.to_string()).2).unwrap_or('?');
                return Err(format!("character {bad:?} cannot be written in GBK"));
            }
            Ok(bytes.into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_round_trips_and_refuses_what_it_cannot_carry() {
        // "中国银联" in GBK.
        let bytes = [0xD6, 0xD0, 0xB9, 0xFA, 0xD2, 0xF8, 0xC1, 0xAA];
        assert_eq!(to_text(&bytes, Charset::Gbk).as_deref(), Some("中国银联"));
        assert_eq!(from_text("中国银联", Charset::Gbk).unwrap(), bytes);
        assert_eq!(to_text(&bytes, Charset::Utf8), None);
        assert_eq!(to_text(&[0xD6], Charset::Gbk), None, "a lone lead byte");
        assert!(from_text("😀", Charset::Gbk).is_err());
        assert_eq!(from_text("CUP", Charset::Gbk).unwrap(), b"CUP");
    }
}
