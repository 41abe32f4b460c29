//! Hostile input: every malformed frame, body, spec and JSON here must come back as an `Err`
//! that says where (location, byte offset) and why (reason) — never a panic, never a huge
//! allocation, never a field value in the message.

use std::sync::Arc;

use iso8583::fuzzing::samples;
use iso8583::limits::{FRAME_BYTES_MAX, MESSAGE_BYTES_MAX, SPEC_FILE_BYTES_MAX};
use iso8583::spec::SpecFormat;
use iso8583::{Error, Location, Message, Mti, Reason, Spec, builtin, decode, decode_framed, hex, json};

const PAN: &str = "6224242900000113";

fn v1_frame() -> Vec<u8> {
    samples::bytes(samples::V1_FRAME)
}

fn v1_body() -> Vec<u8> {
    samples::v1_body()
}

/// Offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).expect("needle present")
}

/// The cup-pos spec with its framing replaced.
fn cup_pos_with_framing(framing: &str) -> Arc<Spec> {
    let (_, text) = builtin::SOURCES[0];
    let original = "framing = [\"length-binary-2\", \"tpdu\", \"header-6\"]";
    assert!(text.contains(original), "cup-pos.toml framing line changed");
    let text = text.replace(original, &format!("framing = {framing}"));
    Arc::new(Spec::from_str(&text, SpecFormat::Toml).unwrap())
}

/// What every decode error must satisfy: an offset inside the input (or just past its end for
/// truncation), and a rendering that names no value.
fn check_error(error: &Error, input_len: usize) {
    if let Some(offset) = error.offset {
        assert!(offset <= input_len, "offset {offset} past the input ({input_len} bytes): {error}");
    }
    let text = error.to_string();
    assert!(!text.contains(PAN), "error leaks the PAN: {text}");
}

#[test]
fn v1_frame_truncated_at_every_length_is_an_error() {
    let spec = builtin::cup_pos();
    let frame = v1_frame();
    assert_eq!(frame.len(), 428);
    for len in 0..frame.len() {
        let error = decode_framed(&spec, &frame[..len]).unwrap_err();
        check_error(&error, len);
        // The 2-byte length prefix still says 426: the frame layer notices first.
        assert_eq!(error.location, Location::Frame("length prefix"), "cut at {len}");
        assert_eq!(error.offset, Some(0), "cut at {len}");
        assert!(matches!(error.reason, Reason::Truncated { .. }), "cut at {len}: {error}");
    }
    assert!(decode_framed(&spec, &frame).is_ok());
}

#[test]
fn v1_frame_truncated_with_a_matching_length_prefix_is_an_error_inside_the_frame() {
    // The same cuts, but with the length prefix rewritten to match, so the TPDU, header and
    // body decoders see the short input.
    let spec = builtin::cup_pos();
    let frame = v1_frame();
    for len in 2..frame.len() {
        let mut cut = frame[..len].to_vec();
        cut[..2].copy_from_slice(&((len - 2) as u16).to_be_bytes());
        let error = decode_framed(&spec, &cut).unwrap_err();
        check_error(&error, len);
        let offset = error.offset.unwrap_or_else(|| panic!("cut at {len}: no offset in {error}"));
        match len {
            2..7 => assert_eq!(error.location, Location::Frame("TPDU"), "cut at {len}"),
            7..13 => assert_eq!(error.location, Location::Frame("header"), "cut at {len}"),
            _ => assert!(offset >= 13, "cut at {len}: body error at frame offset {offset}: {error}"),
        }
    }
}

#[test]
fn v1_body_truncated_at_every_length_is_an_error() {
    let spec = builtin::cup_pos();
    let body = v1_body();
    assert_eq!(body.len(), 415);
    for len in 0..body.len() {
        let error = decode(&spec, &body[..len]).unwrap_err();
        check_error(&error, len);
        assert!(matches!(error.reason, Reason::Truncated { .. }), "cut at {len}: {error}");
        assert!(error.offset.is_some(), "cut at {len}: no offset in {error}");
        let expected_location = match len {
            0..2 => Some(Location::Mti),
            2..10 => Some(Location::Bitmap(1)),
            10..19 => Some(Location::Field(2)),
            _ => None,
        };
        if let Some(location) = expected_location {
            assert_eq!(error.location, location, "cut at {len}");
        }
    }
}

