//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the stable corpus replay test,
//! so the fuzzer and `cargo test` exercise exactly the same code. Each must return without
//! panicking for every input.
//!
//! Every function takes arbitrary bytes, drives one public entry point of the codec with them
//! and, whenever the codec accepts the input, checks the invariants the codec promises:
//!
//! * decoding is exact: `encode(decode(x)) == x`, also framed;
//! * a decoded message validates, and every field can be read back by its path;
//! * dumps and JSON render (masked and unmasked) and unmasked JSON loads back to the same
//!   message (`from_json(to_json(m)) == m`);
//! * reusing a message for `decode_into` gives the same result as a fresh decode;
//! * TLV set/find/remove agree with each other;
//! * a message changed through paths that still validates encodes and decodes back to itself.
//!
//! The `assert!`s below are those invariants: a panic here is the fuzzer's report that the
//! codec broke a promise, as is any panic inside the codec itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use crate::builtin;
use crate::codec::{self, decode, decode_framed, encode_framed};
use crate::dump::{self, DumpOptions};
use crate::framing::{Envelope, Layer};
use crate::hex;
use crate::json::{self, JsonOptions};
use crate::limits::TLV_ELEMENTS_MAX;
use crate::message::Message;
use crate::mti::Mti;
use crate::path::Path;
use crate::spec::{Encoding, FieldType, ItemLength, LayoutKind, Spec, SpecFile, SpecFormat};
use crate::tlv;

/// The published UnionPay samples (shared/reference/unionpay-pos-8583.md §8), as in
/// `tests/samples.rs`: V1 is a whole 428-byte frame, the others are bodies (MTI onward).
pub mod samples {
    /// V1: a 428-byte framed purchase request (S4).
    pub const V1_FRAME: &str = "01AA60000600006031003110030200702406C020C19A311662242429000001130000000000000000010004032806071000000012346224242900000113D280620139490310133130303030303139383530313030303832343130303032000100313536D1EEF419D0AE2609260000000000000001399F260895BBE372271DDA7C9F2701809F101307010103A00000010A010000000000ED538FE49F37047F9F349E9F36020157950500000000009A031908309C01009F02060000000000015F2A02015682027C009F1A0201569F03060000000000009F3303E0E1C89F3501229F1E0831303030303031398408A0000003330101029F0902008C9F410400000403015331323230383938363036313730383030303235383339393331333131484654313730383033303131343134323031393038333030393334333531353032303031373232424433302E3632313535352C3131342E333631393534413236303031303230323032313630303030323930323130303135373038303330363030303131333034303830343234373239323035303848373036323830310014220000240006003846363531423236";
    /// Bytes before the body in a cup-pos frame: length (2), TPDU (5), header (6).
    pub const CUP_FRAMING_BYTES: usize = 13;
    /// V2: sign-on requests from two repositories (MTI onward).
    pub const V2_JSPOS: &str =
        "08000020000000C00012000105303030303037363438343831303030353831323630303200110000000100300003303031";
    pub const V2_ES: &str =
        "08000020000000C000120004563132333435363738313233343536373839303132333435001100123456003000023033";
    /// V3: balance inquiry (MTI onward).
    pub const V3: &str = "0200202004C020C0981131000000015402100006376227594325183289D1703101000000180000003031303031373934383730343531303037383030303236313536C411E6435383EB8526000000000000000013010000010005003030303030303030";

    pub fn bytes(text: &str) -> Vec<u8> {
        crate::hex::decode(text).unwrap_or_default()
    }

    /// The V1 body: the frame without length, TPDU and header.
    pub fn v1_body() -> Vec<u8> {
        bytes(V1_FRAME).split_off(CUP_FRAMING_BYTES)
    }
}

/// A short EMV field 55: ARQC, CID, ATC, TVR and an issuer script template holding a command.
pub const SAMPLE_ICC_DATA: &str = "9F260895BBE372271DDA7C9F2701809F360201579505000000000071088606010203040506";

/// `decode` with the built-in `cup-pos` spec (and `decode_framed` of the same bytes).
pub fn decode_cup_pos(data: &[u8]) {
    decode_with(&builtin::cup_pos(), data);
}

