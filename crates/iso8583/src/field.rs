//! One field on the wire: its length prefix and its value in BCD, ASCII, EBCDIC, binary or hex.
//! Decoding appends the value (in value units, see `spec`) to an arena; encoding appends wire
//! bytes. Both check the value against the field's type, so what decodes always re-encodes to
//! the same bytes.

use crate::ebcdic;
use crate::error::{Error, Location, Reason, Result};
use crate::hex;
use crate::spec::{Align, Encoding, FieldSpec, FieldType, Length, LengthUnit, PrefixEncoding};

/// Size in bytes of a length prefix of `digits` digits.
pub(crate) fn prefix_size(prefix: PrefixEncoding, digits: u8) -> usize {
    match prefix {
        PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => digits as usize,
        PrefixEncoding::Bcd | PrefixEncoding::Binary => digits.div_ceil(2) as usize,
    }
}

/// Wire size of a value of `units` units.
fn wire_size(spec: &FieldSpec, units: usize) -> usize {
    match (spec.encoding, spec.field_type) {
        (Encoding::Bcd, FieldType::Xn) => 1 + units.saturating_sub(1).div_ceil(2),
        (Encoding::Bcd, _) => units.div_ceil(2),
        (Encoding::Hex, _) => units * 2,
        _ => units,
    }
}

/// Decode the field at `input[position..]`, appending its value to `out`.
/// Returns the position after the field. Errors carry absolute offsets into `input`.
pub(crate) fn decode(spec: &FieldSpec, input: &[u8], position: usize, out: &mut Vec<u8>) -> Result<usize> {
    let location = || Location::Field(spec.number);
    let mut at = position;
    let units = match spec.length {
        Length::Fixed(len) => len as usize,
        Length::Var { prefix_digits, max } => {
            let size = prefix_size(spec.prefix, prefix_digits);
            let bytes = input.get(at..at + size).ok_or_else(|| {
                Error::at(location(), at, Reason::Truncated { needed: size, available: input.len() - at })
            })?;
            let count =
                read_prefix(spec.prefix, bytes).ok_or_else(|| Error::at(location(), at, Reason::BadLengthPrefix))?;
            let units = match (spec.unit, spec.encoding) {
                (LengthUnit::Units, _) => count,
                (LengthUnit::Bytes, Encoding::Bcd) => count * 2,
                (LengthUnit::Bytes, Encoding::Hex) => {
                    if count % 2 != 0 {
                        return Err(Error::at(location(), at, Reason::BadLengthPrefix));
                    }
                    count / 2
                }
                (LengthUnit::Bytes, _) => count,
            };
            if units > max as usize {
                return Err(Error::at(location(), at, Reason::TooLong { length: units, max: max as usize }));
            }
            at += size;
            units
        }
    };
    let size = wire_size(spec, units);
    let Some(wire) = input.get(at..at + size) else {
        let available = input.len().saturating_sub(at);
        return Err(Error::at(location(), at, Reason::Truncated { needed: size, available }));
    };
    decode_value(spec, wire, units, out).map_err(|e| e.offset_by(at))?;
    Ok(at + size)
}

fn read_prefix(prefix: PrefixEncoding, bytes: &[u8]) -> Option<usize> {
    let mut value = 0usize;
    match prefix {
        PrefixEncoding::Ascii => {
            for &b in bytes {
                if !b.is_ascii_digit() {
                    return None;
                }
                value = value * 10 + (b - b'0') as usize;
            }
        }
        PrefixEncoding::Ebcdic => {
            for &b in bytes {
                if !(0xF0..=0xF9).contains(&b) {
                    return None;
                }
                value = value * 10 + (b - 0xF0) as usize;
            }
        }
        PrefixEncoding::Bcd => {
            for &b in bytes {
                let (high, low) = (b >> 4, b & 0x0F);
                if high > 9 || low > 9 {
                    return None;
                }
                value = value * 100 + (high * 10 + low) as usize;
            }
        }
        PrefixEncoding::Binary => {
            for &b in bytes {
                value = value << 8 | b as usize;
            }
        }
    }
    Some(value)
}

