//! Property tests. Messages are generated from the built-in specs themselves (every field's
//! type, length, encoding and prefix), so whatever a spec allows is what gets tried:
//!
//! * random valid messages encode, decode to an equal message, and re-encode byte for byte;
//! * the same through JSON (unmasked) and through the framing (cup-pos: random TPDU and header);
//! * cup-pos fields 55, 60 and 62 built through paths (`55.9F26`, `60.3`, `62.1`) do the same;
//! * random bytes, and random damage to valid messages, never panic the decoder.

use std::sync::Arc;

use iso8583::spec::{Encoding, FieldSpec, FieldType, Length, LengthUnit};
use iso8583::{Envelope, Header, Message, Mti, Spec, Tpdu, builtin, decode, decode_framed, encode_framed, json};
use proptest::prelude::*;
use proptest::sample::Index;

fn specs() -> [Arc<Spec>; 3] {
    [builtin::cup_pos(), builtin::iso87_ascii(), builtin::network()]
}

/// Values only: a field whose value must fit a subfield layout (or whose layout depends on
/// the message) is left to the path-based properties.
fn plain_fields(spec: &Spec) -> Vec<FieldSpec> {
    spec.fields().filter(|f| f.layout.is_none() && f.variants.is_empty()).cloned().collect()
}

/// How many value units a field may hold, honouring the BCD-counted-in-bytes rule (even digit
/// counts only) and `x+n` (at least the sign).
fn unit_counts(field: &FieldSpec) -> BoxedStrategy<usize> {
    let even_only = matches!(field.length, Length::Var { .. })
        && field.unit == LengthUnit::Bytes
        && field.encoding == Encoding::Bcd;
    let min = usize::from(field.field_type == FieldType::Xn);
    let strategy = match field.length {
        Length::Fixed(len) => Just(len as usize).boxed(),
        Length::Var { max, .. } => {
            let max = max as usize;
            // Mostly short values, sometimes the longest allowed.
            prop_oneof![4 => min..=max.min(min + 40), 1 => Just(max)].boxed()
        }
    };
    strategy.prop_map(move |units| if even_only { units & !1 } else { units }).boxed()
}

/// Characters a value of `field_type` in `encoding` may hold and decode back unchanged.
fn alphabet(field: &FieldSpec) -> Vec<u8> {
    let digits = b"0123456789".to_vec();
    let letters: Vec<u8> = (b'A'..=b'Z').chain(b'a'..=b'z').collect();
    match field.field_type {
        FieldType::N => digits,
        FieldType::A => [letters, vec![b' ']].concat(),
        FieldType::An => [digits, letters, vec![b' ']].concat(),
        FieldType::Ans => {
            let mut printable: Vec<u8> = (0x20..0x7F).collect();
            if field.encoding == Encoding::Ascii {
                // National text (GBK, UTF-8) travels as bytes above 0x7F.
                printable.extend([0x80, 0xA1, 0xB0, 0xC4, 0xE3, 0xFE, 0xFF]);
            }
            printable
        }
        // In BCD a track's separator is the nibble D (`=` is accepted but reads back as D).
        FieldType::Z if field.encoding == Encoding::Bcd => b"0123456789ABCDEF".to_vec(),
        FieldType::Z => b"0123456789=ABCDEF".to_vec(),
        FieldType::B => (0..=255).collect(),
        FieldType::Xn => digits,
    }
}

/// A valid value for `field`.
fn value_for(field: &FieldSpec) -> BoxedStrategy<Vec<u8>> {
    let alphabet = alphabet(field);
    let signed = field.field_type == FieldType::Xn;
    unit_counts(field)
        .prop_flat_map(move |units| {
            let body =
                proptest::collection::vec(proptest::sample::select(alphabet.clone()), units - usize::from(signed));
            (proptest::sample::select(vec![b'C', b'D']), body)
        })
        .prop_map(move |(sign, body)| if signed { [vec![sign], body].concat() } else { body })
        .boxed()
}

