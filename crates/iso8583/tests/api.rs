//! The message API: typed get/set, paths into positional and TLV subfields, repeated groups,
//! variants, response helpers, and user specs loaded from TOML and JSON.

use std::sync::Arc;

use iso8583::spec::{SpecFile, SpecFormat};
use iso8583::{Message, Mti, Reason, Spec, builtin, decode, hex};

fn cup_message(mti: &str) -> Message {
    Message::new(builtin::cup_pos(), Mti::parse(mti).unwrap())
}

#[test]
fn typed_setters_pad_and_check() {
    let mut message = cup_message("0200");
    message.set_u64(4, 12345).unwrap();
    assert_eq!(message.get_str(4), Some("000000012345"));
    message.set_u64(11, 7).unwrap();
    assert_eq!(message.get_u64(11), Some(7));
    message.set_padded(41, "T1").unwrap();
    assert_eq!(message.get_str(41), Some("T1      "));
    let error = message.set_str(3, "12345").unwrap_err();
    assert_eq!(error.reason, Reason::LengthMismatch { expected: 6, actual: 5 });
    let error = message.set_str(3, "12345A").unwrap_err();
    assert!(matches!(error.reason, Reason::BadCharacter { index: 5, .. }));
    assert!(message.set_str(5, "1").is_err(), "field 5 is not in cup-pos");
    assert!(message.set_u64(41, 1).is_err(), "41 is not numeric");
    assert!(message.remove(41));
    assert!(!message.has(41));
}

#[test]
fn positional_paths_build_field_60_in_order() {
    let mut message = cup_message("0800");
    message.set_path("60.1", b"00").unwrap();
    message.set_path("60.2", b"000001").unwrap();
    message.set_path("60.3", b"003").unwrap();
    assert_eq!(message.get_str(60), Some("00000001003"));
    message.set_path("60.2", b"000002").unwrap();
    assert_eq!(message.get_str(60), Some("00000002003"));
    let error = message.set_path("60.5", b"1").unwrap_err();
    assert!(error.to_string().contains("60.5"), "{error}");
    assert!(message.set_path("60.1", b"1").is_err(), "60.1 is n2");
    assert!(message.set_path("60.9", b"1").is_err(), "no 60.9");
    message.remove_path("60.3").unwrap();
    assert_eq!(message.get_str(60), Some("00000002"));
    let encoded = message.encode().unwrap();
    assert_eq!(decode(&builtin::cup_pos(), &encoded).unwrap(), message);
}

#[test]
fn tlv_paths_replace_append_and_nest() {
    let mut message = cup_message("0200");
    message.set_path("55.9F26", &hex::decode("1122334455667788").unwrap()).unwrap();
    message.set_path("55.95", &[0; 5]).unwrap();
    message.set_path("55.9F26", &hex::decode("8877665544332211").unwrap()).unwrap();
    assert_eq!(hex::encode(message.get(55).unwrap()), "9F2608887766554433221195050000000000");
    message.set_path("55.71.86", &[0x84, 0x24]).unwrap();
    assert_eq!(message.get_path("55.71.86").unwrap(), Some(&[0x84, 0x24][..]));
    assert!(message.set_path("55.95.9F26", &[1]).is_err(), "95 is primitive");
    assert!(message.get_path("55.9F").is_err(), "9F alone is not a tag");
    message.remove_path("55.95").unwrap();
    assert_eq!(message.get_path("55.95").unwrap(), None);
}

#[test]
fn field_48_layout_follows_the_message() {
    let spec = builtin::cup_pos();
    // Settlement 0500: totals.
    let mut settlement = Message::new(Arc::clone(&spec), Mti::parse("0500").unwrap());
    let totals = format!("{:012}{:03}{:012}{:03}0{:012}{:03}{:012}{:03}0", 1500, 3, 200, 1, 0, 0, 0, 0);
    settlement.set_str(48, &totals).unwrap();
    assert_eq!(settlement.get_path("48.1").unwrap(), Some(&b"000000001500"[..]));
    assert_eq!(settlement.get_path("48.4").unwrap(), Some(&b"001"[..]));
    // Batch upload 0320 with 60.3 = 201: records of 40 digits.
    let mut upload = Message::new(Arc::clone(&spec), Mti::parse("0320").unwrap());
    upload.set_str(60, "00000001201").unwrap();
    let record = |trace: u32, pan: &str, amount: u64| format!("00{trace:06}{pan:0>20}{amount:012}");
    let value = format!("02{}{}", record(1, "6224242900000113", 100), record(2, "6225880000000000", 250));
    upload.set_str(48, &value).unwrap();
    assert_eq!(upload.get_path("48.2.2.2").unwrap(), Some(&b"000002"[..]));
    assert_eq!(upload.get_path("48.2.1.3").unwrap(), Some(&b"00006224242900000113"[..]));
    assert_eq!(upload.get_path("48.2.3.1").unwrap(), None, "only two records");
    upload.set_path("48.2.2.4", b"000000000260").unwrap();
    assert_eq!(upload.get_path("48.2.2.4").unwrap(), Some(&b"000000000260"[..]));
    let dump = iso8583::dump::dump(&upload, &Default::default());
    assert!(dump.contains("0000622424******0113"), "{dump}");
    assert!(!dump.contains("6224242900000113"), "{dump}");
    // Records are added whole, one after the last, starting from none.
    let mut built = Message::new(Arc::clone(&spec), Mti::parse("0320").unwrap());
    built.set_str(60, "00000001201").unwrap();
    built.set_path("48.1", b"01").unwrap();
    built.set_path("48.2.1", record(7, "6224242900000113", 100).as_bytes()).unwrap();
    assert_eq!(built.get_path("48.2.1.2").unwrap(), Some(&b"000007"[..]));
    assert!(built.set_path("48.2.3", record(8, "1", 1).as_bytes()).is_err(), "record 2 comes first");
    assert!(built.set_path("48.2.99999999999999999", b"1").is_err());
    // A record that is not 40 digits does not fit.
    upload.set_str(48, "011234").unwrap();
    assert!(upload.validate().is_err());
    // The same value on an 0200 has no layout.
    let mut purchase = Message::new(spec, Mti::parse("0200").unwrap());
    purchase.set_str(48, &value).unwrap();
    assert!(purchase.get_path("48.1").is_err());
}