#[test]
fn length_prefix_larger_than_max_is_too_long() {
    // Field 2 (n..19, LL in BCD) starts right after the MTI and bitmap, at body offset 10.
    let spec = builtin::cup_pos();
    let mut body = v1_body();
    assert_eq!(body[10], 0x16);
    body[10] = 0x99;
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.location, Location::Field(2));
    assert_eq!(error.offset, Some(10));
    assert_eq!(error.reason, Reason::TooLong { length: 99, max: 19 });
    check_error(&error, body.len());
}

#[test]
fn length_prefix_beyond_the_remaining_bytes_is_truncated() {
    // V2: field 63 is last, LLL 0003 then "001". Claim 99 characters instead.
    let spec = builtin::cup_pos();
    let mut body = samples::bytes(samples::V2_JSPOS);
    let prefix_at = body.len() - 5;
    assert_eq!(&body[prefix_at..prefix_at + 2], &[0x00, 0x03]);
    body[prefix_at + 1] = 0x99;
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.location, Location::Field(63));
    assert_eq!(error.reason, Reason::Truncated { needed: 99, available: 3 });
    assert_eq!(error.offset, Some(prefix_at + 2));
    check_error(&error, body.len());

    // Field 2 claiming 19 digits inside V1 reads into the next fields, which then do not fit.
    let mut body = v1_body();
    body[10] = 0x19;
    let error = decode(&spec, &body).unwrap_err();
    check_error(&error, body.len());
}

#[test]
fn non_bcd_length_prefix_is_an_error() {
    let spec = builtin::cup_pos();
    let mut body = v1_body();
    body[10] = 0x1A;
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.location, Location::Field(2));
    assert_eq!(error.offset, Some(10));
    assert_eq!(error.reason, Reason::BadLengthPrefix);
}

#[test]
fn non_bcd_nibble_in_a_numeric_field() {
    // Field 3 (n 6, BCD) follows field 2: prefix at 10, 8 bytes of PAN, so it starts at 19.
    let spec = builtin::cup_pos();
    let mut body = v1_body();
    assert_eq!(&body[19..22], &[0x00, 0x00, 0x00]);
    body[20] = 0x0C;
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.location, Location::Field(3));
    assert_eq!(error.offset, Some(20));
    assert_eq!(error.reason, Reason::NotBcd { nibble_index: 3 });
    check_error(&error, body.len());
    assert!(error.to_string().starts_with("field 3 at byte 20"), "{error}");
}

#[test]
fn non_bcd_nibble_in_the_mti() {
    let spec = builtin::cup_pos();
    for (byte, value, nibble_index) in [(0, 0xA2u8, 0), (0, 0x0F, 1), (1, 0xB0, 2), (1, 0x0E, 3)] {
        let mut body = v1_body();
        body[byte] = value;
        let error = decode(&spec, &body).unwrap_err();
        assert_eq!(error.location, Location::Mti);
        assert_eq!(error.offset, Some(byte));
        assert_eq!(error.reason, Reason::NotBcd { nibble_index });
    }
    // An ASCII MTI with a letter.
    let spec = builtin::iso87_ascii();
    let error = decode(&spec, b"02X00000000000000000").unwrap_err();
    assert_eq!(error.location, Location::Mti);
    assert_eq!(error.offset, Some(2));
}

#[test]
fn bitmap_naming_an_undefined_field() {
    // cup-pos defines no field 5; bit 5 is the 0x08 bit of the first bitmap byte (body[2]).
    let spec = builtin::cup_pos();
    let mut body = v1_body();
    assert_eq!(body[2], 0x70);
    body[2] |= 0x08;
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.location, Location::Field(5));
    assert_eq!(error.reason, Reason::UndefinedField);
    // Fields 2, 3 and 4 decoded first: 10 + 9 + 3 + 6 bytes.
    assert_eq!(error.offset, Some(28));
    check_error(&error, body.len());
}