/// `decode` with the built-in `iso87-ascii` spec (and `decode_framed` of the same bytes).
pub fn decode_iso87_ascii(data: &[u8]) {
    decode_with(&builtin::iso87_ascii(), data);
}

/// `decode` with the built-in `network` spec (and `decode_framed` of the same bytes).
pub fn decode_network(data: &[u8]) {
    decode_with(&builtin::network(), data);
}

/// `decode_framed` and `frame_len` with the built-in `cup-pos` spec.
pub fn decode_framed_cup_pos(data: &[u8]) {
    framed_with(&builtin::cup_pos(), data);
}

/// Spec text (TOML, then JSON) → `Spec::from_str`. Bytes after a NUL are a message body to
/// decode with the spec; the published samples are decoded with it too.
pub fn load_spec(data: &[u8]) {
    let (text, body) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        // Invalid UTF-8 never reaches the parsers through `from_str`; nothing else to do.
        return;
    };
    for format in [SpecFormat::Toml, SpecFormat::Json] {
        let Ok(file) = SpecFile::parse(text, format) else { continue };
        let compiled = file.compile();
        // The two formats describe the same thing: the file re-read from JSON compiles alike.
        let json_text = serde_json::to_string(&file).expect("a parsed spec file serializes to JSON");
        let again = SpecFile::parse(&json_text, SpecFormat::Json)
            .unwrap_or_else(|e| panic!("a spec file written as JSON does not parse back: {e}"));
        let recompiled = again.compile();
        assert_eq!(compiled.is_ok(), recompiled.is_ok(), "TOML/JSON compile disagree: {compiled:?} vs {recompiled:?}");
        if let Err(error) = &compiled {
            let _ = error.to_string();
        }
        let Ok(spec) = compiled else { continue };
        let spec = Arc::new(spec);
        for sample in SAMPLE_BODIES.iter() {
            decode_with(&spec, sample);
        }
        if let Some(body) = body {
            decode_with(&spec, body);
        }
    }
}

/// JSON text → `json::from_json` with each built-in spec; whatever loads must encode, decode
/// and render back to itself.
pub fn json_to_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return };
    for spec in [builtin::cup_pos(), builtin::iso87_ascii(), builtin::network()] {
        let Ok((envelope, message)) = json::from_json(&spec, &value) else { continue };
        message.validate().unwrap_or_else(|e| panic!("from_json gave a message that does not validate: {e}"));
        check_views(&message, Some(&envelope));
        let Ok(body) = message.encode() else { continue };
        let decoded =
            decode(&spec, &body).unwrap_or_else(|e| panic!("{}: a loaded message does not decode: {e}", spec.name));
        let wire = as_on_the_wire(&message);
        assert_same_message(&decoded, &wire, &format!("{}: decode(encode(m)) != m", spec.name), "");
        check_body(&spec, &body, &decoded);
        if let Ok(frame) = encode_framed(&message, &envelope) {
            let (envelope_back, decoded) = decode_framed(&spec, &frame)
                .unwrap_or_else(|e| panic!("{}: a framed message does not decode: {e}", spec.name));
            assert_same_message(&decoded, &wire, &format!("{}: framed decode(encode(m)) != m", spec.name), "");
            for layer in spec.framing.layers() {
                match layer {
                    Layer::Tpdu => assert_eq!(envelope_back.tpdu, envelope.tpdu),
                    Layer::Header(_) => assert_eq!(envelope_back.header, envelope.header),
                    Layer::Length(_) => {}
                }
            }
        }
    }
}