/// Decode `wire` (exactly the field's bytes) holding `units` units. Offsets are relative.
fn decode_value(spec: &FieldSpec, wire: &[u8], units: usize, out: &mut Vec<u8>) -> Result<()> {
    let location = Location::Field(spec.number);
    match spec.encoding {
        Encoding::Binary => out.extend_from_slice(wire),
        Encoding::Hex => {
            hex::decode_upper_into(wire, out).map_err(|e| {
                let index = match e {
                    hex::HexError::NotHex { index } => index,
                    hex::HexError::OddLength => 0,
                };
                Error::at(location, index, Reason::BadCharacter { index, expected: "an uppercase hex digit" })
            })?;
        }
        Encoding::Ascii => {
            let start = out.len();
            out.extend_from_slice(wire);
            check_text(spec.field_type, &out[start..]).map_err(|e| e.locate(location))?;
        }
        Encoding::Ebcdic => {
            let start = out.len();
            for (index, &b) in wire.iter().enumerate() {
                match ebcdic::to_ascii(b) {
                    Some(ascii) => out.push(ascii),
                    None => {
                        out.truncate(start);
                        return Err(Error::at(
                            location,
                            index,
                            Reason::BadCharacter { index, expected: "EBCDIC 037 text" },
                        ));
                    }
                }
            }
            check_text(spec.field_type, &out[start..]).map_err(|e| e.locate(location))?;
        }
        Encoding::Bcd => {
            let (sign, digits) = match spec.field_type {
                FieldType::Xn => match wire.split_first() {
                    Some((&sign @ (b'C' | b'D'), rest)) => (Some(sign), rest),
                    _ => return Err(Error::at(location, 0, Reason::BadCharacter { index: 0, expected: "C or D" })),
                },
                _ => (None, wire),
            };
            let Some(digit_count) = units.checked_sub(sign.is_some() as usize) else {
                return Err(Error::at(location, 0, Reason::BadCharacter { index: 0, expected: "C or D" }));
            };
            let base = sign.is_some() as usize;
            if let Some(sign) = sign {
                out.push(sign);
            }
            let allow_hex = spec.field_type == FieldType::Z;
            unpack_bcd(digits, digit_count, spec.align, spec.pad_nibble, allow_hex, out)
                .map_err(|e| Error::at(location, base + e.byte, e.reason))?;
        }
    }
    Ok(())
}

struct BcdError {
    byte: usize,
    reason: Reason,
}

/// Two ASCII characters for every byte value; digits only where both nibbles are 0-9 or
/// (for tracks) any hex nibble.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let digits = *b"0123456789ABCDEF";
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [digits[b >> 4], digits[b & 0x0F]];
        b += 1;
    }
    table
};

fn unpack_bcd(
    wire: &[u8],
    digits: usize,
    align: Align,
    pad: u8,
    allow_hex: bool,
    out: &mut Vec<u8>,
) -> Result<(), BcdError> {
    debug_assert_eq!(wire.len(), digits.div_ceil(2));
    let odd = digits % 2 == 1;
    let mut bytes = wire;
    let mut byte_index = 0usize;
    out.reserve(digits);
    // An odd count has one pad nibble: first when right-aligned, last when left-aligned.
    if odd && align == Align::Right {
        let Some((&first, rest)) = bytes.split_first() else { return Ok(()) };
        if first >> 4 != pad {
            return Err(BcdError { byte: 0, reason: Reason::BadPadNibble { expected: pad } });
        }
        push_nibble(first & 0x0F, allow_hex, 1, out)?;
        bytes = rest;
        byte_index = 1;
    }
    let mut last = None;
    if odd
        && align == Align::Left
        && let Some((&final_byte, rest)) = bytes.split_last()
    {
        last = Some(final_byte);
        bytes = rest;
    }
    for (index, &b) in bytes.iter().enumerate() {
        if !allow_hex && !BCD_BYTE[b as usize] {
            let nibble_index = 2 * (byte_index + index) + (b >> 4 <= 9) as usize;
            return Err(BcdError { byte: byte_index + index, reason: Reason::NotBcd { nibble_index } });
        }
        out.extend_from_slice(&HEX_PAIRS[b as usize]);
    }
    if let Some(final_byte) = last {
        let byte = wire.len() - 1;
        if final_byte & 0x0F != pad {
            return Err(BcdError { byte, reason: Reason::BadPadNibble { expected: pad } });
        }
        push_nibble(final_byte >> 4, allow_hex, 2 * byte, out)?;
    }
    Ok(())
}

fn push_nibble(nibble: u8, allow_hex: bool, nibble_index: usize, out: &mut Vec<u8>) -> Result<(), BcdError> {
    if !allow_hex && nibble > 9 {
        return Err(BcdError { byte: nibble_index / 2, reason: Reason::NotBcd { nibble_index } });
    }
    out.push(HEX_PAIRS[nibble as usize][1]);
    Ok(())
}

/// Whether both nibbles of a byte are decimal digits.
const BCD_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0usize;
    while b < 256 {
        table[b] = (b >> 4) <= 9 && (b & 0x0F) <= 9;
        b += 1;
    }
    table
};