#[test]
fn secondary_bitmap_is_not_allowed_in_cup_pos() {
    let spec = builtin::cup_pos();
    let mut body = v1_body();
    body[2] |= 0x80;
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.location, Location::Bitmap(2));
    assert_eq!(error.reason, Reason::BitmapNotAllowed);
    assert_eq!(error.offset, Some(10));
}

#[test]
fn announced_but_empty_secondary_bitmap_is_an_error() {
    // Re-encoding would drop it, so accepting it would break the exact round trip.
    let spec = builtin::iso87_ascii();
    let body = b"08008000000000000000000000000000000000";
    let error = decode(&spec, body).unwrap_err();
    assert_eq!(error.location, Location::Bitmap(2));
    assert_eq!(error.offset, Some(20));
}

#[test]
fn tlv_length_past_the_end_inside_field_55() {
    let spec = builtin::cup_pos();
    let mut frame = v1_frame();
    // Field 55 (LLL 0139) starts with 9F26 and ends with 9F41 04 00000403; make that last
    // element claim 5 bytes, one more than the field holds.
    let first = find(&frame, &hex::decode("9F260895BBE3").unwrap());
    assert_eq!(&frame[first - 2..first], &[0x01, 0x39]);
    let field_end = first + 139;
    let last = find(&frame, &hex::decode("9F410400000403").unwrap());
    assert_eq!(last + 7, field_end);
    frame[last + 2] = 0x05;
    let error = decode_framed(&spec, &frame).unwrap_err();
    assert_eq!(error.location, Location::Field(55), "{error}");
    assert_eq!(error.reason, Reason::TlvTruncated);
    // The offset is the bad length byte's, counted from the start of the frame.
    let offset = error.offset.expect("a byte offset");
    assert!((first..field_end).contains(&offset), "offset {offset} not inside field 55 ({first}..{field_end})");
    assert_eq!(offset, last + 2);
    check_error(&error, frame.len());
    let text = error.to_string();
    assert!(text.contains("field 55"), "{text}");
    assert!(text.contains(&format!("at byte {offset}")), "{text}");
    assert!(!text.contains("95BBE372"), "error leaks field data: {text}");

    // Decoding the body alone names the same byte, counted from the MTI.
    let error = decode(&spec, &frame[samples::CUP_FRAMING_BYTES..]).unwrap_err();
    assert_eq!(error.offset, Some(last + 2 - samples::CUP_FRAMING_BYTES));

    // The same value set through the API is refused, at its offset in the value.
    let (_, mut message) = decode_framed(&spec, &v1_frame()).unwrap();
    let mut bad = message.get(55).unwrap().to_vec();
    let length_byte = bad.len() - 5;
    assert_eq!(bad[length_byte], 0x04);
    bad[length_byte] = 0x05;
    let error = message.set(55, &bad).unwrap_err();
    assert_eq!(error.location, Location::Field(55));
    assert_eq!(error.reason, Reason::TlvTruncated);
    assert_eq!(error.offset, Some(length_byte));

    // A length past the end in the middle of the field instead reads on into the next elements.
    let mut frame = v1_frame();
    frame[first + 2] = 0x7F;
    let error = decode_framed(&spec, &frame).unwrap_err();
    assert_eq!(error.location, Location::Field(55), "{error}");
    assert!((first..field_end).contains(&error.offset.unwrap()), "{error}");
}