#[test]
fn sign_on_keys_in_field_62_are_masked_but_check_values_shown() {
    let mut response = cup_message("0810");
    let keys = hex::decode("84C5491C3834928E7B26B5409A942BCF6EB8E4EEC9E3E3B489B520FE0000000000000000666CB203").unwrap();
    response.set(62, &keys).unwrap();
    assert_eq!(response.get_path("62.2").unwrap(), Some(&hex::decode("6EB8E4EE").unwrap()[..]));
    let dump = iso8583::dump::dump(&response, &Default::default());
    assert!(!dump.contains("84C5491C"), "PIK leaked: {dump}");
    assert!(!dump.contains("C9E3E3B4"), "MAK leaked: {dump}");
    assert!(dump.contains("6EB8E4EE") && dump.contains("666CB203"), "{dump}");
    let json = iso8583::json::to_json(&response, None, Default::default()).to_string();
    assert!(!json.contains("84C5491C") && json.contains("666CB203"), "{json}");
    // An unknown layout on an 0810 is hidden whole.
    response.set(62, &[0xAB; 30]).unwrap();
    let dump = iso8583::dump::dump(&response, &Default::default());
    assert!(!dump.contains("ABABAB"), "{dump}");
    // The same bytes in an 0800 are not keys.
    let mut request = cup_message("0800");
    request.set(62, &[0xAB; 30]).unwrap();
    assert!(iso8583::dump::dump(&request, &Default::default()).contains("ABABAB"));
}

#[test]
fn debug_output_is_masked() {
    let spec = builtin::cup_pos();
    let v1 = hex::decode(include_str!("data/v1.hex").trim()).unwrap();
    let (_, message) = iso8583::decode_framed(&spec, &v1).unwrap();
    let debug = format!("{message:?}");
    assert!(debug.contains("622424******0113"));
    assert!(!debug.contains("6224242900000113"));
    assert!(!debug.contains("D1EEF419D0AE2609"), "PIN block leaked");
}

#[test]
fn response_copies_echo_fields_and_swaps_tpdu() {
    let mut request = cup_message("0200");
    request.set_str(11, "000123").unwrap();
    request.set_str(41, "10000019").unwrap();
    let response = request.response(&[11, 41, 42]).unwrap();
    assert_eq!(response.mti().as_str(), "0210");
    assert_eq!(response.get_str(11), Some("000123"));
    assert!(!response.has(42));
    assert!(response.response(&[]).is_err(), "a response has no response");
}

#[test]
fn json_spec_has_the_same_expressiveness_as_toml() {
    let toml_text = builtin::SOURCES[0].1;
    let file = SpecFile::parse(toml_text, SpecFormat::Toml).unwrap();
    let json_text = serde_json::to_string_pretty(&file).unwrap();
    let from_json = Arc::new(Spec::from_str(&json_text, SpecFormat::Json).unwrap());
    let v1 = hex::decode(include_str!("data/v1.hex").trim()).unwrap();
    let (envelope, message) = iso8583::decode_framed(&from_json, &v1).unwrap();
    assert_eq!(message.get_path("55.9F26").unwrap(), Some(&hex::decode("95BBE372271DDA7C").unwrap()[..]));
    assert_eq!(iso8583::encode_framed(&message, &envelope).unwrap(), v1);
}

