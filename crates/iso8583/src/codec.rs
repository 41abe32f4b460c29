//! Whole messages: MTI, bitmaps and fields in, bytes out, and back. No I/O.

use std::sync::Arc;

use crate::ebcdic;
use crate::error::{Error, Location, Reason, Result};
use crate::field;
use crate::framing::Envelope;
use crate::hex;
use crate::limits::MESSAGE_BYTES_MAX;
use crate::message::Message;
use crate::mti::Mti;
use crate::spec::{BitmapEncoding, Encoding, Length, MtiEncoding, Spec};

/// The MTI a message being decoded holds until its own MTI is read.
const PLACEHOLDER_MTI: Mti = Mti::ZERO;

/// Decode a message body (MTI onward) with `spec`.
pub fn decode(spec: &Arc<Spec>, body: &[u8]) -> Result<Message> {
    // Values take at most twice their wire size (BCD), so this never reallocates.
    let mut message = Message::with_capacity(Arc::clone(spec), PLACEHOLDER_MTI, 2 * body.len());
    decode_into(body, &mut message, 0)?;
    Ok(message)
}

/// Decode a complete frame (framing layers from the spec, then the body).
pub fn decode_framed(spec: &Arc<Spec>, frame: &[u8]) -> Result<(Envelope, Message)> {
    let (envelope, body, offset) = spec.framing.unwrap(frame)?;
    let mut message = Message::with_capacity(Arc::clone(spec), PLACEHOLDER_MTI, 2 * body.len());
    decode_into(body, &mut message, offset)?;
    Ok((envelope, message))
}

/// Encode a message body and wrap it in the spec's framing.
pub fn encode_framed(message: &Message, envelope: &Envelope) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(message.data.len() + 128);
    encode_framed_into(message, envelope, &mut out)?;
    Ok(out)
}

/// Encode a framed message, appending to `out` (reuse it across messages to avoid allocation).
pub fn encode_framed_into(message: &Message, envelope: &Envelope, out: &mut Vec<u8>) -> Result<()> {
    message.spec().framing.wrap_with(envelope, out, |out| encode_into(message, out))
}

/// Decode `body` into `message`, reusing its buffers. Offsets in errors are `base + offset in
/// body`, so a framed decode reports offsets into the whole frame.
pub fn decode_into(body: &[u8], message: &mut Message, base: usize) -> Result<()> {
    decode_body(body, message).map_err(|e| match e.offset {
        Some(offset) if !matches!(e.location, Location::Path(_)) => Error { offset: Some(offset + base), ..e },
        _ => e,
    })
}