/// BER-TLV: `validate`, `elements`, `find`, `find_path`, `set`/`remove`, and the same bytes as
/// cup-pos field 55 (validation, paths, JSON, encode/decode).
pub fn tlv(data: &[u8]) {
    let validated = tlv::validate(data);
    let mut walked = Vec::new();
    let mut walk_failed = false;
    for element in tlv::elements(data) {
        match element {
            Ok(element) => {
                assert!(element.start < element.end && element.end <= data.len());
                assert_eq!(&data[element.end - element.value.len()..element.end], element.value);
                assert_eq!(
                    tlv::parse_tag(&element.tag_hex()).ok().as_deref(),
                    Some(element.tag),
                    "walked tag fails parse_tag"
                );
                walked.push(element);
            }
            Err(error) => {
                assert!(
                    error.offset <= data.len(),
                    "TLV error offset {} past the value ({})",
                    error.offset,
                    data.len()
                );
                walk_failed = true;
            }
        }
    }
    if let Err(error) = &validated {
        assert!(error.offset <= data.len(), "TLV error offset {} past the value ({})", error.offset, data.len());
    }
    if validated.is_ok() {
        assert!(!walk_failed, "validate accepted what elements rejects");
    }
    // `find` gives the first occurrence of every tag walked before any error.
    let mut seen = HashSet::new();
    for element in &walked {
        if seen.insert(element.tag) {
            assert_eq!(tlv::find(data, element.tag), Ok(Some(element.value)));
            if element.is_constructed() {
                for inner in tlv::elements(element.value).map_while(Result::ok).take(8) {
                    let _ = tlv::find_path(data, &[element.tag.to_vec(), inner.tag.to_vec()]);
                }
            }
        }
    }
    if walk_failed {
        // Rebuilding walks the whole value, so it refuses what does not walk.
        for tag in [&[0x95u8][..], &[0x9F, 0x26]] {
            assert!(tlv::set(data, tag, &[1]).is_err(), "set on TLV that does not walk");
            assert!(tlv::remove(data, tag).is_err(), "remove on TLV that does not walk");
        }
    } else if walked.len() < TLV_ELEMENTS_MAX {
        let new_value = &data[..data.len().min(40)];
        let mut tags: Vec<&[u8]> = walked.iter().map(|e| e.tag).take(16).collect();
        tags.extend([&[0x95u8][..], &[0x9F, 0x26], &[0xDF, 0x81, 0x01], &[0x71]]);
        for tag in tags {
            let changed = tlv::set(data, tag, new_value).expect("set on well-walked TLV");
            assert_eq!(tlv::find(&changed, tag), Ok(Some(new_value)), "set then find");
            let before = tlv::remove(data, tag).expect("remove on well-walked TLV");
            let after = tlv::remove(&changed, tag).expect("remove on what set wrote");
            assert_eq!(before, after, "remove(set(v, t, x), t) != remove(v, t)");
            assert_eq!(tlv::find(&after, tag), Ok(None));
        }
    }

    // The same bytes as field 55 of a cup-pos message.
    let spec = builtin::cup_pos();
    let mut message = Message::new(spec, Mti::new(*b"0200").expect("MTI"));
    if message.set(55, data).is_err() {
        return;
    }
    let valid = message.validate();
    assert_eq!(
        valid.is_ok(),
        validated.is_ok(),
        "message validation and tlv::validate disagree: {valid:?} vs {validated:?}"
    );
    for element in &walked {
        let _ = message.get_path(&format!("55.{}", element.tag_hex()));
    }
    if valid.is_ok() {
        roundtrip_changed(&message);
    } else {
        // Renders of a message that does not fit its layout still must not panic.
        let _ = dump::dump(&message, &DumpOptions { unmask: true, envelope: None });
        let _ = json::to_json(&message, None, JsonOptions { unmask: true });
    }
}