#[test]
fn tlv_errors_inside_field_55() {
    let spec = builtin::cup_pos();
    // Over-long length form, indefinite length, a 4-byte tag, and nesting past the limit.
    let mut deep = hex::decode("9500").unwrap();
    for _ in 0..8 {
        let mut outer = vec![0x71, deep.len() as u8];
        outer.extend_from_slice(&deep);
        deep = outer;
    }
    for (value, reason) in [
        (hex::decode("9585010101010100").unwrap(), Reason::TlvBadLength),
        (hex::decode("9580").unwrap(), Reason::TlvBadLength),
        (hex::decode("9F81818101").unwrap(), Reason::TlvBadLength),
        (deep, Reason::TlvTooDeep),
    ] {
        let mut message = Message::new(spec.clone(), Mti::parse("0200").unwrap());
        let error = message.set(55, &value).unwrap_err();
        assert!(!message.has(55), "a refused value is not stored");
        assert_eq!(error.reason, reason, "{}", hex::encode(&value));
        assert_eq!(error.location, Location::Field(55));
        // And on the wire: MTI, bitmap with bit 55, LLL, value.
        let mut body = hex::decode("02000000000000000200").unwrap();
        body.extend_from_slice(&[
            (value.len() / 100) as u8,
            (((value.len() / 10 % 10) << 4) | (value.len() % 10)) as u8,
        ]);
        body.extend_from_slice(&value);
        let error = decode(&spec, &body).unwrap_err();
        assert_eq!(error.reason, reason);
        assert_eq!(error.location, Location::Field(55));
        check_error(&error, body.len());
    }
}

#[test]
fn gigabyte_declared_length() {
    let spec = cup_pos_with_framing("[\"length-binary-4\"]");
    let prefix = [0x40, 0x00, 0x00, 0x00];
    let error = spec.framing.frame_len(&prefix).unwrap_err();
    assert_eq!(error.location, Location::Frame("length prefix"));
    assert_eq!(error.reason, Reason::TooLong { length: 1 << 30, max: FRAME_BYTES_MAX });
    assert_eq!(error.offset, Some(0));
    // Fewer than 4 bytes: wait for more, whatever they are.
    assert_eq!(spec.framing.frame_len(&prefix[..3]).unwrap(), None);
    // A frame that starts with it, and the largest value a 4-byte prefix can hold.
    let mut frame = prefix.to_vec();
    frame.extend_from_slice(&v1_body());
    let error = decode_framed(&spec, &frame).unwrap_err();
    assert_eq!(error.reason, Reason::TooLong { length: 1 << 30, max: FRAME_BYTES_MAX });
    let error = decode_framed(&spec, &[0xFF, 0xFF, 0xFF, 0xFF]).unwrap_err();
    assert_eq!(error.reason, Reason::TooLong { length: u32::MAX as usize, max: FRAME_BYTES_MAX });
    // Just over the limit is refused, the limit itself is only waited for.
    let over = ((FRAME_BYTES_MAX + 1) as u32).to_be_bytes();
    assert!(matches!(spec.framing.frame_len(&over).unwrap_err().reason, Reason::TooLong { .. }));
    let at = (FRAME_BYTES_MAX as u32).to_be_bytes();
    assert_eq!(spec.framing.frame_len(&at).unwrap(), Some(FRAME_BYTES_MAX + 4));
}

#[test]
fn bad_length_prefixes_in_other_framings() {
    let ascii = cup_pos_with_framing("[\"length-ascii-4\"]");
    let error = ascii.framing.frame_len(b"12a4").unwrap_err();
    assert_eq!(error.reason, Reason::BadLengthPrefix);
    assert_eq!(error.location, Location::Frame("length prefix"));
    let error = decode_framed(&ascii, b"9999").unwrap_err();
    assert!(matches!(error.reason, Reason::Truncated { needed: 9999, available: 0 }), "{error}");
    let bcd = cup_pos_with_framing("[\"length-bcd-2\"]");
    assert_eq!(bcd.framing.frame_len(&[0x1A, 0x00]).unwrap_err().reason, Reason::BadLengthPrefix);
    // No prefix at all: frame_len cannot work.
    let none = cup_pos_with_framing("[]");
    assert!(none.framing.frame_len(&[0, 0, 0, 0]).is_err());
}