/// A character problem inside a value: index into the value.
pub(crate) struct TextError {
    index: usize,
    expected: &'static str,
}

impl TextError {
    pub(crate) fn locate(self, location: Location) -> Error {
        Error::new(location, Some(self.index), Reason::BadCharacter { index: self.index, expected: self.expected })
    }
}

/// Check a text value (ASCII form) against its type.
pub(crate) fn check_text(field_type: FieldType, value: &[u8]) -> Result<(), TextError> {
    let (class, expected) = match field_type {
        FieldType::N => (DIGIT, "a digit"),
        FieldType::A => (LETTER | SPACE, "a letter or space"),
        FieldType::An => (DIGIT | LETTER | SPACE, "a letter, digit or space"),
        FieldType::Ans => (DIGIT | LETTER | SPACE | PRINTABLE, "a printable character"),
        FieldType::Z => (DIGIT | TRACK, "track data (0-9, A-F, =)"),
        FieldType::B => return Ok(()),
        FieldType::Xn => {
            return match value.split_first() {
                Some((b'C' | b'D', digits)) => match digits.iter().position(|&b| CHAR_CLASS[b as usize] & DIGIT == 0) {
                    Some(index) => Err(TextError { index: index + 1, expected: "a digit" }),
                    None => Ok(()),
                },
                _ => Err(TextError { index: 0, expected: "C or D" }),
            };
        }
    };
    match value.iter().position(|&b| CHAR_CLASS[b as usize] & class == 0) {
        Some(index) => Err(TextError { index, expected }),
        None => Ok(()),
    }
}

const DIGIT: u8 = 1;
const LETTER: u8 = 2;
const SPACE: u8 = 4;
/// Printable punctuation, and bytes above 0x7F (national text such as GBK) for `ans`.
const PRINTABLE: u8 = 8;
/// `A`-`F` and `=` in track data.
const TRACK: u8 = 16;

/// Character classes of every byte, so text checks are one table lookup a byte.
const CHAR_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_digit() {
            DIGIT
        } else if c.is_ascii_alphabetic() {
            LETTER | if c >= b'A' && c <= b'F' { TRACK } else { 0 }
        } else if c == b' ' {
            SPACE
        } else if c == b'=' {
            PRINTABLE | TRACK
        } else if (c > 0x20 && c < 0x7F) || c >= 0x80 {
            PRINTABLE
        } else {
            0
        };
        b += 1;
    }
    table
};

/// Encode `value` (value units) as field `spec`, appending wire bytes to `out`.
pub(crate) fn encode(spec: &FieldSpec, value: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let location = || Location::Field(spec.number);
    let units = value.len();
    // Values in a `Message` were checked when they were set or decoded; only the lengths are
    // checked again here (cheap, and what keeps the wire format consistent).
    debug_assert!(check_value(spec, value).is_ok(), "field {} holds an unchecked value", spec.number);
    check_length(spec, units)?;
    if let Length::Var { prefix_digits, .. } = spec.length {
        let count = match (spec.unit, spec.encoding) {
            (LengthUnit::Units, _) => units,
            // Even: check_length refuses odd digit counts counted in bytes.
            (LengthUnit::Bytes, Encoding::Bcd) => units / 2,
            (LengthUnit::Bytes, Encoding::Hex) => units * 2,
            (LengthUnit::Bytes, _) => units,
        };
        write_prefix(spec.prefix, prefix_digits, count, out).map_err(|reason| Error::new(location(), None, reason))?;
    }
    match spec.encoding {
        Encoding::Binary | Encoding::Ascii => out.extend_from_slice(value),
        Encoding::Hex => hex::encode_into(value, out),
        Encoding::Ebcdic => {
            for (index, &b) in value.iter().enumerate() {
                let mapped = ebcdic::from_ascii(b).ok_or_else(|| {
                    Error::new(
                        location(),
                        Some(index),
                        Reason::BadCharacter { index, expected: "a character EBCDIC 037 can carry" },
                    )
                })?;
                out.push(mapped);
            }
        }
        Encoding::Bcd => {
            let digits = match (spec.field_type, value.split_first()) {
                (FieldType::Xn, Some((&sign, digits))) => {
                    out.push(sign);
                    digits
                }
                _ => value,
            };
            pack_bcd(digits, spec.align, spec.pad_nibble, out);
        }
    }
    Ok(())
}

