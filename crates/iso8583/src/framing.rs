//! Framing: the bytes around an ISO 8583 body, as composable layers over bytes.
//!
//! A [`Framing`] is an ordered list of layers, outermost first: a length prefix (2-byte binary,
//! 4-byte binary, 4 ASCII digits, 2-byte BCD), the UnionPay TPDU, and a fixed-size header (the
//! 6-byte UnionPay POS header, or any other). `unwrap` peels them off a complete frame; `wrap`
//! puts them back. `frame_len` tells a stream reader how many bytes the next frame needs.

use std::fmt;

use crate::error::{Error, Location, Reason, Result};
use crate::hex;
use crate::limits::{FRAME_BYTES_MAX, MESSAGE_BYTES_MAX};

/// Longest fixed header a framing may carry (the CUPS network header is 46 bytes).
pub const HEADER_BYTES_MAX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthPrefix {
    /// 2 bytes, big-endian, counting the bytes after it (NACChannel style).
    Binary2,
    /// 4 bytes, big-endian.
    Binary4,
    /// 4 ASCII digits (ASCIIChannel style).
    Ascii4,
    /// 2 bytes of BCD, 4 digits (NCCChannel style).
    Bcd2,
}

impl LengthPrefix {
    pub fn size(self) -> usize {
        match self {
            LengthPrefix::Binary2 | LengthPrefix::Bcd2 => 2,
            LengthPrefix::Binary4 | LengthPrefix::Ascii4 => 4,
        }
    }

    fn read(self, bytes: &[u8]) -> Result<usize> {
        let bad = || Error::at(Location::Frame("length prefix"), 0, Reason::BadLengthPrefix);
        match self {
            LengthPrefix::Binary2 => Ok(u16::from_be_bytes([bytes[0], bytes[1]]) as usize),
            LengthPrefix::Binary4 => Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize),
            LengthPrefix::Ascii4 => {
                let mut value = 0usize;
                for &b in &bytes[..4] {
                    if !b.is_ascii_digit() {
                        return Err(bad());
                    }
                    value = value * 10 + (b - b'0') as usize;
                }
                Ok(value)
            }
            LengthPrefix::Bcd2 => {
                let mut value = 0usize;
                for &b in &bytes[..2] {
                    let (high, low) = (b >> 4, b & 0x0F);
                    if high > 9 || low > 9 {
                        return Err(bad());
                    }
                    value = value * 100 + (high * 10 + low) as usize;
                }
                Ok(value)
            }
        }
    }

    /// The prefix for `length`, in the first `size()` bytes of the array.
    fn encode(self, length: usize) -> Result<[u8; 4]> {
        let too_long = |max| Error::new(Location::Frame("length prefix"), None, Reason::TooLong { length, max });
        let mut bytes = [0u8; 4];
        match self {
            LengthPrefix::Binary2 => {
                let value = u16::try_from(length).map_err(|_| too_long(u16::MAX as usize))?;
                bytes[..2].copy_from_slice(&value.to_be_bytes());
            }
            LengthPrefix::Binary4 => {
                let value = u32::try_from(length).map_err(|_| too_long(u32::MAX as usize))?;
                bytes.copy_from_slice(&value.to_be_bytes());
            }
            LengthPrefix::Ascii4 => {
                if length > 9999 {
                    return Err(too_long(9999));
                }
                for (index, divisor) in [1000, 100, 10, 1].into_iter().enumerate() {
                    bytes[index] = b'0' + (length / divisor % 10) as u8;
                }
            }
            LengthPrefix::Bcd2 => {
                if length > 9999 {
                    return Err(too_long(9999));
                }
                let (high, low) = (length / 100, length % 100);
                bytes[0] = (((high / 10) << 4) | (high % 10)) as u8;
                bytes[1] = (((low / 10) << 4) | (low % 10)) as u8;
            }
        }
        Ok(bytes)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Length(LengthPrefix),
    /// 5 bytes: id (0x60), destination address, source address.
    Tpdu,
    /// A fixed header of this many bytes.
    Header(usize),
}