#[test]
fn declared_lll_of_999_on_a_255_max_field() {
    let spec = builtin::cup_pos();
    let mut frame = v1_frame();
    let element = find(&frame, &hex::decode("9F260895BBE3").unwrap());
    let prefix = element - 2;
    assert_eq!(&frame[prefix..element], &[0x01, 0x39]);
    frame[prefix..element].copy_from_slice(&[0x09, 0x99]);
    let error = decode_framed(&spec, &frame).unwrap_err();
    assert_eq!(error.location, Location::Field(55));
    assert_eq!(error.reason, Reason::TooLong { length: 999, max: 255 });
    assert_eq!(error.offset, Some(prefix));
    let text = error.to_string();
    assert!(text.contains("field 55") && text.contains(&format!("at byte {prefix}")), "{text}");
}

#[test]
fn trailing_bytes_after_the_last_field() {
    let spec = builtin::cup_pos();
    let mut body = v1_body();
    body.extend_from_slice(&[0x00, 0x01]);
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.location, Location::Message);
    assert_eq!(error.reason, Reason::TrailingBytes { count: 2 });
    assert_eq!(error.offset, Some(415));

    // In a frame whose prefix does not count them, the frame layer notices.
    let mut frame = v1_frame();
    frame.push(0xFF);
    let error = decode_framed(&spec, &frame).unwrap_err();
    assert_eq!(error.reason, Reason::TrailingBytes { count: 1 });
    assert_eq!(error.offset, Some(428));
    // In a frame whose prefix counts them, the body decoder does, at a frame offset.
    frame[..2].copy_from_slice(&427u16.to_be_bytes());
    let error = decode_framed(&spec, &frame).unwrap_err();
    assert_eq!(error.location, Location::Message);
    assert_eq!(error.reason, Reason::TrailingBytes { count: 1 });
    assert_eq!(error.offset, Some(428));
}

#[test]
fn messages_larger_than_the_limit() {
    let spec = builtin::cup_pos();
    let mut body = v1_body();
    body.resize(MESSAGE_BYTES_MAX + 1, 0);
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.location, Location::Message);
    assert_eq!(error.reason, Reason::TooLong { length: MESSAGE_BYTES_MAX + 1, max: MESSAGE_BYTES_MAX });
    // Exactly at the limit the size is fine and the trailing zeros are the problem.
    body.truncate(MESSAGE_BYTES_MAX);
    assert!(matches!(decode(&spec, &body).unwrap_err().reason, Reason::TrailingBytes { .. }));

    // A frame at the largest 2-byte length: the body is over the limit.
    let mut frame = vec![0xFF, 0xFF];
    frame.extend_from_slice(&samples::bytes(samples::V1_FRAME)[2..13]);
    frame.extend_from_slice(&v1_body());
    frame.resize(2 + 0xFFFF, 0);
    let error = decode_framed(&spec, &frame).unwrap_err();
    assert!(matches!(error.reason, Reason::TooLong { .. }), "{error}");

    // Encoding refuses to build one: iso87-ascii has many `ans..999` fields.
    let spec = builtin::iso87_ascii();
    let mut message = Message::new(spec.clone(), Mti::parse("0200").unwrap());
    let filler = "x".repeat(999);
    for field in (104..128).filter(|&f| spec.field(f).is_some_and(|s| s.length.max() == 999)) {
        message.set_str(field as u8, &filler).unwrap();
    }
    assert!(message.fields().count() * 999 > MESSAGE_BYTES_MAX, "not enough large fields to overflow");
    let error = message.encode().unwrap_err();
    assert_eq!(error.location, Location::Message);
    assert!(matches!(error.reason, Reason::TooLong { max: MESSAGE_BYTES_MAX, .. }), "{error}");
}