fn mti() -> impl Strategy<Value = Mti> {
    proptest::array::uniform4(b'0'..=b'9').prop_map(|digits| Mti::new(digits).unwrap())
}

/// A random valid message of `spec`: a random MTI and a random subset of its plain fields.
fn message(spec: Arc<Spec>) -> BoxedStrategy<Message> {
    let fields = plain_fields(&spec);
    let values: Vec<_> = fields.iter().map(|f| proptest::option::weighted(0.25, value_for(f))).collect();
    let numbers: Vec<u8> = fields.iter().map(|f| f.number).collect();
    (mti(), values)
        .prop_map(move |(mti, values)| {
            let mut message = Message::new(spec.clone(), mti);
            for (&number, value) in numbers.iter().zip(values) {
                if let Some(value) = value {
                    message.set(number, &value).unwrap_or_else(|e| panic!("generated value for field {number}: {e}"));
                }
            }
            message
        })
        .boxed()
}

/// Encode; `None` when the message is over the size limit (many long fields), which is the
/// one way a valid message may fail to encode.
fn encode(message: &Message) -> Option<Vec<u8>> {
    match message.encode() {
        Ok(body) => Some(body),
        Err(error) => {
            assert!(matches!(error.reason, iso8583::Reason::TooLong { .. }), "valid message fails to encode: {error}");
            None
        }
    }
}

fn assert_round_trip(message: &Message) -> Result<(), TestCaseError> {
    message.validate().map_err(|e| TestCaseError::fail(format!("built message does not validate: {e}")))?;
    let Some(body) = encode(message) else { return Ok(()) };
    let decoded = decode(message.spec(), &body).map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert_eq!(&decoded, message);
    prop_assert_eq!(decoded.encode().unwrap(), body);
    Ok(())
}