impl Layer {
    /// `length-binary-2`, `length-binary-4`, `length-ascii-4`, `length-bcd-2`, `tpdu`, `header-N`.
    pub fn parse(text: &str) -> Result<Layer> {
        let layer = match text {
            "length-binary-2" => Layer::Length(LengthPrefix::Binary2),
            "length-binary-4" => Layer::Length(LengthPrefix::Binary4),
            "length-ascii-4" => Layer::Length(LengthPrefix::Ascii4),
            "length-bcd-2" => Layer::Length(LengthPrefix::Bcd2),
            "tpdu" => Layer::Tpdu,
            other => match other.strip_prefix("header-").and_then(|n| n.parse::<usize>().ok()) {
                Some(size) if (1..=HEADER_BYTES_MAX).contains(&size) => Layer::Header(size),
                _ => return Err(Error::spec("framing", format!("unknown layer {other:?}"))),
            },
        };
        Ok(layer)
    }

    pub fn name(&self) -> String {
        match self {
            Layer::Length(LengthPrefix::Binary2) => "length-binary-2".into(),
            Layer::Length(LengthPrefix::Binary4) => "length-binary-4".into(),
            Layer::Length(LengthPrefix::Ascii4) => "length-ascii-4".into(),
            Layer::Length(LengthPrefix::Bcd2) => "length-bcd-2".into(),
            Layer::Tpdu => "tpdu".into(),
            Layer::Header(size) => format!("header-{size}"),
        }
    }
}

/// The UnionPay TPDU: `60` + destination (NII) + source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tpdu {
    pub id: u8,
    pub destination: u16,
    pub source: u16,
}

impl Tpdu {
    pub const SIZE: usize = 5;

    pub fn from_bytes(bytes: [u8; 5]) -> Tpdu {
        Tpdu {
            id: bytes[0],
            destination: u16::from_be_bytes([bytes[1], bytes[2]]),
            source: u16::from_be_bytes([bytes[3], bytes[4]]),
        }
    }

    pub fn to_bytes(self) -> [u8; 5] {
        let [d0, d1] = self.destination.to_be_bytes();
        let [s0, s1] = self.source.to_be_bytes();
        [self.id, d0, d1, s0, s1]
    }

    /// The TPDU of the reply: destination and source swapped.
    pub fn response(self) -> Tpdu {
        Tpdu { id: self.id, destination: self.source, source: self.destination }
    }

    pub fn from_hex(text: &str) -> Result<Tpdu> {
        let bytes = hex::decode(text)
            .map_err(|_| Error::new(Location::Frame("TPDU"), None, Reason::Invalid("not hex".into())))?;
        let array: [u8; 5] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::new(Location::Frame("TPDU"), None, Reason::LengthMismatch { expected: 5, actual: b.len() })
        })?;
        Ok(Tpdu::from_bytes(array))
    }
}

impl fmt::Display for Tpdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.to_bytes()))
    }
}

/// What the host asks of the terminal in the low nibble of UnionPay header byte 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingRequirement {
    None,
    DownloadParameters,
    UploadStatus,
    SignOnAgain,
    UpdatePublicKeys,
    DownloadIcParameters,
    TerminalManagement,
    DownloadBinBlacklist,
    DownloadFeeTable,
    Other(u8),
}

impl ProcessingRequirement {
    pub fn from_nibble(nibble: u8) -> ProcessingRequirement {
        match nibble & 0x0F {
            0 => ProcessingRequirement::None,
            1 => ProcessingRequirement::DownloadParameters,
            2 => ProcessingRequirement::UploadStatus,
            3 => ProcessingRequirement::SignOnAgain,
            4 => ProcessingRequirement::UpdatePublicKeys,
            5 => ProcessingRequirement::DownloadIcParameters,
            6 => ProcessingRequirement::TerminalManagement,
            7 => ProcessingRequirement::DownloadBinBlacklist,
            8 => ProcessingRequirement::DownloadFeeTable,
            other => ProcessingRequirement::Other(other),
        }
    }

    pub fn nibble(self) -> u8 {
        match self {
            ProcessingRequirement::None => 0,
            ProcessingRequirement::DownloadParameters => 1,
            ProcessingRequirement::UploadStatus => 2,
            ProcessingRequirement::SignOnAgain => 3,
            ProcessingRequirement::UpdatePublicKeys => 4,
            ProcessingRequirement::DownloadIcParameters => 5,
            ProcessingRequirement::TerminalManagement => 6,
            ProcessingRequirement::DownloadBinBlacklist => 7,
            ProcessingRequirement::DownloadFeeTable => 8,
            ProcessingRequirement::Other(n) => n & 0x0F,
        }
    }
}