#[test]
fn bad_hex_bitmap_characters_in_iso87_ascii() {
    let spec = builtin::iso87_ascii();
    for (bitmap, index) in [(&b"00G0000000000000"[..], 2), (b"7000000000000 00", 13), (b"700000000000000\xFF", 15)] {
        let mut body = b"0800".to_vec();
        body.extend_from_slice(bitmap);
        let error = decode(&spec, &body).unwrap_err();
        assert_eq!(error.location, Location::Bitmap(1), "{error}");
        assert_eq!(error.offset, Some(4 + index), "{error}");
        assert!(matches!(error.reason, Reason::BadCharacter { .. }), "{error}");
    }
    // Lowercase hex would not re-encode to the same bytes, so it is refused too.
    let error = decode(&spec, b"08000a000000000000000000000001000101120000").unwrap_err();
    assert_eq!(error.location, Location::Bitmap(1));
    assert_eq!(error.offset, Some(5));
    // A bad character in a hex-encoded binary field (64, b 8 as 16 hex characters).
    let error = decode(&spec, b"02000000000000000001012345678Z0ABCDEF").unwrap_err();
    assert_eq!(error.location, Location::Field(64));
    assert!(matches!(error.reason, Reason::BadCharacter { .. }), "{error}");
}

#[test]
fn garbage_spec_files_are_errors() {
    let not_utf8 = String::from_utf8_lossy(&[0xFF, 0xFE, 0x00, 0x80, b'[', 0xC3]).into_owned();
    let huge = format!("name = \"x\"\n# {}\n", "a".repeat(SPEC_FILE_BYTES_MAX));
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("not UTF-8 (lossy)", not_utf8),
        ("not TOML", "this is = not [toml".into()),
        ("missing everything", "name = \"x\"".into()),
        ("wrong types", "name = 1\nmti = []\nbitmap = 3\nfields = 4".into()),
        (
            "unknown MTI encoding",
            "name = \"x\"\nmti = \"morse\"\nbitmap = { encoding = \"binary\", fields_max = 64 }\n[fields]".into(),
        ),
        (
            "fields_max 65",
            "name = \"x\"\nmti = \"bcd\"\nbitmap = { encoding = \"binary\", fields_max = 65 }\n[fields]".into(),
        ),
        (
            "field 1",
            "name = \"x\"\nmti = \"bcd\"\nbitmap = { encoding = \"binary\", fields_max = 64 }\n[fields]\n1 = { name = \"b\", type = \"b\", len = 8 }".into(),
        ),
        (
            "prefix too small",
            "name = \"x\"\nmti = \"bcd\"\nbitmap = { encoding = \"binary\", fields_max = 64 }\n[fields]\n2 = { name = \"p\", type = \"n\", var = \"L\", max = 19 }".into(),
        ),
        (
            "unknown layout",
            "name = \"x\"\nmti = \"bcd\"\nbitmap = { encoding = \"binary\", fields_max = 64 }\n[fields]\n60 = { name = \"p\", type = \"n\", var = \"LLL\", max = 17, layout = \"nope\" }".into(),
        ),
        (
            "self-repeating layout",
            "name = \"x\"\nmti = \"bcd\"\nbitmap = { encoding = \"binary\", fields_max = 64 }\n[fields]\n[layouts]\nr.positional = [{ id = \"1\", name = \"r\", type = \"n\", repeat = \"r\" }]".into(),
        ),
        ("huge", huge),
    ];
    for (what, text) in &cases {
        for format in [SpecFormat::Toml, SpecFormat::Json] {
            let error = Spec::from_str(text, format).unwrap_err();
            assert!(matches!(error.location, Location::Spec(_)), "{what}: {error}");
            assert!(error.to_string().starts_with("spec "), "{what}: {error}");
        }
    }
    // JSON garbage.
    for text in ["", "{", "[]", "null", "{\"name\": 1}", "{\"name\":\"x\",\"mti\":\"bcd\",\"bitmap\":{},\"fields\":{}}"]
    {
        assert!(Spec::from_str(text, SpecFormat::Json).is_err(), "{text}");
    }
    // A file that is not UTF-8 at all.
    let path = std::env::temp_dir().join(format!("cardnet-hostile-{}.toml", std::process::id()));
    std::fs::write(&path, [0xFF, 0xFE, 0xFD, b'\n', 0x80]).unwrap();
    let error = Spec::from_path(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(error.location, Location::Spec(_)), "{error}");
    assert!(Spec::from_path(std::path::Path::new("/nonexistent/cardnet/spec.toml")).is_err());
}