fn assert_json_round_trip(message: &Message) -> Result<(), TestCaseError> {
    let value = json::to_json(message, None, json::JsonOptions { unmask: true });
    let (envelope, back) = json::from_json(message.spec(), &value)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", serde_json::to_string(&value).unwrap())))?;
    prop_assert_eq!(envelope, Envelope::default());
    prop_assert_eq!(&back, message);
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

#[test]
fn every_builtin_has_plain_fields_of_every_kind() {
    // The generators below are only as good as what the specs give them.
    for spec in specs() {
        let fields = plain_fields(&spec);
        assert!(fields.len() >= 20, "{}: {} plain fields", spec.name, fields.len());
        assert!(fields.iter().any(|f| matches!(f.length, Length::Var { .. })), "{}", spec.name);
        assert!(fields.iter().any(|f| f.field_type == FieldType::B), "{}", spec.name);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn cup_pos_messages_round_trip(message in message(builtin::cup_pos())) {
        assert_round_trip(&message)?;
    }

    #[test]
    fn iso87_ascii_messages_round_trip(message in message(builtin::iso87_ascii())) {
        assert_round_trip(&message)?;
    }

    #[test]
    fn network_messages_round_trip(message in message(builtin::network())) {
        assert_round_trip(&message)?;
    }
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn messages_round_trip_through_json(
        cup in message(builtin::cup_pos()),
        iso87 in message(builtin::iso87_ascii()),
        network in message(builtin::network()),
    ) {
        for message in [&cup, &iso87, &network] {
            assert_json_round_trip(message)?;
        }
    }

    #[test]
    fn cup_pos_frames_round_trip(
        message in message(builtin::cup_pos()),
        tpdu in any::<[u8; 5]>(),
        header in any::<[u8; 6]>(),
    ) {
        let envelope = Envelope { tpdu: Some(Tpdu::from_bytes(tpdu)), header: Some(Header::new(&header).unwrap()) };
        let frame = encode_framed(&message, &envelope).unwrap();
        let body = message.encode().unwrap();
        prop_assert_eq!(frame.len(), 2 + 5 + 6 + body.len());
        prop_assert_eq!(usize::from(u16::from_be_bytes([frame[0], frame[1]])), frame.len() - 2);
        prop_assert_eq!(builtin::cup_pos().framing.frame_len(&frame).unwrap(), Some(frame.len()));
        let (envelope_back, decoded) = decode_framed(&builtin::cup_pos(), &frame).unwrap();
        prop_assert_eq!(envelope_back, envelope);
        prop_assert_eq!(&decoded, &message);
        prop_assert_eq!(encode_framed(&decoded, &envelope_back).unwrap(), frame);
    }

    #[test]
    fn other_specs_frames_round_trip(iso87 in message(builtin::iso87_ascii()), network in message(builtin::network())) {
        for message in [&iso87, &network] {
            let Ok(frame) = encode_framed(message, &Envelope::default()) else { continue };
            let spec = message.spec();
            prop_assert_eq!(spec.framing.frame_len(&frame).unwrap(), Some(frame.len()));
            let (_, decoded) = decode_framed(spec, &frame).unwrap();
            prop_assert_eq!(&decoded, message);
            prop_assert_eq!(encode_framed(&decoded, &Envelope::default()).unwrap(), frame);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fields with layouts, built through paths.

/// Primitive EMV tags a terminal sends in field 55, and 71 (a template) holding 86.
const TAGS: [&str; 12] = ["9F26", "9F27", "9F10", "9F37", "9F36", "95", "9A", "9C", "9F02", "5F2A", "82", "DF8101"];

fn field_60() -> impl Strategy<Value = Vec<String>> {
    // 60.1 n2, 60.2 n6, 60.3 n3, 60.4-60.6 n1, 60.7 n3: any prefix of the items.
    let lengths = [2usize, 6, 3, 1, 1, 1, 3];
    (1..=lengths.len()).prop_flat_map(move |count| {
        lengths[..count]
            .iter()
            .map(|&len| proptest::string::string_regex(&format!("[0-9]{{{len}}}")).unwrap())
            .collect::<Vec<_>>()
    })
}

fn field_55() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let element = (proptest::sample::select(TAGS.to_vec()), proptest::collection::vec(any::<u8>(), 0..=20))
        .prop_map(|(tag, value)| (tag.to_owned(), value));
    proptest::collection::vec(element, 0..=8)
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn cup_pos_subfields_set_by_path_round_trip(
        base in message(builtin::cup_pos()),
        items_60 in field_60(),
        elements_55 in field_55(),
        script in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=12)),
    ) {
        let mut message = base;
        for (index, item) in items_60.iter().enumerate() {
            message.set_path(&format!("60.{}", index + 1), item.as_bytes()).unwrap();
        }
        let whole_60 = items_60.concat();
        prop_assert_eq!(message.get(60).unwrap(), whole_60.as_bytes());
        for (index, item) in items_60.iter().enumerate() {
            let got = message.get_path(&format!("60.{}", index + 1)).unwrap();
            prop_assert_eq!(got, Some(item.as_bytes()));
        }
        if items_60.len() < 7 {
            prop_assert_eq!(message.get_path(&format!("60.{}", items_60.len() + 1)).unwrap(), None);
        } else {
            prop_assert!(message.get_path("60.8").is_err());
        }

        let mut expected: Vec<(String, Vec<u8>)> = Vec::new();
        for (tag, value) in elements_55 {
            message.set_path(&format!("55.{tag}"), &value).unwrap();
            match expected.iter_mut().find(|(t, _)| *t == tag) {
                Some(entry) => entry.1 = value,
                None => expected.push((tag, value)),
            }
        }
        if let Some(script) = &script {
            message.set_path("55.71.86", script).unwrap();
        }
        for (tag, value) in &expected {
            let got = message.get_path(&format!("55.{tag}")).unwrap();
            prop_assert_eq!(got, Some(&value[..]));
        }
        if let Some(script) = &script {
            prop_assert_eq!(message.get_path("55.71.86").unwrap(), Some(&script[..]));
        }
        assert_round_trip(&message)?;
        assert_json_round_trip(&message)?;

        // Removing what was set leaves the rest and still round-trips.
        if let Some((tag, _)) = expected.first() {
            message.remove_path(&format!("55.{tag}")).unwrap();
            prop_assert_eq!(message.get_path(&format!("55.{tag}")).unwrap(), None);
            message.remove_path(&format!("60.{}", items_60.len())).unwrap();
            assert_round_trip(&message)?;
        }
    }

    #[test]
    fn cup_pos_sign_on_keys_round_trip(
        base in message(builtin::cup_pos()),
        keys in proptest::sample::select(vec![24usize, 40, 60]),
        bytes in proptest::collection::vec(any::<u8>(), 60),
    ) {
        // An 0810 with a 24-, 40- or 60-byte field 62 takes the matching key layout.
        let mut message = base;
        message.set_mti(Mti::parse("0810").unwrap());
        message.set(62, &bytes[..keys]).unwrap();
        let layout = message.resolve(62).layout.expect("a key layout");
        prop_assert_eq!(&message.spec().layout(layout).name, &format!("cup-keys-{keys}"));
        let pik = message.get_path("62.1").unwrap().unwrap().to_vec();
        prop_assert_eq!(pik.len(), if keys == 24 { 8 } else { 16 });
        message.set_path("62.2", &[1, 2, 3, 4]).unwrap();
        prop_assert_eq!(message.get_path("62.2").unwrap(), Some(&[1u8, 2, 3, 4][..]));
        assert_round_trip(&message)?;
        assert_json_round_trip(&message)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Garbage never panics.

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for spec in specs() {
            if let Ok(message) = decode(&spec, &bytes) {
                prop_assert_eq!(message.encode().unwrap(), bytes.clone());
            }
            if let Ok((envelope, message)) = decode_framed(&spec, &bytes) {
                prop_assert_eq!(encode_framed(&message, &envelope).unwrap(), bytes.clone());
            }
            let _ = spec.framing.frame_len(&bytes);
        }
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        spec_index in 0usize..3,
        mti in mti(),
        bitmap in any::<[u8; 8]>(),
        tail in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        // Past the MTI and the bitmap, so the field decoders see the garbage.
        let spec = specs()[spec_index].clone();
        let mut body = Message::new(spec.clone(), mti).encode().unwrap();
        let mti_len = body.len() - if spec.name == "iso87-ascii" { 16 } else { 8 };
        body.truncate(mti_len);
        if spec.name == "iso87-ascii" {
            body.extend(iso8583::hex::encode(&bitmap).bytes());
        } else {
            body.extend_from_slice(&bitmap);
        }
        body.extend_from_slice(&tail);
        if let Ok(message) = decode(&spec, &body) {
            prop_assert_eq!(message.encode().unwrap(), body);
        }
    }

    #[test]
    fn damaged_valid_messages_never_panic(
        cup in message(builtin::cup_pos()),
        iso87 in message(builtin::iso87_ascii()),
        network in message(builtin::network()),
        damage in proptest::collection::vec((any::<Index>(), any::<u8>()), 1..4),
        cut in any::<Index>(),
    ) {
        for message in [&cup, &iso87, &network] {
            let Some(mut body) = encode(message) else { continue };
            if body.is_empty() {
                continue;
            }
            for (at, byte) in &damage {
                let at = at.index(body.len());
                body[at] = *byte;
            }
            let spec = message.spec();
            if let Ok(decoded) = decode(spec, &body) {
                prop_assert_eq!(decoded.encode().unwrap(), body.clone());
            }
            let cut = cut.index(body.len());
            if let Err(error) = decode(spec, &body[..cut])
                && let Some(offset) = error.offset
            {
                prop_assert!(offset <= cut, "offset {} past a {}-byte input: {}", offset, cut, error);
            }
        }
    }
}