/// Split the input into a selector byte, a path and a value (`path=value`); read, set or
/// remove that path in one of a few sample messages, then check the result still holds up.
pub fn paths(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let bases = base_messages();
    if bases.is_empty() {
        return;
    }
    let mut message = bases[selector as usize % bases.len()].clone();
    let remove = selector & 0x80 != 0;
    let (path, value) = match rest.iter().position(|&b| b == b'=') {
        Some(eq) => (&rest[..eq], &rest[eq + 1..]),
        None => (rest, &[][..]),
    };
    let path = String::from_utf8_lossy(path);
    let before = message.get_path(&path);
    let parsed = Path::parse(&path);
    if parsed.is_err() {
        assert!(before.is_err(), "get_path accepted a path Path::parse rejects");
    }
    if let (Ok(Some(_)), Ok(parsed)) = (&before, &parsed) {
        assert!(message.has(parsed.field));
    }
    let result = if remove { message.remove_path(&path) } else { message.set_path(&path, value) };
    if let Err(error) = &result {
        let _ = error.to_string();
        // A failed change leaves the message as it was.
        assert_eq!(message, bases[selector as usize % bases.len()], "a failed set/remove changed the message");
        return;
    }
    let parsed = parsed.expect("set/remove accepted a path Path::parse rejects");
    let after = message.get_path(&path);
    if remove {
        let tlv_layout = message
            .resolve(parsed.field)
            .layout
            .is_some_and(|layout| matches!(message.spec().layout(layout).kind, LayoutKind::Tlv(_)));
        // Removing a record from a repeated group shifts the later ones down, so only
        // single-level and TLV removals must leave the path empty.
        // (A field the spec does not define is NoSuchPath for both, so never gets here.)
        assert!(message.spec().field(parsed.field as usize).is_some());
        if parsed.segments.len() <= 1 || tlv_layout {
            assert_eq!(after.as_ref().ok().copied(), Some(None), "{path} still present after remove_path");
        }
    } else {
        // A BCD track stores its separator as `D` (what it decodes to), so `=` reads back as `D`.
        let bcd_track = message
            .spec()
            .field(parsed.field as usize)
            .is_some_and(|f| f.field_type == FieldType::Z && f.encoding == Encoding::Bcd);
        let expected: Vec<u8> = if bcd_track && parsed.is_field() {
            value.iter().map(|&b| if b == b'=' { b'D' } else { b }).collect()
        } else {
            value.to_vec()
        };
        let after = after.ok().flatten();
        // An empty item at the end of a positional value is the same as no item there.
        let empty_and_gone = expected.is_empty() && after.is_none();
        assert!(
            empty_and_gone || after == Some(&expected[..]),
            "{path} reads back differently after set_path: {after:?} != {expected:?}"
        );
    }
    if message.validate().is_ok() {
        roundtrip_changed(&message);
    } else {
        let _ = message.encode();
        let _ = dump::dump(&message, &DumpOptions::default());
        let _ = json::to_json(&message, None, JsonOptions::default());
    }
}

// ---------------------------------------------------------------------------------------------

/// Bodies every compiled custom spec is tried on.
static SAMPLE_BODIES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut bodies = vec![
        samples::bytes(samples::V1_FRAME),
        samples::v1_body(),
        samples::bytes(samples::V2_JSPOS),
        samples::bytes(samples::V2_ES),
        samples::bytes(samples::V3),
    ];
    for message in base_messages() {
        if let Ok(body) = message.encode() {
            bodies.push(body);
        }
    }
    bodies
});

/// Decode `data` as a body and as a frame with `spec`, checking whatever decodes.
fn decode_with(spec: &Arc<Spec>, data: &[u8]) {
    let fresh = decode(spec, data);
    // A message reused for `decode_into` (holding a previous, different message) gives the
    // same answer as a fresh one.
    let mut reused = Message::new(Arc::clone(spec), Mti::new(*b"0800").expect("MTI"));
    let _ = codec::decode_into(&SAMPLE_V1_BODY, &mut reused, 0);
    let into = codec::decode_into(data, &mut reused, 0);
    match (&fresh, &into) {
        (Ok(message), Ok(())) => assert_eq!(*message, reused, "decode_into a reused message differs from decode"),
        (Err(a), Err(b)) => assert_eq!(a, b, "decode_into a reused message fails differently from decode"),
        _ => panic!("decode and decode_into disagree: {fresh:?} vs {into:?}"),
    }
    match fresh {
        Ok(message) => check_body(spec, data, &message),
        Err(error) => check_error(&error, data.len()),
    }
    framed_with(spec, data);
}

static SAMPLE_V1_BODY: LazyLock<Vec<u8>> = LazyLock::new(samples::v1_body);