#[test]
fn garbage_json_is_an_error() {
    let spec = builtin::cup_pos();
    let cases = [
        "null",
        "[]",
        "\"0200\"",
        "{}",
        r#"{"mti": 200}"#,
        r#"{"mti": "02000"}"#,
        r#"{"mti": "02A0"}"#,
        r#"{"mti": "0200", "extra": 1}"#,
        r#"{"mti": "0200", "fields": []}"#,
        r#"{"mti": "0200", "fields": {"5": "1"}}"#,
        r#"{"mti": "0200", "fields": {"1": "1"}}"#,
        r#"{"mti": "0200", "fields": {"300": "1"}}"#,
        r#"{"mti": "0200", "fields": {"2": 6224242900000113}}"#,
        r#"{"mti": "0200", "fields": {"2": "62242429000001131234"}}"#,
        r#"{"mti": "0200", "fields": {"3": "00000A"}}"#,
        r#"{"mti": "0200", "fields": {"52": "XYZ"}}"#,
        r#"{"mti": "0200", "fields": {"52": "0102"}}"#,
        r#"{"mti": "0200", "fields": {"55": {"9F": "00"}}}"#,
        r#"{"mti": "0200", "fields": {"55": {"9F26": "0G"}}}"#,
        r#"{"mti": "0200", "fields": {"55": {"9F26": 1}}}"#,
        r#"{"mti": "0200", "fields": {"55": "9F2608"}}"#,
        r#"{"mti": "0200", "fields": {"60": {"9": "1"}}}"#,
        r#"{"mti": "0200", "fields": {"60": {"2": "000001"}}}"#,
        r#"{"mti": "0200", "fields": {"60": {"1": "2X"}}}"#,
        r#"{"mti": "0200", "fields": {"41": {"_hex": "ZZ"}}}"#,
        r#"{"mti": "0200", "tpdu": "60000600", "fields": {}}"#,
        r#"{"mti": "0200", "header": "", "fields": {}}"#,
        r#"{"mti": "0200", "header": 5, "fields": {}}"#,
    ];
    for text in cases {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let result = json::from_json(&spec, &value);
        assert!(result.is_err(), "{text} should be refused");
        let error = result.unwrap_err();
        assert!(!error.to_string().is_empty());
    }
    // Deeply nested JSON (as deep as serde_json will parse) is refused, not recursed into.
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let value: serde_json::Value = serde_json::from_str(&deep).unwrap();
    assert!(json::from_json(&spec, &value).is_err());
    let nested_fields =
        format!(r#"{{"mti": "0200", "fields": {{"60": {}1{}}}}}"#, "{\"1\":".repeat(50), "}".repeat(50));
    let value: serde_json::Value = serde_json::from_str(&nested_fields).unwrap();
    assert!(json::from_json(&spec, &value).is_err());
}

#[test]
fn error_display_names_the_field_and_the_offset_but_no_value() {
    let spec = builtin::cup_pos();
    let mut body = v1_body();
    body[10] = 0x99;
    let error = decode(&spec, &body).unwrap_err();
    assert_eq!(error.to_string(), "field 2 at byte 10: length 99 exceeds maximum 19");

    let mut frame = v1_frame();
    let element = find(&frame, &hex::decode("9F260895BBE3").unwrap());
    frame[element + 2] = 0x7F;
    let error = decode_framed(&spec, &frame).unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("field 55 at byte "), "{text}");
    assert!(text.contains("TLV"), "{text}");

    // A bad character inside the PAN: the error says where, not what.
    let mut body = v1_body();
    body[15] = 0x4F;
    let error = decode(&spec, &body).unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("field 2 at byte 15"), "{text}");
    assert!(!text.contains("622424") && !text.contains("0113"), "{text}");

    // Frame-level errors name the layer.
    let error = decode_framed(&spec, &v1_frame()[..5]).unwrap_err();
    assert!(error.to_string().starts_with("length prefix at byte 0"), "{error}");
}