/// Check length and characters of a value against its field spec.
pub(crate) fn check_value(spec: &FieldSpec, value: &[u8]) -> Result<()> {
    let location = || Location::Field(spec.number);
    let units = value.len();
    check_length(spec, units)?;
    if spec.field_type == FieldType::Z && spec.encoding == Encoding::Bcd {
        // In BCD the separator is the nibble D, so `=` is accepted and written as D.
        return check_text(FieldType::Z, value).map_err(|e| e.locate(location()));
    }
    if spec.field_type == FieldType::Xn && units < 1 {
        return Err(Error::new(location(), None, Reason::BadCharacter { index: 0, expected: "C or D" }));
    }
    check_text(spec.field_type, value).map_err(|e| e.locate(location()))
}

fn check_length(spec: &FieldSpec, units: usize) -> Result<()> {
    let counted_in_bytes = spec.unit == LengthUnit::Bytes && spec.encoding == Encoding::Bcd;
    if counted_in_bytes && matches!(spec.length, Length::Var { .. }) && !units.is_multiple_of(2) {
        return Err(Error::field(spec.number, Reason::NotAllowed("an odd digit count cannot be counted in bytes")));
    }
    match spec.length {
        Length::Fixed(len) if units != len as usize => {
            Err(Error::field(spec.number, Reason::LengthMismatch { expected: len as usize, actual: units }))
        }
        Length::Var { max, .. } if units > max as usize => {
            Err(Error::field(spec.number, Reason::TooLong { length: units, max: max as usize }))
        }
        _ => Ok(()),
    }
}

fn write_prefix(prefix: PrefixEncoding, digits: u8, count: usize, out: &mut Vec<u8>) -> Result<(), Reason> {
    let size = prefix_size(prefix, digits);
    let capacity = match prefix {
        PrefixEncoding::Binary => (1usize << (8 * size)) - 1,
        _ => 10usize.pow(digits as u32) - 1,
    };
    if count > capacity {
        return Err(Reason::TooLong { length: count, max: capacity });
    }
    match prefix {
        PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => {
            let base = if prefix == PrefixEncoding::Ascii { b'0' } else { 0xF0 };
            for position in (0..digits as u32).rev() {
                out.push(base + (count / 10usize.pow(position) % 10) as u8);
            }
        }
        PrefixEncoding::Bcd => {
            for position in (0..size as u32).rev() {
                let pair = count / 100usize.pow(position) % 100;
                out.push((((pair / 10) << 4) | (pair % 10)) as u8);
            }
        }
        PrefixEncoding::Binary => {
            for position in (0..size).rev() {
                out.push((count >> (8 * position)) as u8);
            }
        }
    }
    Ok(())
}