/// A fixed-size header, kept inline. For the 6-byte UnionPay POS header the accessors read its
/// parts: application type, spec version, terminal status and processing requirement.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header {
    bytes: [u8; HEADER_BYTES_MAX],
    len: u8,
}

impl Header {
    pub fn new(bytes: &[u8]) -> Result<Header> {
        if bytes.is_empty() || bytes.len() > HEADER_BYTES_MAX {
            return Err(Error::new(
                Location::Frame("header"),
                None,
                Reason::TooLong { length: bytes.len(), max: HEADER_BYTES_MAX },
            ));
        }
        let mut header = Header { bytes: [0; HEADER_BYTES_MAX], len: bytes.len() as u8 };
        header.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(header)
    }

    pub fn from_hex(text: &str) -> Result<Header> {
        let bytes = hex::decode(text)
            .map_err(|_| Error::new(Location::Frame("header"), None, Reason::Invalid("not hex".into())))?;
        Header::new(&bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// UnionPay: byte 1, e.g. `60` magstripe, `61` IC.
    pub fn application_type(&self) -> u8 {
        self.bytes[0]
    }

    /// UnionPay: byte 3 high nibble.
    pub fn terminal_status(&self) -> u8 {
        self.bytes[2] >> 4
    }

    /// UnionPay: byte 3 low nibble, set by the host.
    pub fn processing_requirement(&self) -> ProcessingRequirement {
        ProcessingRequirement::from_nibble(self.bytes[2] & 0x0F)
    }

    pub fn set_processing_requirement(&mut self, requirement: ProcessingRequirement) {
        self.bytes[2] = (self.bytes[2] & 0xF0) | requirement.nibble();
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Header({})", hex::encode(self.as_bytes()))
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

/// What the framing layers carried around a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Envelope {
    pub tpdu: Option<Tpdu>,
    pub header: Option<Header>,
}

impl Envelope {
    /// The envelope of a reply: TPDU addresses swapped, header kept.
    pub fn response(&self) -> Envelope {
        Envelope { tpdu: self.tpdu.map(Tpdu::response), header: self.header }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Framing {
    layers: Vec<Layer>,
}

impl Framing {
    pub fn new(layers: Vec<Layer>) -> Result<Framing> {
        let bad = |why: &'static str| Error::new(Location::Spec("framing".into()), None, Reason::NotAllowed(why));
        for (index, layer) in layers.iter().enumerate() {
            match layer {
                Layer::Length(_) if index != 0 => return Err(bad("the length prefix must be the outermost layer")),
                Layer::Tpdu if layers[..index].contains(&Layer::Tpdu) => return Err(bad("only one TPDU")),
                Layer::Header(_) if layers[..index].iter().any(|l| matches!(l, Layer::Header(_))) => {
                    return Err(bad("only one header"));
                }
                _ => {}
            }
        }
        Ok(Framing { layers })
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    pub fn length_prefix(&self) -> Option<LengthPrefix> {
        match self.layers.first() {
            Some(Layer::Length(prefix)) => Some(*prefix),
            _ => None,
        }
    }

    /// For a stream reader: the size of the complete frame at the front of `buffer`, once the
    /// length prefix is in; `Ok(None)` while more bytes are needed. Errors on a prefix naming a
    /// frame larger than `FRAME_BYTES_MAX`, so a reader never buffers without bound.
    pub fn frame_len(&self, buffer: &[u8]) -> Result<Option<usize>> {
        let Some(prefix) = self.length_prefix() else {
            return Err(Error::new(
                Location::Frame("length prefix"),
                None,
                Reason::NotAllowed("this framing has no length prefix, so frames cannot be found in a stream"),
            ));
        };
        if buffer.len() < prefix.size() {
            return Ok(None);
        }
        let declared = prefix.read(buffer)?;
        if declared > FRAME_BYTES_MAX {
            return Err(Error::at(
                Location::Frame("length prefix"),
                0,
                Reason::TooLong { length: declared, max: FRAME_BYTES_MAX },
            ));
        }
        Ok(Some(prefix.size() + declared))
    }

    /// Peel the layers off one complete frame. Returns the envelope, the body, and the body's
    /// offset in `frame` (so body decode errors can name absolute offsets).
    pub fn unwrap<'a>(&self, frame: &'a [u8]) -> Result<(Envelope, &'a [u8], usize)> {
        let mut envelope = Envelope::default();
        let mut rest = frame;
        let mut offset = 0usize;
        for layer in &self.layers {
            match *layer {
                Layer::Length(prefix) => {
                    let size = prefix.size();
                    let location = Location::Frame("length prefix");
                    if rest.len() < size {
                        return Err(Error::at(
                            location,
                            offset,
                            Reason::Truncated { needed: size, available: rest.len() },
                        ));
                    }
                    let declared = prefix.read(rest)?;
                    let available = rest.len() - size;
                    if declared > FRAME_BYTES_MAX {
                        return Err(Error::at(
                            location,
                            offset,
                            Reason::TooLong { length: declared, max: FRAME_BYTES_MAX },
                        ));
                    }
                    if declared > available {
                        return Err(Error::at(location, offset, Reason::Truncated { needed: declared, available }));
                    }
                    if declared < available {
                        let count = available - declared;
                        return Err(Error::at(
                            Location::Message,
                            offset + size + declared,
                            Reason::TrailingBytes { count },
                        ));
                    }
                    rest = &rest[size..];
                    offset += size;
                }
                Layer::Tpdu => {
                    let (bytes, tail) = take(rest, Tpdu::SIZE, "TPDU", offset)?;
                    let mut array = [0u8; 5];
                    array.copy_from_slice(bytes);
                    envelope.tpdu = Some(Tpdu::from_bytes(array));
                    rest = tail;
                    offset += Tpdu::SIZE;
                }
                Layer::Header(size) => {
                    let (bytes, tail) = take(rest, size, "header", offset)?;
                    envelope.header = Some(Header::new(bytes)?);
                    rest = tail;
                    offset += size;
                }
            }
        }
        Ok((envelope, rest, offset))
    }

    /// Put the layers around `body`, appending to `out`. The envelope must carry what the
    /// layers need (a TPDU for `tpdu`, a header of the right size for `header-N`).
    pub fn wrap(&self, envelope: &Envelope, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.wrap_with(envelope, out, |out| {
            out.extend_from_slice(body);
            Ok(())
        })
    }

    /// Put the layers around a body that `write_body` appends to `out`, so the body is
    /// written once, in place; the length prefix is filled in afterwards. On error `out` is
    /// left as it was.
    pub fn wrap_with(
        &self,
        envelope: &Envelope,
        out: &mut Vec<u8>,
        write_body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let start = out.len();
        let result = self.write_layers(envelope, out, write_body);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write_layers(
        &self,
        envelope: &Envelope,
        out: &mut Vec<u8>,
        write_body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let mut length_at = None;
        for layer in &self.layers {
            match *layer {
                Layer::Length(prefix) => {
                    length_at = Some((prefix, out.len()));
                    out.extend_from_slice(&[0; 4][..prefix.size()]);
                }
                Layer::Tpdu => {
                    let tpdu = envelope.tpdu.ok_or_else(|| {
                        Error::new(Location::Frame("TPDU"), None, Reason::NotAllowed("the framing needs a TPDU"))
                    })?;
                    out.extend_from_slice(&tpdu.to_bytes());
                }
                Layer::Header(size) => {
                    let header = envelope.header.as_ref().ok_or_else(|| {
                        Error::new(Location::Frame("header"), None, Reason::NotAllowed("the framing needs a header"))
                    })?;
                    if header.as_bytes().len() != size {
                        return Err(Error::new(
                            Location::Frame("header"),
                            None,
                            Reason::LengthMismatch { expected: size, actual: header.as_bytes().len() },
                        ));
                    }
                    out.extend_from_slice(header.as_bytes());
                }
            }
        }
        let body_start = out.len();
        write_body(out)?;
        let body_length = out.len() - body_start;
        if body_length > MESSAGE_BYTES_MAX {
            return Err(Error::new(
                Location::Message,
                None,
                Reason::TooLong { length: body_length, max: MESSAGE_BYTES_MAX },
            ));
        }
        if let Some((prefix, at)) = length_at {
            let inner_size = out.len() - at - prefix.size();
            let written = prefix.encode(inner_size)?;
            out[at..at + prefix.size()].copy_from_slice(&written[..prefix.size()]);
        }
        Ok(())
    }
}

fn take<'a>(bytes: &'a [u8], size: usize, layer: &'static str, offset: usize) -> Result<(&'a [u8], &'a [u8])> {
    if bytes.len() < size {
        return Err(Error::at(
            Location::Frame(layer),
            offset,
            Reason::Truncated { needed: size, available: bytes.len() },
        ));
    }
    Ok(bytes.split_at(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cup() -> Framing {
        Framing::new(vec![Layer::Length(LengthPrefix::Binary2), Layer::Tpdu, Layer::Header(6)]).unwrap()
    }

    #[test]
    fn tpdu_response_swaps_addresses() {
        let tpdu = Tpdu::from_hex("6004010000").unwrap();
        assert_eq!(tpdu.destination, 0x0401);
        assert_eq!(tpdu.response().to_string(), "6000000401");
        assert_eq!(tpdu.response().response(), tpdu);
    }

    #[test]
    fn processing_requirement_nibble_is_read_and_set() {
        // Byte 3 of the UnionPay header: terminal status (high nibble), processing requirement (low).
        let mut header = Header::from_hex("603100311003").unwrap();
        assert_eq!(header.application_type(), 0x60);
        assert_eq!((header.terminal_status(), header.processing_requirement()), (0, ProcessingRequirement::None));
        header.set_processing_requirement(ProcessingRequirement::SignOnAgain);
        assert_eq!(header.to_string(), "603103311003");
        let header = Header::from_hex("613121313031").unwrap();
        assert_eq!(header.terminal_status(), 2);
        assert_eq!(header.processing_requirement(), ProcessingRequirement::DownloadParameters);
        assert_eq!(ProcessingRequirement::from_nibble(0xC), ProcessingRequirement::Other(0xC));
    }

    #[test]
    fn wrap_then_unwrap_gives_back_envelope_and_body() {
        let envelope = Envelope {
            tpdu: Some(Tpdu::from_hex("6000060000").unwrap()),
            header: Some(Header::from_hex("603100311003").unwrap()),
        };
        let mut out = Vec::new();
        cup().wrap(&envelope, b"\x08\x00body", &mut out).unwrap();
        assert_eq!(&out[..2], &[0x00, 17]);
        let (back, body, offset) = cup().unwrap(&out).unwrap();
        assert_eq!((back, body, offset), (envelope, &b"\x08\x00body"[..], 13));
        assert_eq!(cup().frame_len(&out[..1]).unwrap(), None);
        assert_eq!(cup().frame_len(&out).unwrap(), Some(out.len()));
    }

    #[test]
    fn length_prefixes_round_trip() {
        for prefix in [LengthPrefix::Binary2, LengthPrefix::Binary4, LengthPrefix::Ascii4, LengthPrefix::Bcd2] {
            let bytes = prefix.encode(1234).unwrap();
            assert_eq!(prefix.read(&bytes[..prefix.size()]).unwrap(), 1234);
        }
        assert!(LengthPrefix::Ascii4.read(b"12a4").is_err());
        assert!(LengthPrefix::Bcd2.read(&[0x1A, 0x00]).is_err());
    }

    #[test]
    fn hostile_declared_lengths_are_errors() {
        let framing = Framing::new(vec![Layer::Length(LengthPrefix::Binary4)]).unwrap();
        let gigabyte = [0x40, 0x00, 0x00, 0x00, 0x01];
        assert!(matches!(framing.frame_len(&gigabyte).unwrap_err().reason, Reason::TooLong { .. }));
        assert!(matches!(framing.unwrap(&gigabyte).unwrap_err().reason, Reason::TooLong { .. }));
        let short = [0x00, 0x00, 0x00, 0x09, 0x01];
        assert!(matches!(framing.unwrap(&short).unwrap_err().reason, Reason::Truncated { .. }));
        let long = [0x00, 0x00, 0x00, 0x00, 0x01];
        assert!(matches!(framing.unwrap(&long).unwrap_err().reason, Reason::TrailingBytes { .. }));
    }

    #[test]
    fn layer_names_round_trip_and_order_is_checked() {
        for name in ["length-binary-2", "length-binary-4", "length-ascii-4", "length-bcd-2", "tpdu", "header-6"] {
            assert_eq!(Layer::parse(name).unwrap().name(), name);
        }
        assert!(Layer::parse("header-0").is_err());
        assert!(Framing::new(vec![Layer::Tpdu, Layer::Length(LengthPrefix::Binary2)]).is_err());
    }
}