fn decode_body(body: &[u8], message: &mut Message) -> Result<()> {
    if body.len() > MESSAGE_BYTES_MAX {
        return Err(Error::at(Location::Message, 0, Reason::TooLong { length: body.len(), max: MESSAGE_BYTES_MAX }));
    }
    let spec = Arc::clone(message.spec());
    let (mti, mut position) = decode_mti(spec.mti, body)?;
    message.clear(mti);
    let mut bitmap = [0u64; 3];
    bitmap[0] = read_bitmap(spec.bitmap.encoding, body, &mut position, 1)?;
    let fields_max = spec.bitmap.fields_max as usize;
    if bitmap[0] >> 63 & 1 == 1 {
        if fields_max < 128 {
            return Err(Error::at(Location::Bitmap(2), position, Reason::BitmapNotAllowed));
        }
        let secondary_at = position;
        bitmap[1] = read_bitmap(spec.bitmap.encoding, body, &mut position, 2)?;
        // An announced bitmap with no fields would not be sent again on encode, so the round
        // trip would not be exact; no sender has a reason to send one.
        if bitmap[1] == 0 {
            return Err(Error::at(
                Location::Bitmap(2),
                secondary_at,
                Reason::NotAllowed("announced but names no field"),
            ));
        }
        if bitmap[1] >> 63 & 1 == 1 {
            if fields_max < 192 {
                return Err(Error::at(Location::Bitmap(3), position, Reason::BitmapNotAllowed));
            }
            let tertiary_at = position;
            bitmap[2] = read_bitmap(spec.bitmap.encoding, body, &mut position, 3)?;
            if bitmap[2] == 0 {
                return Err(Error::at(
                    Location::Bitmap(3),
                    tertiary_at,
                    Reason::NotAllowed("announced but names no field"),
                ));
            }
        }
    }
    // Wire positions of values that have layouts, so a layout error can name a byte offset.
    let mut layout_starts = [(0u8, 0usize); LAYOUT_FIELDS_TRACKED];
    let mut layout_count = 0usize;
    for (word_index, &word) in bitmap.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let bit = bits.leading_zeros() as usize;
            bits &= !(1u64 << (63 - bit));
            let number = word_index * 64 + bit + 1;
            if number == 1 || number == 65 {
                continue; // bitmap indicators, already handled
            }
            let field_spec = spec
                .field(number)
                .ok_or_else(|| Error::at(Location::Field(number as u8), position, Reason::UndefinedField))?;
            let start = message.data.len();
            if (field_spec.layout.is_some() || !field_spec.variants.is_empty()) && layout_count < LAYOUT_FIELDS_TRACKED
            {
                layout_starts[layout_count] = (number as u8, position);
                layout_count += 1;
            }
            position = field::decode(field_spec, body, position, &mut message.data)?;
            message.push_decoded(number as u8, start);
        }
    }
    if position != body.len() {
        return Err(Error::at(Location::Message, position, Reason::TrailingBytes { count: body.len() - position }));
    }
    message.validate_layouts().map_err(|error| {
        // The layout check reports an offset inside the value; make it a byte offset into the
        // body: the field's start plus the offset scaled to the wire (BCD packs two a byte).
        let number = match &error.location {
            Location::Field(number) | Location::Subfield(number, _) => *number,
            _ => return error,
        };
        let Some(&(_, field_start)) = layout_starts[..layout_count].iter().find(|(n, _)| *n == number) else {
            return Error { offset: None, ..error };
        };
        let inner = error.offset.unwrap_or(0);
        let Some(field_spec) = spec.field(number as usize) else { return error };
        let scaled = match field_spec.encoding {
            Encoding::Bcd => inner / 2,
            Encoding::Hex => inner * 2,
            _ => inner,
        };
        let prefix = match field_spec.length {
            Length::Var { prefix_digits, .. } => field::prefix_size(field_spec.prefix, prefix_digits),
            Length::Fixed(_) => 0,
        };
        Error { offset: Some(field_start + prefix + scaled), ..error }
    })
}

/// How many layout-bearing fields a decode remembers the wire position of.
const LAYOUT_FIELDS_TRACKED: usize = 16;

fn decode_mti(encoding: MtiEncoding, body: &[u8]) -> Result<(Mti, usize)> {
    let truncated = |needed| Error::at(Location::Mti, 0, Reason::Truncated { needed, available: body.len() });
    match encoding {
        MtiEncoding::Bcd => {
            let bytes = body.get(..2).ok_or_else(|| truncated(2))?;
            let digits = [bytes[0] >> 4, bytes[0] & 0x0F, bytes[1] >> 4, bytes[1] & 0x0F];
            if let Some(nibble_index) = digits.iter().position(|&d| d > 9) {
                return Err(Error::at(Location::Mti, nibble_index / 2, Reason::NotBcd { nibble_index }));
            }
            Ok((Mti::new(digits.map(|d| d + b'0'))?, 2))
        }
        MtiEncoding::Ascii => {
            let bytes: [u8; 4] = body.get(..4).ok_or_else(|| truncated(4))?.try_into().map_err(|_| truncated(4))?;
            Ok((Mti::new(bytes).map_err(|e| e.offset_by(0))?, 4))
        }
        MtiEncoding::Ebcdic => {
            let bytes = body.get(..4).ok_or_else(|| truncated(4))?;
            let mut digits = [0u8; 4];
            for (index, (&b, digit)) in bytes.iter().zip(digits.iter_mut()).enumerate() {
                *digit = ebcdic::to_ascii(b).filter(u8::is_ascii_digit).ok_or_else(|| {
                    Error::at(Location::Mti, index, Reason::BadCharacter { index, expected: "an EBCDIC digit" })
                })?;
            }
            Ok((Mti::new(digits)?, 4))
        }
    }
}

