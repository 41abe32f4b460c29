//! BER-TLV as EMV uses it (field 55, field 62 downloads). Values are walked in place, never
//! copied; the raw bytes of a field stay as received, so unknown tags and unusual length
//! encodings pass through untouched. Only `set`/`remove` rebuild a value.

use crate::error::{Reason, Result as CrateResult};
use crate::hex;
use crate::limits::{TLV_DEPTH_MAX, TLV_ELEMENTS_MAX};

/// One element: offsets are into the walked value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    pub tag: &'a [u8],
    pub value: &'a [u8],
    /// Offset of the tag's first byte, and one past the value's last byte.
    pub start: usize,
    pub end: usize,
}

impl Element<'_> {
    /// Constructed (a template holding more TLV): bit 6 of the first tag byte.
    pub fn is_constructed(&self) -> bool {
        self.tag.first().is_some_and(|b| b & 0x20 != 0)
    }

    pub fn tag_hex(&self) -> String {
        hex::encode(self.tag)
    }
}

/// A TLV problem: what, and at which offset in the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvError {
    pub offset: usize,
    pub reason: Reason,
}

/// The padding byte EMV allows between data objects.
const PADDING: u8 = 0x00;

/// Iterate over the elements of `value` at one level (padding skipped).
pub fn elements(value: &[u8]) -> Elements<'_> {
    Elements { value, position: 0, count: 0, failed: false }
}

pub struct Elements<'a> {
    value: &'a [u8],
    position: usize,
    count: usize,
    failed: bool,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        // EMV allows 00 bytes as padding before, between and after data objects.
        while self.value.get(self.position) == Some(&PADDING) {
            self.position += 1;
        }
        if self.failed || self.position >= self.value.len() {
            return None;
        }
        self.count += 1;
        let result = if self.count > TLV_ELEMENTS_MAX {
            Err(TlvError { offset: self.position, reason: Reason::TlvTooMany })
        } else {
            read_element(self.value, self.position)
        };
        match &result {
            Ok(element) => self.position = element.end,
            Err(_) => self.failed = true,
        }
        Some(result)
    }
}

fn read_element(value: &[u8], start: usize) -> Result<Element<'_>, TlvError> {
    let truncated = |offset| TlvError { offset, reason: Reason::TlvTruncated };
    let mut position = start;
    let first = *value.get(position).ok_or(truncated(position))?;
    position += 1;
    if first & 0x1F == 0x1F {
        // Multi-byte tag: following bytes while bit 8 is set; EMV tags are at most 3 bytes.
        loop {
            let b = *value.get(position).ok_or(truncated(position))?;
            position += 1;
            if b & 0x80 == 0 {
                break;
            }
            if position - start >= 3 {
                return Err(TlvError { offset: start, reason: Reason::TlvBadLength });
            }
        }
    }
    let tag = &value[start..position];
    let length_offset = position;
    let first_length = *value.get(position).ok_or(truncated(position))?;
    position += 1;
    let length = if first_length < 0x80 {
        first_length as usize
    } else {
        let count = (first_length & 0x7F) as usize;
        if count == 0 || count > 3 {
            return Err(TlvError { offset: length_offset, reason: Reason::TlvBadLength });
        }
        let bytes = value.get(position..position + count).ok_or(truncated(position))?;
        position += count;
        bytes.iter().fold(0usize, |acc, &b| acc << 8 | b as usize)
    };
    let end = position.checked_add(length).filter(|&end| end <= value.len()).ok_or(truncated(length_offset))?;
    Ok(Element { tag, value: &value[position..end], start, end })
}

/// Check that `value` is well-formed TLV, descending into constructed templates.
pub fn validate(value: &[u8]) -> Result<(), TlvError> {
    validate_at(value, 0, 0)
}

fn validate_at(value: &[u8], base: usize, depth: usize) -> Result<(), TlvError> {
    if depth > TLV_DEPTH_MAX {
        return Err(TlvError { offset: base, reason: Reason::TlvTooDeep });
    }
    for element in elements(value) {
        let element = element.map_err(|e| TlvError { offset: base + e.offset, reason: e.reason })?;
        if element.is_constructed() {
            let value_offset = base + element.end - element.value.len();
            validate_at(element.value, value_offset, depth + 1)?;
        }
    }
    Ok(())
}