/// Decode `frame` with `spec`'s framing, checking `frame_len` agrees and the frame re-encodes.
fn framed_with(spec: &Arc<Spec>, frame: &[u8]) {
    let has_prefix = spec.framing.length_prefix().is_some();
    let frame_len = spec.framing.frame_len(frame);
    match spec.framing.length_prefix() {
        Some(prefix) => {
            // A stream reader fed the frame a byte at a time waits until the prefix is in,
            // then always gives the same answer.
            for cut in 0..frame.len().min(prefix.size() + 2) {
                let partial = spec.framing.frame_len(&frame[..cut]);
                if cut < prefix.size() {
                    assert_eq!(partial, Ok(None), "frame_len before the prefix is in");
                } else {
                    assert_eq!(partial, frame_len, "frame_len changes as bytes arrive");
                }
            }
        }
        None => assert!(frame_len.is_err(), "frame_len without a length prefix must be an error"),
    }
    match decode_framed(spec, frame) {
        Ok((envelope, message)) => {
            if has_prefix {
                assert_eq!(frame_len, Ok(Some(frame.len())), "frame_len disagrees with a frame that decodes");
            }
            let again = encode_framed(&message, &envelope)
                .unwrap_or_else(|e| panic!("{}: a decoded frame does not encode: {e}", spec.name));
            assert_same_bytes(&again, frame, &format!("{}: encode_framed(decode_framed(x)) != x", spec.name));
            check_message(&message);
            check_views(&message, Some(&envelope));
        }
        Err(error) => check_error(&error, frame.len()),
    }
}

/// Errors name a byte inside the input (or just past its end, for truncation).
fn check_error(error: &crate::Error, len: usize) {
    if let Some(offset) = error.offset {
        assert!(offset <= len, "error offset {offset} past the input ({len} bytes): {error}");
    }
    let _ = error.to_string();
}

/// A message decoded from `body`: exact re-encode, then everything else.
fn check_body(spec: &Arc<Spec>, body: &[u8], message: &Message) {
    let encoded = message.encode().unwrap_or_else(|e| panic!("{}: a decoded message does not encode: {e}", spec.name));
    assert_same_bytes(&encoded, body, &format!("{}: encode(decode(x)) != x", spec.name));
    check_message(message);
    check_views(message, None);
}

/// Validation, field and path access, and the response helper on a valid message.
fn check_message(message: &Message) {
    message.validate().unwrap_or_else(|e| panic!("a decoded message does not validate: {e}"));
    let spec = Arc::clone(message.spec());
    for (number, value) in message.fields() {
        assert_eq!(message.get_path(&number.to_string()).ok().flatten(), Some(value), "field {number} by path");
        let _ = message.get_str(number);
        let _ = message.get_u64(number);
        let Some(layout) = message.resolve(number).layout else { continue };
        match &spec.layout(layout).kind {
            LayoutKind::Positional(items) => {
                for item in items {
                    let path = format!("{number}.{}", item.id);
                    let _ = message.get_path(&path);
                    if let ItemLength::Repeat { group } = item.length {
                        let _ = message.get_path(&format!("{path}.1"));
                        if let LayoutKind::Positional(group_items) = &spec.layout(group).kind {
                            for group_item in group_items.iter().take(4) {
                                let _ = message.get_path(&format!("{path}.1.{}", group_item.id));
                            }
                        }
                    }
                }
            }
            LayoutKind::Tlv(_) => {
                let mut seen = HashSet::new();
                for element in tlv::elements(value) {
                    let element = element.expect("a validated TLV field walks");
                    if seen.insert(element.tag) {
                        let path = format!("{number}.{}", element.tag_hex());
                        assert_eq!(message.get_path(&path).ok().flatten(), Some(element.value), "{path}");
                    }
                }
            }
        }
    }
    if message.mti().is_request() {
        let response = message.response(&[2, 3, 4, 11, 41, 42]).expect("a request has a response");
        assert!(response.mti().is_response());
    }
}