#[test]
fn user_specs_cover_ebcdic_hex_bitmaps_tertiary_bitmaps_and_binary_prefixes() {
    let text = r#"
        name = "custom"
        mti = "ebcdic"
        bitmap = { encoding = "hex", fields_max = 192 }
        framing = ["length-ascii-4"]
        [defaults]
        numeric = "ebcdic"
        text = "ebcdic"
        prefix = "ebcdic"
        [fields]
        2 = { name = "PAN", type = "n", var = "LL", max = 19, mask = "pan" }
        4 = { name = "Amount", type = "n", len = 12 }
        43 = { name = "Name", type = "ans", len = 10 }
        52 = { name = "PIN", type = "b", len = 8, encoding = "hex", mask = "all" }
        100 = { name = "Receiver", type = "n", var = "LL", max = 11, prefix = "binary" }
        129 = { name = "First tertiary field", type = "n", len = 2 }
        150 = { name = "Far field", type = "x+n", len = 9, encoding = "bcd" }
    "#;
    let spec = Arc::new(Spec::from_str(text, SpecFormat::Toml).unwrap());
    let mut message = Message::new(Arc::clone(&spec), Mti::parse("0100").unwrap());
    message.set_str(2, "4761739001010010").unwrap();
    message.set_str(4, "000000001000").unwrap();
    message.set_str(43, "SHOP A&B 1").unwrap();
    message.set(52, &[0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]).unwrap();
    message.set_str(100, "12345678901").unwrap();
    message.set_str(129, "42").unwrap();
    message.set_str(150, "D00001000").unwrap();
    let body = message.encode().unwrap();
    assert_eq!(&body[..4], &[0xF0, 0xF1, 0xF0, 0xF0], "EBCDIC MTI");
    assert_eq!(&body[4..20], b"D000000000201000", "hex primary bitmap: 1 (secondary), 2, 4, 43, 52");
    let back = decode(&spec, &body).unwrap();
    assert_eq!(back, message);
    assert_eq!(back.encode().unwrap(), body);
    assert_eq!(iso8583::dump::bitmap_hex(&back).split(' ').count(), 3);
}

#[test]
fn spec_files_with_mistakes_are_rejected_with_a_reason() {
    let base = "name = \"x\"\nmti = \"ascii\"\nbitmap = { encoding = \"binary\", fields_max = 64 }\n";
    let cases = [
        ("[fields]\n2 = { name = \"a\", type = \"q\", len = 2 }", "unknown type"),
        ("[fields]\n2 = { name = \"a\", type = \"n\", var = \"LL\", max = 200 }", "does not fit"),
        ("[fields]\n65 = { name = \"a\", type = \"n\", len = 2 }", "not 65"),
        ("[fields]\n70 = { name = \"a\", type = \"n\", len = 2 }", "beyond"),
        ("[fields]\n2 = { name = \"a\", type = \"b\", len = 2, encoding = \"bcd\" }", "cannot use"),
        ("[fields]\n2 = { name = \"a\", type = \"n\", len = 2, layout = \"nope\" }", "unknown layout"),
        ("[fields]\n2 = { name = \"a\", type = \"n\", len = 2, colour = \"red\" }", "unknown field"),
        (
            "[fields]\n2 = { name = \"a\", type = \"n\", len = 2, variants = [{ when = { fields = { \"2.1\" = [\"1\"] } } }] }",
            "itself",
        ),
    ];
    for (fields, expected) in cases {
        let error = Spec::from_str(&format!("{base}{fields}"), SpecFormat::Toml).unwrap_err();
        assert!(error.to_string().contains(expected), "{fields}: {error}");
    }
}

#[test]
fn field_63_response_text_is_read_as_gbk_and_round_trips_through_json() {
    let mut response = cup_message("0210");
    let mut value = b"CUP".to_vec();
    value.extend_from_slice(&[0xD6, 0xD0, 0xB9, 0xFA, 0xD2, 0xF8, 0xC1, 0xAA]); // 中国银联 in GBK
    response.set(63, &value).unwrap();
    let dump = iso8583::dump::dump(&response, &Default::default());
    assert!(dump.contains("[中国银联]"), "{dump}");
    let json = iso8583::json::to_json(&response, None, Default::default());
    assert_eq!(json["fields"]["63"]["1"], "CUP");
    assert_eq!(json["fields"]["63"]["2"], "中国银联");
    let (_, back) = iso8583::json::from_json(&builtin::cup_pos(), &json).unwrap();
    assert_eq!(back.get(63), Some(&value[..]));
    // Bytes that are not GBK are shown as hex and still round-trip.
    response.set(63, &[b'C', b'U', b'P', 0xFF, 0xFF]).unwrap();
    let json = iso8583::json::to_json(&response, None, Default::default());
    assert_eq!(json["fields"]["63"]["2"]["_hex"], "FFFF");
    let (_, back) = iso8583::json::from_json(&builtin::cup_pos(), &json).unwrap();
    assert_eq!(back.get(63), Some(&[b'C', b'U', b'P', 0xFF, 0xFF][..]));
}