/// The value of the first element with `tag` at this level.
pub fn find<'a>(value: &'a [u8], tag: &[u8]) -> Result<Option<&'a [u8]>, TlvError> {
    for element in elements(value) {
        let element = element?;
        if element.tag == tag {
            return Ok(Some(element.value));
        }
    }
    Ok(None)
}

/// Follow a chain of tags through templates: `[71, 86]` finds 86 inside 71.
pub fn find_path<'a>(value: &'a [u8], tags: &[Vec<u8>]) -> Result<Option<&'a [u8]>, TlvError> {
    let mut current = value;
    for tag in tags {
        match find(current, tag)? {
            Some(inner) => current = inner,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Append tag, minimal length encoding and value to `out`.
pub fn write_element(tag: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(tag);
    let length = value.len();
    match length {
        0..=0x7F => out.push(length as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, length as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (length >> 8) as u8, length as u8]),
        _ => out.extend_from_slice(&[0x83, (length >> 16) as u8, (length >> 8) as u8, length as u8]),
    }
    out.extend_from_slice(value);
}

/// `value` with the first element `tag` given `new_value` (others untouched, order kept), or
/// with the element appended when absent.
pub fn set(value: &[u8], tag: &[u8], new_value: &[u8]) -> Result<Vec<u8>, TlvError> {
    let mut out = Vec::with_capacity(value.len() + new_value.len() + 4);
    let mut replaced = false;
    let mut copied_to = 0;
    for element in elements(value) {
        let element = element?;
        out.extend_from_slice(&value[copied_to..element.start]); // padding kept as it was
        if !replaced && element.tag == tag {
            write_element(tag, new_value, &mut out);
            replaced = true;
        } else {
            out.extend_from_slice(&value[element.start..element.end]);
        }
        copied_to = element.end;
    }
    out.extend_from_slice(&value[copied_to..]);
    if !replaced {
        write_element(tag, new_value, &mut out);
    }
    Ok(out)
}

/// `value` without any element `tag` at this level.
pub fn remove(value: &[u8], tag: &[u8]) -> Result<Vec<u8>, TlvError> {
    let mut out = Vec::with_capacity(value.len());
    let mut copied_to = 0;
    for element in elements(value) {
        let element = element?;
        out.extend_from_slice(&value[copied_to..element.start]); // padding kept as it was
        if element.tag != tag {
            out.extend_from_slice(&value[element.start..element.end]);
        }
        copied_to = element.end;
    }
    out.extend_from_slice(&value[copied_to..]);
    Ok(out)
}

/// Parse a tag written as hex in a path (`9F26`) and check it is a well-formed BER tag.
pub fn parse_tag(text: &str) -> CrateResult<Vec<u8>, Reason> {
    let bytes = hex::decode(text).map_err(|_| Reason::NotAllowed("TLV tags are written in hex"))?;
    let well_formed = match bytes.as_slice() {
        [first] => first & 0x1F != 0x1F,
        [first, rest @ ..] if rest.len() <= 2 => {
            first & 0x1F == 0x1F && rest.iter().enumerate().all(|(i, b)| (b & 0x80 != 0) == (i + 1 < rest.len()))
        }
        _ => false,
    };
    if well_formed { Ok(bytes) } else { Err(Reason::NotAllowed("not a well-formed BER-TLV tag")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = &[0x9F, 0x26, 0x02, 0xAA, 0xBB, 0x95, 0x01, 0x00, 0x71, 0x05, 0x86, 0x03, 0x01, 0x02, 0x03];

    #[test]
    fn walks_finds_and_descends() {
        let tags: Vec<String> = elements(SAMPLE).map(|e| e.unwrap().tag_hex()).collect();
        assert_eq!(tags, ["9F26", "95", "71"]);
        assert_eq!(find(SAMPLE, &[0x9F, 0x26]).unwrap(), Some(&[0xAA, 0xBB][..]));
        assert_eq!(find_path(SAMPLE, &[vec![0x71], vec![0x86]]).unwrap(), Some(&[1, 2, 3][..]));
        validate(SAMPLE).unwrap();
    }

    #[test]
    fn set_replaces_in_place_and_appends() {
        let changed = set(SAMPLE, &[0x95], &[0x80, 0, 0, 0, 0]).unwrap();
        assert_eq!(find(&changed, &[0x95]).unwrap(), Some(&[0x80, 0, 0, 0, 0][..]));
        assert_eq!(elements(&changed).map(|e| e.unwrap().tag_hex()).collect::<Vec<_>>(), ["9F26", "95", "71"]);
        let added = set(SAMPLE, &[0x9F, 0x36], &[0, 1]).unwrap();
        assert_eq!(&added[..SAMPLE.len()], SAMPLE);
        assert_eq!(remove(&added, &[0x9F, 0x36]).unwrap(), SAMPLE);
    }

    #[test]
    fn padding_between_objects_is_skipped_and_kept() {
        let padded = [0x00, 0x95, 0x01, 0x80, 0x00, 0x00, 0x9F, 0x36, 0x01, 0x07, 0x00];
        let tags: Vec<String> = elements(&padded).map(|e| e.unwrap().tag_hex()).collect();
        assert_eq!(tags, ["95", "9F36"]);
        validate(&padded).unwrap();
        let changed = set(&padded, &[0x95], &[0x40]).unwrap();
        assert_eq!(changed, [0x00, 0x95, 0x01, 0x40, 0x00, 0x00, 0x9F, 0x36, 0x01, 0x07, 0x00]);
        assert_eq!(remove(&padded, &[0x9F, 0x36]).unwrap(), [0x00, 0x95, 0x01, 0x80, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn long_lengths_round_trip() {
        let mut out = Vec::new();
        write_element(&[0x9F, 0x10], &[7; 200], &mut out);
        assert_eq!(&out[2..4], &[0x81, 200]);
        assert_eq!(find(&out, &[0x9F, 0x10]).unwrap().unwrap().len(), 200);
    }

    #[test]
    fn hostile_tlv_is_an_error() {
        // Length past the end.
        assert_eq!(validate(&[0x9F, 0x26, 0x08, 0x01]).unwrap_err().reason, Reason::TlvTruncated);
        // Tag cut short, length byte missing.
        assert!(validate(&[0x9F]).is_err());
        assert!(validate(&[0x95]).is_err());
        // Indefinite and over-long length forms.
        assert_eq!(validate(&[0x95, 0x80]).unwrap_err().reason, Reason::TlvBadLength);
        assert_eq!(validate(&[0x95, 0x85, 1, 1, 1, 1, 1]).unwrap_err().reason, Reason::TlvBadLength);
        // A 4-byte tag.
        assert!(validate(&[0x9F, 0x81, 0x81, 0x01, 0x00]).is_err());
        // A constructed element whose inside is broken.
        assert_eq!(validate(&[0x71, 0x02, 0x86, 0x05]).unwrap_err().offset, 3, "the inner length byte");
        // Deep nesting.
        let mut deep = vec![0x95, 0x00];
        for _ in 0..10 {
            let mut outer = Vec::new();
            write_element(&[0x71], &deep, &mut outer);
            deep = outer;
        }
        assert_eq!(validate(&deep).unwrap_err().reason, Reason::TlvTooDeep);
    }

    #[test]
    fn tags_in_paths_are_checked() {
        assert_eq!(parse_tag("9F26").unwrap(), vec![0x9F, 0x26]);
        assert_eq!(parse_tag("95").unwrap(), vec![0x95]);
        assert_eq!(parse_tag("DF8101").unwrap(), vec![0xDF, 0x81, 0x01]);
        assert!(parse_tag("9F").is_err());
        assert!(parse_tag("959F").is_err());
        assert!(parse_tag("XYZ").is_err());
    }
}