/// Dumps and JSON, masked and unmasked; unmasked JSON loads back to the same message.
fn check_views(message: &Message, envelope: Option<&Envelope>) {
    for unmask in [false, true] {
        let _ = dump::dump(message, &DumpOptions { unmask, envelope: envelope.copied() });
    }
    let _ = format!("{message:?}");
    let spec = message.spec();
    let masked = json::to_json(message, envelope, JsonOptions { unmask: false });
    let _ = json::from_json(spec, &masked);
    let unmasked = json::to_json(message, envelope, JsonOptions { unmask: true });
    let text = serde_json::to_string(&unmasked).expect("JSON renders");
    let (envelope_back, message_back) = json::from_json(spec, &unmasked)
        .unwrap_or_else(|e| panic!("{}: unmasked JSON does not load back: {e}\n{text}", spec.name));
    assert_same_message(&message_back, message, &format!("{}: from_json(to_json(m)) != m", spec.name), &text);
    assert_eq!(envelope_back, envelope.copied().unwrap_or_default(), "envelope through JSON");
}

/// A message built or changed through the API that validates: it encodes, decodes back to
/// itself (byte-exact), and renders.
fn roundtrip_changed(message: &Message) {
    check_views(message, None);
    let Ok(body) = message.encode() else { return };
    let spec = message.spec();
    let decoded = decode(spec, &body).unwrap_or_else(|e| panic!("{}: a valid message does not decode: {e}", spec.name));
    assert_same_message(&decoded, &as_on_the_wire(message), &format!("{}: decode(encode(m)) != m", spec.name), "");
    check_body(spec, &body, &decoded);
}

/// `message` as it reads back from the wire. The one documented conversion: a BCD track (`z`)
/// accepts `=` as the separator and writes it as the nibble `D`, which decodes as `D`.
fn as_on_the_wire(message: &Message) -> Message {
    let mut wire = message.clone();
    for (number, value) in message.fields() {
        let Some(field) = message.spec().field(number as usize) else { continue };
        if field.field_type == FieldType::Z && field.encoding == Encoding::Bcd && value.contains(&b'=') {
            let value: Vec<u8> = value.iter().map(|&b| if b == b'=' { b'D' } else { b }).collect();
            wire.set(number, &value).expect("a track with D for = is still a track");
        }
    }
    wire
}

/// Panic naming the first differing byte (the first line of a panic is what crash triage
/// groups by, so it says where, not what).
fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let at = actual.iter().zip(expected).position(|(a, b)| a != b).unwrap_or(actual.len().min(expected.len()));
        let show = |bytes: &[u8]| bytes.get(at).map_or("end".to_owned(), |b| format!("{:?}", *b as char));
        panic!(
            "{what}: first difference at byte {at} (wrote {}, input has {}; {} vs {} bytes)\n  got:      {}\n  expected: {}",
            show(actual),
            show(expected),
            actual.len(),
            expected.len(),
            hex::encode(actual),
            hex::encode(expected)
        );
    }
}

/// Panic naming the MTI or the first field that differs.
fn assert_same_message(actual: &Message, expected: &Message, what: &str, context: &str) {
    if actual == expected {
        return;
    }
    let mut numbers: Vec<u8> = actual.field_numbers().chain(expected.field_numbers()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let differs = if actual.mti() != expected.mti() {
        "the MTI".to_owned()
    } else {
        let number = numbers.into_iter().find(|&n| actual.get(n) != expected.get(n)).unwrap_or(0);
        format!("field {number}")
    };
    panic!("{what}: {differs} differs\n{context}\n  got:      {actual:?}\n  expected: {expected:?}");
}

/// Sample messages for [`paths`]: the published samples and a few built here that exercise
/// the other layouts (field 48 variants, field 62 keys, field 63 responses, field 90, EMV).
pub fn base_messages() -> &'static [Message] {
    static BASES: LazyLock<Vec<Message>> = LazyLock::new(build_base_messages);
    &BASES
}

/// Builds one sample message from the given EMV data; `None` if the spec no longer allows it.
type BuildMessage = fn(&[u8]) -> Option<Message>;