/// Pack ASCII digits (or track characters; `=` becomes nibble D) as BCD.
fn pack_bcd(digits: &[u8], align: Align, pad: u8, out: &mut Vec<u8>) {
    let nibble = |c: u8| -> u8 {
        match c {
            b'=' => 0x0D,
            _ => hex::nibble(c).unwrap_or(0),
        }
    };
    let odd = digits.len() % 2 == 1;
    let mut rest = digits;
    if odd && align == Align::Right {
        out.push(pad << 4 | nibble(rest[0]));
        rest = &rest[1..];
    }
    let mut pairs = rest.chunks_exact(2);
    for pair in &mut pairs {
        out.push(nibble(pair[0]) << 4 | nibble(pair[1]));
    }
    if let [last] = pairs.remainder() {
        out.push(nibble(*last) << 4 | pad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LengthUnit, Mask};

    fn field(field_type: FieldType, length: Length, encoding: Encoding, align: Align) -> FieldSpec {
        FieldSpec {
            number: 2,
            name: "test".into(),
            field_type,
            length,
            encoding,
            prefix: PrefixEncoding::Bcd,
            unit: LengthUnit::Units,
            align,
            pad_nibble: 0,
            mask: Mask::None,
            charset: Default::default(),
            layout: None,
            variants: vec![],
        }
    }

    fn round_trip(spec: &FieldSpec, value: &[u8], wire: &[u8]) {
        let mut encoded = Vec::new();
        encode(spec, value, &mut encoded).unwrap();
        assert_eq!(encoded, wire, "encoding {:?}", String::from_utf8_lossy(value));
        let mut decoded = Vec::new();
        let end = decode(spec, wire, 0, &mut decoded).unwrap();
        assert_eq!(end, wire.len());
        assert_eq!(decoded, value);
    }

    #[test]
    fn bcd_alignment_and_padding() {
        let right = field(FieldType::N, Length::Fixed(3), Encoding::Bcd, Align::Right);
        round_trip(&right, b"071", &[0x00, 0x71]);
        // UnionPay field 22: left-aligned, `071` is `07 10`.
        let left = field(FieldType::N, Length::Fixed(3), Encoding::Bcd, Align::Left);
        round_trip(&left, b"071", &[0x07, 0x10]);
        let var = field(FieldType::N, Length::Var { prefix_digits: 2, max: 19 }, Encoding::Bcd, Align::Left);
        round_trip(&var, b"123", &[0x03, 0x12, 0x30]);
        let mut f_pad = var.clone();
        f_pad.pad_nibble = 0xF;
        round_trip(&f_pad, b"123", &[0x03, 0x12, 0x3F]);
    }

    #[test]
    fn bcd_rejects_bad_nibbles_and_pads() {
        let spec = field(FieldType::N, Length::Fixed(4), Encoding::Bcd, Align::Right);
        let error = decode(&spec, &[0x12, 0x3A], 0, &mut Vec::new()).unwrap_err();
        assert_eq!(error.reason, Reason::NotBcd { nibble_index: 3 });
        assert_eq!(error.offset, Some(1));
        let odd = field(FieldType::N, Length::Fixed(3), Encoding::Bcd, Align::Right);
        let error = decode(&odd, &[0x51, 0x23], 0, &mut Vec::new()).unwrap_err();
        assert_eq!(error.reason, Reason::BadPadNibble { expected: 0 });
    }

    #[test]
    fn tracks_carry_the_separator_as_nibble_d() {
        let spec = field(FieldType::Z, Length::Var { prefix_digits: 2, max: 37 }, Encoding::Bcd, Align::Left);
        round_trip(&spec, b"1234D56", &[0x07, 0x12, 0x34, 0xD5, 0x60]);
        let mut wire = Vec::new();
        encode(&spec, b"1234=56", &mut wire).unwrap();
        assert_eq!(wire, [0x07, 0x12, 0x34, 0xD5, 0x60]);
    }

    #[test]
    fn prefixes_in_every_encoding() {
        for (prefix, wire_prefix) in [
            (PrefixEncoding::Bcd, vec![0x01, 0x39]),
            (PrefixEncoding::Ascii, b"139".to_vec()),
            (PrefixEncoding::Ebcdic, vec![0xF1, 0xF3, 0xF9]),
            (PrefixEncoding::Binary, vec![0x00, 0x8B]),
        ] {
            let mut spec =
                field(FieldType::B, Length::Var { prefix_digits: 3, max: 255 }, Encoding::Binary, Align::Right);
            spec.prefix = prefix;
            let value = vec![0xAB; 139];
            let mut wire = wire_prefix.clone();
            wire.extend_from_slice(&value);
            round_trip(&spec, &value, &wire);
        }
    }

    #[test]
    fn bytes_counting_and_hex_and_ebcdic_and_signed_amounts() {
        let mut spec = field(FieldType::N, Length::Var { prefix_digits: 2, max: 20 }, Encoding::Bcd, Align::Left);
        spec.unit = LengthUnit::Bytes;
        round_trip(&spec, b"1234", &[0x02, 0x12, 0x34]);
        assert!(check_value(&spec, b"123").is_err(), "odd digit count counted in bytes");

        let hex = field(FieldType::B, Length::Fixed(2), Encoding::Hex, Align::Right);
        round_trip(&hex, &[0xAB, 0x01], b"AB01");

        let ebcdic = field(FieldType::Ans, Length::Fixed(3), Encoding::Ebcdic, Align::Right);
        round_trip(&ebcdic, b"A1 ", &[0xC1, 0xF1, 0x40]);

        let amount = field(FieldType::Xn, Length::Fixed(9), Encoding::Bcd, Align::Right);
        round_trip(&amount, b"C00001000", &[b'C', 0x00, 0x00, 0x10, 0x00]);
        let ascii_amount = field(FieldType::Xn, Length::Fixed(4), Encoding::Ascii, Align::Right);
        assert!(check_value(&ascii_amount, b"X123").is_err());
        assert!(check_value(&ascii_amount, b"C123").is_ok());
    }

    #[test]
    fn declared_length_beyond_max_or_buffer_is_an_error() {
        let spec = field(FieldType::N, Length::Var { prefix_digits: 2, max: 19 }, Encoding::Bcd, Align::Left);
        let error = decode(&spec, &[0x20, 0x12], 0, &mut Vec::new()).unwrap_err();
        assert_eq!(error.reason, Reason::TooLong { length: 20, max: 19 });
        let error = decode(&spec, &[0x19, 0x12], 0, &mut Vec::new()).unwrap_err();
        assert!(matches!(error.reason, Reason::Truncated { needed: 10, available: 1 }));
        assert_eq!(error.offset, Some(1));
    }
}