fn read_bitmap(encoding: BitmapEncoding, body: &[u8], position: &mut usize, number: u8) -> Result<u64> {
    let size = match encoding {
        BitmapEncoding::Binary => 8,
        BitmapEncoding::Hex => 16,
    };
    let bytes = body.get(*position..*position + size).ok_or_else(|| {
        Error::at(
            Location::Bitmap(number),
            *position,
            Reason::Truncated { needed: size, available: body.len() - *position },
        )
    })?;
    let value = match encoding {
        BitmapEncoding::Binary => u64::from_be_bytes(bytes.try_into().map_err(|_| {
            Error::at(Location::Bitmap(number), *position, Reason::Truncated { needed: 8, available: bytes.len() })
        })?),
        BitmapEncoding::Hex => {
            let mut value = 0u64;
            for (index, &c) in bytes.iter().enumerate() {
                let nibble = hex::nibble_upper(c).ok_or_else(|| {
                    Error::at(
                        Location::Bitmap(number),
                        *position + index,
                        Reason::BadCharacter { index, expected: "an uppercase hex digit" },
                    )
                })?;
                value = value << 4 | nibble as u64;
            }
            value
        }
    };
    *position += size;
    Ok(value)
}

pub(crate) fn encode_into(message: &Message, out: &mut Vec<u8>) -> Result<()> {
    let spec = message.spec();
    let start = out.len();
    match spec.mti {
        MtiEncoding::Bcd => {
            let d = message.mti().as_bytes().map(|b| b - b'0');
            out.extend_from_slice(&[d[0] << 4 | d[1], d[2] << 4 | d[3]]);
        }
        MtiEncoding::Ascii => out.extend_from_slice(message.mti().as_bytes()),
        MtiEncoding::Ebcdic => out.extend(message.mti().as_bytes().iter().map(|&b| 0xF0 + (b - b'0'))),
    }
    let (bitmap, words) = bitmaps(message);
    for &word in &bitmap[..words] {
        match spec.bitmap.encoding {
            BitmapEncoding::Binary => out.extend_from_slice(&word.to_be_bytes()),
            BitmapEncoding::Hex => hex::encode_into(&word.to_be_bytes(), out),
        }
    }
    for (number, value) in message.fields() {
        let field_spec = spec.field(number as usize).ok_or_else(|| Error::field(number, Reason::UndefinedField))?;
        field::encode(field_spec, value, out)?;
    }
    let length = out.len() - start;
    if length > MESSAGE_BYTES_MAX {
        out.truncate(start);
        return Err(Error::new(Location::Message, None, Reason::TooLong { length, max: MESSAGE_BYTES_MAX }));
    }
    Ok(())
}

/// The bitmaps a message encodes with, and how many of them are sent (1 to 3): bit 1 announces
/// the secondary bitmap, bit 65 the tertiary one.
pub fn bitmaps(message: &Message) -> ([u64; 3], usize) {
    let mut bitmap = [0u64; 3];
    for number in message.field_numbers() {
        let index = number as usize - 1;
        bitmap[index / 64] |= 1u64 << (63 - index % 64);
    }
    if bitmap[2] != 0 {
        bitmap[1] |= 1u64 << 63;
    }
    if bitmap[1] != 0 {
        bitmap[0] |= 1u64 << 63;
    }
    let words = 1 + (bitmap[1] != 0) as usize + (bitmap[2] != 0) as usize;
    (bitmap, words)
}
