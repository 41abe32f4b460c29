//! Frames in a byte stream. The decoder only splits the stream at the length prefix and yields
//! whole raw frames; decoding the message is left to the caller, so a malformed message never
//! loses the frame boundary and can be answered. Only an unreadable or oversize length prefix is
//! an error, and it ends the connection: after it, frame boundaries cannot be trusted.

use bytes::{Bytes, BytesMut};
use iso8583::Framing;
use iso8583::limits::FRAME_BYTES_MAX;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::TransportError;

/// Splits a stream into frames with a framing's length prefix; encodes already-framed bytes.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    framing: Framing,
}

impl FrameCodec {
    /// A codec for `framing`, which must start with a length prefix.
    pub fn new(framing: Framing) -> Result<FrameCodec, TransportError> {
        match framing.frame_len(&[]) {
            // Only a framing without a length prefix fails on an empty buffer; the error says why.
            Err(error) => Err(TransportError::Framing(error)),
            Ok(_) => Ok(FrameCodec { framing }),
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = TransportError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, TransportError> {
        match self.framing.frame_len(src).map_err(TransportError::Framing)? {
            None => Ok(None),
            Some(len) if src.len() < len => {
                // Bounded: frame_len rejects declared lengths above FRAME_BYTES_MAX.
                debug_assert!(len <= FRAME_BYTES_MAX + 4);
                src.reserve(len - src.len());
                Ok(None)
            }
            Some(len) => Ok(Some(src.split_to(len).freeze())),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = TransportError;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), TransportError> {
        dst.extend_from_slice(&frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> FrameCodec {
        FrameCodec::new(iso8583::builtin::network().framing.clone()).unwrap()
    }

    #[test]
    fn partial_reads_yield_whole_frames() {
        let mut codec = codec();
        let mut buffer = BytesMut::new();
        let stream = [&[0u8, 3][..], b"abc", &[0, 2], b"de"].concat();
        let mut frames = Vec::new();
        for byte in stream {
            buffer.extend_from_slice(&[byte]);
            while let Some(frame) = codec.decode(&mut buffer).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, vec![Bytes::from_static(b"\0\x03abc"), Bytes::from_static(b"\0\x02de")]);
        assert!(buffer.is_empty());
    }

    #[test]
    fn two_frames_in_one_read() {
        let mut codec = codec();
        let mut buffer = BytesMut::from(&b"\0\x01a\0\x01b\0"[..]);
        assert_eq!(codec.decode(&mut buffer).unwrap().unwrap(), Bytes::from_static(b"\0\x01a"));
        assert_eq!(codec.decode(&mut buffer).unwrap().unwrap(), Bytes::from_static(b"\0\x01b"));
        assert!(codec.decode(&mut buffer).unwrap().is_none());
    }

    #[test]
    fn hostile_length_is_an_error() {
        let mut codec = codec();
        let mut buffer = BytesMut::from(&[0xFFu8, 0xFF, 1, 2, 3][..]);
        let error = codec.decode(&mut buffer).unwrap_err();
        assert!(matches!(error, TransportError::Framing(_)));
        assert!(error.to_string().contains("framing error"), "{error}");
    }

    #[test]
    fn framing_without_length_prefix_is_refused() {
        assert!(FrameCodec::new(Framing::default()).is_err());
    }

    #[test]
    fn encode_writes_bytes_as_is() {
        let mut codec = codec();
        let mut out = BytesMut::new();
        codec.encode(Bytes::from_static(b"\0\x01z"), &mut out).unwrap();
        assert_eq!(&out[..], b"\0\x01z");
    }
}