fn build_base_messages() -> Vec<Message> {
    let cup = builtin::cup_pos();
    let mut bases = Vec::new();
    for body in [samples::v1_body(), samples::bytes(samples::V2_JSPOS), samples::bytes(samples::V3)] {
        bases.push(decode(&cup, &body).expect("published sample decodes"));
    }
    let icc = hex::decode(SAMPLE_ICC_DATA).expect("hex");
    let built: [BuildMessage; 5] = [
        // Sign-on response with 24-byte keys.
        |_| {
            let mut m = Message::new(builtin::cup_pos(), Mti::parse("0810").ok()?);
            for (field, value) in [(11, "000105"), (12, "101112"), (13, "0830"), (32, "12345678"), (37, "123456789012")]
            {
                m.set_str(field, value).ok()?;
            }
            m.set_str(39, "00").ok()?;
            m.set_str(41, "00000764").ok()?;
            m.set_str(42, "848100058126002").ok()?;
            m.set_str(60, "00000001003").ok()?;
            m.set(62, &hex::decode("0123456789ABCDEF01020304FEDCBA987654321005060708").ok()?).ok()?;
            m.set_str(63, "CUPsign-on ok").ok()?;
            Some(m)
        },
        // Batch upload (0320, 60.3 = 201): field 48 is a record count and repeated records.
        |_| {
            let mut m = Message::new(builtin::cup_pos(), Mti::parse("0320").ok()?);
            m.set_str(11, "000123").ok()?;
            m.set_str(41, "00000764").ok()?;
            m.set_str(42, "848100058126002").ok()?;
            m.set_str(60, "00000001201").ok()?;
            let records = [
                "00",
                "000012",
                "00006224242900000113",
                "000000000100",
                "01",
                "000034",
                "00000000000000001234",
                "000000010000",
            ];
            m.set_str(48, &format!("02{}", records.concat())).ok()?;
            Some(m)
        },
        // Settlement (0500): field 48 totals.
        |_| {
            let mut m = Message::new(builtin::cup_pos(), Mti::parse("0500").ok()?);
            m.set_str(11, "000124").ok()?;
            m.set_str(41, "00000764").ok()?;
            m.set_str(42, "848100058126002").ok()?;
            let totals =
                ["000000000100", "002", "000000000000", "000", "1", "000000000000", "000", "000000000000", "000", "1"];
            m.set_str(48, &totals.concat()).ok()?;
            m.set_str(60, "00000001201").ok()?;
            m.set_str(63, "001").ok()?;
            Some(m)
        },
        // Network reversal advice with original data elements and EMV data.
        |icc| {
            let mut m = Message::new(builtin::network(), Mti::parse("0420").ok()?);
            m.set_str(2, "6224242900000113").ok()?;
            m.set_str(3, "000000").ok()?;
            m.set_str(4, "000000000100").ok()?;
            m.set_str(11, "000125").ok()?;
            m.set_str(41, "00000764").ok()?;
            m.set(55, icc).ok()?;
            m.set_str(90, "020000012301011230450000000123400000000567").ok()?;
            m.set(128, &[1, 2, 3, 4, 5, 6, 7, 8]).ok()?;
            Some(m)
        },
        // ISO 8583:1987 ASCII financial request with EMV data and a MAC.
        |icc| {
            let mut m = Message::new(builtin::iso87_ascii(), Mti::parse("0200").ok()?);
            m.set_str(2, "6224242900000113").ok()?;
            m.set_str(3, "000000").ok()?;
            m.set_str(4, "000000000100").ok()?;
            m.set_str(11, "000126").ok()?;
            m.set_str(28, "D00000050").ok()?;
            m.set_str(35, "6224242900000113=28062013949031013").ok()?;
            m.set_str(41, "00000764").ok()?;
            m.set(55, icc).ok()?;
            m.set(64, &[8, 7, 6, 5, 4, 3, 2, 1]).ok()?;
            Some(m)
        },
    ];
    for build in built {
        if let Some(message) = build(&icc)
            && message.validate().is_ok()
        {
            bases.push(message);
        }
    }
    bases
}
